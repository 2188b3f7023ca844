package impair

import (
	"math/rand/v2"
	"time"
)

// Decision is what happens to one frame.
type Decision struct {
	Drop     bool          // lose the frame; nothing else applies
	Dup      bool          // send a clean copy as well
	Corrupt  bool          // flip one bit of the IP payload
	CE       bool          // mark an ECN-capable frame Congestion Experienced
	Hold     bool          // hold back until later frames overtook it
	Delay    time.Duration // delay of the frame
	DupDelay time.Duration // independent delay of the copy (when Dup)
}

// Decider takes the impairment decisions of one direction from a seeded
// pseudo-random stream (PCG). It is not safe for concurrent use; the same
// seed, stream and call sequence give the same decisions.
type Decider struct {
	im  Impairment
	src rand.PCG
	rng *rand.Rand
}

// NewDecider returns a decider for im. seed and stream select the
// pseudo-random sequence; the bridge uses one stream per direction.
func NewDecider(im Impairment, seed, stream uint64) *Decider {
	d := &Decider{im: im}
	d.src.Seed(seed, stream^0x9e3779b97f4a7c15)
	d.rng = rand.New(&d.src)
	return d
}

// Impairment returns the decider's impairment.
func (d *Decider) Impairment() Impairment { return d.im }

// chance reports true with probability p, drawing only when 0 < p < 1 so a
// disabled impairment does not consume the stream.
func (d *Decider) chance(p float64) bool {
	switch {
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return d.rng.Float64() < p
}

// Decide takes the decisions for the next frame. It does not allocate.
func (d *Decider) Decide() Decision {
	var dec Decision
	if d.chance(d.im.Loss) {
		dec.Drop = true
		return dec
	}
	dec.Dup = d.chance(d.im.Dup)
	dec.Corrupt = d.chance(d.im.Corrupt)
	dec.Hold = d.chance(d.im.Reorder)
	dec.Delay = d.delay()
	if dec.Dup {
		dec.DupDelay = d.delay()
	}
	dec.CE = d.chance(d.im.CE) // drawn last: the other draws keep their sequence
	return dec
}

// delay draws a delay uniformly from [Delay-Jitter, Delay+Jitter], clamped
// at zero.
func (d *Decider) delay() time.Duration {
	v := d.im.Delay
	if j := d.im.Jitter; j > 0 {
		v += time.Duration(d.rng.Int64N(2*int64(j)+1)) - j
	}
	return max(v, 0)
}

// Intn returns a uniform integer in [0, n); n must be positive.
func (d *Decider) Intn(n int) int { return d.rng.IntN(n) }

// Ethernet and IPv4 layout used to find the bytes corruption may touch.
const (
	ethHeaderLen  = 14     // IEEE 802.3: destination, source, EtherType
	etherTypeIPv4 = 0x0800 // IANA EtherType for IPv4
	ipv4MinHeader = 20     // RFC 791 3.1: IHL is at least 5 words
)

// IsIPv4 reports whether frame is an untagged Ethernet frame carrying
// IPv4 with at least a minimal header.
func IsIPv4(frame []byte) bool {
	return len(frame) >= ethHeaderLen+ipv4MinHeader &&
		uint16(frame[12])<<8|uint16(frame[13]) == etherTypeIPv4 &&
		frame[ethHeaderLen]>>4 == 4
}

// IPv4Payload returns the offsets [start, end) of the IPv4 payload in frame:
// after the header (RFC 791 IHL) and up to the total length, clipped to the
// frame (Ethernet padding is not payload). ok is false when frame is not
// IPv4, the header is malformed, or the payload is empty.
func IPv4Payload(frame []byte) (start, end int, ok bool) {
	if !IsIPv4(frame) {
		return 0, 0, false
	}
	ihl := int(frame[ethHeaderLen]&0x0f) * 4
	total := int(frame[ethHeaderLen+2])<<8 | int(frame[ethHeaderLen+3])
	if ihl < ipv4MinHeader || total < ihl {
		return 0, 0, false
	}
	start = ethHeaderLen + ihl
	end = min(ethHeaderLen+total, len(frame))
	if start >= end {
		return 0, 0, false
	}
	return start, end, true
}

// CorruptFrame flips one random bit of frame's IPv4 payload and reports
// whether it did (false when there is no payload to corrupt).
func (d *Decider) CorruptFrame(frame []byte) bool {
	start, end, ok := IPv4Payload(frame)
	if !ok {
		return false
	}
	bit := d.rng.IntN((end - start) * 8)
	frame[start+bit/8] ^= 1 << (bit % 8)
	return true
}

// MarkCE sets the ECN field of an IPv4 frame carrying ECT(0) or ECT(1) to
// CE (RFC 3168 §5) and updates the header checksum (RFC 1624
// incremental update). It reports whether it marked the frame: not-ECT
// and already-CE frames are left alone.
func MarkCE(frame []byte) bool {
	if !IsIPv4(frame) {
		return false
	}
	h := frame[ethHeaderLen:]
	tos := h[1]
	if tos&3 == 0 || tos&3 == 3 {
		return false
	}
	old := uint16(h[0])<<8 | uint16(tos)
	h[1] = tos | 3
	nw := uint16(h[0])<<8 | uint16(h[1])
	sum := ^(uint16(h[10])<<8 | uint16(h[11]))
	s := uint32(sum) + uint32(^old) + uint32(nw)
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	c := ^uint16(s)
	h[10], h[11] = byte(c>>8), byte(c)
	return true
}

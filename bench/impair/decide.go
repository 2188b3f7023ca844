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

// Ethernet, IPv4 and IPv6 layout used to find the bytes corruption may
// touch and the ECN field.
const (
	ethHeaderLen  = 14     // IEEE 802.3: destination, source, EtherType
	etherTypeIPv4 = 0x0800 // IANA EtherType for IPv4
	etherTypeIPv6 = 0x86dd // IANA EtherType for IPv6
	ipv4MinHeader = 20     // RFC 791 3.1: IHL is at least 5 words
	ipv6Header    = 40     // RFC 8200 §3: the fixed header
	protoICMPv6   = 58     // IANA protocol number of ICMPv6
)

// IsIPv4 reports whether frame is an untagged Ethernet frame carrying
// IPv4 with at least a minimal header.
func IsIPv4(frame []byte) bool {
	return len(frame) >= ethHeaderLen+ipv4MinHeader &&
		uint16(frame[12])<<8|uint16(frame[13]) == etherTypeIPv4 &&
		frame[ethHeaderLen]>>4 == 4
}

// IsIPv6 reports whether frame is an untagged Ethernet frame carrying
// IPv6 with its whole fixed header.
func IsIPv6(frame []byte) bool {
	return len(frame) >= ethHeaderLen+ipv6Header &&
		uint16(frame[12])<<8|uint16(frame[13]) == etherTypeIPv6 &&
		frame[ethHeaderLen]>>4 == 6
}

// Impairable reports whether the bridge impairs frame (unless
// Config.ImpairAll, which impairs every frame): IPv4, and IPv6 other than
// neighbour discovery (ICMPv6 types 133-137 right after the fixed header,
// RFC 4861), which crosses untouched as ARP does, so that both families
// resolve their neighbours however lossy the path.
func Impairable(frame []byte) bool {
	if IsIPv4(frame) {
		return true
	}
	if !IsIPv6(frame) {
		return false
	}
	h := frame[ethHeaderLen:]
	if h[6] == protoICMPv6 && len(h) > ipv6Header {
		if t := h[ipv6Header]; t >= 133 && t <= 137 {
			return false
		}
	}
	return true
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

// IPPayload is IPv4Payload for IPv4 frames; for IPv6 frames it is what
// follows the fixed header (extension headers included) up to the payload
// length, clipped to the frame.
func IPPayload(frame []byte) (start, end int, ok bool) {
	if !IsIPv6(frame) {
		return IPv4Payload(frame)
	}
	start = ethHeaderLen + ipv6Header
	end = min(start+(int(frame[ethHeaderLen+4])<<8|int(frame[ethHeaderLen+5])), len(frame))
	if start >= end {
		return 0, 0, false
	}
	return start, end, true
}

// CorruptFrame flips one random bit of frame's IPv4 or IPv6 payload and
// reports whether it did (false when there is no payload to corrupt).
func (d *Decider) CorruptFrame(frame []byte) bool {
	start, end, ok := IPPayload(frame)
	if !ok {
		return false
	}
	bit := d.rng.IntN((end - start) * 8)
	frame[start+bit/8] ^= 1 << (bit % 8)
	return true
}

// MarkCE sets the ECN field of an IPv4 or IPv6 frame carrying ECT(0) or
// ECT(1) to CE (RFC 3168 §5): for IPv4 it updates the header checksum
// (RFC 1624 incremental update); IPv6's Traffic Class has none. It
// reports whether it marked the frame: not-ECT and already-CE frames are
// left alone.
func MarkCE(frame []byte) bool {
	if IsIPv6(frame) {
		// The ECN field is the Traffic Class's low two bits: bits 4-5
		// of the header's second byte (RFC 8200 §3, RFC 3168 §5).
		ecn := frame[ethHeaderLen+1] >> 4 & 3
		if ecn == 0 || ecn == 3 {
			return false
		}
		frame[ethHeaderLen+1] |= 3 << 4
		return true
	}
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

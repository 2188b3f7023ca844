package impair

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestDecideDeterministic(t *testing.T) {
	im := Impairment{Loss: 0.1, Dup: 0.1, Corrupt: 0.1, Reorder: 0.2, Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}
	a, b, c := NewDecider(im, 7, 1), NewDecider(im, 7, 1), NewDecider(im, 8, 1)
	differ := false
	for i := range 10000 {
		da, db, dc := a.Decide(), b.Decide(), c.Decide()
		if da != db {
			t.Fatalf("decision %d: same seed gave %+v and %+v", i, da, db)
		}
		differ = differ || da != dc
	}
	if !differ {
		t.Fatal("different seeds gave the same 10000 decisions")
	}
	// Streams of one seed (the two directions) differ too.
	x, y := NewDecider(im, 7, 1), NewDecider(im, 7, 2)
	same := 0
	for range 1000 {
		if x.Decide() == y.Decide() {
			same++
		}
	}
	if same == 1000 {
		t.Fatal("streams 1 and 2 of one seed are identical")
	}
}

// within reports whether count is within 5 standard deviations of a
// binomial(n, p) mean.
func within(count, n int, p float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(count)-mean) <= 5*sd+1
}

func TestDecideRates(t *testing.T) {
	const n = 1_000_000
	im := Impairment{Loss: 0.02, Dup: 0.01, Corrupt: 0.001, Reorder: 0.25, Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	d := NewDecider(im, 12345, 1)
	var lost, dup, corrupt, hold int
	var sum time.Duration
	minD, maxD := time.Hour, time.Duration(0)
	for range n {
		dec := d.Decide()
		if dec.Drop {
			lost++
			continue
		}
		if dec.Dup {
			dup++
		}
		if dec.Corrupt {
			corrupt++
		}
		if dec.Hold {
			hold++
		}
		sum += dec.Delay
		minD, maxD = min(minD, dec.Delay), max(maxD, dec.Delay)
	}
	kept := n - lost
	for _, c := range []struct {
		name     string
		count, n int
		p        float64
	}{
		{"loss", lost, n, im.Loss},
		{"dup", dup, kept, im.Dup},
		{"corrupt", corrupt, kept, im.Corrupt},
		{"reorder", hold, kept, im.Reorder},
	} {
		if !within(c.count, c.n, c.p) {
			t.Errorf("%s: %d of %d, want about %.0f (p=%v)", c.name, c.count, c.n, float64(c.n)*c.p, c.p)
		}
	}
	if minD < 5*time.Millisecond || maxD > 15*time.Millisecond {
		t.Errorf("delay range [%v, %v], want within [5ms, 15ms]", minD, maxD)
	}
	if mean := sum / time.Duration(kept); mean < 9990*time.Microsecond || mean > 10010*time.Microsecond {
		t.Errorf("mean delay %v, want 10ms +- 10us", mean)
	}
}

func TestDecideEdges(t *testing.T) {
	d := NewDecider(Impairment{Loss: 1}, 1, 1)
	for range 100 {
		if !d.Decide().Drop {
			t.Fatal("loss 1 kept a frame")
		}
	}
	d = NewDecider(Impairment{Delay: time.Millisecond, Jitter: 5 * time.Millisecond}, 1, 1)
	for range 1000 {
		if dec := d.Decide(); dec.Delay < 0 || dec.Delay > 6*time.Millisecond || dec.Drop || dec.Dup || dec.Hold || dec.Corrupt {
			t.Fatalf("decision %+v: want only a delay in [0, 6ms]", dec)
		}
	}
}

// ipv4Frame builds an Ethernet/IPv4 frame with payload bytes of payload
// and pad bytes of Ethernet padding after it.
func ipv4Frame(payload, pad int) []byte {
	f := make([]byte, ethHeaderLen+20+payload+pad)
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], uint16(20+payload))
	f[23] = 6
	for i := ethHeaderLen + 20; i < len(f); i++ {
		f[i] = byte(i)
	}
	return f
}

// ipv6Frame is an IPv6 frame with next header nh and payload bytes of
// payload (the first of them 136 when nh is ICMPv6: a neighbour
// advertisement) plus pad bytes of Ethernet padding.
func ipv6Frame(nh byte, payload, pad int) []byte {
	f := make([]byte, ethHeaderLen+ipv6Header+payload+pad)
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv6)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], uint16(payload))
	f[20] = nh
	for i := ethHeaderLen + ipv6Header; i < len(f); i++ {
		f[i] = byte(i)
	}
	if nh == protoICMPv6 && payload > 0 {
		f[ethHeaderLen+ipv6Header] = 136
	}
	return f
}

func TestCorruptFlipsOnePayloadBit(t *testing.T) {
	d := NewDecider(Impairment{}, 3, 1)
	for _, fam := range []struct {
		frame      func() []byte
		start, end int // the IP payload
	}{
		{func() []byte { return ipv4Frame(6, 20) }, 34, 40}, // a bare ACK-sized payload plus padding
		{func() []byte { return ipv6Frame(6, 6, 14) }, 54, 60},
	} {
		for range 1000 {
			f := fam.frame()
			orig := append([]byte(nil), f...)
			if !d.CorruptFrame(f) {
				t.Fatal("CorruptFrame refused a frame with a payload")
			}
			bits := 0
			for i := range f {
				if x := f[i] ^ orig[i]; x != 0 {
					if i < fam.start || i >= fam.end {
						t.Fatalf("byte %d changed: outside the IP payload [%d, %d)", i, fam.start, fam.end)
					}
					for ; x != 0; x &= x - 1 {
						bits++
					}
				}
			}
			if bits != 1 {
				t.Fatalf("%d bits flipped, want 1", bits)
			}
		}
	}
	if d.CorruptFrame(ipv6Frame(59, 0, 20)) {
		t.Fatal("CorruptFrame changed an IPv6 frame without payload (padding only)")
	}
}

func TestIPv4PayloadMalformed(t *testing.T) {
	good := ipv4Frame(10, 0)
	if s, e, ok := IPv4Payload(good); !ok || s != 34 || e != 44 {
		t.Fatalf("IPv4Payload(good) = %d, %d, %v", s, e, ok)
	}
	cases := map[string]func([]byte) []byte{
		"empty":        func(f []byte) []byte { return nil },
		"short":        func(f []byte) []byte { return f[:30] },
		"arp":          func(f []byte) []byte { f[13] = 0x06; return f },
		"ipv6 version": func(f []byte) []byte { f[14] = 0x65; return f },
		"ihl 4":        func(f []byte) []byte { f[14] = 0x44; return f },
		"total < ihl":  func(f []byte) []byte { binary.BigEndian.PutUint16(f[16:], 19); return f },
		"no payload":   func(f []byte) []byte { binary.BigEndian.PutUint16(f[16:], 20); return f },
		"ihl too long": func(f []byte) []byte { f[14] = 0x4f; return f },
	}
	for name, mk := range cases {
		f := mk(append([]byte(nil), good...))
		if _, _, ok := IPv4Payload(f); ok {
			t.Errorf("%s: IPv4Payload accepted it", name)
		}
		d := NewDecider(Impairment{}, 1, 1)
		if d.CorruptFrame(f) {
			t.Errorf("%s: CorruptFrame changed it", name)
		}
	}
	// Random junk never panics and never reaches past the frame.
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDecider(Impairment{}, 1, 1)
	for range 100000 {
		f := make([]byte, r.IntN(80))
		for i := range f {
			f[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 && len(f) > 14 {
			f[12], f[13], f[14] = 8, 0, 0x40|f[14]&0x0f
		}
		if s, e, ok := IPv4Payload(f); ok && (s < 34 || e > len(f) || s >= e) {
			t.Fatalf("payload [%d, %d) of a %d-byte frame", s, e, len(f))
		}
		d.CorruptFrame(f)
	}
}

func TestParseImpairment(t *testing.T) {
	im, err := ParseImpairment(Impairment{Loss: 0.5}, "delay=10ms,jitter=5ms,reorder=0.25,dup=0.01,corrupt=0.001,reorder-gap=2,reorder-timeout=3ms,jitter-reorder=true,rate=100m,police=20m,police-burst=100000")
	if err != nil {
		t.Fatal(err)
	}
	want := Impairment{Loss: 0.5, Dup: 0.01, Corrupt: 0.001, Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond,
		JitterReorder: true, Reorder: 0.25, ReorderGap: 2, ReorderTimeout: 3 * time.Millisecond, Rate: 100e6, Police: 20e6, PoliceBurst: 100000}
	if im != want {
		t.Fatalf("got %+v\nwant %+v", im, want)
	}
	back, err := ParseImpairment(Impairment{}, im.String())
	if err != nil || back != im {
		t.Fatalf("round trip through %q: %+v, %v", im.String(), back, err)
	}
	for _, bad := range []string{"loss", "loss=2", "loss=-0.1", "loss=NaN", "delay=-1ms", "what=1", "rate=fast", "reorder-gap=-1", "police-burst=-1"} {
		if _, err := ParseImpairment(Impairment{}, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if im, err := ParseImpairment(want, "none"); err != nil || im != want {
		t.Errorf("none: %+v, %v", im, err)
	}
	for s, v := range map[string]uint64{"1000": 1000, "1k": 1000, "2.5M": 2.5e6, "1gbit": 1e9, "10mbps": 10e6} {
		if got, err := ParseRate(s); err != nil || got != v {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, v)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {A: "x"}, {A: "x", B: "x"}, {A: "x", B: "y", Limit: -1}, {A: "x", B: "y", AB: Impairment{Loss: 3}}} {
		if err := c.validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{A: "x", B: "y"}).validate(); err != nil {
		t.Error(err)
	}
}

// MarkCE sets CE on ECT frames only and keeps the IPv4 header checksum
// valid (RFC 1624 incremental update).
func TestMarkCE(t *testing.T) {
	frame := func(tos byte) []byte {
		f := make([]byte, ethHeaderLen+ipv4MinHeader+8)
		f[12], f[13] = 0x08, 0x00
		h := f[ethHeaderLen:]
		h[0], h[1] = 0x45, tos
		h[2], h[3] = 0, byte(ipv4MinHeader+8)
		h[8], h[9] = 64, 6
		copy(h[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
		c := ^ipv4Sum(h[:ipv4MinHeader])
		h[10], h[11] = byte(c>>8), byte(c)
		return f
	}
	for _, tc := range []struct {
		tos  byte
		mark bool
	}{{0x00, false}, {0x01, true}, {0x02, true}, {0x03, false}, {0xb8 | 0x02, true}} {
		f := frame(tc.tos)
		if got := MarkCE(f); got != tc.mark {
			t.Fatalf("tos %#x: marked %v", tc.tos, got)
		}
		h := f[ethHeaderLen:]
		if tc.mark && (h[1]&3 != 3 || h[1]&^3 != tc.tos&^3) {
			t.Fatalf("tos %#x -> %#x", tc.tos, h[1])
		}
		if ipv4Sum(h[:ipv4MinHeader]) != 0xffff {
			t.Fatalf("tos %#x: header checksum wrong after marking", tc.tos)
		}
	}
	// IPv6: the Traffic Class's ECN bits, no checksum.
	for _, tc := range []struct {
		tclass byte
		mark   bool
	}{{0x00, false}, {0x01, true}, {0x02, true}, {0x03, false}, {0xb8 | 0x02, true}} {
		f := ipv6Frame(6, 20, 0)
		f[14], f[15] = 0x60|tc.tclass>>4, tc.tclass<<4|0x0a // flow label bits kept
		orig := append([]byte(nil), f...)
		if got := MarkCE(f); got != tc.mark {
			t.Fatalf("IPv6 traffic class %#x: marked %v", tc.tclass, got)
		}
		want := tc.tclass
		if tc.mark {
			want |= 3
		}
		if got := f[14]&0x0f<<4 | f[15]>>4; got != want || f[15]&0x0f != 0x0a || string(f[16:]) != string(orig[16:]) {
			t.Fatalf("IPv6 traffic class %#x -> %#x (frame %x)", tc.tclass, got, f[14:20])
		}
	}
	im, err := ParseImpairment(Impairment{}, "ce=0.25,delay=10ms")
	if err != nil || im.CE != 0.25 || im.String() != "ce=0.25,delay=10ms" {
		t.Fatalf("%+v %v %q", im, err, im.String())
	}
}

func ipv4Sum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

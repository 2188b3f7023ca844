package syncookie

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// allOptions returns every option set the encoding carries: window shift
// 0-14 or none, times SACK, times ECN (64 sets).
func allOptions() []Options {
	var all []Options
	for ws := -1; ws <= maxWScale; ws++ {
		for _, sack := range []bool{false, true} {
			for _, ecn := range []bool{false, true} {
				o := Options{SACK: sack, ECN: ecn}
				if ws >= 0 {
					o.WScale, o.HasWScale = uint8(ws), true
				}
				all = append(all, o)
			}
		}
	}
	return all
}

// tsvals are timestamps around the interesting boundaries: zero, the
// 64-tick steps, the 2^31 and 2^32 wraps.
var tsvals = []uint32{0, 1, 5, 62, 63, 64, 65, 127, 128, 1000, 0x7fffffff, 0x80000000, 0xffffffc0, 0xfffffffe, math.MaxUint32}

// TestRoundTripCookieAndTS: for every MSS index x window shift 0-14 (and
// none) x SACK x ECN, a SYN-ACK built from Make and EncodeTS gives back, from
// the ACK, the same MSS (Check) and the same options (DecodeTS), so a
// connection established from a cookie has the window scale and SACK of one
// established normally.
func TestRoundTripCookieAndTS(t *testing.T) {
	j := testJar()
	n := 0
	for idx, mss := range mssTable {
		for oi, o := range allOptions() {
			k := testKey(idx*100 + oi)
			isn := seqnum.Value(0x01000193 * uint32(n+1))
			cookie, used := j.Make(t0, k, isn, mss+uint16(oi%3)) // a client MSS a little above the entry
			for _, tsval := range tsvals {
				synackTS := EncodeTS(tsval, o)
				// The ACK echoes our TSval in TSecr.
				got, ok := DecodeTS(synackTS)
				if !ok || got != o {
					t.Fatalf("DecodeTS(EncodeTS(%#x, %+v)) = %+v, %v", tsval, o, got, ok)
				}
				if tsval-synackTS >= 1<<TSBits {
					t.Fatalf("EncodeTS(%#x, %+v) = %#x: not within 64 ticks at or before tsval", tsval, o, synackTS)
				}
			}
			gotMSS, ok := j.Check(t0.Add(70*time.Second), k, isn, cookie)
			if !ok || gotMSS != used || used != mss {
				t.Fatalf("index %d, options %+v: Check = (%d, %v), Make used %d", idx, o, gotMSS, ok, used)
			}
			n++
		}
	}
	if n != 4*16*4 {
		t.Errorf("%d combinations, want %d", n, 4*16*4)
	}
}

// TestEncodeTSGolden: examples worked by hand from Linux's
// cookie_init_timestamp.
func TestEncodeTSGolden(t *testing.T) {
	ws7sack := Options{WScale: 7, HasWScale: true, SACK: true} // 0b010111 = 23
	all := Options{SACK: true, ECN: true}                      // no wscale: 0b111111 = 63
	none := Options{}                                          // 0b001111 = 15
	for _, tc := range []struct {
		tsval uint32
		o     Options
		want  uint32
	}{
		{1000, ws7sack, 960 + 23},             // 1000 = 960 + 40, 23 <= 40: same 64-tick step
		{1000, all, 960 + 63 - 64},            // 63 > 40: one step back
		{983, ws7sack, 983},                   // already encoded
		{0, none, math.MaxUint32 - 63 + 15},   // wraps below zero, still 0 - 49 modulo 2^32
		{0, Options{HasWScale: true}, 0},      // shift 0, nothing else: all low bits zero
		{63, all, 63},                         // exactly equal
		{math.MaxUint32, ws7sack, 0xffffffd7}, // 0xffffffc0 | 23
	} {
		if got := EncodeTS(tc.tsval, tc.o); got != tc.want {
			t.Errorf("EncodeTS(%d, %+v) = %#x, want %#x", tc.tsval, tc.o, got, tc.want)
		}
	}
}

// TestEncodeTSCapsWScale: a shift above 14 is sent as 14 (RFC 7323 §2.3).
func TestEncodeTSCapsWScale(t *testing.T) {
	for _, ws := range []uint8{14, 15, 16, 200, 255} {
		o, ok := DecodeTS(EncodeTS(1<<20, Options{WScale: ws, HasWScale: true}))
		if !ok || !o.HasWScale || o.WScale != 14 {
			t.Errorf("WScale %d: decoded %+v, %v; want shift 14", ws, o, ok)
		}
	}
	// WScale is ignored without HasWScale.
	if o, _ := DecodeTS(EncodeTS(1<<20, Options{WScale: 9})); o.HasWScale || o.WScale != 0 {
		t.Errorf("WScale without HasWScale decoded as %+v", o)
	}
}

// TestDecodeTSAllPatterns: each of the 64 low-bit patterns decodes, and
// encoding the result reproduces the TSecr exactly.
func TestDecodeTSAllPatterns(t *testing.T) {
	for p := uint32(0); p < 1<<TSBits; p++ {
		for _, high := range []uint32{0, 1 << TSBits, 0xdeadbe00 &^ tsMask, math.MaxUint32 &^ tsMask} {
			tsecr := high | p
			o, ok := DecodeTS(tsecr)
			if !ok {
				t.Errorf("DecodeTS(%#x) rejected", tsecr)
				continue
			}
			if o.HasWScale != (p&0xf != 0xf) || o.SACK != (p&16 != 0) || o.ECN != (p&32 != 0) {
				t.Errorf("DecodeTS(%#x) = %+v", tsecr, o)
			}
			if got := EncodeTS(tsecr, o); got != tsecr {
				t.Errorf("EncodeTS(%#x, DecodeTS(%#x)) = %#x", tsecr, tsecr, got)
			}
		}
	}
}

// TestEncodeTSNeverAhead: for random clocks and options the SYN-ACK TSval
// is at or before the clock, by less than 64 ticks, in RFC 7323 modular
// order.
func TestEncodeTSNeverAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	opts := allOptions()
	for range 100_000 {
		tsval := rng.Uint32()
		o := opts[rng.IntN(len(opts))]
		got := EncodeTS(tsval, o)
		if d := tsval - got; d >= 1<<TSBits {
			t.Fatalf("EncodeTS(%#x, %+v) = %#x, %d ticks behind", tsval, o, got, int32(d))
		}
		if seqnum.Value(got).GreaterThan(seqnum.Value(tsval)) {
			t.Fatalf("EncodeTS(%#x, %+v) = %#x is ahead", tsval, o, got)
		}
	}
}

func BenchmarkEncodeTS(b *testing.B) {
	o := Options{WScale: 7, HasWScale: true, SACK: true, ECN: true}
	var sink uint32
	for i := 0; b.Loop(); i++ {
		sink += EncodeTS(uint32(i), o)
	}
	_ = sink
}

func BenchmarkDecodeTS(b *testing.B) {
	var sink uint8
	for i := 0; b.Loop(); i++ {
		o, _ := DecodeTS(uint32(i))
		sink += o.WScale
	}
	_ = sink
}

package tcp

import (
	"testing"
	"time"
)

// Pacing at SO_MAX_PACING_RATE: 1,000,000 bytes/s spreads ten 1000-byte
// segments one per millisecond (the wheel's tick), instead of one burst.
func TestPacingMaxRate(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	h.c.SetMaxPacingRate(1_000_000)
	h.c.Write(make([]byte, 10*1000))
	start := h.now
	h.advance(20 * time.Millisecond)
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000), at(time.Duration(start)+time.Duration(i)*time.Millisecond))
	}
	// Off again: the next write goes out at once.
	h.send(ACK, peerISN+1, ourISN+1+10000)
	h.c.SetMaxPacingRate(0)
	h.c.Write(make([]byte, 5*1000))
	for i := 0; i < 5; i++ {
		h.expect(payloadLen(1000), at(time.Duration(h.now)))
	}
}

// The rate follows cwnd/SRTT (Linux tcp_update_pacing_rate): in slow start
// tcp_pacing_ss_ratio 200 %: cwnd 10000 bytes over a 10 ms SRTT is
// 2,000,000 bytes/s, two 1000-byte segments per millisecond: the first at
// once, then two per tick of the wheel (1 ms).
func TestPacingRateFromCwnd(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	h.c.SetMaxPacingRate(1 << 31)
	if r := h.c.pacingRate(); r != 2_000_000 {
		t.Fatalf("pacing rate %d, want 2,000,000", r)
	}
	h.c.Write(make([]byte, 10*1000))
	start := h.now
	h.advance(20 * time.Millisecond)
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000), at(time.Duration(start)+time.Duration((i+1)/2)*time.Millisecond))
	}
}

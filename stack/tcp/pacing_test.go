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

// A pacing timer that fires late (the loop's poll, a loaded machine)
// does not lower the rate: a held-back segment that leaves up to
// paceCatchUp after its departure time keeps the credit, so 1,000,000
// bytes/s still sends twenty 1000-byte segments in 20 ms when the timer
// runs only every 3 ms.
func TestPacingLateTimerKeepsRate(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	h.c.SetMaxPacingRate(1_000_000)
	h.c.Write(make([]byte, 30*1000))
	start := h.now
	for h.now < start.Add(20*time.Millisecond) {
		h.now = h.now.Add(3 * time.Millisecond)
		h.l.Advance(h.now) // the timer, 3 ms late at worst
		h.send(ACK, peerISN+1, h.c.sndNxt)
	}
	if n := len(h.out.segs); n < 20 || n > 22 {
		t.Fatalf("%d segments in %v, want 20 at 1,000,000 bytes/s", n, time.Duration(h.now.Sub(start)))
	}
}

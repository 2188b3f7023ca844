package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// HyStart++, congestion window validation and restart after idle.

// rounds plays the peer for n round trips of rtt each: every segment in
// flight is ACKed (with its timestamp echoed) rtt after the round began.
func rounds(h *harness, n int, rtt time.Duration, pts *uint32) {
	for r := 0; r < n; r++ {
		h.c.Write(make([]byte, 256<<10)) // keep the send buffer full
		segs := h.out.segs
		h.out.segs = nil
		h.advance(rtt)
		for _, s := range segs {
			if len(s.seg.Payload) == 0 {
				continue
			}
			*pts++
			h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(len(s.seg.Payload))), withTS(*pts, s.seg.Opts.TSVal))
		}
	}
}

// hsConn is a connection with timestamps (an RTT sample per ACK), a
// 10 ms handshake RTT and no tail loss probes (rounds hold the ACKs).
func hsConn(t *testing.T) (*harness, uint32) {
	return sackConn(t, true, func(c *Config) { c.EarlyRetrans = 0 }), 101
}

// RFC 9406: the minimum RTT of a round 20 ms above the last one's (more
// than the 4..16 ms threshold) ends slow start: CSS, a quarter of the
// growth, then after CSS_ROUNDS rounds congestion avoidance.
func TestHyStartPlusPlusExit(t *testing.T) {
	h, pts := hsConn(t)
	rounds(h, 2, 10*time.Millisecond, &pts)
	if h.c.cubic.hs.css != 0 || h.l.Stats().TCPHystartDelayDetect.Load() != 0 {
		t.Fatal("left slow start with a steady RTT")
	}
	// The queue builds: a round of 30 ms ACKs (whose first samples share
	// a round with the last 10 ms one), then one of only 30 ms samples.
	rounds(h, 2, 30*time.Millisecond, &pts)
	if h.c.cubic.hs.css == 0 || h.l.Stats().TCPHystartDelayDetect.Load() != 1 {
		t.Fatalf("no delay detection: css %d", h.c.cubic.hs.css)
	}
	if cw := h.l.Stats().TCPHystartDelayCwnd.Load(); cw < 40 {
		t.Fatalf("TCPHystartDelayCwnd %d", cw)
	}
	// CSS grows by a quarter of slow start's: about +25 % a round, not
	// doubling.
	before := h.c.cc.window()
	rounds(h, 1, 30*time.Millisecond, &pts)
	if grown := h.c.cc.window() - before; grown*10 > before*4 {
		t.Fatalf("cwnd %d -> %d in a round of CSS", before, h.c.cc.window())
	}
	if h.c.cc.ssthreshBytes() != ssthreshInfinite {
		t.Fatal("CSS is still slow start (ssthresh unset)")
	}
	rounds(h, hsCSSRounds, 30*time.Millisecond, &pts)
	if h.c.cc.ssthreshBytes() == ssthreshInfinite || h.c.cubic.hs.css != 0 {
		t.Fatalf("still in CSS after %d rounds", hsCSSRounds)
	}
}

// A round whose minimum RTT falls back below CSS's baseline returns to
// slow start (RFC 9406 §4.2: the increase was spurious).
func TestHyStartPlusPlusSpuriousCSS(t *testing.T) {
	h, pts := hsConn(t)
	rounds(h, 2, 10*time.Millisecond, &pts)
	rounds(h, 2, 30*time.Millisecond, &pts)
	if h.c.cubic.hs.css == 0 {
		t.Fatal("no CSS")
	}
	rounds(h, 2, 10*time.Millisecond, &pts)
	if h.c.cubic.hs.css != 0 || h.c.cc.ssthreshBytes() != ssthreshInfinite {
		t.Fatalf("css %d ssthresh %d", h.c.cubic.hs.css, h.c.cc.ssthreshBytes())
	}
}

// RFC 7661 / Linux tcp_is_cwnd_limited: an application that keeps one
// segment in flight does not grow cwnd.
func TestCwndNotGrownWhenAppLimited(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	iw := h.c.cc.window()
	for i := 0; i < 50; i++ {
		h.c.Write(make([]byte, 1000))
		h.expect(payloadLen(1000))
		h.advance(10 * time.Millisecond)
		una += 1000
		h.send(ACK, peerISN+1, una)
	}
	if h.c.cc.window() != iw {
		t.Fatalf("cwnd %d after 50 application-limited round trips, want %d", h.c.cc.window(), iw)
	}
}

// tcp_slow_start_after_idle (RFC 5681 §4.1, Linux tcp_cwnd_restart):
// after more than an RTO idle, at most the initial window goes out.
func TestSlowStartAfterIdle(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := sackConn(t, false, func(c *Config) { c.SlowStartAfterIdle = on; c.EarlyRetrans = 0 })
		h.c.Write(make([]byte, 60*1000))
		for len(h.out.segs) > 0 {
			segs := h.out.segs
			h.out.segs = nil
			h.advance(10 * time.Millisecond)
			for _, s := range segs {
				h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(len(s.seg.Payload))))
			}
		}
		if h.c.cc.window() <= 20*1000 {
			t.Fatalf("cwnd %d did not grow", h.c.cc.window())
		}
		h.advance(2 * time.Second)
		h.c.Write(make([]byte, 60*1000))
		n := len(h.out.segs)
		if on && n != initialWindowSegments {
			t.Fatalf("after idle: %d segments, want the initial window", n)
		}
		if !on && n <= initialWindowSegments {
			t.Fatalf("tcp_slow_start_after_idle=0: %d segments after idle", n)
		}
	}
}

func seqnumSize(n int) seqnum.Size { return seqnum.Size(n) }

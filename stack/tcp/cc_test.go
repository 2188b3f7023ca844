package tcp

import (
	"math"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// CUBIC (RFC 9438): after a reduction to beta*W_max the window climbs
// back to W_max after K = cbrt(W_max*(1-beta)/C) seconds.
func TestCubicReturnsToWmaxAfterK(t *testing.T) {
	const mss = 1000
	var q cubic
	q.init(mss)
	q.cwnd = 100 * mss
	q.onLoss(0, mss)
	if q.cwnd != 70*mss {
		t.Fatalf("cwnd after loss %d, want 70 segments (beta 0.7)", q.cwnd)
	}
	k := math.Cbrt(100 * (1 - cubicBeta) / cubicC)
	rtt := 100 * time.Millisecond
	now := clock.Time(0)
	for now.Sub(0).Seconds() < k-rtt.Seconds() {
		// One window of ACKs per RTT.
		for acked := 0; acked < q.cwnd; acked += mss {
			q.onAck(now, mss, mss, rtt)
		}
		now = now.Add(rtt)
	}
	segs := float64(q.cwnd) / mss
	if segs < 95 || segs > 105 {
		t.Fatalf("cwnd %.1f segments at K=%.2fs, want about 100", segs, k)
	}
	// Beyond K the window keeps growing (convex region).
	for i := 0; i < 50; i++ { // 5 s past K: 0.4*5^3 + 100 = 150
		for acked := 0; acked < q.cwnd; acked += mss {
			q.onAck(now, mss, mss, rtt)
		}
		now = now.Add(rtt)
	}
	if s := float64(q.cwnd) / mss; s < 135 || s > 165 {
		t.Fatalf("no convex growth: %d", q.cwnd/mss)
	}
}

func TestNewRenoSlowStartAndAvoidance(t *testing.T) {
	var r newReno
	r.init(1000)
	r.onAck(0, 1000, 1000, 0)
	if r.cwnd != 11000 {
		t.Fatal("slow start")
	}
	r.onRTO(0, 1000, false) // Linux tcp_reno_ssthresh: half of cwnd (11 segments), not of the flight
	if r.cwnd != 1000 || r.ssthresh != 5000 {
		t.Fatal("RTO")
	}
	r.cwnd = 10000
	for i := 0; i < 10; i++ {
		r.onAck(0, 1000, 1000, 0)
	}
	if r.cwnd != 11000 {
		t.Fatalf("avoidance: %d", r.cwnd)
	}
}

// A stretch ACK in slow start grows cwnd by all it covers, as Linux's
// tcp_slow_start (no RFC 3465 L = 2*SMSS limit), up to ssthresh; the rest
// counts in congestion avoidance (google/slow_start/slow-start-ack-per-4pkt,
// google/eor/no-coalesce-subsequent).
func TestSlowStartStretchAck(t *testing.T) {
	const mss = 1000
	var r newReno
	r.init(mss)
	r.onAck(0, 10*mss, mss, 0)
	if r.cwnd != 20*mss {
		t.Fatalf("reno: cwnd %d after an ACK of 10 segments from 10, want 20 segments", r.cwnd/mss)
	}
	r.ssthresh = 24 * mss
	r.onAck(0, 10*mss, mss, 0) // 4 segments to ssthresh, 6 in avoidance (less than a window)
	if r.cwnd != 24*mss || r.acc != 6*mss {
		t.Fatalf("reno: cwnd %d, acc %d; want 24 segments, 6000 bytes in avoidance", r.cwnd/mss, r.acc)
	}
	var q cubic
	q.init(mss)
	q.onAck(0, 10*mss, mss, time.Millisecond)
	if q.cwnd != 20*mss {
		t.Fatalf("cubic: cwnd %d after an ACK of 10 segments from 10, want 20 segments", q.cwnd/mss)
	}
	q.ssthresh = 24 * mss
	q.onAck(0, 10*mss, mss, time.Millisecond)
	if q.cwnd < 24*mss || q.cwnd > 25*mss {
		t.Fatalf("cubic: cwnd %d bytes, want ssthresh (24 segments) plus a little avoidance growth", q.cwnd)
	}
}

// A second timeout of the same segment keeps ssthresh (RFC 5681 (4)'s
// note; Linux tcp_enter_loss cuts it only from Open or Disorder, past
// high_seq, or in Loss with icsk_retransmits 0), and Reno's ssthresh is
// half the congestion window, not the flight (Linux tcp_reno_ssthresh):
// cwnd 10 with one segment out gives 5, and the slow start after the
// timeouts sends two segments per ACK (conformance
// xdptcp/write-push-marks, measured on Linux 6.18 with two timeouts).
func TestRepeatedTimeoutKeepsSsthresh(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.EarlyRetrans = 0; c.CongestionControl = "newreno" })
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), withWS(7))
	h.expect(flags(SYN | ACK))
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 1000))
	h.expect(payloadLen(1000))
	h.send(ACK, peerISN+1, ourISN+1001)
	h.c.Write(make([]byte, 1000))
	h.expect(payloadLen(1000))
	for i := 0; i < 2; i++ {
		h.advance(h.c.currentRTO())
		h.expect(seqNum(ourISN+1001), payloadLen(1000))
		if ss := h.c.cc.ssthreshBytes(); ss != 5000 {
			t.Fatalf("timeout %d: ssthresh %d, want 5000", i+1, ss)
		}
	}
	h.send(ACK, peerISN+1, ourISN+2001)
	h.c.Write(make([]byte, 10000))
	h.expect(seqNum(ourISN + 2001))
	h.expect(seqNum(ourISN + 3001))
	h.send(ACK, peerISN+1, ourISN+3001)
	h.expect(seqNum(ourISN + 4001))
	h.expect(seqNum(ourISN + 5001))
	h.expectNothing()
}

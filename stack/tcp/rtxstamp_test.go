package tcp

import (
	"slices"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// The retries' budget counts from the episode's first retransmission,
// a fast one included (Linux retrans_stamp; fr-retries-budget.pkt,
// measured on Linux 6.18): with tcp_retries2=2 (1.4 s) the fast
// retransmission's resends at +210 and +630 ms are the last, and the timer
// at +1470 ms gives up. Counted from the first timeout's resend it would
// resend there and give up at +3150 ms.
func TestRetriesBudgetFromFastRetransmit(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.Retries2, c.EarlyRetrans = 2, 0 })
	una := ourISN + 1
	writeSegs(h, 4, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+4000))
	fr := h.now
	h.expect(seqNum(una), payloadLen(1000), at(time.Duration(fr)))
	h.advance(5 * time.Second)
	for _, ms := range []time.Duration{210, 630} {
		h.expect(seqNum(una), payloadLen(1000), at(time.Duration(fr)+ms*time.Millisecond))
	}
	h.expectNothing()
	if e := h.rec.events[len(h.rec.events)-1]; e.kind != "close" || time.Duration(e.at) != time.Duration(fr)+1470*time.Millisecond {
		t.Fatalf("last event %s at %v, want the close at %v", e.kind, time.Duration(e.at), time.Duration(fr)+1470*time.Millisecond)
	}
}

// An ACK that advances SND.UNA over retransmitted data only gives no RTT
// sample without timestamps (Karn), so the backoff stays: the next
// timeout waits the doubled RTO, as Linux's icsk_backoff, which only
// tcp_ack_update_rtt's valid sample clears (rto-progress-budget.pkt,
// measured on Linux 6.18: 433 ms after such an ACK, the RTO 210 ms). The
// timeouts' count restarts (tcpi_retransmits 0) and the budget does not:
// with tcp_retries2=2 the timer 1.58 s after the first resend gives up.
// With timestamps the ACK echoes the resend's TSval: a valid sample ends
// the backoff.
func TestBackoffKeptUntilValidSample(t *testing.T) {
	for _, ts := range []bool{false, true} {
		h := sackConn(t, ts, func(c *Config) { c.Retries2, c.EarlyRetrans = 2, 0 })
		una := ourISN + 1
		seg := seqnum.Value(1000)
		if ts {
			seg = 988
		}
		writeSegs(h, 4, int(seg))
		rto := h.c.currentRTO()
		h.advance(rto)
		first := h.expect(seqNum(una), at(time.Duration(h.now)))
		h.advance(290 * time.Millisecond)
		if ts {
			h.send(ACK, peerISN+1, una+seg, withTS(200, first.seg.Opts.TSVal))
		} else {
			h.send(ACK, peerISN+1, una+seg)
		}
		acked := h.now
		h.expect(seqNum(una + seg))
		h.expect(seqNum(una + 2*seg))
		in := h.c.Info()
		if !ts {
			if in.Retransmits != 0 || in.Backoff != 1 || h.c.rtoAt != acked.Add(2*rto) {
				t.Fatalf("no timestamps: retransmits %d backoff %d, timeout %v after the ACK; want 0 1 %v", in.Retransmits, in.Backoff, time.Duration(h.c.rtoAt-acked), 2*rto)
			}
			h.advance(5 * time.Second)
			h.expect(seqNum(una+seg), at(time.Duration(acked.Add(2*rto))))
			h.expectNothing()
			e := h.rec.events[len(h.rec.events)-1]
			if want := acked.Add(2*rto + 4*rto); e.kind != "close" || e.at != want {
				t.Fatalf("last event %s at %v, want the close at %v", e.kind, time.Duration(e.at), time.Duration(want))
			}
			continue
		}
		if in.Retransmits != 0 || in.Backoff != 0 || h.c.rtoAt != acked.Add(h.c.currentRTO()) {
			t.Fatalf("timestamps: retransmits %d backoff %d, timeout %v after the ACK; want 0 0 one RTO", in.Retransmits, in.Backoff, time.Duration(h.c.rtoAt-acked))
		}
	}
}

// tcp_thin_linear_timeouts: a thin stream's first six timeouts keep the
// estimator's RTO, then the backoff doubles from it (Linux
// tcp_retransmit_timer; xdptcp/thin-linear-timeouts, measured on Linux
// 6.18: one segment resent 0.21 s after it, six more times 0.21 s apart,
// then 0.42, 0.84, 1.68 s apart, without tail loss probes as there); the
// socket's TCP_THIN_LINEAR_TIMEOUTS does the same with the setting off
// (thin-linear-timeouts-sockopt). Off, the backoff doubles from the first.
func TestThinLinearTimeouts(t *testing.T) {
	for _, tc := range []struct{ setting, sockopt bool }{{true, false}, {false, true}, {false, false}} {
		h := sackConn(t, false, func(c *Config) { c.ThinLinearTimeouts, c.EarlyRetrans = tc.setting, 0 })
		h.c.SetThinLinearTimeouts(tc.sockopt)
		on := tc.setting || tc.sockopt
		una := ourISN + 1
		writeSegs(h, 1, 1000)
		rto := h.c.currentRTO()
		var gaps []time.Duration
		last := h.now
		for len(gaps) < 10 {
			h.advance(time.Duration(h.c.rtoAt - h.now))
			r := h.expect(seqNum(una), payloadLen(1000))
			gaps = append(gaps, time.Duration(r.at-last)/rto)
			last = r.at
		}
		want := []time.Duration{1, 1, 1, 1, 1, 1, 1, 2, 4, 8}
		if !on {
			want = []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}
		}
		if !slices.Equal(gaps, want) {
			t.Fatalf("%+v: gaps in RTOs %v, want %v", tc, gaps, want)
		}
		if in := h.c.Info(); on && (in.Retransmits != 10 || in.Backoff != 4) {
			t.Fatalf("retransmits %d backoff %d, want 10 4", in.Retransmits, in.Backoff)
		}
	}
}

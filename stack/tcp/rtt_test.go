package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Every ACK that acknowledges never-retransmitted data gives a sample from
// its oldest such record's send time (Linux tcp_clean_rtx_queue's
// first_ackt), in microseconds, with or without timestamps: on a 100 µs
// path SRTT comes to about 100 µs. The millisecond TSecr gave 0 here, for
// which the estimator took 0.5 ms, and without timestamps one timed
// segment a round trip gave one sample per round.
func TestRTTSampleFromEachAck(t *testing.T) {
	for _, ts := range []bool{true, false} {
		h := sackConn(t, ts)
		n := h.c.effMSS()
		var samples int
		for i := 0; i < 60; i++ {
			h.c.Write(make([]byte, n))
			s := h.expect(payloadLen(n))
			h.advance(100 * time.Microsecond)
			before := h.c.rtt.srtt
			end := s.seg.Seq.Add(seqnumSize(n))
			if ts {
				h.send(ACK, peerISN+1, end, withTS(uint32(200+i), s.seg.Opts.TSVal))
			} else {
				h.send(ACK, peerISN+1, end)
			}
			if h.c.rtt.srtt != before {
				samples++
			}
		}
		if srtt := h.c.rtt.srtt; srtt < 90*time.Microsecond || srtt > 200*time.Microsecond || samples < 59 {
			t.Fatalf("timestamps %v: SRTT %v after 60 ACKs 100 µs after their segment (%d samples), want about 100 µs, a sample each", ts, srtt, samples)
		}
		if m := h.c.minRTT(); m != 100*time.Microsecond {
			t.Fatalf("timestamps %v: minimum RTT %v, want 100 µs", ts, m)
		}
	}
}

// Karn's rule (RFC 6298 §3): an ACK that acknowledges a retransmitted
// record gives no sample from the records' send times; with timestamps
// the echoed TSval still measures (RFC 7323 §4.1, Linux's fallback in
// tcp_ack_update_rtt), in milliseconds. A duplicate ACK that SACKs a
// never-retransmitted record gives a sample from it (Linux sack_rtt_us);
// an ACK older than SND.UNA does not.
func TestRTTSampleKarnAndSACK(t *testing.T) {
	for _, ts := range []bool{false, true} {
		h := sackConn(t, ts)
		srtt0 := h.c.rtt.srtt
		n := h.c.effMSS()
		h.c.Write(make([]byte, 3*n))
		s1 := h.expect(payloadLen(n))
		h.expect(payloadLen(n))
		s3 := h.expect(payloadLen(n))
		end := s3.seg.Seq.Add(seqnumSize(n))
		// The third arrives, the first does not: a duplicate ACK
		// SACKs the third 4 ms after it left.
		h.advance(4 * time.Millisecond)
		opts := []segOpt{withSACK(s3.seg.Seq, end)}
		if ts {
			opts = append(opts, withTS(300, s3.seg.Opts.TSVal))
		}
		h.send(ACK, peerISN+1, s1.seg.Seq, opts...)
		if h.c.rtt.srtt == srtt0 {
			t.Fatalf("timestamps %v: the SACK of a segment sent once gave no RTT sample", ts)
		}
		// The timeout retransmits the first; its ACK, which also
		// covers the second, is ambiguous.
		h.advance(h.c.currentRTO())
		r := h.expect(payloadLen(n))
		h.advance(2 * time.Millisecond)
		srtt1 := h.c.rtt.srtt
		opts = nil
		if ts {
			opts = append(opts, withTS(301, r.seg.Opts.TSVal))
		}
		h.send(ACK, peerISN+1, end, opts...)
		switch {
		case !ts && h.c.rtt.srtt != srtt1:
			t.Fatalf("an ACK of a retransmitted segment gave a sample: SRTT %v -> %v", srtt1, h.c.rtt.srtt)
		case ts && h.c.rtt.srtt == srtt1:
			t.Fatal("with timestamps the echoed TSval gave no sample")
		}
		// An ACK older than SND.UNA that SACKs new data gives none
		// (Linux's old_ack path takes its SACK blocks only).
		h.c.Write(make([]byte, 2*n))
		h.expect(payloadLen(n))
		s5 := h.expect(payloadLen(n))
		h.advance(3 * time.Millisecond)
		srtt2 := h.c.rtt.srtt
		h.send(ACK, peerISN+1, s1.seg.Seq, withSACK(s5.seg.Seq, s5.seg.Seq.Add(seqnumSize(n))))
		if h.c.rtt.srtt != srtt2 {
			t.Fatalf("timestamps %v: an ACK below SND.UNA gave a sample: SRTT %v -> %v", ts, srtt2, h.c.rtt.srtt)
		}
	}
}

// The RTO's variance term is Linux's (tcp_rtt_estimator): the first
// sample gives RTO = 3 × RTT (at least RTT + 200 ms); a deviation rises
// the term at once and it holds through the round trip however many
// samples follow, then falls by a quarter of its excess a round. With a
// sample per ACK, RFC 6298's RTTVAR (beta 1/4 per sample) would have
// lost the spike within the round.
func TestRTOKeepsTheRoundsLargestDeviation(t *testing.T) {
	var e rttEstimator
	ms := time.Millisecond
	e.sample(100*ms, 0, 100, minRTO)
	if got := e.rto(minRTO, maxRTO); got != 300*ms {
		t.Fatalf("RTO %v after one 100 ms sample, want 300 ms", got)
	}
	// 20 round trips of 10 samples of 100 ms: SRTT 100 ms, the variance
	// term down to its floor.
	round := func(i int, rtts ...time.Duration) {
		for j, r := range rtts {
			una := seqnum.Value(100*i + j + 1)
			e.sample(r, una, una+50, minRTO) // a round trip ends at the next round's first ACK
		}
	}
	steady := []time.Duration{100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms, 100 * ms}
	for i := 1; i <= 20; i++ {
		round(i, steady...)
	}
	if e.srtt != 100*ms || e.rto(minRTO, maxRTO) != 300*ms {
		t.Fatalf("steady 100 ms: SRTT %v, RTO %v, want 100 ms and 300 ms", e.srtt, e.rto(minRTO, maxRTO))
	}
	// A 500 ms sample, then nine of 100 ms in the same round trip.
	round(21, append([]time.Duration{500 * ms}, steady[:9]...)...)
	if e.rttvar < 400*ms || e.rttvar > 401*ms || e.rto(minRTO, maxRTO) < (e.srtt+400*ms).Truncate(ms) {
		t.Fatalf("after a 400 ms deviation and 9 steady samples in its round: variance term %v, RTO %v (SRTT %v), want it held at 400 ms", e.rttvar, e.rto(minRTO, maxRTO), e.srtt)
	}
	// The next rounds bring it down a quarter of its excess each.
	prev := e.rttvar
	for i := 22; i <= 24; i++ {
		round(i, steady...)
		if e.rttvar >= prev || e.rttvar < minRTO {
			t.Fatalf("round %d: variance term %v after %v, want lower and at least %v", i, e.rttvar, prev, minRTO)
		}
		prev = e.rttvar
	}
}

// The minimum RTT is windowed as Linux's (lib/win_minmax.c): when the
// best sample ages out of the window, the best of the window's later
// part takes over, not the newest sample nor the old minimum.
func TestMinFilterWindow(t *testing.T) {
	var m minFilter
	for _, s := range []struct{ t, v, want uint32 }{
		{0, 100, 100},
		{100, 200, 100},
		{300, 200, 100},  // past a quarter of the window: the second best
		{600, 250, 100},  // past half: the third best
		{1100, 400, 200}, // the best aged out: the second best is the minimum
		{1200, 150, 150}, // a new minimum
		{2300, 500, 500}, // nothing left in the window
	} {
		m.update(1000, s.t, s.v)
		if m[0].v != s.want {
			t.Fatalf("after %d µs at %d ms: minimum %d, want %d (%v)", s.v, s.t, m[0].v, s.want, m)
		}
	}
}

// A connection moved to a longer path takes the longer path's RTT as
// its minimum once tcp_min_rtt_wlen has passed (Linux tcp_min_rtt):
// TCP_INFO's min_rtt and RACK's reordering window follow it.
func TestMinRTTFollowsLongerPath(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.MinRTTWlen = 10 })
	n := h.c.effMSS()
	exchange := func(rtt time.Duration, rounds int) {
		for i := 0; i < rounds; i++ {
			h.c.Write(make([]byte, n))
			s := h.expect(payloadLen(n))
			h.advance(rtt)
			h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(n)))
			h.advance(time.Second - rtt)
		}
	}
	exchange(10*time.Millisecond, 3)
	if m := h.c.Info().MinRTT; m != 10*time.Millisecond {
		t.Fatalf("min_rtt %v on the 10 ms path", m)
	}
	exchange(50*time.Millisecond, 5)
	if m := h.c.Info().MinRTT; m != 10*time.Millisecond {
		t.Fatalf("min_rtt %v 5 s after the path changed, want the 10 ms still in the window", m)
	}
	exchange(50*time.Millisecond, 8)
	if m := h.c.Info().MinRTT; m != 50*time.Millisecond {
		t.Fatalf("min_rtt %v 13 s after the path changed, want 50 ms", m)
	}
}

// The handshake's RTT sample (handshakeRTT), as Linux 6.18 takes it
// (conformance/scripts/handshake-rtt-*.pkt): a SYN-ACK resent gives no
// sample from its send time; the peer's timestamp echo gives one, and
// without timestamps RTO is 3 s until the first sample (RFC 6298 §5.7),
// the same for a SYN cookie, whose echo is of a TSval up to 63 ms below
// the clock (Linux: SRTT 121 ms for a 100 ms RTT).
func TestHandshakeRTTAfterResend(t *testing.T) {
	for _, v := range []struct {
		name         string
		ts, cookie   bool
		rttLo, rttHi time.Duration // SRTT in [rttLo, rttHi]
		rtoLo, rtoHi time.Duration
	}{
		{"resent, no timestamps", false, false, 0, 0, 3 * time.Second, 3 * time.Second},
		{"resent, timestamps", true, false, 100 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		{"cookie, no timestamps", false, true, 0, 0, 3 * time.Second, 3 * time.Second},
		{"cookie, timestamps", true, true, 100 * time.Millisecond, 164 * time.Millisecond, 300 * time.Millisecond, 492 * time.Millisecond},
	} {
		t.Run(v.name, func(t *testing.T) {
			var h *harness
			if v.cookie {
				h = cookieHarness(t)
			} else {
				h = newHarness(t)
				h.listen()
			}
			syn := []segOpt{withMSS(1460)}
			if v.ts {
				syn = append(syn, withTS(100, 0))
			}
			h.send(SYN, peerISN, 0, syn...)
			s := h.expect(flags(SYN | ACK))
			if !v.cookie {
				h.advance(time.Second)
				s = h.expect(flags(SYN | ACK))
			}
			h.advance(100 * time.Millisecond)
			ack := []segOpt{}
			if v.ts {
				ack = append(ack, withTS(200, s.seg.Opts.TSVal))
			}
			h.send(ACK, peerISN+1, s.seg.Seq+1, ack...)
			h.state(StateEstablished)
			if in := h.c.Info(); in.RTT < v.rttLo || in.RTT > v.rttHi || in.RTO < v.rtoLo || in.RTO > v.rtoHi {
				t.Fatalf("SRTT %v RTO %v, want SRTT in [%v, %v], RTO in [%v, %v]", in.RTT, in.RTO, v.rttLo, v.rttHi, v.rtoLo, v.rtoHi)
			}
		})
	}
}

// Duplicate SYNs in SYN-RECEIVED are answered at most once per 500 ms
// (Linux tcp_check_req: tcp_oow_rate_limited, TCPACKSkippedSynRecv), and
// a SYN-ACK resent for one leaves the handshake untimed (Karn; Linux
// req->num_retrans): RTO 3 s without timestamps, and no timeout counted.
// conformance/scripts/synack-dup-syn.pkt measured Linux 6.18.
func TestDuplicateSynAnsweredOnceKarn(t *testing.T) {
	h := synReceivedConn(t)
	h.advance(200 * time.Millisecond)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.advance(100 * time.Millisecond)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expectNothing()
	h.advance(500 * time.Millisecond)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateEstablished)
	in := h.c.Info()
	if in.RTT != 0 || in.RTO != 3*time.Second || in.TotalRTO != 0 {
		t.Fatalf("SRTT %v RTO %v total_rto %d, want 0 3s 0", in.RTT, in.RTO, in.TotalRTO)
	}
	if n := h.l.Stats().TCPACKSkippedSynRecv.Load(); n != 1 {
		t.Fatalf("TCPACKSkippedSynRecv %d, want 1", n)
	}
}

// tcp_rto_min_us is the RTO's floor and a lone segment's tail loss probe
// allowance (Linux tcp_rto_min): with 50 ms and a 10 ms RTT the RTO is
// 60 ms and the probe, 2*SRTT + 50 ms, is capped at the RTO; the RTO then
// doubles (measured on Linux 6.18, conformance/scripts/rto-min.pkt: the
// probe and the timeouts 65, 68 and 132 ms apart in its 4 ms jiffies).
func TestRTOMinSetting(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.RTOMinUs = 50000 })
	if rto := h.c.Info().RTO; rto != 60*time.Millisecond {
		t.Fatalf("RTO %v with a 10 ms RTT, want 60ms", rto)
	}
	una := ourISN + 1
	h.c.Write(make([]byte, 1000))
	h.expect(seqNum(una), payloadLen(1000))
	start := h.now
	for _, ms := range []time.Duration{60, 120, 240} {
		h.advance(start.Add(ms * time.Millisecond).Sub(h.now))
		h.expect(seqNum(una), payloadLen(1000), at(time.Duration(start)+ms*time.Millisecond))
	}
}

// tcp_rto_max_ms caps the backoff and the retries' time budget, which
// counts from the first retransmission (Linux retrans_stamp): with 1000
// ms and tcp_retries2 4 the budget is 3.4 s; after a 200 ms handshake
// (RTO 600 ms) the data is resent 0.6, 1.6, 2.6 and 3.6 s after it was
// sent and the connection given up at 4.6 s, 4.0 s after the first
// resend (measured on Linux 6.18, conformance/scripts/rto-max.pkt).
func TestRTOMaxSetting(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTOMaxMs, c.Retries2, c.EarlyRetrans = 1000, 4, 0 })
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000))
	h.expect(flags(SYN | ACK))
	h.advance(200 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 1000))
	h.expect(payloadLen(1000))
	start := h.now
	h.advance(10 * time.Second)
	for _, ms := range []time.Duration{600, 1600, 2600, 3600} {
		h.expect(seqNum(ourISN+1), payloadLen(1000), at(time.Duration(start)+ms*time.Millisecond))
	}
	h.expectNothing()
	if e := h.rec.events[len(h.rec.events)-1]; e.kind != "close" || time.Duration(e.at) != time.Duration(start)+4600*time.Millisecond {
		t.Fatalf("last event %s at %v, want the close at %v", e.kind, time.Duration(e.at), time.Duration(start)+4600*time.Millisecond)
	}
}

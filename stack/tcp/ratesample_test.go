package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// A scoreboard and a rate sampler driven by hand: segments of 1000 bytes
// sent and delivered at chosen times, as the draft's examples
// (draft-cheng-iccrg-delivery-rate-estimation-02 §2, §3).
type rateRig struct {
	t   *testing.T
	r   rateSampler
	q   txQueue
	nxt seqnum.Value
	una seqnum.Value
}

func newRateRig(t *testing.T) *rateRig {
	return &rateRig{t: t, q: *newTxQueue(), nxt: 1, una: 1}
}

func ms(f float64) clock.Time { return clock.Time(f * float64(time.Millisecond)) }

func (g *rateRig) send(now clock.Time) {
	idle := g.q.n == 0
	g.q.push(g.nxt, 1000, now, 0)
	g.r.onSend(now, g.q.at(g.q.n-1), idle)
	g.nxt = g.nxt.Add(1000)
}

// ack delivers up to segment k (cumulative, 0-based), with SACK blocks
// of segments [a, b) pairs, and returns the sample.
func (g *rateRig) ack(now clock.Time, k int, sacks ...int) rateSample {
	var rs rateSample
	fn := func(s *txSeg) { g.r.onDelivered(now, s, &rs) }
	for i := 0; i+1 < len(sacks); i += 2 {
		g.q.sack(seqnum.Value(1+1000*sacks[i]), seqnum.Value(1+1000*sacks[i+1]), fn)
	}
	if una := seqnum.Value(1 + 1000*(k+1)); k >= 0 && g.una.LessThan(una) {
		g.q.ackTo(una, fn, nil)
		g.una = una
	}
	g.r.generate(&rs, 0)
	return rs
}

// Ten segments in flight per 20 ms round trip, one ACK per segment: each
// sample after the first round is ten segments over 20 ms, 500,000
// bytes/s, with the send and ACK intervals equal (§2.1).
func TestRateSampleSteady(t *testing.T) {
	g := newRateRig(t)
	for i := 0; i < 10; i++ {
		g.send(ms(float64(i)))
	}
	// First round: the samples run from the idle start (t=0).
	rs := g.ack(ms(20), 0)
	if !rs.valid || rs.delivered != 1000 || rs.interval != 20*time.Millisecond || rs.rate != 50_000 {
		t.Fatalf("first sample %+v", rs)
	}
	g.send(ms(20))
	for k := 1; k < 10; k++ {
		g.ack(ms(float64(20+k)), k)
		g.send(ms(float64(20 + k)))
	}
	for k := 0; k < 10; k++ {
		rs := g.ack(ms(float64(40+k)), 10+k)
		if !rs.valid || rs.delivered != 10_000 || rs.sendElapsed != 20*time.Millisecond ||
			rs.ackElapsed != 20*time.Millisecond || rs.rate != 500_000 {
			t.Fatalf("segment %d: %+v", 10+k, rs)
		}
	}
	if g.r.delivered != 20_000 {
		t.Fatalf("delivered %d", g.r.delivered)
	}
}

// ACK compression (§2.2): the second round's ACKs arrive bunched, 0.1 ms
// apart; the ACK rate alone would exceed the rate the data was sent at,
// so the interval is the send interval and no sample passes 500,000.
// A stretched ACK for the whole round gives the same rate.
func TestRateSampleACKCompressionAndStretch(t *testing.T) {
	for _, stretch := range []bool{false, true} {
		g := newRateRig(t)
		for i := 0; i < 10; i++ {
			g.send(ms(float64(i)))
		}
		for k := 0; k < 10; k++ {
			g.ack(ms(float64(20+k)), k)
			g.send(ms(float64(20 + k)))
		}
		var last rateSample
		if stretch {
			last = g.ack(ms(49), 19)
		} else {
			for k := 0; k < 10; k++ {
				rs := g.ack(ms(45+0.1*float64(k)), 10+k)
				if !rs.valid || rs.rate > 500_000 {
					t.Fatalf("compressed ACK %d: %+v", k, rs)
				}
				last = rs
			}
			if last.ackElapsed >= last.sendElapsed {
				t.Fatalf("ACKs not compressed: %+v", last)
			}
		}
		if last.rate != 500_000 || last.delivered != 10_000 {
			t.Fatalf("stretch %v: %+v", stretch, last)
		}
	}
}

// SACKed segments count once (§3.3): a segment SACKed is delivered then,
// and the cumulative ACK that covers it later does not deliver it again;
// the sample of each ACK is taken from its newest segment.
func TestRateSampleSACK(t *testing.T) {
	g := newRateRig(t)
	for i := 0; i < 10; i++ {
		g.send(ms(float64(i)))
	}
	// Segment 0 lost; 1..9 SACKed one by one.
	for k := 1; k < 10; k++ {
		rs := g.ack(ms(float64(20+k)), -1, 1, k+1)
		if !rs.valid || rs.delivered != uint64(1000*k) || rs.prior != 0 {
			t.Fatalf("SACK of %d: %+v", k, rs)
		}
	}
	// The retransmission of segment 0 at 30 ms, delivered at 50 ms.
	r := g.q.at(0)
	r.sentAt = ms(30)
	g.r.onSend(ms(30), r, false)
	rs := g.ack(ms(50), 9)
	if g.r.delivered != 10_000 || !rs.valid || rs.delivered != 1000 || rs.prior != 9000 || rs.interval != 21*time.Millisecond {
		t.Fatalf("delivered %d, sample %+v", g.r.delivered, rs)
	}
}

// A sample over less than the minimum RTT is discarded (§3.3).
func TestRateSampleBelowMinRTT(t *testing.T) {
	g := newRateRig(t)
	g.send(0)
	var rs rateSample
	g.q.ackTo(1001, func(s *txSeg) { g.r.onDelivered(ms(5), s, &rs) }, nil)
	g.r.generate(&rs, 10*time.Millisecond)
	if rs.valid || !rs.has {
		t.Fatalf("%+v", rs)
	}
}

// Under BBR too the cutoff is Linux's tcp_min_rtt (tcp_rate_gen), not
// BBR's RTprop: an RTprop taken anew when its 10 s window expired can be
// far above the path's minimum, and a sample between the two is valid.
func TestRateSampleCutoffIsTCPMinRTT(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.CongestionControl = "bbr" })
	b := h.c.rateCtl()
	h.c.Write(make([]byte, 2000))
	h.advance(5 * time.Millisecond)
	h.expect(payloadLen(1000))
	h.expect(payloadLen(1000))
	b.minRTT = time.Second
	h.advance(5 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1+2000)
	if min := h.c.minRTT(); min == 0 || min > 10*time.Millisecond {
		t.Fatalf("tcp_min_rtt %v", min)
	}
	// 2000 bytes over the 10 ms from the write to the ACK: 200 KB/s.
	if in := h.c.Info(); in.DeliveryRate != 200000 {
		t.Fatalf("TCP_INFO delivery rate %d: the 10 ms sample was discarded", in.DeliveryRate)
	}
}

// Application-limited marking (§3.4), under BBR and under CUBIC (every
// connection samples, as Linux's tcp_rate.c): a write smaller than cwnd
// leaves the sender application-limited, the segments it sends carry the
// mark and so does their sample (TCP_INFO's delivery_rate_app_limited);
// bulk data past the bubble clears it.
func TestRateSampleAppLimited(t *testing.T) {
	for _, cc := range []string{"bbr", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			h := sackConn(t, false, func(c *Config) { c.CongestionControl = cc })
			h.c.Write(make([]byte, 2000))
			r := h.c.rater()
			h.advance(5 * time.Millisecond)
			h.expect(payloadLen(1000))
			h.expect(payloadLen(1000))
			if r.appLimited == 0 || h.c.tq.at(0).mark&sbAppLimited == 0 {
				t.Fatalf("not application-limited: %d", r.appLimited)
			}
			h.advance(5 * time.Millisecond)
			h.send(ACK, peerISN+1, ourISN+1+2000)
			// 2000 bytes over the 10 ms from the write to the ACK:
			// 200 KB/s.
			if in := h.c.Info(); in.DeliveryRate != 200000 || !in.DeliveryRateAppLimited || in.Delivered != 2 {
				t.Fatalf("TCP_INFO delivery rate %d app-limited %v delivered %d", in.DeliveryRate, in.DeliveryRateAppLimited, in.Delivered)
			}
			// Bulk, the send buffer kept full: samples past the bubble
			// are not limited.
			chunk := make([]byte, 64<<10)
			for round := 0; round < 5; round++ {
				for h.c.Write(chunk) > 0 {
				}
				h.advance(time.Millisecond)
				h.out.segs = h.out.segs[:0]
				h.advance(10 * time.Millisecond)
				h.send(ACK, peerISN+1, h.c.sndNxt)
			}
			if r.appLimited != 0 {
				t.Fatalf("still application-limited with a full send buffer: %d (delivered %d)", r.appLimited, r.delivered)
			}
			if in := h.c.Info(); in.DeliveryRateAppLimited || in.DeliveryRate == 0 {
				t.Fatalf("the latest sample: %d app-limited %v", in.DeliveryRate, in.DeliveryRateAppLimited)
			}
		})
	}
}

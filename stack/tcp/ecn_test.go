package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// ECN (RFC 3168) with Linux's tcp_ecn semantics.

const (
	ECE = wire.FlagECE
	CWR = wire.FlagCWR
)

func withECN(ecn uint8) segOpt { return func(s *Segment) { s.ECN = ecn } }

func ipECN(v uint8) check {
	return func(s *sent) error {
		if s.seg.ECN != v {
			return fmt.Errorf("IP ECN field %d, want %d", s.seg.ECN, v)
		}
		return nil
	}
}

// ecnConn is a passive connection whose peer sent an ECN-setup SYN.
func ecnConn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN|ECE|CWR, peerISN, 0, withMSS(1000))
	h.expect(flags(SYN | ACK | ECE))
	h.send(ACK, peerISN+1, ourISN+1)
	if h.c.flags&fECN == 0 {
		t.Fatal("ECN not agreed")
	}
	return h
}

// Passive open (tcp_ecn 2, the default, and 1): an ECN-setup SYN gets an
// ECN-setup SYN-ACK (ECE, no CWR); data goes out as ECT(0), pure ACKs and
// retransmissions as not-ECT (§6.1.5). tcp_ecn 0 ignores the request.
func TestECNPassiveNegotiation(t *testing.T) {
	h := ecnConn(t)
	h.c.Write(make([]byte, 100))
	h.expect(flags(ACK|PSH), ipECN(ECNECT0))
	h.advance(300 * time.Millisecond) // RTO
	h.expect(flags(ACK|PSH), payloadLen(100), ipECN(ECNNotECT))

	h = newHarness(t, func(c *Config) { c.ECN = 0 })
	h.listen()
	h.send(SYN|ECE|CWR, peerISN, 0, withMSS(1000))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 100))
	h.expect(flags(ACK|PSH), ipECN(ECNNotECT))
}

// Active open: tcp_ecn 1 sends an ECN-setup SYN and agrees on an
// ECN-setup SYN-ACK; tcp_ecn 2 (default) does not request.
func TestECNActiveNegotiation(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ECN = 1 })
	c, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
	if err != nil {
		t.Fatal(err)
	}
	h.c, h.key = c, c.Key()
	h.expect(flags(SYN | ECE | CWR))
	h.send(SYN|ACK|ECE, peerISN, ourISN+1, withMSS(1000))
	h.expect(flags(ACK))
	if c.flags&fECN == 0 {
		t.Fatal("ECN not agreed")
	}
	// A SYN-ACK without ECE: no ECN.
	h = newHarness(t, func(c *Config) { c.ECN = 1 })
	c, _ = h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
	h.key = c.Key()
	h.expect(flags(SYN | ECE | CWR))
	h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1000))
	if c.flags&fECN != 0 {
		t.Fatal("ECN without the peer's ECE")
	}
	dialConn(t) // tcp_ecn 2: a plain SYN (dialConn checks its flags)
}

// tcp_ecn_fallback (RFC 3168 §6.1.1.1, Linux tcp_ecn_clear_syn): the
// SYNs the timer resends ask for no ECN (measured on Linux 6.18,
// xdptcp/ecn-syn-fallback: at 1 and 3 s, no ECE or CWR), and an
// ECN-setup SYN-ACK still agrees on it, the first data with CWR; with 0
// every SYN asks. A passive open's SYN-ACK keeps ECE when resent.
func TestECNSynFallback(t *testing.T) {
	for _, fallback := range []bool{true, false} {
		h := newHarness(t, func(c *Config) { c.ECN, c.ECNFallback, c.SynLinearTimeouts = 1, fallback, 0 })
		c, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
		if err != nil {
			t.Fatal(err)
		}
		h.c, h.key = c, c.Key()
		h.expect(flags(SYN | ECE | CWR))
		resent := flags(SYN)
		if !fallback {
			resent = flags(SYN | ECE | CWR)
		}
		h.advance(time.Second)
		h.expect(resent)
		h.advance(2 * time.Second)
		h.expect(resent)
		h.send(SYN|ACK|ECE, peerISN, ourISN+1, withMSS(1000))
		h.expect(flags(ACK))
		if c.flags&fECN == 0 {
			t.Fatalf("fallback %v: an ECN-setup SYN-ACK, ECN not agreed", fallback)
		}
		// The SYN's timeouts queued CWR (Linux tcp_enter_loss): the
		// first data carries it.
		c.Write(make([]byte, 100))
		h.expect(flags(ACK | PSH | CWR))
	}
	h := newHarness(t)
	h.listen()
	h.send(SYN|ECE|CWR, peerISN, 0, withMSS(1000))
	h.expect(flags(SYN | ACK | ECE))
	h.advance(time.Second)
	h.expect(flags(SYN | ACK | ECE))
}

// Receiver (§6.1.3): a CE-marked segment is ACKed at once with ECE, and
// every segment carries ECE until the peer's CWR.
func TestECNCEEchoedUntilCWR(t *testing.T) {
	h := ecnConn(t)
	seq := peerISN + 1
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 100)), withECN(ECNCE))
	h.expect(flags(ACK|ECE), ackNum(seq+100))
	seq += 100
	h.send(ACK|PSH, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.send(ACK|PSH, seq+1000, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.advance(time.Second)
	for len(h.out.segs) > 1 {
		h.expect(flags(ACK | ECE))
	}
	h.expect(flags(ACK|ECE), ackNum(seq+2000))
	seq += 2000
	h.send(ACK|PSH|CWR, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.send(ACK|PSH, seq+1000, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.advance(time.Second)
	for len(h.out.segs) > 1 {
		h.expect(flags(ACK)) // CWR: the echo stops
	}
	h.expect(flags(ACK), ackNum(seq+2000))
}

// Sender (§6.1.2): an ECE sets ssthresh as a loss would, once per
// window, and PRR brings cwnd down to it over the window's ACKs (Linux's
// CWR state); the next new data carries CWR.
func TestECNResponseOncePerWindow(t *testing.T) {
	h := ecnConn(t)
	una := ourISN + 1
	h.c.Write(make([]byte, 10*1000))
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000), ipECN(ECNECT0))
	}
	ss := int(float64(h.c.cc.window()) * cubicBeta)
	// PRR while pipe is above ssthresh: pipe + ssthresh × delivered /
	// the cwnd before the reduction (10,000), rounded up to whole
	// segments (Linux tcp_cwnd_reduction; Linux 6.18 has cwnd 10 after
	// the first ECE: conformance/scripts/ecn-cwr-rto.pkt's probe).
	prr := func(pipe, delivered int) int { return pipe + ((delivered*ss+10000-1)/10000+999)/1000*1000 }
	h.send(ACK|ECE, peerISN+1, una+1000)
	if w := h.c.cc.window(); w != prr(9000, 1000) || h.c.cc.ssthreshBytes() != ss || h.l.Stats().TCPECNReduce.Load() != 1 {
		t.Fatalf("cwnd %d, ssthresh %d after ECE, want %d, %d", w, h.c.cc.ssthreshBytes(), prr(9000, 1000), ss)
	}
	h.send(ACK|ECE, peerISN+1, una+2000) // same window: no second cut, PRR goes on
	if w := h.c.cc.window(); w != prr(8000, 2000) || h.c.cc.ssthreshBytes() != ss || h.l.Stats().TCPECNReduce.Load() != 1 {
		t.Fatalf("cwnd %d, ssthresh %d after a second ECE in the window, want %d, %d", w, h.c.cc.ssthreshBytes(), prr(8000, 2000), ss)
	}
	// pipe 6 segments, below ssthresh: PRR-SSRB lets cwnd reach
	// ssthresh, room for one.
	h.send(ACK, peerISN+1, una+4000)
	if w := h.c.cc.window(); w != ss {
		t.Fatalf("cwnd %d at pipe 6000, want ssthresh %d", w, ss)
	}
	h.c.Write(make([]byte, 1000))
	h.expect(seqNum(una+10000), flags(ACK|PSH|CWR), ipECN(ECNECT0))
	h.expectNothing()
	// The ACK up to the recovery point left the peer before our CWR
	// reached it, so it still has ECE: the same window, no reduction
	// (Linux holds CWR until SND.UNA is above high_seq).
	h.send(ACK|ECE, peerISN+1, una+10000)
	if h.c.cc.ssthreshBytes() != ss || h.c.cc.window() > ss || h.l.Stats().TCPECNReduce.Load() != 1 {
		t.Fatalf("cwnd %d, ssthresh %d, %d reductions after the ECE up to the recovery point (want ssthresh %d, 1)",
			h.c.cc.window(), h.c.cc.ssthreshBytes(), h.l.Stats().TCPECNReduce.Load(), ss)
	}
	h.send(ACK, peerISN+1, una+11000)
	h.c.Write(make([]byte, 1000))
	h.expect(flags(ACK|PSH), ipECN(ECNECT0)) // one CWR only
	h.send(ACK|ECE, peerISN+1, una+12000)    // a new window: reduce again
	if h.l.Stats().TCPECNReduce.Load() != 2 {
		t.Fatal("no reduction in the next window")
	}
	// tcpi_delivered_ce: what the ACKs with ECE acknowledged, 1 + 1 + 6 + 1
	// of the 12 segments (Linux tcp_count_delivered).
	if in := h.c.Info(); in.Delivered != 12 || in.DeliveredCE != 9 {
		t.Fatalf("delivered %d, delivered_ce %d; want 12, 9", in.Delivered, in.DeliveredCE)
	}
}

// SYN cookies carry the ECN setup in the timestamp (RFC 3168 through
// syncookie's ECN bit, Linux TS_OPT_ECN).
func TestECNThroughSynCookie(t *testing.T) {
	h := cookieHarness(t)
	h.send(SYN|ECE|CWR, peerISN, 0, withMSS(1000), withTS(4242, 0))
	s := h.expect(flags(SYN | ACK | ECE))
	h.send(ACK, peerISN+1, s.seg.Seq+1, withTS(4243, s.seg.Opts.TSVal))
	if h.c == nil || h.c.flags&fECN == 0 {
		t.Fatal("ECN lost through the cookie")
	}
	h.c.Write([]byte("x"))
	h.expect(ipECN(ECNECT0))
}

// A retransmission timeout in CWR leaves it (Linux tcp_enter_loss sets
// the Loss state over CWR): slow start grows cwnd on the ACKs of the
// resent data, which CWR's hold would have stopped until SND.UNA passed
// the point of the timeout. ssthresh stays where the ECE put it: the
// window was already cut (tcp_enter_loss cuts only from Open or
// Disorder, or past high_seq), and there is nothing to undo.
func TestECNTimeoutEndsCWR(t *testing.T) {
	h, una, ss := ecnCut(t, 1000)
	if h.c.Info().CAState != CACWR {
		t.Fatalf("CA state %v after the ECE, want CWR", h.c.Info().CAState)
	}
	h.advance(300 * time.Millisecond) // the RTO (200 ms): una+1000 again, one segment's window
	h.expect(seqNum(una+1000), payloadLen(1000))
	h.expectNothing()
	if h.c.Info().CAState != CALoss {
		t.Fatalf("CA state %v after the timeout, want Loss", h.c.Info().CAState)
	}
	if got := h.c.cc.ssthreshBytes(); got != ss || h.c.tq.undo.valid {
		t.Fatalf("ssthresh %d after the timeout in CWR (undo kept: %v), want %d as the ECE set it and no undo", got, h.c.tq.undo.valid, ss)
	}
	before := h.c.cc.window()
	h.send(ACK, peerISN+1, una+2000)
	if w := h.c.cc.window(); w <= before {
		t.Fatalf("cwnd %d after an ACK in slow start following the timeout (was %d)", w, before)
	}
	h.expect(seqNum(una+2000), payloadLen(1000))
	h.expect(seqNum(una+3000), payloadLen(1000))
}

// tcpi_delivered and tcpi_delivered_ce count each segment once, when it is
// first SACKed or acknowledged, and as CE-marked when that ACK carried ECE
// (Linux tcp_count_delivered); TCPDelivered and TCPDeliveredCE count the
// same.
func TestDeliveredCountsSACKOnce(t *testing.T) {
	h := ecnSACKConn(t)
	una := ourISN + 1
	h.writeExpect(10, 1000)
	check := func(when string, delivered, ce int) {
		t.Helper()
		in, st := h.c.Info(), h.l.Stats()
		if in.Delivered != delivered || in.DeliveredCE != ce || st.TCPDelivered.Load() != uint64(delivered) || st.TCPDeliveredCE.Load() != uint64(ce) {
			t.Fatalf("%s: delivered %d, delivered_ce %d, TCPDelivered %d, TCPDeliveredCE %d; want %d, %d", when,
				in.Delivered, in.DeliveredCE, st.TCPDelivered.Load(), st.TCPDeliveredCE.Load(), delivered, ce)
		}
	}
	h.send(ACK|ECE, peerISN+1, una, withSACK(una+2000, una+4000))
	check("segments 3-4 SACKed with ECE", 2, 2)
	h.send(ACK, peerISN+1, una+5000)
	check("acknowledged to 5 without ECE", 5, 2)
	h.send(ACK|ECE, peerISN+1, una+10000)
	check("acknowledged to 10 with ECE", 10, 7)
}

// A loss found in CWR is recovered inside the ECN reduction: fast
// recovery starts and resends the lost segment, but ssthresh is not cut a
// second time for the same window (Linux tcp_enter_recovery calls
// tcp_init_cwnd_reduction only outside a cwnd reduction).
func TestECNLossInCWRNoSecondCut(t *testing.T) {
	h, una, ss := ecnCut(t, 1000)
	h.dupAcks(3, una+1000) // una+1000 lost
	if in := h.c.Info(); in.CAState != CARecovery {
		t.Fatalf("CA state %v after three duplicate ACKs in CWR, want Recovery", in.CAState)
	}
	h.expect(seqNum(una+1000), payloadLen(1000))
	if got := h.c.cc.ssthreshBytes(); got != ss || h.l.Stats().TCPRenoRecovery.Load() != 1 {
		t.Fatalf("ssthresh %d, %d recoveries; want %d as the ECE set it, 1", got, h.l.Stats().TCPRenoRecovery.Load(), ss)
	}
}

// An ECE on the ACK of everything sent leaves PRR nothing to pace: cwnd
// is ssthresh at once. A loss later in that reduction's window starts
// fast recovery, whose PRR counts from the flight then, not from the
// empty one (no second ssthresh cut, and no cwnd left at ssthresh to
// burst with while the recovery runs).
func TestECNEmptyFlightThenLoss(t *testing.T) {
	h, una, ss := ecnCut(t, 10000)
	if w := h.c.cc.window(); w != ss || h.c.Info().CAState != CACWR {
		t.Fatalf("cwnd %d (state %v) after an ECE that acknowledged everything, want ssthresh %d in CWR", w, h.c.Info().CAState, ss)
	}
	h.c.Write(make([]byte, 7*1000))
	for i := 0; i < 7; i++ {
		h.expect(payloadLen(1000))
	}
	h.dupAcks(3, una+10000) // una+10000 lost
	h.expect(seqNum(una+10000), payloadLen(1000))
	if w := h.c.cc.window(); w >= ss || h.c.cc.ssthreshBytes() != ss || h.c.Info().CAState != CARecovery {
		t.Fatalf("cwnd %d, ssthresh %d, state %v in the recovery; want PRR's cwnd below ssthresh %d, Recovery", w, h.c.cc.ssthreshBytes(), h.c.Info().CAState, ss)
	}
}

// ecnCut sends ten 1000-byte segments on an ECN connection and ACKs the
// first acked bytes with ECE: the reduction's ssthresh.
func ecnCut(t *testing.T, acked int) (h *harness, una seqnum.Value, ss int) {
	h = ecnConn(t)
	una = ourISN + 1
	h.writeExpect(10, 1000)
	h.send(ACK|ECE, peerISN+1, una+seqnum.Value(acked))
	return h, una, h.c.cc.ssthreshBytes()
}

// dupAcks sends n duplicate ACKs of ack.
func (h *harness) dupAcks(n int, ack seqnum.Value) {
	for i := 0; i < n; i++ {
		h.send(ACK, peerISN+1, ack)
	}
}

// A tail loss probe is armed in CWR as in the open state (Linux's
// tcp_schedule_loss_probe: Open or CWR): after an ECE and silence, the
// last segment goes again at the probe timeout, before the RTO.
func TestECNTailLossProbeInCWR(t *testing.T) {
	h := ecnSACKConn(t)
	una := ourISN + 1
	h.writeExpect(10, 1000)
	h.send(ACK|ECE, peerISN+1, una+1000)
	if h.c.Info().CAState != CACWR {
		t.Fatalf("CA state %v after the ECE, want CWR", h.c.Info().CAState)
	}
	if h.c.tlpAt == never || h.c.tlpAt >= h.c.rtoAt {
		t.Fatalf("probe at %v, RTO at %v: want a probe armed before the RTO", time.Duration(h.c.tlpAt), time.Duration(h.c.rtoAt))
	}
	h.advance(time.Duration(h.c.tlpAt-h.now) + time.Millisecond) // the wheel's tick
	h.expect(seqNum(una+9000), payloadLen(1000))
	if h.l.Stats().TCPLossProbes.Load() != 1 || h.l.Stats().TCPTimeouts.Load() != 0 {
		t.Fatalf("loss probes %d, timeouts %d; want 1, 0", h.l.Stats().TCPLossProbes.Load(), h.l.Stats().TCPTimeouts.Load())
	}
}

// ecnSACKConn is an established passive connection with ECN and SACK
// agreed.
func ecnSACKConn(t *testing.T) *harness {
	h := newHarness(t)
	h.listen()
	h.send(SYN|ECE|CWR, peerISN, 0, withMSS(1000), withSACKOK())
	h.expect(flags(SYN | ACK | ECE))
	h.send(ACK, peerISN+1, ourISN+1)
	return h
}

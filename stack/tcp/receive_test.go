package tcp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// The receiving side: reassembly, SACK generation, delayed ACKs, options
// at the edges (MSS 0, PAWS and RST), the persist timer's schedule.

// fiveSegs returns five distinct 1000-byte payloads.
func fiveSegs() [5][]byte {
	var s [5][]byte
	for i := range s {
		s[i] = bytes.Repeat([]byte{byte('a' + i)}, 1000)
	}
	return s
}

// All 120 orders of 5 segments reassemble exactly; every out-of-order
// arrival is ACKed at once (RFC 5681 §4.2), and the ACK after the last
// one covers all five.
func TestReassemblyAll120Orders(t *testing.T) {
	segs := fiveSegs()
	want := bytes.Join(segs[:], nil)
	var perms [][]int
	var permute func(p []int, k int)
	permute = func(p []int, k int) {
		if k == len(p) {
			perms = append(perms, append([]int(nil), p...))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			permute(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	permute([]int{0, 1, 2, 3, 4}, 0)
	if len(perms) != 120 {
		t.Fatalf("%d permutations", len(perms))
	}
	for _, p := range perms {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			h := sackEstablished(t)
			pastQuickAcks(h)
			for _, i := range p {
				seq := peerISN + 1 + seqnum.Value(1000*i)
				inOrder := seq == h.c.rcvNxt
				h.send(ACK, seq, ourISN+1, withData(segs[i]))
				if !inOrder {
					h.expect(flags(ACK), ackNum(h.c.rcvNxt))
				}
				h.out.segs = nil
			}
			if !bytes.Equal(h.rec.data, want) || h.c.rcvNxt != peerISN+5001 || h.c.oooRanges() != 0 || h.c.oooBytes() != 0 {
				t.Fatalf("got %d bytes (equal %v), rcvNxt +%d, ooo %d/%d", len(h.rec.data), bytes.Equal(h.rec.data, want),
					h.c.rcvNxt-peerISN, h.c.oooRanges(), h.c.oooBytes())
			}
		})
	}
}

// Overlapping and duplicate out-of-order segments still reassemble the
// exact stream.
func TestReassemblyOverlaps(t *testing.T) {
	h := sackEstablished(t)
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	at := func(off, n int) { h.send(ACK, peerISN+1+seqnum.Value(off), ourISN+1, withData(data[off:off+n])) }
	at(3000, 1000)
	at(2500, 1500) // overlaps the left of the queued one
	at(3000, 1000) // duplicate
	at(4000, 1000)
	at(1000, 2000) // overlaps 2500..3000
	at(0, 1500)    // fills the hole, overlapping 1000..1500
	if !bytes.Equal(h.rec.data, data) {
		t.Fatalf("reassembled %d bytes, equal %v", len(h.rec.data), bytes.Equal(h.rec.data, data))
	}
	if h.c.oooRanges() != 0 || h.c.oooBytes() != 0 {
		t.Fatalf("ooo left %d/%d", h.c.oooRanges(), h.c.oooBytes())
	}
}

// For every pattern of received segments among five (the holes are the
// rest), the ACK after the last arrival carries the cumulative ACK of the
// in-order prefix and one SACK block per run of received segments above
// it, the most recent first (RFC 2018 §4).
func TestSACKBlocksEveryHolePattern(t *testing.T) {
	segs := fiveSegs()
	base := peerISN + 1
	for mask := 1; mask < 32; mask++ {
		t.Run(fmt.Sprintf("%05b", mask), func(t *testing.T) {
			h := sackEstablished(t)
			pastQuickAcks(h)
			last := -1
			for i := 0; i < 5; i++ {
				if mask&(1<<i) != 0 {
					h.send(ACK|PSH, base+seqnum.Value(1000*i), ourISN+1, withData(segs[i]))
					last = i
				}
			}
			h.advance(atoMin)
			if len(h.out.segs) == 0 {
				t.Fatal("no ACK")
			}
			a := h.out.segs[len(h.out.segs)-1].seg
			prefix := 0
			for prefix < 5 && mask&(1<<prefix) != 0 {
				prefix++
			}
			if a.Ack != base+seqnum.Value(1000*prefix) {
				t.Fatalf("ACK +%d, want +%d", a.Ack-base, 1000*prefix)
			}
			var runs []wire.SACKBlock
			for i := prefix; i < 5; i++ {
				if mask&(1<<i) == 0 {
					continue
				}
				j := i
				for j < 5 && mask&(1<<j) != 0 {
					j++
				}
				runs = append(runs, wire.SACKBlock{Left: uint32(base + seqnum.Value(1000*i)), Right: uint32(base + seqnum.Value(1000*j))})
				i = j
			}
			if a.Opts.NumSACK != len(runs) {
				t.Fatalf("%d SACK blocks %v, want %v", a.Opts.NumSACK, a.Opts.SACK[:a.Opts.NumSACK], runs)
			}
			got := map[wire.SACKBlock]bool{}
			for _, b := range a.Opts.SACK[:a.Opts.NumSACK] {
				got[b] = true
			}
			for _, r := range runs {
				if !got[r] {
					t.Fatalf("SACK blocks %v, want %v", a.Opts.SACK[:a.Opts.NumSACK], runs)
				}
			}
			if len(runs) > 0 {
				first := a.Opts.SACK[0]
				l := uint32(base + seqnum.Value(1000*last))
				if seqnum.Value(l).LessThan(seqnum.Value(first.Left)) || !seqnum.Value(l).LessThan(seqnum.Value(first.Right)) {
					t.Fatalf("first block %v does not hold the latest segment %d", first, last)
				}
			}
		})
	}
}

// Delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2): at most 40 ms for one
// full segment (without PSH: ackpolicy_test.go), at once for the second
// full segment, at once for an out-of-order one.
func TestDelayedAckTiming(t *testing.T) {
	h := establishedConn(t)
	pastQuickAcks(h)
	seq := peerISN + 1
	full := make([]byte, 1460)
	h.send(ACK, seq, ourISN+1, withData(full))
	seq += 1460
	h.expectNothing()
	h.advance(39 * time.Millisecond)
	h.expectNothing()
	h.advance(time.Millisecond)
	h.expect(flags(ACK), ackNum(seq), at(40*time.Millisecond))
	if h.l.Stats().DelayedACKs.Load() != 1 {
		t.Fatal("DelayedACKs not counted")
	}
	// Two full segments: the second is ACKed at once.
	h.send(ACK, seq, ourISN+1, withData(full))
	seq += 1460
	h.expectNothing()
	h.advance(5 * time.Millisecond)
	h.send(ACK, seq, ourISN+1, withData(full))
	seq += 1460
	h.expect(flags(ACK), ackNum(seq), at(45*time.Millisecond))
	// Out of order: at once, with the cumulative ACK.
	h.send(ACK, seq+1460, ourISN+1, withData(full))
	h.expect(flags(ACK), ackNum(seq), at(45*time.Millisecond))
	// Filling the hole: at once.
	h.send(ACK, seq, ourISN+1, withData(full))
	h.expect(flags(ACK), ackNum(seq+2920), at(45*time.Millisecond))
	h.advance(time.Second)
	h.expectNothing()
}

// zeroWindowWithData: one byte sent and acknowledged with a zero window,
// two more bytes waiting (ourISN+2 is SND.UNA).
func zeroWindowWithData(t *testing.T) *harness {
	h := establishedConn(t)
	h.c.Write([]byte("x"))
	h.expect(payloadLen(1))
	h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	h.c.Write([]byte("yz"))
	return h
}

// The persist timer (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): a zero window
// with data waiting draws probes one RTO, then twice, four times ... as
// long after the peer's last zero-window ACK (Linux tcp_ack_probe restarts
// the timer on each answer, keeping the backoff: persist.pkt); the peer's
// answers keep the connection; a window update resumes sending at once.
func TestZeroWindowProbeSchedule(t *testing.T) {
	h := zeroWindowWithData(t)
	h.expectNothing()
	rto := h.c.rtt.rto(minRTO, maxRTO)
	const answer = 30 * time.Millisecond // the peer's answer comes this long after each probe
	var gaps []time.Duration
	last := h.now // the peer's last zero-window ACK
	for i := 0; i < 5; i++ {
		h.advance(backoff(rto, i, maxRTO) - time.Millisecond)
		h.expectNothing()
		h.advance(time.Millisecond)
		s := h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0)) // SND.UNA-1, no data (Linux tcp_xmit_probe_skb)
		gaps = append(gaps, time.Duration(s.at-last))
		h.advance(answer)
		h.send(ACK, peerISN+1, ourISN+2, withWin(0))
		last = h.now
		h.expectNothing()
		// Probes are not timeouts: the Open state, no retransmits, the
		// probes' backoff (persist-info.pkt, as Linux 6.18).
		if in := h.c.Info(); in.CAState != CAOpen || in.Retransmits != 0 || int(in.Backoff) != i+1 {
			t.Fatalf("after probe %d: ca_state %d retransmits %d backoff %d, want Open 0 %d", i+1, in.CAState, in.Retransmits, in.Backoff, i+1)
		}
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] != 2*gaps[i-1] && gaps[i] != maxRTO {
			t.Fatalf("probe gaps after the peer's answers %v: not doubling", gaps)
		}
	}
	if gaps[0] != rto {
		t.Fatalf("first probe after %v, want the RTO %v", gaps[0], rto)
	}
	if h.l.Stats().TCPWinProbe.Load() != 5 {
		t.Fatalf("TCPWinProbe %d", h.l.Stats().TCPWinProbe.Load())
	}
	h.send(ACK, peerISN+1, ourISN+2, withWin(1000))
	h.expect(payloadLen(2), seqNum(ourISN+2))
	h.state(StateEstablished)
}

// A window that reopens by less than a segment after a zero-window probe
// (persist-small.pkt, measured on Linux 6.18): the answer restarts the
// probe timer with its backoff (no segment is sent into the sliver:
// sender SWS avoidance), and the timer then sends what fits, with PSH
// (tcp_write_wakeup). Data in flight ends the probes' backoff, so that
// segment's timeout is the estimator's RTO, and its retransmission
// carries the PSH again. The ACK of that one segment grows cwnd in slow
// start, as Linux's tcp_is_cwnd_limited lets it: the largest flight is
// counted in segments (one 1-byte segment, where bytes would say cwnd is
// far above twice the flight), and the rounds that sent nothing did not
// reset it (Linux calls tcp_cwnd_validate only when it sent or was
// cwnd-limited). So the rest goes at once.
func TestWindowReopenedPartly(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("x"))
	h.expect(payloadLen(1))
	h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	h.c.Write(make([]byte, 500+1460+500))
	rto := h.c.rtt.rto(minRTO, maxRTO)
	h.advance(rto)
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0))
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+2, withWin(500))
	answered := h.now
	h.advance(2*rto - time.Millisecond)
	h.expectNothing()
	h.advance(time.Millisecond)
	s := h.expect(flags(ACK|PSH), seqNum(ourISN+2), payloadLen(500))
	if s.at != answered.Add(2*rto) {
		t.Fatalf("the sliver went %v after the answer, want the backed-off %v", time.Duration(s.at-answered), 2*rto)
	}
	h.advance(rto)
	h.expect(flags(ACK|PSH), seqNum(ourISN+2), payloadLen(500)) // the timeout, one RTO later
	h.send(ACK, peerISN+1, ourISN+502, withWin(65535))
	h.expect(seqNum(ourISN+502), payloadLen(1460))
	h.expect(seqNum(ourISN+1962), payloadLen(500))
}

// MSS 0 (and 1) from the peer is floored at tcp_min_snd_mss: segments of
// 48 bytes, and a write completes instead of looping on empty segments.
func TestMSSZeroNeverLoops(t *testing.T) {
	for _, m := range []uint16{0, 1, 47} {
		h := newHarness(t)
		h.listen()
		h.send(SYN, peerISN, 0, withMSS(m))
		h.expect(flags(SYN | ACK))
		h.send(ACK, peerISN+1, ourISN+1)
		h.c.Write(make([]byte, 480))
		for i := 0; i < 10; i++ {
			h.expect(payloadLen(48))
		}
		h.expectNothing()
		h.send(ACK, peerISN+1, ourISN+481)
		if h.c.sndBuf.Len() != 0 {
			t.Fatalf("MSS %d: %d bytes left", m, h.c.sndBuf.Len())
		}
	}
}

// PAWS (RFC 7323 §5.3): an old TSval delivers nothing and draws an ACK,
// but a RST is exempt and resets at RCV.NXT.
func TestPAWSRstExempt(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(1000, 0))
	s := h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withTS(1001, s.seg.Opts.TSVal))
	h.send(ACK, peerISN+1, ourISN+1, withTS(900, 0), withData([]byte("old")))
	h.expect(flags(ACK), ackNum(peerISN+1))
	if len(h.rec.data) != 0 {
		t.Fatal("PAWS-rejected data delivered")
	}
	h.send(RST, peerISN+1, 0, withTS(900, 0))
	h.state(StateClosed)
}

// The urgent pointer is ignored: data inline, even with a pointer past the
// data or URG with no data.
func TestUrgentPointerPastData(t *testing.T) {
	h := establishedConn(t)
	for _, u := range []uint16{0, 1, 65535} {
		s := Segment{Key: h.key, Seq: h.c.rcvNxt, Ack: ourISN + 1, Flags: ACK | wire.FlagURG, Urgent: u, Window: 100}
		h.l.Input(h.now, &s)
		s.Payload = []byte("u")
		h.l.Input(h.now, &s)
	}
	if string(h.rec.data) != "uuu" {
		t.Fatalf("data %q", h.rec.data)
	}
}

// The sequence check's left edge is rcv_wup, RCV.NXT when we last sent
// an ACK (Linux tcp_sequence), not RCV.NXT: the peer's pure ACK that the
// path reordered behind its next request still acknowledges our
// response while that request's ACK is delayed, and is refused (a
// duplicate ACK answers it) once that ACK went.
func TestOldPureAckTakenUntilOurAck(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("req1")))
	h.expect(flags(ACK), ackNum(peerISN+5)) // quick ACK: rcv_wup = peerISN+5
	h.advance(time.Millisecond)
	h.c.Write([]byte("resp1"))
	h.expect(flags(ACK|PSH), payloadLen(5))
	h.send(ACK|PSH, peerISN+5, ourISN+1, withData([]byte("req2"))) // its ACK is delayed (pingpong)
	h.expectNothing()
	// The peer's ACK of resp1, sent before req2, arrives after it.
	h.send(ACK, peerISN+5, ourISN+6)
	h.expectNothing()
	if h.c.sndUna != ourISN+6 {
		t.Fatalf("SND.UNA %d, want %d: the reordered ACK was refused", h.c.sndUna, ourISN+6)
	}
	h.advance(40 * time.Millisecond)
	h.expect(flags(ACK), ackNum(peerISN+9)) // rcv_wup = peerISN+9
	h.c.Write([]byte("resp2"))
	h.expect(flags(ACK|PSH), payloadLen(5))
	// Now a pure ACK at peerISN+5 is below rcv_wup: refused, answered.
	h.send(ACK, peerISN+5, ourISN+11)
	h.expect(flags(ACK), seqNum(ourISN+11), ackNum(peerISN+9))
	if h.c.sndUna != ourISN+6 {
		t.Fatalf("SND.UNA %d, want %d: an ACK below rcv_wup was taken", h.c.sndUna, ourISN+6)
	}
}

// TS.Recent takes the TSval of a segment that starts at or before
// Last.ACK.sent (RFC 7323 §4.3, Linux tcp_replace_ts_recent against
// rcv_wup): a delayed ACK echoes the oldest segment it acknowledges,
// not the newest.
func TestDelayedAckEchoesOldestTSval(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(1000, 0))
	s := h.expect(flags(SYN | ACK))
	ecr := s.seg.Opts.TSVal
	h.send(ACK, peerISN+1, ourISN+1, withTS(1001, ecr))
	h.send(ACK|PSH, peerISN+1, ourISN+1, withTS(1002, ecr), withData([]byte("req1")))
	h.expect(flags(ACK), ackNum(peerISN+5)) // quick ACK
	h.advance(time.Millisecond)
	h.c.Write([]byte("resp1"))
	h.expect(flags(ACK|PSH), payloadLen(5))
	// Two small requests whose ACK is delayed: it echoes the first's TSval.
	h.send(ACK|PSH, peerISN+5, ourISN+6, withTS(1003, ecr), withData([]byte("r2")))
	h.send(ACK|PSH, peerISN+7, ourISN+6, withTS(1004, ecr), withData([]byte("r3")))
	h.advance(40 * time.Millisecond)
	a := h.expect(flags(ACK), ackNum(peerISN+9))
	if a.seg.Opts.TSEcr != 1003 {
		t.Fatalf("TSecr %d, want 1003 (the oldest unacknowledged segment's)", a.seg.Opts.TSEcr)
	}
}

// A window that opens ends the probes' backoff with the persist timer
// (Linux tcp_ack_probe: icsk_backoff = 0): the data it lets out is
// retransmitted one RTO later, not after the probes' doubled interval.
func TestWindowOpenClearsProbeBackoff(t *testing.T) {
	h := zeroWindowWithData(t)
	rto := h.c.rtt.rto(minRTO, maxRTO)
	for i := 0; i < 3; i++ {
		h.advance(backoff(rto, i+1, maxRTO) + time.Millisecond)
		h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0))
		h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	}
	h.send(ACK, peerISN+1, ourISN+2, withWin(1000))
	h.expect(payloadLen(2), seqNum(ourISN+2))
	h.advance(rto + time.Millisecond)
	h.expect(payloadLen(2), seqNum(ourISN+2)) // the RTO, not 8 RTOs
}

// The window's right edge as Linux 6.18's tcp_sequence checks it: while
// the application holds unread data, a segment that crosses the edge is
// refused whole and answered with a duplicate ACK, as is one that starts
// beyond it (both counted in BeyondWindow); a bare FIN at a closed edge
// is still taken; with nothing held, a crossing segment is taken whole.
func TestWindowRightEdge(t *testing.T) {
	small := func(c *Config) { c.Rmem = [3]int{4096, 8000, 8000} }
	h := establishedConn(t, small)
	pastQuickAcks(h)
	h.rec.hold = true
	win := int(h.c.rcvAdv.Sub(h.c.rcvNxt))
	seq := peerISN + 1
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)))
	seq += 1000
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq))
	edge := h.c.rcvAdv
	cross := int(edge.Sub(seq)) + 1
	h.send(ACK, seq, ourISN+1, withData(make([]byte, cross)))
	h.expect(flags(ACK), ackNum(seq)) // at once, nothing taken
	h.send(ACK, edge+1, ourISN+1, withData(make([]byte, 10)))
	h.expect(flags(ACK), ackNum(seq))
	h.expectNothing()
	if got := h.l.Stats().BeyondWindow.Load(); got != 2 {
		t.Fatalf("BeyondWindow %d, want 2", got)
	}
	if h.c.rcvNxt != seq {
		t.Fatalf("RCV.NXT moved %d bytes", h.c.rcvNxt.Sub(seq))
	}
	// What fits is taken, up to the edge exactly, and closes the window;
	// a FIN at the closed edge is taken as well.
	h.send(ACK, seq, ourISN+1, withData(make([]byte, cross-1)))
	seq = edge
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq), window(0))
	h.send(FIN|ACK, seq, ourISN+1)
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq+1))
	if got := h.l.Stats().TCPZeroWindowDrop.Load(); got != 0 {
		t.Fatalf("TCPZeroWindowDrop %d", got)
	}

	// Nothing held: a segment longer than the window is taken whole.
	h = establishedConn(t, small)
	n := win + 500
	h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, n)))
	h.expect(flags(ACK), ackNum(peerISN+1+seqnum.Value(n)))
	if len(h.rec.data) != n {
		t.Fatalf("delivered %d bytes, want %d", len(h.rec.data), n)
	}
}

// The probes' backoff stops at tcp_retries2 (Linux tcp_send_probe0;
// persist-backoff-cap.pkt, measured on Linux 6.18): with 2, answered
// probes go one, two, then four RTOs after the peer's last answer, and
// keep going while the peer answers.
func TestZeroWindowProbeBackoffCap(t *testing.T) {
	h := establishedConn(t, func(c *Config) { c.Retries2 = 2 })
	h.c.Write([]byte("x"))
	h.expect(payloadLen(1))
	h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	h.c.Write([]byte("yz"))
	rto := h.c.rtt.rto(minRTO, maxRTO)
	last := h.now
	for i, mult := range []time.Duration{1, 2, 4, 4, 4, 4, 4} {
		h.advance(mult*rto - time.Millisecond)
		h.expectNothing()
		h.advance(time.Millisecond)
		if s := h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0)); time.Duration(s.at-last) != mult*rto {
			t.Fatalf("probe %d %v after the answer, want %v", i+1, time.Duration(s.at-last), mult*rto)
		}
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+2, withWin(0))
		last = h.now
	}
	h.state(StateEstablished)
}

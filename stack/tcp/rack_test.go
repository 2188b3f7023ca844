package tcp

import (
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Loss detection and recovery scripts on the fake clock: RACK (RFC 8985
// §6), TLP (§7), F-RTO (RFC 5682), PRR (RFC 6937).

// sackConn is an established passive connection with SACK (timestamps if
// ts) and a 10 ms handshake RTT; the peer's MSS is 1000, so segments carry
// 1000 bytes without timestamps and 988 with.
func sackConn(t testing.TB, ts bool, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	syn := []segOpt{withMSS(1000), func(s *Segment) { s.Opts.SACKPermitted = true }}
	if ts {
		syn = append(syn, withTS(100, 0))
	}
	h.send(SYN, peerISN, 0, syn...)
	s := h.expect(flags(SYN | ACK))
	h.advance(10 * time.Millisecond)
	if ts {
		h.send(ACK, peerISN+1, ourISN+1, withTS(101, s.seg.Opts.TSVal))
	} else {
		h.send(ACK, peerISN+1, ourISN+1)
	}
	h.expectNothing()
	if h.c.rtt.srtt != 10*time.Millisecond {
		t.Fatalf("srtt %v", h.c.rtt.srtt)
	}
	return h
}

// writeSegs writes n segments of seg bytes and expects them on the wire.
func writeSegs(h *harness, n, seg int) {
	h.t.Helper()
	h.c.Write(make([]byte, n*seg))
	for i := 0; i < n; i++ {
		h.expect(payloadLen(seg))
	}
}

// RACK marks a segment lost only once a segment sent after it was
// delivered and the reordering window (min_RTT/4 before any reordering
// or DupThresh SACKs) passed, then the reordering timer starts recovery.
func TestRACKMarksAfterReorderingWindow(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 5, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000))
	h.expectNothing() // segment 1 may be reordered: wait min_RTT/4 = 2.5 ms
	if h.c.reoAt != h.now.Add(2500*time.Microsecond) {
		t.Fatalf("reordering timer at %v, want now + 2.5ms", time.Duration(h.c.reoAt-h.now))
	}
	h.advance(2 * time.Millisecond)
	h.expectNothing()
	h.advance(time.Millisecond)
	h.expect(seqNum(una), payloadLen(1000), at(22500*time.Microsecond))
	if h.l.Stats().TCPSackRecovery.Load() != 1 || h.l.Stats().TCPFastRetrans.Load() != 1 {
		t.Fatalf("TCPSackRecovery %d TCPFastRetrans %d", h.l.Stats().TCPSackRecovery.Load(), h.l.Stats().TCPFastRetrans.Load())
	}
	h.send(ACK, peerISN+1, una+5000)
	if h.c.flags&fInRecovery != 0 {
		t.Fatal("still in recovery after the full ACK")
	}
	h.advance(5 * time.Second)
	h.expectNothing()
}

// With DupThresh segments SACKed above it and no reordering seen, the
// reordering window is zero: the hole is retransmitted at once.
func TestRACKDupThreshSACKsNoWait(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 6, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000))
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+3000))
	h.expectNothing()
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+4000))
	h.expect(seqNum(una), payloadLen(1000), at(20*time.Millisecond))
}

// Every part of an ACK that delivers a record below what earlier ACKs
// delivered is one reordering event, as Linux counts them
// (tcp_check_sack_reordering, once from the SACK blocks, once from the
// cumulative part): TCPSACKReorder and tcpi_reord_seen; and cwnd grows
// by what each ACK delivered, on a SACK-only ACK once reordering was seen
// (Linux tcp_may_raise_cwnd, acked_sacked). The sequence and the figures
// (reord_seen 2, cwnd 10 -> 19 segments) are
// cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt's.
func TestReorderingEventsCounted(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 10, 1000)
	h.advance(10 * time.Millisecond)
	w0 := h.c.cc.window()
	h.send(ACK, peerISN+1, una, withSACK(una+9000, una+10000))
	if w := h.c.cc.window(); w != w0 {
		t.Fatalf("cwnd %d after a SACK-only ACK with no reordering seen, want %d (tcp_may_raise_cwnd)", w, w0)
	}
	h.send(ACK, peerISN+1, una, withSACK(una+3000, una+4000, una+9000, una+10000)) // 3001:4001 below 10001
	if n := h.c.Info().ReordSeen; n != 1 {
		t.Fatalf("reord_seen %d after the SACK part, want 1", n)
	}
	if w := h.c.cc.window(); w != w0+1000 {
		t.Fatalf("cwnd %d after SACKing 1000 bytes with reordering seen, want %d", w, w0+1000)
	}
	h.send(ACK, peerISN+1, una+10000) // the rest below 10001 too
	if n := h.c.Info().ReordSeen; n != 2 || h.l.Stats().TCPSACKReorder.Load() != 2 {
		t.Fatalf("reord_seen %d, TCPSACKReorder %d, want 2 each", n, h.l.Stats().TCPSACKReorder.Load())
	}
	// The cumulative ACK delivered 8000 bytes: the 2000 SACKed before
	// do not count again (Linux acked_sacked).
	if w := h.c.cc.window(); w != w0+9000 {
		t.Fatalf("cwnd %d after the cumulative ACK, want %d", w, w0+9000)
	}
}

// Reordering seen (a segment delivered below one delivered before) and a
// D-SACK widen the window: reo_wnd_mult grows once per round trip
// (RFC 8985 §6.2 step 3) and the DupThresh shortcut no longer applies.
func TestRACKReorderingAndDSACKWidenWindow(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 4, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000))
	h.send(ACK, peerISN+1, una+4000) // segment 1 was late, not lost
	if h.c.rack.flags&rkReorderingSeen == 0 || h.l.Stats().TCPSACKReorder.Load() != 1 {
		t.Fatal("reordering not seen")
	}
	h.expectNothing()
	// A D-SACK for a duplicate: the window grows to 2 * min_RTT/4.
	h.send(ACK, peerISN+1, una+4000, withSACK(una, una+1000))
	if h.c.rack.reoMult != 2 || h.c.rack.reoPersist != 16 {
		t.Fatalf("reo_wnd_mult %d persist %d", h.c.rack.reoMult, h.c.rack.reoPersist)
	}
	writeSegs(h, 6, 1000)
	h.advance(10 * time.Millisecond)
	for k := 2; k <= 5; k++ {
		h.send(ACK, peerISN+1, una+4000, withSACK(una+5000, una+seqnum.Value(4000+1000*k)))
	}
	h.expectNothing() // four SACKed, but reordering was seen: wait 5 ms
	h.advance(5 * time.Millisecond)
	h.expect(seqNum(una+4000), payloadLen(1000))
}

// A retransmission lost again is found by RACK when data sent after it is
// delivered (TCPLostRetransmit) and sent a third time, before any RTO.
func TestRACKLostRetransmission(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	h.c.Write(make([]byte, 20*1000))
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000))
	}
	h.advance(10 * time.Millisecond)
	for k := 2; k <= 4; k++ {
		h.send(ACK, peerISN+1, una, withSACK(una+1000, una+seqnum.Value(1000*k)))
	}
	for len(h.out.segs) > 0 && h.out.segs[0].seg.Seq != una {
		h.expect() // new data the SACKs made room for
	}
	h.expect(seqNum(una), at(20*time.Millisecond))
	for len(h.out.segs) > 0 {
		h.expect()
	}
	// 10 ms later everything sent up to the retransmission is SACKed
	// (the SACKs before had let new data out first): more new data.
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, h.c.sndNxt))
	for len(h.out.segs) > 0 {
		if s := h.expect(); s.seg.Seq == una {
			t.Fatal("retransmitted again before data sent after it was delivered")
		}
	}
	// 10 ms later that data, sent after the retransmission, is SACKed,
	// but not segment 1.
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, h.c.sndNxt))
	h.expect(seqNum(una), payloadLen(1000), at(40*time.Millisecond))
	if n := h.l.Stats().TCPLostRetransmit.Load(); n != 1 {
		t.Fatalf("TCPLostRetransmit %d", n)
	}
	if h.l.Stats().TCPTimeouts.Load() != 0 {
		t.Fatal("took an RTO")
	}
}

// A lost retransmission is found as well when the ACKs that deliver the
// later ones echo an old timestamp: with a hole at SND.UNA the receiver
// echoes TS.Recent, which does not move until the hole fills (RFC 7323
// §4.3), so the echo says nothing about which transmission of a SACKed
// segment arrived. Linux's tcp_rack_advance does not read it; a RACK that
// did ignored every SACKed retransmission and left a lost retransmission
// of the first hole to the RTO (found on the bench: 200 ms stalls of a
// BBR download through 1 % loss once the send buffer held only the
// flight).
func TestRACKLostRetransmissionOldEcho(t *testing.T) {
	h := sackConn(t, true)
	const seg = 988 // 1000 less the timestamps option
	una := ourISN + 1
	at := func(k int) seqnum.Value { return una + seqnum.Value(k*seg) }
	h.c.Write(make([]byte, 10*seg)) // all the data there is: nothing new after the retransmissions
	first := h.expect(payloadLen(seg))
	for i := 1; i < 10; i++ {
		h.expect(payloadLen(seg))
	}
	ecr := first.seg.Opts.TSVal // TS.Recent's echo: the peer never got past the hole at SND.UNA
	tsval := uint32(200)
	ack := func(blocks ...seqnum.Value) {
		tsval++
		h.send(ACK, peerISN+1, una, withTS(tsval, ecr), withSACK(blocks...))
	}
	// Segments 1 and 5 lost: SACKs for 2-4 start recovery, 1 is resent.
	h.advance(10 * time.Millisecond)
	for k := 2; k <= 4; k++ {
		ack(at(1), at(k))
	}
	h.expect(seqNum(una), payloadLen(seg))
	h.expectNothing()
	// 2 ms later, 6-10 are SACKed as well: 5 is resent, after 1.
	h.advance(2 * time.Millisecond)
	ack(at(5), at(10), at(1), at(4))
	for len(h.out.segs) > 0 && h.out.segs[0].seg.Seq != at(4) {
		h.expect()
	}
	h.expect(seqNum(at(4)), payloadLen(seg))
	h.expectNothing()
	// A round trip later the retransmission of 5 arrives, that of 1 was
	// lost: the ACK SACKs 2-10 and still echoes the first timestamp.
	h.advance(10 * time.Millisecond)
	ack(at(1), at(10))
	h.advance(5 * time.Millisecond) // a reordering window at most
	h.expect(seqNum(una), payloadLen(seg))
	if n := h.l.Stats().TCPLostRetransmit.Load(); n != 1 {
		t.Fatalf("TCPLostRetransmit %d", n)
	}
	if h.l.Stats().TCPTimeouts.Load() != 0 {
		t.Fatal("took an RTO")
	}
}

// TLP: with nothing more to send, 2*SRTT (+2 ms, several segments out)
// after the last transmission the last segment is sent again as a probe,
// with the PSH of the write's end it carried; the ACK it brings lets RACK
// repair the rest instead of an RTO. An ACK before it that SACKs only the
// last byte (google's fr-4pkt-fack-last-byte.pkt) changes nothing: a
// block marks only the segments it covers whole (Linux
// tcp_match_skb_to_sack), so RACK sees no later delivery and no recovery
// starts, and an ACK that acknowledges nothing does not put the probe
// off (Linux re-arms it only for new data or an ACK of data).
func TestTLPAfterTwoSRTT(t *testing.T) {
	for _, lastByteSACK := range []bool{false, true} {
		h := sackConn(t, false)
		una := ourISN + 1
		writeSegs(h, 3, 1000)
		if lastByteSACK {
			h.advance(10 * time.Millisecond)
			h.send(ACK, peerISN+1, una, withSACK(una+2999, una+3000))
			h.advance(11 * time.Millisecond)
		} else {
			h.advance(21 * time.Millisecond)
		}
		h.expectNothing()
		h.advance(time.Millisecond)
		h.expect(seqNum(una+2000), payloadLen(1000), flags(ACK|PSH), at(32*time.Millisecond)) // 10 + 2*10 + 2 ms
		if st := h.l.Stats(); st.TCPLossProbes.Load() != 1 || st.TCPTimeouts.Load() != 0 || st.TCPSackRecovery.Load() != 0 {
			t.Fatalf("last-byte SACK %v: TCPLossProbes %d TCPTimeouts %d TCPSackRecovery %d", lastByteSACK,
				st.TCPLossProbes.Load(), st.TCPTimeouts.Load(), st.TCPSackRecovery.Load())
		}
		// Segments 2 and 3 (the probe) arrive, 1 was lost: RACK at once
		// (the probe was sent after it).
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, una, withSACK(una+1000, una+3000))
		h.expect(seqNum(una), payloadLen(1000))
		h.send(ACK, peerISN+1, una+3000)
		h.advance(5 * time.Second)
		h.expectNothing()
		if h.l.Stats().TCPTimeouts.Load() != 0 {
			t.Fatal("RTO")
		}
	}
}

// A single segment out: the PTO adds the worst-case delayed ACK (Linux:
// TCP_RTO_MIN) and is capped by the RTO's deadline.
func TestTLPSingleSegmentCappedByRTO(t *testing.T) {
	h := sackConn(t, false)
	h.c.Write([]byte("x"))
	h.expect(payloadLen(1))
	if want := h.c.rtoAt; h.c.tlpAt != want {
		t.Fatalf("PTO at %v, RTO at %v: want the RTO's deadline", time.Duration(h.c.tlpAt), time.Duration(want))
	}
}

// A probe that was a retransmission and was followed by an ACK beyond it
// (no D-SACK) repaired a loss: TCPLossProbeRecovery, cwnd reduced.
func TestTLPRecoveryCounted(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 2, 1000)
	h.advance(40 * time.Millisecond)
	h.expect(seqNum(una+1000), payloadLen(1000)) // the probe
	before := h.c.cc.window()
	h.send(ACK, peerISN+1, una+2000) // the probe filled the hole
	h.c.Write(make([]byte, 1000))
	h.expect(seqNum(una + 2000))
	h.send(ACK, peerISN+1, una+3000)
	if h.l.Stats().TCPLossProbeRecovery.Load() != 1 {
		t.Fatalf("TCPLossProbeRecovery %d", h.l.Stats().TCPLossProbeRecovery.Load())
	}
	if h.c.cc.window() >= before+2000 {
		t.Fatalf("cwnd %d not reduced (was %d)", h.c.cc.window(), before)
	}
}

// A D-SACK for the probe says both copies arrived: no response.
func TestTLPDSACKNoLoss(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 2, 1000)
	h.advance(40 * time.Millisecond)
	h.expect(seqNum(una + 1000)) // the probe
	h.send(ACK, peerISN+1, una+2000)
	h.send(ACK, peerISN+1, una+2000, withSACK(una+1000, una+2000))
	if h.c.rack.flags&rkTLP != 0 || h.l.Stats().TCPLossProbeRecovery.Load() != 0 {
		t.Fatal("episode not ended by the D-SACK")
	}
}

// F-RTO (RFC 5682 §3): after an RTO and the ACK of the retransmission,
// new data goes out first; an ACK of data never retransmitted shows the
// timeout was spurious: cwnd restored, no go-back-N, TCPSpuriousRTOs.
// No timestamps, so only F-RTO can tell.
func TestFRTOUndoesSpuriousRTO(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	una := ourISN + 1
	h.c.Write(make([]byte, 15*1000))
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000))
	}
	before := h.c.cc.window()
	h.advance(300 * time.Millisecond)
	h.expect(seqNum(una), payloadLen(1000)) // the RTO
	h.expectNothing()
	h.send(ACK, peerISN+1, una+1000) // ambiguous: original or retransmission
	h.expect(seqNum(una+10000), payloadLen(1000))
	h.expect(seqNum(una+11000), payloadLen(1000))
	h.expectNothing()
	h.send(ACK, peerISN+1, una+2000) // segment 2 was never retransmitted
	if h.l.Stats().TCPSpuriousRTOs.Load() != 1 || h.l.Stats().TCPLossUndo.Load() != 1 {
		t.Fatalf("TCPSpuriousRTOs %d TCPLossUndo %d", h.l.Stats().TCPSpuriousRTOs.Load(), h.l.Stats().TCPLossUndo.Load())
	}
	if h.c.cc.window() < before {
		t.Fatalf("cwnd %d not restored to %d", h.c.cc.window(), before)
	}
	for len(h.out.segs) > 0 {
		if s := h.expect(); s.seg.Seq.LessThan(una + 10000) {
			t.Fatalf("went back N: seq +%d", s.seg.Seq-una)
		}
	}
}

// F-RTO without SACK: after an RTO, an ACK that covers the
// retransmission and records after it (the receiver held 2-4 behind the
// hole the retransmission filled) shows nothing spurious, since a
// cumulative ACK cannot say whether those records arrived before or
// after it (Linux tcp_clean_rtx_queue drops FLAG_ORIG_SACK_ACKED for
// non-SACK connections once a retransmission is acknowledged). The
// timeout stands and the next hole goes at once, as Linux 6.18 sends it
// (conformance/scripts/frto-nosack.pkt), instead of an undo that left it
// for the next timeout when nothing new was left to send.
func TestFRTONoSACKCumulativeAckOverRetransmission(t *testing.T) {
	h := establishedConn(t, func(c *Config) { c.EarlyRetrans = 0 }) // no SACK
	una := ourISN + 1
	h.c.Write(make([]byte, 10*1460)) // nothing new left after these
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1460))
	}
	h.advance(300 * time.Millisecond)
	h.expect(seqNum(una), payloadLen(1460)) // the RTO
	h.expectNothing()
	h.send(ACK, peerISN+1, una+4*1460) // segment 5 is the next hole
	if st := h.l.Stats(); st.TCPSpuriousRTOs.Load() != 0 || st.TCPLossUndo.Load() != 0 {
		t.Fatalf("undone: TCPSpuriousRTOs %d TCPLossUndo %d", st.TCPSpuriousRTOs.Load(), st.TCPLossUndo.Load())
	}
	h.expect(seqNum(una+4*1460), payloadLen(1460)) // at once, not at the next timeout
}

// frtoTimeout is a SACK connection with ten segments in flight of
// fifteen written, at its first RTO: the head was just resent.
func frtoTimeout(t *testing.T) (*harness, seqnum.Value) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	una := ourISN + 1
	h.c.Write(make([]byte, 15*1000))
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000))
	}
	h.advance(300 * time.Millisecond)
	h.expect(seqNum(una), payloadLen(1000)) // the RTO
	return h, una
}

// frtoRealLoss is frtoTimeout's connection after F-RTO found the loss
// real: the ACK of the resend sent new data, whose SACK came with no
// progress; the next hole was resent.
func frtoRealLoss(t *testing.T) (*harness, seqnum.Value) {
	h, una := frtoTimeout(t)
	h.send(ACK, peerISN+1, una+1000)
	h.expect(seqNum(una + 10000)) // F-RTO: new data first
	h.expect(seqNum(una + 11000))
	h.send(ACK, peerISN+1, una+1000, withSACK(una+10000, una+11000))
	h.expect(seqNum(una+1000), payloadLen(1000)) // the loss was real: go on retransmitting
	return h, una
}

// F-RTO: a duplicate ACK after the new data shows a real loss: the
// retransmissions proceed.
func TestFRTORealLoss(t *testing.T) {
	h, _ := frtoRealLoss(t)
	if h.l.Stats().TCPSpuriousRTOs.Load() != 0 || h.c.rack.flags&rkFRTO != 0 {
		t.Fatal("F-RTO still on or undone")
	}
}

// F-RTO on a recurring timeout (RFC 5682 §3.2, Linux tcp_enter_loss):
// the head resent at two timeouts, the ACK of the resend sends new data
// first, and an ACK of data never resent undoes both. Measured on Linux
// 6.18 (xdptcp/frto-recurring): 10001:12001 after the ACK of 1001, then
// Open with cwnd 11 and the next new segment. xdptcp took F-RTO at the
// first timeout only, and sent nothing on the undoing ACK.
func TestFRTORecurringTimeout(t *testing.T) {
	h, una := frtoTimeout(t)
	h.advance(time.Second)
	h.expect(seqNum(una), payloadLen(1000)) // the second
	h.expectNothing()
	h.send(ACK, peerISN+1, una+1000)
	h.expect(seqNum(una+10000), payloadLen(1000))
	h.expect(seqNum(una+11000), payloadLen(1000))
	h.expectNothing()
	h.send(ACK, peerISN+1, una+2000)
	if st := h.l.Stats(); st.TCPSpuriousRTOs.Load() != 1 || st.TCPLossUndo.Load() != 1 {
		t.Fatalf("TCPSpuriousRTOs %d TCPLossUndo %d, want 1 and 1", st.TCPSpuriousRTOs.Load(), st.TCPLossUndo.Load())
	}
	if in := h.c.Info(); in.CAState != CAOpen {
		t.Fatalf("state %v after the undo, want Open", in.CAState)
	}
	h.expect(seqNum(una+12000), payloadLen(1000))
}

// A timeout in the loss state after progress (the ACK of the first
// resend moved SND.UNA, with more outstanding) is not F-RTO's (Linux
// tcp_enter_loss: neither a new recovery nor a recurring timeout): the
// ACK of its resend goes on with the retransmissions.
func TestFRTONotAfterLossProgress(t *testing.T) {
	h, una := frtoRealLoss(t)
	for len(h.out.segs) > 0 {
		h.expect()
	}
	if h.c.nRtx != 0 || h.c.lossState() != CALoss {
		t.Fatalf("nRtx %d state %v, want 0 in Loss", h.c.nRtx, h.c.lossState())
	}
	at, _ := h.l.NextDeadline()
	h.advance(time.Duration(at - h.now)) // the next timeout, in Loss after progress
	h.expect(seqNum(una+1000), payloadLen(1000))
	h.expectNothing()
	h.send(ACK, peerISN+1, una+2000)
	if s := h.expect(); s.seg.Seq != una+2000 {
		t.Fatalf("after the resend's ACK: seq +%d, want the next retransmission (+2000), not F-RTO's new data", s.seg.Seq-una)
	}
}

// PRR (RFC 6937 §3): a window of 20 segments, one loss, NewReno: every
// ACK delivers one segment; PRR spreads the reduction: the fast
// retransmission at once, then one segment per two ACKs while pipe is
// above ssthresh (the proportional part, ssthresh / prior cwnd = 10/20,
// rounded up to whole segments as Linux's tcp_cwnd_reduction), never a
// burst, and pipe reaches ssthresh by the end of recovery, instead of
// RFC 6675's silence for half a round trip and then a burst.
func TestPRRSpreadsTransmissions(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.CongestionControl = "newreno" })
	una := ourISN + 1
	h.c.cc.setWindow(20 * 1000)
	h.c.Write(make([]byte, 40*1000))
	for i := 0; i < 20; i++ {
		h.expect(payloadLen(1000))
	}
	h.advance(10 * time.Millisecond)
	var perAck []int
	for k := 2; k <= 20; k++ {
		h.send(ACK, peerISN+1, una, withSACK(una+1000, una+seqnum.Value(1000*k)))
		perAck = append(perAck, len(h.out.segs))
		for len(h.out.segs) > 0 {
			h.expect()
		}
	}
	// ACKs 1-2 are below DupThresh: pipe shrinks by what they SACK, a
	// new segment each (RFC 3042's limited transmit, in pipe terms).
	// ACK 3 starts recovery with cwnd 20 and ssthresh 10 (half of it,
	// Linux's tcp_reno_ssthresh): the retransmission goes at once, then
	// the 5th, 7th, ... ACK each sends one: ceil(10 × delivered / 20)
	// less what went (Linux 6.18 sends on the same ACKs:
	// conformance/scripts/prr-prior-cwnd.pkt; dividing by the 22
	// segments in flight, rounded down, the first new one waited for the
	// 7th).
	want := []int{1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}
	for i := range want {
		if perAck[i] != want[i] {
			t.Fatalf("segments sent per ACK %v, want %v first", perAck, want)
		}
	}
	for _, n := range perAck {
		if n > 1 {
			t.Fatalf("a burst in recovery: %v", perAck)
		}
	}
	if ss := h.c.cc.ssthreshBytes(); ss != 10000 {
		t.Fatalf("ssthresh %d", ss)
	}
	if p := h.c.pipe(); p != 10000 {
		t.Fatalf("pipe %d at the end of recovery, want ssthresh 10000 (sent per ACK %v)", p, perAck)
	}
	h.send(ACK, peerISN+1, una+22000)
	if h.c.flags&fInRecovery != 0 || h.c.cc.window() != 10000 {
		t.Fatalf("after recovery: cwnd %d, want ssthresh", h.c.cc.window())
	}
}

// tcp_recovery's RACK bit has no effect, as in Linux 6.18 (measured with
// conformance/scripts/rack-recovery-zero.pkt): with 0, as with the
// default 1, one SACK above the first segment retransmits it once its
// RTT and the reordering window passed, long before DupThresh SACKed
// segments or the timeout.
func TestRecoveryBitHasNoEffect(t *testing.T) {
	var got [2]string
	for i, rec := range []int{1, 0} {
		h := sackConn(t, false, func(c *Config) { c.Recovery = rec; c.EarlyRetrans = 0 })
		una := ourISN + 1
		writeSegs(h, 3, 1000)
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, una, withSACK(una+2000, una+3000))
		h.expectNothing()
		h.advance(h.c.reoWnd() + time.Millisecond) // (the timers' 1 ms granularity)
		got[i] = h.drain()
		if h.l.Stats().TCPSackRecovery.Load() != 1 {
			t.Fatalf("tcp_recovery=%d: TCPSackRecovery %d, want 1", rec, h.l.Stats().TCPSackRecovery.Load())
		}
	}
	if got[0] != got[1] || !strings.HasPrefix(got[0], "1:1001") {
		t.Fatalf("after the reordering window: tcp_recovery=1 sent %q, 0 sent %q; want the first segment from both", got[0], got[1])
	}
}

// The scoreboard's counts follow its marks through SACK, split, loss,
// retransmission and ACK.
func TestScoreboardCounts(t *testing.T) {
	var q txQueue
	for i := 0; i < 6; i++ { // grows from no array
		q.push(seqnum.Value(1000*i), 1000, 0, 0)
	}
	q.split(1, 500)         // record 1 cut in two, as for a retransmission in smaller segments
	q.sack(1500, 3000, nil) // marks [1500,2000) and [2000,3000)
	if q.sacked != 1500 || q.n != 7 {
		t.Fatalf("sacked %d n %d", q.sacked, q.n)
	}
	q.setMark(0, sbLost)
	q.setMark(1, sbLost)
	q.setMark(0, sbRetrans)
	if q.lost != 1500 || q.retrans != 1000 {
		t.Fatalf("lost %d retrans %d", q.lost, q.retrans)
	}
	if i := q.nextLost(); i != 1 {
		t.Fatalf("nextLost %d", i)
	}
	q.ackTo(1200, nil, nil)
	if q.lost != 300 || q.retrans != 0 || q.at(0).seq != 1200 {
		t.Fatalf("after ack: lost %d retrans %d head %d", q.lost, q.retrans, q.at(0).seq)
	}
	q.markAllLost(false, never)
	if q.lost != 6000-1200-1500 || q.sacked != 1500 {
		t.Fatalf("markAllLost: lost %d sacked %d", q.lost, q.sacked)
	}
	q.clearLost()
	q.ackTo(6000, nil, nil)
	if q.n != 0 || q.lost != 0 || q.sacked != 0 || q.retrans != 0 {
		t.Fatalf("empty queue with counts: %+v", q)
	}
}

// A SACK block marks only the records it covers whole (Linux
// tcp_match_skb_to_sack with one-segment skbs): a record it starts or ends
// inside stays unSACKed and uncut.
func TestSACKMarksWholeRecordsOnly(t *testing.T) {
	var q txQueue
	for i := 0; i < 4; i++ {
		q.push(seqnum.Value(1000*i), 1000, 0, 0)
	}
	n := 0
	q.sack(500, 3999, func(*txSeg) { n++ })
	if q.sacked != 2000 || q.n != 4 || n != 2 {
		t.Fatalf("sacked %d records %d newly SACKed %d, want 2000, 4, 2", q.sacked, q.n, n)
	}
	if q.at(0).mark&sbSacked != 0 || q.at(3).mark&sbSacked != 0 {
		t.Fatal("a record covered in part was SACKed")
	}
}

// PRR-SSRB's extra segment only on a safe ACK (RFC 9937 SafeACK, Linux
// tcp_cwnd_reduction): the SACK that enters recovery advances nothing,
// so with RACK marking 1 and 4-8 lost (pipe one segment, ssthresh 7)
// one retransmission goes, not two, as Linux sends in packetdrill's
// google/fast_recovery/prr-ss-ack-below-snd_una-cubic.pkt (line 28).
func TestPRRSSRBExtraSegmentOnlyOnSafeACK(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	h.c.Write(make([]byte, 10000))
	for i := 0; i < 10; i++ {
		h.expect(payloadLen(1000))
	}
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000))
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+3000))
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+3000, una+8000, una+9000))
	h.expect(seqNum(una), payloadLen(1000))
	h.expectNothing()
	if h.c.flags&fInRecovery == 0 || h.c.tq.lost != 6000 {
		t.Fatalf("in recovery %v, lost %d, want 6000", h.c.flags&fInRecovery != 0, h.c.tq.lost)
	}
}

// A never-retransmitted segment SACKed below the highest SACKed one
// raises the reordering degree to the distance in segments (Linux
// tcp_check_sack_reordering; tcpi_reordering), as packetdrill's
// google/sack/sack-shift-sacked-2-6-8-3-9-nofack.pkt checks (line 38):
// 3001:4001 SACKed after 8001:9001 is a distance of 6.
func TestSACKReorderingRaisesDegree(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	writeSegs(h, 10, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+8000, una+9000))
	if r := h.c.Info().Reordering; r != 3 {
		t.Fatalf("tcpi_reordering %d before reordering, want 3", r)
	}
	h.send(ACK, peerISN+1, una, withSACK(una+3000, una+4000, una+8000, una+9000))
	if r := h.c.Info().Reordering; r != 6 {
		t.Fatalf("tcpi_reordering %d, want 6", r)
	}
	if h.c.rack.flags&rkReorderingSeen == 0 || h.l.Stats().TCPSACKReorder.Load() != 1 {
		t.Fatal("reordering not seen")
	}
}

// rackBoard fills c's scoreboard as a large flight looks in recovery:
// n records sent 1 µs apart, the first a hole, the next half SACKed, the
// rest in flight; RACK's reference is the newest SACKed record.
func rackBoard(c *Conn, n int) {
	q := c.txq()
	seq := c.sndUna
	for i := 0; i < n; i++ {
		q.push(seq, 1000, clock.Time(i)*clock.Time(time.Microsecond), 0)
		seq = seq.Add(1000)
	}
	c.sndNxt = seq
	for i := 1; i <= n/2; i++ {
		q.setMark(i, sbSacked)
	}
	ref := q.at(n / 2)
	c.rack.xmitTs, c.rack.xmitNxt, c.rack.endSeq = ref.sentAt, ref.nxt, ref.end()
	c.rack.flags |= rkHasXmit
	c.rack.rtt = 10 * time.Millisecond
}

// Records sent after RACK's reference are never marked lost: the scan
// stops at the first original record not older than the reference, and
// still marks every older record whose time is up, also behind a record
// retransmitted after the reference (which does not stop it).
func TestRACKDetectLossStopsAtReference(t *testing.T) {
	h := sackConn(t, false)
	c := h.c
	rackBoard(c, 2000)
	q := c.tq
	// Record 1 was retransmitted after the reference; record 2 is a
	// second hole, sent before it.
	r1, r2 := q.at(1), q.at(2)
	q.clearMark(1, sbSacked)
	q.clearMark(2, sbSacked)
	r1.mark |= sbEverRetrans
	r1.sentAt = c.rack.xmitTs.Add(time.Millisecond)
	c.rackDetectLoss(clock.Time(5 * time.Millisecond)) // nothing due yet
	if q.lost != 0 || c.reoAt == never {
		t.Fatalf("lost %d, reorder timer %v", q.lost, c.reoAt)
	}
	c.rackDetectLoss(clock.Time(time.Second))
	if q.lost != 2000 || q.at(0).mark&sbLost == 0 || r2.mark&sbLost == 0 || r1.mark&sbLost != 0 { // (bytes)
		t.Fatalf("lost %d bytes; marks %x %x %x (want records 0 and 2)", q.lost, q.at(0).mark, r1.mark, r2.mark)
	}
	for i := 3; i < q.n; i++ {
		if q.at(i).mark&sbLost != 0 {
			t.Fatalf("record %d, SACKed or sent after the reference, marked lost", i)
		}
	}
}

// BenchmarkRACKDetectLoss is RACK's per-ACK scan over a flight of 2,000
// records in recovery (half SACKed, half sent after the reference).
func BenchmarkRACKDetectLoss(b *testing.B) {
	h := sackConn(b, false)
	rackBoard(h.c, 2000)
	now := clock.Time(5 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		h.c.rackDetectLoss(now)
	}
}

// BenchmarkSACKRepeatedBlock is an ACK's SACK block that repeats what
// earlier ACKs SACKed: 999 records, all SACKed already, none newly.
func BenchmarkSACKRepeatedBlock(b *testing.B) {
	h := sackConn(b, false)
	rackBoard(h.c, 2000)
	q := h.c.tq
	l, r := q.at(1).seq, q.at(999).end()
	b.ReportAllocs()
	for b.Loop() {
		q.sack(l, r, nil)
	}
}

// The reordering degree follows the SACKed distance up to
// tcp_max_reordering (300 by default), as Linux's
// tcp_check_sack_reordering (measured on Linux 6.18 with
// conformance/scripts/reordering-degree.pkt: tcpi_reordering 20 for a
// segment delivered 20 below the highest; xdptcp stopped at 15 before
// 2026-12-07).
func TestReorderingDegreeUpToSetting(t *testing.T) {
	for _, tc := range []struct{ max, want int }{{300, 20}, {10, 10}} {
		h := sackConn(t, false, func(c *Config) { c.MaxReordering = tc.max })
		h.c.raiseReordering(20 * h.c.mss)
		if got := h.c.Info().Reordering; got != tc.want {
			t.Errorf("tcp_max_reordering %d: tcpi_reordering %d after a 20-segment distance, want %d", tc.max, got, tc.want)
		}
	}
}

// A loss-recovery resend of the head restarts the RTO, as Linux's
// tcp_xmit_retransmit_queue does. Measured on Linux 6.18
// (fr-retries-budget.pkt): the timeout's resend one RTO after the fast
// retransmission, not after the original send.
func TestHeadRetransmitRestartsRTO(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.EarlyRetrans = 0 })
	una := ourISN + 1
	writeSegs(h, 6, 1000)
	sent := h.now
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000, una+3000, una+6000))
	fr := h.now
	h.expect(seqNum(una), payloadLen(1000))
	h.expect(seqNum(una+2000), payloadLen(1000))
	if want := fr.Add(h.c.currentRTO()); h.c.rtoAt != want {
		t.Fatalf("RTO at %v, want one RTO after the head's resend (%v); the original send was at %v", time.Duration(h.c.rtoAt), time.Duration(want), time.Duration(sent))
	}
}

// tcp_reordering is a new connection's DupThresh (Linux tcp_init_sock),
// and DupThresh is not bounded by the flight (xdptcp/reordering-initial,
// measured on Linux 6.18): with 6, three SACKed segments of five above
// the first do not make RACK resend it at once; the reordering window
// (min_RTT/4) does.
func TestReorderingSetting(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.Reordering, c.EarlyRetrans = 6, 0 })
	if in := h.c.Info(); in.Reordering != 6 {
		t.Fatalf("tcpi_reordering %d, want 6", in.Reordering)
	}
	una := ourISN + 1
	writeSegs(h, 5, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+4000))
	h.expectNothing()
	if h.c.reoAt == never {
		t.Fatal("no reordering timer")
	}
	h.advance(time.Duration(h.c.reoAt-h.now) + time.Millisecond) // the timer wheel's 1 ms tick
	h.expect(seqNum(una), payloadLen(1000))
	if w := h.c.reoWnd(); w != 0 {
		// In recovery the window is 0 (RFC 8985 §6.2 step 4).
		t.Fatalf("reordering window %v in recovery", w)
	}
}

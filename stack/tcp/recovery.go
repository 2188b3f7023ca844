package tcp

// Loss recovery: what an ACK tells the sender about losses, and the
// congestion window while it repairs them.
//   - RFC 6675: conservative SACK-based loss recovery (IsLost with
//     DupThresh, pipe, NextSeg; the scoreboard is scoreboard.go)
//   - RFC 5681 §3.2 and RFC 6582: fast retransmit and NewReno recovery
//     without SACK (each duplicate ACK counts one segment delivered, as
//     Linux's tcp_add_reno_sack)
//   - RFC 6937: Proportional Rate Reduction sets cwnd during recovery
//
// The state reads as Linux's congestion states: Open (no loss known),
// Recovery (fInRecovery: fast recovery until SND.UNA passes recover) and
// Loss (after an RTO: every record outstanding marked lost, slow start
// resends them; no fast recovery until SND.UNA passes recover).

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// maxReordering is the extra DupThresh tcp_max_reordering allows (Linux
// caps tp->reordering there; 300 by default).
func (c *Conn) maxReordering() int { return c.layer.cfg.MaxReordering - 3 }

// dupThresh is DupThresh, Linux's tp->reordering: tcp_reordering (3, RFC
// 5681's) when the connection starts, raised by the reordering seen up to
// tcp_max_reordering (tcp_check_sack_reordering, tcp_undo_cwnd_reduction).
// Not bounded by the flight, as Linux's is not: with SACK, RACK's
// reordering window resends a small flight's loss without a timeout.
// Measured on Linux 6.18 with tcp_reordering=6 (xdptcp/reordering-initial):
// five segments out, three SACKed above the first, the first is resent
// after the reordering window (31 ms with a 100 ms RTT, 25 ms and
// jiffies), not at once; xdptcp bounded DupThresh by half the flight
// (3 here) until 2026-12-07.
func (c *Conn) dupThresh() int { return 3 + int(c.reordering) }

// ackSample is what one ACK told the sender, gathered while the
// scoreboard takes it (Linux's tcp_ack flag bits).
type ackSample struct {
	acked       int           // bytes newly acknowledged cumulatively
	sacked      int           // bytes newly SACKed
	sackedAcked int           // bytes SACKed before that its cumulative part acknowledged
	dup         bool          // a duplicate ACK (RFC 5681 §2, RFC 6675 §2)
	dsack       bool          // it carried a D-SACK block (RFC 2883)
	orig        bool          // it delivered a record never retransmitted
	rtt         time.Duration // the RTT sample it gave (0: none)
	at          clock.Time    // when it arrived (Segment.Arrival, else the batch's time)
	caRTT       time.Duration // RTT of the newest never-retransmitted record it delivered (Linux ca_rtt_us); 0: none
	seqRTT      time.Duration // RTT of the oldest never-retransmitted record it acknowledged cumulatively, not SACKed before (Linux first_ackt); 0: none
	sackRTT     time.Duration // RTT of the oldest never-retransmitted record it newly SACKed (Linux first_sackt); 0: none
	rtxAcked    bool          // it acknowledged cumulatively a record that was retransmitted (Linux FLAG_RETRANS_DATA_ACKED)
	ece         bool          // it carried ECE on an ECN connection (RFC 3168)

	priorPipe int          // pipe before the ACK was taken (Linux prior_in_flight)
	priorFack seqnum.Value // RACK.fack before the ACK (Linux prior_fack): what reordering is judged against
	lost      int          // bytes newly marked lost by the ACK (Linux rs->losses)
	rs        rateSample   // its delivery-rate sample (ratesample.go), with BBR
	reordered bool         // a record delivered below priorFack since the last reorderingSeen
}

// deliveredBytes is what the ACK newly delivered: bytes SACKed, and bytes
// acknowledged cumulatively that were not SACKed before (RFC 6937
// DeliveredData; Linux counts the same in packets, tcp_count_delivered).
func (as *ackSample) deliveredBytes() int { return as.acked - as.sackedAcked + as.sacked }

// reorderingSeen ends a part of the ACK (its SACK blocks, its cumulative
// acknowledgment): one that delivered a never-retransmitted record below
// what earlier ACKs delivered is one reordering event, as Linux's
// tcp_check_sack_reordering, called once for each part, counts them
// (TCPSACKReorder, tcpi_reord_seen).
func (c *Conn) reorderingSeen(as *ackSample) {
	if as.reordered {
		as.reordered = false
		c.layer.stats.TCPSACKReorder.Add(1)
		c.ic.reordSeen = sat16(c.ic.reordSeen)
	}
}

// rttFrom notes record s, acknowledged cumulatively (cum) or newly
// SACKed by the ACK, for its RTT sample: the oldest never-retransmitted
// record of each kind (Linux tcp_clean_rtx_queue's first_ackt,
// tcp_sacktag_one's first_sackt), and whether a retransmitted one was
// acknowledged, which Karn's rule (RFC 6298 §3) makes the cumulative
// sample ambiguous for.
func (as *ackSample) rttFrom(s *txSeg, cum bool) {
	if s.mark&sbEverRetrans != 0 {
		as.rtxAcked = as.rtxAcked || cum
		return
	}
	rtt := max(as.at.Sub(s.sentAt), time.Microsecond)
	if cum && as.seqRTT == 0 {
		as.seqRTT = rtt
	} else if !cum && rtt > as.sackRTT {
		as.sackRTT = rtt
	}
}

// ackRTT takes the RTT sample of an ACK whose records were walked, as
// Linux's tcp_ack_update_rtt: from the oldest record it acknowledged
// cumulatively unless one of them was retransmitted, else from the
// oldest it newly SACKed, else, when it acknowledged data, from the
// timestamp it echoes (RFC 7323 §4.1; milliseconds, a same-tick echo
// counting 1 ms, Linux tcp_rtt_tsopt_us). The records' send times give
// every ACK a microsecond sample, timestamps or not, where RFC 6298's
// one timed segment per round trip and the millisecond TSecr gave SRTT
// a sample a round, or a coarse one: a 100 µs path had an SRTT near
// 0.5 ms with timestamps. The windowed minimum (RACK.min_RTT, Linux
// tcp_update_rtt_min) takes the newest record's RTT (caRTT).
func (c *Conn) ackRTT(seg *Segment, as *ackSample) {
	r, m := as.sackRTT, as.caRTT
	if as.seqRTT > 0 && !as.rtxAcked {
		r = as.seqRTT
	}
	if r == 0 && as.acked > 0 {
		if e := c.echoRTT(seg, as.at); e > 0 {
			r, m = e, e
		}
	}
	if r == 0 {
		return
	}
	as.rtt = r
	c.rtt.sample(r, c.sndUna, c.sndNxt, c.rtoMin())
	// RFC 6298 §5 with Karn's algorithm, as Linux's tcp_ack_update_rtt:
	// only a valid sample ends the backoff. An ACK of retransmitted data
	// alone (no timestamps) keeps it: measured on Linux 6.18
	// (rto-progress-budget.pkt), the timeout after such an ACK comes
	// 433 ms after it, twice the 210 ms RTO.
	c.backoff = 0
	if m > 0 {
		c.noteMinRTT(c.layer.now, m)
	}
}

// echoRTT is the RTT the timestamp seg echoes gives at time at (RFC
// 7323 §4.1): in milliseconds, a same-tick echo counting 1 ms (Linux
// tcp_rtt_tsopt_us); 0 when there is none to take (no timestamps, or
// owner bits in our TSvals, owner.go).
func (c *Conn) echoRTT(seg *Segment, at clock.Time) time.Duration {
	if c.flags&fTS == 0 || !seg.Opts.HasTimestamp || seg.Opts.TSEcr == 0 || c.layer.ownMask != 0 {
		return 0
	}
	ms := int32(c.tsVal(at) - seg.Opts.TSEcr)
	if ms < 0 {
		return 0
	}
	return time.Duration(max(ms, 1)) * time.Millisecond
}

// delivered is called for each record an ACK newly acknowledges or
// SACKs.
func (c *Conn) delivered(now clock.Time, s *txSeg, as *ackSample) {
	if s.mark&sbEverRetrans == 0 {
		if s.end().LessThanEq(c.recover) {
			as.orig = true // sent before the loss episode's end (Linux FLAG_ORIG_SACK_ACKED)
		}
		if rtt := max(as.at.Sub(s.sentAt), time.Microsecond); as.caRTT == 0 || rtt < as.caRTT {
			as.caRTT = rtt // the newest record's (Linux last_ackt, last_sackt)
		}
	}
	if c.rackOn() && c.rackDelivered(now, s, as.priorFack) {
		as.reordered = true
	}
	if r := c.rater(); r != nil {
		r.onDelivered(now, s, &as.rs)
	}
}

// takeSACK marks the records the SACK blocks of an ACK cover (only blocks
// within (SND.UNA, SND.NXT]; RFC 2018 §8 treats others as invalid),
// adding the bytes newly SACKed to as.
func (c *Conn) takeSACK(seg *Segment, as *ackSample, deliver func(*txSeg)) {
	n := seg.Opts.NumSACK
	if n > wire.MaxSACKBlocks {
		n = wire.MaxSACKBlocks
	}
	if c.isDSACK(seg) {
		c.layer.stats.TCPDSACKRecv.Add(1) // RFC 2883: RACK widens its window, the undo counts it
		c.ic.dsackDups = sat16(c.ic.dsackDups)
		as.dsack = true
		c.dsackForUndo(seqnum.Value(seg.Opts.SACK[0].Left), seqnum.Value(seg.Opts.SACK[0].Right), c.sndUna)
	}
	q := c.tq
	if q == nil || q.n == 0 {
		return
	}
	before := q.sacked
	sacked := func(s *txSeg) {
		as.rttFrom(s, false)
		deliver(s)
	}
	for i := 0; i < n; i++ {
		l, r := seqnum.Value(seg.Opts.SACK[i].Left), seqnum.Value(seg.Opts.SACK[i].Right)
		if !l.LessThan(r) || !c.sndUna.LessThan(r) || c.sndNxt.LessThan(r) {
			continue // includes D-SACK blocks below SND.UNA (RFC 2883)
		}
		if l.LessThan(c.sndUna) {
			l = c.sndUna
		}
		q.sack(l, r, sacked)
	}
	as.sacked += q.sacked - before
}

// onAckRecovery runs after an ACK updated SND.UNA and the scoreboard. It
// marks losses, enters or leaves fast recovery, and sets cwnd: by the
// congestion controller outside recovery, by PRR inside; the ACK's
// delivery-rate sample is taken (Linux tcp_rate_gen, for every
// controller), and BBR sets cwnd and its pacing rate from it in either
// case (Linux tcp_cong_control with a cong_control hook).
func (c *Conn) onAckRecovery(now clock.Time, as *ackSample) {
	c.recoveryOnAck(now, as)
	if st := c.lossState(); st != CARecovery && st != CALoss {
		c.forgetRtxStamp() // Linux tcp_try_to_open
	}
	c.endRTORecovery(now)
	b := c.rateCtl()
	if r := c.rater(); r != nil {
		// Samples shorter than the minimum RTT are discarded: Linux's
		// tcp_min_rtt (tcp_rate_gen), under every controller. BBR's
		// RTprop is not the cutoff: over its 10 s window it can be
		// above the path's minimum, which would discard valid samples.
		r.generate(&as.rs, c.minRTT())
	}
	if b != nil {
		b.control(c, now, as)
	}
}

// recoveryOnAck is onAckRecovery's loss detection and recovery.
func (c *Conn) recoveryOnAck(now clock.Time, as *ackSample) {
	delivered := as.deliveredBytes()
	if c.flags&fSackOK == 0 && as.dup {
		delivered = c.mss // a duplicate ACK: one segment left the network (RFC 6937 §3)
	}
	if as.dsack {
		if c.rackOn() {
			c.rackDSACK()
		}
		c.undoDSACK() // every retransmission reported duplicate: a spurious episode, undone
	}
	if c.rack.flags&rkFRTO != 0 {
		// A spurious timeout is undone here; the ACK then goes on as
		// one in the open state, its cwnd growth included (Linux
		// tcp_ack: tcp_fastretrans_alert's undo, then
		// tcp_cong_control). Measured on Linux 6.18
		// (xdptcp/frto-recurring): the undoing ACK sends the next new
		// segment at once, cwnd 11 of the 10 restored.
		c.frtoOnAck(now, as)
	}
	c.tlpOnAck(now, c.sndUna, as.dsack, as.acked > 0)
	exited := false
	if c.flags&fInRecovery != 0 && c.recover.LessThanEq(c.sndUna) {
		c.exitRecovery()
		exited = true // cwnd = ssthresh on this ACK (RFC 6582 §3.2 step 3), no growth
	}
	if c.flags&fInCWR != 0 && c.recover.LessThan(c.sndUna) {
		// Held until SND.UNA is above the recovery point, not at it:
		// the ACK up to it was sent before the peer saw our CWR (on
		// the first segment after it) and still carries ECE (Linux
		// tcp_fastretrans_alert, TCP_CA_CWR). The reduction ends at
		// ssthresh (tcp_end_cwnd_reduction).
		c.flags &^= fInCWR
		c.endCwndReduction()
	}
	lostBefore := 0
	if c.tq != nil {
		lostBefore = c.tq.lost
	}
	c.detectLoss(now, as.acked)
	if c.tq != nil {
		as.lost = max(c.tq.lost-lostBefore, 0)
	}
	if c.flags&fInRecovery == 0 {
		switch {
		case c.tq != nil && c.tq.lost > 0 && c.mayEnterRecovery():
			if c.mtuProbeLost() {
				return // the MTU probe's loss, not congestion's
			}
			c.enterRecovery(now)
		case as.ece && c.ecnOnAck(now):
			// PRR from this ACK on (Linux: tcp_enter_cwr in
			// tcp_fastretrans_alert, then tcp_cwnd_reduction in
			// tcp_cong_control for the same ACK).
		case c.flags&fInCWR != 0:
		default:
			if c.mayRaiseCwnd(as) && !exited {
				c.growCwnd(now, as, delivered)
			}
			return
		}
	}
	c.prrUpdate(delivered, as.acked > 0 && as.lost == 0)
}

// frtoOnAck is F-RTO (RFC 5682 §3, the SACK-enhanced version; Linux
// tcp_process_loss) on an ACK after an RTO. An ACK that delivered data
// never retransmitted (step 3b: not everything was lost) finds the
// timeout spurious and undoes it. Otherwise the first ACK that advances
// SND.UNA lets new data go before the other retransmissions (step 2b); a
// duplicate ACK or SACK after that, or no new data to send, shows the
// loss was real (steps 2a, 3a): the retransmissions proceed.
func (c *Conn) frtoOnAck(now clock.Time, as *ackSample) {
	r := &c.rack
	if as.orig && c.undoLoss(undoFRTO) {
		return
	}
	switch {
	case r.flags&rkFRTONew != 0:
		if as.sacked > 0 || as.dup {
			r.flags &^= rkFRTO | rkFRTONew // step 3a: the loss was real
		}
	case as.acked > 0:
		dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
		if c.sndNxt.LessThan(dataEnd) && int(c.sndWnd) > c.flight() {
			c.recover = c.sndNxt
			r.flags |= rkFRTONew // step 2b
		} else {
			r.flags &^= rkFRTO // step 2a: nothing new to send
		}
	case as.dup:
		r.flags &^= rkFRTO // step 2a: a duplicate ACK
	}
}

// detectLoss marks the records lost: by RACK (rack.go) with SACK;
// without SACK the head after DupThresh duplicate ACKs (RFC 5681 §3.2)
// and, in recovery, after each partial ACK (RFC 6582 §3.2 step 3).
func (c *Conn) detectLoss(now clock.Time, acked int) {
	q := c.tq
	if q == nil || q.n == 0 {
		return
	}
	if c.rackOn() {
		c.rackDetectLoss(now)
		return
	}
	if int(c.dupAcks) >= c.dupThresh() || (c.flags&fInRecovery != 0 && acked > 0) {
		if q.at(0).mark&sbLost == 0 {
			q.setMark(0, sbLost)
		}
	}
}

// enterRecovery starts fast recovery (RFC 6675 §5 step 4, RFC 6582 §3.2
// step 2): the controller sets ssthresh, PRR starts counting. A
// loss found while an ECN reduction is under way (CWR) is recovered
// within that reduction: ssthresh, the recovery point and PRR's counts
// stay (Linux tcp_enter_recovery: tcp_init_cwnd_reduction only when not
// already in a cwnd reduction), and there is nothing to undo.
func (c *Conn) enterRecovery(now clock.Time) {
	l := c.layer
	cwr := c.flags&fInCWR != 0
	if !cwr {
		c.startUndo(now, false)
	}
	c.forgetRtxStamp()     // Linux tcp_enter_recovery: unless a retransmission is still out
	c.rack.flags &^= rkTLP // Linux tcp_init_cwnd_reduction ends a TLP episode
	// Recovery supersedes CWR (Linux's one icsk_ca_state).
	c.flags = c.flags&^fInCWR | fInRecovery
	if !cwr {
		c.initCwndReduction(now)
	} else if c.tq.prrPrior == 0 {
		c.startPRR(c.cc.window()) // the ECN reduction began with nothing in flight: PRR paces from here
	}
	if c.flags&fSackOK != 0 {
		l.stats.TCPSackRecovery.Add(1)
	} else {
		l.stats.TCPRenoRecovery.Add(1)
	}
}

// initCwndReduction starts a cwnd reduction, fast recovery's or ECN's
// (Linux tcp_init_cwnd_reduction): it covers the data sent so far, PRR
// counts from here against the cwnd before it (prior_cwnd), and the
// controller sets ssthresh.
func (c *Conn) initCwndReduction(now clock.Time) {
	c.recover = c.sndNxt
	c.startPRR(c.cc.window())
	c.cc.onLoss(now, c.mss)
}

// startPRR starts PRR's counts against cwnd prior; with nothing in
// flight PRR has nothing to pace (prrPrior 0: prrUpdate leaves cwnd at
// ssthresh).
func (c *Conn) startPRR(prior int) {
	if q := c.tq; q != nil {
		q.prrDelivered, q.prrOut, q.prrPrior = 0, 0, max(prior, 1)
		if c.flight() == 0 {
			q.prrPrior = 0
		}
	}
}

// mayEnterRecovery reports whether a loss found now starts fast
// recovery: once SND.UNA has passed the point the last reduction covered
// (RFC 6582 §3.2 step 1), or within an ECN reduction, which recovery
// then carries on (enterRecovery).
func (c *Conn) mayEnterRecovery() bool {
	return c.recover.LessThanEq(c.sndUna) || c.flags&fInCWR != 0
}

// exitRecovery ends fast recovery at a full ACK: cwnd = ssthresh (RFC
// 6937 §3 step "on exiting recovery", RFC 6582 §3.2 step 3).
func (c *Conn) exitRecovery() {
	c.flags &^= fInRecovery
	c.endCwndReduction()
	c.rackRecoveryEnded()
}

// prrUpdate is RFC 9937 (PRR, obsoleting RFC 6937) on an ACK in a cwnd
// reduction, as Linux's tcp_cwnd_reduction computes it: cwnd becomes
// pipe plus what PRR lets out for the delivered bytes: proportionally to
// ssthresh / the cwnd the reduction started from (Linux's prior_cwnd,
// where the RFCs divide by RecoverFS, the data outstanding then),
// rounded up to whole segments as Linux's packet counts are, while pipe
// is above ssthresh (xdptcp/prr-prior-cwnd: at ssthresh 10 from cwnd 20
// with 21 segments out, Linux sends new data on the 3rd, 5th and 7th
// SACK of the recovery; dividing by the flight in bytes, xdptcp sent
// the first on the 5th); else up to ssthresh with the slow-start
// reduction bound (PRR-SSRB), whose extra segment only a safe ACK earns (RFC 9937
// SafeACK: it advanced SND.UNA and marked nothing newly lost; Linux
// tcp_cwnd_reduction's FLAG_SND_UNA_ADVANCED && !newly_lost). At least
// the first retransmission goes out at once (Linux tcp_cwnd_reduction).
func (c *Conn) prrUpdate(delivered int, safeACK bool) {
	if c.rateCtl() != nil {
		return // BBR: packet conservation instead (bbr.go), as Linux skips tcp_cwnd_reduction with cong_control
	}
	q := c.tq
	if q == nil || q.prrPrior == 0 {
		return // an ECN reduction with nothing in flight: cwnd is ssthresh already (ecnOnAck, releaseTxq)
	}
	q.prrDelivered += delivered
	pipe := c.pipe()
	ss := c.cc.ssthreshBytes()
	var sndcnt int
	if pipe > ss {
		fs, m := q.prrPrior, c.mss
		sndcnt = ((q.prrDelivered*ss+fs-1)/fs+m-1)/m*m - q.prrOut
	} else {
		sndcnt = max(q.prrDelivered-q.prrOut, delivered)
		if safeACK {
			sndcnt += c.mss
		}
		sndcnt = min(ss-pipe, sndcnt)
	}
	sndcnt = max(sndcnt, 0)
	if q.prrOut == 0 && sndcnt < c.mss && q.lost > q.retrans {
		sndcnt = c.mss
	}
	c.cc.setWindow(pipe + sndcnt)
}

// onTransmit does the per-segment bookkeeping of a cwnd reduction (fast
// recovery or ECN's CWR): PRR's prr_out.
func (c *Conn) onTransmit(n int) {
	if c.flags&(fInRecovery|fInCWR) != 0 {
		c.tq.prrOut += n
	}
}

// growCwnd lets the congestion controller grow cwnd for an ACK outside
// recovery: HyStart++ looks at its RTT sample first (CUBIC), and cwnd
// grows only while the sender is cwnd-limited (RFC 7661's congestion
// window validation as Linux's tcp_is_cwnd_limited: in slow start while
// cwnd is below twice the largest flight of the last round, else when a
// transmission was held back by cwnd in it).
// mayRaiseCwnd is Linux's tcp_may_raise_cwnd: an ACK that advances
// SND.UNA may grow cwnd (RFC 5681: in-order delivery); one that only
// SACKs new data may too once reordering beyond the initial DupThresh was
// seen (tp->reordering above tcp_reordering), when SACKed data is
// progress rather than a sign of loss.
func (c *Conn) mayRaiseCwnd(as *ackSample) bool {
	return as.acked > 0 || (c.reordering > 0 && as.sacked > 0)
}

// growCwnd grows cwnd by the bytes the ACK delivered (Linux's
// acked_sacked, tp->delivered's growth: newly SACKed plus cumulatively
// acknowledged bytes not SACKed before, so no byte counts twice).
func (c *Conn) growCwnd(now clock.Time, as *ackSample, delivered int) {
	if c.cc == &c.cubic {
		st := &c.layer.stats
		rate, paced := c.pacingRate(), true
		if rate == 0 {
			rate, paced = c.cwndRate(), false
		}
		switch c.cubic.onRTT(as.at, as.caRTT, c.sndUna, c.sndNxt, c.mss, rate, paced) {
		case hsTrain:
			st.TCPHystartTrainDetect.Add(1)
			st.TCPHystartTrainCwnd.Add(uint64(c.cc.window() / max(c.mss, 1)))
		case hsDelay:
			st.TCPHystartDelayDetect.Add(1)
			st.TCPHystartDelayCwnd.Add(uint64(c.cc.window() / max(c.mss, 1)))
		}
	}
	if !c.cwndLimited() {
		return
	}
	c.cc.onAck(now, delivered, c.mss, c.rtt.srtt)
}

// cwndLimited is Linux's tcp_is_cwnd_limited.
func (c *Conn) cwndLimited() bool {
	if c.flags&fCwndLimited != 0 {
		return true
	}
	if c.cc.window() < c.cc.ssthreshBytes() {
		// Slow start grows cwnd to twice the largest flight, counted
		// in segments as Linux counts packets: one small segment out
		// after a timeout (cwnd one MSS) still lets its ACK grow cwnd
		// (persist-small.pkt).
		return c.cc.window() < 2*int(c.maxOut)*c.mss
	}
	return false
}

// cwndValidate is Linux's tcp_cwnd_validate after a transmit loop:
// remember, per round (until SND.UNA passes cwndUsageSeq), whether cwnd
// held a transmission back, else the most segments in flight (records
// of the scoreboard, SACKed ones too, as Linux's packets_out).
func (c *Conn) cwndValidate(limited bool) {
	out := 0
	if c.tq != nil {
		out = c.tq.n
	}
	if !c.sndUna.LessThan(c.cwndUsageSeq) || limited || (c.flags&fCwndLimited == 0 && out > int(c.maxOut)) {
		if limited {
			c.flags |= fCwndLimited
		} else {
			c.flags &^= fCwndLimited
		}
		c.maxOut = int32(min(out, 1<<30))
		c.cwndUsageSeq = c.sndNxt
	}
}

// restartAfterIdle is Linux's tcp_cwnd_restart (tcp_slow_start_after_idle,
// RFC 5681 §4.1): a sender idle for more than an RTO sends again with at
// most the initial window, halving cwnd once per RTO idle, ssthresh
// keeping 3/4 of the old cwnd.
func (c *Conn) restartAfterIdle(now clock.Time) {
	if !c.layer.cfg.SlowStartAfterIdle || c.sndNxt != c.sndUna || c.rateCtl() != nil {
		return // (BBR restarts by its own rule, onTxStart, as Linux skips a cong_control controller here)
	}
	rto := c.currentRTO()
	idle := now.Sub(c.lsndtime())
	if idle <= rto {
		return
	}
	restart := min(initialWindowSegments*c.mss, c.cc.window())
	cw := c.cc.window()
	ss := max(c.cc.ssthreshBytes(), cw*3/4)
	for idle -= rto; idle > 0 && cw > restart; idle -= rto {
		cw >>= 1
	}
	c.cc.restart(max(cw, restart), ss, now)
}

package tcp

// RACK-TLP (RFC 8985): loss detection by time. RACK marks a segment lost
// when a segment sent after it was delivered more than a reordering window
// later than its own RTT allows; TLP sends a probe 2*SRTT after the last
// transmission so that a lost tail produces the ACK RACK needs, instead of
// waiting for the RTO. Linux's defaults: tcp_recovery=1 (the reordering
// window adapts to D-SACKs; RACK is on whatever the setting),
// tcp_early_retrans=3 (TLP on).
// Both need SACK (RFC 8985 §4); without it the DupThresh rules of
// recovery.go apply.

import (
	"math"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// tcp_recovery bits (Linux TCP_RACK_*). Bit 0x1 (TCP_RACK_LOSS_DETECTION)
// is accepted and has no effect: with SACK, RACK is the only loss
// detection, as in Linux 6.18, where tcp_recovery=0 still fast
// retransmits one reordering window after a single SACK
// (conformance/scripts/rack-recovery-zero.pkt, measured).
const (
	recoveryStaticReoWnd = 0x2 // do not adapt the reordering window to D-SACKs
	recoveryNoDupThresh  = 0x4 // RACK only: no DupThresh marking beside it
)

// rack flag bits.
const (
	rkHasXmit        uint8 = 1 << iota // xmitTs/endSeq hold a delivered segment
	rkReorderingSeen                   // RACK.reordering_seen
	rkDsackRound                       // dsackRound is valid
	rkTLP                              // a TLP episode is open: tlpEnd valid
	rkTLPRetrans                       // the episode's probe was a retransmission
	rkFRTO                             // F-RTO (RFC 5682) is watching the ACKs after an RTO
	rkFRTONew                          // F-RTO step 2b: new data goes before the retransmissions
)

// rackState is RFC 8985's per-connection state (§6.1) and TLP's (§7).
type rackState struct {
	xmitTs     clock.Time    // RACK.xmit_ts: send time of the most recently sent segment delivered
	rtt        time.Duration // RACK.rtt: that segment's RTT
	minRTT     minFilter     // RACK.min_RTT and tcpi_min_rtt: the windowed minimum RTT (Linux tcp_min_rtt, tcp_min_rtt_wlen)
	endSeq     seqnum.Value  // RACK.end_seq
	xmitNxt    seqnum.Value  // SND.NXT right after that segment was sent (the send order within one clock tick)
	fack       seqnum.Value  // RACK.fack: highest end of a delivered segment
	dsackRound seqnum.Value  // RACK.dsack_round: SND.NXT when the window last grew for a D-SACK
	tlpEnd     seqnum.Value  // TLP.end_seq: SND.NXT when the probe was sent
	reoMult    uint8         // RACK.reo_wnd_mult, >= 1
	reoPersist uint8         // RACK.reo_wnd_persist: recoveries the grown window lasts
	flags      uint8         // rk* bits
}

// rackOn reports whether RACK detects losses on this connection: with
// SACK, whatever tcp_recovery says (see above).
func (c *Conn) rackOn() bool {
	return c.flags&fSackOK != 0
}

// tlpOn reports whether tail loss probes are sent (tcp_early_retrans 3
// or 4, with SACK: Linux tcp_schedule_loss_probe).
func (c *Conn) tlpOn() bool {
	return c.flags&fSackOK != 0 && c.layer.cfg.EarlyRetrans >= 3
}

// rackSample is RFC 8985 §6.2 step 1 and the first part of step 2 for a
// record an ACK delivered: the sample of a retransmitted record is
// ambiguous, and not used, when it may be the original's: an RTT below
// the minimum, Linux's only test (tcp_rack_advance). The RFC's other
// test, an echoed timestamp older than the retransmission, is not used:
// the receiver echoes TS.Recent, which moves only with RCV.NXT (RFC 7323
// §4.3), so while a hole stays open every ACK echoes the segment before
// it, and a retransmission SACKed behind the hole would never count.
// RACK.xmit_ts then stays before the retransmissions, and a lost one
// (the hole's own, say) waits for the retransmission timer.
// RACK.rtt takes every sample, as Linux's tcp_rack_advance does (the RFC
// takes only the most recently sent record's): after an ACK it is the RTT
// of the highest record the ACK delivered, which is what the losses of
// older records are timed against. RACK.xmit_ts moves only forward.
func (c *Conn) rackSample(now clock.Time, s *txSeg) {
	r := &c.rack
	rtt := now.Sub(s.sentAt)
	if rtt < 0 {
		rtt = 0
	}
	if s.mark&sbEverRetrans != 0 && rtt < c.minRTT() {
		return
	}
	c.noteMinRTT(now, rtt)
	r.rtt = rtt
	if r.flags&rkHasXmit == 0 || sentAfter(s.sentAt, s.nxt, s.end(), r.xmitTs, r.xmitNxt, r.endSeq) {
		r.xmitTs, r.xmitNxt, r.endSeq = s.sentAt, s.nxt, s.end()
		r.flags |= rkHasXmit
	}
}

// rackDelivered is RFC 8985 §6.2 steps 1 and 2 for a segment the ACK
// newly acknowledged or SACKed. priorFack is RACK.fack before the ACK:
// a segment is reordered when it ends below what earlier ACKs delivered,
// not below another segment of the same ACK (the ACK's SACK blocks come
// in any order and are taken before its cumulative part; Linux judges
// both against prior_fack, tcp_sacktag_one and tcp_clean_rtx_queue). It
// reports whether s was reordered (the ACK counts it, reorderingSeen).
func (c *Conn) rackDelivered(now clock.Time, s *txSeg, priorFack seqnum.Value) bool {
	r := &c.rack
	c.rackSample(now, s)
	// Step 2: a segment delivered below what earlier ACKs delivered,
	// never retransmitted, was reordered.
	if r.fack.LessThan(c.sndUna) {
		r.fack = c.sndUna // (keeps RACK.fack near the window across wraps)
	}
	end := s.end()
	if r.fack.LessThan(end) {
		r.fack = end
	}
	if end.LessThan(priorFack) && s.mark&sbEverRetrans == 0 {
		r.flags |= rkReorderingSeen
		c.raiseReordering(int(priorFack.Sub(s.seq)))
		return true
	}
	return false
}

// raiseReordering takes a reordering distance: a record delivered
// dist bytes below the highest delivered one, never retransmitted. The
// reordering degree (DupThresh) rises to it in segments, up to
// tcp_max_reordering, as Linux's tcp_check_sack_reordering raises
// tp->reordering to the SACKed distance (tcpi_reordering; measured on
// Linux 6.18: 20 for a segment SACKed 20 below the highest,
// conformance/scripts/reordering-degree.pkt).
func (c *Conn) raiseReordering(dist int) {
	mss := max(c.mss, 1)
	if dist <= (3+int(c.reordering))*mss {
		return
	}
	c.reordering = uint16(min((dist+mss-1)/mss-3, c.maxReordering())) // above 3+reordering >= 3, as checked
}

// sentAfter is RFC 8985's RACK_sent_after: a segment ending at end1,
// sent at t1 when SND.NXT became nxt1, was sent after one (t2, nxt2,
// end2). RFC 8985 breaks ties in time by end sequence; a clock tick can
// hold a retransmission as well as new data, so ties go by SND.NXT at the
// transmission first (new data, whose end is SND.NXT, before any
// retransmission at the same SND.NXT), then by end sequence (the transmit
// loop goes up the sequence space).
func sentAfter(t1 clock.Time, nxt1, end1 seqnum.Value, t2 clock.Time, nxt2, end2 seqnum.Value) bool {
	if t1 != t2 {
		return t1 > t2
	}
	if nxt1 != nxt2 {
		return nxt2.LessThan(nxt1)
	}
	if rtx1, rtx2 := end1 != nxt1, end2 != nxt2; rtx1 != rtx2 {
		return rtx1
	}
	return end2.LessThan(end1)
}

// rackDSACK is RFC 8985 §6.2 step 3 for an ACK with a D-SACK: the
// reordering window grows by min_RTT/4 once per round trip, and stays
// grown for 16 recoveries.
func (c *Conn) rackDSACK() {
	r := &c.rack
	if c.layer.cfg.Recovery&recoveryStaticReoWnd != 0 {
		return
	}
	if r.flags&rkDsackRound != 0 && c.sndUna.LessThan(r.dsackRound) {
		return
	}
	r.flags |= rkDsackRound
	r.dsackRound = c.sndNxt
	if r.reoMult < 255 {
		r.reoMult++
	}
	r.reoPersist = 16
}

// rackRecoveryEnded is the rest of step 3: each recovery that ends
// without a D-SACK brings the window one step back to its base.
func (c *Conn) rackRecoveryEnded() {
	r := &c.rack
	if r.reoPersist > 0 {
		r.reoPersist--
		if r.reoPersist == 0 {
			r.reoMult = 1
		}
	}
}

// reoWnd is RFC 8985 §6.2 step 4: zero while no reordering was seen and
// the sender is recovering or DupThresh segments were SACKed (so RACK
// is never slower than DupThresh; counted in bytes as RFC 6675's IsLost
// does; tcp_recovery 0x4 turns this rule off), else reo_wnd_mult * min_RTT/4 capped
// at SRTT.
func (c *Conn) reoWnd() time.Duration {
	r := &c.rack
	if r.flags&rkReorderingSeen == 0 {
		if c.flags&fInRecovery != 0 || c.sndUna.LessThan(c.recover) {
			return 0
		}
		if c.tq != nil && c.tq.sacked > (c.dupThresh()-1)*c.effMSS() && c.layer.cfg.Recovery&recoveryNoDupThresh == 0 {
			return 0
		}
	}
	w := time.Duration(max(r.reoMult, 1)) * c.minRTT() / 4
	if c.rtt.has {
		w = min(w, c.rtt.srtt)
	}
	return w
}

// rackDetectLoss is RFC 8985 §6.2 step 5: every record not delivered
// that was sent before the most recently delivered one, and whose time
// is up (its send time + RACK.rtt + reo_wnd), is marked lost; a lost
// record whose retransmission was already in flight counts as a lost
// retransmission. If some records are not yet due, the reordering timer
// is armed for the earliest.
func (c *Conn) rackDetectLoss(now clock.Time) {
	r := &c.rack
	q := c.tq
	c.reoAt = never
	if q == nil || r.flags&rkHasXmit == 0 {
		return
	}
	reo := c.reoWnd()
	var wait time.Duration
	// Records delivered (SACKed) or already owed a retransmission are
	// stepped over.
	for i := q.nextPending(0); i < q.n; i = q.nextPending(i + 1) {
		s := q.at(i)
		if !sentAfter(r.xmitTs, r.xmitNxt, r.endSeq, s.sentAt, s.nxt, s.end()) {
			if s.mark&sbEverRetrans == 0 {
				// A record never retransmitted left when it was first
				// sent, and records go out for the first time in
				// sequence order (SND.NXT only grows), so every record
				// after it was sent later still, retransmitted or not:
				// none of them is older than the reference either.
				// Linux's tcp_rack_detect_loss stops the same way on its
				// time-ordered list. (A SACKed record, skipped above, is
				// never after the reference unless retransmitted: its
				// delivery moved the reference to it, rackSample.)
				break
			}
			continue
		}
		left := s.sentAt.Add(r.rtt + reo).Sub(now)
		if left > 0 {
			wait = max(wait, left)
			continue
		}
		if s.mark&sbRetrans != 0 {
			c.layer.stats.TCPLostRetransmit.Add(1)
			q.clearMark(i, sbRetrans)
		} else {
			q.setMark(i, sbLost)
		}
	}
	if wait > 0 {
		c.reoAt = now.Add(wait)
	}
}

// onReoTimer is RFC 8985 §6.3: the reordering window of a record ran
// out with no ACK to look at it; detect losses now and repair them.
func (c *Conn) onReoTimer(now clock.Time) {
	if !c.state.synchronized() || c.tq == nil {
		return
	}
	c.rackDetectLoss(now)
	if c.flags&fInRecovery == 0 && c.tq.lost > 0 && c.mayEnterRecovery() {
		c.enterRecovery(now)
		c.prrUpdate(c.mss, false) // one segment delivered, as Linux's tcp_rack_reo_timeout
	}
	c.trySend(now)
}

// tlpArmable reports whether a probe may be scheduled: data outstanding,
// not recovering, and no probe outstanding (RFC 8985 §7.2). ECN's
// reduction (CWR) is no recovery: Linux's tcp_schedule_loss_probe probes
// in the Open and CWR states (measured on Linux 6.18: after an ECE at
// cwnd 10, the tail 9001:10001 goes as a probe before the timeout:
// conformance/scripts/tlp-cwr.pkt).
func (c *Conn) tlpArmable() bool {
	return c.tlpOn() && c.tq != nil && c.tq.n > 0 && c.flags&fInRecovery == 0 &&
		(!c.sndUna.LessThan(c.recover) || c.flags&fInCWR != 0) && c.rack.flags&rkTLP == 0
}

// armTLP is RFC 8985 §7.2: after a transmission or an ACK, with data
// outstanding, not recovering, and no probe outstanding, the probe
// timeout is 2*SRTT, plus the worst-case delayed ACK when only one
// segment is out (Linux adds tcp_rto_min there and 2 ms otherwise:
// measured on Linux 6.18, 2*SRTT + 50 ms with tcp_rto_min_us 50000), but
// never later than the RTO would fire.
func (c *Conn) armTLP(now clock.Time) {
	c.tlpAt = never
	if !c.tlpArmable() {
		return
	}
	pto := time.Second
	if c.rtt.has {
		pto = 2 * c.rtt.srtt
		if c.tq.n == 1 {
			pto += c.rtoMin()
		} else {
			pto += 2 * time.Millisecond
		}
	}
	at := now.Add(pto)
	if c.rtoAt != never && c.rtoAt < at {
		at = c.rtoAt
	}
	c.tlpAt = at
}

// onTLPTimer is RFC 8985 §7.3: send one probe: a new segment if the
// peer's window allows one, else the last segment sent again; then the
// RTO restarts.
func (c *Conn) onTLPTimer(now clock.Time) {
	q := c.tq
	if !c.state.synchronized() || q == nil || q.n == 0 || c.flags&fInRecovery != 0 {
		return
	}
	l := c.layer
	r := &c.rack
	sent := false
	r.flags &^= rkTLPRetrans
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	if c.sndNxt.LessThan(dataEnd) && int(c.sndWnd) > c.flight() {
		n := c.recordLimit(min(int(dataEnd.Sub(c.sndNxt)), c.effMSS(), int(c.sndWnd)-c.flight()))
		if c.flags&fFinQueued != 0 && c.sndNxt.Add(seqnum.Size(n)) == c.finSeq {
			n++
		}
		sent = c.transmit(now, c.sndNxt, n)
	} else {
		i := q.n - 1
		if s := q.at(i); s.mark&sbSacked == 0 {
			r.flags |= rkTLPRetrans
			sent = c.retransmit(now, i)
		}
	}
	if !sent {
		// No probe (the last segment lies beyond a window the peer
		// shrank, or no room): the timeout counts from the head's last
		// transmission, as Linux's tcp_rearm_rto with the probe
		// pending (tcp_rto_delta_us), at once if that has passed
		// (window-shrink-tlp.pkt: the head 0.2 s sooner than one RTO
		// from the failed probe).
		c.rtoAt = max(q.at(0).sentAt.Add(c.currentRTO()), now)
		return
	}
	l.stats.TCPLossProbes.Add(1)
	c.endUndo() // a D-SACK now answers the probe (tlpOnAck), not the last episode
	r.flags |= rkTLP
	r.tlpEnd = c.sndNxt
	c.rtoAt = now.Add(c.currentRTO())
}

// tlpOnAck is RFC 8985 §7.4 (as Linux's tcp_process_tlp_ack) for an ACK
// of ack: a D-SACK for the probe, or a pure duplicate at its end, says
// both copies arrived and nothing was lost; an ACK beyond the probe's
// end, with no D-SACK, says the probe repaired a loss, and the
// congestion controller answers it as a loss (cwnd reduced to ssthresh).
func (c *Conn) tlpOnAck(now clock.Time, ack seqnum.Value, dsack, advanced bool) {
	r := &c.rack
	if r.flags&rkTLP == 0 || ack.LessThan(r.tlpEnd) {
		return
	}
	switch {
	case r.flags&rkTLPRetrans == 0 || dsack:
		r.flags &^= rkTLP
	case r.tlpEnd.LessThan(ack):
		r.flags &^= rkTLP
		if c.flags&fInRecovery == 0 {
			c.cc.onLoss(now, c.mss)
			c.endCwndReduction()
		}
		c.layer.stats.TCPLossProbeRecovery.Add(1)
	case !advanced:
		r.flags &^= rkTLP
	}
}

// handshakeRTT takes the handshake's RTT sample as it completes: from
// the send time of our SYN or SYN-ACK if it went once (timed), else from
// the timestamp the peer echoes (RFC 7323 §4.1: an echo times even a
// resent segment; milliseconds, a same-tick echo counting 1 ms), else
// none, and then the RTO is 3 s until the first sample (RFC 6298 §5.7).
// Measured on Linux 6.18 (tcp_synack_rtt_meas, tcp_ack_update_rtt,
// tcp_init_metrics; conformance/scripts/handshake-rtt-*.pkt): a SYN-ACK
// resent then acknowledged 100 ms later with timestamps gives SRTT
// 100 ms and RTO 300 ms, without them SRTT 0 and RTO 3 s, and the same
// for an active open's resent SYN; a SYN cookie, whose SYN-ACK is timed
// by no send time, takes its sample from the echo (SRTT 121 ms for a
// 100 ms RTT: the cookie's TSval is below the clock) or none.
func (c *Conn) handshakeRTT(now clock.Time, seg *Segment, timed bool) {
	if timed {
		c.rttSample(arrival(now, seg).Sub(c.rttSent))
	} else if r := c.echoRTT(seg, arrival(now, seg)); r > 0 {
		c.rttSample(r)
	}
	c.rtt.fallback = !c.rtt.has
}

// rttSample feeds the handshake's RTT measurement to the estimator (rtt.go) and to
// the windowed minimum (Linux's tcp_min_rtt takes every sample too).
func (c *Conn) rttSample(r time.Duration) {
	c.rtt.sample(r, c.sndUna, c.sndNxt, c.rtoMin())
	c.noteMinRTT(c.layer.now, r)
}

// noteMinRTT feeds the windowed minimum RTT (Linux tcp_update_rtt_min):
// the smallest sample of the last tcp_min_rtt_wlen seconds, which RACK
// (its reordering window), TSO autosizing (push.go) and TCP_INFO read.
func (c *Conn) noteMinRTT(now clock.Time, rtt time.Duration) {
	us := min(max(rtt/time.Microsecond, 1), math.MaxUint32-1)
	c.rack.minRTT.update(uint32(c.layer.cfg.MinRTTWlen)*1000, uint32(now/clock.Time(time.Millisecond)), uint32(us))
}

// minRTT returns the windowed minimum RTT; 0 before the first sample.
func (c *Conn) minRTT() time.Duration {
	return time.Duration(c.rack.minRTT[0].v) * time.Microsecond
}

// minFilter is Linux's windowed minimum (lib/win_minmax.c, Kathleen
// Nichols' algorithm): the best sample of the window and the best of its
// later parts, so that when the best one ages out the next best of the
// window takes over, in three samples of constant space. Times are
// milliseconds (Linux: jiffies), values microseconds; a zero value is no
// sample.
type minFilter [3]minSample

type minSample struct{ t, v uint32 }

// update takes sample v at time t, with the window win (ms).
func (m *minFilter) update(win, t, v uint32) {
	s := minSample{t, v}
	if m[0].v == 0 || v <= m[0].v || t-m[2].t > win {
		m[0], m[1], m[2] = s, s, s // a new minimum, or nothing left in the window
		return
	}
	if v <= m[1].v {
		m[1], m[2] = s, s
	} else if v <= m[2].v {
		m[2] = s
	}
	dt := t - m[0].t
	switch {
	case dt > win:
		// The best aged out: the second and third best move up, the
		// sample is the third; the new best may be out too.
		m[0], m[1], m[2] = m[1], m[2], s
		if t-m[0].t > win {
			m[0], m[1], m[2] = m[1], m[2], s
		}
	case m[1].t == m[0].t && dt > win/4:
		m[1], m[2] = s, s // a quarter of the window without a second best: take one from the second quarter
	case m[2].t == m[1].t && dt > win/2:
		m[2] = s // half the window without a third best: take one from the second half
	}
}

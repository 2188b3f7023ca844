package tcp

// SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection that exists: SYN-SENT
// (§3.10.7.3) and the rest (§3.10.7.4), in the RFC's numbered phases.

import (
	"math"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// pawsIdle is RFC 7323 §5.5: TS.Recent older than 24 days is invalid.
const pawsIdle = 24 * 24 * time.Hour

// segLen is SEG.LEN: payload plus one for SYN and one for FIN.
func segLen(seg *Segment) seqnum.Size {
	n := seqnum.Size(len(seg.Payload))
	if seg.Flags&wire.FlagSYN != 0 {
		n++
	}
	if seg.Flags&wire.FlagFIN != 0 {
		n++
	}
	return n
}

// arrival is the segment's arrival time, for RTT samples.
func arrival(now clock.Time, seg *Segment) clock.Time {
	if seg.Arrival != 0 && seg.Arrival <= now {
		return seg.Arrival
	}
	return now
}

// input processes one segment for c.
func (c *Conn) input(now clock.Time, seg *Segment) {
	if c.state == StateSynSent {
		c.inputSynSent(now, seg)
		c.schedule()
		return
	}
	flags := seg.Flags
	established := c.state == StateEstablished // (the handshake's last ACK is not tcp_rcv_established's)
	// Simultaneous open: the peer's SYN-ACK acknowledges our SYN-ACK;
	// take it as the completing ACK (Linux tcp_validate_incoming).
	if c.state == StateSynReceived && flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN|wire.FlagACK &&
		seg.Seq+1 == c.rcvNxt && seg.Ack == c.sndNxt && len(seg.Payload) == 0 {
		s := *seg
		s.Flags &^= wire.FlagSYN
		s.Seq = c.rcvNxt
		c.input(now, &s)
		return
	}
	// A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it
	// again at once and restart the SYN-ACK timer from now with the
	// current backoff (Linux tcp_check_req -> inet_rtx_syn_ack,
	// mod_timer_pending with reqsk_timeout).
	if c.state == StateSynReceived && flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN && seg.Seq == c.irs {
		if c.layer.oowRateLimited(&c.oowMs, now, seg) {
			// At most one answer per 500 ms (Linux tcp_check_req:
			// tcp_oow_rate_limited, TCPACKSkippedSynRecv).
			c.layer.stats.TCPACKSkippedSynRecv.Add(1)
			return
		}
		c.sendSyn(now, true)
		if c.flags&fActive == 0 {
			c.synAt = now.Add(backoff(initialRTO, int(c.synRtx), c.rtoMax()))
			c.rearm()
		}
		return
	}

	// RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old
	// duplicate; ACK it (unless RST) and drop it, as Linux's
	// tcp_validate_incoming: a duplicate ACK (tcp_send_dupack), rate
	// limited for a segment without data.
	if c.flags&fTS != 0 && seg.Opts.HasTimestamp && flags&wire.FlagRST == 0 &&
		int32(seg.Opts.TSVal-c.tsRecent) < 0 && now.Sub(c.tsRecentAt) < pawsIdle {
		c.layer.stats.PAWSEstab.Add(1)
		c.dupAck(now, seg, true)
		return
	}

	// First: check the sequence number.
	if ok, beyond := c.acceptable(seg); !ok {
		if beyond && flags&(wire.FlagRST|wire.FlagSYN) == 0 {
			c.layer.stats.BeyondWindow.Add(1)
		}
		switch {
		case flags&wire.FlagRST != 0:
			if c.rstMatches(seg.Seq) {
				c.inputReset()
			}
		case flags&wire.FlagSYN != 0:
			// RFC 5961 §4.2: a SYN, whatever its sequence number, gets
			// a challenge ACK (Linux tcp_validate_incoming: syn_challenge).
			c.challengeAck(now)
		default:
			c.dupAck(now, seg, false)
		}
		return
	}
	c.lastRecv = now
	c.kaProbes, c.zwProbes = 0, 0
	if c.sx != nil && flags&wire.FlagACK != 0 {
		c.sx.softErr = nil // Linux tcp_ack: "something worked"
	}
	if c.flags&fECN != 0 && flags&wire.FlagRST == 0 {
		c.ecnInput(seg)
	}

	// Second: the RST bit (RFC 5961 §3.2: only an exact match resets).
	if flags&wire.FlagRST != 0 {
		if !c.rstMatches(seg.Seq) {
			c.challengeAck(now)
			return
		}
		c.inputReset()
		return
	}

	// Fourth: the SYN bit (RFC 5961 §4: challenge ACK, drop).
	if flags&wire.FlagSYN != 0 {
		c.challengeAck(now)
		return
	}

	// Fifth: the ACK field.
	if flags&wire.FlagACK == 0 {
		return
	}
	// From here what the connection sends waits for the batch's end
	// (batch.go), writes from the application's callbacks included.
	c.schedule()
	if c.state == StateSynReceived {
		if !(c.sndUna.LessThan(seg.Ack) && seg.Ack.LessThanEq(c.sndNxt)) {
			// Behind ECMP a SYN and its retransmission can reach two
			// hosts (the route changed in between): the client completed
			// the handshake with the other host's SYN-ACK, and this ACK
			// is for that one. Hand it over (owner.go) and drop the
			// half-open entry, which lost the race; a host alone, or an
			// ACK for our own handshake, gets the RST.
			if c.flags&fActive == 0 && c.layer.forward(seg, ForwardStray) {
				c.destroy(nil)
				return
			}
			c.layer.sendRstFor(seg, c.txHash())
			return
		}
		if !c.establish(now, seg) {
			return
		}
	}
	if !c.inputAck(now, seg) || c.flags&fGone != 0 {
		return
	}

	// Timestamps: update TS.Recent for a segment that starts at or
	// before Last.ACK.sent (RFC 7323 §4.3; Linux tcp_replace_ts_recent
	// against rcv_wup): while an ACK is delayed it echoes the TSval of
	// the oldest segment it acknowledges, so the sender's RTT includes
	// the delay.
	if c.flags&fTS != 0 && seg.Opts.HasTimestamp && seg.Seq.LessThanEq(c.rcvWup) {
		c.tsRecent = seg.Opts.TSVal
		c.tsRecentAt = now
	}

	if established {
		c.rcvRTTMeasureTS(now, seg) // Linux tcp_rcv_established, after tcp_ack
	}

	// Seventh: the segment text; eighth: the FIN bit.
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		c.inputData(now, seg)
	case StateCloseWait, StateClosing, StateLastAck:
		// The peer's FIN came: what starts below RCV.NXT is a
		// retransmission, answered as a duplicate; text at or after it
		// is ignored, unanswered (RFC 9293 §3.10.7.4, seventh; Linux
		// tcp_rcv_state_process takes only the former to
		// tcp_data_queue).
		if segLen(seg) > 0 && seg.Seq.LessThan(c.rcvNxt) {
			c.oldSegment(now, seg)
		}
	}
}

// oldSegment answers a segment that brings nothing new, the FIN's
// sequence number counted (a retransmission: our ACK was lost or late),
// with an ACK at once and a D-SACK of what of it lies below RCV.NXT
// (RFC 2883 §4; Linux tcp_data_queue: tcp_dsack_set(seq, end_seq),
// DelayedACKLost, quick-ACK mode, oldData).
func (c *Conn) oldSegment(now clock.Time, seg *Segment) {
	c.setDSACK(seg.Seq, seqnum.Min(seg.Seq.Add(segLen(seg)), c.rcvNxt))
	c.oldData(seg, true)
	c.sendOwedAck(now)
}

// sendOwedAck sends at once an ACK that what arrived made owed (Linux
// inet_csk_schedule_ack, then the ACK): as an owed one, it spends a
// quick ACK (xmit, tcp_dec_quickack_mode).
func (c *Conn) sendOwedAck(now clock.Time) {
	c.ackOwed = max(c.ackOwed, 1)
	c.sendAck(now)
}

// oowRateLimited is Linux's tcp_oow_rate_limited: at most one ACK per
// tcp_invalid_ratelimit (500 ms; 0: no limit) answers unacceptable
// segments without data (out of the window, old by PAWS; challengeAck
// keeps the same clock), which breaks ACK loops between two ends that
// each find the other's ACKs unacceptable. It reports whether the ACK answering seg
// must be skipped, given *last, the wrapping millisecond (msOf) the last
// such ACK was sent or 0 for never, which it moves to now when the ACK
// may go. A segment that occupies sequence space (data or a FIN) without
// SYN is always answered: it is not likely part of an ACK loop, and a
// peer retransmitting needs the ACK. Measured on Linux 6.18 with 100
// (xdptcp/oow-ratelimit): out-of-window ACKs at 0, 50, 90, 110 and 120 ms
// are answered at 0 and 110 ms, TCPACKSkippedSeq 3.
func (l *Layer) oowRateLimited(last *uint32, now clock.Time, seg *Segment) bool {
	if segLen(seg) > 0 && seg.Flags&wire.FlagSYN == 0 {
		return false
	}
	return l.oowLimited(last, now)
}

// oowLimited is Linux's __tcp_oow_rate_limited: whether an ACK at now
// comes within tcp_invalid_ratelimit of the one at *last (0: never); if
// not, *last moves to now.
func (l *Layer) oowLimited(last *uint32, now clock.Time) bool {
	ms := max(msOf(now), 1) // 0 is "never"
	if d := int32(ms - *last); *last != 0 && d >= 0 && int64(d) < int64(l.cfg.InvalidRatelimitMs) {
		return true
	}
	*last = ms
	return false
}

// dupAck answers a segment dropped before its data was looked at (out
// of the window, or old by PAWS), as Linux's tcp_send_dupack: data below
// RCV.NXT, which the peer resent because our ACK was lost or late, is
// old data (oldData); the ACK for a segment without data is rate limited
// (counted in TCPACKSkippedPAWS or TCPACKSkippedSeq when not sent).
func (c *Conn) dupAck(now clock.Time, seg *Segment, paws bool) {
	if segLen(seg) > 0 && seg.Seq.LessThan(c.rcvNxt) {
		end := seg.Seq.Add(segLen(seg))                // a FIN counted, as Linux's end_seq
		c.setDSACK(seg.Seq, seqnum.Min(end, c.rcvNxt)) // RFC 2883 §4
		// Linux's check for a peer that moved runs in tcp_send_dupack
		// with SACK, and in tcp_data_queue for what its tcp_sequence
		// accepts (an end up to rcv_wup), which xdptcp's acceptability
		// test sends here.
		c.oldData(seg, c.flags&fSackOK != 0 || !end.LessThan(c.rcvWup))
	}
	if c.layer.oowRateLimited(&c.oowMs, now, seg) {
		if paws {
			c.layer.stats.TCPACKSkippedPAWS.Add(1)
		} else {
			c.layer.stats.TCPACKSkippedSeq.Add(1)
		}
		return
	}
	c.sendAck(now)
}

// oldData is a segment that brought data or a FIN received before (the
// caller D-SACKs that part): our ACK for it was lost or late, counted in
// DelayedACKLost, and the next segments are ACKed at once (Linux
// tcp_enter_quickack_mode with TCP_MAX_QUICKACKS, in tcp_data_queue and
// tcp_send_dupack), so that a peer recovering from a timeout is not
// held back by delayed ACKs. rehash runs the check for a peer that
// moved to another path (rehash.go).
func (c *Conn) oldData(seg *Segment, rehash bool) {
	c.layer.stats.DelayedACKLost.Add(1)
	c.enterQuickAckMode(maxQuickAcks)
	if rehash {
		c.duplicateData(seg)
	}
}

// finish sends what became sendable and re-arms the connection's timer.
func (c *Conn) finish(now clock.Time) {
	if c.flags&fGone != 0 {
		return
	}
	c.trySend(now)
	// Linux tcp_data_snd_check: tcp_push_pending_frames, then
	// tcp_check_space: after what the ACKs let go was sent, the send
	// buffer may grow and a waiting writer learn it is writable.
	if c.flags&fWriteBlocked != 0 {
		c.sndBufSpace()
		c.writeSpace()
	}
	if c.ackOwed > 0 && c.delackAt == never {
		c.delackAt = now.Add(c.delAckTimeout())
	}
	c.rearm()
}

// acceptable is the sequence check of a segment as
// Linux's tcp_sequence makes it, looser than RFC 9293 §3.10.7.4's table
// at both edges:
//
//   - the left edge is rcv_wup, RCV.NXT when we last sent an ACK (RFC
//     7323's Last.ACK.sent), not RCV.NXT: a segment that ends at or
//     after it is taken. So a pure ACK the path reordered behind the
//     peer's later data, which the RFC's table refuses once that data
//     moved RCV.NXT on, still gives its acknowledgment and its SACK and
//     D-SACK blocks, as on Linux, if we have not acknowledged the later
//     data yet; old data in such a segment is trimmed and D-SACKed by
//     inputData as any duplicate;
//   - the right edge: SEG.SEQ at most the window's right edge (RCV.NXT
//     plus the window, at least RCV.NXT), so with a zero window a
//     segment at RCV.NXT is taken (its ACK, RST or data, which inputData
//     then drops) and a pure ACK at the edge is taken; and its end, FIN
//     not counted, at most the edge while the application holds data it
//     has not read (Linux 6.17 and later, TCP_INVALID_END_SEQUENCE):
//     a segment that crosses it is refused whole, where RFC 9293 would
//     take the part that fits. With nothing held it is taken whole,
//     the part beyond the window too (at most a segment's length), as
//     Linux queues it.
//
// It returns whether the segment is acceptable, and, if not, whether it
// was refused at the right edge (Linux counts those in BeyondWindow).
func (c *Conn) acceptable(seg *Segment) (ok, beyond bool) {
	edge := c.rcvAdv
	if edge.LessThan(c.rcvNxt) {
		edge = c.rcvNxt
	}
	seq := seg.Seq
	end := seq.Add(segLen(seg))
	if end.LessThan(c.rcvWup) {
		return false, false
	}
	if seg.Flags&wire.FlagFIN != 0 {
		end-- // a bare FIN beyond a closed window is checked later (tcp_data_queue)
	}
	if edge.LessThan(end) && (edge.LessThan(seq) || c.rcvBuf.Len() > 0) {
		return false, true
	}
	return true, false
}

// rstMatches reports whether a RST at seq resets the connection: at
// RCV.NXT (RFC 5961 §3.2), and where Linux takes it too
// (tcp_validate_incoming, tcp_reset_check): with SACK, at the end of the
// highest out-of-order range held (the peer reset after data we hold
// beyond a hole); and once the peer's FIN arrived (CLOSE-WAIT, CLOSING,
// LAST-ACK) at RCV.NXT-1, the FIN's own sequence number, which a peer
// that resets after its FIN may reuse.
func (c *Conn) rstMatches(seq seqnum.Value) bool {
	switch {
	case seq == c.rcvNxt:
		return true
	case c.flags&fSackOK != 0 && c.oooRanges() > 0 && seq == c.oooTop():
		return true
	}
	switch c.state {
	case StateCloseWait, StateClosing, StateLastAck:
		return seq == c.rcvNxt-1
	}
	return false
}

// inputReset handles an acceptable RST (RFC 9293 §3.10.7.4, second).
func (c *Conn) inputReset() {
	switch c.state {
	case StateSynReceived:
		c.layer.stats.EmbryonicRsts.Add(1)
		if c.flags&fActive == 0 {
			// Passive open: back to LISTEN, which for us means the
			// half-open entry goes.
			c.destroy(nil)
			return
		}
		c.destroy(ErrRefused)
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.destroy(ErrReset)
	default: // CLOSING, LAST-ACK
		c.destroy(nil)
	}
}

// challengeAck sends an RFC 5961 §7 challenge ACK, at most one per
// tcp_invalid_ratelimit per connection, shared with the ACKs for
// out-of-window segments, whatever the segment carries (Linux
// tcp_send_challenge_ack: __tcp_oow_rate_limited on last_oow_ack_time),
// then within the process's tcp_challenge_ack_limit, unlimited by
// default as Linux's since the shared count was CVE-2016-5696
// (challenge.go). Measured
// on Linux 6.18 (xdptcp/challenge-ack-ratelimit): in-window SYNs at 0,
// 100, 200 and 510 ms draw challenge ACKs at 0 and 510 ms;
// TCPChallengeACK 2, TCPACKSkippedChallenge 2. Until 2026-12-07 xdptcp
// allowed 100 a second per connection.
func (c *Conn) challengeAck(now clock.Time) {
	if c.layer.oowLimited(&c.oowMs, now) {
		c.layer.stats.TCPACKSkippedChallenge.Add(1)
		return
	}
	if !challengeAckAllowed(now, c.layer.cfg.ChallengeAckLimit) {
		return // the process's budget is spent (challenge.go): neither sent nor counted, as Linux
	}
	c.layer.stats.TCPChallengeACK.Add(1)
	c.sendAck(now)
}

// establish moves SYN-RECEIVED to ESTABLISHED on an acceptable ACK. It
// returns false when the segment must be dropped (accept queue full).
func (c *Conn) establish(now clock.Time, seg *Segment) bool {
	if c.flags&fFinQueued != 0 {
		c.setState(StateFinWait1)
	} else {
		c.setState(StateEstablished)
	}
	c.lastDataAt = now // Linux: lrcvtime starts at the handshake (tcp_create_openreq_child)
	if ln := c.listener; ln != nil && !ln.complete(now, c, seg) {
		c.setState(StateSynReceived)
		return false
	}
	c.handshakeRTT(now, seg, c.synRsnt == 0 && c.flags&fCookie == 0)
	if c.synRtx > 0 {
		// Linux tcp_create_openreq_child: the SYN-ACK's timeouts were
		// one RTO recovery, from the first SYN-ACK until now.
		r := &c.ext().rto
		r.timeouts, r.recoveries, r.done = uint32(c.synRtx), 1, now.Sub(c.rttSent)
	}
	c.synRtx = 0
	c.endSynTimeouts() // a simultaneous open's SYN timeouts
	// Shifted even when a simultaneous open's SYN-ACK completes it, as
	// Linux's TCP_SYN_RECV step of tcp_rcv_state_process sets snd_wnd.
	c.sndWnd = uint32(seg.Window) << c.sndShift
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
	c.synAt = never
	c.initBufferSpace(now)
	c.initRcvMSS()
	c.armKeepalive()
	if c.handler != nil && c.flags&fOpened == 0 {
		c.flags |= fOpened
		c.handler.OnOpen(c)
	}
	return c.flags&fGone == 0
}

// inputAck processes SEG.ACK in a synchronized state (RFC 9293 §3.10.7.4
// fifth, RFC 5961 §5.2). It returns false if the segment is to be dropped.
func (c *Conn) inputAck(now clock.Time, seg *Segment) bool {
	ack := seg.Ack
	if c.sndNxt.LessThan(ack) {
		// Acks something not yet sent: ACK and drop (RFC 5961 §5.2:
		// challenge ACK).
		c.challengeAck(now)
		return false
	}
	if ack.LessThan(c.sndUna - seqnum.Value(c.maxSndWnd)) {
		c.challengeAck(now) // RFC 5961 §5.2: too old to be a valid ACK
		return false
	}
	var as ackSample
	as.at = arrival(now, seg)
	as.priorPipe = c.pipe()
	as.priorFack = c.rack.fack
	if as.priorFack.LessThan(c.sndUna) {
		as.priorFack = c.sndUna
	}
	as.ece = c.flags&fECN != 0 && seg.Flags&wire.FlagECE != 0
	deliver := func(s *txSeg) { c.delivered(now, s, &as) }
	if c.flags&fSackOK != 0 && seg.Opts.NumSACK > 0 {
		if c.tq == nil && c.undoSaved() {
			c.txq() // its D-SACKs may be the released episode's (releaseTxq)
		}
		c.takeSACK(seg, &as, deliver)
		c.reorderingSeen(&as)
	}
	if c.sndUna.LessThan(ack) {
		syn := c.sndUna == c.iss
		c.onNewAck(now, seg, ack, &as, deliver)
		c.countDelivered(&as, syn)
		if c.flags&fGone != 0 {
			return false
		}
		c.reorderingSeen(&as)
		c.armTLP(now) // data acknowledged (Linux FLAG_SET_XMIT_TIMER)
	} else {
		c.countDelivered(&as, false) // what its SACK blocks delivered
		if ack == c.sndUna {
			c.ackRTT(seg, &as) // an older ACK gives none (Linux's old_ack path takes only its SACKs)
		}
		if ack == c.sndUna && c.sndNxt != c.sndUna && (as.sacked > 0 || (c.flags&fSackOK == 0 &&
			len(seg.Payload) == 0 && seg.Flags&wire.FlagFIN == 0 && c.peerWindow(seg) == c.sndWnd)) {
			// A duplicate ACK: with SACK, one that SACKs new data, with or
			// without a payload or window change (RFC 6675 §2's alternative
			// definition; Linux counts SACKed segments, tcp_time_to_recover):
			// in a two-way transfer the peer's ACKs ride on its data, and
			// the D-SACKs for duplicated segments are no sign of loss.
			// Without SACK, RFC 5681 §2's pure duplicate.
			c.dupAcks++
			as.dup = true
			c.onAckRecovery(now, &as)
		} else if as.dsack || as.ece {
			c.onAckRecovery(now, &as)
		}
	}
	// Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ or (SND.WL1 =
	// SEG.SEQ and SND.WL2 =< SEG.ACK)).
	if c.sndWl1.LessThan(seg.Seq) || (c.sndWl1 == seg.Seq && c.sndWl2.LessThanEq(ack)) {
		c.sndWnd = c.peerWindow(seg)
		if c.sndWnd > c.maxSndWnd {
			c.maxSndWnd = c.sndWnd
		}
		c.sndWl1, c.sndWl2 = seg.Seq, ack
	}
	if c.persistAt != never && ack == c.sndUna && c.flight() == 0 {
		// The probe timer runs (persist, RFC 9293 §3.8.6.1, or the
		// ceiling of a held partial segment): an ACK at SND.UNA, window
		// updated or not, is Linux's tcp_ack_probe. If the window now
		// takes the next segment, the probing ends and its backoff goes
		// with it (icsk_backoff = 0), so the RTO is the estimator's
		// again for the data that follows (trySend sends it, or re-arms
		// the ceiling). If not, the timer restarts from this answer with
		// the backoff reached: the next probe goes one backed-off RTO
		// after the peer's last word, not after our last probe
		// (measured on Linux 6.18: conformance/scripts/persist.pkt).
		if c.windowTakesNext() {
			c.persistAt = never
			c.zwProbes, c.backoff = 0, 0
			c.endProbing()
		} else {
			c.persistAt = now.Add(c.currentRTO())
		}
	}
	c.releaseTxq() // an episode kept for its D-SACKs may have been undone
	return true
}

// onNewAck handles an ACK that advances SND.UNA; as holds what its SACK
// blocks delivered, deliver is called for each record it acknowledges.
func (c *Conn) onNewAck(now clock.Time, seg *Segment, ack seqnum.Value, as *ackSample, deliver func(*txSeg)) {
	as.acked = int(ack.Sub(c.sndUna))
	c.ic.countAcked(c.sndUna == c.iss, as.acked)
	c.checkUndo(seg, ack) // Eifel detection (RFC 3522) before the ACK's usual effects
	// Data bytes acknowledged leave the send buffer.
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	upto := seqnum.Min(ack, dataEnd)
	if c.sndBufSeq.LessThan(upto) {
		n := int(upto.Sub(c.sndBufSeq))
		c.discardSent(n)
		c.sndBufSeq = upto
	}
	if c.tq != nil {
		// Records SACKed before were delivered then (RFC 6937's
		// DeliveredData counts them once), and give RACK an RTT sample
		// as they leave (Linux tcp_clean_rtx_queue calls
		// tcp_rack_advance for every skb it frees).
		c.tq.ackTo(ack, func(s *txSeg) {
			as.rttFrom(s, true)
			deliver(s)
		}, func(s *txSeg) {
			as.sackedAcked += int(s.len)
			if s.mark&sbEverRetrans != 0 {
				as.rtxAcked = true
			}
			if c.rackOn() {
				c.rackSample(now, s)
			}
		})
		if c.flags&fSackOK == 0 && as.rtxAcked {
			// Without SACK a cumulative ACK that covers a
			// retransmission cannot tell whether the records after it
			// arrived as first sent or only now, behind the
			// retransmission that filled the hole before them: their
			// delivery is no sign of a spurious timeout (Linux
			// tcp_clean_rtx_queue clears FLAG_ORIG_SACK_ACKED for
			// non-SACK connections when FLAG_RETRANS_DATA_ACKED is
			// set). Without this, F-RTO undid every timeout in a
			// window with two holes, and with nothing new to send
			// the second hole waited for the next timeout.
			as.orig = false
		}
	}
	c.sndUna = ack
	c.mtuProbeAcked()
	c.ackRTT(seg, as)
	c.nRtx = 0
	c.kaProbes, c.zwProbes = 0, 0
	c.dupAcks = 0
	c.onAckRecovery(now, as)
	// RFC 6298 (5.2)/(5.3): stop the timer when all is acknowledged, else
	// restart it.
	switch {
	case c.sndUna == c.sndNxt:
		c.rtoAt = never
		c.releaseTxq()
		c.chronoStop(now, chronoBusy) // Linux tcp_clean_rtx_queue: the retransmission queue is empty
	case c.headSacked():
		// SND.UNA stopped at data the peer SACKed: it reneged (RFC
		// 2018 §8; a Linux receiver short of memory prunes its
		// out-of-order queue), or its ACKs are in disorder. Linux's
		// tcp_check_sack_reneging gives it max(SRTT/2, 10 ms) to
		// repair the scoreboard with more ACKs, then times out
		// (onRTO forgets the SACKs): the reneged data would otherwise
		// wait for two timeouts, the first resending none of it.
		c.rtoAt = now.Add(max(c.rtt.srtt/2, 10*time.Millisecond))
	default:
		c.rtoAt = now.Add(c.currentRTO())
	}
	// Our FIN acknowledged?
	if c.flags&fFinQueued != 0 && c.finSeq.LessThan(ack) {
		switch c.state {
		case StateFinWait1:
			lingering := c.flags&fLingering != 0
			c.setState(StateFinWait2)
			c.rtoAt = never
			c.kaAt = never
			if c.flags&fOrphan != 0 {
				reply := seg
				if lingering {
					reply = nil // Linux: the lingering close() goes on in FIN-WAIT-2 (tcp_close)
				}
				c.orphanFinWait2(now, reply)
			}
		case StateClosing:
			c.enterTimeWait(now)
			return
		case StateLastAck:
			if c.holdTail() {
				c.teardown() // CLOSED, unread data kept readable (Linux tcp_done)
				return
			}
			c.destroy(nil)
			return
		}
	}
}

// inputData is phases seven (text) and eight (FIN) in ESTABLISHED,
// FIN-WAIT-1 and FIN-WAIT-2.
func (c *Conn) inputData(now clock.Time, seg *Segment) {
	payload := seg.Payload
	seq := seg.Seq
	fin := seg.Flags&wire.FlagFIN != 0
	if c.flags&fReadClosed != 0 && len(payload) > 0 && c.rcvNxt.LessThan(seq.Add(seqnum.Size(len(payload)))) {
		// Linux: new data for a socket closed for reading is answered
		// with a RST (TCPAbortOnData; RFC 1122 §4.2.2.13), built as a
		// reply to the segment (tcp_rcv_state_process returns 1, then
		// tcp_v4_send_reset: <SEQ=SEG.ACK><CTL=RST>).
		c.layer.stats.TCPAbortOnData.Add(1)
		c.layer.sendRstFor(seg, c.txHash())
		c.destroy(nil)
		return
	}
	if len(payload) == 0 && !fin {
		if c.flags&fDSACK != 0 {
			c.sendAck(now) // report a duplicate of the batch now
		}
		return // a pure ACK: nothing to receive (and nothing to answer)
	}
	// Trim to the window: the left edge (old bytes) ...
	if seq.LessThan(c.rcvNxt) {
		skip := int(c.rcvNxt.Sub(seq))
		if skip > len(payload) || (skip == len(payload) && !fin) {
			// Entirely old, its FIN too: a duplicate (RFC 9293
			// §3.10.7.4).
			c.oldSegment(now, seg)
			return
		}
		// Partly old: the bytes below RCV.NXT reported in a D-SACK
		// (RFC 2883 §4, Linux tcp_dsack_set(seq, rcv_nxt)).
		c.setDSACK(seq, c.rcvNxt)
		payload = payload[skip:]
		seq = c.rcvNxt
	}
	// ... and the right edge.
	wnd := max(int(int32(c.rcvAdv.Sub(c.rcvNxt))), 0)
	off := int(seq.Sub(c.rcvNxt))
	if (len(payload) > 0 || (fin && off > 0)) && off >= wnd {
		// Nothing of it fits (data into a zero window, or a segment
		// that starts at the window's edge) and nothing is held (else
		// acceptable refused it): ACK at once and drop, in quick-ACK
		// mode (Linux tcp_data_queue: TCPZeroWindowDrop at RCV.NXT,
		// out_of_window beyond; both enter quick-ACK mode and schedule
		// the ACK, which spends one). A bare FIN at RCV.NXT is taken
		// even so, as Linux.
		if off == 0 {
			c.layer.stats.TCPZeroWindowDrop.Add(1)
		}
		c.enterQuickAckMode(maxQuickAcks)
		c.sendOwedAck(now)
		return
	}
	if len(payload) > 0 {
		c.setLastDataLabel(seg.Label) // the label new data came under (rehash.go)
	}
	if seq != c.rcvNxt {
		// Out of order: hold it, ACK with SACK blocks (RFC 5681 §4.2,
		// RFC 2018 §4). The ACK is owed (Linux tcp_data_queue_ofo:
		// inet_csk_schedule_ack), so it spends a quick ACK. With SACK
		// the batch's end decides, one ACK for the batch's segments
		// (the blocks say what arrived, as Linux ACKs one GRO-coalesced
		// segment), at once or compressed (compack.go); without SACK
		// the sender counts duplicate ACKs (RFC 5681 §3.2), so each goes
		// now.
		c.oooInsert(seq, payload, fin)
		c.ackOwed = max(c.ackOwed, 1)
		if c.flags&fSackOK != 0 {
			return
		}
		c.sendAck(now)
		return
	}
	if len(payload) > 0 {
		c.onDataRecv(now, len(payload), seg)
		c.rcvRTTMeasure(now, c.rcvNxt.Add(seqnum.Size(len(payload)))) // (tcp_event_data_recv, before the handler reads)
		// Count the ACK owed first: a reply the application writes from
		// OnData carries it.
		c.ackOwed = 1
		if !c.receive(payload) {
			// No memory to hold it (tcp_mem): dropped, the peer
			// retransmits (Linux tcp_data_queue: TCPRcvQDrop), told
			// at once by a zero window to wait (ICSK_ACK_NOMEM).
			c.layer.stats.PruneCalled.Add(1)
			c.oooPrune()
			c.layer.stats.RcvPruned.Add(1)
			c.layer.stats.TCPRcvQDrop.Add(1)
			c.ackMode |= amNoMem
			c.sendAck(now)
			return
		}
		if c.flags&fGone != 0 {
			return
		}
	}
	if c.oooActive() {
		if c.rcvBuf.Len() > 0 || len(payload) > 0 {
			// Filled (part of) a hole: ACK at once (RFC 5681 §4.2), at
			// the batch's end (endBatch).
			c.flags |= fAckNow
		}
		fin = c.oooDrain() || fin
	}
	if c.rcvBuf.Len() > 0 && c.canDeliver() {
		c.deliverBuffered()
		if c.flags&fGone != 0 {
			return
		}
	}
	if fin {
		c.inputFin(now)
	}
}

// Delayed-ACK timeout bounds (Linux TCP_ATO_MIN = TCP_DELACK_MIN = 40 ms,
// TCP_DELACK_MAX = 200 ms).
const (
	atoMin = 40 * time.Millisecond
	atoMax = 200 * time.Millisecond
)

// onDataRecv is Linux's tcp_event_data_recv for n in-order bytes of seg:
// it learns the peer's segment size and whether the segment ended a
// write (measureRcvMSS), the ACK timeout from the gaps between data
// segments, and goes back to quick-ACK mode after the connection was idle
// for more than an RTO, so a sender restarting from idle is not held back
// by delayed ACKs.
func (c *Conn) onDataRecv(now clock.Time, n int, seg *Segment) {
	c.measureRcvMSS(n, seg)
	if c.ato == 0 {
		// The first data: quick-ACK mode starts (Linux
		// tcp_event_data_recv), sized with this segment's length.
		c.ato = atoMin
		c.enterQuickAck(maxQuickAcks)
	} else {
		m := now.Sub(c.lastDataAt)
		rto := c.currentRTO()
		switch {
		case m <= atoMin/2:
			c.ato = c.ato/2 + atoMin/2
		case m < c.ato:
			c.ato = min(c.ato/2+m, rto)
		case m > rto:
			c.enterQuickAck(maxQuickAcks)
		}
	}
	c.lastDataAt = now
}

// Linux's tcp_measure_rcv_mss thresholds: TCP_MSS_DEFAULT and
// TCP_MIN_MSS, each with a bare TCP header.
const (
	lssMinAny     = 536 + wire.TCPMinHeaderLen
	lssMinNoFlags = 88 + wire.TCPMinHeaderLen
)

// measureRcvMSS is Linux's tcp_measure_rcv_mss: a segment of n bytes (of
// seg) at least the size seen is full-sized and raises that size (to at
// most our MSS), and ends a write of the peer's (amPushed, for readAck)
// only with PSH. A smaller one ends a write (a second one: amPushed2)
// unless it is the second in a row of one size that is large enough to
// be a path's MSS (556 bytes with its header, or 108 without PSH, FIN,
// SYN or URG, which a sender sets only on a write's last segment):
// that size is then learned as the peer's (a smaller path MTU, or a
// sender's smaller MSS), and its segments count as full. The sizes
// compared add the options beyond those every segment carries (SACK
// blocks), as Linux's header-length arithmetic does.
func (c *Conn) measureRcvMSS(n int, seg *Segment) {
	lss := c.lastSegLen
	c.lastSegLen = 0
	if n >= int(c.rcvEstMSS) {
		c.rcvEstMSS = uint16(min(n, int(c.rcvMSS)))
		if seg.Flags&wire.FlagPSH != 0 {
			c.ackMode |= amPushed
		}
		return
	}
	hdr := wire.TCPMinHeaderLen + wire.TCPOptionsLen(&seg.Opts, false)
	if l := n + hdr; l >= lssMinAny || l >= lssMinNoFlags && seg.Flags&(wire.FlagFIN|wire.FlagSYN|wire.FlagURG|wire.FlagPSH) == 0 {
		l -= c.tcpHeaderLen()
		c.lastSegLen = uint16(l)
		if l == int(lss) {
			c.rcvEstMSS = uint16(l)
			return
		}
	}
	if c.ackMode&amPushed != 0 {
		c.ackMode |= amPushed2
	}
	c.ackMode |= amPushed
}

// tcpHeaderLen is the header every segment of ours and the peer's
// carries: 20 bytes, and the 12 of the timestamp option when both sides
// agreed to it (Linux tp->tcp_header_len).
func (c *Conn) tcpHeaderLen() int {
	if c.flags&fTS != 0 {
		return wire.TCPMinHeaderLen + 12
	}
	return wire.TCPMinHeaderLen
}

// delAckTimeout is how long an owed ACK may wait: the ato estimate,
// bounded by the RTT, between 40 and 200 ms (Linux tcp_send_delayed_ack,
// whose HZ/2 bound outside pingpong mode icsk_delack_max cuts to 200 ms,
// measured in xdptcp/ack-timeout-growth; before any data endBatch sends
// it).
func (c *Conn) delAckTimeout() time.Duration {
	ato := max(c.ato, atoMin)
	limit := atoMax
	if c.rtt.has {
		limit = min(limit, max(c.rtt.srtt, atoMin))
	}
	return min(ato, limit)
}

// maxQuickAcks is Linux's TCP_MAX_QUICKACKS.
const maxQuickAcks = 16

// enterQuickAck starts Linux's quick-ACK mode (at the first data, after
// idle, after a duplicate or a CE mark): the next segments are ACKed at
// once, as many as the window last advertised holds pairs of the peer's
// segments (at least 2, at most limit: 16, TCP_MAX_QUICKACKS, or 2 for a
// CE mark; Linux tcp_incr_quickack with rcv_wnd and icsk_ack.rcv_mss),
// so the peer's slow start is not slowed by delayed ACKs. Measured on
// Linux 6.18: a 4380-byte window and 1000-byte segments give two (nplab
// receiver_rtt scripts, line 35; xdptcp counted with its advertised MSS
// and gave one, 1,460 bytes, before 2026-12-07).
func (c *Conn) enterQuickAck(limit int) {
	n := int(c.rcvAdv.Sub(c.rcvWup)) / (2 * max(int(c.rcvEstMSS), 1))
	if n == 0 {
		n = 2
	}
	c.quickAcks = max(c.quickAcks, uint8(min(n, limit)))
}

// onReplySent is Linux's tcp_event_data_sent (6.7+) for a new data
// segment sent at now: within the ACK timeout of the last data received
// (lastDataAt), it is (part of) a reply, counted towards pingpong mode
// (tcp_pingpong_thresh); each such segment counts, as Linux's. Measured
// on Linux 6.18 with 3 (xdptcp/pingpong-thresh): the first three
// requests, each answered with one segment, are ACKed at once, the
// fourth waits for its reply.
func (c *Conn) onReplySent(now clock.Time) {
	if c.ato > 0 && now.Sub(c.lastDataAt) < c.ato && c.pingpong < math.MaxUint8 {
		c.pingpong++
	}
}

// enterQuickAckMode is Linux's tcp_enter_quickack_mode, for a sign that
// the peer waits for our ACKs (a duplicate, a CE mark): quick ACKs, at
// most limit, out of pingpong mode, and the ACK timeout back to its
// minimum once data has set one.
func (c *Conn) enterQuickAckMode(limit int) {
	c.enterQuickAck(limit)
	c.pingpong = 0 // (inet_csk_exit_pingpong_mode)
	if c.ato != 0 {
		c.ato = atoMin
	}
}

// quickAckSent is Linux's tcp_dec_quickack_mode, for a segment that
// carries an ACK that was owed (pure or with data, whatever made it
// go): it spends a quick ACK, and the last one sets the ACK timeout back
// to its minimum.
func (c *Conn) quickAckSent() {
	if c.quickAcks == 0 {
		return
	}
	c.quickAcks--
	if c.quickAcks == 0 && c.ato != 0 {
		c.ato = atoMin
	}
}

// initRcvMSS is Linux's tcp_initialize_rcv_mss at the handshake's end:
// until seen, the peer's segments are assumed no larger than our MSS,
// the send MSS, half the window offered or TCP_MSS_DEFAULT (536), and at
// least TCP_MIN_MSS (88).
func (c *Conn) initRcvMSS() {
	hint := min(int(c.rcvMSS), c.mss, int(c.rcvAdv.Sub(c.rcvWup))/2, 536)
	c.rcvEstMSS = uint16(max(hint, 88))
}

// sendAckAfterApp sends the owed ACK unless the data the application just
// wrote will carry it.
func (c *Conn) sendAckAfterApp(now clock.Time) {
	c.trySend(now)
	if c.ackOwed > 0 {
		c.sendAck(now)
	}
}

// receive takes in-order bytes at RCV.NXT: straight to the handler when
// nothing is held, else (and what the handler leaves) into the receive
// queue. It reports false, taking nothing, when tcp_mem refused the
// chunks it needed; in-order data for a connection holding nothing
// is always taken (Linux tcp_data_queue forces memory for an empty
// receive queue).
func (c *Conn) receive(p []byte) bool {
	empty := c.rcvBuf.Len() == 0 && !c.oooActive()
	if empty && c.canDeliver() {
		c.rcvNxtUpdate(len(p))
		n := c.handler.OnData(c, p)
		n = max(0, min(n, len(p)))
		c.consumed(n)
		p = p[n:]
		if c.flags&fGone != 0 {
			return true
		}
		if len(p) > 0 {
			c.rcvForce(p)
		}
		if n > 0 {
			c.readAck() // the application read it
		}
		return true
	}
	if empty {
		c.rcvForce(p)
	} else if !c.rcvAppend(p, false) {
		return false
	}
	c.rcvNxtUpdate(len(p))
	return true
}

// rcvForce queues in-order data whatever tcp_mem says: an empty receive
// queue always takes a segment (Linux tcp_data_queue's
// sk_forced_mem_schedule), but memory past tcp_mem[2] owes an ACK now
// with a zero window (ICSK_ACK_NOMEM | ICSK_ACK_NOW).
func (c *Conn) rcvForce(p []byte) {
	c.rcvAppend(p, true)
	if c.layer.memOverLimit() {
		c.ackMode |= amNoMem
		c.flags |= fAckNow
	}
}

// rcvNxtUpdate moves RCV.NXT over n bytes of data now in order, counting
// them in tcpi_bytes_received wherever they came from: a segment at
// RCV.NXT or the out-of-order ranges it reached (Linux tcp_rcv_nxt_update,
// called from tcp_queue_rcv and tcp_ofo_queue alike).
func (c *Conn) rcvNxtUpdate(n int) {
	c.rcvNxt = c.rcvNxt.Add(seqnum.Size(n))
	c.ic.bytesReceived += uint64(n)
}

// consumed notes n bytes the application took, for receive-buffer
// autotuning (Linux tcp_rcv_space_adjust, called from recvmsg: it counts
// what the application copied, not what arrived, so a connection whose
// application does not read does not grow its buffer). Once per receiver
// RTT (rcvrtt.go: Linux measures over rcv_rtt_est, not SRTT, which a
// connection that only receives never updates after the handshake; none
// before its first sample), what the application took in that time, less
// what it left queued, is compared with rcvSpace, the most it took in one
// such period before: more, and the buffer grows (rcvBufGrow).
func (c *Conn) consumed(n int) {
	c.rcvCopied = int32(min(int(c.rcvCopied)+n, math.MaxInt32))
	now := c.layer.now
	if c.rrtt.rtt8 == 0 || now.Sub(c.rcvSpaceAt) < c.rrtt.rtt() {
		return
	}
	if copied := int(c.rcvCopied) - c.rcvBuf.Len(); copied > int(c.rcvSpace) {
		c.rcvBufGrow(copied)
	}
	c.rcvCopied = 0
	c.rcvSpaceAt = now
}

// rcvBufGrow is Linux 6.18's tcp_rcvbuf_grow: rcvSpace becomes space,
// and the buffer grows to twice it (dynamic right-sizing sees the sender
// one RTT late), plus twice the growth over the previous space scaled to
// that (the sender may double its rate in slow start), plus the room
// out-of-order data needs; never shrinking, up to the window of
// tcp_rmem[2] (window_clamp follows sk_rcvbuf: winFromSpace). Not with
// tcp_moderate_rcvbuf 0 or SO_RCVBUF set (SOCK_RCVBUF_LOCK), nor under
// tcp_mem pressure.
//
// Linux adds the span the out-of-order data reaches past RCV.NXT, and
// its window is the buffer less every byte held, those too. Here the
// window is the buffer less the in-order bytes only (rcvWindow: held
// out-of-order bytes sit inside the window they came in), so the buffer
// grows by the holes in that span, and the window is Linux's.
func (c *Conn) rcvBufGrow(space int) {
	old := max(int(c.rcvSpace), 1)
	c.rcvSpace = int32(min(space, math.MaxInt32))
	limit := winFromSpace(c.layer.cfg.Rmem[2]) // window_clamp follows sk_rcvbuf, at most tcp_rmem[2]
	if !c.layer.cfg.ModerateRcvbuf || c.userLocks&lockRcvBuf != 0 || c.rcvCap >= limit || c.layer.underPressure() {
		return
	}
	space = min(space, limit)
	win := 2 * space
	if space > old {
		win += 2 * int(min(uint64(win)*uint64(space-old)/uint64(old), uint64(limit)))
	}
	win += int(c.oooTop().Sub(c.rcvNxt)) - c.oooBytes()
	c.rcvCap = max(c.rcvCap, min(win, limit))
}

// initBufferSpace sizes the buffers of a connection that just reached
// ESTABLISHED (Linux tcp_init_buffer_space): the send buffer for the
// initial window, and autotuning's first measurement, which starts now
// with rcvSpace at ten segments of what the peer can send in one
// (TCP_INIT_CWND × advmss, the MSS we offered less the timestamp option),
// within the buffer.
func (c *Conn) initBufferSpace(now clock.Time) {
	c.sndBufExpand()
	advmss := int(c.rcvMSS)
	if c.flags&fTS != 0 {
		advmss -= 12
	}
	c.rcvSpace = int32(max(min(initCwndSegs*advmss, c.rcvCap), 1))
	c.rcvCopied = 0
	c.rcvSpaceAt = now
}

// inputFin is phase eight: the peer's FIN at RCV.NXT.
func (c *Conn) inputFin(now clock.Time) {
	c.rcvNxt++
	c.flags |= fPeerFin
	if c.state == StateEstablished {
		// The peer is done sending and waits for our answer: Linux's
		// tcp_fin enters pingpong mode (no quick ACKs) and schedules an
		// ACK. The batch's ACK decision (endBatch) sends it at once
		// for a filled hole, for more than a full segment the
		// application took, or before any data; else the delayed-ACK
		// timer does, unless what the application sends first (its
		// reply, its FIN) carries it. Measured on Linux 6.18:
		// fin-ack-close, fin-ack-no-data.
		c.enterPingpong()
		c.ackOwed = max(c.ackOwed, 1)
	} else {
		c.sendAck(now) // FIN-WAIT: at once (tcp_fin: tcp_send_ack)
	}
	if c.state == StateFinWait2 || (c.state == StateFinWait1 && c.finSeq.LessThan(c.sndUna)) {
		// Half-closed by CloseWrite: the application reads EOF before the
		// connection turns into a TIME-WAIT entry.
		c.maybePeerClose()
		if c.flags&fGone != 0 {
			return
		}
	}
	switch c.state {
	case StateEstablished:
		c.setState(StateCloseWait)
		c.kaAt = never
		c.armKeepalive()
	case StateFinWait1:
		if c.finSeq.LessThan(c.sndUna) {
			c.enterTimeWait(now)
			return
		}
		c.setState(StateClosing)
	case StateFinWait2:
		c.enterTimeWait(now)
		return
	}
	c.maybePeerClose()
}

// readAck is Linux's tcp_cleanup_rbuf's ACK, run when the application
// has read: the ACK owed goes now for more than one full segment (it may
// have waited for this read, windowKeepsUp), or when the read emptied
// the receive queue after data that ended a write (onDataRecv), unless
// in pingpong mode, where the reply will carry it (a second such segment
// is ACKed even then). It goes at the batch's end when the read
// happened in one (in OnData). It reports whether it sent or scheduled
// the ACK.
func (c *Conn) readAck() bool {
	if c.ackOwed == 0 {
		return false
	}
	if !c.fullSegmentsOwed() {
		pushed := c.ackMode&amPushed2 != 0 || c.ackMode&amPushed != 0 && !c.inPingpong()
		if !pushed || c.rcvBuf.Len() > 0 || c.oooActive() {
			return false
		}
	}
	if c.flags&fPending != 0 {
		c.flags |= fAckNow
	} else {
		c.sendAck(c.layer.now)
	}
	return true
}

// maybeWindowUpdate is Linux's tcp_cleanup_rbuf after the application
// consumed buffered data: the ACK owed (readAck), else a window update
// when the window grew enough to matter (the new window at least doubles
// the advertised one; not after the peer's FIN).
func (c *Conn) maybeWindowUpdate() {
	if !c.state.synchronized() || c.flags&fGone != 0 || c.readAck() || c.flags&fPeerFin != 0 {
		return
	}
	cur := c.rcvAdv.Sub(c.rcvNxt)
	nw, _ := c.rcvWindow()
	w := seqnum.Size(nw)
	if w >= 2*cur && w-cur >= seqnum.Size(c.rcvMSS) {
		c.sendAck(c.layer.now)
	}
}

// inputSynSent is RFC 9293 §3.10.7.3.
func (c *Conn) inputSynSent(now clock.Time, seg *Segment) {
	flags := seg.Flags
	l := c.layer
	ackOK := false
	// First: the ACK bit.
	if flags&wire.FlagACK != 0 {
		if seg.Ack.LessThanEq(c.iss) || c.sndNxt.LessThan(seg.Ack) {
			if flags&wire.FlagRST == 0 {
				l.sendRstFor(seg, c.txHash())
			}
			return
		}
		ackOK = true
	}
	// Second: the RST bit.
	if flags&wire.FlagRST != 0 {
		if ackOK {
			c.destroy(ErrRefused)
		}
		return
	}
	// Fourth: the SYN bit.
	if flags&wire.FlagSYN == 0 {
		return
	}
	c.irs = seg.Seq
	c.rcvNxt, c.rcvWup = seg.Seq+1, seg.Seq+1
	c.rcvAdv = c.rcvNxt
	c.lastRecv = now
	c.negotiate(now, seg, true)
	if ackOK {
		c.handshakeRTT(now, seg, c.nRtx == 0)
		c.endSynTimeouts()
		c.sndUna = seg.Ack
		c.endRTORecovery(now) // the SYN's timeouts
		c.sndWnd = c.peerWindow(seg)
		c.maxSndWnd = c.sndWnd
		c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
		c.synAt = never
		c.setState(StateEstablished)
		c.initBufferSpace(now)
		c.lastDataAt = now // Linux tcp_finish_connect: lrcvtime starts at the SYN-ACK
		c.sendAck(now)
		c.initRcvMSS()
		c.armKeepalive()
		if c.handler != nil {
			c.flags |= fOpened
			c.handler.OnOpen(c)
		}
		return
	}
	// Simultaneous open (RFC 9293 §3.5, figure 8): SYN-RECEIVED, SYN-ACK.
	c.setState(StateSynReceived)
	c.sndWnd = c.peerWindow(seg)
	c.sendSyn(now, false)
}

// peerWindow is the window a segment offers: its field shifted by the
// peer's window scale, except in a SYN or SYN-ACK, whose window is never
// scaled (RFC 7323 §2.2; Linux tcp_rcv_synsent_state_process and
// tcp_ack_update_window).
func (c *Conn) peerWindow(seg *Segment) uint32 {
	if seg.Flags&wire.FlagSYN != 0 {
		return uint32(seg.Window)
	}
	return uint32(seg.Window) << c.sndShift
}

// negotiate applies the options of the peer's SYN (active: of its
// SYN-ACK): MSS (536 if absent, RFC 9293 §3.7.1; capped by ours; floored
// at tcp_min_snd_mss), window scale (RFC 7323 §2.3, capped at 14),
// timestamps and SACK-permitted.
func (c *Conn) negotiate(now clock.Time, seg *Segment, active bool) {
	cfg := &c.layer.cfg
	peerMSS := 536
	if seg.Opts.HasMSS {
		peerMSS = int(seg.Opts.MSS)
	}
	mss := min(peerMSS, int(c.rcvMSS))
	if p, ok := c.layer.pmtus.lookup(now, c.key.RemoteAddr); ok && mss > p-headerOverhead(c.key) {
		mss = p - headerOverhead(c.key) // a path MTU learnt from ICMP (PMTUExpires)
	}
	c.mss = max(mss, cfg.MinSndMss, 1)
	c.ecnNegotiate(seg, active)
	if seg.Opts.HasWScale && cfg.WindowScaling {
		c.flags |= fWS
		c.sndShift = min(seg.Opts.WScale, maxWindowShift)
	} else {
		c.flags &^= fWS
		c.sndShift, c.rcvShift = 0, 0
	}
	if seg.Opts.SACKPermitted && cfg.Sack {
		c.flags |= fSackOK
	}
	// Timestamps are on when the peer's SYN (or SYN-ACK) carries them, a
	// zero TSecr included (Linux tcp_rcv_synsent_state_process: tstamp_ok
	// = saw_tstamp).
	if seg.Opts.HasTimestamp && cfg.Timestamps {
		c.flags |= fTS
		c.tsRecent = seg.Opts.TSVal
		c.tsRecentAt = now
	} else {
		c.flags &^= fTS
	}
	if cfg.MtuProbing == 2 {
		// tcp_mtu_probing 2: the search is on from the start (Linux
		// tcp_mtup_init), after the options: the base MSS counts
		// payload. Dial starts at tcp_base_mss, an accepted connection
		// at the path's MSS, as Linux (mtuSearchStart).
		ms := c.mtuSearchStart(now, c.mss, min(peerMSS, int(c.rcvMSS)))
		if active {
			c.mss = c.searchMSS(ms)
		}
	}
	c.initCC(c.mss) // the initial window is segments of this MSS
}

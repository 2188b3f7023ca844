package tcp

// Spurious retransmission detection and the undo of the congestion
// response (RFC 4015's Eifel response, as Linux's tcp_undo_cwnd_reduction).
// Three detectors decide that a loss episode (a fast recovery or an RTO)
// was spurious:
//   - timestamps (the Eifel detection algorithm, RFC 3522): the first ACK
//     that acknowledges the retransmitted segment echoes a timestamp older
//     than the retransmission's (RFC 3522 §2: TSecr < RetransmitTS), so it
//     was the original transmission that arrived;
//   - F-RTO (RFC 5682, recovery.go) after an RTO;
//   - D-SACK (RFC 2883 §4, RFC 3708 §2; Linux tcp_try_undo_dsack with its
//     undo_retrans count): every retransmission of the episode was
//     reported back as a duplicate, so every original arrived.
//
// An episode keeps, from its start, the congestion controller's state and
// the TSval of its first retransmission; it stays open (for the D-SACKs,
// which come a round trip after the retransmissions, often after the
// recovery ended, even after the ACK that acknowledged everything) until
// the next episode starts, it is undone, a tail loss probe asks a new
// question, or a round after everything was acknowledged (releaseTxq).

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// undoState is one loss episode's undo information. It lives in the
// scoreboard (txQueue), which an episode still owed D-SACKs keeps for a
// round after everything outstanding was acknowledged (releaseTxq).
type undoState struct {
	valid   bool         // an episode is open: it may still be found spurious
	eifel   bool         // the Eifel check is pending: no ACK for the first retransmission yet
	rto     bool         // the episode began with an RTO (else fast retransmit)
	una     seqnum.Value // SND.UNA when the episode began (Linux undo_marker)
	retrans int32        // segments retransmitted in the episode and not yet reported duplicate by a D-SACK (Linux undo_retrans); -1 before the first
	ts      uint32       // TSval of the episode's first retransmission (RFC 3522 RetransmitTS); valid if retrans >= 0
	rtxSeq  seqnum.Value // sequence number of the episode's first retransmission; valid if retrans >= 0
	rtxEnd  seqnum.Value // end of the highest segment retransmitted in the episode; valid if retrans >= 0
	cubic   cubic        // congestion state before the reduction (newReno's is inside)
}

// undoCause says what found an episode spurious.
type undoCause uint8

const (
	undoEifel   undoCause = iota // timestamps (RFC 3522)
	undoPartial                  // timestamps, on a partial ACK of a fast recovery (Linux tcp_try_undo_partial)
	undoFRTO                     // F-RTO (RFC 5682)
	undoDSACK                    // D-SACKs for every retransmission (RFC 2883 §4, RFC 3708)
)

// startUndo opens a loss episode before the congestion response: what to
// restore if it proves spurious. An episode whose recovery point was not
// reached yet goes on (a timeout in fast recovery, or a second timeout in
// a row, belongs to the episode that is open: Linux tcp_enter_loss keeps
// undo_marker then); otherwise a new one replaces the last (Linux
// tcp_init_undo on entering Recovery or Loss).
func (c *Conn) startUndo(now clock.Time, rto bool) {
	q := c.tq
	if q == nil || (q.undo.valid && c.sndUna.LessThan(c.recover)) {
		return
	}
	q.undo = undoState{valid: true, eifel: true, rto: rto, una: c.sndUna, retrans: -1, cubic: c.cubic}
	if !rto && q.retrans > 0 {
		// Retransmissions of the episode before are still in flight:
		// it ended when SND.UNA passed its recovery point, with
		// records beyond that point found lost and resent. They count
		// as this episode's (Linux tcp_init_undo: undo_retrans =
		// retrans_out), so the ACK that brings them is no sign of a
		// hole filled by a delayed original; D-SACKs for them count.
		// The Eifel check, which needs this episode's first
		// retransmission, is not made (Linux compares with the older
		// episode's retrans_stamp, which such an ACK does not precede).
		// Before, the fast recovery entered for those records, having
		// nothing to resend, was undone by the next ACK as spurious
		// (about one in 180 BBR retransmissions at 1 % random loss).
		mss := max(c.effMSS(), 1)
		u := &q.undo
		u.eifel = false
		u.retrans = int32((q.retrans + mss - 1) / mss)
		u.rtxSeq, u.rtxEnd = c.sndUna, c.sndNxt
	}
}

// undoRetransmitted counts a retransmission [seq, end) with TSval ts of a
// record believed lost in the open episode (Linux tcp_retransmit_skb's
// undo_retrans; a tail loss probe is not one: its record was not marked
// lost). The first one is what the Eifel check looks at.
func (q *txQueue) undoRetransmitted(seq, end seqnum.Value, ts uint32) {
	u := &q.undo
	if !u.valid {
		return
	}
	if u.retrans < 0 {
		u.ts, u.rtxSeq, u.rtxEnd = ts, seq, end
	} else if u.rtxEnd.LessThan(end) {
		u.rtxEnd = end
	}
	u.retrans = max(u.retrans, 0) + 1
}

// checkUndo runs the Eifel detection on an ACK that advances SND.UNA to
// ack (before any other processing of it): the first ACK that
// acknowledges the episode's first retransmitted segment (not merely
// SND.UNA at the episode's start: RACK may have found a later segment
// lost while the head was only in flight, and the ACK for the head's
// original must not pass for the original of the retransmission). It
// reports whether the retransmission was spurious and the congestion
// state was restored.
//
// An ACK that advances SND.UNA in a fast recovery that has retransmitted
// nothing yet finds the episode spurious too, with or without
// timestamps: the hole was filled by the original, delayed, not lost
// (Linux tcp_packet_delayed with retrans_stamp 0, 6.17+). Here that is
// the recovery entered on one ACK of a receive batch whose later ACK,
// for the delayed original, came before the batch's transmit round.
func (c *Conn) checkUndo(seg *Segment, ack seqnum.Value) bool {
	q := c.tq
	if q == nil || !q.undo.valid || !q.undo.eifel {
		return false
	}
	u := &q.undo
	if u.retrans < 0 {
		if u.rto || c.flags&fInRecovery == 0 {
			return false // a timeout retransmits at once; after recovery only D-SACKs decide
		}
		return c.undoLoss(c.eifelCause(ack))
	}
	if !u.rtxSeq.LessThan(ack) {
		return false
	}
	if c.flags&fTS == 0 {
		return false // no Eifel without timestamps (F-RTO or D-SACK may still decide)
	}
	delayed := seg.Opts.HasTimestamp && seg.Opts.TSEcr != 0 && int32(seg.Opts.TSEcr-u.ts) < 0
	cause := c.eifelCause(ack)
	partial := !u.rto && cause == undoPartial
	if !delayed {
		// This ACK echoes a retransmission. Linux asks again on every
		// partial ACK of a fast recovery (tcp_try_undo_partial) and on
		// the one that ends it (tcp_try_undo_recovery); otherwise the
		// first ACK for the retransmission decides (RFC 3522).
		if !partial {
			u.eifel = false
		}
		return false
	}
	if partial && c.tq.retransAbove(ack) {
		// The original of the first retransmission arrived, but later
		// holes have retransmissions in flight: Linux's
		// tcp_try_undo_partial does not undo then (retrans_out).
		// Measured on Linux 6.18 (conformance/scripts/
		// eifel-partial-ack.pkt): two segments resent, the first one's
		// original acknowledged with its old timestamp, then the
		// whole window with the second resend's: no undo
		// (TCPPartialUndo and TCPFullUndo 0), where xdptcp undid on the
		// first ACK before 2026-12-07.
		return false
	}
	u.eifel = false
	return c.undoLoss(cause)
}

// eifelCause is how an undo by timestamps (or by the hole filled before
// any retransmission) counts: on a partial ACK of a fast recovery as
// Linux's tcp_try_undo_partial (TCPPartialUndo), else as its
// tcp_try_undo_recovery or tcp_try_undo_loss.
func (c *Conn) eifelCause(ack seqnum.Value) undoCause {
	if c.flags&fInRecovery != 0 && ack.LessThan(c.recover) {
		return undoPartial
	}
	return undoEifel
}

// dsackForUndo counts a D-SACK block [l, r) of an ACK received at SND.UNA
// una against the open episode's retransmissions (Linux tcp_check_dsack
// and tcp_sacktag_one): a block at or below SND.UNA within the range the
// episode retransmitted, or a block over records still held that were
// retransmitted, reports that many segments of the episode's
// retransmissions as duplicates. (Linux takes any block below SND.UNA
// above the episode's start; a duplicate the network made of a segment
// sent once, above the retransmissions, then counted too.) A block longer
// than the largest window the peer offered cannot be a duplicate of one
// flight and is ignored (Linux's "dubious" D-SACK).
func (c *Conn) dsackForUndo(l, r, una seqnum.Value) {
	q := c.tq
	if q == nil || !q.undo.valid || q.undo.retrans <= 0 {
		return
	}
	u := &q.undo
	n := int(r.Sub(l))
	if n > int(c.maxSndWnd) || !u.una.LessThan(r) || !l.LessThan(u.rtxEnd) {
		return
	}
	mss := max(c.effMSS(), 1)
	dups := 0
	if r.LessThanEq(una) {
		dups = (n + mss - 1) / mss
	} else if i := q.find(seqnum.Max(l, una)); i >= 0 {
		for ; i < q.n; i++ {
			s := q.at(i)
			if r.LessThanEq(s.seq) {
				break
			}
			if s.mark&sbEverRetrans != 0 {
				k := int(seqnum.Min(r, s.end()).Sub(seqnum.Max(l, s.seq)))
				dups += (k + mss - 1) / mss
			}
		}
	}
	u.retrans = int32(max(int(u.retrans)-dups, 0))
}

// undoDSACK undoes the open episode once D-SACKs reported every one of
// its retransmissions as a duplicate (Linux tcp_try_undo_dsack: in
// recovery, or after it, when the D-SACKs come a round trip later).
func (c *Conn) undoDSACK() bool {
	q := c.tq
	if q == nil || !q.undo.valid || q.undo.retrans != 0 {
		return false
	}
	return c.undoLoss(undoDSACK)
}

// endUndo closes the open episode without an undo.
func (c *Conn) endUndo() {
	if c.tq != nil {
		c.tq.undo.valid = false
	}
}

// undoLoss undoes the open loss episode, found spurious by cause: the
// congestion state before the reduction comes back (RFC 4015 §2: the
// window before the reduction; a window that grew past it since is kept,
// as Linux's tcp_undo_cwnd_reduction takes the larger), and the loss
// marks go: what is still outstanding is in flight, not lost (RFC 4015
// §2 step (3): resume with new data rather than go back N; Linux
// tcp_undo_cwnd_reduction clears the marks). It reports false if no
// episode is open.
//
// Counters, as Linux 6.18 counts them: an RTO undone by F-RTO counts
// TCPLossUndo and TCPSpuriousRTOs (tcp_try_undo_loss with frto_undo), by
// timestamps TCPLossUndo alone (tcp_try_undo_loss without it, or
// tcp_try_undo_recovery in CA_Loss: measured, one Eifel undo of an RTO
// leaves TCPSpuriousRTOs at 0), by D-SACKs TCPLossUndo while the Loss
// state lasts (tcp_may_undo with undo_retrans 0) and TCPDSACKUndo after
// it (tcp_try_undo_dsack); a fast recovery undone by timestamps counts
// TCPFullUndo, or TCPPartialUndo on a partial ACK, by D-SACKs
// TCPDSACKUndo.
func (c *Conn) undoLoss(by undoCause) bool {
	q := c.tq
	if q == nil || !q.undo.valid {
		return false
	}
	u := &q.undo
	u.valid = false
	// In the Loss state when this ACK came: the RTO's recovery time
	// still runs (endRTORecovery ends it after the ACK's processing).
	inLoss := u.rto && c.sx != nil && c.sx.rto.since != never
	cwnd, ssthresh := c.cc.window(), c.cc.ssthreshBytes()
	c.cubic = u.cubic
	if c.cc.window() < cwnd {
		c.cc.setWindow(cwnd)
	}
	if c.cc.ssthreshBytes() < ssthresh {
		c.cubic.newReno.ssthresh = ssthresh
	}
	if b := c.rateCtl(); b != nil {
		b.onUndo()
	}
	c.flags &^= fInRecovery
	c.rack.flags &^= rkFRTO | rkFRTONew
	c.dupAcks = 0
	c.recover = c.sndUna // back to the open state: a new loss may start a new recovery
	q.clearLost()
	s := &c.layer.stats
	switch {
	case by == undoFRTO:
		s.TCPLossUndo.Add(1)
		s.TCPSpuriousRTOs.Add(1)
	case u.rto && (by == undoEifel || inLoss):
		s.TCPLossUndo.Add(1)
	case by == undoDSACK:
		s.TCPDSACKUndo.Add(1)
	case by == undoPartial:
		s.TCPPartialUndo.Add(1)
	default:
		s.TCPFullUndo.Add(1)
	}
	if u.rto {
		return true
	}
	c.ic.reordSeen = sat16(c.ic.reordSeen)
	if int(c.reordering) < c.maxReordering() {
		c.reordering++ // reordering, not loss, set it off
	}
	return true
}

// isDSACK reports whether the first SACK block of seg is a D-SACK (RFC
// 2883 §4: it lies below SND.UNA, or inside the second block).
func (c *Conn) isDSACK(seg *Segment) bool {
	if seg.Opts.NumSACK == 0 {
		return false
	}
	l, r := seqnum.Value(seg.Opts.SACK[0].Left), seqnum.Value(seg.Opts.SACK[0].Right)
	if !l.LessThan(r) {
		return false
	}
	if r.LessThanEq(seg.Ack) {
		return true
	}
	if seg.Opts.NumSACK > 1 {
		l2, r2 := seqnum.Value(seg.Opts.SACK[1].Left), seqnum.Value(seg.Opts.SACK[1].Right)
		return l2.LessThanEq(l) && r.LessThanEq(r2)
	}
	return false
}

package tcp

// Spurious retransmission detection with timestamps (the Eifel detection
// algorithm, RFC 3522) or F-RTO (RFC 5682, recovery.go) and the undo of
// the congestion response (RFC 4015's Eifel response, as Linux's
// tcp_try_undo_recovery / tcp_try_undo_loss).
//
// When a loss episode starts (fast retransmit or the first RTO), the
// congestion controller's state and the TSval of the first retransmission
// are kept. The first ACK that acknowledges the retransmitted segment
// decides: if it echoes a timestamp older than the retransmission's
// (RFC 3522 §2: TSecr < RetransmitTS), it was the original transmission
// that arrived, the retransmission was spurious, and the window reduction
// is undone. D-SACK (RFC 2883) blocks are accepted and counted; they do not
// drive the undo here.

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// undoState is one loss episode's undo information. It lives in the
// scoreboard (txQueue): an episode ends at the latest when everything
// outstanding is acknowledged.
type undoState struct {
	valid bool         // an episode is open and not yet decided
	rto   bool         // the episode began with an RTO (else fast retransmit)
	ts    uint32       // TSval of the episode's first retransmission (RFC 3522 RetransmitTS)
	una   seqnum.Value // SND.UNA when the episode began: the retransmitted segment's sequence number
	cubic cubic        // congestion state before the reduction (newReno's is inside)
}

// startUndo opens a loss episode before the congestion response, if none
// is open: what to restore if it proves spurious (by timestamps, RFC
// 3522, or by F-RTO, RFC 5682).
func (c *Conn) startUndo(now clock.Time, rto bool) {
	q := c.tq
	if q == nil || q.undo.valid {
		return
	}
	q.undo = undoState{valid: true, rto: rto, ts: c.tsVal(now), una: c.sndUna, cubic: c.cubic}
}

// checkUndo runs the Eifel detection on an ACK that advances SND.UNA to
// ack (before any other processing of it). It reports whether the
// retransmission was spurious and the congestion state was restored.
func (c *Conn) checkUndo(seg *Segment, ack seqnum.Value) bool {
	q := c.tq
	if q == nil || !q.undo.valid || !q.undo.una.LessThan(ack) {
		return false
	}
	u := &q.undo
	if c.flags&fTS == 0 {
		return false // no Eifel without timestamps (F-RTO may still decide)
	}
	if !seg.Opts.HasTimestamp || seg.Opts.TSEcr == 0 || int32(seg.Opts.TSEcr-u.ts) >= 0 {
		u.valid = false // only the first ACK for the retransmission decides
		return false
	}
	return c.undoLoss(false)
}

// undoLoss undoes the open loss episode, found spurious (frto: by F-RTO,
// else by timestamps): the congestion state before the reduction comes
// back (RFC 4015 §2: the window before the reduction), and the loss
// marks go: what is still outstanding is in flight, not lost (RFC 4015
// §2 step (3): resume with new data rather than go back N; Linux
// tcp_undo_cwnd_reduction clears the marks). It reports false if no
// episode is open.
func (c *Conn) undoLoss(frto bool) bool {
	q := c.tq
	if q == nil || !q.undo.valid {
		return false
	}
	u := &q.undo
	u.valid = false
	c.cubic = u.cubic
	c.flags &^= fInRecovery
	c.rack.flags &^= rkFRTO | rkFRTONew
	c.dupAcks = 0
	c.recover = c.sndUna // back to the open state: a new loss may start a new recovery
	q.clearLost()
	if u.rto {
		c.layer.stats.TCPSpuriousRTOs.Add(1)
		c.layer.stats.TCPLossUndo.Add(1)
	} else {
		c.layer.stats.TCPFullUndo.Add(1)
		c.ic.reordSeen = sat16(c.ic.reordSeen)
		if c.reordering < maxReordering {
			c.reordering++ // reordering, not loss, set it off
		}
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

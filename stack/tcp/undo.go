package tcp

// Spurious retransmission detection with timestamps (the Eifel detection
// algorithm, RFC 3522) and the undo of the congestion response (RFC 4015's
// Eifel response, as Linux's tcp_try_undo_recovery / tcp_try_undo_loss).
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
	reno  newReno      // congestion state before the reduction
	cubic cubic
}

// startUndo opens a loss episode before the congestion response, when
// timestamps are in use and no episode is open.
func (c *Conn) startUndo(now clock.Time, rto bool) {
	q := c.tq
	if c.flags&fTS == 0 || q == nil || q.undo.valid {
		return
	}
	q.undo = undoState{valid: true, rto: rto, ts: c.tsVal(now), una: c.sndUna, reno: c.reno, cubic: c.cubic}
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
	u.valid = false // only the first ACK for the retransmission decides
	if c.flags&fTS == 0 || !seg.Opts.HasTimestamp || seg.Opts.TSEcr == 0 ||
		int32(seg.Opts.TSEcr-u.ts) >= 0 {
		return false
	}
	// Spurious: restore the congestion state (RFC 4015 §2: the window
	// before the reduction; not the larger one as Linux, whose recovery
	// does not inflate cwnd as RFC 6582's does here), and take the loss
	// marks back: what is still outstanding is in flight, not lost (RFC
	// 4015 §2 step (3): resume with new data rather than go back N; Linux
	// tcp_undo_cwnd_reduction clears the marks).
	c.reno, c.cubic = u.reno, u.cubic
	c.flags &^= fInRecovery
	c.dupAcks = 0
	c.recover = ack // back to the open state: a new loss may start a new recovery
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

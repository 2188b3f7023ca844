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

// undoState is one loss episode's undo information.
type undoState struct {
	valid   bool         // an episode is open and not yet decided
	rto     bool         // the episode began with an RTO (else fast retransmit)
	ts      uint32       // TSval of the episode's first retransmission (RFC 3522 RetransmitTS)
	una     seqnum.Value // SND.UNA when the episode began: the retransmitted segment's sequence number
	reorder uint8        // DupThresh - 3: raised by each fast retransmission found spurious (<= maxReordering)
	reno    newReno      // congestion state before the reduction
	cubic   cubic
}

// startUndo opens a loss episode before the congestion response, when
// timestamps are in use and no episode is open.
func (c *Conn) startUndo(now clock.Time, rto bool) {
	if c.flags&fTS == 0 || c.undo.valid {
		return
	}
	c.undo = undoState{valid: true, rto: rto, ts: c.tsVal(now), una: c.sndUna, reno: c.reno, cubic: c.cubic, reorder: c.undo.reorder}
}

// checkUndo runs the Eifel detection on an ACK that advances SND.UNA to
// ack (before any other processing of it). It reports whether the
// retransmission was spurious and the congestion state was restored.
func (c *Conn) checkUndo(seg *Segment, ack seqnum.Value) bool {
	if !c.undo.valid || !c.undo.una.LessThan(ack) {
		return false
	}
	c.undo.valid = false // only the first ACK for the retransmission decides
	if c.flags&fTS == 0 || !seg.Opts.HasTimestamp || seg.Opts.TSEcr == 0 ||
		int32(seg.Opts.TSEcr-c.undo.ts) >= 0 {
		return false
	}
	// Spurious: restore the congestion state (RFC 4015 §2: the window
	// before the reduction; not the larger one as Linux, whose recovery
	// does not inflate cwnd as RFC 6582's does here).
	c.reno, c.cubic = c.undo.reno, c.undo.cubic
	c.flags &^= fInRecovery
	c.dupAcks = 0
	c.rtxNext = ack
	c.recover = ack // back to the open state: a new loss may start a new recovery
	if c.undo.rto {
		// RFC 4015 §2 step (3): resume with new data rather than go back
		// N (Linux never rewinds snd_nxt and clears the loss marks).
		c.sndNxt = c.sndMax
		c.layer.stats.TCPSpuriousRTOs.Add(1)
		c.layer.stats.TCPLossUndo.Add(1)
	} else {
		c.layer.stats.TCPFullUndo.Add(1)
		c.ic.reordSeen = sat16(c.ic.reordSeen)
		if c.undo.reorder < maxReordering {
			c.undo.reorder++ // reordering, not loss, set it off
		}
	}
	return true
}

// lostRetransmit reports whether the retransmission of the segment at
// SND.UNA was lost: the peer still lacks it but SACKed more than
// (DupThresh-1) segments of data first sent after it (what RFC 6675's
// IsLost says of an original transmission, applied to the retransmission;
// Linux's lost-retransmit detection before RACK, tcp_mark_lost_retrans,
// compared with the SND.NXT of the retransmission the same way). Without
// it a lost retransmission waits for the RTO.
func (c *Conn) lostRetransmit(seg *Segment) bool {
	if c.flags&fHeadRtx == 0 || c.sb.n == 0 {
		return false
	}
	hi := c.sb.high()
	return c.headRtxMax.LessThan(hi) && int(hi.Sub(c.headRtxMax)) > 2*c.effMSS()
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

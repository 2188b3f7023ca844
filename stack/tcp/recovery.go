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
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// maxReordering bounds the extra DupThresh.
const maxReordering = 12

// dupThresh is DupThresh: 3 (RFC 5681), raised by one for each fast
// retransmission found spurious, up to maxReordering, as Linux raises
// tp->reordering when it sees reordering (tcp_check_sack_reordering,
// tcp_undo_cwnd_reduction); but never above half the segments in
// flight, so a small window still recovers without a timeout.
func (c *Conn) dupThresh() int {
	d := 3 + int(c.reordering)
	if half := c.flight() / (2 * max(c.mss, 1)); d > half {
		d = max(3, half)
	}
	return d
}

// takeSACK marks the records the SACK blocks of an ACK cover (only blocks
// within (SND.UNA, SND.NXT]; RFC 2018 §8 treats others as invalid) and
// returns the bytes newly SACKed.
func (c *Conn) takeSACK(seg *Segment) int {
	n := seg.Opts.NumSACK
	if n > wire.MaxSACKBlocks {
		n = wire.MaxSACKBlocks
	}
	if c.isDSACK(seg) {
		c.layer.stats.TCPDSACKRecv.Add(1) // RFC 2883: accepted, counted, marks nothing
		c.ic.dsackDups = sat16(c.ic.dsackDups)
	}
	q := c.tq
	if q == nil || q.n == 0 {
		return 0
	}
	before := q.sacked
	for i := 0; i < n; i++ {
		l, r := seqnum.Value(seg.Opts.SACK[i].Left), seqnum.Value(seg.Opts.SACK[i].Right)
		if !l.LessThan(r) || !c.sndUna.LessThan(r) || c.sndNxt.LessThan(r) {
			continue // includes D-SACK blocks below SND.UNA (RFC 2883)
		}
		if l.LessThan(c.sndUna) {
			l = c.sndUna
		}
		q.sack(l, r, nil)
	}
	return q.sacked - before
}

// onAckRecovery runs after an ACK updated SND.UNA and the scoreboard:
// acked bytes were cumulatively acknowledged, sacked newly SACKed. It
// marks losses, enters or leaves fast recovery, and sets cwnd: by the
// congestion controller outside recovery, by PRR inside.
func (c *Conn) onAckRecovery(now clock.Time, acked, sacked int) {
	delivered := acked + sacked
	if c.flags&fSackOK == 0 && acked == 0 {
		delivered = c.mss // a duplicate ACK: one segment left the network (RFC 6937 §3)
	}
	if c.flags&fInRecovery != 0 && c.recover.LessThanEq(c.sndUna) {
		c.exitRecovery()
	}
	c.detectLoss(acked)
	if c.flags&fInRecovery == 0 {
		if c.tq != nil && c.tq.lost > 0 && c.recover.LessThanEq(c.sndUna) {
			c.enterRecovery(now)
		} else {
			if acked > 0 {
				c.cc.onAck(now, acked, c.mss, c.rtt.srtt)
			}
			return
		}
	}
	c.prrUpdate(delivered)
}

// detectLoss marks the records the duplicate-ACK rules find lost: RFC
// 6675 IsLost with SACK; without it the head after DupThresh duplicate
// ACKs (RFC 5681 §3.2) and, in recovery, after each partial ACK (RFC
// 6582 §3.2 step 3).
func (c *Conn) detectLoss(acked int) {
	q := c.tq
	if q == nil || q.n == 0 {
		return
	}
	if c.flags&fSackOK == 0 {
		if c.dupAcks >= c.dupThresh() || (c.flags&fInRecovery != 0 && acked > 0) {
			if s := q.at(0); s.mark&sbLost == 0 {
				q.setMark(s, sbLost)
			}
		}
		return
	}
	c.markLostDupThresh()
}

// markLostDupThresh is RFC 6675 §4's IsLost applied to every record not
// SACKed: lost when DupThresh discontiguous SACKed ranges, or more than
// (DupThresh-1)*SMSS SACKed bytes, lie above it. A record whose
// retransmission is in flight is lost again when that much was SACKed of
// data first sent after the retransmission (what IsLost says of an
// original transmission, applied to the retransmission, as Linux's
// tcp_mark_lost_retrans did before RACK).
func (c *Conn) markLostDupThresh() {
	q := c.tq
	if q.sacked == 0 {
		return
	}
	d := c.dupThresh()
	lim := (d - 1) * c.effMSS()
	bytes, runs, inRun := 0, 0, false
	for i := q.n - 1; i >= 0; i-- {
		s := q.at(i)
		if s.mark&sbSacked != 0 {
			bytes += int(s.len)
			if !inRun {
				runs++
			}
			inRun = true
			continue
		}
		inRun = false
		if bytes == 0 || (runs < d && bytes <= lim) {
			continue
		}
		switch {
		case s.mark&sbLost == 0:
			q.setMark(s, sbLost)
		case s.mark&sbRetrans != 0 && q.sackedFrom(s.nxt) > lim:
			c.layer.stats.TCPLostRetransmit.Add(1)
			q.clearMark(s, sbRetrans) // owed another retransmission
		}
	}
}

// sackedFrom returns the SACKed bytes in records at or above seq.
func (q *txQueue) sackedFrom(seq seqnum.Value) int {
	n := 0
	for i := q.n - 1; i >= 0; i-- {
		s := q.at(i)
		if s.seq.LessThan(seq) {
			break
		}
		if s.mark&sbSacked != 0 {
			n += int(s.len)
		}
	}
	return n
}

// enterRecovery starts fast recovery (RFC 6675 §5 step 4, RFC 6582 §3.2
// step 2): the controller sets ssthresh, PRR starts from the flight.
func (c *Conn) enterRecovery(now clock.Time) {
	l := c.layer
	c.startUndo(now, false)
	c.flags |= fInRecovery
	c.recover = c.sndNxt
	q := c.tq
	q.prrDelivered, q.prrOut, q.recoverFS = 0, 0, c.flight()
	c.cc.onLoss(now, c.flight(), c.mss)
	if c.flags&fSackOK != 0 {
		l.stats.TCPSackRecovery.Add(1)
	} else {
		l.stats.TCPRenoRecovery.Add(1)
	}
}

// exitRecovery ends fast recovery at a full ACK: cwnd = ssthresh (RFC
// 6937 §3 step "on exiting recovery", RFC 6582 §3.2 step 3).
func (c *Conn) exitRecovery() {
	c.flags &^= fInRecovery
	c.cc.setWindow(c.cc.ssthreshBytes())
}

// prrUpdate is RFC 6937 §3 on an ACK in recovery: cwnd becomes pipe plus
// what PRR lets out for the delivered bytes: proportionally to ssthresh /
// RecoverFS while pipe is above ssthresh, else up to ssthresh with the
// slow-start reduction bound (PRR-SSRB). At least the first
// retransmission goes out at once (Linux tcp_cwnd_reduction).
func (c *Conn) prrUpdate(delivered int) {
	q := c.tq
	q.prrDelivered += delivered
	pipe := c.pipe()
	ss := c.cc.ssthreshBytes()
	var sndcnt int
	if pipe > ss {
		fs := max(q.recoverFS, 1)
		sndcnt = (q.prrDelivered*ss+fs-1)/fs - q.prrOut
	} else {
		sndcnt = min(ss-pipe, max(q.prrDelivered-q.prrOut, delivered)+c.mss)
	}
	sndcnt = max(sndcnt, 0)
	if q.prrOut == 0 && sndcnt < c.mss && q.lost > q.retrans {
		sndcnt = c.mss
	}
	c.cc.setWindow(pipe + sndcnt)
}

// onTransmit does the per-segment bookkeeping of recovery: PRR's
// prr_out and Linux's TCPFastRetrans.
func (c *Conn) onTransmit(n int, rtx bool) {
	if c.flags&fInRecovery == 0 {
		return
	}
	c.tq.prrOut += n
	if rtx {
		c.layer.stats.TCPFastRetrans.Add(1)
	}
}

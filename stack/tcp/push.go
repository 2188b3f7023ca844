package tcp

// PSH placement, as Linux sets it (tcp_mark_push, tcp_push). Linux cuts
// what send() queues into skbs of tcp_xmit_size_goal bytes and, unless the
// call had MSG_MORE, marks each skb of the call with PSH and the last one
// at its end (pushed_seq = write_seq); a later call that appends to an
// unsent, not yet full skb takes that skb's mark over. A segment cut from
// an skb carries PSH only if it holds the skb's end (tcp_fragment keeps
// PSH on the second part). Measured on Linux 6.18 with packetdrill
// (conformance/: slow_start/, eor/, nagle/https_client): the size goal of
// a connection at the rates those scripts run at is tcp_min_tso_segs, two
// segments; xdptcp, which has no TSO, uses that grid. An skb that the
// congestion window lets go whole leaves as one TSO packet with its PSH;
// one that leaves in parts (one segment per ACK in recovery, a tail loss
// probe) has PSH only on its last part, if that part holds the write's
// end (prr-ss-10pkt-lost-1).
//
// The connection keeps two sequence numbers instead of skbs: pushSeq, the
// end of the last write that was not MSG_MORE, and pushGrid, where the
// current grid of chunks starts (the send queue's end when a write found
// nothing unsent: Linux starts a new skb there). New data [seq, end) gets
// PSH when pushSeq lies in (seq, end], or a grid point does whose chunk
// was sent whole in the current transmission round (burstSeq). The
// write's mark is kept in the segment's scoreboard record (sbPsh), so a
// retransmission carries it again. A retransmission also carries the PSH
// of a grid chunk it completes when the whole chunk went again in this
// round, as new data does (sack-route-refresh-ip-tos: 17521:20441 again
// with PSH).

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// tsoMinSegs is Linux's tcp_min_tso_segs default: the fewest segments in
// the skbs tcp_sendmsg builds (tcp_tso_autosize).
const tsoMinSegs = 2

// pushChunk is the grid step: tsoMinSegs segments of the current MSS
// without SACK blocks (Linux tcp_current_mss, bound to half the window).
func (c *Conn) pushChunk() uint32 {
	n := c.mss
	if c.flags&fTS != 0 {
		n -= 12
	}
	return uint32(tsoMinSegs * max(min(n, c.halfWindow()), 1))
}

// markWrite records a write of n bytes at the end of the send queue,
// before they are added: more is MSG_MORE (no PSH mark at its end).
func (c *Conn) markWrite(n int, more bool) {
	end := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	if !c.sndNxt.LessThan(end) || c.tailIsRecordEnd(end) {
		c.pushGrid = end // nothing unsent, or after a MSG_EOR record: a new skb starts here
	} else if c.pushGrid.LessThan(c.sndBufSeq) {
		// Keep the origin within 2^31 of the queue (wrap-safe), on
		// the same grid.
		g := c.pushChunk()
		c.pushGrid = c.pushGrid.Add(seqnum.Size(c.sndBufSeq.Sub(c.pushGrid) / seqnum.Size(g) * seqnum.Size(g)))
	}
	if !more {
		c.pushSeq = end.Add(seqnum.Size(n))
	} else if c.pushSeq.LessThan(c.sndBufSeq) {
		c.pushSeq = c.sndBufSeq // acknowledged: no mark left in the queue
	}
}

// pushAt reports whether new data [seq, end) carries PSH, and whether
// the PSH is the write's mark, kept for retransmissions (sbPsh): Linux
// stores tcp_push's mark in the skb, while a whole skb's PSH on the wire
// is not repeated when it is retransmitted in parts or after SACK
// processing cut it (sack-shift-sacked-2-6-8-3-9-nofack,
// prr-ss-ack-below-snd_una-cubic).
func (c *Conn) pushAt(seq, end seqnum.Value) (psh, mark bool) {
	if _, p := c.atRecordEnd(end); p {
		return true, true // a MSG_EOR record's end: its skb got tcp_push's mark
	}
	if c.pushSeq.LessThanEq(end) {
		mark = seq.LessThan(c.pushSeq) // the write's end (tcp_push's mark), if in (seq, end]
		return mark, mark
	}
	if !c.pushGrid.LessThanEq(seq) {
		return false, false
	}
	// A full skb's end in (seq, end], the skb sent whole in this round.
	g := c.pushChunk()
	k := uint32(end.Sub(c.pushGrid)) / g
	if k == 0 || k == uint32(seq.Sub(c.pushGrid))/g {
		return false, false
	}
	start := c.pushGrid.Add(seqnum.Size((k - 1) * g))
	return c.burstSeq.LessThanEq(start), false
}

// rtxPushAt reports whether the retransmission of record i, sent now,
// carries PSH: the write's mark, or the end of a grid chunk all of which
// went again in this round (at now), as new data carries a chunk's PSH
// when the chunk leaves whole. A chunk partly acknowledged or SACKed, or
// retransmitted in parts, does not repeat it (prr-ss-30pkt-lost-1_4-11_16:
// 1001:2001 again without PSH after 1:1001 was acknowledged).
func (c *Conn) rtxPushAt(now clock.Time, q *txQueue, i int) bool {
	r := q.at(i)
	if r.mark&sbPsh != 0 {
		return true
	}
	g := c.pushChunk()
	end := r.end()
	if int32(end.Sub(c.pushGrid))%int32(g) != 0 {
		return false // not a grid point (on either side of the grid's origin)
	}
	start := end.Add(-seqnum.Size(g))
	if start.LessThan(c.sndUna) || r.seq.LessThan(start) {
		return false
	}
	for j := i - 1; j >= 0; j-- {
		p := q.at(j)
		if p.end().LessThanEq(start) {
			break
		}
		if p.mark&sbEverRetrans == 0 || p.sentAt != now {
			return false // not all of the chunk went again in this round
		}
	}
	return true
}

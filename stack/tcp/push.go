package tcp

// PSH placement, as Linux sets it (tcp_mark_push, tcp_push, forced_push).
// Linux cuts what send() queues into skbs of tcp_xmit_size_goal bytes
// (sndbuf.go: sizeGoal, the skbs the send buffer is charged for) and marks
// an skb with PSH in two places: tcp_push at the end of a call without
// MSG_MORE (pushed_seq = write_seq), and inside the copy loop, each time an
// skb fills while more of the call remains and the queue has grown by
// more than half the largest window the peer offered since the last mark
// (forced_push: write_seq > pushed_seq + max_window/2). A later call that
// appends to an unsent, not yet full skb takes that skb's mark over. The
// marks are in the skbs, so a retransmission carries them again.
//
// Where the skbs are is sndbuf.go's bookkeeping: skbSeq, where the newest
// skb began, and size-goal skbs before it back to SND.NXT. Write checks
// forced_push on it as each skb fills and sends as Linux does then
// (skbFull: tcp_push_one, __tcp_push_pending_frames), and the marks it
// sets (forcedMarks, out of line in sendExt) are one arithmetic
// progression per write: with the size goal g at most half the window h
// and more than h - MSS, the next skb end past pushed_seq + h is always
// two skbs on. The one exception is a mark whose skb that push split: it
// moves with the rest of the skb, which the write fills up (moved).
//
// What is measured on Linux 6.18 with packetdrill (conformance/ and the
// experiments of the commit that added forced_push) and not derived from
// the code above:
//
//   - A segment cut at the peer window's right edge, the rest of its skb
//     held back, carries the skb's PSH: a TSO packet of 1460 + 1080 bytes
//     sent into a 4000-byte window ends with PSH when its skb (grown by
//     tcp_grow_skb from the next one) holds a forced mark (sender-sws,
//     peer-window-4k). pushAt gives PSH to a segment ending at the window's
//     edge when a mark lies between the start of the TSO packet Linux
//     would send (this round's packets are two segments each from where
//     it began) and the end of the skb the edge falls in.
//   - A connection at the rates the scripts run at sends every TSO packet
//     of tcp_min_tso_segs = 2 segments with PSH on its last segment, MSG_MORE
//     or not, at RTTs from 10 ms to 3 s with CUBIC (with BBR, only while
//     bbr_min_tso_segs is 2: pacing rate at least 1.2 Mbit/s). xdptcp, which
//     has no TSO, keeps that as a grid of two-segment chunks from where the
//     current transmission round began (burstSeq: Linux builds each packet
//     from the send head), or from pushGrid if that is later (the send
//     queue's end when a write found nothing unsent), and a chunk sent
//     whole in the round ends with PSH. One that leaves in parts (one segment
//     per ACK in recovery, a tail loss probe) has PSH only on its last part,
//     if that part holds a mark (prr-ss-10pkt-lost-1).
//
// New data [seq, end) gets PSH when a mark lies in (seq, end] (the write's
// end pushSeq, a forced mark, a MSG_EOR record end), by the window-edge
// rule, or at a grid point as above. The marks are kept in the segment's
// scoreboard record (sbPsh), so a retransmission carries them again; a
// whole skb's PSH on the wire is not repeated when it is retransmitted in
// parts or after SACK processing cut it. A retransmission also carries the
// PSH of a grid chunk it completes when the whole chunk went again in this
// round, as new data does (sack-route-refresh-ip-tos: 17521:20441 again
// with PSH).

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// tsoMinSegs is Linux's tcp_min_tso_segs default: the fewest segments in
// a TSO packet tcp_write_xmit sends (tcp_tso_autosize), and the grid's
// floor whatever the setting (Config.MinTSOSegs).
const tsoMinSegs = 2

// tsoMaxBytes is gso_max_size without BIG TCP (GSO_LEGACY_MAX_SIZE, 64
// KiB): the largest TSO packet Linux builds.
const tsoMaxBytes = 64 << 10

// pushChunk is the grid step: a TSO packet as Linux sizes it here,
// tsoSegs segments of the current MSS without SACK blocks (Linux
// tcp_current_mss, bound to half the window). multi reports whether the
// packet holds more than one segment: Linux's __tcp_transmit_skb forces
// PSH on GSO packets only (tcp_skb_pcount > 1), so a grid of one-segment
// packets, below a congestion window of four segments, marks nothing
// (cubic-rto-ss-ca-cwnd-bump: 2001:4001 and 4001:6001 at cwnd 2 and 3
// without PSH, 6001:8001 at cwnd 4 with it).
func (c *Conn) pushChunk() (bytes uint32, multi bool) {
	n := c.mss
	if c.flags&fTS != 0 {
		n -= 12
	}
	n = max(min(n, c.halfWindow()), 1)
	segs := c.tsoSegs(n)
	return uint32(segs * n), segs > 1
}

// tsoSegs is how many segments of n bytes the grid's chunk holds. Linux
// sizes a TSO packet at tcp_tso_autosize's millisecond of the rate it
// keeps in sk_pacing_rate (sk_pacing_shift 10) plus 64 KiB >> (min RTT /
// 512 µs) on a short path (tcp_tso_rtt_log 9), at most tsoMaxBytes and
// what half the peer's largest window holds (tcp_xmit_size_goal), and at
// most half the congestion window (tcp_cwnd_test). While half the window
// holds a whole autosized packet, packets of that size leave one after
// another and the chunk is their size: in a bulk transfer on a fast path
// 64 KiB, so a Linux receiver's GRO, which ends a merge at each PSH,
// merges as much as from a Linux sender (measured on veth, Linux 6.18:
// every 65,160-byte TSO packet of a 64 MiB transfer through a 7.4 MB
// window ends with PSH; xdptcp's two-segment grid had PSH on every
// second segment). Below that the congestion window cuts the packets,
// and the measured grid of tsoMinSegs segments stands for them, or of
// tcp_min_tso_segs segments when it is set higher, at most half the
// congestion window (tcp_cwnd_test: at cwnd 10 and tcp_min_tso_segs 10,
// Linux sends packets of 5 segments, each with PSH: slow-start-after-idle;
// below cwnd 4 halfcwnd is 1 and the packets are single segments).
//
// It runs for every segment sent, so what cannot change the answer is
// skipped: half a window of at most the floor, and the rate on
// a path under 512 µs, where the 64 KiB term alone fills the packet.
func (c *Conn) tsoSegs(n int) int {
	half := max(c.cc.window()/(2*n), 1) // = cwnd / n / 2, Linux's halfcwnd
	floor := min(max(c.layer.cfg.MinTSOSegs, tsoMinSegs), half)
	if !c.rtt.has || half <= floor {
		return floor
	}
	bytes := uint64(tsoMaxBytes)
	if r := uint64(c.minRTT()/time.Microsecond) >> 9; r > 0 {
		rate := c.pacingRate()
		if rate == 0 {
			rate = c.cwndRate()
		}
		bytes = rate >> 10
		if r < 32 {
			bytes += tsoMaxBytes >> r
		}
	}
	segs := min(int(min(bytes, tsoMaxBytes)), c.halfWindow()) / n
	if segs <= floor || segs > half {
		return floor
	}
	return segs
}

// forcedMarks are the PSH marks tcp_sendmsg's forced push put in the
// queue (Linux forced_push, tcp_mark_push inside the copy loop): at from,
// from+step, ..., n of them. A write adds to the progression; a mark off
// it (the size goal changed) starts a new one, and the older marks still
// unsent lose their PSH (xdptcp keeps one progression).
//
// moved is a mark off the progression: one that a push within the write
// found on the first unsent skb and split it (tso_fragment leaves PSH on
// the second part), so that the rest, the queue's tail again, took more
// of the write and the mark moved to its new end (holdsMoved while it
// does not).
type forcedMarks struct {
	from       seqnum.Value // first mark
	step       uint32       // distance between marks (two size goals); 0 while n <= 1
	n          uint32       // marks; 0: none
	moved      seqnum.Value // the moved mark, if holdsMoved
	holdsMoved bool
}

// last returns the newest forced mark; valid if n > 0.
func (f *forcedMarks) last() seqnum.Value {
	return f.from.Add(seqnum.Size(f.step * (f.n - 1)))
}

// add records a forced mark at x, the queue's end.
func (f *forcedMarks) add(x, una seqnum.Value) {
	if f.holdsMoved && f.moved.LessThan(una) {
		f.holdsMoved = false // acknowledged
	}
	switch {
	case f.n == 0 || f.last().LessThan(una):
		f.from, f.step, f.n = x, 0, 1
	case f.n == 1 && f.from.LessThan(x):
		f.step, f.n = uint32(x.Sub(f.from)), 2
	case x == f.last().Add(seqnum.Size(f.step)):
		f.n++
	default:
		f.from, f.step, f.n = x, 0, 1
	}
}

// in reports whether a forced mark lies in (lo, hi].
func (f *forcedMarks) in(lo, hi seqnum.Value) bool {
	if f.holdsMoved && lo.LessThan(f.moved) && f.moved.LessThanEq(hi) {
		return true
	}
	if f.n == 0 || !lo.LessThan(hi) || !lo.LessThan(f.last()) {
		return false
	}
	if lo.LessThan(f.from) {
		return f.from.LessThanEq(hi)
	}
	k := uint32(lo.Sub(f.from))/f.step + 1 // first mark past lo (step > 0: lo is at or past from, below the last)
	return f.from.Add(seqnum.Size(k * f.step)).LessThanEq(hi)
}

// pushedSeq is Linux's pushed_seq during a write that began with the
// write-end mark at before: the newer of it and the last forced mark.
func (c *Conn) pushedSeq(before seqnum.Value) seqnum.Value {
	if f := &c.ext().forced; f.n > 0 && before.LessThan(f.last()) {
		return f.last()
	}
	return before
}

// skbFull is tcp_sendmsg_locked's step when the skb at the queue's tail,
// tail bytes, fills and more of the write remains. Once the queue grew by more than
// half the largest window since the last mark (pushed, Linux pushed_seq:
// forced_push), the skb is marked (tcp_mark_push), the mark becomes
// pushed_seq and all that may go goes (__tcp_push_pending_frames,
// TCP_NAGLE_PUSH). Otherwise, if the skb is the first unsent one, one TSO
// packet of it goes (tcp_push_one). A push that sent part of the marked
// skb leaves the mark on the rest, which is the tail again: it reports
// moving, and the write moves the mark to the tail's end as it appends
// (cubic-rto-ss-ca-cwnd-bump: at cwnd 2 the skb filled at 19001 sends
// 3001:4001, takes 1000 bytes more and carries PSH at 20001, and the next
// forced marks are 36001 and 68001, from pushed_seq 19001).
func (c *Conn) skbFull(pushed seqnum.Value, tail int) (next seqnum.Value, moving bool) {
	end := c.dataEnd()
	start := end.Add(-seqnum.Size(tail)) // the tail skb's start (tailSkb)
	switch {
	case pushed.Add(seqnum.Size(c.maxSndWnd >> 1)).LessThan(end):
		f := &c.ext().forced
		f.add(end, c.sndUna)
		c.pushWithin(pushForce)
		if s := c.sentEnd(); start.LessThan(s) && s.LessThan(end) {
			// The push split the marked skb: the newest mark leaves
			// the progression and moves with the rest (an older moved
			// mark lay before it and has gone with its PSH).
			f.n--
			f.moved, f.holdsMoved = end, true
			return end, true
		}
		return end, false
	case !c.sentEnd().LessThan(c.skbSeq):
		c.pushWithin(pushOne)
	}
	return pushed, false
}

// markAt reports whether a PSH mark lies in (lo, hi]: the write's end
// (pushSeq) or a forced mark.
func (c *Conn) markAt(lo, hi seqnum.Value) bool {
	if lo.LessThan(c.pushSeq) && c.pushSeq.LessThanEq(hi) {
		return true
	}
	return c.sx != nil && c.sx.forced.in(lo, hi)
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
		g, _ := c.pushChunk()
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
	if c.sx != nil && c.sx.forced.in(seq, end) {
		return true, true // a forced push's mark
	}
	if c.pushSeq.LessThanEq(end) {
		mark = seq.LessThan(c.pushSeq) // the write's end (tcp_push's mark), if in (seq, end]
		return mark, mark
	}
	if end == c.sndUna.Add(seqnum.Size(c.sndWnd)) {
		// Cut at the window's edge: the skb's mark, if the TSO
		// packet Linux sends here (this round's two-segment packets
		// from where it began) or the rest of the skb holds one.
		lo := seq
		if c.burstSeq.LessThanEq(seq) {
			g, _ := c.pushChunk()
			lo = c.burstSeq.Add(seq.Sub(c.burstSeq) / seqnum.Size(g) * seqnum.Size(g))
		}
		if c.markAt(lo, c.skbEnd(end)) {
			return true, false
		}
	}
	origin := c.pushGrid
	if origin.LessThan(c.burstSeq) {
		origin = c.burstSeq
	}
	if !origin.LessThanEq(seq) {
		return false, false
	}
	// A chunk's end in (seq, end], the chunk sent whole in this round.
	g, multi := c.pushChunk()
	if !multi {
		return false, false
	}
	k := uint32(end.Sub(origin)) / g
	if k == 0 || k == uint32(seq.Sub(origin))/g {
		return false, false
	}
	start := origin.Add(seqnum.Size((k - 1) * g))
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
	g, multi := c.pushChunk()
	if !multi {
		return false
	}
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

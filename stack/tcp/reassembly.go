package tcp

// Out-of-order data (RFC 9293 §3.10.7.4 seventh: segments beyond RCV.NXT
// are held for later), kept as Linux keeps its out-of-order queue: up to
// the window we advertised, with no fixed bound on the number of ranges,
// adjacent and overlapping segments merged, and small segments coalesced
// into shared storage (Linux tcp_try_coalesce / tcp_collapse).
//
// The bytes themselves live in the receive queue's chunks (rcvq.go), at
// their place in sequence space: the byte with sequence number s sits at
// logical offset rcvBuf.Len() + (s - RCV.NXT) from the first unread byte.
// Every segment is therefore "collapsed" on arrival: small segments share
// a chunk, never a buffer each, and the memory a connection holds for
// received data is the chunks its bytes landed in (a page each, as Linux
// charges pages) plus the range table. The invariant holds because
// RCV.NXT and rcvBuf.Len() move together (in-order bytes are written at
// the queue's tail while out-of-order data is held) and the first unread
// byte moves by what the application consumes.
//
// The range table is bounded by the receive buffer: at most
// RecvBuffer()/oooRangeShare ranges (each 8 bytes, so the table is at
// most an eighth of the buffer, charged to tcp_mem with the chunks). When a new
// range would pass the bound the queue is pruned from its highest
// sequence number down, as Linux's tcp_prune_ofo_queue does: the data
// nearest RCV.NXT is the most valuable.

import (
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// oooRangeShare: one range per 64 bytes of receive buffer at most (2048
// ranges for the default 128 KiB, 524288 for the 32 MiB of tcp_rmem[2]).
const oooRangeShare = 64

// oooMinRanges is the range bound of the smallest buffers.
const oooMinRanges = 8

// sackRange is a received block [l, r).
type sackRange struct{ l, r seqnum.Value }

// oooQueue describes the out-of-order data held in the receive queue.
// Allocated by the first out-of-order segment (most connections never
// see one) and kept until the connection ends.
type oooQueue struct {
	r       []sackRange                      // held ranges: sorted, disjoint, non-adjacent, all above RCV.NXT
	recent  [wire.MaxSACKBlocks]seqnum.Value // a sequence number inside each range last reported, newest first (RFC 2018 §4)
	nRecent int                              // valid entries of recent
	fresh   int                              // leading entries of recent whose range changed since our last SACK option: each must reach the peer (<= nRecent)
	bytes   int                              // bytes held in r
	finAt   seqnum.Value                     // sequence number of a FIN that arrived out of order; valid if fin
	fin     bool                             // a FIN beyond RCV.NXT is held
}

// oooActive reports whether out-of-order data (or a FIN) is held.
func (c *Conn) oooActive() bool {
	return c.ooo != nil && (len(c.ooo.r) > 0 || c.ooo.fin)
}

// oooRanges returns the number of ranges held.
func (c *Conn) oooRanges() int {
	if c.ooo == nil {
		return 0
	}
	return len(c.ooo.r)
}

// oooBytes returns the out-of-order bytes held.
func (c *Conn) oooBytes() int {
	if c.ooo == nil {
		return 0
	}
	return c.ooo.bytes
}

// oooMaxRanges is the bound on the range table for the current buffer.
func (c *Conn) oooMaxRanges() int { return max(c.RecvBuffer()/oooRangeShare, oooMinRanges) }

// oooTop returns the end of the highest range held (RCV.NXT if none).
func (c *Conn) oooTop() seqnum.Value {
	if c.ooo == nil || len(c.ooo.r) == 0 {
		return c.rcvNxt
	}
	return c.ooo.r[len(c.ooo.r)-1].r
}

// oooInsert holds the segment [seq, seq+len(p)) (and a FIN after it)
// that arrived beyond RCV.NXT, within the advertised window. It counts
// TCPOFOQueue for a segment held, TCPOFOMerge when it overlapped data
// already held (then a D-SACK reports the overlap, RFC 2883 §4), and
// TCPOFODrop when there was no room.
func (c *Conn) oooInsert(seq seqnum.Value, p []byte, fin bool) {
	l := c.layer
	if c.ooo == nil {
		c.ooo = &oooQueue{}
	}
	q := c.ooo
	end := seq.Add(seqnum.Size(len(p)))
	if fin {
		if q.fin && q.finAt != end {
			fin = false // a second, different FIN: keep the first
		}
		if top := c.oooTop(); end.LessThan(top) {
			fin = false // a FIN below data already held is bogus
		}
	}
	if len(p) == 0 {
		if fin && !q.fin {
			q.fin, q.finAt = true, end
			l.stats.TCPOFOQueue.Add(1)
		}
		return
	}
	if q.fin && q.finAt.LessThan(end) {
		l.stats.TCPOFODrop.Add(1) // data beyond the peer's FIN
		return
	}
	// i: the first range that ends at or after seq (it may touch or
	// overlap the segment); j: the first range that starts after end.
	i := 0
	for i < len(q.r) && q.r[i].r.LessThan(seq) {
		i++
	}
	j := i
	for j < len(q.r) && q.r[j].l.LessThanEq(end) {
		j++
	}
	if i < len(q.r) && q.r[i].l.LessThanEq(seq) && end.LessThanEq(q.r[i].r) {
		// All of it is held already: a duplicate (Linux
		// tcp_data_queue_ofo: TCPOFOMerge, D-SACK, dropped).
		l.stats.TCPOFOMerge.Add(1)
		c.sackRoomFor(q.r[i].l, q.r[i].r, true)
		c.setDSACK(seq, end)
		q.markRecent(seq)
		if fin {
			q.fin, q.finAt = true, end
		}
		return
	}
	if j == i && len(q.r) >= c.oooMaxRanges() {
		// A new range over the bound: prune from the top first
		// (tcp_prune_ofo_queue); if the segment itself is the highest,
		// it is the one dropped.
		l.stats.PruneCalled.Add(1)
		if q.r[len(q.r)-1].r.LessThan(seq) {
			l.stats.TCPOFODrop.Add(1)
			return
		}
		for len(q.r) >= c.oooMaxRanges() {
			c.oooDropTop()
		}
		c.rcvTrim()
		l.stats.OfoPruned.Add(1)
	}
	// The segment at its place; the chunks and a longer range table may
	// be refused (tcp_mem).
	if j == i && len(q.r) == cap(q.r) && !c.growRanges() ||
		!c.rcvStore(c.rcvBuf.Len()+int(seq.Sub(c.rcvNxt)), p, false) {
		l.stats.PruneCalled.Add(1)
		l.stats.RcvPruned.Add(1)
		l.stats.TCPOFODrop.Add(1)
		return
	}
	nl, nr := seq, end
	if j > i {
		nl = seqnum.Min(nl, q.r[i].l)
		nr = seqnum.Max(nr, q.r[j-1].r)
	}
	if j > i {
		// Overlapping or touching held data: merged into one range.
		ol, or := seqnum.Max(seq, q.r[i].l), seqnum.Min(end, q.r[i].r)
		c.sackRoomFor(nl, nr, ol.LessThan(or))
		if ol.LessThan(or) {
			l.stats.TCPOFOMerge.Add(1)
			c.setDSACK(ol, or)
		}
	} else {
		c.sackRoomFor(nl, nr, false)
	}
	l.stats.TCPOFOQueue.Add(1)
	c.ic.oooPack++
	if j > i {
		for k := i; k < j; k++ {
			q.bytes -= int(q.r[k].r.Sub(q.r[k].l))
		}
		q.r[i] = sackRange{nl, nr}
		q.r = append(q.r[:i+1], q.r[j:]...)
	} else {
		q.r = append(q.r, sackRange{})
		copy(q.r[i+1:], q.r[i:])
		q.r[i] = sackRange{nl, nr}
	}
	q.bytes += int(nr.Sub(nl))
	q.markRecent(seq)
	if fin {
		q.fin, q.finAt = true, end
	}
	if c.handler != nil && c.flags&fOrphan == 0 {
		// Linux tcp_data_queue_ofo: the buffer makes room for what the
		// data held out of order spans (not for a connection not yet
		// accepted, or orphaned).
		c.rcvBufGrow(int(c.rcvSpace))
	}
}

// growRanges doubles the range table's capacity, up to the bound, with
// the memory charged to tcp_mem. It reports false when refused.
func (c *Conn) growRanges() bool {
	q := c.ooo
	n := min(max(2*cap(q.r), oooMinRanges), c.oooMaxRanges())
	if n <= cap(q.r) {
		return false
	}
	l := c.layer
	if !l.charge(8*(n-cap(q.r)), false) {
		return false
	}
	nr := make([]sackRange, len(q.r), n)
	copy(nr, q.r)
	q.r = nr
	return true
}

// oooDropTop drops the highest range held (and a FIN after it).
func (c *Conn) oooDropTop() {
	q := c.ooo
	last := q.r[len(q.r)-1]
	q.bytes -= int(last.r.Sub(last.l))
	q.r = q.r[:len(q.r)-1]
	if q.fin && last.l.LessThan(q.finAt) {
		q.fin = false
	}
}

// oooPrune drops every out-of-order range (Linux tcp_prune_ofo_queue
// under memory pressure), giving back the chunks only they held. It reports whether anything was dropped.
func (c *Conn) oooPrune() bool {
	if !c.oooActive() {
		return false
	}
	q := c.ooo
	q.r = q.r[:0]
	q.bytes, q.fin, q.nRecent, q.fresh = 0, false, 0, 0
	c.layer.stats.OfoPruned.Add(1)
	c.releaseRcvBuf()
	c.rcvTrim()
	return true
}

// oooDrain takes the ranges that RCV.NXT reached: their bytes already sit
// at the receive queue's tail, so they join the in-order data. It reports whether
// the peer's FIN became in order.
func (c *Conn) oooDrain() bool {
	q := c.ooo
	if q == nil {
		return false
	}
	k := 0
	for k < len(q.r) && q.r[k].l.LessThanEq(c.rcvNxt) {
		x := q.r[k]
		q.bytes -= int(x.r.Sub(x.l))
		if c.rcvNxt.LessThan(x.r) {
			n := int(x.r.Sub(c.rcvNxt))
			c.rcvBuf.n += n
			c.rcvNxtUpdate(n)
		}
		k++
	}
	if k > 0 {
		q.r = append(q.r[:0], q.r[k:]...)
		// Forget reported blocks now below RCV.NXT (Linux tcp_sack_remove).
		m, fresh := 0, 0
		for i := 0; i < q.nRecent; i++ {
			if c.rcvNxt.LessThan(q.recent[i]) {
				q.recent[m] = q.recent[i]
				m++
				if i < q.fresh {
					fresh++
				}
			}
		}
		q.fresh = fresh
		q.nRecent = m
	}
	if q.fin && q.finAt == c.rcvNxt && len(q.r) == 0 {
		q.fin = false
		return true
	}
	return false
}

// markRecent records that the range holding seq was the latest to
// change: its block goes first in the next SACK option and the others
// keep their order of last report (RFC 2018 §4). Entries whose range is
// the same as seq's are removed. The entry is fresh (changed since our
// last SACK option) until an ACK carries it.
func (q *oooQueue) markRecent(seq seqnum.Value) {
	i := q.find(seq)
	if i < 0 {
		return
	}
	x := q.r[i]
	m, fresh := 0, 0
	for k := 0; k < q.nRecent; k++ {
		if v := q.recent[k]; !v.InRange(x.l, x.r) {
			q.recent[m] = v
			m++
			if k < q.fresh {
				fresh++
			}
		}
	}
	if m == len(q.recent) {
		m-- // the oldest reported block makes room
		fresh = min(fresh, m)
	}
	copy(q.recent[1:m+1], q.recent[:m])
	q.recent[0] = seq
	q.nRecent = m + 1
	q.fresh = fresh + 1
}

// sackRoomFor is called before a segment makes [l, r) the newest range
// (markRecent), dup when it also owes a D-SACK. If the next ACK's SACK
// option could then not carry every range that changed since our last
// one (3 blocks with timestamps, 4 without, one fewer with a D-SACK),
// the ACK owed so far goes now, describing what was held before this
// segment: a range whose news never reached the sender would have its
// segments marked lost and sent again (RACK, RFC 8985 §6.2), and their
// late cumulative ACK read as reordering. Linux's tcp_sack_new_ofo_skb
// likewise sends a compressed ACK before its table forgets a block
// (compack.go).
func (c *Conn) sackRoomFor(l, r seqnum.Value, dup bool) {
	q := c.ooo
	if c.flags&fSackOK == 0 || q.fresh == 0 {
		return
	}
	keep := 0
	for k := 0; k < q.fresh; k++ {
		if !q.recent[k].InRange(l, r) {
			keep++
		}
	}
	room := c.sackBlocksPerAck()
	if c.flags&fDSACK != 0 || dup && c.dsackOn() {
		room--
	}
	if keep+1 > room {
		c.sendHeldAck(c.layer.now)
	}
}

// sackBlocksPerAck is how many SACK blocks fit in our ACKs' options:
// three beside a timestamp, four without (RFC 2018 §3).
func (c *Conn) sackBlocksPerAck() int {
	if c.flags&fTS != 0 {
		return 3
	}
	return wire.MaxSACKBlocks
}

// find returns the index of the range holding seq, or -1.
func (q *oooQueue) find(seq seqnum.Value) int {
	lo, hi := 0, len(q.r)
	for lo < hi {
		m := (lo + hi) / 2
		if q.r[m].r.LessThanEq(seq) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(q.r) && q.r[lo].l.LessThanEq(seq) {
		return lo
	}
	return -1
}

// sackBlocks fills dst with up to max SACK blocks for an ACK: the D-SACK
// block first if one is owed (RFC 2883 §4), then the block holding the
// most recently received segment, then the others most recently reported
// first, then the remaining ranges from the lowest (RFC 2018 §4).
func (c *Conn) sackBlocks(dst *[wire.MaxSACKBlocks]sackRange, max int) int {
	n := 0
	if c.flags&fDSACK != 0 && n < max {
		dst[n] = c.dsack
		n++
	}
	q := c.ooo
	if q == nil {
		return n
	}
	dup := func(x sackRange, from int) bool {
		for k := from; k < n; k++ {
			if dst[k] == x {
				return true
			}
		}
		return false
	}
	first := n
	for k := 0; k < q.nRecent && n < max; k++ {
		i := q.find(q.recent[k])
		if i < 0 || dup(q.r[i], first) {
			continue
		}
		dst[n] = q.r[i]
		n++
	}
	for i := 0; i < len(q.r) && n < max; i++ {
		if !dup(q.r[i], first) {
			dst[n] = q.r[i]
			n++
		}
	}
	return n
}

// dsackOn reports whether our ACKs report duplicates in D-SACK blocks
// (RFC 2883): with SACK and tcp_dsack (Linux tcp_dsack_set and
// tcp_dsack_extend check both). Measured on Linux 6.18 with 0
// (xdptcp/dsack-off): old data and a held segment received again are
// ACKed at once without the block, TCPDSACKOldSent and TCPDSACKOfoSent
// stay 0.
func (c *Conn) dsackOn() bool { return c.flags&fSackOK != 0 && c.layer.cfg.DSACK }

// setDSACK records a duplicate [l, r) to report in the next ACK's first
// SACK block (RFC 2883 §4; Linux tcp_dsack_set), if SACK was negotiated,
// counted as TCPDSACKOldSent (below RCV.NXT) or TCPDSACKOfoSent.
func (c *Conn) setDSACK(l, r seqnum.Value) {
	if !c.dsackOn() || !l.LessThan(r) {
		return
	}
	if l.LessThan(c.rcvNxt) {
		c.layer.stats.TCPDSACKOldSent.Add(1)
	} else {
		c.layer.stats.TCPDSACKOfoSent.Add(1)
	}
	c.dsack = sackRange{l, r}
	c.flags |= fDSACK
}

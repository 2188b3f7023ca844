package tcp

// The sender's scoreboard (RFC 6675 §2-§4; Linux keeps the same facts as
// the per-skb "sacked" bits of its retransmission queue): one record per
// segment sent and not yet cumulatively acknowledged, each saying when it
// was last sent and whether the peer SACKed it, the sender believes it
// lost, or a retransmission of it is in flight. Every transmission goes
// through Conn.transmit, which records it here; loss detection (RACK,
// rack.go, or RFC 6675's DupThresh rule, recovery.go) marks records lost;
// the transmit loop (trySend) asks NextSeg what to send and pipe how much
// is in the network. Nothing else keeps a copy of these facts.

import (
	"math/bits"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Record marks.
const (
	sbSacked      uint8 = 1 << iota // the peer SACKed the whole record (RFC 2018)
	sbLost                          // believed lost: owed a retransmission (RFC 6675 IsLost, RACK)
	sbRetrans                       // a retransmission of it is in flight (sent after it was marked lost)
	sbEverRetrans                   // retransmitted at least once (Karn: no RTT sample; RACK filters)
	sbFin                           // the record ends with our FIN
	sbRated                         // the delivery-rate fields below were recorded at the latest transmission (ratesample.go)
	sbAppLimited                    // sent while the application limited the sender (the draft's P.is_app_limited)
	sbPsh                           // the record holds a write's PSH mark (push.go): its retransmission carries PSH
)

// txSeg is one segment of the send queue that was sent and is not yet
// cumulatively acknowledged: sequence space [seq, seq+len), len including
// the FIN.
type txSeg struct {
	seq    seqnum.Value // first sequence number
	len    uint32       // sequence space, > 0
	sentAt clock.Time   // time of the latest transmission (RACK's xmit_ts)
	nxt    seqnum.Value // SND.NXT right after the latest transmission
	mark   uint8        // sb* bits

	// Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation
	// §3.2, ratesample.go), valid with sbRated: the connection's
	// delivery state when this record was last sent.
	delivered   uint64     // P.delivered: C.delivered at the transmission
	deliveredAt clock.Time // P.delivered_time: C.delivered_time at the transmission
	firstTxAt   clock.Time // P.first_sent_time: C.first_sent_time at the transmission
}

func (s *txSeg) end() seqnum.Value { return s.seq.Add(seqnum.Size(s.len)) }

// txInitSegs is the records array a queue starts with; it doubles up to
// the connection's bound (maxTxSegs). A power of two, at least 64: every
// word of the index then covers 64 slots in ring order.
const txInitSegs = 64

// txQueue is the scoreboard: records sorted by sequence number, contiguous
// from SND.UNA to SND.NXT, in a ring. It is taken from the layer's pool
// when the first segment is sent and given back once everything is
// acknowledged, so an idle connection holds none. The byte counts are kept
// as the marks change: pipe is then a sum, not a walk.
type txQueue struct {
	segs    []txSeg // ring storage; len is a power of two
	head    int     // index of the record at SND.UNA
	n       int     // records held
	sacked  int     // bytes in records marked sbSacked
	lost    int     // bytes in records marked sbLost and not sbSacked
	retrans int     // bytes in records marked sbRetrans and not sbSacked

	// An index of the marks the scans pass by, one bit per ring slot:
	// sackBits while the record there is SACKed, owedBits while it is
	// lost, not SACKed and not being retransmitted (owed a
	// retransmission). RACK's scan steps over both and NextSeg looks for
	// the next owed record 64 slots at a time, as Linux's walks meet
	// neither (tcp_sacktag_walk takes a SACKed skb off the time-ordered
	// list tcp_rack_detect_loss walks; tcp_xmit_retransmit_queue starts
	// from its retransmit hint). Every mark change goes through setMark,
	// clearMark or reindex; slots outside the queue hold stale bits.
	sackBits, owedBits []uint64

	// PRR (RFC 9937, as Linux), valid in a cwnd reduction: fast
	// recovery or ECN's CWR.
	prrDelivered int // bytes delivered to the peer since the reduction began
	prrOut       int // bytes sent since the reduction began
	prrPrior     int // cwnd when the reduction began (Linux prior_cwnd); 0: nothing was in flight, no PRR

	undo undoState // the open loss episode (undo.go)
}

func (q *txQueue) at(i int) *txSeg { return &q.segs[(q.head+i)&(len(q.segs)-1)] }

// push appends a record for a segment sent for the first time.
func (q *txQueue) push(seq seqnum.Value, n uint32, now clock.Time, mark uint8) {
	if q.n == len(q.segs) {
		q.grow()
	}
	*q.at(q.n) = txSeg{seq: seq, len: n, sentAt: now, nxt: seq.Add(seqnum.Size(n)), mark: mark}
	q.reindex(q.n)
	q.n++
}

func (q *txQueue) grow() {
	segs := make([]txSeg, 2*max(len(q.segs), txInitSegs/2))
	for i := 0; i < q.n; i++ {
		segs[i] = *q.at(i)
	}
	q.segs, q.head = segs, 0
	q.sackBits, q.owedBits = make([]uint64, len(segs)/64), make([]uint64, len(segs)/64)
	for i := 0; i < q.n; i++ {
		q.reindex(i)
	}
}

// reindex writes record i's marks into the index.
func (q *txQueue) reindex(i int) {
	p := (q.head + i) & (len(q.segs) - 1)
	w, b := p>>6, uint64(1)<<(p&63)
	q.sackBits[w] &^= b
	q.owedBits[w] &^= b
	switch m := q.at(i).mark; {
	case m&sbSacked != 0:
		q.sackBits[w] |= b
	case m&(sbLost|sbRetrans) == sbLost:
		q.owedBits[w] |= b
	}
}

// Scans over the index: the first record from i on that is, for
// nextPending, neither SACKed nor owed a retransmission (what RACK
// looks at), for nextOwed, owed one and, for nextUnsacked, not SACKed;
// q.n if none.
func (q *txQueue) nextPending(i int) int  { return q.next(i, scanPending) }
func (q *txQueue) nextOwed(i int) int     { return q.next(i, scanOwed) }
func (q *txQueue) nextUnsacked(i int) int { return q.next(i, scanUnsacked) }

// What next looks for.
const (
	scanPending = iota
	scanOwed
	scanUnsacked
)

func (q *txQueue) next(i int, kind int) int {
	mask := len(q.segs) - 1
	for i < q.n {
		p := (q.head + i) & mask
		var w uint64
		switch kind {
		case scanOwed:
			w = q.owedBits[p>>6]
		case scanUnsacked:
			w = ^q.sackBits[p>>6]
		default:
			w = ^(q.owedBits[p>>6] | q.sackBits[p>>6])
		}
		// The bits of slots p to the end of p's word, which follow one
		// another in the ring (a word never straddles its wrap).
		if w >>= p & 63; w != 0 {
			return min(i+bits.TrailingZeros64(w), q.n)
		}
		i += 64 - p&63
	}
	return q.n
}

// split cuts record i after n bytes of sequence space (0 < n < len): the
// tail becomes record i+1 with the same marks and send time. Used to
// retransmit a record in smaller segments (the MSS shrank, or options
// grew) and for a SACK block that covers part of a record.
func (q *txQueue) split(i int, n uint32) {
	if q.n == len(q.segs) {
		q.grow()
	}
	for j := q.n; j > i+1; j-- {
		*q.at(j) = *q.at(j - 1)
	}
	q.n++
	a, b := q.at(i), q.at(i+1)
	*b = *a
	b.seq = a.seq.Add(seqnum.Size(n))
	b.len = a.len - n
	a.len = n
	a.mark &^= sbFin | sbPsh // Linux tcp_fragment: PSH and FIN stay on the second part
	for j := i + 1; j < q.n; j++ {
		q.reindex(j) // the records after i moved one slot on
	}
}

// find returns the index of the record holding seq, or -1.
func (q *txQueue) find(seq seqnum.Value) int {
	lo, hi := 0, q.n
	for lo < hi {
		m := (lo + hi) / 2
		s := q.at(m)
		switch {
		case seq.LessThan(s.seq):
			hi = m
		case !seq.LessThan(s.end()):
			lo = m + 1
		default:
			return m
		}
	}
	return -1
}

// setMark sets bits on record i, keeping the byte counts and the index.
func (q *txQueue) setMark(i int, bits uint8) { q.remark(i, bits, 0) }

// clearMark clears bits on record i, keeping the byte counts and the index.
func (q *txQueue) clearMark(i int, bits uint8) { q.remark(i, 0, bits) }

// remark clears then sets bits on record i, keeping the byte counts and
// the index.
func (q *txQueue) remark(i int, set, unset uint8) {
	s := q.at(i)
	q.count(s, -1)
	s.mark = s.mark&^unset | set
	q.count(s, 1)
	q.reindex(i)
}

// count adds (sign 1) or removes (sign -1) s's contribution to the counts.
func (q *txQueue) count(s *txSeg, sign int) {
	n := sign * int(s.len)
	switch {
	case s.mark&sbSacked != 0:
		q.sacked += n
	default:
		if s.mark&sbLost != 0 {
			q.lost += n
		}
		if s.mark&sbRetrans != 0 {
			q.retrans += n
		}
	}
}

// ackTo drops what a cumulative ACK of una covers (a record partly covered
// is trimmed) and calls fn for each record (or part) newly delivered, and
// sacked for each one SACKed before, in sequence order.
func (q *txQueue) ackTo(una seqnum.Value, fn, sacked func(s *txSeg)) {
	for q.n > 0 {
		s := q.at(0)
		if una.LessThanEq(s.seq) {
			return
		}
		if s.end().LessThanEq(una) {
			if s.mark&sbSacked == 0 && fn != nil {
				fn(s)
			} else if s.mark&sbSacked != 0 && sacked != nil {
				sacked(s)
			}
			q.count(s, -1)
			q.head = (q.head + 1) & (len(q.segs) - 1)
			q.n--
			continue
		}
		// Partly acknowledged: keep the rest.
		q.count(s, -1)
		d := uint32(una.Sub(s.seq))
		part := *s
		part.len = d
		if s.mark&sbSacked == 0 && fn != nil {
			fn(&part)
		} else if s.mark&sbSacked != 0 && sacked != nil {
			sacked(&part)
		}
		s.seq, s.len = una, s.len-d
		q.count(s, 1)
		return
	}
}

// sack marks the records [l, r) covers whole SACKed and calls fn for each
// one newly SACKed. A record the block covers only in part stays as it
// is: Linux's tcp_match_skb_to_sack SACKs a one-segment skb only whole (a
// larger one it cuts at MSS multiples, and every record here is one
// segment), so a block that ends or starts inside a segment (a receiver
// or middlebox that cut it) neither SACKs a piece of it nor lets RACK
// take the piece for a delivery of the whole (fr-4pkt-fack-last-byte: a
// SACK of the last byte alone starts no recovery).
func (q *txQueue) sack(l, r seqnum.Value, fn func(s *txSeg)) {
	i := q.find(l)
	if i < 0 {
		if q.n == 0 || !l.LessThan(q.at(0).seq) {
			return
		}
		i = 0
	}
	// Records SACKed already are stepped over by the index: an ACK
	// repeats its older blocks, and in recovery those cover most of the
	// flight (Linux skips them with its recv_sack_cache).
	for i = q.nextUnsacked(i); i < q.n; i = q.nextUnsacked(i + 1) {
		s := q.at(i)
		if r.LessThan(s.end()) {
			return
		}
		if s.seq.LessThan(l) {
			continue
		}
		q.setMark(i, sbSacked)
		if fn != nil {
			fn(s)
		}
	}
}

// highSacked returns the end of the highest SACKed record (RFC 6675
// HighACK's counterpart, "the highest SACKed sequence number"), or false.
func (q *txQueue) highSacked() (seqnum.Value, bool) {
	for i := q.n - 1; i >= 0; i-- {
		if s := q.at(i); s.mark&sbSacked != 0 {
			return s.end(), true
		}
	}
	return 0, false
}

// nextLost is RFC 6675 NextSeg (1): the first record marked lost, not
// SACKed, with no retransmission in flight; -1 if none.
func (q *txQueue) nextLost() int {
	if q.lost <= q.retrans {
		return -1 // every lost record is being retransmitted
	}
	if i := q.nextOwed(0); i < q.n {
		return i
	}
	return -1
}

// retransAbove reports whether a retransmission of data at or above seq
// is in flight (a record ending above seq marked sbRetrans, not SACKed).
func (q *txQueue) retransAbove(seq seqnum.Value) bool {
	for i := q.n - 1; i >= 0 && q.retrans > 0; i-- {
		s := q.at(i)
		if s.end().LessThanEq(seq) {
			break
		}
		if s.mark&(sbRetrans|sbSacked) == sbRetrans {
			return true
		}
	}
	return false
}

// markAllLost marks every record not SACKed lost and forgets in-flight
// retransmissions: after an RTO everything outstanding is presumed lost
// (RFC 6675 §5.1, Linux tcp_timeout_mark_lost), except the records
// other than the first that were sent after keep: they may still be on
// their way and are left as they are (Linux: "Don't mark recently sent
// ones lost yet", those sent within RACK's RTT; keep = never marks them
// all). With forgetSacks
// the SACK marks go too (the receiver may have reneged, RFC 2018 §8), and
// a run of SACKed records keeps its PSH marks on its last record only:
// Linux had merged the run into its first skb as the SACKs came
// (tcp_shift_skb_data, the flags or-ed together), and resending that skb
// in pieces from the front leaves PSH on the tail (tcp_fragment;
// measured: conformance/scripts/sack-reneging.pkt).
func (q *txQueue) markAllLost(forgetSacks bool, keep clock.Time) {
	unset := sbRetrans
	if forgetSacks {
		unset |= sbSacked
	}
	for i := 0; i < q.n; i++ {
		if i > 0 && q.at(i).sentAt > keep {
			continue
		}
		if s := q.at(i); forgetSacks && s.mark&(sbSacked|sbPsh) == sbSacked|sbPsh && i+1 < q.n && q.at(i+1).mark&sbSacked != 0 {
			s.mark &^= sbPsh
			q.at(i + 1).mark |= sbPsh
		}
		set := sbLost
		if q.at(i).mark&^unset&sbSacked != 0 {
			set = 0 // stays SACKed
		}
		q.remark(i, set, unset)
	}
}

// clearLost takes every lost mark back (a loss episode found spurious).
func (q *txQueue) clearLost() {
	for i := 0; i < q.n; i++ {
		s := q.at(i)
		if s.mark&(sbLost|sbRetrans) != 0 {
			q.clearMark(i, sbLost|sbRetrans)
		}
	}
}

// reset empties the queue, keeping its storage.
func (q *txQueue) reset() {
	segs, sackBits, owedBits := q.segs, q.sackBits, q.owedBits
	*q = txQueue{segs: segs, sackBits: sackBits, owedBits: owedBits}
}

// The connection's view of the scoreboard.

// pipe is RFC 6675's estimate of the bytes in the network (SetPipe): sent
// and not acknowledged, less what was SACKed or is believed lost, plus
// retransmissions in flight (Linux tcp_packets_in_flight, in bytes).
// Without SACK, each duplicate ACK counts one segment as delivered (RFC
// 6582's window inflation, Linux's "reno SACK" counting).
func (c *Conn) pipe() int {
	out := int(c.sndNxt.Sub(c.sndUna))
	q := c.tq
	if q == nil {
		return out
	}
	p := out - q.sacked - q.lost + q.retrans
	if c.flags&fSackOK == 0 {
		p -= min(int(c.dupAcks)*c.mss, out)
	}
	return max(p, 0)
}

// txq returns the scoreboard, taking one from the layer's pool if the
// connection holds none.
func (c *Conn) txq() *txQueue {
	if c.tq == nil {
		c.tq = c.layer.getTxQueue()
		if c.undoSaved() {
			c.tq.undo = *c.sx.undo // the episode released with the last scoreboard (releaseTxq)
			c.sx.undo.valid = false
		}
	}
	return c.tq
}

// undoSaved reports whether a loss episode outlived its scoreboard and
// waits out of line for the next one (releaseTxq).
func (c *Conn) undoSaved() bool {
	return c.sx != nil && c.sx.undo != nil && c.sx.undo.valid
}

// releaseTxq gives the scoreboard back once nothing is outstanding. A loss
// episode that still waits for the D-SACKs of its retransmissions
// outlives it: they come about a round trip after the retransmissions,
// often behind the ACK that acknowledged everything (reordered, or a
// round's ACKs each carrying one D-SACK), and Linux keeps undo_marker
// and undo_retrans until the next episode, so tcp_try_undo_dsack undoes
// the reduction whenever they come, on an ACK below SND.UNA too
// (nplab's undo-fr-ack-then-dsack-on-ack-below-snd_una). The episode is
// kept out of line (sendExt.undo) and goes back into the scoreboard the
// connection takes next (txq), or that an ACK with SACK blocks takes to
// look at them (inputAck).
func (c *Conn) releaseTxq() {
	q := c.tq
	if q == nil || q.n != 0 {
		return
	}
	if u := &q.undo; u.valid && u.retrans > 0 {
		sx := c.ext()
		if sx.undo == nil {
			sx.undo = new(undoState) // once per connection: reused for every later episode
		}
		*sx.undo = *u
	}
	if c.flags&fInCWR != 0 {
		c.endCwndReduction() // PRR's counts go with the scoreboard; nothing in flight is below ssthresh
	}
	c.layer.putTxQueue(q)
	c.tq = nil
}

// maxTxSegs bounds the records of one connection: twice the segments of a
// full send buffer (tcp_wmem[2]). A sender writing tiny segments stops at
// the bound until ACKs free records, as Linux's send buffer accounting
// counts each skb's overhead.
func (c *Conn) maxTxSegs() int {
	return max(txInitSegs, 2*c.layer.cfg.Wmem[2]/max(c.mss, 1))
}

// getTxQueue returns a scoreboard from the pool, or a new one.
func (l *Layer) getTxQueue() *txQueue {
	if n := len(l.txPool); n > 0 {
		q := l.txPool[n-1]
		l.txPool = l.txPool[:n-1]
		return q
	}
	return newTxQueue()
}

// newTxQueue returns an empty scoreboard with room for txInitSegs records.
func newTxQueue() *txQueue {
	return &txQueue{segs: make([]txSeg, txInitSegs), sackBits: make([]uint64, txInitSegs/64), owedBits: make([]uint64, txInitSegs/64)}
}

// putTxQueue returns a scoreboard to the pool (bounded; the rest is
// garbage).
func (l *Layer) putTxQueue(q *txQueue) {
	q.reset()
	if len(l.txPool) < maxTxPool {
		l.txPool = append(l.txPool, q)
	}
}

// maxTxPool bounds the layer's pool of idle scoreboards.
const maxTxPool = 256

package tcp

// The out-of-line part of a connection's send side: tcp.Conn has no free
// bytes (memory_test.go keeps it in the 896-byte size class), so what only
// some connections need lives here, allocated when first needed:
//
//   - MSG_EOR record ends (Linux 6.18 tcp_sendmsg_locked: a write with
//     MSG_EOR marks its last skb "eor", and tcp_skb_can_collapse_to then
//     starts a new skb for the next write; tcp_can_collapse and
//     tcp_skb_can_collapse keep retransmissions apart the same way). Here
//     the send queue is one byte ring, so a record end is a sequence number
//     that segment building never crosses: a new segment ends at the first
//     record end above SND.NXT (recordLimit). Once sent, the segment is a
//     scoreboard record, and retransmissions send records (or parts of
//     them) one at a time, never two together: the boundary holds there
//     without being kept.

import "github.com/xdptcp/xdptcp/stack/seqnum"

// sendExt is a connection's out-of-line send state; nil until the
// connection's first WriteEOR (ext).
type sendExt struct {
	eor recordEnds
}

// ext returns the connection's sendExt, allocating it (once per
// connection).
func (c *Conn) ext() *sendExt {
	if c.sx == nil {
		c.sx = &sendExt{}
	}
	return c.sx
}

// recordEnd is one MSG_EOR record end in the send queue.
type recordEnd struct {
	end seqnum.Value // sequence number after the record's last byte
	psh bool         // the write was not MSG_MORE: the segment ending here carries PSH
}

// recordEnds holds the record ends above SND.NXT, oldest first, in a ring
// that doubles up to the connection's bound (maxTxSegs: a record end is a
// segment to come).
type recordEnds struct {
	r    []recordEnd // ring storage; len is 0 or a power of two
	head int
	n    int
}

func (q *recordEnds) at(i int) *recordEnd { return &q.r[(q.head+i)&(len(q.r)-1)] }

// push appends a record end; false if the ring is at its bound.
func (q *recordEnds) push(e recordEnd, bound int) bool {
	if q.n == len(q.r) {
		if q.n >= bound {
			return false
		}
		r := make([]recordEnd, max(2*len(q.r), 8))
		for i := 0; i < q.n; i++ {
			r[i] = *q.at(i)
		}
		q.r, q.head = r, 0
	}
	*q.at(q.n) = e
	q.n++
	return true
}

// endsAt reports whether the last record end queued is seq.
func (q *recordEnds) endsAt(seq seqnum.Value) bool {
	return q.n > 0 && q.at(q.n-1).end == seq
}

// nextRecordEnd returns the first record end above SND.NXT, dropping
// those already sent; ok is false if there is none.
func (c *Conn) nextRecordEnd() (e recordEnd, ok bool) {
	if c.sx == nil {
		return recordEnd{}, false
	}
	q := &c.sx.eor
	for q.n > 0 {
		if e := *q.at(0); c.sndNxt.LessThan(e.end) {
			return e, true
		}
		q.head = (q.head + 1) & (len(q.r) - 1)
		q.n--
	}
	return recordEnd{}, false
}

// recordLimit bounds n, the length of a new segment at SND.NXT, to the
// next record end: a segment never carries the end of one MSG_EOR record
// and data after it.
func (c *Conn) recordLimit(n int) int {
	if e, ok := c.nextRecordEnd(); ok {
		return min(n, int(e.end.Sub(c.sndNxt)))
	}
	return n
}

// atRecordEnd reports whether new data ending at end ends a record, and
// whether that record's write asked for PSH.
func (c *Conn) atRecordEnd(end seqnum.Value) (ends, psh bool) {
	e, ok := c.nextRecordEnd()
	return ok && e.end == end, ok && e.end == end && e.psh
}

// tailIsRecordEnd reports whether the send queue's last byte ends a
// MSG_EOR record (the next write starts a new one).
func (c *Conn) tailIsRecordEnd(end seqnum.Value) bool {
	return c.sx != nil && c.sx.eor.endsAt(end)
}

// dropRecordEnds forgets the record ends (the connection is gone).
func (c *Conn) dropRecordEnds() {
	if c.sx != nil {
		c.sx.eor = recordEnds{}
	}
}

package tcp

import "github.com/xdptcp/xdptcp/stack/seqnum"

// maxOOOSegments bounds the out-of-order queue of one connection (its
// bytes are bounded by the receive window, which they count against).
const maxOOOSegments = 512

// oooSeg is one out-of-order segment held for reassembly.
type oooSeg struct {
	seq  seqnum.Value
	data []byte // copy of the payload; from the layer's pool when it fits
	fin  bool
}

// oooQueue holds out-of-order segments sorted by sequence number (RFC 9293
// §3.10.7.4 seventh: segments beyond RCV.NXT are held for later).
type oooQueue struct {
	segs  []oooSeg     // sorted by seq; segs[:n] are used
	n     int          // segments held
	bytes int          // payload bytes held (counts against the window)
	last  seqnum.Value // start of the most recently queued segment (first SACK block)
}

// insert copies a segment in, keeping the queue sorted; duplicates and
// segments over the bound are dropped (false).
func (q *oooQueue) insert(c *Conn, seq seqnum.Value, p []byte, fin bool) bool {
	if q.n >= maxOOOSegments {
		return false
	}
	i := 0
	for i < q.n && q.segs[i].seq.LessThan(seq) {
		i++
	}
	if i < q.n && q.segs[i].seq == seq && len(q.segs[i].data) >= len(p) {
		return false // duplicate
	}
	if q.segs == nil {
		q.segs = make([]oooSeg, 0, 8)
	}
	d := c.layer.getChunk(len(p))
	copy(d, p)
	q.segs = append(q.segs, oooSeg{})
	copy(q.segs[i+1:], q.segs[i:q.n])
	q.segs[i] = oooSeg{seq: seq, data: d, fin: fin}
	q.n++
	q.bytes += len(p)
	q.last = seq
	return true
}

// drain delivers the segments that became in order. It reports whether a
// FIN became in order.
func (q *oooQueue) drain(c *Conn, fin bool) bool {
	for q.n > 0 && !fin {
		s := q.segs[0]
		if c.rcvNxt.LessThan(s.seq) {
			break
		}
		q.pop(c)
		skip := int(c.rcvNxt.Sub(s.seq))
		end := s.seq.Add(seqnum.Size(len(s.data)))
		if skip <= len(s.data) && c.rcvNxt.LessThanEq(end) {
			if skip < len(s.data) {
				c.deliver(s.data[skip:])
			}
			fin = s.fin
		}
		c.layer.putChunk(s.data)
		if c.flags&fGone != 0 {
			return false
		}
	}
	return fin
}

func (q *oooQueue) pop(c *Conn) {
	q.bytes -= len(q.segs[0].data)
	copy(q.segs, q.segs[1:q.n])
	q.n--
	q.segs[q.n] = oooSeg{}
	q.segs = q.segs[:q.n]
}

// reset empties the queue.
func (q *oooQueue) reset() {
	*q = oooQueue{}
}

// sackBlocks fills up to max SACK blocks (RFC 2018 §4: the first block
// holds the most recent segment; here, in order) from the queue.
func (q *oooQueue) sackBlocks(dst *[4]sackRange, max int) int {
	n := 0
	for i := 0; i < q.n && n < max; i++ {
		s := q.segs[i]
		l, r := s.seq, s.seq.Add(seqnum.Size(len(s.data)))
		if n > 0 && dst[n-1].r.GreaterThanEq(l) {
			if dst[n-1].r.LessThan(r) {
				dst[n-1].r = r
			}
			continue
		}
		dst[n] = sackRange{l, r}
		n++
	}
	return n
}

// sackRange is a received block [l, r).
type sackRange struct{ l, r seqnum.Value }

package tcp

// The receive buffer as chunks of one page, as Linux holds received data
// in skbs whose memory it charges page by page (sk_rmem_alloc, truesize):
// the memory a connection holds for received data follows the bytes it
// holds, in order and out of order, not the highest sequence number it
// holds. The contiguous ring this replaced had to span everything from
// the first unread byte to the highest out-of-order one, so one byte at
// the window's far edge took a ring of the whole window (up to
// tcp_rmem[2]), and a ring was only given back once empty.
//
// Each byte keeps its place in sequence space (reassembly.go): the byte
// with sequence number s sits at logical offset Len() + (s - RCV.NXT)
// from the first unread byte. A chunk is taken from the layer's pool when
// the first byte lands in it and given back as soon as the application
// has read past it; the chunks of a hole that nothing landed in are never
// taken. tcp_mem counts every chunk and the list that holds them (mem.go).

import "unsafe"

// rcvChunk is the size of a receive chunk: a page.
const rcvChunk = memPage

// rcvListEntry is what a chunk list costs per entry.
const rcvListEntry = int(unsafe.Sizeof([]byte(nil)))

// recvQueue holds the bytes the application has not consumed and the
// out-of-order data beyond them. Chunk i holds positions [i*rcvChunk,
// (i+1)*rcvChunk); the first unread byte is at position head, so the
// byte at logical offset off is at position head+off. Chunks below
// head's are nil (given back), as are those of holes nothing landed in.
type recvQueue struct {
	chunks [][]byte
	head   int // position of the first unread byte
	n      int // in-order bytes held from head
}

// Len returns the number of in-order bytes held.
func (q *recvQueue) Len() int { return q.n }

// held returns the bytes of the pages the queue holds.
func (q *recvQueue) held() int {
	n := 0
	for _, ch := range q.chunks {
		n += len(ch)
	}
	return n
}

// front returns the in-order bytes held in the first unread byte's chunk
// (nil when none are held).
func (q *recvQueue) front() []byte {
	if q.n == 0 {
		return nil
	}
	k, in := q.head/rcvChunk, q.head%rcvChunk
	return q.chunks[k][in:min(in+q.n, rcvChunk)]
}

// rcvStore copies p to logical offset off (>= Len) of c's receive queue,
// taking the chunks it lands in that are not held yet. Unless must it
// stores nothing and reports false when tcp_mem refuses them.
func (c *Conn) rcvStore(off int, p []byte, must bool) bool {
	if len(p) == 0 {
		return true
	}
	l := c.layer
	q := &c.rcvBuf
	if end := (q.head+off+len(p)-1)/rcvChunk + 1; end > len(q.chunks) && !c.rcvList(end, must) {
		return false
	}
	at := q.head + off
	first, last := at/rcvChunk, (at+len(p)-1)/rcvChunk
	need := 0
	for k := first; k <= last; k++ {
		if q.chunks[k] == nil {
			need++
		}
	}
	if need > 0 {
		if !l.charge(need*rcvChunk, must) {
			c.rcvTrim() // the list as it was
			return false
		}
		for k := first; k <= last; k++ {
			if q.chunks[k] == nil {
				q.chunks[k] = l.rcvPool.get()
			}
		}
	}
	for len(p) > 0 {
		k := copy(q.chunks[at/rcvChunk][at%rcvChunk:], p)
		p = p[k:]
		at += k
	}
	return true
}

// rcvAppend adds p to the in-order bytes of c's receive queue (rcvStore
// at its tail), reporting false when tcp_mem refused it.
func (c *Conn) rcvAppend(p []byte, must bool) bool {
	if !c.rcvStore(c.rcvBuf.n, p, must) {
		return false
	}
	c.rcvBuf.n += len(p)
	return true
}

// rcvList makes c's chunk list end entries long (counted from the
// current list's start): the chunks already given back at its front make
// room first, then a longer list is taken from the layer's lists
// (sendq.go), its growth counted in tcp_mem: unless must, refused (false)
// above tcp_mem[2].
func (c *Conn) rcvList(end int, must bool) bool {
	l := c.layer
	q := &c.rcvBuf
	if end > cap(q.chunks) {
		if gone := q.head / rcvChunk; gone > 0 {
			q.chunks = dropChunks(q.chunks, gone)
			q.head -= gone * rcvChunk
			end -= gone
		}
	}
	if end > cap(q.chunks) {
		nl := l.takeList(end, cap(q.chunks))
		if !l.charge(rcvListEntry*(cap(nl)-cap(q.chunks)), must) {
			l.putChunkList(nl)
			return false
		}
		nl = append(nl, q.chunks...)
		if q.chunks != nil {
			l.putChunkList(q.chunks)
		}
		q.chunks = nl
	}
	q.chunks = q.chunks[:end] // entries past a list's length are nil
	return true
}

// rcvConsume drops the first n in-order bytes (the application read
// them), giving back the chunks it read past.
func (c *Conn) rcvConsume(n int) {
	q := &c.rcvBuf
	n = min(n, q.n)
	if n <= 0 {
		return
	}
	from := q.head / rcvChunk
	q.head += n
	q.n -= n
	l := c.layer
	for k := from; k < q.head/rcvChunk; k++ {
		l.freeBuf(q.chunks[k])
		q.chunks[k] = nil
	}
}

// rcvTrim gives back the chunks above the highest byte held, in order or
// out of order (after out-of-order data was pruned).
func (c *Conn) rcvTrim() {
	q := &c.rcvBuf
	end := q.head + q.n
	if c.ooo != nil && len(c.ooo.r) > 0 {
		end += int(c.oooTop().Sub(c.rcvNxt))
	}
	keep := (end + rcvChunk - 1) / rcvChunk
	l := c.layer
	for k := keep; k < len(q.chunks); k++ {
		l.freeBuf(q.chunks[k])
		q.chunks[k] = nil
	}
	if keep < len(q.chunks) {
		q.chunks = q.chunks[:keep]
	}
}

// freeRcvBuf gives back every chunk of c's receive queue and its list,
// dropping what it held.
func (c *Conn) freeRcvBuf() {
	q := &c.rcvBuf
	if q.chunks == nil {
		*q = recvQueue{}
		return
	}
	l := c.layer
	for _, ch := range q.chunks {
		l.freeBuf(ch)
	}
	l.uncharge(rcvListEntry * cap(q.chunks))
	l.putChunkList(q.chunks)
	*q = recvQueue{}
}

// releaseRcvBuf gives the receive queue back when it holds nothing, in
// order or out of order.
func (c *Conn) releaseRcvBuf() {
	if c.rcvBuf.n == 0 && c.rcvBuf.chunks != nil && !c.oooActive() {
		c.freeRcvBuf()
	}
}

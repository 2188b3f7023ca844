package tcp

// The send buffer as a queue of fixed-size chunks. Linux keeps what
// send() queued as skbs on the write queue, their data in page fragments:
// queuing more allocates more pages and never moves what is queued. The
// contiguous ring this replaced had to be reallocated at twice its size
// and copied whenever autotuning (tcp_sndbuf_expand) let the buffer grow:
// a BBR download through loss grows its buffer to megabytes in its first
// round trips, and each step allocated (and on this machine page-faulted)
// fresh megabytes and copied the queue, for up to 30 ms of CPU inside one
// transmit round. The poll loop sent nothing and read no ACK meanwhile,
// so the RTT and delivery-rate samples of STARTUP came out late and low.
// Chunks come from the layer's send pool (tcp_wmem[1] bytes, at least the
// MSS, so a segment spans at most two of them) and go back to it as the
// peer acknowledges them; the lists that hold them are pooled too, so a
// connection in steady state allocates nothing.

// sendQueue holds the bytes from SND.UNA on: the first at chunks[0][head],
// n in all, every chunk of the layer's send chunk size.
type sendQueue struct {
	chunks [][]byte
	head   int
	n      int
}

// Len returns the number of bytes held.
func (q *sendQueue) Len() int { return q.n }

// room returns the bytes that fit in the chunks held after the queued
// ones.
func (q *sendQueue) room() int {
	if len(q.chunks) == 0 {
		return 0
	}
	return len(q.chunks)*len(q.chunks[0]) - q.head - q.n
}

// write appends as much of p as the chunks held have room for and returns
// how many bytes it took.
func (q *sendQueue) write(p []byte) int {
	done := 0
	for done < len(p) && q.room() > 0 {
		size := len(q.chunks[0])
		at := q.head + q.n
		ch := q.chunks[at/size]
		k := copy(ch[at%size:], p[done:])
		q.n += k
		done += k
	}
	return done
}

// peek returns bytes [off, off+n) as up to two slices; n must not exceed
// the chunk size (a segment is at most an MSS) and off+n must be <= Len.
func (q *sendQueue) peek(off, n int) (a, b []byte) {
	if n <= 0 || off < 0 || off+n > q.n {
		return nil, nil
	}
	size := len(q.chunks[0])
	start := q.head + off
	ch, in := start/size, start%size
	if in+n <= size {
		return q.chunks[ch][in : in+n], nil
	}
	return q.chunks[ch][in:], q.chunks[ch+1][:in+n-size]
}

// growSendQueue makes room for n more bytes in c's send queue, taking
// chunks from the layer's pool. tcp_mem counts the chunks (mem.go); one
// is never refused (a Write is bounded by the send-buffer limit).
func (c *Conn) growSendQueue(n int) {
	l := c.layer
	q := &c.sndBuf
	for q.room() < n {
		if len(q.chunks) == cap(q.chunks) {
			q.chunks = l.chunkList(q.chunks, len(q.chunks)+1)
		}
		l.charge(l.sndPool.size, true)
		q.chunks = append(q.chunks, l.sndPool.get())
	}
}

// discardSent drops the first n bytes of c's send queue (acknowledged),
// giving the chunks they emptied back to the pool; an empty queue keeps
// nothing (idle connections hold no buffer).
func (c *Conn) discardSent(n int) {
	q := &c.sndBuf
	n = min(n, q.n)
	if n <= 0 {
		return
	}
	q.n -= n
	q.head += n
	size := len(q.chunks[0])
	if q.n == 0 {
		c.releaseSndBuf()
		return
	}
	if k := q.head / size; k > 0 {
		l := c.layer
		for _, ch := range q.chunks[:k] {
			l.freeBuf(ch)
		}
		q.chunks = dropChunks(q.chunks, k)
		q.head -= k * size
	}
}

// dropChunks removes the first k entries of a chunk list (their chunks
// already given back), keeping the rest in order at its front and the
// entries past them nil.
func dropChunks(list [][]byte, k int) [][]byte {
	m := copy(list, list[k:])
	clear(list[m:])
	return list[:m]
}

// releaseSndBuf gives every chunk of an empty send queue back, and its
// list.
func (c *Conn) releaseSndBuf() {
	q := &c.sndBuf
	if q.n != 0 || q.chunks == nil {
		return
	}
	l := c.layer
	for _, ch := range q.chunks {
		l.freeBuf(ch)
	}
	l.putChunkList(q.chunks)
	*q = sendQueue{}
}

// chunkLists bounds the chunk lists a layer keeps for reuse.
const chunkLists = 256

// chunkList returns a list with room for need chunks holding old's (old
// goes back to the pool): takeList's.
func (l *Layer) chunkList(old [][]byte, need int) [][]byte {
	nl := append(l.takeList(need, cap(old)), old...)
	if old != nil {
		l.putChunkList(old)
	}
	return nl
}

// takeList returns an empty list with room for need chunks: a pooled one
// if one is large enough, else a new one at twice oldCap (at least 4).
func (l *Layer) takeList(need, oldCap int) [][]byte {
	for i := len(l.lists) - 1; i >= 0; i-- {
		if nl := l.lists[i]; cap(nl) >= need {
			l.lists[i] = l.lists[len(l.lists)-1]
			l.lists[len(l.lists)-1] = nil
			l.lists = l.lists[:len(l.lists)-1]
			return nl
		}
	}
	return make([][]byte, 0, max(need, 2*oldCap, 4))
}

// putChunkList keeps an emptied list for reuse, up to chunkLists of them.
func (l *Layer) putChunkList(list [][]byte) {
	clear(list[:cap(list)])
	if len(l.lists) < chunkLists {
		l.lists = append(l.lists, list[:0])
	}
}

package tcp

// ring is a byte ring buffer: the send buffer (bytes from SND.UNA on) and
// the receive buffer (in-order bytes not yet consumed by the application).
// Its storage is taken from the layer's pool when the first byte arrives
// and given back when it empties, so idle connections hold no buffer.
type ring struct {
	buf  []byte // storage; nil while empty and unallocated
	head int    // index of the first byte; 0 <= head < len(buf) when buf != nil
	n    int    // bytes held; 0 <= n <= len(buf)
}

// Len returns the number of bytes held.
func (r *ring) Len() int { return r.n }

// free returns the space left given capacity c (the buffer may still be
// unallocated).
func (r *ring) free(c int) int {
	if r.buf != nil {
		c = len(r.buf)
	}
	return c - r.n
}

// write appends as much of p as fits and returns how many bytes it took.
// The storage must be allocated.
func (r *ring) write(p []byte) int {
	n := len(r.buf) - r.n
	if n > len(p) {
		n = len(p)
	}
	if n == 0 {
		return 0
	}
	tail := r.head + r.n
	if tail >= len(r.buf) {
		tail -= len(r.buf)
	}
	c := copy(r.buf[tail:], p[:n])
	if c < n {
		copy(r.buf, p[c:n])
	}
	r.n += n
	return n
}

// peek returns bytes [off, off+n) as up to two slices (the second is
// non-empty when the range wraps). off+n must be <= Len.
func (r *ring) peek(off, n int) (a, b []byte) {
	if n <= 0 || off < 0 || off+n > r.n {
		return nil, nil
	}
	start := r.head + off
	if start >= len(r.buf) {
		start -= len(r.buf)
	}
	end := start + n
	if end <= len(r.buf) {
		return r.buf[start:end], nil
	}
	return r.buf[start:], r.buf[:end-len(r.buf)]
}

// discard drops the first n bytes (n <= Len).
func (r *ring) discard(n int) {
	if n > r.n {
		n = r.n
	}
	if n <= 0 {
		return
	}
	r.n -= n
	r.head += n
	if len(r.buf) > 0 {
		r.head %= len(r.buf)
	}
	// The head does not go back to 0 when the ring empties: out-of-order
	// data may sit beyond the tail at offsets from it (reassembly.go).
}

// writeAt copies p to logical offset off from the head (off >= Len; the
// bytes between are left as they are). off+len(p) must be <= len(buf).
func (r *ring) writeAt(off int, p []byte) {
	if off < 0 || off+len(p) > len(r.buf) {
		return
	}
	at := r.head + off
	if at >= len(r.buf) {
		at -= len(r.buf)
	}
	c := copy(r.buf[at:], p)
	copy(r.buf, p[c:])
}

// grow moves the contents into nb (len(nb) >= Len), returning the old
// storage.
func (r *ring) grow(nb []byte) []byte { return r.growExtent(nb, r.n) }

// growExtent moves the first extent bytes from the head (the contents and
// any data held beyond them, extent >= Len) into nb, returning the old
// storage.
func (r *ring) growExtent(nb []byte, extent int) []byte {
	if r.buf != nil && extent > 0 {
		extent = min(extent, len(r.buf), len(nb))
		end := r.head + extent
		if end <= len(r.buf) {
			copy(nb, r.buf[r.head:end])
		} else {
			c := copy(nb, r.buf[r.head:])
			copy(nb[c:], r.buf[:end-len(r.buf)])
		}
	}
	old := r.buf
	r.buf, r.head = nb, 0
	return old
}

// bufPool keeps freed buffers of one size for reuse, bounded so an idle
// loop does not hold memory for connections long gone.
type bufPool struct {
	size int
	free [][]byte
	max  int
}

func (p *bufPool) get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return make([]byte, p.size)
}

func (p *bufPool) put(b []byte) {
	if len(b) != p.size || len(p.free) >= p.max {
		return
	}
	p.free = append(p.free, b)
}

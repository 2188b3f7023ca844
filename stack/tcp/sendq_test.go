package tcp

import (
	"bytes"
	"math/rand"
	"testing"
)

// The send queue keeps every byte where it was written while it grows by
// chunks: segments peeked across chunk boundaries carry the bytes
// written, acknowledged chunks go back to the pool, and an emptied queue
// holds nothing.
func TestSendQueueChunks(t *testing.T) {
	h := sackConn(t, false)
	c, l := h.c, h.l
	size := l.sndPool.size
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, 5*size+123)
	rng.Read(data)
	for w := 0; w < len(data); {
		k := min(1+rng.Intn(3*size), len(data)-w)
		c.growSendQueue(k)
		if got := c.sndBuf.write(data[w : w+k]); got != k {
			t.Fatalf("write %d took %d", k, got)
		}
		w += k
	}
	check := func(base int) {
		t.Helper()
		for off := 0; off < c.sndBuf.Len(); off += 700 {
			n := min(1448, c.sndBuf.Len()-off)
			a, b := c.sndBuf.peek(off, n)
			if got := append(append([]byte(nil), a...), b...); !bytes.Equal(got, data[base+off:base+off+n]) {
				t.Fatalf("bytes [%d, %d) differ after %d were acknowledged", off, off+n, base)
			}
		}
	}
	check(0)
	free := len(l.sndPool.free)
	c.discardSent(2*size + 10) // two chunks emptied
	if len(c.sndBuf.chunks) != 4 || len(l.sndPool.free) != free+2 {
		t.Fatalf("after two chunks acknowledged: %d chunks held, %d pooled (was %d)", len(c.sndBuf.chunks), len(l.sndPool.free), free)
	}
	check(2*size + 10)
	c.discardSent(c.sndBuf.Len())
	if c.sndBuf.chunks != nil || len(l.sndPool.free) != free+6 {
		t.Fatalf("empty queue holds %d chunks; %d pooled", len(c.sndBuf.chunks), len(l.sndPool.free))
	}
}

// A connection that queues and has acknowledged megabytes again and again
// (a bulk sender) allocates nothing once the pool holds its chunks.
func TestSendQueueSteadyStateAllocs(t *testing.T) {
	h := sackConn(t, false)
	c := h.c
	p := make([]byte, 1<<20)
	cycle := func() {
		for w := 0; w < len(p); w += 64 << 10 {
			c.growSendQueue(64 << 10)
			c.sndBuf.write(p[w : w+64<<10])
		}
		c.discardSent(c.sndBuf.Len())
	}
	cycle()
	if n := testing.AllocsPerRun(20, cycle); n != 0 {
		t.Fatalf("%v allocations per megabyte queued and acknowledged", n)
	}
}

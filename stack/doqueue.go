package stack

import "sync/atomic"

// doQueue is a bounded lock-free multi-producer single-consumer queue of
// functions: an array of cells each carrying a sequence number (Dmitry
// Vyukov's bounded queue). Producers claim a cell with a CAS on tail; the
// loop consumes in order. Push never blocks and fails when full.
type doQueue struct {
	cells []doCell
	mask  uint64
	_     [56]byte // keep tail off the cells' cache line
	tail  atomic.Uint64
	_     [56]byte
	head  uint64 // consumer only
}

type doCell struct {
	seq atomic.Uint64
	fn  func()
}

func newDoQueue(size int) *doQueue {
	n := 2
	for n < size {
		n <<= 1
	}
	q := &doQueue{cells: make([]doCell, n), mask: uint64(n - 1)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// push appends fn; false if the queue is full. Safe from any goroutine.
func (q *doQueue) push(fn func()) bool {
	pos := q.tail.Load()
	for {
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				c.fn = fn
				c.seq.Store(pos + 1) // publishes fn to the consumer
				return true
			}
			pos = q.tail.Load()
		case d < 0:
			return false // full: the consumer has not freed this cell
		default:
			pos = q.tail.Load()
		}
	}
}

// pop removes the oldest function; nil if none is ready. Loop only.
func (q *doQueue) pop() func() {
	c := &q.cells[q.head&q.mask]
	if c.seq.Load() != q.head+1 {
		return nil
	}
	fn := c.fn
	c.fn = nil
	c.seq.Store(q.head + q.mask + 1) // free for the producer one lap later
	q.head++
	return fn
}

// empty reports whether no function is ready. Loop only.
func (q *doQueue) empty() bool {
	return q.cells[q.head&q.mask].seq.Load() != q.head+1
}

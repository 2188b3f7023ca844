package impair

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// Pipe is one direction of the bridge without the sockets: a bounded pool
// of frame buffers, the impairment decisions and a time-ordered queue.
// Ingest takes a frame in, Pop hands out the frames that are due. Time is a
// value passed in, so tests drive a Pipe with a fake clock. A Pipe is not
// safe for concurrent use; the bridge guards it with a mutex. Neither Ingest
// nor Pop allocates.
type Pipe struct {
	dec       *Decider
	im        Impairment
	impairAll bool
	frameSize int
	timeout   time.Duration // hold bound for reordered frames
	gap       int32         // frames that overtake a held one

	pool []byte  // limit buffers of frameSize bytes each
	free []int32 // stack of free slots

	// Per-slot metadata, valid while the slot is queued.
	length []int32
	base   []clock.Time // due time before any reorder hold
	due    []clock.Time // heap key 1: time the frame may leave
	order  []uint64     // heap key 2: 2*seq, or 2*seq+1 to follow frame seq
	arr    []uint64     // heap key 3 and arrival sequence number
	hidx   []int32      // position in heap

	heap []int32    // min-heap of slots by (due, order, arr)
	held []heldSlot // frames held back, waiting for later frames

	seq      uint64     // arrival sequence of the next queued frame
	lastDue  clock.Time // FIFO clamp: latest due of a non-held frame
	nextFree clock.Time // rate limit: when the link is free again
	tokens   int        // policer: bytes the bucket holds at tokensAt
	tokensAt clock.Time
	policing bool   // the bucket was filled at the first frame
	maxSent  uint64 // highest arrival sequence sent + 1
	st       DirStats
}

type heldSlot struct {
	slot int32
	left int32 // frames still to overtake it
}

// Frame is a frame handed out by Pop; Data aliases the pipe's buffer until
// Release(Slot).
type Frame struct {
	Slot int32
	Data []byte
}

// NewPipe returns a pipe for frames of at most frameSize bytes with room for
// limit queued frames (0 means DefaultLimit), deciding with dec.
func NewPipe(dec *Decider, limit, frameSize int, impairAll bool) *Pipe {
	if limit <= 0 {
		limit = DefaultLimit
	}
	im := dec.Impairment()
	p := &Pipe{
		dec:       dec,
		im:        im,
		impairAll: impairAll,
		frameSize: frameSize,
		timeout:   im.ReorderTimeout,
		gap:       int32(max(im.ReorderGap, 1)),
		pool:      make([]byte, limit*frameSize),
		free:      make([]int32, limit),
		length:    make([]int32, limit),
		base:      make([]clock.Time, limit),
		due:       make([]clock.Time, limit),
		order:     make([]uint64, limit),
		arr:       make([]uint64, limit),
		hidx:      make([]int32, limit),
		heap:      make([]int32, 0, limit),
		held:      make([]heldSlot, 0, limit),
	}
	if p.timeout == 0 {
		p.timeout = DefaultReorderTimeout
	}
	for i := range p.free {
		p.free[i] = int32(limit - 1 - i)
	}
	return p
}

// Stats returns the pipe's counters.
func (p *Pipe) Stats() DirStats {
	s := p.st
	s.Queued = uint64(len(p.heap))
	return s
}

// Counters gives the bridge access to the counters it keeps itself
// (TxErrors, RxDrops, Oversize).
func (p *Pipe) Counters() *DirStats { return &p.st }

// Len returns the number of queued frames.
func (p *Pipe) Len() int { return len(p.heap) }

func (p *Pipe) buf(slot int32) []byte {
	o := int(slot) * p.frameSize
	return p.pool[o : o+p.frameSize]
}

func (p *Pipe) alloc() (int32, bool) {
	n := len(p.free)
	if n == 0 {
		return 0, false
	}
	s := p.free[n-1]
	p.free = p.free[:n-1]
	return s, true
}

// Ingest takes one frame read at now. The frame is copied; the caller may
// reuse it at once.
func (p *Pipe) Ingest(now clock.Time, frame []byte) {
	p.st.InFrames++
	p.st.InBytes += uint64(len(frame))
	if len(frame) > p.frameSize {
		p.st.Oversize++
		return
	}
	if len(frame) < ethHeaderLen {
		p.st.Runt++
		return
	}
	if !p.impairAll && !Impairable(frame) {
		p.st.Passthrough++
		p.enqueue(now, frame, false, now, false)
		return
	}
	d := p.dec.Decide()
	if d.Drop {
		p.st.Lost++
		return
	}
	if p.im.Police > 0 && !p.police(now, len(frame)) {
		p.st.Policed++
		return
	}
	slot, ok := p.enqueueCopy(frame)
	if !ok {
		return
	}
	if d.Corrupt && p.dec.CorruptFrame(p.buf(slot)[:len(frame)]) {
		p.st.Corrupted++
	}
	if d.CE && MarkCE(p.buf(slot)[:len(frame)]) {
		p.st.CEMarked++
	}
	if d.Delay > 0 {
		p.st.Delayed++
	}
	if d.Hold {
		p.st.Reordered++
	}
	p.schedule(slot, now.Add(d.Delay), d.Hold)
	if d.Dup {
		// The copy is taken from the original frame, so it is clean.
		if p.enqueue(now, frame, true, now.Add(d.DupDelay), false) {
			p.st.Duplicated++
		}
	}
}

// police takes n bytes of tokens from the policer's bucket at now,
// reporting false (the frame is dropped) when it holds fewer. The bucket
// fills at Police bits per second up to its burst, and starts full.
func (p *Pipe) police(now clock.Time, n int) bool {
	burst := p.im.PoliceBurst
	if burst == 0 {
		burst = DefaultPoliceBurst
	}
	if !p.policing {
		p.tokens, p.tokensAt, p.policing = burst, now, true
	} else if now > p.tokensAt {
		// At most the time that fills the bucket counts, so the
		// product cannot overflow.
		fill := uint64(burst) * 8 * uint64(time.Second) / p.im.Police
		add := min(uint64(now-p.tokensAt), fill+1) * p.im.Police / (8 * uint64(time.Second))
		p.tokens = int(min(uint64(p.tokens)+add, uint64(burst)))
		if add > 0 {
			p.tokensAt = now
		}
	}
	if p.tokens < n {
		return false
	}
	p.tokens -= n
	return true
}

// enqueueCopy takes a slot and copies frame into it, counting an overflow
// when none is free.
func (p *Pipe) enqueueCopy(frame []byte) (int32, bool) {
	slot, ok := p.alloc()
	if !ok {
		p.st.Overflow++
		return 0, false
	}
	copy(p.buf(slot), frame)
	p.length[slot] = int32(len(frame))
	return slot, true
}

// enqueue copies frame into a slot and schedules it at due; fifo applies
// the in-order clamp.
func (p *Pipe) enqueue(now clock.Time, frame []byte, fifo bool, due clock.Time, hold bool) bool {
	slot, ok := p.enqueueCopy(frame)
	if !ok {
		return false
	}
	if fifo {
		p.schedule(slot, due, hold)
		return true
	}
	p.push(slot, due, 2*p.seq, p.seq)
	p.seq++
	return true
}

// schedule queues slot with due time due. Unless JitterReorder is set, a
// frame never leaves before the frame queued ahead of it. A held frame is
// queued at due+ReorderTimeout and moved up when the frames that should
// overtake it have been queued; a non-held frame counts down the holds.
func (p *Pipe) schedule(slot int32, due clock.Time, hold bool) {
	if !p.im.JitterReorder && due < p.lastDue {
		due = p.lastDue
	}
	seq := p.seq
	p.seq++
	p.base[slot] = due
	if hold {
		p.push(slot, due.Add(p.timeout), 2*seq, seq)
		p.held = append(p.held, heldSlot{slot: slot, left: p.gap})
		return
	}
	p.lastDue = due
	p.push(slot, due, 2*seq, seq)
	// Release held frames that this frame was the last to overtake: they
	// leave right after it (key order 2*seq+1), or at their own due time
	// when that is later.
	j := 0
	for _, h := range p.held {
		h.left--
		if h.left > 0 {
			p.held[j] = h
			j++
			continue
		}
		nd := max(p.base[h.slot], due)
		if nd < p.due[h.slot] || (nd == p.due[h.slot] && 2*seq+1 < p.order[h.slot]) {
			p.due[h.slot], p.order[h.slot] = nd, 2*seq+1
			p.fix(p.hidx[h.slot])
		}
	}
	p.held = p.held[:j]
}

// Next returns when the next frame may leave; ok is false when the queue is
// empty.
func (p *Pipe) Next() (t clock.Time, ok bool) {
	if len(p.heap) == 0 {
		return 0, false
	}
	t = p.due[p.heap[0]]
	if p.im.Rate > 0 && p.nextFree > t {
		t = p.nextFree
	}
	return t, true
}

// Pop moves up to len(out) frames that are due at now into out and returns
// how many. Frames leave in (due, arrival) order, never before their due
// time, and no faster than the rate limit. Each must be given back with
// Release.
func (p *Pipe) Pop(now clock.Time, out []Frame) int {
	n := 0
	for n < len(out) && len(p.heap) > 0 {
		s := p.heap[0]
		if p.due[s] > now {
			break
		}
		ln := int(p.length[s])
		if p.im.Rate > 0 {
			if p.nextFree > now {
				break
			}
			start := max(p.nextFree, p.due[s])
			p.nextFree = start + clock.Time(uint64(ln)*8*uint64(time.Second)/p.im.Rate)
		}
		if p.im.Rate == 0 { // with a rate limit, waiting is the point
			if late := uint64(now-p.due[s]) / 1000; late > p.st.MaxLateUS {
				p.st.MaxLateUS = late
			}
		}
		p.popHead()
		p.dropHeld(s)
		if a := p.arr[s]; a+1 < p.maxSent {
			p.st.OutOfOrder++
		} else {
			p.maxSent = a + 1
		}
		p.st.OutFrames++
		p.st.OutBytes += uint64(ln)
		out[n] = Frame{Slot: s, Data: p.buf(s)[:ln]}
		n++
	}
	return n
}

// dropHeld forgets slot in the held list (it left on its timeout).
func (p *Pipe) dropHeld(slot int32) {
	for i, h := range p.held {
		if h.slot == slot {
			copy(p.held[i:], p.held[i+1:])
			p.held = p.held[:len(p.held)-1]
			return
		}
	}
}

// Release gives a popped frame's buffer back to the pool.
func (p *Pipe) Release(slot int32) {
	p.free = append(p.free, slot)
}

// Heap of slots ordered by (due, order, arr).

func (p *Pipe) less(a, b int32) bool {
	if p.due[a] != p.due[b] {
		return p.due[a] < p.due[b]
	}
	if p.order[a] != p.order[b] {
		return p.order[a] < p.order[b]
	}
	return p.arr[a] < p.arr[b]
}

func (p *Pipe) push(slot int32, due clock.Time, order, arr uint64) {
	p.due[slot], p.order[slot], p.arr[slot] = due, order, arr
	p.heap = append(p.heap, slot)
	i := int32(len(p.heap) - 1)
	p.hidx[slot] = i
	p.up(i)
}

func (p *Pipe) popHead() {
	last := int32(len(p.heap) - 1)
	p.swap(0, last)
	p.heap = p.heap[:last]
	if last > 0 {
		p.down(0)
	}
}

func (p *Pipe) fix(i int32) {
	if !p.down(i) {
		p.up(i)
	}
}

func (p *Pipe) swap(i, j int32) {
	h := p.heap
	h[i], h[j] = h[j], h[i]
	p.hidx[h[i]] = i
	p.hidx[h[j]] = j
}

func (p *Pipe) up(i int32) {
	for i > 0 {
		parent := (i - 1) / 2
		if !p.less(p.heap[i], p.heap[parent]) {
			return
		}
		p.swap(i, parent)
		i = parent
	}
}

// down sifts i down and reports whether it moved.
func (p *Pipe) down(i int32) bool {
	n := int32(len(p.heap))
	start := i
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && p.less(p.heap[r], p.heap[l]) {
			c = r
		}
		if !p.less(p.heap[c], p.heap[i]) {
			break
		}
		p.swap(i, c)
		i = c
	}
	return i > start
}

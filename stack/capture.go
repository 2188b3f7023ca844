package stack

// Packet capture fed by the loop. With XDP taking frames before the
// kernel's taps and AF_XDP transmit bypassing them, tcpdump on the
// interface sees none of xdptcp's traffic; a Tap sees every frame the loop
// receives and every frame it hands to the TX ring.
//
// Cost on the packet path: with no tap, one atomic load per RX batch and
// per TX batch. With a tap, each frame runs the tap's classic BPF filter
// (golang.org/x/net/bpf) and is copied into the tap's ring, a fixed buffer
// with one writer (the loop) and one reader: the loop never waits for the
// reader, a frame that does not fit is dropped and counted.

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/net/bpf"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// Direction of a captured frame.
type Direction uint8

// Directions, with pcapng's epb_flags values (inbound 1, outbound 2).
const (
	DirIn  Direction = 1 // received by the loop
	DirOut Direction = 2 // handed to the TX ring by the loop
)

// tapHdrLen is a record's header in the ring: time (8), original length
// (4), captured length (4), direction (1), padding to 8.
const tapHdrLen = 24

// tapWrap in a record's captured length says: the rest of the buffer is
// unused, the next record is at its start.
const tapWrap = ^uint32(0)

// Tap is one loop's capture ring. The loop writes (Put, Flush); one other
// goroutine reads (Next, Advance).
type Tap struct {
	buf     []byte // ring storage, a multiple of 8 bytes
	filter  *bpf.VM
	snaplen int
	head    atomic.Uint64 // bytes ever written (producer)
	tail    atomic.Uint64 // bytes ever consumed (consumer)
	dirty   bool          // the loop wrote since its last Flush (loop only)
	wake    chan struct{} // cap 1: data was written

	// Captured counts frames kept, Dropped frames the filter accepted but
	// the ring had no room for, Filtered frames the filter refused.
	Captured, Dropped, Filtered atomic.Uint64
}

// NewTap returns a tap with a ring of size bytes (rounded up to 8, at
// least 64 KiB), keeping at most snaplen bytes of each frame (0: all)
// that filter accepts (nil: every frame). filter must be valid for
// bpf.NewVM.
func NewTap(size, snaplen int, filter []bpf.Instruction) (*Tap, error) {
	size = max((size+7)&^7, 64<<10)
	t := &Tap{buf: make([]byte, size), snaplen: snaplen, wake: make(chan struct{}, 1)}
	if t.snaplen <= 0 {
		t.snaplen = 1 << 18 // tcpdump's default snapshot length
	}
	if len(filter) > 0 {
		vm, err := bpf.NewVM(filter)
		if err != nil {
			return nil, err
		}
		t.filter = vm
	}
	return t, nil
}

// Put records frame (loop only). It never blocks: without room the frame
// is dropped and counted.
func (t *Tap) Put(now clock.Time, dir Direction, frame []byte) {
	n := len(frame)
	if t.filter != nil {
		keep, err := t.filter.Run(frame)
		if err != nil || keep == 0 {
			t.Filtered.Add(1)
			return
		}
		n = min(n, keep)
	}
	n = min(n, t.snaplen)
	need := uint64((tapHdrLen + n + 7) &^ 7)
	size := uint64(len(t.buf))
	head := t.head.Load()
	free := size - (head - t.tail.Load())
	pos := head % size
	if pos+need > size {
		waste := size - pos
		if free < waste+need {
			t.Dropped.Add(1)
			return
		}
		if waste >= tapHdrLen {
			binary.LittleEndian.PutUint32(t.buf[pos+12:], tapWrap)
		}
		head += waste
		pos = 0
	} else if free < need {
		t.Dropped.Add(1)
		return
	}
	b := t.buf[pos : pos+need]
	binary.LittleEndian.PutUint64(b[0:], uint64(now))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
	b[16] = byte(dir)
	copy(b[tapHdrLen:], frame[:n])
	t.head.Store(head + need)
	t.Captured.Add(1)
	t.dirty = true
}

// Flush wakes the reader if Put wrote since the last Flush (loop only;
// once per batch).
func (t *Tap) Flush() {
	if !t.dirty {
		return
	}
	t.dirty = false
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Wake returns the channel that receives after the loop wrote.
func (t *Tap) Wake() <-chan struct{} { return t.wake }

// TapRecord is one captured frame; Data is valid until Advance.
type TapRecord struct {
	Time    clock.Time
	OrigLen int
	Dir     Direction
	Data    []byte
	size    uint64
}

// Next returns the oldest record not consumed (reader only); ok is false
// when the ring is empty.
func (t *Tap) Next() (r TapRecord, ok bool) {
	size := uint64(len(t.buf))
	for {
		tail, head := t.tail.Load(), t.head.Load()
		if tail == head {
			return r, false
		}
		pos := tail % size
		if size-pos < tapHdrLen || binary.LittleEndian.Uint32(t.buf[pos+12:]) == tapWrap {
			t.tail.Store(tail + (size - pos))
			continue
		}
		b := t.buf[pos:]
		n := binary.LittleEndian.Uint32(b[12:])
		r = TapRecord{
			Time:    clock.Time(binary.LittleEndian.Uint64(b[0:])),
			OrigLen: int(binary.LittleEndian.Uint32(b[8:])),
			Dir:     Direction(b[16]),
			Data:    b[tapHdrLen : tapHdrLen+n],
			size:    uint64((tapHdrLen + int(n) + 7) &^ 7),
		}
		return r, true
	}
}

// Advance consumes r, the record Next returned (reader only).
func (t *Tap) Advance(r TapRecord) { t.tail.Add(r.size) }

// SetTap attaches t to the engine (nil detaches); from any goroutine. The
// loop sees it at its next batch.
func (e *Engine) SetTap(t *Tap) { e.tap.Store(t) }

// SetTapIf replaces old with t if old is attached; from any goroutine.
func (e *Engine) SetTapIf(old, t *Tap) { e.tap.CompareAndSwap(old, t) }

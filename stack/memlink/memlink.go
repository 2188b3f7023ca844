// Package memlink is an in-memory Ethernet link for tests: two stack.Port
// implementations wired back to back, with a seeded fault injector (drop,
// duplicate, reorder, corrupt) on each direction and bounded queues. It is
// the layer for "two stacks back to back" tests.
//
// Frames a port transmits are copied into the other port's RX queue, at
// Transmit (default) or, in step mode (Config.Step), when the test calls
// Deliver, so a test can drive two engines with Poll and no goroutines.
// Wait blocks on an eventfd, so two engines can also Run concurrently.
//
// Test infrastructure, not the packet path: a mutex per port and per
// direction keeps it simple under two concurrent loops.
package memlink

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/xsk"
)

// Faults are the impairments of one direction, each a probability per
// frame in [0, 1]. Reorder holds a frame back until the next frame in that
// direction has been delivered (or the receiver finds its queue empty).
type Faults struct {
	Drop      float64
	Duplicate float64
	Reorder   float64
	Corrupt   float64 // flip one random bit of the frame
	Seed      uint64  // seed of this direction's random source
}

// Config configures a Pair. Zero fields get defaults.
type Config struct {
	FrameSize int // bytes per frame, default 2048
	// MaxFrame is the largest frame the link carries, default FrameSize.
	// Above FrameSize the ports work as multi-buffer AF_XDP does: a frame
	// is received in a chain of descriptors (all but the last marked
	// xsk.DescContd) and Transmit takes such chains.
	MaxFrame int
	Frames   int  // frames per port (TX and RX share them), default 4096
	QueueLen int  // RX queue bound per port (and in-flight bound in step mode), default 1024
	Step     bool // frames wait in the link until Deliver
	AtoB     Faults
	BtoA     Faults
}

func (c *Config) setDefaults() {
	if c.FrameSize <= 0 {
		c.FrameSize = 2048
	}
	if c.Frames <= 0 {
		c.Frames = 4096
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 1024
	}
	c.MaxFrame = max(c.MaxFrame, c.FrameSize)
}

// Counters count what happened to the frames of one direction.
type Counters struct {
	Sent       atomic.Uint64 // frames given to Transmit
	Delivered  atomic.Uint64 // frames put in the receiver's RX queue (duplicates included)
	Dropped    atomic.Uint64 // dropped by the fault injector
	Duplicated atomic.Uint64
	Reordered  atomic.Uint64
	Corrupted  atomic.Uint64
	QueueDrops atomic.Uint64 // receiver's queue (or frames, or the in-flight queue) full
}

// Port is one end of a link; it implements stack.Port. Use it from one
// goroutine (its loop); the peer's loop may run concurrently.
type Port struct {
	cfg  Config
	peer *Port
	out  *direction // frames this port sends

	mu     sync.Mutex
	mem    []byte
	free   []uint32 // free frame indices
	rxq    []xsk.Desc
	rxHead int
	rxFD   int // eventfd made readable when frames arrive
}

// direction is one way of the link: the fault injector and, in step mode,
// the frames in flight.
type direction struct {
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	to       *Port
	held     []byte // reordered frame waiting (len 0: none)
	chain    []byte // a multi-buffer frame being gathered by Transmit
	inflight [][]byte
	nflight  int
	stats    Counters
}

// Pair returns two ports connected to each other.
func Pair(cfg Config) (a, b *Port) {
	cfg.setDefaults()
	a, b = newPort(cfg), newPort(cfg)
	a.peer, b.peer = b, a
	a.out = newDirection(cfg, cfg.AtoB, b)
	b.out = newDirection(cfg, cfg.BtoA, a)
	return a, b
}

func newPort(cfg Config) *Port {
	p := &Port{cfg: cfg, mem: make([]byte, cfg.Frames*cfg.FrameSize), rxq: make([]xsk.Desc, 0, cfg.QueueLen), rxFD: -1}
	for i := cfg.Frames - 1; i >= 0; i-- {
		p.free = append(p.free, uint32(i))
	}
	if fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err == nil {
		p.rxFD = fd
	}
	return p
}

func newDirection(cfg Config, f Faults, to *Port) *direction {
	d := &direction{f: f, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)), to: to,
		held: make([]byte, 0, cfg.MaxFrame), chain: make([]byte, 0, cfg.MaxFrame)}
	if cfg.Step {
		d.inflight = make([][]byte, cfg.QueueLen)
		for i := range d.inflight {
			d.inflight[i] = make([]byte, 0, cfg.MaxFrame)
		}
	}
	return d
}

// Stats returns the counters of the frames this port sends.
func (p *Port) Stats() *Counters { return &p.out.stats }

// Close releases the port's eventfd.
func (p *Port) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rxFD < 0 {
		return nil
	}
	fd := p.rxFD
	p.rxFD = -1
	return unix.Close(fd)
}

// frame returns the buffer of frame index i.
func (p *Port) frame(i uint32) []byte {
	o := int(i) * p.cfg.FrameSize
	return p.mem[o : o+p.cfg.FrameSize : o+p.cfg.FrameSize]
}

// index returns the frame index of d, or false if d is not one of ours.
func (p *Port) index(d xsk.Desc) (uint32, bool) {
	fs := uint64(p.cfg.FrameSize)
	if d.Addr%fs != 0 || d.Addr/fs >= uint64(p.cfg.Frames) || uint64(d.Len) > fs {
		return 0, false
	}
	return uint32(d.Addr / fs), true
}

// Receive implements stack.Port.
func (p *Port) Receive(descs []xsk.Desc) int {
	p.mu.Lock()
	empty := p.rxHead == len(p.rxq)
	p.mu.Unlock()
	if empty {
		// Nothing else is coming first: let a held (reordered) frame in.
		p.peer.out.releaseHeld()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := copy(descs, p.rxq[p.rxHead:])
	for n > 0 && descs[n-1].Options&xsk.DescContd != 0 {
		n-- // whole frames only, as xsk.Socket.Receive
	}
	p.rxHead += n
	if p.rxHead == len(p.rxq) {
		p.rxq, p.rxHead = p.rxq[:0], 0
	}
	return n
}

// Frame implements stack.Port; nil for a descriptor that is not ours.
func (p *Port) Frame(d xsk.Desc) []byte {
	i, ok := p.index(d)
	if !ok {
		return nil
	}
	return p.frame(i)[:d.Len]
}

// FrameCap implements stack.Port.
func (p *Port) FrameCap(d xsk.Desc) []byte {
	i, ok := p.index(d)
	if !ok {
		return nil
	}
	return p.frame(i)
}

// Release implements stack.Port.
func (p *Port) Release(descs []xsk.Desc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range descs {
		if i, ok := p.index(d); ok {
			p.free = append(p.free, i)
		}
	}
}

// AllocTx implements stack.Port.
func (p *Port) AllocTx() (xsk.Desc, []byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return xsk.Desc{}, nil, false
	}
	i := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return xsk.Desc{Addr: uint64(i) * uint64(p.cfg.FrameSize)}, p.frame(i), true
}

// FreeTx implements stack.Port.
func (p *Port) FreeTx(d xsk.Desc) { p.Release([]xsk.Desc{d}) }

// Transmit implements stack.Port: it takes every frame, copies it toward
// the peer (through the fault injector now, or at Deliver in step mode)
// and frees it.
func (p *Port) Transmit(descs []xsk.Desc) int {
	d := p.out
	d.mu.Lock()
	for _, desc := range descs {
		b := p.Frame(desc)
		if desc.Options&xsk.DescContd != 0 || len(d.chain) > 0 {
			// A piece of a multi-buffer frame: gather it.
			if len(b) <= cap(d.chain)-len(d.chain) {
				d.chain = append(d.chain, b...)
			}
			if desc.Options&xsk.DescContd != 0 {
				continue
			}
			b, d.chain = d.chain, d.chain[:0]
		}
		d.stats.Sent.Add(1)
		if b == nil {
			continue
		}
		if d.inflight != nil {
			if d.nflight == len(d.inflight) {
				d.stats.QueueDrops.Add(1)
				continue
			}
			d.inflight[d.nflight] = append(d.inflight[d.nflight][:0], b...)
			d.nflight++
			continue
		}
		d.send(b)
	}
	d.mu.Unlock()
	p.Release(descs)
	return len(descs)
}

// Deliver moves the frames this port transmitted in step mode to the
// peer's RX queue, through the fault injector, and returns how many it
// moved. Without step mode it does nothing.
func (p *Port) Deliver() int {
	d := p.out
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nflight
	for i := 0; i < n; i++ {
		d.send(d.inflight[i])
	}
	d.nflight = 0
	return n
}

// PeerPending implements stack.PeerWaker: frames wait in the peer's
// receive queue.
func (p *Port) PeerPending() bool { return p.peer.Pending() > 0 }

// Flush implements stack.Port (nothing to kick).
func (p *Port) Flush() error { return nil }

// Pending returns the number of frames waiting in the RX queue.
func (p *Port) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rxq) - p.rxHead
}

// Wait implements stack.Port: it blocks until frames are queued, wakeFD
// (an eventfd the caller owns and drains; -1 for none) is readable, or
// timeout passes (negative: no limit).
func (p *Port) Wait(timeout time.Duration, wakeFD int) (bool, error) {
	var buf [8]byte
	unix.Read(p.rxFD, buf[:]) // drain first: an arrival after this is seen below or wakes poll
	if p.Pending() > 0 || p.peer.out.hasHeld() {
		return true, nil
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := [2]unix.PollFd{{Fd: int32(p.rxFD), Events: unix.POLLIN}, {Fd: int32(wakeFD), Events: unix.POLLIN}}
	n := 2
	if wakeFD < 0 {
		n = 1
	}
	_, err := unix.Poll(fds[:n], ms)
	if err == unix.EINTR {
		err = nil
	}
	return p.Pending() > 0, err
}

// enqueue copies b into free frames of p (several, in a chain, for a
// frame above FrameSize) and queues it for Receive.
func (p *Port) enqueue(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := max((len(b)+p.cfg.FrameSize-1)/p.cfg.FrameSize, 1)
	if len(p.free) < k || cap(p.rxq)-len(p.rxq) < k || len(b) > p.cfg.MaxFrame {
		return false
	}
	wasEmpty := p.rxHead == len(p.rxq)
	for j := 0; j < k; j++ {
		i := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		n := copy(p.frame(i), b)
		b = b[n:]
		var opt uint32
		if j < k-1 {
			opt = xsk.DescContd
		}
		p.rxq = append(p.rxq, xsk.Desc{Addr: uint64(i) * uint64(p.cfg.FrameSize), Len: uint32(n), Options: opt})
	}
	if wasEmpty && p.rxFD >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(p.rxFD, one[:])
	}
	return true
}

// send runs one frame through the fault injector to d.to. d.mu is held.
func (d *direction) send(b []byte) {
	f := &d.f
	if f.Drop > 0 && d.rng.Float64() < f.Drop {
		d.stats.Dropped.Add(1)
		return
	}
	if f.Reorder > 0 && len(d.held) == 0 && d.rng.Float64() < f.Reorder {
		d.held = append(d.held[:0], b...)
		d.stats.Reordered.Add(1)
		return
	}
	copies := 1
	if f.Duplicate > 0 && d.rng.Float64() < f.Duplicate {
		copies = 2
		d.stats.Duplicated.Add(1)
	}
	corrupt := f.Corrupt > 0 && len(b) > 0 && d.rng.Float64() < f.Corrupt
	var bit int
	if corrupt {
		bit = d.rng.IntN(len(b) * 8)
		d.stats.Corrupted.Add(1)
		b[bit/8] ^= 1 << (bit % 8) // b is the sender's frame or our copy
	}
	for i := 0; i < copies; i++ {
		d.deliver(b)
	}
	if corrupt {
		b[bit/8] ^= 1 << (bit % 8)
	}
	if len(d.held) > 0 {
		d.deliver(d.held)
		d.held = d.held[:0]
	}
}

func (d *direction) deliver(b []byte) {
	if d.to.enqueue(b) {
		d.stats.Delivered.Add(1)
	} else {
		d.stats.QueueDrops.Add(1)
	}
}

// releaseHeld delivers a held frame, if any.
func (d *direction) releaseHeld() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.held) > 0 {
		d.deliver(d.held)
		d.held = d.held[:0]
	}
}

func (d *direction) hasHeld() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held) > 0
}

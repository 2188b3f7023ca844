package tcp

// tcp_mem: the memory connections hold in buffers, counted across every
// layer that shares a MemAccount (by default the one account of the
// process, as Linux's tcp_memory_allocated is one per host), against
// Linux's three thresholds in pages of 4096 bytes (net.ipv4.tcp_mem,
// Documentation/networking/ip-sysctl.rst):
//
//   - low: below it, memory is not under pressure (leaving pressure);
//   - pressure: above it, TCP enters memory pressure (TCPMemoryPressures
//     counts each entry): receive and send buffers stop growing and new
//     windows are clamped to 4 MSS (Linux tcp_enter_memory_pressure,
//     tcp_clamp_window via rcv_ssthresh), until usage is below low;
//   - high: a buffer that would take usage above it is refused; the data
//     that needed it is dropped and counted (TCPOFODrop, TCPRcvQDrop after
//     PruneCalled, RcvPruned), never a crash. As Linux (tcp_data_queue,
//     sk_forced_mem_schedule) in-order data for a connection that holds
//     nothing yet is always taken, so every connection keeps moving; a
//     send buffer is never refused either (a Write is bounded by
//     tcp_wmem), it only stops growing.
//
// What is counted is what a connection really holds: the capacity of its
// receive ring (in-order and out-of-order data, reassembly.go), of its
// send ring, and of its out-of-order range table.

import "sync/atomic"

// memPage is the unit of tcp_mem (Linux counts pages).
const memPage = 4096

// MemAccount counts buffer memory for tcp_mem. Safe for concurrent use:
// each loop charges and releases its own connections' buffers.
type MemAccount struct {
	bytes    atomic.Int64 // bytes held in connection buffers
	pressure atomic.Bool  // under memory pressure (entered above tcp_mem[1], left below tcp_mem[0])
}

// Bytes returns the bytes held in connection buffers.
func (a *MemAccount) Bytes() int64 { return a.bytes.Load() }

// Pages returns the memory in use in pages of 4096 bytes, rounded up, as
// /proc/net/sockstat's "TCP: ... mem".
func (a *MemAccount) Pages() int64 { return (a.bytes.Load() + memPage - 1) / memPage }

// UnderPressure reports whether TCP memory is under pressure.
func (a *MemAccount) UnderPressure() bool { return a.pressure.Load() }

// processMem is the account every layer uses unless SetMemAccount gave it
// another.
var processMem MemAccount

// ProcessMem returns the process-wide account that layers share by
// default.
func ProcessMem() *MemAccount { return &processMem }

// SetMemAccount makes the layer count its buffers in a (nil: the process
// account). Call it before the layer holds any buffer (tests give each
// layer or group of layers its own).
func (l *Layer) SetMemAccount(a *MemAccount) {
	if a == nil {
		a = &processMem
	}
	l.mem = a
}

// MemAccount returns the account the layer counts its buffers in.
func (l *Layer) MemAccount() *MemAccount { return l.mem }

// charge counts n bytes. Unless must, it refuses (false, nothing counted)
// when the total would pass tcp_mem[2].
func (l *Layer) charge(n int, must bool) bool {
	a := l.mem
	v := a.bytes.Add(int64(n))
	if !must && v > int64(l.cfg.Mem[2])*memPage {
		a.bytes.Add(-int64(n))
		return false
	}
	if v > int64(l.cfg.Mem[1])*memPage && !a.pressure.Load() && a.pressure.CompareAndSwap(false, true) {
		l.stats.TCPMemoryPressures.Add(1)
	}
	return true
}

// uncharge gives n bytes back, leaving pressure below tcp_mem[0].
func (l *Layer) uncharge(n int) {
	a := l.mem
	v := a.bytes.Add(-int64(n))
	if v < int64(l.cfg.Mem[0])*memPage && a.pressure.Load() {
		a.pressure.Store(false)
	}
}

// underPressure reports whether TCP memory is under pressure.
func (l *Layer) underPressure() bool { return l.mem.pressure.Load() }

// dropSpares gives the spare rings back (tcp_mem pressure, or the layer
// has no connection left that could use them).
func (l *Layer) dropSpares() {
	for i, b := range l.spare {
		l.uncharge(len(b))
		l.spare[i] = nil
	}
	l.spare = l.spare[:0]
}

// spareBufs bounds the autotuned receive rings a layer keeps for reuse.
const spareBufs = 4

// allocBuf returns a charged buffer of n bytes (from a pool when one
// matches), or nil if refused (must false and tcp_mem[2] reached).
func (l *Layer) allocBuf(n int, must bool) []byte {
	for i, b := range l.spare {
		if len(b) >= n && len(b) <= 2*n {
			// Still charged from when it was freed.
			l.spare[i] = l.spare[len(l.spare)-1]
			l.spare[len(l.spare)-1] = nil
			l.spare = l.spare[:len(l.spare)-1]
			return b
		}
	}
	if !l.charge(n, must) {
		return nil
	}
	if p := l.poolFor(n); p != nil {
		return p.get()
	}
	return make([]byte, n)
}

// poolFor returns the pool that keeps buffers of n bytes, nil if none.
func (l *Layer) poolFor(n int) *bufPool {
	switch n {
	case l.sndPool.size:
		return &l.sndPool
	case l.rcvPool.size:
		return &l.rcvPool
	}
	for i := range l.ringPools {
		if p := &l.ringPools[i]; p.size == n {
			return p
		}
	}
	return nil
}

// freeBuf uncharges b and gives it back to its pool. A buffer of
// another size above the receive buffer's default (an autotuned receive
// ring) is kept, still charged, among the layer's few spares while memory
// is not under pressure: a busy connection through loss empties and needs
// its ring again at every hole, and allocating (zeroing) megabytes each
// time costs more than the segments themselves.
func (l *Layer) freeBuf(b []byte) {
	if b == nil {
		return
	}
	p := l.poolFor(len(b))
	if p == nil && len(b) > l.rcvPool.size {
		if l.underPressure() {
			l.dropSpares()
		} else {
			if len(l.spare) == spareBufs {
				l.uncharge(len(l.spare[0]))
				copy(l.spare, l.spare[1:])
				l.spare = l.spare[:spareBufs-1]
			}
			l.spare = append(l.spare, b)
			return
		}
	}
	l.uncharge(len(b))
	if p != nil {
		p.put(b)
	}
}

// Receive rings come in classes: ringMin bytes, then ringGrowth times
// larger, up to the receive buffer (rcvCap). A ring is taken at the
// smallest class that holds what it must store and grows a class at a
// time, so what a connection holds follows what it has to keep, not its
// window: a handler that leaves a few bytes, or a hole with one segment
// above it, costs a page, where a ring of the whole buffer cost
// tcp_rmem[1] (128 KiB by default, so 3,072 connections each holding one
// out-of-order byte took all of the default tcp_mem[2]). Linux charges
// each held skb's truesize, a few KiB for a segment. Growing copies what
// is held, at most a third more than the final ring's contents with
// growth by 4. The classes below tcp_rmem[1]'s default are pooled.
const (
	ringMin    = 4096
	ringGrowth = 4
	ringPooled = 3 // 4, 16 and 64 KiB
)

// ringSize returns the size of the ring to hold need bytes from its head:
// the next class above the current ring (the smallest without one) that
// holds them, at most the receive buffer unless need is larger.
func (c *Conn) ringSize(need int) int {
	size := ringMin
	if n := len(c.rcvBuf.buf); n > 0 {
		size = n * ringGrowth
	}
	for size < need {
		size *= ringGrowth
	}
	return min(size, max(c.rcvCap, need))
}

// ensureRing makes the receive ring hold at least need bytes from its
// head: allocated, or grown, at the class ringSize gives, keeping the
// in-order and out-of-order data. A new ring for a
// connection that holds nothing is forced (must) when asked, at the
// smallest size that holds need if the full one is refused. It reports
// false when the room could not be had.
func (c *Conn) ensureRing(need int, force bool) bool {
	l := c.layer
	r := &c.rcvBuf
	if r.buf != nil && len(r.buf) >= need {
		return true
	}
	size := c.ringSize(need)
	if r.buf == nil {
		b := l.allocBuf(size, false)
		if b == nil && force {
			b = l.allocBuf(need, true)
		}
		if b == nil {
			return false
		}
		r.buf, r.head, r.n = b, 0, 0
		return true
	}
	b := l.allocBuf(size, false)
	if b == nil {
		return false
	}
	extent := r.n + int(c.oooTop().Sub(c.rcvNxt))
	l.freeBuf(r.growExtent(b, extent))
	return true
}

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
// What is counted is what a connection really holds: the chunks of its
// receive queue (in-order and out-of-order data, rcvq.go) and their list,
// the chunks of its send queue (sendq.go), and its out-of-order range
// table.

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

// memOverLimit reports whether TCP memory is past tcp_mem[2], where only
// forced charges go.
func (l *Layer) memOverLimit() bool { return l.mem.bytes.Load() > int64(l.cfg.Mem[2])*memPage }

// underPressure reports whether TCP memory is under pressure.
func (l *Layer) underPressure() bool { return l.mem.pressure.Load() }

// freeBuf uncharges a buffer (a send or receive chunk; nil: nothing)
// and gives it back to its pool.
func (l *Layer) freeBuf(b []byte) {
	if b == nil {
		return
	}
	l.uncharge(len(b))
	switch len(b) {
	case l.sndPool.size:
		l.sndPool.put(b)
	case l.rcvPool.size:
		l.rcvPool.put(b)
	}
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

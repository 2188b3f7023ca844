package tcp

// The send buffer, accounted as Linux 6.18 accounts it (net/ipv4/tcp.c
// tcp_sendmsg_locked, include/net/sock.h sk_stream_memory_free and
// sk_stream_wspace, net/ipv4/tcp_input.c tcp_sndbuf_expand). Linux does
// not count bytes against the send buffer (sk_sndbuf) but the memory of
// the skbs that hold them (sk_wmem_queued): each skb's truesize, its data
// plus a fixed cost for the skb itself. tcp_sendmsg appends to the unsent
// skb at the tail of the queue until it holds the size goal
// (tcp_xmit_size_goal) without any check; only before it starts a new skb
// does it ask whether there is room: sk_wmem_queued < sk_sndbuf, and
// fewer unsent bytes than the not-sent low-water mark (TCP_NOTSENT_LOWAT,
// tcp_stream_memory_free with wake = 0). A write therefore takes up to one
// size goal beyond the limit, and a nonblocking write(59000) into a queue
// with a 4000-byte mark returns 26000 (the notsent_lowat scripts).
//
// xdptcp keeps bytes in a ring, not skbs; it counts the skbs Linux would
// hold instead (skbs), from one sequence number: skbSeq, where the newest
// skb began. Unsent data is that skb plus full size-goal skbs before it
// back to SND.NXT (a transmission that stopped inside an skb split it
// there, as tso_fragment does); data sent and not acknowledged counts as
// size-goal skbs (Linux's retransmission queue holds the skbs as they were
// sent, which TSO autosizing may cut smaller). wmemQueued is then bytes +
// skbs × skbTruesize. The same figure decides Write, Writable (poll's
// EPOLLOUT, OnWritable) and what TCP_INFO/SO_MEMINFO report; tcp_mem
// counts the ring that holds the bytes (mem.go), sized by what the
// accounting lets in.
//
// The limit, sndBufLim (Linux sk_sndbuf), starts at tcp_wmem[1] and grows
// like tcp_sndbuf_expand: at the handshake's end and whenever an ACK frees
// room while a writer waits and the congestion window is not full, to
// twice (CUBIC, Reno; three times for BBR) the congestion window (at least
// the initial 10 segments) in per-segment worst-case skbs, up to
// tcp_wmem[2]; not under tcp_mem pressure. SetSendBuffer (SO_SNDBUF) sets
// it to twice the value asked, capped by wmem_max, and stops the growth.

import (
	"math/bits"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Linux's skb sizes (x86-64, Linux 6.18), measured with packetdrill on
// this machine: an skb that tcp_sendmsg starts costs skbTruesize bytes of
// sk_wmem_queued besides its data (SO_SNDBUF 16832 lets two full 16000-byte
// skbs take a third, 16831 does not: 2 × (16000 + 832) = 33664).
const (
	skbTruesize = 832
	// tcp_sndbuf_expand's per-segment worst case: a kmalloc'ed head of
	// the MSS plus MAX_TCP_HEADER (320) and skb_shared_info (320),
	// rounded up to a power of two, plus the sk_buff (256): 2304 bytes
	// for an MSS of 1000 (tcp_wmem "4096 16384 4194304", BBR: sk_sndbuf
	// 69120 = 3 × 10 × 2304 after the handshake, measured).
	maxTCPHeader = 320
	skbShinfo    = 320
	skbStruct    = 256
	// sockMinSndbuf is SOCK_MIN_SNDBUF: 2 × (2048 + sk_buff).
	sockMinSndbuf = 2 * (2048 + skbStruct)
	// sockMinRcvbuf is SOCK_MIN_RCVBUF: 2048 + sk_buff.
	sockMinRcvbuf = 2048 + skbStruct
	// gsoMaxSize is sk_gso_max_size (GSO_LEGACY_MAX_SIZE): the size goal
	// without a window bound is 65 segments of 1000 bytes (measured).
	gsoMaxSize = 65536
	// initCwndSegs is TCP_INIT_CWND, tcp_sndbuf_expand's floor.
	initCwndSegs = 10
)

// Buffer locks (Linux sk_userlocks): set by SO_SNDBUF/SO_RCVBUF, they stop
// the autotuning of that buffer.
const (
	lockSndBuf uint8 = 1 << iota // SOCK_SNDBUF_LOCK
	lockRcvBuf                   // SOCK_RCVBUF_LOCK
)

// sizeGoal is Linux's tcp_xmit_size_goal with GSO: the bytes an skb of
// tcp_sendmsg holds, sk_gso_max_size bounded to half the largest window
// the peer offered (tcp_bound_to_half_wnd), in whole segments of the
// current MSS (timestamps taken off; itself bound to half the window, as
// tcp_sync_mss bounds mss_now: a 1536-byte window makes 768-byte skbs,
// peer-window-4k), at least one.
func (c *Conn) sizeGoal() int {
	mss := c.mss
	if c.flags&fTS != 0 {
		mss -= 12
	}
	mss = max(min(mss, c.halfWindow()), 1)
	goal := gsoMaxSize
	cut := int(c.maxSndWnd)
	if cut > 536 {
		cut /= 2
	}
	if cut > 0 && goal > cut {
		goal = max(cut, 48)
	}
	return max(goal/mss*mss, mss)
}

// dataEnd is the sequence number after the last byte written.
func (c *Conn) dataEnd() seqnum.Value { return c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len())) }

// sentEnd is SND.NXT clamped to the data in the send buffer.
func (c *Conn) sentEnd() seqnum.Value {
	end := c.dataEnd()
	switch {
	case c.sndNxt.LessThan(c.sndBufSeq):
		return c.sndBufSeq
	case end.LessThan(c.sndNxt):
		return end
	}
	return c.sndNxt
}

// tailSkb returns the bytes in the unsent skb at the queue's tail, and
// whether there is one.
func (c *Conn) tailSkb() (int, bool) {
	end, nxt := c.dataEnd(), c.sentEnd()
	if !nxt.LessThan(end) {
		return 0, false
	}
	start := nxt
	if nxt.LessThan(c.skbSeq) && c.skbSeq.LessThan(end) {
		start = c.skbSeq
	}
	return int(end.Sub(start)), true
}

// skbEnd returns the end of the unsent skb that holds the byte before x
// (SND.NXT < x <= the queue's end), as skbs lays the unsent data out: the
// newest skb from skbSeq to the end, full size-goal skbs before it.
func (c *Conn) skbEnd(x seqnum.Value) seqnum.Value {
	end := c.dataEnd()
	if !c.sentEnd().LessThan(c.skbSeq) || c.skbSeq.LessThan(x) || !c.skbSeq.LessThan(end) {
		return end
	}
	g := seqnum.Size(c.sizeGoal())
	back := c.skbSeq.Sub(x) / g * g
	return c.skbSeq.Add(-back)
}

// skbs counts the skbs Linux would hold for the send buffer's bytes.
func (c *Conn) skbs() int {
	if c.sndBuf.Len() == 0 {
		return 0
	}
	g := c.sizeGoal()
	end, nxt := c.dataEnd(), c.sentEnd()
	n := (int(nxt.Sub(c.sndBufSeq)) + g - 1) / g // sent, not acknowledged
	if tail, ok := c.tailSkb(); ok {
		n += 1 + (int(end.Sub(nxt))-tail+g-1)/g
	}
	return n
}

// wmemQueued is Linux's sk_wmem_queued for the send buffer: its bytes and
// the cost of the skbs holding them.
func (c *Conn) wmemQueued() int { return c.sndBuf.Len() + skbTruesize*c.skbs() }

// notsentLowat is the not-sent low-water mark in force.
func (c *Conn) notsentLowat() uint64 {
	if c.notsentLow != 0 {
		return uint64(c.notsentLow)
	}
	return uint64(uint32(c.layer.cfg.NotsentLowat))
}

// skbRoom returns how many of want bytes the next step of a write may
// queue, as tcp_sendmsg_locked: the unsent skb at the tail fills up to the
// size goal unchecked; a new skb (its start recorded in skbSeq) needs
// wmemQueued < sndBufLim and the unsent bytes below the low-water mark
// first (sk_stream_memory_free), and takes up to the size goal.
func (c *Conn) skbRoom(want int) int {
	g := c.sizeGoal()
	if tail, ok := c.tailSkb(); ok && tail < g && !c.tailIsRecordEnd(c.dataEnd()) {
		return min(want, g-tail) // (an MSG_EOR skb takes no more: tcp_skb_can_collapse_to)
	}
	if c.wmemQueued() >= int(c.sndBufLim) || uint64(c.notsentBytes()) >= c.notsentLowat() {
		return 0
	}
	c.skbSeq = c.dataEnd()
	return min(want, g)
}

// pushHead sends what may go when a write finds no room for a new skb
// (Linux's wait_for_memory pushes the queue before it waits), for the
// pushes within a write that skbFull (push.go) did not already make: the
// head skb went when it filled (tcp_push_one), and what the window left
// of it is the tail again and fills up to the size goal before the next
// room check. It lays the unsent data out as Linux would have built it
// after that push: skbs of the size goal from SND.NXT, the last one the
// tail, and the write asks again. It reports whether anything was sent.
func (c *Conn) pushHead() bool {
	if !c.pushWithin(pushNormal) {
		return false
	}
	if end, sent := c.dataEnd(), c.sentEnd(); sent.LessThan(end) {
		g := c.sizeGoal()
		c.skbSeq = sent.Add(seqnum.Size((int(end.Sub(sent)) - 1) / g * g))
	}
	return true
}

// sndBufExpand is Linux's tcp_sndbuf_expand: room for twice the
// congestion window (three times with BBR, bbr_sndbuf_expand), at least
// TCP_INIT_CWND segments, in per-segment worst-case skbs, up to
// tcp_wmem[2]. It never shrinks the limit and does nothing once
// SetSendBuffer locked it.
func (c *Conn) sndBufExpand() {
	if c.userLocks&lockSndBuf != 0 {
		return
	}
	mss := max(c.mss, 1)
	head := 1
	for head < mss+maxTCPHeader+skbShinfo {
		head <<= 1
	}
	perMSS := head + skbStruct
	segs := max(c.cc.window()/mss, initCwndSegs, int(c.reordering)+3+1)
	factor := 2
	if c.cc.name() == "bbr" {
		factor = 3
	}
	want := min(factor*segs*perMSS, c.layer.cfg.Wmem[2])
	if want > int(c.sndBufLim) {
		c.sndBufLim = int32(want)
	}
}

// sndBufSpace is Linux's tcp_new_space after an ACK freed send-buffer
// memory: the limit grows when a writer waits, memory is not short
// (tcp_should_expand_sndbuf: no tcp_mem pressure, usage below tcp_mem[0])
// and the congestion window is not full.
func (c *Conn) sndBufSpace() {
	l := c.layer
	if c.flags&fWriteBlocked == 0 || l.underPressure() || l.mem.Pages() >= int64(l.cfg.Mem[0]) {
		return
	}
	if c.pipe() >= c.cc.window() {
		return
	}
	c.sndBufExpand()
}

// SetSendBuffer sets SO_SNDBUF: the send-buffer limit becomes twice n
// (Linux doubles the value for the skbs' overhead), n capped by wmem_max,
// at least SOCK_MIN_SNDBUF (4608), and no longer autotuned.
func (c *Conn) SetSendBuffer(n int) {
	n = min(max(n, 0), c.layer.cfg.WmemMax)
	c.sndBufLim = int32(max(2*n, sockMinSndbuf))
	c.userLocks |= lockSndBuf
	c.writeSpace()
}

// SendBuffer returns the send-buffer limit in Linux's accounting
// (getsockopt SO_SNDBUF: sk_sndbuf).
func (c *Conn) SendBuffer() int { return int(c.sndBufLim) }

// writeSpace delivers the OnWritable a short Write is owed once the
// connection is writable (Linux sk_write_space).
func (c *Conn) writeSpace() {
	if c.flags&fWriteBlocked != 0 && c.flags&(fFinQueued|fGone|fOrphan) == 0 && c.Writable() {
		c.flags &^= fWriteBlocked
		c.chronoStop(c.layer.now, chronoSndbuf) // Linux tcp_check_space: SOCK_NOSPACE cleared
		if c.handler != nil && c.flags&fOpened != 0 {
			c.handler.OnWritable(c)
		}
	}
}

// recvSpace is the receive window space SO_RCVBUF n gives: Linux sets
// sk_rcvbuf to twice n capped by rmem_max, at least SOCK_MIN_RCVBUF
// (2304), and offers half of it as window (tcp_win_from_space with the
// default scaling ratio: SO_RCVBUF 65536 gives a 64240-byte SYN-ACK
// window and SO_RCVBUF 4000 2920, each rounded down to the MSS, measured).
func (l *Layer) recvSpace(n int) int {
	return winFromSpace(max(2*min(max(n, 0), l.cfg.RmemMax), sockMinRcvbuf))
}

// winFromSpace is the window a receive buffer of n bytes offers: half of
// it, as Linux's tcp_win_from_space at its default scaling ratio
// (TCP_DEFAULT_SCALING_RATIO, 50 %: the other half is skb overhead).
// Linux later moves the ratio to what the received skbs' payload is of
// their truesize; xdptcp keeps the default, having no skbs to measure.
// The window space (Conn.rcvCap) is always this of the buffer Linux would
// have: tcp_rmem[1] and [2] by default (65536 and 16 MiB of window),
// SO_RCVBUF's sk_rcvbuf once set (recvSpace).
func winFromSpace(n int) int { return max(n, 2) / 2 }

// windowShiftFor is the window scale offered by a connection whose
// SO_RCVBUF was set to n before its SYN or SYN-ACK (n <= 0: not set, the
// scale is sized for tcp_rmem[2]). Linux tcp_select_initial_window: with
// SOCK_RCVBUF_LOCK the window clamp is the buffer's space, and the scale
// is the smallest that covers it (ilog2(space) - 15): SO_RCVBUF 65536
// offers 1 (measured), 4000 offers 0.
func (l *Layer) windowShiftFor(n int) uint8 {
	if n <= 0 {
		return l.ourWindowShift()
	}
	return uint8(min(max(bits.Len(uint(l.recvSpace(n)))-16, 0), maxWindowShift))
}

// SetRecvBuffer sets SO_RCVBUF: the receive buffer offers n bytes of
// window (Linux's sk_rcvbuf is twice n, capped by rmem_max, at least
// SOCK_MIN_RCVBUF, and its window half of that), and no longer autotunes
// (SOCK_RCVBUF_LOCK stops tcp_rcv_space_adjust). Set on a connection
// already open, it does not change the window scale sent in the
// handshake (Linux neither); DialOptions.RcvBuf and ListenOptions.RcvBuf
// set it before the SYN, so that the scale fits it.
func (c *Conn) SetRecvBuffer(n int) {
	c.rcvCap = c.layer.recvSpace(n)
	c.userLocks |= lockRcvBuf
}

// RecvBuffer returns what getsockopt SO_RCVBUF reports, Linux's
// sk_rcvbuf: twice the window space (winFromSpace), so tcp_rmem[1]
// (autotuned up to tcp_rmem[2]) or twice what SetRecvBuffer set.
func (c *Conn) RecvBuffer() int {
	return 2 * c.rcvCap
}

// initRecvBuffer applies SO_RCVBUF n (> 0) set before the SYN or
// SYN-ACK: the buffer, and the window scale that fits it.
func (c *Conn) initRecvBuffer(n int) {
	if n <= 0 {
		return
	}
	c.SetRecvBuffer(n)
	if c.layer.cfg.WindowScaling {
		c.rcvShift = c.layer.windowShiftFor(n)
	}
}

// pushWithin sends from within a write, as tcp_sendmsg_locked's pushes
// do, and reports whether anything went: not before the connection is
// synchronized, nor while input of this receive batch is pending (the
// batch's end sends, ACK and data together).
func (c *Conn) pushWithin(mode pushMode) bool {
	if !c.state.synchronized() || c.flags&fPending != 0 {
		return false
	}
	nxt := c.sndNxt
	c.sendRound(c.layer.now, mode)
	return c.sndNxt != nxt
}

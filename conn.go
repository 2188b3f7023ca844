package xdptcp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// DefaultReadBuffer bounds the bytes a Conn holds for its reader beyond
// the TCP receive buffer. When it is full the loop stops taking data, the
// TCP receive buffer fills and the advertised window closes.
const DefaultReadBuffer = 256 << 10

// DefaultWriteBuffer bounds the bytes a Conn holds for the loop beyond the
// TCP send buffer: Write returns once its bytes are there (as write(2)
// returns once they are in the socket buffer) and blocks while it is full.
const DefaultWriteBuffer = 64 << 10

// Loop-side close requests, carried out once the write buffer is flushed.
const (
	closeWriteReq uint8 = 1 + iota
	closeFullReq
)

// Conn is a TCP connection served by a Stack, as a net.Conn. It behaves
// like *net.TCPConn where it matters: deadlines (errors satisfy
// errors.Is(err, os.ErrDeadlineExceeded) and Timeout()), net.ErrClosed
// after Close, errors as *net.OpError, io.EOF after the peer's FIN once the
// buffered data is read, CloseWrite and CloseRead.
//
// The application's goroutines never touch the TCP connection: they talk to
// the loop that owns it through Engine.Do and a bounded read buffer guarded
// by a mutex, and the loop never blocks on them.
//
//   - Read takes bytes the loop copied into the read buffer (at most
//     DefaultReadBuffer). When it is full the loop pauses reading, so the
//     TCP window closes on a peer whose data nobody reads; the reader's
//     progress resumes it.
//   - Write copies into a bounded write buffer (DefaultWriteBuffer) and
//     asks the loop to move it into the TCP send buffer; the writer waits
//     (or times out at its deadline) while both are full and is woken when
//     the peer's ACKs free space. Close and CloseWrite send their FIN
//     after the buffered bytes.
type Conn struct {
	s            *Stack
	loop         *Loop
	laddr, raddr *net.TCPAddr // set before the application sees the Conn; point into addrs
	addrs        connAddrs

	// Loop side: touched only on the loop.
	tc        *tcp.Conn
	gone      bool  // OnClose was delivered: tc must not be used
	closeReq  uint8 // closeWriteReq/closeReq: done once wbuf is flushed
	closeSent bool  // tc.Close was called
	closeDone bool  // the application's Close was carried out (sync)

	rmu sync.Mutex // serializes Reads
	wmu sync.Mutex // serializes Writes

	mu       sync.Mutex
	rbuf     []byte // received, unread: rbuf[roff:]
	roff     int
	rmax     int           // bound of len(rbuf)-roff
	paused   bool          // the loop called PauseRead because rbuf was full
	eof      bool          // the peer's FIN arrived after all its data
	err      error         // why the connection ended (reset, timeout, ...); nil if orderly or alive
	ended    bool          // the connection is gone on the loop
	rclosed  bool          // CloseRead
	wclosed  bool          // CloseWrite
	closed   bool          // Close
	closeRST bool          // Close found unread data or SetLinger(0): it resets
	linger0  bool          // SetLinger(0): Close resets at once
	lingerS  int           // SetLinger's positive time: Close waits up to it for the FIN's ACK
	lingerCh chan struct{} // Close's wait with lingerS: closed on the loop when it ends (endLinger)
	wbuf     []byte        // written, not yet in the TCP send buffer: wbuf[woff:]; nil (back in its pool, connbuf.go) when empty
	wrec     []int         // record ends (WriteRecord) in wbuf, ascending, each > woff
	woff     int
	wmax     int  // bound of len(wbuf)-woff
	resumeRq bool // the reader made room after a PauseRead: sync resumes reading
	queued   bool // a sync is posted to the loop and has not run
	opened   bool
	openDone bool

	// rwake and wwake (cap 1) wake a blocked Read or Write: the loop
	// signals progress, Close and the deadlines signal both or theirs; a
	// woken Read or Write checks its conditions again.
	rwake, wwake chan struct{}
	openCh       chan struct{} // Dial only (nil otherwise): closed when the handshake completes or fails
	rdl, wdl     deadline

	// syncFn is c.sync, made once for Engine.Do (no allocation per
	// call).
	syncFn func()

	onOpen func(c *Conn) // ConnHandler: start serving the connection

	rwakePosted bool // on its loop's rwakes list (Loop.wakeReader); on the loop only
}

var (
	_ net.Conn         = (*Conn)(nil)
	_ tcp.Handler      = (*Conn)(nil)
	_ tcp.LingerWaiter = (*Conn)(nil)
)

func newConn(s *Stack, l *Loop) *Conn {
	c := &Conn{
		s: s, loop: l, rmax: DefaultReadBuffer, wmax: DefaultWriteBuffer,
		rwake: make(chan struct{}, 1), wwake: make(chan struct{}, 1),
	}
	c.syncFn = c.sync
	c.rdl.wake = c.rwake
	c.wdl.wake = c.wwake
	return c
}

// connAddrs holds a Conn's local and remote addresses, with the storage
// of their IPs: part of the Conn, so that a connection's addresses cost
// no allocation of their own.
type connAddrs struct {
	l, r net.TCPAddr
	ip   [32]byte // l.IP in [:16], r.IP in [16:]
}

// ipIn returns a's address in buf (4 bytes for IPv4, as
// netip.Addr.AsSlice gives it, else 16).
func ipIn(buf []byte, a netip.Addr) net.IP {
	if a.Is4() {
		b := a.As4()
		return net.IP(buf[:copy(buf[:4:4], b[:])])
	}
	b := a.As16()
	return net.IP(buf[:copy(buf[:16:16], b[:])])
}

// setTCP records the loop-side connection and its addresses; on the loop,
// before the application sees c.
func (c *Conn) setTCP(tc *tcp.Conn) {
	c.tc = tc
	k := tc.Key()
	a := &c.addrs
	a.l = net.TCPAddr{IP: ipIn(a.ip[:16], k.LocalAddr.Netip()), Port: int(k.LocalPort)}
	a.r = net.TCPAddr{IP: ipIn(a.ip[16:], k.RemoteAddr.Netip()), Port: int(k.RemotePort)}
	c.laddr, c.raddr = &a.l, &a.r
}

func (c *Conn) bindLoop(s *Stack, l *Loop) { c.s, c.loop = s, l }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ---- loop side: tcp.Handler ----

// OnOpen implements tcp.Handler (on the loop).
func (c *Conn) OnOpen(tc *tcp.Conn) {
	if c.tc == nil {
		c.setTCP(tc)
	}
	c.mu.Lock()
	c.opened = true
	first := !c.openDone
	c.openDone = true
	c.mu.Unlock()
	if first && c.openCh != nil {
		close(c.openCh)
		c.loop.woke()
	}
	if c.onOpen != nil {
		c.onOpen(c)
		c.loop.woke()
	}
}

// OnData implements tcp.Handler (on the loop): it copies what fits in the
// read buffer and pauses reading when the rest does not fit.
func (c *Conn) OnData(tc *tcp.Conn, data []byte) int {
	c.mu.Lock()
	if c.rclosed || c.closed {
		c.mu.Unlock()
		return len(data) // shut down for reading: dropped
	}
	have := len(c.rbuf) - c.roff
	// What does not fit stays in the TCP receive buffer (PauseRead
	// below), which stack/tcp keeps readable after TIME-WAIT or CLOSED
	// as Linux does (Conn.holdTail): a half-closed reader loses nothing.
	n := min(len(data), c.rmax-have)
	if n > 0 {
		if c.roff > 0 && len(c.rbuf)+n > cap(c.rbuf) {
			copy(c.rbuf, c.rbuf[c.roff:])
			c.rbuf = c.rbuf[:have]
			c.roff = 0
		}
		c.rbuf = append(growConnBuf(c.rbuf, n), data[:n]...)
	}
	if n < len(data) {
		// tcp.Conn offers the rest again only after PauseRead/ResumeRead.
		c.paused = true
		tc.PauseRead()
	}
	c.mu.Unlock()
	if n > 0 {
		// Woken at the end of the loop iteration, once for all the
		// segments of its RX batch (GRO-like: one wake-up per batch).
		c.loop.wakeReader(c)
	}
	return n
}

// OnWritable implements tcp.Handler (on the loop).
func (c *Conn) OnWritable(tc *tcp.Conn) { c.sync() }

// OnPeerClose implements tcp.Handler (on the loop).
func (c *Conn) OnPeerClose(tc *tcp.Conn) {
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	signal(c.rwake)
	c.loop.woke()
}

// OnClose implements tcp.Handler (on the loop).
func (c *Conn) OnClose(tc *tcp.Conn, err error) {
	if c.tc == nil {
		c.setTCP(tc)
	}
	c.gone = true
	c.mu.Lock()
	c.ended = true
	if err != nil {
		c.err = mapTCPError(err)
	}
	first := !c.openDone
	c.openDone = true
	c.mu.Unlock()
	if first && c.openCh != nil {
		close(c.openCh)
	}
	c.endLinger()
	signal(c.rwake)
	signal(c.wwake)
	c.loop.woke()
}

// sync brings the loop side up to what the application asked (on the
// loop; posted by Read, Write and Close, called by OnWritable): reading
// resumes once the reader made room, the write buffer moves into the TCP
// send buffer, and Close is carried out after it. One function for all
// of them, so that a Conn posts to its loop with one closure made once.
func (c *Conn) sync() {
	if c.gone || c.tc == nil {
		return
	}
	c.mu.Lock()
	c.queued = false
	resume := c.resumeRq
	c.resumeRq = false
	closing := c.closed && !c.closeDone
	c.closeDone = c.closed
	rst := c.closeRST
	c.mu.Unlock()
	if !closing {
		if resume {
			c.tc.ResumeRead()
		}
		c.flush()
		return
	}
	if rst {
		c.tc.SetLinger(0)
		c.tc.Close() // RST at once: buffered writes are dropped
		return
	}
	c.closeReq = closeFullReq
	c.flush()
	if !c.closeSent && !c.gone {
		// The peer takes no more data and the write buffer cannot
		// drain: bound the orphan's life by tcp_fin_timeout, as Linux
		// bounds an orphan's zero-window probes, then reset it.
		d := c.loop.engine.TCP().Config().FinTimeout
		time.AfterFunc(d, func() {
			c.s.post(c.loop, func() {
				if !c.gone && !c.closeSent {
					c.tc.Abort()
				}
			})
		})
	}
}

// flush moves the write buffer into the TCP send buffer, gives the
// buffer back to its pool once it is empty, and carries out a close
// request then (on the loop).
func (c *Conn) flush() {
	if c.gone || c.tc == nil {
		return
	}
	c.mu.Lock()
	n := 0
	for c.woff < len(c.wbuf) {
		// Up to the next record end (WriteRecord), which goes with
		// tcp.Conn.WriteEOR; the rest with Write.
		var k int
		whole := false
		if len(c.wrec) > 0 {
			end := c.wrec[0]
			k = c.tc.WriteEOR(c.wbuf[c.woff:end])
			if whole = c.woff+k == end; whole {
				c.wrec = c.wrec[:copy(c.wrec, c.wrec[1:])]
			}
		} else {
			k = c.tc.Write(c.wbuf[c.woff:])
		}
		c.woff += k
		n += k
		if c.woff == len(c.wbuf) {
			putConnBuf(c.wbuf)
			c.wbuf, c.woff, c.wrec = nil, 0, c.wrec[:0]
		}
		if whole && c.woff < len(c.wbuf) {
			continue // that record went whole: what follows it
		}
		if n == 0 {
			switch c.tc.State() {
			case tcp.StateSynSent, tcp.StateSynReceived, tcp.StateEstablished, tcp.StateCloseWait:
				// send buffer full: OnWritable follows
			default:
				c.wclosed = true // can no longer send (FIN queued or gone)
			}
		}
		break
	}
	empty := c.woff == len(c.wbuf)
	c.mu.Unlock()
	if n > 0 {
		signal(c.wwake)
		c.loop.woke()
	}
	if empty {
		switch c.closeReq {
		case closeWriteReq:
			c.tc.CloseWrite()
		case closeFullReq:
			c.closeSent = true
			c.tc.Close()
			if !c.gone && !c.tc.Lingering() {
				c.endLinger() // nothing to wait for: no FIN in flight (Linux's closing() false)
			}
		}
	}
}

// mapTCPError turns a stack error into the errno a *net.TCPConn would
// carry, keeping the stack's error for errors.Is.
func mapTCPError(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, tcp.ErrReset):
		errno = syscall.ECONNRESET
	case errors.Is(err, tcp.ErrRefused):
		errno = syscall.ECONNREFUSED
	case errors.Is(err, tcp.ErrTimeout):
		errno = syscall.ETIMEDOUT
	case errors.Is(err, tcp.ErrAborted):
		errno = syscall.ECONNABORTED
	case errors.Is(err, tcp.ErrNoPorts):
		errno = syscall.EADDRNOTAVAIL
	case errors.Is(err, tcp.ErrAddrInUse):
		errno = syscall.EADDRINUSE
	default:
		return err
	}
	return &connError{errno: errno, err: err}
}

// connError is a connection failure: errors.Is matches both the errno
// (syscall.ECONNRESET, ...) and the stack's error (tcp.ErrReset, ...).
type connError struct {
	errno syscall.Errno
	err   error
}

func (e *connError) Error() string   { return e.errno.Error() }
func (e *connError) Unwrap() []error { return []error{e.errno, e.err} }
func (e *connError) Timeout() bool   { return e.errno == syscall.ETIMEDOUT }

// ---- application side: net.Conn ----

func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var src, addr net.Addr
	if c.laddr != nil {
		src = c.laddr
	}
	if c.raddr != nil {
		addr = c.raddr
	}
	return &net.OpError{Op: op, Net: "tcp", Source: src, Addr: addr, Err: err}
}

// Read reads data from the connection, like (*net.TCPConn).Read.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	done := c.s.net.doneCh()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rdl.expired() {
			c.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		if len(b) == 0 {
			c.mu.Unlock()
			return 0, nil
		}
		if have := len(c.rbuf) - c.roff; have > 0 && !c.rclosed {
			n := copy(b, c.rbuf[c.roff:])
			c.roff += n
			if c.roff == len(c.rbuf) {
				putConnBuf(c.rbuf)
				c.rbuf, c.roff = nil, 0
			}
			post := c.paused && len(c.rbuf)-c.roff <= c.rmax/2 && c.resumeLocked()
			c.mu.Unlock()
			if post {
				c.s.post(c.loop, c.syncFn)
			}
			return n, nil
		}
		switch {
		case c.rclosed || c.eof:
			c.mu.Unlock()
			return 0, io.EOF
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return 0, c.opError("read", err)
		case c.ended:
			c.mu.Unlock()
			return 0, io.EOF
		}
		c.mu.Unlock()
		select {
		case <-c.rwake: // data, EOF, an error, Close or the deadline
		case <-done:
			return 0, c.opError("read", net.ErrClosed)
		}
	}
}

// Write writes data to the connection, like (*net.TCPConn).Write: it
// returns once every byte is buffered for sending, or with the count
// buffered and an error (deadline, Close, reset).
func (c *Conn) Write(b []byte) (int, error) { return c.write(b, false) }

// WriteRecord is Write for one record: b's end is a record end, as
// send(2) with MSG_EOR on Linux. No TCP segment, first sent or
// retransmitted, carries the end of b together with data written after
// it (tcp.Conn.WriteEOR); data written before it in the same segment is
// allowed, as in Linux. A WriteRecord that returns an error before all of
// b is buffered marks no record end.
func (c *Conn) WriteRecord(b []byte) (int, error) { return c.write(b, true) }

func (c *Conn) write(b []byte, record bool) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	done := c.s.net.doneCh()
	written := 0
	for {
		c.mu.Lock()
		if err := c.writeErrLocked(); err != nil {
			c.mu.Unlock()
			return written, c.opError("write", err)
		}
		if written == len(b) {
			c.mu.Unlock()
			return written, nil
		}
		if free := c.wmax - (len(c.wbuf) - c.woff); free > 0 {
			n := min(free, len(b)-written)
			if c.woff > 0 && len(c.wbuf)+n > cap(c.wbuf) {
				have := copy(c.wbuf, c.wbuf[c.woff:])
				for i := range c.wrec {
					c.wrec[i] -= c.woff
				}
				c.wbuf, c.woff = c.wbuf[:have], 0
			}
			c.wbuf = append(growConnBuf(c.wbuf, n), b[written:written+n]...)
			written += n
			if record && written == len(b) {
				c.wrec = append(c.wrec, len(c.wbuf))
			}
			post := c.queueLocked()
			c.mu.Unlock()
			if post {
				if err := c.s.post(c.loop, c.syncFn); err != nil {
					return written, c.opError("write", err)
				}
			}
			continue
		}
		c.mu.Unlock()
		select {
		case <-c.wwake: // room, an error, Close or the deadline
		case <-done:
			return written, c.opError("write", net.ErrClosed)
		}
	}
}

// queueLocked reports whether the caller must post c.sync to the loop
// (none is posted yet) and marks one posted; c.mu held.
func (c *Conn) queueLocked() bool {
	post := !c.queued
	c.queued = true
	return post
}

// resumeLocked asks sync to resume reading (the reader made room after a
// PauseRead) and reports whether the caller must post it; c.mu held.
func (c *Conn) resumeLocked() bool {
	c.paused = false
	c.resumeRq = true
	return c.queueLocked()
}

// writeErrLocked says why a Write cannot go on (nil: it can); c.mu held.
func (c *Conn) writeErrLocked() error {
	switch {
	case c.closed:
		return net.ErrClosed
	case c.wdl.expired():
		return os.ErrDeadlineExceeded
	case c.err != nil:
		return c.err
	case c.wclosed || c.ended:
		return syscall.EPIPE
	}
	return nil
}

// Close closes the connection. Unread received data makes it a reset, as
// Linux's close(2) does (RFC 2525 §2.17); otherwise a FIN follows the
// written data. Blocked Reads and Writes return net.ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.closeRST = len(c.rbuf)-c.roff > 0 || c.linger0
	putConnBuf(c.rbuf)
	c.rbuf, c.roff = nil, 0
	var wait <-chan struct{}
	linger := time.Duration(c.lingerS) * time.Second
	if linger > 0 && !c.closeRST && !c.ended {
		ch := make(chan struct{})
		c.lingerCh, wait = ch, ch
	}
	post := c.queueLocked()
	c.mu.Unlock()
	signal(c.rwake)
	signal(c.wwake)
	if post {
		c.s.post(c.loop, c.syncFn) // sync carries the Close out
	}
	if wait != nil {
		// SO_LINGER: as Linux's close(2), wait until the FIN (after
		// everything written) is acknowledged or the connection ended,
		// at most the linger time (sk_stream_wait_close).
		t := time.NewTimer(linger)
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// OnLingerDone implements tcp.LingerWaiter (on the loop): the FIN of a
// lingering Close was acknowledged, or the connection ended.
func (c *Conn) OnLingerDone(tc *tcp.Conn) { c.endLinger() }

// endLinger ends a lingering Close's wait, if one waits (on the loop).
func (c *Conn) endLinger() {
	c.mu.Lock()
	ch := c.lingerCh
	c.lingerCh = nil
	c.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// CloseWrite shuts down the sending side (shutdown(SHUT_WR)): a FIN
// follows the data already written.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.wclosed = true
	c.mu.Unlock()
	signal(c.wwake)
	return c.opError("close", c.s.post(c.loop, func() {
		if c.closeReq == 0 {
			c.closeReq = closeWriteReq
		}
		c.flush()
		c.mu.Lock()
		paused := c.paused
		c.paused = false
		c.mu.Unlock()
		if paused && !c.gone {
			c.tc.ResumeRead() // the larger limit applies now (see OnData)
		}
	}))
}

// CloseRead shuts down the receiving side (shutdown(SHUT_RD)): Read returns
// io.EOF and data that arrives later is dropped.
func (c *Conn) CloseRead() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.rclosed = true
	putConnBuf(c.rbuf)
	c.rbuf, c.roff = nil, 0
	post := c.paused && c.resumeLocked()
	c.mu.Unlock()
	signal(c.rwake)
	if post {
		return c.opError("close", c.s.post(c.loop, c.syncFn))
	}
	return nil
}

// onLoopSet runs a setter on the loop unless the connection is closed.
func (c *Conn) onLoopSet(op string, fn func(tc *tcp.Conn)) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return c.opError(op, net.ErrClosed)
	}
	return c.opError(op, c.s.post(c.loop, func() {
		if !c.gone && c.tc != nil {
			fn(c.tc)
		}
	}))
}

// SetNoDelay turns Nagle's algorithm off (true, the default, as in Go's
// net package) or on.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetNoDelay(noDelay) })
}

// SetReadBuffer sets SO_RCVBUF as *net.TCPConn does: the receive window
// becomes bytes and no longer autotunes (tcp.Conn.SetRecvBuffer: Linux
// doubles the value, capped by rmem_max).
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetRecvBuffer(bytes) })
}

// SetWriteBuffer sets SO_SNDBUF as *net.TCPConn does: the TCP send
// buffer's limit becomes twice bytes (capped by wmem_max) in Linux's skb
// accounting and no longer autotunes (tcp.Conn.SetSendBuffer). The Conn's
// own 64 KiB write buffer stays in front of it.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetSendBuffer(bytes) })
}

// SetCongestionControl sets the connection's congestion control ("cubic",
// "bbr", "newreno" or "reno"), as Linux's TCP_CONGESTION socket option:
// the new controller starts from the current window.
// An unknown name returns an error wrapping tcp.ErrBadCongestionControl.
func (c *Conn) SetCongestionControl(name string) error {
	probe := tcp.DefaultConfig()
	if probe.Set("tcp_congestion_control", name) != nil {
		return c.opError("set", tcp.ErrBadCongestionControl)
	}
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetCongestionControl(name) })
}

// SetKeepAlive turns keepalive probes on or off (SO_KEEPALIVE; probes
// follow tcp_keepalive_time/intvl/probes).
func (c *Conn) SetKeepAlive(on bool) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetKeepAlive(on) })
}

// SetKeepAlivePeriod sets the idle time before the first probe
// (TCP_KEEPIDLE).
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetKeepAlivePeriod(d) })
}

// SetLinger sets SO_LINGER: 0 makes Close reset the connection (no
// TIME-WAIT); a negative value (the default) closes with a FIN in the
// background; with a positive one Close sends the FIN after what was
// written and waits, as Linux's close(2) does, until it is acknowledged
// or the connection ended, at most sec seconds (the close goes on in the
// background after that).
func (c *Conn) SetLinger(sec int) error {
	c.mu.Lock()
	c.linger0 = sec == 0
	c.lingerS = max(sec, 0)
	c.mu.Unlock()
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetLinger(sec) })
}

// SetLinger2 sets TCP_LINGER2 (tcp.Conn.SetLinger2): a positive value is
// how many seconds (at most 120) the closed connection waits in
// FIN-WAIT-2 for the peer's FIN instead of tcp_fin_timeout, 0 restores
// tcp_fin_timeout, a negative one resets the connection once its FIN is
// acknowledged instead of waiting at all.
func (c *Conn) SetLinger2(sec int) error {
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetLinger2(sec) })
}

// SetQuickAck is TCP_QUICKACK (tcp.Conn.SetQuickAck): false delays ACKs
// until data or the delayed-ACK timer carries them (pingpong mode); true
// leaves that mode and sends an ACK owed for data already read.
func (c *Conn) SetQuickAck(quick bool) error {
	val := 0
	if quick {
		val = 1
	}
	return c.onLoopSet("set", func(tc *tcp.Conn) { tc.SetQuickAck(val) })
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for Read calls, pending ones included;
// zero means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included; zero means none.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

// deadline is one direction's deadline: when it passes, fired is set and
// wake (the Conn's rwake or wwake) signalled, so that a Read or Write
// blocked in that direction wakes and sees it expired. Its timer is made
// by the first set and reset by the next ones (no allocation per set:
// net/http sets a deadline per request).
type deadline struct {
	mu    sync.Mutex
	at    time.Time   // the deadline; zero: none
	timer *time.Timer // fires at (or after) at; a stale firing finds at not passed and does nothing
	fired atomic.Bool // at has passed (read without mu by Read and Write)
	wake  chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	d.fired.Store(false)
	if t.IsZero() {
		if d.timer != nil {
			d.timer.Stop()
		}
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		if d.timer != nil {
			d.timer.Stop()
		}
		d.fired.Store(true)
		signal(d.wake)
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(dur, d.fire)
		return
	}
	d.timer.Reset(dur)
}

// fire runs on the timer: the deadline has passed unless set moved it
// since the timer was started.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.at.IsZero() && !time.Now().Before(d.at) && !d.fired.Load() {
		d.fired.Store(true)
		signal(d.wake)
	}
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool { return d.fired.Load() }

// Info returns the connection's TCP_INFO (Linux struct tcp_info: RTT,
// congestion window, retransmissions, byte and segment counts; what
// `ss -ti` shows), read on the connection's loop; it waits for the loop.
// After Close, or once the connection is gone, it returns net.ErrClosed.
func (c *Conn) Info() (tcp.TCPInfo, error) {
	var in tcp.TCPInfo
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return in, c.opError("info", net.ErrClosed)
	}
	ok := false
	done := make(chan struct{})
	err := c.s.post(c.loop, func() {
		if !c.gone && c.tc != nil {
			in, ok = c.tc.Info(), true
		}
		close(done)
	})
	if err != nil {
		return in, c.opError("info", err)
	}
	select {
	case <-done:
	case <-c.s.net.doneCh():
		return in, c.opError("info", net.ErrClosed)
	case <-c.loop.stopped: // nil before Start: never
		select {
		case <-done:
		default:
			return in, c.opError("info", ErrLoopStopped)
		}
	}
	if !ok {
		return in, c.opError("info", net.ErrClosed)
	}
	return in, nil
}

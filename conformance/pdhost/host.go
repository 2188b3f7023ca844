// Package pdhost is the socket layer packetdrill drives in shared-object
// mode: BSD socket calls with Linux's semantics and errno values, over a
// real xdptcp engine (stack.Engine running its own loop) whose link is
// packetdrill itself (NetdevSend / NetdevReceive carry raw IPv4 and IPv6
// packets). AF_INET and AF_INET6 sockets are served; an AF_INET6 socket
// talking to ::ffff:a.b.c.d sends IPv4, as Linux's (packetdrill's
// ipv4-mapped-ipv6 mode).
// The cgo library in conformance/adapter exports it as packetdrill's
// struct packetdrill_interface.
//
// Every socket is a real file descriptor (an eventfd), so packetdrill can
// close(2) what a script left open. Calls run their TCP work on the loop
// through Engine.Do and wait for it; blocking calls sleep on a condition
// variable that every connection event broadcasts, so the calling thread
// sleeps as in the kernel. Time is the engine's clock (real time).
package pdhost

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/syncookie"
)

// Errno is a Linux errno value; 0 is success.
type Errno = syscall.Errno

// Options configure a Host.
type Options struct {
	Local    [4]byte  // our IPv4 address (packetdrill's --local_ip); zero: none
	Gateway  [4]byte  // IPv4 next hop for every remote (a fake neighbour: the link)
	Local6   [16]byte // our IPv6 address (--local_ip in --ip_version=ipv6); zero: none
	Gateway6 [16]byte // IPv6 next hop for every remote
	MTU      int      // IP MTU (packetdrill's --mtu, 1500; google's ipv6 runs give 1520)
}

// MACs of the two ends of the in-memory Ethernet link.
var (
	hostMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	peerMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// Host is one xdptcp engine with a socket table.
type Host struct {
	opt    Options
	link   *link
	eng    *stack.Engine
	clk    *clock.Mono
	jar    *syncookie.Jar
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	cond  *sync.Cond
	gen   uint64 // bumped by every connection event
	socks map[int]*sock
}

// New starts an engine at o.Local and its loop.
func New(o Options) (*Host, error) {
	if o.MTU <= 0 {
		o.MTU = 1500
	}
	lk, err := newLink(256, 65536+64) // packetdrill injects packets up to 64 KiB (GRO-sized), beyond the MTU
	if err != nil {
		return nil, err
	}
	jar, err := syncookie.New()
	if err != nil {
		lk.close()
		return nil, err
	}
	h := &Host{opt: o, link: lk, clk: clock.NewMono(), jar: jar, socks: map[int]*sock{}, done: make(chan struct{})}
	h.cond = sync.NewCond(&h.mu)
	tcfg := tcp.DefaultConfig()
	h.eng = stack.NewEngine(stack.Config{Addr: o.Local, PrefixLen: 32, Gateway: o.Gateway,
		Addr6: o.Local6, PrefixLen6: 128, Gateway6: o.Gateway6, MAC: hostMAC, MTU: o.MTU, TCP: tcfg}, lk, h.clk.Now())
	if o.Gateway != ([4]byte{}) {
		h.eng.SetNeighbor(flowtable.AddrFrom4(o.Gateway), peerMAC)
	}
	if o.Gateway6 != ([16]byte{}) {
		h.eng.SetNeighbor(flowtable.Addr(o.Gateway6), peerMAC)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		h.eng.Run(ctx, h.clk)
		close(h.done)
	}()
	return h, nil
}

// Stop stops the loop and releases the descriptors still open.
func (h *Host) Stop() {
	h.cancel()
	<-h.done
	h.eng.Close()
	h.mu.Lock()
	for fd := range h.socks {
		unix.Close(fd)
	}
	h.socks = map[int]*sock{}
	h.mu.Unlock()
	h.link.close()
}

// do runs fn on the loop and waits for it.
func (h *Host) do(fn func()) {
	done := make(chan struct{})
	for !h.eng.Do(func() { fn(); close(done) }) {
		time.Sleep(time.Millisecond)
	}
	<-done
}

// bump wakes every waiter: something may have changed.
func (h *Host) bump() {
	h.mu.Lock()
	h.gen++
	h.cond.Broadcast()
	h.mu.Unlock()
}

func (h *Host) generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// waitChange sleeps until an event after generation g, or until deadline
// (zero: none). It reports false on timeout.
func (h *Host) waitChange(g uint64, deadline time.Time) bool {
	var t *time.Timer
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		t = time.AfterFunc(d, h.bump)
		defer t.Stop()
	}
	h.mu.Lock()
	for h.gen == g {
		h.cond.Wait()
	}
	h.mu.Unlock()
	return deadline.IsZero() || time.Now().Before(deadline)
}

// block runs try on the loop until it reports done, sleeping between
// tries until the next event. With nonblock, one try only (EAGAIN if not
// done); with a timeout (>= 0) ETIMEDOUT-free: returns done=false at the
// deadline.
func (h *Host) block(nonblock bool, timeout time.Duration, try func() bool) bool {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		g := h.generation()
		ok := false
		h.do(func() { ok = try() })
		if ok {
			return true
		}
		if nonblock || (timeout >= 0 && !time.Now().Before(deadline)) {
			return false
		}
		if !h.waitChange(g, deadline) && timeout >= 0 {
			h.do(func() { ok = try() })
			return ok
		}
	}
}

// sock is one descriptor: a TCP socket or an epoll instance.
type sock struct {
	fd       int
	family   int // unix.AF_INET or unix.AF_INET6
	nonblock bool

	bound bool
	laddr flowtable.Addr // zero: any address
	lport uint16

	ln *tcp.Listener
	cs *connState // nil until connect/accept

	opts   sockOpts
	shutRd bool
	shutWr bool
	soErr  Errno // pending SO_ERROR

	epoll map[int]*epEntry // non-nil for an epoll instance
}

// sockOpts are the socket options a script may set before the connection
// exists; they apply when it does (and accepted sockets inherit them).
type sockOpts struct {
	reuseAddr   int
	noDelay     bool
	keepAlive   bool
	keepIdle    int // seconds; 0: tcp_keepalive_time
	keepIntvl   int // seconds; 0: tcp_keepalive_intvl
	keepCnt     int // 0: tcp_keepalive_probes
	lingerOn    bool
	lingerSecs  int
	synCnt      int // TCP_SYNCNT, 1..127; 0: tcp_syn_retries
	linger2     int // TCP_LINGER2 as Linux keeps it: -1, or seconds <= 120; 0: tcp_fin_timeout
	maxSeg      int
	inq         bool // TCP_INQ: recvmsg adds a TCP_CM_INQ control message
	cork        bool // TCP_CORK
	thinLTO     bool // TCP_THIN_LINEAR_TIMEOUTS
	rcvBuf      int  // SO_RCVBUF as set (valid with rcvBufSet)
	sndBuf      int  // SO_SNDBUF as set (valid with sndBufSet)
	rcvBufSet   bool // SO_RCVBUF was set: the buffer is locked (Linux SOCK_RCVBUF_LOCK)
	sndBufSet   bool // SO_SNDBUF was set: Conn.SetSendBuffer (Linux SOCK_SNDBUF_LOCK)
	userTimeout int
	notsentLow  uint32 // TCP_NOTSENT_LOWAT; 0: tcp_notsent_lowat
	tos         uint8  // IP_TOS, ECN bits clear
	pmtudisc    int    // IP_MTU_DISCOVER as set (recorded only: xdptcp always does PMTU discovery with DF)
	cc          string // TCP_CONGESTION as set; "": tcp_congestion_control
}

// rcvBufOpt is SO_RCVBUF for tcp.ListenOptions/DialOptions: 0 when not
// set (a value set to 0 or less gives Linux's minimum, as 1 does).
func (o *sockOpts) rcvBufOpt() int {
	if !o.rcvBufSet {
		return 0
	}
	return max(o.rcvBuf, 1)
}

// connState is a connection's tcp.Handler. Its fields are used on the loop
// only.
type connState struct {
	h      *Host
	c      *tcp.Conn
	opened bool
	eof    bool // OnPeerClose: the peer's FIN was read past all data
	gone   bool // OnClose
	err    error
	errRep bool // err was reported once by read/write

	ev uint64 // events so far (edge-triggered epoll reports after a new one)

	pend []byte // a read in progress: OnData copies here
	n    int
	peek bool
}

func (cs *connState) OnOpen(c *tcp.Conn) { cs.opened = true; cs.ev++; cs.h.bump() }

func (cs *connState) OnData(c *tcp.Conn, data []byte) int {
	if cs.pend == nil {
		cs.ev++ // an arrival, not the delivery of a read
	}
	cs.h.bump()
	if cs.pend == nil {
		return 0 // stays in the receive buffer until read(2)
	}
	k := copy(cs.pend[cs.n:], data)
	cs.n += k
	if cs.peek {
		return 0
	}
	return k
}

func (cs *connState) OnWritable(c *tcp.Conn) { cs.ev++; cs.h.bump() }

func (cs *connState) OnPeerClose(c *tcp.Conn) { cs.eof = true; cs.ev++; cs.h.bump() }

// OnLingerDone implements tcp.LingerWaiter: a close(2) with SO_LINGER
// may return.
func (cs *connState) OnLingerDone(c *tcp.Conn) { cs.h.bump() }

func (cs *connState) OnClose(c *tcp.Conn, err error) {
	cs.gone, cs.err = true, err
	cs.ev++
	cs.h.bump()
}

// errno maps the stack's connection errors to Linux errno values.
func errnoOf(err error) Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, tcp.ErrReset), errors.Is(err, tcp.ErrAborted):
		return syscall.ECONNRESET
	case errors.Is(err, tcp.ErrRefused):
		return syscall.ECONNREFUSED
	case errors.Is(err, tcp.ErrTimeout):
		return syscall.ETIMEDOUT
	case errors.Is(err, tcp.ErrAddrInUse):
		return syscall.EADDRINUSE
	case errors.Is(err, tcp.ErrNoPorts):
		return syscall.EADDRNOTAVAIL
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e // a soft ICMP error (EHOSTUNREACH, ...): tcp.Layer.ICMPError
	}
	return syscall.EIO
}

func (h *Host) get(fd int) (*sock, Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.socks[fd]
	if s == nil {
		return nil, syscall.EBADF
	}
	return s, 0
}

// newFD reserves a real descriptor for a new socket.
func (h *Host) newFD() (*sock, Errno) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err.(Errno)
	}
	s := &sock{fd: fd}
	h.mu.Lock()
	h.socks[fd] = s
	h.mu.Unlock()
	return s, 0
}

// Socket is socket(2): AF_INET or AF_INET6, SOCK_STREAM, TCP only.
func (h *Host) Socket(domain, typ, proto int) (int, Errno) {
	if domain != unix.AF_INET && domain != unix.AF_INET6 {
		return -1, syscall.EAFNOSUPPORT
	}
	if typ&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != unix.SOCK_STREAM {
		return -1, syscall.ESOCKTNOSUPPORT
	}
	if proto != 0 && proto != unix.IPPROTO_TCP {
		return -1, syscall.EPROTONOSUPPORT
	}
	s, e := h.newFD()
	if e != 0 {
		return -1, e
	}
	s.family = domain
	s.nonblock = typ&unix.SOCK_NONBLOCK != 0
	return s.fd, 0
}

// Family returns the address family of fd's socket (0 if fd is none).
func (h *Host) Family(fd int) int {
	s, e := h.get(fd)
	if e != 0 {
		return 0
	}
	return s.family
}

// ours reports whether a is an address of this host (any family).
func (h *Host) ours(a flowtable.Addr) bool {
	if a.Is4() {
		return h.opt.Local != ([4]byte{}) && a.As4() == h.opt.Local
	}
	return h.opt.Local6 != ([16]byte{}) && a == flowtable.Addr(h.opt.Local6)
}

// familyOK checks a socket address against the socket's family: Linux
// inet_bind and tcp_v4_connect want AF_INET, inet6_bind and
// tcp_v6_connect AF_INET6 (else EAFNOSUPPORT); an AF_INET6 socket takes
// IPv4 peers as ::ffff:a.b.c.d.
func (s *sock) familyOK(sa Sockaddr) Errno {
	if sa.Family != s.family {
		return syscall.EAFNOSUPPORT
	}
	return 0
}

// Bind is bind(2).
func (h *Host) Bind(fd int, sa Sockaddr) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	if s.epoll != nil {
		return syscall.ENOTSOCK
	}
	if s.bound {
		return syscall.EINVAL
	}
	if e := s.familyOK(sa); e != 0 {
		return e
	}
	if !sa.Addr.IsZero() && !h.ours(sa.Addr) {
		return syscall.EADDRNOTAVAIL
	}
	s.bound, s.laddr, s.lport = true, sa.Addr, sa.Port
	return 0
}

// Listen is listen(2).
func (h *Host) Listen(fd, backlog int) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	if s.epoll != nil {
		return syscall.ENOTSOCK
	}
	if s.cs != nil {
		return syscall.EINVAL
	}
	if s.ln != nil {
		return 0
	}
	if !s.bound || s.lport == 0 {
		return syscall.EINVAL // xdptcp has no autobind of a listener
	}
	var err error
	h.do(func() {
		if backlog <= 0 {
			backlog = 1 // xdptcp's backlog 0 means somaxconn; Linux's 0 holds one
		}
		s.ln, err = h.eng.TCP().Listen(s.laddr, s.lport, tcp.ListenOptions{Backlog: backlog, Notify: h.bump, Cookies: h.jar, MSS: s.opts.maxSeg, RcvBuf: s.opts.rcvBufOpt(), CongestionControl: s.opts.cc, SynCount: s.opts.synCnt})
	})
	return errnoOf(err)
}

// Accept is accept(2); it returns the new descriptor and the peer, in
// the listening socket's family.
func (h *Host) Accept(fd int) (int, Sockaddr, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return -1, Sockaddr{}, e
	}
	if s.ln == nil {
		return -1, Sockaddr{}, syscall.EINVAL
	}
	var c *tcp.Conn
	ok := h.block(s.nonblock, -1, func() bool {
		c, _ = s.ln.Accept()
		return c != nil
	})
	if !ok {
		return -1, Sockaddr{}, syscall.EAGAIN
	}
	ns, e := h.newFD()
	if e != 0 {
		h.do(c.Abort)
		return -1, Sockaddr{}, e
	}
	ns.opts = s.opts
	ns.family = s.family
	k := c.Key()
	ns.bound, ns.laddr, ns.lport = true, k.LocalAddr, k.LocalPort
	cs := &connState{h: h, c: c}
	ns.cs = cs
	h.do(func() {
		c.SetHandler(cs)
		h.applyOpts(ns)
	})
	return ns.fd, Sockaddr{Family: s.family, Addr: k.RemoteAddr, Port: k.RemotePort}, 0
}

// applyOpts gives the connection the options set on the socket. On the
// loop.
func (h *Host) applyOpts(s *sock) {
	c := s.cs.c
	c.SetCork(s.opts.cork)
	c.SetThinLinearTimeouts(s.opts.thinLTO)
	c.SetNoDelay(s.opts.noDelay) // Linux: Nagle on unless TCP_NODELAY
	if s.opts.keepIdle > 0 {
		c.SetKeepAlivePeriod(time.Duration(s.opts.keepIdle) * time.Second)
	}
	c.SetKeepAlive(s.opts.keepAlive)
	c.SetUserTimeout(time.Duration(s.opts.userTimeout) * time.Millisecond)
	c.SetNotsentLowat(s.opts.notsentLow)
	c.SetTOS(s.opts.tos)
	if s.opts.cc != "" {
		c.SetCongestionControl(s.opts.cc) // before connect: from the SYN on (a listener's children have it already)
	}
	if s.opts.sndBufSet {
		c.SetSendBuffer(s.opts.sndBuf) // Linux: SO_SNDBUF on a listener is inherited too
	}
	if s.opts.rcvBufSet {
		c.SetRecvBuffer(s.opts.rcvBuf)
	}
	c.SetLinger2(s.opts.linger2)
	c.SetSynCount(s.opts.synCnt) // before connect: right after the SYN, before its first timeout
	if s.opts.lingerOn {
		c.SetLinger(s.opts.lingerSecs)
	} else {
		c.SetLinger(-1)
	}
}

// Connect is connect(2). An IPv4 peer (also ::ffff:a.b.c.d on an
// AF_INET6 socket) is reached from our IPv4 address, an IPv6 peer from
// our IPv6 address.
func (h *Host) Connect(fd int, sa Sockaddr) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	if s.epoll != nil {
		return syscall.ENOTSOCK
	}
	if e := s.familyOK(sa); e != 0 {
		return e
	}
	if s.ln != nil {
		return syscall.EISCONN // Linux inet_stream_connect: a socket not in CLOSE (here LISTEN) is EISCONN
	}
	if s.cs != nil {
		var opened, gone bool
		var err error
		h.do(func() { opened, gone, err = s.cs.opened, s.cs.gone, s.cs.err })
		switch {
		case gone && err != nil:
			s.soErr = 0
			return errnoOf(err)
		case opened:
			return syscall.EISCONN
		}
		return syscall.EALREADY
	}
	local := flowtable.Addr(h.opt.Local6)
	if sa.Addr.Is4() {
		local = flowtable.AddrFrom4(h.opt.Local)
	}
	if !h.ours(local) || sa.Addr.IsZero() {
		return syscall.ENETUNREACH // no address of that family here (Linux: no route)
	}
	cs := &connState{h: h}
	var err error
	h.do(func() {
		cs.c, err = h.eng.TCP().DialWith(h.clk.Now(), local, sa.Addr, sa.Port, cs,
			tcp.DialOptions{MSS: s.opts.maxSeg, RcvBuf: s.opts.rcvBufOpt()})
		if err == nil {
			s.cs = cs
			h.applyOpts(s)
		}
	})
	if err != nil {
		return errnoOf(err)
	}
	if s.nonblock {
		return syscall.EINPROGRESS
	}
	h.block(false, -1, func() bool { return cs.opened || cs.gone })
	var res Errno
	h.do(func() {
		if cs.gone && !cs.opened {
			res = errnoOf(cs.err)
			cs.errRep = true
		}
	})
	return res
}

// Read is read/readv/recv/recvfrom/recvmsg: it fills bufs in order.
// flags: MSG_PEEK, MSG_DONTWAIT.
func (h *Host) Read(fd int, bufs [][]byte, flags int) (int, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return -1, e
	}
	if s.epoll != nil {
		return -1, syscall.EINVAL
	}
	if s.cs == nil {
		return -1, syscall.ENOTCONN
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	buf := make([]byte, total)
	cs := s.cs
	var n int
	var res Errno
	ok := h.block(s.nonblock || flags&unix.MSG_DONTWAIT != 0, -1, func() bool {
		if !cs.opened && !cs.gone {
			if cs.c.State() == tcp.StateSynSent {
				return false
			}
			res = syscall.ENOTCONN
			return true
		}
		// Linux's SHUT_RD leaves queued data readable; EOF comes after it.
		if total > 0 && cs.c.Info().RecvQ > 0 {
			cs.pend, cs.n, cs.peek = buf, 0, flags&unix.MSG_PEEK != 0
			cs.c.PauseRead()
			cs.c.ResumeRead()
			n = cs.n
			cs.pend, cs.n, cs.peek = nil, 0, false
			if n > 0 {
				return true
			}
		}
		if total == 0 {
			return true
		}
		if cs.gone && cs.err != nil && !cs.errRep {
			cs.errRep = true
			res = errnoOf(cs.err)
			return true
		}
		if cs.eof || s.shutRd || cs.gone {
			return true // EOF
		}
		return false
	})
	if !ok {
		return -1, syscall.EAGAIN
	}
	if res != 0 {
		return -1, res
	}
	off := 0
	for _, b := range bufs {
		off += copy(b, buf[off:n])
	}
	return n, 0
}

// ReadFault is a read into a NULL buffer: it waits as a read would (a
// peek of one byte) and then fails with EFAULT where Linux's copy to the
// user would, leaving the data queued (tcp_recvmsg returns -EFAULT when
// nothing was copied); errors and EOF come as from Read.
func (h *Host) ReadFault(fd int, flags int) (int, Errno) {
	n, e := h.Read(fd, [][]byte{make([]byte, 1)}, flags|unix.MSG_PEEK)
	if e != 0 || n == 0 {
		return n, e
	}
	return -1, syscall.EFAULT
}

// WriteFault is a write from a NULL buffer: Linux fails with EFAULT
// when it comes to copy the data, after the socket's state is checked
// (tcp_sendmsg_locked); those errors come as from Write.
func (h *Host) WriteFault(fd int, flags int) (int, Errno) {
	if _, e := h.Write(fd, nil, flags); e != 0 {
		return -1, e
	}
	return -1, syscall.EFAULT
}

// Write is write/writev/send/sendto/sendmsg. flags: MSG_DONTWAIT,
// MSG_MORE.
func (h *Host) Write(fd int, bufs [][]byte, flags int) (int, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return -1, e
	}
	if s.epoll != nil {
		return -1, syscall.EINVAL
	}
	if s.cs == nil {
		return -1, syscall.EPIPE // Linux: write on an unconnected TCP socket
	}
	var p []byte
	for _, b := range bufs {
		p = append(p, b...)
	}
	cs := s.cs
	off := 0
	var res Errno
	ok := h.block(s.nonblock || flags&unix.MSG_DONTWAIT != 0, -1, func() bool {
		if cs.gone && cs.err != nil && !cs.errRep {
			cs.errRep = true
			res = errnoOf(cs.err)
			return true
		}
		if s.shutWr || cs.gone {
			res = syscall.EPIPE
			return true
		}
		if !cs.opened {
			return false // SYN-SENT: Linux waits for the connection
		}
		if len(p) == 0 {
			return true
		}
		var n int
		switch {
		case flags&unix.MSG_EOR != 0:
			n = cs.c.WriteEOR(p[off:]) // (with MSG_MORE too: the record's end is the point)
		case flags&unix.MSG_MORE != 0:
			n = cs.c.WriteMore(p[off:])
		default:
			n = cs.c.Write(p[off:])
		}
		off += n
		if off == len(p) {
			return true
		}
		if n == 0 && cs.c.State() != tcp.StateEstablished && cs.c.State() != tcp.StateCloseWait {
			res = syscall.EPIPE
			return true
		}
		return false
	})
	if res != 0 {
		if off > 0 {
			return off, 0
		}
		return -1, res
	}
	if !ok {
		if off > 0 {
			return off, 0
		}
		return -1, syscall.EAGAIN
	}
	return off, 0
}

// CloseFD is close(2).
func (h *Host) CloseFD(fd int) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	h.mu.Lock()
	delete(h.socks, fd)
	h.mu.Unlock()
	lingering := false
	h.do(func() {
		if s.ln != nil {
			s.ln.Close()
		}
		if s.cs != nil {
			s.cs.c.Close()
			lingering = s.cs.c.Lingering()
		}
	})
	if lingering {
		// SO_LINGER with a positive time: close(2) waits until the FIN
		// is acknowledged or the connection ended, at most that long,
		// blocking or not (Linux sk_stream_wait_close); it returns 0.
		h.block(false, time.Duration(s.opts.lingerSecs)*time.Second, func() bool { return !s.cs.c.Lingering() })
	}
	unix.Close(fd)
	return 0
}

// Shutdown is shutdown(2).
func (h *Host) Shutdown(fd, how int) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	if how < unix.SHUT_RD || how > unix.SHUT_RDWR {
		return syscall.EINVAL
	}
	if s.cs == nil {
		if s.ln != nil && how != unix.SHUT_WR {
			h.do(s.ln.Close) // Linux: shutdown(SHUT_RD) on a listener stops it
			return 0
		}
		return syscall.ENOTCONN
	}
	h.do(func() {
		if how == unix.SHUT_RD || how == unix.SHUT_RDWR {
			s.shutRd = true
		}
		if how == unix.SHUT_WR || how == unix.SHUT_RDWR {
			s.shutWr = true
			s.cs.c.CloseWrite()
		}
	})
	h.bump()
	return 0
}

// Fcntl handles F_GETFL and F_SETFL (O_NONBLOCK); other commands succeed
// with 0.
func (h *Host) Fcntl(fd, cmd int, arg int) (int, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return -1, e
	}
	switch cmd {
	case unix.F_GETFL:
		fl := unix.O_RDWR
		if s.nonblock {
			fl |= unix.O_NONBLOCK
		}
		return fl, 0
	case unix.F_SETFL:
		s.nonblock = arg&unix.O_NONBLOCK != 0
		return 0, 0
	}
	return 0, 0
}

// Inq is the TCP_CM_INQ value recvmsg reports after a read when TCP_INQ
// is on (-1: off): Linux tcp_inq_hint, the bytes still readable, or 1
// when none are and the peer's FIN arrived (SOCK_DONE), so that the
// application knows to read EOF.
func (h *Host) Inq(fd int) int {
	s, e := h.get(fd)
	if e != 0 || !s.opts.inq {
		return -1
	}
	if s.cs == nil {
		return 0
	}
	var in tcp.TCPInfo
	h.do(func() { in = s.cs.c.Info() })
	if in.RecvQ == 0 && (s.cs.eof || s.cs.gone || in.State == tcp.StateCloseWait || in.State == tcp.StateLastAck ||
		in.State == tcp.StateClosing || in.State == tcp.StateTimeWait) {
		return 1
	}
	return in.RecvQ
}

// Ioctl handles FIONREAD (SIOCINQ) and SIOCOUTQ.
func (h *Host) Ioctl(fd int, req uint) (int, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return -1, e
	}
	if s.cs == nil {
		if s.ln != nil {
			return -1, syscall.EINVAL
		}
		return 0, 0
	}
	var in tcp.TCPInfo
	h.do(func() { in = s.cs.c.Info() })
	switch req {
	case unix.SIOCINQ:
		return in.RecvQ, 0
	case unix.SIOCOUTQ:
		return in.SendQ, 0
	}
	return -1, syscall.ENOTTY
}

// Sysctl sets an xdptcp setting by its Linux sysctl name
// (net.ipv4.tcp_rmem, net.core.somaxconn or the bare name).
func (h *Host) Sysctl(name, value string) error {
	n := settingName(name)
	var err error
	h.do(func() { err = h.eng.TCP().Config().Set(n, strings.Join(strings.Fields(value), " ")) })
	return err
}

// SysctlGet returns an xdptcp setting by its Linux sysctl name.
func (h *Host) SysctlGet(name string) (string, error) {
	n := settingName(name)
	var v string
	var err error
	h.do(func() { v, err = h.eng.TCP().Config().Get(n) })
	return v, err
}

func settingName(name string) string {
	name = strings.ReplaceAll(name, "/", ".")
	for _, p := range []string{"net.ipv4.", "net.core."} {
		name = strings.TrimPrefix(name, p)
	}
	return name
}

// NetdevSend hands a raw IPv4 or IPv6 packet from packetdrill to the
// engine.
func (h *Host) NetdevSend(pkt []byte) Errno {
	if len(pkt) == 0 {
		return syscall.EINVAL
	}
	var et uint16
	switch pkt[0] >> 4 {
	case 4:
		et = wire.EtherTypeIPv4
	case 6:
		et = wire.EtherTypeIPv6
	default:
		return syscall.EAFNOSUPPORT
	}
	f := make([]byte, wire.EthernetHeaderLen+len(pkt))
	wire.Ethernet(f).Encode(hostMAC, peerMAC, et)
	copy(f[wire.EthernetHeaderLen:], pkt)
	if !h.link.inject(f) {
		return syscall.ENOBUFS
	}
	return 0
}

// NetdevReceive waits for the next IP packet (IPv4 or IPv6) the engine
// sends and copies it into buf; it returns its length and the time it was
// sent (µs since the epoch). ARP and other frames are skipped.
func (h *Host) NetdevReceive(buf []byte, timeout time.Duration) (int, int64, bool) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		left := time.Duration(-1)
		if timeout >= 0 {
			left = time.Until(deadline)
			if left < 0 {
				return 0, 0, false
			}
		}
		f, us, ok := h.link.sniff(left)
		if !ok {
			return 0, 0, false
		}
		eth := wire.Ethernet(f)
		if !eth.IsValid() {
			continue
		}
		p := eth.Payload()
		switch eth.Type() {
		case wire.EtherTypeIPv4:
			if len(p) >= 4 {
				if tl := int(binary.BigEndian.Uint16(p[2:4])); tl <= len(p) && tl >= 20 {
					p = p[:tl]
				}
			}
		case wire.EtherTypeIPv6:
			if len(p) >= 40 {
				if tl := 40 + int(binary.BigEndian.Uint16(p[4:6])); tl <= len(p) {
					p = p[:tl]
				}
			}
		default:
			continue
		}
		return copy(buf, p), us, true
	}
}

// String describes the host (for logs).
func (h *Host) String() string {
	return fmt.Sprintf("xdptcp %v %v", netip.AddrFrom4(h.opt.Local), netip.AddrFrom16(h.opt.Local6))
}

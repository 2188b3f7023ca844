package xdptcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Listener is a port served by a Stack, as a net.Listener: http.Serve,
// tls.NewListener and anything else written for net.Listener run on it.
// It gathers the accept queues of every loop.
//
// Each loop keeps its own accept queue (bounded by min(backlog,
// somaxconn), with Linux's overflow behaviour); when one becomes non-empty
// the loop moves its connections to the listener's hand-over queue (at
// most handoff of them at a time), where Accept takes them.
type Listener struct {
	s        *Stack
	port     uint16
	addr     *net.TCPAddr
	owns     bool // Close closes the Stack too (package-level Listen)
	q        chan *Conn
	slots    atomic.Int64  // free places in q not yet reserved by a loop
	more     []atomic.Bool // loop i left connections in its accept queue for lack of slots
	lns      []*tcp.Listener
	drainFn  []func()
	notifyFn []func()

	mu       sync.Mutex
	closed   bool
	closedCh chan struct{}
}

var _ net.Listener = (*Listener)(nil)

// handoff bounds the connections that wait between a loop's accept queue
// and Accept.
const handoff = 128

// Listen serves address ("IPV4:PORT", "[IPV6]:PORT", ":PORT",
// "0.0.0.0:PORT" or "[::]:PORT"; the IP must be one of the stack's) and
// returns a net.Listener. Without an IP (or with an unspecified one) the
// port serves both families, as a Linux IPv6 socket without IPV6_V6ONLY
// does. network must be "tcp", "tcp4" or "tcp6". backlog <= 0 means
// somaxconn.
func (s *Stack) Listen(network, address string) (*Listener, error) {
	return s.ListenBacklog(network, address, 0)
}

// ListenBacklog is Listen with an accept queue bound (listen(2)'s backlog,
// capped at somaxconn as Linux does).
func (s *Stack) ListenBacklog(network, address string, backlog int) (*Listener, error) {
	port, listenAddr, err := s.parseLocal(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	la := s.Addr()
	if !listenAddr.IsZero() {
		la = listenAddr.Netip()
	}
	ln := &Listener{
		s: s, port: port, q: make(chan *Conn, handoff), closedCh: make(chan struct{}),
		addr: &net.TCPAddr{IP: net.IP(la.AsSlice()), Port: int(port)},
		more: make([]atomic.Bool, len(s.loops)), lns: make([]*tcp.Listener, len(s.loops)),
	}
	ln.slots.Store(handoff)
	for i, l := range s.loops {
		drain := func() { ln.drain(i, l) }
		ln.drainFn = append(ln.drainFn, drain)
		// Notify runs inside the TCP layer while it completes a handshake:
		// take the connections a moment later from the loop's queue, and
		// only if that is full, at once.
		ln.notifyFn = append(ln.notifyFn, func() {
			if !l.engine.Do(drain) {
				drain()
			}
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: net.ErrClosed}
	}
	if s.ports[port] {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: fmt.Errorf("%w: %d", ErrPortInUse, port)}
	}
	if backlog <= 0 {
		backlog = s.cfg.TCP.Somaxconn
	}
	jar, err := s.cookieJar() // the Stack's one jar, as Serve's ports use
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: err}
	}
	for i, l := range s.loops {
		var err error
		ran := s.onLoop(l, func() {
			var tl *tcp.Listener
			tl, err = l.engine.TCP().Listen(listenAddr, port, tcp.ListenOptions{Backlog: backlog, Notify: ln.notifyFn[i], Cookies: jar})
			if err == nil {
				ln.lns[i] = tl
				l.listeners[port] = tl
			}
		})
		if !ran {
			err = fmt.Errorf("queue %d: %w", l.Queue, ErrLoopStopped)
		}
		if err != nil {
			for j := 0; j < i; j++ {
				s.onLoop(s.loops[j], func() { ln.lns[j].Close(); delete(s.loops[j].listeners, port) })
			}
			return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: err}
		}
	}
	s.ports[port] = true
	if err := s.addPort(port); err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: err}
	}
	return ln, nil
}

// addrList names the stack's addresses, for errors.
func (s *Stack) addrList() string {
	switch {
	case s.has4() && s.has6():
		return s.Addr().String() + " or " + s.Addr6().String()
	case s.has6():
		return s.Addr6().String()
	}
	return s.Addr().String()
}

// parseLocal checks a local address for Listen: it returns the port and
// the address to listen on (zero: any, both families).
func (s *Stack) parseLocal(network, address string) (uint16, flowtable.Addr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return 0, flowtable.Addr{}, net.UnknownNetworkError(network)
	}
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return 0, flowtable.Addr{}, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return 0, flowtable.Addr{}, fmt.Errorf("%w: port %q (1-65535)", ErrBadAddress, ps)
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		a = a.Unmap()
		switch {
		case err != nil:
			return 0, flowtable.Addr{}, fmt.Errorf("%w: %s is not an IP address", ErrBadAddress, host)
		case a.IsUnspecified():
		case a.Is4() && s.has4() && a.As4() == s.addr:
			return uint16(p), flowtable.AddrFrom4(s.addr), nil
		case a.Is6() && s.has6() && a.As16() == s.addr6:
			return uint16(p), flowtable.Addr(s.addr6), nil
		default:
			return 0, flowtable.Addr{}, fmt.Errorf("%w: %s is not %s", ErrBadAddress, host, s.addrList())
		}
	}
	return uint16(p), flowtable.Addr{}, nil
}

// drain moves loop i's accepted connections to the hand-over queue (on
// loop i).
func (ln *Listener) drain(i int, l *Loop) {
	tl := ln.lns[i]
	if tl == nil {
		return
	}
	for tl.AcceptQueueLen() > 0 {
		if !ln.reserve() {
			ln.more[i].Store(true)
			if ln.slots.Load() > 0 && ln.more[i].CompareAndSwap(true, false) {
				continue // Accept freed a slot meanwhile
			}
			return
		}
		tc, ok := tl.Accept()
		if !ok {
			ln.slots.Add(1)
			return
		}
		c := newConn(ln.s, l)
		c.setTCP(tc)
		c.opened = true
		c.openDone = true
		tc.SetHandler(c)
		ln.q <- c // never blocks: a slot was reserved
		l.woke()  // Accept may be waiting
	}
}

// reserve takes a slot of the hand-over queue.
func (ln *Listener) reserve() bool {
	for {
		n := ln.slots.Load()
		if n <= 0 {
			return false
		}
		if ln.slots.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Accept waits for and returns the next connection (a *Conn).
func (ln *Listener) Accept() (net.Conn, error) {
	c, err := ln.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptConn is Accept returning the *Conn.
func (ln *Listener) AcceptConn() (*Conn, error) {
	done := ln.s.net.doneCh()
	select {
	case c := <-ln.q:
		ln.slots.Add(1)
		for i := range ln.more {
			if ln.more[i].CompareAndSwap(true, false) {
				ln.s.post(ln.s.loops[i], ln.drainFn[i])
			}
		}
		return c, nil
	case <-ln.closedCh:
	case <-done:
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.addr, Err: net.ErrClosed}
}

// Addr returns the listener's address, a *net.TCPAddr.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Stack returns the stack the listener serves on.
func (ln *Listener) Stack() *Stack { return ln.s }

// Close stops listening: later SYNs get a RST, connections not yet
// accepted are reset (Linux inet_csk_listen_stop). Accepted connections
// stay open. A listener from the package-level Listen closes its Stack.
func (ln *Listener) Close() error {
	ln.mu.Lock()
	if ln.closed {
		ln.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Addr: ln.addr, Err: net.ErrClosed}
	}
	ln.closed = true
	close(ln.closedCh)
	ln.mu.Unlock()
	s := ln.s
	s.mu.Lock()
	if !s.closed {
		for i, l := range s.loops {
			s.onLoop(l, func() {
				if tl := ln.lns[i]; tl != nil {
					tl.Close()
					if l.listeners[ln.port] == tl {
						delete(l.listeners, ln.port)
					}
					ln.lns[i] = nil
				}
			})
		}
		delete(s.ports, ln.port)
		s.removePort(ln.port)
	}
	s.mu.Unlock()
	for {
		select {
		case c := <-ln.q:
			c.SetLinger(0)
			c.Close()
			continue
		default:
		}
		break
	}
	if ln.owns {
		return s.Close()
	}
	return nil
}

// Listen opens a Stack on cfg.Iface, starts it, and listens on address
// ("IPV4:PORT") with it: the shortest way to put xdptcp under an existing
// net.Listener user. cfg.Addr may be left zero: the address's IP is then
// served as IP/32 (every peer off-link, answered at the Ethernet source of
// its frames, or through cfg.Gateway). Closing the listener closes the
// Stack; ctx bounds the Stack's life too.
func Listen(ctx context.Context, network, address string, cfg *Config) (*Listener, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: a Config naming the interface is needed", ErrBadConfig)
	}
	c := *cfg
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if !c.Addr.IsValid() && !c.Addr6.IsValid() {
		a, err := netip.ParseAddr(host)
		switch {
		case err == nil && a.Unmap().Is4():
			c.Addr = netip.PrefixFrom(a.Unmap(), 32)
		case err == nil && a.Is6() && !a.IsUnspecified():
			c.Addr6 = netip.PrefixFrom(a, 128)
		default:
			return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("%w: %q: give an IP address or Config.Addr/Addr6", ErrBadAddress, host)}
		}
	}
	s, err := Open(c)
	if err != nil {
		return nil, err
	}
	ln, err := s.Listen(network, address)
	if err != nil {
		s.Close()
		return nil, err
	}
	ln.owns = true
	s.Start(ctx)
	return ln, nil
}

package xdptcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/xdptcp/xdptcp/flowtable"
)

// Dial opens a TCP connection from the stack's address of the destination's
// family to address ("IPV4:PORT", "[IPV6]:PORT" or "HOST:PORT", resolved by
// the default resolver to an address of a family the stack has: "tcp4"
// and "tcp6" restrict it), like net.Dial. It returns a *Conn.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context: if ctx ends before the handshake
// completes, the attempt is aborted and ctx's error returned.
//
// Local ports come from the TCP setting ip_local_port_range (Linux's
// sysctl name; default 32768-60999), picked as Linux's
// __inet_hash_connect does: a per-destination offset, then a walk of the
// range. The first Dial also tells the XDP filter to hand over TCP to that
// range on the stack's address (the replies). When the kernel shares the
// address (the usual deployment: it keeps SSH and the other ports), its own
// outgoing connections pick ports from its net.ipv4.ip_local_port_range,
// and replies to those must not be taken: give the two disjoint ranges,
// e.g. --sysctl ip_local_port_range="61000 65535" for xdptcp (the kernel's
// default ends at 60999), or reserve xdptcp's range in the kernel with
// net.ipv4.ip_local_reserved_ports.
//
// With several queues, the NIC steers each reply to a queue by its hash;
// connections are opened on the first loop, so Dial needs the replies to
// arrive on that loop's queue (one queue, or ntuple steering of the client
// port range to it).
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := s.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Stack) dial(ctx context.Context, network, address string) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: port %q", ErrBadAddress, ps)}
	}
	usable := func(a netip.Addr) bool {
		a = a.Unmap()
		return (a.Is4() && s.has4() && network != "tcp6") || (a.Is6() && s.has6() && network != "tcp4")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, rerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if rerr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: rerr}
		}
		for _, a := range ips {
			if usable(a) {
				ip = a
				break
			}
		}
		if !ip.IsValid() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: %s has no address of the stack's families", ErrBadAddress, host)}
		}
	}
	ip = ip.Unmap()
	if !usable(ip) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: %s: the stack has no address of its family", ErrBadAddress, host)}
	}
	opErr := func(err error) error { // the address is made only for an error
		raddr := &net.TCPAddr{IP: net.IP(ip.AsSlice()), Port: int(port)}
		return &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if err := s.enableClientPorts(); err != nil {
		return nil, opErr(err)
	}
	l := s.loops[0]
	c := newConn(s, l)
	c.openCh = make(chan struct{})
	remote, local := flowtable.AddrFromNetip(ip), flowtable.AddrFrom4(s.addr)
	if !ip.Is4() {
		local = flowtable.Addr(s.addr6)
	}
	var dialErr error
	if err := s.post(l, func() {
		tc, err := l.engine.TCP().Dial(s.clk.Now(), local, remote, uint16(port), c)
		if err != nil {
			c.mu.Lock()
			dialErr = mapTCPError(err)
			c.openDone = true
			c.mu.Unlock()
			close(c.openCh)
			return
		}
		if c.tc == nil {
			c.setTCP(tc)
		}
	}); err != nil {
		return nil, opErr(err)
	}
	select {
	case <-c.openCh:
	case <-ctx.Done():
		s.post(l, func() {
			if !c.gone && c.tc != nil {
				c.tc.Abort()
			}
		})
		return nil, opErr(mapContextError(ctx.Err()))
	case <-s.net.doneCh():
		return nil, opErr(net.ErrClosed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case dialErr != nil:
		return nil, opErr(dialErr)
	case !c.opened:
		err := c.err
		if err == nil {
			err = mapTCPError(errors.New("connection closed during the handshake"))
		}
		return nil, opErr(err)
	}
	return c, nil
}

// mapContextError follows net.Dialer: a context deadline is a timeout.
func mapContextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &timeoutError{err}
	}
	return err
}

type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return "i/o timeout" }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Unwrap() error   { return e.err }

// enableClientPorts tells the filter, once, to hand over the replies to
// connections we open (TCP to our address, destination port in
// ip_local_port_range).
func (s *Stack) enableClientPorts() error {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	if s.net.clientPorts {
		return nil
	}
	s.mu.Lock() // SetTCP may change the settings
	lo, hi := s.cfg.TCP.LocalPortRange[0], s.cfg.TCP.LocalPortRange[1]
	s.mu.Unlock()
	if lo == 0 || hi < lo {
		lo, hi = 32768, 60999
	}
	if s.has4() {
		if err := s.filter.SetClientPorts(s.addr, lo, hi); err != nil {
			return err
		}
	}
	if s.has6() {
		if err := s.filter.SetClientPorts6(s.addr6, lo, hi); err != nil {
			return err
		}
	}
	s.net.clientPorts = true
	return nil
}

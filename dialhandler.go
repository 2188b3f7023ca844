package xdptcp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/xdptcp/xdptcp/flowtable"
)

// DialHandler opens a TCP connection to address ("IPV4:PORT" or
// "[IPV6]:PORT", from the stack's address of that family) with the
// event API, the active-open counterpart of Serve: h's callbacks run on
// the loop that owns the connection, OnOpen once the handshake completes,
// OnClose(c, err) if it fails (tcp.ErrRefused, tcp.ErrTimeout, the
// syscall.Errno of an ICMP error about the SYN such as EHOSTUNREACH, ...). It
// returns once the SYN is queued, or the error that kept the open from
// starting (no free local port in ip_local_port_range, a closed Stack).
// Local ports and the XDP filter's hand-over of the replies work as for
// Dial. It waits for the loop, so it must not be called from a callback
// (post the next dial to another goroutine).
func (s *Stack) DialHandler(address string, h Handler) error {
	ap, err := netip.ParseAddrPort(address)
	ip := ap.Addr().Unmap()
	if err != nil || ap.Port() == 0 || (ip.Is4() && !s.has4()) || (ip.Is6() && !s.has6()) {
		return &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%w: %q is not IP:PORT of a family the stack has", ErrBadAddress, address)}
	}
	raddr := net.TCPAddrFromAddrPort(ap)
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err} }
	if err := s.enableClientPorts(); err != nil {
		return opErr(err)
	}
	l := s.loops[0]
	remote, local := flowtable.AddrFromNetip(ip), flowtable.AddrFrom4(s.addr)
	if ip.Is6() {
		local = flowtable.Addr(s.addr6)
	}
	done := make(chan error, 1)
	if err := s.post(l, func() {
		_, err := l.engine.TCP().Dial(s.clk.Now(), local, remote, ap.Port(), h)
		done <- err
	}); err != nil {
		return opErr(err)
	}
	select {
	case err := <-done:
		if err != nil {
			return opErr(mapTCPError(err))
		}
		return nil
	case <-s.net.doneCh():
		return opErr(net.ErrClosed)
	}
}

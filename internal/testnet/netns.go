package testnet

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread switched into the namespace, then switches the
// thread back. Sockets fn creates belong to the namespace and keep working
// from any goroutine afterwards; goroutines fn starts do not inherit it.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread is in the wrong namespace: let it die with the
			// goroutine (no UnlockOSThread) so no other code runs on it.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Dial opens a TCP connection from inside the namespace.
func (ns *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return ns.DialControl(ctx, network, addr, nil)
}

// DialControl is Dial with a net.Dialer Control function, which runs on
// the socket before it connects (e.g. to set TCP_CONGESTION before the
// handshake).
func (ns *NS) DialControl(ctx context.Context, network, addr string, control func(network, address string, c syscall.RawConn) error) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Control: control}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a kernel TCP listener inside the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	return ns.ListenControl(network, addr, nil)
}

// ListenControl is Listen with a net.ListenConfig Control function, which
// runs on the listening socket before it listens; accepted connections
// inherit what it sets (e.g. TCP_CONGESTION).
func (ns *NS) ListenControl(network, addr string, control func(network, address string, c syscall.RawConn) error) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		lc := net.ListenConfig{Control: control}
		var err error
		l, err = lc.Listen(context.Background(), network, addr)
		return err
	})
	return l, err
}

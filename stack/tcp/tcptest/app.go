package tcptest

import (
	"net/netip"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Application-side helpers for Go tests; each fails the test on error and
// acts on the current tuple like the script commands of the same name.

// Listen listens on port at the tuple's local address (accepting into the
// accept queue) and makes port the tuple's local port.
func (h *Harness) Listen(port uint16, backlog int) {
	h.t.Helper()
	if err := h.d.Listen(h.now, h.tuple.LocalAddr, port, backlog, false); err != nil {
		h.t.Fatalf("listen %d: %v", port, err)
		return
	}
	h.tuple.LocalPort = port
}

// Dial opens a connection from the tuple's local address to remote and
// makes it the current tuple.
func (h *Harness) Dial(remote netip.AddrPort) flowtable.Key {
	h.t.Helper()
	k, err := h.d.Dial(h.now, h.tuple.LocalAddr, flowtable.AddrFromNetip(remote.Addr()), remote.Port())
	if err != nil {
		h.t.Fatalf("dial %v: %v", remote, err)
		return k
	}
	h.tuple = k
	return k
}

// Accept takes the next connection from the accept queue of the tuple's
// local port; it fails the test if the queue is empty or the connection is
// not the current tuple's.
func (h *Harness) Accept() {
	h.t.Helper()
	k, ok := h.d.Accept(h.now, h.tuple.LocalPort)
	if !ok {
		h.t.Fatalf("accept: accept queue of port %d is empty", h.tuple.LocalPort)
		return
	}
	if k != h.tuple {
		h.t.Fatalf("accept: got %v, want %v", k, h.tuple)
	}
}

// Do runs a connection command on the current tuple (see Driver.Do).
func (h *Harness) Do(cmd string, arg int64) {
	h.t.Helper()
	if err := h.d.Do(h.now, h.tuple, cmd, arg); err != nil {
		h.t.Fatal(err)
	}
}

// State returns the current tuple's connection state ("" if none).
func (h *Harness) State() string {
	st, _ := h.d.State(h.tuple)
	return st
}

// Conn returns the real layer's connection on the current tuple, or nil
// (always nil with another driver).
func (h *Harness) Conn() *tcp.Conn {
	if ld, ok := h.d.(*layerDriver); ok {
		return ld.conn(h.tuple)
	}
	return nil
}

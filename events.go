package xdptcp

import (
	"net"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The event API is the hot path: a Handler's callbacks run on the loop
// that owns the connection (no goroutine per connection), data is handed
// over as slices valid until the callback returns (in-order data that
// arrives with nothing buffered is the received frame itself: no copy),
// EventConn.Write copies into the TCP send buffer and returns what fit
// (the send buffer keeps the bytes until they are acknowledged, and each
// segment is copied from it into its TX frame: two copies on the way out),
// and the connection is closed, half-closed, reset or paused through
// EventConn's methods. Callbacks must not block: a loop serves every
// connection of its queue.
//
//	OnOpen(c)            established (passive: accepted; active: handshake done)
//	OnData(c, data) int  in-order bytes; return how many were consumed. The
//	                     rest stays in the receive buffer (shrinking the
//	                     advertised window); to get it offered again call
//	                     c.PauseRead() now and c.ResumeRead() later
//	OnWritable(c)        send-buffer space was freed after a short Write
//	OnPeerClose(c)       the peer's FIN, after all its data (read EOF)
//	OnClose(c, err)      gone; err nil for an orderly close, else
//	                     tcp.ErrReset, tcp.ErrTimeout, tcp.ErrAborted, ...,
//	                     or the syscall.Errno of a soft ICMP error
//	                     (EHOSTUNREACH, ...) that came before a timeout
//
// EventConn: Write(p) int, Close, CloseWrite (FIN after queued data),
// Abort (RST), PauseRead/ResumeRead, SetNoDelay, SetKeepAlive,
// SetKeepAlivePeriod, SetLinger, Info.
//
// Serve a port with Stack.Serve(port, ServeOptions{}, newHandler):
// newHandler runs on the loop for every established connection.
type (
	// Handler receives a connection's events on its loop.
	Handler = tcp.Handler
	// EventConn is a connection as the event API sees it; use it only
	// from its callbacks (on the loop).
	EventConn = tcp.Conn
)

// ConnHandler adapts a func(net.Conn) to the event API: for Stack.Serve,
// each connection becomes a *Conn and serve runs in its own goroutine once
// the connection is established (as with net.Listener and go serve(c)),
// without a listener in between. serve must close the connection.
func ConnHandler(serve func(c net.Conn)) func(c *tcp.Conn) tcp.Handler {
	return func(tc *tcp.Conn) tcp.Handler {
		c := newConn(nil, nil)
		c.setTCP(tc)
		c.onOpen = func(c *Conn) { go serve(c) }
		return c
	}
}

// Package xdptcp is a TCP/IP stack in user space on AF_XDP kernel bypass,
// for Go programs that want a high-throughput frontend server.
//
// A Stack owns one network interface's queues: it loads and attaches the
// XDP filter (so only the traffic it serves leaves the kernel's path), opens
// one AF_XDP socket per queue and runs one poll loop per queue. Each loop is
// a goroutine locked to its OS thread that owns, share-nothing, the
// connections whose packets arrive on its queue.
//
// Applications attach to ports in one of two ways:
//
//   - the event API (Serve with a NewHandler function): callbacks run on the
//     loop that owns the connection, data is handed over as slices valid for
//     the call, and no goroutine exists per connection;
//   - net.Listener / net.Conn: Listen (or Stack.Listen) returns a Listener
//     whose connections behave like *net.TCPConn (deadlines, half-close,
//     net.ErrClosed, *net.OpError), so net/http and crypto/tls run on it;
//     Stack.Dial opens connections; ConnHandler runs a goroutine per
//     connection on a served port; NewProxy forwards to kernel backends.
package xdptcp

package xdptcp

import (
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/xsk"
)

// packetFilter is what a Stack needs of its XDP filter: *xsk.Filter, or a
// no-op for stacks over in-memory links (tests).
type packetFilter interface {
	Mode() xsk.XDPMode
	Register(queue int, s *xsk.Socket) error
	Unregister(queue int) error
	AddAddr(addr [4]byte) error
	RemoveAddr(addr [4]byte) error
	AddPort(addr [4]byte, port uint16) error
	RemovePort(addr [4]byte, port uint16) error
	SetClientPorts(addr [4]byte, lo, hi uint16) error
	WatchARP(addr [4]byte) error
	UnwatchARP(addr [4]byte) error
	AddAddr6(addr [16]byte) error
	AddPort6(addr [16]byte, port uint16) error
	RemovePort6(addr [16]byte, port uint16) error
	SetClientPorts6(addr [16]byte, lo, hi uint16) error
	WatchND(addr [16]byte) error
	UnwatchND(addr [16]byte) error
	Close() error
}

var _ packetFilter = (*xsk.Filter)(nil)

// netState is the part of a Stack that goroutines using net.Conn,
// net.Listener and Dial share: a channel closed when the stack closes (so
// nobody waits for a loop that is gone) and the client port range the
// filter was given for Dial.
type netState struct {
	once        sync.Once
	done        chan struct{}
	closeOnce   sync.Once
	mu          sync.Mutex
	clientPorts bool // the filter redirects replies to ip_local_port_range
	dialNext    int  // round-robin over loops for Dial
}

func (n *netState) doneCh() chan struct{} {
	n.once.Do(func() { n.done = make(chan struct{}) })
	return n.done
}

// closeNet wakes every goroutine blocked on the stack: called by Close
// once the loops stopped.
func (s *Stack) closeNet() {
	ch := s.net.doneCh()
	s.net.closeOnce.Do(func() { close(ch) })
}

// post runs fn on l's loop soon, from an application goroutine; it does not
// wait for fn. It fails with net.ErrClosed once the stack is closed (fn may
// then never run). Before Start, fn waits in the loop's queue.
func (s *Stack) post(l *Loop, fn func()) error {
	done := s.net.doneCh()
	for i := 0; !l.engine.Do(fn); i++ {
		select {
		case <-done:
			return net.ErrClosed
		default:
		}
		if i < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond) // the loop's request queue is full
		}
	}
	return nil
}

// loopBinder is a handler that needs to know the loop that owns its
// connection (the net.Conn adapter, which talks to the loop through Do).
type loopBinder interface {
	bindLoop(s *Stack, l *Loop)
}

// bindLoop wraps a Serve handler constructor for loop l: handlers that
// implement loopBinder learn their loop before any event.
func (s *Stack) bindLoop(l *Loop, newHandler func(c *tcp.Conn) tcp.Handler) func(c *tcp.Conn) tcp.Handler {
	if newHandler == nil {
		return nil
	}
	return func(c *tcp.Conn) tcp.Handler {
		h := newHandler(c)
		if b, ok := h.(loopBinder); ok {
			b.bindLoop(s, l)
		}
		return h
	}
}

package tcp

// STUB: signatures the other packages code against; the implementation
// replaces this file. Keep the names and signatures.

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// State is a connection state; String prints the RFC 9293 spelling
// ("SYN-RECEIVED", "TIME-WAIT").
type State uint8

const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

// Conn is one TCP connection.
type Conn struct{}

func (c *Conn) Key() flowtable.Key                 { return flowtable.Key{} }
func (c *Conn) State() State                       { return 0 }
func (c *Conn) SetHandler(h Handler)               {}
func (c *Conn) Write(p []byte) int                 { return 0 }
func (c *Conn) Close()                             {}
func (c *Conn) CloseWrite()                        {}
func (c *Conn) Abort()                             {}
func (c *Conn) PauseRead()                         {}
func (c *Conn) ResumeRead()                        {}
func (c *Conn) SetNoDelay(on bool)                 {}
func (c *Conn) SetKeepAlive(on bool)               {}
func (c *Conn) SetKeepAlivePeriod(d time.Duration) {}
func (c *Conn) SetLinger(sec int)                  {}
func (c *Conn) Info() ConnInfo                     { return ConnInfo{} }

// ConnInfo is what `ss -tan`/`/debug/conns` shows of a connection.
type ConnInfo struct {
	State   State
	Key     flowtable.Key
	SendQ   int
	RecvQ   int
	RTT     time.Duration
	RTO     time.Duration
	Cwnd    int
	Timer   string // "on", "keepalive", "timewait", "persist", ""
	TimerIn time.Duration
}

// ListenOptions configure a listener.
type ListenOptions struct {
	Backlog int // accept queue bound is min(Backlog, Somaxconn)
	// NewHandler, if set, accepts every connection at once on the loop
	// (event API). If nil, connections wait in the accept queue for Accept.
	NewHandler func(c *Conn) Handler
	// Notify, if set, is called on the loop when the accept queue goes
	// from empty to non-empty.
	Notify func()
}

// Listener is a passive-open endpoint (LISTEN) with its SYN queue and
// accept queue.
type Listener struct{}

func (l *Listener) Accept() (*Conn, bool) { return nil, false }
func (l *Listener) AcceptQueueLen() int   { return 0 }
func (l *Listener) Close()                {}

// Layer is one loop's TCP: its connections, listeners, TIME-WAIT entries
// and timer wheel.
type Layer struct{}

func NewLayer(cfg *Config, out Output, now clock.Time) *Layer { return &Layer{} }
func (l *Layer) Input(now clock.Time, seg *Segment)           {}
func (l *Layer) Advance(now clock.Time)                       {}
func (l *Layer) NextDeadline() (clock.Time, bool)             { return 0, false }
func (l *Layer) Listen(addr [4]byte, port uint16, o ListenOptions) (*Listener, error) {
	return &Listener{}, nil
}
func (l *Layer) Dial(now clock.Time, local, remote [4]byte, remotePort uint16, h Handler) (*Conn, error) {
	return nil, nil
}
func (l *Layer) Stats() *Stats               { return &Stats{} }
func (l *Layer) Range(fn func(c *Conn) bool) {}

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

// Config holds the TCP settings, named after Linux's sysctls
// (net.ipv4.tcp_*). DefaultConfig returns Linux's defaults.
type Config struct {
	SynRetries        int           // tcp_syn_retries (6)
	SynackRetries     int           // tcp_synack_retries (5)
	Retries2          int           // tcp_retries2 (15)
	OrphanRetries     int           // tcp_orphan_retries (0 means 8, as Linux)
	FinTimeout        time.Duration // tcp_fin_timeout (60 s)
	MaxSynBacklog     int           // tcp_max_syn_backlog (4096)
	Somaxconn         int           // somaxconn (4096)
	AbortOnOverflow   bool          // tcp_abort_on_overflow (0)
	Syncookies        int           // tcp_syncookies (1)
	MSL               time.Duration // tcp_msl (30 s; TIME-WAIT lasts 2*MSL)
	MaxTwBuckets      int           // tcp_max_tw_buckets (262144)
	TwReuse           int           // tcp_tw_reuse (2: loopback only in Linux; here 0/1/2)
	KeepaliveTime     time.Duration // tcp_keepalive_time (7200 s)
	KeepaliveIntvl    time.Duration // tcp_keepalive_intvl (75 s)
	KeepaliveProbes   int           // tcp_keepalive_probes (9)
	Rmem              [3]int        // tcp_rmem (4096 131072 6291456)
	Wmem              [3]int        // tcp_wmem (4096 16384 4194304)
	Timestamps        bool          // tcp_timestamps (1)
	WindowScaling     bool          // tcp_window_scaling (1)
	Sack              bool          // tcp_sack (1)
	CongestionControl string        // tcp_congestion_control ("cubic")
	MinSndMss         int           // tcp_min_snd_mss (48)
	LocalPortRange    [2]uint16     // ip_local_port_range (32768 60999)
	MaxConnections    int           // xdptcp: flow table bound per loop
	DefaultMSS        int           // our MSS to advertise (MTU-40)
}

// DefaultConfig returns Linux's defaults.
func DefaultConfig() Config { return Config{} }

// Set sets the setting with Linux name name (e.g. "tcp_fin_timeout") from
// its sysctl text form; it rejects unknown names and out-of-range values.
func (c *Config) Set(name, value string) error { return nil }

// Stats are the counters of one loop's TCP layer, named after Linux's nstat
// counters (Tcp: and TcpExt:). Single writer (the loop), read atomically.
type Stats struct{}

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

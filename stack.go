package xdptcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/syncookie"
	"github.com/xdptcp/xdptcp/xsk"
)

// Stack is xdptcp running on one interface: the XDP filter, and one AF_XDP
// socket and poll loop per queue.
type Stack struct {
	cfg      Config
	addr     [4]byte  // our IPv4 address; zero: none
	addr6    [16]byte // our IPv6 address; zero: none
	clk      *clock.Mono
	capture  *Capture     // the running capture, nil if none; guarded by mu
	filter   packetFilter // *xsk.Filter; a no-op over in-memory links
	net      netState     // what net.Conn, net.Listener and Dial share (netstack.go)
	loops    []*Loop
	jar      *syncookie.Jar // SYN cookie secrets, made by the first Serve; read-only, shared by every loop
	cluster  *stack.Cluster // Config.Cluster in the engines' form, shared by every loop; nil: a host alone
	draining atomic.Bool    // SetDraining

	mu      sync.Mutex
	ports   map[uint16]bool
	running bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
	closed  bool
}

// Loop is one queue's socket and engine.
type Loop struct {
	Queue  int
	CPU    int // -1: not pinned
	sock   *xsk.Socket
	engine *stack.Engine
	// listeners holds the ports served with Serve; touched on the loop
	// (or before Start) only.
	listeners map[uint16]*tcp.Listener
	// stopped is closed when the loop's Run returned (made by Start);
	// runErr, set before, is why when it was not Close or the context.
	stopped chan struct{}
	runErr  error
	// rwakes are the readers that got data in the current iteration,
	// woken once each by wakeReaders (stack.Config.AfterPoll); on the
	// loop only.
	rwakes []*Conn
}

// wakeReader asks for c's reader to be woken at the end of the loop
// iteration (on the loop).
func (l *Loop) wakeReader(c *Conn) {
	if !c.rwakePosted {
		c.rwakePosted = true
		l.rwakes = append(l.rwakes, c)
	}
}

// newEngine makes the loop's engine for port with cfg, on the Stack's
// clock clk; every loop's engine is made here, so that its iterations end
// with wakeReaders and its TCP timestamps run on the host's clock
// (hostClock).
func (l *Loop) newEngine(cfg stack.Config, port stack.Port, clk *clock.Mono) {
	cfg.AfterPoll = l.wakeReaders
	l.engine = stack.NewEngine(cfg, port, clk.Now())
	l.engine.TCP().SetHostClock(hostClock(clk))
}

// wakeReaders wakes the readers that got data in this iteration: one
// wake-up per reader per iteration, however many segments it took (the
// engine's AfterPoll).
func (l *Loop) wakeReaders() {
	if len(l.rwakes) > 0 {
		l.woke()
	}
	for i, c := range l.rwakes {
		c.rwakePosted = false
		signal(c.rwake)
		l.rwakes[i] = nil
	}
	l.rwakes = l.rwakes[:0]
}

// woke tells the loop's engine that it made an application goroutine
// runnable (Engine.Woke); on the loop.
func (l *Loop) woke() {
	if l != nil && l.engine != nil {
		l.engine.Woke()
	}
}

// ErrLoopStopped is returned for work that needed a loop that stopped
// with an error (its queue is no longer served).
var ErrLoopStopped = errors.New("loop stopped")

// Err returns the error a loop stopped with: nil while it runs, before
// Start, and after a normal stop (Close, the context).
func (l *Loop) Err() error {
	if l.stopped == nil {
		return nil
	}
	select {
	case <-l.stopped:
		return l.runErr
	default:
		return nil
	}
}

// Engine returns the loop's protocol engine. Its TCP layer may be touched
// only on the loop (through Engine.Do).
func (l *Loop) Engine() *stack.Engine { return l.engine }

// Socket returns the loop's AF_XDP socket (for statistics).
func (l *Loop) Socket() *xsk.Socket { return l.sock }

// Open takes over cfg.Iface: it loads and attaches the XDP filter and opens
// the sockets, but does not start the loops (Start does).
func Open(cfg Config) (*Stack, error) {
	cfg.setDefaults()
	if cfg.TCP == (TCPConfig{}) {
		cfg.TCP = tcp.DefaultConfig()
	}
	if err := cfg.TCP.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if !cfg.Addr.IsValid() && !cfg.Addr6.IsValid() {
		return nil, fmt.Errorf("%w: no address (Config.Addr or Config.Addr6)", ErrBadAddress)
	}
	a := cfg.Addr.Addr()
	if cfg.Addr.IsValid() && (!a.Is4() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return nil, fmt.Errorf("%w: %q is not a unicast IPv4 address", ErrBadAddress, cfg.Addr)
	}
	if cfg.Gateway.IsValid() && (!cfg.Gateway.Is4() || !cfg.Addr.Contains(cfg.Gateway)) {
		return nil, fmt.Errorf("%w: gateway %s is not on %s", ErrBadAddress, cfg.Gateway, cfg.Addr.Masked())
	}
	a6 := cfg.Addr6.Addr()
	if cfg.Addr6.IsValid() && (!a6.Is6() || a6.Is4In6() || a6.IsUnspecified() || a6.IsMulticast() || a6.IsLoopback() || a6.IsLinkLocalUnicast()) {
		return nil, fmt.Errorf("%w: %q is not a global unicast IPv6 address", ErrBadAddress, cfg.Addr6)
	}
	if cfg.Gateway6.IsValid() && (!cfg.Addr6.IsValid() || !cfg.Gateway6.Is6() || !(cfg.Addr6.Contains(cfg.Gateway6) || cfg.Gateway6.IsLinkLocalUnicast())) {
		return nil, fmt.Errorf("%w: IPv6 gateway %s is neither on %s nor link-local", ErrBadAddress, cfg.Gateway6, cfg.Addr6.Masked())
	}
	xdpMode, err := xsk.ParseXDPMode(cfg.XDPMode)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	bindMode, err := xsk.ParseBindMode(cfg.BindMode)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	txCsum, err := xsk.ParseTxChecksum(cfg.TxChecksum)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", xsk.ErrNoInterface, cfg.Iface)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s has no Ethernet address", ErrBadConfig, cfg.Iface)
	}
	if cfg.Queues == nil {
		n, err := rxQueues(cfg.Iface)
		if err != nil {
			return nil, err
		}
		for q := 0; q < n; q++ {
			cfg.Queues = append(cfg.Queues, q)
		}
	}
	if len(cfg.CPUs) != 0 && len(cfg.CPUs) != len(cfg.Queues) {
		return nil, fmt.Errorf("%w: %d CPUs given for %d queues", ErrBadConfig, len(cfg.CPUs), len(cfg.Queues))
	}

	s := &Stack{cfg: cfg, clk: clock.NewMono(), ports: map[uint16]bool{}}
	if cfg.Cluster != nil {
		if s.cluster, err = cfg.Cluster.cluster(cfg.Addr.IsValid(), cfg.Addr6.IsValid()); err != nil {
			return nil, err
		}
	}
	if cfg.Addr.IsValid() {
		s.addr = a.As4()
	}
	if cfg.Addr6.IsValid() {
		s.addr6 = a6.As16()
	}
	f, err := xsk.NewFilter(xsk.FilterConfig{Iface: cfg.Iface, Mode: xdpMode, Replace: cfg.XDPReplace})
	if err != nil {
		return nil, err
	}
	s.filter = f
	if s.has4() {
		err = s.filter.AddAddr(s.addr)
	}
	if err == nil && s.has6() {
		err = s.filter.AddAddr6(s.addr6)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	var mac [6]byte
	copy(mac[:], ifi.HardwareAddr)
	var gw [4]byte
	if cfg.Gateway.IsValid() {
		gw = cfg.Gateway.As4()
	}
	for i, q := range cfg.Queues {
		sock, err := xsk.Open(xsk.Config{
			Iface: cfg.Iface, QueueID: q, NumFrames: cfg.NumFrames, FrameSize: cfg.FrameSize, BindMode: bindMode,
			NoMultiBuffer: cfg.NoMultiBuffer, TxChecksum: txCsum,
			FillSize: cfg.RingSize, CompSize: cfg.RingSize, RxSize: cfg.RingSize, TxSize: cfg.RingSize,
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("queue %d: %w", q, err)
		}
		// The loop's MTU: the interface's, or what one frame holds where
		// the socket has no multi-buffer (refused: counted in the
		// socket's MultiBufferRefused, and logged).
		mtu := min(ifi.MTU, sock.MaxFrame()-14)
		if mtu < ifi.MTU {
			cfg.Logger.Warn("interface MTU does not fit a UMEM frame and multi-buffer AF_XDP is off: serving a lower MTU (peers get a smaller MSS; larger frames are dropped by the kernel)",
				"iface", cfg.Iface, "queue", q, "mtu", ifi.MTU, "served_mtu", mtu, "frame_size", cfg.FrameSize, "sg_error", fmt.Sprint(sock.MultiBufferError()))
		}
		l := &Loop{Queue: q, CPU: -1, sock: sock, listeners: map[uint16]*tcp.Listener{}}
		if len(cfg.CPUs) > 0 {
			l.CPU = cfg.CPUs[i]
		}
		s.loops = append(s.loops, l)
		if err := s.filter.Register(q, sock); err != nil {
			s.Close()
			return nil, fmt.Errorf("queue %d: %w", q, err)
		}
		var gw6 [16]byte
		if cfg.Gateway6.IsValid() {
			gw6 = cfg.Gateway6.As16()
		}
		l.newEngine(stack.Config{
			Addr: s.addr, PrefixLen: max(cfg.Addr.Bits(), 0), Gateway: gw,
			Addr6: s.addr6, PrefixLen6: max(cfg.Addr6.Bits(), 0), Gateway6: gw6,
			MAC: mac, MTU: mtu, MultiBuffer: sock.MultiBuffer(),
			BatchSize: cfg.BatchSize, QueueID: q, BusyPoll: cfg.BusyPoll, TCP: cfg.TCP,
			ARPWatch: s.arpWatch,
		}, sock, s.clk)
		l.engine.SetCluster(s.cluster)
	}
	if _, err := hostSecret(); err != nil {
		cfg.Logger.Warn("TCP secret not shared with the host's other xdptcp processes: ISNs and timestamps start afresh with this process (a restarted client's SYN may meet a server's TIME-WAIT as an old duplicate)", "err", err)
	}
	cfg.Logger.Debug("xdptcp attached",
		"iface", cfg.Iface, "addr", cfg.Addr.String(), "addr6", cfg.Addr6.String(), "queues", fmt.Sprint(cfg.Queues),
		"xdp_mode", s.filter.Mode().String(), "rx_time_in_packet", f.StampsInPacket(), "bind_mode", s.loops[0].sock.BindMode().String(),
		"need_wakeup", s.loops[0].sock.NeedWakeup(), "multi_buffer", s.loops[0].sock.MultiBuffer(),
		"tx_checksum_offload", s.loops[0].sock.TxChecksumOffload())
	return s, nil
}

// arpWatch tells the filter to hand us ARP replies from addr (IPv4) or
// neighbour advertisements for it (IPv6) while we resolve it (the kernel
// gets all other replies: it may share our address).
func (s *Stack) arpWatch(addr flowtable.Addr, watch bool) bool {
	switch {
	case addr.Is4() && watch:
		return s.filter.WatchARP(addr.As4()) == nil
	case addr.Is4():
		s.filter.UnwatchARP(addr.As4())
	case watch:
		return s.filter.WatchND(addr) == nil
	default:
		s.filter.UnwatchND(addr)
	}
	return true
}

func (s *Stack) has4() bool { return s.addr != [4]byte{} }
func (s *Stack) has6() bool { return s.addr6 != [16]byte{} }

// addPort makes TCP to port on each of our addresses ours in the filter.
func (s *Stack) addPort(port uint16) error {
	var err error
	if s.has4() {
		err = s.filter.AddPort(s.addr, port)
	}
	if err == nil && s.has6() {
		err = s.filter.AddPort6(s.addr6, port)
	}
	return err
}

// removePort undoes addPort.
func (s *Stack) removePort(port uint16) {
	if s.has4() {
		s.filter.RemovePort(s.addr, port)
	}
	if s.has6() {
		s.filter.RemovePort6(s.addr6, port)
	}
}

// rxQueues counts the interface's RX queues from sysfs.
func rxQueues(iface string) (int, error) {
	m, err := filepath.Glob(filepath.Join("/sys/class/net", iface, "queues", "rx-*"))
	if err != nil || len(m) == 0 {
		return 1, nil
	}
	return len(m), nil
}

// Loops returns the stack's loops, one per queue.
func (s *Stack) Loops() []*Loop { return s.loops }

// XDPMode returns the mode the filter was attached in ("native" or "generic").
func (s *Stack) XDPMode() string { return s.filter.Mode().String() }

// BindMode returns the AF_XDP bind mode the sockets got ("zerocopy" or "copy").
func (s *Stack) BindMode() string { return s.loops[0].sock.BindMode().String() }

// Addr returns the served IPv4 address, or the IPv6 one when there is no
// IPv4 address.
func (s *Stack) Addr() netip.Addr {
	if !s.has4() {
		return netip.AddrFrom16(s.addr6)
	}
	return netip.AddrFrom4(s.addr)
}

// Addr6 returns the served IPv6 address (invalid if none).
func (s *Stack) Addr6() netip.Addr {
	if !s.has6() {
		return netip.Addr{}
	}
	return netip.AddrFrom16(s.addr6)
}

// ServeOptions shape a served port.
type ServeOptions struct {
	Backlog int // accept queue bound is min(Backlog, somaxconn); default somaxconn
	// CongestionControl, if set, is the port's congestion control
	// ("cubic", "bbr", "newreno", "reno") instead of
	// tcp_congestion_control, as Linux's TCP_CONGESTION on a listening
	// socket.
	CongestionControl string
}

// Serve accepts connections on port with the event API: newHandler is
// called on the owning loop for every established connection and returns
// its handler.
func (s *Stack) Serve(port uint16, o ServeOptions, newHandler func(c *tcp.Conn) tcp.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	if s.ports[port] {
		return fmt.Errorf("%w: %d", ErrPortInUse, port)
	}
	if o.Backlog <= 0 {
		o.Backlog = s.cfg.TCP.Somaxconn
	}
	jar, err := s.cookieJar()
	if err != nil {
		return err
	}
	for _, l := range s.loops {
		var err error
		ran := s.onLoop(l, func() {
			var ln *tcp.Listener
			// Any address: the port serves IPv4 and IPv6 alike.
			ln, err = l.engine.TCP().Listen(flowtable.Addr{}, port, tcp.ListenOptions{Backlog: o.Backlog, NewHandler: s.bindLoop(l, newHandler), Cookies: jar, CongestionControl: o.CongestionControl})
			if err == nil {
				l.listeners[port] = ln
			}
		})
		if !ran {
			err = fmt.Errorf("queue %d: %w", l.Queue, ErrLoopStopped)
		}
		if err != nil {
			return fmt.Errorf("listen on %d: %w", port, err)
		}
	}
	s.ports[port] = true
	return s.addPort(port)
}

// cookieJar returns the Stack's SYN cookie jar, made on first use: one
// jar for every loop's listeners, so a cookie made on one loop checks on
// any other; with Config.CookieKeys the jar is shared with the other hosts
// of a cluster, else its secrets come from crypto/rand. Called with s.mu
// held.
func (s *Stack) cookieJar() (*syncookie.Jar, error) {
	if s.jar != nil {
		return s.jar, nil
	}
	var jar *syncookie.Jar
	var err error
	if len(s.cfg.CookieKeys) > 0 {
		jar, err = syncookie.NewShared(s.cfg.CookieKeys, s.clk.Epoch())
	} else {
		jar, err = syncookie.New()
	}
	if err != nil {
		return nil, err
	}
	s.jar = jar
	return jar, nil
}

// ErrCookieKeys: SetCookieKeys on a Stack opened without shared keys (its
// listeners hold a jar of their own; a restart with Config.CookieKeys
// switches).
var ErrCookieKeys = errors.New("SYN cookie keys can be rotated only on a Stack opened with Config.CookieKeys")

// SetCookieKeys rotates the SYN-cookie keys shared with the rest of the
// cluster (a reloaded key file): keys[0] makes cookies from now on, every
// key checks, and the key that made them until now keeps checking for one
// cookie lifetime, so no handshake in flight fails. Safe while the loops
// run.
func (s *Stack) SetCookieKeys(keys []syncookie.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cfg.CookieKeys) == 0 {
		return ErrCookieKeys
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: %v", ErrBadConfig, syncookie.ErrNoKey)
	}
	s.cfg.CookieKeys = slices.Clone(keys)
	if s.jar == nil {
		return nil // the first listener makes the jar with them
	}
	return s.jar.Rotate(keys, time.Now())
}

// onLoop runs fn on l's loop and waits for it; before Start it runs fn
// directly. It reports false, without waiting, when the loop has stopped
// (died with an error, or the Stack closed) and fn did not run: a dead
// loop never holds s.mu and every caller forever. Called with s.mu held.
func (s *Stack) onLoop(l *Loop, fn func()) bool {
	if !s.running {
		fn()
		return true
	}
	done := make(chan struct{})
	for !l.engine.Do(func() { fn(); close(done) }) {
		select { // the loop's request queue is full
		case <-l.stopped:
			return false
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case <-done:
		return true
	case <-l.stopped:
		// A loop that died never runs fn; one that stopped after
		// running it closed done first.
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// Do runs fn on every loop in turn and waits for each; a loop that
// stopped (Loop.Err) is skipped.
func (s *Stack) Do(fn func(l *Loop)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		s.onLoop(l, func() { fn(l) }) // a stopped loop is skipped
	}
}

// Start runs the loops until Close or ctx ends.
func (s *Stack) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.closed {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.running = true
	for _, l := range s.loops {
		s.done.Add(1)
		l.stopped = make(chan struct{})
		go func(l *Loop) {
			defer s.done.Done()
			defer close(l.stopped)
			if l.CPU >= 0 {
				// The pin is the thread's: the loop keeps that thread.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var set unix.CPUSet
				set.Set(l.CPU)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					s.cfg.Logger.Warn("cannot pin loop", "queue", l.Queue, "cpu", l.CPU, "err", err)
				}
			}
			if err := l.engine.Run(ctx, s.clk); err != nil && ctx.Err() == nil {
				// The queue is no longer served; the rest of the Stack
				// goes on (Loop.Err, the daemon's /healthz and metrics).
				l.runErr = err
				s.cfg.Logger.Error("loop stopped", "queue", l.Queue, "err", err)
			}
		}(l)
	}
}

// Close stops the loops, closes the sockets and detaches the XDP program.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	capture := s.capture
	s.mu.Unlock()
	if capture != nil {
		capture.Close() // its reader gets what is left, then io.EOF
	}
	s.done.Wait()
	s.closeNet()
	var first error
	if s.filter != nil {
		if err := s.filter.Close(); err != nil && first == nil {
			first = err
		}
	}
	for _, l := range s.loops {
		if l.sock == nil {
			continue // an in-memory link (tests)
		}
		if err := l.sock.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// StopAccepting makes every loop refuse new connections while the
// established ones go on (the first step of a graceful shutdown). With rst,
// the listeners opened by Serve close and later SYNs get a RST, as when a
// Linux server closes its listening socket (inet_csk_listen_stop). Without
// it, every SYN is dropped (counted in TcpExt:ListenDrops and
// TCPReqQFullDrop): the client retransmits it and may reach a restarted
// server.
func (s *Stack) StopAccepting(rst bool) {
	s.Do(func(l *Loop) {
		if rst {
			for port, ln := range l.listeners {
				ln.Close()
				delete(l.listeners, port)
			}
			return
		}
		// A zero SYN queue without cookies drops every SYN (Linux
		// tcp_conn_request with the request queue full).
		c := l.engine.TCP().Config()
		c.MaxSynBacklog = 0
		c.Syncookies = 0
	})
}

// LiveConns returns the number of connections that still have work to
// do, summed over the loops: every state but FIN-WAIT-2 (our data and FIN
// are acknowledged; only the peer's FIN is missing) and TIME-WAIT. A
// graceful shutdown waits for it to reach zero.
func (s *Stack) LiveConns() int {
	n := 0
	s.Do(func(l *Loop) {
		l.engine.TCP().Range(func(c *tcp.Conn) bool {
			if st := c.State(); st != tcp.StateFinWait2 && st != tcp.StateTimeWait && st != tcp.StateClosed {
				n++
			}
			return true
		})
	})
	return n
}

// CloseConns closes every live connection and returns how many: with a
// FIN after the queued data (as close(2); unread received data makes it a
// RST, as in Linux), or with abort a RST at once.
func (s *Stack) CloseConns(abort bool) int {
	n := 0
	s.Do(func(l *Loop) {
		var cs []*tcp.Conn
		l.engine.TCP().Range(func(c *tcp.Conn) bool { cs = append(cs, c); return true })
		for _, c := range cs {
			if abort {
				c.Abort()
			} else {
				c.Close()
			}
		}
		n += len(cs)
	})
	return n
}

// SetTCP applies cfg on every loop, for what the layer does from now on
// (new connections, and the timers of existing ones where the setting is
// read when armed, as Linux's sysctls are). Settings a reload cannot change
// (tcp.SettingInfo.Runtime false) keep their values; their names are
// returned. The MSS stays capped by the interface MTU.
func (s *Stack) SetTCP(cfg TCPConfig) (kept []string, err error) {
	s.mu.Lock()
	cur := s.cfg.TCP
	s.mu.Unlock()
	for _, si := range tcp.Settings() {
		if si.Runtime {
			continue
		}
		old, _ := cur.Get(si.Name)
		if v, _ := cfg.Get(si.Name); v != old {
			kept = append(kept, si.Name)
			cfg.Set(si.Name, old)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	s.Do(func(l *Loop) {
		c := cfg
		c.DefaultMSS = stack.LinkMSS(c.DefaultMSS, l.engine.Config().MTU)
		*l.engine.TCP().Config() = c
	})
	s.mu.Lock()
	s.cfg.TCP = cfg
	s.mu.Unlock()
	return kept, nil
}

// ListenerInfo is one served port's queues on one loop.
type ListenerInfo struct {
	Port    uint16
	Queue   int
	AcceptQ int // connections waiting for Accept (always 0 with a NewHandler)
	SynQ    int // half-open connections (SYN-RECEIVED)
}

// Counts gathers on the loops, without listing connections, the number of
// connections in each state (TIME-WAIT entries included) and the queues
// of the ports served with Serve.
func (s *Stack) Counts() (states [tcp.StateTimeWait + 1]int, listeners []ListenerInfo) {
	s.Do(func(l *Loop) {
		t := l.engine.TCP()
		t.Range(func(c *tcp.Conn) bool {
			if st := c.State(); int(st) < len(states) {
				states[st]++
			}
			return true
		})
		states[tcp.StateTimeWait] += t.TimeWaits()
		for port, ln := range l.listeners {
			listeners = append(listeners, ListenerInfo{Port: port, Queue: l.Queue, AcceptQ: ln.AcceptQueueLen(), SynQ: ln.SynQueueLen()})
		}
	})
	sort.Slice(listeners, func(i, j int) bool {
		if listeners[i].Port != listeners[j].Port {
			return listeners[i].Port < listeners[j].Port
		}
		return listeners[i].Queue < listeners[j].Queue
	})
	return states, listeners
}

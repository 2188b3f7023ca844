package tcp

// The per-loop TCP layer: connection table, TIME-WAIT table, listeners,
// the timing wheel, and the dispatch of incoming segments.

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/dchest/siphash"
	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/timer"
	"github.com/xdptcp/xdptcp/stack/wire"

	crand "crypto/rand"
)

// Layer is one loop's TCP: its connections, listeners, TIME-WAIT entries
// and timer wheel. Not safe for concurrent use: everything runs on the
// loop, except Stats, which may be read from anywhere.
type Layer struct {
	cfg       Config
	output    Output
	now       clock.Time // time of the current Input/Advance
	wheel     *timer.Wheel
	conns     *flowtable.Table[Conn]      // live connections, including half-open ones
	tws       *flowtable.Table[timeWait]  // TIME-WAIT entries (tcp_max_tw_buckets)
	orphans   atomic.Int64                // connections closed by the application, still open (tcp_max_orphans, orphan.go); written by the loop only
	twHead    *timeWait                   // TIME-WAIT expiry list, earliest deadline first
	twTail    *timeWait                   //
	twTimer   timer.Timer                 // fires for twHead's deadline
	twLocals  [twMaxLocals]flowtable.Addr // local addresses of TIME-WAIT entries (timeWait.local); slots written once
	nTwLocals int                         // slots of twLocals in use
	listeners map[listenKey]*Listener
	pmtus     pmtuCache // path MTUs learnt from ICMP, per destination
	stats     Stats
	out       OutSegment // the segment being built (reused: no allocation per segment)
	txPool    []*txQueue // idle scoreboards (scoreboard.go), at most maxTxPool
	pending   []*Conn    // connections whose output for the current receive batch is owed (batch.go), at most maxPending
	roomer    TxRoomer   // output's room to transmit (txroom.go); nil: unlimited
	txBlocked []*Conn    // connections waiting for room to transmit, each once (txroom.go)
	txSpare   []*Conn    // the other buffer of txBlocked, swapped by ResumeTx

	sndPool, rcvPool bufPool     // send chunks (sendq.go), receive chunks (rcvq.go)
	mem              *MemAccount // tcp_mem account (mem.go); the process's unless SetMemAccount
	lists            [][][]byte  // emptied chunk lists kept for reuse (sendq.go); at most chunkLists
	isnKey           [16]byte    // secret for the port offset
	host             HostClock   // clocks and secrets for ISNs and timestamps (hostclock.go)
	isnGen           *ISNGenerator
	isnFn            func(now clock.Time, k flowtable.Key) seqnum.Value
	portSeq          uint32
	ownMask, ownID   uint32    // owner id in the low bits of every TSval (owner.go); 0, 0: none
	fwd              Forwarder // hands segments of flows we do not own to other hosts (owner.go); nil: none
}

// NewLayer returns a TCP layer with settings cfg (nil: DefaultConfig)
// that transmits through out.
func NewLayer(cfg *Config, out Output, now clock.Time) *Layer {
	c := DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	if c.DefaultMSS <= 0 {
		c.DefaultMSS = 1460
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 1 << 18
	}
	if c.MaxTwBuckets < 0 {
		c.MaxTwBuckets = 0
	}
	if c.Mem[2] <= 0 {
		c.Mem = DefaultConfig().Mem
	}
	l := &Layer{
		cfg:       c,
		output:    out,
		now:       now,
		wheel:     timer.NewWheel(now),
		conns:     flowtable.New[Conn](c.MaxConnections, (*Conn).Key),
		listeners: make(map[listenKey]*Listener),
		txPool:    make([]*txQueue, 0, maxTxPool),
		pending:   make([]*Conn, 0, maxPending),
	}
	l.roomer, _ = out.(TxRoomer)
	l.tws = flowtable.New[timeWait](max(c.MaxTwBuckets, 1), func(tw *timeWait) flowtable.Key { return tw.key(l) })
	l.twTimer.Fn = func(_ *timer.Timer, now clock.Time) { l.expireTimeWaits(now) }
	// Send chunks (sendq.go): tcp_wmem[1] bytes, at least an MSS; the
	// pool keeps up to twice tcp_wmem[2] of them for the loop.
	chunk := max(c.Wmem[1], c.DefaultMSS, 1)
	l.sndPool = bufPool{size: chunk, max: max(256, 2*c.Wmem[2]/chunk)}
	// Receive chunks (rcvq.go): a page each, up to twice tcp_rmem[2]
	// of them pooled.
	l.rcvPool = bufPool{size: rcvChunk, max: max(256, 2*c.Rmem[2]/rcvChunk)}
	l.mem = &processMem
	crand.Read(l.isnKey[:])
	l.SetHostClock(randomHostClock())
	return l
}

// Config returns the layer's settings.
func (l *Layer) Config() *Config { return &l.cfg }

// SetISN replaces the initial sequence number generator (tests use it to
// start sequence numbers just below 2^32).
func (l *Layer) SetISN(fn func(now clock.Time, k flowtable.Key) seqnum.Value) { l.isnFn = fn }

// isn returns the ISN for a connection on k (RFC 6528, isn.go).
func (l *Layer) isn(now clock.Time, k flowtable.Key) seqnum.Value {
	if l.isnFn != nil {
		return l.isnFn(now, k)
	}
	return l.isnGen.ISN(now, k)
}

// ipv6HeaderExtra is how much longer the IPv6 header (40 bytes, RFC 8200)
// is than the IPv4 one (20): the MSS setting (tcp.Config.DefaultMSS, MTU-40)
// is for IPv4, and an IPv6 connection advertises 20 bytes less, so that
// both fill the same MTU (Linux tcp_mss_clamp/ipv6_mtu: 1460 and 1440 on
// Ethernet).
const ipv6HeaderExtra = 20

// mssFor returns the MSS to advertise on a connection on k.
func (l *Layer) mssFor(k flowtable.Key) int {
	if k.Is4() {
		return l.cfg.DefaultMSS
	}
	return max(l.cfg.DefaultMSS-ipv6HeaderExtra, l.cfg.MinSndMss, 1)
}

// userMSS is the MSS to advertise on k with TCP_MAXSEG set to user (0:
// not set): Linux tcp_advertise_mss/tcp_mss_clamp take the smaller. The
// send MSS is bounded by it too (the peer's MSS is capped by rcvMSS).
func (l *Layer) userMSS(k flowtable.Key, user int) int {
	m := l.mssFor(k)
	if user > 0 && user < m {
		m = max(user, l.cfg.MinSndMss, 1)
	}
	return m
}

// newConn returns a connection with the layer's defaults, not yet in the
// table.
func (l *Layer) newConn(now clock.Time, k flowtable.Key) *Conn {
	c := &Conn{
		layer:     l,
		key:       k,
		flags:     fNoDelay,
		linger:    -1,
		created:   now,
		lastRecv:  now,
		rcvCap:    winFromSpace(l.cfg.Rmem[1]),
		sndBufLim: int32(max(l.cfg.Wmem[1], 1)),
		rcvMSS:    int32(l.mssFor(k)),
		// Linux tcp_initialize_rcv_mss: the peer's segment size is
		// assumed no larger than TCP_MSS_DEFAULT until seen.
		rcvEstMSS: uint16(min(l.mssFor(k), 536)),
		mss:       536,
	}
	c.stopTimers()
	c.rrtt.at = never
	c.rtxStamp = never
	c.reordering = uint16(l.cfg.Reordering - 3) // Linux tcp_init_sock: tp->reordering = tcp_reordering (3..65535, Validate)
	c.rack.reoMult = 1
	c.initCC(c.mss)
	c.timer.Fn = connTimer
	c.tsOffset = l.tsOffsetFor(k) // hostclock.go
	if l.cfg.WindowScaling {
		c.rcvShift = l.ourWindowShift()
	}
	if l.cfg.Keepalive {
		// xdptcp's keepalive setting: as if every socket set
		// SO_KEEPALIVE (the timer is armed on reaching ESTABLISHED).
		c.flags |= fKeepAlive
	}
	return c
}

// Input processes one incoming segment, everything it causes sent before
// it returns: InputBatch and EndBatch for a batch of one.
func (l *Layer) Input(now clock.Time, seg *Segment) {
	l.InputBatch(now, seg)
	l.EndBatch(now)
}

// InputBatch processes one segment of a batch of received segments (the
// engine's RX batch): the connection's state moves at once, but what it
// sends in answer (its ACK decision and new data) waits for EndBatch,
// which decides once per connection for all its segments of the batch
// (batch.go).
func (l *Layer) InputBatch(now clock.Time, seg *Segment) {
	l.now = now
	l.stats.InSegs.Add(1)
	if c := l.conns.Get(seg.Key); c != nil {
		c.ic.countIn(seg, int(c.rcvMSS))
		c.input(now, seg)
		return
	}
	if tw := l.tws.Get(seg.Key); tw != nil {
		tw.input(l, now, seg)
		return
	}
	if ln := l.lookupListener(seg.Key); ln != nil {
		ln.input(now, seg, 0, false)
		return
	}
	// CLOSED (RFC 9293 §3.10.7.1): a RST is dropped, anything else gets
	// a RST, unless another host of the cluster may own the flow.
	if l.forward(seg, ForwardStray) {
		return
	}
	if seg.Flags&wire.FlagRST == 0 {
		l.sendRstFor(seg, 0)
	}
}

// lookupListener finds the listener for k's local address and port, the
// exact address first, then the wildcard.
func (l *Layer) lookupListener(k flowtable.Key) *Listener {
	if len(l.listeners) == 0 {
		return nil
	}
	if ln := l.listeners[listenKey{k.LocalAddr, k.LocalPort}]; ln != nil {
		return ln
	}
	return l.listeners[listenKey{port: k.LocalPort}]
}

// sendRstFor answers seg with a RST (RFC 9293 §3.10.7.1): if the ACK bit
// is on, <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
// txHash is the flow-label choice of the connection that answers, 0
// without one (Linux tcp_v6_send_reset takes the socket's sk_txhash).
func (l *Layer) sendRstFor(seg *Segment, txHash uint16) {
	s := &l.out
	if seg.Flags&wire.FlagACK != 0 {
		*s = OutSegment{Key: seg.Key, Seq: seg.Ack, Flags: wire.FlagRST, TxHash: txHash}
	} else {
		*s = OutSegment{Key: seg.Key, Seq: 0, Ack: seg.Seq.Add(segLen(seg)), Flags: wire.FlagRST | wire.FlagACK, TxHash: txHash}
	}
	l.stats.OutSegs.Add(1)
	l.stats.OutRsts.Add(1)
	l.output.SendTCP(s)
}

// Advance runs the timers due at now.
func (l *Layer) Advance(now clock.Time) {
	l.now = now
	l.wheel.Advance(now)
}

// NextDeadline returns the earliest timer deadline (the poll timeout).
func (l *Layer) NextDeadline() (clock.Time, bool) { return l.wheel.NextDeadline() }

// Listen starts a listener on addr:port (addr zero: any address of
// either family, IPv4 and IPv6; Linux's IPv6 wildcard socket without
// IPV6_V6ONLY).
func (l *Layer) Listen(addr flowtable.Addr, port uint16, o ListenOptions) (*Listener, error) {
	k := listenKey{addr, port}
	if l.listeners[k] != nil || port == 0 {
		return nil, ErrAddrInUse
	}
	if o.CongestionControl != "" && !validCongestionControl(o.CongestionControl) {
		return nil, ErrBadCongestionControl
	}
	backlog := o.Backlog
	if backlog <= 0 || backlog > l.cfg.Somaxconn {
		backlog = l.cfg.Somaxconn // Linux: min(backlog, somaxconn)
	}
	ln := &Listener{layer: l, key: k, opts: o, backlog: backlog, Cookies: o.Cookies}
	l.listeners[k] = ln
	return ln, nil
}

// Dial starts an active open (SYN-SENT) from local to remote:remotePort
// with a local port from ip_local_port_range. h gets OnOpen when the
// handshake completes, or OnClose(ErrRefused/ErrTimeout) if it fails.
func (l *Layer) Dial(now clock.Time, local, remote flowtable.Addr, remotePort uint16, h Handler) (*Conn, error) {
	return l.DialWith(now, local, remote, remotePort, h, DialOptions{})
}

// DialOptions are what a socket sets before connect(2).
type DialOptions struct {
	// MSS is TCP_MAXSEG set before connect (Linux user_mss): the SYN
	// offers at most it, and segments we send are at most it. 0: none.
	MSS int
	// RcvBuf, if > 0, is SO_RCVBUF set before connect (Conn.SetRecvBuffer):
	// the SYN offers the window scale that fits it (Linux
	// tcp_select_initial_window with SOCK_RCVBUF_LOCK).
	RcvBuf int
}

// DialWith is Dial with options set before the SYN.
func (l *Layer) DialWith(now clock.Time, local, remote flowtable.Addr, remotePort uint16, h Handler, o DialOptions) (*Conn, error) {
	l.now = now
	lo, hi := uint32(l.cfg.LocalPortRange[0]), uint32(l.cfg.LocalPortRange[1])
	if lo == 0 || hi < lo {
		lo, hi = 32768, 60999
	}
	n := hi - lo + 1
	// Linux __inet_hash_connect: start at a per-destination offset and
	// walk the range.
	var hb [18]byte
	copy(hb[:16], remote[:])
	binary.BigEndian.PutUint16(hb[16:], remotePort)
	start := uint32(siphash.Hash(binary.LittleEndian.Uint64(l.isnKey[:8]), 7, hb[:])) + l.portSeq
	l.portSeq += 2
	for i := uint32(0); i < n; i++ {
		port := uint16(lo + (start+i)%n)
		k := flowtable.Key{LocalAddr: local, RemoteAddr: remote, LocalPort: port, RemotePort: remotePort}
		if l.conns.Get(k) != nil {
			continue
		}
		var isn seqnum.Value
		haveISN := false
		if tw := l.tws.Get(k); tw != nil {
			if !l.twReusable(now, tw) {
				continue
			}
			isn, haveISN = tw.sndNxt+65535+2, true // Linux tcp_twsk_unique
			tw.remove(l)
		}
		if l.listeners[listenKey{local, port}] != nil || l.listeners[listenKey{port: port}] != nil {
			continue
		}
		return l.connect(now, k, isn, haveISN, h, o)
	}
	return nil, ErrNoPorts
}

// twReusable is Linux's tcp_twsk_unique rule for tcp_tw_reuse: the entry
// saw timestamps and entered TIME-WAIT more than tcp_tw_reuse_delay (1000
// ms) ago (Linux 6.14+: tw_entry_stamp, not the last timestamp's time;
// 2: only when either address is loopback, 127.0.0.0/8 or ::1).
func (l *Layer) twReusable(now clock.Time, tw *timeWait) bool {
	switch l.cfg.TwReuse {
	case 1:
	case 2:
		if !isLoopback(tw.remote) && !isLoopback(l.twLocals[tw.local]) {
			return false
		}
	default:
		return false
	}
	return tw.hasTS && int64(int32(msOf(now)-tw.entryMs)) > int64(l.cfg.TwReuseDelayMs)
}

func isLoopback(a flowtable.Addr) bool {
	if a.Is4() {
		return a[12] == 127
	}
	return a == flowtable.Addr{15: 1}
}

// connect creates the SYN-SENT connection and sends the SYN.
func (l *Layer) connect(now clock.Time, k flowtable.Key, isn seqnum.Value, haveISN bool, h Handler, o DialOptions) (*Conn, error) {
	c := l.newConn(now, k)
	c.rcvMSS = int32(l.userMSS(k, o.MSS))
	c.initRecvBuffer(o.RcvBuf)
	if !haveISN {
		isn = l.isn(now, k)
	}
	c.iss, c.sndUna, c.sndNxt, c.sndNxt = isn, isn, isn, isn
	c.sndBufSeq = isn + 1
	c.pushSeq, c.pushGrid = isn+1, isn+1
	c.setState(StateSynSent)
	c.flags |= fActive
	c.handler = h
	c.mss = int(c.rcvMSS)
	c.sndWnd = 0
	if !l.conns.Insert(k, c) {
		return nil, ErrTableFull
	}
	l.stats.ActiveOpens.Add(1)
	c.rttSent = now
	c.sendSyn(now, false)
	c.synAt = now.Add(initialRTO)
	c.rearm()
	return c, nil
}

// Stats returns the layer's counters.
func (l *Layer) Stats() *Stats { return &l.stats }

// Range visits the live connections (not TIME-WAIT entries; see
// RangeInfo) until fn returns false.
func (l *Layer) Range(fn func(c *Conn) bool) {
	l.conns.Range(func(_ flowtable.Key, c *Conn) bool { return fn(c) })
}

// RangeInfo visits every connection's ConnInfo, TIME-WAIT entries
// included, until fn returns false.
func (l *Layer) RangeInfo(fn func(ConnInfo) bool) {
	l.RangeConns(func(ci ConnInfo, _ *Conn) bool { return fn(ci) })
}

// RangeConns is RangeInfo with the connection itself (for its Info); c is
// nil for a TIME-WAIT entry.
func (l *Layer) RangeConns(fn func(ci ConnInfo, c *Conn) bool) {
	ok := true
	l.conns.Range(func(_ flowtable.Key, c *Conn) bool {
		ok = fn(c.summary(), c)
		return ok
	})
	if !ok {
		return
	}
	l.tws.Range(func(_ flowtable.Key, tw *timeWait) bool { return fn(tw.info(l, l.now), nil) })
}

// Conns returns the number of live connections (half-open included).
func (l *Layer) Conns() int { return l.conns.Len() }

// TimeWaits returns the number of TIME-WAIT entries.
func (l *Layer) TimeWaits() int { return l.tws.Len() }

// Orphans returns the number of connections the application closed that
// are still open (/proc/net/sockstat's orphan, for this loop). Safe from
// any goroutine.
func (l *Layer) Orphans() int { return int(l.orphans.Load()) }

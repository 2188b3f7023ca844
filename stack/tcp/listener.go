package tcp

// Listeners: LISTEN (RFC 9293 §3.10.7.2), the SYN queue of half-open
// connections and the accept queue, with Linux's bounds and counters.

import (
	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/syncookie"
)

// CookieJar makes and checks SYN cookies (package syncookie implements
// it). A listener with a jar answers SYNs with a cookie SYN-ACK instead of
// dropping them when its SYN queue is full (tcp_syncookies=1) or always
// (tcp_syncookies=2), and checks ACKs that match no connection against it.
type CookieJar interface {
	Make(now clock.Time, k flowtable.Key, clientISN seqnum.Value, mss uint16) (cookie seqnum.Value, mssUsed uint16)
	Check(now clock.Time, k flowtable.Key, clientISN, cookie seqnum.Value) (mss uint16, ok bool)
}

// listenKey identifies a listener: a local address (zero = any) and port.
type listenKey struct {
	addr flowtable.Addr
	port uint16
}

// Listener is a passive-open endpoint (LISTEN) with its SYN queue and
// accept queue. Its methods must be called on the loop that owns it.
type Listener struct {
	layer   *Layer
	key     listenKey
	opts    ListenOptions
	backlog int     // accept queue bound: min(Backlog, somaxconn)
	synQ    int     // half-open connections (SYN-RECEIVED) of this listener
	acceptQ []*Conn // established connections waiting for Accept, oldest first
	closed  bool

	// Cookies, if set, is the SYN cookie jar (nil: no cookies).
	Cookies CookieJar
	// recent records when this listener last sent a cookie: ACKs are
	// checked as cookies only within two counter periods of it (Linux
	// tcp_synq_no_recent_overflow).
	recent syncookie.Recent
}

// Addr returns the local address and port listened on (zero address = any).
func (ln *Listener) Addr() (flowtable.Addr, uint16) { return ln.key.addr, ln.key.port }

// Accept takes the oldest connection from the accept queue. Call
// SetHandler on it to receive its events (OnOpen comes first).
func (ln *Listener) Accept() (*Conn, bool) {
	if len(ln.acceptQ) == 0 {
		return nil, false
	}
	c := ln.acceptQ[0]
	copy(ln.acceptQ, ln.acceptQ[1:])
	ln.acceptQ[len(ln.acceptQ)-1] = nil
	ln.acceptQ = ln.acceptQ[:len(ln.acceptQ)-1]
	c.flags &^= fInAcceptQ
	c.listener = nil
	return c, true
}

// AcceptQueueLen returns the number of connections waiting for Accept.
func (ln *Listener) AcceptQueueLen() int { return len(ln.acceptQ) }

// SynQueueLen returns the number of half-open connections.
func (ln *Listener) SynQueueLen() int { return ln.synQ }

// Close stops listening: new SYNs get a RST, half-open connections are
// dropped and queued ones reset (Linux inet_csk_listen_stop).
func (ln *Listener) Close() {
	if ln.closed {
		return
	}
	ln.closed = true
	l := ln.layer
	delete(l.listeners, ln.key)
	for len(ln.acceptQ) > 0 {
		c, _ := ln.Accept()
		c.sendReset(l.now)
		c.destroy(ErrAborted)
	}
	if ln.synQ > 0 {
		var half []*Conn
		l.conns.Range(func(_ flowtable.Key, c *Conn) bool {
			if c.listener == ln {
				half = append(half, c)
			}
			return true
		})
		for _, c := range half {
			c.destroy(nil)
		}
	}
}

// forget removes c from the listener's queues (c is going away).
func (ln *Listener) forget(c *Conn) {
	if c.flags&fInAcceptQ != 0 {
		for i, q := range ln.acceptQ {
			if q == c {
				copy(ln.acceptQ[i:], ln.acceptQ[i+1:])
				ln.acceptQ[len(ln.acceptQ)-1] = nil
				ln.acceptQ = ln.acceptQ[:len(ln.acceptQ)-1]
				break
			}
		}
		c.flags &^= fInAcceptQ
	}
	if c.flags&fHalfOpen != 0 {
		c.flags &^= fHalfOpen
		ln.synQ--
	}
	c.listener = nil
}

// acceptQueueFull reports whether a completed connection has no room.
// Linux's sk_acceptq_is_full is sk_ack_backlog > sk_max_ack_backlog, so
// the queue holds backlog+1 connections; so does ours.
func (ln *Listener) acceptQueueFull() bool {
	return ln.opts.NewHandler == nil && len(ln.acceptQ) > ln.backlog
}

// input is SEGMENT ARRIVES in LISTEN (RFC 9293 §3.10.7.2). isn, if
// nonzero, is the ISN to use (TIME-WAIT reuse).
func (ln *Listener) input(now clock.Time, seg *Segment, isn seqnum.Value, haveISN bool) {
	l := ln.layer
	flags := seg.Flags
	if flags&wire.FlagRST != 0 {
		// First: an incoming RST is ignored, unless it may be for a
		// connection another host of the cluster owns.
		l.forward(seg, ForwardStray)
		return
	}
	if flags&wire.FlagACK != 0 {
		// Linux tcp_v4_cookie_check: an ACK without SYN that matches no
		// connection may complete a cookie handshake.
		if flags&wire.FlagSYN == 0 && ln.cookieAck(now, seg) {
			return
		}
		if l.forward(seg, ForwardStray) {
			return
		}
		l.sendRstFor(seg, 0) // second: <SEQ=SEG.ACK><CTL=RST>
		return
	}
	if flags&wire.FlagSYN == 0 {
		return // fourth: anything else is dropped
	}
	// Third: the SYN. A draining host hands it to an active peer.
	if l.forward(seg, ForwardNew) {
		return
	}
	if ln.acceptQueueFull() {
		// Linux tcp_conn_request: a SYN for a listener whose accept queue
		// is full is dropped (ListenOverflows and ListenDrops).
		l.stats.ListenOverflows.Add(1)
		l.stats.ListenDrops.Add(1)
		return
	}
	useCookie := ln.Cookies != nil && (l.cfg.Syncookies == 2 || (l.cfg.Syncookies == 1 && ln.synQ >= l.cfg.MaxSynBacklog))
	if useCookie {
		// Linux tcp_syn_flood_action counts every SYN answered with a
		// cookie, in mode 2 too.
		l.stats.TCPReqQFullDoCookies.Add(1)
		ln.cookieSynAck(now, seg)
		return
	}
	if ln.synQ >= l.cfg.MaxSynBacklog {
		l.stats.TCPReqQFullDrop.Add(1) // Linux: TCPReqQFullDrop and ListenDrops
		l.stats.ListenDrops.Add(1)
		return
	}
	c := l.newConn(now, seg.Key)
	ln.inherit(c)
	if !haveISN {
		isn = l.isn(now, seg.Key)
	}
	c.iss, c.sndUna, c.sndNxt, c.sndNxt = isn, isn, isn, isn
	c.sndBufSeq = isn + 1
	c.pushSeq, c.pushGrid = isn+1, isn+1
	c.irs = seg.Seq
	c.rcvNxt, c.rcvWup = seg.Seq+1, seg.Seq+1
	c.rcvAdv = c.rcvNxt
	c.lastRecv = now
	c.setState(StateSynReceived)
	c.negotiate(now, seg, false)
	c.sndWnd = uint32(seg.Window) // a SYN's window is never scaled (RFC 7323 §2.2)
	if !l.conns.Insert(c.key, c) {
		l.stats.ListenDrops.Add(1)
		return
	}
	c.listener = ln
	c.flags |= fHalfOpen
	ln.synQ++
	c.rttSent = now
	c.sendSyn(now, false)
	c.synAt = now.Add(initialRTO)
	c.rearm()
}

// complete is called when a half-open connection's handshake completes.
// It moves it to the accept queue (or hands it to NewHandler) and returns
// true, or handles an accept-queue overflow and returns false.
func (ln *Listener) complete(now clock.Time, c *Conn, seg *Segment) bool {
	l := ln.layer
	if ln.acceptQueueFull() {
		l.stats.ListenOverflows.Add(1)
		l.stats.ListenDrops.Add(1)
		if l.cfg.AbortOnOverflow {
			// tcp_abort_on_overflow=1: reset the client.
			l.sendRstFor(seg, 0)
			c.destroy(nil)
			return false
		}
		// Drop the ACK: the half-open entry stays, our SYN-ACK
		// retransmission or the client's next segment completes it later.
		return false
	}
	if c.flags&fHalfOpen != 0 {
		c.flags &^= fHalfOpen
		ln.synQ--
	}
	l.stats.PassiveOpens.Add(1)
	if ln.opts.NewHandler != nil {
		c.listener = nil
		c.handler = ln.opts.NewHandler(c)
		return true
	}
	c.flags |= fInAcceptQ
	ln.acceptQ = append(ln.acceptQ, c)
	if len(ln.acceptQ) == 1 && ln.opts.Notify != nil {
		ln.opts.Notify()
	}
	return true
}

// SetMSS sets TCP_MAXSEG on the listener (ListenOptions.MSS) for the
// connections it creates from now on.
func (ln *Listener) SetMSS(mss int) { ln.opts.MSS = max(mss, 0) }

// SetSynCount sets TCP_SYNCNT on the listener (ListenOptions.SynCount)
// for the connections it creates from now on.
func (ln *Listener) SetSynCount(n int) { ln.opts.SynCount = n }

// SetCongestionControl sets TCP_CONGESTION on the listener
// (ListenOptions.CongestionControl) for the connections it creates from
// now on; a name that is not one of tcp_congestion_control's values is
// ErrBadCongestionControl.
func (ln *Listener) SetCongestionControl(name string) error {
	if !validCongestionControl(name) {
		return ErrBadCongestionControl
	}
	ln.opts.CongestionControl = name
	return nil
}

// ListenOptions configure a listener.
type ListenOptions struct {
	Backlog int // accept queue bound is min(Backlog, Somaxconn); <= 0 means somaxconn
	// NewHandler, if set, accepts every connection at once on the loop
	// (event API). If nil, connections wait in the accept queue for Accept.
	NewHandler func(c *Conn) Handler
	// Notify, if set, is called on the loop when the accept queue goes
	// from empty to non-empty.
	Notify func()
	// Cookies, if set, is the SYN cookie jar (syncookie.Jar): used per
	// tcp_syncookies when the SYN queue is full (1) or always (2).
	Cookies CookieJar
	// MSS is TCP_MAXSEG set on the listening socket (Linux user_mss,
	// inherited by its connections): the SYN-ACK offers at most it and
	// segments sent are at most it. 0: none.
	MSS int
	// RcvBuf, if > 0, is SO_RCVBUF set on the listening socket
	// (inherited by its connections, Conn.SetRecvBuffer): the SYN-ACK
	// offers the window scale that fits it.
	RcvBuf int
	// CongestionControl, if set, is the congestion control of the
	// listener's connections instead of tcp_congestion_control (Linux:
	// TCP_CONGESTION on a listening socket is inherited by its children).
	CongestionControl string
	// SynCount is TCP_SYNCNT set on the listening socket: its SYN-ACK
	// retransmissions in place of tcp_synack_retries (Linux
	// reqsk_timer_handler takes icsk_syn_retries first), 1..127; 0: none.
	SynCount int
}

// inherit gives a new connection of the listener what Linux's child
// socket takes from its listener: the user MSS, the receive buffer, the
// congestion control if the listener has one, and TCP_SYNCNT.
func (ln *Listener) inherit(c *Conn) {
	c.rcvMSS = int32(c.layer.userMSS(c.key, ln.opts.MSS))
	if cc := ln.opts.CongestionControl; cc != "" && canonicalCC(cc) != c.cc.name() {
		c.cc = nil
		c.startCC(canonicalCC(cc), initialWindowSegments*c.mss, c.mss)
	}
	c.initRecvBuffer(ln.opts.RcvBuf)
	c.SetSynCount(ln.opts.SynCount)
}

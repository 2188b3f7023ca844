package tcp

// SYN cookies in LISTEN (RFC 4987 §3.6; Linux net/ipv4/syncookies.c,
// tcp_conn_request with want_cookie, cookie_v4_check): a SYN the listener
// will not keep state for is answered with a SYN-ACK whose ISN is a cookie
// (package syncookie), and the ACK returning it rebuilds the connection.

import (
	"math/bits"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/syncookie"
)

// ourWindowShift is the window scale we offer: the smallest shift that
// lets the window reach the largest receive buffer, tcp_rmem[2] or
// rmem_max (SO_RCVBUF's), whichever is larger (Linux
// tcp_select_initial_window: ilog2 of it less 15, at most 14), as
// newConn sets rcvShift. A cookie SYN-ACK and the connection rebuilt from
// its ACK must agree on it.
func (l *Layer) ourWindowShift() uint8 {
	space := max(l.cfg.Rmem[2], l.cfg.RmemMax, 1)
	return uint8(min(max(bits.Len(uint(space))-16, 0), maxWindowShift))
}

// cookieSynAck answers a SYN with a stateless cookie SYN-ACK (Linux
// tcp_conn_request with want_cookie: the request is sent and freed, so it is
// never retransmitted). The client's MSS rides in the cookie. When the
// client sent timestamps (and tcp_timestamps is on), its window scale and
// SACK-permitted ride in the low bits of our TSval (syncookie.EncodeTS,
// Linux cookie_init_timestamp) and the SYN-ACK offers them as a normal one
// would; without timestamps they cannot be recovered, so the SYN-ACK offers
// only the MSS (Linux: cookie_timestamp_decode clears the options of an ACK
// without timestamps, and tcp_openreq_init_rwin/tcp_synack_options offer
// none the cookie cannot carry).
func (ln *Listener) cookieSynAck(now clock.Time, seg *Segment) {
	l := ln.layer
	cfg := &l.cfg
	mss := uint16(536) // RFC 9293 §3.7.1: no MSS option means 536
	if seg.Opts.HasMSS {
		mss = seg.Opts.MSS
	}
	cookie, _ := ln.Cookies.Make(now, seg.Key, seg.Seq, mss)
	s := &l.out
	*s = OutSegment{Key: seg.Key, Seq: cookie, Ack: seg.Seq + 1, Flags: wire.FlagSYN | wire.FlagACK}
	w := winFromSpace(cfg.Rmem[1])
	if ln.opts.RcvBuf > 0 {
		w = l.recvSpace(ln.opts.RcvBuf) // SO_RCVBUF on the listener (initRecvBuffer)
	}
	s.Opts.HasMSS = true
	s.Opts.MSS = uint16(l.userMSS(seg.Key, ln.opts.MSS)) // what we can receive, as in a normal SYN-ACK
	s.Window = uint16(synWindow(w, int(s.Opts.MSS), seg.Opts.HasTimestamp && cfg.Timestamps, cfg.SignedWindows))
	if seg.Opts.HasTimestamp && cfg.Timestamps {
		var o syncookie.Options
		if seg.Opts.HasWScale && cfg.WindowScaling {
			o.HasWScale, o.WScale = true, min(seg.Opts.WScale, maxWindowShift)
			s.Opts.HasWScale = true
			s.Opts.WScale = l.windowShiftFor(ln.opts.RcvBuf)
		}
		if seg.Opts.SACKPermitted && cfg.Sack {
			o.SACK = true
			s.Opts.SACKPermitted = true
		}
		if l.ecnSynAccepted(seg) {
			// RFC 3168 §6.1.1 through the cookie: its timestamp keeps
			// the ECN setup (Linux TS_OPT_ECN; without timestamps, no
			// ECN, as Linux).
			o.ECN = true
			s.Flags |= wire.FlagECE
		}
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = syncookie.EncodeTS(uint32(int64(now)/1e6)+l.tsOffsetFor(seg.Key), o)
		s.Opts.TSEcr = seg.Opts.TSVal
	}
	ln.recent.Sent(now)
	l.stats.SyncookiesSent.Add(1)
	l.stats.OutSegs.Add(1)
	l.output.SendTCP(s)
}

// cookiesShared reports whether the jar's keys are shared with other hosts
// (syncookie.Jar.Shared): an ACK may then return a cookie another host
// made, so it is checked even when this listener sent no cookie lately.
func cookiesShared(j CookieJar) bool {
	s, ok := j.(interface{ Shared() bool })
	return ok && s.Shared()
}

// cookieAck checks an ACK (no SYN, no RST) that matches no connection
// against the jar (Linux cookie_v4_check) and, if it returns a valid
// cookie, creates the connection and processes the ACK in it, so that its
// data and FIN are delivered. It returns false when the caller must answer
// with a RST: cookies off, none sent lately (not counted, Linux
// tcp_synq_no_recent_overflow; a shared jar is always checked), a cookie that fails the check
// (SyncookiesFailed), or timestamp options we do not allow.
func (ln *Listener) cookieAck(now clock.Time, seg *Segment) bool {
	l := ln.layer
	cfg := &l.cfg
	if ln.Cookies == nil || cfg.Syncookies == 0 || (!ln.recent.Valid(now) && !cookiesShared(ln.Cookies)) {
		return false
	}
	mss, ok := ln.Cookies.Check(now, seg.Key, seg.Seq-1, seg.Ack-1)
	if !ok {
		l.stats.SyncookiesFailed.Add(1)
		return false
	}
	if l.forward(seg, ForwardNew) {
		return true // a draining host: the connection opens on a peer
	}
	l.stats.SyncookiesRecv.Add(1)
	// Linux cookie_timestamp_decode: without a timestamp option no option
	// survives; with one, an option the host has disabled means the ACK
	// does not answer our SYN-ACK, and it gets a RST.
	var o syncookie.Options
	if seg.Opts.HasTimestamp {
		if o, ok = syncookie.DecodeTS(seg.Opts.TSEcr); !ok || !cfg.Timestamps ||
			(o.HasWScale && !cfg.WindowScaling) || (o.SACK && !cfg.Sack) {
			return false
		}
	}
	if ln.acceptQueueFull() {
		// Linux tcp_v4_syn_recv_sock: ListenOverflows, ListenDrops, and
		// the ACK is dropped (the client retransmits).
		l.stats.ListenOverflows.Add(1)
		l.stats.ListenDrops.Add(1)
		return true
	}
	c := l.newConn(now, seg.Key)
	ln.inherit(c)
	isn := seg.Ack - 1
	c.iss, c.sndUna, c.sndNxt, c.sndNxt = isn, isn, isn+1, isn+1
	c.sndBufSeq = isn + 1
	c.pushSeq, c.pushGrid = isn+1, isn+1
	c.irs = seg.Seq - 1
	c.rcvNxt, c.rcvWup = seg.Seq, seg.Seq
	c.lastRecv = now
	c.flags |= fCookie
	c.mss = min(int(mss), int(c.rcvMSS))
	if p, ok := l.pmtus.lookup(now, c.key.RemoteAddr); ok {
		c.mss = min(c.mss, p-headerOverhead(c.key))
	}
	c.mss = max(c.mss, cfg.MinSndMss, 1)
	c.flags &^= fWS | fSackOK | fTS | fECN
	c.sndShift, c.rcvShift = 0, 0
	if seg.Opts.HasTimestamp {
		c.flags |= fTS
		if o.ECN && cfg.ECN >= 1 {
			c.flags |= fECN
		}
		c.tsRecent = seg.Opts.TSVal
		c.tsRecentAt = now
		// Our timestamps continue from the TSval the ACK echoes: with a
		// shared jar another host may have sent the SYN-ACK from its own
		// timestamp clock, and the client's PAWS check (RFC 7323 §5.3)
		// drops any segment whose TSval is behind the one it holds. On
		// the host that sent the SYN-ACK this changes nothing.
		// With owner bits the TSval steps down to the id (owner.go):
		// start the raw clock that much above the echoed value.
		if ts := c.tsVal(now); int32(seg.Opts.TSEcr-ts) > 0 {
			c.tsOffset += seg.Opts.TSEcr - c.tsRaw(now) + l.ownMask
		}
		if o.HasWScale {
			c.flags |= fWS
			c.sndShift = min(o.WScale, maxWindowShift)
			c.rcvShift = l.windowShiftFor(ln.opts.RcvBuf)
		}
		if o.SACK {
			c.flags |= fSackOK
		}
	}
	c.rcvAdv = c.rcvNxt.Add(seqnum.Size(synWindow(c.rcvCap, int(c.rcvMSS), c.flags&fTS != 0, cfg.SignedWindows))) // what the SYN-ACK offered
	if cfg.MtuProbing == 2 {
		c.mtuSearchStart(now, c.mss, min(int(mss), int(c.rcvMSS))) // as negotiate for an accepted connection
	}
	c.initCC(c.mss)
	c.setState(StateSynReceived)
	if !l.conns.Insert(c.key, c) {
		l.stats.ListenDrops.Add(1)
		return true
	}
	c.listener = ln
	c.input(now, seg)
	return true
}

package tcp

// TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337) in a compact side table: a
// connection that enters TIME-WAIT gives up its Conn and buffers and
// leaves a small timeWait entry for 2*MSL. Only received data the
// application has not read yet stays with the Conn until it is read or the
// application closes (holdTail, as Linux keeps the receive queue readable).

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// timeWait is a TIME-WAIT entry: what is needed to re-ACK a retransmitted
// FIN, to judge a new SYN for the same 4-tuple, and to list it: 80 bytes on
// 64-bit (a Go size class), with no other allocation. Entries expire in the
// order of their deadlines (every entry lives 2*MSL from its last restart),
// so instead of a wheel timer each they sit on the layer's FIFO list, and
// one layer timer fires for the head.
//
// With 16-byte addresses (IPv6, or IPv4 mapped) the 4-tuple alone would
// take 36 bytes, so the local address, always one of the few addresses the
// layer serves, is an index into the layer's table of them (twLocals), and
// the times are kept in wrapping milliseconds (TIME-WAIT lasts a minute;
// the uint32 differences are exact for 24 days).
type timeWait struct {
	remote     flowtable.Addr // peer address
	localPort  uint16         //
	remotePort uint16         //
	sndNxt     seqnum.Value   // our SND.NXT (after our FIN)
	rcvNxt     seqnum.Value   // RCV.NXT (after the peer's FIN)
	tsRecent   uint32         // TS.Recent when hasTS
	tsOffset   uint32         // our timestamp offset
	tsAtMs     uint32         // when TS.Recent was last updated, ms (PAWS's 60 s rule for a RST)
	expiresMs  uint32         // end of TIME-WAIT (2*MSL after entry or the last restart), ms, rounded up
	oowMs      uint32         // when the last rate-limited ACK was sent, ms; 0: never (Linux tw_last_oow_ack_time)
	window     uint16         // the window field of our ACKs: the receive window at entry, scaled (Linux tw_rcv_wnd >> tw_rcv_wscale)
	local      uint8          // index of the local address in the layer's twLocals
	hasTS      bool           // timestamps were in use
	txHash     uint16         // the connection's flow-label choice (Linux tw_txhash: TIME-WAIT's segments keep the connection's label)
	entryMs    uint32         // when TIME-WAIT began, ms (Linux tw_entry_stamp: tcp_tw_reuse_delay counts from it; here: the struct stays in the 80-byte size class)
	next, prev *timeWait      // the layer's expiry list, oldest deadline first
}

// twMaxLocals bounds the local addresses TIME-WAIT entries refer to (a
// layer serves one IPv4 and one IPv6 address; tests and Dial may use a few
// more). A connection on another local address is closed without a
// TIME-WAIT entry, counted as TCPTimeWaitOverflow.
const twMaxLocals = 16

// key returns tw's 4-tuple.
func (tw *timeWait) key(l *Layer) flowtable.Key {
	return flowtable.Key{LocalAddr: l.twLocals[tw.local], RemoteAddr: tw.remote, LocalPort: tw.localPort, RemotePort: tw.remotePort}
}

// twLocal returns the index of local address a in l.twLocals, adding it
// if there is room. A slot is written once, before any entry refers to it,
// so readers of the TIME-WAIT table (which read entries published by the
// table) never race with the write.
func (l *Layer) twLocal(a flowtable.Addr) (uint8, bool) {
	for i := 0; i < l.nTwLocals; i++ {
		if l.twLocals[i] == a {
			return uint8(i), true
		}
	}
	if l.nTwLocals == twMaxLocals {
		return 0, false
	}
	l.twLocals[l.nTwLocals] = a
	l.nTwLocals++
	return uint8(l.nTwLocals - 1), true
}

// msOf returns t in wrapping milliseconds, rounded up.
func msOf(t clock.Time) uint32 { return uint32((int64(t) + 999_999) / 1e6) }

// timeOfMs returns the time of wrapping milliseconds ms nearest to now.
func timeOfMs(now clock.Time, ms uint32) clock.Time {
	n := int64(now) / 1e6
	return clock.Time((n + int64(int32(ms-uint32(n)))) * 1e6)
}

// timeWaitLen is the TIME-WAIT duration: 2*MSL (RFC 9293 §3.4.2), with
// tcp_msl 30 s, 60 s like Linux's TCP_TIMEWAIT_LEN.
func (l *Layer) timeWaitLen() time.Duration { return 2 * l.cfg.MSL }

// enterTimeWait replaces c by a TIME-WAIT entry, or closes it at once when
// tcp_max_tw_buckets entries exist (TCPTimeWaitOverflow). Received data
// the application has not read yet stays with c (holdTail), and OnClose
// waits for it.
func (c *Conn) enterTimeWait(now clock.Time) {
	l := c.layer
	held := c.holdTail() // unread data stays readable (see holdTail)
	local, ok := l.twLocal(c.key.LocalAddr)
	if l.tws.Len() >= l.cfg.MaxTwBuckets || !ok {
		l.stats.TCPTimeWaitOverflow.Add(1)
		c.teardown()
		if !held {
			c.notifyClosed(nil)
		}
		return
	}
	tw := &timeWait{
		remote:     c.key.RemoteAddr,
		localPort:  c.key.LocalPort,
		remotePort: c.key.RemotePort,
		local:      local,
		sndNxt:     c.sndNxt,
		rcvNxt:     c.rcvNxt,
		tsRecent:   c.tsRecent,
		tsOffset:   c.tsOffset,
		window:     c.twWindow(),
		hasTS:      c.flags&fTS != 0,
		txHash:     c.txHash(),
		tsAtMs:     msOf(c.tsRecentAt),
		entryMs:    msOf(now),
	}
	c.teardown()
	c.state = StateTimeWait
	if !l.tws.Insert(c.key, tw) {
		l.stats.TCPTimeWaitOverflow.Add(1)
		c.state = StateClosed
		if !held {
			c.notifyClosed(nil)
		}
		return
	}
	c.tw = tw
	l.twPush(tw, now)
	if !held {
		c.notifyClosed(nil)
	}
}

// twWindow is the window field TIME-WAIT's ACKs carry: what is left of
// the window last advertised (Linux tcp_time_wait: tw_rcv_wnd =
// tcp_receive_window), scaled.
func (c *Conn) twWindow() uint16 {
	if !c.rcvNxt.LessThan(c.rcvAdv) {
		return 0
	}
	return uint16(min(uint32(c.rcvAdv.Sub(c.rcvNxt))>>c.rcvShift, 65535))
}

// twPush appends tw to the expiry list with the deadline now+2*MSL (no
// earlier than any entry's: the layer's clock never goes back).
func (l *Layer) twPush(tw *timeWait, now clock.Time) {
	tw.expiresMs = msOf(now.Add(l.timeWaitLen()))
	tw.next, tw.prev = nil, l.twTail
	if l.twTail != nil {
		l.twTail.next = tw
	} else {
		l.twHead = tw
	}
	l.twTail = tw
	if !l.twTimer.Pending() {
		l.wheel.Schedule(&l.twTimer, timeOfMs(now, l.twHead.expiresMs))
	}
}

// twUnlink takes tw off the expiry list. The layer timer may then fire
// early; expireTimeWaits just re-arms it.
func (l *Layer) twUnlink(tw *timeWait) {
	if tw.prev != nil {
		tw.prev.next = tw.next
	} else {
		l.twHead = tw.next
	}
	if tw.next != nil {
		tw.next.prev = tw.prev
	} else {
		l.twTail = tw.prev
	}
	tw.next, tw.prev = nil, nil
}

// expireTimeWaits is the layer's TIME-WAIT timer: it ends every entry
// whose 2*MSL is over and re-arms for the next one.
func (l *Layer) expireTimeWaits(now clock.Time) {
	for tw := l.twHead; tw != nil && timeOfMs(now, tw.expiresMs) <= now; tw = l.twHead {
		l.twUnlink(tw)
		l.tws.Delete(tw.key(l))
		l.stats.TW.Add(1)
	}
	if l.twHead != nil {
		l.wheel.Schedule(&l.twTimer, timeOfMs(now, l.twHead.expiresMs))
	}
}

// notifyClosed delivers OnClose once, if the application saw the
// connection.
func (c *Conn) notifyClosed(err error) {
	c.closeErr = err
	if c.handler != nil && c.flags&(fOpened|fActive) != 0 {
		c.handler.OnClose(c, err)
	}
}

// remove deletes the entry before its time (reuse).
func (tw *timeWait) remove(l *Layer) {
	l.twUnlink(tw)
	l.tws.Delete(tw.key(l))
}

// info describes the entry for listings.
func (tw *timeWait) info(l *Layer, now clock.Time) ConnInfo {
	left := timeOfMs(now, tw.expiresMs).Sub(now)
	if left < 0 {
		left = 0
	}
	return ConnInfo{State: StateTimeWait, Key: tw.key(l), Timer: "timewait", TimerIn: left}
}

// input is SEGMENT ARRIVES in TIME-WAIT, following Linux's
// tcp_timewait_state_process:
//
//   - at RCV.NXT (PAWS permitting) a RST ends TIME-WAIT ("TIME-WAIT
//     assassination", which a client in SYN-SENT does on purpose when our
//     ACK to its new SYN does not fit: RFC 9293 §3.10.7.3), unless
//     tcp_rfc1337 asks for RFC 1337's remedy of ignoring it; a bare ACK
//     there restarts the 2*MSL timer and gets no answer; both update
//     TS.Recent;
//   - a SYN that cannot be an old duplicate reuses the slot (below);
//   - any other segment but a RST restarts the timer if it has ACK set or
//     PAWS rejects it (not an ACK-less SYN, which may be a new connection's
//     with a random ISN below RCV.NXT), and is answered with our ACK, at
//     most once per tcp_invalid_ratelimit if it has neither data nor FIN (a
//     retransmitted FIN always is: RFC 9293 §3.10.7.4 eighth).
func (tw *timeWait) input(l *Layer, now clock.Time, seg *Segment) {
	flags := seg.Flags
	rst := flags&wire.FlagRST != 0
	paws := tw.pawsRejects(now, seg, rst)
	bare := len(seg.Payload) == 0 && flags&(wire.FlagSYN|wire.FlagFIN) == 0
	if !paws && seg.Seq == tw.rcvNxt && (bare || rst) {
		if rst {
			if !l.cfg.RFC1337 {
				tw.remove(l)
				return
			}
		} else {
			tw.restart(l, now)
		}
		if tw.hasTS && seg.Opts.HasTimestamp {
			tw.tsRecent, tw.tsAtMs = seg.Opts.TSVal, msOf(now)
		}
		return
	}
	if flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN && !paws {
		// A new SYN may reuse the slot if it cannot be an old duplicate
		// (Linux TCP_TW_SYN): a sequence number above RCV.NXT, or a
		// newer timestamp (RFC 6191).
		newer := seg.Seq.GreaterThan(tw.rcvNxt) ||
			tw.hasTS && seg.Opts.HasTimestamp && int32(seg.Opts.TSVal-tw.tsRecent) > 0
		if newer {
			if ln := l.lookupListener(seg.Key); ln != nil {
				// Linux: the new ISN is the old SND.NXT + 65535 + 2, so
				// the new connection's segments are beyond the old one's.
				isn := tw.sndNxt + 65535 + 2
				tw.remove(l)
				ln.input(now, seg, isn, true)
				return
			}
			tw.sendAck(l, now) // no listener: the ACK (Linux TCP_TW_SYN falls through to TCP_TW_ACK)
			return
		}
	}
	if paws {
		l.stats.PAWSEstab.Add(1)
	}
	if rst {
		return
	}
	if paws || flags&wire.FlagACK != 0 {
		tw.restart(l, now)
	}
	if l.oowRateLimited(&tw.oowMs, now, seg) {
		l.stats.TCPACKSkippedTimeWait.Add(1)
		return
	}
	tw.sendAck(l, now)
}

// restart re-arms tw's 2*MSL from now (Linux inet_twsk_reschedule with
// TCP_TIMEWAIT_LEN).
func (tw *timeWait) restart(l *Layer, now clock.Time) {
	l.twUnlink(tw)
	l.twPush(tw, now)
}

// pawsRejects is Linux's tcp_paws_reject in TIME-WAIT: the segment's
// timestamp is older than TS.Recent, except for a RST when TS.Recent is at
// least TCP_PAWS_MSL (60 s) old (a RST's clean-up takes precedence over
// an older timestamp, RFC 7323 §5.3 note).
func (tw *timeWait) pawsRejects(now clock.Time, seg *Segment, rst bool) bool {
	if !tw.hasTS || !seg.Opts.HasTimestamp || int32(seg.Opts.TSVal-tw.tsRecent) >= 0 {
		return false
	}
	return !rst || int32(msOf(now)-tw.tsAtMs) < 60_000
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
func (tw *timeWait) sendAck(l *Layer, now clock.Time) {
	s := &l.out
	*s = OutSegment{Key: tw.key(l), Seq: tw.sndNxt, Ack: tw.rcvNxt, Flags: wire.FlagACK, Window: tw.window, TxHash: tw.txHash}
	if tw.hasTS {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = l.ownerTS(uint32(int64(now)/1e6) + tw.tsOffset)
		s.Opts.TSEcr = tw.tsRecent
	}
	l.stats.OutSegs.Add(1)
	l.output.SendTCP(s)
}

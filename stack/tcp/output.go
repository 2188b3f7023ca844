package tcp

// Output: building the segments a connection sends.

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
	"math"
)

// maxWindowShift is RFC 7323 §2.3's cap on the window scale.
const maxWindowShift = 14

// rcvWindow computes the window to advertise: free receive-buffer space
// (out-of-order data sits inside the window it was sent into, so it does
// not shrink it), clamped to 4 MSS under tcp_mem pressure (Linux clamps
// rcv_ssthresh to 4*advmss), rounded to the scale's granularity, with
// receiver SWS avoidance (RFC 9293 §3.8.6.2.2: the right edge moves only
// by at least min(buffer/2, MSS)) and never moving the right edge left
// (RFC 7323 §2.4). wantZero reports that the free space alone would have
// given a zero window (Linux TCPWantZeroWindowAdv). An edge held where
// it is is rounded up to the scale's granularity, as Linux's
// tcp_select_window aligns cur_win, so that the window sent, shifted, is
// still all of it (rcvAdv records no more than the peer was offered), as
// long as the buffer has room for the rounding: Linux's memory
// accounting stops a peer whose segments, each rounded up so, would walk
// the edge on; here the buffer's space does (the window shifted then
// falls short of the edge held by less than the granularity).
func (c *Conn) rcvWindow() (w uint32, wantZero bool) {
	room, free := c.rcvFree()
	maxw := 65535 << c.rcvShift
	cur := 0
	if c.rcvNxt.LessThan(c.rcvAdv) {
		cur = int(c.rcvAdv.Sub(c.rcvNxt))
		g := 1 << c.rcvShift
		if up := (cur + g - 1) &^ (g - 1); up <= min(room, maxw) {
			cur = up
		}
	}
	switch {
	case free <= cur:
		return uint32(cur), free == 0 && cur > 0
	case free-cur < min(c.rcvCap/2, int(c.rcvMSS)):
		return uint32(cur), false // SWS: not worth moving the edge yet
	}
	return uint32(min(free, c.maxWindow())), false
}

// selectWindow is the window an ACK offers (rcvWindow), counted as
// Linux's tcp_select_window counts it: a zero window the buffer wanted
// (TCPWantZeroWindowAdv), and a change to or from zero against the
// window last offered, rcvAdv - rcvWup (Linux rcv_wnd).
func (c *Conn) selectWindow() uint32 {
	w, wantZero := c.rcvWindow()
	l := c.layer
	if wantZero {
		l.stats.TCPWantZeroWindowAdv.Add(1)
	}
	if old := c.rcvWup.LessThan(c.rcvAdv); w == 0 && old {
		l.stats.TCPToZeroWindowAdv.Add(1)
	} else if w > 0 && !old {
		l.stats.TCPFromZeroWindowAdv.Add(1)
	}
	return w
}

// rcvFree is the receive buffer's room and the window it would give
// before receiver SWS avoidance: the room, clamped to 4 MSS under tcp_mem
// pressure and to the largest window the scale can say, rounded down to
// the scale's granularity.
func (c *Conn) rcvFree() (room, free int) {
	room = max(c.rcvCap-c.rcvBuf.Len(), 0)
	free = room
	if c.layer.underPressure() {
		free = min(free, 4*int(c.rcvMSS))
	}
	free = min(free, 65535<<c.rcvShift)
	free &^= (1 << c.rcvShift) - 1
	return room, free
}

// maxWindow is the largest window our ACKs offer: 65535 scaled, or,
// unscaled with tcp_workaround_signed_windows, 32767 for a peer that
// may read the field as signed. As Linux's tcp_select_window it caps the
// window after the receiver's SWS avoidance (__tcp_select_window) chose
// it: measured on Linux 6.18, 1000 bytes into an unscaled 32767 window
// the ACK offers 32767 again.
func (c *Conn) maxWindow() int {
	if c.rcvShift == 0 && c.layer.cfg.SignedWindows {
		return maxSignedWindow
	}
	return 65535 << c.rcvShift
}

// maxSignedWindow is Linux's MAX_TCP_WINDOW: the largest window a peer
// that takes the 16-bit field as signed reads right.
const maxSignedWindow = 32767

// windowKeepsUp reports whether the window we would offer now reaches at
// least as far past RCV.NXT as the last one offered reached past the
// RCV.NXT it was sent with: the application took what arrived since, so
// an ACK would move the window's right edge on by as much. Linux's
// __tcp_ack_snd_check asks it before ACKing more than one full segment
// at once (__tcp_select_window(sk) >= tp->rcv_wnd): otherwise the ACK
// waits for the application's read (tcp_cleanup_rbuf, here readAck) or
// the delayed-ACK timer.
func (c *Conn) windowKeepsUp() bool {
	_, free := c.rcvFree()
	return free >= int(c.rcvAdv.Sub(c.rcvWup))
}

// tsVal is our RFC 7323 timestamp clock: milliseconds plus a per-connection
// offset (Linux uses a millisecond clock too), with the owner id in its low
// bits when the layer has one (owner.go).
func (c *Conn) tsVal(now clock.Time) uint32 {
	return c.layer.ownerTS(c.tsRaw(now))
}

// tsRaw is tsVal without the owner bits.
func (c *Conn) tsRaw(now clock.Time) uint32 {
	return uint32(int64(now)/1e6) + c.tsOffset
}

// fill prepares the layer's OutSegment with the fields every segment of
// this connection carries.
func (c *Conn) fill(now clock.Time, seq seqnum.Value, flags wire.TCPFlags) *OutSegment {
	s := &c.layer.out
	*s = OutSegment{Key: c.key, Seq: seq, Flags: flags, TOS: c.tos, TxHash: c.txHash()}
	if flags&wire.FlagACK != 0 {
		s.Ack = c.rcvNxt
	}
	if flags&wire.FlagSYN != 0 {
		return s
	}
	if c.flags&fECEPending != 0 && flags&wire.FlagRST == 0 {
		s.Flags |= wire.FlagECE // RFC 3168 §6.1.3: echo CE until the peer's CWR
	}
	var w uint32
	if c.ackMode&amNoMem == 0 {
		w = c.selectWindow()
	}
	// else memory was short for data received: this ACK offers a zero
	// window, and it is recorded as offered, so the next one starts
	// afresh (Linux 6.18 tcp_select_window with ICSK_ACK_NOMEM: rcv_wnd
	// 0, rcv_wup = rcv_nxt, none of the window counters).
	c.rcvAdv = c.rcvNxt.Add(seqnum.Size(w))
	s.Window = uint16(w >> c.rcvShift)
	if c.flags&fTS != 0 {
		// RSTs too: Linux's tcp_send_active_reset goes through
		// tcp_transmit_skb, which adds TSval/TSecr (ts_recent/reset_tsval).
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = c.tsVal(now)
		s.Opts.TSEcr = c.tsRecent
	}
	if flags&wire.FlagRST == 0 {
		c.fillSACK(s)
	}
	return s
}

// xmit hands s to the engine and does the bookkeeping common to every
// segment: rtx says whether it is a retransmission (Linux counts those in
// RetransSegs only, not in OutSegs). It reports whether the engine took it.
func (c *Conn) xmit(s *OutSegment, rtx bool) bool {
	l := c.layer
	c.ic.countOut(l.now, s, rtx)
	if !rtx {
		l.stats.OutSegs.Add(1)
	}
	if s.Flags&wire.FlagRST != 0 {
		l.stats.OutRsts.Add(1)
	}
	if s.Flags&wire.FlagACK != 0 {
		if c.ackOwed > 0 {
			c.quickAckSent()
		}
		c.ackOwed = 0
		c.delackAt = never
		c.ackSentUnheld()
		c.rcvWup = c.rcvNxt
		c.ackMode = 0 // every bit of icsk_ack.pending (tcp_event_ack_sent)
	}
	return l.output.SendTCP(s)
}

// sendAck sends a pure ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (SEQ at
// most the peer's window edge, acceptableSeq); without
// room in the output it waits for room (txroom.go), the ACK still owed.
func (c *Conn) sendAck(now clock.Time) {
	if !c.layer.txRoom() {
		c.blockTx(txWaitAck)
		return
	}
	c.xmit(c.fill(now, c.acceptableSeq(), wire.FlagACK), false)
}

// acceptableSeq is the sequence number of a segment that carries no data
// (an ACK, an active RST): SND.NXT, or the right edge of the peer's
// window, SND.UNA + SND.WND, when SND.NXT is past it by a window-scale
// unit or more (Linux tcp_acceptable_seq). A peer takes a segment without
// data only inside its window (RFC 9293 §3.10.7.4; with a zero window,
// only SEG.SEQ = RCV.NXT), so after we sent data it then dropped for a
// closed window, ACKs at SND.NXT would all be refused, their
// acknowledgments unread: an echo whose window closed because its send
// buffer waited for exactly those acknowledgments learnt of them only
// from our retransmission timeouts, seconds apart (memlink, 48 frames).
func (c *Conn) acceptableSeq() seqnum.Value {
	end := c.sndUna.Add(seqnum.Size(c.sndWnd))
	if !end.LessThan(c.sndNxt) || (c.flags&fWS != 0 && c.sndNxt.Sub(end) < seqnum.Size(1)<<c.rcvShift) {
		return c.sndNxt
	}
	return end
}

// sendReset sends <SEQ=SND.NXT (acceptableSeq)><ACK=RCV.NXT><CTL=RST,ACK>, as Linux's
// tcp_send_active_reset does for an abort (RFC 9293 §3.10.5 ABORT).
func (c *Conn) sendReset(now clock.Time) {
	c.xmit(c.fill(now, c.acceptableSeq(), wire.FlagRST|wire.FlagACK), false)
}

// sendProbe sends a zero-length segment at SND.UNA-1, which the peer must
// answer with an ACK (keepalive RFC 1122 §4.2.3.6; Linux also uses it as
// the zero-window probe, tcp_xmit_probe_skb).
func (c *Conn) sendProbe(now clock.Time) {
	c.xmit(c.fill(now, c.sndUna-1, wire.FlagACK), false)
}

// sendSyn sends our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with the
// options we offer: MSS always (RFC 9293 §3.7.1), window scale, SACK
// permitted and timestamps when configured (active) or offered by the peer
// (passive). Its window is never scaled (RFC 7323 §2.2). rtx marks a
// retransmission (counted in RetransSegs and TCPSynRetrans).
func (c *Conn) sendSyn(now clock.Time, rtx bool) bool {
	l := c.layer
	flags := wire.FlagSYN
	active := c.state == StateSynSent
	if !active {
		flags |= wire.FlagACK
	}
	flags |= c.ecnSynFlags(active, rtx)
	s := c.fill(now, c.iss, flags)
	w := synWindow(c.rcvCap, int(c.rcvMSS), !active && c.flags&fTS != 0, l.cfg.SignedWindows)
	s.Window = uint16(w)
	if edge := c.rcvNxt.Add(seqnum.Size(w)); c.rcvAdv.LessThan(edge) {
		c.rcvAdv = edge
	}
	s.Opts.HasMSS = true
	s.Opts.MSS = uint16(c.rcvMSS)
	if (active && l.cfg.WindowScaling) || c.flags&fWS != 0 {
		s.Opts.HasWScale = true
		s.Opts.WScale = c.rcvShift
	}
	if (active && l.cfg.Sack) || c.flags&fSackOK != 0 {
		s.Opts.SACKPermitted = true
	}
	if (active && l.cfg.Timestamps) || c.flags&fTS != 0 {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = c.tsVal(now)
		s.Opts.TSEcr = c.tsRecent
	}
	if c.sndNxt == c.iss {
		c.sndNxt = c.iss + 1
	}
	if rtx {
		l.stats.TCPSynRetrans.Add(1)
		l.stats.RetransSegs.Add(1)
		if !active {
			// Linux tcp_rtx_synack: each SYN-ACK resent under a new
			// label, uncounted; the count stays with the connection
			// without allocating its sendExt (rehash.go).
			c.synRsnt = max(c.synRsnt, c.synRsnt+1)
			if l.cfg.TxRehash {
				c.synHash++
				s.TxHash = c.txHash()
			}
		}
	}
	return c.xmit(s, rtx)
}

// synWindow is the window a SYN or SYN-ACK offers, as Linux's
// tcp_select_initial_window: the receive space rounded down to a multiple
// of mss, at most 65535 (a SYN's window is never scaled, RFC 7323 §2.2).
// mss is the MSS we offer, less 12 when ts: a SYN-ACK that agrees to
// timestamps (tcp_openreq_init_rwin); a SYN takes nothing off
// (tcp_connect_init does only with a cached timestamp of the peer, which
// xdptcp keeps none of). From the default 64 KiB of space (half of
// tcp_rmem[1], winFromSpace) that is 64240 (SYN) and 65160 (SYN-ACK with
// timestamps) on both stacks, measured on Linux 6.18 (syn-window.pkt,
// syn-window-connect.pkt); SO_RCVBUF 4096 gives 2920 on both
// (syn-window-rcvbuf.pkt). With tcp_workaround_signed_windows (signed)
// it is at most 32767, window scaling or not, as Linux's (measured on
// Linux 6.18: tcp-workaround-signed-windows.pkt, and 32767 beside
// wscale 7).
func synWindow(space, mss int, ts, signed bool) int {
	if ts {
		mss -= 12
	}
	if mss > 0 && space > mss {
		space -= space % mss
	}
	if signed {
		return min(space, maxSignedWindow)
	}
	return min(space, 65535)
}

// effMSS is the payload a segment may carry: the MSS less the options
// every segment now carries (timestamps, SACK blocks), as Linux's
// tcp_current_mss; RFC 9293 §3.7.1 and RFC 6691: the MSS counts data
// only when there are no options.
func (c *Conn) effMSS() int {
	n := 0
	if c.flags&fTS != 0 {
		n = 12 // NOP NOP TS
	}
	if c.flags&fSackOK != 0 && (c.oooActive() || c.flags&fDSACK != 0) {
		maxb := wire.MaxSACKBlocks
		if n > 0 {
			maxb = 3
		}
		k := c.oooRanges()
		if c.flags&fDSACK != 0 {
			k++
		}
		n += 4 + 8*min(k, maxb) // NOP NOP kind len + blocks
	}
	return max(min(c.mss-n, c.halfWindow()), 1)
}

// halfWindow bounds a segment to half the largest window the peer ever
// offered (or all of it when that is at most 536 bytes), at least 48
// bytes: Linux tcp_bound_to_half_wnd. A peer whose window is below one or
// two MSS (embedded stacks, tcp_rmem=4096) then always has two segments in
// flight and ACKs them at once, instead of one segment per delayed ACK;
// it is RFC 9293 §3.8.6.2.1's sender SWS rule, which lets a segment of
// Fs * max(SND.WND) (Fs = 1/2) go.
func (c *Conn) halfWindow() int {
	w := int(c.maxSndWnd)
	if w == 0 {
		return math.MaxInt
	}
	if w > 536 {
		w /= 2
	}
	return max(w, TCPMinSndMSS)
}

// flight returns the sequence space (bytes, SYN, FIN) sent and not
// acknowledged: SND.NXT - SND.UNA (RFC 6675 calls what is really in the
// network "pipe", scoreboard.go).
func (c *Conn) flight() int { return int(c.sndNxt.Sub(c.sndUna)) }

// trySend is the transmit loop, RFC 6675 §5's NextSeg under the congestion
// window (set by the controller, or by PRR in recovery): first the
// segments the scoreboard marks lost (NextSeg rule 1; not during F-RTO's
// step 2b, RFC 5682, which sends new data first), then new data the
// peer's window allows (rule 2), each while pipe leaves room in cwnd; the
// FIN once all data was sent. It arms the retransmission, persist and
// tail-loss-probe timers. SND.NXT only ever grows: a retransmission is a record of the
// scoreboard sent again, never a rewind.
//
// A path-MTU decrease (or any lowered MSS) needs no other entry: lower
// c.mss, mark the records in flight lost (c.tq.markAllLost(false, never), and
// leave cwnd alone as Linux's tcp_simple_retransmit does) and call
// trySend: retransmit splits every record larger than the new effMSS.
func (c *Conn) trySend(now clock.Time) { c.sendRound(now, pushNormal) }

// pushMode says how a transmission round treats a partial last segment
// of new data: Linux's nonagle argument of tcp_write_xmit.
type pushMode uint8

const (
	pushNormal pushMode = iota // Nagle and TCP_CORK as set
	pushMore                   // MSG_MORE: hold a partial segment (TCP_NAGLE_CORK for this call, Linux tcp_push)
	pushForce                  // TCP_NODELAY set or TCP_CORK cleared with Nagle off: send it despite TCP_CORK (TCP_NAGLE_PUSH)
	pushOne                    // TCP_NAGLE_PUSH, one TSO packet of new data and no MTU probe (Linux tcp_push_one within a write)
)

// force reports whether the round sends a partial segment despite
// TCP_CORK (TCP_NAGLE_PUSH).
func (m pushMode) force() bool { return m == pushForce || m == pushOne }

// sendRound is trySend with a push mode.
func (c *Conn) sendRound(now clock.Time, mode pushMode) {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	c.restartAfterIdle(now)
	c.burstSeq = c.sndNxt
	// tail: a full-sized segment of new data went in this call, so the
	// window-limited remainder behind it may follow (sendNew).
	tail := false
	for wait := mode != pushOne && c.mtuProbe(now); !wait; {
		sent, full := c.sendNext(now, tail, mode)
		if !sent {
			break
		}
		tail = tail || full
		if mode == pushOne {
			if g, _ := c.pushChunk(); !c.sndNxt.LessThan(c.burstSeq.Add(seqnum.Size(g))) {
				break // tcp_push_one: one packet
			}
		}
	}
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	sent := c.burstSeq != c.sndNxt
	limited := c.sndNxt.LessThan(dataEnd) && c.cc.window()-c.pipe() < c.effMSS() &&
		c.sndNxt.Add(seqnum.Size(c.effMSS())).LessThanEq(c.sndUna.Add(seqnum.Size(c.sndWnd)))
	if sent || limited {
		// As Linux's tcp_write_xmit: a round that sent nothing and was
		// not held by cwnd (the peer's window, Nagle) leaves the
		// round's record alone, so the largest flight of the last round
		// that sent still lets slow start grow cwnd (persist-small.pkt:
		// after a timeout, the ACK of the one segment out grows cwnd).
		c.cwndValidate(limited)
	}
	if r := c.rater(); r != nil {
		c.checkAppLimited(r)
	}
	c.chronoRound(now, sent)
	if c.sndNxt != c.sndUna {
		c.persistAt = never
		if c.rtoAt == never {
			c.rtoAt = now.Add(c.currentRTO())
		}
	}
	// The probe is scheduled anew when new data goes out (Linux
	// tcp_write_xmit) and when an ACK acknowledges data (inputAck, Linux
	// tcp_set_xmit_timer), not on an ACK that only repeats SND.UNA: that
	// one would put the probe off by one more 2*SRTT
	// (fr-4pkt-fack-last-byte). A probe that may no longer be armed
	// goes.
	switch {
	case sent:
		c.armTLP(now)
	case !c.tlpArmable():
		c.tlpAt = never
	}
}

// sendNext sends one segment, the next RFC 6675 NextSeg allows; it
// reports whether it sent one, and whether that was a full-sized segment
// of new data. tail is sendNew's.
func (c *Conn) sendNext(now clock.Time, tail bool, mode pushMode) (sent, full bool) {
	if c.paced(now) {
		return false, false // the pacing timer (paceAt) sends it
	}
	room := c.cc.window() - c.pipe()
	if q := c.tq; q != nil && q.lost > q.retrans && c.rack.flags&rkFRTONew == 0 {
		if i := q.nextLost(); i >= 0 {
			if room < min(int(q.at(i).len), c.effMSS()) {
				return false, false // RFC 6675 §5 (C): cwnd - pipe must hold the segment
			}
			if !c.retransmit(now, i) {
				return false, false
			}
			c.countRecoveryRetrans()
			if i == 0 && c.reoAt == never {
				// Linux tcp_xmit_retransmit_queue: resending the head
				// restarts the RTO (unless the reordering timer holds
				// Linux's one timer slot). Measured on Linux 6.18
				// (fr-retries-budget.pkt): a fast retransmission at
				// 20.6 ms, the timeout's resend at 235.6 ms, one RTO
				// (210 ms and a jiffy) later; from the original
				// send it would have come at 220 ms.
				c.rtoAt = now.Add(c.currentRTO())
			}
			return true, false
		}
	}
	return c.sendNew(now, room, tail, mode)
}

// countRecoveryRetrans counts a retransmission of what the scoreboard
// marks lost as Linux's tcp_xmit_retransmit_queue does: TCPFastRetrans in
// fast recovery, TCPSlowStartRetrans otherwise (Linux's Loss state: after
// a timeout, and after a packet-too-big or a lost MTU probe, which
// tcp_simple_retransmit puts in Loss). The timer's resend of the head
// (onRTO) and a tail loss probe are neither, as in Linux, which sends them
// with tcp_retransmit_skb directly. Measured on Linux 6.18
// (conformance/scripts/rto-slow-start-retrans.pkt): one timeout and four
// resends in slow start are TcpRetransSegs 5, TCPSlowStartRetrans 4.
func (c *Conn) countRecoveryRetrans() {
	if c.flags&fInRecovery != 0 {
		c.layer.stats.TCPFastRetrans.Add(1)
	} else {
		c.layer.stats.TCPSlowStartRetrans.Add(1)
	}
}

// retransmit sends record i of the scoreboard again, cut to the current
// effMSS first if it grew too large for it. A record that starts at or
// beyond the right edge of the peer's window is not sent (reported
// false) unless it is the one at SND.UNA, as Linux's
// __tcp_retransmit_skb refuses it: a peer that shrank its window gets
// only the head, as a probe (window-shrink-answered.pkt), and a tail loss
// probe of the last segment waits for the timeout (window-shrink-tlp.pkt).
func (c *Conn) retransmit(now clock.Time, i int) bool {
	q := c.tq
	s := q.at(i)
	if s.seq != c.sndUna && !s.seq.LessThan(c.sndUna.Add(seqnum.Size(c.sndWnd))) {
		return false
	}
	c.mtuProbeResent(s)
	data := s.len
	if s.mark&sbFin != 0 {
		data--
	}
	if full := uint32(c.effMSS()); data > full {
		q.split(i, full)
		s = q.at(i)
	}
	return c.transmit(now, s.seq, int(s.len))
}

// smallOut is Nagle's question as Linux asks it (tcp_nagle_check with
// Minshall's variant, tcp_minshall_check): is a segment smaller than the
// MSS sent and not yet acknowledged? Only then does a small segment wait.
// A write whose last segment is partial after full ones (5000 bytes with
// an MSS of 1448) therefore leaves whole, as Linux's TSO packet of 2104
// bytes does (syncookies-options); classic Nagle held the 656-byte tail
// behind the full segments in flight.
func (c *Conn) smallOut() bool {
	if c.sx == nil {
		return false
	}
	if !c.sndUna.LessThan(c.sx.sml) {
		c.sx.sml = c.sndUna // acknowledged (kept near SND.UNA: wrap-safe)
		return false
	}
	return c.sx.sml.LessThanEq(c.sndNxt)
}

// splitOK reports whether a burst cut at the window's edge may end with
// the partial segment that fills it: Linux's tcp_mss_split_point asks
// tcp_nagle_check of it, which holds it only under TCP_CORK or MSG_MORE,
// or with Nagle on while a small segment is unacknowledged (Minshall).
// Measured: a 1408-byte window after 768-byte segments gets 768 + 640
// bytes with Nagle on as with it off (peer-window-4k-nagle); after 32
// full segments of 16000-byte skbs the 896 bytes up to the edge wait
// (epoll_out_edge_notsent_lowat), as the third segment of sender-sws's
// first burst does.
func (c *Conn) splitOK(mode pushMode) bool {
	if g, _ := c.pushChunk(); c.burstSeq.LessThanEq(c.sndNxt) && c.sndNxt.Sub(c.burstSeq)%seqnum.Size(g) == 0 {
		// The partial would start a TSO packet of its own: Linux
		// splits at the window's edge only inside the packet it
		// builds (the head skb, grown by tcp_grow_skb to two
		// segments), and an skb whose first segment does not fit is
		// not sent (tcp_snd_wnd_test). This round's packets are two
		// segments each from where it began (push.go's rule too).
		return false
	}
	if c.flags&fNoDelay != 0 {
		return mode != pushMore && (c.flags&fCorked == 0 || mode.force())
	}
	return mode != pushMore && c.flags&fCorked == 0 && !c.smallOut()
}

// windowTakesNext reports whether the peer's window has room for the next
// segment of new data: a full one, or what is queued up to the next
// record end if less, or the FIN (Linux tcp_ack_probe: the send head
// fits below tcp_wnd_end). With nothing to send it reports true.
func (c *Conn) windowTakesNext() bool {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	n := 0
	switch {
	case c.sndNxt.LessThan(dataEnd):
		n = min(c.recordLimit(int(dataEnd.Sub(c.sndNxt))), c.effMSS())
	case c.flags&fFinQueued != 0 && c.sndNxt == c.finSeq:
		n = 1
	}
	return n <= int(c.sndWnd)-c.flight()
}

// checkProbeTimer arms the probe timer (persist, or the ceiling of held
// data) when a segment is held back with nothing in flight to bring the
// ACK that would send it, unless it already runs: Linux's
// tcp_check_probe_timer.
func (c *Conn) checkProbeTimer(now clock.Time) {
	if c.flight() == 0 && c.persistAt == never {
		c.persistAt = now.Add(c.currentRTO())
	}
}

// sendNew sends the next segment of new data (or the FIN) that the peer's
// window, room (cwnd less pipe), Nagle and sender SWS avoidance (RFC 9293
// §3.8.6.2.1) allow. With the peer's window closed and nothing in flight
// it arms the persist timer. It reports whether it sent a segment and
// whether that segment was full-sized.
//
// Sender SWS avoidance is Linux's: a window that opens by less than a
// full segment while data is in flight is not used (tcp_snd_wnd_test
// wants the first full segment to fit), but a burst that starts with a
// full segment runs to the window's right edge, its last segment partial
// (tcp_mss_split_point sends the window-limited remainder unless Nagle,
// Minshall's variant, or a cork holds it: splitOK). tail says this call's
// burst already sent a full segment. A peer
// window of 1.4 KB (tcp_rmem=4096) then carries a half-window segment and
// the rest of the window per round trip, not the half-window alone.
func (c *Conn) sendNew(now clock.Time, room int, tail bool, mode pushMode) (sent, isFull bool) {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	unsent := 0
	if c.sndNxt.LessThan(dataEnd) {
		unsent = int(dataEnd.Sub(c.sndNxt))
	}
	if unsent == 0 {
		if c.flags&fFinQueued == 0 || c.sndNxt != c.finSeq {
			return false, false
		}
		if !c.windowTakesNext() {
			// A bare FIN takes a sequence number the shut window has
			// no room for: Linux holds it (tcp_snd_wnd_test) and probes
			// until the window opens (persist-fin.pkt). cwnd does not
			// hold it (tcp_cwnd_test spares the final FIN).
			c.checkProbeTimer(now)
			return false, false
		}
		return c.transmit(now, c.sndNxt, 1), false
	}
	// lim: the segment ends at the next MSG_EOR record end (sendext.go).
	// A record's last segment is not the queue's last (n < unsent): like
	// Linux's skb that is not the write queue's tail (TCP_NAGLE_PUSH), it
	// is not held by Nagle or TCP_CORK.
	lim := c.recordLimit(unsent)
	wnd := int(c.sndWnd) - c.flight()
	usable := min(wnd, room)
	if usable <= 0 {
		if c.sndWnd == 0 {
			c.checkProbeTimer(now)
		}
		return false, false
	}
	if c.tq != nil && c.tq.n >= c.maxTxSegs() {
		return false, false // too many small segments in flight: wait for ACKs
	}
	full := c.effMSS()
	n := min(lim, full, usable)
	if n < full && n < lim && !(tail && n == wnd && c.splitOK(mode)) {
		// Sender SWS avoidance: wait for a usable window. With nothing
		// in flight no ACK will open it: the probe timer sends into it
		// (Linux tcp_snd_wnd_test, tcp_check_probe_timer, then
		// tcp_write_wakeup: onPersist).
		c.checkProbeTimer(now)
		return false, false
	}
	if n < full && n == unsent && c.flags&fNoDelay == 0 && c.smallOut() {
		return false, false // Nagle (RFC 9293 §3.7.4), Minshall's variant: one small segment in flight
	}
	finRides := c.flags&fFinQueued != 0 && c.sndNxt.Add(seqnum.Size(n)) == c.finSeq
	if n < full && n == unsent && !finRides && (mode == pushMore || c.flags&fCorked != 0 && !mode.force()) {
		// TCP_CORK or MSG_MORE: the partial segment waits for more data
		// (a FIN goes: Linux tcp_nagle_test). With nothing in flight
		// the probe timer is the cork's ceiling (Linux
		// tcp_check_probe_timer, then tcp_write_wakeup: onPersist).
		c.checkProbeTimer(now)
		return false, false
	}
	isFull = n == full
	if finRides {
		n++ // the FIN rides on the last data segment
	}
	return c.transmit(now, c.sndNxt, n), isFull
}

// transmit puts one segment of the send queue on the wire: sequence space
// [seq, seq+n), payload from the send buffer, the FIN when the range ends
// with it. It is the only place data segments are built. A range at
// SND.NXT is new data and becomes a scoreboard record; a range below it
// must be a whole record, which is a retransmission (or a tail loss
// probe) and is recorded as sent again. It reports whether the engine
// took the segment. Without room in the output nothing is committed and
// the connection waits for room (txroom.go); a segment the engine
// refuses for another reason (no route, too big) counts as sent and the
// retransmission timer recovers it.
func (c *Conn) transmit(now clock.Time, seq seqnum.Value, n int) bool {
	l := c.layer
	if !l.txRoom() {
		c.blockTx(txWaitData) // nothing committed: it goes when the output has room (txroom.go)
		return false
	}
	data := n
	fin := c.flags&fFinQueued != 0 && seq.Add(seqnum.Size(n)) == c.finSeq+1
	if fin {
		data--
	}
	q := c.txq()
	rtx := seq.LessThan(c.sndNxt)
	flags := wire.FlagACK
	var psh, pshMark bool
	if rtx {
		psh = c.rtxPushAt(now, q, q.find(seq))
	} else if data > 0 {
		psh, pshMark = c.pushAt(seq, seq.Add(seqnum.Size(data)))
	}
	if psh {
		flags |= wire.FlagPSH
	}
	if fin {
		flags |= wire.FlagFIN
	}
	s := c.fill(now, seq, flags)
	if data > 0 {
		s.Payload, s.Payload2 = c.sndBuf.peek(int(seq.Sub(c.sndBufSeq)), data)
	}
	idle := c.sndNxt == c.sndUna // nothing in flight (Linux packets_out == 0)
	if b := c.rateCtl(); b != nil && c.pipe() == 0 {
		b.onTxStart(c, now)
	}
	rs := c.rater()
	if c.flags&fECN != 0 && !rtx && data > 0 {
		// RFC 3168 §6.1.5: new data is ECN-capable, retransmissions
		// are not; CWR on the first new data after a reduction.
		s.ECN = ECNECT0
		if c.flags&fCWRPending != 0 {
			c.flags &^= fCWRPending
			s.Flags |= wire.FlagCWR
		}
	}
	if rtx {
		ri := q.find(seq)
		r := q.at(ri)
		if r.mark&sbLost != 0 {
			q.setMark(ri, sbRetrans)
			q.undoRetransmitted(r.seq, r.end(), s.Opts.TSVal)
		}
		r.mark |= sbEverRetrans
		r.sentAt, r.nxt = now, c.sndNxt
		if c.rtxStamp == never {
			c.rtxStamp = now // the episode's first retransmission (rtxstamp.go)
		}
		if rs != nil {
			rs.onSend(now, r, false)
		}
		l.stats.RetransSegs.Add(1)
	} else {
		var mark uint8
		if fin {
			mark = sbFin
		}
		if pshMark {
			mark |= sbPsh
		}
		q.push(seq, uint32(n), now, mark)
		if rs != nil {
			rs.onSend(now, q.at(q.n-1), idle)
		}
		c.sndNxt = seq.Add(seqnum.Size(n))
		if data > 0 && data < c.effMSS() {
			c.ext().sml = c.sndNxt // Linux tcp_minshall_update
		}
		if data > 0 {
			l.stats.TCPOrigDataSent.Add(1)
			c.onReplySent(now)
		}
	}
	c.onTransmit(n)
	c.onPaced(now, n)
	ok := c.xmit(s, rtx)
	if !ok && rtx {
		l.stats.TCPRetransFail.Add(1)
	}
	return ok
}

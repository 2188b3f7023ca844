package tcp

// The TCP connection. A reader needs these RFCs:
//   - RFC 9293: the protocol, its state machine and SEGMENT ARRIVES (§3.10.7)
//   - RFC 1122 §4.2: host requirements (delayed ACK, SWS avoidance, keepalive)
//   - RFC 7323: window scaling, timestamps, PAWS
//   - RFC 6298: the retransmission timer
//   - RFC 5961: blind-attack mitigations (challenge ACKs)
//   - RFC 2018 / RFC 6675: SACK; RFC 2883: D-SACK; RFC 3042: limited transmit
//   - RFC 3522 / RFC 4015 / RFC 3708: spurious retransmissions detected with timestamps or D-SACK, undone
//   - RFC 5681 / RFC 6582: congestion control, NewReno
//   - RFC 6528: initial sequence numbers
//   - RFC 1337: TIME-WAIT assassination (a RST ignored in TIME-WAIT with tcp_rfc1337=1)
// Where the code follows Linux rather than an RFC, the comment says so.

import (
	"math"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/timer"
)

// never is the deadline of a timer that is not armed.
const never clock.Time = math.MaxInt64

// connFlags are a connection's boolean state.
type connFlags uint32

const (
	fActive       connFlags = 1 << iota // opened by Dial (SYN-SENT), not by a listener
	fOpened                             // OnOpen was delivered
	fOrphan                             // the application called Close: no more events but OnClose
	fFinQueued                          // the application closed its sending side: FIN follows the data at finSeq
	fPeerFin                            // the peer's FIN was received (RCV.NXT counts it)
	fPaused                             // PauseRead: no OnData until ResumeRead
	fNoDelay                            // Nagle off (the default, as Go's net)
	fKeepAlive                          // keepalive probes enabled
	fTS                                 // timestamps negotiated (RFC 7323 §3)
	fWS                                 // window scaling negotiated (RFC 7323 §2)
	fSackOK                             // SACK permitted by both sides (RFC 2018)
	fWriteBlocked                       // a Write took less than offered: OnWritable is owed
	fGone                               // CLOSED: removed from the table, OnClose delivered
	fInAcceptQ                          // sits in its listener's accept queue
	fInRecovery                         // NewReno fast recovery (RFC 6582) until recover is acked
	fReadClosed                         // the application closed its receiving side (Close): data now gets a RST
	fCookie                             // established from a SYN cookie (no SYN-ACK retransmission owed)
	fCwndLimited                        // cwnd held a transmission back in the current round (Linux is_cwnd_limited)
	fECN                                // ECN agreed in the handshake (RFC 3168 §6.1.1)
	fECEPending                         // a CE mark arrived: ECE on our segments until the peer's CWR
	fCWRPending                         // we reduced for an ECE: CWR on the next new data segment
	fInCWR                              // reduced for an ECE: no cwnd growth, no other reduction until SND.UNA is above recover (Linux CWR state)
	fCorked                             // TCP_CORK: partial segments wait (SetCork)
	fThinLTO                            // TCP_THIN_LINEAR_TIMEOUTS: linear timeouts while thin (SetThinLinearTimeouts)
	fLingering                          // closed with a positive SO_LINGER, in FIN-WAIT-1, CLOSING or LAST-ACK (LingerWaiter)
)

// Conn is one TCP connection. All methods must be called on the loop that
// owns the connection (the one whose Layer created it).
type Conn struct {
	layer    *Layer        // owning layer; never nil
	key      flowtable.Key // 4-tuple from our side; fixed
	flags    connFlags     // see connFlags
	handler  Handler       // nil until set (accept-queue connections wait for SetHandler)
	listener *Listener     // the listener while SYN-RECEIVED or in its accept queue; else nil

	// Send sequence space (RFC 9293 §3.3.1): SND.UNA <= SND.NXT <= sndNxt.
	iss        seqnum.Value // initial send sequence number
	sndUna     seqnum.Value // oldest unacknowledged sequence number
	sndNxt     seqnum.Value // highest sequence number sent + 1 (never moves back); ACKs above it are unacceptable
	sndWnd     uint32       // peer's window in bytes (already scaled)
	maxSndWnd  uint32       // largest window the peer offered (RFC 5961 §5.2 ACK check)
	sndWl1     seqnum.Value // SEG.SEQ of the last window update
	sndWl2     seqnum.Value // SEG.ACK of the last window update
	sndShift   uint8        // peer's window scale (0 unless fWS), <= 14
	rcvShift   uint8        // our window scale (0 unless fWS), <= 14
	kaProbes   uint8        // unanswered keepalive probes (<= tcp_keepalive_probes, 127)
	backoff    uint8        // the RTO's backoff exponent (Linux icsk_backoff): timeouts and zero-window probes raise it, a valid RTT sample clears it (Karn), <= 255
	reordering uint16       // DupThresh - 3 (Linux tp->reordering - 3): raised by reordering seen, up to tcp_max_reordering - 3
	zwProbes   uint8        // unanswered zero-window probes (<= tcp_retries2 or tcp_orphan_retries, 255; Linux icsk_probes_out is a u8 too)
	state      State        // RFC 9293 state; StateClosed once gone (here: fills padding)
	maxPacing  uint32       // SO_MAX_PACING_RATE in bytes per second; 0: pacing off (pacing.go; here: fills padding)
	mss        int          // effective send MSS: peer's MSS capped by ours, >= tcp_min_snd_mss
	sndBuf     sendQueue    // bytes [sndBufSeq, sndBufSeq+sndBuf.Len()) not yet acknowledged
	sndBufSeq  seqnum.Value // sequence number of sndBuf's first byte
	dupAcks    int32        // duplicate ACKs since SND.UNA last moved (RFC 5681 §3.2)
	sndBufLim  int32        // send-buffer limit in Linux's skb accounting (sk_sndbuf; sndbuf.go): tcp_wmem[1], autotuned up to tcp_wmem[2], or SO_SNDBUF
	skbSeq     seqnum.Value // where the newest skb of Linux's send queue began (sndbuf.go)
	finSeq     seqnum.Value // sequence number of our FIN; valid when fFinQueued

	// Receive sequence space: RCV.NXT <= rcvAdv.
	irs        seqnum.Value // initial receive sequence number
	rcvNxt     seqnum.Value // next sequence number expected
	rcvAdv     seqnum.Value // right edge of the window last advertised (never moves left, RFC 9293 §3.8.6.2.2)
	rcvBuf     recvQueue    // in-order bytes the application has not consumed, and out-of-order data (rcvq.go)
	rcvCap     int          // the window's space, half the receive buffer (winFromSpace): of tcp_rmem[1], autotuned up to tcp_rmem[2] (rcvBufGrow), or SO_RCVBUF's
	rcvCopied  int32        // bytes the application consumed since rcvSpaceAt (autotuning), saturating
	rcvMSS     int32        // MSS we advertised
	rcvSpaceAt clock.Time   // start of the current autotuning measurement
	rrtt       rcvRTTEst    // the receiver's RTT estimate (rcvrtt.go)
	ooo        *oooQueue    // out-of-order data held in rcvBuf beyond its tail (reassembly.go); nil until the first
	rcvEstMSS  uint16       // the peer's segment size, <= rcvMSS (Linux icsk_ack.rcv_mss): "full-sized"; onDataRecv
	lastSegLen uint16       // the last small segment's size, options over timestamps counted (Linux icsk_ack.last_seg_size); 0: none
	ackOwed    int32        // an ACK is owed for data received (> 0) since the last ACK we sent
	rcvWup     seqnum.Value // RCV.NXT when we last sent an ACK (Linux rcv_wup)
	dsack      sackRange    // duplicate to report first in the next ACK (RFC 2883); valid if fDSACK

	// Timestamps (RFC 7323 §3-5).
	tsRecent   uint32       // TS.Recent: latest TSval from the peer
	tsOffset   uint32       // added to our clock in ms to form TSval
	pushSeq    seqnum.Value // PSH mark: end of the last write not sent with MSG_MORE (Linux pushed_seq; push.go; here: fills padding)
	tsRecentAt clock.Time   // when TS.Recent was updated (PAWS 24-day rule)

	// Retransmission (RFC 6298) and loss recovery (recovery.go).
	rtt          rttEstimator
	recover      seqnum.Value      // RFC 6582 recover point: no new recovery until SND.UNA passes it
	rcvSpace     int32             // most bytes the application took in one receiver RTT so far (Linux rcvq_space.space; input.go consumed; here: fills padding)
	rttSent      clock.Time        // when the SYN or SYN-ACK was sent (the handshake's RTT sample)
	nRtx         int32             // consecutive RTO expiries without progress (Linux icsk_retransmits: an ACK that advances SND.UNA clears it)
	rcvRTTEcr    uint32            // TSecr of the last segment the receiver's RTT estimate looked at (Linux rcv_rtt_last_tsecr; rcvrtt.go; here: beside nRtx, fills its padding)
	rtxStamp     clock.Time        // Linux retrans_stamp: send time of the first retransmission of the episode (any kind), or of the first SYN once resent; never if none (rtxstamp.go)
	tq           *txQueue          // the scoreboard: segments sent and not acknowledged; nil when none
	rack         rackState         // RACK-TLP and F-RTO state (rack.go)
	cwndUsageSeq seqnum.Value      // the round of maxOut/fCwndLimited ends when SND.UNA passes it
	maxOut       int32             // most segments in flight in that round (Linux max_packets_out)
	cc           congestionControl // &cubic or &cubic.newReno (tcp_congestion_control)
	cubic        cubic

	// Timers, one deadline per purpose (never if off); one wheel timer
	// fires at the earliest (timers.go).
	timer      timer.Timer
	rtoAt      clock.Time // retransmission timer (RFC 6298): data or FIN outstanding
	synAt      clock.Time // SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) retransmission
	persistAt  clock.Time // zero-window probe (RFC 9293 §3.8.6.1)
	kaAt       clock.Time // keepalive probe (RFC 1122 §4.2.3.6)
	fw2At      clock.Time // end of an orphan's FIN-WAIT-2 (tcp_fin_timeout)
	delackAt   clock.Time // the owed ACK goes: delayed ACK, or compressed SACK when compHeld > 0 (compack.go); never if no ACK is owed
	tlpAt      clock.Time // tail loss probe (RFC 8985 §7.2)
	reoAt      clock.Time // RACK reordering timer (RFC 8985 §6.3)
	paceAt     clock.Time // pacing: departure time of the next segment; never when not pacing
	kaIdle     time.Duration
	lastRecv   clock.Time    // last segment received (keepalive idle time)
	lastDataAt clock.Time    // last in-order data received, or the handshake's end (Linux lrcvtime: pingpong, ato, tcpi_last_data_recv)
	ato        time.Duration // delayed-ACK timeout estimate (Linux icsk_ack.ato); 0 before the first data
	linger     int32         // SO_LINGER seconds; -1 = off
	pushGrid   seqnum.Value  // origin of the PSH grid of pushChunk-byte chunks (push.go); <= SND.NXT
	quickAcks  uint8         // segments to ACK at once (Linux icsk_ack.quick), <= maxQuickAcks; not in pingpong mode
	ackMode    ackMode       // what the ACK decision remembers between segments (Linux icsk_ack.pending: PUSHED, PUSHED2, NOMEM)
	tos        uint8         // IP_TOS: DSCP bits for our IPv4 packets (the ECN bits stay the stack's); 0 by default
	userLocks  uint8         // lockSndBuf, lockRcvBuf: SO_SNDBUF/SO_RCVBUF set, no autotuning (Linux sk_userlocks; here: fills padding)
	notsentLow uint32        // TCP_NOTSENT_LOWAT (Linux tp->notsent_lowat); 0: tcp_notsent_lowat applies

	burstSeq seqnum.Value // SND.NXT when the current transmission round (trySend) began (push.go)
	oowMs    uint32       // when the last ACK for an unacceptable segment (challenge ACKs too) went, wrapping ms; 0: never (Linux last_oow_ack_time)

	synRtx   uint8        // SYN-ACK timeouts (Linux req->num_timeout), <= tcp_synack_retries (255)
	synRsnt  uint8        // SYN-ACK resends, by the timer or for a duplicate SYN, saturating (Linux req->num_retrans): the handshake is then not timed (Karn)
	synHash  uint16       // the flow-label choice those resends made (rehash.go), wrapping
	userTO   uint32       // TCP_USER_TIMEOUT in ms (RFC 5482; Linux icsk_user_timeout); 0: off
	txWait   txWait       // on the layer's txBlocked list: what the output had no room for (txroom.go; here: fills padding)
	lrcvLbl  [3]byte      // flow label (20 bits, big-endian) of the last segment that brought data (Linux icsk_ack.lrcv_flowlabel; rehash.go; here: fills padding)
	compNxt  seqnum.Value // RCV.NXT the ACKs counted in compDups were for (Linux compressed_ack_rcv_nxt; compack.go; here: fills padding)
	compHeld uint8        // ACKs for out-of-order data held back for the compressed SACK (Linux compressed_ack), < tcp_comp_sack_nr
	compDups uint8        // ACKs for out-of-order data sent at once for compNxt, <= 3 (Linux dup_ack_counter)
	pingpong uint8        // replies sent within the ACK timeout of what they answer, saturating (Linux icsk_ack.pingpong): pingpong mode from tcp_pingpong_thresh (inPingpong)
	synCnt   uint8        // TCP_SYNCNT (Linux icsk_syn_retries): SYN, or a listener's child's SYN-ACK, retransmissions, 1..127; 0: tcp_syn_retries, tcp_synack_retries (here: fills padding)
	linger2  int8         // TCP_LINGER2 seconds, <= 120 (Linux tp->linger2): 0 takes tcp_fin_timeout, -1 ends an orphan as it reaches FIN-WAIT-2 (orphanFinWait2; here: fills padding)
	created  clock.Time   // when the connection was created
	closeErr error        // why the connection failed, for OnClose
	tw       *timeWait    // the TIME-WAIT entry that replaced this connection, if any
	ic       infoCounters // TCP_INFO counts (info.go)
	sx       *sendExt     // chrono times and MSG_EOR record ends (sendext.go); nil until the first write
}

// Key returns the connection's 4-tuple (from our side).
func (c *Conn) Key() flowtable.Key { return c.key }

// State returns the RFC 9293 state. A connection that entered TIME-WAIT
// reports it until its TIME-WAIT entry ends, then CLOSED.
func (c *Conn) State() State {
	if c.state == StateTimeWait && (c.tw == nil || c.layer.tws.Get(c.key) != c.tw) {
		return StateClosed
	}
	return c.state
}

// SetHandler sets the event handler. For a connection taken from the
// accept queue it delivers OnOpen, then any data and the peer's FIN that
// arrived before.
func (c *Conn) SetHandler(h Handler) {
	c.handler = h
	if h == nil || c.flags&fGone != 0 {
		return
	}
	if c.flags&fOpened == 0 && c.state.synchronized() {
		c.flags |= fOpened
		h.OnOpen(c)
		c.deliverBuffered()
		c.maybePeerClose()
	}
}

// Write queues p for sending and returns how many bytes it took: fewer
// than len(p) when the send buffer is full (OnWritable follows when space
// is freed). It returns 0 after CloseWrite/Close or once the connection is
// gone. Data is sent at once when the windows allow.
func (c *Conn) Write(p []byte) int { return c.write(p, false, false) }

// WriteMore is Write with send(2)'s MSG_MORE: more data follows, so the
// end of p gets no PSH (Linux tcp_push) and a partial segment waits, as
// under SetCork, until a later Write without it, SetCork(false) or the
// cork timeout.
func (c *Conn) WriteMore(p []byte) int { return c.write(p, true, false) }

// WriteEOR is Write with send(2)'s MSG_EOR: p ends a record, and no
// segment, sent or retransmitted, ever carries the end of p together with
// data written after it (Linux 6.18: the skb is marked "eor" and never
// collapsed with the next). The mark is set only when all of p was taken,
// as Linux sets it when the whole message was copied: a caller that got
// fewer bytes calls WriteEOR again with the rest. It takes nothing when the
// connection already holds as many unsent records as it may have segments
// in flight (see maxTxSegs); OnWritable follows.
func (c *Conn) WriteEOR(p []byte) int { return c.write(p, false, true) }

func (c *Conn) write(p []byte, more, eor bool) int {
	if c.flags&(fFinQueued|fGone) != 0 || len(p) == 0 {
		return 0
	}
	switch c.state {
	case StateSynSent, StateSynReceived, StateEstablished, StateCloseWait:
	default:
		return 0
	}
	if eor && c.sx != nil && c.sx.eor.n >= c.maxTxSegs() {
		c.flags |= fWriteBlocked
		return 0
	}
	// Linux tcp_sendmsg_locked: skb by skb, each new one only while
	// there is room (sndbuf.go). The PSH mark (push.go) is the write's
	// end; what leaves before that is known lies behind it.
	oldPush := c.pushSeq
	pushed := c.pushedSeq(oldPush) // Linux pushed_seq
	c.markWrite(len(p), more)
	n := 0
	moving := false // a forced mark on the tail moves with its end (push.go skbFull)
	for n < len(p) {
		k := c.skbRoom(len(p) - n)
		if k == 0 {
			if c.pushHead() {
				continue
			}
			break
		}
		if c.skbSeq == c.dataEnd() {
			moving = false // a new skb
		}
		if n > 0 {
			c.markWrite(0, true) // a new skb after everything went out: the PSH grid starts there
		}
		c.growSendQueue(k)
		c.sndBuf.write(p[n : n+k])
		n += k
		if moving {
			c.sx.forced.moved = c.dataEnd()
		}
		if tail, _ := c.tailSkb(); n < len(p) && tail >= c.sizeGoal() {
			var m bool
			pushed, m = c.skbFull(pushed, tail) // the skb is full (push.go)
			moving = moving || m
		}
	}
	if n == 0 {
		c.pushSeq = oldPush
		c.flags |= fWriteBlocked
		return 0
	}
	if n < len(p) {
		if !more {
			c.pushSeq = c.dataEnd()
		}
		c.flags |= fWriteBlocked
	}
	if more && pushed.Add(seqnum.Size(c.maxSndWnd>>1)).LessThan(c.dataEnd()) {
		c.pushSeq = c.dataEnd() // tcp_push marks a MSG_MORE write's end too when forced_push holds
	}
	if n > 0 {
		c.chronoStart(c.layer.now, chronoBusy) // Linux tcp_add_write_queue_tail
		if eor && n == len(p) {
			c.ext().eor.push(recordEnd{end: c.dataEnd(), psh: !more}, c.maxTxSegs())
		}
	}
	if c.state.synchronized() && c.flags&fPending == 0 {
		// (A connection with input pending in this receive batch
		// sends at the batch's end, ACK and data together.)
		mode := pushNormal
		if more {
			mode = pushMore
		}
		c.sendRound(c.layer.now, mode)
		c.rearm()
	}
	return n
}

// Close closes both directions (close(2)). Unread received data makes it
// a reset (Linux, TCPAbortOnClose), as does SetLinger(0) (TCPAbortOnData);
// otherwise a FIN follows the queued data. After Close the application
// gets no event but OnClose, when the connection is gone. On a connection
// already TIME-WAIT or CLOSED that still holds unread data (see
// Handler.OnClose) Close drops the data without a RST, as Linux's close in
// CLOSE, and delivers OnClose(nil) at once.
func (c *Conn) Close() {
	if c.flags&fHeldTail != 0 {
		// Gone on the wire with unread data held: drop it quietly
		// (Linux __tcp_close in CLOSE: no RST, no TCPAbortOnClose).
		c.flags |= fOrphan | fReadClosed
		c.endHeldTail(nil)
		return
	}
	if c.flags&fGone != 0 || c.flags&fOrphan != 0 {
		return
	}
	c.flags |= fOrphan | fReadClosed
	l := c.layer
	l.orphans.Add(1) // until teardown
	switch {
	case c.state == StateSynSent:
		c.destroy(nil)
		return
	case c.linger == 0:
		// Linux __tcp_close, zero-linger branch: disconnect with a RST,
		// counted as TCPAbortOnData.
		l.stats.TCPAbortOnData.Add(1)
		c.sendReset(l.now)
		c.destroy(nil)
		return
	case c.rcvBuf.Len() > 0:
		// Linux tcp_close: unread data means the peer's data was lost,
		// so tell it with a RST rather than a FIN (RFC 2525 §2.17).
		l.stats.TCPAbortOnClose.Add(1)
		c.sendReset(l.now)
		c.destroy(nil)
		return
	}
	c.closeWrite()
	if c.flags&fGone == 0 && c.state != StateFinWait2 && c.orphanOOM(0) {
		// Linux __tcp_close: an orphan beyond the bounds is reset at
		// once, after its FIN. (Its orphan in FIN-WAIT-2 became a
		// TIME-WAIT bucket and is not checked.)
		c.abortOnMemory(l.now, true)
	}
	if c.linger > 0 && c.flags&fGone == 0 && finUnacked(c.state) {
		c.flags |= fLingering
	}
}

// Lingering reports whether a Close with a positive SetLinger time waits
// for the connection's FIN to be acknowledged (LingerWaiter).
func (c *Conn) Lingering() bool { return c.flags&fLingering != 0 }

// CloseWrite closes the sending side (shutdown(SHUT_WR)): a FIN follows
// the queued data; receiving continues.
func (c *Conn) CloseWrite() {
	if c.flags&fGone != 0 {
		return
	}
	c.closeWrite()
}

func (c *Conn) closeWrite() {
	if c.flags&fFinQueued != 0 {
		c.afterOrphanClose()
		return
	}
	switch c.state {
	case StateSynReceived:
		// RFC 9293 §3.10.4 CLOSE in SYN-RECEIVED: queue the FIN; the
		// handshake's end moves to FIN-WAIT-1 and sends it.
	case StateEstablished:
		c.setState(StateFinWait1)
	case StateCloseWait:
		c.setState(StateLastAck)
	case StateSynSent:
		c.destroy(nil)
		return
	default:
		return
	}
	c.flags |= fFinQueued
	c.finSeq = c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	c.kaAt = never // Linux: no keepalive once we closed
	c.trySend(c.layer.now)
	c.rearm()
}

// afterOrphanClose handles a connection closed while already in
// FIN-WAIT-2 after CloseWrite (orphanFinWait2, as Linux's tcp_close).
func (c *Conn) afterOrphanClose() {
	if c.state == StateFinWait2 && c.flags&fOrphan != 0 {
		c.orphanFinWait2(c.layer.now, nil)
		c.rearm()
	}
}

// orphanFinWait2 is an orphan that reached FIN-WAIT-2: it waits there for
// finTime, or with TCP_LINGER2 < 0 ends at once. With ack nil it is
// Linux's tcp_close (the application closed a connection in FIN-WAIT-2,
// or a lingering close saw its FIN acknowledged): a RST from our side
// (tcp_send_active_reset), counted in TCPAbortOnLinger. With ack the
// segment that acknowledged an orphan's FIN, it is Linux's
// tcp_rcv_state_process in FIN-WAIT-1: tcp_done, counted in
// TCPAbortOnData, and the segment answered with a RST (measured on Linux
// 6.18: conformance/scripts/linger2-*.pkt).
func (c *Conn) orphanFinWait2(now clock.Time, ack *Segment) {
	if c.linger2 >= 0 {
		c.fw2At = now.Add(c.finTime())
		return
	}
	l := c.layer
	if ack != nil {
		l.stats.TCPAbortOnData.Add(1)
		l.sendRstFor(ack, c.txHash())
	} else {
		l.stats.TCPAbortOnLinger.Add(1)
		c.sendReset(now)
	}
	c.destroy(nil)
}

// finTime is how long an orphan stays in FIN-WAIT-2: TCP_LINGER2 if set,
// else tcp_fin_timeout,
// but at least 3.5 times the current RTO, backoff included (Linux
// tcp_fin_time: (rto << 2) - (rto >> 1)), so that a slow path's FIN comes
// in time. Measured on Linux 6.18 (xdptcp/fin-timeout-rto,
// fin-timeout-rto-end): with tcp_fin_timeout 2 and a 1 s RTT (RTO 3 s)
// a FIN 10 s after the ACK of ours is answered with an ACK, one at 11 s
// with a RST.
func (c *Conn) finTime() time.Duration {
	rto := c.currentRTO()
	fin := c.layer.cfg.FinTimeout
	if c.linger2 > 0 {
		fin = time.Duration(c.linger2) * time.Second
	}
	return max(fin, 4*rto-rto/2)
}

// SetSynCount sets TCP_SYNCNT: n SYN retransmissions (1..127,
// MAX_TCP_SYNCNT; larger is cut to it) for an active open in place of
// tcp_syn_retries, set before the SYN's first timeout; n <= 0 restores
// tcp_syn_retries. A listener's connections take theirs from
// ListenOptions.SynCount, where it bounds the SYN-ACK retransmissions.
func (c *Conn) SetSynCount(n int) { c.synCnt = uint8(max(0, min(n, MaxTCPSynCnt))) }

// SynCount is getsockopt TCP_SYNCNT: the count set, else tcp_syn_retries.
func (c *Conn) SynCount() int {
	if c.synCnt > 0 {
		return int(c.synCnt)
	}
	return c.layer.cfg.SynRetries
}

// SetLinger2 sets TCP_LINGER2 as Linux's setsockopt does: sec > 0 is an
// orphan's FIN-WAIT-2 time in place of tcp_fin_timeout (at most 120 s,
// larger values are cut to it; still at least 3.5 RTOs), 0 restores
// tcp_fin_timeout, sec < 0 ends an orphan when it reaches FIN-WAIT-2,
// with a RST (orphanFinWait2).
func (c *Conn) SetLinger2(sec int) { c.linger2 = int8(max(-1, min(sec, TCPFinTimeoutMax))) }

// Linger2 is getsockopt TCP_LINGER2: -1 if set below zero, else the
// FIN-WAIT-2 time in seconds, tcp_fin_timeout's if none was set.
func (c *Conn) Linger2() int {
	switch {
	case c.linger2 < 0:
		return -1
	case c.linger2 == 0:
		return int(c.layer.cfg.FinTimeout / time.Second)
	}
	return int(c.linger2)
}

// Abort resets the connection at once (RST to the peer) and delivers
// OnClose(ErrAborted).
func (c *Conn) Abort() {
	if c.flags&fHeldTail != 0 {
		c.flags |= fOrphan | fReadClosed
		c.endHeldTail(ErrAborted) // the 4-tuple is TIME-WAIT or CLOSED: no RST
		return
	}
	if c.flags&fGone != 0 {
		return
	}
	if c.state != StateSynSent {
		c.sendReset(c.layer.now)
	}
	c.destroy(ErrAborted)
}

// PauseRead stops OnData: arriving bytes stay in the receive buffer and
// shrink the advertised window.
func (c *Conn) PauseRead() { c.flags |= fPaused }

// ResumeRead restarts OnData, offering the buffered bytes at once. On a
// connection already TIME-WAIT or CLOSED that held unread data, OnPeerClose
// and OnClose(nil) follow, on the ResumeRead after which all of it was
// consumed; on one reset by the peer, OnClose(ErrReset).
func (c *Conn) ResumeRead() {
	if c.flags&fPaused == 0 {
		return
	}
	c.flags &^= fPaused
	if c.flags&fGone != 0 && c.flags&fHeldTail == 0 {
		return
	}
	c.deliverBuffered()
	c.maybePeerClose()
	if c.flags&fHeldTail != 0 && c.flags&fPeerCloseSent != 0 {
		c.endHeldTail(nil) // the held tail was read, then EOF: now closed
		return
	}
	if c.flags&fHeldTail != 0 && c.closeErr != nil && c.rcvBuf.Len() == 0 {
		c.endHeldTail(c.closeErr) // the held tail was read, then the reset
		return
	}
	c.rearm()
}

// SetNoDelay turns Nagle's algorithm (RFC 9293 §3.7.4) off (on=true, the
// default) or on.
func (c *Conn) SetNoDelay(on bool) {
	if on {
		c.flags |= fNoDelay
		if c.state.synchronized() && c.flags&fGone == 0 {
			c.sendRound(c.layer.now, pushForce) // Linux: even past TCP_CORK (TCP_NAGLE_PUSH)
			c.rearm()
		}
	} else {
		c.flags &^= fNoDelay
	}
}

// SetThinLinearTimeouts sets TCP_THIN_LINEAR_TIMEOUTS (Linux tp->thin_lto):
// as tcp_thin_linear_timeouts for this connection, its first six timeouts
// do not back off while the stream is thin (fewer than 4 segments out,
// past the initial slow start). Off, the setting decides.
func (c *Conn) SetThinLinearTimeouts(on bool) {
	if on {
		c.flags |= fThinLTO
	} else {
		c.flags &^= fThinLTO
	}
}

// SetCork sets TCP_CORK (Linux): while on, a partial segment is not sent
// until more data fills it, the cork is removed, or the probe timer (about
// one RTO with nothing in flight, Linux's 200 ms ceiling) sends it with
// PSH. Turning it off sends what waits (past Nagle too when Nagle is off).
func (c *Conn) SetCork(on bool) {
	if on {
		c.flags |= fCorked
		return
	}
	c.flags &^= fCorked
	if c.state.synchronized() && c.flags&fGone == 0 {
		mode := pushNormal
		if c.flags&fNoDelay != 0 {
			mode = pushForce
		}
		c.sendRound(c.layer.now, mode)
		c.rearm()
	}
}

// SetNotsentLowat sets TCP_NOTSENT_LOWAT (Linux): the connection is
// writable (Writable, OnWritable) only while its unsent bytes, doubled, are
// below n. 0 restores the tcp_notsent_lowat setting, as in Linux.
func (c *Conn) SetNotsentLowat(n uint32) {
	c.notsentLow = n
	c.writeSpace() // Linux: setsockopt calls sk_write_space
}

// NotsentLowat returns the TCP_NOTSENT_LOWAT value set on the connection
// (0: none, tcp_notsent_lowat applies), as getsockopt reports it.
func (c *Conn) NotsentLowat() uint32 { return c.notsentLow }

// notsentBytes is Linux's write_seq - snd_nxt: bytes written and never sent.
func (c *Conn) notsentBytes() uint32 {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	if c.sndNxt.LessThan(dataEnd) && c.state.synchronized() {
		return uint32(dataEnd.Sub(c.sndNxt))
	}
	return 0
}

// Writable reports whether the connection wants more data, as Linux's
// tcp_poll reports EPOLLOUT (__sk_stream_is_writeable with wake = 1): the
// send buffer's memory (sndbuf.go) is below its limit and the room left
// is at least half of what is queued (sk_stream_wspace >=
// sk_stream_min_wspace), and the unsent bytes, doubled, are below the
// low-water mark (TCP_NOTSENT_LOWAT, else tcp_notsent_lowat; Linux
// tcp_stream_memory_free).
func (c *Conn) Writable() bool {
	q, lim := c.wmemQueued(), int(c.sndBufLim)
	if q >= lim || lim-q < q>>1 {
		return false
	}
	return uint64(c.notsentBytes())<<1 < c.notsentLowat()
}

// SetTOS sets IP_TOS (Linux): the TOS byte of the connection's IPv4
// packets. As Linux does for TCP sockets, the two ECN bits of tos are
// ignored: ECN marking stays the stack's (RFC 3168). IPv6 packets are not
// affected (IPV6_TCLASS in Linux).
func (c *Conn) SetTOS(tos uint8) { c.tos = tos &^ 3 }

// TOS returns the IP_TOS value set with SetTOS (ECN bits clear).
func (c *Conn) TOS() uint8 { return c.tos }

// SetKeepAlive turns keepalive probes (RFC 1122 §4.2.3.6) on or off.
func (c *Conn) SetKeepAlive(on bool) {
	if on {
		c.flags |= fKeepAlive
	} else {
		c.flags &^= fKeepAlive
	}
	c.armKeepalive()
	c.rearm()
}

// SetKeepAlivePeriod sets the idle time before the first probe
// (TCP_KEEPIDLE); d <= 0 restores tcp_keepalive_time.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) {
	c.kaIdle = d
	c.armKeepalive()
	c.rearm()
}

// SetLinger sets SO_LINGER: sec == 0 makes Close send a RST and skip
// TIME-WAIT; sec < 0 turns lingering off (the default). With a positive
// value Close still returns at once (nothing blocks on the loop), and a
// LingerWaiter handler learns when the FIN was acknowledged: what
// close(2) waits for, up to sec seconds.
func (c *Conn) SetLinger(sec int) {
	if sec < 0 {
		sec = -1
	}
	c.linger = int32(min(sec, math.MaxInt32))
}

// currentRTO is the RTO with the current backoff applied.
func (c *Conn) currentRTO() time.Duration {
	return backoff(c.rtt.rto(c.rtoMin(), c.rtoMax()), c.rtoShift(), c.rtoMax())
}

// backOff doubles the RTO from here on (Linux icsk_backoff++), saturating.
func (c *Conn) backOff() {
	if c.backoff < math.MaxUint8 {
		c.backoff++
	}
}

// rtoMin and rtoMax are tcp_rto_min_us and tcp_rto_max_ms, read at each
// use as Linux's tcp_rto_min and tcp_rto_max read theirs.
func (c *Conn) rtoMin() time.Duration { return time.Duration(c.layer.cfg.RTOMinUs) * time.Microsecond }
func (c *Conn) rtoMax() time.Duration { return time.Duration(c.layer.cfg.RTOMaxMs) * time.Millisecond }

// rtoShift is the RTO's backoff exponent (Linux icsk_backoff), less an
// active open's first tcp_syn_linear_timeouts, whose SYNs go out one
// initial RTO apart (Linux tcp_retransmit_timer backs off in SYN-SENT
// only once total_rto passes the setting).
func (c *Conn) rtoShift() int {
	n := int(c.backoff)
	if c.state == StateSynSent {
		n = max(n-c.layer.cfg.SynLinearTimeouts, 0)
	}
	return n
}

// deliverBuffered offers the receive buffer's bytes to the handler.
func (c *Conn) deliverBuffered() {
	before := c.rcvBuf.Len()
	for c.rcvBuf.Len() > 0 && c.canDeliver() {
		a := c.rcvBuf.front()
		n := c.handler.OnData(c, a)
		n = max(0, min(n, len(a)))
		c.rcvConsume(n)
		c.consumed(n)
		if n < len(a) {
			break
		}
	}
	consumed := before > c.rcvBuf.Len()
	c.releaseRcvBuf()
	if consumed {
		c.maybeWindowUpdate()
	}
}

// canDeliver reports whether OnData may be called now: on a live
// connection, or on one gone with a held tail (see holdTail).
func (c *Conn) canDeliver() bool {
	return c.handler != nil && c.flags&(fPaused|fReadClosed) == 0 && c.flags&fOpened != 0 &&
		(c.flags&fGone == 0 || c.flags&fHeldTail != 0)
}

// maybePeerClose delivers OnPeerClose once the peer's FIN has been read
// past all its data.
func (c *Conn) maybePeerClose() {
	if c.flags&fPeerFin != 0 && c.rcvBuf.Len() == 0 && c.canDeliver() && c.flags&fPeerCloseSent == 0 {
		c.flags |= fPeerCloseSent
		c.handler.OnPeerClose(c)
	}
}

// ackMode holds the ACK decision's memory between segments, as Linux's
// icsk_ack.pending: whether the data since our last ACK ended an
// application write (amPushed: a small segment, or a full one with PSH;
// amPushed2: a second one), and whether memory was short for data
// received (amNoMem), cleared by every ACK we send.
type ackMode uint8

const (
	amPushed  ackMode = 1 << iota // ICSK_ACK_PUSHED
	amPushed2                     // ICSK_ACK_PUSHED2
	amNoMem                       // ICSK_ACK_NOMEM: the next ACK offers a zero window (fill)
)

// inPingpong reports pingpong mode (Linux inet_csk_in_pingpong_mode): we
// answer what we receive, so our data carries the ACKs and quick ACKs
// would only add packets. It starts after tcp_pingpong_thresh replies
// (onReplySent) or at the peer's FIN, and ends when a delayed ACK had to
// go alone or the peer shows it waits for our ACKs (enterQuickAckMode).
func (c *Conn) inPingpong() bool { return int(c.pingpong) >= c.layer.cfg.PingpongThresh }

// enterPingpong is inet_csk_enter_pingpong_mode: the count at the
// threshold.
func (c *Conn) enterPingpong() { c.pingpong = uint8(c.layer.cfg.PingpongThresh) }

// SetQuickAck is setsockopt TCP_QUICKACK (Linux __tcp_sock_set_quickack):
// 0 enters pingpong mode (ACKs delayed, no quick ACKs); any other value
// leaves it, and in ESTABLISHED or CLOSE-WAIT sends an owed ACK now if
// the application has read everything (tcp_cleanup_rbuf with
// ICSK_ACK_PUSHED: readAck), after which an even value enters pingpong
// mode again. Measured on Linux 6.18: xdptcp/sockopt-quickack.
func (c *Conn) SetQuickAck(val int) {
	if val == 0 {
		c.enterPingpong()
		return
	}
	c.pingpong = 0 // inet_csk_exit_pingpong_mode
	if (c.state == StateEstablished || c.state == StateCloseWait) && c.flags&fGone == 0 && c.ackOwed > 0 {
		c.ackMode |= amPushed
		c.readAck()
		if val&1 == 0 {
			c.enterPingpong()
		}
		c.rearm()
	}
}

// QuickAck is getsockopt TCP_QUICKACK: true unless in pingpong mode.
func (c *Conn) QuickAck() bool { return !c.inPingpong() }

// More connFlags, kept apart from the iota list.
const (
	fPeerCloseSent connFlags = 1 << 31 // OnPeerClose was delivered
	fHalfOpen      connFlags = 1 << 30 // counted in its listener's SYN queue
	fHeldTail      connFlags = 1 << 29 // fGone, but rcvBuf keeps unread data for the application; OnClose is owed
	fDSACK         connFlags = 1 << 28 // c.dsack is owed in the next ACK
	fMTUProbe      connFlags = 1 << 27 // black-hole MSS search on (Linux icsk_mtup.enabled; tcp_mtu_probing)
	fPending       connFlags = 1 << 26 // on the layer's pending list: output for this receive batch is owed (batch.go)
	fAckNow        connFlags = 1 << 25 // a segment of this batch wants an immediate ACK, sent at the batch's end
	fPaceHeld      connFlags = 1 << 24 // pacing held a transmission back since the last departure (pacing.go)
)

// releaseOOO gives the out-of-order range table back.
func (c *Conn) releaseOOO() {
	if c.ooo != nil {
		c.layer.uncharge(8 * cap(c.ooo.r))
		c.ooo = nil
	}
}

// destroy ends the connection: out of the table, timers stopped, buffers
// returned, OnClose(err) delivered once (if the application ever saw it).
func (c *Conn) destroy(err error) {
	if c.flags&fGone != 0 {
		return
	}
	l := c.layer
	prev := c.state
	if err == ErrReset {
		// Linux tcp_reset does not purge the receive queue: what
		// arrived before the peer's RST stays readable, then read
		// fails with ECONNRESET (tcp_recvmsg reads before sk_err).
		c.holdTail()
	}
	c.teardown()
	if prev == StateEstablished || prev == StateCloseWait {
		l.stats.EstabResets.Add(1) // Linux tcp_set_state: ESTABLISHED/CLOSE-WAIT -> CLOSED
	}
	if prev == StateSynSent || prev == StateSynReceived {
		l.stats.AttemptFails.Add(1) // Linux: a SYN-SENT/SYN-RECEIVED connection failed
	}
	c.closeErr = err
	if c.flags&fHeldTail != 0 {
		return // a reset with unread data: OnClose(err) once it is read (holdTail)
	}
	if c.handler != nil && (c.flags&fOpened != 0 || c.flags&fActive != 0) {
		// A failed Dial (fActive, never opened) learns it here too.
		c.handler.OnClose(c, err)
	}
}

// teardown removes the connection from the layer: out of the table and
// its listener, timers stopped, buffers returned.
func (c *Conn) teardown() {
	l := c.layer
	c.flags |= fGone
	if c.flags&fOrphan != 0 {
		l.orphans.Add(-1) // counted by Close; a Conn closed after teardown never was
	}
	c.txWait = 0 // its entry on the list is skipped
	c.setState(StateClosed)
	l.wheel.Stop(&c.timer)
	c.stopTimers()
	l.conns.Delete(c.key)
	if c.listener != nil {
		c.listener.forget(c)
	}
	c.sndBuf.n = 0 // (what was queued is dropped)
	c.releaseSndBuf()
	c.dropRecordEnds()
	c.chronoStop(l.now, chronoBusy) // Linux tcp_write_queue_purge: the chrono times stop
	c.releaseOOO()
	if c.tq != nil {
		l.putTxQueue(c.tq)
		c.tq = nil
	}
	if c.flags&fHeldTail == 0 {
		c.freeRcvBuf()
	}
}

// holdTail is called, before teardown, when an orderly close ends the
// connection on the wire (TIME-WAIT, or CLOSED from LAST-ACK or a full
// TIME-WAIT table) or the peer's RST does (destroy with ErrReset). If received data the application has not consumed
// waits in the receive buffer (PauseRead, or OnData took less than
// offered) and the application has not closed, the Conn keeps that buffer
// and reports true: the data stays readable and OnClose waits until the
// application consumed it (after ResumeRead) or called Close or Abort.
// Linux does the same: tcp_time_wait/tcp_done move the 4-tuple to a
// timewait sock or CLOSE, but the full socket's receive queue stays
// readable until close(2) (read returns the data, then EOF).
func (c *Conn) holdTail() bool {
	if c.rcvBuf.Len() == 0 || c.handler == nil || c.flags&(fOpened|fReadClosed|fOrphan) != fOpened {
		return false
	}
	c.flags |= fHeldTail
	return true
}

// endHeldTail ends a held tail: the buffer returns to the pool and the
// owed OnClose(err) is delivered.
func (c *Conn) endHeldTail(err error) {
	c.flags &^= fHeldTail
	c.freeRcvBuf()
	c.notifyClosed(err)
}

// ConnInfo is what `ss -tan`/`/debug/conns` shows of a connection.
type ConnInfo struct {
	State   State
	Key     flowtable.Key
	SendQ   int           // bytes written and not yet acknowledged
	RecvQ   int           // bytes received and not yet consumed
	RTT     time.Duration // smoothed RTT (0 before the first sample)
	RTO     time.Duration // current RTO, backoff included
	Cwnd    int           // congestion window in segments
	Timer   string        // "on", "keepalive", "timewait", "persist", ""
	TimerIn time.Duration // time left on Timer
}

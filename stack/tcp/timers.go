package tcp

// Timers of a connection: one deadline field per purpose (retransmission,
// SYN/SYN-ACK, persist, keepalive, FIN-WAIT-2, delayed ACK, tail loss
// probe, RACK reordering, pacing), each with its own handler; one wheel
// timer fires at the earliest of them. The delayed ACK's deadline is the
// owed ACK's, so a compressed SACK's time shares it (compack.go).

import (
	"math"
	"time"
	"unsafe"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/timer"
)

// stopTimers clears every deadline (the wheel timer is the caller's).
func (c *Conn) stopTimers() {
	c.rtoAt, c.synAt, c.persistAt, c.kaAt, c.fw2At, c.delackAt = never, never, never, never, never, never
	c.tlpAt, c.reoAt, c.paceAt = never, never, never
}

// nextDeadline returns the earliest deadline.
func (c *Conn) nextDeadline() clock.Time {
	return min(c.rtoAt, c.synAt, c.persistAt, c.kaAt, c.fw2At, c.delackAt, c.tlpAt, c.reoAt, c.paceAt)
}

// rearm schedules the connection's wheel timer at its earliest deadline.
func (c *Conn) rearm() {
	if c.flags&fGone != 0 {
		return
	}
	at := c.nextDeadline()
	w := c.layer.wheel
	if at == never {
		w.Stop(&c.timer)
		return
	}
	if !c.timer.Pending() || c.timer.When() != at {
		w.Schedule(&c.timer, at)
	}
}

// connTimer is every connection's timer function: t is the timer
// embedded in a Conn (its timer field), so the Conn starts that field's
// offset before it. A method value (c.onTimer) would cost a 16-byte
// closure per connection, outside the Conn, for its whole life.
func connTimer(t *timer.Timer, now clock.Time) {
	c := (*Conn)(unsafe.Add(unsafe.Pointer(t), -int(unsafe.Offsetof(Conn{}.timer))))
	c.onTimer(now)
}

// onTimer runs when the wheel timer fires: each due deadline's handler,
// in a fixed order.
func (c *Conn) onTimer(now clock.Time) {
	if c.flags&fGone != 0 {
		return
	}
	c.layer.now = now
	if c.delackAt <= now {
		c.delackAt = never
		if c.compHeld > 0 {
			// The compressed SACK's time (compack.go), not a delayed
			// ACK's: the ACK timeout stays as it is.
			c.sendHeldAck(now)
		} else if c.ackOwed > 0 && c.state.synchronized() {
			// A delayed ACK missed (Linux tcp_delack_timer_handler):
			// in pingpong mode the reply did not come, so pingpong
			// ends and the timeout is back at its minimum; else the
			// timeout was too short and doubles, up to the RTO.
			if c.inPingpong() {
				c.pingpong = 0
				c.ato = atoMin
			} else if c.ato > 0 {
				c.ato = min(2*c.ato, c.currentRTO())
			}
			c.layer.stats.DelayedACKs.Add(1)
			c.sendAck(now)
		}
	}
	if c.paceAt <= now {
		c.onPaceTimer(now) // (paceAt is the pacing state: the handler clears it)
		if c.flags&fGone != 0 {
			return
		}
	}
	type handler struct {
		at *clock.Time
		fn func(*Conn, clock.Time)
	}
	for _, h := range [...]handler{
		{&c.synAt, (*Conn).onSynTimer},
		{&c.reoAt, (*Conn).onReoTimer},
		{&c.tlpAt, (*Conn).onTLPTimer},
		{&c.rtoAt, (*Conn).onRTO},
		{&c.persistAt, (*Conn).onPersist},
		{&c.kaAt, (*Conn).onKeepalive},
		{&c.fw2At, (*Conn).onFinWait2},
	} {
		if *h.at <= now {
			*h.at = never
			h.fn(c, now)
			if c.flags&fGone != 0 {
				return
			}
		}
	}
	c.rearm()
}

// frtoAtTimeout is whether F-RTO (RFC 5682, tcp_frto) watches the ACKs
// after the timeout that fires now, as Linux's tcp_enter_loss decides:
// not for a timeout in fast recovery, nor for one in the loss state after
// progress (SND.UNA moved since the last timeout: nRtx 0), but for a
// recurring timeout on the same SND.UNA (RFC 5682 §3.2), and not with
// an MTU probe in flight. Measured on Linux 6.18 (xdptcp/frto-recurring):
// after two timeouts the ACK of the head's resend sends new data first,
// and the ACK of data never resent undoes both.
func (c *Conn) frtoAtTimeout() bool {
	if c.layer.cfg.Frto == 0 {
		return false
	}
	if ms := c.mtuSearch(); ms != nil && ms.probe != 0 {
		return false
	}
	st := c.lossState()
	return (st != CARecovery && st != CALoss) || c.nRtx > 0
}

// endSynTimeouts forgets the handshake's timeouts when it completes: the
// count, the backoff and the stamp the SYN timer kept, so the data's
// retries budget and backoff start afresh (Linux tcp_finish_connect and
// the accepted child begin with none).
func (c *Conn) endSynTimeouts() { c.nRtx, c.backoff, c.rtxStamp = 0, 0, never }

// onSynTimer retransmits our SYN (SYN-SENT, tcp_syn_retries) or SYN-ACK
// (SYN-RECEIVED, tcp_synack_retries).
func (c *Conn) onSynTimer(now clock.Time) {
	l := c.layer
	cfg := &l.cfg
	switch c.state {
	case StateSynSent:
		// Linux tcp_write_timeout: give up when the time since the first
		// SYN reaches tcp_model_timeout(syn_retries, TCP_TIMEOUT_INIT),
		// the doubling schedule's, whatever tcp_syn_linear_timeouts
		// makes of the SYNs (rtoShift). With the defaults, 6 retries
		// and 4 linear timeouts, SYNs at 0, 1, 2, 3, 4, 5, 7, 11, 19,
		// 35, 67 s and failure at 131 s, the first timer past 127 s;
		// with linear timeouts 0, SYNs at 0, 1, 3, 7, 15, 31, 63 s and
		// failure at 127 s (measured on Linux 6.18).
		if c.nRtx > 0 && now.Sub(c.rtxStamp) >= modelTimeout(c.SynCount(), initialRTO, c.rtoMax()) {
			l.stats.TCPAbortOnTimeout.Add(1)
			c.destroy(c.timeoutErr())
			return
		}
		if c.nRtx == 0 {
			c.rtxStamp = now.Add(-c.currentRTO())
		}
		c.countRTO(now)
		c.nRtx++
		c.backOff()
		l.stats.TCPTimeouts.Add(1)
		c.timeoutRehash()
		if cfg.ECN == 1 {
			// Linux's SYN timeout goes through tcp_enter_loss, whose
			// tcp_ecn_queue_cwr marks the first data for CWR should
			// the SYN-ACK agree on ECN (ecnNegotiate keeps it then).
			c.flags |= fCWRPending
		}
		c.sendSyn(now, true)
		c.synAt = now.Add(c.currentRTO())
	case StateSynReceived:
		// Linux reqsk_timer_handler: SYN-ACK retransmissions at 1, 3, 7,
		// 15, 31 s (timeout TCP_TIMEOUT_INIT << num_timeout), and the
		// half-open entry is freed at the next expiry (63 s by default).
		limit := cfg.SynackRetries
		if c.synCnt > 0 {
			limit = int(c.synCnt) // TCP_SYNCNT on the listener (Linux reqsk_timer_handler)
		}
		if int(c.synRtx) >= limit {
			c.destroy(c.timeoutErr())
			return
		}
		c.synRtx++
		l.stats.TCPTimeouts.Add(1)
		c.sendSyn(now, true)
		c.synAt = now.Add(backoff(initialRTO, int(c.synRtx), c.rtoMax()))
	}
}

// orphanRetries is how many retransmissions or zero-window probes an
// orphan (closed by the application) gets, as Linux's
// tcp_orphan_retries: tcp_orphan_retries, where 0 means 8 ("more than
// 100 seconds with the minimal RTO") while the connection is alive, its
// backed-off RTO below tcp_rto_max_ms; once the RTO is at the cap, 0
// stays 0, and a soft ICMP error (sk_err_soft) makes any value 0. With the
// default tcp_rto_max_ms the 8 retries' time ends before the RTO reaches
// it; with 1000, measured on Linux 6.18 (xdptcp/orphan-rto-max): resent
// at 0.34 and 0.98 s, dropped at the 1.98 s timeout, the first at the
// cap, without a RST.
func (c *Conn) orphanRetries() int {
	alive := c.orphanAlive()
	r := c.layer.cfg.OrphanRetries
	if !alive && c.sx != nil && c.sx.softErr != nil {
		r = 0
	}
	if r == 0 && alive {
		r = 8
	}
	return r
}

// orphanAlive is Linux's "alive" of an orphan's timers: its backed-off
// RTO (the retransmission timer's icsk_rto, the probe timer's
// inet_csk_rto_backoff) is still below tcp_rto_max_ms.
func (c *Conn) orphanAlive() bool { return c.currentRTO() < c.rtoMax() }

// onRTO is the retransmission timeout (RFC 6298 §5.4-5.6) for data and
// FIN (tcp_retries2, or tcp_orphan_retries once the application closed).
func (c *Conn) onRTO(now clock.Time) {
	l := c.layer
	cfg := &l.cfg
	if c.tq == nil || c.tq.n == 0 || !c.state.synchronized() {
		return // nothing outstanding
	}
	// Give-up: Linux's time budget (tcp_retransmits_timed_out with
	// tcp_model_timeout(boundary, TCP_RTO_MIN)), measured from the
	// episode's first retransmission, a fast one included (rtxStamp,
	// rtxstamp.go). With tcp_retries2 = 15 that is 924.6 s; an orphan uses
	// tcp_orphan_retries (0 means 8: 102.2 s). Measured on Linux 6.18
	// with tcp_rto_max_ms 1000 and tcp_retries2 4 (a 3.4 s budget) after
	// a 200 ms handshake: the data at 0.2 s, resent at 0.83, 1.86, 2.88
	// and 3.90 s, given up at the timer of 4.93 s; counted from the
	// original send the 3.90 s timer would have given up.
	boundary := cfg.Retries2
	if c.flags&fOrphan != 0 {
		boundary = c.orphanRetries()
	}
	budget := modelTimeout(boundary, minRTO, c.rtoMax())
	if c.userTO > 0 {
		budget = c.userTimeout() // RFC 5482: the user's bound replaces the retries (Linux retransmits_timed_out)
	}
	// The peer shrank its window to zero with data in flight: Linux's
	// tcp_retransmit_timer treats the retransmissions as zero-window
	// probes ("receiver dastardly shrinks window"). They are not
	// timeouts (no TCPTimeouts, no RTO statistics, no black-hole
	// check), and the connection is given up only when the peer has
	// been silent too (tcp_rtx_probe0_timed_out): nothing received and
	// no progress for twice tcp_rto_max_ms (240 s by default) or the
	// user timeout, or no progress for longer than the user timeout. An
	// orphan is timed out as usual. Measured on Linux 6.18 with
	// tcp_retries2=3 (conformance/scripts/window-shrink-answered.pkt):
	// the peer's zero-window answers keep the connection past the 3 s
	// budget; with tcp_rto_max_ms=1000 and a silent peer
	// (window-shrink-rto-max.pkt) the retransmissions come at 0.52,
	// 1.16 and 2.18 s and the 3.2 s timer gives up: 2 s is the
	// setting's, not TCP_RTO_MAX's.
	zeroWnd := c.sndWnd == 0 && c.flags&fOrphan == 0
	stalled := now.Sub(c.rtxStart())
	var dead bool
	if zeroWnd {
		limit := 2 * c.rtoMax()
		if c.userTO > 0 {
			limit = min(limit, c.userTimeout())
		}
		dead = (c.userTO > 0 && stalled > c.userTimeout()) || (now.Sub(c.lastRecv) > limit && stalled > limit)
	} else {
		dead = c.nRtx > 0 && stalled >= budget
	}
	// A path that drops full-sized segments and the ICMP errors about
	// them (RFC 4821 §2's black hole) is suspected by time, as the
	// budget is (Linux tcp_write_timeout: retransmits_timed_out with
	// tcp_retries1, 3.0 s with 3, since the first retransmission).
	// Measured on Linux 6.18 with tcp_mtu_probing=1 and a 600 ms RTT
	// (mtu-probe-blackhole-time.pkt): the timeouts resend 1460 bytes at
	// 2.4 s and 1024 at 6.1 s, the second timeout; xdptcp waited for the
	// third by count.
	suspect := !zeroWnd && c.nRtx > 0 && stalled >= modelTimeout(cfg.Retries1, minRTO, c.rtoMax())
	if c.flags&fOrphan != 0 && c.outOfResources(now, c.orphanAlive() || !dead) {
		return // Linux tcp_write_timeout: before the give-up
	}
	if dead {
		l.stats.TCPAbortOnTimeout.Add(1)
		c.destroy(c.timeoutErr())
		return
	}
	if !zeroWnd {
		l.stats.TCPTimeouts.Add(1)
		c.countTimeoutState()
		c.timeoutRehash()
	}
	// RFC 5681 (4) and RFC 6298 (5.4)-(5.6): collapse cwnd, back off,
	// and mark everything outstanding lost (Linux tcp_timeout_mark_lost):
	// slow start resends it from SND.UNA, skipping what the peer SACKed
	// (RFC 6675 §5.1) on the first timeout; a second timeout in a row
	// forgets the SACKs too (the receiver may have reneged, RFC 2018 §8),
	// and so does any timeout that finds the record at SND.UNA SACKed
	// (it has: Linux tcp_timeout_mark_lost, TCPSACKReneging).
	// ssthresh is cut once per window: not again on a repeated timeout
	// (RFC 5681 (4)'s note) nor on one in fast recovery or in an ECN
	// reduction, until SND.UNA passes the point the cut covered (Linux
	// tcp_enter_loss: only from Open or Disorder, past high_seq, or in
	// Loss with icsk_retransmits 0; measured on Linux 6.18, ssthresh 5
	// after ECE at cwnd 10 stays 5 through the timeout:
	// conformance/scripts/ecn-cwr-rto.pkt). A timeout in the ECN
	// reduction has nothing to undo: Linux's CWR cleared undo_marker and
	// tcp_enter_loss does not set it again without a cut.
	reduced := (c.nRtx > 0 || c.flags&(fInRecovery|fInCWR) != 0) && c.sndUna.LessThan(c.recover)
	if !reduced || c.flags&fInCWR == 0 {
		c.startUndo(now, true) // RFC 3522 / RFC 5682: keep what to restore if it proves spurious
	}
	c.rack.flags &^= rkTLP | rkFRTO | rkFRTONew
	if c.frtoAtTimeout() {
		c.rack.flags |= rkFRTO
	}
	if c.flags&fInRecovery != 0 {
		c.endCwndReduction() // the reduction starts from the real window
		c.rackRecoveryEnded()
	}
	if suspect && cfg.MtuProbing > 0 {
		// Before the loss state's cwnd of one segment, which is then
		// one of the new size (Linux's tcp_write_timeout runs before
		// tcp_enter_loss): measured, the second timeout sends 1024
		// bytes and nothing more; xdptcp sent the other 436 too.
		c.mtuBlackHole(now)
	}
	c.cc.onRTO(now, c.mss, reduced)
	c.flags &^= fInRecovery | fInCWR // Loss supersedes both (Linux tcp_enter_loss)
	c.recover = c.sndNxt
	reneged := c.headSacked()
	if reneged {
		l.stats.TCPSACKReneging.Add(1) // Linux tcp_timeout_mark_lost
	}
	keep := never
	if !reneged && c.rack.rtt > 0 {
		keep = now.Add(-c.rack.rtt)
	}
	lostBefore := c.tq.lost
	c.tq.markAllLost(c.nRtx > 0 || reneged, keep)
	if b := c.rateCtl(); b != nil {
		b.onTimeoutMarked(c, now, c.tq.lost-lostBefore)
	}
	// Linux tcp_enter_loss: cwnd is what is still in flight (the
	// segments sent within the last RTT) plus one, so the head's resend
	// and each ACK's slow start do not wait for them.
	c.cc.setWindow(c.pipe() + c.mss)
	c.dupAcks = 0
	if !zeroWnd {
		c.countRTO(now)
		// Not for a shrunk window's: Linux's zero-window branch goes
		// to out_reset_timer past icsk_retransmits++ (measured on Linux
		// 6.18: TCP_INFO retransmits 0, backoff 1 to 4, total_rto 0
		// after four).
		c.nRtx++
	}
	c.backOff()
	if (cfg.ThinLinearTimeouts || c.flags&fThinLTO != 0) && c.thinStream() && c.nRtx <= thinLinearRetries {
		// Linux tcp_retransmit_timer with tcp_thin_linear_timeouts or
		// the socket's TCP_THIN_LINEAR_TIMEOUTS: a thin stream's first
		// six timeouts keep the estimator's RTO.
		// Measured on Linux 6.18 (xdptcp/thin-linear-timeouts): one
		// segment out, resent at 0.22 s and six more times 0.22 s
		// apart, then 0.43, 0.86 and 1.73 s apart.
		c.backoff = 0
	}
	// The timer resends the first segment it marked lost itself, as
	// Linux's tcp_retransmit_timer does with tcp_retransmit_skb: past
	// pacing, and not one of the loss-recovery resends that
	// countRecoveryRetrans counts. cwnd is what stayed in flight plus
	// the one segment this resend takes, so the round after it sends
	// nothing more; it keeps its bookkeeping.
	if i := c.tq.nextLost(); i >= 0 {
		c.retransmit(now, i)
	}
	c.trySend(now)
	c.rtoAt = now.Add(c.currentRTO())
	if c.userTO > 0 {
		// Linux tcp_clamp_rto_to_user_timeout: the next timeout comes
		// no later than the user timeout, so the abort is on time.
		c.rtoAt = min(c.rtoAt, max(c.rtxStart().Add(c.userTimeout()), now.Add(time.Millisecond)))
	}
}

// thinLinearRetries is Linux's TCP_THIN_LINEAR_RETRIES: the timeouts of
// a thin stream that do not back off.
const thinLinearRetries = 6

// thinStream is Linux's tcp_stream_is_thin in ESTABLISHED: fewer than 4
// segments out, and past the initial slow start (ssthresh set, which a
// timeout does).
func (c *Conn) thinStream() bool {
	return c.state == StateEstablished && c.tq != nil && c.tq.n < 4 && c.cc.ssthreshBytes() < ssthreshInfinite
}

// headSacked reports whether the record at SND.UNA is marked SACKed: the
// peer reported it received and then acknowledged up to it, not past it
// (Linux's FLAG_SACK_RENEGING, is_reneg).
func (c *Conn) headSacked() bool {
	return c.tq != nil && c.tq.n > 0 && c.tq.at(0).mark&sbSacked != 0
}

// countTimeoutState counts what the first timeout in a row interrupted,
// as Linux's tcp_retransmit_timer does (icsk_retransmits 0, which an ACK
// that advances SND.UNA resets, as it resets nRtx): a fast recovery
// (TCPSackRecoveryFail, TCPRenoRecoveryFail), the slow start after an
// earlier timeout (TCPLossFailures), or, below the recovery threshold,
// SACKed data (TCPSackFailures) or, without SACK, duplicate ACKs
// (TCPRenoFailures; Linux's sacked_out counts them). Measured on Linux
// 6.18 with packetdrill and nstat, one timeout each: after a fast
// retransmission with SACK TCPSackRecoveryFail 1, without SACK (three
// duplicate ACKs) TCPRenoRecoveryFail 1, after one duplicate ACK without
// SACK TCPRenoFailures 1, after an ACK of an earlier timeout's resend,
// before the rest was acknowledged, TCPLossFailures 1; after a tail loss
// probe's resend SACKed at once (RACK takes no sample from it)
// TCPSackFailures 1; after a duplicate ACK without SACK blocks on a SACK
// connection, with or without a probe's resend out, nothing.
func (c *Conn) countTimeoutState() {
	if c.nRtx > 0 {
		return
	}
	s := &c.layer.stats
	sack := c.flags&fSackOK != 0
	switch {
	case c.flags&fInRecovery != 0 && sack:
		s.TCPSackRecoveryFail.Add(1)
	case c.flags&fInRecovery != 0:
		s.TCPRenoRecoveryFail.Add(1)
	case c.lossState() == CALoss:
		s.TCPLossFailures.Add(1)
	case sack && c.tq.sacked > 0:
		s.TCPSackFailures.Add(1)
	case !sack && c.dupAcks > 0:
		s.TCPRenoFailures.Add(1)
	}
}

// userTimeout is TCP_USER_TIMEOUT as a duration.
func (c *Conn) userTimeout() time.Duration { return time.Duration(c.userTO) * time.Millisecond }

// SetUserTimeout sets TCP_USER_TIMEOUT (RFC 5482, Linux semantics): how
// long transmitted data may stay unacknowledged, or zero-window probes or
// keepalive probes unanswered, before the connection is dropped with
// ErrTimeout; it replaces tcp_retries2 (or tcp_orphan_retries) and
// tcp_keepalive_probes as the bound. d <= 0 turns it off; it is kept in
// milliseconds, at most about 49 days.
func (c *Conn) SetUserTimeout(d time.Duration) {
	ms := int64(d / time.Millisecond)
	c.userTO = uint32(min(max(ms, 0), math.MaxUint32))
	if c.userTO > 0 && c.nRtx > 0 && c.rtoAt != never {
		c.rtoAt = min(c.rtoAt, max(c.rtxStart().Add(c.userTimeout()), c.layer.now))
		c.rearm()
	}
}

// wakeup is Linux's tcp_write_wakeup for a window that is open: the probe
// timer found new data held back with nothing in flight (TCP_CORK or
// MSG_MORE: the cork's ceiling) and sends one segment of it, with PSH.
func (c *Conn) wakeup(now clock.Time) {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	if c.flight() > 0 || !c.sndNxt.LessThan(dataEnd) {
		return
	}
	n := c.recordLimit(min(int(dataEnd.Sub(c.sndNxt)), c.effMSS(), int(c.sndWnd)))
	end := c.sndNxt.Add(seqnum.Size(n))
	if c.pushSeq.LessThan(end) {
		c.pushSeq = end // tcp_write_wakeup sets PSH on what it sends
	}
	if c.flags&fFinQueued != 0 && end == c.finSeq {
		n++
	}
	if c.transmit(now, c.sndNxt, n) {
		// The PSH is the segment's own (tcp_write_wakeup sets it in the
		// skb it sends), so its retransmissions carry it too
		// (persist-small.pkt).
		c.tq.at(c.tq.n - 1).mark |= sbPsh
	}
}

// onPersist is the persist timer (RFC 9293 §3.8.6.1): probe a zero window.
// Linux (tcp_probe_timer) aborts after tcp_retries2 unanswered probes; an
// ACK from the peer resets the count.
func (c *Conn) onPersist(now clock.Time) {
	if c.sndWnd > 0 {
		// The window takes part of a segment: send it. Data in flight
		// ends the probing and its backoff (Linux tcp_send_probe0 once
		// packets_out > 0), so its RTO is the estimator's, not the
		// probes' (persist-small.pkt).
		c.zwProbes, c.backoff = 0, 0
		c.endProbing()
		c.wakeup(now)
		c.trySend(now)
		return
	}
	if c.sndBuf.Len() == 0 && c.flags&fFinQueued == 0 {
		c.endProbing()
		return
	}
	max := c.layer.cfg.Retries2
	if c.flags&fOrphan != 0 {
		max = c.orphanRetries() // Linux tcp_probe_timer: an orphan's probes are bounded like its retransmissions
	}
	// Unanswered probes are bounded by count (the peer's ACKs reset
	// it: RFC 1122 §4.2.2.17 keeps a connection whose receiver answers
	// open indefinitely). With a user timeout the probing is also
	// bounded in time from its first probe, answered or not (Linux
	// tcp_probe_timer's icsk_probes_tstamp since 5.11; measured on Linux
	// 6.18: persist-user-timeout.pkt, 1 s: given up at the third probe's
	// time although the peer answered the first two).
	var dead bool
	if c.userTO > 0 {
		if x := c.ext(); x.probesSince == never {
			x.probesSince = now
		} else if now.Sub(x.probesSince) >= c.userTimeout() {
			dead = true
		}
	}
	if c.flags&fOrphan != 0 && !dead {
		if !c.orphanAlive() && int(c.backoff) >= max {
			dead = true // Linux tcp_probe_timer: an orphan no longer alive whose backoff reached its retries
		} else if c.outOfResources(now, true) {
			return
		}
	}
	if int(c.zwProbes) >= max {
		dead = true
	}
	if dead {
		c.layer.stats.TCPAbortOnTimeout.Add(1)
		c.destroy(c.timeoutErr())
		return
	}
	c.zwProbes++
	// The probes' backoff survives the peer's zero-window answers and
	// stops at tcp_retries2 (Linux tcp_send_probe0; measured on Linux
	// 6.18 with 2: answered probes 1.2 s apart, four RTOs, without end:
	// persist-backoff-cap.pkt). A probe is not a timeout: nRtx stays.
	if int(c.backoff) < c.layer.cfg.Retries2 {
		c.backOff()
	}
	c.layer.stats.TCPWinProbe.Add(1)
	c.sendProbe(now)
	c.persistAt = now.Add(c.currentRTO())
}

// endProbing ends a zero-window probing: the next one's user timeout
// counts from its own first probe (Linux clears icsk_probes_tstamp).
func (c *Conn) endProbing() {
	if c.sx != nil {
		c.sx.probesSince = never
	}
}

// keepaliveTime is the idle time before the first probe.
func (c *Conn) keepaliveTime() time.Duration {
	if c.kaIdle > 0 {
		return c.kaIdle
	}
	return c.layer.cfg.KeepaliveTime
}

// armKeepalive (re)computes the keepalive deadline from the last received
// segment.
func (c *Conn) armKeepalive() {
	if c.state == StateFinWait2 || c.flags&(fGone|fFinQueued) != 0 {
		return // no keepalive once we closed
	}
	if c.flags&fKeepAlive == 0 || !c.state.synchronized() {
		c.kaAt = never
		return
	}
	c.kaAt = c.lastRecv.Add(c.keepaliveTime())
}

// onFinWait2 ends an orphan's FIN-WAIT-2 (Linux tcp_fin_timeout).
func (c *Conn) onFinWait2(now clock.Time) {
	if c.state == StateFinWait2 && c.flags&fOrphan != 0 {
		c.destroy(nil)
	}
}

// onKeepalive is the keepalive timer (RFC 1122 §4.2.3.6, Linux
// tcp_keepalive_timer).
func (c *Conn) onKeepalive(now clock.Time) {
	l := c.layer
	if c.flags&fKeepAlive == 0 || !c.state.synchronized() {
		return
	}
	ka := c.keepaliveTime()
	idle := now.Sub(c.lastRecv)
	if idle < ka {
		c.kaAt = c.lastRecv.Add(ka)
		return
	}
	if c.sndNxt != c.sndUna || c.sndBuf.Len() > 0 {
		// Data outstanding: the retransmission timer watches the peer.
		c.kaAt = now.Add(ka)
		return
	}
	dead := int(c.kaProbes) >= l.cfg.KeepaliveProbes
	if c.userTO > 0 {
		// Linux tcp_keepalive_timer: with a user timeout, the peer is dead
		// once probes went unanswered for that long since it was last heard.
		dead = c.kaProbes > 0 && idle >= c.userTimeout()
	}
	if dead {
		// Linux sends a RST to the dead peer and reports ETIMEDOUT.
		l.stats.TCPAbortOnTimeout.Add(1)
		c.sendReset(now)
		c.destroy(c.timeoutErr())
		return
	}
	c.kaProbes++
	l.stats.TCPKeepAlive.Add(1)
	c.sendProbe(now)
	c.kaAt = now.Add(l.cfg.KeepaliveIntvl)
}

// rtoStats are Linux 6.7's RTO counts in TCP_INFO (tcpi_total_rto,
// tcpi_total_rto_recoveries, tcpi_total_rto_time): every retransmission
// timeout, SYN and SYN-ACK ones included; the RTO recoveries, each from
// a timeout with no earlier one unanswered until the connection leaves
// the Loss state; and the time spent in them.
type rtoStats struct {
	timeouts   uint32
	recoveries uint32
	done       time.Duration // in recoveries that ended
	since      clock.Time    // start of the recovery in progress; never: none
}

// countRTO is tcp_update_rto_stats, for a timeout that fires now: a new
// recovery when SND.UNA moved since the last timeout (nRtx 0; Linux
// icsk_retransmits 0).
func (c *Conn) countRTO(now clock.Time) {
	r := &c.ext().rto
	if c.nRtx == 0 {
		r.recoveries++
		r.since = now
	}
	r.timeouts++
}

// endRTORecovery is tcp_update_rto_time: the recovery in progress ends
// once the connection has left the Loss state (Linux: when
// tcp_process_loss leaves CA_Loss, or the handshake completes).
func (c *Conn) endRTORecovery(now clock.Time) {
	if c.sx == nil || c.sx.rto.since == never || c.lossState() == CALoss {
		return
	}
	r := &c.sx.rto
	r.done += now.Sub(r.since)
	r.since = never
}

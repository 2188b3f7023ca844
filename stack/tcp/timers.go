package tcp

// Timers of a connection: one wheel timer at the earliest of the
// retransmission/persist, keepalive/FIN-WAIT-2 and delayed-ACK deadlines.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// rearm schedules the connection's wheel timer at its earliest deadline.
func (c *Conn) rearm() {
	if c.flags&fGone != 0 {
		return
	}
	at := c.rtxAt
	if c.kaAt < at {
		at = c.kaAt
	}
	if c.delackAt < at {
		at = c.delackAt
	}
	w := c.layer.wheel
	if at == never {
		w.Stop(&c.timer)
		return
	}
	if !c.timer.Pending() || c.timer.When() != at {
		w.Schedule(&c.timer, at)
	}
}

// onTimer runs when the wheel timer fires.
func (c *Conn) onTimer(now clock.Time) {
	if c.flags&fGone != 0 {
		return
	}
	c.layer.now = now
	if c.delackAt <= now {
		c.delackAt = never
		if c.ackOwed > 0 && c.state.synchronized() {
			c.layer.stats.DelayedACKs.Add(1)
			c.sendAck(now)
		}
	}
	if c.rtxAt <= now {
		c.rtxAt = never
		if c.rtxKind == rtxPersist {
			c.onPersist(now)
		} else {
			c.onRTO(now)
		}
		if c.flags&fGone != 0 {
			return
		}
	}
	if c.kaAt <= now {
		c.kaAt = never
		c.onKeepalive(now)
		if c.flags&fGone != 0 {
			return
		}
	}
	c.rearm()
}

// onRTO is the retransmission timeout (RFC 6298 §5.4-5.6) for every state
// that retransmits: SYN-SENT (SYN, tcp_syn_retries), SYN-RECEIVED (SYN-ACK,
// tcp_synack_retries), and the synchronized states (data and FIN,
// tcp_retries2, or tcp_orphan_retries once the application closed).
func (c *Conn) onRTO(now clock.Time) {
	l := c.layer
	cfg := &l.cfg
	switch c.state {
	case StateSynSent:
		// Linux tcp_write_timeout: give up when the time since the first
		// SYN reaches tcp_model_timeout(syn_retries, TCP_TIMEOUT_INIT):
		// with 6 retries, SYNs at 0, 1, 3, 7, 15, 31, 63 s, failure at 127 s.
		if c.nRtx > 0 && now.Sub(c.rtxStamp) >= modelTimeout(cfg.SynRetries, initialRTO) {
			l.stats.TCPAbortOnTimeout.Add(1)
			c.destroy(ErrTimeout)
			return
		}
		if c.nRtx == 0 {
			c.rtxStamp = now.Add(-c.currentRTO())
		}
		c.nRtx++
		l.stats.TCPTimeouts.Add(1)
		l.stats.TCPSynRetrans.Add(1)
		l.stats.RetransSegs.Add(1)
		l.rtxSeg = true // the next xmit is a retransmission
		c.sendSyn(now)
		c.rtxKind = rtxRetransmit
		c.rtxAt = now.Add(c.currentRTO())
		return
	case StateSynReceived:
		// Linux reqsk_timer_handler: SYN-ACK retransmissions at 1, 3, 7,
		// 15, 31 s (timeout TCP_TIMEOUT_INIT << num_timeout), and the
		// half-open entry is freed at the next expiry (63 s by default).
		if c.synRtx >= cfg.SynackRetries {
			c.destroy(ErrTimeout)
			return
		}
		c.synRtx++
		l.stats.TCPTimeouts.Add(1)
		l.stats.TCPSynRetrans.Add(1)
		l.stats.RetransSegs.Add(1)
		l.rtxSeg = true // the next xmit is a retransmission
		c.sendSyn(now)
		c.rtxKind = rtxRetransmit
		c.rtxAt = now.Add(backoff(initialRTO, c.synRtx))
		return
	}
	if c.sndNxt == c.sndUna && c.sndMax == c.sndUna {
		return // nothing outstanding
	}
	// Give-up: Linux's time budget (tcp_retransmits_timed_out with
	// tcp_model_timeout(boundary, TCP_RTO_MIN)), measured from the first
	// retransmission's original send time. With tcp_retries2 = 15 that
	// is 924.6 s; an orphan uses tcp_orphan_retries (0 means 8: 102.2 s).
	boundary := cfg.Retries2
	if c.flags&fOrphan != 0 {
		boundary = cfg.OrphanRetries
		if boundary == 0 {
			boundary = 8
		}
	}
	if c.nRtx > 0 && now.Sub(c.rtxStamp) >= modelTimeout(boundary, minRTO) {
		l.stats.TCPAbortOnTimeout.Add(1)
		c.destroy(ErrTimeout)
		return
	}
	if c.nRtx == 0 {
		// The timer was armed one RTO after the head segment was sent
		// (or after the last ACK that moved SND.UNA).
		c.rtxStamp = now.Add(-c.currentRTO())
	}
	l.stats.TCPTimeouts.Add(1)
	// RFC 5681 (4) and RFC 6298 (5.4)-(5.6): collapse cwnd, back off,
	// retransmit from SND.UNA (go-back-N under slow start, as Linux marks
	// everything outstanding lost).
	c.startUndo(now, true) // RFC 3522: keep what to restore if it proves spurious
	if c.flags&fInRecovery != 0 {
		c.cc.setWindow(c.cc.ssthreshBytes()) // deflate (RFC 6582): the reduction starts from the real window
	}
	c.cc.onRTO(now, c.flight(), c.mss)
	c.flags &^= fInRecovery | fRTTTiming
	c.recover = c.sndMax
	if c.nRtx > 0 {
		// A second timeout in a row: forget the SACK scoreboard (the
		// receiver may have reneged, RFC 2018 §8) and resend everything.
		c.sb.reset()
	}
	// The first keeps it (RFC 6675 §5.1): going back N skips what the
	// peer SACKed (Linux tcp_timeout_mark_lost leaves SACKed data alone).
	c.dupAcks = 0
	c.nRtx++
	c.sndNxt = c.sndUna
	c.rtxAt = never
	c.sendOne(now)
	c.rtxKind = rtxRetransmit
	c.rtxAt = now.Add(c.currentRTO())
}

// onPersist is the persist timer (RFC 9293 §3.8.6.1): probe a zero window.
// Linux (tcp_probe_timer) aborts after tcp_retries2 unanswered probes; an
// ACK from the peer resets the count.
func (c *Conn) onPersist(now clock.Time) {
	if c.sndWnd > 0 {
		c.kaProbes = 0
		c.trySend(now)
		return
	}
	if c.sndBuf.Len() == 0 && c.flags&fFinQueued == 0 {
		return
	}
	max := c.layer.cfg.Retries2
	if c.flags&fOrphan != 0 && c.layer.cfg.OrphanRetries > 0 {
		max = c.layer.cfg.OrphanRetries
	}
	if c.kaProbes >= max {
		c.layer.stats.TCPAbortOnTimeout.Add(1)
		c.destroy(ErrTimeout)
		return
	}
	c.kaProbes++
	c.nRtx++ // the probe backoff survives the peer's zero-window ACKs (Linux icsk_backoff)
	c.layer.stats.TCPWinProbe.Add(1)
	c.sendProbe(now)
	c.rtxKind = rtxPersist
	c.rtxAt = now.Add(c.currentRTO())
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
	if c.state == StateFinWait2 || c.flags&fGone != 0 {
		return // kaAt holds the FIN-WAIT-2 timeout there
	}
	if c.flags&fKeepAlive == 0 || !c.state.synchronized() {
		c.kaAt = never
		return
	}
	c.kaAt = c.lastRecv.Add(c.keepaliveTime())
}

// onKeepalive is the keepalive timer (RFC 1122 §4.2.3.6, Linux
// tcp_keepalive_timer) and, in FIN-WAIT-2, the orphan timeout
// (tcp_fin_timeout).
func (c *Conn) onKeepalive(now clock.Time) {
	l := c.layer
	if c.state == StateFinWait2 {
		if c.flags&fOrphan != 0 {
			c.destroy(nil)
		}
		return
	}
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
	if c.kaProbes >= l.cfg.KeepaliveProbes {
		// Linux sends a RST to the dead peer and reports ETIMEDOUT.
		l.stats.TCPAbortOnTimeout.Add(1)
		c.sendReset(now)
		c.destroy(ErrTimeout)
		return
	}
	c.kaProbes++
	l.stats.TCPKeepAlive.Add(1)
	c.sendProbe(now)
	c.kaAt = now.Add(l.cfg.KeepaliveIntvl)
}

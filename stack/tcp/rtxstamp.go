package tcp

import "github.com/xdptcp/xdptcp/stack/clock"

// The retries' time budget (tcp_retries2, tcp_orphan_retries, a user
// timeout) and the shrunk window's silence count from rtxStamp, Linux's
// retrans_stamp: the send time of the first retransmission of a loss
// episode, whatever sent it (fast recovery, RACK, a tail loss probe, a
// timeout; tcp_retransmit_skb stamps it when unset). It is forgotten
// only where Linux forgets it: at an ACK that leaves the connection
// outside fast recovery and loss (tcp_try_to_open), or at the entry of a
// fast recovery (tcp_enter_recovery), when no retransmission is still
// outstanding (tcp_any_retrans_done); and once the handshake completes.
// An ACK that advances SND.UNA resets the timeout count (nRtx), not the
// stamp. Measured on Linux 6.18 (conformance/scripts/fr-retries-budget.pkt):
// a fast retransmission at 0.02 s, lost with the peer silent after it,
// resent by timeouts at 0.24 and 0.67 s; with tcp_retries2=2 (1.4 s) the
// timer of 1.54 s gives up, counted from the fast retransmission; from
// the first timeout's resend the budget would have run to 3.2 s. And
// through progress in the loss state (rto-progress-budget.pkt): a
// timeout's resend at 0.22 s acknowledged at 0.51 s, the next head
// resent by the timer at 0.94 s, given up at 1.8 s, 1.58 s after the
// first resend.

// anyRetransDone is Linux's tcp_any_retrans_done: a retransmission is in
// flight (not SACKed, not since marked lost), the tail loss probe's
// resend is unanswered, or the segment at SND.UNA was ever resent.
func (c *Conn) anyRetransDone() bool {
	q := c.tq
	if q == nil || q.n == 0 {
		return false
	}
	const tlpRtx = rkTLP | rkTLPRetrans
	return q.retrans > 0 || c.rack.flags&tlpRtx == tlpRtx || q.at(0).mark&sbEverRetrans != 0
}

// forgetRtxStamp ends the episode's stamp when nothing retransmitted is
// outstanding: the next retransmission starts a new budget.
func (c *Conn) forgetRtxStamp() {
	if !c.anyRetransDone() {
		c.rtxStamp = never
	}
}

// rtxStart is when the budget's clock started: the stamp, or without
// one the head's latest transmission (Linux tcp_retransmit_timer's
// rtx_delta: retrans_stamp ?: the skb's timestamp).
func (c *Conn) rtxStart() clock.Time {
	if c.rtxStamp != never || c.tq == nil || c.tq.n == 0 {
		return c.rtxStamp
	}
	return c.tq.at(0).sentAt
}

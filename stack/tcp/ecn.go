package tcp

// Explicit Congestion Notification (RFC 3168) with Linux's tcp_ecn
// semantics: 0 off; 1 request ECN on active opens and accept it on passive
// ones; 2 (Linux's default) accept it when the peer requests it, never
// request. An ECN connection sends its new data as ECT(0) (not
// retransmissions, not pure ACKs: §6.1.5, as Linux's tcp_ecn_send); a CE
// mark received is echoed with ECE on every segment until the peer's CWR
// (§6.1.3); an ECE received reduces the congestion window once per window
// of data (§6.1.2, the same RFC 6582 recover point as a loss) and the next
// new data carries CWR. The ECN setup of a SYN answered with a SYN cookie
// is kept in the cookie's timestamp (syncookie's ECN bit). AccECN is not
// implemented.

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// ecnSetup is the flag pair of an ECN-setup SYN (RFC 3168 §6.1.1).
const ecnSetup = wire.FlagECE | wire.FlagCWR

// ecnSynAccepted reports whether a passive open takes the ECN setup of
// syn (tcp_ecn 1 or 2).
func (l *Layer) ecnSynAccepted(syn *Segment) bool {
	return l.cfg.ECN >= 1 && syn.Flags&ecnSetup == ecnSetup
}

// ecnNegotiate decides ECN from the peer's SYN (passive) or SYN-ACK
// (active): an ECN-setup SYN, or an ECN-setup SYN-ACK (ECE without CWR)
// answering ours. An active open whose SYN timed out keeps the CWR its
// timeouts queued (onSynTimer): measured on Linux 6.18
// (xdptcp/ecn-syn-fallback), the first data after two SYN timeouts and
// an ECN-setup SYN-ACK carries CWR.
func (c *Conn) ecnNegotiate(seg *Segment, active bool) {
	cwr := c.flags & fCWRPending
	c.flags &^= fECN | fECEPending | fCWRPending
	switch {
	case !active && c.layer.ecnSynAccepted(seg):
		c.flags |= fECN
	case active && c.layer.cfg.ECN == 1 && seg.Flags&ecnSetup == wire.FlagECE:
		c.flags |= fECN | cwr
	}
}

// ecnSynFlags returns the ECN flags of our SYN (ECE|CWR with tcp_ecn 1)
// or SYN-ACK (ECE when ECN was agreed). A resent SYN asks for no ECN
// with tcp_ecn_fallback (RFC 3168 §6.1.1.1: the first may have been
// dropped for its ECN bits; Linux tcp_ecn_clear_syn); the answer still
// decides (ecnNegotiate), as Linux's tcp_ecn_rcv_synack. A SYN-ACK keeps
// ECE when resent. Measured on Linux 6.18 (xdptcp/ecn-syn-fallback):
// SYNs at 1 and 3 s without ECE and CWR; SYN-ACKs resent with ECE.
func (c *Conn) ecnSynFlags(active, rtx bool) wire.TCPFlags {
	cfg := &c.layer.cfg
	switch {
	case active && cfg.ECN == 1 && !(rtx && cfg.ECNFallback):
		return ecnSetup
	case !active && c.flags&fECN != 0:
		return wire.FlagECE
	}
	return 0
}

// ecnInput is the receiver's side for an acceptable segment: CWR stops
// the echo, CE (re)starts it. The first CE-marked data of an episode
// (no echo pending yet) has it and the next segment ACKed at once, so a
// sender with a small window learns of the congestion without waiting
// for our delayed ACK (Linux tcp_data_ecn_check: tcp_enter_quickack_mode
// with 2 when TCP_ECN_DEMAND_CWR is not set yet; ecn-ce-quickack).
func (c *Conn) ecnInput(seg *Segment) {
	if seg.Flags&wire.FlagCWR != 0 {
		c.flags &^= fECEPending
	}
	if seg.ECN == ECNCE {
		if len(seg.Payload) > 0 && c.flags&fECEPending == 0 {
			c.enterQuickAckMode(2)
		}
		c.flags |= fECEPending
	}
}

// ecnOnAck is the sender's response to an ACK with ECE (RFC 3168 §6.1.2,
// Linux tcp_enter_cwr): a cwnd reduction as for a loss, once per window
// (not again until SND.UNA passes the recover point, nor during a
// recovery): the controller sets ssthresh and PRR brings cwnd down to it
// over the window's ACKs, from this one on, as in fast recovery. Linux's
// CWR state has run tcp_cwnd_reduction since 3.7: in
// cwnd-moderation-ecn-enter-cwr-no-moderation-700, Linux 6.18 has cwnd 5
// after the ECE with 3 of 4 segments in flight and ssthresh 7, where
// xdptcp used to set cwnd to ssthresh at once. cwnd does not grow until
// the reduction ends; the next new data segment carries CWR. An ACK that
// leaves nothing in flight leaves nothing for PRR to pace: cwnd is
// ssthresh at once. A reduction the peer asked for cannot be undone
// (Linux tcp_enter_cwr clears undo_marker). It reports whether it
// reduced.
func (c *Conn) ecnOnAck(now clock.Time) bool {
	if c.flags&(fInRecovery|fInCWR) != 0 || c.sndUna.LessThan(c.recover) {
		return false
	}
	c.initCwndReduction(now)
	c.endUndo()
	if c.undoSaved() {
		c.sx.undo.valid = false
	}
	c.flags |= fCWRPending | fInCWR
	c.layer.stats.TCPECNReduce.Add(1)
	return true
}

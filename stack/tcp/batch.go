package tcp

// Receive batches: GRO-like coalescing in the loop (issue 16 item 3).
//
// The engine hands the TCP layer the segments of one RX batch with
// InputBatch and ends the batch with EndBatch. Each segment moves its
// connection's state at once (sequence space, scoreboard, reassembly,
// the application's OnData), but what the connection sends in answer
// waits for the batch's end: one ACK decision per connection for all its
// segments of the batch, made with Linux's rule for a GRO-coalesced
// segment (__tcp_ack_snd_check: at once in quick-ACK mode, for a filled
// hole, or when more than one full-sized segment is unacknowledged, RFC
// 9293 §3.8.6.3, and the application took it, so the window moves on;
// for out-of-order data at once or compressed, compack.go; else the
// delayed-ACK timer or the application's read, which also ACKs data that
// ended a write, readAck), and one transmit
// round (trySend) in which data the application wrote from its
// callbacks carries that ACK. Twenty in-order segments of a bulk sender
// in one batch get one ACK, not ten; under loss, twenty out-of-order
// segments one ACK with their SACK blocks, not twenty.
//
// What answers one particular segment still goes at once: duplicates
// (D-SACK), out-of-window segments, challenge ACKs, RSTs, and
// out-of-order segments of a connection without SACK, whose sender counts
// duplicate ACKs (RFC 5681 §3.2).

import "github.com/xdptcp/xdptcp/stack/clock"

// maxPending bounds the layer's pending list: with more connections than
// this in one batch, the earlier ones get their output early (nothing is
// lost, only less is coalesced).
const maxPending = 256

// schedule puts c on the layer's pending list: its output for the
// current batch is made by EndBatch.
func (c *Conn) schedule() {
	if c.flags&fPending != 0 {
		return
	}
	l := c.layer
	if len(l.pending) == cap(l.pending) {
		l.EndBatch(l.now)
	}
	c.flags |= fPending
	l.pending = append(l.pending, c)
}

// inQuickAck reports quick-ACK mode: quick ACKs left, not in pingpong
// mode (Linux tcp_in_quickack_mode).
func (c *Conn) inQuickAck() bool { return c.quickAcks > 0 && !c.inPingpong() }

// fullSegmentsOwed reports that more than one full-sized segment of the
// peer's is unacknowledged (RFC 9293 §3.8.6.3: ACK at least every second
// one; Linux compares with icsk_ack.rcv_mss, the size it measured).
func (c *Conn) fullSegmentsOwed() bool { return int(c.rcvNxt.Sub(c.rcvWup)) > int(c.rcvEstMSS) }

// EndBatch ends a batch of received segments (InputBatch): every
// connection they touched makes its ACK decision and sends what became
// sendable.
func (l *Layer) EndBatch(now clock.Time) {
	l.now = now
	for i := 0; i < len(l.pending); i++ {
		c := l.pending[i]
		l.pending[i] = nil
		c.flags &^= fPending
		c.endBatch(now)
	}
	l.pending = l.pending[:0]
}

// endBatch is the ACK policy for the data c received in the batch (Linux
// __tcp_ack_snd_check), then finish: new data (carrying the ACK when
// there is any), the delayed-ACK timer for an ACK still owed, timers.
func (c *Conn) endBatch(now clock.Time) {
	ackNow := c.flags&fAckNow != 0
	c.flags &^= fAckNow
	if c.flags&fGone != 0 {
		return
	}
	if c.ackOwed > 0 && c.ackNowOrHeld(now, ackNow) {
		c.sendAckAfterApp(now)
	}
	c.finish(now)
}

// ackNowOrHeld is __tcp_ack_snd_check's decision for an ACK owed at the
// batch's end: whether it goes now, or waits (the delayed-ACK timer, set
// by finish, or the compressed SACK's, compack.go).
func (c *Conn) ackNowOrHeld(now clock.Time, ackNow bool) bool {
	switch {
	case ackNow || c.inQuickAck() || c.fullSegmentsOwed() && c.windowKeepsUp():
		return true
	case c.oooActive():
		return !c.compressAck(now)
	default:
		// ato 0: no data received yet, so Linux's delayed-ACK timeout
		// is 0, its next jiffy (tcp_send_delayed_ack); ours is the
		// batch's end, after the application's callbacks
		// (fin-ack-no-data).
		return c.ato == 0
	}
}

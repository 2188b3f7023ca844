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
// hole or out-of-order data, or when more than one full-sized segment is
// unacknowledged, RFC 9293 §3.8.6.3; else the delayed-ACK timer), and one
// transmit round (trySend) in which data the application wrote from its
// callbacks carries that ACK. Twenty in-order segments of a bulk sender
// in one batch get one ACK, not ten; under loss, twenty out-of-order
// segments one ACK with their SACK blocks, not twenty.
//
// What answers one particular segment still goes at once: duplicates
// (D-SACK), out-of-window segments, challenge ACKs, RSTs, and
// out-of-order segments of a connection without SACK, whose sender counts
// duplicate ACKs (RFC 5681 §3.2).

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

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
	ofo := 0 // out-of-order segments of a SACK connection in this batch
	if c.ooo != nil {
		ofo, c.ooo.batchSegs = int(c.ooo.batchSegs), 0
	}
	if c.ackOwed > 0 {
		switch {
		case ackNow || c.quickAcks > 0 || int(c.rcvNxt.Sub(c.rcvWup)) > int(c.rcvEstMSS):
			if c.quickAcks > 0 {
				c.quickAcks--
			}
			c.sendAckAfterApp(now)
		case ofo > 0 && !c.compressSACK(now, ofo):
			c.sendAckAfterApp(now)
		}
	}
	c.finish(now)
}

// sackComp is the state of SACK compression, Linux's since 4.18
// (__tcp_ack_snd_check, tcp_compressed_ack_kick): while out-of-order data
// is held, the first three ACKs for an RCV.NXT go at once, so the sender's
// DupThresh (RFC 5681 §3.2, RFC 6675) is met as promptly as without
// compression; after them, the ACKs that out-of-order segments call for
// are held back, up to tcp_comp_sack_nr of them, for at most
// min(tcp_comp_sack_delay_ns, SRTT/20), and one ACK with the latest SACK
// blocks replaces them. A sender that keeps its rate through random loss
// (BBR) would otherwise get an ACK per receive batch, each a TX kick here
// and an interrupt and a SACK walk at the sender, for news that the next
// one repeats. Any ACK sent for another reason (a filled hole, data, two
// full segments in order, sackRoomFor) ends the compression.
type sackComp struct {
	at        clock.Time   // when the held-back ACK goes (never: none held)
	rcvNxt    seqnum.Value // RCV.NXT that dupAcks counts ACKs for
	held      uint16       // out-of-order segments whose ACK is held back, <= tcp_comp_sack_nr
	batchSegs uint16       // out-of-order segments in the current receive batch
	dupAcks   uint8        // ACKs sent at once for rcvNxt, <= compDupAcks
}

// compDupAcks is the number of ACKs for an RCV.NXT that always go at once
// (Linux TCP_FASTRETRANS_THRESH).
const compDupAcks = 3

// compressSACK decides for n out-of-order segments of a batch whose ACK
// is due: it reports true when the ACK is held back (Linux
// __tcp_ack_snd_check's SACK compression; the batch counts as one ACK
// for the first three, as n segments towards tcp_comp_sack_nr).
func (c *Conn) compressSACK(now clock.Time, n int) bool {
	q := c.ooo
	nr := c.layer.cfg.CompSackNr
	if nr <= 0 || !c.oooActive() {
		return false
	}
	if q.rcvNxt != c.rcvNxt {
		q.rcvNxt, q.dupAcks = c.rcvNxt, 0
	}
	if q.dupAcks < compDupAcks {
		q.dupAcks++
		return false
	}
	if int(q.held)+n > nr {
		return false
	}
	q.held += uint16(n)
	if q.at == never {
		d := time.Duration(c.layer.cfg.CompSackDelayNs)
		if c.rtt.has {
			d = min(d, c.rtt.srtt/20)
		}
		q.at = now.Add(d)
	}
	return true
}

// sackCompAt is the deadline of a held-back ACK (never if none).
func (c *Conn) sackCompAt() clock.Time {
	if c.ooo == nil {
		return never
	}
	return c.ooo.at
}

// onSackCompTimer sends the held-back ACK (Linux tcp_compressed_ack_kick);
// it is one of those held, so one fewer counts as compressed.
func (c *Conn) onSackCompTimer(now clock.Time) {
	q := c.ooo
	q.at = never
	if c.ackOwed > 0 && q.held > 0 && c.state.synchronized() {
		q.held--
		c.sendAck(now)
	}
}

// ackSent ends the compression when any ACK goes: the ACKs held back are
// counted as saved (TCPAckCompressed).
func (q *oooQueue) ackSent(st *Stats) {
	if q.held > 0 {
		st.TCPAckCompressed.Add(uint64(q.held))
		q.held = 0
	}
	q.at = never
}

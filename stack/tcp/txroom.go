package tcp

// Room to transmit. A data segment the output cannot take for lack of
// room (the engine: no free TX frame, all of them queued for the kernel)
// is not sent: the connection checks for room before it commits the
// segment (sequence space, scoreboard record, timers), stops its
// transmission round, and waits on the layer's txBlocked list until the
// engine calls ResumeTx, after its next kick has given frames back. So a
// burst larger than the TX frames (a window update or a recovery's end
// that opens thousands of segments at once) waits in the send queue as
// in Linux, where tcp_write_xmit stops when tcp_transmit_skb fails and
// TCP Small Queues defers the socket until its packets have left the
// host (tcp_tsq_handler). Before, the segment counted as sent, was lost
// on the host, and was recovered as a network loss: a cwnd reduction for
// every exhausted burst (8,834 of a 64 MiB download's 46,000 segments
// through the bridge at 40 ms, TestKernelHugeBuffers).

import "github.com/xdptcp/xdptcp/stack/clock"

// TxRoomer is implemented by an Output whose room to transmit can run
// out. TxRoom reports whether it can take one more segment now; while it
// reports true, the next SendTCP does not fail for lack of room.
type TxRoomer interface {
	TxRoom() bool
}

// txRoom reports whether the output can take a segment.
func (l *Layer) txRoom() bool { return l.roomer == nil || l.roomer.TxRoom() }

// txWait says what a connection on the txBlocked list waits to send.
type txWait uint8

const (
	txWaitData txWait = 1 << iota // a data segment (new or retransmitted): a transmission round
	txWaitAck                     // a pure ACK, unless a segment of the round carried it
)

// blockTx puts c on the txBlocked list (once) waiting for w.
func (c *Conn) blockTx(w txWait) {
	if c.txWait == 0 {
		c.layer.txBlocked = append(c.layer.txBlocked, c)
	}
	c.txWait |= w
}

// TxBlocked reports whether connections wait for room to transmit.
func (l *Layer) TxBlocked() bool { return len(l.txBlocked) > 0 }

// ResumeTx gives the connections that waited for room to transmit what
// they waited for, oldest first, while there is room: a transmission
// round, and the ACK if no segment of it carried one. Those that run out
// of room again wait for the next call. It reports whether any
// connection was resumed.
func (l *Layer) ResumeTx(now clock.Time) bool {
	l.now = now
	wait := l.txBlocked
	l.txBlocked = l.txSpare[:0]
	resumed := false
	for i, c := range wait {
		wait[i] = nil
		w := c.txWait
		if w == 0 {
			continue // gone (teardown), or its slot holds a new connection since
		}
		if !l.txRoom() {
			l.txBlocked = append(l.txBlocked, c) // still waiting, order kept
			continue
		}
		c.txWait = 0
		resumed = true
		out := l.stats.OutSegs.Load() + l.stats.RetransSegs.Load()
		if w&txWaitData != 0 {
			c.trySend(now)
		}
		if w&txWaitAck != 0 && l.stats.OutSegs.Load()+l.stats.RetransSegs.Load() == out {
			c.sendAck(now)
		}
	}
	l.txSpare = wait[:0]
	return resumed
}

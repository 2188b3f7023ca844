package tcp

// SACK compression (Linux 4.20+, __tcp_ack_snd_check and
// tcp_compressed_ack_kick): while out-of-order data is held, the first
// three ACKs for a hole go at once, so the sender's duplicate-ACK count
// and RACK see the loss as soon as without compression; the ACKs that
// follow for the same RCV.NXT are held and sent as one, carrying the
// newest SACK blocks, 5% of the RTT after the first of them
// (tcp_comp_sack_delay_ns, 1 ms, at most), or at once after
// tcp_comp_sack_nr (44) of them. Any ACK sent meanwhile (new data at
// RCV.NXT, a D-SACK, a reply) stands for the held ones, counted in
// TCPAckCompressed as the ACKs not sent. A sender in recovery then gets
// one ACK per millisecond instead of one per segment, as from Linux.
//
// Measured on Linux 6.18 (xdptcp/sack-compress, 100 ms RTT): after a
// hole, of twelve segments the first three draw an ACK each and the
// other nine one ACK 1.1 ms after the fourth (its timer's slack is 100
// µs), TCPAckCompressed 8; segments 3 ms apart each draw one ACK 1.1 ms
// after them.
//
// xdptcp's timers have a 1 ms tick (timer.Tick): the held ACK goes up to
// one tick after its time, and an ACK that would be held less than a tick
// (an RTT under 20 ms with the default, or no RTT measured yet) is sent
// at once, as before compression: a millisecond's wait on a path of
// 100 µs would starve its sender's recovery.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/timer"
)

// compressAck is the out-of-order branch of the batch's ACK decision,
// for an ACK owed while out-of-order data is held and nothing else asks
// it to go now: it reports whether the ACK is held for the compressed
// SACK (until delackAt), or must go now.
func (c *Conn) compressAck(now clock.Time) bool {
	cfg := &c.layer.cfg
	if c.flags&fSackOK == 0 || int(c.compHeld) >= cfg.CompSackNr {
		return false
	}
	if c.compNxt != c.rcvNxt {
		c.compNxt = c.rcvNxt
		c.compDups = 0
	}
	if c.compDups < dupAckThreshold {
		c.compDups++
		return false
	}
	if c.compHeld == 0 {
		d := c.compDelay()
		if d < timer.Tick {
			return false
		}
		// The ACK owed goes at the earlier of this and its delayed-ACK
		// time (one deadline, delackAt: an ACK sent clears both).
		c.delackAt = min(c.delackAt, now.Add(d))
	}
	c.compHeld++
	return true
}

// dupAckThreshold is Linux's TCP_FASTRETRANS_THRESH: the ACKs for one
// hole that are never held, so that a sender counting duplicate ACKs
// (RFC 5681 §3.2) enters recovery as soon as without compression.
const dupAckThreshold = 3

// compDelay is how long a compressed SACK waits: 5% of the RTT, the
// receiver's estimate or the smoothed RTT if that is smaller (the
// receiver's is 0 before its first sample), at most
// tcp_comp_sack_delay_ns.
func (c *Conn) compDelay() time.Duration {
	rtt := c.rrtt.rtt()
	if c.rtt.has && c.rtt.srtt > 0 && c.rtt.srtt < rtt {
		rtt = c.rtt.srtt
	}
	return min(time.Duration(c.layer.cfg.CompSackDelayNs), rtt/20)
}

// sendHeldAck sends the ACK owed now, and if compression held ACKs (their
// time came, or a SACK block is about to be forgotten), it is one of
// them: one fewer counts as not sent (Linux tcp_compack_timer_handler,
// tcp_sack_compress_send_ack).
func (c *Conn) sendHeldAck(now clock.Time) {
	if c.compHeld > 0 {
		c.compHeld--
	}
	c.sendAck(now)
}

// ackSentUnheld is called for every ACK sent (which also stops the
// compressed SACK's timer, delackAt): it stands for the ACKs compression
// held, counted as not sent (Linux tcp_event_ack_sent).
func (c *Conn) ackSentUnheld() {
	if c.compHeld > 0 {
		c.layer.stats.TCPAckCompressed.Add(uint64(c.compHeld))
		c.compHeld = 0
	}
}

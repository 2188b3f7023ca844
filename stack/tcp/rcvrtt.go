package tcp

// The receiver's RTT estimate (Linux rcv_rtt_est, net/ipv4/tcp_input.c
// tcp_rcv_rtt_measure, tcp_rcv_rtt_measure_ts, tcp_rcv_rtt_update; the
// Dynamic Right-Sizing of Fisk and Feng). A connection that only receives
// sends no data to time, so its SRTT is the handshake's and stays so
// however the path changes; receive-buffer autotuning measures what the
// application took over this estimate instead, and TCP_INFO reports it as
// tcpi_rcv_rtt. Two kinds of sample:
//
//   - Per window, always: the time from one in-order arrival until RCV.NXT
//     has moved a whole advertised window past it. It is an upper bound
//     (the sender may have been slow to fill the window), so it only
//     lowers the estimate.
//   - From timestamps: a full-sized segment whose TSecr is new echoes the
//     TSval of the ACK it answers, so now - TSecr is a round trip. These
//     move the estimate both ways, by 1/8 of each sample upward, and
//     upward only while the application has read everything received.
//
// The estimate is in microseconds times 8, as Linux keeps it.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// rcvRTTEst is the estimate and its per-window measurement.
type rcvRTTEst struct {
	at   clock.Time   // start of the per-window measurement; never: none yet
	seq  seqnum.Value // the measurement ends when RCV.NXT reaches it
	rtt8 uint32       // estimate in microseconds << 3; 0: no sample yet
}

// rcvRTTMax bounds a sample (about 8.9 minutes, so that << 3 fits 32 bits).
const rcvRTTMax = 1<<29 - 1

// rtt returns the estimate (0: none yet).
func (r *rcvRTTEst) rtt() time.Duration {
	return time.Duration(r.rtt8>>3) * time.Microsecond
}

// update is tcp_rcv_rtt_update: a sample below the estimate replaces it;
// a larger one is averaged in (7/8 old, 1/8 new) only if mayRaise. A
// per-window sample only bounds from above, and Linux 6.18 takes no
// larger sample while the receive queue holds bytes the application has
// not read (a00f135cd986: a slow reader must not inflate the estimate,
// and with it the buffer autotuning gives).
func (r *rcvRTTEst) update(sample time.Duration, mayRaise bool) {
	us := uint32(min(max(sample.Microseconds(), 1), rcvRTTMax))
	m := us << 3
	switch {
	case r.rtt8 == 0 || m < r.rtt8:
		r.rtt8 = m
	case mayRaise:
		r.rtt8 = r.rtt8 - r.rtt8>>3 + us
	}
}

// rcvRTTMeasure is tcp_rcv_rtt_measure for in-order data that moves
// RCV.NXT to end: it closes the measurement once a whole window arrived
// after its start, and starts the next one, to end one advertised window
// (rcv_wnd: what the last ACK offered past its RCV.NXT) beyond end.
func (c *Conn) rcvRTTMeasure(now clock.Time, end seqnum.Value) {
	r := &c.rrtt
	if r.at != never {
		if end.LessThan(r.seq) {
			return
		}
		r.update(now.Sub(r.at), false)
	}
	r.seq = end.Add(c.rcvAdv.Sub(c.rcvWup))
	r.at = now
}

// rcvRTTMeasureTS is tcp_rcv_rtt_measure_ts for a segment on an
// ESTABLISHED connection: the first segment with a new TSecr samples the
// round trip if it is full-sized (icsk_ack.rcv_mss); one within the same
// millisecond gives no sample. As for the sender's RTT (onNewAck), not
// when the layer keeps an owner id in its TSvals' low bits.
func (c *Conn) rcvRTTMeasureTS(now clock.Time, seg *Segment) {
	if c.flags&fTS == 0 || !seg.Opts.HasTimestamp || seg.Opts.TSEcr == c.rcvRTTEcr || c.layer.ownMask != 0 {
		return
	}
	c.rcvRTTEcr = seg.Opts.TSEcr
	if len(seg.Payload) < int(c.rcvEstMSS) {
		return
	}
	if ms := int32(c.tsVal(arrival(now, seg)) - seg.Opts.TSEcr); ms > 0 {
		c.rrtt.update(time.Duration(ms)*time.Millisecond, c.rcvBuf.Len() == 0)
	}
}

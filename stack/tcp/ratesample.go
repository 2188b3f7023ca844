package tcp

// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02;
// Linux tcp_rate.c): each ACK yields a sample of the rate at which the
// network delivered the most recent flight, (d1 - d0) / (t1 - t0), where
// d0 and t0 are the connection's delivered count and time recorded in a
// segment's scoreboard record when it was sent, and d1 and t1 those at
// the ACK that delivers it. The interval is the larger of the send and
// the ACK intervals, so compressed or stretched ACKs do not inflate it
// (§2.2). A sample is marked application-limited when the sender ran out
// of data before the flight it measures was sent (§3.4), so a controller
// does not take it for the path's bandwidth.
//
// Every connection samples, as Linux does (tcp_rate_skb_sent,
// tcp_rate_skb_delivered, tcp_rate_gen): TCP_INFO's delivery_rate shows
// the latest sample whatever the congestion control. The per-connection
// state lives in BBR's state on BBR connections (bbr.go), which steers by
// it, and in the out-of-line send state on the others (sendext.go, from
// the first write: a connection that never wrote sends no data to
// sample); the per-segment fields live in the scoreboard records
// (scoreboard.go). Bytes, not packets: C.delivered counts sequence space
// delivered, SACKed included.

import (
	"math"
	"math/bits"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// rater returns the connection's delivery-rate sampler: BBR's, else the
// send side's; nil before the connection's first write.
func (c *Conn) rater() *rateSampler {
	if b := c.rateCtl(); b != nil {
		return &b.rs
	}
	if c.sx != nil {
		return &c.sx.rate
	}
	return nil
}

// rateStartLimited is C.app_limited of a new sampler: what it sends
// before its first delivery is application-limited (Linux tcp_init_sock
// sets app_limited to ~0U, which tcp_rate_gen's wrapping comparison
// takes as passed by the first delivery; here any delivery past the
// first byte passes it).
const rateStartLimited = 1

// rateSampler is the draft's per-connection state (§3.1, the C.* fields).
type rateSampler struct {
	delivered   uint64     // C.delivered: bytes delivered (cumulatively ACKed or SACKed), retransmissions included
	deliveredAt clock.Time // C.delivered_time: when delivered last grew
	firstTxAt   clock.Time // C.first_sent_time: send time of the newest record delivered, start of the next send interval
	appLimited  uint64     // C.app_limited: 0, or the delivered count that ends the current application-limited phase

	// The latest sample kept for TCP_INFO (Linux rate_delivered,
	// rate_interval_us, rate_app_limited): an application-limited sample
	// replaces it only if its rate is not lower.
	lastDelivered  uint64
	lastInterval   time.Duration
	lastAppLimited bool
}

// rateSample is one ACK's sample (the draft's rs), built on the stack
// while the ACK is processed.
type rateSample struct {
	has         bool          // a record with rate fields was delivered: prior* are valid
	appLimited  bool          // rs.is_app_limited: the newest record delivered was sent application-limited
	valid       bool          // the sample is usable: rate is set (GenerateRateSample returned true)
	prior       uint64        // rs.prior_delivered: P.delivered of the newest record delivered
	priorAt     clock.Time    // rs.prior_time: its P.delivered_time
	sendElapsed time.Duration // rs.send_elapsed
	ackElapsed  time.Duration // rs.ack_elapsed
	newestAt    clock.Time    // the newest record's send time, SND.NXT then and end (the draft's IsNewestPacket)
	newestNxt   seqnum.Value
	newestEnd   seqnum.Value
	delivered   uint64        // rs.delivered: bytes delivered over the interval
	interval    time.Duration // rs.interval
	rate        uint64        // rs.delivery_rate in bytes per second, when valid
	rtt         time.Duration // RTT of the newest record delivered that was never retransmitted; 0: none (Linux rs->rtt_us)
	acked       int           // bytes of records this ACK newly delivered, ACKed or SACKed (Linux rs->acked_sacked)
}

// onSend is the draft's SendPacket (§3.2) for record s, just sent or sent
// again at now; idle says nothing was in flight before it, so the
// delivered time is restarted (the connection is starting or was idle).
func (r *rateSampler) onSend(now clock.Time, s *txSeg, idle bool) {
	if idle {
		r.firstTxAt, r.deliveredAt = now, now
	}
	s.delivered, s.deliveredAt, s.firstTxAt = r.delivered, r.deliveredAt, r.firstTxAt
	s.mark |= sbRated
	if r.appLimited != 0 {
		s.mark |= sbAppLimited
	} else {
		s.mark &^= sbAppLimited
	}
}

// onDelivered is the draft's UpdateRateSample (§3.3) for record s, newly
// cumulatively acknowledged or SACKed at now (the scoreboard calls it
// once per record: a SACKed record is not delivered again by the
// cumulative ACK).
func (r *rateSampler) onDelivered(now clock.Time, s *txSeg, rs *rateSample) {
	r.delivered += uint64(s.len)
	r.deliveredAt = now
	rs.acked += int(s.len)
	if s.mark&sbEverRetrans == 0 {
		if rtt := max(now.Sub(s.sentAt), time.Microsecond); rs.rtt == 0 || rtt < rs.rtt {
			rs.rtt = rtt // the newest segment gives the smallest
		}
	}
	if s.mark&sbRated == 0 {
		return
	}
	if rs.has && !(rs.prior < s.delivered || (rs.prior == s.delivered &&
		sentAfter(s.sentAt, s.nxt, s.end(), rs.newestAt, rs.newestNxt, rs.newestEnd))) {
		return // not the newest record this ACK delivered
	}
	rs.has = true
	rs.prior = s.delivered
	rs.priorAt = s.deliveredAt
	rs.appLimited = s.mark&sbAppLimited != 0
	rs.sendElapsed = s.sentAt.Sub(s.firstTxAt)
	rs.ackElapsed = now.Sub(s.deliveredAt)
	rs.newestAt, rs.newestNxt, rs.newestEnd = s.sentAt, s.nxt, s.end()
	r.firstTxAt = s.sentAt
}

// generate is the draft's GenerateRateSample (§3.3) once an ACK's records
// were all delivered: the interval is the longer of the send and ACK
// intervals, and a sample over less than the minimum RTT is discarded
// (ACK compression or a spurious retransmission made it too short).
func (r *rateSampler) generate(rs *rateSample, minRTT time.Duration) {
	if r.appLimited != 0 && r.delivered > r.appLimited {
		r.appLimited = 0 // the application-limited bubble was delivered
	}
	if !rs.has || rs.prior > r.delivered {
		return // nothing with rate fields delivered (or fields from an earlier controller)
	}
	rs.interval = max(rs.sendElapsed, rs.ackElapsed)
	rs.delivered = r.delivered - rs.prior
	if rs.interval <= 0 || rs.interval < minRTT {
		return
	}
	rs.rate = mulDiv(rs.delivered, uint64(time.Second), uint64(rs.interval))
	rs.valid = true
	// Linux tcp_rate_gen: keep what TCP_INFO shows unless the sample is
	// application-limited and slower than the last one.
	if !rs.appLimited || r.lastInterval == 0 ||
		mulDiv(rs.delivered, uint64(r.lastInterval), 1) >= mulDiv(r.lastDelivered, uint64(rs.interval), 1) {
		r.lastDelivered, r.lastInterval, r.lastAppLimited = rs.delivered, rs.interval, rs.appLimited
	}
}

// lastRate returns the kept sample's rate in bytes per second (Linux
// tcpi_delivery_rate) and whether it was application-limited.
func (r *rateSampler) lastRate() (uint64, bool) {
	if r.lastInterval <= 0 {
		return 0, false
	}
	return mulDiv(r.lastDelivered, uint64(time.Second), uint64(r.lastInterval)), r.lastAppLimited
}

// checkAppLimited is the draft's CheckIfApplicationLimited (§3.4), after
// a transmit opportunity: less than a segment of data is waiting, cwnd
// is not full and every lost segment was retransmitted, so the flight
// now in the network is smaller than the controller allowed. Samples
// until it is delivered are application-limited.
func (c *Conn) checkAppLimited(r *rateSampler) {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	unsent := 0
	if c.sndNxt.LessThan(dataEnd) {
		unsent = int(dataEnd.Sub(c.sndNxt))
	}
	pipe := c.pipe()
	if unsent >= c.mss || pipe >= c.cc.window() {
		return
	}
	if q := c.tq; q != nil && q.lost > q.retrans {
		return
	}
	r.appLimited = max(r.delivered+uint64(pipe), 1)
}

// mulDiv returns a*b/d without overflowing in the product; a quotient
// beyond 64 bits (or d == 0) saturates.
func mulDiv(a, b, d uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if d == 0 || hi >= d {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, d)
	return q
}

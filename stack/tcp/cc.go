package tcp

// Congestion control (RFC 5681) behind a small interface: NewReno,
// CUBIC (RFC 9438, Linux's default) and BBR v1 (bbr.go), chosen by
// tcp_congestion_control or per connection (SetCongestionControl, Linux's
// TCP_CONGESTION socket option).

import (
	"math"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// congestionControl decides the congestion window of one connection.
// Fast-recovery window inflation (RFC 6582) is done by the sender through
// setWindow.
type congestionControl interface {
	// window returns cwnd in bytes.
	window() int
	// setWindow sets cwnd (recovery inflation and deflation).
	setWindow(w int)
	// onAck is called for an ACK that newly acknowledged acked bytes
	// outside recovery.
	onAck(now clock.Time, acked, mss int, srtt time.Duration)
	// onRTO is called when the retransmission timer expires with flight
	// bytes outstanding (RFC 5681 (4)). reduced says ssthresh was cut
	// already in this window (a repeated timeout, or one in fast
	// recovery): it is held (Linux tcp_enter_loss; RFC 5681 (4)'s note).
	onRTO(now clock.Time, flight, mss int, reduced bool)
	// onLoss is called on entering fast recovery; it sets ssthresh.
	onLoss(now clock.Time, flight, mss int)
	// ssthreshBytes returns the slow-start threshold in bytes.
	ssthreshBytes() int
	// restart sets cwnd and ssthresh for a sender that was idle
	// (tcp_slow_start_after_idle).
	restart(cwnd, ssthresh int, now clock.Time)
	// name is the tcp_congestion_control spelling Linux reports.
	name() string
}

// initialWindowSegments is RFC 6928's IW of 10 segments (Linux
// TCP_INIT_CWND).
const initialWindowSegments = 10

// initCC picks and starts the congestion controller: the connection's
// own choice (SetCongestionControl, or its listener's) if it made one,
// else tcp_congestion_control. A BBR connection that already runs BBR
// keeps its state (allocated once, when it started).
func (c *Conn) initCC(mss int) {
	c.recover = c.sndUna // RFC 6582 §3.2 step 1: recover starts at the ISS
	c.rack.fack = c.sndUna
	name := c.layer.cfg.CongestionControl
	if c.cc != nil {
		name = c.cc.name()
	}
	c.startCC(name, initialWindowSegments*mss, mss)
}

// startCC starts controller name with a window of cwnd bytes.
func (c *Conn) startCC(name string, cwnd, mss int) {
	switch name {
	case "bbr":
		if b := c.rateCtl(); b != nil {
			b.cwnd = max(cwnd, 1)
			return
		}
		c.cc = newBBR(c, cwnd)
	case "cubic":
		c.cubic.init(mss)
		c.cubic.cwnd = max(cwnd, 1)
		c.cc = &c.cubic
	default:
		c.cubic.newReno.init(mss)
		c.cubic.cwnd = max(cwnd, 1)
		c.cc = &c.cubic.newReno
	}
}

// SetCongestionControl switches the connection to congestion control
// name (one of tcp_congestion_control's values), as Linux's
// TCP_CONGESTION socket option: before the handshake it applies from the
// start; later the new controller starts from the current window (Linux
// tcp_reinit_congestion_control). BBR's state is allocated here, once.
func (c *Conn) SetCongestionControl(name string) error {
	if !validCongestionControl(name) {
		return ErrBadCongestionControl
	}
	if c.flags&fGone != 0 {
		return nil
	}
	if c.cc != nil && canonicalCC(c.cc.name()) == canonicalCC(name) {
		return nil
	}
	cwnd := initialWindowSegments * max(c.mss, 1)
	ss := ssthreshInfinite
	if c.cc != nil && c.state.synchronized() {
		cwnd, ss = c.cc.window(), c.cc.ssthreshBytes()
	}
	c.startCC(canonicalCC(name), cwnd, max(c.mss, 1))
	if ss != ssthreshInfinite && c.rateCtl() == nil {
		c.cubic.ssthresh = ss
	}
	return nil
}

// canonicalCC maps the names one controller answers to ("newreno" and
// "reno") to one.
func canonicalCC(name string) string {
	if name == "newreno" {
		return "reno"
	}
	return name
}

// rateCtl returns the connection's BBR if it runs BBR, else nil. BBR sets
// cwnd and the pacing rate itself from each ACK's rate sample, where
// Linux calls a controller's cong_control hook: PRR, the cwnd growth of
// onAck, the end of a reduction at ssthresh and restart after idle do not
// apply to it.
func (c *Conn) rateCtl() *bbr {
	b, _ := c.cc.(*bbr)
	return b
}

// endCwndReduction ends a window reduction (recovery, ECN, a TLP that
// repaired a loss) at ssthresh: Linux tcp_end_cwnd_reduction, which does
// nothing for a controller with cong_control (BBR) or while ssthresh is
// still infinite.
func (c *Conn) endCwndReduction() {
	if c.rateCtl() != nil {
		return
	}
	if ss := c.cc.ssthreshBytes(); ss < ssthreshInfinite {
		c.cc.setWindow(ss)
	}
}

// newReno is RFC 5681 slow start and congestion avoidance; its recovery
// (RFC 6582) lives in the sender.
type newReno struct {
	cwnd     int // bytes; >= 1 MSS
	ssthresh int // bytes
	acc      int // bytes acknowledged in congestion avoidance since cwnd last grew
}

func (r *newReno) init(mss int) {
	r.cwnd = initialWindowSegments * mss
	r.ssthresh = ssthreshInfinite // RFC 5681 §3.1: arbitrarily high
	r.acc = 0
}

func (r *newReno) name() string       { return "reno" }
func (r *newReno) window() int        { return r.cwnd }
func (r *newReno) setWindow(w int)    { r.cwnd = max(w, 1) }
func (r *newReno) ssthreshBytes() int { return r.ssthresh }

// slowStart is RFC 5681's slow start as Linux's tcp_slow_start does it:
// cwnd grows by every byte acknowledged, up to ssthresh, without RFC
// 3465's per-ACK limit L (Linux dropped it with ABC in 3.8; a receiver
// that ACKs every fourth segment, or coalesces ACKs, is not held to a
// slower start: slow-start-ack-per-4pkt). It returns what is left of
// acked beyond ssthresh, for congestion avoidance.
func slowStart(cwnd *int, ssthresh, acked int) int {
	w := min(*cwnd+acked, ssthresh)
	acked -= w - *cwnd
	*cwnd = w
	return acked
}

func (r *newReno) onAck(now clock.Time, acked, mss int, srtt time.Duration) {
	if r.cwnd < r.ssthresh {
		if acked = slowStart(&r.cwnd, r.ssthresh, acked); acked == 0 {
			return
		}
	}
	// RFC 5681 (3): about one SMSS per RTT.
	r.acc += acked
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += mss
	}
}

func (r *newReno) onRTO(now clock.Time, flight, mss int, reduced bool) {
	if !reduced {
		r.ssthresh = r.renoSsthresh(mss)
	}
	r.cwnd = mss // loss window, one segment
	r.acc = 0
}

func (r *newReno) onLoss(now clock.Time, flight, mss int) {
	r.ssthresh = r.renoSsthresh(mss)
	r.cwnd = r.ssthresh
	r.acc = 0
}

// renoSsthresh is Linux's tcp_reno_ssthresh: half the congestion window
// in whole segments, at least two. RFC 5681 (4) halves the flight
// instead; the two differ when the sender was not cwnd-limited (after
// an RTO with one segment out, Linux's ssthresh is still half the
// window, not two segments).
func (r *newReno) renoSsthresh(mss int) int {
	return max(r.cwnd/mss/2, 2) * mss
}

// CUBIC as Linux 6.18's tcp_cubic.c computes it (RFC 9438's curve and
// Reno-friendly region, in Linux's integer arithmetic): the window in
// whole segments, time in jiffies of a HZ=250 kernel (this machine's;
// Debian's default), K and the curve in 1/1024 s, beta 717/1024, C
// 410/1024 (bic_scale 41), fast convergence and TCP friendliness on.
// Linux counts ACKed packets where xdptcp counts ACKed bytes: the counters
// (ack_cnt, snd_cwnd_cnt as newReno.acc) hold bytes and are compared with
// packet counts times the MSS, which is the same for full segments.
const (
	cubicHZ          = 250                                                                 // jiffies per second (CONFIG_HZ)
	cubicBetaScale   = 1024                                                                // BICTCP_BETA_SCALE
	cubicBeta        = 717                                                                 // beta: 717/1024, about 0.7
	cubicFriendScale = 8 * (cubicBetaScale + cubicBeta) / 3 / (cubicBetaScale - cubicBeta) // beta_scale: 15
	cubicRTTScale    = 41 * 10                                                             // cube_rtt_scale: bic_scale * 10
	cubicFactor      = (1 << 40) / 410                                                     // cube_factor: 2^(10+3*BICTCP_HZ) / cube_rtt_scale
	cubicMaxOffs     = 1 << 18                                                             // |t - K| in 1/1024 s beyond which the target is held (Linux's u64 product would wrap)
)

// cubic is Linux's CUBIC (struct bictcp): window growth as a cubic
// function of the time since the last reduction, with the Reno-friendly
// estimate, fast convergence, and Linux's HyStart in slow start.
//
// It embeds newReno for cwnd and ssthresh: a connection holds one cubic
// value and uses its newReno alone when tcp_congestion_control is newreno
// (one controller's state per connection, not one per algorithm).
type cubic struct {
	newReno            // cwnd and ssthresh, bytes; acc is Linux's snd_cwnd_cnt in bytes
	epoch   clock.Time // epoch_start: start of the current avoidance epoch; -1 if none
	cnt     uint32     // segments ACKed per cwnd increment
	lastMax uint32     // last_max_cwnd, segments: the window before the last reduction; 0 after a timeout or at the start
	lastCwn uint32     // last_cwnd, segments: the window of the last update
	lastJif uint32     // last_time, jiffies: when cnt was last computed
	origin  uint32     // bic_origin_point, segments
	k       uint32     // bic_K, 1/1024 s: time from the epoch's start to the origin
	ackCnt  uint32     // ack_cnt, bytes ACKed towards the Reno-friendly estimate
	tcpCwnd uint32     // tcp_cwnd, segments: the Reno-friendly estimate
	hs      hystart    // Linux's HyStart, hystart.go (its delayMin is Linux's delay_min)
}

func (q *cubic) init(mss int) {
	q.newReno.init(mss)
	q.reset()
}

// reset is bictcp_reset: no epoch, no reduction remembered, HyStart
// anew.
func (q *cubic) reset() {
	q.epoch = -1
	q.cnt, q.lastMax, q.lastCwn, q.lastJif, q.origin, q.k, q.ackCnt, q.tcpCwnd = 0, 0, 0, 0, 0, 0, 0, 0
	q.hs = hystart{}
}

func (q *cubic) name() string       { return "cubic" }
func (q *cubic) window() int        { return q.cwnd }
func (q *cubic) setWindow(w int)    { q.cwnd = max(w, 1) }
func (q *cubic) ssthreshBytes() int { return q.ssthresh }

// jiffies is t as a HZ=250 kernel's jiffies counter.
func jiffies(t clock.Time) uint32 { return uint32(int64(t) / int64(time.Second/cubicHZ)) }

// onAck is cubictcp_cong_avoid: slow start up to ssthresh, then the rest
// of the ACK grows cwnd by one segment per cnt segments ACKed
// (tcp_cong_avoid_ai).
func (q *cubic) onAck(now clock.Time, acked, mss int, srtt time.Duration) {
	if q.cwnd < q.ssthresh {
		if acked = slowStart(&q.cwnd, q.ssthresh, acked); acked == 0 {
			return
		}
	}
	q.update(now, uint32(max(q.cwnd/mss, 1)), acked, mss)
	w := int(q.cnt) * mss
	if q.acc >= w { // credits from a higher cnt go gently
		q.acc = 0
		q.cwnd += mss
	}
	q.acc += acked
	if q.acc >= w {
		d := q.acc / w
		q.acc -= d * w
		q.cwnd += d * mss
	}
}

// update is bictcp_update: cnt, the segments to ACK per increment, from
// the cubic curve one delay_min ahead, at most once per jiffy and, while
// the window stays, once per HZ/32; and no more than the Reno-friendly
// estimate allows.
func (q *cubic) update(now clock.Time, cwnd uint32, acked, mss int) {
	q.ackCnt += uint32(acked)
	j := jiffies(now)
	if q.lastCwn == cwnd && int32(j-q.lastJif) <= cubicHZ/32 {
		return
	}
	if q.epoch < 0 || j != q.lastJif {
		q.lastCwn, q.lastJif = cwnd, j
		if q.epoch < 0 {
			q.epoch = now
			q.ackCnt = uint32(acked)
			q.tcpCwnd = cwnd
			if q.lastMax <= cwnd {
				q.k, q.origin = 0, cwnd
			} else {
				q.k, q.origin = cubeRoot(cubicFactor*uint64(q.lastMax-cwnd)), q.lastMax
			}
		}
		t := uint64(max(int32(j-jiffies(q.epoch)), 0)) + uint64((q.hs.delayMin+1e6/cubicHZ-1)/(1e6/cubicHZ))
		t = t << 10 / cubicHZ
		offs := min(max(t, uint64(q.k))-min(t, uint64(q.k)), cubicMaxOffs)
		delta := uint32(cubicRTTScale * offs * offs * offs >> 40)
		target := q.origin + delta
		if t < uint64(q.k) {
			target = q.origin - min(delta, q.origin)
		}
		if target > cwnd {
			q.cnt = cwnd / (target - cwnd)
		} else {
			q.cnt = 100 * cwnd
		}
		if q.lastMax == 0 && q.cnt > 20 {
			q.cnt = 20 // no reduction yet tells where capacity lies: 5 % per round trip
		}
	}
	// TCP friendliness: the window Reno would have, one segment per
	// cwnd*beta_scale/8 segments ACKed.
	per := uint32(max(int(cwnd*cubicFriendScale>>3), 1) * mss)
	if q.ackCnt > per { // while (ack_cnt > delta): leaves 1..per
		n := (q.ackCnt - 1) / per
		q.ackCnt -= n * per
		q.tcpCwnd += n
	}
	if q.tcpCwnd > cwnd {
		q.cnt = min(q.cnt, cwnd/(q.tcpCwnd-cwnd))
	}
	q.cnt = max(q.cnt, 2)
}

// cubeRoot is the integer cube root of a, rounded down (Linux's
// cubic_root approximates it to within 0.2 %).
func cubeRoot(a uint64) uint32 {
	x := uint64(math.Cbrt(float64(a)))
	for x > 0 && x*x*x > a {
		x--
	}
	for (x+1)*(x+1)*(x+1) <= a {
		x++
	}
	return uint32(x)
}

// reduce is cubictcp_recalc_ssthresh: the epoch ends, last_max_cwnd
// remembers the window (less, by fast convergence, when it is below the
// last one), and ssthresh is beta of the window, at least two segments.
func (q *cubic) reduce(flight, mss int) {
	cw := uint32(max(q.cwnd/mss, 1))
	q.epoch = -1
	if cw < q.lastMax {
		q.lastMax = cw * (cubicBetaScale + cubicBeta) / (2 * cubicBetaScale)
	} else {
		q.lastMax = cw
	}
	q.ssthresh = int(max(cw*cubicBeta/cubicBetaScale, 2)) * mss
	q.acc = 0 // tcp_init_cwnd_reduction, tcp_enter_loss: snd_cwnd_cnt = 0
}

func (q *cubic) onRTO(now clock.Time, flight, mss int, reduced bool) {
	if !reduced {
		q.reduce(flight, mss)
	}
	q.acc = 0
	q.cwnd = mss
	// Slow start anew, HyStart with it, and no reduction remembered
	// (Linux bictcp_state on TCP_CA_Loss: bictcp_reset zeroes
	// last_max_cwnd and delay_min; ssthresh, set just before, stays).
	q.reset()
}

func (q *cubic) onLoss(now clock.Time, flight, mss int) {
	q.reduce(flight, mss)
	q.cwnd = q.ssthresh
}

func (r *newReno) restart(cwnd, ssthresh int, now clock.Time) {
	r.cwnd, r.ssthresh, r.acc = max(cwnd, 1), ssthresh, 0
}

// restart after idle also starts a new CUBIC epoch from the restarted
// window (Linux's bictcp_cwnd_event shifts the epoch by the idle time;
// here the window is reduced as well, so the curve starts again).
func (q *cubic) restart(cwnd, ssthresh int, now clock.Time) {
	q.cwnd, q.ssthresh = max(cwnd, 1), ssthresh
	q.epoch = -1
}

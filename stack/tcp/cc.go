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
	// onRTO is called when the retransmission timer expires (RFC 5681
	// (4)). reduced says ssthresh was cut already in this window (a
	// repeated timeout, or one in fast recovery or ECN's reduction): it
	// is held (Linux tcp_enter_loss; RFC 5681 (4)'s note). Like onLoss it
	// works from cwnd, not the flight, as Linux's ssthresh hooks do.
	onRTO(now clock.Time, mss int, reduced bool)
	// onLoss is called on entering a cwnd reduction (fast recovery,
	// ECN); it sets ssthresh.
	onLoss(now clock.Time, mss int)
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

func (r *newReno) onRTO(now clock.Time, mss int, reduced bool) {
	if !reduced {
		r.ssthresh = r.renoSsthresh(mss)
	}
	r.cwnd = mss // loss window, one segment
	r.acc = 0
}

func (r *newReno) onLoss(now clock.Time, mss int) {
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

// CUBIC constants (RFC 9438 §4.1 and §4.6).
const (
	cubicC    = 0.4 // RFC 9438 §5: C = 0.4
	cubicBeta = 0.7 // RFC 9438 §4.6: beta_cubic = 0.7
)

// cubic is RFC 9438 CUBIC: window growth as a cubic function of the time
// since the last congestion event, with the Reno-friendly region (§4.3)
// and fast convergence (§4.7). Windows are kept in bytes; the formulas run
// in segments.
//
// It embeds newReno for cwnd and ssthresh: a connection holds one cubic
// value and uses its newReno alone when tcp_congestion_control is newreno
// (one controller's state per connection, not one per algorithm).
type cubic struct {
	newReno            // cwnd and ssthresh, bytes (acc unused here)
	wMax    float64    // segments: window before the last reduction
	k       float64    // seconds: time to reach wMax again
	epoch   clock.Time // start of the current avoidance epoch; -1 if none
	wEst    float64    // segments: Reno-friendly estimate (§4.3)
	hs      hystart    // Linux's HyStart, hystart.go
	cut     bool       // a reduction since the start or the last timeout (Linux last_max_cwnd != 0)
}

func (q *cubic) init(mss int) {
	q.newReno.init(mss)
	q.wMax = 0
	q.epoch = -1
	q.hs = hystart{}
	q.cut = false
}

func (q *cubic) name() string       { return "cubic" }
func (q *cubic) window() int        { return q.cwnd }
func (q *cubic) setWindow(w int)    { q.cwnd = max(w, 1) }
func (q *cubic) ssthreshBytes() int { return q.ssthresh }

func (q *cubic) onAck(now clock.Time, acked, mss int, srtt time.Duration) {
	if q.cwnd < q.ssthresh {
		if acked = slowStart(&q.cwnd, q.ssthresh, acked); acked == 0 {
			return
		}
	}
	m := float64(mss)
	cw := float64(q.cwnd) / m
	if q.epoch < 0 {
		// §4.2: a new epoch starts with the first ACK in avoidance.
		q.epoch = now
		if q.wMax < cw {
			q.k = 0
			q.wMax = cw
		} else {
			q.k = math.Cbrt((q.wMax - cw) / cubicC)
		}
		q.wEst = cw
	}
	t := now.Sub(q.epoch).Seconds() + srtt.Seconds()
	d := t - q.k
	target := cubicC*d*d*d + q.wMax // W_cubic(t + RTT), §4.2
	if target < cw {
		target = cw
	} else if target > 1.5*cw {
		target = 1.5 * cw
	}
	// §4.3 Reno-friendly region: alpha = 3*(1-beta)/(1+beta).
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	q.wEst += alpha * float64(acked) / m / cw
	segs := float64(acked) / m
	grow := (target - cw) / cw * segs
	if !q.cut {
		// Linux bictcp_update: while no reduction has told where the
		// path's capacity lies (after HyStart's exit, or a timeout),
		// cwnd grows at least 5 % per round trip (cnt <= 20), not by
		// the cubic curve's first, almost flat, steps from here.
		grow = max(grow, segs/20)
	}
	if q.wEst > cw {
		grow = max(grow, (q.wEst-cw)/cw*segs) // §4.3, Linux tcp_friendliness
	}
	q.cwnd += int(grow * m)
	if q.cwnd < mss {
		q.cwnd = mss
	}
}

func (q *cubic) reduce(mss int) {
	q.cut = true
	cw := float64(q.cwnd) / float64(mss)
	// §4.7 fast convergence.
	if cw < q.wMax {
		q.wMax = cw * (1 + cubicBeta) / 2
	} else {
		q.wMax = cw
	}
	q.ssthresh = max(int(float64(q.cwnd)*cubicBeta), 2*mss) // §4.6
	q.epoch = -1
}

func (q *cubic) onRTO(now clock.Time, mss int, reduced bool) {
	if !reduced {
		q.reduce(mss)
	}
	q.cwnd = mss
	// Slow start anew, HyStart with it, and no reduction remembered
	// (Linux bictcp_state on TCP_CA_Loss: bictcp_reset zeroes
	// last_max_cwnd; ssthresh, set just before, stays).
	q.hs, q.cut, q.wMax = hystart{}, false, 0
}

func (q *cubic) onLoss(now clock.Time, mss int) {
	q.reduce(mss)
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

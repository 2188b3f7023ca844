package tcp

// HyStart++ (RFC 9406): CUBIC's initial slow start watches the minimum RTT
// of each round; when it rises by more than a threshold (queues are
// building), slow start gives way to Conservative Slow Start (CSS: a
// quarter of the growth) for up to CSS_ROUNDS rounds, then congestion
// avoidance. A round whose minimum RTT falls back below the baseline
// returns to slow start (the rise was spurious). Linux's own HyStart has
// the same delay rule (TCPHystartDelayDetect) beside an ACK-train rule
// that RFC 9406 does not have; the train rule is not implemented.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// RFC 9406 §4.3 constants.
const (
	hsMinRTTThresh   = 4 * time.Millisecond  // MIN_RTT_THRESH
	hsMaxRTTThresh   = 16 * time.Millisecond // MAX_RTT_THRESH
	hsMinRTTDivisor  = 8                     // MIN_RTT_DIVISOR
	hsNRTTSample     = 8                     // N_RTT_SAMPLE
	hsCSSGrowthDiv   = 4                     // CSS_GROWTH_DIVISOR
	hsCSSRounds      = 5                     // CSS_ROUNDS
	ssthreshInfinite = 1 << 30               // RFC 5681 §3.1's "arbitrarily high" initial ssthresh
)

// hystart is HyStart++'s state, used in the initial slow start only
// (RFC 9406 §4.2: after a loss or an RTO, standard slow start).
type hystart struct {
	windowEnd seqnum.Value  // the round ends when SND.UNA reaches it
	lastMin   time.Duration // lastRoundMinRTT; 0: none
	curMin    time.Duration // currentRoundMinRTT; 0: none
	baseline  time.Duration // cssBaselineMinRtt
	samples   uint8         // rttSampleCount, saturating
	css       uint8         // 0: slow start; k > 0: k-th round of CSS
	started   bool          // windowEnd is valid
}

// onRTT feeds one ACK's RTT sample (0 if it had none) at SND.UNA una
// with SND.NXT nxt. It reports whether slow start just gave way to CSS
// (a delay increase detected).
func (q *cubic) onRTT(rtt time.Duration, una, nxt seqnum.Value) bool {
	h := &q.hs
	if q.ssthresh != ssthreshInfinite || q.cwnd >= q.ssthresh {
		return false
	}
	if !h.started || !una.LessThan(h.windowEnd) {
		// A new round (§4.2): its minimum starts afresh.
		h.started = true
		h.windowEnd = nxt
		h.lastMin, h.curMin, h.samples = h.curMin, 0, 0
		if h.css > 0 {
			h.css++
			if h.css > hsCSSRounds {
				// CSS_ROUNDS rounds of CSS: congestion avoidance.
				h.css = 0
				q.ssthresh = q.cwnd
				return false
			}
		}
	}
	if rtt <= 0 {
		return false
	}
	if h.curMin == 0 || rtt < h.curMin {
		h.curMin = rtt
	}
	if h.samples < 255 {
		h.samples++
	}
	if h.samples < hsNRTTSample || h.lastMin == 0 {
		return false
	}
	if h.css == 0 {
		thresh := min(max(h.lastMin/hsMinRTTDivisor, hsMinRTTThresh), hsMaxRTTThresh)
		if h.curMin >= h.lastMin+thresh {
			h.baseline = h.curMin
			h.css = 1
			return true
		}
		return false
	}
	if h.curMin < h.baseline {
		h.css = 0 // the increase was spurious: back to slow start
	}
	return false
}

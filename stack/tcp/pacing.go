package tcp

// Pacing: spreading a connection's transmissions over the round trip
// instead of sending cwnd in one burst, on the loop's timer wheel (Linux's
// internal TCP pacing, tcp_wstamp_ns and the pacing hrtimer, here at the
// wheel's 1 ms tick: a tick releases what the rate allowed since the last
// one). As in Linux it is on when the application sets a maximum pacing
// rate (SetMaxPacingRate, SO_MAX_PACING_RATE) and always with BBR, which
// sets the rate itself (bbr.go), capped by the maximum. Otherwise the
// rate is Linux's tcp_update_pacing_rate: cwnd / SRTT times
// tcp_pacing_ss_ratio (200 %) in slow start below half of ssthresh,
// tcp_pacing_ca_ratio (120 %) after, capped by the maximum.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/timer"
)

// SetMaxPacingRate caps the connection's sending rate at bytesPerSec and
// turns pacing on (Linux SO_MAX_PACING_RATE); 0 turns it off.
func (c *Conn) SetMaxPacingRate(bytesPerSec uint32) {
	c.maxPacing = bytesPerSec
	if !c.pacing() {
		c.paceAt = never
	}
	if c.state.synchronized() && c.flags&fGone == 0 {
		c.trySend(c.layer.now)
		c.rearm()
	}
}

// pacing reports whether the connection paces: BBR always, the others
// with a maximum pacing rate.
func (c *Conn) pacing() bool { return c.maxPacing != 0 || c.rateCtl() != nil }

// pacingRate returns the current pacing rate in bytes per second (0:
// pacing off).
func (c *Conn) pacingRate() uint64 {
	if b := c.rateCtl(); b != nil {
		if c.maxPacing != 0 {
			return max(min(b.pacingRate(), uint64(c.maxPacing)), 1)
		}
		return max(b.pacingRate(), 1)
	}
	if c.maxPacing == 0 {
		return 0
	}
	rate := uint64(c.maxPacing)
	if r := c.cwndRate(); r > 0 {
		rate = min(rate, r)
	}
	return rate
}

// cwndRate is tcp_update_pacing_rate's rate, which Linux keeps for every
// connection that BBR does not pace, pacing or not: cwnd / SRTT times
// tcp_pacing_ss_ratio in slow start below half of ssthresh,
// tcp_pacing_ca_ratio after, in bytes per second; 0 before the first RTT
// sample.
func (c *Conn) cwndRate() uint64 {
	if !c.rtt.has || c.rtt.srtt <= 0 {
		return 0
	}
	ratio := uint64(c.layer.cfg.PacingCARatio)
	if c.cc.window() < c.cc.ssthreshBytes()/2 {
		ratio = uint64(c.layer.cfg.PacingSSRatio)
	}
	return max(uint64(c.cc.window())*uint64(time.Second)/uint64(c.rtt.srtt)*ratio/100, 1)
}

// paced reports whether pacing holds the next transmission back; if so
// the pacing timer is armed for its departure time.
func (c *Conn) paced(now clock.Time) bool {
	if c.paceAt == never || c.paceAt <= now || !c.pacing() {
		return false
	}
	c.flags |= fPaceHeld
	return true
}

// paceCatchUp is how late a held-back segment may leave and keep the
// credit: the wheel fires at tick granularity after the loop's poll
// (rounded up to milliseconds) and, on a loaded machine, a few
// milliseconds late; without the credit every late timer would lower
// the rate, and BBR, which measures the rate it sends at, would follow
// it down. Linux gives the same kind of credit for timer lateness (fq's
// time_next_packet, tcp_update_skb_after_send), there a fraction of a
// segment as its hrtimers are precise.
const paceCatchUp = 4 * timer.Tick

// onPaced advances the departure time of the next segment after n bytes
// left at now.
func (c *Conn) onPaced(now clock.Time, n int) {
	rate := c.pacingRate()
	if rate == 0 {
		return
	}
	// The departure time moves on from the last one, or from now after
	// an idle spell; a segment sent up to one wheel tick after its
	// departure time keeps the credit (else a tick-granular timer would
	// halve a rate of two segments per tick), one that pacing held back
	// up to paceCatchUp.
	slack := timer.Tick
	if c.flags&fPaceHeld != 0 {
		slack = paceCatchUp // it waited for its departure time: the timer was late
	}
	start := c.paceAt
	if start == never || start < now.Add(-slack) {
		start = now
	}
	c.paceAt = start.Add(time.Duration(uint64(n) * uint64(time.Second) / rate))
	if c.paceAt > now {
		c.flags &^= fPaceHeld // caught up
	}
}

// onPaceTimer sends what pacing held back; paceAt, the departure time,
// stays as it was until a segment leaves (its credit counts), and is
// cleared if nothing did (the connection is held back by something else).
func (c *Conn) onPaceTimer(now clock.Time) {
	c.trySend(now)
	if c.paceAt <= now {
		c.paceAt = never
		c.flags &^= fPaceHeld
	}
}

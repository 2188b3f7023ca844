package tcp

import "time"

// Retransmission timer bounds (RFC 6298 §2, with Linux's values).
const (
	// initialRTO is RFC 6298 (2.1): before any RTT sample, RTO = 1 s
	// (Linux TCP_TIMEOUT_INIT).
	initialRTO = 1 * time.Second
	// minRTO follows Linux's TCP_RTO_MIN (200 ms) rather than RFC 6298
	// (2.4)'s 1 s; Linux applies it to the variance term:
	// RTO = SRTT + max(4*RTTVAR, 200 ms).
	minRTO = 200 * time.Millisecond
	// maxRTO is Linux's TCP_RTO_MAX (120 s); RFC 6298 (2.5) allows any
	// maximum of at least 60 s.
	maxRTO = 120 * time.Second
)

// rttEstimator is RFC 6298's SRTT/RTTVAR/RTO computation. Samples are
// taken by the caller under Karn's rule (never from a retransmitted
// segment) or from timestamps.
type rttEstimator struct {
	srtt   time.Duration // smoothed RTT; meaningful once hasSample
	rttvar time.Duration // RTT variation; meaningful once hasSample
	rto    time.Duration // current base RTO (without backoff), in [minRTO, maxRTO]
	minRTT time.Duration // smallest sample (Linux tcp_min_rtt keeps a windowed minimum; this one is over the connection's life); meaningful once has
	has    bool          // at least one sample taken
}

func (e *rttEstimator) init() { e.rto = initialRTO }

// sample feeds one RTT measurement r (RFC 6298 (2.2) and (2.3)).
func (e *rttEstimator) sample(r time.Duration) {
	if r <= 0 {
		r = time.Microsecond
	}
	if !e.has || r < e.minRTT {
		e.minRTT = r
	}
	if !e.has {
		// (2.2) first measurement.
		e.srtt = r
		e.rttvar = r / 2
		e.has = true
	} else {
		// (2.3) alpha = 1/8, beta = 1/4.
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	v := 4 * e.rttvar
	if v < minRTO {
		v = minRTO // Linux: the variance term is at least TCP_RTO_MIN
	}
	// Millisecond granularity, like Linux's jiffies-based RTO.
	e.rto = clampRTO((e.srtt + v).Truncate(time.Millisecond))
}

func clampRTO(d time.Duration) time.Duration {
	if d < minRTO {
		return minRTO
	}
	if d > maxRTO {
		return maxRTO
	}
	return d
}

// backoff returns base doubled n times (RFC 6298 (5.5)), capped at maxRTO.
func backoff(base time.Duration, n int) time.Duration {
	for i := 0; i < n && base < maxRTO; i++ {
		base *= 2
	}
	if base > maxRTO {
		base = maxRTO
	}
	return base
}

// modelTimeout is Linux's tcp_model_timeout: the time a connection may
// spend retransmitting before giving up after boundary retransmissions,
// when the RTO starts at rtoBase and doubles up to maxRTO. Linux gives up
// when the time since the first retransmitted segment was sent reaches
// this budget (tcp_retransmits_timed_out), not after a count; so do we.
// With rtoBase 1 s (SYN, TCP_TIMEOUT_INIT) and boundary 6 that is 127 s;
// with 200 ms (TCP_RTO_MIN) and boundary 15 it is 924.6 s.
func modelTimeout(boundary int, rtoBase time.Duration) time.Duration {
	thresh := 0
	for (rtoBase << (thresh + 1)) <= maxRTO {
		thresh++ // ilog2(maxRTO / rtoBase)
	}
	if boundary <= thresh {
		return time.Duration((2<<boundary)-1) * rtoBase
	}
	return time.Duration((2<<thresh)-1)*rtoBase + time.Duration(boundary-thresh)*maxRTO
}

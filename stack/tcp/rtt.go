package tcp

import (
	"math"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Retransmission timer bounds (RFC 6298 §2, with Linux's values).
const (
	// initialRTO is RFC 6298 (2.1): before any RTT sample, RTO = 1 s
	// (Linux TCP_TIMEOUT_INIT).
	initialRTO = 1 * time.Second
	// fallbackRTO is RFC 6298 (5.7): a handshake that gave no RTT
	// sample (its SYN or SYN-ACK resent, without timestamps to time the
	// answer) leaves RTO = 3 s until the first sample (Linux
	// tcp_init_metrics' TCP_TIMEOUT_FALLBACK).
	fallbackRTO = 3 * time.Second
	// minRTO is Linux's TCP_RTO_MIN (200 ms), tcp_rto_min_us's default,
	// rather than RFC 6298 (2.4)'s 1 s; Linux applies the setting to the
	// variance term: RTO = SRTT + a variance term of at least 200 ms
	// (rttEstimator). The give-up budget's base stays this constant
	// (tcp_retransmits_timed_out's TCP_RTO_MIN).
	minRTO = 200 * time.Millisecond
	// maxRTO is Linux's TCP_RTO_MAX (120 s), tcp_rto_max_ms's default and
	// largest value; RFC 6298 (2.5) allows any maximum of at least 60 s.
	maxRTO = 120 * time.Second
)

// rttEstimator is SRTT and the RTO as Linux's tcp_rtt_estimator computes
// them (RFC 6298's smoothing, with Linux's variance term). Every ACK
// gives a sample (ackRTT), where RFC 6298 assumes one a round trip; its
// RTTVAR, smoothed per sample, would then fall within a round after a
// spike (RFC 7323 Appendix G). Linux keeps mdev, the smoothed deviation
// (four times RFC 6298's RTTVAR, rising slowly on samples below SRTT),
// and for the RTO the largest mdev of each round trip, at least
// TCP_RTO_MIN: the RTO's variance term rises with it at once and falls a
// quarter of its excess once a round. Samples are taken by the caller
// under Karn's rule (never from a retransmitted segment) or from
// timestamps.
type rttEstimator struct {
	srtt     time.Duration // smoothed RTT; meaningful once has
	rttvar   time.Duration // the RTO's variance term (Linux rttvar_us), at least tcp_rto_min_us; meaningful once has
	mdev     int32         // smoothed mean deviation times 4, microseconds (Linux mdev_us; tcpi_rttvar is a quarter of it)
	mdevMax  int32         // largest mdev of this round trip, at least tcp_rto_min_us, microseconds (Linux mdev_max_us)
	seq      seqnum.Value  // SND.NXT when this round trip's measurement began: it ends when SND.UNA passes it (Linux rtt_seq)
	has      bool          // at least one sample taken
	fallback bool          // the handshake ended without a sample: fallbackRTO until the first (here: fills padding)
}

// rto is the base RTO (without backoff), in [lo, hi] (tcp_rto_min_us,
// tcp_rto_max_ms): SRTT plus the variance term, at millisecond
// granularity like Linux's jiffies-based RTO (tcp_set_rto); initialRTO
// before any sample, or fallbackRTO after a handshake that gave none.
func (e *rttEstimator) rto(lo, hi time.Duration) time.Duration {
	if !e.has {
		if e.fallback {
			return fallbackRTO
		}
		return initialRTO
	}
	return min(max((e.srtt+e.rttvar).Truncate(time.Millisecond), lo), hi)
}

// sample feeds one RTT measurement r, taken when SND.UNA was una and
// SND.NXT nxt (Linux tcp_rtt_estimator, then tcp_set_rto); lo is
// tcp_rto_min_us, the variance term's floor.
func (e *rttEstimator) sample(r time.Duration, una, nxt seqnum.Value, lo time.Duration) {
	r = max(r, time.Microsecond)
	minUs := usec32(lo)
	if !e.has {
		// The first measurement: RTO = 3 × RTT, at least SRTT + 200 ms.
		e.srtt = r
		e.mdev = usec32(2 * r)
		e.mdevMax = max(e.mdev, minUs)
		e.rttvar = time.Duration(e.mdevMax) * time.Microsecond
		e.seq = nxt
		e.has = true
	} else {
		err := r - e.srtt
		e.srtt += err / 8 // RFC 6298 (2.3): alpha = 1/8
		m := usec32(max(err, -err)) - e.mdev/4
		if err < 0 && m > 0 {
			m /= 8 // a sample below SRTT raises mdev slowly (Linux's alpha*beta)
		}
		e.mdev += m // beta = 1/4
		if e.mdev > e.mdevMax {
			e.mdevMax = e.mdev
			if d := time.Duration(e.mdevMax) * time.Microsecond; d > e.rttvar {
				e.rttvar = d
			}
		}
		if e.seq.LessThan(una) { // a round trip since the measurement began
			if d := time.Duration(e.mdevMax) * time.Microsecond; d < e.rttvar {
				e.rttvar -= (e.rttvar - d) / 4
			}
			e.seq = nxt
			e.mdevMax = minUs
		}
	}
}

// rttvarInfo is tcpi_rttvar: a quarter of mdev, the mean deviation.
func (e *rttEstimator) rttvarInfo() time.Duration {
	return time.Duration(e.mdev/4) * time.Microsecond
}

// usec32 is d in whole microseconds, saturated to int32.
func usec32(d time.Duration) int32 {
	return int32(min(d/time.Microsecond, math.MaxInt32))
}

// backoff returns base doubled n times (RFC 6298 (5.5)), capped at hi
// (tcp_rto_max_ms).
func backoff(base time.Duration, n int, hi time.Duration) time.Duration {
	for i := 0; i < n && base < hi; i++ {
		base *= 2
	}
	return min(base, hi)
}

// modelTimeout is Linux's tcp_model_timeout: the time a connection may
// spend retransmitting before giving up after boundary retransmissions,
// when the RTO starts at rtoBase and doubles up to hi (tcp_rto_max_ms).
// Linux gives up when the time since the first retransmission (the first
// SYN for an active open) reaches this budget
// (tcp_retransmits_timed_out), not after a count; so do we. With rtoBase
// 1 s (SYN, TCP_TIMEOUT_INIT) and boundary 6 that is 127 s; with 200 ms
// (TCP_RTO_MIN) and boundary 15 it is 924.6 s; with tcp_rto_max_ms 1000
// and boundary 4, 3.4 s (measured on Linux 6.18: the budget follows the
// setting).
func modelTimeout(boundary int, rtoBase, hi time.Duration) time.Duration {
	thresh := 0
	for (rtoBase << (thresh + 1)) <= hi {
		thresh++ // ilog2(hi / rtoBase)
	}
	if boundary <= thresh {
		return time.Duration((2<<boundary)-1) * rtoBase
	}
	return time.Duration((2<<thresh)-1)*rtoBase + time.Duration(boundary-thresh)*hi
}

package tcp

// HyStart, Linux's hybrid slow start for CUBIC (tcp_cubic.c, after Ha and
// Rhee, "Taming the elephants: New TCP slow start", 2011): slow start
// ends, ssthresh = cwnd, at the first of two signs that cwnd has reached
// the path's capacity, looked for once cwnd is 16 segments
// (hystart_low_window):
//
//   - ACK train: the ACKs of a round keep coming at most 2 ms apart
//     (hystart_ack_delta_us) for longer than half the minimum RTT plus
//     an allowance for ACKs of GSO-sized bursts (hystart_ack_delay): the
//     round's data filled the pipe (TCPHystartTrainDetect/Cwnd);
//   - delay: the smallest RTT of a round, once it has 8 samples
//     (HYSTART_MIN_SAMPLES), exceeds the connection's minimum RTT by
//     clamp(min RTT / 8, 4 ms, 16 ms) (HYSTART_DELAY_THRESH): a queue is
//     building (TCPHystartDelayDetect/Cwnd).
//
// Once it found the exit it does not look again until a retransmission
// timeout starts slow start anew (bictcp_reset on TCP_CA_Loss, which also
// forgets the minimum RTT). Until 2026-12-04 xdptcp had RFC 9406's
// HyStart++ instead, whose Conservative Slow Start grows cwnd another
// threefold over five rounds after the delay rise: against Linux on a
// 40 ms path through the test bridge it took cwnd from about 5,300 to
// 18,800 segments and the RTT to 124 ms where Linux's HyStart stopped at
// 5,500 and kept 41-49 ms (TestKernelHugeBuffers' download), and the
// packetdrill script cubic-hystart-delay-rtt-jumps-upward expects
// Linux's exit.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Linux tcp_cubic.c's HyStart constants and module parameter defaults.
const (
	hsLowWindow      = 16          // hystart_low_window, segments
	hsAckDeltaUs     = 2000        // hystart_ack_delta_us
	hsMinSamples     = 8           // HYSTART_MIN_SAMPLES
	hsDelayMinUs     = 4000        // HYSTART_DELAY_MIN
	hsDelayMaxUs     = 16000       // HYSTART_DELAY_MAX
	hsAckDelayMaxUs  = 1000        // hystart_ack_delay's cap (USEC_PER_MSEC)
	hsGSOMaxSize     = 65536       // sk_gso_max_size in hystart_ack_delay, bytes
	hsRecoverySkip   = time.Second // delay samples ignored this long into an avoidance epoch (bictcp_acked)
	ssthreshInfinite = 1 << 30     // RFC 5681 §3.1's "arbitrarily high" initial ssthresh
)

// What HyStart found on an ACK.
const (
	hsNone uint8 = iota
	hsTrain
	hsDelay
)

// hystart is HyStart's state (Linux struct bictcp's round_start, end_seq,
// last_ack, curr_rtt, sample_cnt, found, delay_min), in wrapping
// microseconds as Linux keeps it: 24 bytes of every connection.
type hystart struct {
	roundStart uint32       // µs: when the current round began
	lastAck    uint32       // µs: the last ACK of the current train
	endSeq     seqnum.Value // the round ends when SND.UNA passes it
	currRTT    uint32       // µs: smallest RTT of the round; 0: none yet
	delayMin   uint32       // µs: smallest RTT of the connection; 0: none yet
	samples    uint8        // RTT samples of the round, up to hsMinSamples
	found      bool         // slow start's exit was found
	started    bool         // the first round began
}

// usec is t in (wrapping) microseconds.
func usec(t clock.Time) uint32 { return uint32(int64(t) / int64(time.Microsecond)) }

// reset begins a round at now (µs) that ends when SND.UNA passes nxt
// (bictcp_hystart_reset).
func (h *hystart) reset(now uint32, nxt seqnum.Value) {
	h.roundStart, h.lastAck, h.endSeq = now, now, nxt
	h.currRTT, h.samples, h.started = 0, 0, true
}

// onRTT feeds an ACK that arrived at at, with rtt the RTT of the newest
// never-retransmitted segment it delivered (Linux ca_rtt_us; 0: none),
// SND.UNA una and SND.NXT nxt after it, to HyStart (Linux
// bictcp_acked, hystart_update). rate is Linux's sk_pacing_rate in bytes
// per second: the rate the connection paces at when paced (a maximum
// pacing rate was set: Linux's sk_pacing_status is then
// SK_PACING_NEEDED), else the rate Linux keeps for every connection
// (cwndRate, tcp_update_pacing_rate). On an exit it sets ssthresh to
// cwnd and reports which sign found it.
func (q *cubic) onRTT(at clock.Time, rtt time.Duration, una, nxt seqnum.Value, mss int, rate uint64, paced bool) uint8 {
	h := &q.hs
	if rtt <= 0 || q.epoch >= 0 && at.Sub(q.epoch) < hsRecoverySkip {
		return hsNone // no sample, or one right after a recovery
	}
	delay := uint32(max(rtt/time.Microsecond, 1))
	if h.delayMin == 0 || delay < h.delayMin {
		h.delayMin = delay
	}
	if h.found || q.cwnd >= q.ssthresh {
		return hsNone
	}
	now := usec(at)
	if !h.started || h.endSeq.LessThan(una) {
		h.reset(now, nxt)
	}
	if q.cwnd < hsLowWindow*mss {
		return hsNone
	}
	if now-h.lastAck <= hsAckDeltaUs {
		h.lastAck = now
		// The allowance for ACKs of GSO bursts (hystart_ack_delay):
		// the time 4 of them take at sk_pacing_rate, at most 1 ms.
		// Linux halves the whole only for a connection that does not
		// pace (SK_PACING_NONE): a paced round's ACKs come spread
		// over it.
		thresh := h.delayMin
		if rate > 0 {
			thresh += uint32(min(hsAckDelayMaxUs, 4*hsGSOMaxSize*uint64(time.Second/time.Microsecond)/rate))
		}
		if !paced {
			thresh /= 2
		}
		if now-h.roundStart > thresh {
			return q.hsExit(hsTrain)
		}
	}
	if h.currRTT == 0 || delay < h.currRTT {
		h.currRTT = delay
	}
	if h.samples < hsMinSamples {
		h.samples++
		return hsNone
	}
	if h.currRTT > h.delayMin+min(max(h.delayMin/8, hsDelayMinUs), hsDelayMaxUs) {
		return q.hsExit(hsDelay)
	}
	return hsNone
}

// hsExit ends slow start: ssthresh = cwnd.
func (q *cubic) hsExit(how uint8) uint8 {
	q.hs.found = true
	q.ssthresh = q.cwnd
	return how
}

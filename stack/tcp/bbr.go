package tcp

// BBR v1 congestion control: the ACM Queue paper ("BBR: Congestion-Based
// Congestion Control", Cardwell et al., 2016) and
// draft-cardwell-iccrg-bbr-congestion-control-00, with Linux tcp_bbr.c's
// constants and its handling of loss recovery. BBR models the path by
// two numbers measured from ACKs: the bottleneck bandwidth (BtlBw, the
// windowed maximum of the delivery-rate samples over 10 round trips,
// ratesample.go) and the round-trip propagation time (RTprop, the minimum
// RTT of the last 10 s). It paces at pacing_gain * BtlBw (on the loop's
// timer wheel, pacing.go) and caps the flight at cwnd_gain * BtlBw *
// RTprop; the gains change with the state:
//
//	           |
//	           V
//	  +---> STARTUP  ----+      pacing and cwnd gain 2/ln2 until BtlBw
//	  |        |         |      grows less than 25 % in 3 rounds
//	  |        V         |
//	  |      DRAIN   ----+      pacing gain ln2/2 until the flight is
//	  |        |         |      down to one BDP
//	  |        V         |
//	  +---> PROBE_BW ----+      pacing gain cycles 5/4, 3/4, 1 x 6, one
//	  |      ^    |      |      RTprop each; cwnd gain 2
//	  |      |    |      |
//	  |      +----+      |
//	  |                  |
//	  +---- PROBE_RTT <--+      RTprop not refreshed for 10 s: cwnd 4
//	                            segments for max(200 ms, one round)
//
// Loss does not reduce the model: in fast recovery the flight is held by
// packet conservation for one round, and cwnd comes back to its value
// before the loss when recovery ends (Linux bbr_set_cwnd_to_recover_or_restore).
// The ACK-aggregation allowance Linux 4.20 added (bbr_extra_acked) is
// here (updateAckAggregation), and so is the long-term bandwidth
// sampling that detects token-bucket policers (Linux bbr_lt_bw_sampling,
// ltSample): two lossy intervals in a row that deliver at the same rate
// say a policer drops what exceeds that rate, and BBR then sends at it,
// without probing, for 48 rounds.
//
// BBR's state and the rate sampler's live in one value allocated when a
// connection starts BBR; the connection holds it only through its
// congestionControl interface (c.cc), so other connections pay nothing.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// bbrMode is BBR's state.
type bbrMode uint8

const (
	bbrStartup  bbrMode = iota // ramp up to fill the pipe
	bbrDrain                   // drain the queue startup made
	bbrProbeBW                 // steady state: gain cycling around BtlBw
	bbrProbeRTT                // drain the flight to measure RTprop
)

// String returns the mode as Linux's ss spells BBR's states.
func (m bbrMode) String() string {
	switch m {
	case bbrStartup:
		return "STARTUP"
	case bbrDrain:
		return "DRAIN"
	case bbrProbeBW:
		return "PROBE_BW"
	case bbrProbeRTT:
		return "PROBE_RTT"
	}
	return "?"
}

// BBR's constants (the draft's §4 and Linux tcp_bbr.c). Gains are in
// units of 1/256 (Linux BBR_UNIT).
const (
	bbrUnit           = 256
	bbrHighGain       = bbrUnit*2885/1000 + 1 // 2/ln(2): doubles the sending rate each round in STARTUP
	bbrDrainGain      = bbrUnit * 1000 / 2885 // ln(2)/2: drains STARTUP's queue in about one round
	bbrCwndGain       = 2 * bbrUnit           // PROBE_BW's cwnd: twice the BDP (delayed and stretched ACKs)
	bbrCycleLen       = 8                     // phases of the PROBE_BW gain cycle
	bbrBwRounds       = bbrCycleLen + 2       // BtlBwFilterLen: round trips in the bandwidth filter
	bbrMinRTTWindow   = 10 * time.Second      // RTpropFilterLen
	bbrProbeRTTTime   = 200 * time.Millisecond
	bbrMinCwndSegs    = 4               // BBRMinPipeCwnd, segments
	bbrFullBwThresh   = bbrUnit * 5 / 4 // STARTUP ends when BtlBw grows less than 25 % ...
	bbrFullBwRounds   = 3               // ... in three rounds
	bbrPacingMargin   = 1               // percent below the estimate Linux paces at (bbr_pacing_margin_percent)
	bbrMinTSORate     = 1_200_000 / 8   // bytes/s below which the send quantum is one segment (bbr_min_tso_rate)
	bbrMaxSendQuantum = 64 << 10        // bytes

	// ACK aggregation (Linux bbr_update_ack_aggregation): the excess
	// delivered beyond bw over an epoch, max over two windows of five
	// round trips, added to cwnd at gain 1, at most 100 ms at bw.
	bbrExtraAckedWinRounds = 5
	bbrExtraAckedMax       = 100 * time.Millisecond
	bbrAckEpochResetSegs   = 1 << 20 // segments acknowledged after which an epoch restarts
)

// bbrPacingGains is the PROBE_BW cycle: probe at 5/4, drain at 3/4, cruise.
var bbrPacingGains = [bbrCycleLen]uint32{bbrUnit * 5 / 4, bbrUnit * 3 / 4, bbrUnit, bbrUnit, bbrUnit, bbrUnit, bbrUnit, bbrUnit}

// bbr flag bits.
const (
	bbrRoundStart        uint8 = 1 << iota // this ACK started a new round trip
	bbrFilledPipe                          // BBR.filled_pipe: STARTUP found the bandwidth
	bbrConservation                        // packet conservation: first round of fast recovery
	bbrIdleRestart                         // sending restarted after an application-limited idle spell
	bbrProbeRTTRoundDone                   // PROBE_RTT held the low flight for a round
	bbrSeenRTT                             // the pacing rate was initialised from a real SRTT
	bbrLtSampling                          // a long-term sampling interval is open (Linux lt_is_sampling)
	bbrLtUseBw                             // a policer was found: the bandwidth is ltBw (Linux lt_use_bw)
)

// Long-term bandwidth sampling (Linux tcp_bbr.c's bbr_lt_* constants): an
// interval lasts 4 to 16 round trips and ends at a loss; it is lossy at
// a loss rate of 50/256 (about 20 %); two lossy intervals whose rates
// differ by at most 1/8 (or 4 kbit/s) find a policer, whose rate, their
// average, is used for 48 round trips.
const (
	bbrLtIntvlMinRounds = 4
	bbrLtLossThresh     = 50
	bbrLtBwRatio        = bbrUnit / 8
	bbrLtBwDiff         = 4000 / 8 // bytes/s
	bbrLtBwMaxRounds    = 48
)

// bbr is one connection's BBR (and delivery-rate sampling) state.
type bbr struct {
	rs             rateSampler
	bw             maxFilter     // BtlBw: windowed max of delivery rates (bytes/s) over bbrBwRounds rounds
	cwnd           int           // bytes
	priorCwnd      int           // cwnd before loss recovery or PROBE_RTT cut it
	ssthresh       int           // bytes; infinite until STARTUP ends (Linux reports the BDP then)
	pacing         uint64        // pacing rate, bytes/s
	minRTT         time.Duration // RTprop; 0: no sample yet
	minRTTAt       clock.Time    // when minRTT was taken
	probeRTTDoneAt clock.Time    // end of PROBE_RTT's low flight; 0: not yet reached
	cycleAt        clock.Time    // start of the current PROBE_BW phase
	nextRound      uint64        // BBR.next_round_delivered: a round ends when a packet sent after this delivered count is delivered
	rounds         uint32        // BBR.round_count
	fullBw         uint64        // BBR.full_bw: baseline for STARTUP's plateau test
	pacingGain     uint32        // 1/256 units
	cwndGain       uint32        // 1/256 units
	mode           bbrMode
	cycleIdx       uint8   // PROBE_BW phase
	fullBwCount    uint8   // rounds without 25 % growth
	prevState      CAState // the loss state at the previous ACK (Linux prev_ca_state): Open, Recovery or Loss
	flags          uint8   // bbr* bits

	// ACK aggregation (updateAckAggregation).
	ackEpochAt      clock.Time // start of the current ACK epoch (Linux ack_epoch_mstamp)
	ackEpochAcked   uint64     // bytes delivered in it
	extraAcked      [2]uint32  // bytes delivered beyond bw, max per window of five rounds
	extraAckedIdx   uint8      // the current window
	extraAckedRound uint8      // rounds into it

	// Long-term bandwidth sampling (ltSample).
	lost            uint64     // bytes marked lost, cumulatively (Linux tp->lost)
	ltBw            uint64     // bytes/s: the policed rate in use, or the last lossy interval's
	ltLastDelivered uint64     // C.delivered at the interval's start
	ltLastLost      uint64     // lost at the interval's start
	ltLastAt        clock.Time // C.delivered_time at the interval's start
	ltRounds        uint8      // round trips in the interval, or since ltBw came into use
}

// newBBR starts BBR on c (Linux bbr_init) with cwnd bytes of window.
func newBBR(c *Conn, cwnd int) *bbr {
	b := &bbr{cwnd: max(cwnd, 1), ssthresh: ssthreshInfinite, minRTTAt: c.layer.now, ackEpochAt: c.layer.now, rs: rateSampler{appLimited: rateStartLimited}}
	if c.rtt.has {
		b.minRTT = c.minRTT()
	}
	b.initPacingRate(c)
	b.enterStartup()
	return b
}

func (b *bbr) name() string       { return "bbr" }
func (b *bbr) window() int        { return b.cwnd }
func (b *bbr) setWindow(w int)    { b.cwnd = max(w, 1) }
func (b *bbr) ssthreshBytes() int { return b.ssthresh }

// onAck does nothing: BBR sets cwnd from the rate sample (control), as
// Linux's cong_control hook replaces cong_avoid.
func (b *bbr) onAck(now clock.Time, acked, mss int, srtt time.Duration) {}

// onLoss is Linux's ssthresh hook for BBR (bbr_ssthresh) when recovery
// (or an ECN or TLP reduction) starts: the model is kept, cwnd is only
// remembered to be restored afterwards.
func (b *bbr) onLoss(now clock.Time, mss int) { b.saveCwnd() }

// onRTO is tcp_enter_loss with BBR: cwnd is remembered and falls to one
// segment (everything outstanding is marked lost), the timeout counts as
// the end of a round, and STARTUP's plateau test starts over (Linux
// bbr_set_state for TCP_CA_Loss).
func (b *bbr) onRTO(now clock.Time, mss int, reduced bool) {
	if !reduced {
		b.saveCwnd() // bbr_ssthresh, which Linux calls only then
	}
	b.cwnd = mss
	b.prevState = CALoss
	b.fullBw = 0
	b.flags |= bbrRoundStart
}

// onTimeoutMarked follows onRTO once the timeout marked lost bytes lost:
// Linux's tcp_enter_loss counts them in tp->lost before bbr_set_state
// samples the long-term bandwidth with a loss, as the end of a round.
func (b *bbr) onTimeoutMarked(c *Conn, now clock.Time, lost int) {
	b.lost += uint64(max(lost, 0))
	b.ltSample(c, now, 1, false)
}

// onUndo is Linux's bbr_undo_cwnd: a loss found spurious restarts
// STARTUP's plateau test and the long-term sampling.
func (b *bbr) onUndo() {
	b.fullBw, b.fullBwCount = 0, 0
	b.ltReset()
}

// ltSample is Linux's bbr_lt_bw_sampling for a rate sample with losses
// bytes newly marked lost. Sampling starts at a loss (the policer's
// tokens are spent by then), and an interval of at least 4 round trips
// ends at a loss once its loss rate reached about 20 %; its delivery
// rate is compared with the previous interval's (ltIntervalDone). An
// application-limited sample, or an interval past 16 rounds, starts over.
// While the policed rate is in use, 48 round trips of PROBE_BW end it and
// the gain cycle starts again.
func (b *bbr) ltSample(c *Conn, now clock.Time, losses uint64, appLimited bool) {
	if b.flags&bbrLtUseBw != 0 {
		if b.mode == bbrProbeBW && b.flags&bbrRoundStart != 0 {
			b.ltRounds++
			if b.ltRounds >= bbrLtBwMaxRounds {
				b.ltReset()
				b.enterProbeBW(c, now)
			}
		}
		return
	}
	if b.flags&bbrLtSampling == 0 {
		if losses == 0 {
			return
		}
		b.ltResetInterval()
		b.flags |= bbrLtSampling
	}
	if appLimited {
		b.ltReset()
		return
	}
	if b.flags&bbrRoundStart != 0 {
		b.ltRounds++
	}
	switch {
	case b.ltRounds < bbrLtIntvlMinRounds:
		return
	case b.ltRounds > 4*bbrLtIntvlMinRounds:
		b.ltReset()
		return
	case losses == 0:
		return
	}
	lost, delivered := b.lost-b.ltLastLost, b.rs.delivered-b.ltLastDelivered
	if delivered == 0 || lost*bbrUnit < bbrLtLossThresh*delivered {
		return
	}
	t := b.rs.deliveredAt.Sub(b.ltLastAt)
	if t < time.Millisecond {
		return
	}
	b.ltIntervalDone(mulDiv(delivered, uint64(time.Second), uint64(t)))
}

// ltIntervalDone takes a lossy interval's delivery rate: close to the
// previous one's, a policer is found and BBR paces at their average
// without gain cycling; otherwise the next interval starts.
func (b *bbr) ltIntervalDone(bw uint64) {
	if b.ltBw != 0 {
		diff := max(bw, b.ltBw) - min(bw, b.ltBw)
		if diff*bbrUnit <= bbrLtBwRatio*b.ltBw || rateWithGain(diff, bbrUnit) <= bbrLtBwDiff {
			b.ltBw = (bw + b.ltBw) / 2
			b.flags |= bbrLtUseBw
			b.pacingGain = bbrUnit
			b.ltRounds = 0
			return
		}
	}
	b.ltBw = bw
	b.ltResetInterval()
}

// ltResetInterval starts a sampling interval here.
func (b *bbr) ltResetInterval() {
	b.ltLastAt = b.rs.deliveredAt
	b.ltLastDelivered = b.rs.delivered
	b.ltLastLost = b.lost
	b.ltRounds = 0
}

// ltReset ends the long-term sampling and the use of its rate.
func (b *bbr) ltReset() {
	b.ltBw = 0
	b.flags &^= bbrLtSampling | bbrLtUseBw
	b.ltResetInterval()
}

// bwEst is the bandwidth BBR paces and sizes cwnd by (Linux bbr_bw): the
// policed rate while it is in use, else BtlBw.
func (b *bbr) bwEst() uint64 {
	if b.flags&bbrLtUseBw != 0 {
		return b.ltBw
	}
	return b.bw.get()
}

// restart is not used with BBR (restart after idle is BBR's own,
// onTxStart); it sets the window like the others.
func (b *bbr) restart(cwnd, ssthresh int, now clock.Time) { b.cwnd = max(cwnd, 1) }

// pacingRate returns the pacing rate in bytes per second.
func (b *bbr) pacingRate() uint64 { return b.pacing }

// saveCwnd remembers cwnd before recovery or PROBE_RTT cuts it (BBRSaveCwnd).
func (b *bbr) saveCwnd() {
	if b.prevState < CARecovery && b.mode != bbrProbeRTT {
		b.priorCwnd = b.cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, b.cwnd) // already cut: keep the larger
	}
}

// onTxStart is called when a segment leaves with nothing in flight (Linux
// CA_EVENT_TX_START): after an application-limited idle spell, PROBE_BW
// paces at the estimated bandwidth rather than a probing or draining
// gain, and PROBE_RTT may be over already (BBRHandleRestartFromIdle).
func (b *bbr) onTxStart(c *Conn, now clock.Time) {
	if b.rs.appLimited == 0 {
		return
	}
	b.flags |= bbrIdleRestart
	switch b.mode {
	case bbrProbeBW:
		b.setPacingRate(c, b.bwEst(), bbrUnit)
	case bbrProbeRTT:
		b.checkProbeRTTDone(c, now)
	}
}

// lossState is the connection's loss-recovery state as BBR reads it
// (Linux icsk_ca_state): fast recovery, the Loss state after an RTO
// (until SND.UNA passes the recovery point), else Open.
func (c *Conn) lossState() CAState {
	switch {
	case c.flags&fInRecovery != 0:
		return CARecovery
	case c.flags&fInCWR == 0 && c.sndUna.LessThan(c.recover):
		return CALoss
	}
	return CAOpen
}

// control is BBR's per-ACK step (Linux bbr_main, the draft's
// BBRUpdateOnACK): the rate sample of the ACK updates the model and the
// state, then the pacing rate and cwnd follow from them.
func (b *bbr) control(c *Conn, now clock.Time, as *ackSample) {
	rs := &as.rs // generated by onAckRecovery
	b.lost += uint64(max(as.lost, 0))
	b.updateBw(c, now, rs, as.lost)
	b.updateAckAggregation(c, rs)
	if b.mode == bbrProbeBW && b.isNextCyclePhase(c, as) {
		b.advanceCyclePhase()
	}
	b.checkFullBw(rs)
	b.checkDrain(c, now)
	b.updateMinRTT(c, now, rs)
	b.updateGains()
	bw := b.bwEst()
	b.setPacingRate(c, bw, b.pacingGain)
	b.setCwnd(c, as, bw)
}

// updateBw counts round trips, samples the long-term bandwidth, and
// feeds the sample to the BtlBw filter (BBRUpdateRound, BBRUpdateBtlBw,
// Linux bbr_update_bw): an application-limited sample only when it is
// above the estimate.
func (b *bbr) updateBw(c *Conn, now clock.Time, rs *rateSample, losses int) {
	b.flags &^= bbrRoundStart
	if !rs.valid {
		return
	}
	if rs.prior >= b.nextRound {
		b.nextRound = b.rs.delivered
		b.rounds++
		b.flags |= bbrRoundStart
		b.flags &^= bbrConservation // packet conservation lasts one round
	}
	b.ltSample(c, now, uint64(max(losses, 0)), rs.appLimited)
	if !rs.appLimited || rs.rate >= b.bw.get() {
		b.bw.update(bbrBwRounds, b.rounds, rs.rate)
	}
}

// updateAckAggregation estimates how much more than the bandwidth
// estimate the ACKs deliver in bursts (Linux bbr_update_ack_aggregation,
// BBRv2's draft BBRUpdateACKAggregation): an epoch starts when the ACKs
// deliver no more than bw would have over it; the excess since its start,
// at most cwnd, is kept as a windowed maximum over two windows of five
// round trips. Aggregated or delayed ACKs (a receiver's, a NIC's, or a
// busy path's) then leave cwnd room to keep sending through the ACK
// silences between the bursts.
func (b *bbr) updateAckAggregation(c *Conn, rs *rateSample) {
	if rs.acked <= 0 || !rs.valid {
		return
	}
	if b.flags&bbrRoundStart != 0 {
		b.extraAckedRound = min(b.extraAckedRound+1, 0x1f)
		if b.extraAckedRound >= bbrExtraAckedWinRounds {
			b.extraAckedRound = 0
			b.extraAckedIdx ^= 1
			b.extraAcked[b.extraAckedIdx] = 0
		}
	}
	at := b.rs.deliveredAt
	expected := mulDiv(b.bwEst(), uint64(max(at.Sub(b.ackEpochAt), 0)), uint64(time.Second))
	if b.ackEpochAcked <= expected || b.ackEpochAcked+uint64(rs.acked) >= bbrAckEpochResetSegs*uint64(max(c.mss, 1)) {
		b.ackEpochAcked, b.ackEpochAt, expected = 0, at, 0
	}
	b.ackEpochAcked += uint64(rs.acked)
	extra := min(b.ackEpochAcked-expected, uint64(b.cwnd))
	if extra > uint64(b.extraAcked[b.extraAckedIdx]) {
		b.extraAcked[b.extraAckedIdx] = uint32(extra)
	}
}

// aggregationCwnd is the cwnd allowance for ACK aggregation once STARTUP
// found the bandwidth (Linux bbr_ack_aggregation_cwnd): the larger window's
// excess, at most 100 ms at bw.
func (b *bbr) aggregationCwnd(bw uint64) int {
	if b.flags&bbrFilledPipe == 0 {
		return 0
	}
	extra := uint64(max(b.extraAcked[0], b.extraAcked[1]))
	return int(min(extra, mulDiv(bw, uint64(bbrExtraAckedMax), uint64(time.Second))))
}

// checkFullBw is BBRCheckFullPipe: at each round start of a sample that
// is not application-limited, STARTUP's pipe is full once BtlBw grew by
// less than 25 % for three rounds.
func (b *bbr) checkFullBw(rs *rateSample) {
	if b.flags&bbrFilledPipe != 0 || b.flags&bbrRoundStart == 0 || rs.appLimited {
		return
	}
	bw := b.bw.get()
	if bw >= mulDiv(b.fullBw, bbrFullBwThresh, bbrUnit) {
		b.fullBw = bw
		b.fullBwCount = 0
		return
	}
	b.fullBwCount++
	if b.fullBwCount >= bbrFullBwRounds {
		b.flags |= bbrFilledPipe
	}
}

// checkDrain is BBRCheckDrain: a full pipe ends STARTUP, and DRAIN ends
// once the flight is down to the estimated BDP. Like Linux, ssthresh
// then reports the BDP.
func (b *bbr) checkDrain(c *Conn, now clock.Time) {
	bw := b.bw.get()
	if b.mode == bbrStartup && b.flags&bbrFilledPipe != 0 {
		b.mode = bbrDrain
		b.ssthresh = b.inflight(c, bw, bbrUnit)
	}
	if b.mode == bbrDrain && c.pipe() <= b.inflight(c, bw, bbrUnit) {
		b.enterProbeBW(c, now)
	}
}

// updateMinRTT keeps RTprop and runs PROBE_RTT (BBRUpdateRTprop,
// BBRCheckProbeRTT, Linux bbr_update_min_rtt): when RTprop was not
// refreshed for 10 s, the flight drops to 4 segments until 200 ms and a
// round have passed at that level.
func (b *bbr) updateMinRTT(c *Conn, now clock.Time, rs *rateSample) {
	expired := now.Sub(b.minRTTAt) > bbrMinRTTWindow
	if rs.rtt > 0 && (b.minRTT == 0 || rs.rtt < b.minRTT || expired) {
		b.minRTT, b.minRTTAt = rs.rtt, now
	}
	if expired && b.flags&bbrIdleRestart == 0 && b.mode != bbrProbeRTT {
		b.mode = bbrProbeRTT
		b.saveCwnd()
		b.probeRTTDoneAt = 0
	}
	if b.mode == bbrProbeRTT {
		pipe := c.pipe()
		// The low flight must not lower the bandwidth estimate.
		b.rs.appLimited = max(b.rs.delivered+uint64(pipe), 1)
		switch {
		case b.probeRTTDoneAt == 0 && pipe <= bbrMinCwndSegs*c.mss:
			b.probeRTTDoneAt = now.Add(bbrProbeRTTTime)
			b.flags &^= bbrProbeRTTRoundDone
			b.nextRound = b.rs.delivered
		case b.probeRTTDoneAt != 0:
			if b.flags&bbrRoundStart != 0 {
				b.flags |= bbrProbeRTTRoundDone
			}
			if b.flags&bbrProbeRTTRoundDone != 0 {
				b.checkProbeRTTDone(c, now)
			}
		}
	}
	if rs.delivered > 0 {
		b.flags &^= bbrIdleRestart
	}
}

// checkProbeRTTDone ends PROBE_RTT once its time is up: RTprop counts as
// fresh, cwnd comes back, and BBR returns to PROBE_BW (or STARTUP if the
// pipe was never filled).
func (b *bbr) checkProbeRTTDone(c *Conn, now clock.Time) {
	if b.probeRTTDoneAt == 0 || now <= b.probeRTTDoneAt {
		return
	}
	b.minRTTAt = now
	b.cwnd = max(b.cwnd, b.priorCwnd)
	if b.flags&bbrFilledPipe == 0 {
		b.enterStartup()
	} else {
		b.enterProbeBW(c, now)
	}
}

func (b *bbr) enterStartup() {
	b.mode = bbrStartup
	b.updateGains()
}

// enterProbeBW starts the gain cycle at a random phase other than the
// draining one (BBREnterProbeBW), so flows sharing a bottleneck do not
// probe in step.
func (b *bbr) enterProbeBW(c *Conn, now clock.Time) {
	b.mode = bbrProbeBW
	b.cycleIdx = uint8(bbrCycleLen - 1 - c.bbrRand(now)%(bbrCycleLen-1))
	b.advanceCyclePhase()
	b.updateGains()
}

// bbrRand is a pseudo-random number for the phase choice: the
// connection's initial sequence number (RFC 6528: secret-keyed) mixed
// with the time, so that tests on the fake clock are reproducible.
func (c *Conn) bbrRand(now clock.Time) uint32 {
	x := uint64(c.iss)<<32 ^ uint64(now)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return uint32(x)
}

func (b *bbr) advanceCyclePhase() {
	b.cycleIdx = (b.cycleIdx + 1) % bbrCycleLen
	b.cycleAt = b.rs.deliveredAt
}

// isNextCyclePhase is BBRIsNextCyclePhase: each phase lasts RTprop; the
// probing phase also until the flight reached its gain's BDP (or a loss
// says the pipe is full), the draining one ends early once the flight is
// down to one BDP.
func (b *bbr) isNextCyclePhase(c *Conn, as *ackSample) bool {
	full := b.rs.deliveredAt.Sub(b.cycleAt) > b.minRTT
	gain := b.pacingGain
	bw := b.bw.get()
	switch {
	case gain == bbrUnit:
		return full
	case gain > bbrUnit:
		return full && (as.lost > 0 || as.priorPipe >= b.inflight(c, bw, gain))
	}
	return full || as.priorPipe <= b.inflight(c, bw, bbrUnit)
}

// updateGains sets the gains of the mode.
func (b *bbr) updateGains() {
	switch b.mode {
	case bbrStartup:
		b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
	case bbrDrain:
		b.pacingGain, b.cwndGain = bbrDrainGain, bbrHighGain
	case bbrProbeBW:
		b.pacingGain, b.cwndGain = bbrPacingGains[b.cycleIdx], bbrCwndGain
		if b.flags&bbrLtUseBw != 0 {
			b.pacingGain = bbrUnit // a policer: no probing (Linux bbr_update_gains)
		}
	case bbrProbeRTT:
		b.pacingGain, b.cwndGain = bbrUnit, bbrUnit
	}
}

// rateWithGain is bw * gain, less Linux's 1 % pacing margin.
func rateWithGain(bw uint64, gain uint32) uint64 {
	return mulDiv(bw, uint64(gain)*(100-bbrPacingMargin), bbrUnit*100)
}

// initPacingRate is BBRInitPacingRate: the initial window over SRTT (1 ms
// before any sample) at the high gain.
func (b *bbr) initPacingRate(c *Conn) {
	rtt := time.Millisecond
	if c.rtt.has && c.rtt.srtt > 0 {
		rtt = c.rtt.srtt
		b.flags |= bbrSeenRTT
	}
	bw := mulDiv(uint64(b.cwnd), uint64(time.Second), uint64(rtt))
	b.pacing = rateWithGain(bw, bbrHighGain)
}

// setPacingRate is BBRSetPacingRateWithGain: until the pipe is full the
// rate only grows (a low early sample must not slow STARTUP).
func (b *bbr) setPacingRate(c *Conn, bw uint64, gain uint32) {
	if b.flags&bbrSeenRTT == 0 && c.rtt.has {
		b.initPacingRate(c)
	}
	rate := rateWithGain(bw, gain)
	if rate > 0 && (b.flags&bbrFilledPipe != 0 || rate > b.pacing) {
		b.pacing = rate
	}
}

// sendQuantum is BBRSetSendQuantum as Linux's bbr_tso_segs_goal: what
// the pacer releases at once, one wheel tick (1 ms) of the pacing rate,
// at least two segments (one below 1.2 Mbit/s), at most 64 KiB.
func (b *bbr) sendQuantum(mss int) int {
	segs := 2
	if b.pacing < bbrMinTSORate {
		segs = 1
	}
	return max(int(min(b.pacing/1000, bbrMaxSendQuantum)), segs*mss)
}

// bdp returns gain * BtlBw * RTprop in bytes, or the initial window
// before an RTT sample (Linux bbr_bdp).
func (b *bbr) bdp(mss int, bw uint64, gain uint32) int {
	if b.minRTT == 0 {
		return initialWindowSegments * mss
	}
	w := mulDiv(bw, uint64(b.minRTT), uint64(time.Second))
	w = mulDiv(w, uint64(gain), bbrUnit)
	return int(min(w, 1<<30))
}

// inflight is BBRInflight: the BDP at gain with the quantization budget.
func (b *bbr) inflight(c *Conn, bw uint64, gain uint32) int {
	return b.budget(c, b.bdp(max(c.mss, 1), bw, gain))
}

// budget is Linux's bbr_quantization_budget on w bytes: three send quanta
// of allowance for the pacer's bursts and delayed ACKs, rounded up to an
// even number of segments; the probing phase gets two more segments.
func (b *bbr) budget(c *Conn, w int) int {
	mss := max(c.mss, 1)
	w += 3 * b.sendQuantum(mss)
	segs := (w + mss - 1) / mss
	segs = (segs + 1) &^ 1
	if b.mode == bbrProbeBW && b.cycleIdx == 0 {
		segs += 2
	}
	return segs * mss
}

// setCwnd is BBRSetCwnd for an ACK that delivered something: packet
// conservation in the first round of recovery, else growth by what was
// delivered up to the target (cwnd_gain * BDP); never below 4 segments,
// and 4 segments in PROBE_RTT.
func (b *bbr) setCwnd(c *Conn, as *ackSample, bw uint64) {
	mss := max(c.mss, 1)
	acked := as.rs.acked // (the ACK of our SYN delivers no record: it does not count)
	if c.flags&fSackOK == 0 && as.dup {
		acked = mss // a duplicate ACK without SACK: one segment left the network
	}
	if acked > 0 {
		cwnd, conserving := b.recoverOrRestore(c, as, acked)
		if !conserving {
			// Linux bbr_set_cwnd: the BDP at cwnd_gain plus the ACK
			// aggregation allowance, then the quantization budget.
			target := b.budget(c, b.bdp(mss, bw, b.cwndGain)+b.aggregationCwnd(bw))
			switch {
			case b.flags&bbrFilledPipe != 0:
				cwnd = min(cwnd+acked, target)
			case cwnd < target || b.rs.delivered < uint64(initialWindowSegments*mss):
				cwnd += acked
			}
			cwnd = max(cwnd, bbrMinCwndSegs*mss)
		}
		b.cwnd = min(cwnd, 1<<30)
	}
	if b.mode == bbrProbeRTT {
		b.cwnd = min(b.cwnd, bbrMinCwndSegs*mss)
	}
}

// recoverOrRestore is the draft's BBRModulateCwndForRecovery with Linux's
// bbr_set_cwnd_to_recover_or_restore: newly lost bytes leave cwnd; on
// entering fast recovery cwnd becomes the flight plus what this ACK
// delivered, held there (packet conservation) for a round; on leaving
// recovery or the Loss state cwnd returns to at least its value before.
func (b *bbr) recoverOrRestore(c *Conn, as *ackSample, acked int) (int, bool) {
	state := c.lossState()
	cwnd := b.cwnd
	if as.lost > 0 {
		cwnd = max(cwnd-as.lost, c.mss)
	}
	switch {
	case state == CARecovery && b.prevState != CARecovery:
		b.flags |= bbrConservation
		b.nextRound = b.rs.delivered // the round starts now
		cwnd = c.pipe() + acked
	case b.prevState >= CARecovery && state < CARecovery:
		cwnd = max(cwnd, b.priorCwnd)
		b.flags &^= bbrConservation
	}
	b.prevState = state
	if b.flags&bbrConservation != 0 {
		return max(cwnd, c.pipe()+acked), true
	}
	return cwnd, false
}

// maxFilter is a windowed maximum over round counts: Kathleen Nichols'
// algorithm that keeps the best, second-best and third-best samples of
// the window, each from a later part of it, so the maximum of the last
// win rounds is known in constant time and space.
type maxFilter struct {
	s [3]filterSample
}

type filterSample struct {
	t uint32 // round count
	v uint64
}

func (m *maxFilter) get() uint64 { return m.s[0].v }

func (m *maxFilter) reset(t uint32, v uint64) {
	m.s[0] = filterSample{t, v}
	m.s[1], m.s[2] = m.s[0], m.s[0]
}

// update adds v at round t with a window of win rounds.
func (m *maxFilter) update(win, t uint32, v uint64) {
	n := filterSample{t, v}
	if v >= m.s[0].v || t-m.s[2].t > win {
		m.reset(t, v) // a new maximum, or nothing in the window any more
		return
	}
	switch {
	case v >= m.s[1].v:
		m.s[1], m.s[2] = n, n
	case v >= m.s[2].v:
		m.s[2] = n
	}
	// Age the samples: the best leaves the window, or a sub-window
	// passed without a new second or third best.
	d := t - m.s[0].t
	switch {
	case d > win:
		m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], n
		if t-m.s[0].t > win {
			m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], n
		}
	case m.s[1].t == m.s[0].t && d > win/4:
		m.s[1], m.s[2] = n, n
	case m.s[2].t == m.s[1].t && d > win/2:
		m.s[2] = n
	}
}

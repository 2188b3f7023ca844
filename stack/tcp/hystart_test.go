package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// HyStart, congestion window validation and restart after idle.

// rounds plays the peer for n round trips of rtt each: every segment in
// flight is ACKed (with its timestamp echoed) rtt after the round began.
func rounds(h *harness, n int, rtt time.Duration, pts *uint32) {
	for r := 0; r < n; r++ {
		h.c.Write(make([]byte, 256<<10)) // keep the send buffer full
		segs := h.out.segs
		h.out.segs = nil
		h.advance(rtt)
		for _, s := range segs {
			if len(s.seg.Payload) == 0 {
				continue
			}
			*pts++
			h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(len(s.seg.Payload))), withTS(*pts, s.seg.Opts.TSVal))
		}
	}
}

// hsConn is a connection with timestamps (an RTT sample per ACK), a
// 10 ms handshake RTT and no tail loss probes (rounds hold the ACKs).
func hsConn(t *testing.T) (*harness, uint32) {
	return sackConn(t, true, func(c *Config) { c.EarlyRetrans = 0 }), 101
}

// HyStart's delay rule (Linux hystart_update, HYSTART_DELAY): a round
// whose smallest RTT (of 8 samples or more) is 20 ms above the
// connection's minimum (more than the 4..16 ms threshold) ends slow
// start at once: ssthresh = cwnd, then congestion avoidance, and HyStart
// does not look again.
func TestHyStartDelayExit(t *testing.T) {
	h, pts := hsConn(t)
	rounds(h, 2, 10*time.Millisecond, &pts)
	st := h.l.Stats()
	if h.c.cc.ssthreshBytes() != ssthreshInfinite || st.TCPHystartDelayDetect.Load() != 0 {
		t.Fatal("left slow start with a steady RTT")
	}
	// The queue builds: a round of 30 ms ACKs (whose first samples share
	// a round with the last 10 ms one), then one of only 30 ms samples.
	rounds(h, 2, 30*time.Millisecond, &pts)
	if st.TCPHystartDelayDetect.Load() != 1 || st.TCPHystartTrainDetect.Load() != 0 {
		t.Fatalf("delay detections %d, train %d, want 1 and 0", st.TCPHystartDelayDetect.Load(), st.TCPHystartTrainDetect.Load())
	}
	cw := st.TCPHystartDelayCwnd.Load()
	if cw < hsLowWindow || h.c.cc.ssthreshBytes()/h.c.mss != int(cw) {
		t.Fatalf("TCPHystartDelayCwnd %d, ssthresh %d: not cwnd at the exit", cw, h.c.cc.ssthreshBytes())
	}
	// Congestion avoidance: far less than doubling per round, but at
	// least 5 % while no reduction has happened (Linux bictcp_update's
	// cnt <= 20 when last_max_cwnd is 0), not the cubic curve's
	// almost flat start.
	before := h.c.cc.window()
	rounds(h, 1, 30*time.Millisecond, &pts)
	if grown := h.c.cc.window() - before; grown*10 > before*2 || grown*100 < before*4 {
		t.Fatalf("cwnd %d -> %d in a round after the exit, want +4..20 %%", before, h.c.cc.window())
	}
	rounds(h, 3, 60*time.Millisecond, &pts)
	if st.TCPHystartDelayDetect.Load() != 1 {
		t.Fatal("HyStart looked again after its exit")
	}
}

// HyStart's ACK-train rule (HYSTART_ACK_TRAIN): once cwnd is 16 segments,
// ACKs that keep coming at most 2 ms apart for longer than half the
// minimum RTT (plus at most 1 ms) say the round's data filled the pipe:
// slow start ends, ssthresh = cwnd. Below 16 segments it does not look.
func TestHyStartTrainExit(t *testing.T) {
	h, pts := hsConn(t)
	rounds(h, 2, 10*time.Millisecond, &pts) // cwnd 40 segments, min RTT 10 ms
	// The train began with the round's first ACK; it is over half the
	// minimum RTT (plus the allowance) long by the 7th.
	if acked := ackTrain(t, h, &pts, 10*time.Millisecond, time.Millisecond); acked < 6 || acked > 7 {
		t.Fatalf("exit on ACK %d of the train, want the 6th or 7th", acked)
	}
}

// A connection that paces (a maximum pacing rate set, Linux's
// SK_PACING_NEEDED) sends its round spread over the RTT, so its ACKs come
// as a train anyway: tcp_cubic.c does not halve the threshold for it, and
// the train must outlast the whole minimum RTT plus the allowance.
func TestHyStartTrainPaced(t *testing.T) {
	h, pts := hsConn(t)
	rounds(h, 2, 10*time.Millisecond, &pts)
	h.c.SetMaxPacingRate(1 << 30)
	if acked := ackTrain(t, h, &pts, 10*time.Millisecond, time.Millisecond); acked < 12 || acked > 13 {
		t.Fatalf("paced: exit on ACK %d of the train, want the 12th or 13th (11 ms: the minimum RTT and the 1 ms allowance)", acked)
	}
}

// ackTrain fills a round, then ACKs its segments gap apart (the first rtt
// after the round began) until HyStart's ACK-train rule ends slow start,
// and returns how many ACKs that took.
func ackTrain(t *testing.T, h *harness, pts *uint32, rtt, gap time.Duration) int {
	t.Helper()
	st := h.l.Stats()
	h.c.Write(make([]byte, 256<<10))
	segs := h.out.segs
	h.out.segs = nil
	h.advance(rtt)
	acked := 0
	for _, s := range segs {
		if len(s.seg.Payload) == 0 {
			continue
		}
		*pts++
		h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(len(s.seg.Payload))), withTS(*pts, s.seg.Opts.TSVal))
		acked++
		if st.TCPHystartTrainDetect.Load() > 0 {
			break
		}
		h.advance(gap) // a train
	}
	if st.TCPHystartTrainDetect.Load() != 1 || st.TCPHystartDelayDetect.Load() != 0 {
		t.Fatalf("train detections %d, delay %d after %d ACKs %v apart (SRTT %v)", st.TCPHystartTrainDetect.Load(), st.TCPHystartDelayDetect.Load(), acked, gap, h.c.rtt.srtt)
	}
	if cw := st.TCPHystartTrainCwnd.Load(); h.c.cc.ssthreshBytes()/h.c.mss != int(cw) {
		t.Fatalf("TCPHystartTrainCwnd %d, ssthresh %d: not cwnd at the exit", cw, h.c.cc.ssthreshBytes())
	}
	return acked
}

// RFC 7661 / Linux tcp_is_cwnd_limited: an application that keeps one
// segment in flight does not grow cwnd.
func TestCwndNotGrownWhenAppLimited(t *testing.T) {
	h := sackConn(t, false)
	una := ourISN + 1
	iw := h.c.cc.window()
	for i := 0; i < 50; i++ {
		h.c.Write(make([]byte, 1000))
		h.expect(payloadLen(1000))
		h.advance(10 * time.Millisecond)
		una += 1000
		h.send(ACK, peerISN+1, una)
	}
	if h.c.cc.window() != iw {
		t.Fatalf("cwnd %d after 50 application-limited round trips, want %d", h.c.cc.window(), iw)
	}
}

// tcp_slow_start_after_idle (RFC 5681 §4.1, Linux tcp_cwnd_restart):
// after more than an RTO idle, at most the initial window goes out.
func TestSlowStartAfterIdle(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := sackConn(t, false, func(c *Config) { c.SlowStartAfterIdle = on; c.EarlyRetrans = 0 })
		h.c.Write(make([]byte, 60*1000))
		for len(h.out.segs) > 0 {
			segs := h.out.segs
			h.out.segs = nil
			h.advance(10 * time.Millisecond)
			for _, s := range segs {
				h.send(ACK, peerISN+1, s.seg.Seq.Add(seqnumSize(len(s.seg.Payload))))
			}
		}
		if h.c.cc.window() <= 20*1000 {
			t.Fatalf("cwnd %d did not grow", h.c.cc.window())
		}
		h.advance(2 * time.Second)
		h.c.Write(make([]byte, 60*1000))
		n := len(h.out.segs)
		if on && n != initialWindowSegments {
			t.Fatalf("after idle: %d segments, want the initial window", n)
		}
		if !on && n <= initialWindowSegments {
			t.Fatalf("tcp_slow_start_after_idle=0: %d segments after idle", n)
		}
	}
}

func seqnumSize(n int) seqnum.Size { return seqnum.Size(n) }

// The ACK-train allowance is the time 4 GSO packets take at Linux's
// sk_pacing_rate, which tcp_update_pacing_rate keeps for every connection
// (cwndRate): twice cwnd per SRTT below half of ssthresh
// (tcp_pacing_ss_ratio), 1.2 times above it (tcp_pacing_ca_ratio). On a
// 200 µs path with cwnd at 200 segments the allowance is below its 1 ms
// cap, so slow start after ssthresh was set at 300 segments (cwnd above
// half of it) needs a longer train to end than slow start from the
// beginning, with the same cwnd and the same ACKs.
func TestHyStartTrainAllowanceAtPacingRate(t *testing.T) {
	train := func(ssthresh int) int {
		h, pts := hsConn(t)
		rounds(h, 2, 10*time.Millisecond, &pts)
		rounds(h, 1, 200*time.Microsecond, &pts) // the minimum RTT, SRTT falling
		h.c.cubic.cwnd, h.c.cubic.ssthresh = 200*h.c.mss, ssthresh
		acked := ackTrain(t, h, &pts, 200*time.Microsecond, 20*time.Microsecond)
		t.Logf("ssthresh %d bytes: exit on ACK %d, SRTT %v", ssthresh, acked, h.c.rtt.srtt)
		return acked
	}
	fromStart := train(ssthreshInfinite)
	afterLoss := train(300 * 1000)
	if afterLoss < fromStart+3 {
		t.Fatalf("exit on ACK %d with cwnd above half of ssthresh, %d from the start: the allowance did not follow the 1.2 ratio", afterLoss, fromStart)
	}
}

package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// tsReceiver is a passive open with timestamps after a handshake of
// handshakeRTT; it returns the harness, the peer's next sequence number
// and our SYN-ACK's TSval, which the handshake's ACK echoed.
func tsReceiver(t *testing.T, handshakeRTT time.Duration) (*harness, seqnum.Value, uint32) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withWS(7), withTS(1, 0))
	s := h.expect(flags(SYN | ACK))
	h.advance(handshakeRTT)
	h.send(ACK, peerISN+1, ourISN+1, withTS(2, s.seg.Opts.TSVal))
	h.state(StateEstablished)
	return h, peerISN + 1, s.seg.Opts.TSVal
}

// The timestamp samples (Linux tcp_rcv_rtt_measure_ts): a full-sized
// segment with a new TSecr gives now - TSecr; the segments after it
// with the same TSecr give nothing (they left later, not a round trip
// later); a smaller sample replaces the estimate, a larger one moves it
// by an eighth.
func TestRcvRTTTimestamps(t *testing.T) {
	h, seq, synTS := tsReceiver(t, time.Millisecond)
	if in := h.c.Info(); in.RcvRTT != 0 {
		t.Fatalf("rcv_rtt %v before any data", in.RcvRTT)
	}
	seg := func(ecr uint32, n int) {
		h.send(ACK, seq, ourISN+1, withTS(3, ecr), withData(make([]byte, n)))
		seq += seqnum.Value(n)
	}
	// want checks the estimate; fresh takes the TSval a segment sent now
	// carries and lets d pass before the peer's echo of it arrives.
	want := func(d time.Duration, what string) {
		t.Helper()
		if in := h.c.Info(); in.RcvRTT != d {
			t.Fatalf("rcv_rtt %v %s, want %v", in.RcvRTT, what, d)
		}
	}
	fresh := func(d time.Duration) uint32 {
		ecr := h.c.tsVal(h.now)
		h.advance(d)
		return ecr
	}
	// The handshake's ACK echoed the SYN-ACK's TSval without using it up
	// (it is not processed as an ESTABLISHED segment): the first data
	// echoing it is the first sample, 40 ms.
	h.advance(39 * time.Millisecond)
	seg(synTS, 1460)
	want(40*time.Millisecond, "from the first data")
	ecr := fresh(60 * time.Millisecond)
	seg(ecr, 100) // not full-sized: no sample, but the TSecr is used up
	seg(ecr, 1460)
	want(40*time.Millisecond, "after a small segment used the TSecr up")
	ecr = fresh(40 * time.Millisecond)
	seg(ecr, 1460)
	h.advance(30 * time.Millisecond)
	seg(ecr, 1460) // same TSecr, 70 ms old: ignored
	want(40*time.Millisecond, "after a used TSecr came again")
	seg(fresh(120*time.Millisecond), 1460) // 40 - 40/8 + 120/8 = 50
	want(50*time.Millisecond, "after a 120 ms sample")
	ecr = fresh(20 * time.Millisecond)
	seg(ecr, 1460)
	want(20*time.Millisecond, "after a 20 ms sample")
	// While the application leaves bytes unread, a larger sample does
	// not raise the estimate (Linux 6.18); a smaller one still lowers it.
	h.c.PauseRead()
	seg(ecr, 1460) // queued; its TSecr was used: no sample
	seg(fresh(100*time.Millisecond), 1460)
	want(20*time.Millisecond, "after a 100 ms sample with unread bytes queued")
	seg(fresh(10*time.Millisecond), 1460)
	want(10*time.Millisecond, "after a 10 ms sample with unread bytes queued")
}

// Without timestamps (Linux tcp_rcv_rtt_measure): the time for one
// advertised window to arrive after a measurement starts, only ever
// lowering the estimate.
func TestRcvRTTPerWindow(t *testing.T) {
	h := establishedConn(t)
	seq := peerISN + 1
	wnd := int(h.c.rcvAdv.Sub(h.c.rcvWup))
	send := func(n int, every time.Duration) {
		for sent := 0; sent < n; sent += 1460 {
			h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
			seq += 1460
			h.advance(every)
		}
	}
	send(1460, 0) // starts the measurement
	send(wnd, time.Millisecond)
	got := h.c.Info().RcvRTT
	want := time.Duration((wnd+1459)/1460) * time.Millisecond
	if got < want-2*time.Millisecond || got > want+2*time.Millisecond {
		t.Fatalf("rcv_rtt %v after a %d-byte window at 1460 bytes/ms, want about %v", got, wnd, want)
	}
	send(4*wnd, 3*time.Millisecond) // slower windows: not a smaller round trip
	if in := h.c.Info(); in.RcvRTT != got {
		t.Fatalf("rcv_rtt %v after slower windows, want it kept at %v", in.RcvRTT, got)
	}
}

// Autotuning measures over the receiver's RTT, not SRTT: a connection that
// only receives keeps the handshake's 1 ms SRTT, while its data comes over
// a 50 ms path at 10 MB/s, evenly. Per SRTT the application takes 10 kB,
// less than the initial rcv_space (14,600), and the window would stay at
// tcp_rmem[1], far below the 500 kB the path holds; per receiver RTT it
// takes 500 kB, rcv_space becomes that, and the buffer grows to cover it
// (Linux tcp_rcv_space_adjust over rcv_rtt_est).
func TestAutotuneOverReceiverRTT(t *testing.T) {
	h, seq, _ := tsReceiver(t, time.Millisecond)
	const rtt = 50 * time.Millisecond
	var sent []uint32 // our TSvals, one per ms: what the peer echoes a round trip later
	for ms := 0; ms < 400; ms++ {
		sent = append(sent, h.c.tsVal(h.now))
		ecr := sent[max(0, len(sent)-1-int(rtt/time.Millisecond))]
		for i := 0; i < 7; i++ {
			h.send(ACK, seq, ourISN+1, withTS(uint32(10+ms), ecr), withData(make([]byte, 1460)))
			seq += 1460
		}
		h.advance(time.Millisecond)
	}
	in := h.c.Info()
	bdp := 7 * 1460 * int(rtt/time.Millisecond)
	if in.RcvBuf < 2*bdp {
		t.Fatalf("receive buffer %d after 400 ms at 10 MB/s over %v: want at least twice the %d bytes in flight", in.RcvBuf, rtt, bdp)
	}
	if in.RcvSpace != bdp {
		t.Fatalf("rcv_space %d: want the %d bytes taken per receiver RTT", in.RcvSpace, bdp)
	}
	if in.RTT > 2*time.Millisecond || in.RcvRTT != rtt {
		t.Fatalf("srtt %v, rcv_rtt %v; want the handshake's 1ms and the path's %v", in.RTT, in.RcvRTT, rtt)
	}
}

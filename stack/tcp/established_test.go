package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// ESTABLISHED (RFC 9293 §3.10.7.4).

func TestEstablishedQuickAck(t *testing.T) {
	h := establishedConn(t)
	// Linux's quick-ACK mode: the first 16 segments are ACKed at once.
	for i := 0; i < 16; i++ {
		h.send(ACK, peerISN+1+seqnum.Value(i*1460), ourISN+1, withData(make([]byte, 1460)))
		h.expect(flags(ACK), ackNum(peerISN+1+seqnum.Value((i+1)*1460)))
	}
	h.send(ACK, peerISN+1+16*1460, ourISN+1, withData(make([]byte, 1460)))
	h.expectNothing()
}

func TestEstablishedDataBothWays(t *testing.T) {
	h := establishedConn(t)
	pastQuickAcks(h)
	full := make([]byte, 1460)
	h.send(ACK, peerISN+1, ourISN+1, withData(full))
	h.expectNothing() // one full segment: the ACK waits (RFC 1122 §4.2.3.2)
	h.send(ACK, peerISN+1461, ourISN+1, withData(full))
	h.expect(flags(ACK), ackNum(peerISN+1+2920)) // every second full segment
	if len(h.rec.data) != 2920 {
		t.Fatal("data not delivered")
	}
	if n := h.c.Write([]byte("response")); n != 8 {
		t.Fatalf("Write took %d", n)
	}
	h.expect(flags(ACK|PSH), seqNum(ourISN+1), ackNum(peerISN+2921), payloadLen(8))
	h.send(ACK, peerISN+2921, ourISN+9)
	h.expectNothing()
	if h.c.sndBuf.chunks != nil {
		t.Fatal("send buffer kept after everything was acknowledged")
	}
	if h.c.Info().SendQ != 0 || h.c.Info().State != StateEstablished {
		t.Fatal("Info")
	}
}

func TestEstablishedResponsePiggybacksAck(t *testing.T) {
	h := establishedConn(t)
	h.rec.onData = func(c *Conn, p []byte) { c.Write([]byte("pong")) }
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("ping")))
	h.expect(flags(ACK|PSH), payloadLen(4), ackNum(peerISN+5))
	h.advance(time.Second)
	h.expect(flags(ACK|PSH), payloadLen(4), at(200*time.Millisecond)) // RTO: the peer did not ACK
}

func TestEstablishedOutOfOrderReassembly(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK|PSH, peerISN+6, ourISN+1, withData([]byte("world")))
	h.expect(flags(ACK), ackNum(peerISN+1)) // duplicate ACK at once
	h.send(ACK, peerISN+1, ourISN+1, withData([]byte("hello")))
	h.expect(flags(ACK), ackNum(peerISN+11)) // hole filled: ACK at once
	if string(h.rec.data) != "helloworld" {
		t.Fatalf("data %q", h.rec.data)
	}
}

func TestEstablishedOldSegmentGetsAck(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN-100, ourISN+1, withData([]byte("x")))
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
}

func TestEstablishedRst(t *testing.T) {
	h := establishedConn(t)
	h.send(RST, peerISN+1, 0)
	h.expectNothing()
	if h.rec.closeErr(t) != ErrReset {
		t.Fatal("want ErrReset")
	}
	if h.l.Conns() != 0 || h.l.Stats().EstabResets.Load() != 1 {
		t.Fatal("not closed")
	}
}

func TestEstablishedInWindowRstChallengeAck(t *testing.T) {
	h := establishedConn(t)
	h.send(RST, peerISN+100, 0)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1)) // RFC 5961 §3.2
	h.state(StateEstablished)
	h.send(RST, peerISN+1000000, 0)
	h.expectNothing() // out of window: dropped
}

func TestEstablishedSynChallengeAck(t *testing.T) {
	h := establishedConn(t)
	h.send(SYN, peerISN+10, 0)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1)) // RFC 5961 §4
	h.state(StateEstablished)
}

func TestEstablishedAckOfUnsentDataChallenged(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+100)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
}

// RTO (RFC 6298): a lost segment is retransmitted with exponential
// backoff; the connection gives up with ErrTimeout at the first timer
// 924.6 s (tcp_retries2 15's budget) after the first retransmission
// (Linux retrans_stamp): with the RTO at exactly 200 ms the 16th timer,
// at 924.6 s, is 924.4 s after it, so a 16th retransmission goes and the
// connection is given up at 1044.6 s (measured on Linux 6.18 with the
// orphan budget, conformance/scripts/orphan-retries-budget.pkt).
func TestEstablishedRTOBackoffAndRetries2(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("data"))
	h.expect(flags(ACK|PSH), payloadLen(4))
	// The handshake RTT sample was ~0, so RTO = 200 ms (Linux floor).
	want := []time.Duration{}
	var t0, rto time.Duration = 0, 200 * time.Millisecond
	for i := 0; i < 16; i++ {
		t0 += rto
		want = append(want, t0)
		rto = min(2*rto, 120*time.Second)
	}
	h.advance(1045 * time.Second)
	for _, w := range want {
		h.expect(flags(ACK|PSH), seqNum(ourISN+1), payloadLen(4), at(w))
	}
	h.expectNothing()
	if h.rec.closeErr(t) != ErrTimeout {
		t.Fatal("want ErrTimeout")
	}
	for _, e := range h.rec.events {
		if e.kind == "close" && time.Duration(e.at) != 1044600*time.Millisecond {
			t.Fatalf("gave up at %v, want 1044.6s", time.Duration(e.at))
		}
	}
	if h.l.Stats().TCPAbortOnTimeout.Load() != 1 || h.l.Stats().TCPTimeouts.Load() != 16 {
		t.Fatal("counters")
	}
}

func TestEstablishedLostSegmentRecovered(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("data"))
	h.expect(flags(ACK|PSH), payloadLen(4), at(0))
	h.advance(200 * time.Millisecond)
	h.expect(flags(ACK|PSH), payloadLen(4), at(200*time.Millisecond))
	h.send(ACK, peerISN+1, ourISN+5)
	h.advance(10 * time.Second)
	h.expectNothing()
	if h.l.Stats().RetransSegs.Load() != 1 {
		t.Fatal("RetransSegs")
	}
}

func TestEstablishedRTTFromArrival(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("data"))
	h.expect(flags(ACK | PSH))
	arr := h.now.Add(50 * time.Millisecond)
	h.now = arr.Add(30 * time.Millisecond) // the loop got to it 30 ms later
	s := Segment{Key: h.key, Seq: peerISN + 1, Ack: ourISN + 5, Flags: ACK, Window: 65535, Arrival: arr}
	h.l.Input(h.now, &s)
	// SRTT: first sample ~0 from the handshake, then 50 ms.
	if h.c.rtt.srtt > 10*time.Millisecond || h.c.rtt.srtt < 6*time.Millisecond {
		t.Fatalf("srtt %v: want 50ms/8 from the arrival time", h.c.rtt.srtt)
	}
}

func TestEstablishedFlowControlZeroWindowProbe(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, withWin(0))
	h.c.Write([]byte("x"))
	h.expectNothing()
	h.advance(200 * time.Millisecond)
	h.expect(flags(ACK), seqNum(ourISN), payloadLen(0)) // probe at SND.UNA-1
	h.send(ACK, peerISN+1, ourISN+1, withWin(1000))
	h.expect(flags(ACK|PSH), payloadLen(1))
}

func TestEstablishedReceiveWindowAndPause(t *testing.T) {
	h := establishedConn(t)
	h.c.PauseRead()
	seq := peerISN + 1
	for i := 0; i < 45; i++ { // 65536 / 1460
		h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
		seq += 1460
	}
	h.out.segs = nil
	// All of the window was taken; the last segment may have been cut at
	// a right edge that receiver SWS avoidance did not move by less than
	// an MSS (RFC 9293 §3.8.6.2.2).
	seq = h.c.rcvNxt
	if q := h.c.Info().RecvQ; q != int(seq-(peerISN+1)) || q < 44*1460 || h.c.rcvAdv != h.c.rcvNxt {
		t.Fatalf("RecvQ %d, window %d", q, h.c.rcvAdv-h.c.rcvNxt)
	}
	// Beyond the advertised window: dropped and ACKed.
	h.send(ACK, seq+seqnum.Value(200000), ourISN+1, withData(make([]byte, 1460)))
	h.expect(flags(ACK), ackNum(seq))
	h.c.ResumeRead()
	if len(h.rec.data) != int(seq-(peerISN+1)) || h.c.rcvBuf.chunks != nil {
		t.Fatal("not delivered or buffer kept")
	}
	h.expect(flags(ACK), ackNum(seq)) // window update
}

// tcp_pingpong_thresh 3: three replies within the ACK timeout before
// pingpong mode, so the first three requests are ACKed at once and the
// fourth waits (Linux 6.18, xdptcp/pingpong-thresh); a delayed ACK that
// has to go alone ends pingpong mode, the count back at 0.
func TestPingpongThresh(t *testing.T) {
	h := establishedConn(t, func(c *Config) { c.PingpongThresh = 3 })
	seq, us := peerISN+1, ourISN+1
	for i := 1; i <= 4; i++ {
		h.advance(100 * time.Millisecond)
		h.send(ACK|PSH, seq, us, withData([]byte("req")))
		seq += 3
		if i < 4 {
			h.expect(flags(ACK), ackNum(seq)) // quick ACK
		} else {
			h.expectNothing()
		}
		h.advance(10 * time.Millisecond)
		h.c.Write([]byte("resp"))
		h.expect(flags(ACK|PSH), payloadLen(4), ackNum(seq))
		us += 4
		h.send(ACK, seq, us)
	}
	if h.c.pingpong != 4 {
		t.Fatalf("pingpong count %d, want 4", h.c.pingpong)
	}
	// A request not answered: the delayed ACK goes alone and pingpong ends.
	h.send(ACK|PSH, seq, us, withData([]byte("req")))
	h.advance(atoMax)
	h.expect(flags(ACK), ackNum(seq+3))
	if h.c.pingpong != 0 || h.c.inPingpong() {
		t.Fatalf("pingpong count %d after a delayed ACK alone, want 0", h.c.pingpong)
	}
}

// Pingpong: once we answer data within the delayed-ACK time, quick ACKs
// stop (Linux tcp_event_data_sent): the next request's ACK rides on the
// response or waits 40 ms.
func TestPingpongEndsQuickAck(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("req1")))
	h.expect(flags(ACK), ackNum(peerISN+5)) // quick ACK
	h.advance(time.Millisecond)
	h.c.Write([]byte("resp1"))
	h.expect(flags(ACK|PSH), payloadLen(5))
	h.send(ACK|PSH, peerISN+5, ourISN+6, withData([]byte("req2")))
	h.expectNothing()
	h.advance(40 * time.Millisecond)
	h.expect(flags(ACK), ackNum(peerISN+9), at(41*time.Millisecond))
}

// TCP_INFO's RTO counts (Linux 6.7's tcpi_total_rto, _recoveries,
// _time): two timeouts in a row are one recovery, which lasts until the
// ACK that ends the Loss state; a later timeout starts another; the time
// counts the recovery in progress too.
func TestTotalRTOCounts(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("data"))
	h.expect(flags(ACK|PSH), payloadLen(4), at(0))
	h.advance(600 * time.Millisecond) // timeouts at 200 and 600 ms
	h.expect(flags(ACK|PSH), payloadLen(4), at(200*time.Millisecond))
	h.expect(flags(ACK|PSH), payloadLen(4), at(600*time.Millisecond))
	h.advance(100 * time.Millisecond)
	if in := h.c.Info(); in.TotalRTO != 2 || in.TotalRTORecoveries != 1 || in.TotalRTOTime != 500*time.Millisecond {
		t.Fatalf("during the recovery: %d timeouts, %d recoveries, %v", in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
	}
	h.send(ACK, peerISN+1, ourISN+5)
	h.advance(time.Second)
	if in := h.c.Info(); in.TotalRTO != 2 || in.TotalRTORecoveries != 1 || in.TotalRTOTime != 500*time.Millisecond {
		t.Fatalf("after the recovery: %d timeouts, %d recoveries, %v", in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
	}
	h.c.Write([]byte("more"))
	h.expect(flags(ACK|PSH), payloadLen(4))
	h.advance(5 * time.Second)
	for len(h.out.segs) > 0 {
		h.expect()
	}
	h.send(ACK, peerISN+1, ourISN+9)
	if in := h.c.Info(); in.TotalRTO < 3 || in.TotalRTORecoveries != 2 || in.TotalRTOTime <= 500*time.Millisecond {
		t.Fatalf("after a second recovery: %d timeouts, %d recoveries, %v", in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
	}
}

// The SYN-ACK's timeouts of a passive open are one RTO recovery, from the
// first SYN-ACK to the handshake's end (Linux tcp_create_openreq_child);
// an active open's SYN timeouts count as timeouts and end with the
// SYN-ACK.
func TestTotalRTOHandshake(t *testing.T) {
	h := synReceivedConn(t)
	h.advance(3 * time.Second) // SYN-ACKs again at 1 and 3 s
	h.expect(flags(SYN | ACK))
	h.expect(flags(SYN | ACK))
	h.advance(500 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateEstablished)
	if in := h.c.Info(); in.TotalRTO != 2 || in.TotalRTORecoveries != 1 || in.TotalRTOTime != 3500*time.Millisecond {
		t.Fatalf("passive: %d timeouts, %d recoveries, %v", in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
	}
	d := dialConn(t)
	d.advance(time.Second)
	d.expect(flags(SYN), at(time.Second))
	d.advance(200 * time.Millisecond)
	d.send(SYN|ACK, peerISN, ourISN+1, withMSS(1460))
	d.state(StateEstablished)
	if in := d.c.Info(); in.TotalRTO != 1 || in.TotalRTORecoveries != 1 || in.TotalRTOTime != 200*time.Millisecond {
		t.Fatalf("active: %d timeouts, %d recoveries, %v", in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
	}
}

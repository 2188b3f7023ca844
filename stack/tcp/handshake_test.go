package tcp

import (
	"testing"
	"time"
)

// LISTEN and SYN-RECEIVED (RFC 9293 §3.10.7.2, §3.10.7.4).

func TestStateString(t *testing.T) {
	if StateSynReceived.String() != "SYN-RECEIVED" || StateTimeWait.String() != "TIME-WAIT" || StateFinWait1.String() != "FIN-WAIT-1" {
		t.Fatal("RFC spelling")
	}
}

func TestListenPassiveOpen(t *testing.T) {
	h := establishedConn(t)
	if !h.rec.has("open") {
		t.Fatal("no OnOpen")
	}
	if h.l.Stats().PassiveOpens.Load() != 1 {
		t.Fatal("PassiveOpens")
	}
	if h.c.mss != 1460 {
		t.Fatalf("mss %d", h.c.mss)
	}
}

func TestListenMSSAbsentIs536(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN|ACK), mss(1460))
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 2000))
	h.expect(flags(ACK), payloadLen(536))
}

func TestListenSmallPeerMSSCapsSegments(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000))
	h.expect(flags(SYN|ACK), mss(1460))
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 2500))
	h.expect(flags(ACK), payloadLen(1000))
	h.expect(flags(ACK|PSH), payloadLen(1000)) // a two-segment skb's end (push.go)
	h.expect(flags(ACK|PSH), payloadLen(500))
}

func TestListenAckWithoutConnGetsRst(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(ACK, peerISN, 777)
	h.expect(flags(RST), seqNum(777))
	h.send(RST, peerISN, 0)
	h.expectNothing()
}

// SYN-ACK lost: SYN-ACK retransmitted at 1, 3, 7, 15, 31 s
// (tcp_synack_retries 5), the half-open entry freed at 63 s.
func TestSynReceivedSynAckRetransmitAndGiveUp(t *testing.T) {
	h := synReceivedConn(t)
	for _, s := range []time.Duration{1, 3, 7, 15, 31} {
		h.advance(s*time.Second - time.Duration(h.now) - time.Millisecond)
		h.expectNothing()
		h.advance(time.Millisecond)
		h.expect(flags(SYN|ACK), seqNum(ourISN), ackNum(peerISN+1), at(s*time.Second))
	}
	h.advance(63*time.Second - time.Duration(h.now) - time.Millisecond)
	if h.l.Conns() != 1 || h.ln.SynQueueLen() != 1 {
		t.Fatal("half-open entry gone early")
	}
	h.advance(time.Millisecond)
	h.expectNothing()
	if h.l.Conns() != 0 || h.ln.SynQueueLen() != 0 {
		t.Fatalf("half-open entry not freed at 63 s: %d", h.l.Conns())
	}
	if h.l.Stats().TCPSynRetrans.Load() != 5 {
		t.Fatal("TCPSynRetrans")
	}
}

// tcp_synack_retries, or TCP_SYNCNT on the listener in its place
// (xdptcp/synack-retries, syncnt-listen): with 2 the SYN-ACK is resent at
// 1 and 3 s and the half-open connection freed at 7 s.
func TestSynReceivedSynackRetriesSetting(t *testing.T) {
	for _, listenerSynCnt := range []bool{false, true} {
		var h *harness
		if listenerSynCnt {
			h = newHarness(t)
			h.listen()
			h.ln.SetSynCount(2)
			h.send(SYN, peerISN, 0, withMSS(1460))
			h.expect(flags(SYN | ACK))
		} else {
			h = synReceivedConn(t, func(c *Config) { c.SynackRetries = 2 })
		}
		h.advance(7 * time.Second)
		h.expect(flags(SYN|ACK), at(time.Second))
		h.expect(flags(SYN|ACK), at(3*time.Second))
		h.expectNothing()
		if h.l.Conns() != 0 {
			t.Fatalf("listener TCP_SYNCNT %v: not freed at 7 s", listenerSynCnt)
		}
	}
}

// SYN-ACK lost, client retransmits its SYN: we answer with the SYN-ACK.
func TestSynReceivedDuplicateSynResendsSynAck(t *testing.T) {
	h := synReceivedConn(t)
	h.advance(500 * time.Millisecond)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN), ackNum(peerISN+1))
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateEstablished)
}

// ACK lost: the server keeps retransmitting the SYN-ACK; the client's first
// data segment (with a valid ACK) completes the handshake.
func TestSynReceivedAckLostDataCompletes(t *testing.T) {
	h := synReceivedConn(t)
	h.advance(time.Second)
	h.expect(flags(SYN|ACK), at(time.Second))
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("hello")))
	h.state(StateEstablished)
	if string(h.rec.data) != "hello" {
		t.Fatalf("data %q", h.rec.data)
	}
	// Quick-ACK mode at the start of a connection: ACKed at once.
	h.expect(flags(ACK), ackNum(peerISN+6), at(time.Second))
	// No more SYN-ACKs, and ACKs are never retransmitted.
	h.advance(10 * time.Second)
	h.expectNothing()
}

func TestSynReceivedBadAckGetsRst(t *testing.T) {
	h := synReceivedConn(t)
	h.send(ACK, peerISN+1, ourISN+5)
	h.expect(flags(RST), seqNum(ourISN+5))
	if c := h.l.conns.Get(testKey); c == nil || c.State() != StateSynReceived {
		t.Fatal("half-open entry lost")
	}
}

func TestSynReceivedRstReturnsToListen(t *testing.T) {
	h := synReceivedConn(t)
	h.send(RST, peerISN+1, 0)
	h.expectNothing()
	if h.l.Conns() != 0 || h.ln.SynQueueLen() != 0 {
		t.Fatal("half-open entry kept after RST")
	}
}

// Accept queue (Accept path) and its overflow.

func listenQueue(h *harness, backlog int) {
	ln, err := h.l.Listen(ourAddr, ourPort, ListenOptions{Backlog: backlog})
	if err != nil {
		h.t.Fatal(err)
	}
	h.ln = ln
}

func TestAcceptQueue(t *testing.T) {
	h := newHarness(t)
	notified := 0
	ln, _ := h.l.Listen(ourAddr, ourPort, ListenOptions{Backlog: 8, Notify: func() { notified++ }})
	h.ln = ln
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("early")))
	if ln.AcceptQueueLen() != 1 || notified != 1 {
		t.Fatalf("queue %d notified %d", ln.AcceptQueueLen(), notified)
	}
	c, ok := ln.Accept()
	if !ok {
		t.Fatal("Accept")
	}
	h.c = c
	c.SetHandler(h.rec)
	if !h.rec.has("open") || string(h.rec.data) != "early" {
		t.Fatalf("events %v data %q", h.rec.events, h.rec.data)
	}
}

func TestAcceptQueueOverflowDropsAck(t *testing.T) {
	h := newHarness(t)
	listenQueue(h, 1)
	// Linux's accept queue holds backlog+1 connections.
	for _, p := range []uint16{1, 2} {
		h.key.RemotePort = p
		h.send(SYN, peerISN, 0, withMSS(1460))
		h.expect(flags(SYN | ACK))
		h.send(ACK, peerISN+1, ourISN+1)
	}
	if h.ln.AcceptQueueLen() != 2 {
		t.Fatal("backlog 1 holds 2")
	}
	h.key = testKey
	k2 := h.key
	k2.RemotePort++
	h.key = k2
	h.send(SYN, peerISN, 0, withMSS(1460))
	// A SYN while the accept queue is full is dropped (Linux).
	h.expectNothing()
	st := h.l.Stats()
	if st.ListenOverflows.Load() != 1 || st.ListenDrops.Load() != 1 {
		t.Fatalf("overflows %d drops %d", st.ListenOverflows.Load(), st.ListenDrops.Load())
	}
	h.ln.Accept()
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	// Fill the queue again from a third client, then complete this one.
	k3 := k2
	k3.RemotePort++
	h.key = k3
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.key = k2
	h.send(ACK, peerISN+1, ourISN+1)
	h.expectNothing() // dropped: still SYN-RECEIVED
	if st.ListenOverflows.Load() != 2 {
		t.Fatal("ListenOverflows")
	}
	if c := h.l.conns.Get(k2); c == nil || c.State() != StateSynReceived {
		t.Fatal("half-open entry lost")
	}
	// Our SYN-ACK retransmission continues; once the queue has room the
	// client's ACK completes it.
	h.advance(time.Second)
	h.expect(flags(SYN|ACK), at(time.Second))
	h.ln.Accept()
	h.send(ACK, peerISN+1, ourISN+1)
	if h.ln.AcceptQueueLen() != 2 {
		t.Fatal("not completed after room")
	}
}

func TestAcceptQueueOverflowAbort(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AbortOnOverflow = true })
	listenQueue(h, 0)
	h.ln.backlog = 0 // holds one connection (backlog+1, as Linux)
	// Two SYNs, then both ACKs: the second overflows.
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	k2 := h.key
	k2.RemotePort++
	h.key = k2
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.key = testKey
	h.send(ACK, peerISN+1, ourISN+1)
	h.key = k2
	h.send(ACK, peerISN+1, ourISN+1)
	h.expect(flags(RST), seqNum(ourISN+1))
	if h.l.conns.Get(k2) != nil {
		t.Fatal("connection kept")
	}
	if h.l.Stats().ListenOverflows.Load() != 1 || h.l.Stats().ListenDrops.Load() != 1 {
		t.Fatal("counters")
	}
}

func TestSynQueueBound(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSynBacklog = 2 })
	h.listen()
	for i := 0; i < 3; i++ {
		h.key.RemotePort = uint16(1000 + i)
		h.send(SYN, peerISN, 0)
	}
	h.expect(flags(SYN | ACK))
	h.expect(flags(SYN | ACK))
	h.expectNothing()
	if h.l.Stats().ListenDrops.Load() != 1 {
		t.Fatal("ListenDrops")
	}
}

// CLOSED (RFC 9293 §3.10.7.1).

func TestClosedPortRst(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.key.LocalPort = 81
	h.send(SYN, peerISN, 0)
	h.expect(flags(RST|ACK), seqNum(0), ackNum(peerISN+1))
	h.send(ACK|PSH, peerISN, 4242, withData([]byte("abc")))
	h.expect(flags(RST), seqNum(4242))
	h.send(FIN, peerISN, 0, withData([]byte("abc")))
	h.expect(flags(RST|ACK), seqNum(0), ackNum(peerISN+4))
	h.send(RST, peerISN, 0)
	h.expectNothing()
	if h.l.Stats().OutRsts.Load() != 3 {
		t.Fatal("OutRsts")
	}
}

// TCP_MAXSEG on a listener (Linux user_mss): the SYN-ACK offers it and the
// send MSS is at most it (packetdrill mss/mss-setsockopt-tcp_maxseg-server).
func TestListenUserMSS(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.ln.SetMSS(1100)
	h.send(SYN, peerISN, 0, withMSS(1300))
	h.expect(flags(SYN|ACK), mss(1100))
	h.send(ACK, peerISN+1, ourISN+1)
	if in := h.c.Info(); in.SndMSS != 1100 || in.AdvMSS != 1100 {
		t.Fatalf("snd_mss %d advmss %d, want 1100", in.SndMSS, in.AdvMSS)
	}
	h.c.Write(make([]byte, 1500))
	h.expect(payloadLen(1100))
	h.expect(payloadLen(400))
}

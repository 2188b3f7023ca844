package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// SYN-SENT (RFC 9293 §3.10.7.3) and Dial.

func TestDialHandshake(t *testing.T) {
	h := dialConn(t)
	if h.key.LocalPort < 32768 || h.key.LocalPort > 60999 {
		t.Fatalf("local port %d outside ip_local_port_range", h.key.LocalPort)
	}
	h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1200))
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.state(StateEstablished)
	if !h.rec.has("open") || h.c.mss != 1200 || h.l.Stats().ActiveOpens.Load() != 1 {
		t.Fatal("open")
	}
	h.c.Write(make([]byte, 3000))
	h.expect(flags(ACK), payloadLen(1200))
}

// TestDialSynSchedule: the SYN retransmission schedule of an active open
// that gets no answer, and when it fails with ErrTimeout (tcp_write_timeout
// gives up at the first timer past the doubling schedule's time for
// tcp_syn_retries, whatever tcp_syn_linear_timeouts made of the SYNs).
// Measured on Linux 6.18: conformance/scripts/syn-retries-default.pkt
// (the defaults, 6 retries and 4 linear timeouts), syn-linear-timeouts.pkt
// (2 retries: the give-up time, 7 s, comes before the linear SYNs run
// out) and syn-retries.pkt (no linear timeouts); TCP_SYNCNT in place of
// tcp_syn_retries: syncnt.pkt.
func TestDialSynSchedule(t *testing.T) {
	for _, tc := range []struct {
		name         string
		retries, lin int
		syns         []time.Duration // seconds
		giveUp       time.Duration   // seconds
		synCnt       int             // SetSynCount, if > 0
	}{
		{"defaults", 6, 4, []time.Duration{1, 2, 3, 4, 5, 7, 11, 19, 35, 67}, 131, 0},
		{"2 retries", 2, 4, []time.Duration{1, 2, 3, 4, 5}, 7, 0},
		{"5 retries, no linear timeouts", 5, 0, []time.Duration{1, 3, 7, 15, 31}, 63, 0},
		{"6 retries, no linear timeouts", 6, 0, []time.Duration{1, 3, 7, 15, 31, 63}, 127, 0},
		{"TCP_SYNCNT 3, no linear timeouts", 6, 0, []time.Duration{1, 3, 7}, 15, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := dialConn(t, func(c *Config) { c.SynRetries, c.SynLinearTimeouts = tc.retries, tc.lin })
			if tc.synCnt > 0 {
				h.c.SetSynCount(tc.synCnt)
				if n := h.c.SynCount(); n != tc.synCnt {
					t.Fatalf("SynCount %d", n)
				}
			}
			h.advance(200 * time.Second)
			for _, s := range tc.syns {
				h.expect(flags(SYN), seqNum(ourISN), at(s*time.Second))
			}
			h.expectNothing()
			if h.rec.closeErr(t) != ErrTimeout {
				t.Fatal("want ErrTimeout")
			}
			if e := h.rec.events[len(h.rec.events)-1]; time.Duration(e.at) != tc.giveUp*time.Second {
				t.Fatalf("gave up at %v, want %ds", time.Duration(e.at), tc.giveUp)
			}
			if h.l.Stats().AttemptFails.Load() != 1 {
				t.Fatal("AttemptFails")
			}
		})
	}
}

// TCP_INFO in SYN-SENT after the five linear timeouts' SYNs (the
// defaults): tcpi_retransmits 5, tcpi_backoff counts only the doubling
// (1), and the RTO is 2 s.
func TestDialSynLinearInfo(t *testing.T) {
	h := dialConn(t)
	h.advance(5 * time.Second)
	if in := h.c.Info(); in.Retransmits != 5 || in.Backoff != 1 || in.RTO != 2*time.Second {
		t.Fatalf("retransmits %d backoff %d RTO %v, want 5 1 2s", in.Retransmits, in.Backoff, in.RTO)
	}
}

// SYN-ACK lost (client side): the client retransmits its SYN, the server's
// answer completes the handshake.
func TestDialSynAckLost(t *testing.T) {
	h := dialConn(t)
	h.advance(time.Second)
	h.expect(flags(SYN), at(time.Second))
	h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1460))
	h.expect(flags(ACK), ackNum(peerISN+1))
	h.state(StateEstablished)
	if h.c.Info().RTO != 3*time.Second {
		// No RTT sample from a retransmitted SYN (Karn) and no
		// timestamps: RTO 3 s until the first sample (RFC 6298 §5.7,
		// Linux TCP_TIMEOUT_FALLBACK; measured on Linux 6.18).
		t.Fatalf("RTO %v, want 3s", h.c.Info().RTO)
	}
}

// The SYN-ACK's window is not scaled (RFC 7323 §2.2; Linux
// tcp_rcv_synsent_state_process): 2000 bytes with window scale 7 let two
// 1000-byte segments go, not 256000 bytes; the next ACK's window is
// scaled. Measured on Linux 6.18 (xdptcp/synack-window-unscaled).
func TestDialSynAckWindowUnscaled(t *testing.T) {
	h := dialConn(t)
	h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1000), withWin(2000), withWS(7))
	h.expect(flags(ACK), ackNum(peerISN+1))
	if h.c.sndWnd != 2000 || h.c.maxSndWnd != 2000 {
		t.Fatalf("SND.WND %d, max %d after a SYN-ACK offering 2000", h.c.sndWnd, h.c.maxSndWnd)
	}
	h.c.Write(make([]byte, 5000))
	h.expect(seqNum(ourISN+1), payloadLen(1000))
	h.expect(seqNum(ourISN+1001), payloadLen(1000))
	h.expectNothing()
	h.send(ACK, peerISN+1, ourISN+2001, withWin(32)) // 32 << 7
	if h.c.sndWnd != 4096 {
		t.Fatalf("SND.WND %d after an ACK offering 32 << 7", h.c.sndWnd)
	}
	for _, seq := range []seqnum.Value{2001, 3001, 4001} {
		h.expect(seqNum(ourISN+seq), payloadLen(1000))
	}
}

func TestDialRefused(t *testing.T) {
	h := dialConn(t)
	h.send(RST|ACK, 0, ourISN+1)
	if h.rec.closeErr(t) != ErrRefused {
		t.Fatal("want ErrRefused")
	}
	h.state(StateClosed)
}

func TestDialBadAckGetsRst(t *testing.T) {
	h := dialConn(t)
	h.send(SYN|ACK, peerISN, ourISN+50)
	h.expect(flags(RST), seqNum(ourISN+50))
	h.send(RST|ACK, 0, ourISN+50) // unacceptable RST: ignored
	h.state(StateSynSent)
}

func TestSimultaneousOpen(t *testing.T) {
	h := dialConn(t)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN), ackNum(peerISN+1))
	h.state(StateSynReceived)
	h.send(SYN|ACK, peerISN, ourISN+1)
	h.state(StateEstablished)
	if !h.rec.has("open") {
		t.Fatal("open")
	}
}

// Dial never reuses a 4-tuple in TIME-WAIT unless tcp_tw_reuse allows it
// (timestamps seen, entry older than 1 s).
func TestDialAvoidsTimeWait(t *testing.T) {
	for _, reuse := range []int{0, 1} {
		h := newHarness(t, func(c *Config) {
			c.LocalPortRange = [2]uint16{40000, 40000}
			c.TwReuse = reuse
		})
		c, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
		if err != nil {
			t.Fatal(err)
		}
		h.c, h.key = c, c.Key()
		h.expect(flags(SYN))
		h.send(SYN|ACK, peerISN, ourISN+1, withTS(10, 1))
		h.expect(flags(ACK))
		c.Close()
		h.expect(flags(FIN | ACK))
		h.send(FIN|ACK, peerISN+1, ourISN+2, withTS(11, 1))
		h.expect(flags(ACK))
		h.state(StateTimeWait)
		if _, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec); err != ErrNoPorts {
			t.Fatalf("reuse=%d: Dial at once: %v, want ErrNoPorts", reuse, err)
		}
		h.advance(1500 * time.Millisecond)
		c2, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
		if reuse == 0 {
			if err != ErrNoPorts {
				t.Fatalf("tw_reuse 0: %v", err)
			}
			continue
		}
		if err != nil || c2.Key() != c.Key() {
			t.Fatalf("tw_reuse 1: %v", err)
		}
		h.expect(flags(SYN), seqNum(ourISN+2+65537))
	}
}

// Keepalive (RFC 1122 §4.2.3.6, tcp_keepalive_*).

func TestKeepaliveDeadPeer(t *testing.T) {
	h := establishedConn(t)
	h.c.SetKeepAlive(true)
	h.advance(7200*time.Second + 9*75*time.Second)
	for i := 0; i < 9; i++ {
		h.expect(flags(ACK), seqNum(ourISN), payloadLen(0), ackNum(peerISN+1), at(7200*time.Second+time.Duration(i)*75*time.Second))
	}
	h.expect(flags(RST|ACK), at(7200*time.Second+9*75*time.Second))
	if h.rec.closeErr(t) != ErrTimeout {
		t.Fatal("want ErrTimeout")
	}
	if h.l.Stats().TCPKeepAlive.Load() != 9 {
		t.Fatal("TCPKeepAlive")
	}
}

func TestKeepaliveAnswered(t *testing.T) {
	h := establishedConn(t)
	h.c.SetKeepAlive(true)
	h.c.SetKeepAlivePeriod(10 * time.Second)
	h.advance(10 * time.Second)
	h.expect(flags(ACK), seqNum(ourISN), at(10*time.Second))
	if ci := h.c.Info(); ci.Timer != "keepalive" || ci.TimerIn != 75*time.Second {
		t.Fatalf("info %+v", ci)
	}
	h.send(ACK, peerISN+1, ourISN+1) // the peer answers
	// Like Linux, the answer does not move the pending timer: it fires
	// after the interval, finds the connection idle for longer than the
	// keepalive time, and probes again; the probe count restarted.
	h.advance(75 * time.Second)
	h.expect(flags(ACK), seqNum(ourISN), at(85*time.Second))
	h.send(ACK, peerISN+1, ourISN+1)
	h.advance(8 * 75 * time.Second)
	for i := 1; i <= 8; i++ {
		h.expect(flags(ACK), seqNum(ourISN), at(85*time.Second+time.Duration(i)*75*time.Second))
	}
	h.state(StateEstablished)
}

func TestKeepaliveAnsweredWithRst(t *testing.T) {
	h := establishedConn(t)
	h.c.SetKeepAlive(true)
	h.advance(7200 * time.Second)
	h.expect(flags(ACK), seqNum(ourISN))
	h.send(RST, peerISN+1, 0)
	if h.rec.closeErr(t) != ErrReset {
		t.Fatal("want ErrReset")
	}
}

func TestKeepaliveOffByDefault(t *testing.T) {
	h := establishedConn(t)
	h.advance(3 * 7200 * time.Second)
	h.expectNothing()
}

// Sequence numbers near 2^32 (wraparound).
func TestWraparound(t *testing.T) {
	h := newHarness(t)
	h.l.SetISN(func(clock.Time, flowtable.Key) seqnum.Value { return 0xfffffff0 })
	h.listen()
	pisn := seqnum.Value(0xfffffffa)
	h.send(SYN, pisn, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(0xfffffff0), ackNum(pisn+1))
	h.send(ACK, pisn+1, 0xfffffff1)
	h.send(ACK|PSH, pisn+1, 0xfffffff1, withData(make([]byte, 100)))
	if len(h.rec.data) != 100 {
		t.Fatal("data across the wrap")
	}
	h.expect(flags(ACK), ackNum(pisn+101))
	h.c.Write(make([]byte, 100))
	h.expect(flags(ACK|PSH), seqNum(0xfffffff1), ackNum(pisn+101))
	h.send(ACK, pisn+101, seqnum.Value(0xfffffff1).Add(100))
	if h.c.sndBuf.Len() != 0 {
		t.Fatal("ACK across the wrap")
	}
}

func TestSimultaneousOpenCloseBeforeEstablished(t *testing.T) {
	h := dialConn(t)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.c.CloseWrite()
	h.expectNothing() // the FIN waits for the handshake
	h.state(StateSynReceived)
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateFinWait1)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1))
}

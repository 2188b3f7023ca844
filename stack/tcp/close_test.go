package tcp

import (
	"testing"
	"time"
	"unsafe"
)

// Closing: CLOSE-WAIT, LAST-ACK, FIN-WAIT-1/2, CLOSING, TIME-WAIT.

func TestPeerClosesFirst(t *testing.T) {
	h := closeWaitConn(t)
	if !h.rec.has("peerclose") {
		t.Fatal("no OnPeerClose")
	}
	// CLOSE-WAIT is held until the application closes; it can still send.
	h.advance(time.Hour)
	h.state(StateCloseWait)
	h.c.Write([]byte("bye"))
	h.expect(flags(ACK|PSH), payloadLen(3))
	h.send(ACK, peerISN+2, ourISN+4)
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+4), ackNum(peerISN+2))
	h.state(StateLastAck)
	h.send(ACK, peerISN+2, ourISN+5)
	h.state(StateClosed)
	if h.rec.closeErr(t) != nil || h.l.Conns() != 0 || h.l.TimeWaits() != 0 {
		t.Fatal("LAST-ACK did not end in CLOSED without TIME-WAIT")
	}
}

func TestLastAckFinRetransmitted(t *testing.T) {
	h := lastAckConn(t)
	h.advance(200 * time.Millisecond)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), at(200*time.Millisecond))
	h.advance(400 * time.Millisecond)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), at(600*time.Millisecond))
	h.send(ACK, peerISN+2, ourISN+2)
	h.state(StateClosed)
}

func TestWeCloseFirst(t *testing.T) {
	h := timeWaitConn(t)
	if h.rec.closeErr(t) != nil {
		t.Fatal("close error")
	}
	if h.l.Conns() != 0 || h.l.TimeWaits() != 1 {
		t.Fatal("not in the TIME-WAIT table")
	}
	// TIME-WAIT lasts 2*MSL = 60 s.
	h.closesAfter(StateTimeWait, 60*time.Second)
	if h.l.TimeWaits() != 0 || h.l.Stats().TW.Load() != 1 {
		t.Fatal("TIME-WAIT entry not expired at 60 s")
	}
	h.expectNothing()
}

func TestFinWait1FinRetransmitted(t *testing.T) {
	h := finWait1Conn(t)
	h.advance(200 * time.Millisecond)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), at(200*time.Millisecond))
	h.send(ACK, peerISN+1, ourISN+2)
	h.state(StateFinWait2)
}

// Orphaned FIN-WAIT-1: tcp_orphan_retries 0 means 8 (a 102.2 s budget
// from the first retransmission: nine FINs with the RTO at 200 ms).
func TestFinWait1OrphanRetries(t *testing.T) {
	h := finWait1Conn(t)
	h.advance(205 * time.Second)
	n := 0
	for len(h.out.segs) > 0 {
		h.expect(flags(FIN | ACK))
		n++
	}
	if n != 9 {
		t.Fatalf("%d FIN retransmissions, want 9", n)
	}
	if h.l.Conns() != 0 {
		t.Fatal("orphan not dropped")
	}
}

func TestFinWait2OrphanTimeout(t *testing.T) {
	h := finWait2Conn(t)
	h.closesAfter(StateFinWait2, 60*time.Second)
	h.expectNothing()
}

// An orphan's FIN-WAIT-2 lasts at least 3.5 RTOs (Linux tcp_fin_time):
// after a 0.9 s handshake and FIN the RTO is 2.7 s, so with
// tcp_fin_timeout 2 s it ends at 9.45 s (xdptcp/fin-timeout-rto).
func TestFinWait2OrphanTimeoutRTOFloor(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FinTimeout = 2 * time.Second })
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.advance(900 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Close()
	h.expect(flags(FIN | ACK))
	h.advance(900 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+2)
	h.state(StateFinWait2)
	if rto := h.c.currentRTO(); rto != 2700*time.Millisecond {
		t.Fatalf("RTO %v, want 2.7s", rto)
	}
	h.closesAfter(StateFinWait2, 9450*time.Millisecond)
	h.expectNothing()
}

// TCP_LINGER2 as Linux's setsockopt keeps it (below 0 is -1, above
// TCP_FIN_TIMEOUT_MAX 120), read back with tcp_fin_timeout for 0; a
// positive one is the orphan's FIN-WAIT-2 time (xdptcp/linger2-time-*).
func TestLinger2FinWait2Time(t *testing.T) {
	h := establishedConn(t)
	for _, c := range []struct{ set, get int }{{0, 60}, {-5, -1}, {500, 120}, {0, 60}, {5, 5}} {
		h.c.SetLinger2(c.set)
		if got := h.c.Linger2(); got != c.get {
			t.Fatalf("SetLinger2(%d): Linger2 %d, want %d", c.set, got, c.get)
		}
	}
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1))
	h.send(ACK, peerISN+1, ourISN+2)
	h.closesAfter(StateFinWait2, 5*time.Second)
	h.expectNothing()
}

// TCP_LINGER2 -1 ends an orphan as it reaches FIN-WAIT-2: closed there
// (after CloseWrite) or by a lingering close whose FIN was acknowledged,
// with a RST from our side, TCPAbortOnLinger (Linux tcp_close); an orphan
// whose FIN the peer acknowledges, with a RST in reply to that ACK,
// TCPAbortOnData (tcp_rcv_state_process). xdptcp/linger2-close,
// linger2-close-linger, linger2-fin-ack.
func TestLinger2Negative(t *testing.T) {
	for _, c := range []struct {
		name         string
		closeWrite   bool
		linger       int
		rst          check
		onLinger, on uint64
	}{
		{"close-in-fin-wait-2", true, -1, flags(RST | ACK), 1, 0},
		{"lingering-close", false, 2, flags(RST | ACK), 1, 0},
		{"fin-acknowledged", false, -1, flags(RST), 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := establishedConn(t)
			h.c.SetLinger2(-1)
			h.c.SetLinger(c.linger)
			if c.closeWrite {
				h.c.CloseWrite()
				h.expect(flags(FIN|ACK), seqNum(ourISN+1))
				h.send(ACK, peerISN+1, ourISN+2)
				h.state(StateFinWait2)
				h.c.Close()
			} else {
				h.c.Close()
				h.expect(flags(FIN|ACK), seqNum(ourISN+1))
				h.send(ACK, peerISN+1, ourISN+2)
			}
			h.expect(c.rst, seqNum(ourISN+2))
			h.expectNothing()
			h.state(StateClosed)
			h.orphanCounts(0, 0)
			st := h.l.Stats()
			if a, b := st.TCPAbortOnLinger.Load(), st.TCPAbortOnData.Load(); a != c.onLinger || b != c.on {
				t.Fatalf("TCPAbortOnLinger %d TCPAbortOnData %d, want %d and %d", a, b, c.onLinger, c.on)
			}
			if c.linger > 0 && !h.rec.has("lingerdone") {
				t.Fatalf("events %v: no lingerdone", h.rec.events)
			}
		})
	}
}

func TestFinWait2NotOrphanStays(t *testing.T) {
	h := establishedConn(t)
	h.c.CloseWrite()
	h.expect(flags(FIN | ACK))
	h.send(ACK, peerISN+1, ourISN+2)
	h.state(StateFinWait2)
	h.advance(10 * time.Minute)
	h.state(StateFinWait2)
	// Half-close: still receives.
	h.send(ACK|PSH, peerISN+1, ourISN+2, withData([]byte("more")))
	if string(h.rec.data) != "more" {
		t.Fatal("half-closed connection did not receive")
	}
	h.expect(flags(ACK), ackNum(peerISN+5))
	h.send(FIN|ACK, peerISN+5, ourISN+2)
	h.expect(flags(ACK), ackNum(peerISN+6))
	h.state(StateTimeWait)
}

func TestSimultaneousClose(t *testing.T) {
	h := closingConn(t)
	h.advance(200 * time.Millisecond)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), at(200*time.Millisecond)) // FIN retransmitted in CLOSING
	h.send(ACK, peerISN+2, ourISN+2)
	h.state(StateTimeWait)
	h.advance(60 * time.Second)
	h.state(StateClosed)
}

func TestFinWait1FinAndAckTogether(t *testing.T) {
	h := finWait1Conn(t)
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK), ackNum(peerISN+2))
	h.state(StateTimeWait)
}

func TestCloseWithUnreadDataSendsRst(t *testing.T) {
	h := establishedConn(t)
	h.rec.hold = true
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("unread")))
	h.expect(flags(ACK), ackNum(peerISN+7))
	h.c.Close()
	h.expect(flags(RST|ACK), seqNum(ourISN+1))
	h.state(StateClosed)
	if h.l.Stats().TCPAbortOnClose.Load() != 1 {
		t.Fatal("TCPAbortOnClose")
	}
}

func TestLingerZeroCloseSendsRst(t *testing.T) {
	h := establishedConn(t)
	h.c.SetLinger(0)
	h.c.Close()
	h.expect(flags(RST|ACK), seqNum(ourISN+1))
	if h.l.TimeWaits() != 0 || h.l.Conns() != 0 || h.l.Stats().TCPAbortOnData.Load() != 1 {
		t.Fatal("linger 0")
	}
}

func TestDataAfterCloseSendsRst(t *testing.T) {
	h := finWait2Conn(t)
	h.send(ACK|PSH, peerISN+1, ourISN+2, withData([]byte("late")))
	h.expect(flags(RST), seqNum(ourISN+2)) // a reply to the segment: SEQ=SEG.ACK, no ACK (Linux tcp_v4_send_reset)
	h.state(StateClosed)
	if h.l.Stats().TCPAbortOnData.Load() != 1 {
		t.Fatal("TCPAbortOnData")
	}
}

func TestAbort(t *testing.T) {
	h := establishedConn(t)
	h.c.Abort()
	h.expect(flags(RST|ACK), seqNum(ourISN+1))
	if h.rec.closeErr(t) != ErrAborted {
		t.Fatal("want ErrAborted")
	}
}

func TestCloseFlushesDataThenFin(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("last words"))
	h.expect(flags(ACK|PSH), payloadLen(10))
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+11))
	h.send(ACK, peerISN+1, ourISN+12)
	h.state(StateFinWait2)
}

// TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337).

func TestTimeWaitFinRetransmitRestartsTimer(t *testing.T) {
	h := timeWaitConn(t)
	h.advance(30 * time.Second)
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.closesAfter(StateTimeWait, 60*time.Second)
}

// Linux tcp_timewait_state_process: a bare ACK at RCV.NXT restarts the
// 2*MSL timer and gets no answer; an old duplicate SYN (no ACK) is
// answered but does not restart it.
func TestTimeWaitInWindowAckRestartsTimer(t *testing.T) {
	h := timeWaitConn(t)
	h.advance(50 * time.Second)
	h.send(ACK, peerISN+2, ourISN+2)
	h.expectNothing()
	h.advance(20 * time.Second) // past the first 2*MSL
	h.state(StateTimeWait)
	h.send(SYN, peerISN, 0)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.closesAfter(StateTimeWait, 40*time.Second) // 2*MSL after the ACK
}

// A segment not at RCV.NXT with ACK restarts the timer and is answered;
// one without data or FIN at most once per 500 ms (Linux
// tcp_timewait_check_oow_rate_limit, TCPACKSkippedTimeWait); a
// retransmitted FIN and data always, without moving the limit's clock.
func TestTimeWaitOutOfWindowRateLimited(t *testing.T) {
	h := timeWaitConn(t)
	h.advance(30 * time.Second)
	h.send(ACK, peerISN+1000, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1000, ourISN+2)
	h.expectNothing()
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.send(ACK, peerISN-50, ourISN+2, withData([]byte("x")))
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.advance(300 * time.Millisecond) // 400 ms after the last limited ACK
	h.send(SYN, peerISN, 0)
	h.expectNothing()
	h.advance(100 * time.Millisecond) // 500 ms
	h.send(ACK, peerISN+1000, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	if n := h.l.Stats().TCPACKSkippedTimeWait.Load(); n != 2 {
		t.Fatalf("TCPACKSkippedTimeWait %d, want 2", n)
	}
	h.closesAfter(StateTimeWait, 60*time.Second) // restarted by the last ACK
}

// With timestamps, a bare ACK at RCV.NXT updates TS.Recent; a segment that
// PAWS rejects is counted (PAWSEstab) and answered with our ACK echoing
// TS.Recent.
func TestTimeWaitTimestamps(t *testing.T) {
	h := timeWaitTSConn(t)
	h.send(ACK, peerISN+2, ourISN+2, withTS(103, 0))
	h.expectNothing()
	h.send(ACK, peerISN+2, ourISN+2, withTS(101, 0))
	a := h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	if !a.seg.Opts.HasTimestamp || a.seg.Opts.TSEcr != 103 {
		t.Fatalf("TIME-WAIT ACK echoes %+v, want TSecr 103", a.seg.Opts)
	}
	if n := h.l.Stats().PAWSEstab.Load(); n != 1 {
		t.Fatalf("PAWSEstab %d, want 1", n)
	}
}

// TIME-WAIT's ACKs advertise what is left of the window last advertised
// (Linux tw_rcv_wnd), not a zero window.
func TestTimeWaitAckCarriesWindow(t *testing.T) {
	h := finWait2Conn(t)
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	a := h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.state(StateTimeWait)
	h.send(SYN, peerISN, 0)
	b := h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	if b.seg.Window == 0 || b.seg.Window != a.seg.Window {
		t.Fatalf("TIME-WAIT ACK window %d, the ACK of the FIN had %d", b.seg.Window, a.seg.Window)
	}
}

// Linux's default (tcp_rfc1337=0): a RST at RCV.NXT ends TIME-WAIT, one
// anywhere else is ignored.
func TestTimeWaitInWindowRstEnds(t *testing.T) {
	h := timeWaitConn(t)
	h.send(RST, peerISN+1, 0)
	h.send(RST, peerISN+3, 0)
	h.expectNothing()
	h.state(StateTimeWait)
	h.send(RST, peerISN+2, 0)
	h.expectNothing()
	if h.l.TimeWaits() != 0 {
		t.Fatal("in-window RST left the TIME-WAIT entry")
	}
}

// tcp_rfc1337=1: RFC 1337's remedy, a RST does not end TIME-WAIT.
func TestTimeWaitRstIgnoredWithRFC1337(t *testing.T) {
	h := timeWaitConn(t, func(c *Config) { c.RFC1337 = true })
	h.send(RST, peerISN+2, 0)
	h.expectNothing()
	h.state(StateTimeWait)
}

// PAWS (Linux tcp_paws_reject with rst): a RST with a timestamp older than
// TS.Recent is ignored while TS.Recent is less than 60 s old.
func TestTimeWaitOldTimestampRstIgnored(t *testing.T) {
	h := timeWaitTSConn(t)
	h.send(RST, peerISN+2, 0, withTS(50, 0))
	if h.l.TimeWaits() != 1 {
		t.Fatal("a PAWS-old RST ended TIME-WAIT")
	}
	h.send(RST, peerISN+2, 0, withTS(102, 0))
	if h.l.TimeWaits() != 0 {
		t.Fatal("RST with the current timestamp did not end TIME-WAIT")
	}
}

// A client that restarted (new ISN and timestamp clock) opens the same
// 4-tuple while we hold it in TIME-WAIT: its SYN is an old duplicate by
// both tests, so we ACK it; its SYN-SENT answers the ACK with
// <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.3), which is at RCV.NXT and ends
// TIME-WAIT; its retransmitted SYN then opens a new connection. With
// tcp_rfc1337=1 the entry stays and the SYN keeps getting the ACK until
// 2*MSL is over.
func TestTimeWaitRestartedClientGetsThrough(t *testing.T) {
	for _, rfc1337 := range []bool{false, true} {
		h := timeWaitTSConn(t, func(c *Config) { c.RFC1337 = rfc1337 })
		ts := uint32(102 + 1<<31 + 1000) // the restarted clock: behind TS.Recent 102 (mod 2^32)
		h.send(SYN, peerISN-1000, 0, withMSS(1460), withTS(ts, 0))
		a := h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
		h.send(RST, a.seg.Ack, 0)
		h.advance(time.Second)
		h.send(SYN, peerISN-1000, 0, withMSS(1460), withTS(ts+1000, 0))
		if rfc1337 {
			h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
			h.state(StateTimeWait)
			continue
		}
		h.expect(flags(SYN|ACK), ackNum(peerISN-999))
		if h.l.TimeWaits() != 0 || h.l.Conns() != 1 {
			t.Fatal("retransmitted SYN did not open a new connection")
		}
	}
}

func TestTimeWaitOldSegmentAcked(t *testing.T) {
	h := timeWaitConn(t)
	h.send(ACK, peerISN-50, ourISN+2, withData([]byte("x")))
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
}

func TestTimeWaitNewSynReuses(t *testing.T) {
	h := timeWaitConn(t)
	h.advance(time.Second)
	h.send(SYN, peerISN+100000, 0, withMSS(1460))
	// Linux tcp_timewait_state_process: new ISN = old SND.NXT + 65535 + 2.
	h.expect(flags(SYN|ACK), seqNum(ourISN+2+65537), ackNum(peerISN+100001))
	if h.l.TimeWaits() != 0 || h.l.Conns() != 1 {
		t.Fatal("slot not reused")
	}
}

func TestTimeWaitOldSynAcked(t *testing.T) {
	h := timeWaitConn(t)
	h.send(SYN, peerISN, 0)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.state(StateTimeWait)
}

func TestTimeWaitTimestampReuse(t *testing.T) {
	h := timeWaitTSConn(t)
	// Same (old) sequence number but a newer timestamp: reuse.
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(200, 0))
	h.expect(flags(SYN|ACK), seqNum(ourISN+2+65537))
}

func TestTimeWaitBucketsOverflow(t *testing.T) {
	h := finWait2Conn(t, func(c *Config) { c.MaxTwBuckets = 0 })
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK))
	h.state(StateClosed)
	if h.l.TimeWaits() != 0 || h.l.Stats().TCPTimeWaitOverflow.Load() != 1 {
		t.Fatal("TCPTimeWaitOverflow")
	}
}

func TestRangeInfoListsTimeWait(t *testing.T) {
	h := timeWaitConn(t)
	n := 0
	h.l.RangeInfo(func(ci ConnInfo) bool {
		n++
		if ci.State != StateTimeWait || ci.Timer != "timewait" || ci.TimerIn != 60*time.Second {
			t.Fatalf("info %+v", ci)
		}
		return true
	})
	if n != 1 {
		t.Fatal("RangeInfo")
	}
}

func TestTimeWaitEntryIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(timeWait{}); n > 128 {
		t.Fatalf("timeWait is %d bytes, want <= 128", n)
	} else {
		t.Logf("timeWait: %d bytes (Conn: %d)", n, unsafe.Sizeof(Conn{}))
	}
}

// An orphan whose peer keeps a zero window (data and FIN waiting) gets
// tcp_orphan_retries zero-window probes, 0 meaning 8, and is then dropped
// (Linux tcp_probe_timer with tcp_orphan_retries), not tcp_retries2 (15)
// probes, which a connection the application still holds gets.
func TestOrphanZeroWindowProbesBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		orphan   bool
		retries  int
		rtoMaxMs int // 0: the default
		want     int // probes before the drop
	}{
		{"orphan, tcp_orphan_retries=0 means 8", true, 0, 0, 8},
		{"orphan, tcp_orphan_retries=3", true, 3, 0, 3},
		{"not an orphan: tcp_retries2", false, 0, 0, 15},
		// Linux tcp_probe_timer: no longer alive once the backed-off RTO
		// is at tcp_rto_max_ms, and 0 then means 0: probes at 0.2, 0.6,
		// 1.4 s, dropped at the 2.4 s timer (xdptcp/orphan-probe-rto-max
		// measures it on Linux 6.18).
		{"orphan, tcp_rto_max_ms=1000: not alive at the cap", true, 0, 1000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := establishedConn(t, func(c *Config) {
				c.OrphanRetries = tc.retries
				if tc.rtoMaxMs > 0 {
					c.RTOMaxMs = tc.rtoMaxMs
				}
			})
			h.c.Write([]byte("x"))
			h.expect(payloadLen(1))
			h.send(ACK, peerISN+1, ourISN+2, withWin(0))
			h.c.Write([]byte("yz"))
			if tc.orphan {
				h.c.Close()
			}
			h.expectNothing()
			probes := 0 // the peer stays silent: its window stays zero
			for i := 0; i < 20 && h.l.Conns() > 0; i++ {
				h.advance(maxRTO + time.Second)
				for len(h.out.segs) > 0 {
					h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0))
					probes++
				}
			}
			if probes != tc.want || h.l.Conns() != 0 {
				t.Fatalf("%d probes, %d connections left; want %d probes then the drop", probes, h.l.Conns(), tc.want)
			}
		})
	}
}

// A RST of a connection with timestamps carries TSval and TSecr = TS.Recent
// (Linux tcp_send_active_reset; packetdrill ts_recent/reset_tsval).
func TestResetCarriesTimestamps(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(100, 0))
	s := h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withTS(200, s.seg.Opts.TSVal))
	h.c.PauseRead()
	h.send(ACK, peerISN+1, ourISN+1, withTS(201, s.seg.Opts.TSVal), withData(make([]byte, 100)))
	h.expect(flags(ACK), ackNum(peerISN+101))
	h.advance(time.Second)
	h.c.Close() // unread data: a RST (TCPAbortOnClose)
	r := h.expect(flags(RST | ACK))
	if !r.seg.Opts.HasTimestamp || r.seg.Opts.TSEcr != 201 || r.seg.Opts.TSVal == s.seg.Opts.TSVal {
		t.Fatalf("RST timestamps %+v", r.seg.Opts)
	}
}

// A FIN with no data before it waits for a shut window to open: it takes a
// sequence number the peer has no room for (Linux tcp_snd_wnd_test holds
// the bare FIN's skb). Until then the persist timer probes the window
// (SND.UNA-1, no data, no FIN); the window's opening sends the FIN at
// once (persist-fin.pkt, measured on Linux 6.18).
func TestFinWaitsForShutWindow(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("x"))
	h.expect(payloadLen(1))
	h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	h.c.Close()
	h.state(StateFinWait1)
	h.expectNothing()
	rto := h.c.rtt.rto(minRTO, maxRTO)
	h.advance(rto)
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0))
	h.send(ACK, peerISN+1, ourISN+2, withWin(0))
	h.expectNothing()
	h.send(ACK, peerISN+1, ourISN+2, withWin(1000))
	h.expect(flags(FIN|ACK), seqNum(ourISN+2))
	h.send(ACK, peerISN+1, ourISN+3)
	h.state(StateFinWait2)
}

// A peer that shrinks its window to zero with data in flight and answers
// every retransmission with a zero window keeps the connection, past
// tcp_retries2's time budget: Linux's tcp_retransmit_timer treats those
// retransmissions as zero-window probes, not timeouts (no TCPTimeouts),
// and gives up only once the peer has also been silent for 2 ×
// TCP_RTO_MAX (tcp_rtx_probe0_timed_out; window-shrink-answered.pkt).
// Only the head goes: a segment beyond the shut window is not
// retransmitted, not even as a tail loss probe (__tcp_retransmit_skb;
// window-shrink-tlp.pkt).
func TestZeroWindowShrinkAnsweredNotTimedOut(t *testing.T) {
	h := sackConn(t, false) // SACK: a tail loss probe is armed
	writeSegs(h, 3, 1000)
	sentAt := h.now
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1001, withWin(0))
	start := h.now
	rto := h.c.currentRTO()
	first := true
	for h.now.Sub(start) < 2000*time.Second {
		for len(h.out.segs) == 0 {
			at, ok := h.l.NextDeadline()
			if !ok {
				t.Fatal("no timer runs")
			}
			h.advance(time.Duration(at - h.now))
		}
		r := h.expect(seqNum(ourISN+1001), payloadLen(1000)) // the head, into the shut window
		if first && r.at != sentAt.Add(rto) {
			// The tail loss probe could not send the last segment
			// (beyond the window): the timeout still counts from the
			// head's transmission (Linux tcp_rearm_rto).
			t.Fatalf("first retransmission %v after the head, want one RTO (%v)", time.Duration(r.at-sentAt), rto)
		}
		first = false
		h.expectNothing()
		h.send(ACK, peerISN+1, ourISN+1001, withWin(0))
	}
	h.state(StateEstablished)
	if n := h.l.Stats().TCPTimeouts.Load(); n != 0 {
		t.Fatalf("TCPTimeouts %d, want 0: zero-window retransmissions are probes", n)
	}
	// Nor timeouts in TCP_INFO, though they back off (measured on Linux
	// 6.18 after four: retransmits 0, backoff 4, total_rto 0).
	if in := h.c.Info(); in.Retransmits != 0 || in.Backoff == 0 || in.TotalRTO != 0 {
		t.Fatalf("TCP_INFO retransmits %d backoff %d total_rto %d, want 0, > 0, 0", in.Retransmits, in.Backoff, in.TotalRTO)
	}
	// Then the peer goes silent: given up after 240 s of silence.
	silent := h.now
	for h.l.Conns() > 0 && h.now.Sub(silent) < 600*time.Second {
		h.advance(time.Second)
		for len(h.out.segs) > 0 {
			h.expect()
		}
	}
	if h.l.Conns() != 0 {
		t.Fatal("a silent peer's zero window never timed out")
	}
	if d := h.now.Sub(silent); d <= 2*maxRTO || d > 2*maxRTO+maxRTO+time.Second {
		t.Fatalf("given up %v after the peer fell silent, want after 2 × TCP_RTO_MAX, at the next timeout", d)
	}
	if n := h.l.Stats().TCPAbortOnTimeout.Load(); n != 1 {
		t.Fatalf("TCPAbortOnTimeout %d", n)
	}
}

// The silence that ends a shrunk window's retransmissions is twice
// tcp_rto_max_ms, not twice TCP_RTO_MAX (Linux 6.18
// tcp_rtx_probe0_timed_out reads tcp_rto_max(sk)). Measured with 1000 ms
// (window-shrink-rto-max.pkt): the peer's last ACK at 0.2 s, the head
// resent at 0.52, 1.16 and 2.18 s, and the timer of 3.2 s gives up.
func TestZeroWindowShrinkSilentRTOMax(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.RTOMaxMs = 1000 })
	writeSegs(h, 3, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1001, withWin(0))
	silent := h.now
	var resent []time.Duration
	for h.l.Conns() > 0 && h.now.Sub(silent) < 10*time.Second {
		at, ok := h.l.NextDeadline()
		if !ok {
			t.Fatal("no timer runs")
		}
		h.advance(time.Duration(at - h.now))
		for len(h.out.segs) > 0 {
			h.expect(seqNum(ourISN+1001), payloadLen(1000))
			resent = append(resent, h.now.Sub(silent))
		}
	}
	if h.l.Conns() != 0 {
		t.Fatalf("still open 10 s after the peer fell silent (resent at %v)", resent)
	}
	// Each resend is at most one RTO (1 s) after the last; the abort
	// comes at the first timer past 2 s of silence.
	d := h.now.Sub(silent)
	if d <= 2*time.Second || d > 3*time.Second+time.Millisecond || len(resent) < 3 {
		t.Fatalf("given up %v after the peer fell silent, resent at %v; want the first timer past 2 s", d, resent)
	}
	if n := h.l.Stats().TCPAbortOnTimeout.Load(); n != 1 {
		t.Fatalf("TCPAbortOnTimeout %d", n)
	}
}

// SO_LINGER with a positive time: Close returns at once, the connection
// lingers (Lingering) in FIN-WAIT-1 until its FIN is acknowledged, and
// the handler, a LingerWaiter, hears of it then (what Linux's close(2)
// blocks for: xdptcp/linger-close); in LAST-ACK until the connection
// ends, before OnClose; not at all after a reset or without SO_LINGER.
func TestLingerWaiter(t *testing.T) {
	t.Run("fin-wait-1", func(t *testing.T) {
		h := establishedConn(t)
		h.c.SetLinger(2)
		h.c.Close()
		h.expect(flags(FIN|ACK), seqNum(ourISN+1))
		if !h.c.Lingering() || h.rec.has("lingerdone") {
			t.Fatalf("Lingering %v, events %v", h.c.Lingering(), h.rec.events)
		}
		h.advance(100 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+2)
		h.state(StateFinWait2)
		if h.c.Lingering() || !h.rec.has("lingerdone") || h.rec.has("close") {
			t.Fatalf("Lingering %v, events %v", h.c.Lingering(), h.rec.events)
		}
	})
	t.Run("last-ack", func(t *testing.T) {
		h := establishedConn(t)
		h.send(FIN|ACK, peerISN+1, ourISN+1)
		h.expect(flags(ACK))
		h.c.SetLinger(2)
		h.c.Close()
		h.expect(flags(FIN | ACK))
		if !h.c.Lingering() {
			t.Fatal("not lingering in LAST-ACK")
		}
		h.send(ACK, peerISN+2, ourISN+2)
		h.state(StateClosed)
		if n := len(h.rec.events); n < 2 || h.rec.events[n-2].kind != "lingerdone" || h.rec.events[n-1].kind != "close" {
			t.Fatalf("events %v, want lingerdone then close", h.rec.events)
		}
	})
	for _, c := range []struct {
		name   string
		linger int
		unread bool
	}{{"linger-0", 0, false}, {"no-linger", -1, false}, {"unread-data", 2, true}} {
		t.Run(c.name, func(t *testing.T) {
			h := establishedConn(t)
			if c.unread {
				h.c.PauseRead()
				h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("x")))
			}
			h.c.SetLinger(c.linger)
			h.c.Close()
			if h.c.Lingering() || h.rec.has("lingerdone") {
				t.Fatalf("Lingering %v, events %v", h.c.Lingering(), h.rec.events)
			}
		})
	}
}

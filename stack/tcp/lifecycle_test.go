package tcp

// Lifecycle schedules asserted to the millisecond on the fake clock: the
// keepalive config key, FIN retransmission bounded by tcp_orphan_retries in
// FIN-WAIT-1, CLOSING and LAST-ACK, half-close, TIME-WAIT reuse and RFC
// 1337 timing, and Dial's port choice (ip_local_port_range, tcp_tw_reuse).

import (
	"github.com/xdptcp/xdptcp/flowtable"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// keepalive=1 turns probes on for every new connection, passive and
// active, as if each socket set SO_KEEPALIVE; the schedule is Linux's
// tcp_keepalive_timer: time, then probes x intvl, then RST + ETIMEDOUT.
func TestKeepaliveConfigKey(t *testing.T) {
	short := func(c *Config) {
		c.Keepalive = true
		c.KeepaliveTime = 10 * time.Second
		c.KeepaliveIntvl = 5 * time.Second
		c.KeepaliveProbes = 3
	}
	t.Run("passive", func(t *testing.T) {
		h := establishedConn(t, short)
		if ci := h.c.Info(); ci.Timer != "keepalive" || ci.TimerIn != 10*time.Second {
			t.Fatalf("info %+v, want keepalive timer in 10s", ci)
		}
		h.advance(30 * time.Second)
		for _, w := range []time.Duration{10, 15, 20} {
			h.expect(flags(ACK), seqNum(ourISN), ackNum(peerISN+1), payloadLen(0), at(w*time.Second))
		}
		h.expect(flags(RST|ACK), seqNum(ourISN+1), at(25*time.Second))
		h.expectNothing()
		if h.rec.closeErr(t) != ErrTimeout {
			t.Fatal("want ErrTimeout")
		}
		if s := h.l.Stats(); s.TCPKeepAlive.Load() != 3 || s.TCPAbortOnTimeout.Load() != 1 {
			t.Fatalf("TCPKeepAlive %d TCPAbortOnTimeout %d", s.TCPKeepAlive.Load(), s.TCPAbortOnTimeout.Load())
		}
	})
	t.Run("active", func(t *testing.T) {
		h := dialConn(t, short)
		h.advance(100 * time.Millisecond)
		h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1460))
		h.expect(flags(ACK), at(100*time.Millisecond))
		h.advance(10 * time.Second)
		h.expect(flags(ACK), seqNum(ourISN), payloadLen(0), at(10100*time.Millisecond))
		// The peer answers: the count restarts and the idle time runs
		// from the answer (the pending timer fires at the interval and
		// re-arms for the rest of the keepalive time, as Linux does).
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+1)
		h.advance(10*time.Second - time.Millisecond)
		h.expectNothing()
		h.advance(time.Millisecond)
		h.expect(flags(ACK), seqNum(ourISN), at(20110*time.Millisecond))
		h.state(StateEstablished)
	})
	t.Run("rst-answer", func(t *testing.T) {
		h := establishedConn(t, short)
		h.advance(10 * time.Second)
		h.expect(flags(ACK), seqNum(ourISN), at(10*time.Second))
		h.send(RST, peerISN+1, 0)
		h.state(StateClosed)
		if h.rec.closeErr(t) != ErrReset {
			t.Fatal("want ErrReset")
		}
		h.advance(time.Minute)
		h.expectNothing()
	})
	t.Run("off-by-default", func(t *testing.T) {
		h := establishedConn(t)
		if ci := h.c.Info(); ci.Timer != "" {
			t.Fatalf("info %+v: keepalive armed by default", ci)
		}
	})
}

// finSchedule returns the retransmission times of a segment first sent at
// 0 with RTO 200 ms and the give-up time: the first timer at which
// Linux's budget for boundary retransmissions (tcp_model_timeout with
// TCP_RTO_MIN) has passed since the first retransmission.
func finSchedule(boundary int) (rtx []time.Duration, giveUp time.Duration) {
	budget := modelTimeout(boundary, minRTO, maxRTO)
	var at, rto time.Duration = 0, 200 * time.Millisecond
	for {
		at += rto
		if len(rtx) > 0 && at-rtx[0] >= budget {
			return rtx, at
		}
		rtx = append(rtx, at)
		rto = min(2*rto, maxRTO)
	}
}

// An orphan's FIN is retransmitted with exponential backoff in FIN-WAIT-1,
// CLOSING and LAST-ACK, and the connection is dropped when Linux's
// tcp_orphan_retries budget runs out (3: 0.2+0.4+0.8+1.6 = 3.0 s after
// the first retransmission: FINs at 0.2, 0.6, 1.4, 3.0 s, dropped at 6.2
// s; measured on Linux 6.18, conformance/scripts/orphan-retries-budget.pkt).
func TestOrphanFinRetransmission(t *testing.T) {
	three := func(c *Config) { c.OrphanRetries = 3 }
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, opts ...cfgOpt) *harness
		ack   int // acknowledgement our FIN carries, minus peerISN
	}{
		{"fin-wait-1", finWait1Conn, 1},
		{"closing", closingConn, 2},
		{"last-ack", lastAckConn, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.setup(t, three)
			rtx, giveUp := finSchedule(3)
			if len(rtx) != 4 || giveUp != 6200*time.Millisecond {
				t.Fatalf("schedule %v give up %v", rtx, giveUp)
			}
			h.advance(10 * time.Second)
			for _, w := range rtx {
				h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+seqnum.Value(tc.ack)), at(w))
			}
			h.expectNothing()
			h.state(StateClosed)
			if h.l.Conns() != 0 || h.l.TimeWaits() != 0 {
				t.Fatal("orphan not dropped")
			}
			if h.l.Stats().TCPAbortOnTimeout.Load() != 1 {
				t.Fatal("TCPAbortOnTimeout")
			}
		})
	}
	// Default tcp_orphan_retries 0 means 8 (Linux tcp_orphan_retries()):
	// nine FINs, the last at 102.2 s, dropped at 204.6 s.
	t.Run("default-8", func(t *testing.T) {
		h := lastAckConn(t)
		rtx, giveUp := finSchedule(8)
		if len(rtx) != 9 || giveUp != 204600*time.Millisecond {
			t.Fatalf("schedule %v give up %v", rtx, giveUp)
		}
		h.advance(giveUp - time.Millisecond)
		for _, w := range rtx {
			h.expect(flags(FIN|ACK), at(w))
		}
		h.state(StateLastAck)
		h.advance(time.Millisecond)
		h.state(StateClosed)
	})
	// tcp_rto_max_ms 1000: once the RTO is at the cap the orphan is no
	// longer alive and 0 means 0 (Linux tcp_orphan_retries): FINs at 0.2,
	// 0.6 and 1.4 s, the RTO then at 1 s, dropped at the 2.4 s timeout
	// (xdptcp/orphan-rto-max measures it on Linux 6.18).
	t.Run("rto-max-not-alive", func(t *testing.T) {
		h := lastAckConn(t, func(c *Config) { c.RTOMaxMs = 1000 })
		h.advance(2399 * time.Millisecond)
		for _, w := range []time.Duration{200 * time.Millisecond, 600 * time.Millisecond, 1400 * time.Millisecond} {
			h.expect(flags(FIN|ACK), at(w))
		}
		h.expectNothing()
		h.state(StateLastAck)
		h.advance(time.Millisecond)
		h.state(StateClosed)
		h.expectNothing() // no RST
	})
	// Not orphaned (CloseWrite only): tcp_retries2 bounds it instead.
	t.Run("closewrite-retries2", func(t *testing.T) {
		h := establishedConn(t, three)
		h.c.CloseWrite()
		h.expect(flags(FIN | ACK))
		h.advance(10 * time.Second)
		rtx, _ := finSchedule(15)
		for _, w := range rtx {
			if w > 10*time.Second {
				break
			}
			h.expect(flags(FIN|ACK), at(w))
		}
		h.expectNothing()
		h.state(StateFinWait1)
	})
}

// Half-close: CloseWrite sends our FIN and the connection keeps receiving
// in FIN-WAIT-2 with no timeout (tcp_fin_timeout is for orphans); the
// peer's FIN then moves it to TIME-WAIT for exactly 2*MSL.
func TestCloseWriteHalfClose(t *testing.T) {
	h := establishedConn(t)
	h.c.CloseWrite()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), at(0))
	h.send(ACK, peerISN+1, ourISN+2)
	h.state(StateFinWait2)
	if n := h.c.Write([]byte("x")); n != 0 {
		t.Fatalf("Write after CloseWrite took %d bytes", n)
	}
	h.advance(300 * time.Second)
	h.expectNothing()
	h.send(ACK|PSH, peerISN+1, ourISN+2, withData([]byte("hello")))
	if string(h.rec.data) != "hello" {
		t.Fatalf("data after CloseWrite: %q", h.rec.data)
	}
	h.expect(flags(ACK), ackNum(peerISN+6), at(300*time.Second))
	h.send(FIN|ACK, peerISN+6, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+7), at(300*time.Second))
	if !h.rec.has("peerclose") {
		t.Fatal("no OnPeerClose")
	}
	h.state(StateTimeWait)
	h.advance(60*time.Second - time.Millisecond)
	h.state(StateTimeWait)
	h.advance(time.Millisecond)
	h.state(StateClosed)
}

// tcp_rfc1337=1 (RFC 1337): a RST in TIME-WAIT neither ends the entry nor
// moves its timer: it still ends at exactly 60 s.
func TestTimeWaitRstKeepsSchedule(t *testing.T) {
	h := timeWaitConn(t, func(c *Config) { c.RFC1337 = true })
	h.advance(20 * time.Second)
	h.send(RST, peerISN+2, 0)
	h.send(RST|ACK, peerISN+2, ourISN+2)
	h.expectNothing()
	h.advance(40*time.Second - time.Millisecond)
	h.state(StateTimeWait)
	h.advance(time.Millisecond)
	h.state(StateClosed)
	if h.l.Stats().TW.Load() != 1 {
		t.Fatal("TW")
	}
}

// A SYN with a higher sequence number reuses the TIME-WAIT slot at any
// time within 2*MSL (Linux tcp_timewait_state_process, TCP_TW_SYN); the
// new connection runs its own SYN-ACK schedule from that moment and the old
// entry's expiry does not touch it.
func TestTimeWaitReuseSchedule(t *testing.T) {
	h := timeWaitConn(t)
	h.advance(59 * time.Second)
	h.send(SYN, peerISN+10, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN+2+65537), ackNum(peerISN+11), at(59*time.Second))
	if h.l.TimeWaits() != 0 || h.l.Conns() != 1 {
		t.Fatal("slot not reused")
	}
	h.advance(2 * time.Second)
	h.expect(flags(SYN|ACK), seqNum(ourISN+2+65537), at(60*time.Second))
	h.send(ACK, peerISN+11, ourISN+2+65538)
	h.state(StateEstablished)
	if h.l.TimeWaits() != 0 || h.l.Stats().TW.Load() != 0 {
		t.Fatal("TIME-WAIT entry survived reuse")
	}
}

// tcp_max_tw_buckets: entries beyond the bound skip TIME-WAIT, each
// counted as TCPTimeWaitOverflow; the entries within it expire at 60 s.
func TestTimeWaitBucketsBound(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxTwBuckets = 2 })
	h.listen()
	for i := 0; i < 3; i++ {
		h.openOn(i)
		h.c.Close()
		h.expect(flags(FIN | ACK))
		h.send(ACK, peerISN+1, ourISN+2)
		h.send(FIN|ACK, peerISN+1, ourISN+2)
		h.expect(flags(ACK), at(0))
	}
	if h.l.TimeWaits() != 2 || h.l.Stats().TCPTimeWaitOverflow.Load() != 1 {
		t.Fatalf("TimeWaits %d TCPTimeWaitOverflow %d", h.l.TimeWaits(), h.l.Stats().TCPTimeWaitOverflow.Load())
	}
	h.advance(60*time.Second - time.Millisecond)
	if h.l.TimeWaits() != 2 {
		t.Fatal("expired early")
	}
	h.advance(time.Millisecond)
	if h.l.TimeWaits() != 0 {
		t.Fatal("not expired at 60 s")
	}
}

// Dial takes local ports from ip_local_port_range only, each 4-tuple
// once, and fails with ErrNoPorts when the range is used up.
func TestDialLocalPortRange(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LocalPortRange = [2]uint16{50000, 50003} })
	seen := map[uint16]bool{}
	for i := 0; i < 4; i++ {
		c, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		p := c.Key().LocalPort
		if p < 50000 || p > 50003 || seen[p] {
			t.Fatalf("port %d (seen %v)", p, seen)
		}
		seen[p] = true
	}
	if _, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec); err != ErrNoPorts {
		t.Fatalf("5th dial: %v, want ErrNoPorts", err)
	}
	// Another destination port is another 4-tuple.
	if _, err := h.l.Dial(h.now, ourAddr, peerAddr, 81, h.rec); err != nil {
		t.Fatalf("dial to another port: %v", err)
	}
}

// tcp_tw_reuse (Linux tcp_twsk_unique): Dial may take a 4-tuple in
// TIME-WAIT only with tcp_tw_reuse 1 (2: loopback peers only), when the
// old connection used timestamps and entered TIME-WAIT more than
// tcp_tw_reuse_delay (1000 ms) ago (Linux 6.14+'s tw_entry_stamp; until
// 2026-12-07 xdptcp counted from the last timestamp, 1 s fixed).
func TestDialTwReuseRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reuse int
		ts    bool
		after time.Duration // time from entering TIME-WAIT to the Dial
		ok    bool
		lo    bool          // dial 127.0.0.1 instead of peerAddr
		delay int           // tcp_tw_reuse_delay in ms; 0: the default
		ackAt time.Duration // the peer sends a bare ACK at RCV.NXT (a newer timestamp) this long into TIME-WAIT; 0: not
	}{
		{"reuse1-ts-1.001s", 1, true, 1001 * time.Millisecond, true, false, 0, 0},
		{"reuse1-ts-1.000s", 1, true, time.Second, false, false, 0, 0},
		{"reuse1-no-ts", 1, false, 30 * time.Second, false, false, 0, 0},
		{"reuse2-not-loopback", 2, true, 30 * time.Second, false, false, 0, 0},
		{"reuse2-loopback", 2, true, 1001 * time.Millisecond, true, true, 0, 0},
		{"reuse0", 0, true, 59 * time.Second, false, false, 0, 0},
		{"reuse0-expired", 0, true, 60 * time.Second, true, false, 0, 0},
		// tcp_tw_reuse_delay (Linux 6.14+), from the entry, not from the
		// last timestamp: an ACK 0.9 s in that updates it does not move it.
		{"delay100-0.101s", 1, true, 101 * time.Millisecond, true, false, 100, 0},
		{"delay100-0.100s", 1, true, 100 * time.Millisecond, false, false, 100, 0},
		{"from-entry-not-last-ts", 1, true, 1001 * time.Millisecond, true, false, 0, 900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.LocalPortRange = [2]uint16{40000, 40000}
				c.TwReuse = tc.reuse
				if tc.delay > 0 {
					c.TwReuseDelayMs = tc.delay
				}
			})
			remote := peerAddr
			if tc.lo {
				remote = flowtable.AddrFrom4([4]byte{127, 0, 0, 1})
			}
			c, err := h.l.Dial(h.now, ourAddr, remote, 80, h.rec)
			if err != nil {
				t.Fatal(err)
			}
			h.c, h.key = c, c.Key()
			h.expect(flags(SYN))
			var o []segOpt
			if tc.ts {
				o = append(o, withTS(10, 1))
			}
			h.send(SYN|ACK, peerISN, ourISN+1, o...)
			h.expect(flags(ACK))
			c.Close()
			h.expect(flags(FIN | ACK))
			h.send(FIN|ACK, peerISN+1, ourISN+2, o...)
			h.expect(flags(ACK))
			h.state(StateTimeWait)
			if tc.ackAt > 0 {
				h.advance(tc.ackAt)
				h.send(ACK, peerISN+2, ourISN+2, withTS(20, 1))
				h.expectNothing()
				h.advance(tc.after - tc.ackAt)
			} else {
				h.advance(tc.after)
			}
			c2, err := h.l.Dial(h.now, ourAddr, remote, 80, h.rec)
			if !tc.ok {
				if err != ErrNoPorts {
					t.Fatalf("Dial %v after TIME-WAIT began: %v, want ErrNoPorts", tc.after, err)
				}
				return
			}
			if err != nil || c2.Key() != c.Key() {
				t.Fatalf("Dial %v after TIME-WAIT began: %v", tc.after, err)
			}
			if tc.reuse != 0 {
				// Linux tcp_twsk_unique: write_seq = tw_snd_nxt + 65535 + 2.
				h.expect(flags(SYN), seqNum(ourISN+2+65537), at(tc.after))
			} else {
				h.expect(flags(SYN), at(tc.after))
			}
		})
	}
}

// A SYN in TIME-WAIT with timestamps (Linux tcp_timewait_state_process):
// a newer TSval reuses the slot whatever the sequence number; an equal
// TSval reuses it with a higher sequence number; an older TSval is a PAWS
// reject even with a higher sequence number, answered by the TIME-WAIT ACK.
func TestTimeWaitSynTimestampRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seq   seqnum.Value
		tsval uint32
		reuse bool
	}{
		{"newer-ts-old-seq", peerISN, 103, true},
		{"equal-ts-higher-seq", peerISN + 1000, 102, true},
		{"equal-ts-old-seq", peerISN, 102, false},
		{"older-ts-higher-seq", peerISN + 1000, 101, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := timeWaitTSConn(t)
			h.advance(15 * time.Second)
			h.send(SYN, tc.seq, 0, withMSS(1460), withTS(tc.tsval, 0))
			if tc.reuse {
				h.expect(flags(SYN|ACK), seqNum(ourISN+2+65537), ackNum(tc.seq+1), at(15*time.Second))
				if h.l.TimeWaits() != 0 {
					t.Fatal("TIME-WAIT entry kept")
				}
				return
			}
			h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2), at(15*time.Second))
			if h.l.TimeWaits() != 1 || h.l.Conns() != 0 {
				t.Fatal("TIME-WAIT slot reused")
			}
		})
	}
}

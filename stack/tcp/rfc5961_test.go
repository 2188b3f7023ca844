package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// RFC 5961 in every synchronized state, at the four sequence edges
// RCV.NXT-1, RCV.NXT, the last byte in the window and the first past it
// (RFC 9293 §3.10.7.4 acceptability, RFC 5961 §3.2 RST, §4.2 SYN, §5.2
// ACK).

var syncStates = []struct {
	name string
	mk   func(*testing.T, ...cfgOpt) *harness
	data bool // the state takes data (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2)
}{
	{"ESTABLISHED", establishedConn, true},
	{"FIN-WAIT-1", finWait1Conn, false}, // closed: data would draw a RST (Linux TCPAbortOnData)
	{"FIN-WAIT-2", finWait2Conn, false},
	{"FIN-WAIT-1 half-closed", finWait1HalfConn, true},
	{"FIN-WAIT-2 half-closed", finWait2HalfConn, true},
	{"CLOSE-WAIT", closeWaitConn, false},
	{"CLOSING", closingConn, false},
	{"LAST-ACK", lastAckConn, false},
}

// finWait1HalfConn: the application called CloseWrite; it still reads.
func finWait1HalfConn(t *testing.T, opts ...cfgOpt) *harness {
	h := establishedConn(t, opts...)
	h.c.CloseWrite()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.state(StateFinWait1)
	return h
}

// finWait2HalfConn: after CloseWrite, our FIN was acknowledged.
func finWait2HalfConn(t *testing.T, opts ...cfgOpt) *harness {
	h := finWait1HalfConn(t, opts...)
	h.send(ACK, peerISN+1, ourISN+2)
	h.expectNothing()
	h.state(StateFinWait2)
	return h
}

// seqEdge is a sequence number at an edge of what the sequence check
// takes (Linux tcp_sequence: the segment ends at or after rcv_wup, which
// is RCV.NXT here, everything having been acknowledged, and starts at or
// before the window's right edge) for a RST (no sequence space) and for
// a SYN (one).
type seqEdge struct {
	name     string
	seq      seqnum.Value
	rstTaken bool // a RST here passes the sequence check
	synTaken bool // a SYN here passes it
}

const nEdges = 5 // len(edges(c))

func edges(c *Conn) []seqEdge {
	nxt := c.rcvNxt
	wnd := seqnum.Size(c.rcvAdv.Sub(nxt))
	return []seqEdge{
		{"RCV.NXT-1", nxt - 1, false, true},
		{"RCV.NXT", nxt, true, true},
		{"last in window", nxt.Add(wnd - 1), true, true},
		{"right edge", nxt.Add(wnd), true, true},
		{"past the right edge", nxt.Add(wnd + 1), false, false},
	}
}

func TestRFC5961RstEdges(t *testing.T) {
	for _, st := range syncStates {
		for i := range nEdges {
			h := st.mk(t)
			e := edges(h.c)[i]
			t.Run(fmt.Sprintf("%s/%s", st.name, e.name), func(t *testing.T) {
				h.t = t
				before := h.c.State()
				chal := h.l.Stats().TCPChallengeACK.Load()
				h.send(RST|ACK, e.seq, h.c.sndNxt)
				finIn := before == StateCloseWait || before == StateClosing || before == StateLastAck
				switch {
				case e.seq == h.c.rcvNxt, finIn && e.seq == h.c.rcvNxt-1:
					// Exactly RCV.NXT: reset. After the peer's FIN,
					// also the FIN's own number (Linux tcp_reset_check).
					h.expectNothing()
					h.state(StateClosed)
				case e.rstTaken: // in window: challenge ACK, connection stays
					h.expect(flags(ACK), seqNum(h.c.sndNxt), ackNum(h.c.rcvNxt))
					h.state(before)
					if h.l.Stats().TCPChallengeACK.Load() != chal+1 {
						t.Fatal("TCPChallengeACK not counted")
					}
				default: // outside: dropped silently
					h.expectNothing()
					h.state(before)
				}
			})
		}
	}
}

func TestRFC5961SynEdges(t *testing.T) {
	for _, st := range syncStates {
		for i := range nEdges {
			h := st.mk(t)
			e := edges(h.c)[i]
			t.Run(fmt.Sprintf("%s/%s", st.name, e.name), func(t *testing.T) {
				h.t = t
				before := h.c.State()
				chal := h.l.Stats().TCPChallengeACK.Load()
				h.send(SYN, e.seq, 0, withMSS(1460))
				// RFC 5961 §4.2: whatever the sequence number, a
				// challenge ACK, and the connection stays (Linux
				// tcp_validate_incoming: syn_challenge for a SYN the
				// sequence check refuses too).
				h.expect(flags(ACK), seqNum(h.c.sndNxt), ackNum(h.c.rcvNxt))
				h.expectNothing()
				h.state(before)
				if got := h.l.Stats().TCPChallengeACK.Load(); got != chal+1 {
					t.Fatalf("TCPChallengeACK %d, want %d", got, chal+1)
				}
			})
		}
	}
}

// Data at the edges: old bytes are re-ACKed, RCV.NXT is delivered, the
// last byte in the window is queued, bytes at or past the right edge are
// dropped; every
// case draws an ACK (RFC 9293 §3.10.7.4; the in-order byte's may be
// delayed).
func TestDataEdges(t *testing.T) {
	for _, st := range syncStates {
		if !st.data {
			continue
		}
		for i := range nEdges {
			h := st.mk(t)
			e := edges(h.c)[i]
			t.Run(fmt.Sprintf("%s/%s", st.name, e.name), func(t *testing.T) {
				h.t = t
				nxt := h.c.rcvNxt
				h.send(ACK, e.seq, h.c.sndNxt, withData([]byte("z")))
				switch e.name {
				case "RCV.NXT":
					if string(h.rec.data) != "z" || h.c.rcvNxt != nxt+1 {
						t.Fatalf("delivered %q", h.rec.data)
					}
				case "last in window":
					h.expect(flags(ACK), ackNum(nxt))
					if h.c.oooRanges() != 1 || len(h.rec.data) != 0 {
						t.Fatalf("not queued: ooo %d data %q", h.c.oooRanges(), h.rec.data)
					}
				default:
					h.expect(flags(ACK), ackNum(nxt))
					if h.c.oooRanges() != 0 || len(h.rec.data) != 0 || h.c.rcvNxt != nxt {
						t.Fatalf("accepted: ooo %d data %q", h.c.oooRanges(), h.rec.data)
					}
				}
			})
		}
	}
}

// RFC 5961 §5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] is
// dropped with a challenge ACK, its data not taken; the edges themselves
// are acceptable.
func TestRFC5961AckEdges(t *testing.T) {
	for _, st := range syncStates {
		h0 := st.mk(t)
		una, max, win := h0.c.sndUna, h0.c.sndNxt, seqnum.Size(h0.c.maxSndWnd)
		for _, tc := range []struct {
			name string
			ack  seqnum.Value
			ok   bool
		}{
			{"SND.NXT+1", max + 1, false},
			{"SND.UNA-MAX.SND.WND-1", una - seqnum.Value(win) - 1, false},
			{"SND.UNA-MAX.SND.WND", una - seqnum.Value(win), true},
			{"SND.UNA", una, true},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				h := st.mk(t)
				before := h.c.State()
				nxt := h.c.rcvNxt
				h.send(ACK, nxt, tc.ack, withData([]byte("q")))
				if tc.ok {
					if st.data && string(h.rec.data) != "q" {
						t.Fatalf("acceptable ACK: data %q not delivered", h.rec.data)
					}
					return
				}
				h.expect(flags(ACK), seqNum(h.c.sndNxt), ackNum(nxt))
				h.state(before)
				if len(h.rec.data) != 0 || h.c.rcvNxt != nxt {
					t.Fatalf("data %q taken from an unacceptable ACK", h.rec.data)
				}
			})
		}
	}
}

// Out-of-window segments without data or FIN draw at most one ACK per
// 500 ms (Linux tcp_oow_rate_limited with tcp_invalid_ratelimit), the rest
// counted in TCPACKSkippedSeq; a FIN and data are always answered and do
// not move the limit's clock.
func TestOutOfWindowAckRateLimited(t *testing.T) {
	h := establishedConn(t)
	h.advance(time.Second) // off the clock's first millisecond, which stands for "never"
	past := h.c.rcvAdv.Add(100)
	h.send(ACK, past, ourISN+1)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.advance(100 * time.Millisecond)
	h.send(ACK, past, ourISN+1)
	h.expectNothing()
	h.send(FIN|ACK, past, ourISN+1)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.send(ACK, past, ourISN+1, withData([]byte("x")))
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.advance(399 * time.Millisecond) // 499 ms after the first ACK
	h.send(ACK, past, ourISN+1)
	h.expectNothing()
	h.advance(time.Millisecond)
	h.send(ACK, past, ourISN+1)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	if n := h.l.Stats().TCPACKSkippedSeq.Load(); n != 2 {
		t.Fatalf("TCPACKSkippedSeq %d, want 2", n)
	}
	h.state(StateEstablished)
}

// tcp_invalid_ratelimit sets that interval (xdptcp/oow-ratelimit,
// measured on Linux 6.18 with 100: out-of-window ACKs at 0, 50, 90, 110
// and 120 ms are answered at 0 and 110 ms, TCPACKSkippedSeq 3); 0 answers
// every one.
func TestInvalidRatelimitSetting(t *testing.T) {
	for _, tc := range []struct{ ms, skipped int }{{100, 3}, {0, 0}} {
		h := establishedConn(t, func(c *Config) { c.InvalidRatelimitMs = tc.ms })
		h.advance(time.Second) // off the clock's first millisecond, which stands for "never"
		past := h.c.rcvAdv.Add(100)
		answered := 0
		for _, gap := range []time.Duration{0, 50, 40, 20, 10} {
			h.advance(gap * time.Millisecond)
			h.send(ACK, past, ourISN+1)
			for len(h.out.segs) > 0 {
				h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+1))
				answered++
			}
		}
		if n := int(h.l.Stats().TCPACKSkippedSeq.Load()); n != tc.skipped || answered != 5-tc.skipped {
			t.Fatalf("tcp_invalid_ratelimit %d: %d answered, TCPACKSkippedSeq %d; want %d skipped", tc.ms, answered, n, tc.skipped)
		}
	}
}

// RFC 5961 §7: challenge ACKs are limited per connection, to one per
// tcp_invalid_ratelimit (500 ms) shared with the ACKs for out-of-window
// segments, as Linux's tcp_send_challenge_ack (xdptcp/challenge-ack-ratelimit,
// measured on Linux 6.18); the rest are counted; another connection has
// its own clock, and nothing limits them host-wide (Linux's
// tcp_challenge_ack_limit is unlimited by default: the host-wide limit
// was CVE-2016-5696).
func TestChallengeAckLimitPerConnection(t *testing.T) {
	h := establishedConn(t)
	h.advance(time.Second) // off the clock's first millisecond, which stands for "never"
	for i := 0; i < 150; i++ {
		h.send(RST, peerISN+100, 0)
	}
	if n := len(h.out.segs); n != 1 {
		t.Fatalf("%d challenge ACKs, want 1", n)
	}
	if got := h.l.Stats().TCPACKSkippedChallenge.Load(); got != 149 {
		t.Fatalf("TCPACKSkippedChallenge %d, want 149", got)
	}
	h.out.segs = nil
	// An out-of-window ACK shares the clock: not answered either.
	h.send(ACK, h.c.rcvAdv.Add(100), ourISN+1)
	h.expectNothing()
	// Another connection on the same layer is not starved.
	k2 := testKey
	k2.RemotePort++
	h.send(SYN, peerISN, 0, withKey(k2), withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withKey(k2))
	h.send(RST, peerISN+100, 0, withKey(k2))
	h.expect(flags(ACK), ackNum(peerISN+1))
	// 500 ms later the first connection may challenge again.
	h.advance(499 * time.Millisecond)
	h.send(RST, peerISN+100, 0)
	h.expectNothing()
	h.advance(time.Millisecond)
	h.send(RST, peerISN+100, 0)
	h.expect(flags(ACK), ackNum(peerISN+1))
	h.state(StateEstablished)
}

// With SACK, a RST at the end of the highest out-of-order range held
// resets too (Linux tcp_validate_incoming: the peer reset after data we
// hold beyond a hole); one at the end of a lower range draws a challenge
// ACK.
func TestRstAtHighestSACKedEdge(t *testing.T) {
	for _, top := range []bool{false, true} {
		h := newHarness(t)
		h.listen()
		h.send(SYN, peerISN, 0, withMSS(1460), withSACKOK())
		h.expect(flags(SYN | ACK))
		h.send(ACK, peerISN+1, ourISN+1)
		h.send(ACK, peerISN+101, ourISN+1, withData(make([]byte, 100)))
		h.send(ACK, peerISN+301, ourISN+1, withData(make([]byte, 100)))
		for len(h.out.segs) > 0 {
			h.expect(flags(ACK), ackNum(peerISN+1))
		}
		seq := peerISN + 201 // the end of the lower range
		if top {
			seq = peerISN + 401
		}
		h.send(RST, seq, 0)
		if top {
			h.expectNothing()
			h.state(StateClosed)
			continue
		}
		h.expect(flags(ACK), ackNum(peerISN+1))
		h.state(StateEstablished)
	}
}

// tcp_challenge_ack_limit (RFC 5961 §7, Linux tcp_send_challenge_ack):
// below its unlimited default, the process's challenge ACKs are a budget
// drawn each second in [limit/2, limit*3/2); once spent, a challenge ACK
// that passed its connection's tcp_invalid_ratelimit is neither sent nor
// counted. Measured on Linux 6.18 with 1 and tcp_invalid_ratelimit 0: ten
// in-window SYNs 10 ms apart draw one challenge ACK (TCPChallengeACK 1,
// TCPSYNChallenge 10); with 4, two to five a second.
func TestChallengeAckLimitProcessWide(t *testing.T) {
	challengeBudget.second.Store(0) // the budget is the process's: start afresh
	t.Cleanup(func() { challengeBudget.second.Store(0) })
	h := establishedConn(t, func(c *Config) { c.InvalidRatelimitMs, c.ChallengeAckLimit = 0, 1 })
	h.advance(time.Second - time.Duration(h.now)%time.Second) // at the start of a second
	for range 10 {
		h.send(SYN, peerISN, 0, withMSS(1460))
		h.advance(10 * time.Millisecond)
	}
	if n := len(h.out.segs); n != 1 {
		t.Fatalf("%d challenge ACKs for 10 SYNs in a second, want 1", n)
	}
	st := h.l.Stats()
	if st.TCPChallengeACK.Load() != 1 || st.TCPACKSkippedChallenge.Load() != 0 {
		t.Fatalf("TCPChallengeACK %d TCPACKSkippedChallenge %d, want 1 and 0", st.TCPChallengeACK.Load(), st.TCPACKSkippedChallenge.Load())
	}
	h.out.segs = nil
	// The next second has its own budget.
	h.advance(time.Second)
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(ACK), ackNum(peerISN+1))
	// The draw: with 4, between 2 and 5 a second.
	for _, sec := range []int64{100, 101, 102, 103, 104} {
		n := 0
		for challengeAckAllowed(clock.Time(sec)*clock.Time(time.Second), 4) {
			n++
		}
		if n < 2 || n > 5 {
			t.Fatalf("limit 4: %d challenge ACKs in a second, want 2-5", n)
		}
	}
}

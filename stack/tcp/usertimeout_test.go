package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// TCP_USER_TIMEOUT (RFC 5482, Linux): data unacknowledged for the user
// timeout, counted from the first retransmitted segment's original send,
// ends the connection with ErrTimeout at that time (the RTO is clamped to
// it: tcp_clamp_rto_to_user_timeout) instead of after tcp_retries2.
func TestUserTimeoutRetransmissions(t *testing.T) {
	h := establishedConn(t)
	h.c.SetUserTimeout(time.Second)
	rto := h.c.currentRTO()
	h.c.Write([]byte("data"))
	h.expect(payloadLen(4))
	sent := 0
	for i := 0; i < 40 && h.c.State() != StateClosed; i++ {
		h.advance(50 * time.Millisecond)
		for len(h.out.segs) > 0 {
			h.expect(payloadLen(4))
			sent++
		}
	}
	if h.c.State() != StateClosed {
		t.Fatal("still open after 2 s")
	}
	// Counted from the first retransmission (Linux retrans_stamp;
	// measured on Linux 6.18, conformance/scripts/user-timeout-rtx.pkt).
	if d := time.Duration(h.now); d < rto+time.Second || d > rto+time.Second+50*time.Millisecond {
		t.Fatalf("closed at %v, want 1 s after the first retransmission at %v", d, rto)
	}
	if err := h.rec.closeErr(t); !errors.Is(err, ErrTimeout) {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
	// The first retransmission was at rto, then backed off: rto, 2rto...
	// until 1 s after the first retransmission.
	if sent < 1 || sent > 3 {
		t.Fatalf("%d retransmissions with RTO %v in 1 s", sent, rto)
	}
}

// Keepalive with a user timeout: the peer is dead once probes went
// unanswered for the user timeout since it was last heard (Linux
// tcp_keepalive_timer), not after tcp_keepalive_probes.
func TestUserTimeoutKeepalive(t *testing.T) {
	h := establishedConn(t)
	h.c.SetKeepAlive(true)
	h.c.SetKeepAlivePeriod(10 * time.Second)
	h.c.SetUserTimeout(20 * time.Second)
	h.advance(10 * time.Second)
	h.expect(flags(ACK), seqNum(ourISN)) // the first probe
	h.advance(10 * time.Second)          // tcp_keepalive_intvl 75 s: no probe yet
	h.expectNothing()
	h.advance(65 * time.Second)
	h.expect(flags(RST | ACK))
	if err := h.rec.closeErr(t); !errors.Is(err, ErrTimeout) {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
}

// Zero-window probes with a user timeout: the probing is given up once it
// has lasted the user timeout since its first probe, even though the
// peer answers every probe (Linux tcp_probe_timer's icsk_probes_tstamp;
// persist-user-timeout.pkt). Without one the answers keep it forever
// (TestZeroWindowProbeSchedule).
func TestUserTimeoutZeroWindowProbes(t *testing.T) {
	h := zeroWindowWithData(t)
	h.c.SetUserTimeout(time.Second)
	rto := h.c.rtt.rto(minRTO, maxRTO)
	var first clock.Time
	probes := 0
	for i := 0; i < 10 && h.c.State() != StateClosed; i++ {
		for len(h.out.segs) == 0 && h.c.State() != StateClosed {
			at, ok := h.l.NextDeadline()
			if !ok {
				t.Fatal("no timer runs")
			}
			h.advance(time.Duration(at - h.now))
		}
		if h.c.State() == StateClosed {
			break
		}
		s := h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(0))
		if probes == 0 {
			first = s.at
		}
		probes++
		h.advance(30 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+2, withWin(0)) // answered
	}
	if h.c.State() != StateClosed {
		t.Fatal("answered probes outlived the user timeout")
	}
	if d := h.now.Sub(first); d < time.Second || d > time.Second+8*rto {
		t.Fatalf("given up %v after the first probe, want at the first probe time past 1 s", d)
	}
	if probes != 2 {
		t.Fatalf("%d probes, want 2 (at the RTO, then 2 RTO after the answer)", probes)
	}
	if err := h.rec.closeErr(t); !errors.Is(err, ErrTimeout) {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
}

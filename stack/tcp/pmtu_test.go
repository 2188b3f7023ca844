package tcp

import (
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// A "packet too big" quoting an in-flight segment lowers the MSS and
// resends what is in flight at the new size at once (RFC 1191, RFC 8201,
// Linux tcp_simple_retransmit); one quoting a sequence number outside
// SND.UNA..SND.NXT changes nothing (RFC 5927 §4.1) and is counted.
func TestICMPPacketTooBig(t *testing.T) {
	h := establishedConn(t)
	data := make([]byte, 3000)
	if n := h.c.Write(data); n != 3000 {
		t.Fatalf("wrote %d", n)
	}
	h.expect(seqNum(ourISN+1), payloadLen(1460))
	h.expect(seqNum(ourISN+1+1460), payloadLen(1460))
	h.expect(seqNum(ourISN+1+2920), payloadLen(80))
	h.expectNothing()

	// Forged: the quoted sequence number is outside the window.
	for _, seq := range []uint32{uint32(ourISN), uint32(ourISN + 1 + 3000 + 1), uint32(ourISN) + 1<<31} {
		if h.l.ICMPError(h.now, h.key, seqnum.Value(seq), ICMPPacketTooBig, 1000, nil) {
			t.Fatalf("seq %d applied", seq)
		}
	}
	h.expectNothing()
	if h.c.mss != 1460 || h.l.Stats().OutOfWindowIcmps.Load() != 3 {
		t.Fatalf("mss %d, OutOfWindowIcmps %d", h.c.mss, h.l.Stats().OutOfWindowIcmps.Load())
	}
	if _, ok := h.l.PathMTU(h.key.RemoteAddr); ok {
		t.Fatal("a forged error reached the PMTU cache")
	}
	// A soft error in the window is accepted and changes nothing.
	if !h.l.ICMPError(h.now, h.key, ourISN+1, ICMPSoft, 0, nil) {
		t.Fatal("soft error refused")
	}
	h.expectNothing()

	// The real one, quoting the second segment: MTU 1000 (IPv4: MSS 960).
	if !h.l.ICMPError(h.now, h.key, ourISN+1+1460, ICMPPacketTooBig, 1000, nil) {
		t.Fatal("not applied")
	}
	if h.c.mss != 960 {
		t.Fatalf("mss %d, want 960", h.c.mss)
	}
	// Everything in flight goes again at once, in segments of at most 960.
	sent := 0
	for len(h.out.segs) > 0 {
		s := h.expect()
		if len(s.seg.Payload)+len(s.seg.Payload2) > 960 {
			t.Fatalf("resent %d bytes in one segment", len(s.seg.Payload)+len(s.seg.Payload2))
		}
		if uint32(s.seg.Seq) != uint32(ourISN)+1+uint32(sent) {
			t.Fatalf("resent seq %d, want %d", s.seg.Seq, uint32(ourISN)+1+uint32(sent))
		}
		sent += len(s.seg.Payload) + len(s.seg.Payload2)
		if sent >= 3000 {
			break
		}
	}
	if sent == 0 {
		t.Fatal("nothing resent")
	}
	// Learnt for the destination; a larger MTU later does not raise it,
	// and below the floor it is raised to min_pmtu (552).
	if m, ok := h.l.PathMTU(h.key.RemoteAddr); !ok || m != 1000 {
		t.Fatalf("PMTU cache %d %v", m, ok)
	}
	h.l.ICMPError(h.now, h.key, h.c.sndUna, ICMPPacketTooBig, 100, nil)
	if h.c.mss != MinPMTU4-40 {
		t.Fatalf("mss %d below the min_pmtu floor", h.c.mss)
	}
	// It expires after ip_rt_mtu_expires.
	h.l.now = h.now.Add(PMTUExpires)
	if _, ok := h.l.PathMTU(h.key.RemoteAddr); ok {
		t.Fatal("PMTU did not expire")
	}
}

// The IPv6 floor is 1280 and the headers 60 bytes.
func TestICMPPacketTooBigIPv6(t *testing.T) {
	h := newHarness(t)
	h.key.LocalAddr, h.key.RemoteAddr = ourAddr6, peerAddr6
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1440), withKey(h.key))
	h.expect(flags(SYN|ACK), mss(1440))
	h.send(ACK, peerISN+1, ourISN+1, withKey(h.key))
	h.state(StateEstablished)
	h.c.Write(make([]byte, 2000))
	h.expect(payloadLen(1440))
	h.expect(payloadLen(560))
	if !h.l.ICMPError(h.now, h.key, ourISN+1, ICMPPacketTooBig, 1000, nil) {
		t.Fatal("not applied")
	}
	if h.c.mss != 1280-60 {
		t.Fatalf("mss %d, want %d (the IPv6 minimum MTU)", h.c.mss, 1280-60)
	}
	h.expect(seqNum(ourISN+1), payloadLen(1220))
}

// tcp_mtu_probing 1: after tcp_retries1 consecutive timeouts (a path that
// drops full-sized segments and the ICMP errors about them) the MSS drops
// to tcp_base_mss, then halves at every further timeout (Linux
// tcp_mtu_probing); with 0 it never changes.
func TestMTUProbingBlackHole(t *testing.T) {
	for _, mode := range []int{0, 1} {
		h := establishedConn(t, func(c *Config) { c.MtuProbing = mode })
		h.c.Write(make([]byte, 1460))
		h.expect(payloadLen(1460))
		var sizes []int
		for i := 0; i < 4; i++ {
			h.advance(h.c.currentRTO())
			for len(h.out.segs) > 0 {
				sizes = append(sizes, len(h.expect().seg.Payload))
			}
		}
		t.Logf("tcp_mtu_probing %d: retransmissions %v", mode, sizes)
		want := []int{1460, 1460, 1024, 436, 512}
		if mode == 0 {
			want = []int{1460, 1460, 1460, 1460}
		}
		if len(sizes) < len(want) {
			want = want[:len(sizes)]
		}
		for i := range want {
			if sizes[i] != want[i] {
				t.Fatalf("tcp_mtu_probing %d: retransmissions %v, want %v", mode, sizes, want)
			}
		}
	}
}

// The cache holds at most pmtu_cache_size destinations: the one that
// expires first goes.
func TestPMTUCacheBound(t *testing.T) {
	var p pmtuCache
	for i := range 5 {
		p.learn(clock.Time(i), peerAddr6, 1400, 2) // the same destination: one entry
		a := ourAddr
		a[15] = byte(100 + i)
		p.learn(clock.Time(i), a, 1300, 2)
	}
	if len(p.m) != 2 {
		t.Fatalf("%d entries, want 2", len(p.m))
	}
	a := ourAddr
	a[15] = 104
	if m, ok := p.lookup(0, a); !ok || m != 1300 {
		t.Fatal("the newest entry was evicted")
	}
}

// An ICMP error about our SYN ends the connect with its error, as Linux's
// tcp_v4_err does for a SYN-SENT socket (connect(2) fails with
// EHOSTUNREACH when a router says the host is unreachable).
func TestICMPErrorFailsConnect(t *testing.T) {
	h := dialConn(t)
	if !h.l.ICMPError(h.now, h.key, ourISN, ICMPSoft, 0, syscall.EHOSTUNREACH) {
		t.Fatal("not applied")
	}
	if err := h.rec.closeErr(t); err != syscall.EHOSTUNREACH {
		t.Fatalf("connect failed with %v, want EHOSTUNREACH", err)
	}
	h.state(StateClosed)
	if h.l.Stats().AttemptFails.Load() != 1 {
		t.Fatal("AttemptFails not counted")
	}
}

// A soft ICMP error on an established connection is kept (Linux
// sk_err_soft): the connection goes on, and if it then times out it
// reports that error instead of ETIMEDOUT (tcp_write_err); an ACK in
// between clears it (tcp_ack), and the timeout is ETIMEDOUT again.
func TestSoftICMPErrorReportedOnTimeout(t *testing.T) {
	for _, acked := range []bool{false, true} {
		h := establishedConn(t)
		h.c.Write([]byte("data"))
		h.expect(flags(ACK|PSH), payloadLen(4))
		if !h.l.ICMPError(h.now, h.key, ourISN+1, ICMPSoft, 0, syscall.ENETUNREACH) {
			t.Fatal("not applied")
		}
		h.state(StateEstablished)
		want := error(syscall.ENETUNREACH)
		if acked {
			h.send(ACK, peerISN+1, ourISN+1) // a duplicate ACK: the path works
			want = ErrTimeout
		}
		h.advance(925 * time.Second)
		if err := h.rec.closeErr(t); err != want {
			t.Fatalf("ACK after the error %v: timed out with %v, want %v", acked, err, want)
		}
	}
}

package tcp

import (
	"fmt"
	"slices"
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

// tcp_mtu_probing 1: once tcp_retries1's time (3.0 s with 3, as Linux's
// tcp_write_timeout: retransmits_timed_out) has passed since the first
// retransmission without progress (a path that drops full-sized segments
// and the ICMP errors about them) the MSS drops to tcp_base_mss, then
// halves at every further timeout (Linux tcp_mtu_probing); with 0 it
// never changes. With a 200 ms RTO that is the fifth timeout (2.8 s at
// the fourth); with a 600 ms RTT (RTO 1.8 s) the second
// (mtu-probe-blackhole-time.pkt, measured on Linux 6.18).
func TestMTUProbingBlackHole(t *testing.T) {
	for _, tc := range []struct {
		mode int
		rtt  time.Duration
		want []int // payload sizes of the timeouts' resends, in order
	}{
		{0, 0, []int{1460, 1460, 1460, 1460, 1460}},
		{1, 0, []int{1460, 1460, 1460, 1460, 1024, 512}},
		{1, 600 * time.Millisecond, []int{1460, 1024, 512, 256}},
	} {
		h := synReceivedConn(t, func(c *Config) { c.MtuProbing = tc.mode })
		h.advance(tc.rtt)
		h.send(ACK, peerISN+1, ourISN+1)
		h.c.Write(make([]byte, 1460))
		h.expect(payloadLen(1460))
		var sizes []int
		for len(sizes) < len(tc.want) {
			h.advance(time.Duration(h.c.rtoAt - h.now))
			for len(h.out.segs) > 0 {
				sizes = append(sizes, len(h.expect().seg.Payload))
			}
		}
		if !slices.Equal(sizes[:len(tc.want)], tc.want) {
			t.Fatalf("tcp_mtu_probing %d, RTT %v: resends %v, want %v", tc.mode, tc.rtt, sizes, tc.want)
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

// In a simultaneous open (SYN-RECEIVED without a listener, Linux's full
// socket in TCP_SYN_RECV) an error about our SYN fails the connect as in
// SYN-SENT (tcp_v4_err).
func TestICMPErrorFailsSimultaneousOpen(t *testing.T) {
	h := dialConn(t)
	h.send(SYN, peerISN, 0, withMSS(1460), withKey(h.key))
	h.expect(flags(SYN | ACK))
	h.state(StateSynReceived)
	if !h.l.ICMPError(h.now, h.key, ourISN, ICMPSoft, 0, syscall.ECONNREFUSED) {
		t.Fatal("not applied")
	}
	if err := h.rec.closeErr(t); err != syscall.ECONNREFUSED {
		t.Fatalf("connect failed with %v, want ECONNREFUSED", err)
	}
	h.state(StateClosed)
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
		h.advance(1045 * time.Second)
		if err := h.rec.closeErr(t); err != want {
			t.Fatalf("ACK after the error %v: timed out with %v, want %v", acked, err, want)
		}
	}
}

// probingConn is an established connection with tcp_mtu_probing 2 and
// tcp_base_mss 512, the peer's MSS 1460 (IPv4: path MTU 1500), SACK when
// sack. Opened by Dial when active, it starts at tcp_base_mss; accepted,
// at the path's MSS (as Linux: mtuSearchStart).
func probingConn(t *testing.T, active, sack bool) *harness {
	opt := func(c *Config) { c.MtuProbing, c.BaseMss = 2, 512 }
	var h *harness
	synOpts := []segOpt{withMSS(1460), func(s *Segment) { s.Opts.SACKPermitted = sack }}
	if active {
		h = dialConn(t, opt)
		h.send(SYN|ACK, peerISN, ourISN+1, append(synOpts, withKey(h.key))...)
		h.expect(flags(ACK))
	} else {
		h = newHarness(t, opt)
		h.listen()
		h.send(SYN, peerISN, 0, synOpts...)
		h.expect(flags(SYN|ACK), mss(1460))
		h.send(ACK, peerISN+1, ourISN+1)
	}
	h.state(StateEstablished)
	want := 1460
	if active {
		want = 512
	}
	if h.c.mss != want {
		t.Fatalf("mss %d, want %d", h.c.mss, want)
	}
	if in := h.c.Info(); in.PMTU != 1500 || in.SndMSS != want {
		t.Fatalf("TCP_INFO pmtu %d snd_mss %d, want 1500 and %d", in.PMTU, in.SndMSS, want)
	}
	return h
}

// sizes pops every segment sent and returns their payload sizes.
func (h *harness) sizes() []int {
	var n []int
	for len(h.out.segs) > 0 {
		n = append(n, len(h.expect().seg.Payload))
	}
	return n
}

// RFC 4821's search upward, as Linux's tcp_mtu_probe: with cwnd at 11
// segments or more, one segment of the middle of the range goes first in
// a round; its ACK makes it the MSS. From tcp_base_mss 512 (MTU 552) to
// the peer's 1500 the probes are the MTUs 1026, 1263, 1381, 1440, 1470,
// 1485, 1492 and 1496, after which the range (4 bytes) is below
// tcp_probe_threshold: the MSS ends at 1456. The probes are data the
// connection had to send: every byte arrives once, in order.
func TestMTUProbeSearch(t *testing.T) {
	for _, active := range []bool{true, false} {
		h := probingConn(t, active, false)
		const total = 1 << 20
		written := h.c.Write(make([]byte, total))
		var probes []int
		for round := 0; round < 200 && h.c.sndUna != ourISN+1+total; round++ {
			sizes := h.sizes()
			if ms := h.c.sx.mtu; ms.probe != 0 {
				if sizes[0] != int(ms.probe)-40 {
					t.Fatalf("round %d: the probe (%d bytes) is not the round's first segment: %v", round, ms.probe-40, sizes)
				}
				probes = append(probes, sizes[0])
			}
			h.advance(10 * time.Millisecond)
			h.send(ACK, peerISN+1, h.c.sndNxt, withKey(h.key))
			if written < total {
				written += h.c.Write(make([]byte, total-written))
			}
		}
		want := []int{986, 1223, 1341, 1400, 1430, 1445, 1452, 1456}
		if fmt.Sprint(probes) != fmt.Sprint(want) {
			t.Fatalf("active %v: probe payloads %v, want %v", active, probes, want)
		}
		if h.c.mss != 1456 {
			t.Fatalf("active %v: mss %d after the search, want 1456", active, h.c.mss)
		}
		st := h.l.Stats()
		if st.TCPMTUPSuccess.Load() != 8 || st.TCPMTUPFail.Load() != 0 || st.RetransSegs.Load() != 0 {
			t.Fatalf("active %v: TCPMTUPSuccess %d, TCPMTUPFail %d, RetransSegs %d", active, st.TCPMTUPSuccess.Load(), st.TCPMTUPFail.Load(), st.RetransSegs.Load())
		}
		// A search that has ended starts again after
		// tcp_probe_interval, from the MSS up to the peer's.
		h.advance(time.Duration(h.l.cfg.ProbeInterval) * time.Second)
		h.c.Write(make([]byte, 100<<10))
		for round := 0; round < 50 && h.c.sndUna != h.c.dataEnd(); round++ {
			h.sizes()
			h.advance(10 * time.Millisecond)
			h.send(ACK, peerISN+1, h.c.sndNxt, withKey(h.key))
		}
		if ms := h.c.sx.mtu; ms.low != 1496 || ms.high != 1500 || ms.stamp < h.now.Add(-time.Second) {
			t.Fatalf("active %v: after tcp_probe_interval the search is low %d high %d from %v (now %v)", active, ms.low, ms.high, ms.stamp, h.now)
		}
	}
}

// A probe the path drops (a black hole at MTU 1200: nothing larger
// arrives, no ICMP says so). The SACKs of the segments behind it show the
// loss: the probe's data goes again in segments of the MSS, with no fast
// recovery and cwnd untouched (Linux tcp_fastretrans_alert's "MTU probe
// failure"); the search's top comes down below the probe, so the next
// probe is smaller. The MSS ends at the largest size that passes
// (MTU 1196 here: 1156 bytes), never above the hole.
func TestMTUProbeLost(t *testing.T) {
	h := probingConn(t, true, true)
	const hole = 1200 - 40
	const total = 1 << 20
	written := h.c.Write(make([]byte, total))
	got := make([]bool, total)
	var lostProbes []int
	for round := 0; round < 400 && h.c.sndUna != ourISN+1+total; round++ {
		// The peer: segments over the hole are lost, the others
		// arrive; it acknowledges what it holds in order and SACKs
		// (up to three ranges) what it holds above a gap.
		una := h.c.sndUna
		for _, s := range h.out.segs {
			if len(s.seg.Payload) > hole {
				lostProbes = append(lostProbes, len(s.seg.Payload))
				continue
			}
			off := int(s.seg.Seq.Sub(ourISN + 1))
			for i := range s.seg.Payload {
				got[off+i] = true
			}
		}
		h.out.segs = nil
		rcvd := 0
		for rcvd < total && got[rcvd] {
			rcvd++
		}
		var blocks []seqnum.Value
		for i := rcvd; i < total && len(blocks) < 6; i++ {
			if got[i] && (i == 0 || !got[i-1]) {
				j := i
				for j < total && got[j] {
					j++
				}
				blocks = append(blocks, ourISN+1+seqnum.Value(i), ourISN+1+seqnum.Value(j))
			}
		}
		cwnd := h.c.cc.window()
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+1+seqnum.Value(rcvd), withSACK(blocks...), withKey(h.key))
		if ourISN+1+seqnum.Value(rcvd) == una && len(blocks) > 0 && h.c.flags&fInRecovery != 0 {
			t.Fatalf("round %d: a lost probe started fast recovery", round)
		}
		if ourISN+1+seqnum.Value(rcvd) == una && len(blocks) > 0 && h.c.cc.window() < cwnd {
			t.Fatalf("round %d: a lost probe reduced cwnd %d -> %d", round, cwnd, h.c.cc.window())
		}
		if written < total {
			written += h.c.Write(make([]byte, total-written))
		}
	}
	if h.c.sndUna != ourISN+1+total {
		t.Fatalf("SND.UNA %d: the transfer did not complete (probes lost %v)", h.c.sndUna, lostProbes)
	}
	st := h.l.Stats()
	t.Logf("lost probes %v, mss %d, TCPMTUPSuccess %d, TCPMTUPFail %d", lostProbes, h.c.mss, st.TCPMTUPSuccess.Load(), st.TCPMTUPFail.Load())
	if len(lostProbes) == 0 || st.TCPMTUPFail.Load() != uint64(len(lostProbes)) {
		t.Fatalf("probes lost %v, TCPMTUPFail %d", lostProbes, st.TCPMTUPFail.Load())
	}
	if h.c.mss > hole || h.c.mss < hole-8 {
		t.Fatalf("mss %d, want at most %d and within tcp_probe_threshold of it", h.c.mss, hole)
	}
	if st.TCPSackRecovery.Load() != 0 || st.TCPTimeouts.Load() != 0 {
		t.Fatalf("TCPSackRecovery %d, TCPTimeouts %d: probe losses are not congestion", st.TCPSackRecovery.Load(), st.TCPTimeouts.Load())
	}
}

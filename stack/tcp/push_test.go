package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Linux's PSH placement (push.go): every skb of tcp_min_tso_segs (2)
// segments of a write ends with PSH, and so does the write's end; found
// by packetdrill's slow_start/ and eor/ scripts (conformance/).
func TestPushOnEachSkbAndWriteEnd(t *testing.T) {
	h := establishedConn(t)
	h.c.Write(make([]byte, 5*1460+100))
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(1460))
	h.expect(flags(ACK), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(1460))
	h.expect(flags(ACK), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(100))
	h.expectNothing()
}

// A write appended to unsent data continues that data's grid (Linux
// appends to the tail skb) and moves the mark to its own end.
func TestPushGridContinuesOverUnsentData(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, func(s *Segment) { s.Window = 1000 }) // room for one small segment
	h.c.Write(make([]byte, 1000))
	h.expect(flags(ACK|PSH), payloadLen(1000)) // the write's end
	h.c.Write(make([]byte, 500))
	h.c.Write(make([]byte, 2000))
	h.expectNothing()
	h.send(ACK, peerISN+1, ourISN+1001, func(s *Segment) { s.Window = 65535 })
	// New grid at ourISN+1001 (nothing was unsent when the 500 came):
	// points at +2920 and the mark at the second write's end (+2500).
	h.expect(flags(ACK), seqNum(ourISN+1001), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(1040))
	h.expectNothing()
}

// A retransmission carries the PSH of the segment it repeats: the tail
// segment without it stays without (Linux keeps PSH in the skb).
func TestPushKeptOnRetransmission(t *testing.T) {
	h := establishedConn(t)
	h.c.Write(make([]byte, 1460+700))
	h.expect(flags(ACK), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(700))
	h.send(ACK, peerISN+1, ourISN+1461)
	h.advance(initialRTO)
	h.expect(flags(ACK|PSH), seqNum(ourISN+1461), payloadLen(700))
}

// TCP_CORK (Linux): a partial segment waits while corked; full segments
// go; uncorking sends the rest (packetdrill nagle/sockopt_cork_nodelay).
func TestCorkHoldsPartialSegments(t *testing.T) {
	h := establishedConn(t)
	h.c.SetCork(true)
	h.c.Write(make([]byte, 100))
	h.expectNothing()
	h.c.Write(make([]byte, 1460))
	h.expect(flags(ACK), payloadLen(1460))
	h.expectNothing()
	h.send(ACK, peerISN+1, ourISN+1461)
	h.expectNothing()
	h.c.SetCork(false)
	h.expect(flags(ACK|PSH), payloadLen(100))
}

// MSG_MORE: the end of the write gets no PSH and a partial segment waits;
// with nothing in flight the probe timer (one RTO) sends it with PSH
// (Linux tcp_write_wakeup; packetdrill nagle/sendmsg_msg_more).
func TestWriteMoreWaitsForTheProbeTimer(t *testing.T) {
	h := establishedConn(t)
	h.c.SetNoDelay(true)
	h.c.WriteMore(make([]byte, 40))
	h.expectNothing()
	h.advance(h.c.currentRTO())
	h.expect(flags(ACK|PSH), payloadLen(40))
	h.send(ACK, peerISN+1, ourISN+41)
	h.c.WriteMore(make([]byte, 100))
	h.expectNothing()
	h.c.Write(make([]byte, 5))
	h.expect(flags(ACK|PSH), seqNum(ourISN+41), payloadLen(105))
}

// tcp_sendmsg's forced push (Linux forced_push): with a 4000-byte window
// the size goal is one segment and each skb that takes the queue more
// than 2000 bytes past the last mark is marked; a segment cut at the
// window's edge carries the mark of the skb it was cut from, and is cut
// only inside a TSO packet of the round (conformance xdptcp/sender-sws,
// measured on Linux 6.18).
func TestForcedPushSmallWindow(t *testing.T) {
	h := synReceivedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, func(s *Segment) { s.Window = 4000 })
	h.c.SetNoDelay(true)
	h.c.Write(make([]byte, 10000))
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(1460))
	h.expect(flags(ACK|PSH), seqNum(ourISN+1461), payloadLen(1460)) // forced mark at 2921
	h.expectNothing()                                               // 2921:4381 does not fit (tcp_snd_wnd_test)
	h.send(ACK, peerISN+1, ourISN+1461, func(s *Segment) { s.Window = 4000 })
	h.expect(flags(ACK), seqNum(ourISN+2921), payloadLen(1460))
	h.expect(flags(ACK|PSH), seqNum(ourISN+4381), payloadLen(1080)) // edge 5461, in the skb marked at 5841
	h.expectNothing()
}

// With Nagle on, a burst cut at the window's edge still ends with the
// partial segment that fills it while no small segment is unacknowledged
// (Linux tcp_mss_split_point and tcp_nagle_check, Minshall's variant;
// conformance xdptcp/peer-window-4k-nagle): 768 + 640 bytes into a
// 1408-byte window after 768-byte segments (half the 1536-byte window).
func TestWindowSplitNagleMinshall(t *testing.T) {
	h := synReceivedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, func(s *Segment) { s.Window = 1536 })
	h.c.Write(make([]byte, 5000))
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(768))
	h.expect(flags(ACK|PSH), seqNum(ourISN+769), payloadLen(768))
	h.expectNothing()
	h.send(ACK, peerISN+1, ourISN+1537, func(s *Segment) { s.Window = 1408 })
	h.expect(seqNum(ourISN+1537), payloadLen(768))
	h.expect(flags(ACK|PSH), seqNum(ourISN+2305), payloadLen(640))
	h.expectNothing()
}

// pushSpacing runs a bulk transfer of size bytes whose every segment is
// acknowledged rtt after it left, and returns how many data segments of
// those sent while the congestion window held from to upTo segments
// carried PSH: one in every how many.
func pushSpacing(t *testing.T, rtt time.Duration, size, from, upTo int) float64 {
	segs, psh := 0, 0
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withWS(7))
	h.expect(flags(SYN | ACK))
	h.advance(rtt)
	h.send(ACK, peerISN+1, ourISN+1) // 65535 << 7: an 8 MB window
	h.c.SetSendBuffer(size)
	if n := h.c.Write(make([]byte, size)); n != size {
		t.Fatalf("wrote %d of %d", n, size)
	}
	for i := 0; i < 1000 && h.c.sndUna != h.c.sndNxt; i++ {
		var hi seqnum.Value
		late := h.c.cc.window() >= from*1460 && h.c.cc.window() < upTo*1460
		for _, s := range h.out.segs {
			if len(s.seg.Payload) == 0 {
				continue
			}
			hi = s.seg.Seq.Add(seqnum.Size(len(s.seg.Payload)))
			if late {
				segs++
				if s.seg.Flags&PSH != 0 {
					psh++
				}
			}
		}
		h.out.segs = nil
		h.advance(rtt)
		h.send(ACK, peerISN+1, hi)
	}
	if psh == 0 {
		t.Fatalf("%d segments, none with PSH", segs)
	}
	return float64(segs) / float64(psh)
}

// PSH marks the end of each TSO packet Linux would send, and Linux sizes
// those by rate (tcp_tso_autosize, push.go's tsoSegs): on a 100 µs path a
// bulk transfer's packets are 64 KiB (44 segments of 1460 bytes); on a
// 100 ms path, in slow start with cwnd at 40 and 80 segments (2 x cwnd /
// SRTT is at most 2.3 MB/s, a millisecond of it 2.3 KB), two segments.
func TestPushOncePerAutosizedPacket(t *testing.T) {
	if per := pushSpacing(t, 100*time.Microsecond, 4<<20, 100, 1<<20); per < 40 || per > 50 {
		t.Errorf("100 µs: PSH on one segment in %.1f, want about one in 44", per)
	}
	if per := pushSpacing(t, 100*time.Millisecond, 1<<20, 40, 100); per < 1.9 || per > 2.1 {
		t.Errorf("100 ms, cwnd 40-80: PSH on one segment in %.1f, want one in 2", per)
	}
}

// tcp_min_tso_segs raises the packets PSH ends, up to half the congestion
// window (Linux tcp_tso_autosize, then tcp_cwnd_test's halfcwnd; packetdrill
// slow_start/slow-start-after-idle with tcp_min_tso_segs=10): at cwnd 10,
// packets of 5 segments, at cwnd 20 of 10. With the default of 2, every
// second segment, then what the rate gives.
func TestMinTSOSegsSizesPSH(t *testing.T) {
	pshAt := func(h *harness, n int) []int {
		t.Helper()
		var at []int
		for i := 1; i <= n; i++ {
			if s := h.expect(payloadLen(1000)); s.seg.Flags&PSH != 0 {
				at = append(at, i)
			}
		}
		h.expectNothing()
		return at
	}
	for _, tc := range []struct {
		segs   int
		cwnd10 string
		cwnd20 string
	}{
		{2, "[2 4 6 8 10]", "[3 6 9 12 15 18 20]"}, // at cwnd 20 a millisecond of 2 x cwnd / SRTT is 3 segments
		{10, "[5 10]", "[10 20]"},
	} {
		h := sackConn(t, false, func(c *Config) { c.MinTSOSegs = tc.segs; c.EarlyRetrans = 0 })
		h.c.Write(make([]byte, 10*1000))
		if got := fmt.Sprint(pshAt(h, 10)); got != tc.cwnd10 {
			t.Errorf("tcp_min_tso_segs=%d, cwnd 10: PSH on segments %s, want %s", tc.segs, got, tc.cwnd10)
		}
		h.advance(10 * time.Millisecond)
		h.send(ACK, peerISN+1, ourISN+1+10*1000)
		h.c.Write(make([]byte, 20*1000))
		if got := fmt.Sprint(pshAt(h, 20)); got != tc.cwnd20 {
			t.Errorf("tcp_min_tso_segs=%d, cwnd 20: PSH on segments %s, want %s", tc.segs, got, tc.cwnd20)
		}
	}
}

// A write that fills skbs sends within itself, as tcp_sendmsg_locked
// does: a full skb that is the first unsent one goes at once
// (tcp_push_one), and a forced push sends what may go. When that push
// splits the skb it marked, the rest keeps the mark and fills up again,
// so the mark lands one skb's top-up further on; the later forced marks
// count from where it was set. Measured with packetdrill on Linux 6.18
// (cubic/cubic-rto-ss-ca-cwnd-bump, and the same write under Reno with
// every segment acknowledged): at cwnd 2, MSS 1000 and a 32,896-byte
// window, a 200,000-byte write carries PSH at 18,000, 34,000, 66,000 and
// 98,000 bytes from its start. Below a congestion window of four
// segments the packets are single segments (halfcwnd 1) and carry no
// PSH of their own.
func TestForcedMarkMovesWithSplitSkb(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), withWS(7))
	h.expect(flags(SYN | ACK))
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1, func(s *Segment) { s.Window = 257 })
	h.c.SetSendBuffer(200000)
	h.c.cc.setWindow(2000)
	if n := h.c.Write(make([]byte, 200000)); n != 200000 {
		t.Fatalf("wrote %d", n)
	}
	h.expect(flags(ACK), seqNum(ourISN+1), payloadLen(1000))
	h.expect(flags(ACK), seqNum(ourISN+1001), payloadLen(1000))
	h.expectNothing()
	var at []int
	for k := range 200 {
		lo := ourISN + 1 + seqnum.Value(k*1000)
		if h.c.markAt(lo, lo.Add(1000)) {
			at = append(at, (k+1)*1000)
		}
	}
	if want := []int{18000, 34000, 66000, 98000, 130000, 162000, 194000, 200000}; fmt.Sprint(at) != fmt.Sprint(want) {
		t.Errorf("PSH marks at %v, want %v", at, want)
	}
}

package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Data path robustness: fast retransmit, SACK, Nagle, window scaling,
// timestamps and PAWS.

func withSACK(blocks ...seqnum.Value) segOpt {
	return func(s *Segment) {
		for i := 0; i+1 < len(blocks); i += 2 {
			s.Opts.SACK[s.Opts.NumSACK] = wire.SACKBlock{Left: uint32(blocks[i]), Right: uint32(blocks[i+1])}
			s.Opts.NumSACK++
		}
	}
}

func sackEstablished(t *testing.T) *harness {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), func(s *Segment) { s.Opts.SACKPermitted = true })
	s := h.expect(flags(SYN | ACK))
	if !s.seg.Opts.SACKPermitted {
		t.Fatal("SACK-permitted not answered")
	}
	h.send(ACK, peerISN+1, ourISN+1)
	return h
}

func TestSACKBlocksSent(t *testing.T) {
	h := sackEstablished(t)
	h.send(ACK, peerISN+1001, ourISN+1, withData(make([]byte, 1000)))
	s := h.expect(flags(ACK), ackNum(peerISN+1))
	if s.seg.Opts.NumSACK != 1 || s.seg.Opts.SACK[0] != (wire.SACKBlock{Left: uint32(peerISN + 1001), Right: uint32(peerISN + 2001)}) {
		t.Fatalf("SACK %+v", s.seg.Opts)
	}
	h.send(ACK, peerISN+3001, ourISN+1, withData(make([]byte, 1000)))
	s = h.expect(flags(ACK), ackNum(peerISN+1))
	if s.seg.Opts.NumSACK != 2 || s.seg.Opts.SACK[0].Left != uint32(peerISN+3001) {
		t.Fatalf("most recent block first: %+v", s.seg.Opts.SACK)
	}
}

// Three duplicate ACKs trigger a fast retransmit (RFC 5681 §3.2) long
// before the RTO.
func TestFastRetransmitOnThreeDupAcks(t *testing.T) {
	h := establishedConn(t)
	h.c.Write(make([]byte, 5*1460))
	for i := 0; i < 5; i++ {
		h.expect(payloadLen(1460))
	}
	h.advance(10 * time.Millisecond)
	for i := 0; i < 2; i++ {
		h.send(ACK, peerISN+1, ourISN+1)
		h.expectNothing()
	}
	h.send(ACK, peerISN+1, ourISN+1)
	h.expect(seqNum(ourISN+1), payloadLen(1460), at(10*time.Millisecond))
	if h.l.Stats().TCPFastRetrans.Load() != 1 {
		t.Fatal("TCPFastRetrans")
	}
	// Full ACK ends recovery.
	h.send(ACK, peerISN+1, ourISN+1+5*1460)
	h.advance(time.Second)
	h.expectNothing()
}

// With SACK, recovery retransmits each hole, not one per round trip.
func TestSACKRecoveryRetransmitsHoles(t *testing.T) {
	h := sackEstablished(t)
	h.c.Write(make([]byte, 6*1000))
	for i := 0; i < 6; i++ {
		h.expect(payloadLen(1000))
	}
	una := ourISN + 1
	// Segments 1 and 3 lost: 2, 4, 5, 6 SACKed.
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+2000))
	h.send(ACK, peerISN+1, una, withSACK(una+3000, una+4000, una+1000, una+2000))
	h.send(ACK, peerISN+1, una, withSACK(una+3000, una+5000, una+1000, una+2000))
	h.expect(seqNum(una), payloadLen(1000))
	h.send(ACK, peerISN+1, una, withSACK(una+3000, una+6000, una+1000, una+2000))
	h.expect(seqNum(una+2000), payloadLen(1000)) // the second hole at once
	h.send(ACK, peerISN+1, una+6000)
	h.advance(5 * time.Second)
	h.expectNothing()
}

func TestNagle(t *testing.T) {
	h := establishedConn(t)
	h.c.SetNoDelay(false)
	h.c.Write([]byte("a"))
	h.expect(payloadLen(1))
	h.c.Write([]byte("b"))
	h.c.Write([]byte("c"))
	h.expectNothing() // a small segment is in flight (RFC 9293 §3.7.4)
	h.send(ACK, peerISN+1, ourISN+2)
	h.expect(payloadLen(2))
	h.c.SetNoDelay(true)
	h.c.Write([]byte("d"))
	h.expect(payloadLen(1))
}

// Nagle as Linux (tcp_nagle_check, Minshall's variant): a partial
// segment waits only while a small segment is unacknowledged, not behind
// full ones; found by xdptcp/syncookies-options (5000 bytes leave at once).
func TestNagleMinshall(t *testing.T) {
	h := establishedConn(t)
	h.c.SetNoDelay(false)
	h.c.Write(make([]byte, 2*1460+620))
	h.expect(payloadLen(1460))
	h.expect(payloadLen(1460))
	h.expect(payloadLen(620)) // full segments in flight do not hold it
	h.c.Write(make([]byte, 100))
	h.expectNothing() // the 620 bytes are a small segment in flight
	h.send(ACK, peerISN+1, ourISN+1+2920)
	h.expectNothing() // still unacknowledged
	h.send(ACK, peerISN+1, ourISN+1+3540)
	h.expect(payloadLen(100))
}

func TestWindowScaling(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withWS(20)) // capped at 14
	s := h.expect(flags(SYN | ACK))
	if !s.seg.Opts.HasWScale || s.seg.Opts.WScale != 10 {
		t.Fatalf("our window scale %+v, want 10 (Linux 6.18, tcp_rmem[2] 32 MiB)", s.seg.Opts)
	}
	h.send(ACK, peerISN+1, ourISN+1, withWin(1))
	if h.c.sndShift != 14 || h.c.sndWnd != 1<<14 {
		t.Fatalf("peer window %d shift %d", h.c.sndWnd, h.c.sndShift)
	}
	h.send(ACK|PSH, peerISN+1, ourISN+1, withWin(1), withData([]byte("x")))
	// The SYN-ACK offered 64240 (65536 of window space rounded down to
	// the MSS); a byte later the free space has not moved the edge by an
	// MSS, so it stays, rounded up to the scale: 63 × 1024, as Linux
	// 6.18's tcp_select_window aligns cur_win.
	a := h.expect(flags(ACK))
	if a.seg.Window != (64240-1+1023)>>10 {
		t.Fatalf("scaled window %d", a.seg.Window)
	}
}

// scaledConn is a connection accepted with window scale 7 on both
// sides, no timestamps.
func scaledConn(t *testing.T) *harness {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withWS(7))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	return h
}

// With a window scale, an application that stops reading gets a window
// that closes, even against a peer whose segments are no multiple of the
// scale's granularity: the right edge held while the free space falls is
// rounded up to the granularity only while the buffer has room for it
// (each 100-byte segment would otherwise move it 100 bytes on), so what
// the connection holds stays within its window space. Linux rounds such
// an edge up too and stops the peer with its memory accounting.
func TestScaledWindowClosesOnSmallSegments(t *testing.T) {
	h := scaledConn(t)
	c := h.c
	c.PauseRead()
	seq := peerISN + 1
	for i := 0; i < 2000; i++ {
		h.send(ACK, seq, ourISN+1, withData(make([]byte, 100)))
		seq = c.rcvNxt // what was beyond the window was dropped
	}
	if held := c.rcvBuf.Len(); held > c.rcvCap {
		t.Fatalf("holds %d bytes for a %d-byte window", held, c.rcvCap)
	}
	if last := h.out.segs[len(h.out.segs)-1].seg; last.Window != 0 {
		t.Fatalf("window %d after 200,000 bytes not read", int(last.Window)<<c.rcvShift)
	}
}

func TestTimestampsAndPAWS(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(1000, 0))
	s := h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withTS(1001, s.seg.Opts.TSVal))
	h.send(ACK|PSH, peerISN+1, ourISN+1, withTS(1002, s.seg.Opts.TSVal), withData([]byte("new")))
	a := h.expect(flags(ACK))
	if !a.seg.Opts.HasTimestamp || a.seg.Opts.TSEcr != 1002 {
		t.Fatalf("TSecr %d", a.seg.Opts.TSEcr)
	}
	// An old timestamp: PAWS rejects the segment (RFC 7323 §5.3).
	h.send(ACK|PSH, peerISN+4, ourISN+1, withTS(900, 0), withData([]byte("old")))
	h.expect(flags(ACK), ackNum(peerISN+4))
	if string(h.rec.data) != "new" || h.l.Stats().PAWSEstab.Load() != 1 {
		t.Fatalf("PAWS: data %q", h.rec.data)
	}
}

func TestMinSndMSS(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	if h.c.mss != 48 {
		t.Fatalf("mss %d, want tcp_min_snd_mss 48", h.c.mss)
	}
}

func TestUrgentIgnored(t *testing.T) {
	h := establishedConn(t)
	s := Segment{Key: h.key, Seq: peerISN + 1, Ack: ourISN + 1, Flags: ACK | wire.FlagURG, Urgent: 60000, Window: 100, Payload: []byte("abc")}
	h.l.Input(h.now, &s)
	if string(h.rec.data) != "abc" {
		t.Fatal("urgent data not delivered in line")
	}
}

// With timestamps a full segment carries MSS-12 bytes (Linux sends 1448
// with MSS 1460), so the packet stays within the MTU.
func TestOptionsShrinkPayload(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(1, 0), func(s *Segment) { s.Opts.SACKPermitted = true })
	s := h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withTS(2, s.seg.Opts.TSVal))
	h.c.Write(make([]byte, 3000))
	h.expect(payloadLen(1448))
	h.expect(payloadLen(1448))
	h.expect(payloadLen(104))
	// With one SACK block as well: 1460-12-12.
	h.send(ACK, peerISN+100, ourISN+1, withTS(3, s.seg.Opts.TSVal), withData([]byte("x")))
	h.expect(flags(ACK))
	h.send(ACK, peerISN+1, ourISN+3001, withTS(3, s.seg.Opts.TSVal))
	h.c.Write(make([]byte, 3000))
	h.expect(payloadLen(1436))
}

// Receive-buffer autotuning: an application that keeps up gets a window
// that grows past tcp_rmem[1] toward tcp_rmem[2] (Linux
// tcp_rcv_space_adjust).
func TestReceiveAutotuning(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withWS(7))
	h.expect(flags(SYN | ACK))
	h.advance(time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1)
	seq := peerISN + 1
	for round := 0; round < 6; round++ {
		for i := 0; i < 60; i++ {
			h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
			seq += 1460
		}
		h.advance(2 * time.Millisecond)
	}
	if h.c.rcvCap <= 131072 {
		t.Fatalf("receive buffer stayed at %d", h.c.rcvCap)
	}
	last := h.out.segs[len(h.out.segs)-1]
	if int(last.seg.Window)<<h.c.rcvShift <= 131072 {
		t.Fatalf("window %d not grown", int(last.seg.Window)<<h.c.rcvShift)
	}
}

// Autotuning's growth rule is Linux 6.18's tcp_rcvbuf_grow, step by step:
// rcv_space starts at TCP_INIT_CWND × advmss; once per receiver RTT, if
// the application took more than rcv_space (less what it left queued),
// the buffer becomes twice that plus twice the growth scaled, never
// shrinking, up to tcp_rmem[2].
func TestRcvBufGrowRule(t *testing.T) {
	h := establishedConn(t)
	c := h.c
	if c.rcvSpace != initCwndSegs*1460 {
		t.Fatalf("initial rcv_space %d, want 10 × 1460", c.rcvSpace)
	}
	const rtt = 10 * time.Millisecond
	c.rrtt.rtt8 = uint32(rtt/time.Microsecond) << 3
	period := func() {
		h.advance(rtt)
		h.l.Advance(h.now)
	}
	c.consumed(50000) // within the first RTT: no decision yet
	if c.rcvCap != 65536 || c.rcvSpace != 14600 {
		t.Fatalf("grew within the first RTT: buffer %d, rcv_space %d", c.rcvCap, c.rcvSpace)
	}
	period()
	c.consumed(10000) // 60,000 bytes in the RTT
	want := 2*60000 + 2*(2*60000*(60000-14600)/14600)
	if c.rcvCap != want || c.rcvSpace != 60000 {
		t.Fatalf("after 60,000 bytes: buffer %d, rcv_space %d; want %d, 60000", c.rcvCap, c.rcvSpace, want)
	}
	period()
	c.consumed(60000) // no more than before: no growth
	if c.rcvCap != want || c.rcvSpace != 60000 {
		t.Fatalf("after the same 60,000 bytes: buffer %d, rcv_space %d; want %d, 60000", c.rcvCap, c.rcvSpace, want)
	}
	// Bytes left queued count against what was taken (Linux subtracts
	// inq): 90,000 taken, 8,760 still queued.
	period()
	c.PauseRead()
	seq := peerISN + 1
	for i := 0; i < 6; i++ {
		h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
		seq += 1460
	}
	c.consumed(90000)
	if c.rcvSpace != 90000-6*1460 {
		t.Fatalf("rcv_space %d, want 90,000 less the 8,760 queued", c.rcvSpace)
	}
	c.ResumeRead()
	// tcp_moderate_rcvbuf 0: rcv_space follows, the buffer does not.
	h.l.cfg.ModerateRcvbuf = false
	period()
	c.consumed(200000) // and the 8,760 bytes ResumeRead delivered
	if c.rcvCap != want || c.rcvSpace != 200000+6*1460 {
		t.Fatalf("tcp_moderate_rcvbuf 0: buffer %d, rcv_space %d; want %d, 208760", c.rcvCap, c.rcvSpace, want)
	}
	h.l.cfg.ModerateRcvbuf = true
	period()
	c.consumed(1 << 30)
	if c.rcvCap != h.l.cfg.Rmem[2]/2 {
		t.Fatalf("window space %d, want half of tcp_rmem[2] %d", c.rcvCap, h.l.cfg.Rmem[2])
	}
}

// Out-of-order data makes room for itself (Linux tcp_data_queue_ofo
// calling tcp_rcvbuf_grow), so that a loss in a full window does not
// stall the sender while the hole is repaired: Linux's buffer grows to
// twice rcv_space plus the span the held data reaches past RCV.NXT, and
// its window is that less the bytes held. Here held bytes do not take
// window, so the buffer grows by the holes, to the same window.
func TestRcvBufGrowOutOfOrder(t *testing.T) {
	h := scaledConn(t)
	c := h.c
	if c.rcvCap != 65536 {
		t.Fatalf("window space %d", c.rcvCap)
	}
	// Within the buffer's span: no growth.
	h.send(ACK, peerISN+1+1460, ourISN+1, withData(make([]byte, 1460)))
	if c.rcvCap != 65536 {
		t.Fatalf("a segment 1,460 bytes out grew the buffer to %d", c.rcvCap)
	}
	off := 60000
	h.send(ACK, peerISN+1+seqnum.Value(off), ourISN+1, withData(make([]byte, 1460)))
	// Linux: a window of 2 × 14,600 + 61,460, 2 × 1,460 held.
	want := 2*14600 + off + 1460 - 2*1460
	if c.rcvCap != want {
		t.Fatalf("buffer %d with data held %d bytes past RCV.NXT, want %d", c.rcvCap, off+1460, want)
	}
	ack := h.out.segs[len(h.out.segs)-1].seg
	if w := int(ack.Window) << c.rcvShift; w != want&^(1<<c.rcvShift-1) {
		t.Fatalf("window %d, want %d (Linux's: the buffer less the bytes held)", w, want)
	}
}

// After data we sent past the peer's window (it closed the window while
// the data was on its way), a pure ACK carries SEQ = SND.UNA + SND.WND,
// the window's edge, where the peer accepts it, not SND.NXT, which a zero
// window refuses (Linux tcp_acceptable_seq).
func TestAckSeqAtPeerWindowEdge(t *testing.T) {
	h := establishedConn(t)
	h.writeExpect(3, 1460)
	h.send(ACK, peerISN+1, ourISN+1461, withWin(0)) // 2920 bytes past the closed window
	h.send(ACK|PSH, peerISN+1, ourISN+1461, withWin(0), withData(make([]byte, 100)))
	h.expect(flags(ACK), seqNum(ourISN+1461), ackNum(peerISN+101))
	h.send(ACK, peerISN+101, ourISN+1461, withWin(8000)) // open again: the edge is past SND.NXT
	h.send(ACK|PSH, peerISN+101, ourISN+1461, withWin(8000), withData(make([]byte, 100)))
	h.expect(flags(ACK), seqNum(ourISN+4381), ackNum(peerISN+201))
}

// tcp_workaround_signed_windows (Linux tcp_select_initial_window,
// tcp_select_window): the SYN-ACK offers at most 32767 (MAX_TCP_WINDOW),
// with window scaling or without, and without scaling every later window
// too, for a peer that reads the field as signed (measured on Linux
// 6.18: xdptcp/tcp-workaround-signed-windows, and 32767 beside wscale 7).
func TestSignedWindowsWorkaround(t *testing.T) {
	for _, ws := range []bool{false, true} {
		h := newHarness(t, func(c *Config) { c.SignedWindows = true })
		h.listen()
		o := []segOpt{withMSS(1000)}
		if ws {
			o = append(o, func(s *Segment) { s.Opts.HasWScale, s.Opts.WScale = true, 7 })
		}
		h.send(SYN, peerISN, 0, o...)
		if s := h.expect(flags(SYN | ACK)); s.seg.Window != 32767 {
			t.Fatalf("wscale %v: SYN-ACK window %d, want 32767", ws, s.seg.Window)
		}
		h.send(ACK, peerISN+1, ourISN+1)
		h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
		a := h.expect(flags(ACK), ackNum(peerISN+1001))
		if w := int(a.seg.Window) << h.c.rcvShift; !ws && w != 32767 || ws && w <= 32767 {
			t.Fatalf("wscale %v: window %d after data, want 32767 unscaled, more scaled", ws, w)
		}
	}
}

package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// The send buffer in Linux's skb accounting (sndbuf.go). The figures are
// Linux 6.18's, measured with packetdrill on this machine.

// mss1000Conn is the peer of the notsent_lowat scripts: MSS 1000, window
// 32792 in the SYN, 257 << 7 = 32896 after it (Linux's size goal: 16
// segments, half the largest window), no timestamps.
func mss1000Conn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), withWS(7), withWin(32792))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1, withWin(257))
	h.state(StateEstablished)
	return h
}

func TestSndBufSizeGoal(t *testing.T) {
	h := mss1000Conn(t)
	if g := h.c.sizeGoal(); g != 16000 {
		t.Fatalf("size goal %d, want 16000 (half of 32896 in 1000-byte segments)", g)
	}
}

// tcp_sndbuf_expand at the handshake's end: 2 (CUBIC) or 3 (BBR) times
// TCP_INIT_CWND segments of 2304 bytes (MSS 1000: a 2048-byte head plus the
// sk_buff). Linux with BBR reports SO_SNDBUF 69120 here.
func TestSndBufExpandAtHandshake(t *testing.T) {
	for _, tc := range []struct {
		cc   string
		want int
	}{{"cubic", 46080}, {"bbr", 69120}} {
		h := mss1000Conn(t, func(c *Config) { c.CongestionControl = tc.cc })
		if got := h.c.SendBuffer(); got != tc.want {
			t.Errorf("%s: SO_SNDBUF %d after the handshake, want %d", tc.cc, got, tc.want)
		}
	}
	// tcp_wmem[1] above it stays (the buffer never shrinks).
	h := mss1000Conn(t, func(c *Config) { c.Wmem = [3]int{4096, 262144, 4194304} })
	if got := h.c.SendBuffer(); got != 262144 {
		t.Errorf("SO_SNDBUF %d with tcp_wmem[1] 262144", got)
	}
}

// Each skb costs 832 bytes besides its data: with the peer's window shut
// (nothing leaves), SO_SNDBUF 16832 (sk_sndbuf 33664 = 2 × (16000 + 832))
// lets two 16000-byte skbs in and no third; 16833 a third, which fills
// whole. Linux: 32000 and 48000.
func TestSndBufSkbTruesize(t *testing.T) {
	for _, tc := range []struct{ sndbuf, want int }{{16832, 32000}, {16833, 48000}, {1, 16000}} {
		h := mss1000Conn(t)
		h.send(ACK, peerISN+1, ourISN+1, withWin(0))
		h.c.SetSendBuffer(tc.sndbuf)
		if n := h.c.Write(make([]byte, 200000)); n != tc.want {
			t.Errorf("SO_SNDBUF %d: Write took %d, want %d", tc.sndbuf, n, tc.want)
		}
	}
	h := mss1000Conn(t)
	h.c.SetSendBuffer(1)
	if got := h.c.SendBuffer(); got != sockMinSndbuf {
		t.Errorf("SO_SNDBUF 1 gives %d, want SOCK_MIN_SNDBUF %d", got, sockMinSndbuf)
	}
	h.c.SetSendBuffer(1 << 30)
	if got := h.c.SendBuffer(); got != 2*h.l.cfg.WmemMax {
		t.Errorf("SO_SNDBUF 1<<30 gives %d, want 2 × wmem_max", got)
	}
}

// google/notsent_lowat/notsent-lowat-setsockopt.pkt: with a low-water
// mark of 4000, write(59000) takes 26000. The first 16000-byte skb leaves
// in part (10 segments of cwnd), its rest is filled to the size goal
// without a check, and then the 16000 unsent bytes stop the write.
func TestSndBufNotsentLowatWrite(t *testing.T) {
	h := mss1000Conn(t)
	h.c.SetNotsentLowat(4000)
	if n := h.c.Write(make([]byte, 59000)); n != 26000 {
		t.Fatalf("Write took %d, want 26000 (Linux)", n)
	}
	last := ourISN + 1
	for len(h.out.segs) > 0 {
		s := h.expect()
		last = s.seg.Seq.Add(seqnum.Size(len(s.seg.Payload)))
	}
	if last != ourISN+10001 {
		t.Fatalf("sent up to %d, want 10000 bytes", last-ourISN-1)
	}
	if h.c.Writable() {
		t.Fatal("16000 unsent bytes with lowat 4000: writable")
	}
}

// Writable is Linux's __sk_stream_is_writeable: below the limit and the
// room left at least half of what is queued.
func TestSndBufWritableWspace(t *testing.T) {
	h := mss1000Conn(t)
	h.send(ACK, peerISN+1, ourISN+1, withWin(0))
	h.c.SetSendBuffer(25000) // 50000: three skbs (50496 > 50000 after them)
	n := h.c.Write(make([]byte, 200000))
	if n != 48000 {
		t.Fatalf("Write took %d, want 48000", n)
	}
	if q := h.c.Info().WmemQueued; q != 48000+3*skbTruesize {
		t.Fatalf("wmem_queued %d, want %d", q, 48000+3*skbTruesize)
	}
	if h.c.Writable() {
		t.Fatal("writable above the limit")
	}
	// The window opens: 10 segments leave; their ACK, with the window
	// shut again, leaves 38000 bytes in three skbs: 40496 queued, 9504
	// free, less than half the queue: not writable.
	h.send(ACK, peerISN+1, ourISN+1, withWin(257))
	drain := func() {
		for len(h.out.segs) > 0 {
			h.expect()
		}
	}
	drain()
	h.send(ACK, peerISN+1, ourISN+10001, withWin(0))
	if q := h.c.Info().WmemQueued; q != 38000+3*skbTruesize {
		t.Fatalf("wmem_queued %d after 10000 acknowledged, want %d", q, 38000+3*skbTruesize)
	}
	if h.c.Writable() {
		t.Fatal("writable with less room than half the queue")
	}
	// cwnd 12: [10001, 22001) leaves; up to 18001 acknowledged, 30000
	// bytes in three skbs stay: 32496 queued, 17504 free: writable.
	h.send(ACK, peerISN+1, ourISN+10001, withWin(257))
	drain()
	h.send(ACK, peerISN+1, ourISN+18001, withWin(0))
	if q := h.c.Info().WmemQueued; q != 30000+3*skbTruesize {
		t.Fatalf("wmem_queued %d after 18000 acknowledged, want %d", q, 30000+3*skbTruesize)
	}
	if !h.c.Writable() {
		t.Fatal("not writable")
	}
	for _, e := range h.rec.events {
		if e.kind == "writable" {
			return
		}
	}
	t.Fatal("no OnWritable")
}

// The buffer grows like tcp_sndbuf_expand while a writer waits and the
// congestion window grows: a bulk writer reaches twice its cwnd in
// per-segment skbs.
func TestSndBufAutotune(t *testing.T) {
	h := establishedConn(t)
	start := h.c.SendBuffer()
	for i := 0; i < 40; i++ {
		for h.c.Write(make([]byte, 65536)) > 0 {
		}
		var last seqnum.Value
		for len(h.out.segs) > 0 {
			s := h.expect()
			last = s.seg.Seq.Add(seqnum.Size(len(s.seg.Payload)))
		}
		if last == 0 {
			t.Fatal("nothing sent")
		}
		h.send(ACK, peerISN+1, last)
	}
	cwnd := h.c.cc.window() / h.c.mss
	if got, want := h.c.SendBuffer(), min(2*cwnd*(4096+skbStruct), h.l.cfg.Wmem[2]); got < start || got < want-2*(4096+skbStruct)*2 {
		t.Fatalf("SO_SNDBUF %d (from %d) with cwnd %d segments; want about %d", got, start, cwnd, want)
	}
}

// SO_RCVBUF (Linux sock_setsockopt, tcp_select_initial_window): the
// buffer is twice the value asked, the window half of it, autotuning
// stops, and set before the SYN-ACK it sizes the window scale: 65536
// offers wscale 1 (measured: Linux's SYN-ACK "win 64240 <..., wscale 1>":
// the space rounded down to the MSS, synWindow), 4000 offers 0 and 2920.
func TestRcvBufListener(t *testing.T) {
	for _, tc := range []struct {
		rcvbuf int
		ws     uint8
		win    uint16
	}{{65536, 1, 64240}, {4000, 0, 2920}, {1, 0, 1152}} {
		h := newHarness(t)
		ln, err := h.l.Listen(h.key.LocalAddr, ourPort, ListenOptions{RcvBuf: tc.rcvbuf, NewHandler: func(c *Conn) Handler {
			h.c = c
			return h.rec
		}})
		if err != nil {
			t.Fatal(err)
		}
		h.ln = ln
		h.send(SYN, peerISN, 0, withMSS(1460), withWS(7))
		s := h.expect(flags(SYN|ACK), window(tc.win))
		if !s.seg.Opts.HasWScale || s.seg.Opts.WScale != tc.ws {
			t.Errorf("SO_RCVBUF %d: wscale %v %d, want %d", tc.rcvbuf, s.seg.Opts.HasWScale, s.seg.Opts.WScale, tc.ws)
		}
		h.send(ACK, peerISN+1, ourISN+1)
		if got, want := h.c.RecvBuffer(), max(2*tc.rcvbuf, sockMinRcvbuf); got != want {
			t.Errorf("SO_RCVBUF %d: getsockopt %d, want %d", tc.rcvbuf, got, want)
		}
	}
}

func TestRcvBufLocksAutotuning(t *testing.T) {
	h := establishedConn(t)
	h.c.SetRecvBuffer(8192)
	if h.c.RecvBuffer() != 16384 || h.c.rcvCap != 8192 || h.c.Info().RcvBuf != 16384 {
		t.Fatalf("SO_RCVBUF 8192: getsockopt %d, space %d, TCP_INFO RcvBuf (ss -m rb) %d", h.c.RecvBuffer(), h.c.rcvCap, h.c.Info().RcvBuf)
	}
	// A reader that consumes everything at once would grow an unlocked
	// buffer (tcp_rcv_space_adjust); a locked one stays.
	seq := peerISN + 1
	for i := 0; i < 50; i++ {
		h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
		seq = seq.Add(1460)
		h.advance(20 * time.Millisecond)
		for len(h.out.segs) > 0 {
			h.expect()
		}
	}
	if h.c.rcvCap != 8192 {
		t.Fatalf("locked receive buffer autotuned to %d", h.c.rcvCap)
	}
	h2 := establishedConn(t)
	h2.c.SetRecvBuffer(1 << 30)
	if got := h2.c.RecvBuffer(); got != 2*h2.l.cfg.RmemMax {
		t.Fatalf("SO_RCVBUF 1<<30: %d, want 2 × rmem_max", got)
	}
}

func TestRcvBufDial(t *testing.T) {
	h := newHarness(t)
	c, err := h.l.DialWith(h.now, ourAddr, peerAddr, 80, h.rec, DialOptions{RcvBuf: 65536})
	if err != nil {
		t.Fatal(err)
	}
	s := h.expect(flags(SYN), window(64240)) // 65536 rounded down to the MSS (synWindow)
	if !s.seg.Opts.HasWScale || s.seg.Opts.WScale != 1 {
		t.Fatalf("SYN wscale %v %d, want 1", s.seg.Opts.HasWScale, s.seg.Opts.WScale)
	}
	if c.RecvBuffer() != 131072 {
		t.Fatalf("getsockopt SO_RCVBUF %d", c.RecvBuffer())
	}
}

// The window scale offered covers the larger of tcp_rmem[2] and rmem_max
// (Linux tcp_select_initial_window: ilog2(space) - 15): Linux 6.18's
// rmem_max of 4 MB makes it 7 even with a 3 MB tcp_rmem[2], which alone
// gives 6 (nplab's scripts, written on Linux 3.11, expect 6).
func TestWindowScaleCoversRmemMax(t *testing.T) {
	for _, tc := range []struct {
		rmem2, rmemMax int
		want           uint8
	}{
		{6291456, 4194304, 7},
		{3145728, 4194304, 7},
		{3145728, 3145728, 6},
		{131072, 212992, 2},
		{65535, 65535, 0},
		{65536, 0, 1},
		{1 << 30, 0, 14},
	} {
		h := newHarness(t, func(c *Config) { c.Rmem[2], c.RmemMax = tc.rmem2, tc.rmemMax })
		if got := h.l.ourWindowShift(); got != tc.want {
			t.Errorf("tcp_rmem[2] %d, rmem_max %d: window scale %d, want %d", tc.rmem2, tc.rmemMax, got, tc.want)
		}
	}
}

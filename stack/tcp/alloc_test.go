package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

type countOut struct{ n int }

func (o *countOut) SendTCP(s *OutSegment) bool { o.n++; return true }

type sinkHandler struct{}

func (sinkHandler) OnOpen(c *Conn)               { c.SetNoDelay(true) }
func (sinkHandler) OnData(c *Conn, p []byte) int { return len(p) }
func (sinkHandler) OnWritable(c *Conn)           {}
func (sinkHandler) OnPeerClose(c *Conn)          {}
func (sinkHandler) OnClose(c *Conn, err error)   {}

func allocConn(t *testing.T) (*Layer, *countOut, *Conn) {
	out := &countOut{}
	l := NewLayer(nil, out, 0)
	var conn *Conn
	l.Listen(ourAddr, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler { conn = c; return sinkHandler{} }})
	syn := Segment{Key: testKey, Seq: peerISN, Flags: SYN, Window: 65535}
	syn.Opts.HasMSS, syn.Opts.MSS = true, 1460
	l.Input(0, &syn)
	c := l.conns.Get(testKey)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Ack: c.iss + 1, Flags: ACK, Window: 65535}
	l.Input(0, &ack)
	if conn == nil || conn.State() != StateEstablished {
		t.Fatal("not established")
	}
	return l, out, conn
}

// An in-order data segment in ESTABLISHED and the ACK it produces (every
// second full segment) allocate nothing.
func TestNoAllocsInOrderData(t *testing.T) {
	l, out, c := allocConn(t)
	payload := make([]byte, 1460)
	seq := peerISN + 1
	seg := Segment{Key: testKey, Ack: c.iss + 1, Flags: ACK, Window: 65535, Payload: payload}
	now := l.now
	step := func() {
		for i := 0; i < 2; i++ {
			seg.Seq = seq
			l.Input(now, &seg)
			seq = seq.Add(1460)
		}
	}
	step()
	before := out.n
	allocs := testing.AllocsPerRun(1000, step)
	if allocs != 0 {
		t.Fatalf("%v allocations per two data segments", allocs)
	}
	if out.n-before < 1000 {
		t.Fatalf("only %d ACKs for 2000 segments", out.n-before)
	}
}

// A Write that produces a segment, and the ACK that frees it, allocate
// nothing (the send buffer comes back from the layer's pool).
func TestNoAllocsWrite(t *testing.T) {
	l, out, c := allocConn(t)
	p := make([]byte, 100)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Flags: ACK, Window: 65535}
	step := func() {
		if c.Write(p) != len(p) {
			t.Fatal("write")
		}
		ack.Ack = c.sndNxt
		l.Input(l.now, &ack)
	}
	step()
	before := out.n
	allocs := testing.AllocsPerRun(1000, step)
	if allocs != 0 {
		t.Fatalf("%v allocations per Write", allocs)
	}
	if out.n-before < 1000 {
		t.Fatal("no segments")
	}
	_ = seqnum.Value(0)
}

// A writer that lets the send buffer drain between writes larger than
// the pool's buffer (a net.Conn writer handing over 64 KiB at a time)
// allocates nothing: the emptied queue's chunks and list go back to the
// layer's pools and the next Write takes them again.
func TestNoAllocsLargeWriteDrain(t *testing.T) {
	l, out, c := allocConn(t)
	c.SetSendBuffer(1 << 20)
	p := make([]byte, 64<<10)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Flags: ACK, Window: 65535}
	step := func() {
		if n := c.Write(p); n != len(p) {
			t.Fatalf("write: %d of %d", n, len(p))
		}
		for c.sndUna != c.sndNxt || c.sndBuf.Len() > 0 {
			ack.Ack = c.sndNxt
			l.Input(l.now, &ack)
		}
		if c.sndBuf.chunks != nil {
			t.Fatal("the drained send queue was kept by the connection")
		}
	}
	step()
	before := out.n
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Fatalf("%v allocations per drained 64 KiB write", allocs)
	}
	if out.n-before < 200*44 {
		t.Fatalf("%d segments for 200 writes of 64 KiB", out.n-before)
	}
}

// With BBR the send path (rate fields recorded per segment, pacing) and
// the ACK path (a rate sample, the model's update) allocate nothing; the
// BBR state was allocated once, at connection setup.
func TestNoAllocsBBRWriteAck(t *testing.T) {
	out := &countOut{}
	cfg := DefaultConfig()
	cfg.CongestionControl = "bbr"
	l := NewLayer(&cfg, out, 0)
	var conn *Conn
	l.Listen(ourAddr, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler { conn = c; return sinkHandler{} }})
	syn := Segment{Key: testKey, Seq: peerISN, Flags: SYN, Window: 65535}
	syn.Opts.HasMSS, syn.Opts.MSS = true, 1000
	syn.Opts.SACKPermitted = true
	l.Input(0, &syn)
	c := l.conns.Get(testKey)
	now := clock.Time(0).Add(time.Millisecond)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Ack: c.iss + 1, Flags: ACK, Window: 65535}
	l.Input(now, &ack)
	if conn == nil || c.rateCtl() == nil {
		t.Fatal("not established with BBR")
	}
	p := make([]byte, 4*1000)
	step := func() {
		c.Write(p)
		for c.sndUna != c.sndNxt || c.sndBuf.Len() > 0 {
			now = now.Add(time.Millisecond)
			l.Advance(now) // the pacer's departures
			ack.Ack = c.sndNxt
			l.Input(now, &ack)
		}
	}
	step()
	before := out.n
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Fatalf("%v allocations per write and its ACKs", allocs)
	}
	if out.n-before < 2000 || c.Info().DeliveryRate == 0 {
		t.Fatalf("%d segments, delivery rate %d", out.n-before, c.Info().DeliveryRate)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = c.Info() }); allocs != 0 {
		t.Fatalf("%v allocations per Info of a BBR connection", allocs)
	}
}

// BenchmarkInOrderSegment measures one in-order 1460-byte data segment in
// ESTABLISHED (with an ACK every second segment).
func BenchmarkInOrderSegment(b *testing.B) {
	t := &testing.T{}
	l, _, c := allocConn(t)
	seg := Segment{Key: testKey, Ack: c.iss + 1, Flags: ACK, Window: 65535, Payload: make([]byte, 1460)}
	seq := peerISN + 1
	b.SetBytes(1460)
	b.ReportAllocs()
	for b.Loop() {
		seg.Seq = seq
		l.Input(l.now, &seg)
		seq = seq.Add(1460)
	}
}

// BenchmarkFlightWithHole measures a flight of 44 segments of 1460 bytes
// (a 64 KiB window) whose first segment arrives last: 43 are held out of
// order in the receive queue's pages, then all are delivered and the pages
// are given back, as at every hole of a bulk transfer through loss.
func BenchmarkFlightWithHole(b *testing.B) {
	t := &testing.T{}
	l, _, c := allocConn(t)
	seg := Segment{Key: testKey, Ack: c.iss + 1, Flags: ACK, Window: 65535, Payload: make([]byte, 1460)}
	seq := peerISN + 1
	const flight = 44
	b.SetBytes(flight * 1460)
	b.ReportAllocs()
	for b.Loop() {
		for i := 1; i <= flight; i++ {
			seg.Seq = seq.Add(seqnum.Size(i % flight * 1460))
			l.Input(l.now, &seg)
		}
		seq = seq.Add(flight * 1460)
	}
	if c.rcvNxt != seq || c.rcvBuf.chunks != nil {
		b.Fatalf("RCV.NXT %v, want %v; ring held %v", c.rcvNxt, seq, c.rcvBuf.chunks != nil)
	}
}

// BenchmarkWriteAck measures a 100-byte Write that sends a segment and the
// ACK that frees it.
func BenchmarkWriteAck(b *testing.B) {
	t := &testing.T{}
	l, _, c := allocConn(t)
	p := make([]byte, 100)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Flags: ACK, Window: 65535}
	b.ReportAllocs()
	for b.Loop() {
		c.Write(p)
		ack.Ack = c.sndNxt
		l.Input(l.now, &ack)
	}
}

// The recovery paths allocate nothing per ACK or per transmitted
// segment: SACK processing, RACK marking, recovery with PRR (BBR: packet
// conservation and its rate samples), the retransmission, the full ACK
// and the scoreboard's return to the pool.
func TestNoAllocsRecovery(t *testing.T) {
	for _, cc := range []string{"cubic", "bbr"} {
		t.Run(cc, func(t *testing.T) { testNoAllocsRecovery(t, cc) })
	}
}

func testNoAllocsRecovery(t *testing.T, cc string) {
	out := &countOut{}
	cfg := DefaultConfig()
	cfg.CongestionControl = cc
	l := NewLayer(&cfg, out, 0)
	var conn *Conn
	l.Listen(ourAddr, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler { conn = c; return sinkHandler{} }})
	syn := Segment{Key: testKey, Seq: peerISN, Flags: SYN, Window: 65535}
	syn.Opts.HasMSS, syn.Opts.MSS = true, 1000
	syn.Opts.SACKPermitted = true
	l.Input(0, &syn)
	c := l.conns.Get(testKey)
	now := clock.Time(0).Add(time.Millisecond)
	ack := Segment{Key: testKey, Seq: peerISN + 1, Ack: c.iss + 1, Flags: ACK, Window: 65535}
	l.Input(now, &ack)
	if conn == nil || !c.rackOn() || c.cc.name() != cc {
		t.Fatal("not established with SACK and " + cc)
	}
	p := make([]byte, 8*1000)
	step := func() {
		una := c.sndUna
		if n := c.Write(p); n != len(p) {
			t.Fatalf("write: %d of %d, %v, buffered %d, una %d nxt %d", n, len(p), c.State(), c.sndBuf.Len(), c.sndUna-c.iss, c.sndNxt-c.iss)
		}
		now = now.Add(time.Millisecond)
		// Segment 1 lost, 2..4 SACKed: RACK marks it, recovery, PRR,
		// its retransmission.
		for k := 2; k <= 4; k++ {
			ack.Ack = una
			ack.Opts.NumSACK = 1
			ack.Opts.SACK[0] = wire.SACKBlock{Left: uint32(una + 1000), Right: uint32(una + seqnum.Value(1000*k))}
			l.Input(now, &ack)
		}
		ack.Opts.NumSACK = 0
		for c.sndUna != c.sndNxt || c.sndBuf.Len() > 0 {
			ack.Ack = c.sndNxt
			l.Input(now, &ack)
			if c.sndUna == c.sndNxt && c.sndBuf.Len() > 0 {
				now = now.Add(time.Millisecond) // paced (BBR): the wheel sends the rest
				l.Advance(now)
			}
		}
	}
	step()
	before := l.Stats().TCPFastRetrans.Load()
	allocs := testing.AllocsPerRun(200, step)
	if allocs != 0 {
		t.Fatalf("%v allocations per recovery episode", allocs)
	}
	if n := l.Stats().TCPFastRetrans.Load() - before; n < 200 {
		l.Stats().Each(func(g, name string, v uint64, _ bool) {
			if v > 0 {
				t.Log(name, v)
			}
		})
		t.Fatalf("%d fast retransmissions in 200 episodes", n)
	}
}

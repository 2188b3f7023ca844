package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
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

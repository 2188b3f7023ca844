package stack

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// pingClient counts the bytes echoed back to it.
type pingClient struct {
	c    *tcp.Conn
	read int
}

func (h *pingClient) OnOpen(c *tcp.Conn)               { h.c = c }
func (h *pingClient) OnData(c *tcp.Conn, p []byte) int { h.read += len(p); return len(p) }
func (h *pingClient) OnWritable(c *tcp.Conn)           {}
func (h *pingClient) OnPeerClose(c *tcp.Conn)          {}
func (h *pingClient) OnClose(c *tcp.Conn, err error)   {}

// A request/response exchange on an established connection between two
// engines, the whole hot path on both sides (ring receive, frame parse,
// flow lookup, segment processing, the application's Write, segment
// building, ring transmit, timers), allocates nothing in steady state.
func TestNoAllocsRequestResponse(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) { testNoAllocsRequestResponse(t, v6) })
	}
}

func testNoAllocsRequestResponse(t *testing.T, v6 bool) {
	pa, pb := memlink.Pair(memlink.Config{})
	defer pa.Close()
	defer pb.Close()
	now := clock.Time(time.Second)
	addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	a6, b6 := [16]byte{0x20, 0x01, 0, 2, 15: 1}, [16]byte{0x20, 0x01, 0, 2, 15: 2}
	ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, Addr6: a6, PrefixLen6: 64, MAC: macPeer}, pa, now)
	eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, Addr6: b6, PrefixLen6: 64, MAC: macUs}, pb, now)
	defer ea.Close()
	defer eb.Close()
	la, lb := m4(addrA), m4(addrB)
	if v6 {
		la, lb = flowtable.Addr(a6), flowtable.Addr(b6)
	}
	ea.SetNeighbor(lb, macUs)
	eb.SetNeighbor(la, macPeer)
	if _, err := eb.TCP().Listen(lb, 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		t.Fatal(err)
	}
	h := &pingClient{}
	if _, err := ea.TCP().Dial(now, la, lb, 7, h); err != nil {
		t.Fatal(err)
	}
	poll := func() {
		for i := 0; i < 4; i++ {
			ea.Poll(now)
			eb.Poll(now)
		}
	}
	poll()
	if h.c == nil || h.c.State() != tcp.StateEstablished {
		t.Fatal("not established")
	}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	exchange := func() {
		h.c.Write(req)
		poll()
		now = now.Add(50 * time.Microsecond)
	}
	for i := 0; i < 100; i++ {
		exchange()
	}
	before := h.read
	if n := testing.AllocsPerRun(1000, exchange); n != 0 && !raceEnabled {
		t.Errorf("%v allocations per request/response", n)
	}
	if h.read-before < 1000*len(req) {
		t.Fatalf("echoed %d bytes, want %d", h.read-before, 1000*len(req))
	}
}

// enginePair is two engines joined by memlink, a at 198.18.0.1 and b at
// 198.18.0.2, neighbours of each other, with b listening on port 7 for
// newHandler's connections; both close when the test ends.
type enginePair struct {
	a, b   *Engine
	pa     *memlink.Port // a's end of the link
	la, lb flowtable.Addr
}

func newEnginePair(tb testing.TB, lc memlink.Config, now clock.Time, newHandler func(*tcp.Conn) tcp.Handler) *enginePair {
	pa, pb := memlink.Pair(lc)
	addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	p := &enginePair{pa: pa, la: m4(addrA), lb: m4(addrB)}
	p.a = NewEngine(Config{Addr: addrA, PrefixLen: 24, MAC: macPeer}, pa, now)
	p.b = NewEngine(Config{Addr: addrB, PrefixLen: 24, MAC: macUs}, pb, now)
	tb.Cleanup(func() {
		p.b.Close()
		p.a.Close()
		pb.Close()
		pa.Close()
	})
	p.a.SetNeighbor(p.lb, macUs)
	p.b.SetNeighbor(p.la, macPeer)
	if _, err := p.b.TCP().Listen(p.lb, 7, tcp.ListenOptions{NewHandler: newHandler}); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkRequestResponse: one 27-byte request and its echo between two
// engines over memlink (both sides' hot path, no syscalls).
func BenchmarkRequestResponse(b *testing.B) {
	now := clock.Time(time.Second)
	p := newEnginePair(b, memlink.Config{}, now, echoServer{}.newHandler)
	ea, eb := p.a, p.b
	h := &pingClient{}
	ea.TCP().Dial(now, p.la, p.lb, 7, h)
	for i := 0; i < 4; i++ {
		ea.Poll(now)
		eb.Poll(now)
	}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		h.c.Write(req)
		for i := 0; i < 3; i++ {
			ea.Poll(now)
			eb.Poll(now)
		}
		now = now.Add(50 * time.Microsecond)
	}
}

// BenchmarkRequestResponseMany: the exchange of BenchmarkRequestResponse
// on many connections at once, 64 requests per round taken in turn from
// all of them, as wrk's closed loop does: between two requests of one
// connection every other one is served, so its state has left the
// caches when its next segment comes (the bench's keepalive-1024).
// Reported per request, both sides' hot path.
func BenchmarkRequestResponseMany(b *testing.B) {
	for _, n := range []int{64, 1024, 8192} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkRequestResponseMany(b, n) })
	}
}

func benchmarkRequestResponseMany(b *testing.B, n int) {
	const round = 64
	now := clock.Time(time.Second)
	p := newEnginePair(b, memlink.Config{Frames: 8192}, now, echoServer{}.newHandler)
	ea, eb := p.a, p.b
	poll := func() {
		for i := 0; i < 3; i++ {
			ea.Poll(now)
			eb.Poll(now)
		}
	}
	hs := make([]*pingClient, n)
	for i := range hs {
		hs[i] = &pingClient{}
		if _, err := ea.TCP().Dial(now, p.la, p.lb, 7, hs[i]); err != nil {
			b.Fatal(err)
		}
		if i%round == round-1 {
			poll()
		}
	}
	poll()
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	next := 0
	exchange := func() {
		for j := 0; j < round; j++ {
			hs[next].c.Write(req)
			next = (next + 1) % n
		}
		poll()
		now = now.Add(50 * time.Microsecond)
	}
	for range 2 * n / round {
		exchange()
	}
	read := 0
	for _, h := range hs {
		read += h.read
	}
	if read != 2*n*len(req) {
		b.Fatalf("echoed %d bytes, want %d", read, 2*n*len(req))
	}
	b.ReportAllocs()
	for b.Loop() {
		exchange()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*round), "ns/request")
}

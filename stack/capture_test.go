package stack

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
)

// The ring keeps frames in order across its wrap, drops (and counts)
// what does not fit while the reader lags, and never blocks.
func TestTapRingWrapAndDrop(t *testing.T) {
	tp, err := NewTap(64<<10, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000+i%7) }
	next := 0
	for round := 0; round < 20; round++ {
		for i := 0; i < 40; i++ { // 40 KiB: fits the 64 KiB ring
			tp.Put(clock.Time(round*100+i), DirIn, frame(round*40+i))
		}
		for i := 0; i < 40; i++ {
			r, ok := tp.Next()
			if !ok {
				t.Fatalf("round %d: record %d missing", round, i)
			}
			if !bytes.Equal(r.Data, frame(next)) || r.OrigLen != len(frame(next)) || r.Dir != DirIn {
				t.Fatalf("round %d: record %d wrong", round, i)
			}
			tp.Advance(r)
			next++
		}
		if _, ok := tp.Next(); ok {
			t.Fatal("a record too many")
		}
	}
	// The reader stops: the ring fills, then frames are dropped.
	for i := 0; i < 100; i++ {
		tp.Put(0, DirOut, frame(i))
	}
	if d := tp.Dropped.Load(); d == 0 || tp.Captured.Load()+d != 20*40+100 {
		t.Fatalf("captured %d dropped %d", tp.Captured.Load(), d)
	}
}

// A filter (classic BPF, as tcpdump compiles it) keeps what it accepts,
// truncated to the snap length.
func TestTapFilterAndSnaplen(t *testing.T) {
	// "ether[12:2] = 0x0800": IPv4 frames only.
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipFalse: 1},
		bpf.RetConstant{Val: 262144},
		bpf.RetConstant{Val: 0},
	}
	tp, err := NewTap(64<<10, 40, prog)
	if err != nil {
		t.Fatal(err)
	}
	ipv4 := make([]byte, 100)
	ipv4[12], ipv4[13] = 0x08, 0x00
	arp := make([]byte, 60)
	arp[12], arp[13] = 0x08, 0x06
	tp.Put(1, DirIn, arp)
	tp.Put(2, DirOut, ipv4)
	r, ok := tp.Next()
	if !ok || len(r.Data) != 40 || r.OrigLen != 100 || r.Dir != DirOut || r.Time != 2 {
		t.Fatalf("record %+v ok %v", r, ok)
	}
	if tp.Filtered.Load() != 1 || tp.Captured.Load() != 1 {
		t.Fatalf("filtered %d captured %d", tp.Filtered.Load(), tp.Captured.Load())
	}
}

// With a capture running, the hot path (both engines, a request and its
// echo) still allocates nothing; without one it costs one atomic load per
// batch (TestNoAllocsRequestResponse).
func TestNoAllocsWithCapture(t *testing.T) {
	now := clock.Time(time.Second)
	p := newEnginePair(t, memlink.Config{}, now, echoServer{}.newHandler)
	ea, eb := p.a, p.b
	tp, err := NewTap(1<<20, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	eb.SetTap(tp)
	h := &pingClient{}
	if _, err := ea.TCP().Dial(now, p.la, p.lb, 7, h); err != nil {
		t.Fatal(err)
	}
	var in, out int
	drain := func() {
		for {
			r, ok := tp.Next()
			if !ok {
				return
			}
			if r.Dir == DirIn {
				in++
			} else {
				out++
			}
			tp.Advance(r)
		}
	}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	exchange := func() {
		if h.c != nil {
			h.c.Write(req)
		}
		for i := 0; i < 4; i++ {
			ea.Poll(now)
			eb.Poll(now)
		}
		drain()
		now = now.Add(50 * time.Microsecond)
	}
	for i := 0; i < 100; i++ {
		exchange()
	}
	if in == 0 || out == 0 {
		t.Fatalf("captured %d in, %d out", in, out)
	}
	if n := testing.AllocsPerRun(1000, exchange); n != 0 && !raceEnabled {
		t.Errorf("%v allocations per request/response with a capture running", n)
	}
	if tp.Dropped.Load() != 0 {
		t.Fatalf("%d dropped", tp.Dropped.Load())
	}
}

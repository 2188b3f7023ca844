package memlink

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/xsk"
)

func send(t *testing.T, p *Port, payload []byte) {
	t.Helper()
	d, b, ok := p.AllocTx()
	if !ok {
		t.Fatal("AllocTx")
	}
	n := copy(b, payload)
	d.Len = uint32(n)
	if p.Transmit([]xsk.Desc{d}) != 1 {
		t.Fatal("Transmit")
	}
}

func recvAll(p *Port) [][]byte {
	var out [][]byte
	descs := make([]xsk.Desc, 16)
	for {
		n := p.Receive(descs)
		if n == 0 {
			return out
		}
		for _, d := range descs[:n] {
			out = append(out, bytes.Clone(p.Frame(d)))
		}
		p.Release(descs[:n])
	}
}

func TestPassThroughBothWays(t *testing.T) {
	a, b := Pair(Config{Frames: 8})
	defer a.Close()
	defer b.Close()
	for i := 0; i < 100; i++ { // more than Frames: frames are recycled
		send(t, a, []byte{byte(i), 1, 2, 3})
		got := recvAll(b)
		if len(got) != 1 || !bytes.Equal(got[0], []byte{byte(i), 1, 2, 3}) {
			t.Fatalf("round %d: %x", i, got)
		}
		send(t, b, []byte{byte(i)})
		if got := recvAll(a); len(got) != 1 || got[0][0] != byte(i) {
			t.Fatal("b->a")
		}
	}
	if a.Stats().Sent.Load() != 100 || a.Stats().Delivered.Load() != 100 {
		t.Fatal("counters")
	}
	if a.Frame(xsk.Desc{Addr: 3}) != nil || a.FrameCap(xsk.Desc{Addr: 1 << 40}) != nil {
		t.Fatal("bad descriptor accepted")
	}
}

func TestQueueBound(t *testing.T) {
	a, b := Pair(Config{QueueLen: 4})
	defer a.Close()
	defer b.Close()
	for i := 0; i < 10; i++ {
		send(t, a, []byte{byte(i)})
	}
	if n := len(recvAll(b)); n != 4 || a.Stats().QueueDrops.Load() != 6 {
		t.Fatalf("received %d, queue drops %d", n, a.Stats().QueueDrops.Load())
	}
}

func TestFaultsSeededAndCounted(t *testing.T) {
	run := func() ([][]byte, *Counters) {
		a, b := Pair(Config{AtoB: Faults{Drop: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.1, Seed: 42}})
		defer a.Close()
		defer b.Close()
		var got [][]byte
		for i := 0; i < 2000; i++ {
			send(t, a, []byte{byte(i >> 8), byte(i), 0, 0})
			got = append(got, recvAll(b)...)
		}
		return got, a.Stats()
	}
	g1, s := run()
	g2, _ := run()
	if len(g1) != len(g2) {
		t.Fatal("not deterministic for a seed")
	}
	for i := range g1 {
		if !bytes.Equal(g1[i], g2[i]) {
			t.Fatal("not deterministic for a seed")
		}
	}
	for name, v := range map[string]uint64{"dropped": s.Dropped.Load(), "duplicated": s.Duplicated.Load(),
		"reordered": s.Reordered.Load(), "corrupted": s.Corrupted.Load()} {
		if v < 100 || v > 320 {
			t.Errorf("%s = %d of 2000 at 10%%", name, v)
		}
	}
	if uint64(len(g1)) != s.Delivered.Load() {
		t.Fatal("Delivered")
	}
	if uint64(len(g1)) != 2000-s.Dropped.Load()+s.Duplicated.Load() {
		t.Fatalf("got %d frames", len(g1))
	}
}

func TestStepMode(t *testing.T) {
	a, b := Pair(Config{Step: true})
	defer a.Close()
	defer b.Close()
	send(t, a, []byte{1})
	send(t, a, []byte{2})
	if b.Pending() != 0 {
		t.Fatal("delivered before Deliver")
	}
	if a.Deliver() != 2 || b.Pending() != 2 {
		t.Fatal("Deliver")
	}
	if got := recvAll(b); len(got) != 2 || got[0][0] != 1 || got[1][0] != 2 {
		t.Fatal("order")
	}
}

func TestWait(t *testing.T) {
	a, b := Pair(Config{})
	defer a.Close()
	defer b.Close()
	// Timeout.
	if ok, err := b.Wait(time.Millisecond, -1); ok || err != nil {
		t.Fatal(ok, err)
	}
	// Frames already queued.
	send(t, a, []byte{1})
	if ok, _ := b.Wait(-1, -1); !ok {
		t.Fatal("not ready")
	}
	recvAll(b)
	// Frames arriving while waiting.
	go func() { send(t, a, []byte{2}) }()
	if ok, err := b.Wait(10*time.Second, -1); !ok || err != nil {
		t.Fatal("not woken by a frame")
	}
	recvAll(b)
	// The wake fd.
	fd, err := unix.Eventfd(1, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	start := time.Now()
	if ok, err := b.Wait(10*time.Second, fd); ok || err != nil || time.Since(start) > 5*time.Second {
		t.Fatal("wake fd ignored")
	}
}

// TestPeerPending: PeerPending reports frames sent that wait in the
// peer's receive queue, and stops once the peer took them.
func TestPeerPending(t *testing.T) {
	a, b := Pair(Config{})
	defer a.Close()
	defer b.Close()
	if a.PeerPending() {
		t.Fatal("pending before sending")
	}
	send(t, a, []byte{1})
	send(t, a, []byte{2})
	if !a.PeerPending() || b.PeerPending() {
		t.Fatal("after sending a->b: want a's peer pending, b's not")
	}
	recvAll(b)
	if a.PeerPending() {
		t.Fatal("still pending after the peer took the frames")
	}
}

package stack

import (
	"context"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Two engines with MTU 9000 over a link of multi-buffer ports (frames of
// 2048 or 4096 bytes, a 9014-byte frame in up to 5 descriptors): the MSS
// follows the MTU (8960), segments go out as chains and come in as
// chains, and an echo is byte-exact, also through drops, reordering and
// corruption (a flipped bit anywhere in a chain fails the checksum summed
// over the pieces).
func TestJumboEchoOverMemlink(t *testing.T) {
	cases := []struct {
		name      string
		frameSize int
		total     int
		faults    memlink.Faults
		v6        bool
	}{
		{"clean 2MiB frames 4096", 4096, 2 << 20, memlink.Faults{}, false},
		{"lossy 1MiB frames 2048", 2048, 1 << 20, memlink.Faults{Drop: 0.02, Duplicate: 0.01, Reorder: 0.02, Corrupt: 0.01}, false},
		{"IPv6 lossy 1MiB frames 4096", 4096, 1 << 20, memlink.Faults{Drop: 0.01, Corrupt: 0.01}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := tc.faults, tc.faults
			fa.Seed, fb.Seed = uint64(2*i+11), uint64(2*i+12)
			pa, pb := memlink.Pair(memlink.Config{FrameSize: tc.frameSize, MaxFrame: 9014, AtoB: fa, BtoA: fb})
			defer pa.Close()
			defer pb.Close()
			clk := clock.NewMono()
			addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
			a6, b6 := [16]byte{0x20, 0x01, 0, 2, 15: 1}, [16]byte{0x20, 0x01, 0, 2, 15: 2}
			ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, Addr6: a6, PrefixLen6: 64, MAC: macPeer, MTU: 9000, MultiBuffer: true}, pa, clk.Now())
			eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, Addr6: b6, PrefixLen6: 64, MAC: macUs, MTU: 9000, MultiBuffer: true}, pb, clk.Now())
			defer ea.Close()
			defer eb.Close()
			if m := ea.TCP().Config().DefaultMSS; m != 8960 {
				t.Fatalf("MSS %d on MTU 9000, want 8960", m)
			}
			from, to := m4(addrA), m4(addrB)
			if tc.v6 {
				from, to = flowtable.Addr(a6), flowtable.Addr(b6)
			}
			if _, err := eb.TCP().Listen(to, 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
				t.Fatal(err)
			}
			client := newEchoClient(tc.total)
			ctx, cancel := context.WithCancel(context.Background())
			errs := make(chan error, 2)
			go func() { errs <- ea.Run(ctx, clk) }()
			go func() { errs <- eb.Run(ctx, clk) }()
			dialed := make(chan error, 1)
			for !ea.Do(func() {
				_, err := ea.TCP().Dial(clk.Now(), from, to, 7, client)
				dialed <- err
			}) {
			}
			if err := <-dialed; err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-client.done:
			case <-time.After(90 * time.Second):
				err = context.DeadlineExceeded
			}
			cancel()
			for i := 0; i < 2; i++ {
				if e := <-errs; e != nil {
					t.Errorf("Run: %v", e)
				}
			}
			la := pa.Stats()
			framesA := ea.Stats().FramesTx.Load()
			t.Logf("queue drops %d/%d; a->b frames %d in %d descriptors, corrupted %d; b drops tcp_checksum %d, tx_too_big %d, rx_too_big %d", la.QueueDrops.Load(), pb.Stats().QueueDrops.Load(),
				la.Sent.Load(), framesA, la.Corrupted.Load(), eb.Stats().Drops[DropTCPChecksum].Load(),
				ea.Stats().Drops[DropTxTooBig].Load()+eb.Stats().Drops[DropTxTooBig].Load(), eb.Stats().Drops[DropRxTooBig].Load())
			if err != nil {
				t.Fatalf("transfer: %v (written %d, read %d of %d)", err, client.written, client.read, tc.total)
			}
			if string(client.sent.Sum(nil)) != string(client.received.Sum(nil)) || client.read != tc.total {
				t.Fatalf("echoed bytes differ (read %d of %d)", client.read, tc.total)
			}
			if framesA < la.Sent.Load()+uint64(tc.total/9000) {
				t.Errorf("%d descriptors for %d frames: the segments did not go out as chains", framesA, la.Sent.Load())
			}
			if n := ea.Stats().Drops[DropTxTooBig].Load() + eb.Stats().Drops[DropTxTooBig].Load(); n != 0 {
				t.Errorf("%d segments dropped as tx_too_big", n)
			}
			if la.Corrupted.Load() > 0 && eb.Stats().Drops[DropTCPChecksum].Load() == 0 {
				t.Errorf("corrupted frames passed the checksum")
			}
		})
	}
}

// A jumbo request/response (8000 bytes each way, two descriptors per
// segment on 4096-byte frames) allocates nothing in steady state: the
// gather on receive and the chain on transmit use the engine's buffers.
func TestNoAllocsJumbo(t *testing.T) {
	pa, pb := memlink.Pair(memlink.Config{FrameSize: 4096, MaxFrame: 9014})
	defer pa.Close()
	defer pb.Close()
	now := clock.Time(time.Second)
	addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, MAC: macPeer, MTU: 9000, MultiBuffer: true}, pa, now)
	eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, MAC: macUs, MTU: 9000, MultiBuffer: true}, pb, now)
	defer ea.Close()
	defer eb.Close()
	ea.SetNeighbor(m4(addrB), macUs)
	eb.SetNeighbor(m4(addrA), macPeer)
	if _, err := eb.TCP().Listen(m4(addrB), 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		t.Fatal(err)
	}
	h := &pingClient{}
	if _, err := ea.TCP().Dial(now, m4(addrA), m4(addrB), 7, h); err != nil {
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
	req := make([]byte, 8000)
	exchange := func() {
		h.c.Write(req)
		poll()
		now = now.Add(50 * time.Microsecond)
	}
	for i := 0; i < 100; i++ {
		exchange()
	}
	before, sent := h.read, pa.Stats().Sent.Load()
	descs := ea.Stats().FramesTx.Load()
	if n := testing.AllocsPerRun(200, exchange); n != 0 && !raceEnabled {
		t.Errorf("%v allocations per jumbo request/response", n)
	}
	if h.read-before < 200*len(req) {
		t.Fatalf("echoed %d bytes, want %d", h.read-before, 200*len(req))
	}
	if d, f := ea.Stats().FramesTx.Load()-descs, pa.Stats().Sent.Load()-sent; d < f+200 {
		t.Errorf("%d descriptors for %d frames: requests not sent as chains", d, f)
	}
}

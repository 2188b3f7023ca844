package stack

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// TestTwoEnginesStepMode runs the echo transfer with both engines driven by
// Poll on a fake clock (1 ms per step) over a step-mode memlink: no
// goroutines, reproducible per seed.
func TestTwoEnginesStepMode(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		f := memlink.Faults{Drop: 0.03, Duplicate: 0.01, Reorder: 0.03, Corrupt: 0.002}
		fa, fb := f, f
		fa.Seed, fb.Seed = seed, seed+1000
		pa, pb := memlink.Pair(memlink.Config{Step: true, AtoB: fa, BtoA: fb})
		clk := &clock.Fake{}
		addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
		tcfg := tcp.DefaultConfig()
		tcfg.DefaultMSS = 1420 // see the WORKAROUND in e2e_test.go
		ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, MAC: macPeer, TCP: tcfg}, pa, clk.Now())
		eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, MAC: macUs, TCP: tcfg}, pb, clk.Now())
		if _, err := eb.TCP().Listen(m4(addrB), 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
			t.Fatal(err)
		}
		client := newEchoClient(1 << 20)
		if _, err := ea.TCP().Dial(clk.Now(), m4(addrA), m4(addrB), 7, client); err != nil {
			t.Fatal(err)
		}
		steps := 0
		for ; steps < 300000 && !client.finished; steps++ { // 300 s of fake time
			clk.Advance(time.Millisecond)
			ea.Poll(clk.Now())
			pa.Deliver()
			eb.Poll(clk.Now())
			pb.Deliver()
		}
		if !client.finished {
			ea.TCP().RangeInfo(func(ci tcp.ConnInfo) bool { t.Logf("A %+v", ci); return true })
			eb.TCP().RangeInfo(func(ci tcp.ConnInfo) bool { t.Logf("B %+v", ci); return true })
			for n, e := range map[string]*Engine{"A": ea, "B": eb} {
				e.Stats().EachDrop(func(r DropReason, v uint64) {
					if v > 0 {
						t.Logf("%s drop %v %d", n, r, v)
					}
				})
			}
		}
		ea.Close()
		eb.Close()
		pa.Close()
		pb.Close()
		select {
		case err := <-client.done:
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		default:
			t.Fatalf("seed %d: not done after %d steps (read %d of %d)", seed, steps, client.read, client.total)
		}
		if string(client.sent.Sum(nil)) != string(client.received.Sum(nil)) {
			t.Fatalf("seed %d: echoed bytes differ", seed)
		}
	}
}

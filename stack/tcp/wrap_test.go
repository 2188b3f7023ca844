package tcp

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Transfers that cross 2^32 on both sides: both ISNs just below 2^32, 1 MiB
// each way with loss, reordering and duplication, so SACK blocks, the
// scoreboard, recovery and the reassembly queue all straddle the wrap.
func TestBackToBackWraparoundBothSides(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		lk := &link{delay: 5 * time.Millisecond, loss: 0.02, reorder: 0.1, dup: 0.01, rng: rand.New(rand.NewSource(seed))}
		cfg := DefaultConfig()
		cfg.LocalPortRange = [2]uint16{40000, 40000} // the client's port, for tsNearWrap
		var a, b *Layer
		a = NewLayer(&cfg, linkEnd{lk, &b}, 0)
		b = NewLayer(&cfg, linkEnd{lk, &a}, 0)
		lk.a, lk.b = a, b
		a.SetISN(func(clock.Time, flowtable.Key) seqnum.Value { return 0xffffffff - 300_000 })
		b.SetISN(func(clock.Time, flowtable.Key) seqnum.Value { return 0xffffffff - 5000 })
		// Both timestamp clocks cross 2^32 during the transfer too.
		tsNearWrap(a, ourAddr, 80, peerAddr, 40000, 300)
		tsNearWrap(b, peerAddr, 40000, ourAddr, 80, 5)
		rnd := rand.New(rand.NewSource(seed + 1))
		up, down := make([]byte, 1<<20), make([]byte, 1<<20)
		rnd.Read(up)
		rnd.Read(down)
		srv := &streamer{src: down, got: &bytes.Buffer{}}
		cli := &streamer{src: up, got: &bytes.Buffer{}}
		if _, err := a.Listen(ourAddr, 80, ListenOptions{NewHandler: func(c *Conn) Handler { srv.c = c; return srv }}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Dial(0, peerAddr, ourAddr, 80, cli); err != nil {
			t.Fatal(err)
		}
		lk.run(t, 10*time.Minute, func() bool { return srv.peerDone && cli.peerDone })
		if sha256.Sum256(srv.got.Bytes()) != sha256.Sum256(up) || sha256.Sum256(cli.got.Bytes()) != sha256.Sum256(down) {
			t.Fatalf("seed %d: got %d and %d bytes, hashes differ", seed, srv.got.Len(), cli.got.Len())
		}
		if a.Stats().RetransSegs.Load()+b.Stats().RetransSegs.Load() == 0 {
			t.Fatalf("seed %d: no retransmission: the loss path was not exercised", seed)
		}
	}
}

// tsNearWrap sets l's timestamp clock so that its TSvals on the
// connection from local:lport to remote:rport cross 2^32 after ms
// milliseconds.
func tsNearWrap(l *Layer, local flowtable.Addr, lport uint16, remote flowtable.Addr, rport uint16, ms uint32) {
	l.SetHostClock(HostClock{})
	off := l.tsOffsetFor(flowtable.Key{LocalAddr: local, LocalPort: lport, RemoteAddr: remote, RemotePort: rport})
	l.SetHostClock(HostClock{Base: clock.Time(int64(-ms-off) * 1e6)})
}

package tcp_test

// Two stack.Engines back to back over stack/memlink with its seeded fault
// injector (drop, reorder, duplicate, corrupt: a corrupted frame fails its
// checksum in the engine), 64 MiB each way at once, SHA-256 compared. The
// engines are polled in step mode on a fake clock (1 ms per step), so a
// run is reproducible per seed and never sleeps.

import (
	"crypto/sha256"
	"github.com/xdptcp/xdptcp/flowtable"
	"hash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// bulkEnd sends total pseudo-random bytes and hashes what it receives.
type bulkEnd struct {
	c        *tcp.Conn
	rng      *rand.ChaCha8
	chunk    []byte
	off      int // bytes of chunk already written
	left     int // bytes not yet generated
	sent     hash.Hash
	got      hash.Hash
	received int
	peerFin  bool
	closed   bool
	err      error
	opened   tcp.TCPInfo // the connection's TCP_INFO when it opened
}

func newBulkEnd(total int, seed uint64) *bulkEnd {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return &bulkEnd{rng: rand.NewChaCha8(s), left: total, sent: sha256.New(), got: sha256.New(), chunk: make([]byte, 0, 64<<10)}
}

func (b *bulkEnd) pump() {
	for {
		if b.off == len(b.chunk) {
			if b.left == 0 {
				b.c.CloseWrite()
				return
			}
			n := min(b.left, cap(b.chunk))
			b.chunk = b.chunk[:n]
			b.rng.Read(b.chunk)
			b.sent.Write(b.chunk)
			b.left -= n
			b.off = 0
		}
		n := b.c.Write(b.chunk[b.off:])
		b.off += n
		if n == 0 {
			return
		}
	}
}

func (b *bulkEnd) OnOpen(c *tcp.Conn) { b.c, b.opened = c, c.Info(); b.pump() }
func (b *bulkEnd) OnData(c *tcp.Conn, p []byte) int {
	b.got.Write(p)
	b.received += len(p)
	return len(p)
}
func (b *bulkEnd) OnWritable(c *tcp.Conn)  { b.pump() }
func (b *bulkEnd) OnPeerClose(c *tcp.Conn) { b.peerFin = true }
func (b *bulkEnd) OnClose(c *tcp.Conn, err error) {
	b.closed = true
	b.err = err
}

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xb}
)

// bulkBothWays moves total bytes each way between two engines over a
// memlink with faults f (per direction, seeded) and checks both hashes;
// opts change both engines' TCP settings after cc is set. It returns the
// client's TCP_INFO from when its connection opened.
func bulkBothWays(t *testing.T, total int, f memlink.Faults, seed uint64, cc string, opts ...func(*tcp.Config)) tcp.TCPInfo {
	fa, fb := f, f
	fa.Seed, fb.Seed = seed, seed+1000
	pa, pb := memlink.Pair(memlink.Config{Step: true, AtoB: fa, BtoA: fb})
	defer pa.Close()
	defer pb.Close()
	clk := &clock.Fake{}
	addrA, addrB := flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), flowtable.AddrFrom4([4]byte{198, 18, 0, 2})
	tcfg := tcp.DefaultConfig()
	tcfg.CongestionControl = cc
	for _, o := range opts {
		o(&tcfg)
	}
	ea := stack.NewEngine(stack.Config{Addr: addrA.As4(), PrefixLen: 24, MAC: macA, TCP: tcfg}, pa, clk.Now())
	eb := stack.NewEngine(stack.Config{Addr: addrB.As4(), PrefixLen: 24, MAC: macB, TCP: tcfg}, pb, clk.Now())
	defer ea.Close()
	defer eb.Close()
	srv := newBulkEnd(total, seed+1)
	cli := newBulkEnd(total, seed+2)
	if _, err := eb.TCP().Listen(addrB, 7, tcp.ListenOptions{NewHandler: func(c *tcp.Conn) tcp.Handler { return srv }}); err != nil {
		t.Fatal(err)
	}
	if _, err := ea.TCP().Dial(clk.Now(), addrA, addrB, 7, cli); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const maxSteps = 1_200_000 // 20 minutes of fake time
	steps := 0
	done := func() bool { return srv.peerFin && cli.peerFin }
	for ; steps < maxSteps && !done() && !srv.closed && !cli.closed; steps++ {
		clk.Advance(time.Millisecond)
		for i := 0; i < 4; i++ {
			wa := ea.Poll(clk.Now())
			pa.Deliver()
			wb := eb.Poll(clk.Now())
			pb.Deliver()
			if !wa && !wb {
				break
			}
		}
		if steps%1000 == 0 && time.Since(start) > 5*time.Minute {
			break // a wall-clock bound for a machine that is far too slow
		}
	}
	report := func() {
		ea.TCP().RangeInfo(func(ci tcp.ConnInfo) bool { t.Logf("A %+v", ci); return true })
		eb.TCP().RangeInfo(func(ci tcp.ConnInfo) bool { t.Logf("B %+v", ci); return true })
	}
	if !done() {
		report()
		t.Fatalf("seed %d: not done after %d steps (%v): A received %d, B received %d of %d; closed %v/%v %v %v",
			seed, steps, time.Since(start), cli.received, srv.received, total, cli.closed, srv.closed, cli.err, srv.err)
	}
	if cli.received != total || srv.received != total ||
		string(cli.got.Sum(nil)) != string(srv.sent.Sum(nil)) || string(srv.got.Sum(nil)) != string(cli.sent.Sum(nil)) {
		t.Fatalf("seed %d: received %d and %d of %d bytes; SHA-256 differ", seed, cli.received, srv.received, total)
	}
	sa, sb := ea.TCP().Stats(), eb.TCP().Stats()
	ca, cb := pa.Stats(), pb.Stats()
	t.Logf("seed %d %s: 2 x %d MiB in %v (%v fake); A->B sent %d dropped %d corrupted %d queue drops %d, B->A sent %d dropped %d; retrans %d/%d, fast %d/%d, RTOs %d/%d, undo %d/%d, csum errors %d/%d",
		seed, cc, total>>20, time.Since(start).Round(time.Millisecond), time.Duration(steps)*time.Millisecond,
		ca.Sent.Load(), ca.Dropped.Load(), ca.Corrupted.Load(), ca.QueueDrops.Load(), cb.Sent.Load(), cb.Dropped.Load(), sa.RetransSegs.Load(), sb.RetransSegs.Load(), sa.TCPFastRetrans.Load(), sb.TCPFastRetrans.Load(),
		sa.TCPTimeouts.Load(), sb.TCPTimeouts.Load(), sa.TCPFullUndo.Load()+sa.TCPLossUndo.Load(), sb.TCPFullUndo.Load()+sb.TCPLossUndo.Load(),
		ea.Stats().TcpInCsumErrors.Load(), eb.Stats().TcpInCsumErrors.Load())
	return cli.opened
}

// The options users' peers run without or with, both ends alike: SACK,
// timestamps or window scaling off (and all three with NewReno), ECN
// requested, a 536-byte MSS, tiny buffers (4 KiB: a 2 KiB window each
// way) and large ones, BBR without SACK; 2 MiB each way (512 KiB with the
// tiny buffers) through 2 % loss with reordering, duplication and
// corruption, SHA-256 equal, and the connection as agreed: its TCP_INFO
// options, MSS and window scale are the setting's.
func TestBackToBackOptionsVariety(t *testing.T) {
	f := memlink.Faults{Drop: 0.02, Reorder: 0.03, Duplicate: 0.01, Corrupt: 0.001}
	const sack, ts, ws, ecn = tcp.OptSACK, tcp.OptTimestamps, tcp.OptWScale, tcp.OptECN
	for _, tc := range []struct {
		name    string
		cc      string
		total   int
		opt     func(*tcp.Config)
		options uint8 // TCP_INFO options agreed
		mss     int   // TCP_INFO snd_mss (timestamps deducted)
	}{
		{"nosack", "cubic", 2 << 20, func(c *tcp.Config) { c.Sack = false }, ts | ws, 1448},
		{"nots", "cubic", 2 << 20, func(c *tcp.Config) { c.Timestamps = false }, sack | ws, 1460},
		{"nows", "cubic", 2 << 20, func(c *tcp.Config) { c.WindowScaling = false }, sack | ts, 1448},
		{"bare-newreno", "newreno", 2 << 20, func(c *tcp.Config) { c.Sack, c.Timestamps, c.WindowScaling = false, false, false }, 0, 1460},
		{"bbr-nosack-nots", "bbr", 2 << 20, func(c *tcp.Config) { c.Sack, c.Timestamps = false, false }, ws, 1460},
		{"ecn", "cubic", 2 << 20, func(c *tcp.Config) { c.ECN = 1 }, sack | ts | ws | ecn, 1448},
		{"mss536", "cubic", 2 << 20, func(c *tcp.Config) { c.DefaultMSS = 536 }, sack | ts | ws, 524},
		// tcp_rmem 4096 offers 1448 bytes (Linux 6.18's SYN-ACK too): the
		// segments are half the largest window (tcp_sync_mss).
		{"tiny-buffers", "cubic", 512 << 10, func(c *tcp.Config) { c.Rmem, c.Wmem = [3]int{4096, 4096, 4096}, [3]int{4096, 4096, 4096} }, sack | ts | ws, 724},
		{"huge-buffers", "bbr", 2 << 20, func(c *tcp.Config) {
			c.Rmem, c.Wmem = [3]int{4096, 1 << 20, 64 << 20}, [3]int{4096, 1 << 20, 64 << 20}
		}, sack | ts | ws, 1448},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bulkBothWays(t, tc.total, f, 7, tc.cc, tc.opt)
			cc := tc.cc
			if cc == "newreno" {
				cc = "reno" // TCP_CONGESTION's name for it
			}
			if in.Options != tc.options || in.SndMSS != tc.mss || in.CongestionControl != cc {
				t.Errorf("agreed options %#x (want %#x), snd_mss %d (want %d), %s (want %s)", in.Options, tc.options, in.SndMSS, tc.mss, in.CongestionControl, cc)
			}
			if (in.SndWscale != 0) != (tc.options&ws != 0) {
				t.Errorf("snd_wscale %d with options %#x", in.SndWscale, in.Options)
			}
		})
	}
}

// The figure: 64 MiB each way at 1 %, 5 % and 10 % loss with
// reordering, duplication and corruption. -short moves 8 MiB.
func TestBackToBackEngines64MiB(t *testing.T) {
	total := 64 << 20
	if testing.Short() {
		total = 8 << 20
	}
	for _, tc := range []struct {
		name string
		f    memlink.Faults
		cc   string
	}{
		{"loss1", memlink.Faults{Drop: 0.01, Reorder: 0.02, Duplicate: 0.01, Corrupt: 0.001}, "cubic"},
		{"loss5", memlink.Faults{Drop: 0.05, Reorder: 0.05, Duplicate: 0.01, Corrupt: 0.002}, "newreno"},
		{"loss10", memlink.Faults{Drop: 0.10, Reorder: 0.05, Duplicate: 0.02, Corrupt: 0.005}, "cubic"},
		{"loss5-bbr", memlink.Faults{Drop: 0.05, Reorder: 0.05, Duplicate: 0.01, Corrupt: 0.002}, "bbr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 2; seed++ {
				bulkBothWays(t, total, tc.f, seed, tc.cc)
			}
		})
	}
}

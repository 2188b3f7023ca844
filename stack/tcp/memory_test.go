package tcp

// Memory per connection (issue 5): an idle established connection costs at
// most 1 KiB of Go heap and a TIME-WAIT entry at most 128 bytes, both
// measured with 100,000 of them through a real Layer (HeapAlloc delta after
// a GC, divided by the count; the flow-table arrays are included).

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/xdptcp/xdptcp/flowtable"
)

const memConns = 100_000

// memKey is the i-th peer's 4-tuple: 65,536 peer addresses, two ports.
func memKey(i int, v6 bool) flowtable.Key {
	if v6 {
		return flowtable.Key{
			LocalAddr: ourAddr6, LocalPort: ourPort,
			RemoteAddr: flowtable.Addr{0x20, 0x01, 0, 2, 0, 0, 0, 0, 0xa5, 0xa5, 0xa5, 0xa5, 0, 0, byte(i >> 8), byte(i)}, RemotePort: uint16(10000 + i>>16),
		}
	}
	return flowtable.Key{
		LocalAddr: ourAddr, LocalPort: ourPort,
		RemoteAddr: flowtable.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), RemotePort: uint16(10000 + i>>16),
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// establishN opens n passive connections on l, each through SYN and the
// final ACK of a fake peer with MSS, window scale, SACK and timestamps.
func establishN(t testing.TB, l *Layer, n int, v6 bool) []*Conn {
	conns := make([]*Conn, 0, n)
	if _, err := l.Listen(flowtable.Addr{}, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler {
		conns = append(conns, c)
		return sinkHandler{}
	}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		k := memKey(i, v6)
		syn := Segment{Key: k, Seq: peerISN, Flags: SYN, Window: 65535}
		syn.Opts.HasMSS, syn.Opts.MSS = true, 1460
		syn.Opts.HasWScale, syn.Opts.WScale = true, 7
		syn.Opts.SACKPermitted = true
		syn.Opts.HasTimestamp, syn.Opts.TSVal = true, 1
		l.Input(l.now, &syn)
		c := l.conns.Get(k)
		if c == nil {
			t.Fatalf("connection %d: no SYN-RECEIVED entry", i)
		}
		ack := Segment{Key: k, Seq: peerISN + 1, Ack: c.iss + 1, Flags: ACK, Window: 1024}
		ack.Opts.HasTimestamp, ack.Opts.TSVal, ack.Opts.TSEcr = true, 2, c.tsOffset
		l.Input(l.now, &ack)
	}
	if len(conns) != n {
		t.Fatalf("%d of %d connections established", len(conns), n)
	}
	for _, c := range conns {
		if c.State() != StateEstablished {
			t.Fatalf("%v: %v", c.key, c.State())
		}
	}
	return conns
}

func memConfig() *Config {
	cfg := DefaultConfig()
	cfg.MaxConnections = 1 << 18
	cfg.MaxTwBuckets = 1 << 18
	return &cfg
}

func TestMemoryPerIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 connections")
	}
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) { testMemoryPerIdleConnection(t, v6) })
	}
}

func testMemoryPerIdleConnection(t *testing.T, v6 bool) {
	before := heapAlloc()
	l := NewLayer(memConfig(), &countOut{}, 0)
	conns := establishN(t, l, memConns, v6)
	after := heapAlloc()
	per := float64(after-before) / memConns
	// A Conn has pointers and is over 512 bytes: the Go allocator adds an
	// 8-byte header and rounds up to a size class (..., 768, 896, 1024).
	// With 16-byte addresses in its key (IPv6, or IPv4 mapped) the Conn is
	// in the 896 class; the flow-table slot holds no key (16 bytes), so
	// both families cost the same.
	t.Logf("%d idle established connections: %.0f bytes of Go heap each (Conn struct %d bytes)", memConns, per, unsafe.Sizeof(Conn{}))
	if per > 1024 {
		t.Errorf("an idle connection costs %.0f bytes, want <= 1024", per)
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(conns)
}

// An idle BBR connection costs the Conn plus BBR's state (bbr.go, one
// 240-byte allocation when the connection starts): tcp.Conn itself does
// not grow, so connections that do not run BBR pay nothing for it.
func TestMemoryPerIdleBBRConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 connections")
	}
	before := heapAlloc()
	cfg := memConfig()
	cfg.CongestionControl = "bbr"
	l := NewLayer(cfg, &countOut{}, 0)
	conns := establishN(t, l, memConns, false)
	after := heapAlloc()
	per := float64(after-before) / memConns
	t.Logf("%d idle established BBR connections: %.0f bytes of Go heap each (bbr struct %d bytes)", memConns, per, unsafe.Sizeof(bbr{}))
	if conns[0].rateCtl() == nil {
		t.Fatal("not BBR")
	}
	if per > 1024+float64(unsafe.Sizeof(bbr{})) {
		t.Errorf("an idle BBR connection costs %.0f bytes, want <= 1024 + %d", per, unsafe.Sizeof(bbr{}))
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(conns)
}

// TIME-WAIT: the heap of a layer whose connections all went through
// TIME-WAIT, minus that of the same layer closing them with no TIME-WAIT
// buckets (tcp_max_tw_buckets 0), per entry.
func TestMemoryPerTimeWait(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 connections")
	}
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) { testMemoryPerTimeWait(t, v6) })
	}
}

func testMemoryPerTimeWait(t *testing.T, v6 bool) {
	heapWith := func(buckets int) (uint64, *Layer) {
		before := heapAlloc()
		cfg := memConfig()
		cfg.MaxTwBuckets = buckets
		l := NewLayer(cfg, &countOut{}, 0)
		conns := establishN(t, l, memConns, v6)
		for _, c := range conns {
			c.Close() // our FIN
			fin := Segment{Key: c.key, Seq: c.rcvNxt, Ack: c.sndNxt, Flags: FIN | ACK, Window: 1024}
			fin.Opts.HasTimestamp, fin.Opts.TSVal, fin.Opts.TSEcr = true, 3, c.tsOffset
			l.Input(l.now, &fin)
		}
		conns = nil
		return heapAlloc() - before, l
	}
	withTW, l1 := heapWith(1 << 18)
	if n := l1.TimeWaits(); n != memConns || l1.Conns() != 0 {
		t.Fatalf("%d TIME-WAIT entries and %d connections, want %d and 0", n, l1.Conns(), memConns)
	}
	// All expire together after 2*MSL, through the one layer timer.
	l1.Advance(l1.now.Add(l1.timeWaitLen()))
	if n := l1.TimeWaits(); n != 0 || l1.Stats().TW.Load() != memConns {
		t.Fatalf("after 2*MSL: %d TIME-WAIT entries left, TW counter %d", n, l1.Stats().TW.Load())
	}
	l1 = nil
	withoutTW, l2 := heapWith(0)
	if l2.TimeWaits() != 0 || l2.Conns() != 0 {
		t.Fatalf("%d TIME-WAIT entries, %d connections", l2.TimeWaits(), l2.Conns())
	}
	runtime.KeepAlive(l2)
	per := (float64(withTW) - float64(withoutTW)) / memConns
	t.Logf("%d TIME-WAIT entries: %.0f bytes each (timeWait struct %d bytes, flow-table slot %d bytes)",
		memConns, per, unsafe.Sizeof(timeWait{}), 16)
	if per > 128 {
		t.Errorf("a TIME-WAIT entry costs %.0f bytes, want <= 128", per)
	}
}

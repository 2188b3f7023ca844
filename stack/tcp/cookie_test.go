package tcp

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/syncookie"
)

// fakeJar is a CookieJar whose cookie is the client ISN + 7777.
type fakeJar struct{}

func (fakeJar) Make(now clock.Time, k flowtable.Key, isn seqnum.Value, mss uint16) (seqnum.Value, uint16) {
	return isn + 7777, 1460
}
func (fakeJar) Check(now clock.Time, k flowtable.Key, isn, cookie seqnum.Value) (uint16, bool) {
	return 1460, cookie == isn+7777
}

// With the SYN queue full and a cookie jar, a SYN gets a cookie SYN-ACK
// and the completing ACK creates the connection.
func TestListenSynCookieWhenSynQueueFull(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSynBacklog = 1 })
	h.listen()
	h.ln.Cookies = fakeJar{}
	h.key.RemotePort = 1
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN))
	h.key = testKey
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(peerISN+7777), ackNum(peerISN+1), mss(1460))
	if h.l.conns.Get(testKey) != nil {
		t.Fatal("state kept for a cookie SYN")
	}
	h.send(ACK|PSH, peerISN+1, peerISN+7778, withData([]byte("hi")))
	h.state(StateEstablished)
	if string(h.rec.data) != "hi" {
		t.Fatalf("data %q", h.rec.data)
	}
	h.expect(flags(ACK), ackNum(peerISN+3))
	st := h.l.Stats()
	if st.SyncookiesSent.Load() != 1 || st.SyncookiesRecv.Load() != 1 || st.TCPReqQFullDoCookies.Load() != 1 {
		t.Fatal("cookie counters")
	}
	// A bad cookie gets a RST.
	h.key.RemotePort = 2
	h.send(ACK, peerISN+1, 12345)
	h.expect(flags(RST), seqNum(12345))
	if st.SyncookiesFailed.Load() != 1 {
		t.Fatal("SyncookiesFailed")
	}
}

func TestCurrEstabGauge(t *testing.T) {
	h := establishedConn(t)
	if h.l.Stats().CurrEstab.Load() != 1 {
		t.Fatal("CurrEstab after open")
	}
	h.c.Close()
	if h.l.Stats().CurrEstab.Load() != 0 {
		t.Fatal("CurrEstab after close")
	}
}

// syncookie.Jar is the CookieJar the daemon plugs in.
var _ CookieJar = (*syncookie.Jar)(nil)

// tcp_syncookies=2: every SYN gets a cookie, no half-open state.
func TestSyncookiesAlways(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Syncookies = 2 })
	ln, err := h.l.Listen(ourAddr, ourPort, ListenOptions{Cookies: fakeJar{}, NewHandler: func(c *Conn) Handler { h.c = c; return h.rec }})
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(peerISN+7777))
	if h.l.Conns() != 0 || ln.SynQueueLen() != 0 {
		t.Fatal("state kept")
	}
	h.send(ACK, peerISN+1, peerISN+7778)
	h.state(StateEstablished)
}

// Listener.Close resets queued connections and drops half-open ones;
// new SYNs then get a RST.
func TestListenerClose(t *testing.T) {
	h := newHarness(t)
	listenQueue(h, 8)
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.key.RemotePort = 2
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.ln.Close()
	h.expect(flags(RST|ACK), seqNum(ourISN+1))
	if h.l.Conns() != 0 {
		t.Fatalf("%d connections left", h.l.Conns())
	}
	h.send(SYN, peerISN+10, 0)
	h.expect(flags(RST|ACK), ackNum(peerISN+11))
}

// A queued connection reset by the peer leaves the accept queue.
func TestAcceptQueueResetLeaves(t *testing.T) {
	h := newHarness(t)
	listenQueue(h, 8)
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.send(RST, peerISN+1, 0)
	if h.ln.AcceptQueueLen() != 0 || h.l.Conns() != 0 {
		t.Fatal("reset connection still queued")
	}
}

// realJar is a syncookie.Jar with fixed secrets.
var realJar = syncookie.NewWithSecrets([16]byte{9}, [16]byte{7})

func withSACKOK() segOpt { return func(s *Segment) { s.Opts.SACKPermitted = true } }

// cookieHarness listens with tcp_syncookies=2 and the real jar.
func cookieHarness(t *testing.T, opts ...cfgOpt) *harness {
	t.Helper()
	h := newHarness(t, append([]cfgOpt{func(c *Config) { c.Syncookies = 2 }}, opts...)...)
	ln, err := h.l.Listen(ourAddr, ourPort, ListenOptions{Cookies: realJar, NewHandler: func(c *Conn) Handler { h.c = c; return h.rec }})
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	h.now = clock.Time(1000 * time.Second)
	return h
}

// Every window scale 0-14 (and none), SACK on and off, with timestamps:
// the connection rebuilt from the cookie ACK uses what the client offered,
// exactly as a connection from the SYN queue does (Linux
// cookie_timestamp_decode). Without timestamps nothing survives and the
// SYN-ACK offers nothing but the MSS.
func TestCookieOptionsSurvive(t *testing.T) {
	for _, ts := range []bool{true, false} {
		for ws := -1; ws <= 14; ws++ {
			for _, sack := range []bool{false, true} {
				for _, cmss := range []uint16{536, 1300, 1440, 1460, 9000, 100} {
					name := fmt.Sprintf("ts=%v/ws=%d/sack=%v/mss=%d", ts, ws, sack, cmss)
					h := cookieHarness(t)
					opts := []segOpt{withMSS(cmss)}
					if ts {
						opts = append(opts, withTS(4242, 0))
					}
					if ws >= 0 {
						opts = append(opts, withWS(uint8(ws)))
					}
					if sack {
						opts = append(opts, withSACKOK())
					}
					h.send(SYN, peerISN, 0, opts...)
					sa := h.expect(flags(SYN|ACK), ackNum(peerISN+1), mss(1460))
					o := sa.seg.Opts
					if o.HasTimestamp != ts || o.HasWScale != (ts && ws >= 0) || o.SACKPermitted != (ts && sack) {
						t.Fatalf("%s: SYN-ACK options %+v", name, o)
					}
					if ts && (o.TSEcr != 4242 || (ws >= 0 && o.WScale != h.l.ourWindowShift())) {
						t.Fatalf("%s: SYN-ACK TSecr %d wscale %d", name, o.TSEcr, o.WScale)
					}
					h.now = h.now.Add(5 * time.Millisecond)
					var ack []segOpt
					if ts {
						ack = append(ack, withTS(4243, o.TSVal))
					}
					h.send(ACK, peerISN+1, sa.seg.Seq+1, ack...)
					h.state(StateEstablished)
					c := h.c
					if c.flags&fCookie == 0 {
						t.Fatalf("%s: not a cookie connection", name)
					}
					wantWS := ts && ws >= 0
					if (c.flags&fWS != 0) != wantWS || (c.flags&fSackOK != 0) != (ts && sack) || (c.flags&fTS != 0) != ts {
						t.Fatalf("%s: flags ws=%v sack=%v ts=%v", name, c.flags&fWS != 0, c.flags&fSackOK != 0, c.flags&fTS != 0)
					}
					if wantWS && (c.sndShift != uint8(ws) || c.rcvShift != o.WScale) {
						t.Fatalf("%s: shifts snd %d rcv %d", name, c.sndShift, c.rcvShift)
					}
					if !wantWS && (c.sndShift != 0 || c.rcvShift != 0) {
						t.Fatalf("%s: shifts snd %d rcv %d without window scaling", name, c.sndShift, c.rcvShift)
					}
					// The MSS is the largest table entry not above the client's.
					want := 536
					for _, m := range syncookie.MSSTable() {
						if int(m) <= int(cmss) {
							want = int(m)
						}
					}
					if c.mss != want {
						t.Fatalf("%s: mss %d, want %d", name, c.mss, want)
					}
					if ts && c.tsRecent != 4243 {
						t.Fatalf("%s: TS.Recent %d", name, c.tsRecent)
					}
					if ts && int32(c.tsVal(h.now)-o.TSVal) < 0 {
						t.Fatalf("%s: TSval went backwards: %d after %d", name, c.tsVal(h.now), o.TSVal)
					}
				}
			}
		}
	}
}

// A host with an option turned off rejects a cookie ACK claiming it
// (Linux cookie_timestamp_decode returns false: RST).
func TestCookieOptionsDisabledRejected(t *testing.T) {
	h := cookieHarness(t)
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(1, 0), withWS(3), withSACKOK())
	sa := h.expect(flags(SYN | ACK))
	h.l.cfg.WindowScaling = false
	h.send(ACK, peerISN+1, sa.seg.Seq+1, withTS(2, sa.seg.Opts.TSVal))
	h.expect(flags(RST), seqNum(sa.seg.Seq+1))
	if h.l.Conns() != 0 {
		t.Fatal("connection created")
	}
}

// A cookie made with one counter value is accepted in the next period and
// refused two periods on; ACKs are not checked at all once no cookie was
// sent for two periods (syncookie.Recent).
func TestCookieLifetimeAndRecent(t *testing.T) {
	h := cookieHarness(t)
	h.send(SYN, peerISN, 0, withMSS(1460))
	sa := h.expect(flags(SYN | ACK))
	h.now = h.now.Add(2*syncookie.Period + time.Second)
	h.send(ACK, peerISN+1, sa.seg.Seq+1)
	h.expect(flags(RST))
	if got := h.l.Stats().SyncookiesFailed.Load(); got != 0 {
		t.Fatalf("SyncookiesFailed %d: checked although no cookie was sent lately", got)
	}
	h.key.RemotePort++
	h.send(SYN, peerISN, 0, withMSS(1460))
	sa = h.expect(flags(SYN | ACK))
	h.now = h.now.Add(syncookie.Period)
	h.send(ACK, peerISN+1, sa.seg.Seq+1)
	h.state(StateEstablished)
}

// A flood of ACKs with random numbers on random tuples opens nothing.
func TestCookieRandomACKsOpenNothing(t *testing.T) {
	h := cookieHarness(t)
	h.send(SYN, peerISN, 0, withMSS(1460)) // cookies are recent
	h.expect(flags(SYN | ACK))
	r := rand.New(rand.NewPCG(1, 2))
	const n = 100000
	for i := 0; i < n; i++ {
		h.key.RemotePort = uint16(r.Uint32())
		h.key.RemoteAddr = flowtable.AddrFrom4([4]byte{198, 18, 128 | byte(r.Uint32()&127), byte(r.Uint32())})
		h.send(ACK, seqnum.Value(r.Uint32()), seqnum.Value(r.Uint32()))
		h.out.segs = h.out.segs[:0]
	}
	if h.l.Conns() != 0 || h.l.Stats().SyncookiesRecv.Load() != 0 {
		t.Fatalf("%d connections from random ACKs", h.l.Conns())
	}
	if got := h.l.Stats().SyncookiesFailed.Load(); got != n {
		t.Fatalf("SyncookiesFailed %d, want %d", got, n)
	}
}

// cookieFlood is a layer in cookie mode and a flooding SYN with the
// options Linux clients send.
func cookieFlood(tb testing.TB) (*Layer, *countOut, *Segment) {
	cfg := DefaultConfig()
	cfg.Syncookies = 2
	out := &countOut{}
	l := NewLayer(&cfg, out, 0)
	jar, err := syncookie.New()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.Listen(ourAddr, ourPort, ListenOptions{Cookies: jar, NewHandler: func(c *Conn) Handler { return sinkHandler{} }}); err != nil {
		tb.Fatal(err)
	}
	syn := &Segment{Key: testKey, Seq: peerISN, Flags: SYN, Window: 64240}
	syn.Opts = wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamp: true, TSVal: 12345}
	return l, out, syn
}

// Answering a flooding SYN with a cookie allocates nothing and keeps no
// state.
func TestNoAllocsCookieSyn(t *testing.T) {
	l, out, syn := cookieFlood(t)
	now := clock.Time(time.Hour)
	i := uint32(0)
	step := func() {
		i++
		syn.Key.RemoteAddr = flowtable.AddrFrom4([4]byte{198, 18, 128 | byte(i>>16&127), byte(i >> 8)})
		syn.Key.RemotePort = uint16(i)
		syn.Seq = seqnum.Value(i * 2654435761)
		now += 1000
		l.Input(now, syn)
	}
	step()
	if allocs := testing.AllocsPerRun(10000, step); allocs != 0 {
		t.Fatalf("%v allocations per cookie SYN", allocs)
	}
	if out.n < 10000 || l.Conns() != 0 {
		t.Fatalf("%d SYN-ACKs, %d connections", out.n, l.Conns())
	}
}

// BenchmarkCookieSyn is the cost of answering a flooding SYN (with MSS,
// window scale, SACK-permitted and timestamps) with a cookie SYN-ACK:
// Layer.Input from the parsed segment to the SYN-ACK handed to the output.
func BenchmarkCookieSyn(b *testing.B) {
	l, _, syn := cookieFlood(b)
	now := clock.Time(time.Hour)
	i := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		syn.Key.RemoteAddr = flowtable.AddrFrom4([4]byte{198, 18, 128 | byte(i>>16&127), byte(i >> 8)})
		syn.Key.RemotePort = uint16(i)
		syn.Seq = seqnum.Value(i * 2654435761)
		now += 1000
		l.Input(now, syn)
	}
}

// BenchmarkCookieForgedAck is the cost of a flooding ACK with a forged
// cookie: the check fails and a RST goes out.
func BenchmarkCookieForgedAck(b *testing.B) {
	l, _, syn := cookieFlood(b)
	now := clock.Time(time.Hour)
	l.Input(now, syn) // cookies are recent
	ack := &Segment{Key: testKey, Flags: ACK, Window: 64240}
	i := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		ack.Key.RemotePort = uint16(i)
		ack.Seq = seqnum.Value(i * 2654435761)
		ack.Ack = seqnum.Value(i * 40503)
		l.Input(now, ack)
	}
}

// FuzzCookieListener feeds a listener in cookie mode, after one real
// cookie SYN-ACK, any segment: nothing panics, and a connection appears
// only for an ACK (no SYN, no RST) whose cookie the jar accepts.
func FuzzCookieListener(f *testing.F) {
	f.Add(uint8(ACK), uint32(peerISN+1), uint32(0), uint16(peerPort), false, uint32(0), int64(0), []byte(nil))
	f.Add(uint8(ACK|FIN|PSH), uint32(peerISN+1), uint32(1), uint16(peerPort), true, uint32(0x3f), int64(time.Second), []byte("data"))
	f.Add(uint8(SYN|ACK), uint32(peerISN+1), uint32(1), uint16(peerPort), true, uint32(7), int64(200*time.Second), []byte{})
	f.Fuzz(func(t *testing.T, fl uint8, seq, ack uint32, port uint16, ts bool, tsecr uint32, dt int64, payload []byte) {
		h := cookieHarness(t)
		h.send(SYN, peerISN, 0, withMSS(1460), withTS(1, 0), withWS(7), withSACKOK())
		sa := h.expect(flags(SYN | ACK))
		if ack == 1 {
			ack = uint32(sa.seg.Seq + 1) // the real cookie, to reach the accept path
		}
		if tsecr == 0x3f {
			tsecr = sa.seg.Opts.TSVal
		}
		h.now = h.now.Add(time.Duration(dt % int64(300*time.Second)))
		if h.now < 0 {
			h.now = 0
		}
		h.key.RemotePort = port
		opts := []segOpt{withData(payload)}
		if ts {
			opts = append(opts, withTS(2, tsecr))
		}
		wf := wire.TCPFlags(fl)
		h.send(wf, seqnum.Value(seq), seqnum.Value(ack), opts...)
		if h.l.Conns() == 0 {
			return
		}
		if wf&(SYN|RST) != 0 || wf&ACK == 0 {
			t.Fatalf("flags %v made a connection", wf)
		}
		if _, ok := realJar.Check(h.now, h.key, seqnum.Value(seq)-1, seqnum.Value(ack)-1); !ok {
			t.Fatal("a connection from a cookie the jar rejects")
		}
	})
}

package tcp

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// Two Layers back to back over an in-test link with latency and seeded loss.

type pkt struct {
	at  clock.Time
	n   int // order of sending, to keep FIFO among equal times
	seg Segment
	to  *Layer
}

type link struct {
	now     clock.Time
	delay   time.Duration
	loss    float64
	rng     *rand.Rand
	q       []pkt
	n       int
	a, b    *Layer
	sent    int
	dropped int
	trace   func(s *OutSegment)
	reorder float64 // share of segments delayed by up to 10 ms more
	dup     float64 // share of segments delivered twice
}

type linkEnd struct {
	l    *link
	peer **Layer
}

func (e linkEnd) SendTCP(s *OutSegment) bool {
	l := e.l
	l.sent++
	if l.trace != nil {
		l.trace(s)
	}
	if l.rng.Float64() < l.loss {
		l.dropped++
		return true
	}
	k := s.Key
	seg := Segment{
		Key:     flowtable.Key{LocalAddr: k.RemoteAddr, RemoteAddr: k.LocalAddr, LocalPort: k.RemotePort, RemotePort: k.LocalPort},
		Seq:     s.Seq,
		Ack:     s.Ack,
		Flags:   s.Flags,
		Window:  s.Window,
		Opts:    s.Opts,
		Payload: append(append([]byte(nil), s.Payload...), s.Payload2...),
	}
	l.n++
	at := l.now.Add(l.delay)
	if l.rng.Float64() < l.reorder {
		at = at.Add(time.Duration(l.rng.Intn(10_000)) * time.Microsecond)
	}
	l.q = append(l.q, pkt{at: at, n: l.n, seg: seg, to: *e.peer})
	if l.rng.Float64() < l.dup {
		l.n++
		l.q = append(l.q, pkt{at: at.Add(time.Millisecond), n: l.n, seg: seg, to: *e.peer})
	}
	return true
}

// run moves time until done() or the limit, delivering packets and firing
// timers in time order.
func (l *link) run(t *testing.T, limit time.Duration, done func() bool) {
	end := l.now.Add(limit)
	for steps := 0; !done(); steps++ {
		if steps > 5_000_000 {
			t.Fatal("too many steps")
		}
		next := end
		if len(l.q) > 0 {
			sort.SliceStable(l.q, func(i, j int) bool {
				if l.q[i].at != l.q[j].at {
					return l.q[i].at < l.q[j].at
				}
				return l.q[i].n < l.q[j].n
			})
			next = min(next, l.q[0].at)
		}
		for _, y := range []*Layer{l.a, l.b} {
			if d, ok := y.NextDeadline(); ok && d < next {
				next = d
			}
		}
		if next >= end {
			var st []ConnInfo
			l.a.RangeInfo(func(ci ConnInfo) bool { st = append(st, ci); return true })
			l.b.RangeInfo(func(ci ConnInfo) bool { st = append(st, ci); return true })
			for _, y := range []*Layer{l.a, l.b} {
				y.Range(func(c *Conn) bool {
					t.Logf("%v una=%d nxt=%d max=%d wnd=%d cwnd=%d buf=%d rcvNxt=%d adv=%d rcvbuf=%d flags=%x", c.state, c.sndUna, c.sndNxt, c.sndNxt, c.sndWnd, c.cc.window(), c.sndBuf.Len(), c.rcvNxt, c.rcvAdv, c.rcvBuf.Len(), c.flags)
					return true
				})
			}
			t.Fatalf("time limit at %v: %+v", time.Duration(l.now), st)
		}
		if next > l.now {
			l.now = next
		}
		l.a.Advance(l.now)
		l.b.Advance(l.now)
		for len(l.q) > 0 && l.q[0].at <= l.now {
			p := l.q[0]
			l.q = l.q[1:]
			p.seg.Arrival = l.now
			p.to.Input(l.now, &p.seg)
		}
	}
}

// streamer writes src and hashes what it receives.
type streamer struct {
	c        *Conn
	src      []byte
	off      int
	got      *bytes.Buffer
	h        hashWriter
	peerDone bool
	closed   bool
	err      error
	closeOut bool
}

type hashWriter struct{ sum [32]byte }

func (s *streamer) pump() {
	for s.off < len(s.src) {
		n := s.c.Write(s.src[s.off:])
		s.off += n
		if n == 0 {
			return
		}
	}
	if !s.closeOut {
		s.closeOut = true
		s.c.CloseWrite()
	}
}

func (s *streamer) OnOpen(c *Conn)               { s.c = c; s.pump() }
func (s *streamer) OnData(c *Conn, p []byte) int { s.got.Write(p); return len(p) }
func (s *streamer) OnWritable(c *Conn)           { s.pump() }
func (s *streamer) OnPeerClose(c *Conn)          { s.peerDone = true }
func (s *streamer) OnClose(c *Conn, err error) {
	s.closed = true
	s.err = err
}

func transfer(t *testing.T, loss float64, seed int64, up, down int) {
	transferImpaired(t, loss, 0, 0, seed, up, down)
}

func transferImpaired(t *testing.T, loss, reorder, dup float64, seed int64, up, down int) {
	lk := &link{delay: 5 * time.Millisecond, loss: loss, reorder: reorder, dup: dup, rng: rand.New(rand.NewSource(seed))}
	cfg := DefaultConfig()
	if seed%2 == 0 {
		cfg.CongestionControl = "newreno"
	}
	var a, b *Layer
	a = NewLayer(&cfg, linkEnd{lk, &b}, 0)
	b = NewLayer(&cfg, linkEnd{lk, &a}, 0)
	lk.a, lk.b = a, b
	rnd := rand.New(rand.NewSource(seed + 1))
	upData := make([]byte, up)
	downData := make([]byte, down)
	rnd.Read(upData)
	rnd.Read(downData)
	srv := &streamer{src: downData, got: &bytes.Buffer{}}
	cli := &streamer{src: upData, got: &bytes.Buffer{}}
	if _, err := a.Listen(ourAddr, 80, ListenOptions{NewHandler: func(c *Conn) Handler { srv.c = c; return srv }}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dial(0, peerAddr, ourAddr, 80, cli); err != nil {
		t.Fatal(err)
	}
	lk.run(t, 30*time.Minute, func() bool { return srv.peerDone && cli.peerDone })
	if sha256.Sum256(srv.got.Bytes()) != sha256.Sum256(upData) || srv.got.Len() != up {
		t.Fatalf("upstream: got %d bytes of %d, hashes differ", srv.got.Len(), up)
	}
	if sha256.Sum256(cli.got.Bytes()) != sha256.Sum256(downData) || cli.got.Len() != down {
		t.Fatalf("downstream: got %d bytes of %d, hashes differ", cli.got.Len(), down)
	}
	srv.c.Close()
	cli.c.Close()
	lk.run(t, 10*time.Minute, func() bool { return srv.closed && cli.closed })
	if srv.err != nil || cli.err != nil {
		t.Fatalf("close errors %v %v", srv.err, cli.err)
	}
	t.Logf("loss %.0f%%: %d segments sent, %d dropped, %v simulated; retrans a=%d b=%d, fast a=%d b=%d",
		loss*100, lk.sent, lk.dropped, time.Duration(lk.now),
		a.Stats().RetransSegs.Load(), b.Stats().RetransSegs.Load(),
		a.Stats().TCPFastRetrans.Load(), b.Stats().TCPFastRetrans.Load())
}

func TestBackToBackTransfer(t *testing.T) {
	transfer(t, 0, 1, 4<<20, 2<<20)
}

func TestBackToBackTransferLoss(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		transfer(t, 0.03, seed, 2<<20, 1<<20)
	}
}

func TestBackToBackTransferImpaired(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		transferImpaired(t, 0.02, 0.25, 0.01, seed, 1<<20, 1<<20)
	}
}

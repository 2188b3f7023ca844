package stack

import (
	"context"
	"crypto/sha256"
	"hash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// echoServer writes back what it reads; what it cannot write yet stays in
// the receive buffer and is offered again once the send buffer drains.
type echoServer struct{}

func (echoServer) OnOpen(c *tcp.Conn) {}
func (echoServer) OnData(c *tcp.Conn, data []byte) int {
	n := c.Write(data)
	if n < len(data) {
		c.PauseRead() // until OnWritable: the rest stays in the receive buffer
	}
	return n
}
func (echoServer) OnWritable(c *tcp.Conn)               { c.ResumeRead() }
func (echoServer) OnPeerClose(c *tcp.Conn)              { c.Close() }
func (echoServer) OnClose(c *tcp.Conn, err error)       {}
func (echoServer) String() string                       { return "echo" }
func (s echoServer) newHandler(c *tcp.Conn) tcp.Handler { return s }

// echoClient writes total pseudo-random bytes and hashes what comes back.
type echoClient struct {
	total          int
	src            *rand.ChaCha8
	chunk          []byte
	pending        []byte // generated, not yet accepted by Write
	written, read  int
	sent, received hash.Hash
	done           chan error
	finished       bool
}

func newEchoClient(total int) *echoClient {
	return &echoClient{total: total, src: rand.NewChaCha8([32]byte{7}), chunk: make([]byte, 64<<10),
		sent: sha256.New(), received: sha256.New(), done: make(chan error, 1)}
}

func (h *echoClient) pump(c *tcp.Conn) {
	for h.written < h.total {
		if len(h.pending) == 0 {
			n := min(len(h.chunk), h.total-h.written)
			h.src.Read(h.chunk[:n])
			h.pending = h.chunk[:n]
		}
		w := c.Write(h.pending)
		h.sent.Write(h.pending[:w])
		h.written += w
		h.pending = h.pending[w:]
		if len(h.pending) > 0 {
			return // OnWritable resumes
		}
	}
}

func (h *echoClient) OnOpen(c *tcp.Conn)     { h.pump(c) }
func (h *echoClient) OnWritable(c *tcp.Conn) { h.pump(c) }
func (h *echoClient) OnData(c *tcp.Conn, data []byte) int {
	h.received.Write(data)
	h.read += len(data)
	if h.read >= h.total && !h.finished {
		h.finished = true
		c.Close()
		h.done <- nil
	}
	return len(data)
}
func (h *echoClient) OnPeerClose(c *tcp.Conn) {}
func (h *echoClient) OnClose(c *tcp.Conn, err error) {
	if !h.finished {
		h.finished = true
		if err == nil {
			err = tcp.ErrAborted
		}
		h.done <- err
	}
}

func TestTwoEnginesEchoOverMemlink(t *testing.T) {
	cases := []struct {
		name   string
		total  int
		faults memlink.Faults
		frames int // per port; 0: memlink's default
	}{
		{"clean 4MiB", 4 << 20, memlink.Faults{}, 0},
		{"lossy 1MiB", 1 << 20, memlink.Faults{Drop: 0.02, Duplicate: 0.01, Reorder: 0.02, Corrupt: 0.001}, 0},
		// Fewer frames than a TX batch: bursts wait for frames
		// (txroom.go) and nothing is lost on the host.
		{"clean 4MiB, 48 frames", 4 << 20, memlink.Faults{}, 48},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fa, fb := tc.faults, tc.faults
			fa.Seed, fb.Seed = uint64(2*i+1), uint64(2*i+2)
			pa, pb := memlink.Pair(memlink.Config{AtoB: fa, BtoA: fb, Frames: tc.frames})
			defer pa.Close()
			defer pb.Close()
			clk := clock.NewMono()
			addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
			// WORKAROUND: stack/tcp sends MSS bytes of payload plus its
			// options (timestamps, SACK blocks: up to 40 bytes), packets
			// over the 1500 MTU that the engine drops as tx_too_big;
			// RFC 9293 §3.7.1 (and Linux's tcp_current_mss) subtract
			// the option length. Advertising 1460-40 keeps packets
			// within the MTU until the TCP layer does that.
			tcfg := tcp.DefaultConfig()
			tcfg.DefaultMSS = 1420
			ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, MAC: macPeer, TCP: tcfg}, pa, clk.Now())
			eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, MAC: macUs, TCP: tcfg}, pb, clk.Now())
			defer ea.Close()
			defer eb.Close()
			if _, err := eb.TCP().Listen(m4(addrB), 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
				t.Fatal(err)
			}
			client := newEchoClient(tc.total)
			ctx, cancel := context.WithCancel(context.Background())
			errs := make(chan error, 2)
			go func() { errs <- ea.Run(ctx, clk) }()
			go func() { errs <- eb.Run(ctx, clk) }()
			dialed := make(chan error, 1)
			for !ea.Do(func() {
				_, err := ea.TCP().Dial(clk.Now(), m4(addrA), m4(addrB), 7, client)
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
			la, lb := pa.Stats(), pb.Stats()
			t.Logf("a->b sent %d dropped %d dup %d reord %d corrupt %d; b->a sent %d dropped %d; a drops tcp_checksum %d arp_unresolved %d",
				la.Sent.Load(), la.Dropped.Load(), la.Duplicated.Load(), la.Reordered.Load(), la.Corrupted.Load(),
				lb.Sent.Load(), lb.Dropped.Load(), ea.Stats().Drops[DropTCPChecksum].Load(), ea.Stats().Drops[DropARPUnresolved].Load())
			if err != nil {
				t.Fatalf("transfer: %v (written %d, read %d of %d)", err, client.written, client.read, tc.total)
			}
			if string(client.sent.Sum(nil)) != string(client.received.Sum(nil)) || client.read != tc.total {
				t.Fatalf("echoed bytes differ (read %d of %d)", client.read, tc.total)
			}
			t.Logf("no_tx_frame a %d b %d; retransmitted a %d b %d; rx queue drops a->b %d b->a %d",
				ea.Stats().Drops[DropNoTxFrame].Load(), eb.Stats().Drops[DropNoTxFrame].Load(),
				ea.TCP().Stats().RetransSegs.Load(), eb.TCP().Stats().RetransSegs.Load(), la.QueueDrops.Load(), lb.QueueDrops.Load())
			if n := ea.Stats().Drops[DropNoTxFrame].Load() + eb.Stats().Drops[DropNoTxFrame].Load(); n > 0 {
				t.Errorf("%d segments dropped for lack of a TX frame: they should have waited for one", n)
			}
		})
	}
}

package stack

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// chanClient hands what its connection receives to an application
// goroutine through a channel, as the net.Conn layer does.
type chanClient struct {
	open chan *tcp.Conn
	data chan []byte
}

func (h *chanClient) OnOpen(c *tcp.Conn) { h.open <- c }
func (h *chanClient) OnData(c *tcp.Conn, p []byte) int {
	select {
	case h.data <- bytes.Clone(p):
		return len(p)
	default:
		return 0 // the application is behind: keep it in the receive buffer
	}
}
func (h *chanClient) OnWritable(c *tcp.Conn)         {}
func (h *chanClient) OnPeerClose(c *tcp.Conn)        {}
func (h *chanClient) OnClose(c *tcp.Conn, err error) {}

// The app<->loop paths under concurrent load, for the race detector (make
// test runs this package with -race): application goroutines dial and
// write through Engine.Do while the loops run, receive through handler
// callbacks on the loops, and other goroutines read the engines' counters
// and connection counts (the flow tables' lock-free readers) all along.
func TestAppLoopConcurrentLoad(t *testing.T) {
	const apps, msgs = 8, 200
	pa, pb := memlink.Pair(memlink.Config{})
	defer pa.Close()
	defer pb.Close()
	clk := clock.NewMono()
	addrA, addrB := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	ea := NewEngine(Config{Addr: addrA, PrefixLen: 24, MAC: macPeer}, pa, clk.Now())
	eb := NewEngine(Config{Addr: addrB, PrefixLen: 24, MAC: macUs}, pb, clk.Now())
	defer ea.Close()
	defer eb.Close()
	if _, err := eb.TCP().Listen(m4(addrB), 7, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- ea.Run(ctx, clk) }()
	go func() { errs <- eb.Run(ctx, clk) }()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for _, e := range []*Engine{ea, eb} {
		readers.Add(1)
		go func(e *Engine) {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = e.Stats().FramesRx.Load() + e.TCP().Stats().InSegs.Load()
				_ = e.TCP().Conns()
			}
		}(e)
	}

	do := func(fn func()) error {
		for !ea.Do(fn) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond) // the loop's queue is full
		}
		return nil
	}
	var wg sync.WaitGroup
	fail := make(chan error, apps)
	for a := 0; a < apps; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			h := &chanClient{open: make(chan *tcp.Conn, 1), data: make(chan []byte, 64)}
			if err := do(func() {
				if _, err := ea.TCP().Dial(clk.Now(), m4(addrA), m4(addrB), 7, h); err != nil {
					fail <- err
				}
			}); err != nil {
				fail <- err
				return
			}
			var c *tcp.Conn
			select {
			case c = <-h.open:
			case <-ctx.Done():
				fail <- fmt.Errorf("app %d: not connected", a)
				return
			}
			for m := 0; m < msgs; m++ {
				msg := []byte(fmt.Sprintf("app %d message %d", a, m))
				if err := do(func() { c.Write(msg) }); err != nil {
					fail <- err
					return
				}
				var got []byte
				for len(got) < len(msg) {
					select {
					case p := <-h.data:
						got = append(got, p...)
						do(func() { c.ResumeRead() })
					case <-ctx.Done():
						fail <- fmt.Errorf("app %d message %d: no echo", a, m)
						return
					}
				}
				if !bytes.Equal(got, msg) {
					fail <- fmt.Errorf("app %d: echo %q, want %q", a, got, msg)
					return
				}
			}
			do(func() { c.Close() })
		}(a)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	close(fail)
	for err := range fail {
		t.Error(err)
	}
}

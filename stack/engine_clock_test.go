package stack

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

type idleHandler struct{ c *tcp.Conn }

func (h *idleHandler) OnOpen(c *tcp.Conn)               { h.c = c }
func (h *idleHandler) OnData(c *tcp.Conn, b []byte) int { return len(b) }
func (h *idleHandler) OnWritable(c *tcp.Conn)           {}
func (h *idleHandler) OnPeerClose(c *tcp.Conn)          {}
func (h *idleHandler) OnClose(c *tcp.Conn, err error)   {}

// A connection call queued with Do runs with the layer's clock at the
// Poll's now, not at the last segment's time: a Close after two idle
// seconds sends its FIN once, and the tail loss probe it arms is not
// already due (the conformance adapter saw the FIN twice).
func TestDoRunsAtPollTime(t *testing.T) {
	now := clock.Time(time.Second)
	p := newEnginePair(t, memlink.Config{}, now, func(*tcp.Conn) tcp.Handler { return &idleHandler{} })
	ea, eb, pa, la, lb := p.a, p.b, p.pa, p.la, p.lb
	h := &idleHandler{}
	if _, err := ea.TCP().Dial(now, la, lb, 7, h); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		now += clock.Time(10 * time.Millisecond)
		ea.Poll(now)
		eb.Poll(now)
	}
	if h.c == nil {
		t.Fatal("not established")
	}
	now += clock.Time(2 * time.Second)
	sent := pa.Stats().Sent.Load()
	ea.Do(h.c.Close)
	ea.Poll(now)
	now += clock.Time(time.Millisecond)
	ea.Poll(now)
	if n := pa.Stats().Sent.Load() - sent; n != 1 {
		t.Fatalf("%d segments after Close, want the FIN once", n)
	}
}

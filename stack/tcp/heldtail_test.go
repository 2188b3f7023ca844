package tcp

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// A held tail: received data the application has not consumed when an
// orderly close ends the connection on the wire (TIME-WAIT, or CLOSED).
// Like Linux, whose receive queue stays readable after tcp_time_wait or
// tcp_done until close(2), the data stays readable: ResumeRead offers it,
// then OnPeerClose, then OnClose(nil).

// kinds lists the recorded event kinds after the first skip events.
func (r *recorder) kinds(skip int) string {
	s := ""
	for _, e := range r.events[skip:] {
		if s != "" {
			s += " "
		}
		s += e.kind
	}
	return s
}

func (h *harness) expectEvents(skip int, want string) {
	h.t.Helper()
	if got := h.rec.kinds(skip); got != want {
		h.t.Fatalf("events %q, want %q", got, want)
	}
}

// halfClosedHeld: CloseWrite, our FIN acknowledged (FIN-WAIT-2), then the
// peer's data arrives while reading is paused, then its FIN: TIME-WAIT on
// the wire with the data held. Returns the number of events before.
func halfClosedHeld(t *testing.T, tail []byte, opts ...cfgOpt) (*harness, int) {
	h := establishedConn(t, opts...)
	h.c.CloseWrite()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.send(ACK, peerISN+1, ourISN+2)
	h.state(StateFinWait2)
	h.c.PauseRead()
	n := len(h.rec.events)
	end := (peerISN + 1).Add(seqnum.Size(len(tail)))
	h.send(ACK|PSH, peerISN+1, ourISN+2, withData(tail))
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(end))
	h.send(FIN|ACK, end, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(end+1))
	h.expectNothing()
	return h, n
}

func TestHeldTailTimeWaitThenResumeRead(t *testing.T) {
	tail := []byte("the tail of the transfer")
	h, n := halfClosedHeld(t, tail)
	h.state(StateTimeWait)
	if h.l.TimeWaits() != 1 || h.l.Conns() != 0 {
		t.Fatalf("TIME-WAIT entries %d, conns %d; want 1, 0", h.l.TimeWaits(), h.l.Conns())
	}
	h.expectEvents(n, "") // nothing delivered, nothing closed yet
	if in := h.c.Info(); in.RecvQ != len(tail) {
		t.Fatalf("RecvQ %d, want %d", in.RecvQ, len(tail))
	}
	if w := h.c.Write([]byte("x")); w != 0 {
		t.Fatalf("Write on a TIME-WAIT conn took %d", w)
	}
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
	if string(h.rec.data) != string(tail) {
		t.Fatalf("data %q, want %q", h.rec.data, tail)
	}
	if err := h.rec.closeErr(t); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
	if h.c.rcvBuf.chunks != nil || h.c.flags&fHeldTail != 0 {
		t.Fatal("held buffer not freed after it was read")
	}
	h.expectNothing()
	// The TIME-WAIT entry is untouched: it still ends at 60 s.
	h.state(StateTimeWait)
	h.advance(60 * time.Second)
	h.state(StateClosed)
	h.expectNothing()
	// Later calls are no-ops.
	h.c.Close()
	h.c.Abort()
	h.c.PauseRead()
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
}

// The held tail outlives the TIME-WAIT entry itself.
func TestHeldTailAfterTimeWaitExpires(t *testing.T) {
	h, n := halfClosedHeld(t, []byte("late reader"))
	h.advance(60 * time.Second)
	h.state(StateClosed)
	if h.l.TimeWaits() != 0 || h.l.Stats().TW.Load() != 1 {
		t.Fatal("TIME-WAIT entry did not end at 60 s")
	}
	h.expectEvents(n, "")
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
	if string(h.rec.data) != "late reader" {
		t.Fatalf("data %q", h.rec.data)
	}
}

// OnData taking less than offered (no PauseRead): the rest is offered
// again after PauseRead/ResumeRead, in pieces as the handler takes it.
func TestHeldTailPartialConsumption(t *testing.T) {
	h := establishedConn(t)
	h.c.CloseWrite()
	h.expect(flags(FIN | ACK))
	h.send(ACK, peerISN+1, ourISN+2)
	h.rec.hold = true
	n := len(h.rec.events)
	h.send(ACK|PSH, peerISN+1, ourISN+2, withData([]byte("0123456789")))
	h.expect(flags(ACK), ackNum(peerISN+11))
	h.send(FIN|ACK, peerISN+11, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+12))
	h.state(StateTimeWait)
	h.expectEvents(n, "")
	// Take 4 bytes per offer, pausing after each.
	h.rec.hold = false
	var got []byte
	r := &chunkReader{rec: h.rec, max: 4, got: &got}
	h.c.SetHandler(r)
	for i := 0; i < 3; i++ {
		h.c.PauseRead()
		h.c.ResumeRead()
	}
	if string(got) != "0123456789" {
		t.Fatalf("data %q", got)
	}
	// The last piece was taken with reading paused again: EOF waits for
	// the next ResumeRead, as on a live connection; the buffer is free.
	h.expectEvents(n, "")
	if h.c.rcvBuf.chunks != nil {
		t.Fatal("buffer kept after the tail was consumed")
	}
	h.c.ResumeRead()
	h.expectEvents(n, "peerclose close")
	h.expectNothing()
}

// chunkReader consumes at most max bytes per OnData and pauses.
type chunkReader struct {
	rec *recorder
	max int
	got *[]byte
}

func (r *chunkReader) OnOpen(c *Conn) {}
func (r *chunkReader) OnData(c *Conn, p []byte) int {
	n := min(len(p), r.max)
	*r.got = append(*r.got, p[:n]...)
	c.PauseRead()
	return n
}
func (r *chunkReader) OnWritable(c *Conn)         {}
func (r *chunkReader) OnPeerClose(c *Conn)        { r.rec.OnPeerClose(c) }
func (r *chunkReader) OnClose(c *Conn, err error) { r.rec.OnClose(c, err) }

// Close drops the held data: no RST (the 4-tuple is TIME-WAIT), no
// TCPAbortOnClose, OnClose(nil) at once, the buffer freed.
func TestHeldTailClose(t *testing.T) {
	h, n := halfClosedHeld(t, []byte("never read"))
	h.c.Close()
	h.expectNothing()
	h.expectEvents(n, "close")
	if err := h.rec.closeErr(t); err != nil {
		t.Fatalf("OnClose(%v)", err)
	}
	if h.l.Stats().TCPAbortOnClose.Load() != 0 {
		t.Fatal("TCPAbortOnClose counted")
	}
	if h.c.rcvBuf.chunks != nil {
		t.Fatal("held buffer not freed on Close")
	}
	h.state(StateTimeWait)
	h.c.ResumeRead()
	h.expectEvents(n, "close")
	if len(h.rec.data) != 0 {
		t.Fatal("data after Close")
	}
}

func TestHeldTailAbort(t *testing.T) {
	h, n := halfClosedHeld(t, []byte("never read"))
	h.c.Abort()
	h.expectNothing()
	h.expectEvents(n, "close")
	if err := h.rec.closeErr(t); !errors.Is(err, ErrAborted) {
		t.Fatalf("OnClose(%v), want ErrAborted", err)
	}
	if h.c.rcvBuf.chunks != nil {
		t.Fatal("held buffer not freed on Abort")
	}
	h.state(StateTimeWait)
}

// Close from inside OnData while the held tail is delivered.
func TestHeldTailCloseFromOnData(t *testing.T) {
	h, n := halfClosedHeld(t, []byte("abc"))
	h.rec.onData = func(c *Conn, p []byte) { c.Close() }
	h.c.ResumeRead()
	h.expectEvents(n, "data close")
	h.expectNothing()
	if h.c.rcvBuf.chunks != nil {
		t.Fatal("held buffer not freed")
	}
}

// Simultaneous close: CLOSING, then the ACK of our FIN moves to TIME-WAIT.
func TestHeldTailClosingToTimeWait(t *testing.T) {
	h := establishedConn(t)
	h.c.CloseWrite()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.c.PauseRead()
	n := len(h.rec.events)
	h.send(FIN|ACK|PSH, peerISN+1, ourISN+1, withData([]byte("crossed")))
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+9))
	h.state(StateClosing)
	h.send(ACK, peerISN+9, ourISN+2)
	h.expectNothing()
	h.state(StateTimeWait)
	if h.l.TimeWaits() != 1 {
		t.Fatal("no TIME-WAIT entry")
	}
	h.expectEvents(n, "")
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
	if string(h.rec.data) != "crossed" {
		t.Fatalf("data %q", h.rec.data)
	}
}

// A full TIME-WAIT table (tcp_max_tw_buckets): CLOSED at once, the data
// still held.
func TestHeldTailTimeWaitOverflow(t *testing.T) {
	h, n := halfClosedHeld(t, []byte("overflow"), func(c *Config) { c.MaxTwBuckets = 0 })
	h.state(StateClosed)
	if h.l.TimeWaits() != 0 || h.l.Stats().TCPTimeWaitOverflow.Load() != 1 {
		t.Fatal("TCPTimeWaitOverflow")
	}
	h.expectEvents(n, "")
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
	if string(h.rec.data) != "overflow" {
		t.Fatalf("data %q", h.rec.data)
	}
}

// LAST-ACK: the peer closed first with data unread; CloseWrite; the ACK
// of our FIN makes the connection CLOSED (Linux tcp_done), the data
// stays readable. The peer's FIN is not ACKed at once (Linux tcp_fin:
// pingpong mode): our FIN carries its ACK.
func TestHeldTailLastAck(t *testing.T) {
	h := establishedConn(t)
	h.c.PauseRead()
	n := len(h.rec.events)
	h.send(FIN|ACK|PSH, peerISN+1, ourISN+1, withData([]byte("last")))
	h.expectNothing()
	h.state(StateCloseWait)
	h.c.CloseWrite()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+6))
	h.state(StateLastAck)
	h.send(ACK, peerISN+6, ourISN+2)
	h.expectNothing()
	h.state(StateClosed)
	if h.l.Conns() != 0 || h.l.TimeWaits() != 0 {
		t.Fatal("LAST-ACK did not end")
	}
	h.expectEvents(n, "")
	h.c.ResumeRead()
	h.expectEvents(n, "data peerclose close")
	if string(h.rec.data) != "last" {
		t.Fatalf("data %q", h.rec.data)
	}
}

// Nothing held: the events are as before (OnPeerClose, then OnClose on
// entering TIME-WAIT), and a Close after TIME-WAIT is a no-op.
func TestHeldTailNothingHeld(t *testing.T) {
	h := establishedConn(t)
	h.c.CloseWrite()
	h.expect(flags(FIN | ACK))
	h.send(ACK, peerISN+1, ourISN+2)
	n := len(h.rec.events)
	h.send(FIN|ACK|PSH, peerISN+1, ourISN+2, withData([]byte("x")))
	h.expect(flags(ACK), ackNum(peerISN+3))
	h.state(StateTimeWait)
	h.expectEvents(n, "data peerclose close")
	h.c.Close()
	h.expectNothing()
	h.expectEvents(n, "data peerclose close")
}

// Holding the tail changes nothing on the wire nor in the counters: the
// same scenario with reading paused and not paused emits the same
// segments (but the window, which the held bytes shrink) and counts the
// same.
func TestHeldTailSameWireAndCounters(t *testing.T) {
	run := func(pause bool) (segs []string, stats map[string]uint64) {
		h := establishedConn(t)
		h.c.CloseWrite()
		h.send(ACK, peerISN+1, ourISN+2)
		if pause {
			h.c.PauseRead()
		}
		h.send(ACK|PSH, peerISN+1, ourISN+2, withData([]byte("payload")))
		h.send(FIN|ACK, peerISN+8, ourISN+2)
		h.send(FIN|ACK, peerISN+8, ourISN+2) // retransmitted FIN: re-ACKed by the entry
		h.advance(60 * time.Second)
		h.c.ResumeRead()
		for _, s := range h.out.segs {
			segs = append(segs, fmt.Sprintf("%v %d %d %d @%v", s.seg.Flags, s.seg.Seq, s.seg.Ack, len(s.seg.Payload), time.Duration(s.at)))
		}
		stats = map[string]uint64{}
		h.l.Stats().Each(func(g, name string, v uint64, gauge bool) { stats[g+"."+name] = v })
		if string(h.rec.data) != "payload" || h.rec.kinds(len(h.rec.events)-2) != "peerclose close" {
			t.Fatalf("pause=%v: data %q events %q", pause, h.rec.data, h.rec.kinds(0))
		}
		return segs, stats
	}
	s1, c1 := run(false)
	s2, c2 := run(true)
	if fmt.Sprint(s1) != fmt.Sprint(s2) {
		t.Fatalf("segments differ:\n%v\n%v", s1, s2)
	}
	for k, v := range c1 {
		if c2[k] != v {
			t.Errorf("%s: %d not paused, %d paused", k, v, c2[k])
		}
	}
}

// A peer's RST with data unread: Linux tcp_reset keeps the receive queue,
// read returns the data, then ECONNRESET (conformance script
// rst-unread-data.pkt). Here: ResumeRead offers the data, then
// OnClose(ErrReset); no OnPeerClose.
func TestHeldTailAfterReset(t *testing.T) {
	h := establishedConn(t)
	h.c.PauseRead()
	n := len(h.rec.events)
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData([]byte("unread")))
	h.expect(flags(ACK), ackNum(peerISN+7))
	h.send(RST, peerISN+7, 0)
	h.expectNothing()
	h.state(StateClosed)
	if h.l.Conns() != 0 {
		t.Fatalf("conns %d after the RST", h.l.Conns())
	}
	h.expectEvents(n, "")
	h.c.ResumeRead()
	h.expectEvents(n, "data close")
	if string(h.rec.data) != "unread" {
		t.Fatalf("data %q", h.rec.data)
	}
	if err := h.rec.closeErr(t); !errors.Is(err, ErrReset) {
		t.Fatalf("OnClose(%v), want ErrReset", err)
	}
	if h.c.rcvBuf.chunks != nil || h.c.flags&fHeldTail != 0 {
		t.Fatal("held buffer not freed after it was read")
	}
}

// Without unread data a RST closes at once with ErrReset.
func TestResetWithoutUnreadData(t *testing.T) {
	h := establishedConn(t)
	n := len(h.rec.events)
	h.send(RST, peerISN+1, 0)
	h.expectEvents(n, "close")
	if err := h.rec.closeErr(t); !errors.Is(err, ErrReset) {
		t.Fatalf("OnClose(%v), want ErrReset", err)
	}
}

package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Small packet-script helpers (gVisor checker style): send a segment from
// the peer, expect exactly what the layer emits, move the fake clock.

var (
	ourAddr   = flowtable.AddrFrom4([4]byte{198, 18, 0, 1})
	ourAddr6  = flowtable.Addr{0x20, 0x01, 0, 2, 15: 1} // 2001:2::1
	peerAddr6 = flowtable.Addr{0x20, 0x01, 0, 2, 15: 2} // 2001:2::2
	peerAddr  = flowtable.AddrFrom4([4]byte{198, 18, 0, 2})
)

const (
	ourPort  = 80
	peerPort = 40000
	ourISN   = seqnum.Value(1000)
	peerISN  = seqnum.Value(5000)
)

var testKey = flowtable.Key{LocalAddr: ourAddr, RemoteAddr: peerAddr, LocalPort: ourPort, RemotePort: peerPort}

type sent struct {
	at  clock.Time
	seg OutSegment
}

type capture struct {
	segs []sent
	now  *clock.Time
	drop bool
	room *int // segments the output can still take (TxRoomer); nil: no limit
}

// TxRoom implements TxRoomer.
func (c *capture) TxRoom() bool { return c.room == nil || *c.room > 0 }

func (c *capture) SendTCP(s *OutSegment) bool {
	if c.room != nil {
		if *c.room <= 0 {
			return false // not on the wire, as the engine's no_tx_frame
		}
		*c.room--
	}
	cp := *s
	cp.Payload = append(append([]byte(nil), s.Payload...), s.Payload2...)
	cp.Payload2 = nil
	c.segs = append(c.segs, sent{*c.now, cp})
	return !c.drop
}

type event struct {
	kind string
	n    int
	err  error
	at   clock.Time
}

// recorder is a Handler that records events and consumes all data.
type recorder struct {
	h      *harness
	events []event
	data   []byte
	hold   bool // consume nothing
	onData func(c *Conn, p []byte)
	onEOF  func(c *Conn) // called from OnPeerClose
}

func (r *recorder) OnOpen(c *Conn) { r.events = append(r.events, event{kind: "open", at: r.h.now}) }
func (r *recorder) OnData(c *Conn, p []byte) int {
	if r.hold {
		return 0
	}
	r.events = append(r.events, event{kind: "data", n: len(p), at: r.h.now})
	r.data = append(r.data, p...)
	if r.onData != nil {
		r.onData(c, p)
	}
	return len(p)
}
func (r *recorder) OnWritable(c *Conn) {
	r.events = append(r.events, event{kind: "writable", at: r.h.now})
}
func (r *recorder) OnPeerClose(c *Conn) {
	r.events = append(r.events, event{kind: "peerclose", at: r.h.now})
	if r.onEOF != nil {
		r.onEOF(c)
	}
}
func (r *recorder) OnClose(c *Conn, err error) {
	r.events = append(r.events, event{kind: "close", err: err, at: r.h.now})
}

// OnLingerDone makes the recorder a LingerWaiter.
func (r *recorder) OnLingerDone(c *Conn) {
	r.events = append(r.events, event{kind: "lingerdone", at: r.h.now})
}

func (r *recorder) has(kind string) bool {
	for _, e := range r.events {
		if e.kind == kind {
			return true
		}
	}
	return false
}

func (r *recorder) closeErr(t *testing.T) error {
	t.Helper()
	for _, e := range r.events {
		if e.kind == "close" {
			return e.err
		}
	}
	t.Fatalf("no close event; events %v", r.events)
	return nil
}

type harness struct {
	t   testing.TB
	now clock.Time
	out *capture
	l   *Layer
	ln  *Listener
	rec *recorder
	c   *Conn
	key flowtable.Key
}

type cfgOpt func(*Config)

func newHarness(t testing.TB, opts ...cfgOpt) *harness {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{t: t, key: testKey}
	h.out = &capture{now: &h.now}
	h.l = NewLayer(&cfg, h.out, 0)
	h.l.SetISN(func(clock.Time, flowtable.Key) seqnum.Value { return ourISN })
	h.l.SetHostClock(HostClock{}) // deterministic timestamp offsets
	h.rec = &recorder{h: h}
	return h
}

// listen starts a listener with the event API (NewHandler).
func (h *harness) listen() {
	h.t.Helper()
	ln, err := h.l.Listen(h.key.LocalAddr, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler {
		h.c = c
		return h.rec
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.ln = ln
}

type segOpt func(*Segment)

func withMSS(m uint16) segOpt { return func(s *Segment) { s.Opts.HasMSS, s.Opts.MSS = true, m } }
func withWS(w uint8) segOpt   { return func(s *Segment) { s.Opts.HasWScale, s.Opts.WScale = true, w } }
func withTS(v, e uint32) segOpt {
	return func(s *Segment) { s.Opts.HasTimestamp, s.Opts.TSVal, s.Opts.TSEcr = true, v, e }
}
func withWin(w uint16) segOpt        { return func(s *Segment) { s.Window = w } }
func withData(p []byte) segOpt       { return func(s *Segment) { s.Payload = p } }
func withKey(k flowtable.Key) segOpt { return func(s *Segment) { s.Key = k } }

// send delivers a segment from the peer.
func (h *harness) send(flags wire.TCPFlags, seq, ack seqnum.Value, opts ...segOpt) {
	s := Segment{Key: h.key, Seq: seq, Ack: ack, Flags: flags, Window: 65535, Arrival: h.now}
	for _, o := range opts {
		o(&s)
	}
	h.l.Input(h.now, &s)
}

// advance moves the fake clock, running timers at their deadlines.
func (h *harness) advance(d time.Duration) {
	end := h.now.Add(d)
	for {
		at, ok := h.l.NextDeadline()
		if !ok || at > end {
			break
		}
		if at > h.now {
			h.now = at
		}
		h.l.Advance(h.now)
	}
	h.now = end
	h.l.Advance(h.now)
}

// writeExpect writes n segments of size bytes and expects them sent.
func (h *harness) writeExpect(n, size int) {
	h.t.Helper()
	h.c.Write(make([]byte, n*size))
	for i := 0; i < n; i++ {
		h.expect(payloadLen(size))
	}
}

type check func(s *sent) error

func flags(f wire.TCPFlags) check {
	return func(s *sent) error {
		if s.seg.Flags != f {
			return fmt.Errorf("flags %v, want %v", s.seg.Flags, f)
		}
		return nil
	}
}
func seqNum(v seqnum.Value) check {
	return func(s *sent) error {
		if s.seg.Seq != v {
			return fmt.Errorf("seq %d, want %d", s.seg.Seq, v)
		}
		return nil
	}
}
func ackNum(v seqnum.Value) check {
	return func(s *sent) error {
		if s.seg.Ack != v {
			return fmt.Errorf("ack %d, want %d", s.seg.Ack, v)
		}
		return nil
	}
}
func mss(m uint16) check {
	return func(s *sent) error {
		if !s.seg.Opts.HasMSS || s.seg.Opts.MSS != m {
			return fmt.Errorf("mss %v/%d, want %d", s.seg.Opts.HasMSS, s.seg.Opts.MSS, m)
		}
		return nil
	}
}
func payloadLen(n int) check {
	return func(s *sent) error {
		if len(s.seg.Payload) != n {
			return fmt.Errorf("payload %d bytes, want %d", len(s.seg.Payload), n)
		}
		return nil
	}
}
func window(w uint16) check {
	return func(s *sent) error {
		if s.seg.Window != w {
			return fmt.Errorf("window %d, want %d", s.seg.Window, w)
		}
		return nil
	}
}

// at checks the time the segment was sent, to the millisecond.
func at(d time.Duration) check {
	return func(s *sent) error {
		if time.Duration(s.at).Round(time.Millisecond) != d.Round(time.Millisecond) {
			return fmt.Errorf("sent at %v, want %v", time.Duration(s.at), d)
		}
		return nil
	}
}

// expect pops the next emitted segment and checks it.
func (h *harness) expect(checks ...check) *sent {
	h.t.Helper()
	if len(h.out.segs) == 0 {
		h.t.Fatalf("at %v: expected a segment, got nothing", time.Duration(h.now))
	}
	s := h.out.segs[0]
	h.out.segs = h.out.segs[1:]
	for _, c := range checks {
		if err := c(&s); err != nil {
			h.t.Fatalf("at %v: segment %v seq=%d ack=%d len=%d: %v", time.Duration(s.at), s.seg.Flags, s.seg.Seq, s.seg.Ack, len(s.seg.Payload), err)
		}
	}
	return &s
}

// expectNothing asserts nothing was emitted.
func (h *harness) expectNothing() {
	h.t.Helper()
	if len(h.out.segs) > 0 {
		s := h.out.segs[0]
		h.t.Fatalf("expected nothing, got %v seq=%d ack=%d len=%d at %v", s.seg.Flags, s.seg.Seq, s.seg.Ack, len(s.seg.Payload), time.Duration(s.at))
	}
}

// closesAfter checks that the connection stays in state st until d from
// now and is closed at d (the timers' 1 ms granularity).
func (h *harness) closesAfter(st State, d time.Duration) {
	h.t.Helper()
	h.advance(d - time.Millisecond)
	h.state(st)
	h.advance(time.Millisecond)
	h.state(StateClosed)
}

func (h *harness) state(want State) {
	h.t.Helper()
	if h.c == nil {
		h.t.Fatalf("no connection, want %v", want)
	}
	if got := h.c.State(); got != want {
		h.t.Fatalf("state %v, want %v", got, want)
	}
}

const (
	SYN = wire.FlagSYN
	ACK = wire.FlagACK
	FIN = wire.FlagFIN
	RST = wire.FlagRST
	PSH = wire.FlagPSH
)

// Fixtures, one per state. The peer offers MSS 1460 and no other option,
// so our segments carry no timestamps and windows are unscaled.

// synReceivedConn: the peer's SYN arrived, our SYN-ACK went out.
func synReceivedConn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN), ackNum(peerISN+1), mss(1460))
	return h
}

// openOn completes a passive open from the peer's port testKey.RemotePort+i
// and makes it the harness's connection.
func (h *harness) openOn(i int) *Conn {
	h.t.Helper()
	k := testKey
	k.RemotePort += uint16(i)
	h.key = k
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.expectNothing()
	return h.c
}

// establishedConn: a passive open completed.
func establishedConn(t *testing.T, opts ...cfgOpt) *harness {
	h := synReceivedConn(t, opts...)
	h.send(ACK, peerISN+1, ourISN+1)
	h.expectNothing()
	h.state(StateEstablished)
	return h
}

// finWait1Conn: we closed first; our FIN is unacknowledged.
func finWait1Conn(t *testing.T, opts ...cfgOpt) *harness {
	h := establishedConn(t, opts...)
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+1))
	h.state(StateFinWait1)
	return h
}

// finWait2Conn: our FIN was acknowledged.
func finWait2Conn(t *testing.T, opts ...cfgOpt) *harness {
	h := finWait1Conn(t, opts...)
	h.send(ACK, peerISN+1, ourISN+2)
	h.expectNothing()
	h.state(StateFinWait2)
	return h
}

// timeWaitConn: both FINs exchanged, we closed first.
func timeWaitConn(t *testing.T, opts ...cfgOpt) *harness {
	h := finWait2Conn(t, opts...)
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.state(StateTimeWait)
	return h
}

// timeWaitTSConn is a passive connection with timestamps that we closed
// first, in TIME-WAIT at time 0 with TS.Recent 102.
func timeWaitTSConn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(100, 0))
	s := h.expect(flags(SYN | ACK))
	if !s.seg.Opts.HasTimestamp || s.seg.Opts.TSEcr != 100 {
		t.Fatal("timestamps not negotiated")
	}
	h.send(ACK, peerISN+1, ourISN+1, withTS(101, s.seg.Opts.TSVal))
	h.c.Close()
	h.expect(flags(FIN | ACK))
	h.send(FIN|ACK, peerISN+1, ourISN+2, withTS(102, s.seg.Opts.TSVal))
	h.expect(flags(ACK), at(0))
	h.state(StateTimeWait)
	return h
}

// closeWaitConn: the peer closed first.
func closeWaitConn(t *testing.T, opts ...cfgOpt) *harness {
	h := establishedConn(t, opts...)
	h.send(FIN|ACK, peerISN+1, ourISN+1)
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+2))
	h.state(StateCloseWait)
	return h
}

// lastAckConn: the peer closed first, then we did.
func lastAckConn(t *testing.T, opts ...cfgOpt) *harness {
	h := closeWaitConn(t, opts...)
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+2))
	h.state(StateLastAck)
	return h
}

// closingConn: simultaneous close; both FINs crossed.
func closingConn(t *testing.T, opts ...cfgOpt) *harness {
	h := finWait1Conn(t, opts...)
	h.send(FIN|ACK, peerISN+1, ourISN+1)
	h.expect(flags(ACK), seqNum(ourISN+2), ackNum(peerISN+2))
	h.state(StateClosing)
	return h
}

// dialConn: an active open in SYN-SENT.
func dialConn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	c, err := h.l.Dial(h.now, ourAddr, peerAddr, 80, h.rec)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.key = c.Key()
	h.expect(flags(SYN), seqNum(ourISN), mss(1460))
	h.state(StateSynSent)
	return h
}

// pastQuickAcks puts a connection past Linux's quick-ACK start: its
// delayed-ACK engine started (the first data sets ato) and no quick ACKs
// left, so single segments wait for the delayed-ACK timer.
func pastQuickAcks(h *harness) {
	h.c.quickAcks = 0
	h.c.ato = atoMin
}

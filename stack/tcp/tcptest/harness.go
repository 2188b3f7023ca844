// Package tcptest drives a TCP layer (stack/tcp) on a fake clock, from Go
// (Harness: Send, Expect with checkers, ExpectNothing, Advance) or from
// packet scripts in a small packetdrill-like text format (Run, RunFile; the
// format is described in script.go).
//
// The clock only moves when the test says so; advancing runs the layer's
// timers at their exact deadlines, so a retransmission scheduled for 1 s
// is seen at exactly 1 s. Nothing here sleeps.
package tcptest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Captured is a segment the layer emitted, copied (payload included) when
// it was sent.
type Captured struct {
	At  clock.Time
	Seg tcp.OutSegment // Payload holds the whole payload, Payload2 is nil
	ISN uint32         // our ISN on the segment's tuple when it was sent (0 if unknown)
}

// Event is an application event the layer delivered through tcp.Handler.
type Event struct {
	At   clock.Time
	Key  flowtable.Key
	Kind string // "open", "data", "peerclose", "writable", "close"
	N    int    // data: bytes delivered
	Err  error  // close: the error
}

func (e Event) String() string {
	switch e.Kind {
	case "data":
		return fmt.Sprintf("data %d at %s", e.N, fmtTime(e.At))
	case "close":
		return fmt.Sprintf("close %s at %s", errorName(e.Err), fmtTime(e.At))
	}
	return e.Kind + " at " + fmtTime(e.At)
}

// Driver is what a Harness drives: the real tcp.Layer (the default) or a
// stand-in, so the harness itself can be tested. Commands act on the
// connection with key k.
type Driver interface {
	Input(now clock.Time, seg *tcp.Segment)
	Advance(now clock.Time)
	NextDeadline() (clock.Time, bool)
	Stats() *tcp.Stats
	Listen(now clock.Time, local flowtable.Addr, port uint16, backlog int, auto bool) error
	Dial(now clock.Time, local, remote flowtable.Addr, port uint16) (flowtable.Key, error)
	// Accept takes a connection from the accept queue of the listener on
	// the local port, and delivers its events from then on.
	Accept(now clock.Time, port uint16) (flowtable.Key, bool)
	// Do runs a connection command: write (arg bytes), close, closewrite,
	// abort, linger (arg seconds), keepalive (arg 0/1), keepalive-period
	// (arg ns), nodelay (arg 0/1), hold (arg 0/1: stop consuming data in
	// OnData), pauseread, resumeread.
	Do(now clock.Time, k flowtable.Key, cmd string, arg int64) error
	// State returns the RFC 9293 name of the state of the connection on k,
	// or false if there is none.
	State(k flowtable.Key) (string, bool)
}

// Sink receives what a Driver produces: emitted segments (Output) and
// application events.
type Sink interface {
	tcp.Output
	Event(now clock.Time, k flowtable.Key, kind string, n int, err error)
}

// DriverFactory makes a Driver whose layer starts at now.
type DriverFactory func(cfg *tcp.Config, sink Sink, now clock.Time) Driver

// Harness drives one layer on a fake clock and records what it emits.
type Harness struct {
	t       testing.TB
	cfg     tcp.Config
	d       Driver
	now     clock.Time
	tuple   flowtable.Key            // current connection, from our side
	isn     map[flowtable.Key]uint32 // our ISN per tuple, learned from our first SYN
	lastTS  map[flowtable.Key]uint32 // last TSval we sent per tuple
	pending []*Captured
	events  []Event
	sent    int // segments emitted so far
	// checkData: delivered bytes must be the script payload pattern
	// (RunScript only; Go tests send their own payloads).
	checkData bool
	peerISN   map[flowtable.Key]uint32 // the peer's ISN per tuple, from its SYN
	delivered map[flowtable.Key]uint32 // bytes delivered per tuple (mod 2^32)
	dataErr   error                    // first delivered byte that differs
	tol       clock.Time               // how far a `>` line's emission may be from its time
	// layer is the real layer when the default driver is used.
	layer *tcp.Layer
}

// New returns a harness around a new tcp.Layer with cfg, at time 0, with the
// default tuple (peer 198.18.0.2:40000, us 198.18.0.1:8080).
func New(t testing.TB, cfg tcp.Config) *Harness {
	return NewWithDriver(t, cfg, nil)
}

// NewWithDriver is New with another driver (nil: the real layer).
func NewWithDriver(t testing.TB, cfg tcp.Config, f DriverFactory) *Harness {
	h := &Harness{
		t:   t,
		cfg: cfg,
		tol: DefaultTolerance,

		peerISN:   map[flowtable.Key]uint32{},
		delivered: map[flowtable.Key]uint32{},
		isn:       map[flowtable.Key]uint32{},
		lastTS:    map[flowtable.Key]uint32{},
		tuple: flowtable.Key{
			LocalAddr: flowtable.AddrFromNetip(DefaultLocal.Addr()), RemoteAddr: flowtable.AddrFromNetip(DefaultRemote.Addr()),
			LocalPort: DefaultLocal.Port(), RemotePort: DefaultRemote.Port(),
		},
	}
	if f == nil {
		ld := newLayerDriver(&h.cfg, (*harnessSink)(h), 0)
		h.layer = ld.l
		h.d = ld
	} else {
		h.d = f(&h.cfg, (*harnessSink)(h), 0)
	}
	return h
}

// Layer returns the real layer (nil with another driver).
func (h *Harness) Layer() *tcp.Layer { return h.layer }

// Driver returns the driver.
func (h *Harness) Driver() Driver { return h.d }

// Now returns the fake clock's time.
func (h *Harness) Now() clock.Time { return h.now }

// Tuple returns the current connection's key (seen from our side).
func (h *Harness) Tuple() flowtable.Key { return h.tuple }

// SetTuple sets the current connection.
func (h *Harness) SetTuple(k flowtable.Key) { h.tuple = k }

// OurISN returns our initial sequence number on the current tuple, learned
// from the latest SYN we sent on it, and whether it is known yet.
func (h *Harness) OurISN() (uint32, bool) {
	v, ok := h.isn[h.tuple]
	return v, ok
}

// harnessSink is the Harness seen as the layer's Output and event sink.
type harnessSink Harness

// SendTCP records a segment; the harness never refuses one.
func (s *harnessSink) SendTCP(seg *tcp.OutSegment) bool {
	h := (*Harness)(s)
	c := &Captured{At: h.now, Seg: *seg}
	p := make([]byte, 0, len(seg.Payload)+len(seg.Payload2))
	p = append(p, seg.Payload...)
	p = append(p, seg.Payload2...)
	c.Seg.Payload, c.Seg.Payload2 = p, nil
	if seg.Flags.Has(flagSYN) {
		// A retransmitted SYN carries the same number; a new one (a new
		// connection on the tuple, after TIME-WAIT) restarts relative
		// numbering.
		h.isn[seg.Key] = uint32(seg.Seq)
	}
	c.ISN = h.isn[seg.Key]
	if seg.Opts.HasTimestamp {
		h.lastTS[seg.Key] = seg.Opts.TSVal
	}
	h.pending = append(h.pending, c)
	h.sent++
	return true
}

// Event records an application event.
func (s *harnessSink) Event(now clock.Time, k flowtable.Key, kind string, n int, err error) {
	h := (*Harness)(s)
	h.events = append(h.events, Event{At: h.now, Key: k, Kind: kind, N: n, Err: err})
}

// maxTimerRuns bounds the timer runs of one advance, so a layer whose timer
// keeps re-arming in the past fails the test instead of hanging it.
const maxTimerRuns = 1_000_000

// advance moves the clock to target, running the layer's timers at their
// deadlines in order. With stopOnEmit it stops right after the first timer
// run that emitted something (the clock then shows the emission time).
func (h *Harness) advance(target clock.Time, stopOnEmit bool) error {
	if target < h.now {
		target = h.now
	}
	for i := 0; ; i++ {
		if i == maxTimerRuns {
			return fmt.Errorf("timers ran %d times before %s: a timer keeps firing", maxTimerRuns, fmtTime(target))
		}
		d, ok := h.d.NextDeadline()
		if !ok || d > target {
			break
		}
		if d > h.now {
			h.now = d
		}
		before := h.sent
		h.d.Advance(h.now)
		if stopOnEmit && h.sent > before {
			return nil
		}
	}
	h.now = target
	h.d.Advance(h.now)
	return nil
}

// Advance moves the fake clock forward by d, running timers at their
// deadlines; what they emit waits for Expect.
func (h *Harness) Advance(d time.Duration) {
	h.t.Helper()
	if err := h.advance(h.now.Add(d), false); err != nil {
		h.t.Fatal(err)
	}
}

// AdvanceTo moves the fake clock to t (no-op if t is not later).
func (h *Harness) AdvanceTo(t clock.Time) {
	h.t.Helper()
	if err := h.advance(t, false); err != nil {
		h.t.Fatal(err)
	}
}

// Send delivers seg to the layer now. A zero Key means the current tuple;
// a zero Arrival means now.
func (h *Harness) Send(seg *tcp.Segment) {
	if seg.Key == (flowtable.Key{}) {
		seg.Key = h.tuple
	}
	if seg.Arrival == 0 {
		seg.Arrival = h.now
	}
	if seg.Flags.Has(flagSYN) {
		h.peerISN[seg.Key] = uint32(seg.Seq)
		h.delivered[seg.Key] = 0
	}
	h.d.Input(h.now, seg)
}

// patternByte is the payload byte a script's peer sends at sequence number
// seq, so that delivered data can be checked against it.
func patternByte(seq uint32) byte { return byte('a' + seq%26) }

// Data checks bytes delivered to the application on k against the script
// pattern (when checking is on) and counts them.
func (s *harnessSink) Data(k flowtable.Key, p []byte) {
	h := (*Harness)(s)
	off := h.delivered[k]
	if h.checkData && h.dataErr == nil {
		base := h.peerISN[k] + 1 + off
		for i, b := range p {
			if want := patternByte(base + uint32(i)); b != want {
				h.dataErr = fmt.Errorf("delivered byte %d of the stream is %q, the peer sent %q (sequence number %d)",
					off+uint32(i), b, want, base+uint32(i))
				break
			}
		}
	}
	h.delivered[k] = off + uint32(len(p))
}

// Pending returns the emitted segments not yet taken by Expect.
func (h *Harness) Pending() []*Captured { return h.pending }

// Next removes and returns the oldest emitted segment not yet taken, or nil.
func (h *Harness) Next() *Captured {
	if len(h.pending) == 0 {
		return nil
	}
	c := h.pending[0]
	h.pending = h.pending[1:]
	return c
}

// Expect takes the oldest emitted segment and checks it; it fails the test
// (Fatal) if nothing was emitted or a checker fails. It does not move the
// clock: call Advance first to let timers run.
func (h *Harness) Expect(checks ...Checker) *Captured {
	h.t.Helper()
	c := h.Next()
	if c == nil {
		h.t.Fatalf("at %s: expected a segment, nothing was emitted", fmtTime(h.now))
		return nil
	}
	if err := Check(c, checks...); err != nil {
		h.t.Fatalf("at %s: emitted %s: %v", fmtTime(c.At), FormatOut(c), err)
	}
	return c
}

// ExpectNothing fails the test if any emitted segment is not yet taken.
func (h *Harness) ExpectNothing() {
	h.t.Helper()
	if len(h.pending) > 0 {
		h.t.Fatalf("at %s: expected nothing, emitted:\n%s", fmtTime(h.now), h.describePending())
	}
}

func (h *Harness) describePending() string {
	var b strings.Builder
	for _, c := range h.pending {
		fmt.Fprintf(&b, "\t%s %s\n", fmtTime(c.At), FormatOut(c))
	}
	return strings.TrimRight(b.String(), "\n")
}

// Events returns the application events not yet taken by TakeEvent.
func (h *Harness) Events() []Event { return h.events }

// TakeEvent removes and returns the first event of kind on k, if any.
func (h *Harness) TakeEvent(k flowtable.Key, kind string) (Event, bool) {
	for i, e := range h.events {
		if e.Key == k && e.Kind == kind {
			h.events = append(h.events[:i:i], h.events[i+1:]...)
			return e, true
		}
	}
	return Event{}, false
}

// TakeData removes every data event on k and returns the bytes they
// delivered.
func (h *Harness) TakeData(k flowtable.Key) int {
	n := 0
	kept := h.events[:0]
	for _, e := range h.events {
		if e.Key == k && e.Kind == "data" {
			n += e.N
			continue
		}
		kept = append(kept, e)
	}
	h.events = kept
	return n
}

// Counter returns the layer's counter with nstat name name.
func (h *Harness) Counter(name string) (uint64, bool) {
	d := tcp.LookupStat(name)
	if d == nil {
		return 0, false
	}
	return d.Value(h.d.Stats()), true
}

// knownCounter reports whether name is a tcp.Stats counter.
func knownCounter(name string) bool { return tcp.LookupStat(name) != nil }

// errorsByName are the errors `event close` can name.
var errorsByName = map[string]error{
	"nil":          nil,
	"ErrReset":     tcp.ErrReset,
	"ErrRefused":   tcp.ErrRefused,
	"ErrTimeout":   tcp.ErrTimeout,
	"ErrAborted":   tcp.ErrAborted,
	"ErrTableFull": tcp.ErrTableFull,
	"ErrAddrInUse": tcp.ErrAddrInUse,
	"ErrNoPorts":   tcp.ErrNoPorts,
	"ErrClosed":    tcp.ErrClosed,
}

func errorByName(n string) (error, bool) {
	e, ok := errorsByName[n]
	return e, ok
}

func errorNames() []string {
	var out []string
	for n := range errorsByName {
		if n != "nil" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// errorName names err as `event close` does.
func errorName(err error) string {
	if err == nil {
		return "nil"
	}
	for n, e := range errorsByName {
		if e != nil && errors.Is(err, e) {
			return n
		}
	}
	return fmt.Sprintf("%q", err.Error())
}

package tcptest

import (
	"fmt"
	"github.com/xdptcp/xdptcp/flowtable"
	"os"
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Run runs a packet script against a new tcp.Layer with cfg (adjusted by
// the script's `set` lines) and fails t at the first line that does not
// hold, naming the line and what was emitted versus expected.
func Run(t testing.TB, cfg tcp.Config, script string) {
	t.Helper()
	if err := RunErr(t, cfg, script, nil); err != nil {
		t.Fatal(err)
	}
}

// RunFile runs the script in the file at path (see Run).
func RunFile(t testing.TB, cfg tcp.Config, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := RunErr(t, cfg, string(src), nil); err != nil {
		t.Fatalf("%s:%v", path, err)
	}
}

// RunErr runs script with driver f (nil: the real tcp.Layer) and returns the
// first failure instead of failing t; t is only used for Helper and logs.
// A `pending` header does not change what RunErr does.
func RunErr(t testing.TB, cfg tcp.Config, script string, f DriverFactory) error {
	t.Helper()
	s, err := Parse(script)
	if err != nil {
		return err
	}
	return RunScript(t, cfg, s, f)
}

// RunScript runs a parsed script (see RunErr).
func RunScript(t testing.TB, cfg tcp.Config, s *Script, f DriverFactory) error {
	t.Helper()
	for _, l := range s.Lines {
		if l.Kind == KindSet {
			if err := cfg.Set(l.Args[0], l.Args[1]); err != nil {
				return &ParseError{l.N, err.Error()}
			}
		}
	}
	h := NewWithDriver(t, cfg, f)
	h.checkData = true
	if err := h.runLines(s); err != nil {
		return err
	}
	if len(h.pending) > 0 {
		return fmt.Errorf("end of script: unexpected segment(s):\n%s", h.describePending())
	}
	return nil
}

// runLines runs the lines of s on h and returns the first failure.
func (h *Harness) runLines(s *Script) error {
	r := &runner{h: h}
	for i := range s.Lines {
		l := &s.Lines[i]
		err := r.step(l)
		if err == nil && h.dataErr != nil {
			err = h.dataErr
		}
		if err != nil {
			return fmt.Errorf("line %d: %s\n\t%v%s", l.N, l.Text, err, r.context())
		}
	}
	return nil
}

// Script runs script lines on h, continuing from its current time and
// tuple: "+" times count from h.Now(). It fails the test at the first line
// that does not hold. Unlike Run it does not require every emission to be
// expected by the end, so Go code can continue (Expect, ExpectNothing).
// `set` lines change h's config, which the layer reads as it goes.
func (h *Harness) Script(src string) {
	h.t.Helper()
	s, err := parseFrom(src, h.now)
	if err != nil {
		h.t.Fatal(err)
		return
	}
	for _, l := range s.Lines {
		if l.Kind == KindSet {
			if err := h.cfg.Set(l.Args[0], l.Args[1]); err != nil {
				h.t.Fatal(&ParseError{l.N, err.Error()})
				return
			}
		}
	}
	if err := h.runLines(s); err != nil {
		h.t.Fatal(err)
	}
}

// runner executes script lines on a harness.
type runner struct {
	h *Harness
}

// context describes the harness state for a failure message.
func (r *runner) context() string {
	h := r.h
	var b strings.Builder
	fmt.Fprintf(&b, "\n\tclock %s, tuple %v", fmtTime(h.now), h.tuple)
	if len(h.pending) > 0 {
		b.WriteString("\n\tnot yet expected:\n" + h.describePending())
	}
	if len(h.events) > 0 {
		b.WriteString("\n\tevents not yet asserted:")
		for _, e := range h.events {
			b.WriteString(" [" + e.String() + "]")
		}
	}
	return b.String()
}

func (r *runner) step(l *Line) error {
	h := r.h
	switch l.Kind {
	case KindSet, KindPending:
		return nil
	case KindTuple:
		h.tuple = l.Key
		return nil
	case KindTolerance:
		h.tol = l.Dur
		return nil
	case KindOut:
		return r.expectOut(l)
	}
	if err := h.advance(l.At, false); err != nil {
		return err
	}
	if len(h.pending) > 0 {
		err := fmt.Errorf("unexpected segment(s) emitted before this line:\n%s", h.describePending())
		h.pending = nil // listed once
		return err
	}
	switch l.Kind {
	case KindIn:
		h.Send(r.inbound(l.Seg))
	case KindCmd:
		return r.command(l)
	case KindNothing:
	case KindState:
		st, ok := h.d.State(h.tuple)
		if !ok {
			return fmt.Errorf("no connection on the tuple, want state %s", l.Args[0])
		}
		if st != l.Args[0] {
			return fmt.Errorf("state %s, want %s", st, l.Args[0])
		}
	case KindGone:
		if st, ok := h.d.State(h.tuple); ok {
			return fmt.Errorf("connection still there in state %s", st)
		}
	case KindEvent:
		return r.event(l)
	case KindCounter:
		v, _ := h.Counter(l.Args[0])
		if v != uint64(l.Num) {
			return fmt.Errorf("counter %s is %d, want %d", l.Args[0], v, l.Num)
		}
	default:
		return fmt.Errorf("line kind %d not runnable", l.Kind)
	}
	return nil
}

// expectOut checks that the next emitted segment matches l, at l.At within
// the tolerance, advancing the clock (running timers) up to l.At+tolerance
// if nothing is pending.
func (r *runner) expectOut(l *Line) error {
	h := r.h
	lo, hi := l.At-h.tol, l.At+h.tol
	if len(h.pending) == 0 {
		if err := h.advance(hi, true); err != nil {
			return err
		}
	}
	c := h.Next()
	if c == nil {
		return fmt.Errorf("nothing emitted by %s", fmtTime(hi))
	}
	if c.At < lo || c.At > hi {
		return fmt.Errorf("emitted at %s, want at %s (±%s): %s", fmtTime(c.At), fmtTime(l.At), fmtTime(h.tol), FormatOut(c))
	}
	if c.Seg.Key != h.tuple {
		return fmt.Errorf("emitted on %v, want on %v: %s", c.Seg.Key, h.tuple, FormatOut(c))
	}
	if m := matchSpec(l.Seg, c); m != "" {
		return fmt.Errorf("%s\n\tgot: %s", m, FormatOut(c))
	}
	return nil
}

// inbound builds the segment a `<` line sends: the peer's numbers as
// written, our side's (ack, SACK edges) offset by our ISN, `ecr *` echoing
// our last TSval, the payload a fixed pattern.
func (r *runner) inbound(spec *SegSpec) *tcp.Segment {
	h := r.h
	isn := h.isn[h.tuple]
	seg := &tcp.Segment{
		Key:    h.tuple,
		Seq:    seqnum.Value(spec.Seq),
		Flags:  spec.Flags,
		Window: 65535,
		Opts:   spec.Opts,
	}
	if spec.HasAck {
		seg.Ack = seqnum.Value(spec.Ack + isn)
	}
	if spec.HasWin {
		seg.Window = spec.Win
	}
	if spec.EcrAny {
		seg.Opts.TSEcr = h.lastTS[h.tuple]
	}
	for i := 0; i < seg.Opts.NumSACK; i++ {
		seg.Opts.SACK[i].Left += isn
		seg.Opts.SACK[i].Right += isn
	}
	if spec.Len > 0 {
		p := make([]byte, spec.Len)
		for i := range p {
			p[i] = patternByte(spec.Seq + uint32(i))
		}
		seg.Payload = p
	}
	return seg
}

func (r *runner) command(l *Line) error {
	h := r.h
	switch l.Cmd {
	case "listen":
		if err := h.d.Listen(h.now, h.tuple.LocalAddr, l.Port, int(l.Num), l.Flag); err != nil {
			return fmt.Errorf("listen: %v", err)
		}
		h.tuple.LocalPort = l.Port
	case "dial":
		k, err := h.d.Dial(h.now, h.tuple.LocalAddr, flowtable.AddrFromNetip(l.Addr.Addr()), l.Addr.Port())
		if err != nil {
			return fmt.Errorf("dial: %v", err)
		}
		h.tuple = k
	case "accept":
		k, ok := h.d.Accept(h.now, h.tuple.LocalPort)
		if !ok {
			return fmt.Errorf("accept: accept queue of port %d is empty", h.tuple.LocalPort)
		}
		if k != h.tuple {
			return fmt.Errorf("accept: got %v, want the script tuple %v", k, h.tuple)
		}
	default:
		arg := l.Num
		switch l.Cmd {
		case "keepalive", "nodelay", "hold":
			arg = 0
			if l.Flag {
				arg = 1
			}
		case "keepalive-period":
			arg = int64(l.Dur)
		}
		return h.d.Do(h.now, h.tuple, l.Cmd, arg)
	}
	return nil
}

func (r *runner) event(l *Line) error {
	h := r.h
	if l.Cmd == "data" {
		if n := h.TakeData(h.tuple); n != int(l.Num) {
			return fmt.Errorf("%d bytes delivered, want %d", n, l.Num)
		}
		return nil
	}
	e, ok := h.TakeEvent(h.tuple, l.Cmd)
	if !ok {
		return fmt.Errorf("no %s event", l.Cmd)
	}
	if l.Cmd == "close" {
		if got := errorName(e.Err); got != l.Args[0] {
			return fmt.Errorf("close event with %s, want %s", got, l.Args[0])
		}
	}
	return nil
}

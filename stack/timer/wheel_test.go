package timer

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

const ms = clock.Time(time.Millisecond)

// ceilTick is the end of the tick holding at, the latest time the wheel
// may fire a timer due at at: base + ceil((at-base)/tick)*tick.
func ceilTick(base, at clock.Time, tick clock.Time) clock.Time {
	rel := at - base
	e := rel / tick
	if rel%tick != 0 {
		e++
	}
	return base + e*tick
}

type rec struct {
	id  int
	now clock.Time
}

// harness is a wheel with n timers that record when they fire.
type harness struct {
	w      *Wheel
	timers []Timer
	fired  []rec
}

func newHarness(start clock.Time, n int) *harness {
	h := &harness{w: NewWheel(start), timers: make([]Timer, n)}
	for i := range h.timers {
		h.timers[i].Fn = func(_ *Timer, now clock.Time) { h.fired = append(h.fired, rec{i, now}) }
	}
	return h
}

func TestFiresAtDeadlineTick(t *testing.T) {
	for _, start := range []clock.Time{0, 12345678, -5 * ms} {
		h := newHarness(start, 1)
		tm := &h.timers[0]
		for _, off := range []clock.Time{1, ms / 2, ms - 1, ms, ms + 1, 63 * ms, 64 * ms, 65 * ms, 4095*ms + 7, 4096 * ms, 1<<20*ms + 3} {
			h.fired = nil
			at := h.w.Now() + off
			h.w.Schedule(tm, at)
			if !tm.Pending() || tm.When() != at || h.w.Len() != 1 {
				t.Fatalf("after Schedule: pending %v when %v len %d", tm.Pending(), tm.When(), h.w.Len())
			}
			deadline := ceilTick(start, at, ms)
			// Step 0.25 ms at a time; jump most of the way for long offsets.
			now := h.w.Now()
			if off > 10*ms {
				now = at - 5*ms
				h.w.Advance(now)
			}
			for len(h.fired) == 0 {
				if now >= deadline {
					t.Fatalf("off %v: not fired at %v, deadline %v (tick end %v)", off, now, at, deadline)
				}
				now += ms / 4
				h.w.Advance(now)
			}
			if got := h.fired[0].now; got < at || got >= at+ms+ms/4 {
				t.Fatalf("off %v: fired at %v for deadline %v", off, got, at)
			}
			if tm.Pending() || h.w.Len() != 0 {
				t.Fatal("still pending after firing")
			}
		}
	}
}

func TestPastAndNowFireOnNextAdvance(t *testing.T) {
	h := newHarness(100*ms, 3)
	h.w.Schedule(&h.timers[0], 50*ms)  // past
	h.w.Schedule(&h.timers[1], 100*ms) // now
	h.w.Schedule(&h.timers[2], 100*ms+1)
	h.w.Advance(100 * ms)
	if len(h.fired) != 2 || h.fired[0].id != 0 || h.fired[1].id != 1 {
		t.Fatalf("fired %v", h.fired)
	}
	h.w.Advance(101 * ms)
	if len(h.fired) != 3 {
		t.Fatalf("fired %v", h.fired)
	}
}

func TestOrdering(t *testing.T) {
	h := newHarness(0, 200)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range h.timers {
		h.w.Schedule(&h.timers[i], clock.Time(r.Int64N(int64(10*time.Second))))
	}
	h.w.Advance(clock.Time(10 * time.Second)) // one jump over many ticks and levels
	if len(h.fired) != 200 {
		t.Fatalf("%d fired", len(h.fired))
	}
	for i := 1; i < len(h.fired); i++ {
		if h.timers[h.fired[i].id].When() < h.timers[h.fired[i-1].id].When() {
			t.Fatalf("fired out of order at %d", i)
		}
	}
}

func TestFnSchedulesAndStops(t *testing.T) {
	w := NewWheel(0)
	var a, b, c, periodic Timer
	var log []string
	a.Fn = func(_ *Timer, now clock.Time) {
		log = append(log, "a")
		w.Stop(&b)               // due in the same Advance: must not run
		w.Schedule(&c, now+5*ms) // moved later
		w.Schedule(&a, now)      // itself, due now: next Advance
		if !a.Pending() || b.Pending() {
			t.Error("pending flags wrong inside Fn")
		}
	}
	b.Fn = func(*Timer, clock.Time) { log = append(log, "b") }
	c.Fn = func(*Timer, clock.Time) { log = append(log, "c") }
	n := 0
	periodic.Fn = func(_ *Timer, now clock.Time) {
		n++
		if n < 5 {
			w.Schedule(&periodic, now+10*ms)
		}
	}
	w.Schedule(&a, 1*ms)
	w.Schedule(&b, 2*ms)
	w.Schedule(&c, 3*ms)
	w.Schedule(&periodic, 10*ms)
	w.Advance(3 * ms)
	if !slices.Equal(log, []string{"a"}) || w.Len() != 3 {
		t.Fatalf("log %v len %d", log, w.Len())
	}
	w.Advance(3 * ms)
	if !slices.Equal(log, []string{"a", "a"}) {
		t.Fatalf("log %v", log)
	}
	w.Stop(&a)
	w.Advance(8 * ms)
	if !slices.Equal(log, []string{"a", "a", "c"}) || w.Len() != 1 {
		t.Fatalf("log %v len %d", log, w.Len())
	}
	for now := 8 * ms; now < 200*ms; now += ms {
		w.Advance(now)
	}
	if n != 5 || w.Len() != 0 {
		t.Fatalf("periodic ran %d times, len %d", n, w.Len())
	}
	if _, ok := w.NextDeadline(); ok {
		t.Fatal("NextDeadline reports a deadline on an empty wheel")
	}
	w.Stop(&a) // not pending: no-op
	if w.Len() != 0 {
		t.Fatal("Stop of an idle timer changed Len")
	}
}

// TestManyAgainstModel schedules 1e5 timers at random deadlines, moves and
// stops some, and advances in random steps (small and very large), checking
// every Advance against a model: nothing fires early, everything whose tick
// has ended has fired, and each Advance fires in deadline order.
func TestManyAgainstModel(t *testing.T) {
	const n = 100000
	r := rand.New(rand.NewPCG(7, 7))
	start := clock.Time(r.Int64N(int64(time.Hour)))
	h := newHarness(start, n)
	horizons := []time.Duration{time.Second, time.Minute, time.Hour, 3 * time.Hour, 48 * time.Hour, 1000 * 24 * time.Hour}
	pending := map[int]bool{}
	for i := range h.timers {
		d := horizons[r.IntN(len(horizons))]
		h.w.Schedule(&h.timers[i], start+clock.Time(r.Int64N(int64(d))))
		pending[i] = true
	}
	now := start
	for step := 0; len(pending) > 0; step++ {
		if step > 100000 {
			t.Fatalf("%d timers never fired", len(pending))
		}
		// Disturb: stop or move a few timers.
		for range 20 {
			i := r.IntN(n)
			switch r.IntN(3) {
			case 0:
				h.w.Stop(&h.timers[i])
				delete(pending, i)
			case 1:
				if pending[i] {
					h.w.Schedule(&h.timers[i], now+clock.Time(r.Int64N(int64(time.Hour))))
				}
			}
		}
		if h.w.Len() != len(pending) {
			t.Fatalf("Len %d, model %d", h.w.Len(), len(pending))
		}
		switch r.IntN(10) {
		case 0:
			now += clock.Time(r.Int64N(int64(30 * 24 * time.Hour)))
		case 1, 2:
			now += clock.Time(r.Int64N(int64(time.Hour)))
		default:
			now += clock.Time(r.Int64N(int64(100 * time.Millisecond)))
		}
		h.fired = h.fired[:0]
		h.w.Advance(now)
		var last clock.Time = -1 << 63
		for _, f := range h.fired {
			when := h.timers[f.id].When()
			if !pending[f.id] || when > now || when < last {
				t.Fatalf("step %d: timer %d (due %v) fired at %v, pending %v, previous %v", step, f.id, when, now, pending[f.id], last)
			}
			last = when
			delete(pending, f.id)
		}
		for i := range pending {
			if ceilTick(start, h.timers[i].When(), ms) <= now {
				t.Fatalf("step %d: timer %d due %v not fired at %v", step, i, h.timers[i].When(), now)
			}
		}
	}
}

// TestNextDeadline checks NextDeadline against the earliest pending
// deadline: never a tick or more later, never "none" when a timer is
// pending, and advancing to it repeatedly reaches the earliest timer within
// a few wake-ups.
func TestNextDeadline(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for trial := range 300 {
		start := clock.Time(r.Int64N(int64(time.Hour)))
		h := newHarness(start, 50)
		if _, ok := h.w.NextDeadline(); ok {
			t.Fatal("deadline on empty wheel")
		}
		now := start
		for step := range 30 {
			for range r.IntN(4) {
				i := r.IntN(len(h.timers))
				scale := []time.Duration{time.Millisecond, 100 * time.Millisecond, time.Minute, 3 * time.Hour, 2000 * 24 * time.Hour}[r.IntN(5)]
				h.w.Schedule(&h.timers[i], now+clock.Time(r.Int64N(int64(scale)))-clock.Time(r.Int64N(int64(time.Millisecond))))
			}
			if r.IntN(3) == 0 {
				h.w.Stop(&h.timers[r.IntN(len(h.timers))])
			}
			earliest, any := clock.Time(1<<63-1), false
			for i := range h.timers {
				if h.timers[i].Pending() {
					earliest, any = min(earliest, h.timers[i].When()), true
				}
			}
			d, ok := h.w.NextDeadline()
			if ok != any {
				t.Fatalf("trial %d step %d: NextDeadline ok=%v, model %v", trial, step, ok, any)
			}
			if !any {
				continue
			}
			if d >= earliest+ms {
				t.Fatalf("trial %d step %d: NextDeadline %v, earliest %v (now %v)", trial, step, d, earliest, now)
			}
			// Sleep until the reported deadline, as the loop does.
			wakes, before := 0, now
			for len(h.fired) == 0 {
				d, _ = h.w.NextDeadline()
				if d > now {
					now = d
				}
				h.w.Advance(now)
				// One wake-up per level, plus one per top-level wrap
				// (2^36 ticks) for deadlines in the overflow list.
				if wakes++; len(h.fired) == 0 && wakes > NumLevels+2+int((earliest-start)/ms>>spanBits) {
					t.Fatalf("trial %d step %d: %d wake-ups without reaching deadline %v (now %v)", trial, step, wakes, earliest, now)
				}
			}
			// The earliest timer fires first, at most a tick late (or at
			// once if it was already due).
			if got := h.timers[h.fired[0].id].When(); got != earliest || now > max(before, earliest+ms-1) {
				t.Fatalf("trial %d step %d: fired %v at %v, earliest %v", trial, step, got, now, earliest)
			}
			h.fired = h.fired[:0]
		}
	}
}

func TestLongGaps(t *testing.T) {
	h := newHarness(0, 5)
	deadlines := []clock.Time{
		clock.Time(time.Hour),
		clock.Time(2*time.Hour + 11*time.Second), // tcp_keepalive_time and then some
		clock.Time(30 * 24 * time.Hour),
		clock.Time(3 * 365 * 24 * time.Hour), // beyond the top level: overflow list
		clock.Time(1<<63 - 1),
	}
	for i, d := range deadlines {
		h.w.Schedule(&h.timers[i], d)
	}
	h.w.Advance(clock.Time(time.Hour) - 1)
	if len(h.fired) != 0 {
		t.Fatal("fired early")
	}
	for i, d := range deadlines[:4] {
		dl, ok := h.w.NextDeadline()
		if !ok || dl >= d+ms {
			t.Fatalf("timer %d: NextDeadline %v, %v", i, dl, ok)
		}
		h.w.Advance(d + ms/2) // the loop slept until just after the deadline
		if len(h.fired) != i+1 || h.fired[i].id != i {
			t.Fatalf("after %v: fired %v", time.Duration(d), h.fired)
		}
	}
	if h.w.Len() != 1 {
		t.Fatalf("Len %d", h.w.Len())
	}
	h.w.Advance(1<<63 - 1)
	if len(h.fired) != 5 || h.w.Len() != 0 {
		t.Fatalf("fired %v", h.fired)
	}
}

func TestNoAllocs(t *testing.T) {
	w := NewWheel(0)
	ts := make([]Timer, 1000)
	fn := func(*Timer, clock.Time) {}
	for i := range ts {
		ts[i].Fn = fn
		w.Schedule(&ts[i], clock.Time(i)*ms*37)
	}
	var x Timer
	x.Fn = fn
	now := clock.Time(0)
	i := 0
	if a := testing.AllocsPerRun(1000, func() {
		w.Schedule(&x, now+clock.Time(i%5000)*ms)
		i++
	}); a != 0 {
		t.Errorf("Schedule: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		w.Schedule(&x, now+clock.Time(i%5000)*ms)
		w.Stop(&x)
		i++
	}); a != 0 {
		t.Errorf("Schedule+Stop: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		now += 7 * ms
		w.Schedule(&ts[i%len(ts)], now+clock.Time(i%3000)*ms)
		w.Advance(now)
		_, _ = w.NextDeadline()
		i++
	}); a != 0 {
		t.Errorf("Advance: %v allocs", a)
	}
}

// TestNextDeadlineExact checks that for timers that were not moved or
// stopped, NextDeadline is the end of the earliest timer's tick at any
// distance, so the loop wakes up once.
func TestNextDeadlineExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for range 1000 {
		start := clock.Time(r.Int64N(int64(time.Hour)))
		h := newHarness(start, 3)
		earliest := clock.Time(1<<63 - 1)
		for i := range h.timers {
			scale := []time.Duration{100 * time.Millisecond, time.Minute, 3 * time.Hour, 100 * 24 * time.Hour}[r.IntN(4)]
			at := start + 1 + clock.Time(r.Int64N(int64(scale)))
			h.w.Schedule(&h.timers[i], at)
			earliest = min(earliest, at)
		}
		if d, ok := h.w.NextDeadline(); !ok || d != ceilTick(start, earliest, ms) {
			t.Fatalf("NextDeadline %v, want %v", d, ceilTick(start, earliest, ms))
		}
		h.w.Advance(ceilTick(start, earliest, ms))
		if len(h.fired) == 0 || h.timers[h.fired[0].id].When() != earliest {
			t.Fatalf("earliest did not fire at its NextDeadline")
		}
	}
}

// Package timer is the per-loop timing wheel.
//
// PLACEHOLDER IMPLEMENTATION: a linear list with the final API, so callers
// compile while the hierarchical wheel is written. The API is the contract:
// Schedule, Stop and Advance per timer are O(1) in the real wheel, and
// timers are intrusive (embedded in their owner), so nothing allocates.
package timer

import "github.com/xdptcp/xdptcp/stack/clock"

// Timer is one timer, embedded in its owner. Set Fn once before the first
// Schedule; it runs on the loop when the timer expires.
type Timer struct {
	Fn      func(now clock.Time)
	when    clock.Time
	pending bool
	idx     int
}

// Pending reports whether the timer is scheduled.
func (t *Timer) Pending() bool { return t.pending }

// When returns the time the timer is scheduled for (meaningful if Pending).
func (t *Timer) When() clock.Time { return t.when }

// Wheel holds the timers of one loop. Not safe for concurrent use.
type Wheel struct {
	now    clock.Time
	timers []*Timer
}

// NewWheel returns a wheel whose current time is now.
func NewWheel(now clock.Time) *Wheel { return &Wheel{now: now} }

// Schedule arms t to fire at at (moving it if already pending). A time in
// the past fires on the next Advance.
func (w *Wheel) Schedule(t *Timer, at clock.Time) {
	t.when = at
	if t.pending {
		return
	}
	t.pending = true
	t.idx = len(w.timers)
	w.timers = append(w.timers, t)
}

// Stop disarms t; a no-op if it is not pending.
func (w *Wheel) Stop(t *Timer) {
	if !t.pending {
		return
	}
	last := w.timers[len(w.timers)-1]
	w.timers[t.idx] = last
	last.idx = t.idx
	w.timers = w.timers[:len(w.timers)-1]
	t.pending = false
}

// Advance moves the wheel's time to now and runs every timer due at or
// before now, in deadline order. A timer's Fn may schedule timers.
func (w *Wheel) Advance(now clock.Time) {
	w.now = now
	for {
		var first *Timer
		for _, t := range w.timers {
			if t.when <= now && (first == nil || t.when < first.when) {
				first = t
			}
		}
		if first == nil {
			return
		}
		w.Stop(first)
		first.Fn(now)
	}
}

// NextDeadline returns the earliest pending deadline.
func (w *Wheel) NextDeadline() (clock.Time, bool) {
	var first clock.Time
	ok := false
	for _, t := range w.timers {
		if !ok || t.when < first {
			first, ok = t.when, true
		}
	}
	return first, ok
}

// Len returns the number of pending timers.
func (w *Wheel) Len() int { return len(w.timers) }

// Package timer is the per-loop hierarchical timing wheel (Varghese and
// Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987, scheme 7).
//
// Each poll loop owns one Wheel. Timers are intrusive: a Timer is embedded
// in its owner (a connection's retransmission, delayed-ACK, keepalive or
// TIME-WAIT timer), so scheduling never allocates and no goroutine or
// time.Timer exists per connection.
//
// # Design
//
// Time is counted in ticks of Tick (1 ms) since the wheel's creation. A
// timer due at time at expires at tick e = ceil(at/Tick), so it never fires
// before at and at most one tick after it. The wheel has NumLevels levels of
// 64 slots; level l holds the timers whose expiry tick e first differs from
// the current tick cur in base-64 digit l, in the slot named by that digit
// of e. Every slot is a doubly linked intrusive list, and each level keeps a
// 64-bit occupancy bitmap.
//
// Schedule and Stop are O(1): compute the level from the highest bit of
// e XOR cur, link or unlink. Advance moves cur to the new tick T. At each
// level it takes the slots whose range now starts at or before T (a bitmask
// of the digits passed, or the whole level when a higher digit changed), so
// a long gap costs one mask operation per level, not one step per tick; the
// timers taken are either due (their deadline is at or before now) or are
// linked again at a lower level. Each timer moves down at most NumLevels
// times in its life, so the loop's cost does not grow with the number of
// idle timers. Due timers run in deadline order.
//
// NumLevels = 6 levels of 64 one-millisecond ticks span 2^36 ms (about
// 795 days), which covers tcp_keepalive_time (7200 s) many times over;
// deadlines beyond that wait in an overflow list that is re-examined when
// the top level wraps.
package timer

import (
	"math/bits"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

const (
	// Tick is the default granularity: timers fire at most one tick late.
	// One millisecond matches the resolution TCP timers need (RFC 6298
	// (2.4) clamps the RTO at one second; Linux's minimum RTO is 200 ms and
	// its delayed-ACK timer 40 ms).
	Tick = time.Millisecond

	levelBits     = 6
	slotsPerLevel = 1 << levelBits
	slotMask      = slotsPerLevel - 1

	// NumLevels is the number of wheel levels: 64^6 ticks.
	NumLevels = 6
	spanBits  = levelBits * NumLevels
)

// Where a timer is linked (Timer.loc).
const (
	locNone     = 0 // not pending
	locExpired  = 1 // due; runs on the next Advance
	locFiring   = 2 // due; running in the current Advance
	locOverflow = 3 // beyond the top level
	locWheel    = 4 // locWheel + level*64 + slot
)

// Timer is one timer, embedded in its owner. Set Fn once before the first
// Schedule; it runs on the loop when the timer expires, with the timer
// itself: an owner with many timers sets one top-level function for all
// and finds itself from the timer's address, where a method value
// (owner.method) would allocate a closure per owner. The zero Timer is not
// pending. A Timer belongs to at most one Wheel and must not be copied
// while pending (the wheel links to its address).
type Timer struct {
	Fn         func(t *Timer, now clock.Time)
	when       clock.Time
	next, prev *Timer
	loc        uint16
}

// Pending reports whether the timer is scheduled. It is false inside the
// timer's own Fn (unless Fn scheduled it again).
func (t *Timer) Pending() bool { return t.loc != locNone }

// When returns the time the timer is scheduled for (meaningful if Pending).
func (t *Timer) When() clock.Time { return t.when }

// Wheel holds the timers of one loop. Not safe for concurrent use.
type Wheel struct {
	now  clock.Time // latest time passed to NewWheel or Advance
	base clock.Time // time of tick 0
	tick uint64     // tick length in nanoseconds
	cur  uint64     // current tick: floor((now-base)/tick)
	n    int        // pending timers

	occ      [NumLevels]uint64 // bit s of occ[l]: slots[l][s] is not empty
	slots    [NumLevels][slotsPerLevel]*Timer
	slotMin  [NumLevels][slotsPerLevel]clock.Time // <= every deadline in the slot
	expired  *Timer                               // due timers waiting for the next Advance
	firing   *Timer                               // due timers of the running Advance, sorted
	overflow *Timer                               // timers beyond 64^NumLevels ticks
	expMin   clock.Time                           // lower bound of the deadlines in expired

	advancing bool
}

// NewWheel returns a wheel whose current time is now, with the default Tick.
func NewWheel(now clock.Time) *Wheel { return NewWheelTick(now, Tick) }

// NewWheelTick returns a wheel whose current time is now and whose
// granularity is tick (at least 1 ns).
func NewWheelTick(now clock.Time, tick time.Duration) *Wheel {
	if tick < 1 {
		tick = 1
	}
	return &Wheel{now: now, base: now, tick: uint64(tick)}
}

// Now returns the wheel's current time (the latest Advance).
func (w *Wheel) Now() clock.Time { return w.now }

// Len returns the number of pending timers.
func (w *Wheel) Len() int { return w.n }

// head returns the list head for a location.
func (w *Wheel) head(loc uint16) **Timer {
	switch loc {
	case locExpired:
		return &w.expired
	case locFiring:
		return &w.firing
	case locOverflow:
		return &w.overflow
	}
	i := loc - locWheel
	return &w.slots[i>>levelBits][i&slotMask]
}

// link pushes t at the front of the list for loc.
func (w *Wheel) link(t *Timer, loc uint16) {
	h := w.head(loc)
	if loc >= locWheel {
		i := loc - locWheel
		if m := &w.slotMin[i>>levelBits][i&slotMask]; *h == nil || t.when < *m {
			*m = t.when
		}
		w.occ[i>>levelBits] |= 1 << (i & slotMask)
	}
	t.prev = nil
	t.next = *h
	if *h != nil {
		(*h).prev = t
	}
	*h = t
	t.loc = loc
}

// unlink removes t from its list.
func (w *Wheel) unlink(t *Timer) {
	h := w.head(t.loc)
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		*h = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	if *h == nil && t.loc >= locWheel {
		i := t.loc - locWheel
		w.occ[i>>levelBits] &^= 1 << (i & slotMask)
	}
	t.next, t.prev, t.loc = nil, nil, locNone
}

// file links t, whose deadline is t.when, where it belongs given w.now and
// w.cur.
func (w *Wheel) file(t *Timer) {
	if t.when <= w.now {
		if w.expired == nil || t.when < w.expMin {
			w.expMin = t.when
		}
		w.link(t, locExpired)
		return
	}
	e := w.tickOf(t.when) // t.when > now >= base + cur*tick, so e > cur
	lvl := (bits.Len64(e^w.cur) - 1) / levelBits
	if lvl >= NumLevels {
		w.link(t, locOverflow)
		return
	}
	slot := (e >> (lvl * levelBits)) & slotMask
	w.link(t, uint16(locWheel+lvl*slotsPerLevel+int(slot)))
}

// tickOf returns the expiry tick of a deadline at > w.base:
// ceil((at-base)/tick).
func (w *Wheel) tickOf(at clock.Time) uint64 {
	rel := uint64(at - w.base)
	e := rel / w.tick
	if rel%w.tick != 0 {
		e++
	}
	return e
}

// Schedule arms t to fire at at, moving it if already pending. A time at or
// before the wheel's current time fires on the next Advance (a timer an Fn
// schedules for now therefore runs on the next Advance, not the current
// one, so a timer rearming itself cannot livelock the loop).
func (w *Wheel) Schedule(t *Timer, at clock.Time) {
	if t.loc != locNone {
		w.unlink(t)
	} else {
		w.n++
	}
	t.when = at
	w.file(t)
}

// Stop disarms t; a no-op if it is not pending. It may be called from any
// Fn, for any timer, including one due in the same Advance.
func (w *Wheel) Stop(t *Timer) {
	if t.loc == locNone {
		return
	}
	w.unlink(t)
	w.n--
}

// Advance moves the wheel's time to now and runs every timer due at or
// before now, in deadline order, each with Fn(now). An Fn may Schedule and
// Stop timers, including itself. A time earlier than the wheel's current
// time does not move it back. Advance called from inside an Fn does nothing.
func (w *Wheel) Advance(now clock.Time) {
	if w.advancing {
		return
	}
	if now > w.now {
		w.now = now
		if T := uint64(w.now-w.base) / w.tick; T > w.cur {
			w.moveTo(T)
		}
	}
	if w.expired == nil {
		return
	}
	// Move the due timers to the firing list, in deadline order.
	f := w.expired
	w.expired = nil
	for t := f; t != nil; t = t.next {
		t.loc = locFiring
	}
	f = sortByWhen(f)
	var prev *Timer
	for t := f; t != nil; t = t.next {
		t.prev = prev
		prev = t
	}
	w.firing = f
	w.advancing = true
	defer func() { w.advancing = false }()
	for w.firing != nil {
		t := w.firing
		w.unlink(t)
		w.n--
		if t.Fn != nil {
			t.Fn(t, w.now)
		}
	}
}

// moveTo advances the current tick to T > w.cur, taking every slot whose
// range starts at or before T and filing its timers again.
func (w *Wheel) moveTo(T uint64) {
	var todo *Timer // singly linked through next
	cur := w.cur
	all := true
	for l := 0; l < NumLevels; l++ {
		shift := uint(l * levelBits)
		var mask uint64
		if T>>(shift+levelBits) != cur>>(shift+levelBits) {
			mask = ^uint64(0) // a higher digit changed: the whole level is reached
		} else {
			cd, td := (cur>>shift)&slotMask, (T>>shift)&slotMask
			mask = (2<<td - 1) &^ (2<<cd - 1) // digits cd+1 .. td
			all = false
		}
		for pull := w.occ[l] & mask; pull != 0; pull &= pull - 1 {
			s := bits.TrailingZeros64(pull)
			t := w.slots[l][s]
			w.slots[l][s] = nil
			for t != nil {
				next := t.next
				t.next = todo
				todo = t
				t = next
			}
		}
		w.occ[l] &^= mask
		if !all {
			break // digits above l are unchanged: higher levels stay put
		}
	}
	if all {
		for t := w.overflow; t != nil; {
			next := t.next
			t.next = todo
			todo = t
			t = next
		}
		w.overflow = nil
	}
	w.cur = T
	for t := todo; t != nil; {
		next := t.next
		t.next, t.prev, t.loc = nil, nil, locNone
		w.file(t)
		t = next
	}
}

// NextDeadline returns a time at or before which the loop must call Advance
// again, and false if no timer is pending. It costs a few bit operations.
// The time is never later than the earliest pending deadline by a tick or
// more: within 64 ticks it is the end of the earliest timer's tick. Further
// away it is the end of the tick of the smallest deadline ever linked into
// the first occupied slot since it was last emptied (exact unless that timer
// was stopped or moved), and never before that slot's start, so sleeping
// until it and calling Advance either fires the timer or narrows the answer:
// at most one early wake-up per level. If a timer is already due it returns
// a time at or before that timer's deadline.
func (w *Wheel) NextDeadline() (clock.Time, bool) {
	if w.firing != nil {
		return w.now, true
	}
	if w.expired != nil {
		return w.expMin, true
	}
	for l := 0; l < NumLevels; l++ {
		if w.occ[l] == 0 {
			continue
		}
		shift := uint(l * levelBits)
		s := uint64(bits.TrailingZeros64(w.occ[l]))
		start := w.cur>>(shift+levelBits)<<(shift+levelBits) | s<<shift
		if l > 0 {
			if e := w.tickOf(w.slotMin[l][s]); e > start {
				start = e
			}
		}
		return w.base + clock.Time(start*w.tick), true
	}
	if w.overflow != nil {
		start := (w.cur>>spanBits + 1) << spanBits
		return w.base + clock.Time(start*w.tick), true
	}
	return 0, false
}

// sortByWhen sorts a list linked through next by deadline (stable merge
// sort, no allocation); prev pointers are left for the caller to fix.
func sortByWhen(h *Timer) *Timer {
	if h == nil || h.next == nil {
		return h
	}
	slow, fast := h, h.next
	for fast != nil && fast.next != nil {
		slow, fast = slow.next, fast.next.next
	}
	b := slow.next
	slow.next = nil
	a := sortByWhen(h)
	b = sortByWhen(b)
	var out *Timer
	p := &out
	for a != nil && b != nil {
		if b.when < a.when {
			*p, b = b, b.next
		} else {
			*p, a = a, a.next
		}
		p = &(*p).next
	}
	if a != nil {
		*p = a
	} else {
		*p = b
	}
	return out
}

// Package clock is the time the protocol code sees: a monotonic count of
// nanoseconds passed in by the caller. Protocol code never calls time.Now;
// the poll loop reads the real clock once per batch and tests move a fake
// one.
package clock

import (
	"sync/atomic"
	"time"
)

// Time is a point on a monotonic clock, in nanoseconds since an arbitrary
// epoch (the loop's start). The zero Time is a valid instant.
type Time int64

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t > u }

// Clock is a source of Time.
type Clock interface {
	Now() Time
}

// Mono is the real monotonic clock, counting from its creation.
type Mono struct{ start time.Time }

// NewMono returns a monotonic clock whose epoch is now.
func NewMono() *Mono { return &Mono{start: time.Now()} }

// Now returns the time since the clock's epoch.
func (m *Mono) Now() Time { return Time(time.Since(m.start)) }

// Epoch returns the wall-clock time of the clock's zero: Time t is the
// wall-clock instant Epoch().Add(time.Duration(t)), within the drift of
// the wall clock since the Mono was made.
func (m *Mono) Epoch() time.Time { return m.start }

// Fake is a clock that moves only when told to. It is safe for concurrent use.
type Fake struct{ t atomic.Int64 }

// Now returns the fake clock's time.
func (f *Fake) Now() Time { return Time(f.t.Load()) }

// Advance moves the fake clock forward by d.
func (f *Fake) Advance(d time.Duration) { f.t.Add(int64(d)) }

// Set sets the fake clock to t.
func (f *Fake) Set(t Time) { f.t.Store(int64(t)) }

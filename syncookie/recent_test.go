package syncookie

import (
	"sync"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

func TestRecentZeroNeverSent(t *testing.T) {
	var r Recent
	for _, now := range []clock.Time{0, 1, t0, -1} {
		if r.Valid(now) {
			t.Errorf("zero Recent: Valid(%d) = true", now)
		}
	}
}

// TestRecentWindow: after a cookie is sent at s, cookie ACKs are checked
// until s + MaxAge*Period (+ the 1 s write resolution), as Linux's
// tcp_synq_no_recent_overflow with TCP_SYNCOOKIE_VALID.
func TestRecentWindow(t *testing.T) {
	var r Recent
	s := t0.Add(10 * time.Second)
	r.Sent(s)
	for _, tc := range []struct {
		at time.Duration
		ok bool
	}{
		{-time.Hour, true}, // another loop's older clock reading
		{0, true},
		{63 * time.Second, true},
		{2 * Period, true},
		{2*Period + time.Second - time.Nanosecond, true},
		{2*Period + time.Second, false},
		{time.Hour, false},
	} {
		if got := r.Valid(s.Add(tc.at)); got != tc.ok {
			t.Errorf("sent at s, Valid(s%+v) = %v, want %v", tc.at, got, tc.ok)
		}
	}
	// Every cookie made at or before the last Sent is still checkable while
	// Check would accept it.
	if !r.Valid(s.Add(2*Period - time.Nanosecond)) {
		t.Error("Recent expired before the last cookie did")
	}
}

// TestRecentZeroTime: a send at clock zero (a valid instant) counts.
func TestRecentZeroTime(t *testing.T) {
	var r Recent
	r.Sent(0)
	if !r.Valid(0) || !r.Valid(clock.Time(Period)) {
		t.Error("send at time 0 not recorded")
	}
}

// TestRecentWriteResolution: Sent stores at most once per second (Linux
// tcp_synq_overflow), and never moves the recorded time backwards.
func TestRecentWriteResolution(t *testing.T) {
	var r Recent
	r.Sent(t0)
	r.Sent(t0.Add(500 * time.Millisecond)) // not stored
	if got := clock.Time(r.last.Load()); got != t0 {
		t.Errorf("recorded %d after a send 0.5 s later, want %d", got, t0)
	}
	r.Sent(t0.Add(-time.Minute)) // a stale clock from another loop: ignored
	if got := clock.Time(r.last.Load()); got != t0 {
		t.Errorf("recorded %d after an older send, want %d", got, t0)
	}
	r.Sent(t0.Add(time.Second)) // stored
	if got := clock.Time(r.last.Load()); got != t0.Add(time.Second) {
		t.Errorf("recorded %d after a send 1 s later, want %d", got, t0.Add(time.Second))
	}
	// The valid window follows the latest stored time.
	if !r.Valid(t0.Add(time.Second + 2*Period)) {
		t.Error("window did not move with the later send")
	}
}

// TestRecentConcurrent: loops send and check at once (run with -race); the
// recorded time ends within the write resolution of the latest send.
func TestRecentConcurrent(t *testing.T) {
	var r Recent
	var wg sync.WaitGroup
	const loops, sends = 4, 5000
	for g := range loops {
		wg.Go(func() {
			for i := range sends {
				now := t0.Add(time.Duration(i)*time.Millisecond + time.Duration(g))
				r.Sent(now)
				if !r.Valid(now) {
					t.Errorf("loop %d: not valid right after sending", g)
					return
				}
			}
		})
	}
	wg.Wait()
	latest := t0.Add(time.Duration(sends-1)*time.Millisecond + loops - 1)
	if last := clock.Time(r.last.Load()); latest.Sub(last) >= sentResolution || last.After(latest) {
		t.Errorf("recorded %v before the latest send", latest.Sub(last))
	}
}

func BenchmarkRecentSentParallel(b *testing.B) {
	var r Recent
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now += clock.Time(time.Microsecond)
			r.Sent(now)
		}
	})
}

package timer

import (
	"encoding/binary"
	"testing"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// FuzzWheel interprets the input as schedule/stop/advance operations on
// eight timers with deadlines across every level and checks the wheel
// against a model: nothing fires early or twice, every timer whose tick has
// ended has fired, Len matches, NextDeadline is never a tick or more late.
func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 3, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		start := clock.Time(0)
		if len(in) >= 8 {
			start = clock.Time(int64(binary.LittleEndian.Uint64(in)) >> 8)
			in = in[8:]
		}
		w := NewWheel(start)
		var ts [8]Timer
		var firedAt [8]clock.Time
		var pending [8]bool
		for i := range ts {
			ts[i].Fn = func(_ *Timer, now clock.Time) {
				if !pending[i] || now < ts[i].When() {
					t.Fatalf("timer %d fired at %v: pending %v, due %v", i, now, pending[i], ts[i].When())
				}
				pending[i] = false
				firedAt[i] = now
			}
		}
		for len(in) >= 9 {
			op, arg := in[0], int64(binary.LittleEndian.Uint64(in[1:9]))
			in = in[9:]
			i := int(op>>2) % len(ts)
			// Spread arguments over every level: shift by up to 47 bits.
			d := clock.Time((arg & 0xffff) << (uint64(arg>>16) % 48))
			switch op & 3 {
			case 0, 1:
				w.Schedule(&ts[i], w.Now()+d-clock.Time(arg>>60))
				pending[i] = true
			case 2:
				w.Stop(&ts[i])
				pending[i] = false
			case 3:
				w.Advance(w.Now() + d)
				for j := range ts {
					if pending[j] && ceilTick(start, ts[j].When(), ms) <= w.Now() {
						t.Fatalf("timer %d due %v not fired at %v", j, ts[j].When(), w.Now())
					}
				}
			}
			n, earliest := 0, clock.Time(1<<63-1)
			for j := range ts {
				if pending[j] {
					n++
					earliest = min(earliest, ts[j].When())
				}
				if pending[j] != ts[j].Pending() {
					t.Fatalf("timer %d Pending %v, model %v", j, ts[j].Pending(), pending[j])
				}
			}
			if w.Len() != n {
				t.Fatalf("Len %d, model %d", w.Len(), n)
			}
			dl, ok := w.NextDeadline()
			if ok != (n > 0) || ok && dl >= earliest+ms && earliest+ms > earliest {
				t.Fatalf("NextDeadline %v %v, earliest %v of %d", dl, ok, earliest, n)
			}
		}
	})
}

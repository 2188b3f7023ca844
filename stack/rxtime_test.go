package stack

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/xsk"
)

// stampedPort is a fakePort whose frames carry receive times, as an
// *xsk.Socket's do (RxTimestamper).
type stampedPort struct {
	*fakePort
	at map[uint64]int64 // frame address -> CLOCK_MONOTONIC ns; absent: none
}

func (p *stampedPort) RxTimestamp(d xsk.Desc) (int64, bool) {
	k, ok := p.at[d.Addr]
	delete(p.at, d.Addr)
	return k, ok
}

// pushAt queues frame with receive time k (kernel nanoseconds; <0: none).
func (p *stampedPort) pushAt(frame []byte, k int64) {
	p.push(frame)
	if k >= 0 {
		p.at[p.rxq[len(p.rxq)-1].Addr] = k
	}
}

// Frames are handled at the time the port says they arrived, mapped onto
// the loop's clock, not at their batch's: never before what the TCP layer
// was already given (the previous batch's time, the frame before), never
// after the batch's own; a frame without a time gets the batch's.
func TestFramesHandledAtReceiveTime(t *testing.T) {
	p := &stampedPort{fakePort: newFakePort(64), at: map[uint64]int64{}}
	start := clock.Time(1000 * time.Second)
	e := NewEngine(Config{Addr: addrUs, PrefixLen: 24, MAC: macUs}, p, start)
	defer e.Close()
	const kOff = 5_000_000_000 // CLOCK_MONOTONIC at the loop clock's zero
	e.kOff, e.kOK = kOff, true
	var got []clock.Time
	e.testInput = func(now clock.Time, _ *tcp.Segment) { got = append(got, now) }
	k := func(t clock.Time) int64 { return int64(t) + kOff }

	prev := start.Add(10 * time.Millisecond)
	e.Poll(prev) // an earlier batch: the TCP layer is at prev
	now := prev.Add(20 * time.Millisecond)
	frame := func(seq uint32) []byte {
		return tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagACK, seq, nil, []byte("x"))
	}
	p.pushAt(frame(1), k(prev.Add(-time.Millisecond)))  // stamped before the layer's time: prev
	p.pushAt(frame(2), k(prev.Add(5*time.Millisecond))) // its own time
	p.pushAt(frame(3), k(prev.Add(3*time.Millisecond))) // before the frame before it: that frame's
	p.pushAt(frame(4), -1)                              // none: the batch's
	p.pushAt(frame(5), k(prev.Add(6*time.Millisecond))) // before the batch's time, which the frame before got: that
	p.pushAt(frame(6), k(now.Add(time.Millisecond)))    // after the batch's time: the batch's
	e.Poll(now)
	want := []clock.Time{prev, prev.Add(5 * time.Millisecond), prev.Add(5 * time.Millisecond), now, now, now}
	if len(got) != len(want) {
		t.Fatalf("%d segments handled, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d handled at %v after the first batch, want %v", i+1, got[i].Sub(prev), want[i].Sub(prev))
		}
	}

	// Without the real clock (kernelOffset), frames keep the batch's time.
	e.kOK = false
	got = nil
	p.pushAt(frame(7), k(now.Add(time.Millisecond)))
	later := now.Add(5 * time.Millisecond)
	e.Poll(later)
	if len(got) != 1 || got[0] != later {
		t.Errorf("without the kernel's clock: handled at %v, want the batch's %v", got, later)
	}
}

// kernelOffset maps the real clock onto CLOCK_MONOTONIC, and refuses any
// other clock.
func TestKernelOffset(t *testing.T) {
	if _, ok := kernelOffset(&clock.Fake{}); ok {
		t.Error("a fake clock was given a kernel offset")
	}
	clk := clock.NewMono()
	off, ok := kernelOffset(clk)
	if !ok {
		t.Fatal("no kernel offset for the real clock")
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if d := time.Duration(ts.Nano() - off - int64(clk.Now())); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("CLOCK_MONOTONIC - offset is %v from the clock's time", d)
	}
}

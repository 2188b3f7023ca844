package stack

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// maxIdleWait bounds one Port.Wait when no timer is pending, so a loop
// re-checks its context even if a wake-up were lost.
const maxIdleWait = time.Second

// txRoomWait bounds one Port.Wait while connections wait for TX frames
// (txroom.go) that the kernel has not completed yet (zero-copy mode;
// in copy mode the kick completes them at once).
const txRoomWait = 100 * time.Microsecond

// runningLoops counts the Runs of this process (every Engine's).
var runningLoops atomic.Int32

// Run is the poll loop: it calls Poll with clk's time until ctx is done.
// When an iteration found no work it waits in Port.Wait until frames
// arrive, Do wakes it, ctx is done, or the next TCP timer is due, or, while
// frames wait for an unresolved next hop, its next request or failure
// (unres.go). With Config.BusyPoll it never waits. It returns nil when ctx
// is done, or the error of Port.Wait.
//
// Port.Wait blocks in poll(2) and the goroutine keeps its P (the Go
// scheduler's processor) through the system call, until the runtime's
// monitor takes it back (after 20 µs to 10 ms). When the loops can hold
// every P (GOMAXPROCS no larger than the loops running in the process:
// one CPU, or one loop per CPU), the goroutines a loop made runnable
// (Engine.Woke: net.Conn readers and writers), or a peer loop in this
// process with frames from us to take (PeerWaker, the in-memory link),
// would wait that long, and their answer would then need a wake-up of
// their own. So, in that case, a loop that finds no work while one of
// those waits first yields its P once (runtime.Gosched) and polls again;
// it sleeps if that poll finds nothing either. Only then: on a locked
// thread (a loop pinned to a CPU) a yield with nothing else to run costs a
// thread hand-over both ways (about 10 µs of CPU here).
//
// Run does not lock its goroutine to the thread; a caller that pins the
// loop to a CPU locks it first (Stack.Start), since the pin holds only for
// that thread. An unpinned loop stays an ordinary goroutine: locked, every
// hand-over between it and the goroutines it wakes would be a switch of OS
// threads (two futex calls), which made a connection between two stacks in
// one process cost 1.6 to 2.5 times as much CPU (make bench-stack).
func (e *Engine) Run(ctx context.Context, clk clock.Clock) error {
	runningLoops.Add(1)
	defer runningLoops.Add(-1)
	// The wake-up on cancel runs in its own goroutine: Run waits for it
	// if it started, so that it never writes to the eventfd after Run
	// returned (Close may have closed it, and the number be reused).
	fd, woken := e.wakeFD, make(chan struct{})
	stop := context.AfterFunc(ctx, func() { wake(fd); close(woken) })
	defer func() {
		if !stop() {
			<-woken
		}
	}()
	// Frames still held for unresolved next hops go back to the port.
	defer e.freeHeld()
	defer e.freeSpare()
	if e.rxts != nil {
		e.kOff, e.kOK = kernelOffset(clk)
	}
	done := ctx.Done()
	yielded := false // the last iteration found no work and yielded
	for {
		select {
		case <-done:
			return nil
		default:
		}
		t0 := clk.Now()
		worked := e.Poll(t0)
		if worked {
			// Loop busy time: one more clock read per iteration that
			// found work (per batch, not per packet).
			e.stats.BusyNanos.Store(e.stats.BusyNanos.Load() + uint64(clk.Now()-t0))
		}
		if worked || e.cfg.BusyPoll {
			yielded = false
			continue
		}
		if !yielded && (e.woke || e.peer != nil && e.peer.PeerPending()) && int(runningLoops.Load()) >= runtime.GOMAXPROCS(0) {
			yielded, e.woke = true, false
			runtime.Gosched()
			continue
		}
		yielded, e.woke = false, false
		e.asleep.Store(true)
		if !e.doq.empty() || ctx.Err() != nil {
			e.asleep.Store(false)
			continue
		}
		timeout := maxIdleWait
		if dl, ok := e.layer.NextDeadline(); ok {
			if d := dl.Sub(clk.Now()); d < timeout {
				timeout = max(d, 0)
			}
		}
		if e.layer.TxBlocked() {
			timeout = min(timeout, txRoomWait)
		}
		if e.pend.pkts > 0 {
			// Frames held for an unresolved next hop: wake for its
			// next request or its failure (expireUnres).
			timeout = min(timeout, max(e.unresNext.Sub(clk.Now()), 0))
		}
		if e.wakeFD < 0 && timeout > time.Millisecond {
			timeout = time.Millisecond // no eventfd: Do is seen by polling
		}
		_, err := e.port.Wait(timeout, e.wakeFD)
		e.asleep.Store(false)
		drainWake(e.wakeFD)
		inc(&e.stats.Wakeups)
		if err != nil {
			return err
		}
	}
}

// kernelOffset returns CLOCK_MONOTONIC at clk's zero, and whether clk is
// the real monotonic clock (clock.Mono counts Go's monotonic time, which is
// CLOCK_MONOTONIC on Linux): then the receive times the XDP program takes
// with bpf_ktime_get_ns map onto the loop's clock. Read between two
// kernel readings, it is off by at most their distance (well under a
// microsecond).
func kernelOffset(clk clock.Clock) (int64, bool) {
	if _, ok := clk.(*clock.Mono); !ok {
		return 0, false
	}
	var a, b unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &a) != nil {
		return 0, false
	}
	c := clk.Now()
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &b) != nil {
		return 0, false
	}
	return (a.Nano()+b.Nano())/2 - int64(c), true
}

// newWakeFD returns a non-blocking eventfd, or -1 if none can be made.
func newWakeFD() int {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1
	}
	return fd
}

func closeWakeFD(fd int) error {
	if fd < 0 {
		return nil
	}
	return unix.Close(fd)
}

// wake makes fd readable.
func wake(fd int) {
	if fd < 0 {
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1) // eventfd: a host-endian uint64
	unix.Write(fd, one[:])
}

// drainWake resets fd's counter.
func drainWake(fd int) {
	if fd < 0 {
		return
	}
	var b [8]byte
	unix.Read(fd, b[:])
}

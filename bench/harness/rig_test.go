package harness

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPinSelf checks that PinSelf moves every thread of the process to
// the CPUs it is given (and refuses a list without one), then puts the
// threads back on the CPUs they had.
func TestPinSelf(t *testing.T) {
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for c := 0; c < 1024; c++ {
		if orig.IsSet(c) {
			cpu = c
			break
		}
	}
	if cpu < 0 {
		t.Fatal("no CPU in this thread's affinity")
	}
	threads := func() []int {
		tids, err := taskIDs("self")
		if err != nil {
			t.Fatal(err)
		}
		return tids
	}
	defer func() {
		for _, tid := range threads() {
			unix.SchedSetaffinity(tid, &orig)
		}
	}()
	if err := PinSelf("nope"); err == nil {
		t.Error("a list without a CPU was accepted")
	}
	if err := PinSelf(strconv.Itoa(cpu)); err != nil {
		t.Fatal(err)
	}
	for _, tid := range threads() {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // the thread has exited
		}
		if set.Count() != 1 || !set.IsSet(cpu) {
			t.Errorf("thread %d: affinity has %d CPUs, CPU %d set: %v", tid, set.Count(), cpu, set.IsSet(cpu))
		}
	}
}

// TestServerCPUProbe checks the probe on this process: a thread that
// blocks 20 times on a pipe, woken each time by another thread, is
// switched in at least 20 times, and its busy time counts.
func TestServerCPUProbe(t *testing.T) {
	var ping, pong [2]int
	if err := unix.Pipe(ping[:]); err != nil {
		t.Fatal(err)
	}
	if err := unix.Pipe(pong[:]); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range append(ping[:], pong[:]...) {
			unix.Close(fd)
		}
	}()
	p := startServerCPUProbe(os.Getpid(), "no-such-dev", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b := make([]byte, 1)
		for i := 0; i < 20; i++ {
			if n, err := unix.Read(ping[0], b); n != 1 || err != nil {
				return
			}
			unix.Write(pong[1], b)
		}
		// 5 ms of this thread's own CPU time, however long a loaded
		// machine takes to give it (wall time let the check fail at
		// 4.4 ms in CI).
		var ts unix.Timespec
		for start := int64(-1); ; {
			if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
				return
			}
			if start < 0 {
				start = ts.Nano()
			}
			if ts.Nano()-start >= int64(5*time.Millisecond) {
				break
			}
		}
	}()
	b := []byte{1}
	for i := 0; i < 20; i++ {
		unix.Write(ping[1], b)
		if n, err := unix.Read(pong[0], b); n != 1 || err != nil {
			t.Fatalf("pong %d: %d, %v", i, n, err)
		}
	}
	<-done
	ns, core, switches := p.Stop()
	if ns < int64(5*time.Millisecond) || switches < 20 || core != 0 {
		t.Errorf("probe: %d ns, %d switches, core %d ns (no CPUs asked: 0)", ns, switches, core)
	}
	if _, ok := taskSched("/proc/self/task/0/schedstat"); ok {
		t.Error("taskSched read a task that does not exist")
	}
}

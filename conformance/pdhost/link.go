package pdhost

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/xsk"
)

// link is the engine's Port: an in-memory Ethernet link whose far end is
// packetdrill (netdev_send / netdev_receive). Frames the engine transmits
// are stamped with the wall-clock time at Transmit, so packetdrill checks
// the time the stack sent a packet, not the time it was sniffed. Frames
// packetdrill sends are stamped with the CLOCK_MONOTONIC time of
// netdev_send (stack.RxTimestamper), as the XDP filter stamps a frame
// when the driver hands it over: the engine handles each at that time,
// as Linux handles a packet written to its tun device within the write,
// so the RTT samples and timers of a script do not count how long the
// frame waited for the loop on a loaded machine.
type link struct {
	frameSize int

	mu    sync.Mutex
	mem   []byte
	free  []uint32
	rxq   []xsk.Desc // frames for the engine
	rxFD  int        // eventfd: readable when rxq is not empty
	stamp []int64    // per frame: CLOCK_MONOTONIC ns of its inject; 0 for none

	outMu  sync.Mutex
	out    []stamped // frames from the engine for packetdrill, oldest first
	outMax int
	outFD  int // eventfd: readable when out is not empty
	drops  uint64
}

type stamped struct {
	frame []byte
	usecs int64
}

func newLink(frames, frameSize int) (*link, error) {
	l := &link{frameSize: frameSize, mem: make([]byte, frames*frameSize), stamp: make([]int64, frames), outMax: frames}
	for i := frames - 1; i >= 0; i-- {
		l.free = append(l.free, uint32(i))
	}
	var err error
	if l.rxFD, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return nil, err
	}
	if l.outFD, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(l.rxFD)
		return nil, err
	}
	return l, nil
}

func (l *link) close() {
	unix.Close(l.rxFD)
	unix.Close(l.outFD)
}

func signalFD(fd int) {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(fd, one[:])
}

func drainFD(fd int) {
	var b [8]byte
	unix.Read(fd, b[:])
}

func (l *link) frame(i uint32) []byte {
	o := int(i) * l.frameSize
	return l.mem[o : o+l.frameSize : o+l.frameSize]
}

func (l *link) index(d xsk.Desc) (uint32, bool) {
	fs := uint64(l.frameSize)
	if d.Addr%fs != 0 || d.Addr/fs >= uint64(len(l.mem)/l.frameSize) || uint64(d.Len) > fs {
		return 0, false
	}
	return uint32(d.Addr / fs), true
}

// Receive implements stack.Port.
func (l *link) Receive(descs []xsk.Desc) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := copy(descs, l.rxq)
	l.rxq = append(l.rxq[:0], l.rxq[n:]...)
	return n
}

// Frame implements stack.Port.
func (l *link) Frame(d xsk.Desc) []byte {
	i, ok := l.index(d)
	if !ok {
		return nil
	}
	return l.frame(i)[:d.Len]
}

// FrameCap implements stack.Port.
func (l *link) FrameCap(d xsk.Desc) []byte {
	i, ok := l.index(d)
	if !ok {
		return nil
	}
	return l.frame(i)
}

// RxTimestamp implements stack.RxTimestamper: the time packetdrill sent
// the frame of d.
func (l *link) RxTimestamp(d xsk.Desc) (int64, bool) {
	i, ok := l.index(d)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stamp[i], l.stamp[i] != 0
}

// Release implements stack.Port.
func (l *link) Release(descs []xsk.Desc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range descs {
		if i, ok := l.index(d); ok {
			l.stamp[i] = 0
			l.free = append(l.free, i)
		}
	}
}

// AllocTx implements stack.Port.
func (l *link) AllocTx() (xsk.Desc, []byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) == 0 {
		return xsk.Desc{}, nil, false
	}
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return xsk.Desc{Addr: uint64(i) * uint64(l.frameSize)}, l.frame(i), true
}

// FreeTx implements stack.Port.
func (l *link) FreeTx(d xsk.Desc) { l.Release([]xsk.Desc{d}) }

// Transmit implements stack.Port: every frame is copied to the queue
// packetdrill reads, stamped with the current wall-clock time.
func (l *link) Transmit(descs []xsk.Desc) int {
	now := time.Now().UnixMicro()
	l.outMu.Lock()
	wasEmpty := len(l.out) == 0
	for _, d := range descs {
		b := l.Frame(d)
		if b == nil {
			continue
		}
		if len(l.out) >= l.outMax {
			l.drops++
			continue
		}
		l.out = append(l.out, stamped{frame: append([]byte(nil), b...), usecs: now})
	}
	l.outMu.Unlock()
	if wasEmpty {
		signalFD(l.outFD)
	}
	l.Release(descs)
	return len(descs)
}

// Flush implements stack.Port.
func (l *link) Flush() error { return nil }

// Wait implements stack.Port.
func (l *link) Wait(timeout time.Duration, wakeFD int) (bool, error) {
	drainFD(l.rxFD)
	l.mu.Lock()
	pending := len(l.rxq) > 0
	l.mu.Unlock()
	if pending {
		return true, nil
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	fds := [2]unix.PollFd{{Fd: int32(l.rxFD), Events: unix.POLLIN}, {Fd: int32(wakeFD), Events: unix.POLLIN}}
	n := 2
	if wakeFD < 0 {
		n = 1
	}
	_, err := unix.Poll(fds[:n], ms)
	if err == unix.EINTR {
		err = nil
	}
	l.mu.Lock()
	pending = len(l.rxq) > 0
	l.mu.Unlock()
	return pending, err
}

// monoNow is the CLOCK_MONOTONIC time in nanoseconds, the receive
// time's clock (stack.RxTimestamper); 0, "no time", if it cannot be read.
func monoNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// inject queues an Ethernet frame for the engine; false if the link is
// full or the frame too large.
func (l *link) inject(frame []byte) bool {
	now := monoNow()
	l.mu.Lock()
	if len(l.free) == 0 || len(frame) > l.frameSize {
		l.mu.Unlock()
		return false
	}
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	n := copy(l.frame(i), frame)
	l.stamp[i] = now
	l.rxq = append(l.rxq, xsk.Desc{Addr: uint64(i) * uint64(l.frameSize), Len: uint32(n)})
	l.mu.Unlock()
	signalFD(l.rxFD)
	return true
}

// sniff returns the oldest frame the engine transmitted, waiting up to
// timeout (negative: no limit); ok is false if none came.
func (l *link) sniff(timeout time.Duration) (frame []byte, usecs int64, ok bool) {
	deadline := time.Now().Add(timeout)
	for {
		drainFD(l.outFD)
		l.outMu.Lock()
		if len(l.out) > 0 {
			s := l.out[0]
			copy(l.out, l.out[1:])
			l.out = l.out[:len(l.out)-1]
			more := len(l.out) > 0
			l.outMu.Unlock()
			if more {
				signalFD(l.outFD)
			}
			return s.frame, s.usecs, true
		}
		l.outMu.Unlock()
		ms := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, 0, false
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		fds := [1]unix.PollFd{{Fd: int32(l.outFD), Events: unix.POLLIN}}
		unix.Poll(fds[:], ms)
	}
}

package stack

import (
	"bytes"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/xsk"
)

const fakeFrameSize = 2048

// fakePort is a Port for tests: frames to receive are queued with push;
// transmitted frames are captured (copied) when capture is set. Single
// goroutine except Wait, which polls only the wake fd.
type fakePort struct {
	mem      []byte
	free     []uint64
	rxq      []xsk.Desc
	sent     [][]byte
	capture  bool
	txLimit  int // Transmit takes at most this many per call; <0: no limit
	noFrames bool
	nsent    int
	inLoop   int // frames handed out and not returned
}

func newFakePort(frames int) *fakePort {
	p := &fakePort{mem: make([]byte, frames*fakeFrameSize), capture: true, txLimit: -1}
	for i := frames - 1; i >= 0; i-- {
		p.free = append(p.free, uint64(i*fakeFrameSize))
	}
	return p
}

// push queues frame for Receive.
func (p *fakePort) push(frame []byte) {
	a := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	n := copy(p.mem[a:a+fakeFrameSize], frame)
	p.rxq = append(p.rxq, xsk.Desc{Addr: a, Len: uint32(n)})
}

func (p *fakePort) Receive(descs []xsk.Desc) int {
	n := copy(descs, p.rxq)
	p.rxq = p.rxq[:copy(p.rxq, p.rxq[n:])]
	p.inLoop += n
	return n
}

func (p *fakePort) Frame(d xsk.Desc) []byte    { return p.mem[d.Addr : d.Addr+uint64(d.Len)] }
func (p *fakePort) FrameCap(d xsk.Desc) []byte { return p.mem[d.Addr : d.Addr+fakeFrameSize] }

func (p *fakePort) Release(descs []xsk.Desc) {
	for _, d := range descs {
		p.free = append(p.free, d.Addr)
		p.inLoop--
	}
}

func (p *fakePort) AllocTx() (xsk.Desc, []byte, bool) {
	if p.noFrames || len(p.free) == 0 {
		return xsk.Desc{}, nil, false
	}
	a := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	b := p.mem[a : a+fakeFrameSize : a+fakeFrameSize]
	for i := range b {
		b[i] = 0xa5 // a reused UMEM frame still holds old bytes
	}
	p.inLoop++
	return xsk.Desc{Addr: a}, b, true
}

func (p *fakePort) Transmit(descs []xsk.Desc) int {
	n := len(descs)
	if p.txLimit >= 0 && n > p.txLimit {
		n = p.txLimit
	}
	for _, d := range descs[:n] {
		if p.capture {
			p.sent = append(p.sent, bytes.Clone(p.Frame(d)))
		}
		p.nsent++
		p.free = append(p.free, d.Addr)
		p.inLoop--
	}
	return n
}

func (p *fakePort) FreeTx(d xsk.Desc) {
	p.free = append(p.free, d.Addr)
	p.inLoop--
}

func (p *fakePort) Flush() error { return nil }

func (p *fakePort) Wait(timeout time.Duration, wakeFD int) (bool, error) {
	if len(p.rxq) > 0 {
		return true, nil
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	if wakeFD < 0 {
		return false, nil
	}
	fds := []unix.PollFd{{Fd: int32(wakeFD), Events: unix.POLLIN}}
	_, err := unix.Poll(fds, ms)
	if err == unix.EINTR {
		err = nil
	}
	return false, err
}

// take returns and clears the captured frames.
func (p *fakePort) take() [][]byte {
	s := p.sent
	p.sent = nil
	return s
}

package impair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// direction moves frames from one leg to the other through a Pipe. rxLoop
// and txLoop run on their own goroutines and share the pipe under mu; the
// buffers and closures are built once so the loops do not allocate per
// frame.
type direction struct {
	in, out *leg
	clk     *clock.Mono

	mu      sync.Mutex
	pipe    *Pipe // guarded by mu
	rxDrops uint64
	wake    chan struct{} // capacity 1: a frame was queued

	// Receive side, owned by rxLoop.
	rxHdrs  []unix.Mmsghdr
	rxIovs  []unix.Iovec
	rxNames []unix.RawSockaddrLinklayer
	rxBuf   []byte
	rxSize  int
	rxN     int
	rxErr   error
	rxFn    func(fd uintptr) bool

	// Transmit side, owned by txLoop.
	txFrames []Frame
	txHdrs   []unix.Mmsghdr
	txIovs   []unix.Iovec
	txN      int // frames in the batch
	txOff    int // frames done (sent or failed)
	txErrs   uint64
	txFn     func(fd uintptr) bool
}

func newDirection(in, out *leg, p *Pipe, frameSize int, clk *clock.Mono) *direction {
	d := &direction{
		in: in, out: out, clk: clk, pipe: p,
		wake:     make(chan struct{}, 1),
		rxHdrs:   make([]unix.Mmsghdr, batch),
		rxIovs:   make([]unix.Iovec, batch),
		rxNames:  make([]unix.RawSockaddrLinklayer, batch),
		rxBuf:    make([]byte, batch*frameSize),
		rxSize:   frameSize,
		txFrames: make([]Frame, batch),
		txHdrs:   make([]unix.Mmsghdr, batch),
		txIovs:   make([]unix.Iovec, batch),
	}
	for i := range d.rxHdrs {
		d.rxIovs[i].Base = &d.rxBuf[i*frameSize]
		d.rxIovs[i].SetLen(frameSize)
		h := &d.rxHdrs[i].Hdr
		h.Iov = &d.rxIovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&d.rxNames[i]))
		th := &d.txHdrs[i].Hdr
		th.Iov = &d.txIovs[i]
		th.SetIovlen(1)
	}
	d.rxFn = d.recv
	d.txFn = d.send
	return d
}

// recv is the RawConn.Read callback: one recvmmsg. It returns false to wait
// for readability on EAGAIN.
func (d *direction) recv(fd uintptr) bool {
	for i := range d.rxHdrs {
		d.rxHdrs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		d.rxHdrs[i].Hdr.Flags = 0
		d.rxHdrs[i].Len = 0
	}
	for {
		// MSG_TRUNC: a packet socket reports a frame's real length even
		// when it was longer than the buffer, so oversize frames are seen.
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&d.rxHdrs[0])),
			uintptr(len(d.rxHdrs)), unix.MSG_TRUNC, 0, 0)
		switch e {
		case 0:
			d.rxN, d.rxErr = int(r), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			d.rxN, d.rxErr = 0, e
			return true
		}
	}
}

// rxLoop reads frames from the ingress leg and queues them in the pipe.
func (d *direction) rxLoop(ctx context.Context) error {
	for {
		if err := d.in.rc.Read(d.rxFn); err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("impair: read %s: %w", d.in.name, err)
		}
		if d.rxErr != nil {
			if ctx.Err() != nil {
				return nil
			}
			if d.rxErr == unix.ENETDOWN || d.rxErr == unix.ENOBUFS {
				continue // transient: the leg went down or the kernel ran short
			}
			return fmt.Errorf("impair: recvmmsg %s: %w", d.in.name, d.rxErr)
		}
		now := d.clk.Now()
		queued := false
		d.mu.Lock()
		for i := 0; i < d.rxN; i++ {
			if d.rxNames[i].Pkttype == unix.PACKET_OUTGOING {
				continue // a frame written on this leg, by us or the kernel
			}
			n := int(d.rxHdrs[i].Len)
			if n > d.rxSize {
				c := d.pipe.Counters()
				c.InFrames++
				c.InBytes += uint64(n)
				c.Oversize++
				continue
			}
			before := d.pipe.Len()
			d.pipe.Ingest(now, d.rxBuf[i*d.rxSize:i*d.rxSize+n])
			queued = queued || d.pipe.Len() > before
		}
		d.mu.Unlock()
		if queued {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
}

// send is the RawConn.Write callback: sendmmsg until the batch is done. A
// frame the kernel refuses (ENOBUFS when the peer's backlog is full, for
// instance) is counted in TxErrors and skipped, as a link would lose it.
func (d *direction) send(fd uintptr) bool {
	for d.txOff < d.txN {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&d.txHdrs[d.txOff])),
			uintptr(d.txN-d.txOff), 0, 0, 0)
		switch e {
		case 0:
			d.txOff += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			d.txErrs++
			d.txOff++
		}
	}
	return true
}

// txLoop sleeps until the next frame is due and writes the due frames to
// the egress leg.
func (d *direction) txLoop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		now := d.clk.Now()
		n := d.pipe.Pop(now, d.txFrames)
		next, ok := d.pipe.Next()
		d.mu.Unlock()
		if n > 0 {
			for i := 0; i < n; i++ {
				data := d.txFrames[i].Data
				d.txIovs[i].Base = &data[0]
				d.txIovs[i].SetLen(len(data))
			}
			d.txN, d.txOff = n, 0
			werr := d.out.rc.Write(d.txFn)
			d.mu.Lock()
			for i := 0; i < n; i++ {
				d.pipe.Release(d.txFrames[i].Slot)
			}
			c := d.pipe.Counters()
			c.TxErrors += d.txErrs
			c.OutFrames -= d.txErrs
			d.txErrs = 0
			d.mu.Unlock()
			if werr != nil {
				if ctx.Err() != nil || errors.Is(werr, os.ErrClosed) {
					return nil
				}
				return fmt.Errorf("impair: write %s: %w", d.out.name, werr)
			}
			continue // more may be due
		}
		wait := time.Hour
		if ok {
			wait = max(next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// stats snapshots the direction's counters.
func (d *direction) stats() DirStats {
	drops := d.in.rxDrops()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rxDrops += drops
	s := d.pipe.Stats()
	s.RxDrops = d.rxDrops
	return s
}

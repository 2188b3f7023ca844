package xsk

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A fake kernel for unit tests that need no root: the socket's rings and
// UMEM live in Go memory and fakeKernel plays the kernel's side of the ring
// protocol (consume fill, produce RX; consume TX, produce completion).

const fakeHdr = 192 // producer at 0, consumer at 64, flags at 128, entries at 192

func fakeRing(size uint32, entSize uintptr) (ring, unix.XDPRingOffset) {
	mem := make([]byte, fakeHdr+int(size)*int(entSize))
	off := unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: fakeHdr}
	return ring{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		flags:    (*uint32)(unsafe.Pointer(&mem[off.Flags])),
		mask:     size - 1,
		size:     size,
	}, off
}

// newFakeSocket builds a Socket over Go memory, as Open would after bind
// (needWakeup on, no flags set, so Flush never makes a syscall). Never Close
// it: Close would munmap Go memory.
func newFakeSocket(t testing.TB, cfg Config) (*Socket, *fakeKernel) {
	t.Helper()
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	u := umemOver(make([]byte, cfg.NumFrames*cfg.FrameSize), cfg.NumFrames, cfg.FrameSize)
	s := &Socket{fd: -1, cfg: cfg, um: u, needWakeup: true, mode: BindCopy}
	r, off := fakeRing(uint32(cfg.FillSize), 8)
	s.fill = fillRing{ring: r, addrs: unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off.Desc])), r.size)}
	r, off = fakeRing(uint32(cfg.CompSize), 8)
	s.comp = completionRing{ring: r, addrs: unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off.Desc])), r.size)}
	r, off = fakeRing(uint32(cfg.RxSize), 16)
	s.rx = rxRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&r.mem[off.Desc])), r.size)}
	r, off = fakeRing(uint32(cfg.TxSize), 16)
	s.tx = txRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&r.mem[off.Desc])), r.size)}
	s.reserve = max(cfg.NumFrames-cfg.FillSize, cfg.NumFrames/2)
	s.refill()
	s.snapshot()
	return s, &fakeKernel{s: s}
}

type fakeKernel struct {
	s    *Socket
	seq  uint32   // sequence number written into delivered frames
	sent []uint32 // sequence numbers read from transmitted frames
}

// deliver receives up to n frames of plen bytes (at least 4): takes fill
// entries, writes a sequence number at the packet start, and publishes RX
// descriptors at base+XDP_PACKET_HEADROOM, like copy mode.
func (k *fakeKernel) deliver(n int, plen uint32) int {
	f, r := &k.s.fill, &k.s.rx
	fp, fc := atomic.LoadUint32(f.producer), atomic.LoadUint32(f.consumer)
	rp, rc := atomic.LoadUint32(r.producer), atomic.LoadUint32(r.consumer)
	i := 0
	for ; i < n && fc != fp && rp-rc < r.size; i++ {
		addr := f.addrs[fc&f.mask] + XDPPacketHeadroom
		fc++
		k.seq++
		*(*uint32)(unsafe.Pointer(&k.s.um.mem[addr])) = k.seq
		r.descs[rp&r.mask] = unix.XDPDesc{Addr: addr, Len: plen}
		rp++
	}
	atomic.StoreUint32(f.consumer, fc)
	atomic.StoreUint32(r.producer, rp)
	return i
}

// transmit consumes up to n TX descriptors, records the sequence number
// in each frame and completes them.
func (k *fakeKernel) transmit(n int) int {
	t, c := &k.s.tx, &k.s.comp
	tp, tc := atomic.LoadUint32(t.producer), atomic.LoadUint32(t.consumer)
	cp, cc := atomic.LoadUint32(c.producer), atomic.LoadUint32(c.consumer)
	i := 0
	for ; i < n && tc != tp && cp-cc < c.size; i++ {
		d := t.descs[tc&t.mask]
		tc++
		k.sent = append(k.sent, *(*uint32)(unsafe.Pointer(&k.s.um.mem[d.Addr])))
		c.addrs[cp&c.mask] = d.Addr
		cp++
	}
	atomic.StoreUint32(t.consumer, tc)
	atomic.StoreUint32(c.producer, cp)
	return i
}

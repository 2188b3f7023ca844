package xsk

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// txRing is the TX ring: we produce descriptors of frames to send.
type txRing struct {
	ring
	descs []unix.XDPDesc // the entries, len size, in the mapping
}

func mapTx(fd int, off unix.XDPRingOffset, size uint32) (txRing, error) {
	r, err := mapRing(fd, off, size, unsafe.Sizeof(unix.XDPDesc{}), unix.XDP_PGOFF_TX_RING)
	if err != nil {
		return txRing{}, err
	}
	return txRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&r.mem[off.Desc])), size)}, nil
}

// put publishes as many of descs as fit and returns how many went.
func (t *txRing) put(descs []Desc) int {
	n := t.prodReserve(uint32(len(descs)))
	idx := t.cachedProd
	for i := uint32(0); i < n; i++ {
		t.descs[(idx+i)&t.mask] = unix.XDPDesc{Addr: descs[i].Addr, Len: descs[i].Len}
	}
	if n > 0 {
		t.prodSubmit(n)
	}
	return int(n)
}

// unconsumed reports whether descriptors we published are still waiting for
// the kernel to consume them (acquire load of the consumer index).
func (t *txRing) unconsumed() bool {
	t.cachedCons = atomic.LoadUint32(t.consumer)
	return t.cachedCons != t.cachedProd
}

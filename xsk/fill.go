package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// fillRing is the UMEM fill ring: we produce frame addresses the kernel may
// receive into.
type fillRing struct {
	ring
	addrs []uint64 // the entries, len size, in the mapping
}

func mapFill(fd int, off unix.XDPRingOffset, size uint32) (fillRing, error) {
	r, err := mapRing(fd, off, size, 8, unix.XDP_UMEM_PGOFF_FILL_RING)
	if err != nil {
		return fillRing{}, err
	}
	return fillRing{ring: r, addrs: unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off.Desc])), size)}, nil
}

// put publishes as many of addrs as fit and returns how many went.
func (f *fillRing) put(addrs []uint64) int {
	n := f.prodReserve(uint32(len(addrs)))
	idx := f.cachedProd
	for i := uint32(0); i < n; i++ {
		f.addrs[(idx+i)&f.mask] = addrs[i]
	}
	if n > 0 {
		f.prodSubmit(n)
	}
	return int(n)
}

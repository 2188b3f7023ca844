package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// completionRing is the UMEM completion ring: the kernel produces the
// addresses of frames it has finished transmitting.
type completionRing struct {
	ring
	addrs []uint64 // the entries, len size, in the mapping
}

func mapCompletion(fd int, off unix.XDPRingOffset, size uint32) (completionRing, error) {
	r, err := mapRing(fd, off, size, 8, unix.XDP_UMEM_PGOFF_COMPLETION_RING)
	if err != nil {
		return completionRing{}, err
	}
	return completionRing{ring: r, addrs: unsafe.Slice((*uint64)(unsafe.Pointer(&r.mem[off.Desc])), size)}, nil
}

// take moves up to len(dst) completed addresses into dst and returns how
// many.
func (c *completionRing) take(dst []uint64) int {
	n := c.consPeek(uint32(len(dst)))
	idx := c.cachedCons
	for i := uint32(0); i < n; i++ {
		dst[i] = c.addrs[(idx+i)&c.mask]
	}
	if n > 0 {
		c.consRelease(n)
	}
	return int(n)
}

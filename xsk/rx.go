package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxRing is the RX ring: the kernel produces descriptors of received
// frames.
type rxRing struct {
	ring
	descs []unix.XDPDesc // the entries, len size, in the mapping
}

func mapRx(fd int, off unix.XDPRingOffset, size uint32) (rxRing, error) {
	r, err := mapRing(fd, off, size, unsafe.Sizeof(unix.XDPDesc{}), unix.XDP_PGOFF_RX_RING)
	if err != nil {
		return rxRing{}, err
	}
	return rxRing{ring: r, descs: unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&r.mem[off.Desc])), size)}, nil
}

// take moves up to len(dst) received descriptors into dst and returns how
// many.
func (x *rxRing) take(dst []Desc) int {
	n := x.consPeek(uint32(len(dst)))
	idx := x.cachedCons
	for i := uint32(0); i < n; i++ {
		d := &x.descs[(idx+i)&x.mask]
		dst[i] = Desc{Addr: d.Addr, Len: d.Len}
	}
	if n > 0 {
		x.consRelease(n)
	}
	return int(n)
}

// pending reports whether frames wait on the ring (acquire load).
func (x *rxRing) pending() bool {
	return x.consPeek(1) > 0
}

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
// many. It takes whole packets only: a multi-buffer packet whose last
// descriptor (the one without XDP_PKT_CONTD) is not among the first
// len(dst) stays on the ring for the next call, unless it alone fills dst
// (a packet longer than the batch): then the n descriptors are taken and
// long reports it, and the caller drops them and the rest of the packet.
func (x *rxRing) take(dst []Desc) (n int, long bool) {
	avail := x.consPeek(uint32(len(dst)))
	idx := x.cachedCons
	for i := uint32(0); i < avail; i++ {
		d := &x.descs[(idx+i)&x.mask]
		dst[i] = Desc{Addr: d.Addr, Len: d.Len, Options: d.Options & DescContd}
	}
	m := avail
	for m > 0 && dst[m-1].Options&DescContd != 0 {
		m--
	}
	if m == 0 && avail > 0 && avail == uint32(len(dst)) {
		m, long = avail, true
	}
	if m > 0 {
		x.consRelease(m)
	}
	return int(m), long
}

// pending reports whether frames wait on the ring (acquire load).
func (x *rxRing) pending() bool {
	return x.consPeek(1) > 0
}

package xsk

import "encoding/binary"

// RxMetaLen is the size of the receive time the filter puts before each
// packet it redirects: the CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns)
// when the XDP program ran, then their complement, in host byte order.
// As XDP metadata, which AF_XDP copies along with the packet, in copy
// mode too, it sits in the frame's headroom just before the packet; on
// kernels that refuse bpf_xdp_adjust_meta it is a prefix of the packet
// that Receive strips, which leaves it just before the packet too.
const RxMetaLen = 16

// RxTimestamp returns when the XDP program saw the packet of a received
// descriptor (the first of a multi-buffer chain), in CLOCK_MONOTONIC
// nanoseconds, and false if the frame carries no such time: a driver
// without room for metadata, or a program other than this package's
// filter (RxNoTimestamp counts them). It clears the metadata, so a frame
// that comes back through the fill ring never shows an old time.
func (s *Socket) RxTimestamp(d Desc) (int64, bool) {
	if !s.um.valid(d.Addr) || d.Addr-s.um.base(d.Addr) < RxMetaLen {
		s.cnt.rxNoTimestamp.Add(1)
		return 0, false
	}
	m := s.um.mem[d.Addr-RxMetaLen : d.Addr]
	t, ok := stampAt(m)
	clear(m)
	if !ok {
		s.cnt.rxNoTimestamp.Add(1)
		return 0, false
	}
	return t, true
}

// stampAt reads a receive time from the 16 bytes of m: the time and its
// complement, the time positive.
func stampAt(m []byte) (int64, bool) {
	t, check := binary.NativeEndian.Uint64(m), binary.NativeEndian.Uint64(m[8:])
	if t == 0 || check != ^t || int64(t) < 0 {
		return 0, false
	}
	return int64(t), true
}

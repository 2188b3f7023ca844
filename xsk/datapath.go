package xsk

import (
	"time"

	"golang.org/x/sys/unix"
)

// Receive takes up to len(descs) received frames from the RX ring into
// descs and returns how many. The loop owns them until it passes them to
// Release or Transmit. One acquire load and one release store per call.
//
// On a multi-buffer socket a packet may take several descriptors (all but
// its last marked DescContd); Receive returns whole packets only. A packet
// of more descriptors than len(descs) cannot be returned: it is given back
// to the fill ring and counted (RxTooLong); pass at least
// MaxDescsPerPacket descriptors to receive every packet the MTU allows.
func (s *Socket) Receive(descs []Desc) int {
	for {
		n, long := s.rx.take(descs)
		if n == 0 {
			return 0
		}
		for i := range descs[:n] {
			if s.um.valid(descs[i].Addr) { // the kernel only hands out UMEM addresses
				s.um.setOwner(descs[i].Addr, ownLoop)
			}
		}
		s.loopFrames += n
		s.cnt.rxFrames.Add(uint64(n))
		k := 0 // descs[:k] belong to an over-long packet: dropped
		switch {
		case long:
			if !s.rxSkip {
				s.cnt.rxTooLong.Add(1)
			}
			s.rxSkip, k = true, n
		case s.rxSkip:
			for k < n {
				k++
				if descs[k-1].Options&DescContd == 0 {
					break
				}
			}
			s.rxSkip = false
		}
		if k == 0 {
			s.stripStamps(descs[:n])
			return n
		}
		s.Release(descs[:k])
		if k < n {
			n = copy(descs, descs[k:n])
			s.stripStamps(descs[:n])
			return n
		}
	}
}

// stripStamps takes the filter's receive-time prefix (stampHead) off the
// first descriptor of each packet in descs (whole packets): the packet
// then starts after it, and the 16 bytes just before it are the time and
// its complement that RxTimestamp reads, as with XDP metadata. A packet
// without a valid prefix (the filter had no headroom) is left as it is.
func (s *Socket) stripStamps(descs []Desc) {
	if !s.stampHead.Load() {
		return
	}
	first := true
	for i := range descs {
		d := &descs[i]
		if first && d.Len >= RxMetaLen && s.um.valid(d.Addr) && d.Addr+uint64(d.Len) <= s.um.base(d.Addr)+s.um.frameSize {
			if _, ok := stampAt(s.um.mem[d.Addr : d.Addr+RxMetaLen]); ok {
				d.Addr += RxMetaLen
				d.Len -= RxMetaLen
			}
		}
		first = d.Options&DescContd == 0
	}
}

// Frame returns the packet bytes of d, UMEM[Addr, Addr+Len), with capacity
// ending at the end of d's frame. It returns nil for a descriptor that does
// not lie inside one frame of this UMEM (never panics).
func (s *Socket) Frame(d Desc) []byte {
	if !s.um.valid(d.Addr) {
		return nil
	}
	end := s.um.base(d.Addr) + s.um.frameSize
	if uint64(d.Len) > end-d.Addr {
		return nil
	}
	return s.um.mem[d.Addr : d.Addr+uint64(d.Len) : end]
}

// FrameCap returns the buffer from d.Addr to the end of its frame (FrameSize
// bytes for a frame from AllocTx, FrameSize-XDPPacketHeadroom for a received
// one), to build a packet into. Nil for an address outside the UMEM.
func (s *Socket) FrameCap(d Desc) []byte {
	if !s.um.valid(d.Addr) {
		return nil
	}
	end := s.um.base(d.Addr) + s.um.frameSize
	return s.um.mem[d.Addr:end:end]
}

// Release gives received (or allocated) frames back: onto the fill ring,
// and onto the free list once the fill ring is full. Descriptors of frames
// the loop does not hold (outside the UMEM, already released, on a ring) are
// ignored and counted (InvalidDescs).
func (s *Socket) Release(descs []Desc) {
	f := &s.fill
	room := f.prodReserve(uint32(len(descs)))
	idx := f.cachedProd
	w := uint32(0)
	for i := range descs {
		a := descs[i].Addr
		if !s.um.ownedByLoop(a) {
			s.cnt.invalidDescs.Add(1)
			continue
		}
		s.loopFrames--
		if w < room {
			f.addrs[(idx+w)&f.mask] = s.um.base(a)
			s.um.setOwner(a, ownKernelRx)
			w++
		} else {
			s.um.push(a)
		}
	}
	if w > 0 {
		f.prodSubmit(w)
	}
}

// AllocTx returns a free frame to build a packet into: its descriptor
// (Len 0; set Len before Transmit) and its buffer: the whole FrameSize
// frame, less the TX metadata area in front on a socket with
// TxChecksumOffload. When the
// free list is empty it first drains the completion ring; if still nothing
// is free it returns false and counts NoFreeFrame.
func (s *Socket) AllocTx() (Desc, []byte, bool) {
	a, ok := s.um.pop()
	if !ok {
		s.drainCompletions()
		if a, ok = s.um.pop(); !ok {
			s.cnt.noFreeFrame.Add(1)
			return Desc{}, nil, false
		}
	}
	s.loopFrames++
	s.um.setOwner(a, ownLoop)
	end := a + s.um.frameSize
	a += s.um.txMeta // the TX metadata area, when there is one, comes first
	return Desc{Addr: a}, s.um.mem[a:end:end], true
}

// FreeTx gives back a frame that was allocated (or received) and will not
// be sent; it goes to the free list. A frame the loop does not hold is
// ignored and counted (InvalidDescs).
func (s *Socket) FreeTx(d Desc) {
	if !s.um.ownedByLoop(d.Addr) {
		s.cnt.invalidDescs.Add(1)
		return
	}
	s.loopFrames--
	s.um.push(d.Addr)
}

// Transmit puts frames the loop owns (allocated or received) on the TX ring
// with their Len and Options and returns how many went: a prefix of descs.
// The rest stay the caller's. A full TX ring is counted (TxRingFull).
//
// Only whole packets are published: a multi-buffer packet (descriptors
// marked DescContd up to one that is not, on a socket bound with
// XDP_USE_SG) goes entirely or not at all, since the kernel would join the
// next packet onto a partial one. A descriptor that the kernel would reject
// (outside the UMEM, Len 0, or crossing the end of its frame: the kernel
// would drop it without a completion and the frame would be lost), of a
// frame the loop does not hold, or a packet that is not well formed (a
// chain on a socket without multi-buffer, longer than MaxDescsPerPacket,
// or unterminated at the end of descs) ends the batch before that packet
// and is counted (InvalidDescs). DescTxMetadata is allowed on a packet's
// first descriptor on a socket with TxChecksumOffload.
// Nothing is sent until Flush.
func (s *Socket) Transmit(descs []Desc) int {
	t := &s.tx
	n := t.prodReserve(uint32(len(descs)))
	if n < uint32(len(descs)) {
		for n > 0 && descs[n-1].Options&DescContd != 0 {
			n-- // the ring cannot take this packet whole
		}
	}
	idx := t.cachedProd
	var i uint32
	meta := 0
	for i < n {
		j, ok := i, true
		for ; j < n; j++ {
			d := descs[j]
			if !s.um.ownedByLoop(d.Addr) || d.Len == 0 || uint64(d.Len) > s.um.base(d.Addr)+s.um.frameSize-d.Addr ||
				d.Options&^(DescContd|DescTxMetadata) != 0 || (d.Options&DescContd != 0 && !s.sg) ||
				(d.Options&DescTxMetadata != 0 && (s.um.txMeta == 0 || j > i)) || j-i >= MaxDescsPerPacket {
				ok = false
				break
			}
			if d.Options&DescContd == 0 {
				break
			}
		}
		if !ok || j == n {
			s.cnt.invalidDescs.Add(1)
			break
		}
		for ; i <= j; i++ {
			d := descs[i]
			if d.Options&DescTxMetadata != 0 {
				meta++
			}
			s.um.setOwner(d.Addr, ownKernelTx)
			e := &t.descs[(idx+i)&t.mask]
			e.Addr, e.Len, e.Options = d.Addr, d.Len, d.Options
		}
	}
	if i > 0 {
		t.prodSubmit(i)
		s.loopFrames -= int(i)
		s.cnt.txFrames.Add(uint64(i))
		if meta > 0 {
			s.cnt.txChecksumOffload.Add(uint64(meta))
		}
	}
	if i < uint32(len(descs)) && i == n {
		s.cnt.txRingFull.Add(1)
	}
	return int(i)
}

// Flush does the per-iteration ring work:
//   - kicks TX (sendto) when descriptors wait on the TX ring and the kernel
//     asked for a wake-up (XDP_RING_NEED_WAKEUP on the TX ring), or on every
//     call with TX pending when the socket has no need_wakeup; kicks again
//     (at most maxKicksPerFlush times) while the kernel answers EAGAIN with
//     frames left, so a loop can sleep after Flush;
//   - drains the completion ring to the free list;
//   - refills the fill ring from the free list (keeping the TX reserve)
//     and, if the kernel set need_wakeup on the fill ring, wakes it with
//     recvfrom.
//
// Transient kick failures (EAGAIN, EBUSY, ENOBUFS, EINTR: the kernel's TX
// budget ran out or the device queue is full) are counted, not returned; the
// next Flush kicks again. Other errors (e.g. ENETDOWN) are returned as a
// unix.Errno.
func (s *Socket) Flush() error {
	var err error
	for kicks := 0; kicks < maxKicksPerFlush && s.tx.unconsumed() && (!s.needWakeup || s.tx.needWakeup()); kicks++ {
		var again bool
		if again, err = s.kickTx(); !again || err != nil {
			break
		}
		// EAGAIN: the kernel's per-call budget ran out (copy mode sends
		// at most XDP_MAX_TX_SKB_BUDGET, default 32, frames per call) or
		// the completion ring is full; make room and kick again.
		s.drainCompletions()
	}
	s.drainCompletions()
	s.refill()
	if s.needWakeup && s.fill.needWakeup() {
		if e := s.kickFill(); e != nil && err == nil {
			err = e
		}
	}
	s.snapshot()
	return err
}

// maxKicksPerFlush bounds the TX kicks of one Flush: enough for a 2048-entry
// TX ring at the kernel's default copy-mode budget of 32 frames per call.
const maxKicksPerFlush = 64

// kickTx asks the kernel to process the TX ring: sendto(fd, NULL, 0,
// MSG_DONTWAIT, NULL, 0), as libxdp's xsk_ring_prod__needs_wakeup users do.
// again reports EAGAIN: the kernel stopped at its budget with frames left.
func (s *Socket) kickTx() (again bool, err error) {
	s.cnt.txKicks.Add(1)
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e == unix.EAGAIN, s.kickResult(e)
}

// kickFill wakes the driver to take fill-ring entries: recvfrom(fd, NULL, 0,
// MSG_DONTWAIT, NULL, NULL) calls the driver's ndo_xsk_wakeup(XDP_WAKEUP_RX).
func (s *Socket) kickFill() error {
	s.cnt.fillKicks.Add(1)
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return s.kickResult(e)
}

func (s *Socket) kickResult(e unix.Errno) error {
	switch e {
	case 0:
		return nil
	case unix.EAGAIN:
		s.cnt.kickAgain.Add(1)
		return nil
	case unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		s.cnt.kickErrors.Add(1)
		return nil
	}
	s.cnt.kickErrors.Add(1)
	return e
}

// drainCompletions moves every completed TX frame to the free list. The
// free list has room for every frame, so the completion entries are copied
// straight into its spare capacity.
func (s *Socket) drainCompletions() {
	free := s.um.free
	l := len(free)
	n := s.comp.take(free[l:cap(free)])
	free = free[:l+n]
	w := l
	for _, a := range free[l:] {
		if !s.um.valid(a) { // never from a sane kernel; dropped, not indexed
			continue
		}
		a = s.um.base(a)
		s.um.setOwner(a, ownFree)
		free[w] = a
		w++
	}
	s.um.free = free[:w]
}

// refill moves free frames above the TX reserve onto the fill ring and
// counts a fill-ring-empty event when the kernel had consumed every entry.
func (s *Socket) refill() {
	f := &s.fill
	f.cachedCons = f.loadConsumer()
	if f.cachedCons == f.cachedProd {
		s.cnt.fillRingEmpty.Add(1)
	}
	excess := len(s.um.free) - s.reserve
	if excess <= 0 {
		return
	}
	// Move the top k of the free stack, k what the ring can take.
	free := s.um.free
	k := int(f.prodReserve(uint32(excess)))
	n := f.put(free[len(free)-k:])
	for _, a := range free[len(free)-n:] {
		s.um.setOwner(a, ownKernelRx)
	}
	s.um.free = free[:len(free)-n]
}

// snapshot publishes the loop-private frame counts for Stats.
func (s *Socket) snapshot() {
	s.cnt.freeFrames.Store(int64(len(s.um.free)))
	s.cnt.loopFrames.Store(int64(s.loopFrames))
}

// Wait blocks in poll(2) on the socket (POLLIN) and on wakeFD (an eventfd
// the caller owns and drains; -1 for none) for at most timeout (negative:
// no limit; it is rounded up to whole milliseconds). It returns true if the
// RX ring has frames. EINTR is not an error.
func (s *Socket) Wait(timeout time.Duration, wakeFD int) (bool, error) {
	if s.rx.pending() {
		return true, nil
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	s.pollfds[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	fds := s.pollfds[:1]
	if wakeFD >= 0 {
		s.pollfds[1] = unix.PollFd{Fd: int32(wakeFD), Events: unix.POLLIN}
		fds = s.pollfds[:2]
	}
	_, err := unix.Poll(fds, ms)
	if err != nil && err != unix.EINTR {
		return s.rx.pending(), err
	}
	return s.rx.pending(), nil
}

// TxPending reports whether frames wait on the TX ring for the kernel to
// take them (a copy-mode kick processes a bounded batch, so a loop about
// to sleep with TX pending should Flush again or sleep briefly).
func (s *Socket) TxPending() bool { return s.tx.unconsumed() }

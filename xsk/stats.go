package xsk

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Stats is a snapshot of a socket's counters. Our own counters come first;
// Kernel* fields are the kernel's XDP_STATISTICS; the ring fields are
// current occupancies (entries produced and not yet consumed).
type Stats struct {
	RxFrames      uint64 // frames taken by Receive
	TxFrames      uint64 // frames put on the TX ring by Transmit
	FillRingEmpty uint64 // Flush found the kernel had used every fill-ring entry
	TxRingFull    uint64 // Transmit could not place every frame
	NoFreeFrame   uint64 // AllocTx found no free frame
	TxKicks       uint64 // sendto wake-ups of TX
	FillKicks     uint64 // recvfrom wake-ups of the fill ring
	KickAgain     uint64 // TX kicks answered EAGAIN: the kernel's per-call budget ran out (Flush kicks again)
	KickErrors    uint64 // kicks that failed (EBUSY, ENOBUFS, ENETDOWN, ...)
	InvalidDescs  uint64 // descriptors refused by Release/Transmit/FreeTx
	RxTooLong     uint64 // multi-buffer packets of more descriptors than a Receive batch, dropped
	// MultiBufferRefused is 1 when the MTU needed XDP_USE_SG and the
	// kernel or driver refused it (Open fell back to one frame per packet).
	MultiBufferRefused uint64
	TxChecksumOffload  uint64 // packets sent with a TX-metadata checksum request
	RxNoTimestamp      uint64 // received packets without the filter's receive time (RxTimestamp): their batch's time is used

	KernelRxDropped            uint64 // rx_dropped: frames dropped for reasons other than invalid descriptors
	KernelRxInvalidDescs       uint64 // rx_invalid_descs
	KernelTxInvalidDescs       uint64 // tx_invalid_descs
	KernelRxRingFull           uint64 // rx_ring_full: dropped because the RX ring was full
	KernelRxFillRingEmptyDescs uint64 // rx_fill_ring_empty_descs: a frame arrived with the fill ring empty
	KernelTxRingEmptyDescs     uint64 // tx_ring_empty_descs: a TX kick found the TX ring empty

	FillRing, CompRing, RxRing, TxRing uint32 // occupancies
	FreeFrames                         int64  // free-list length at the last Flush
	LoopFrames                         int64  // frames in the loop's hands at the last Flush
}

// Stats returns the counters. Safe to call from any goroutine, also
// concurrently with the loop; after Close only our own counters are set.
func (s *Socket) Stats() Stats {
	st := Stats{
		RxFrames:           s.cnt.rxFrames.Load(),
		TxFrames:           s.cnt.txFrames.Load(),
		FillRingEmpty:      s.cnt.fillRingEmpty.Load(),
		TxRingFull:         s.cnt.txRingFull.Load(),
		NoFreeFrame:        s.cnt.noFreeFrame.Load(),
		TxKicks:            s.cnt.txKicks.Load(),
		FillKicks:          s.cnt.fillKicks.Load(),
		KickAgain:          s.cnt.kickAgain.Load(),
		KickErrors:         s.cnt.kickErrors.Load(),
		InvalidDescs:       s.cnt.invalidDescs.Load(),
		RxTooLong:          s.cnt.rxTooLong.Load(),
		MultiBufferRefused: s.cnt.multiBufferRefused.Load(),
		TxChecksumOffload:  s.cnt.txChecksumOffload.Load(),
		RxNoTimestamp:      s.cnt.rxNoTimestamp.Load(),
		FreeFrames:         s.cnt.freeFrames.Load(),
		LoopFrames:         s.cnt.loopFrames.Load(),
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return st
	}
	st.FillRing, st.CompRing = s.fill.occupancy(), s.comp.occupancy()
	st.RxRing, st.TxRing = s.rx.occupancy(), s.tx.occupancy()
	var ks unix.XDPStatistics
	optlen := uint32(unsafe.Sizeof(ks))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&optlen)), 0); e == 0 {
		st.KernelRxDropped = ks.Rx_dropped
		st.KernelRxInvalidDescs = ks.Rx_invalid_descs
		st.KernelTxInvalidDescs = ks.Tx_invalid_descs
		st.KernelRxRingFull = ks.Rx_ring_full
		st.KernelRxFillRingEmptyDescs = ks.Rx_fill_ring_empty_descs
		st.KernelTxRingEmptyDescs = ks.Tx_ring_empty_descs
	}
	return st
}

// FrameCounts says where the frames are, as the loop sees it.
type FrameCounts struct {
	Free, Fill, Rx, Loop, Tx, Completion int
}

// Total is the sum of all places.
func (c FrameCounts) Total() int { return c.Free + c.Fill + c.Rx + c.Loop + c.Tx + c.Completion }

// FrameCounts counts the frames in each place. Loop goroutine only. Frames
// the kernel is moving between two rings (copy-mode receive or transmit in
// progress) are in no place, so the total can be briefly short while
// traffic flows.
func (s *Socket) FrameCounts() FrameCounts {
	return FrameCounts{
		Free:       len(s.um.free),
		Fill:       int(s.fill.cachedProd - s.fill.loadConsumer()),
		Rx:         int(s.rx.loadProducer() - s.rx.cachedCons),
		Loop:       s.loopFrames,
		Tx:         int(s.tx.cachedProd - s.tx.loadConsumer()),
		Completion: int(s.comp.loadProducer() - s.comp.cachedCons),
	}
}

// CheckFrames is the ownership debug check: it returns an error unless the
// frames in all places add up to NumFrames. Loop goroutine only; call it
// when no traffic is in flight.
//
// It also compares the rings with the per-frame owner records: frames
// recorded as free, in the loop, on the fill/RX side and on the TX/
// completion side must match the free list, the loop's count and the ring
// occupancies.
func (s *Socket) CheckFrames() error {
	c := s.FrameCounts()
	if c.Total() != s.cfg.NumFrames || c.Loop < 0 {
		return fmt.Errorf("xsk: frame accounting: %+v sums to %d, want %d", c, c.Total(), s.cfg.NumFrames)
	}
	var own [4]int
	for _, o := range s.um.owner {
		own[o]++
	}
	if own[ownFree] != c.Free || own[ownLoop] != c.Loop || own[ownKernelRx] != c.Fill+c.Rx || own[ownKernelTx] != c.Tx+c.Completion {
		return fmt.Errorf("xsk: frame owners free %d, loop %d, fill/rx %d, tx/completion %d disagree with %+v",
			own[ownFree], own[ownLoop], own[ownKernelRx], own[ownKernelTx], c)
	}
	return nil
}

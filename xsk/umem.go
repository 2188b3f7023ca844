package xsk

import (
	"fmt"
	"math/bits"
	"unsafe"

	"golang.org/x/sys/unix"
)

// XDPPacketHeadroom is the space the kernel leaves in front of a received
// packet inside its UMEM frame (XDP_PACKET_HEADROOM, include/uapi/linux/bpf.h):
// an RX descriptor's Addr is the frame's base plus this (we register no
// extra UMEM headroom).
const XDPPacketHeadroom = unix.XDP_PACKET_HEADROOM

// MaxPacket returns the largest Ethernet frame (without FCS) that fits a
// UMEM frame of frameSize bytes in both directions: the kernel's RX frame
// size is the chunk size minus XDP_PACKET_HEADROOM (net/xdp/xsk_buff_pool.c,
// xsk_pool_get_rx_frame_size). An interface's MTU+14 must not exceed it.
func MaxPacket(frameSize int) int {
	if frameSize <= XDPPacketHeadroom {
		return 0
	}
	return frameSize - XDPPacketHeadroom
}

// Frame owners, one byte per frame in umem.owner: where the frame is, as
// far as the loop knows. The kernel moves frames from the fill ring to the
// RX ring and from the TX ring to the completion ring, so those pairs share
// one state.
const (
	ownFree     uint8 = iota // on the free list
	ownKernelRx              // fill ring, in the kernel, or RX ring
	ownLoop                  // in the loop's hands (Receive or AllocTx)
	ownKernelTx              // TX ring, in the kernel, or completion ring
)

// umem is the packet buffer area shared with the kernel, NumFrames frames
// of FrameSize bytes (aligned chunk mode: frame i starts at i*FrameSize), and
// the free list of frames that are in no ring and not in the loop's hands.
type umem struct {
	mem       []byte   // anonymous mmap, registered with XDP_UMEM_REG
	frameSize uint64   // a power of two, 2048 or 4096
	frameMask uint64   // ^(frameSize-1): Addr&frameMask is the frame base
	shift     uint     // log2(frameSize): Addr>>shift is the frame index
	numFrames int      // number of frames
	free      []uint64 // stack of free frame base addresses, cap numFrames
	owner     []uint8  // own* per frame index; catches double release
	txMeta    uint64   // TX metadata bytes in front of every TX packet (0: no TX metadata)
}

// newUmem maps the area and fills the free list with every frame.
func newUmem(numFrames, frameSize int) (*umem, error) {
	mem, err := unix.Mmap(-1, 0, numFrames*frameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap UMEM (%d frames of %d bytes): %w", numFrames, frameSize, err)
	}
	return umemOver(mem, numFrames, frameSize), nil
}

// umemOver builds the bookkeeping over mem (numFrames*frameSize bytes,
// frameSize a power of two), every frame free.
func umemOver(mem []byte, numFrames, frameSize int) *umem {
	u := &umem{
		mem:       mem,
		frameSize: uint64(frameSize),
		frameMask: ^uint64(frameSize - 1),
		shift:     uint(bits.TrailingZeros(uint(frameSize))),
		numFrames: numFrames,
		free:      make([]uint64, 0, numFrames),
		owner:     make([]uint8, numFrames),
	}
	// Pushed in reverse so the first frames handed out are the lowest.
	for i := numFrames - 1; i >= 0; i-- {
		u.free = append(u.free, uint64(i)*uint64(frameSize))
	}
	return u
}

// register tells the kernel about the area (XDP_UMEM_REG). With txMeta
// it asks for TX metadata of txMetaLen bytes (XDP_UMEM_TX_METADATA_LEN;
// kernels 6.8 to 6.10 want the length without the flag, as the kernel's
// document says to retry); where both fail it registers without and
// leaves u.txMeta 0.
func (u *umem) register(fd int, txMeta bool) error {
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&u.mem[0]))),
		Len:  uint64(len(u.mem)),
		Size: uint32(u.frameSize),
	}
	try := func() unix.Errno {
		_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
			uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0)
		return e
	}
	if txMeta {
		reg.Tx_metadata_len, reg.Flags = txMetaLen, unix.XDP_UMEM_TX_METADATA_LEN
		if try() == 0 {
			u.txMeta = txMetaLen
			return nil
		}
		reg.Flags = 0
		if try() == 0 {
			u.txMeta = txMetaLen
			return nil
		}
		reg.Tx_metadata_len = 0
	}
	if e := try(); e != 0 {
		return e
	}
	return nil
}

func (u *umem) unmap() error {
	if u == nil || u.mem == nil {
		return nil
	}
	err := unix.Munmap(u.mem)
	u.mem = nil
	return err
}

// base returns the start of the frame that addr points into.
func (u *umem) base(addr uint64) uint64 { return addr & u.frameMask }

// valid reports whether addr lies in the area.
func (u *umem) valid(addr uint64) bool { return addr < uint64(len(u.mem)) }

// ownedByLoop reports whether addr is a valid address of a frame the loop
// holds.
func (u *umem) ownedByLoop(addr uint64) bool {
	return addr < uint64(len(u.mem)) && u.owner[addr>>u.shift] == ownLoop
}

// setOwner records where the frame holding addr (valid) now is.
func (u *umem) setOwner(addr uint64, o uint8) { u.owner[addr>>u.shift] = o }

// push returns a frame to the free list.
func (u *umem) push(addr uint64) {
	if len(u.free) < cap(u.free) {
		u.owner[addr>>u.shift] = ownFree
		u.free = append(u.free, u.base(addr))
	}
}

// pop takes a frame from the free list.
func (u *umem) pop() (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	a := u.free[n-1]
	u.free = u.free[:n-1]
	return a, true
}

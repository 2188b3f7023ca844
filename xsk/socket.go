package xsk

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Defaults for Config fields left zero.
const (
	// DefaultNumFrames is the number of UMEM frames.
	DefaultNumFrames = 4096
	// DefaultFrameSize is the size of one UMEM frame (one page: the kernel's
	// aligned chunk mode accepts powers of two from 2048 to PAGE_SIZE).
	DefaultFrameSize = 4096
	// DefaultRingSize is the number of entries of each of the four rings
	// (libxdp's XSK_RING_PROD/CONS__DEFAULT_NUM_DESCS is 2048 too).
	DefaultRingSize = 2048
)

// Config describes one AF_XDP socket bound to one queue of one interface.
// Zero fields take the defaults above.
type Config struct {
	Iface     string   // interface name
	QueueID   int      // receive queue to bind
	NumFrames int      // UMEM frames; default 4096
	FrameSize int      // bytes per frame, 2048 or 4096; default 4096
	BindMode  BindMode // auto (default), zerocopy or copy
	// NoMultiBuffer never binds with XDP_USE_SG: packets are then at most
	// MaxPacket(FrameSize) bytes even on an interface with a larger MTU
	// (what Open does anyway where the kernel or driver refuses SG).
	NoMultiBuffer bool
	// TxChecksum: TCP checksums computed by the device through AF_XDP TX
	// metadata (auto: where the driver advertises it), or in software.
	TxChecksum TxChecksum

	// Ring sizes, powers of two; default 2048 each.
	FillSize, CompSize, RxSize, TxSize int
}

func (c *Config) setDefaults() error {
	if c.NumFrames == 0 {
		c.NumFrames = DefaultNumFrames
	}
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	for _, p := range []*int{&c.FillSize, &c.CompSize, &c.RxSize, &c.TxSize} {
		if *p == 0 {
			*p = DefaultRingSize
		}
		if *p < 1 || *p&(*p-1) != 0 || *p > 1<<20 {
			return fmt.Errorf("%w: ring size %d is not a power of two in [1, 2^20]", ErrBadConfig, *p)
		}
	}
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("%w: frame size %d (want 2048 or 4096)", ErrBadConfig, c.FrameSize)
	}
	if c.NumFrames < 2 || c.NumFrames > 1<<20 {
		return fmt.Errorf("%w: %d frames (want 2 to 2^20)", ErrBadConfig, c.NumFrames)
	}
	if c.QueueID < 0 {
		return fmt.Errorf("%w: queue %d", ErrBadConfig, c.QueueID)
	}
	if c.TxChecksum < TxChecksumAuto || c.TxChecksum > TxChecksumOn {
		return fmt.Errorf("%w: TX checksum mode %d", ErrBadConfig, int(c.TxChecksum))
	}
	if c.BindMode < BindAuto || c.BindMode > BindCopy {
		return fmt.Errorf("%w: bind mode %d", ErrBadConfig, int(c.BindMode))
	}
	return nil
}

// counters are updated by the loop and read by Stats from any goroutine.
type counters struct {
	rxFrames, txFrames       atomic.Uint64
	fillRingEmpty            atomic.Uint64
	txRingFull               atomic.Uint64
	noFreeFrame              atomic.Uint64
	txKicks, fillKicks       atomic.Uint64
	kickErrors, invalidDescs atomic.Uint64
	kickAgain                atomic.Uint64
	rxNoTimestamp            atomic.Uint64
	rxTooLong                atomic.Uint64
	multiBufferRefused       atomic.Uint64
	txChecksumOffload        atomic.Uint64
	freeFrames, loopFrames   atomic.Int64 // snapshots taken by Flush
}

// Socket is one AF_XDP socket with its own UMEM. All methods except Stats
// (and Close racing with Stats) belong to one goroutine, the poll loop.
//
// Frame ownership: every one of the NumFrames frames is in exactly one
// place: the free list, the fill ring, the RX ring, the loop's hands (after
// Receive or AllocTx, until Release, Transmit or FreeTx), the TX ring, or the
// completion ring (plus, briefly, inside the kernel between two rings).
// CheckFrames verifies it.
type Socket struct {
	fd         int
	cfg        Config
	ifindex    int
	mode       BindMode
	needWakeup bool
	sg         bool        // bound with XDP_USE_SG: packets may span descriptors
	sgErr      error       // why the kernel refused XDP_USE_SG; nil if it did not
	maxFrame   int         // largest Ethernet frame (no FCS) in one packet
	rxSkip     bool        // dropping the rest of a packet longer than a Receive batch
	stampHead  atomic.Bool // the filter puts the receive time as a prefix of the packet (Filter.Register): Receive strips it

	um   *umem
	fill fillRing
	comp completionRing
	rx   rxRing
	tx   txRing

	loopFrames int // frames in the loop's hands
	reserve    int // free frames kept back from the fill ring for AllocTx

	pollfds [2]unix.PollFd

	cnt counters

	mu     sync.RWMutex // Close (write) against Stats (read); never on the packet path
	closed bool
}

// Open creates the UMEM, the four rings and the socket, binds it to
// cfg.Iface queue cfg.QueueID and puts frames on the fill ring. It binds with
// XDP_USE_NEED_WAKEUP and, where the kernel refuses that flag, without it.
// BindAuto lets the kernel pick zero-copy where the driver supports it and
// copy mode otherwise (xsk_bind without XDP_COPY/XDP_ZEROCOPY,
// net/xdp/xsk_buff_pool.c xp_assign_dev).
//
// When the interface's MTU+14 exceeds MaxPacket(FrameSize) it binds with
// XDP_USE_SG (multi-buffer, Linux 6.6): a packet then spans several
// frames (Desc.Options, DescContd) and MaxFrame is MTU+14. Where the
// kernel or the driver refuses SG (older kernels; zero-copy drivers
// without multi-buffer support) it binds without it: MaxFrame is then
// MaxPacket(FrameSize), larger frames are dropped by the kernel
// (KernelRxDropped), MultiBufferError says why and Stats counts it
// (MultiBufferRefused); the caller must keep its MTU to MaxFrame-14.
func Open(cfg Config) (*Socket, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNoInterface, cfg.Iface, err)
	}
	var flags uint16
	switch cfg.BindMode {
	case BindZeroCopy:
		flags = unix.XDP_ZEROCOPY
	case BindCopy:
		flags = unix.XDP_COPY
	}
	txMeta := cfg.TxChecksum == TxChecksumOn
	if cfg.TxChecksum == TxChecksumAuto {
		txMeta, _ = DriverTxChecksum(ifi.Index) // an error (no netdev family) means no
	}
	// What a received packet may hold: one frame, or with multi-buffer
	// MaxDescsPerPacket frames, less the filter's receive-time prefix
	// where it travels in the packet (stampHead).
	prefix := stampPrefix()
	one := MaxPacket(cfg.FrameSize) - prefix
	maxSG := MaxDescsPerPacket*MaxPacket(cfg.FrameSize) - prefix
	var sgErr error
	if ifi.MTU+14 > one && !cfg.NoMultiBuffer {
		s, err := openBusy(cfg, ifi.Index, txMeta, flags|unix.XDP_USE_NEED_WAKEUP|useSG)
		if err == nil {
			s.sg, s.maxFrame = true, min(ifi.MTU+14, maxSG)
			return s, nil
		}
		if !refusedSG(err) {
			return nil, err
		}
		sgErr = err
	}
	s, err := openBusy(cfg, ifi.Index, txMeta, flags|unix.XDP_USE_NEED_WAKEUP)
	if errors.Is(err, unix.EINVAL) && cfg.BindMode != BindZeroCopy {
		// Kernels before 5.4 reject the unknown bind flag with EINVAL.
		s, err = openBusy(cfg, ifi.Index, txMeta, flags)
	}
	if err != nil {
		return nil, err
	}
	s.maxFrame = min(ifi.MTU+14, one)
	if sgErr != nil {
		s.sgErr = sgErr
		s.cnt.multiBufferRefused.Add(1)
	}
	return s, nil
}

// useSG is the bind flag asking for multi-buffer; a test replaces it with
// an unknown flag to see the kernel refuse it.
var useSG uint16 = unix.XDP_USE_SG

// refusedSG reports whether a bind with XDP_USE_SG failed because the
// kernel (before 6.6: EINVAL for the unknown flag) or the zero-copy driver
// (EOPNOTSUPP) does not do multi-buffer.
func refusedSG(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) ||
		errors.Is(err, unix.Errno(524)) || errors.Is(err, ErrZeroCopyUnsupported) // 524: the kernel's ENOTSUPP
}

// openBusy is open, retrying while the queue is busy.
// The kernel releases a closed socket's hold on its queue in deferred
// work (net/xdp/xsk_buff_pool.c, xp_put_pool), so binding right after a
// Close of the previous socket on the queue can fail with EBUSY for a
// moment: retry for up to bindBusyWait. A queue held by a live socket
// stays EBUSY and fails after that.
func openBusy(cfg Config, ifindex int, txMeta bool, bindFlags uint16) (*Socket, error) {
	deadline := time.Now().Add(bindBusyWait)
	for {
		s, err := open(cfg, ifindex, txMeta, bindFlags)
		if errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
			time.Sleep(bindBusyWait / 40)
			continue
		}
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%w (another AF_XDP socket is bound to %s queue %d)", err, cfg.Iface, cfg.QueueID)
		}
		return s, err
	}
}

// bindBusyWait bounds the EBUSY retries of Open.
const bindBusyWait = 2 * time.Second

// open does one complete attempt; on failure everything is released.
func open(cfg Config, ifindex int, txMeta bool, bindFlags uint16) (_ *Socket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, wrapPerm("socket(AF_XDP)", err)
	}
	s := &Socket{fd: fd, cfg: cfg, ifindex: ifindex}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.um, err = newUmem(cfg.NumFrames, cfg.FrameSize); err != nil {
		return nil, err
	}
	if err = s.um.register(fd, txMeta); err != nil {
		return nil, wrapPerm("setsockopt(XDP_UMEM_REG)", err)
	}
	for _, o := range []struct {
		opt, size int
	}{
		{unix.XDP_UMEM_FILL_RING, cfg.FillSize},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.CompSize},
		{unix.XDP_RX_RING, cfg.RxSize},
		{unix.XDP_TX_RING, cfg.TxSize},
	} {
		if err = unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return nil, wrapPerm(fmt.Sprintf("setsockopt(SOL_XDP, %d, %d)", o.opt, o.size), err)
		}
	}
	var off unix.XDPMmapOffsets
	optlen := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&optlen)), 0); e != 0 {
		return nil, fmt.Errorf("getsockopt(XDP_MMAP_OFFSETS): %w", e)
	}
	if s.fill, err = mapFill(fd, off.Fr, uint32(cfg.FillSize)); err != nil {
		return nil, err
	}
	if s.comp, err = mapCompletion(fd, off.Cr, uint32(cfg.CompSize)); err != nil {
		return nil, err
	}
	if s.rx, err = mapRx(fd, off.Rx, uint32(cfg.RxSize)); err != nil {
		return nil, err
	}
	if s.tx, err = mapTx(fd, off.Tx, uint32(cfg.TxSize)); err != nil {
		return nil, err
	}
	sa := &unix.SockaddrXDP{Flags: bindFlags, Ifindex: uint32(ifindex), QueueID: uint32(cfg.QueueID)}
	if err = unix.Bind(fd, sa); err != nil {
		if bindFlags&unix.XDP_ZEROCOPY != 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) ||
			errors.Is(err, unix.EINVAL) || errors.Is(err, unix.Errno(524))) { // 524: the kernel's ENOTSUPP
			return nil, fmt.Errorf("%w: %s queue %d: %w", ErrZeroCopyUnsupported, cfg.Iface, cfg.QueueID, err)
		}
		return nil, wrapPerm(fmt.Sprintf("bind AF_XDP to %s queue %d", cfg.Iface, cfg.QueueID), err)
	}
	// Copy mode sends at most XDP_MAX_TX_SKB_BUDGET frames per kick (32 by
	// default); raise it to the ring size so one kick can drain the ring.
	// Kernels before 6.17 lack the option: Flush then kicks several times.
	unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, cfg.TxSize)
	s.needWakeup = bindFlags&unix.XDP_USE_NEED_WAKEUP != 0
	s.mode = BindCopy
	if o, e := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS); e == nil && o&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = BindZeroCopy
	}
	// Keep back half the frames (at least NumFrames-FillSize) for
	// transmission; the rest go on the fill ring.
	s.reserve = max(cfg.NumFrames-cfg.FillSize, cfg.NumFrames/2)
	s.refill()
	if s.needWakeup && s.fill.needWakeup() {
		s.kickFill()
	}
	s.snapshot()
	return s, nil
}

// FD returns the socket's file descriptor (for the XSKMAP and poll).
func (s *Socket) FD() int { return s.fd }

// BindMode returns what the bind actually got: BindZeroCopy or BindCopy.
func (s *Socket) BindMode() BindMode { return s.mode }

// NeedWakeup reports whether the socket was bound with XDP_USE_NEED_WAKEUP.
func (s *Socket) NeedWakeup() bool { return s.needWakeup }

// MultiBuffer reports whether the socket was bound with XDP_USE_SG: packets
// may span several descriptors (DescContd).
func (s *Socket) MultiBuffer() bool { return s.sg }

// MultiBufferError returns why the kernel refused XDP_USE_SG, when Open
// needed it for the interface's MTU and fell back to one frame per packet;
// nil otherwise.
func (s *Socket) MultiBufferError() error { return s.sgErr }

// MaxFrame returns the largest Ethernet frame (without FCS) the socket
// carries in one packet: the interface's MTU+14, or less where it does not
// fit one frame and the socket has no multi-buffer. Where the filter's
// receive time travels as a prefix of the packet (Filter.StampsInPacket)
// it takes RxMetaLen of the room.
func (s *Socket) MaxFrame() int { return s.maxFrame }

// Config returns the configuration with defaults filled in.
func (s *Socket) Config() Config { return s.cfg }

// Ifindex returns the index of the bound interface.
func (s *Socket) Ifindex() int { return s.ifindex }

// Close unmaps the rings, closes the socket and unmaps the UMEM. It is
// idempotent; frames handed out before are invalid afterwards.
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	errs := []error{s.fill.unmap(), s.comp.unmap(), s.rx.unmap(), s.tx.unmap()}
	if s.fd >= 0 {
		errs = append(errs, unix.Close(s.fd))
		s.fd = -1
	}
	// The kernel keeps its own reference to the UMEM pages until the
	// socket is gone, so unmapping last is safe either way.
	errs = append(errs, s.um.unmap())
	return errors.Join(errs...)
}

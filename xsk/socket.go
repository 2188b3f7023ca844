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
func Open(cfg Config) (*Socket, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNoInterface, cfg.Iface, err)
	}
	if ifi.MTU+14 > MaxPacket(cfg.FrameSize) {
		return nil, fmt.Errorf("%w: %s MTU %d does not fit a %d-byte frame (max packet %d)",
			ErrBadConfig, cfg.Iface, ifi.MTU, cfg.FrameSize, MaxPacket(cfg.FrameSize))
	}
	var flags uint16
	switch cfg.BindMode {
	case BindZeroCopy:
		flags = unix.XDP_ZEROCOPY
	case BindCopy:
		flags = unix.XDP_COPY
	}
	// The kernel releases a closed socket's hold on its queue in deferred
	// work (net/xdp/xsk_buff_pool.c, xp_put_pool), so binding right after a
	// Close of the previous socket on the queue can fail with EBUSY for a
	// moment: retry for up to bindBusyWait. A queue held by a live socket
	// stays EBUSY and fails after that.
	deadline := time.Now().Add(bindBusyWait)
	for {
		s, err := open(cfg, ifi.Index, flags|unix.XDP_USE_NEED_WAKEUP)
		if errors.Is(err, unix.EINVAL) && cfg.BindMode != BindZeroCopy {
			// Kernels before 5.4 reject the unknown bind flag with EINVAL.
			s, err = open(cfg, ifi.Index, flags)
		}
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
func open(cfg Config, ifindex int, bindFlags uint16) (_ *Socket, err error) {
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
	if err = s.um.register(fd); err != nil {
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

package xsk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// FilterConfig says where to attach the XDP filter.
type FilterConfig struct {
	Iface string  // interface name
	Mode  XDPMode // auto (native, then generic), native or generic
	// Replace detaches an XDP program that something else attached through
	// netlink (not a bpf_link) before attaching ours. Without it such a
	// program makes NewFilter fail with ErrXDPBusy.
	Replace bool
}

// Filter is the loaded XDP program with its maps and, after NewFilter, its
// bpf_link. The link detaches when Close is called or when the process dies
// (invariant 7 of DESIGN.md). Its methods may be called from any goroutine
// (they are map updates).
type Filter struct {
	coll                   *ebpf.Collection
	prog                   *ebpf.Program
	xsks                   *ebpf.Map
	addrs                  *ebpf.Map
	ports                  *ebpf.Map
	watch                  *ebpf.Map // arp_watch
	addrs6, ports6, watch6 *ebpf.Map
	link                   link.Link
	mode                   XDPMode
	iface                  string
	stamp                  rxStamp // how the program stamps the frames it redirects
}

// rxStamp is how the filter puts the receive time before a frame it
// redirects (RxTimestamp).
type rxStamp uint8

const (
	// stampMeta: as XDP metadata (bpf_xdp_adjust_meta), in the frame's
	// headroom; the packet is untouched.
	stampMeta rxStamp = iota
	// stampHead: as a 16-byte prefix of the packet (bpf_xdp_adjust_head),
	// which Socket.Receive strips, for kernels that refuse
	// bpf_xdp_adjust_meta to every XDP program ("program of this type
	// cannot use helper bpf_xdp_adjust_meta", seen on a 6.18.44 here).
	stampHead
)

// stampMode probes once (cilium/ebpf's features package caches the
// answer) whether the kernel lets XDP programs call bpf_xdp_adjust_meta:
// stampHead only where it says it does not (a probe that could not run,
// for want of privilege, leaves stampMeta, and the load decides).
func stampMode() rxStamp {
	if errors.Is(features.HaveProgramHelper(ebpf.XDP, asm.FnXdpAdjustMeta), ebpf.ErrNotSupported) {
		return stampHead
	}
	return stampMeta
}

// stampPrefix is how many bytes of a received packet the filter's
// receive time takes: RxMetaLen with stampHead, else none.
func stampPrefix() int {
	if stampMode() == stampHead {
		return RxMetaLen
	}
	return 0
}

// StampsInPacket reports whether the receive time comes as a prefix of
// the packet (the kernel refuses bpf_xdp_adjust_meta), not as metadata.
func (f *Filter) StampsInPacket() bool { return f.stamp == stampHead }

// LoadFilterProgram loads the program and its maps without attaching them
// (tests run it with Program().Run).
func LoadFilterProgram() (*Filter, error) {
	return loadFilter(xdpPass)
}

func loadFilter(fallback int32) (*Filter, error) {
	stamp := stampMode()
	spec := filterSpec(fallback, stamp)
	coll, err := ebpf.NewCollection(spec)
	if err != nil && !isPerm(err) {
		// Kernels before 5.18 do not know BPF_F_XDP_HAS_FRAGS: without it
		// the filter still loads (and the MTU must fit one page there).
		spec.Programs[progFilter].Flags = 0
		if c, e := ebpf.NewCollection(spec); e == nil {
			coll, err = c, nil
		}
	}
	if err != nil {
		return nil, wrapPerm("load XDP filter", err)
	}
	return &Filter{
		stamp:  stamp,
		coll:   coll,
		prog:   coll.Programs[progFilter],
		xsks:   coll.Maps[mapXsks],
		addrs:  coll.Maps[mapAddrs],
		ports:  coll.Maps[mapPorts],
		watch:  coll.Maps[mapWatch],
		addrs6: coll.Maps[mapAddrs6],
		ports6: coll.Maps[mapPorts6],
		watch6: coll.Maps[mapWatch6],
	}, nil
}

// NewFilter loads the filter and attaches it to cfg.Iface with a bpf_link:
// in driver (native) mode, or, with XDPAuto, in generic mode where native
// fails. An XDP program attached through netlink by someone else makes it
// fail with ErrXDPBusy unless cfg.Replace; one held by another process's
// bpf_link always does.
func NewFilter(cfg FilterConfig) (*Filter, error) {
	if cfg.Mode < XDPAuto || cfg.Mode > XDPGeneric {
		return nil, fmt.Errorf("%w: XDP mode %d", ErrBadConfig, int(cfg.Mode))
	}
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNoInterface, cfg.Iface, err)
	}
	if err := clearStale(ifi.Index, cfg); err != nil {
		return nil, err
	}
	f, err := LoadFilterProgram()
	if err != nil {
		return nil, err
	}
	f.iface = cfg.Iface
	var tries []XDPMode
	switch cfg.Mode {
	case XDPAuto:
		tries = []XDPMode{XDPNative, XDPGeneric}
	default:
		tries = []XDPMode{cfg.Mode}
	}
	var errs []error
	for _, m := range tries {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: f.prog, Interface: ifi.Index, Flags: flags})
		if err == nil {
			f.link, f.mode = l, m
			return f, nil
		}
		errs = append(errs, fmt.Errorf("%s mode: %w", m, err))
		if isPerm(err) {
			break
		}
	}
	f.Close()
	err = errors.Join(errs...)
	switch {
	case isPerm(err):
		return nil, fmt.Errorf("attach XDP to %s: %w: %w", cfg.Iface, ErrPermission, err)
	case errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST):
		return nil, fmt.Errorf("attach XDP to %s: %w (a program appeared meanwhile): %w", cfg.Iface, ErrXDPBusy, err)
	}
	return nil, fmt.Errorf("attach XDP to %s: %w", cfg.Iface, err)
}

// clearStale looks at the interface's XDP hook. A program there either
// belongs to a bpf_link (another live process: ErrXDPBusy) or was attached
// through netlink (a tool or a crashed process; it outlives its owner):
// ErrXDPBusy naming it, or, with cfg.Replace, detached.
func clearStale(ifindex int, cfg FilterConfig) error {
	st, err := queryXDP(ifindex)
	if err != nil {
		return wrapPerm("query XDP on "+cfg.Iface, err)
	}
	progs := st.progs()
	if len(progs) == 0 {
		return nil
	}
	if linkID, ok := xdpLinkOn(ifindex); ok {
		return fmt.Errorf("%w: %s has XDP program id %d attached through bpf_link id %d, held by another running process; stop that process",
			ErrXDPBusy, cfg.Iface, progs[0][1], linkID)
	}
	if !cfg.Replace {
		off := "xdp off"
		switch progs[0][0] {
		case unix.XDP_FLAGS_SKB_MODE:
			off = "xdpgeneric off"
		case unix.XDP_FLAGS_HW_MODE:
			off = "xdpoffload off"
		}
		return fmt.Errorf("%w: %s has XDP program id %d attached through netlink (not ours; such a program outlives whoever attached it); remove it with `ip link set dev %s %s` or pass Replace",
			ErrXDPBusy, cfg.Iface, progs[0][1], cfg.Iface, off)
	}
	for _, p := range progs {
		if err := netlinkSetXDP(ifindex, -1, p[0]); err != nil {
			return wrapPerm(fmt.Sprintf("detach XDP program id %d from %s", p[1], cfg.Iface), err)
		}
	}
	return nil
}

// xdpLinkOn reports whether a bpf_link of type XDP is attached to ifindex.
func xdpLinkOn(ifindex int) (link.ID, bool) {
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != link.XDPType {
			continue
		}
		if x := info.XDP(); x != nil && int(x.Ifindex) == ifindex {
			return it.ID, true
		}
	}
	return 0, false
}

// Mode returns the attach mode obtained (XDPNative or XDPGeneric), or
// XDPAuto for a filter that is loaded but not attached.
func (f *Filter) Mode() XDPMode { return f.mode }

// Program returns the loaded program.
func (f *Filter) Program() *ebpf.Program { return f.prog }

// Register puts s in XSKMAP slot queue: frames the filter selects on that
// receive queue go to s. s must be bound to that queue.
func (f *Filter) Register(queue int, s *Socket) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("%w: queue %d (max %d)", ErrBadConfig, queue, MaxQueues-1)
	}
	if s == nil || s.cfg.QueueID != queue {
		// The kernel drops (does not pass) frames redirected to a socket
		// bound to another queue (xsk_rcv_check: -EINVAL).
		return fmt.Errorf("%w: XSKMAP slot %d needs a socket bound to queue %d", ErrBadConfig, queue, queue)
	}
	s.stampHead.Store(f.stamp == stampHead) // before the first frame can reach it
	if err := f.xsks.Put(uint32(queue), uint32(s.FD())); err != nil {
		return wrapPerm(fmt.Sprintf("XSKMAP[%d] = socket", queue), err)
	}
	return nil
}

// Unregister empties XSKMAP slot queue.
func (f *Filter) Unregister(queue int) error {
	if err := f.xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("XSKMAP delete %d: %w", queue, err)
	}
	return nil
}

// AddAddr serves addr: ARP requests for it, ARP replies to it from watched
// senders (WatchARP) and ICMP echo requests to it become ours. It keeps an
// existing client port range.
func (f *Filter) AddAddr(addr [4]byte) error {
	var v addrValue
	if err := f.addrs.Lookup(addr, &v); err == nil {
		return nil
	}
	v = addrValue{Lo: 1, Hi: 0} // empty client range
	if err := f.addrs.Put(addr, v); err != nil {
		return fmt.Errorf("serve %v: %w", addr, err)
	}
	return nil
}

// RemoveAddr stops serving addr (its ports stay in the ports map).
func (f *Filter) RemoveAddr(addr [4]byte) error {
	if err := f.addrs.Delete(addr); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unserve %v: %w", addr, err)
	}
	return nil
}

// AddPort makes IPv4 TCP to (addr, port) ours. The address need not be
// added with AddAddr for TCP alone, but ARP and ping need it.
func (f *Filter) AddPort(addr [4]byte, port uint16) error {
	if err := f.ports.Put(newPortKey(addr, port), uint8(1)); err != nil {
		return fmt.Errorf("serve %v port %d: %w", addr, port, err)
	}
	return nil
}

// RemovePort stops serving (addr, port); removing one that is not served is
// not an error.
func (f *Filter) RemovePort(addr [4]byte, port uint16) error {
	if err := f.ports.Delete(newPortKey(addr, port)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unserve %v port %d: %w", addr, port, err)
	}
	return nil
}

// SetClientPorts makes TCP to addr with a destination port in [lo, hi]
// ours: the replies to connections we open from those (ephemeral) ports.
// One range per address; lo > hi clears it. It also serves addr (AddAddr).
// When the kernel shares addr, keep the range outside the kernel's
// net.ipv4.ip_local_port_range (default 32768-60999) or reserve it with
// net.ipv4.ip_local_reserved_ports: replies to the kernel's own
// connections from ports in the range would be ours.
func (f *Filter) SetClientPorts(addr [4]byte, lo, hi uint16) error {
	if err := f.addrs.Put(addr, addrValue{Lo: lo, Hi: hi}); err != nil {
		return fmt.Errorf("client ports %v %d-%d: %w", addr, lo, hi, err)
	}
	return nil
}

// ErrARPWatchFull is what WatchARP returns when MaxARPWatch addresses are
// watched already. It is returned as is (not wrapped), so a caller on the
// packet path can count it without allocating.
var ErrARPWatchFull = errors.New("xsk: ARP watch map full")

// watchOn is the value of every arp_watch entry (the program only tests
// for presence). Only its address is handed to the kernel, which reads it.
var watchOn uint8 = 1

// WatchARP makes ARP replies from addr (sender protocol address) to a
// served address ours, for as long as xdptcp is resolving addr. Without it
// such replies are XDP_PASS: the kernel shares the served address and
// resolves its own neighbours (for SSH and the other ports it keeps), and
// its resolutions only complete when the replies reach it. So watch a
// neighbour just before sending the ARP request for it and UnwatchARP it
// once the reply arrived or resolution gave up: while addr is watched, a
// reply from addr that the kernel was waiting for reaches xdptcp instead
// (the kernel's next retransmitted request, after the unwatch, succeeds).
// Watching a watched address is not an error. With MaxARPWatch addresses
// watched it returns ErrARPWatchFull. Any goroutine may call it (one
// bpf(2) map update); it does not take a lock.
func (f *Filter) WatchARP(addr [4]byte) error {
	// unsafe.Pointer key and value skip cilium/ebpf's marshalling: one
	// allocation (addr escapes) instead of three.
	if err := f.watch.Put(unsafe.Pointer(&addr), unsafe.Pointer(&watchOn)); err != nil {
		if errors.Is(err, unix.E2BIG) {
			// A hash map at max_entries refuses a new key with E2BIG
			// (kernel/bpf/hashtab.c alloc_htab_elem); our key size is
			// fixed, so it cannot mean a key too big.
			return ErrARPWatchFull
		}
		return fmt.Errorf("watch ARP from %v: %w", addr, err)
	}
	return nil
}

// UnwatchARP makes ARP replies from addr XDP_PASS again (the kernel's).
// Unwatching an address that is not watched is not an error. Any goroutine
// may call it.
func (f *Filter) UnwatchARP(addr [4]byte) error {
	if err := f.watch.Delete(unsafe.Pointer(&addr)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unwatch ARP from %v: %w", addr, err)
	}
	return nil
}

// AddAddr6 serves IPv6 addr: neighbour solicitations for it, echo
// requests to it, and advertisements for watched targets (WatchND) become
// ours. It keeps an existing client port range.
func (f *Filter) AddAddr6(addr [16]byte) error {
	var v addrValue
	if err := f.addrs6.Lookup(addr, &v); err == nil {
		return nil
	}
	if err := f.addrs6.Put(addr, addrValue{Lo: 1, Hi: 0}); err != nil {
		return fmt.Errorf("serve %v: %w", netip.AddrFrom16(addr), err)
	}
	return nil
}

// RemoveAddr6 stops serving IPv6 addr.
func (f *Filter) RemoveAddr6(addr [16]byte) error {
	if err := f.addrs6.Delete(addr); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unserve %v: %w", netip.AddrFrom16(addr), err)
	}
	return nil
}

// AddPort6 makes TCP over IPv6 to (addr, port) ours (without extension
// headers: those go to the kernel).
func (f *Filter) AddPort6(addr [16]byte, port uint16) error {
	if err := f.ports6.Put(newPortKey6(addr, port), uint8(1)); err != nil {
		return fmt.Errorf("serve %v port %d: %w", netip.AddrFrom16(addr), port, err)
	}
	return nil
}

// RemovePort6 stops serving IPv6 (addr, port).
func (f *Filter) RemovePort6(addr [16]byte, port uint16) error {
	if err := f.ports6.Delete(newPortKey6(addr, port)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unserve %v port %d: %w", netip.AddrFrom16(addr), port, err)
	}
	return nil
}

// SetClientPorts6 is SetClientPorts for an IPv6 address.
func (f *Filter) SetClientPorts6(addr [16]byte, lo, hi uint16) error {
	if err := f.addrs6.Put(addr, addrValue{Lo: lo, Hi: hi}); err != nil {
		return fmt.Errorf("client ports %v %d-%d: %w", netip.AddrFrom16(addr), lo, hi, err)
	}
	return nil
}

// WatchND is WatchARP for IPv6: neighbour advertisements whose target is
// addr become ours while xdptcp resolves addr; otherwise they are the
// kernel's, which shares the address and resolves its own neighbours.
func (f *Filter) WatchND(addr [16]byte) error {
	if err := f.watch6.Put(unsafe.Pointer(&addr), unsafe.Pointer(&watchOn)); err != nil {
		if errors.Is(err, unix.E2BIG) {
			return ErrARPWatchFull
		}
		return fmt.Errorf("watch NDP for %v: %w", netip.AddrFrom16(addr), err)
	}
	return nil
}

// UnwatchND makes advertisements for addr the kernel's again.
func (f *Filter) UnwatchND(addr [16]byte) error {
	if err := f.watch6.Delete(unsafe.Pointer(&addr)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unwatch NDP for %v: %w", netip.AddrFrom16(addr), err)
	}
	return nil
}

// Close detaches the program (closes the bpf_link) and closes the program
// and maps. Idempotent.
func (f *Filter) Close() error {
	var errs []error
	if f.link != nil {
		errs = append(errs, f.link.Close())
		f.link = nil
	}
	if f.coll != nil {
		f.coll.Close()
		f.coll = nil
	}
	return errors.Join(errs...)
}

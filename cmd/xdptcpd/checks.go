package main

// Start-up checks: each is a one-line error (exit status 2) or, where
// xdptcpd can go on, a warning in the log.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp"
)

// checkInterface: the interface exists and is up (error), has a carrier
// (warning), and our address is on one of its networks (warning).
//
// "On a served network" means: when the kernel has IPv4 addresses on the
// interface, ours falls inside one of their prefixes, or one of them falls
// inside ours. Otherwise peers on the link have no route that sends them to
// our address, and our ARP answers are for an address nobody there asks
// for; it can still be right (a router points a route at us), hence only a
// warning. An interface without kernel addresses is a dedicated one:
// nothing to compare, no warning.
func checkInterface(cfg xdptcp.Config, log *slog.Logger) error {
	ifi, err := net.InterfaceByName(cfg.Iface)
	if err != nil {
		return usagef("interface %q: no such interface", cfg.Iface)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return usagef("interface %s is down: bring it up first (ip link set %s up)", cfg.Iface, cfg.Iface)
	}
	if ifi.Flags&net.FlagRunning == 0 {
		// Administratively up, no carrier (IFF_RUNNING off): nothing
		// arrives until the link comes up, but it may come up later.
		log.Warn("the interface has no carrier (link down): nothing arrives until it comes up", "iface", cfg.Iface)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	var kernel, kernel6 []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, ok := netipPrefix(ipn); ok && p.Addr().Is4() {
				kernel = append(kernel, p)
			} else if ok && !p.Addr().IsLinkLocalUnicast() {
				kernel6 = append(kernel6, p)
			}
		}
	}
	for _, c := range []struct {
		addr   netip.Prefix
		kernel []netip.Prefix
	}{{cfg.Addr, kernel}, {cfg.Addr6, kernel6}} {
		if !c.addr.IsValid() || onNetworks(c.addr, c.kernel) {
			continue
		}
		ks := make([]string, len(c.kernel))
		for i, p := range c.kernel {
			ks[i] = p.String()
		}
		log.Warn("our address is on none of the interface's networks: peers on the link may have no route to it",
			"addr", c.addr.String(), "iface", cfg.Iface, "kernel_addrs", strings.Join(ks, ","))
	}
	if cfg.Addr6.IsValid() {
		checkIPv6Kernel(cfg, log)
	}
	return nil
}

// checkIPv6Kernel warns when the kernel has IPv6 off on the interface
// (net.ipv6.conf.IFACE.disable_ipv6): xdptcp serves IPv6 itself, but such
// an interface has joined no solicited-node multicast group, so a NIC that
// filters multicast may never deliver the neighbour solicitations for our
// address, and peers cannot resolve it.
func checkIPv6Kernel(cfg xdptcp.Config, log *slog.Logger) {
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv6/conf", cfg.Iface, "disable_ipv6"))
	switch {
	case err != nil:
		log.Warn("IPv6 is disabled in the kernel (no /proc/sys/net/ipv6): NIC multicast filters may drop neighbour solicitations for our IPv6 address",
			"iface", cfg.Iface, "addr6", cfg.Addr6.String())
	case strings.TrimSpace(string(b)) == "1":
		log.Warn("IPv6 is disabled on the interface (net.ipv6.conf."+cfg.Iface+".disable_ipv6=1): NIC multicast filters may drop neighbour solicitations for our IPv6 address",
			"iface", cfg.Iface, "addr6", cfg.Addr6.String())
	}
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	return netip.PrefixFrom(a, ones), true
}

// onNetworks reports whether addr shares a network with one of kernel's
// prefixes (true when kernel is empty).
func onNetworks(addr netip.Prefix, kernel []netip.Prefix) bool {
	if len(kernel) == 0 {
		return true
	}
	for _, k := range kernel {
		if k.Masked().Contains(addr.Addr()) || addr.Masked().Contains(k.Addr()) {
			return true
		}
	}
	return false
}

// checkMemlock: the kernel charges AF_XDP UMEM pages to RLIMIT_MEMLOCK
// unless the process has CAP_IPC_LOCK (xdp_umem_account_pages). When the
// soft limit is below the UMEM of every queue, raise it up to the hard
// limit; if even that is too low, fail naming both sizes.
func checkMemlock(cfg xdptcp.Config, log *slog.Logger) error {
	if eff, ok := effectiveCaps(); !ok || eff&(1<<capIPCLock) != 0 {
		return nil
	}
	queues := len(cfg.Queues)
	if queues == 0 {
		m, _ := filepath.Glob(filepath.Join("/sys/class/net", cfg.Iface, "queues", "rx-*"))
		queues = max(len(m), 1)
	}
	frames, size := cfg.NumFrames, cfg.FrameSize
	if frames == 0 {
		frames = 4096
	}
	if size == 0 {
		size = 4096
	}
	need := uint64(queues) * uint64(frames) * uint64(size)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return nil
	}
	raised, err := memlockPlan(rl, need)
	if err != nil {
		return usagef("%v: raise it (systemd LimitMEMLOCK=, ulimit -l) or grant CAP_IPC_LOCK", err)
	}
	if raised != rl {
		if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &raised); err != nil {
			return usagef("memlock limit %d KiB is below the UMEM's %d KiB and cannot be raised (%v): raise it (systemd LimitMEMLOCK=, ulimit -l) or grant CAP_IPC_LOCK", rl.Cur>>10, need>>10, err)
		}
		log.Info("raised the memlock limit for the UMEM", "from_kib", rl.Cur>>10, "to_kib", raised.Cur>>10)
	}
	return nil
}

// memlockPlan returns the limit to set for need bytes of UMEM (rl itself
// when it is enough), or an error when the hard limit is too low.
func memlockPlan(rl unix.Rlimit, need uint64) (unix.Rlimit, error) {
	if rl.Cur == unix.RLIM_INFINITY || rl.Cur >= need {
		return rl, nil
	}
	if rl.Max != unix.RLIM_INFINITY && rl.Max < need {
		return rl, fmt.Errorf("memlock limit %d KiB (hard %d KiB) is below the UMEM's %d KiB", rl.Cur>>10, rl.Max>>10, need>>10)
	}
	return unix.Rlimit{Cur: rl.Max, Max: rl.Max}, nil
}

// ethtool ioctl numbers (include/uapi/linux/ethtool.h).
const (
	ethtoolGFlags = 0x25 // ETHTOOL_GFLAGS
	ethtoolGGRO   = 0x2b // ETHTOOL_GGRO
	ethFlagLRO    = 1 << 15
)

// offloads reads GRO and LRO with the legacy ethtool ioctls (what
// `ethtool -k` shows as generic-receive-offload, large-receive-offload).
func offloads(iface string) (gro, lro bool, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, false, err
	}
	defer unix.Close(fd)
	get := func(cmd uint32) (uint32, error) {
		ev := struct{ cmd, data uint32 }{cmd: cmd}
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], iface)
		ifr.data = unsafe.Pointer(&ev)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(&ev)
		if e != 0 {
			return 0, e
		}
		return ev.data, nil
	}
	g, err := get(ethtoolGGRO)
	if err != nil {
		return false, false, err
	}
	f, err := get(ethtoolGFlags)
	if err != nil {
		return g != 0, false, nil
	}
	return g != 0, f&ethFlagLRO != 0, nil
}

// checkOffloads warns about receive offloads that merge frames beyond the
// MTU: LRO (done by the NIC, before XDP) always; GRO in generic mode,
// where the XDP program runs after it (in native mode it runs first).
func checkOffloads(iface, xdpMode string, log *slog.Logger) {
	gro, lro, err := offloads(iface)
	if err != nil {
		return
	}
	if lro {
		log.Warn("LRO is on: the NIC merges frames beyond the MTU before XDP sees them; turn it off (ethtool -K "+iface+" lro off)", "iface", iface)
	}
	if gro && xdpMode == "generic" {
		log.Warn("GRO is on and XDP runs in generic mode, after GRO: frames larger than the MTU may arrive; turn it off (ethtool -K "+iface+" gro off)", "iface", iface)
	}
}

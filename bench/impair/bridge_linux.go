package impair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// batch is how many frames one recvmmsg/sendmmsg moves at most.
const batch = 64

// Socket buffer sizes; forced as root so a burst does not overflow the
// default 208 KiB (net.core.rmem_default).
const (
	rcvBuf = 8 << 20
	sndBuf = 4 << 20
)

// ErrSetup reports that the bridge could not open or configure a leg.
var ErrSetup = errors.New("impair: setup failed")

// leg is one interface's packet socket.
type leg struct {
	name string
	fd   int
	f    *os.File
	rc   syscall.RawConn
	mtu  int
}

// Run forwards frames between cfg.A and cfg.B, impaired per cfg, until ctx
// ends or cfg.Duration has passed, and returns the final counters. It needs
// CAP_NET_RAW (and CAP_NET_ADMIN for the ethtool offload changes).
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var a, b *leg
	err := inNetns(cfg.Netns, func() error {
		if !cfg.NoEthtool {
			offloadsOff(cfg.A, logf)
			offloadsOff(cfg.B, logf)
		}
		var err error
		if a, err = openLeg(cfg.A); err != nil {
			return err
		}
		if b, err = openLeg(cfg.B); err != nil {
			a.close()
			return err
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	frameSize := max(a.mtu, b.mtu, 1500) + ethHeaderLen + 4 // room for one VLAN tag
	frameSize = (frameSize + 63) &^ 63

	clk := clock.NewMono()
	ab := newDirection(a, b, NewPipe(NewDecider(cfg.AB, cfg.Seed, 1), cfg.Limit, frameSize, cfg.ImpairAll), frameSize, clk)
	ba := newDirection(b, a, NewPipe(NewDecider(cfg.BA, cfg.Seed, 2), cfg.Limit, frameSize, cfg.ImpairAll), frameSize, clk)
	snapshot := func() Stats {
		return Stats{AB: ab.stats(), BA: ba.stats(), Elapsed: clk.Now().Sub(0)}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for _, d := range []*direction{ab, ba} {
		wg.Add(2)
		go func() { defer wg.Done(); errc <- d.rxLoop(ctx) }()
		go func() { defer wg.Done(); errc <- d.txLoop(ctx) }()
	}
	if cfg.OnReady != nil {
		cfg.OnReady()
	}
	if cfg.StatsInterval > 0 && cfg.OnStats != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(cfg.StatsInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					cfg.OnStats(snapshot())
				}
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc: // a loop failed: stop the others
	}
	cancel()
	a.f.Close() // unblocks pending reads and writes
	b.f.Close()
	wg.Wait()
	return snapshot(), runErr
}

// inNetns runs fn with the calling OS thread in the network namespace ns
// (a path or a name under /var/run/netns); sockets created by fn stay in it.
// Commands that fn starts inherit it too. An empty ns runs fn in place.
func inNetns(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	if !strings.ContainsRune(ns, '/') {
		ns = filepath.Join("/var/run/netns", ns)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is unlocked only when it is back in its own namespace;
		// otherwise the goroutine exits locked and the runtime kills the
		// thread.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("%w: open own netns: %v", ErrSetup, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("%w: open netns %s: %v", ErrSetup, ns, err)
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			errc <- fmt.Errorf("%w: setns %s: %v", ErrSetup, ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// offloadsOff turns off TX checksum offload, TSO, GSO and GRO on dev, one
// feature at a time because a veth may refuse some; failures are logged.
func offloadsOff(dev string, logf func(string, ...any)) {
	for _, feat := range []string{"tx", "tso", "gso", "gro"} {
		out, err := exec.Command("ethtool", "-K", dev, feat, "off").CombinedOutput()
		if err != nil {
			logf("ethtool -K %s %s off: %v: %s", dev, feat, err, strings.TrimSpace(string(out)))
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openLeg opens a non-blocking AF_PACKET raw socket bound to dev. The
// socket is created with protocol 0, which receives nothing, and bound with
// ETH_P_ALL, so it never sees a frame from another interface.
func openLeg(dev string) (*leg, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: packet socket for %s: %v", ErrSetup, dev, err)
	}
	fail := func(what string, err error) (*leg, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s %s: %v", ErrSetup, what, dev, err)
	}
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return fail("interface name", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return fail("interface index of", err)
	}
	index := int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return fail("MTU of", err)
	}
	mtu := int(ifr.Uint32())
	// Frames this socket writes come back to it as PACKET_OUTGOING; the
	// kernel can skip them (Linux 4.20+); rxLoop also checks sll_pkttype.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: index}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind to", err)
	}
	// Promiscuous, so a real NIC hands over frames for the endpoints' MACs.
	mreq := &unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		return fail("promiscuous mode on", err)
	}
	f := os.NewFile(uintptr(fd), "packet:"+dev)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: raw conn %s: %v", ErrSetup, dev, err)
	}
	return &leg{name: dev, fd: fd, f: f, rc: rc, mtu: mtu}, nil
}

func (l *leg) close() { l.f.Close() }

// rxDrops reads and resets the kernel's drop count for the socket.
func (l *leg) rxDrops() uint64 {
	var n uint64
	_ = l.rc.Control(func(fd uintptr) {
		st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err == nil {
			n = uint64(st.Drops)
		}
	})
	return n
}

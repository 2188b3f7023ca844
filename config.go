package xdptcp

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/syncookie"
	"github.com/xdptcp/xdptcp/xsk"
)

// TCPConfig holds the TCP settings, named after Linux's sysctls.
type TCPConfig = tcp.Config

// DefaultTCPConfig returns Linux's defaults.
func DefaultTCPConfig() TCPConfig { return tcp.DefaultConfig() }

// Config describes the interface a Stack takes over and how.
type Config struct {
	Iface   string       // network interface
	Addr    netip.Prefix // our IPv4 address; the prefix says which peers are on-link; invalid: no IPv4
	Gateway netip.Addr   // IPv4 next hop for off-link peers; invalid for none

	// Addr6 is our IPv6 address and on-link prefix (invalid: no IPv6);
	// Gateway6 the IPv6 next hop for off-link peers (on Addr6's prefix or
	// link-local, fe80::/10). Every served port serves both families.
	Addr6    netip.Prefix
	Gateway6 netip.Addr

	// Queues to serve; nil means every RX queue of the interface. One
	// AF_XDP socket and one poll loop per queue.
	Queues []int
	// CPUs pins loop i to CPUs[i] when set (len must equal the queue count):
	// the loop's goroutine is locked to an OS thread bound to that CPU.
	// Unpinned loops are ordinary goroutines, scheduled by Go.
	CPUs []int

	XDPMode    string // "auto" (native, then generic), "native", "generic"
	BindMode   string // "auto" (zero-copy, then copy), "zerocopy", "copy"
	XDPReplace bool   // detach a program someone else attached through netlink

	NumFrames int // UMEM frames per queue (default 4096)
	// RingSize is the entries of each of a socket's four rings (fill,
	// RX, TX, completion), a power of two (default 2048): the frames
	// the kernel can deliver, or the loop queue for sending, between two
	// loop iterations. At most NumFrames/2 of them are on the fill ring.
	RingSize  int
	FrameSize int // UMEM frame size (default 4096)
	BatchSize int // frames per RX/TX batch (default 64)
	// NoMultiBuffer keeps one UMEM frame per packet even when the
	// interface's MTU needs more (multi-buffer AF_XDP, XDP_USE_SG): the
	// loops then use MTU FrameSize-256-14 (as where the kernel refuses SG).
	NoMultiBuffer bool
	// TxChecksum: "auto" (default: TCP checksums by the device through
	// AF_XDP TX metadata where the driver advertises tx-checksum in its
	// xsk-features, in software otherwise), "off" (software), "on"
	// (always request it; Linux 6.8 or newer).
	TxChecksum string
	BusyPoll   bool // never sleep in poll(): a core of its own per loop (on a core shared with the NIC's NAPI thread it slows both)

	TCP TCPConfig

	// CookieKeys, when set, are SYN-cookie keys shared by the hosts of a
	// cluster behind ECMP (syncookie.ReadKeyFile reads a key file): the
	// first makes cookies, all check them, and the cookie counter runs on
	// wall-clock time, so any host completes a handshake whose SYN-ACK
	// another host sent. Nil: secrets of this Stack's own, from
	// crypto/rand. Stack.SetCookieKeys rotates them.
	CookieKeys []syncookie.Key

	// Cluster, when set, makes this host one of several serving the same
	// address behind ECMP (ClusterConfig). Nil: a host alone.
	Cluster *ClusterConfig

	Logger *slog.Logger // nil: slog.Default()
}

// Errors a user can make when opening a Stack; the daemon maps them to
// exit status 2.
var (
	ErrBadAddress = errors.New("address not valid")
	ErrBadConfig  = errors.New("bad configuration")
	ErrPortInUse  = errors.New("port already served")
	// ErrMTU: the interface's MTU exceeds what the UMEM frames carry.
	// Open no longer returns it: a larger MTU is served with multi-buffer
	// AF_XDP, or at a lower MTU where the kernel refuses that (logged).
	ErrMTU = errors.New("interface MTU larger than the UMEM frame allows")
)

func (c *Config) setDefaults() {
	if c.XDPMode == "" {
		c.XDPMode = "auto"
	}
	if c.BindMode == "" {
		c.BindMode = "auto"
	}
	if c.NumFrames == 0 {
		c.NumFrames = 4096
	}
	if c.RingSize == 0 {
		c.RingSize = xsk.DefaultRingSize
	}
	if c.FrameSize == 0 {
		c.FrameSize = 4096
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

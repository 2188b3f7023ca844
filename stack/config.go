package stack

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/xsk"
)

// PeerWaker is a Port whose peer is another loop of this process (the
// in-memory link): PeerPending reports whether frames it took wait in
// the peer's receive queue, so that loop has work (Engine.Run's yield).
type PeerWaker interface {
	PeerPending() bool
}

// Port is one NIC queue as the loop sees it; *xsk.Socket implements it, and
// so does memlink.Port for tests.
type Port interface {
	// Receive fills descs with received frames and returns how many;
	// a frame in several descriptors (Options xsk.DescContd on all but
	// its last) comes whole.
	Receive(descs []xsk.Desc) int
	// Frame returns the packet bytes of a descriptor.
	Frame(d xsk.Desc) []byte
	// FrameCap returns the whole buffer of a descriptor's frame.
	FrameCap(d xsk.Desc) []byte
	// Release gives received frames back.
	Release(descs []xsk.Desc)
	// AllocTx returns a free frame (whole buffer) to build a packet into.
	AllocTx() (xsk.Desc, []byte, bool)
	// Transmit queues frames for sending and returns how many it took
	// (whole chains of xsk.DescContd descriptors only); the caller keeps
	// the rest.
	Transmit(descs []xsk.Desc) int
	// FreeTx gives back an allocated frame that will not be sent.
	FreeTx(d xsk.Desc)
	// Flush makes queued frames go out (kicks the kernel if it asks).
	Flush() error
	// Wait blocks until frames arrive, wakeFD is readable or timeout
	// passes (negative: no limit); it reports whether frames are waiting.
	Wait(timeout time.Duration, wakeFD int) (bool, error)
}

// TxChecksummer is what a Port that can leave TCP checksums to the device
// has (*xsk.Socket: AF_XDP TX metadata); the engine uses it when
// TxChecksumOffload reports true.
type TxChecksummer interface {
	TxChecksumOffload() bool
	// RequestTxChecksum asks for the checksum of d's packet from byte
	// start to the end, stored at start+offset, and returns d with the
	// option that says so (d by value: a pointer through an interface
	// would move every frame's descriptor to the heap).
	RequestTxChecksum(d xsk.Desc, start, offset int) (xsk.Desc, bool)
}

// RxTimestamper is what a Port whose received frames carry the time the
// XDP program saw them has (*xsk.Socket: the filter's metadata). The
// engine handles each frame at that time rather than at its batch's, so
// RTT samples, RACK, HyStart, delivery rates and the receiver's RTT
// estimate measure the network and not how long the frame waited for the
// loop, as Linux's, taken in the softirq that receives the packet, do.
type RxTimestamper interface {
	// RxTimestamp returns the CLOCK_MONOTONIC nanoseconds at which the
	// frame of d (the first descriptor of a chain) was received, and
	// false if it carries none.
	RxTimestamp(d xsk.Desc) (int64, bool)
}

// Defaults for Config fields left zero.
const (
	DefaultMTU          = 1500 // Ethernet (RFC 894)
	DefaultARPCacheSize = 1024 // bounded neighbour cache (Linux gc_thresh3 is 1024)
	DefaultBatchSize    = 64
	DefaultDoQueueSize  = 1024
	// DefaultUnresQlenTotal bounds the TX frames held for all unresolved
	// neighbours of a loop together (Linux has no such bound, its skbs
	// are not a fixed pool): 256 of the 4096 UMEM frames
	// (xsk.DefaultNumFrames) — enough for a SYN-ACK to each of 256
	// new clients behind a gateway, or two full queues, while most TX
	// frames stay free for traffic whose next hop is known.
	DefaultUnresQlenTotal = 256
)

// ARP timing, following Linux's neighbour defaults (net.ipv4.neigh.*).
const (
	// ARPReachableTime is how long a confirmed entry is used without
	// question (base_reachable_time_ms, 30 s).
	ARPReachableTime = 30 * time.Second
	// ARPStaleGrace is how long a stale entry is used while its probes
	// go unanswered: delay_first_probe_time (5 s) + ucast_solicit (3) ×
	// retrans_time (1 s).
	ARPStaleGrace = 8 * time.Second
	// ARPRetransTime is the least time between two requests for one
	// address (retrans_time_ms, 1 s).
	ARPRetransTime = time.Second
)

// Config configures an Engine.
type Config struct {
	Addr       [4]byte  // our IPv4 address; zero: no IPv4
	PrefixLen  int      // on-link prefix length (0..32)
	Gateway    [4]byte  // default gateway; zero: none
	Addr6      [16]byte // our IPv6 address; zero: no IPv6
	PrefixLen6 int      // on-link IPv6 prefix length (0..128)
	Gateway6   [16]byte // IPv6 default gateway (often link-local, fe80::/10); zero: none
	MAC        [6]byte  // our interface's MAC
	MTU        int      // IP MTU, default 1500
	// MultiBuffer: the port carries a packet in several frames (xsk
	// multi-buffer, Desc.Options DescContd), so the MTU may exceed a
	// frame: received chains are gathered, segments larger than a TX
	// frame are sent as chains.
	MultiBuffer  bool
	ARPCacheSize int  // neighbour cache bound (and return-path cache bound), default 1024
	BatchSize    int  // frames per RX/TX batch, default 64
	QueueID      int  // for stats and labels
	BusyPoll     bool // Run never waits in Port.Wait
	DoQueueSize  int  // Do() queue bound, rounded up to a power of two, default 1024
	// UnresQlenTotal bounds the TX frames held for all unresolved next
	// hops together (no Linux equivalent; the bound per next hop is
	// TCP.UnresQlen, Linux's unres_qlen); default 256; negative: none.
	UnresQlenTotal int
	TCP            tcp.Config

	// ARPWatch, if set, is called on the loop with watch=true before the
	// engine sends an ARP request or an NDP neighbour solicitation for
	// addr (IPv4 mapped, or IPv6), and with watch=false once addr is
	// confirmed. The XDP filter passes ARP replies and neighbour
	// advertisements to the kernel unless their sender (target) is
	// watched (the kernel may share our address and needs the replies to
	// its own requests); it returns false when it could not watch
	// (counted as ArpWatchFailures).
	ARPWatch func(addr flowtable.Addr, watch bool) bool

	// AfterPoll, if set, is called on the loop at the end of every Poll,
	// after the TX batch went to the port: the root package wakes the
	// readers that got data in that iteration there, once each, however
	// many segments (and OnData calls) the iteration gave them.
	AfterPoll func()
}

func (c *Config) setDefaults() {
	if c.MTU <= 0 {
		c.MTU = DefaultMTU
	}
	if c.ARPCacheSize <= 0 {
		c.ARPCacheSize = DefaultARPCacheSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.UnresQlenTotal == 0 {
		c.UnresQlenTotal = DefaultUnresQlenTotal
	}
	c.UnresQlenTotal = max(c.UnresQlenTotal, 0)
	if c.DoQueueSize <= 0 {
		c.DoQueueSize = DefaultDoQueueSize
	}
	if c.PrefixLen < 0 {
		c.PrefixLen = 0
	}
	if c.PrefixLen > 32 {
		c.PrefixLen = 32
	}
	c.PrefixLen6 = min(max(c.PrefixLen6, 0), 128)
}

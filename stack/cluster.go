package stack

// Scale-out behind ECMP (issue 18): hosts that serve one address behind a
// router spreading flows by hash, sharing no per-connection state. Every
// TSval this host sends carries its id in the low bits (tcp/owner.go), and
// the client echoes it as TSecr on every segment. A segment of a flow this
// host does not know, that opens nothing (not a SYN, not a valid cookie
// ACK), is not answered with a RST but its frame is re-sent, unchanged up
// to the end of the IP packet, to a peer's MAC on the shared segment:
//
//   - with a timestamp whose TSecr names a peer: to that peer ("owner");
//   - else (a client without timestamps, or an id no peer has): to the
//     next peer in id order, which passes it on in the same order until
//     a host knows the flow; the host before the one that started the
//     search answers with the RST ("search": at most len(peers) hops).
//
// A forwarded frame carries a 4-byte trailer after the IP packet (where
// Ethernet padding goes: every IP stack reads only up to the IP length):
// a magic, the kind (owner, search, new) and the id of the host that
// started it. A host forwards a frame with the owner or new trailer never
// again (the named host not knowing the flow means no host does: RST), and
// a search frame only towards its origin, so no frame ever loops.
//
// A draining host hands new connections to its peers: a SYN (or an ACK
// returning a valid cookie) goes to a peer picked by a hash of the 4-tuple,
// the same peer for every retransmission, and that peer opens the
// connection; the client's further segments still reach the draining host
// until the router withdraws it, and follow the owner id in their TSecr.
//
// Replies never come back through the forwarding host: the owner sends
// them to its gateway (the router) as for any other segment.

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// DefaultClusterIDBits is the width of host ids in the TSval when
// Cluster.IDBits is 0: 16 hosts, a 16 ms timestamp tick.
const DefaultClusterIDBits = 4

// Cluster is this host's place among the hosts behind one ECMP route. One
// value is shared by every loop of a process; only Draining changes after
// the engines started.
type Cluster struct {
	ID     uint8         // this host's id, < 2^IDBits
	IDBits uint          // id width in the TSval, 1..tcp.MaxOwnerBits (0: DefaultClusterIDBits)
	Peers  []ClusterPeer // the other hosts, each reachable on the shared segment

	draining atomic.Bool
	macs     []atomic.Uint64 // per peer: its MAC, as resolved by some loop, | 1<<63; 0: none yet
}

// setMAC publishes peer i's MAC.
func (c *Cluster) setMAC(i int, mac [6]byte) {
	if i < len(c.macs) {
		var b [8]byte
		copy(b[2:], mac[:])
		c.macs[i].Store(binary.BigEndian.Uint64(b[:]) | 1<<63)
	}
}

// mac returns peer i's MAC as some loop resolved it.
func (c *Cluster) mac(i int) ([6]byte, bool) {
	var m [6]byte
	if i >= len(c.macs) {
		return m, false
	}
	v := c.macs[i].Load()
	if v == 0 {
		return m, false
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	copy(m[:], b[2:])
	return m, true
}

// ClusterPeer is another host of the cluster: its id and an address of it
// on the link shared with this host (resolved with ARP or NDP; the peer's
// kernel may own it).
type ClusterPeer struct {
	ID   uint8
	Addr flowtable.Addr
}

// SetDraining puts the host in draining (new connections go to peers) or
// back in service.
func (c *Cluster) SetDraining(on bool) { c.draining.Store(on) }

// Draining reports whether the host is draining.
func (c *Cluster) Draining() bool { return c.draining.Load() }

func (c *Cluster) bits() uint {
	if c.IDBits == 0 {
		return DefaultClusterIDBits
	}
	return min(c.IDBits, tcp.MaxOwnerBits)
}

// peerIndex returns the index of the peer with id, or -1.
func (c *Cluster) peerIndex(id uint32) int {
	for i := range c.Peers {
		if uint32(c.Peers[i].ID) == id {
			return i
		}
	}
	return -1
}

// next returns the index of the peer that follows id in the ring of ids
// (this host and its peers, ascending), or -1 when there are no peers.
func (c *Cluster) next(id uint8) int {
	best, lowest := -1, -1
	for i := range c.Peers {
		p := c.Peers[i].ID
		if p > id && (best < 0 || p < c.Peers[best].ID) {
			best = i
		}
		if lowest < 0 || p < c.Peers[lowest].ID {
			lowest = i
		}
	}
	if best < 0 {
		return lowest
	}
	return best
}

// pick returns the peer a draining host hands the new flow k to: a hash of
// the 4-tuple over the peers, so retransmitted SYNs go to the same peer.
func (c *Cluster) pick(k *flowtable.Key) int {
	if len(c.Peers) == 0 {
		return -1
	}
	var b [36]byte
	copy(b[:16], k.RemoteAddr[:])
	copy(b[16:32], k.LocalAddr[:])
	binary.BigEndian.PutUint16(b[32:], k.RemotePort)
	binary.BigEndian.PutUint16(b[34:], k.LocalPort)
	h := uint32(2166136261) // FNV-1a
	for _, x := range b {
		h = (h ^ uint32(x)) * 16777619
	}
	return int(h % uint32(len(c.Peers)))
}

// Validate checks ids: within IDBits, none twice, not this host's.
func (c *Cluster) Validate() bool {
	lim := 1 << c.bits()
	if int(c.ID) >= lim {
		return false
	}
	ids := []uint8{c.ID}
	for _, p := range c.Peers {
		if int(p.ID) >= lim || slices.Contains(ids, p.ID) || p.Addr.IsZero() {
			return false
		}
		ids = append(ids, p.ID)
	}
	return true
}

// The trailer a forwarded frame carries after its IP packet.
const (
	trailerLen    = 4
	trailerMagic0 = 0xd5
	trailerMagic1 = 0x18

	fwdOwner  = 1 // to the owner the TSecr names
	fwdSearch = 2 // around the ring of ids, for a flow whose owner is unknown
	fwdNew    = 3 // a new connection handed on by a draining host
)

// fwdInfo is what the frame being handled says about forwarding.
type fwdInfo struct {
	kind   uint8 // 0: not forwarded
	origin uint8 // the host that started it
}

// clusterFrame notes the frame being handled (eth, with its IP packet
// ending at ipEnd) and whether it was forwarded. It reports whether it was.
func (e *Engine) clusterFrame(eth wire.Ethernet, ipEnd int) bool {
	e.curFrame, e.curEnd = eth, ipEnd
	e.fwdIn = fwdInfo{}
	if len(eth) < ipEnd+trailerLen {
		return false
	}
	t := eth[ipEnd:]
	if t[0] != trailerMagic0 || t[1] != trailerMagic1 || t[2] < fwdOwner || t[2] > fwdNew {
		return false
	}
	e.fwdIn = fwdInfo{kind: t[2], origin: t[3]}
	inc(&e.stats.ClusterReceivedForwarded)
	return true
}

// Forward implements tcp.Forwarder (see the package comment above).
func (e *Engine) Forward(seg *tcp.Segment, why tcp.ForwardWhy) bool {
	cl := e.cl
	if cl == nil || e.curFrame == nil {
		return false
	}
	in := e.fwdIn
	if why == tcp.ForwardNew {
		if in.kind != 0 || !cl.Draining() {
			return false
		}
		handled, sent := e.forwardTo(cl.pick(&seg.Key), fwdNew, cl.ID)
		if sent {
			inc(&e.stats.ClusterForwardedNew)
		}
		return handled
	}
	if in.kind == 0 && e.fromPeer() {
		// A peer forwarded it but the trailer is gone (a device on the
		// path trimmed the frame to the IP length: a Linux bridge with
		// br_netfilter does): never forward it again, as an owner frame.
		inc(&e.stats.ClusterTrailerLost)
		return false
	}
	switch in.kind {
	case fwdOwner, fwdNew:
		// The host named by the TSecr (or picked for a new flow) does
		// not know it: no host does.
		inc(&e.stats.ClusterOwnerMisses)
		return false
	case fwdSearch:
		n := cl.next(cl.ID)
		if n < 0 || cl.Peers[n].ID == in.origin {
			inc(&e.stats.ClusterSearchMisses) // the last host of the ring
			return false
		}
		return e.search(n, in.origin)
	}
	if seg.Opts.HasTimestamp {
		id := seg.Opts.TSEcr & (1<<cl.bits() - 1)
		if id == uint32(cl.ID) {
			return false // ours, and unknown: as a host alone
		}
		if i := cl.peerIndex(id); i >= 0 {
			_, sent := e.forwardTo(i, fwdOwner, cl.ID)
			if sent {
				inc(&e.stats.ClusterForwardedOwner)
			}
			return true
		}
	}
	return e.search(cl.next(cl.ID), cl.ID)
}

// search passes the frame on to peer i in the search started by origin.
func (e *Engine) search(i int, origin uint8) bool {
	handled, sent := e.forwardTo(i, fwdSearch, origin)
	if sent {
		inc(&e.stats.ClusterForwardedSearch)
	}
	return handled
}

// fromPeer reports whether the frame being handled comes from a peer's MAC
// (as resolved by this loop).
func (e *Engine) fromPeer() bool {
	src := e.curFrame.Src()
	for i, p := range e.cl.Peers {
		if n := e.arp.get(p.Addr); n != nil && n.state == neighValid && n.mac == src {
			return true
		}
		if m, ok := e.cl.mac(i); ok && m == src {
			return true
		}
	}
	return false
}

// forwardTo re-sends the frame being handled to peer i with a trailer of
// kind and origin; sent says whether it went. handled is false (the caller
// then answers as a host alone) only when there is no peer; a frame it
// cannot send now (peer's MAC not resolved yet, no TX frame) is dropped and
// counted: the client retransmits, and a RST would break a connection a
// peer may hold.
func (e *Engine) forwardTo(i int, kind, origin uint8) (handled, sent bool) {
	if i < 0 {
		return false, false
	}
	mac, ok := e.resolvePeer(i)
	if !ok {
		e.stats.drop(DropClusterPeerUnresolved)
		return true, false
	}
	n := e.curEnd + trailerLen
	d, b, ok := e.allocTx()
	if !ok {
		return true, false
	}
	if len(b) < n {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return true, false
	}
	copy(b, e.curFrame[:e.curEnd])
	copy(b[0:6], mac[:])
	copy(b[6:12], e.cfg.MAC[:])
	b[e.curEnd], b[e.curEnd+1], b[e.curEnd+2], b[e.curEnd+3] = trailerMagic0, trailerMagic1, kind, origin
	e.queueTx(d, n)
	return true, true
}

// clusterRefreshEvery is how often a loop makes sure it knows its peers'
// MACs (an ARP request or NDP solicitation when one is missing, a probe
// when one is stale), so a frame to forward finds them resolved.
const clusterRefreshEvery = time.Second

// refreshPeers resolves every peer's MAC at most once a second.
func (e *Engine) refreshPeers(now clock.Time) {
	if now < e.peersAt {
		return
	}
	e.peersAt = now.Add(clusterRefreshEvery)
	for i := range e.cl.Peers {
		e.resolvePeer(i)
	}
}

// resolvePeer returns peer i's MAC: the peer is on the shared link whatever
// our address's prefix says. With several queues the ARP reply reaches one
// loop only (the peer's transmit hash picks it), so a loop that resolved a
// peer publishes its MAC in the Cluster, and the others use it while they
// have none of their own.
func (e *Engine) resolvePeer(i int) ([6]byte, bool) {
	mac, ok := e.findNeighbor(e.cl.Peers[i].Addr, flowtable.Addr{})
	if ok {
		e.cl.setMAC(i, mac)
		return mac, true
	}
	return e.cl.mac(i)
}

// SetCluster makes the engine one host of cl (nil: a host alone): its TCP
// layer puts cl.ID in every TSval and offers it segments of flows it does
// not own. Call it before Run.
func (e *Engine) SetCluster(cl *Cluster) {
	e.cl = cl
	if cl != nil && len(cl.macs) != len(cl.Peers) {
		cl.macs = make([]atomic.Uint64, len(cl.Peers)) // before any loop runs
	}
	if cl == nil {
		e.layer.SetOwner(0, 0)
		e.layer.SetForwarder(nil)
		return
	}
	e.layer.SetOwner(uint32(cl.ID), cl.bits())
	e.layer.SetForwarder(e)
}

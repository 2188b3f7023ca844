package xdptcp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// ClusterConfig makes a Stack one of several hosts serving the same
// address behind a router that spreads flows by hash (ECMP, BGP anycast,
// an L4 balancer), with no per-connection state shared between them: the
// host's id rides in the low IDBits bits of every TCP timestamp it sends,
// and a segment of a flow it does not know is forwarded on the shared link
// to the host that owns it instead of being answered with a RST (package
// stack, cluster.go; README "Running a cluster").
type ClusterConfig struct {
	ID     int           // this host's id: 0 .. 2^IDBits-1, unique in the cluster
	IDBits int           // width of the id in the timestamp, 1..8 (0: 4, 16 hosts, a 16 ms timestamp tick)
	Peers  []ClusterPeer // every other host
}

// ClusterPeer is another host: its id and its address on the link shared
// with this host (the peer's kernel may own it; it is resolved with ARP,
// or neighbour discovery for IPv6).
type ClusterPeer struct {
	ID   int
	Addr netip.Addr
}

// cluster checks c against the Stack's addresses and returns the engines'
// form of it.
func (c *ClusterConfig) cluster(has4, has6 bool) (*stack.Cluster, error) {
	bits := c.IDBits
	if bits == 0 {
		bits = stack.DefaultClusterIDBits
	}
	if bits < 1 || bits > tcp.MaxOwnerBits {
		return nil, fmt.Errorf("%w: cluster id bits %d: want 1 to %d", ErrBadConfig, bits, tcp.MaxOwnerBits)
	}
	lim := 1 << bits
	if c.ID < 0 || c.ID >= lim {
		return nil, fmt.Errorf("%w: cluster id %d: want 0 to %d (%d id bits)", ErrBadConfig, c.ID, lim-1, bits)
	}
	cl := &stack.Cluster{ID: uint8(c.ID), IDBits: uint(bits)}
	seen := map[int]bool{c.ID: true}
	for _, p := range c.Peers {
		if p.ID < 0 || p.ID >= lim {
			return nil, fmt.Errorf("%w: cluster peer id %d: want 0 to %d (%d id bits)", ErrBadConfig, p.ID, lim-1, bits)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: cluster id %d given twice", ErrBadConfig, p.ID)
		}
		seen[p.ID] = true
		a := p.Addr.Unmap()
		switch {
		case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
			return nil, fmt.Errorf("%w: cluster peer %d: %q is not a unicast address", ErrBadAddress, p.ID, p.Addr)
		case a.Is4() && !has4:
			return nil, fmt.Errorf("%w: cluster peer %d has an IPv4 address but the host serves no IPv4 address to resolve it from", ErrBadAddress, p.ID)
		case a.Is6() && !has6:
			return nil, fmt.Errorf("%w: cluster peer %d has an IPv6 address but the host serves no IPv6 address to resolve it from", ErrBadAddress, p.ID)
		}
		var fa flowtable.Addr
		if a.Is4() {
			fa = flowtable.AddrFrom4(a.As4())
		} else {
			fa = flowtable.Addr(a.As16())
		}
		cl.Peers = append(cl.Peers, stack.ClusterPeer{ID: uint8(p.ID), Addr: fa})
	}
	if !cl.Validate() {
		return nil, fmt.Errorf("%w: cluster settings", ErrBadConfig)
	}
	return cl, nil
}

// SetDraining puts the host in draining (on) or back in service. A draining
// host hands new connections (SYNs, and ACKs returning a valid SYN cookie)
// to a peer picked by the 4-tuple's hash, and keeps serving the connections
// it has wherever the router delivers their segments. Without
// Config.Cluster it changes nothing on the packet path.
func (s *Stack) SetDraining(on bool) {
	if s.cluster != nil {
		s.cluster.SetDraining(on)
	}
	s.draining.Store(on)
}

// Draining reports whether SetDraining(true) is in force.
func (s *Stack) Draining() bool { return s.draining.Load() }

// Forwarded returns how many segments this host has forwarded to cluster
// peers, summed over loops (a draining host still forwards while the
// router sends it traffic).
func (s *Stack) Forwarded() uint64 {
	var n uint64
	for _, l := range s.loops {
		st := l.engine.Stats()
		n += st.ClusterForwardedOwner.Load() + st.ClusterForwardedSearch.Load() + st.ClusterForwardedNew.Load()
	}
	return n
}

// staleHalfOpen is how long a passive half-open connection may go without
// hearing from its client before a drain stops waiting for it.
const staleHalfOpen = 3 * time.Second

// DrainConns is LiveConns for a draining host: the connections it still
// has to serve. A passive half-open connection (SYN-RECEIVED) that heard
// nothing from its client for 3 s is not counted: behind ECMP a SYN and
// its retransmission can reach two hosts, and the client completes the
// handshake with one of them while the other retransmits its SYN-ACK for a
// minute (tcp_synack_retries) to a client that answers elsewhere.
func (s *Stack) DrainConns() int {
	n := 0
	s.Do(func(l *Loop) {
		l.engine.TCP().Range(func(c *tcp.Conn) bool {
			switch c.State() {
			case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClosed:
			case tcp.StateSynReceived:
				if c.Info().LastAckRecv < staleHalfOpen {
					n++
				}
			default:
				n++
			}
			return true
		})
	})
	return n
}

package stack

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// An in-memory ECMP topology: a client engine behind a "router" that
// delivers the client's frames for the service address to the host its
// route table names per client port, and every host's frames to the
// gateway back to the client; hosts reach each other's MACs directly (the
// shared segment).

var (
	cliAddr  = [4]byte{198, 19, 5, 5}
	cliGW    = [4]byte{198, 19, 5, 254}
	cliMAC   = [6]byte{2, 0, 0, 0, 9, 9}
	vip      = [4]byte{198, 18, 100, 1}
	hostGW   = [4]byte{198, 18, 1, 254}
	cliAddr6 = [16]byte{0x20, 0x01, 0, 2, 0, 5, 15: 5}   // 2001:2:0:5::5
	cliGW6   = [16]byte{0x20, 0x01, 0, 2, 0, 5, 15: 254} // 2001:2:0:5::fe
	vip6     = [16]byte{0x20, 0x01, 0, 2, 1, 0, 15: 1}   // 2001:2:0:100::1
	hostGW6  = [16]byte{0x20, 0x01, 0, 2, 1, 0, 15: 254} // 2001:2:0:100::fe
)

func hostMAC(id int) [6]byte  { return [6]byte{2, 0, 0, 0, 1, byte(id)} }
func hostLink(id int) [4]byte { return [4]byte{198, 18, 1, byte(id)} }

type ecmp struct {
	t      testing.TB
	now    clock.Time
	cli    *Engine
	cliP   *fakePort
	hosts  map[int]*Engine
	ports  map[int]*fakePort
	route  func(port uint16) int // host id for a client port
	rsts   int                   // RSTs the client received
	rstBy  map[int]int           // RSTs sent by host id
	frames int
	trim   bool // the shared segment trims frames to their IP length (br_netfilter)
	v6     bool // clients dial the IPv6 service address
}

// tcpOf returns the TCP header of an IPv4 or IPv6 frame (no extension
// headers), or nil.
func tcpOf(f []byte) wire.TCP {
	switch wire.Ethernet(f).Type() {
	case wire.EtherTypeIPv4:
		return wire.TCP(f[34:])
	case wire.EtherTypeIPv6:
		if f[20] == wire.ProtoTCP {
			return wire.TCP(f[54:])
		}
	}
	return nil
}

// ipLen is the length of f's IP packet.
func ipLen(f []byte) int {
	if wire.Ethernet(f).Type() == wire.EtherTypeIPv6 {
		return 40 + int(wire.IPv6(f[14:]).PayloadLen())
	}
	return int(wire.IPv4(f[14:]).TotalLen())
}

// newECMP makes hosts with ids; cluster: whether they know each other.
func newECMP(t testing.TB, ids []int, cluster bool) *ecmp {
	n := &ecmp{t: t, now: clock.Time(time.Hour), hosts: map[int]*Engine{}, ports: map[int]*fakePort{}, rstBy: map[int]int{}}
	n.cliP = newFakePort(1024)
	n.cli = NewEngine(Config{Addr: cliAddr, PrefixLen: 24, Gateway: cliGW, Addr6: cliAddr6, PrefixLen6: 64, Gateway6: cliGW6, MAC: cliMAC}, n.cliP, n.now)
	n.cli.SetNeighbor(flowtable.AddrFrom4(cliGW), macGW)
	n.cli.SetNeighbor(flowtable.Addr(cliGW6), macGW)
	t.Cleanup(func() { n.cli.Close() })
	for _, id := range ids {
		n.addHost(id, ids, cluster)
	}
	n.route = func(uint16) int { return ids[0] }
	return n
}

func (n *ecmp) addHost(id int, ids []int, cluster bool) *Engine {
	p := newFakePort(1024)
	e := NewEngine(Config{Addr: vip, PrefixLen: 32, Gateway: hostGW, Addr6: vip6, PrefixLen6: 64, Gateway6: hostGW6, MAC: hostMAC(id)}, p, n.now)
	n.t.Cleanup(func() { e.Close() })
	e.SetNeighbor(flowtable.AddrFrom4(hostGW), macGW)
	e.SetNeighbor(flowtable.Addr(hostGW6), macGW)
	if cluster {
		cl := &Cluster{ID: uint8(id)}
		for _, o := range ids {
			if o != id {
				cl.Peers = append(cl.Peers, ClusterPeer{ID: uint8(o), Addr: flowtable.AddrFrom4(hostLink(o))})
				e.SetNeighbor(flowtable.AddrFrom4(hostLink(o)), hostMAC(o))
			}
		}
		if !cl.Validate() {
			n.t.Fatalf("cluster %+v not valid", cl)
		}
		e.SetCluster(cl)
	}
	if _, err := e.TCP().Listen(flowtable.Addr{}, 80, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		n.t.Fatal(err)
	}
	n.hosts[id], n.ports[id] = e, p
	return e
}

// run moves frames and time for d, 1 ms at a time.
func (n *ecmp) run(d time.Duration) {
	end := n.now.Add(d)
	for n.now < end {
		for i := 0; i < 100; i++ { // until quiet
			moved := n.step()
			if !moved {
				break
			}
		}
		n.now = n.now.Add(time.Millisecond)
	}
}

func (n *ecmp) step() bool {
	n.cli.Poll(n.now)
	moved := false
	for _, f := range n.cliP.take() {
		moved = true
		eth := wire.Ethernet(f)
		if eth.Dst() != macGW {
			continue // ARP for the gateway: permanent, never sent
		}
		t := tcpOf(f)
		if t == nil {
			continue
		}
		h := n.route(t.SrcPort())
		if n.hosts[h] == nil {
			continue // a dead host: its frames are lost
		}
		m := hostMAC(h)
		copy(f[0:6], m[:])
		copy(f[6:12], macGW[:])
		n.ports[h].push(f)
	}
	for id, e := range n.hosts {
		e.Poll(n.now)
		for _, f := range n.ports[id].take() {
			moved = true
			n.frames++
			dst := wire.Ethernet(f).Dst()
			if dst == macGW {
				if t := tcpOf(f); t != nil && t.Flags()&wire.FlagRST != 0 {
					n.rstBy[id]++
				}
				copy(f[0:6], cliMAC[:])
				n.cliP.push(f)
				continue
			}
			if n.trim {
				f = f[:14+ipLen(f)]
			}
			for o, oe := range n.hosts {
				if dst == hostMAC(o) && oe != nil {
					n.ports[o].push(f)
				}
			}
		}
	}
	return moved
}

// client is one keep-alive connection: it sends a request when told and
// counts the echoes and errors.
type client struct {
	c      *tcp.Conn
	open   bool
	got    []byte
	err    error
	closed bool
}

func (h *client) OnOpen(c *tcp.Conn) { h.open = true }
func (h *client) OnData(c *tcp.Conn, p []byte) int {
	h.got = append(h.got, p...)
	return len(p)
}
func (h *client) OnWritable(c *tcp.Conn)  {}
func (h *client) OnPeerClose(c *tcp.Conn) {}
func (h *client) OnClose(c *tcp.Conn, err error) {
	h.closed, h.err = true, err
}

func (n *ecmp) dial() *client {
	h := &client{}
	local, remote := flowtable.AddrFrom4(cliAddr), flowtable.AddrFrom4(vip)
	if n.v6 {
		local, remote = flowtable.Addr(cliAddr6), flowtable.Addr(vip6)
	}
	c, err := n.cli.TCP().Dial(n.now, local, remote, 80, h)
	if err != nil {
		n.t.Fatal(err)
	}
	h.c = c
	return h
}

// request sends msg on every client and checks each gets it back.
func (n *ecmp) request(cs []*client, msg string) {
	n.t.Helper()
	for _, h := range cs {
		h.got = nil
		h.c.Write([]byte(msg))
	}
	n.run(300 * time.Millisecond)
	for i, h := range cs {
		if h.closed || string(h.got) != msg {
			n.t.Fatalf("client %d (port %d): got %q, closed %v (%v); want the echo %q", i, h.c.Key().LocalPort, h.got, h.closed, h.err, msg)
		}
	}
}

func (n *ecmp) stat(id int, f func(*Stats) uint64) uint64 { return f(n.hosts[id].Stats()) }

// Flows move between hosts (the router's hash changed) and keep working:
// with timestamps a segment goes straight to the owner its TSecr names,
// without them around the ring of ids (one hop or two); replies go back
// through the router, never the forwarding host; no client sees a reset.
func TestClusterFlowsMoveBetweenHosts(t *testing.T) {
	for _, tc := range []struct{ ts, v6 bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
		ts := tc.ts
		t.Run(fmt.Sprintf("timestamps=%v,ipv6=%v", ts, tc.v6), func(t *testing.T) {
			n := newECMP(t, []int{1, 2, 3}, true)
			n.v6 = tc.v6
			n.cli.TCP().Config().Timestamps = ts
			var cs []*client
			for i := 0; i < 4; i++ {
				cs = append(cs, n.dial())
			}
			n.run(100 * time.Millisecond)
			n.request(cs, "one")
			if got := n.hosts[1].TCP().Conns(); got != 4 {
				t.Fatalf("host 1 holds %d connections, want 4", got)
			}
			for _, to := range []int{2, 3} {
				n.route = func(uint16) int { return to }
				n.request(cs, fmt.Sprintf("moved to %d", to))
			}
			for id := 2; id <= 3; id++ {
				if c := n.hosts[id].TCP().Conns(); c != 0 {
					t.Fatalf("host %d opened %d connections for flows it does not own", id, c)
				}
			}
			if ts {
				if n.stat(2, func(s *Stats) uint64 { return s.ClusterForwardedOwner.Load() }) == 0 ||
					n.stat(3, func(s *Stats) uint64 { return s.ClusterForwardedOwner.Load() }) == 0 {
					t.Fatal("hosts 2 and 3 forwarded nothing to the owner")
				}
			} else {
				// From 2 the search goes 2 -> 3 -> 1: host 3 passes it on.
				if n.stat(3, func(s *Stats) uint64 { return s.ClusterForwardedSearch.Load() }) < 8 {
					t.Fatal("host 3 did not pass searches on")
				}
			}
			if got := n.stat(1, func(s *Stats) uint64 { return s.ClusterReceivedForwarded.Load() }); got == 0 {
				t.Fatal("host 1 received no forwarded frame")
			}
			if n.rstBy[1]+n.rstBy[2]+n.rstBy[3] != 0 {
				t.Fatalf("RSTs sent: %v", n.rstBy)
			}
			// Close from the client on the moved path: FIN handshakes
			// complete through the forwarding.
			for _, h := range cs {
				h.c.Close()
			}
			n.run(time.Second)
			if c := n.hosts[1].TCP().Conns(); c != 0 {
				t.Fatalf("host 1 still holds %d connections after the closes", c)
			}
			for i, h := range cs {
				if !h.closed || h.err != nil {
					t.Fatalf("client %d: closed %v err %v", i, h.closed, h.err)
				}
			}
		})
	}
}

// Hosts that do not know each other (no cluster settings) reset a moved
// flow, as Linux servers behind ECMP do: the baseline.
func TestNoClusterMovedFlowIsReset(t *testing.T) {
	n := newECMP(t, []int{1, 2}, false)
	h := n.dial()
	n.run(100 * time.Millisecond)
	n.request([]*client{h}, "x")
	n.route = func(uint16) int { return 2 }
	h.c.Write([]byte("y"))
	n.run(300 * time.Millisecond)
	if !h.closed || h.err != tcp.ErrReset || n.rstBy[2] == 0 {
		t.Fatalf("closed %v err %v rsts %v; want a reset from host 2", h.closed, h.err, n.rstBy)
	}
}

// rawFrame is a TCP segment from the client to the service address as the
// router delivers it to host id.
func rawFrame(id int, flags wire.TCPFlags, o *wire.TCPOptions) []byte {
	f := tcpFrame(macGW, cliAddr, 40000, 80, flags, 1234, o, nil)
	m := hostMAC(id)
	copy(f[0:6], m[:])
	ip := wire.IPv4(f[14:])
	ip.Encode(&wire.IPv4Fields{TotalLen: ip.TotalLen(), ID: 7, DF: true, TTL: 64, Protocol: wire.ProtoTCP, Src: cliAddr, Dst: vip})
	t := wire.TCP(f[34:])
	t.SetChecksum(0)
	t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtoTCP, cliAddr, vip, uint16(len(t)))))
	return f
}

// A segment of a flow no host knows is answered with exactly one RST, by
// the last host asked: the one its TSecr names, or the end of the search
// (host 1 for a search started at host 2 in the ring 1, 2, 3). RSTs are
// forwarded too, and never answered.
func TestClusterUnknownFlowOneRST(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     *wire.TCPOptions
		flags wire.TCPFlags
		rstBy int
		miss  func(*Stats) uint64
	}{
		{"search", nil, wire.FlagACK, 1, func(s *Stats) uint64 { return s.ClusterSearchMisses.Load() }},
		{"owner 3", &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4443}, wire.FlagACK, 3, func(s *Stats) uint64 { return s.ClusterOwnerMisses.Load() }},
		{"owner is us", &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4442}, wire.FlagACK, 2, nil},
		{"unknown id 9: search", &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4449}, wire.FlagACK, 1, func(s *Stats) uint64 { return s.ClusterSearchMisses.Load() }},
		{"rst", nil, wire.FlagRST, 0, func(s *Stats) uint64 { return s.ClusterSearchMisses.Load() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newECMP(t, []int{1, 2, 3}, true)
			n.ports[2].push(rawFrame(2, tc.flags, tc.o))
			n.run(5 * time.Millisecond)
			total := n.rstBy[1] + n.rstBy[2] + n.rstBy[3]
			if tc.rstBy == 0 {
				if total != 0 {
					t.Fatalf("a RST was answered: %v", n.rstBy)
				}
			} else if total != 1 || n.rstBy[tc.rstBy] != 1 {
				t.Fatalf("RSTs by host %v; want one, by host %d", n.rstBy, tc.rstBy)
			}
			if tc.miss != nil {
				last := tc.rstBy
				if last == 0 {
					last = 1
				}
				if got := tc.miss(n.hosts[last].Stats()); got != 1 {
					t.Fatalf("host %d miss counter %d, want 1", last, got)
				}
			}
			if n.frames > 4 {
				t.Fatalf("%d frames moved for one stray segment: a loop?", n.frames)
			}
		})
	}
}

// A draining host hands new connections to a peer (a SYN and its
// retransmissions to the same one, by the 4-tuple's hash) and keeps
// serving the ones it has; after the router withdrew it, the client's
// segments reach the owner through any host. Nothing is reset.
func TestClusterDrainHandsNewConnectionsToPeers(t *testing.T) {
	n := newECMP(t, []int{1, 2, 3}, true)
	old := n.dial()
	n.run(100 * time.Millisecond)
	n.request([]*client{old}, "before")
	n.hosts[1].cl.SetDraining(true)
	var fresh []*client
	for i := 0; i < 6; i++ {
		fresh = append(fresh, n.dial())
	}
	n.run(100 * time.Millisecond)
	if c := n.hosts[1].TCP().Conns(); c != 1 {
		t.Fatalf("draining host 1 holds %d connections, want only the old one", c)
	}
	if c := n.hosts[2].TCP().Conns() + n.hosts[3].TCP().Conns(); c != 6 {
		t.Fatalf("peers hold %d connections, want the 6 new ones", c)
	}
	if got := n.stat(1, func(s *Stats) uint64 { return s.ClusterForwardedNew.Load() }); got != 6 {
		t.Fatalf("ForwardedNew = %d, want 6 SYNs", got)
	}
	all := append([]*client{old}, fresh...)
	n.request(all, "while draining")
	// The router withdraws host 1: its flows go to 2 and 3 by port.
	n.route = func(p uint16) int { return 2 + int(p)%2 }
	n.request(all, "withdrawn")
	old.c.Close()
	n.run(time.Second)
	if c := n.hosts[1].TCP().Conns(); c != 0 {
		t.Fatalf("host 1 still holds %d connections", c)
	}
	if n.rstBy[1]+n.rstBy[2]+n.rstBy[3] != 0 {
		t.Fatalf("RSTs: %v", n.rstBy)
	}
}

// Forwarding costs no allocation per frame.
func TestNoAllocsClusterForward(t *testing.T) {
	n := newECMP(t, []int{1, 2, 3}, true)
	f := rawFrame(2, wire.FlagACK, &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4441})
	e, p := n.hosts[2], n.ports[2]
	p.capture = false
	allocs := testing.AllocsPerRun(1000, func() {
		p.push(f)
		e.Poll(n.now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per forwarded frame", allocs)
	}
	if e.Stats().ClusterForwardedOwner.Load() < 1000 {
		t.Fatal("frames were not forwarded")
	}
}

// A device on the shared segment that trims frames to their IP length
// (a Linux bridge with br_netfilter) removes the trailer: moved flows
// still reach their owner, and a stray segment is never forwarded twice
// (it comes from a peer's MAC): one RST, no loop.
func TestClusterTrailerLostNoLoop(t *testing.T) {
	n := newECMP(t, []int{1, 2, 3}, true)
	n.trim = true
	h := n.dial()
	n.run(100 * time.Millisecond)
	n.request([]*client{h}, "a")
	n.route = func(uint16) int { return 2 }
	n.request([]*client{h}, "b")
	n.frames = 0
	n.ports[2].push(rawFrame(2, wire.FlagACK, nil)) // a search: 2 -> 3
	n.run(5 * time.Millisecond)
	if total := n.rstBy[1] + n.rstBy[2] + n.rstBy[3]; total != 1 || n.rstBy[3] != 1 {
		t.Fatalf("RSTs %v; want one, by host 3", n.rstBy)
	}
	if n.frames > 3 || n.hosts[3].Stats().ClusterTrailerLost.Load() != 1 {
		t.Fatalf("%d frames, trailer lost %d", n.frames, n.hosts[3].Stats().ClusterTrailerLost.Load())
	}
}

// The engine's cost of forwarding a segment of a flow it does not own
// (HandleFrame to the frame queued for the peer: parse, checksum, flow
// lookups, the owner from the TSecr, the copy) against what a host alone
// does with the same segment (answer it with a RST).
func BenchmarkClusterForward(b *testing.B) {
	ts := &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4441}
	for _, bc := range []struct {
		name    string
		cluster bool
		o       *wire.TCPOptions
	}{
		{"owner", true, ts},
		{"search", true, nil},
		{"alone-rst", false, ts},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := newECMP(b, []int{1, 2, 3}, bc.cluster)
			f := rawFrame(2, wire.FlagACK, bc.o)
			e, p := n.hosts[2], n.ports[2]
			p.capture = false
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.push(f)
				e.Poll(n.now)
			}
			b.StopTimer()
			if bc.cluster && e.Stats().ClusterForwardedOwner.Load()+e.Stats().ClusterForwardedSearch.Load() < uint64(b.N) {
				b.Fatal("frames were not forwarded")
			}
		})
	}
}

// With several queues only one loop hears a peer's ARP reply: the loops of
// one host share the peers' MACs through the Cluster, so a loop that never
// resolved a peer still forwards to it.
func TestClusterLoopsSharePeerMACs(t *testing.T) {
	n := newECMP(t, []int{1, 2, 3}, true)
	n.hosts[2].Poll(n.now) // resolves (here: finds) the peers, publishes them
	p := newFakePort(64)
	other := NewEngine(Config{Addr: vip, PrefixLen: 32, Gateway: hostGW, MAC: hostMAC(2)}, p, n.now)
	defer other.Close()
	other.SetCluster(n.hosts[2].cl) // a second loop of host 2, its neighbour cache empty
	p.push(rawFrame(2, wire.FlagACK, &wire.TCPOptions{HasTimestamp: true, TSVal: 1, TSEcr: 0x4443}))
	other.Poll(n.now)
	var fwd int
	for _, f := range p.take() {
		if wire.Ethernet(f).Dst() == hostMAC(3) {
			fwd++
		}
	}
	if fwd != 1 || other.Stats().ClusterForwardedOwner.Load() != 1 {
		t.Fatalf("%d frames to host 3, forwarded %d; drops unresolved %d", fwd, other.Stats().ClusterForwardedOwner.Load(),
			other.Stats().Drops[DropClusterPeerUnresolved].Load())
	}
	var c Cluster
	if _, ok := c.mac(0); ok {
		t.Fatal("a MAC before any was published")
	}
}

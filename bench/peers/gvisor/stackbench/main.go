// Command stackbench is the gVisor side of `make bench-stack`
// (bench/stackbench): two gVisor netstacks back to back in one process,
// joined by link/pipe wrapped in link/ethernet (the frames carry Ethernet
// headers, as xdptcp's in-memory link does; MTU 1500), driven through
// gonet's net.Listener and net.Conn by the same workloads as xdptcp's
// net.Conn rows. It prints the rows as JSON; xdptcp-stackbench runs it and
// makes the table.
//
// GOMAXPROCS is 1 unless the environment sets it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/xdptcp/xdptcp/bench/stackbench"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

var (
	addrA = tcpip.AddrFrom4([4]byte{198, 18, 0, 1}) // client
	addrB = tcpip.AddrFrom4([4]byte{198, 18, 0, 2}) // server
	macA  = tcpip.LinkAddress("\x02\x00\x5e\x00\x00\x01")
	macB  = tcpip.LinkAddress("\x02\x00\x5e\x00\x00\x02")
)

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	p := stackbench.DefaultParams()
	workloads := flag.String("workloads", "", "workloads, comma-separated (keepalive, connect, bulk); default all")
	flag.IntVar(&p.Requests, "requests", p.Requests, "keepalive: requests over all connections")
	flag.IntVar(&p.Conns, "conns", p.Conns, "keepalive: connections")
	flag.IntVar(&p.Connects, "connects", p.Connects, "connect: connections opened and closed")
	flag.IntVar(&p.Parallel, "parallel", p.Parallel, "connect: connections in flight")
	flag.Int64Var(&p.Bytes, "bytes", p.Bytes, "bulk: bytes moved one way")
	flag.Parse()
	var which []string
	if *workloads != "" {
		which = strings.Split(*workloads, ",")
	}
	var rows []stackbench.Result
	for _, w := range stackbench.Workloads {
		if len(which) > 0 && !contains(which, w) {
			continue
		}
		n, err := newPair()
		if err != nil {
			rows = append(rows, stackbench.Result{Stack: "gvisor", API: "net.Conn", Workload: w, Err: err.Error()})
			continue
		}
		rows = append(rows, stackbench.RunConn("gvisor", n, p, []string{w})...)
		n.close()
	}
	if err := stackbench.WriteJSON(os.Stdout, rows); err != nil {
		fmt.Fprintln(os.Stderr, "stackbench:", err)
		os.Exit(1)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// pairNet is two netstacks over a pipe: a dials, b listens.
type pairNet struct{ a, b *stack.Stack }

func newStack(ep stack.LinkEndpoint, addr tcpip.Address, peer tcpip.Address, peerMAC tcpip.LinkAddress) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true) // as xdptcp and Linux
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	if e := s.CreateNIC(1, ep); e != nil {
		return nil, fmt.Errorf("CreateNIC: %v", e)
	}
	if e := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: 24}}, stack.AddressProperties{}); e != nil {
		return nil, fmt.Errorf("AddProtocolAddress: %v", e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	// The peer is a known neighbour, as in xdptcp's pair: no ARP.
	if e := s.AddStaticNeighbor(1, ipv4.ProtocolNumber, peer, peerMAC); e != nil {
		return nil, fmt.Errorf("AddStaticNeighbor: %v", e)
	}
	return s, nil
}

func newPair() (*pairNet, error) {
	pa, pb := pipe.New(macA, macB, 1500+header.EthernetMinimumSize)
	a, err := newStack(ethernet.New(pa), addrA, addrB, macB)
	if err != nil {
		return nil, err
	}
	b, err := newStack(ethernet.New(pb), addrB, addrA, macA)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &pairNet{a: a, b: b}, nil
}

func (n *pairNet) close() {
	n.a.Close()
	n.b.Close()
}

func (n *pairNet) Listen(port int) (net.Listener, error) {
	return gonet.ListenTCP(n.b, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: uint16(port)}, ipv4.ProtocolNumber)
}

func (n *pairNet) Dial(ctx context.Context, port int) (net.Conn, error) {
	return gonet.DialContextTCP(ctx, n.a, tcpip.FullAddress{NIC: 1, Addr: addrB, Port: uint16(port)}, ipv4.ProtocolNumber)
}

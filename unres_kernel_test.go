package xdptcp

// A connection through a gateway the stack has not resolved yet: the first
// SYN-ACK waits for the gateway's ARP reply (held on the neighbour entry,
// as Linux queues on an INCOMPLETE neighbour) instead of being dropped, so
// the client does not wait for its SYN retransmission (connect measured
// here at 1-2 ms, against 1.003 s with the old drop). Needs root.

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/stack"
)

func TestKernelFirstSynAckThroughUnresolvedGateway(t *testing.T) {
	testnet.RequireRoot(t)
	srv, rtr, cli := testnet.NewNS(t, "xus"), testnet.NewNS(t, "xur"), testnet.NewNS(t, "xuc")
	in := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: rtr, AAddr: "198.18.0.1/24", BAddr: "198.18.0.254/24", TxOffOnB: true})
	testnet.NewVeth(t, testnet.VethOptions{ANS: rtr, BNS: cli, AAddr: "198.19.0.254/24", BAddr: "198.19.0.2/24", TxOffOnA: true, TxOffOnB: true})
	rtr.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	cli.Exec(t, "ip", "route", "add", "default", "via", "198.19.0.254")
	// The router knows the server's MAC without asking, so nothing it
	// sends teaches the stack the router's MAC before the first SYN-ACK.
	mac := strings.TrimSpace(srv.Exec(t, "cat", "/sys/class/net/"+in.A+"/address"))
	rtr.Exec(t, "ip", "neigh", "replace", "198.18.0.1", "lladdr", mac, "dev", in.B, "nud", "permanent")

	cfg := Config{Iface: in.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Gateway: netip.MustParseAddr("198.18.0.254"),
		Queues: []int{0}, TCP: DefaultTCPConfig()}
	st := openStackIn(t, srv, cfg)
	ln, err := st.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	k, err := cli.Dial(ctx, "tcp4", "198.18.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("connect took %v (not asserted)", time.Since(t0).Round(time.Microsecond))
	defer k.Close()
	s := st.loops[0].engine.Stats()
	if s.Drops[stack.DropARPUnresolved].Load() != 0 || s.ArpOutRequests.Load() == 0 {
		t.Fatalf("arp_unresolved drops %d, ARP requests %d; want 0 and at least 1",
			s.Drops[stack.DropARPUnresolved].Load(), s.ArpOutRequests.Load())
	}
}

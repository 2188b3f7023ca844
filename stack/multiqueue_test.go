package stack

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/wire"
)

// With several queues the ARP reply to a loop's request reaches the queue
// the peer's transmit hash picks, so a loop may never see it. A loop that
// received frames from an unresolved on-link peer answers to their Ethernet
// source, still asking by ARP, until ARP resolves the peer on this loop.
func TestUnresolvedOnLinkPeerUsesReturnPath(t *testing.T) {
	f := newFixture(t, nil)
	f.recv(tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagSYN, 1, nil, nil))
	ok, out := f.send(rstTo(addrPeer))
	if !ok || len(out) != 2 {
		t.Fatalf("sent %v, %d frames; want an ARP request and the segment", ok, len(out))
	}
	if wire.Ethernet(out[0]).Type() != wire.EtherTypeARP {
		t.Fatalf("first frame %x is not our ARP request", out[0])
	}
	if wire.Ethernet(out[1]).Dst() != macPeer || wire.IPv4(out[1][14:]).Dst() != addrPeer {
		t.Fatalf("segment %x not sent to the frame's source", out[1])
	}
	// Still unresolved a second later: asked again, still sent.
	f.now = f.now.Add(time.Second)
	if ok, out = f.send(rstTo(addrPeer)); !ok || len(out) != 2 {
		t.Fatalf("sent %v, %d frames", ok, len(out))
	}
	// ARP resolves it to another MAC: ARP wins.
	other := [6]byte{2, 0, 0, 0, 0, 0x55}
	f.recv(arpFrame(wire.ARPReply, other, addrPeer, macUs, addrUs, macUs))
	if ok, out = f.send(rstTo(addrPeer)); !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != other {
		t.Fatalf("after ARP: sent %v, frames %x", ok, out)
	}
	// The return path expires with ARP's reachable time.
	g := newFixture(t, nil)
	g.recv(tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagSYN, 1, nil, nil))
	g.now = g.now.Add(ARPReachableTime + time.Second)
	if ok, out := g.send(rstTo(addrPeer)); !ok || len(out) != 1 || wire.Ethernet(out[0]).Type() != wire.EtherTypeARP {
		t.Fatal("an expired return path was used")
	}
	if g.e.pend.pkts != 1 {
		t.Fatal("segment not held for ARP")
	}
}

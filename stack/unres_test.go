package stack

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// naFrame is a solicited neighbour advertisement from the peer 2001:2::2
// (macPeer, target link-layer option) to us.
func naFrame() []byte {
	b := make([]byte, nsFrameLen)
	src, dst := addrPeer6, addrUs6
	wire.Ethernet(b).Encode(macUs, macPeer, wire.EtherTypeIPv6)
	wire.IPv6(b[14:]).Encode(&wire.IPv6Fields{
		PayloadLen: wire.NDMinLen + wire.NDOptLLALen, NextHeader: wire.ProtoICMPv6,
		HopLimit: 255, Src: src, Dst: dst,
	})
	na := wire.ICMPv6(b[14+wire.IPv6HeaderLen:])
	na.EncodeNA(src, macPeer, true, true)
	na.SetChecksumFor(&src, &dst)
	return b
}

func rstTo6(dst [16]byte) *tcp.OutSegment {
	return &tcp.OutSegment{
		Key:   flowtable.Key{LocalAddr: flowtable.Addr(addrUs6), RemoteAddr: flowtable.Addr(dst), LocalPort: 80, RemotePort: 40000},
		Flags: wire.FlagRST | wire.FlagACK,
	}
}

// IPv6: a segment to an unresolved neighbour is held while NDP solicits
// (RFC 4861 §7.2.2: "the sender SHOULD ... queue the packet") and sent
// when the advertisement arrives; unanswered, it is dropped after
// MAX_MULTICAST_SOLICIT (3) solicitations.
func TestUnresolvedNextHopHoldsFrames6(t *testing.T) {
	f := newFixture6(t)
	ok, out := f.send(rstTo6(addrPeer6))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Type() != wire.EtherTypeIPv6 || wire.Ethernet(out[0]).Dst()[0] != 0x33 {
		t.Fatalf("ok=%v, %d frames; want a multicast solicitation", ok, len(out))
	}
	f.send(rstTo6(addrPeer6))
	out = f.recv(naFrame())
	if len(out) != 2 {
		t.Fatalf("sent %d frames with the advertisement, want the 2 held", len(out))
	}
	for _, o := range out {
		ip := wire.IPv6(o[14:])
		if wire.Ethernet(o).Dst() != macPeer || ip.NextHeader() != wire.ProtoTCP || ip.Dst() != addrPeer6 {
			t.Fatalf("held segment %x", o)
		}
	}
	if f.drops(DropARPUnresolved) != 0 || f.p.inLoop != 0 {
		t.Fatal("dropped or leaked")
	}

	g := newFixture6(t)
	g.send(rstTo6(addrPeer6))
	for range unresSolicit {
		g.now = g.now.Add(ARPRetransTime)
		g.e.Poll(g.now)
	}
	g.p.take()
	g.expectDrop(DropARPUnresolved, 1)
	if g.e.Stats().Icmp6OutNeighborSolicits.Load() != unresSolicit || g.p.inLoop != 0 {
		t.Fatalf("%d solicitations, %d frames in loop", g.e.Stats().Icmp6OutNeighborSolicits.Load(), g.p.inLoop)
	}
}

// Holding segments and sending them with the reply allocates nothing.
func TestNoAllocsHoldAndFlush(t *testing.T) {
	// One entry: each round's next hop evicts the other's, so every
	// round starts unresolved.
	f := newFixture(t, func(c *Config) { c.ARPCacheSize = 1 })
	f.p.capture = false
	segs := [2]*tcp.OutSegment{rstTo(addrPeer), rstTo(addrGW)}
	replies := [2][]byte{
		arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs),
		arpFrame(wire.ARPReply, macGW, addrGW, macUs, addrUs, macUs),
	}
	n, held := 0, 0
	allocs := testing.AllocsPerRun(100, func() {
		i := n & 1
		f.now = f.now.Add(time.Millisecond)
		f.e.now = f.now
		f.e.SendTCP(segs[i])
		f.e.SendTCP(segs[i])
		if f.e.pend.pkts == 2 {
			held++
		}
		f.p.push(replies[i])
		f.e.Poll(f.now)
		n++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per hold and flush", allocs)
	}
	if held != n || f.e.pend.pkts != 0 || f.drops(DropARPUnresolved) != 0 || f.p.nsent < 3*n {
		t.Fatalf("rounds %d, held in %d, held now %d, dropped %d, sent %d", n, held, f.e.pend.pkts, f.drops(DropARPUnresolved), f.p.nsent)
	}
}

// Segments held for an on-link peer go out, first, when the peer's own
// frames give its return path (multi-queue: the ARP reply went to another
// loop).
func TestHeldFramesFollowReturnPath(t *testing.T) {
	f := newFixture(t, nil)
	f.send(rstTo(addrPeer))
	f.recv(tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagSYN, 1, nil, nil))
	seg := rstTo(addrPeer)
	seg.Ack = 7
	ok, out := f.send(seg)
	if !ok || len(out) != 2 {
		t.Fatalf("ok=%v, %d frames; want the held segment and the new one", ok, len(out))
	}
	if wire.TCP(out[0][34:]).Ack() != 0x01020305 || wire.TCP(out[1][34:]).Ack() != 7 || wire.Ethernet(out[0]).Dst() != macPeer {
		t.Fatalf("out of order or misaddressed: %x", out)
	}
	if f.e.pend.pkts != 0 || f.p.inLoop != 0 {
		t.Fatal("held or leaked")
	}
}

// A segment larger than a TX frame (multi-buffer chain) is held whole and
// sent whole with the reply; failed, its frames all go back.
func TestHeldChain(t *testing.T) {
	mb := func(c *Config) { c.MTU, c.MultiBuffer = 9000, true }
	seg := rstTo(addrPeer)
	seg.Flags = wire.FlagACK | wire.FlagPSH
	seg.Payload = make([]byte, 5000)
	for i := range seg.Payload {
		seg.Payload[i] = byte(i)
	}
	f := newFixture(t, mb)
	f.send(seg)
	if f.e.pend.pkts != 1 || len(f.e.pend.free) != DefaultUnresQlenTotal-3 {
		t.Fatalf("held %d packets, %d slots used; want 1 in 3 frames", f.e.pend.pkts, DefaultUnresQlenTotal-len(f.e.pend.free))
	}
	out := f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs))
	var pkt []byte
	for _, o := range out {
		pkt = append(pkt, o...)
	}
	if len(out) != 3 || len(pkt) != 14+40+5000 || wire.Ethernet(pkt).Dst() != macPeer {
		t.Fatalf("sent %d frames, %d bytes", len(out), len(pkt))
	}
	ip := wire.IPv4(pkt[14:])
	if wire.Checksum(pkt[34:], wire.PseudoHeaderChecksum(wire.ProtoTCP, ip.Src(), ip.Dst(), uint16(len(pkt)-34))) != 0xffff {
		t.Fatal("chain checksum")
	}
	if f.p.inLoop != 0 {
		t.Fatalf("%d frames leaked", f.p.inLoop)
	}

	g := newFixture(t, mb)
	g.send(seg)
	g.now = g.now.Add(unresSolicit * ARPRetransTime)
	g.e.Poll(g.now)
	g.expectDrop(DropARPUnresolved, 1)
	if g.p.inLoop != 0 || len(g.e.pend.free) != DefaultUnresQlenTotal {
		t.Fatalf("%d frames in loop, %d slots free", g.p.inLoop, len(g.e.pend.free))
	}
}

package stack

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

var (
	macPeer  = [6]byte{2, 0, 0, 0, 0, 1}
	macUs    = [6]byte{2, 0, 0, 0, 0, 2}
	macGW    = [6]byte{2, 0, 0, 0, 0, 0xfe}
	macFar   = [6]byte{2, 0, 0, 0, 0, 0x77}
	addrPeer = [4]byte{198, 18, 0, 1}
	addrUs   = [4]byte{198, 18, 0, 2}
	addrGW   = [4]byte{198, 18, 0, 254}
	addrFar  = [4]byte{198, 19, 5, 5} // off-link
)

// Golden frames from an independent tool (scapy), see stack/wire tests.
const (
	goldenARPReq    = "ffffffffffff02000000000108060001080006040001020000000001c6120001000000000000c6120002"
	goldenARPReply  = "02000000000102000000000208060001080006040002020000000002c6120002020000000001c6120001"
	goldenARPOurReq = "ffffffffffff02000000000208060001080006040001020000000002c6120002000000000000c6120001"
	goldenEchoReq   = "02000000000202000000000108004500003c04d240004001a9c7c6120001c61200020800c095123400016162636465666768696a6b6c6d6e6f707172737475767778797a303132333435"
	goldenEchoRep   = "02000000000102000000000208004500003c000040004001ae99c6120002c61200010000c895123400016162636465666768696a6b6c6d6e6f707172737475767778797a303132333435"
	goldenSYN       = "02000000000202000000000108004500003c1c4640004006924ec6120001c61200029c4000500102030400000000a002faf0dbea0000020405b40402080a112233440000000001030307"
	goldenRST       = "020000000001020000000002080045000028000040004006aea8c6120002c612000100509c4000000000010203055014000083110000"
	goldenData      = "020000000001020000000002080045000040000040004006ae90c6120002c612000100509c40000003e8000007d0801801f6ffe600000101080a000000070000000968656c6c6f2c20776f726c64"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixture struct {
	t    testing.TB
	e    *Engine
	p    *fakePort
	now  clock.Time
	segs []tcp.Segment // delivered segments (Payload copied)
}

func newFixture(t testing.TB, mod func(c *Config)) *fixture {
	cfg := Config{Addr: addrUs, PrefixLen: 24, MAC: macUs}
	if mod != nil {
		mod(&cfg)
	}
	f := &fixture{t: t, p: newFakePort(256), now: clock.Time(1000 * time.Second)}
	f.e = NewEngine(cfg, f.p, f.now)
	t.Cleanup(func() { f.e.Close() })
	f.e.testInput = func(now clock.Time, s *tcp.Segment) {
		c := *s
		c.Payload = bytes.Clone(s.Payload)
		f.segs = append(f.segs, c)
	}
	return f
}

// recv runs frame through the engine and returns what it sent.
func (f *fixture) recv(frame []byte) [][]byte {
	f.p.push(frame)
	f.e.Poll(f.now)
	return f.p.take()
}

func (f *fixture) expectNothing(out [][]byte) {
	f.t.Helper()
	if len(out) != 0 {
		f.t.Fatalf("sent %d frames, want none: %x", len(out), out[0])
	}
}

func (f *fixture) expectOne(out [][]byte, want []byte) {
	f.t.Helper()
	if len(out) != 1 {
		f.t.Fatalf("sent %d frames, want 1", len(out))
	}
	if !bytes.Equal(out[0], want) {
		f.t.Fatalf("sent\n%x\nwant\n%x", out[0], want)
	}
}

func (f *fixture) drops(r DropReason) uint64 { return f.e.Stats().Drops[r].Load() }

func (f *fixture) expectDrop(r DropReason, n uint64) {
	f.t.Helper()
	if got := f.drops(r); got != n {
		f.t.Fatalf("drops[%v] = %d, want %d", r, got, n)
	}
}

// send has the TCP layer's side: SendTCP then the end of a Poll.
func (f *fixture) send(seg *tcp.OutSegment) (bool, [][]byte) {
	f.e.now = f.now // as inside Poll
	ok := f.e.SendTCP(seg)
	f.e.Poll(f.now)
	return ok, f.p.take()
}

func arpFrame(op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte, ethDst [6]byte) []byte {
	b := make([]byte, 60) // with Ethernet padding
	wire.Ethernet(b).Encode(ethDst, sha, wire.EtherTypeARP)
	wire.ARP(b[14:]).Encode(op, sha, spa, tha, tpa)
	return b
}

// tcpFrame builds a valid TCP/IPv4 frame from (srcMAC, src:sport) to us:dport.
func tcpFrame(srcMAC [6]byte, src [4]byte, sport, dport uint16, flags wire.TCPFlags, seq uint32, o *wire.TCPOptions, payload []byte) []byte {
	if o == nil {
		o = &wire.TCPOptions{}
	}
	syn := flags&wire.FlagSYN != 0
	ol := wire.TCPOptionsLen(o, syn)
	total := 40 + ol + len(payload)
	b := make([]byte, 14+total)
	wire.Ethernet(b).Encode(macUs, srcMAC, wire.EtherTypeIPv4)
	wire.IPv4(b[14:]).Encode(&wire.IPv4Fields{TotalLen: uint16(total), ID: 7, DF: true, TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: addrUs})
	t := wire.TCP(b[34:])
	t.Encode(&wire.TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Ack: 5, DataOffset: 20 + ol, Flags: flags, Window: 1000})
	wire.WriteTCPOptions(t[20:], o, syn)
	copy(t[20+ol:], payload)
	t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtoTCP, src, addrUs, uint16(len(t)))))
	return b
}

func rstTo(dst [4]byte) *tcp.OutSegment {
	return &tcp.OutSegment{
		Key:   flowtable.Key{LocalAddr: m4(addrUs), RemoteAddr: m4(dst), LocalPort: 80, RemotePort: 40000},
		Ack:   0x01020305,
		Flags: wire.FlagRST | wire.FlagACK,
	}
}

func TestARPRequestForUsIsAnswered(t *testing.T) {
	f := newFixture(t, nil)
	f.expectOne(f.recv(unhex(t, goldenARPReq)), unhex(t, goldenARPReply))
	s := f.e.Stats()
	if s.ArpInRequests.Load() != 1 || s.ArpOutReplies.Load() != 1 || s.ArpCacheEntries.Load() != 1 || s.FramesTx.Load() != 1 {
		t.Fatal("counters")
	}
	// The requester was learned: sending to it needs no ARP.
	ok, out := f.send(rstTo(addrPeer))
	if !ok {
		t.Fatal("SendTCP to a learned neighbour failed")
	}
	f.expectOne(out, unhex(t, goldenRST))
}

func TestARPForSomeoneElseIsIgnored(t *testing.T) {
	f := newFixture(t, nil)
	f.expectNothing(f.recv(arpFrame(wire.ARPRequest, macPeer, addrPeer, [6]byte{}, [4]byte{198, 18, 0, 3}, wire.BroadcastMAC)))
	f.expectDrop(DropARPNotOurs, 1)
	if f.e.arp.len() != 0 {
		t.Fatal("learned from a request for someone else without an entry")
	}
	// Gratuitous ARP: ignored, not learned.
	f.expectNothing(f.recv(arpFrame(wire.ARPRequest, macPeer, addrPeer, [6]byte{}, addrPeer, wire.BroadcastMAC)))
	f.expectDrop(DropARPGratuitous, 1)
	// Malformed (hlen 8) and unknown opcode.
	b := arpFrame(wire.ARPRequest, macPeer, addrPeer, [6]byte{}, addrUs, wire.BroadcastMAC)
	b[14+4] = 8
	f.expectNothing(f.recv(b))
	f.expectDrop(DropARPMalformed, 1)
	f.expectNothing(f.recv(arpFrame(3, macPeer, addrPeer, [6]byte{}, addrUs, wire.BroadcastMAC)))
	f.expectDrop(DropARPOp, 1)
	f.expectNothing(f.recv(unhex(t, goldenARPReq)[:30]))
	f.expectDrop(DropARPMalformed, 2)
}

// A segment to an unresolved next hop is held on its entry (Linux
// neigh_resolve_output queues it on the INCOMPLETE neighbour) and sent
// when the reply arrives; requests stay one per retrans_time.
func TestUnresolvedNextHopHoldsFrames(t *testing.T) {
	f := newFixture(t, nil)
	ok, out := f.send(rstTo(addrPeer))
	if !ok {
		t.Fatal("SendTCP refused a segment to an unresolved neighbour")
	}
	f.expectOne(out, unhex(t, goldenARPOurReq))
	// Within retrans_time: held too, no second request.
	f.now = f.now.Add(999 * time.Millisecond)
	ok, out = f.send(rstTo(addrPeer))
	f.expectNothing(out)
	f.now = f.now.Add(time.Millisecond)
	_, out = f.send(rstTo(addrPeer))
	f.expectOne(out, unhex(t, goldenARPOurReq))
	if f.e.pend.pkts != 3 {
		t.Fatalf("%d packets held, want 3", f.e.pend.pkts)
	}
	// The reply resolves it (RFC 826 merge of the incomplete entry) and
	// sends the held segments, oldest first.
	out = f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs))
	if len(out) != 3 {
		t.Fatalf("sent %d frames with the reply, want the 3 held", len(out))
	}
	if !bytes.Equal(out[0], unhex(t, goldenRST)) {
		t.Fatalf("first held segment\n%x\nwant\n%x", out[0], unhex(t, goldenRST))
	}
	for i, o := range out {
		if wire.Ethernet(o).Dst() != macPeer || wire.IPv4(o[14:]).ID() != uint16(i) {
			t.Fatalf("held segment %d: %x", i, o)
		}
	}
	ok, out = f.send(rstTo(addrPeer))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != macPeer {
		t.Fatal("not resolved by the reply")
	}
	if f.e.Stats().ArpOutRequests.Load() != 2 || f.drops(DropARPUnresolved) != 0 || f.e.pend.pkts != 0 || len(f.e.pend.free) != DefaultUnresQlenTotal {
		t.Fatal("counters or pool after the flush")
	}
	if f.p.inLoop != 0 {
		t.Fatalf("%d frames leaked", f.p.inLoop)
	}
}

// Unanswered, the entry is asked mcast_solicit (3) times, retrans_time
// apart, then fails: its held segments are freed and counted.
func TestUnresolvedNextHopFails(t *testing.T) {
	f := newFixture(t, nil)
	f.send(rstTo(addrPeer))
	f.send(rstTo(addrPeer))
	for i := 1; i <= 2; i++ {
		f.now = f.now.Add(ARPRetransTime)
		f.e.Poll(f.now)
		if out := f.p.take(); len(out) != 1 || wire.Ethernet(out[0]).Type() != wire.EtherTypeARP {
			t.Fatalf("second %d: %d frames, want an ARP request", i, len(out))
		}
		f.expectDrop(DropARPUnresolved, 0)
	}
	f.now = f.now.Add(ARPRetransTime)
	f.e.Poll(f.now)
	f.expectNothing(f.p.take())
	f.expectDrop(DropARPUnresolved, 2)
	if f.e.Stats().ArpOutRequests.Load() != 3 || f.e.pend.pkts != 0 || f.p.inLoop != 0 {
		t.Fatalf("requests %d, held %d, frames in loop %d", f.e.Stats().ArpOutRequests.Load(), f.e.pend.pkts, f.p.inLoop)
	}
	// A late reply sends nothing; the next segment goes out at once.
	f.expectNothing(f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs)))
	if ok, out := f.send(rstTo(addrPeer)); !ok || len(out) != 1 {
		t.Fatal("not sent after the late reply")
	}
}

// The queue per neighbour (unres_qlen) drops its oldest packet when full;
// the pool for all neighbours (UnresQlenTotal) drops the new packet; an
// evicted entry frees what it holds. Every drop is arp_unresolved, no
// frame leaks.
func TestUnresolvedNextHopBounds(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TCP = tcp.DefaultConfig(); c.TCP.UnresQlen = 2 })
	for i := range 3 {
		seg := rstTo(addrPeer)
		seg.Ack = seqnum.Value(i)
		f.send(seg)
	}
	f.expectDrop(DropARPUnresolved, 1)
	out := f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs))
	if len(out) != 2 || wire.TCP(out[0][34:]).Ack() != 1 || wire.TCP(out[1][34:]).Ack() != 2 {
		t.Fatalf("sent %d frames, want the newest 2", len(out))
	}

	g := newFixture(t, func(c *Config) { c.UnresQlenTotal = 2 })
	g.send(rstTo(addrPeer))
	g.send(rstTo(addrGW))
	g.send(rstTo(addrPeer))
	g.expectDrop(DropARPUnresolved, 1)
	if g.e.pend.pkts != 2 || g.p.inLoop != 2 {
		t.Fatalf("held %d, frames in loop %d", g.e.pend.pkts, g.p.inLoop)
	}

	h := newFixture(t, func(c *Config) { c.ARPCacheSize = 1 })
	h.send(rstTo(addrPeer))
	h.send(rstTo(addrPeer))
	h.send(rstTo(addrGW)) // evicts addrPeer's entry
	h.expectDrop(DropARPUnresolved, 2)
	if h.e.pend.pkts != 1 || h.p.inLoop != 1 {
		t.Fatalf("held %d, frames in loop %d", h.e.pend.pkts, h.p.inLoop)
	}

	// Holding off (unres_qlen 0): dropped at once, as before.
	k := newFixture(t, func(c *Config) { c.TCP = tcp.DefaultConfig(); c.TCP.UnresQlen = 0 })
	if ok, _ := k.send(rstTo(addrPeer)); ok {
		t.Fatal("held with unres_qlen 0")
	}
	k.expectDrop(DropARPUnresolved, 1)
}

func TestARPEntryAgesLikeLinux(t *testing.T) {
	f := newFixture(t, nil)
	f.recv(unhex(t, goldenARPReq))
	f.now = f.now.Add(ARPReachableTime + time.Second)
	// Stale: still used, and a unicast probe goes out first.
	ok, out := f.send(rstTo(addrPeer))
	if !ok || len(out) != 2 {
		t.Fatalf("stale: ok=%v frames=%d", ok, len(out))
	}
	if a := wire.ARP(wire.Ethernet(out[0]).Payload()); wire.Ethernet(out[0]).Dst() != macPeer || a.Op() != wire.ARPRequest || a.TPA() != addrPeer {
		t.Fatalf("probe %x", out[0])
	}
	// Unanswered probes for the grace time: the entry fails.
	f.now = f.now.Add(ARPStaleGrace + time.Millisecond)
	ok, out = f.send(rstTo(addrPeer))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != wire.BroadcastMAC {
		t.Fatalf("entry used past the probe grace without confirmation (ok=%v, %d frames)", ok, len(out))
	}
	// The segment was held (INCOMPLETE) and goes out with the reply.
	if out := f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs)); len(out) != 1 || wire.Ethernet(out[0]).Dst() != macPeer {
		t.Fatalf("held segment not sent with the reply: %d frames", len(out))
	}
	// Idle far longer than reachable+grace: the first use probes and
	// still sends (Linux STALE), it does not drop.
	f.now = f.now.Add(10 * time.Minute)
	if ok, out := f.send(rstTo(addrPeer)); !ok || len(out) != 2 {
		t.Fatalf("long-idle entry: ok=%v frames=%d", ok, len(out))
	}
	f.now = f.now.Add(ARPStaleGrace + time.Millisecond)
	f.p.take()
	// A TCP frame from the peer with the cached MAC confirms it.
	f.recv(tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagACK, 1, nil, nil))
	if ok, _ := f.send(rstTo(addrPeer)); !ok {
		t.Fatal("not confirmed by a received frame")
	}
}

func TestPingGetsExactEchoReply(t *testing.T) {
	f := newFixture(t, nil)
	f.expectOne(f.recv(unhex(t, goldenEchoReq)), unhex(t, goldenEchoRep))
	s := f.e.Stats()
	if s.IcmpInMsgs.Load() != 1 || s.IcmpInEchos.Load() != 1 || s.IcmpOutEchoReps.Load() != 1 || s.IpInDelivers.Load() != 1 || s.IpOutRequests.Load() != 1 {
		t.Fatal("counters")
	}
	// With Ethernet padding after the total length: same reply.
	f.e.ipID = 0
	f.expectOne(f.recv(append(unhex(t, goldenEchoReq), 0, 0, 0, 0)), unhex(t, goldenEchoRep))
	// Bad ICMP checksum: counted, no reply.
	b := unhex(t, goldenEchoReq)
	b[len(b)-1] ^= 0xff
	f.expectNothing(f.recv(b))
	f.expectDrop(DropICMPChecksum, 1)
	if s.IcmpInErrors.Load() != 1 {
		t.Fatal("IcmpInErrors")
	}
	// Echo reply (type 0) to us: counted and dropped.
	f.expectNothing(f.recv(unhex(t, goldenEchoRep)[:0:0]))
	rep := unhex(t, goldenEchoReq)
	wire.ICMPv4(rep[34:]).SetType(wire.ICMPv4EchoReply)
	wire.ICMPv4(rep[34:]).SetChecksum(0)
	wire.ICMPv4(rep[34:]).SetChecksum(^wire.Checksum(rep[34:], 0))
	f.expectNothing(f.recv(rep))
	f.expectDrop(DropICMPType, 1)
}

// ipFix recomputes the IPv4 header checksum of a frame after a change.
func ipFix(b []byte) []byte {
	ip := wire.IPv4(b[14:])
	hl := int(ip[0]&0xf) * 4
	ip.SetHeaderChecksum(0)
	ip.SetHeaderChecksum(^wire.Checksum(ip[:hl], 0))
	return b
}

func TestBadIPv4IsCountedAndNothingSent(t *testing.T) {
	echo := func() []byte { return unhex(t, goldenEchoReq) }
	cases := []struct {
		name   string
		frame  func() []byte
		reason DropReason
		stat   func(s *Stats) uint64
	}{
		{"checksum", func() []byte { b := echo(); b[14+10] ^= 1; return b }, DropIPv4Checksum, func(s *Stats) uint64 { return s.IpInHdrErrors.Load() }},
		{"version", func() []byte { b := echo(); b[14] = 0x65; return ipFix(b) }, DropIPv4Header, func(s *Stats) uint64 { return s.IpInHdrErrors.Load() }},
		{"ihl", func() []byte { b := echo(); b[14] = 0x44; return b }, DropIPv4Header, func(s *Stats) uint64 { return s.IpInHdrErrors.Load() }},
		{"total length", func() []byte { b := echo(); b[14+3] = 0x50; return ipFix(b) }, DropIPv4Header, func(s *Stats) uint64 { return s.IpInHdrErrors.Load() }},
		{"short", func() []byte { return echo()[:14+19] }, DropIPv4Header, func(s *Stats) uint64 { return s.IpInHdrErrors.Load() }},
		{"MF", func() []byte { b := echo(); b[14+6] |= 0x20; return ipFix(b) }, DropIPv4Fragment, func(s *Stats) uint64 { return s.IpReasmFails.Load() }},
		{"offset", func() []byte { b := echo(); b[14+7] = 1; return ipFix(b) }, DropIPv4Fragment, func(s *Stats) uint64 { return s.IpReasmFails.Load() }},
		{"options", func() []byte {
			b := echo()
			// Insert 4 option bytes (NOP NOP NOP EOL): IHL 6, total +4.
			nb := append(append(append([]byte{}, b[:34]...), 1, 1, 1, 0), b[34:]...)
			nb[14] = 0x46
			nb[14+3] += 4
			return ipFix(nb)
		}, DropIPv4Options, func(s *Stats) uint64 { return s.Drops[DropIPv4Options].Load() }},
		{"not ours", func() []byte { b := echo(); b[14+19] = 9; return ipFix(b) }, DropIPv4NotOurs, func(s *Stats) uint64 { return s.IpInAddrErrors.Load() }},
		{"protocol", func() []byte { b := echo(); b[14+9] = 17; return ipFix(b) }, DropIPv4Proto, func(s *Stats) uint64 { return s.IpInUnknownProtos.Load() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.expectNothing(f.recv(c.frame()))
			f.expectDrop(c.reason, 1)
			if c.stat(f.e.Stats()) != 1 {
				t.Fatal("Linux counter not incremented")
			}
			if f.e.Stats().IpInDelivers.Load() != 0 || f.e.Stats().IcmpInMsgs.Load() != 0 {
				t.Fatal("delivered")
			}
		})
	}
}

func TestEthernetFilter(t *testing.T) {
	f := newFixture(t, nil)
	b := unhex(t, goldenEchoReq)
	b[5] = 9
	f.expectNothing(f.recv(b))
	f.expectDrop(DropEthNotOurs, 1)
	b = unhex(t, goldenEchoReq)
	b[12], b[13] = 0x88, 0xcc // LLDP
	f.expectNothing(f.recv(b))
	f.expectDrop(DropEthType, 1)
	f.expectNothing(f.recv(b[:13]))
	f.expectDrop(DropEthHeader, 1)
	if f.e.Stats().FramesRx.Load() != 3 {
		t.Fatal("FramesRx")
	}
}

func TestSYNDeliveredAsSegment(t *testing.T) {
	f := newFixture(t, nil)
	f.now = 12345
	f.expectNothing(f.recv(unhex(t, goldenSYN)))
	if len(f.segs) != 1 {
		t.Fatalf("%d segments delivered", len(f.segs))
	}
	s := f.segs[0]
	want := tcp.Segment{
		Key:   flowtable.Key{LocalAddr: m4(addrUs), RemoteAddr: m4(addrPeer), LocalPort: 80, RemotePort: 40000},
		Seq:   seqnum.Value(0x01020304),
		Flags: wire.FlagSYN, Window: 64240,
		Opts:    wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x11223344, HasWScale: true, WScale: 7},
		Payload: []byte{},
		Arrival: 12345,
	}
	if s.Key != want.Key || s.Seq != want.Seq || s.Ack != 0 || s.Flags != want.Flags || s.Window != want.Window ||
		s.Opts != want.Opts || len(s.Payload) != 0 || s.Arrival != want.Arrival {
		t.Fatalf("segment %+v\nwant %+v", s, want)
	}
	// Payload with Ethernet padding: exactly the TCP payload.
	fr := append(tcpFrame(macPeer, addrPeer, 1, 2, wire.FlagACK|wire.FlagPSH, 9, nil, []byte("abc")), 0, 0, 0)
	f.recv(fr)
	if len(f.segs) != 2 || string(f.segs[1].Payload) != "abc" {
		t.Fatalf("payload %q", f.segs[1].Payload)
	}
}

func TestBadTCPNotDelivered(t *testing.T) {
	f := newFixture(t, nil)
	b := unhex(t, goldenSYN)
	b[len(b)-1] ^= 0x10 // wscale 7 -> 23: checksum no longer verifies
	f.expectNothing(f.recv(b))
	f.expectDrop(DropTCPChecksum, 1)
	if f.e.Stats().TcpInCsumErrors.Load() != 1 || len(f.segs) != 0 {
		t.Fatal("bad checksum delivered or not counted")
	}
	// Malformed options (duplicate MSS) with a good checksum.
	o := []byte{2, 4, 5, 0xb4, 2, 4, 5, 0xb4}
	fr := tcpFrame(macPeer, addrPeer, 1, 2, wire.FlagSYN, 9, nil, nil)
	fr = append(fr[:54:54], o...)
	wire.IPv4(fr[14:])[3] += 8
	ipFix(fr)
	tc := wire.TCP(fr[34:])
	tc[12] = 7 << 4
	tc.SetChecksum(0)
	tc.SetChecksum(^wire.Checksum(tc, wire.PseudoHeaderChecksum(wire.ProtoTCP, addrPeer, addrUs, uint16(len(tc)))))
	f.expectNothing(f.recv(fr))
	f.expectDrop(DropTCPOptions, 1)
	// Data offset past the segment.
	fr = tcpFrame(macPeer, addrPeer, 1, 2, wire.FlagACK, 9, nil, nil)
	fr[34+12] = 6 << 4
	f.expectNothing(f.recv(fr))
	f.expectDrop(DropTCPHeader, 1)
	if len(f.segs) != 0 {
		t.Fatal("delivered")
	}
}

func TestSendTCPBuildsFrame(t *testing.T) {
	f := newFixture(t, nil)
	f.recv(unhex(t, goldenARPReq))
	seg := &tcp.OutSegment{
		Key: flowtable.Key{LocalAddr: m4(addrUs), RemoteAddr: m4(addrPeer), LocalPort: 80, RemotePort: 40000},
		Seq: 1000, Ack: 2000, Flags: wire.FlagPSH | wire.FlagACK, Window: 502,
		Opts:    wire.TCPOptions{HasTimestamp: true, TSVal: 7, TSEcr: 9, HasMSS: true, MSS: 1},
		Payload: []byte("hello, "), Payload2: []byte("world"),
	}
	f.e.ipID = 0
	ok, out := f.send(seg)
	if !ok {
		t.Fatal("SendTCP")
	}
	f.expectOne(out, unhex(t, goldenData))
	// Too big for the MTU.
	seg.Payload = make([]byte, 1500)
	if ok, _ := f.send(seg); ok {
		t.Fatal("oversized segment sent")
	}
	f.expectDrop(DropTxTooBig, 1)
	// No TX frame.
	seg.Payload = nil
	f.p.noFrames = true
	if ok, _ := f.send(seg); ok {
		t.Fatal("sent without a frame")
	}
	f.expectDrop(DropNoTxFrame, 1)
	f.p.noFrames = false
	// TX ring full: the frame is freed and counted.
	f.p.txLimit = 0
	f.send(seg)
	f.expectDrop(DropTxRingFull, 1)
	if f.p.inLoop != 0 {
		t.Fatalf("%d frames leaked", f.p.inLoop)
	}
}

func TestOffLinkReturnPath(t *testing.T) {
	f := newFixture(t, nil)
	if ok, out := f.send(rstTo(addrFar)); ok || len(out) != 0 {
		t.Fatal("sent off-link without gateway or return path")
	}
	f.expectDrop(DropNoRoute, 1)
	f.recv(tcpFrame(macFar, addrFar, 40000, 80, wire.FlagSYN, 1, nil, nil))
	ok, out := f.send(rstTo(addrFar))
	if !ok || len(out) != 1 {
		t.Fatal("return path not used")
	}
	if wire.Ethernet(out[0]).Dst() != macFar || wire.IPv4(out[0][14:]).Dst() != addrFar {
		t.Fatalf("frame %x", out[0])
	}
	// The return path follows the latest frame.
	f.recv(tcpFrame(macGW, addrFar, 40000, 80, wire.FlagACK, 2, nil, nil))
	_, out = f.send(rstTo(addrFar))
	if wire.Ethernet(out[0]).Dst() != macGW {
		t.Fatal("return path not refreshed")
	}
}

func TestGatewayRule(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Gateway = addrGW })
	// A frame from off-link does not make a return path when a gateway exists.
	f.recv(tcpFrame(macFar, addrFar, 40000, 80, wire.FlagSYN, 1, nil, nil))
	ok, out := f.send(rstTo(addrFar))
	if !ok || len(out) != 1 {
		t.Fatalf("ok=%v frames=%d", ok, len(out))
	}
	a := wire.ARP(wire.Ethernet(out[0]).Payload())
	if a.Op() != wire.ARPRequest || a.TPA() != addrGW {
		t.Fatalf("want ARP request for the gateway, got %x", out[0])
	}
	// Held on the gateway's entry, sent through it with the reply.
	out = f.recv(arpFrame(wire.ARPReply, macGW, addrGW, macUs, addrUs, macUs))
	if len(out) != 1 || wire.Ethernet(out[0]).Dst() != macGW || wire.IPv4(out[0][14:]).Dst() != addrFar {
		t.Fatalf("held segment not sent through the gateway: %d frames", len(out))
	}
	ok, out = f.send(rstTo(addrFar))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != macGW || wire.IPv4(out[0][14:]).Dst() != addrFar {
		t.Fatal("not sent through the gateway")
	}
}

func TestNoAllocsPerFrame(t *testing.T) {
	f := newFixture(t, nil)
	f.p.capture = false
	f.e.testInput = func(clock.Time, *tcp.Segment) {}
	arpReq, echo, syn := unhex(t, goldenARPReq), unhex(t, goldenEchoReq), unhex(t, goldenSYN)
	f.e.HandleFrame(f.now, arpReq)
	f.e.flushTx()
	seg := rstTo(addrPeer)
	seg.Payload = []byte("data")
	seg.Opts = wire.TCPOptions{HasTimestamp: true, NumSACK: 2}
	for name, fn := range map[string]func(){
		"arp reply":  func() { f.e.HandleFrame(f.now, arpReq) },
		"echo reply": func() { f.e.HandleFrame(f.now, echo) },
		"tcp input":  func() { f.e.HandleFrame(f.now, syn) },
		"SendTCP":    func() { f.e.SendTCP(seg) },
		"Poll":       func() { f.p.push(echo); f.e.Poll(f.now) },
	} {
		if n := testing.AllocsPerRun(200, func() { fn(); f.e.flushTx() }); n != 0 {
			t.Errorf("%s: %v allocs per run", name, n)
		}
	}
	if f.e.Stats().Drops[DropNoTxFrame].Load() != 0 {
		t.Fatal("ran out of frames")
	}
}

func TestNoAllocsThroughTCPLayer(t *testing.T) {
	f := newFixture(t, nil)
	f.p.capture = false
	f.e.testInput = nil
	f.recv(unhex(t, goldenARPReq))
	ack := tcpFrame(macPeer, addrPeer, 40000, 81, wire.FlagACK, 1, nil, []byte("x"))
	if n := testing.AllocsPerRun(200, func() { f.e.HandleFrame(f.now, ack); f.e.flushTx() }); n != 0 {
		t.Errorf("%v allocs per segment through tcp.Layer", n)
	}
}

func TestStatsEnumerate(t *testing.T) {
	f := newFixture(t, nil)
	f.recv(unhex(t, goldenEchoReq))
	m := map[string]uint64{}
	f.e.Stats().Each(func(n string, v uint64) { m[n] = v })
	if m["IcmpInEchos"] != 1 || m["FramesRx"] != 1 || len(m) < 20 {
		t.Fatalf("Each: %v", m)
	}
	seen := 0
	f.e.Stats().EachDrop(func(r DropReason, v uint64) {
		seen++
		if r.String() == "unknown" || r.String() == "" {
			t.Errorf("reason %d has no name", r)
		}
	})
	if seen != int(NumDropReasons) || DropARPUnresolved.String() != "arp_unresolved" || NumDropReasons.String() != "unknown" {
		t.Fatal("EachDrop")
	}
}

func FuzzHandleFrame(f *testing.F) {
	for _, s := range []string{goldenARPReq, goldenARPReply, goldenEchoReq, goldenSYN, goldenData} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	for _, b := range fuzzSeeds6 {
		f.Add(b)
	}
	// A segment of an unknown flow, forwarded by a peer (the trailer
	// after the IP packet, cluster.go).
	fw, _ := hex.DecodeString(goldenData)
	f.Add(append(fw, trailerMagic0, trailerMagic1, fwdSearch, 3))
	p := newFakePort(64)
	p.capture = false
	e := NewEngine(Config{Addr: addrUs, PrefixLen: 24, Addr6: addrUs6, PrefixLen6: 64, MAC: macUs}, p, 0)
	f.Cleanup(func() { e.Close() })
	if _, err := e.TCP().Listen(m4(addrUs), 80, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		f.Fatal(err)
	}
	// The same frames into a cluster host (ids 1, 2, 3), which forwards
	// segments of flows it does not own.
	pc := newFakePort(64)
	pc.capture = false
	ec := NewEngine(Config{Addr: addrUs, PrefixLen: 24, Addr6: addrUs6, PrefixLen6: 64, MAC: macUs}, pc, 0)
	f.Cleanup(func() { ec.Close() })
	ec.SetCluster(&Cluster{ID: 1, Peers: []ClusterPeer{{ID: 2, Addr: m4(addrPeer)}, {ID: 3, Addr: m4(addrGW)}}})
	ec.SetNeighbor(m4(addrPeer), macPeer)
	ec.SetNeighbor(m4(addrGW), macGW)
	if _, err := ec.TCP().Listen(m4(addrUs), 80, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ec.HandleFrame(1, b)
		e.HandleFrame(1, b)
		// The same frame with our MAC and address patched in, so the
		// fuzzer reaches past the address filters.
		if len(b) >= 34 {
			copy(b, macUs[:])
			copy(b[30:], addrUs[:])
		}
		e.HandleFrame(2, b)
		// And with the IPv4 and TCP/ICMP checksums fixed, so the fuzzer
		// reaches the TCP layer (a listener on port 80).
		ec.HandleFrame(2, b)
		if fixChecksums(b) {
			e.HandleFrame(3, b)
			ec.HandleFrame(3, b)
		}
		e.Poll(4)
		ec.Poll(4)
		// Every frame handed out came back, or is held for a next hop
		// being resolved (unres.go; bounded, freed when it fails), or
		// is a spare taken for the next segment (txroom.go: a segment
		// that asked for room and then had no route keeps it).
		if p.inLoop != e.pend.pkts+len(e.spare) || pc.inLoop != ec.pend.pkts+len(ec.spare) {
			t.Fatalf("%d, %d frames leaked (held for resolution %d, %d; spare %d, %d)",
				p.inLoop, pc.inLoop, e.pend.pkts, ec.pend.pkts, len(e.spare), len(ec.spare))
		}
		if len(e.spare) > max(e.segFrames, 1) || len(ec.spare) > max(ec.segFrames, 1) {
			t.Fatalf("spare frames %d, %d: more than a segment takes", len(e.spare), len(ec.spare))
		}
	})
}

// fixChecksums recomputes the IPv4 header checksum and the TCP or ICMP
// checksum of an Ethernet frame in place, when its lengths allow.
func fixChecksums(b []byte) bool {
	if len(b) < 14+20 {
		return false
	}
	ip := wire.IPv4(b[14:])
	hl := int(ip[0]&0xf) * 4
	tl := int(ip.TotalLen())
	if hl < 20 || tl < hl || tl > len(ip) {
		return false
	}
	ip.SetHeaderChecksum(0)
	ip.SetHeaderChecksum(^wire.Checksum(ip[:hl], 0))
	p := ip[hl:tl]
	switch ip.Protocol() {
	case wire.ProtoTCP:
		if len(p) < 20 {
			return true
		}
		t := wire.TCP(p)
		t.SetChecksum(0)
		t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtoTCP, ip.Src(), ip.Dst(), uint16(len(t)))))
	case wire.ProtoICMP:
		if len(p) < 8 {
			return true
		}
		c := wire.ICMPv4(p)
		c.SetChecksum(0)
		c.SetChecksum(^wire.Checksum(c, 0))
	}
	return true
}

func TestSetNeighborIsPermanent(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ARPCacheSize = 2 })
	f.e.SetNeighbor(m4(addrPeer), macFar)
	ok, out := f.send(rstTo(addrPeer))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != macFar {
		t.Fatal("static entry not used")
	}
	// ARP does not change it, time does not age it, others do not evict it.
	f.recv(arpFrame(wire.ARPRequest, macPeer, addrPeer, [6]byte{}, addrUs, wire.BroadcastMAC))
	f.now = f.now.Add(time.Hour)
	for i := byte(10); i < 20; i++ {
		f.send(rstTo([4]byte{198, 18, 0, i}))
	}
	ok, out = f.send(rstTo(addrPeer))
	if !ok || len(out) != 1 || wire.Ethernet(out[0]).Dst() != macFar {
		t.Fatal("static entry changed, aged or evicted")
	}
	if f.e.Stats().ArpCacheEvictions.Load() == 0 {
		t.Fatal("no evictions counted")
	}
}

func TestRangeNeighbors(t *testing.T) {
	f := newFixture(t, nil)
	f.recv(unhex(t, goldenARPReq))
	f.send(rstTo([4]byte{198, 18, 0, 9}))
	f.e.SetNeighbor(m4(addrGW), macGW)
	got := map[flowtable.Addr]string{}
	f.e.RangeNeighbors(func(n NeighborInfo) bool { got[n.Addr] = n.State; return true })
	want := map[flowtable.Addr]string{m4(addrPeer): "REACHABLE", m4([4]byte{198, 18, 0, 9}): "INCOMPLETE", m4(addrGW): "PERMANENT"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// The filter passes ARP replies to the kernel unless their sender is
// watched: the engine watches an address before asking for it and stops
// once the reply confirms it.
func TestARPWatchAroundOwnRequests(t *testing.T) {
	var calls []string
	refuse := false
	f := newFixture(t, func(c *Config) {
		c.ARPWatch = func(a flowtable.Addr, watch bool) bool {
			calls = append(calls, fmt.Sprintf("%v %v", a, watch))
			return !refuse
		}
	})
	f.send(rstTo(addrPeer))
	f.now = f.now.Add(time.Second)
	f.send(rstTo(addrPeer)) // second request: already watched
	f.recv(arpFrame(wire.ARPReply, macPeer, addrPeer, macUs, addrUs, macUs))
	want := []string{fmt.Sprintf("%v true", m4(addrPeer)), fmt.Sprintf("%v false", m4(addrPeer))}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("ARPWatch calls %v, want %v", calls, want)
	}
	refuse = true
	other := [4]byte{addrPeer[0], addrPeer[1], addrPeer[2], addrPeer[3] + 1}
	f.send(rstTo(other))
	if f.e.Stats().ArpWatchFailures.Load() != 1 {
		t.Fatal("a refused watch is not counted")
	}
}

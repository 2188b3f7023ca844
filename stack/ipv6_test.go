package stack

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// IPv6 golden frames from an independent script (stack/wire tests): the
// peer 2001:2::2 (macPeer) and us 2001:2::1 (macUs).
const (
	goldenNS6      = "3333ff00000102000000000186dd6000000000203aff20010002000000000000000000000002ff0200000000000000000001ff0000018700379400000000200100020000000000000000000000010101020000000001"
	goldenNA6      = "02000000000102000000000286dd6000000000203aff20010002000000000000000000000001200100020000000000000000000000028800b39460000000200100020000000000000000000000010201020000000002"
	goldenEcho6    = "02000000000202000000000186dd6000000000103a40200100020000000000000000000000022001000200000000000000000000000180009be1123400016162636465666768"
	goldenEchoRep6 = "02000000000102000000000286dd6000000000103a40200100020000000000000000000000012001000200000000000000000000000281009ae1123400016162636465666768"
	goldenSYN6     = "02000000000202000000000186dd600123450028064020010002000000000000000000000002200100020000000000000000000000019c4000500102030400000000a002fd2025ee0000020405a00402080a112233440000000001030307"
)

var (
	addrUs6   = [16]byte{0x20, 0x01, 0, 2, 15: 1}
	addrPeer6 = [16]byte{0x20, 0x01, 0, 2, 15: 2}
)

func newFixture6(t testing.TB) *fixture {
	return newFixture(t, func(c *Config) { c.Addr6, c.PrefixLen6 = addrUs6, 64 })
}

// A solicitation for our address is answered with our MAC (RFC 4861
// §7.2.4), and the sender learnt; one with a hop limit other than 255 is
// dropped (§7.1.1).
func TestNeighborSolicitation(t *testing.T) {
	f := newFixture6(t)
	f.expectOne(f.recv(unhex(t, goldenNS6)), unhex(t, goldenNA6))
	var got string
	f.e.RangeNeighbors(func(n NeighborInfo) bool {
		if n.Addr == flowtable.Addr(addrPeer6) && n.MAC == macPeer {
			got = n.State
		}
		return true
	})
	if got != "REACHABLE" {
		t.Fatalf("sender not learnt: %q", got)
	}
	bad := unhex(t, goldenNS6)
	bad[14+7] = 64 // hop limit
	f.expectNothing(f.recv(bad))
	f.expectDrop(DropNDInvalid, 1)
	// For another address: not ours.
	other := unhex(t, goldenNS6)
	other[14+40+8+15] = 9
	wire.ICMPv6(other[14+40:]).SetChecksumFor((*[16]byte)(other[14+8:14+24]), (*[16]byte)(other[14+24:14+40]))
	f.expectNothing(f.recv(other))
	f.expectDrop(DropNDNotOurs, 1)
	if f.e.Stats().Icmp6InNeighborSolicits.Load() != 3 || f.e.Stats().Icmp6OutNeighborAdvertisements.Load() != 1 {
		t.Fatal("NDP counters")
	}
}

func TestEchoReply6(t *testing.T) {
	f := newFixture6(t)
	f.expectOne(f.recv(unhex(t, goldenEcho6)), unhex(t, goldenEchoRep6))
	bad := unhex(t, goldenEcho6)
	bad[len(bad)-1] ^= 1
	f.expectNothing(f.recv(bad))
	f.expectDrop(DropICMPv6Checksum, 1)
	if f.e.Stats().Icmp6InCsumErrors.Load() != 1 || f.e.Stats().Icmp6OutEchoReplies.Load() != 1 {
		t.Fatal("ICMPv6 counters")
	}
}

// Without an IPv6 address, IPv6 is not ours.
func TestIPv6NotServed(t *testing.T) {
	f := newFixture(t, nil)
	f.expectNothing(f.recv(unhex(t, goldenEcho6)))
	f.expectDrop(DropIPv6NotOurs, 1)
}

// A SYN over IPv6 gets a SYN-ACK over IPv6: MSS 1440, a non-zero flow
// label, the same on the retransmission, and a checksum over the IPv6
// pseudo-header. A fragment is dropped and counted.
// listening6 is newFixture6 with segments going through the TCP layer, a
// listener on port 80 and the peer's MAC known.
func listening6(t *testing.T) *fixture {
	f := newFixture6(t)
	f.e.testInput = nil // through the TCP layer
	f.e.SetNeighbor(flowtable.Addr(addrPeer6), macPeer)
	if _, err := f.e.TCP().Listen(flowtable.Addr{}, 80, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSYNOverIPv6(t *testing.T) {
	f := listening6(t)
	out := f.recv(unhex(t, goldenSYN6))
	if len(out) != 1 {
		t.Fatalf("%d frames out", len(out))
	}
	ip := wire.IPv6(wire.Ethernet(out[0]).Payload())
	if ip.Validate() != wire.IPv6OK || ip.NextHeader() != wire.ProtoTCP || ip.HopLimit() != 64 || ip.FlowLabel() == 0 ||
		ip.Src() != addrUs6 || ip.Dst() != addrPeer6 {
		t.Fatalf("SYN-ACK header %x", []byte(ip[:40]))
	}
	src, dst := ip.Src(), ip.Dst()
	seg := wire.TCP(ip.Payload())
	if wire.Checksum(seg, wire.PseudoHeaderChecksum6(wire.ProtoTCP, &src, &dst, uint32(len(seg)))) != 0xffff {
		t.Fatal("SYN-ACK checksum")
	}
	var o wire.TCPOptions
	if wire.ParseTCPOptions(seg.Options(), &o) != wire.OptOK || !o.HasMSS || o.MSS != 1440 || seg.Flags() != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("SYN-ACK %v mss %d", seg.Flags(), o.MSS)
	}
	label := ip.FlowLabel()
	// The SYN again: the SYN-ACK again, under a new flow label (txrehash:
	// Linux tcp_rtx_synack), and a label again.
	out = f.recv(unhex(t, goldenSYN6))
	if len(out) != 1 {
		t.Fatalf("%d frames out for the SYN again", len(out))
	}
	if l := wire.IPv6(wire.Ethernet(out[0]).Payload()).FlowLabel(); l == label || l == 0 {
		t.Fatalf("flow label %#x of the SYN-ACK again, first %#x: want a new one", l, label)
	}
	frag := unhex(t, goldenSYN6)
	ipf := wire.IPv6(frag[14:])
	ipf[6] = wire.ProtoFragment
	frag = append(frag[:54], append([]byte{wire.ProtoTCP, 0, 0, 1, 0, 0, 0, 1}, frag[54:]...)...)
	frag[14+5] += 8
	f.expectNothing(f.recv(frag))
	f.expectDrop(DropIPv6Fragment, 1)
	if !bytes.Equal(out[0][:6], macPeer[:]) {
		t.Fatal("not sent to the peer's MAC")
	}
}

func init() {
	// IPv6 seeds for FuzzHandleFrame.
	for _, s := range []string{goldenNS6, goldenEcho6, goldenSYN6} {
		b, _ := hex.DecodeString(s)
		fuzzSeeds6 = append(fuzzSeeds6, b)
	}
}

var fuzzSeeds6 [][]byte

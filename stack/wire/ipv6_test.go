package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// IPv6 golden frames, built by an independent implementation (a Python
// script with its own checksum code) for these tests.
const (
	// SYN [2001:2::2]:40000 -> [2001:2::1]:80, flow label 0x12345, hop
	// limit 64, seq 0x01020304, win 64800, <mss 1440, sackOK, TS val
	// 0x11223344 ecr 0, nop, wscale 7>.
	goldenSYN6 = "02000000000202000000000186dd600123450028064020010002000000000000000000000002200100020000000000000000000000019c4000500102030400000000a002fd2025ee0000020405a00402080a112233440000000001030307"
	// Echo request 2001:2::2 -> 2001:2::1, id 0x1234 seq 1, "abcdefgh".
	goldenEcho6 = "02000000000202000000000186dd6000000000103a40200100020000000000000000000000022001000200000000000000000000000180009be1123400016162636465666768"
	// NS from 2001:2::2 (02:00:00:00:00:01) for 2001:2::1 to its
	// solicited-node group ff02::1:ff00:1, hop limit 255, source LLA option.
	goldenNS6 = "3333ff00000102000000000186dd6000000000203aff20010002000000000000000000000002ff0200000000000000000001ff0000018700379400000000200100020000000000000000000000010101020000000001"
	// NA from 2001:2::1 (02:00:00:00:00:02) to 2001:2::2: solicited,
	// override, target LLA option.
	goldenNA6 = "02000000000102000000000286dd6000000000203aff20010002000000000000000000000001200100020000000000000000000000028800b39460000000200100020000000000000000000000010201020000000002"
)

var (
	addr6A = [16]byte{0x20, 0x01, 0, 2, 15: 2} // 2001:2::2
	addr6B = [16]byte{0x20, 0x01, 0, 2, 15: 1} // 2001:2::1
)

func TestGoldenSYN6Parse(t *testing.T) {
	b := mustHex(t, goldenSYN6)
	eth := Ethernet(b)
	if eth.Type() != EtherTypeIPv6 {
		t.Fatalf("type %#x", eth.Type())
	}
	ip := IPv6(eth.Payload())
	if st := ip.Validate(); st != IPv6OK {
		t.Fatal(st)
	}
	if ip.FlowLabel() != 0x12345 || ip.HopLimit() != 64 || ip.TrafficClass() != 0 || ip.Src() != addr6A || ip.Dst() != addr6B {
		t.Fatalf("fields: flow %#x hop %d src %x dst %x", ip.FlowLabel(), ip.HopLimit(), ip.Src(), ip.Dst())
	}
	proto, up, st := ip.Walk()
	if st != IPv6OK || proto != ProtoTCP || len(up) != 40 {
		t.Fatalf("walk: %d %d %v", proto, len(up), st)
	}
	src, dst := ip.Src(), ip.Dst()
	seg := TCP(up)
	if Checksum(seg, PseudoHeaderChecksum6(ProtoTCP, &src, &dst, uint32(len(seg)))) != 0xffff {
		t.Fatal("checksum does not verify")
	}
	if seg.SrcPort() != 40000 || seg.DstPort() != 80 || seg.Seq() != 0x01020304 || seg.Window() != 64800 {
		t.Fatal("tcp fields")
	}
}

func TestGoldenSYN6Build(t *testing.T) {
	want := mustHex(t, goldenSYN6)
	b := junk(len(want) + 10)
	Ethernet(b).Encode(macB, macA, EtherTypeIPv6)
	IPv6(b[14:]).Encode(&IPv6Fields{FlowLabel: 0x12345, PayloadLen: 40, NextHeader: ProtoTCP, HopLimit: 64, Src: addr6A, Dst: addr6B})
	seg := TCP(b[54:94])
	seg.Encode(&TCPFields{SrcPort: 40000, DstPort: 80, Seq: 0x01020304, DataOffset: 40, Flags: FlagSYN, Window: 64800})
	o := TCPOptions{HasMSS: true, MSS: 1440, SACKPermitted: true, HasTimestamp: true, TSVal: 0x11223344, HasWScale: true, WScale: 7}
	WriteTCPOptions(seg[20:40], &o, true)
	seg.SetChecksum(^Checksum(seg, PseudoHeaderChecksum6(ProtoTCP, &addr6A, &addr6B, 40)))
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("built\n%x\nwant\n%x", b[:len(want)], want)
	}
}

func TestGoldenEcho6(t *testing.T) {
	b := mustHex(t, goldenEcho6)
	ip := IPv6(Ethernet(b).Payload())
	if ip.Validate() != IPv6OK {
		t.Fatal("invalid")
	}
	proto, up, _ := ip.Walk()
	ic := ICMPv6(up)
	src, dst := ip.Src(), ip.Dst()
	if proto != ProtoICMPv6 || !ic.IsValid() || !ic.ChecksumOK(&src, &dst) || ic.Type() != ICMPv6EchoRequest {
		t.Fatal("echo request does not parse")
	}
	if string(ic.Body()) != "abcdefgh" {
		t.Fatalf("body %q", ic.Body())
	}
	// A bit flipped anywhere fails the checksum (the pseudo-header included).
	dst[15] ^= 1
	if ic.ChecksumOK(&src, &dst) {
		t.Fatal("checksum ignores the destination")
	}
}

func TestGoldenNS6(t *testing.T) {
	b := mustHex(t, goldenNS6)
	ip := IPv6(Ethernet(b).Payload())
	if ip.Validate() != IPv6OK || ip.HopLimit() != 255 {
		t.Fatal("invalid")
	}
	if ip.Dst() != SolicitedNode(addr6B) || MulticastMAC(ip.Dst()) != Ethernet(b).Dst() {
		t.Fatalf("solicited-node %x", SolicitedNode(addr6B))
	}
	_, up, _ := ip.Walk()
	ic := ICMPv6(up)
	src, dst := ip.Src(), ip.Dst()
	if !ic.ChecksumOK(&src, &dst) || !ic.NDValid() || ic.Type() != ICMPv6NeighborSol || ic.Target() != addr6B {
		t.Fatal("NS does not parse")
	}
	if mac, ok := ic.NDOptionLLA(NDOptSourceLLA); !ok || mac != macA {
		t.Fatalf("source LLA %x %v", mac, ok)
	}
	// Build the same NS into junk.
	nb := junk(40)
	ICMPv6(nb[:32]).EncodeNS(addr6B, macA)
	ICMPv6(nb[:32]).SetChecksumFor(&src, &dst)
	if !bytes.Equal(nb[:32], ic) {
		t.Fatalf("built NS %x want %x", nb[:32], []byte(ic))
	}
}

func TestGoldenNA6Build(t *testing.T) {
	want := mustHex(t, goldenNA6)
	b := junk(len(want) + 4)
	Ethernet(b).Encode(macA, macB, EtherTypeIPv6)
	IPv6(b[14:]).Encode(&IPv6Fields{PayloadLen: 32, NextHeader: ProtoICMPv6, HopLimit: 255, Src: addr6B, Dst: addr6A})
	na := ICMPv6(b[54:86])
	na.EncodeNA(addr6B, macB, true, true)
	na.SetChecksumFor(&addr6B, &addr6A)
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("built\n%x\nwant\n%x", b[:len(want)], want)
	}
	r, s, o := na.NAFlags()
	if r || !s || !o {
		t.Fatal("flags")
	}
}

func TestPseudoHeaderChecksum6MatchesBytes(t *testing.T) {
	// The pseudo-header sum equals the sum over its RFC 8200 §8.1 layout.
	ph := make([]byte, 40)
	copy(ph, addr6A[:])
	copy(ph[16:], addr6B[:])
	binary.BigEndian.PutUint32(ph[32:], 70000)
	ph[39] = ProtoTCP
	if got, want := PseudoHeaderChecksum6(ProtoTCP, &addr6A, &addr6B, 70000), Checksum(ph, 0); got != want {
		t.Fatalf("%#x want %#x", got, want)
	}
}

// ip6With returns an IPv6 packet whose fixed header's next header is nh
// and whose payload is p.
func ip6With(nh uint8, p []byte) IPv6 {
	b := make([]byte, 40+len(p))
	IPv6(b).Encode(&IPv6Fields{PayloadLen: uint16(len(p)), NextHeader: nh, HopLimit: 64, Src: addr6A, Dst: addr6B})
	copy(b[40:], p)
	return b
}

func TestIPv6Walk(t *testing.T) {
	tcp := make([]byte, 20)
	hbh := []byte{ProtoDstOpts, 0, 1, 4, 0, 0, 0, 0}           // PadN(4)
	dst := []byte{ProtoTCP, 0, 0, 0, 1, 2, 0, 0}               // Pad1 Pad1 PadN(2)
	rt0 := []byte{ProtoTCP, 0, 4, 0, 0, 0, 0, 0}               // routing, segments left 0
	rt1 := []byte{ProtoTCP, 0, 4, 1, 0, 0, 0, 0}               // segments left 1
	frag := []byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 1}              // fragment header
	skip := []byte{ProtoTCP, 0, 0x07, 2, 0, 0, 1, 0}           // unknown option, type 00xxxxxx: skip
	disc := []byte{ProtoTCP, 0, 0x47, 2, 0, 0, 1, 0}           // type 01xxxxxx: discard
	bad := []byte{ProtoTCP, 0, 1, 9, 0, 0, 0, 0}               // PadN past the header
	long := []byte{ProtoTCP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0} // claims 16 bytes, 12 there
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	chain := func(n int) []byte {
		var b []byte
		for i := 0; i < n; i++ {
			nh := ProtoDstOpts
			if i == n-1 {
				nh = ProtoTCP
			}
			b = append(b, nh, 0, 1, 4, 0, 0, 0, 0)
		}
		return append(b, tcp...)
	}
	for _, c := range []struct {
		name  string
		nh    uint8
		p     []byte
		st    IPv6Status
		proto uint8
		upLen int
	}{
		{"none", ProtoTCP, tcp, IPv6OK, ProtoTCP, 20},
		{"hbh+dst", ProtoHopByHop, cat(hbh, dst, tcp), IPv6OK, ProtoTCP, 20},
		{"routing 0 left", ProtoRouting, cat(rt0, tcp), IPv6OK, ProtoTCP, 20},
		{"routing 1 left", ProtoRouting, cat(rt1, tcp), IPv6RoutingLeft, 0, 0},
		{"fragment", ProtoFragment, cat(frag, tcp), IPv6Fragment, 0, 0},
		{"skip option", ProtoDstOpts, cat(skip, tcp), IPv6OK, ProtoTCP, 20},
		{"discard option", ProtoDstOpts, cat(disc, tcp), IPv6ExtOption, 0, 0},
		{"option past header", ProtoDstOpts, cat(bad, tcp), IPv6ExtTruncated, 0, 0},
		{"header past payload", ProtoDstOpts, long, IPv6ExtTruncated, 0, 0},
		{"short header", ProtoDstOpts, []byte{ProtoTCP, 0, 1}, IPv6ExtTruncated, 0, 0},
		{"hbh not first", ProtoDstOpts, cat([]byte{ProtoHopByHop, 0, 1, 4, 0, 0, 0, 0}, hbh, tcp), IPv6ExtOrder, 0, 0},
		{"chain of 8", ProtoDstOpts, chain(8), IPv6OK, ProtoTCP, 20},
		{"chain of 9", ProtoDstOpts, chain(9), IPv6ExtTooMany, 0, 0},
		{"no next", ProtoDstOpts, []byte{ProtoNoNext, 0, 1, 4, 0, 0, 0, 0}, IPv6OK, ProtoNoNext, 0},
	} {
		proto, up, st := ip6With(c.nh, c.p).Walk()
		if st != c.st || (st == IPv6OK && (proto != c.proto || len(up) != c.upLen)) {
			t.Errorf("%s: got %v proto %d len %d, want %v proto %d len %d", c.name, st, proto, len(up), c.st, c.proto, c.upLen)
		}
	}
}

func TestIPv6Validate(t *testing.T) {
	good := mustHex(t, goldenSYN6)[14:]
	if IPv6(good[:39]).Validate() != IPv6Short {
		t.Fatal("short")
	}
	v4 := bytes.Clone(good)
	v4[0] = 0x45
	if IPv6(v4).Validate() != IPv6BadVersion {
		t.Fatal("version")
	}
	if IPv6(good[:len(good)-1]).Validate() != IPv6BadLength {
		t.Fatal("payload length past the end")
	}
	padded := append(bytes.Clone(good), 0, 0, 0, 0)
	if IPv6(padded).Validate() != IPv6OK || len(IPv6(padded).Payload()) != 40 {
		t.Fatal("padding counted in the payload")
	}
}

func TestIPv6NoAllocs(t *testing.T) {
	b := mustHex(t, goldenSYN6)
	ip := IPv6(b[14:])
	if n := testing.AllocsPerRun(100, func() {
		if ip.Validate() != IPv6OK {
			t.Fatal("invalid")
		}
		_, up, _ := ip.Walk()
		src, dst := ip.Src(), ip.Dst()
		_ = Checksum(up, PseudoHeaderChecksum6(ProtoTCP, &src, &dst, uint32(len(up))))
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzIPv6Walk feeds hostile IPv6 packets and extension-header chains:
// nothing may panic, and what Walk returns lies inside the payload.
func FuzzIPv6Walk(f *testing.F) {
	for _, s := range []string{goldenSYN6, goldenEcho6, goldenNS6, goldenNA6} {
		b, _ := hex.DecodeString(s)
		f.Add(b[14:])
	}
	f.Add([]byte(ip6With(ProtoHopByHop, []byte{ProtoDstOpts, 0, 1, 4, 0, 0, 0, 0, ProtoTCP, 0, 0, 0, 1, 2, 0, 0})))
	f.Add([]byte(ip6With(ProtoRouting, []byte{ProtoFragment, 0, 4, 0, 0, 0, 0, 0, ProtoTCP, 0, 0, 1, 0, 0, 0, 1})))
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv6(b)
		if ip.Validate() != IPv6OK {
			return
		}
		_, _, _, _ = ip.FlowLabel(), ip.TrafficClass(), ip.Src(), ip.Dst()
		proto, up, st := ip.Walk()
		if st != IPv6OK {
			return
		}
		p := ip.Payload()
		if len(up) > len(p) || (len(up) > 0 && &up[len(up)-1] != &p[len(p)-1]) {
			t.Fatalf("upper layer not a suffix of the payload")
		}
		if proto == ProtoICMPv6 {
			ic := ICMPv6(up)
			if ic.IsValid() {
				_, _, _ = ic.Type(), ic.MTU(), ic.Body()
			}
			if ic.NDValid() {
				_ = ic.Target()
				_, _ = ic.NDOptionLLA(NDOptSourceLLA)
				_, _, _ = ic.NAFlags()
			}
		}
	})
}

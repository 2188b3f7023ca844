package xsk

import (
	"encoding/binary"
	"testing"
)

var (
	served6  = [16]byte{0x20, 0x01, 0, 2, 15: 1} // 2001:2::1
	other6   = [16]byte{0x20, 0x01, 0, 2, 15: 9}
	peer6    = [16]byte{0x20, 0x01, 0, 2, 15: 2}
	watched6 = [16]byte{0x20, 0x01, 0, 2, 15: 3}
)

// ipv6Frame builds Ethernet + IPv6 (next header nh) + payload.
func ipv6Frame(dst [16]byte, nh byte, payload []byte) []byte {
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(payload)))
	ip[6] = nh
	ip[7] = 64
	copy(ip[8:], peer6[:])
	copy(ip[24:], dst[:])
	return append(append(ethHdr(etherTypeIP6), ip...), payload...)
}

func nd6(typ byte, target [16]byte) []byte {
	b := make([]byte, 32)
	b[0] = typ
	copy(b[8:], target[:])
	b[24], b[25] = 1, 1
	return b
}

// ICMP errors quoting one of our segments (the quoted source is a served
// address and port, or a client port) are ours: path MTU discovery.
func TestFilterICMPErrors(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	quote := func(typ, code byte, src [4]byte, sport uint16, ihl byte) []byte {
		inner := make([]byte, 20+8)
		inner[0] = 0x40 | ihl
		inner[9] = protoTCP
		copy(inner[12:], src[:])
		copy(inner[16:], peerAddr[:])
		binary.BigEndian.PutUint16(inner[20:], sport)
		return ipv4Frame(servedAddr, protoICMP, 0, append([]byte{typ, code, 0, 0, 0, 0, 3, 0xe8}, inner...))
	}
	for _, c := range []struct {
		name  string
		frame []byte
		ours  bool
	}{
		{"frag needed quoting a served port", quote(3, 4, servedAddr, servedPort, 5), true},
		{"port unreachable quoting a client port", quote(3, 3, servedAddr, 40000, 5), true},
		{"time exceeded quoting a served port", quote(11, 0, servedAddr, servedPort, 5), true},
		{"frag needed quoting another port (kernel's)", quote(3, 4, servedAddr, otherPort, 5), false},
		{"frag needed quoting another address", quote(3, 4, otherAddr, servedPort, 5), false},
		{"quoted header with options", quote(3, 4, servedAddr, servedPort, 6), false},
		{"redirect (type 5)", quote(5, 1, servedAddr, servedPort, 5), false},
		{"truncated quote", quote(3, 4, servedAddr, servedPort, 5)[:ethLen+20+8+20+2], false},
	} {
		want := uint32(xdpPass)
		if c.ours {
			want = testFallback
		}
		if got := run(t, f.Program(), c.frame); got != want {
			t.Errorf("%s: verdict %d (%s), want %d (%s)", c.name, got, verdictName(got), want, verdictName(want))
		}
	}
}

func TestFilterVerdictsIPv6(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	if err := f.AddAddr6(served6); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPort6(served6, servedPort); err != nil {
		t.Fatal(err)
	}
	if err := f.SetClientPorts6(served6, 32768, 60999); err != nil {
		t.Fatal(err)
	}
	if err := f.WatchND(watched6); err != nil {
		t.Fatal(err)
	}
	// ICMPv6 packet too big quoting a segment from (served6, port).
	ptbFor := func(src [16]byte, sport uint16) []byte {
		inner := make([]byte, 40+8)
		inner[0] = 0x60
		inner[6] = protoTCP
		copy(inner[8:], src[:])
		copy(inner[24:], peer6[:])
		binary.BigEndian.PutUint16(inner[40:], sport)
		return append([]byte{2, 0, 0, 0, 0, 0, 5, 0}, inner...)
	}
	hbh := append([]byte{protoTCP, 0, 1, 4, 0, 0, 0, 0}, tcpSeg(servedPort)...)
	echo := []byte{icmp6Echo, 0, 0, 0, 0, 1, 0, 1}
	ptb := []byte{2, 0, 0, 0, 0, 0, 5, 0}
	for _, c := range []struct {
		name  string
		frame []byte
		ours  bool
	}{
		{"tcp to served addr:port", ipv6Frame(served6, protoTCP, tcpSeg(servedPort)), true},
		{"tcp to served addr, other port", ipv6Frame(served6, protoTCP, tcpSeg(otherPort)), false},
		{"tcp to other addr, served port", ipv6Frame(other6, protoTCP, tcpSeg(servedPort)), false},
		{"tcp to client range", ipv6Frame(served6, protoTCP, tcpSeg(40000)), true},
		{"tcp above client range", ipv6Frame(served6, protoTCP, tcpSeg(61000)), false},
		{"tcp behind hop-by-hop options (kernel's)", ipv6Frame(served6, 0, hbh), false},
		{"echo to us", ipv6Frame(served6, protoICMP6, echo), true},
		{"echo to other", ipv6Frame(other6, protoICMP6, echo), false},
		{"packet too big, nothing quoted", ipv6Frame(served6, protoICMP6, ptb), false},
		{"packet too big quoting a served port", ipv6Frame(served6, protoICMP6, ptbFor(served6, servedPort)), true},
		{"packet too big quoting a client port", ipv6Frame(served6, protoICMP6, ptbFor(served6, 40000)), true},
		{"packet too big quoting another port (kernel's)", ipv6Frame(served6, protoICMP6, ptbFor(served6, otherPort)), false},
		{"packet too big quoting another address", ipv6Frame(served6, protoICMP6, ptbFor(other6, servedPort)), false},
		{"NS for us (to the solicited-node group)", ipv6Frame([16]byte{0xff, 2, 11: 1, 12: 0xff, 15: 1}, protoICMP6, nd6(icmp6NS, served6)), true},
		{"NS for other", ipv6Frame(other6, protoICMP6, nd6(icmp6NS, other6)), false},
		{"NA for a watched target", ipv6Frame(served6, protoICMP6, nd6(icmp6NA, watched6)), true},
		{"NA for an unwatched target (kernel's)", ipv6Frame(served6, protoICMP6, nd6(icmp6NA, peer6)), false},
		{"router advertisement", ipv6Frame(served6, protoICMP6, nd6(134, served6)), false},
		{"udp to us", ipv6Frame(served6, 17, make([]byte, 16)), false},
		{"truncated NS", ipv6Frame(served6, protoICMP6, nd6(icmp6NS, served6)[:20]), false},
		{"truncated tcp", ipv6Frame(served6, protoTCP, tcpSeg(servedPort)[:10]), false},
		{"truncated header", ipv6Frame(served6, protoTCP, nil)[:40], false},
	} {
		want := uint32(xdpPass)
		if c.ours {
			want = testFallback
		}
		if got := run(t, f.Program(), c.frame); got != want {
			t.Errorf("%s: verdict %d (%s), want %d (%s)", c.name, got, verdictName(got), want, verdictName(want))
		}
	}
	// Unwatched, the advertisement is the kernel's again.
	f.UnwatchND(watched6)
	if got := run(t, f.Program(), ipv6Frame(served6, protoICMP6, nd6(icmp6NA, watched6))); got != xdpPass {
		t.Errorf("NA after UnwatchND: %s", verdictName(got))
	}
}

package wire

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// Golden frames built by an independent tool (scapy) for these tests.
const (
	// A Linux-style SYN: 198.18.0.1:40000 -> 198.18.0.2:80, seq 0x01020304,
	// win 64240, <mss 1460, sackOK, TS val 0x11223344 ecr 0, nop, wscale 7>,
	// IP ID 0x1c46, DF, TTL 64.
	goldenSYN = "02000000000202000000000108004500003c1c4640004006924ec6120001c61200029c4000500102030400000000a002faf0dbea0000020405b40402080a112233440000000001030307"
	// ARP request: who has 198.18.0.2, tell 198.18.0.1 (02:00:00:00:00:01).
	goldenARP = "ffffffffffff02000000000108060001080006040001020000000001c6120001000000000000c6120002"
	// ICMP echo request 198.18.0.1 -> 198.18.0.2, id 0x1234 seq 1, 32 bytes of data.
	goldenEcho = "02000000000202000000000108004500003c04d240004001a9c7c6120001c61200020800c095123400016162636465666768696a6b6c6d6e6f707172737475767778797a303132333435"
)

var (
	macA  = [6]byte{2, 0, 0, 0, 0, 1}
	macB  = [6]byte{2, 0, 0, 0, 0, 2}
	addrA = [4]byte{198, 18, 0, 1}
	addrB = [4]byte{198, 18, 0, 2}
)

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func junk(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3 numerical example: the sum of these bytes is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("Checksum = %#04x, want 0xddf2", got)
	}
	// Split at an even boundary and chained gives the same.
	if got := Checksum(b[4:], Checksum(b[:4], 0)); got != 0xddf2 {
		t.Fatalf("chained = %#04x", got)
	}
	if got := ChecksumCombine(Checksum(b[:2], 0), Checksum(b[2:], 0)); got != 0xddf2 {
		t.Fatalf("combined = %#04x", got)
	}
	// Odd length pads with zero.
	if got := Checksum([]byte{0x12}, 0); got != 0x1200 {
		t.Fatalf("odd = %#04x", got)
	}
}

func TestChecksumAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff // every carry path
			}
		}
		init := uint16(r.Uint32())
		sum := uint32(init)
		for i := 0; i < n; i += 2 {
			v := uint32(b[i]) << 8
			if i+1 < n {
				v |= uint32(b[i+1])
			}
			sum += v
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		if got := Checksum(b, init); got != uint16(sum) {
			t.Fatalf("len %d: %#04x want %#04x", n, got, sum)
		}
	}
}

func TestChecksumUpdate16(t *testing.T) {
	ip := IPv4(mustHex(t, goldenSYN)[EthernetHeaderLen:])
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		old := uint16(ip[8])<<8 | uint16(ip[9])
		nw := uint16(r.Uint32())
		ip[8], ip[9] = byte(nw>>8), byte(nw)
		ip.SetHeaderChecksum(ChecksumUpdate16(ip.HeaderChecksum(), old, nw))
		if ip.Validate() != IPv4OK {
			t.Fatalf("incremental update %#04x->%#04x broke the checksum", old, nw)
		}
	}
}

func TestGoldenSYNParse(t *testing.T) {
	f := mustHex(t, goldenSYN)
	eth := Ethernet(f)
	if !eth.IsValid() || eth.Dst() != macB || eth.Src() != macA || eth.Type() != EtherTypeIPv4 {
		t.Fatalf("ethernet: %x %x %#x", eth.Dst(), eth.Src(), eth.Type())
	}
	ip := IPv4(eth.Payload())
	if st := ip.Validate(); st != IPv4OK {
		t.Fatalf("Validate = %v", st)
	}
	if ip.Src() != addrA || ip.Dst() != addrB || ip.Protocol() != ProtoTCP || ip.TTL() != 64 ||
		!ip.DF() || ip.MF() || ip.IsFragment() || ip.HasOptions() || ip.ID() != 0x1c46 || ip.TotalLen() != 60 {
		t.Fatalf("ipv4 fields wrong")
	}
	tcp := TCP(ip.Payload())
	if !tcp.IsValid() || !tcp.ChecksumOK(ip.Src(), ip.Dst()) {
		t.Fatal("tcp invalid or checksum")
	}
	if tcp.SrcPort() != 40000 || tcp.DstPort() != 80 || tcp.Seq() != 0x01020304 || tcp.Ack() != 0 ||
		tcp.Flags() != FlagSYN || tcp.Window() != 64240 || tcp.HeaderLen() != 40 || len(tcp.Payload()) != 0 {
		t.Fatalf("tcp fields wrong: %v", tcp.Flags())
	}
	var o TCPOptions
	if st := ParseTCPOptions(tcp.Options(), &o); st != OptOK {
		t.Fatal(st)
	}
	want := TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x11223344, HasWScale: true, WScale: 7}
	if o != want {
		t.Fatalf("options %+v want %+v", o, want)
	}
}

func TestGoldenSYNBuild(t *testing.T) {
	want := mustHex(t, goldenSYN)
	b := junk(128)
	o := TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 0x11223344, HasWScale: true, WScale: 7}
	n := buildTCPFrame(b, &o, nil)
	if !bytes.Equal(b[:n], want) {
		t.Fatalf("built\n%x\nwant\n%x", b[:n], want)
	}
}

func buildTCPFrame(b []byte, o *TCPOptions, payload []byte) int {
	Ethernet(b).Encode(macB, macA, EtherTypeIPv4)
	ol := TCPOptionsLen(o, true)
	tl := IPv4MinHeaderLen + TCPMinHeaderLen + ol + len(payload)
	IPv4(b[14:]).Encode(&IPv4Fields{TotalLen: uint16(tl), ID: 0x1c46, DF: true, TTL: 64, Protocol: ProtoTCP, Src: addrA, Dst: addrB})
	seg := TCP(b[34 : 14+tl])
	seg.Encode(&TCPFields{SrcPort: 40000, DstPort: 80, Seq: 0x01020304, DataOffset: 20 + ol, Flags: FlagSYN, Window: 64240})
	WriteTCPOptions(seg[20:], o, true)
	copy(seg[20+ol:], payload)
	seg.SetChecksum(^Checksum(seg, PseudoHeaderChecksum(ProtoTCP, addrA, addrB, uint16(len(seg)))))
	return 14 + tl
}

func TestGoldenARP(t *testing.T) {
	f := mustHex(t, goldenARP)
	eth := Ethernet(f)
	if eth.Type() != EtherTypeARP || eth.Dst() != BroadcastMAC {
		t.Fatal("eth")
	}
	a := ARP(eth.Payload())
	if !a.IsValid() || a.Op() != ARPRequest || a.SHA() != macA || a.SPA() != addrA || a.THA() != ([6]byte{}) || a.TPA() != addrB {
		t.Fatal("arp fields")
	}
	b := junk(64)
	Ethernet(b).Encode(BroadcastMAC, macA, EtherTypeARP)
	ARP(b[14:]).Encode(ARPRequest, macA, addrA, [6]byte{}, addrB)
	if !bytes.Equal(b[:42], f) {
		t.Fatalf("built %x", b[:42])
	}
	for n := 0; n < len(a); n++ {
		if ARP(a[:n]).IsValid() {
			t.Fatalf("truncated ARP of %d bytes valid", n)
		}
	}
	bad := append([]byte(nil), a...)
	bad[4] = 8
	if ARP(bad).IsValid() {
		t.Fatal("hlen 8 accepted")
	}
}

func TestGoldenEcho(t *testing.T) {
	f := mustHex(t, goldenEcho)
	ip := IPv4(Ethernet(f).Payload())
	if ip.Validate() != IPv4OK || ip.Protocol() != ProtoICMP {
		t.Fatal("ip")
	}
	ic := ICMPv4(ip.Payload())
	if !ic.IsValid() || !ic.ChecksumOK() || ic.Type() != ICMPv4EchoRequest || ic.Code() != 0 || ic.Ident() != 0x1234 || ic.Seq() != 1 ||
		string(ic.Payload()) != "abcdefghijklmnopqrstuvwxyz012345" {
		t.Fatal("icmp fields")
	}
	b := junk(128)
	Ethernet(b).Encode(macB, macA, EtherTypeIPv4)
	IPv4(b[14:]).Encode(&IPv4Fields{TotalLen: 60, ID: 0x4d2, DF: true, TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB})
	ICMPv4(b[34:]).EncodeEcho(ICMPv4EchoRequest, 0x1234, 1, ic.Payload())
	if !bytes.Equal(b[:74], f) {
		t.Fatalf("built\n%x\nwant\n%x", b[:74], f)
	}
	// Turning the request into a reply with an incremental update verifies.
	ic.SetType(ICMPv4EchoReply)
	ic.SetChecksum(ChecksumUpdate16(ic.Checksum(), uint16(ICMPv4EchoRequest)<<8, uint16(ICMPv4EchoReply)<<8))
	if !ic.ChecksumOK() {
		t.Fatal("reply checksum")
	}
}

func TestIPv4Validate(t *testing.T) {
	base := IPv4(mustHex(t, goldenSYN)[EthernetHeaderLen:])
	fix := func(b IPv4) IPv4 {
		b.SetHeaderChecksum(0)
		b.SetHeaderChecksum(^Checksum(b[:20], 0))
		return b
	}
	cp := func() IPv4 { return append(IPv4(nil), base...) }
	cases := []struct {
		name string
		mod  func(b IPv4) IPv4
		want IPv4Status
	}{
		{"ok", func(b IPv4) IPv4 { return b }, IPv4OK},
		{"padding", func(b IPv4) IPv4 { return append(b, 0, 0, 0, 0, 0, 0) }, IPv4OK},
		{"version6", func(b IPv4) IPv4 { b[0] = 0x65; return fix(b) }, IPv4BadVersion},
		{"ihl4", func(b IPv4) IPv4 { b[0] = 0x44; return b }, IPv4BadIHL},
		{"ihl15", func(b IPv4) IPv4 { b = b[:58]; b[0] = 0x4f; return b }, IPv4BadIHL},
		{"totallen short", func(b IPv4) IPv4 { b[2], b[3] = 0, 19; return fix(b) }, IPv4BadTotalLen},
		{"totallen long", func(b IPv4) IPv4 { b[2], b[3] = 0, 61; return fix(b) }, IPv4BadTotalLen},
		{"checksum", func(b IPv4) IPv4 { b[10] ^= 1; return b }, IPv4BadChecksum},
	}
	for _, c := range cases {
		if got := c.mod(cp()).Validate(); got != c.want {
			t.Errorf("%s: %v want %v", c.name, got, c.want)
		}
	}
	frag := cp()
	frag[6] = 0x20 // MF
	if !frag.MF() || !frag.IsFragment() {
		t.Error("MF")
	}
	frag[6], frag[7] = 0x00, 0x03
	if frag.MF() || frag.FragOffset() != 24 || !frag.IsFragment() {
		t.Error("offset")
	}
	for n := 0; n < len(base); n++ {
		if IPv4(base[:n]).Validate() == IPv4OK {
			t.Fatalf("truncated to %d valid", n)
		}
	}
}

func TestTCPTruncated(t *testing.T) {
	seg := TCP(IPv4(mustHex(t, goldenSYN)[EthernetHeaderLen:]).Payload())
	for n := 0; n < len(seg); n++ {
		if TCP(seg[:n]).IsValid() {
			t.Fatalf("truncated to %d valid", n)
		}
	}
	bad := append(TCP(nil), seg...)
	bad[12] = 4 << 4
	if bad.IsValid() {
		t.Fatal("data offset 4 valid")
	}
}

func TestEthernetTruncated(t *testing.T) {
	f := mustHex(t, goldenARP)
	for n := 0; n < EthernetHeaderLen; n++ {
		if Ethernet(f[:n]).IsValid() {
			t.Fatal(n)
		}
	}
	if !Ethernet(f[:14]).IsValid() || len(Ethernet(f[:14]).Payload()) != 0 {
		t.Fatal("14")
	}
}

func TestParseTCPOptions(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want OptStatus
		chk  func(o *TCPOptions) bool
	}{
		{"empty", nil, OptOK, func(o *TCPOptions) bool { return *o == TCPOptions{} }},
		{"nops", []byte{1, 1, 1, 1}, OptOK, nil},
		{"eol stops", []byte{0, 2, 4, 5, 0xb4}, OptOK, func(o *TCPOptions) bool { return !o.HasMSS }},
		{"eol after mss", []byte{2, 4, 5, 0xb4, 0, 0, 0, 0}, OptOK, func(o *TCPOptions) bool { return o.HasMSS && o.MSS == 1460 }},
		{"unknown skipped", []byte{30, 6, 1, 2, 3, 4, 3, 3, 9, 1}, OptOK, func(o *TCPOptions) bool { return o.HasWScale && o.WScale == 9 }},
		{"len0", []byte{30, 0, 1, 1}, OptBadLength, nil},
		{"len1", []byte{2, 1, 1, 1}, OptBadLength, nil},
		{"no length byte", []byte{1, 1, 1, 2}, OptTruncated, nil},
		{"past end", []byte{8, 10, 0, 0, 0, 0, 0, 0}, OptTruncated, nil},
		{"dup mss", []byte{2, 4, 5, 0xb4, 2, 4, 5, 0xb4}, OptDuplicate, nil},
		{"dup ws", []byte{3, 3, 7, 3, 3, 7}, OptDuplicate, nil},
		{"dup sackok", []byte{4, 2, 4, 2}, OptDuplicate, nil},
		{"dup ts", []byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, OptDuplicate, nil},
		{"mss wrong length ignored", []byte{2, 3, 5, 1}, OptOK, func(o *TCPOptions) bool { return !o.HasMSS }},
		{"sack 2 blocks", []byte{1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}, OptOK, func(o *TCPOptions) bool {
			return o.NumSACK == 2 && o.SACK[0] == SACKBlock{1, 2} && o.SACK[1] == SACKBlock{3, 4}
		}},
		{"sack bad length ignored", []byte{5, 7, 0, 0, 0, 1, 0}, OptOK, func(o *TCPOptions) bool { return o.NumSACK == 0 }},
	}
	for _, c := range cases {
		var o TCPOptions
		o.HasMSS = true // must be cleared
		got := ParseTCPOptions(c.b, &o)
		if got != c.want {
			t.Errorf("%s: %v want %v", c.name, got, c.want)
			continue
		}
		if c.chk != nil && !c.chk(&o) {
			t.Errorf("%s: options %+v", c.name, o)
		}
	}
	if OptDuplicate.String() != "duplicate" || OptStatus(99).String() != "unknown" {
		t.Error("String")
	}
}

func TestWriteTCPOptionsLinuxOrder(t *testing.T) {
	cases := []struct {
		name string
		o    TCPOptions
		syn  bool
		want []byte
	}{
		{"syn full", TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}, true,
			[]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7}},
		{"syn no ts", TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 7}, true,
			[]byte{2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}},
		{"syn ts no sack", TCPOptions{HasMSS: true, MSS: 536, HasTimestamp: true, TSVal: 5}, true,
			[]byte{2, 4, 2, 0x18, 1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 0}},
		{"data ts", TCPOptions{HasMSS: true, MSS: 1, HasWScale: true, SACKPermitted: true, HasTimestamp: true, TSVal: 0x01020304, TSEcr: 0x05060708}, false,
			[]byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"data ts sack 4 -> 3", TCPOptions{HasTimestamp: true, NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}, false,
			[]byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5, 26, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6}},
		{"data sack 1", TCPOptions{NumSACK: 1, SACK: [4]SACKBlock{{9, 10}}}, false,
			[]byte{1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 10}},
		{"nothing", TCPOptions{}, false, []byte{}},
	}
	for _, c := range cases {
		b := junk(48)
		n := WriteTCPOptions(b, &c.o, c.syn)
		if n != TCPOptionsLen(&c.o, c.syn) || n%4 != 0 || n > TCPMaxOptionsLen || !bytes.Equal(b[:n], c.want) {
			t.Errorf("%s: wrote %d %x want %x", c.name, n, b[:n], c.want)
			continue
		}
		// Round trip.
		var o TCPOptions
		if st := ParseTCPOptions(b[:n], &o); st != OptOK {
			t.Errorf("%s: reparse %v", c.name, st)
		}
	}
	o := TCPOptions{HasTimestamp: true}
	if WriteTCPOptions(make([]byte, 11), &o, false) != 0 {
		t.Error("short buffer written")
	}
}

func TestNoAllocs(t *testing.T) {
	f := mustHex(t, goldenSYN)
	buf := junk(128)
	var o TCPOptions
	o2 := TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, HasWScale: true, WScale: 7}
	n := testing.AllocsPerRun(100, func() {
		ip := IPv4(Ethernet(f).Payload())
		if ip.Validate() != IPv4OK {
			t.Fatal("bad")
		}
		seg := TCP(ip.Payload())
		if !seg.IsValid() || !seg.ChecksumOK(ip.Src(), ip.Dst()) {
			t.Fatal("bad tcp")
		}
		ParseTCPOptions(seg.Options(), &o)
		buildTCPFrame(buf, &o2, nil)
	})
	if n != 0 {
		t.Fatalf("%v allocs per parse+build", n)
	}
}

func FuzzParseTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7})
	f.Add([]byte{1, 1, 5, 10, 0, 0, 0, 9, 0, 0, 0, 10})
	f.Add([]byte{30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o TCPOptions
		if ParseTCPOptions(b, &o) != OptOK {
			return
		}
		// Whatever parsed writes back within bounds and parses the same.
		out := make([]byte, 40)
		o.SACKPermitted = o.SACKPermitted && o.HasMSS
		n := WriteTCPOptions(out, &o, true)
		if n%4 != 0 || n > 40 {
			t.Fatalf("wrote %d", n)
		}
		var o2 TCPOptions
		if st := ParseTCPOptions(out[:n], &o2); st != OptOK {
			t.Fatalf("reparse %v", st)
		}
		if o2.HasMSS != o.HasMSS || o2.MSS != o.MSS || o2.HasTimestamp != o.HasTimestamp || o2.TSVal != o.TSVal {
			t.Fatalf("round trip %+v -> %+v", o, o2)
		}
	})
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{goldenSYN, goldenARP, goldenEcho} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		eth := Ethernet(b)
		if !eth.IsValid() {
			return
		}
		_, _, _ = eth.Dst(), eth.Src(), eth.Type()
		if a := ARP(eth.Payload()); a.IsValid() {
			_, _, _, _, _ = a.Op(), a.SHA(), a.SPA(), a.THA(), a.TPA()
		}
		ip := IPv4(eth.Payload())
		if ip.Validate() != IPv4OK {
			return
		}
		_, _, _, _, _ = ip.Src(), ip.Dst(), ip.IsFragment(), ip.FragOffset(), ip.HasOptions()
		p := ip.Payload()
		if ic := ICMPv4(p); ic.IsValid() {
			_, _, _, _ = ic.ChecksumOK(), ic.Ident(), ic.Seq(), ic.Payload()
		}
		seg := TCP(p)
		if !seg.IsValid() {
			return
		}
		_, _, _, _, _, _ = seg.SrcPort(), seg.DstPort(), seg.Seq(), seg.Ack(), seg.Flags(), seg.Window()
		_, _ = seg.ChecksumOK(ip.Src(), ip.Dst()), seg.Payload()
		var o TCPOptions
		ParseTCPOptions(seg.Options(), &o)
	})
}

package wire

import "encoding/binary"

// IPv6 header (RFC 8200 §3).
const (
	ip6VerTCFlow = 0 // version (4 bits), traffic class (8), flow label (20)
	ip6PayLen    = 4
	ip6NextHdr   = 6
	ip6HopLimit  = 7
	ip6Src       = 8
	ip6Dst       = 24

	// IPv6HeaderLen is the length of the fixed IPv6 header.
	IPv6HeaderLen = 40

	// IPv6MinMTU is the smallest link MTU IPv6 allows (RFC 8200 §5).
	IPv6MinMTU = 1280

	ip6FlowMask = 0xfffff
)

// IPv6 next-header values (IANA protocol-numbers) the engine knows.
const (
	ProtoHopByHop uint8 = 0  // RFC 8200 §4.3
	ProtoRouting  uint8 = 43 // RFC 8200 §4.4
	ProtoFragment uint8 = 44 // RFC 8200 §4.5
	ProtoICMPv6   uint8 = 58 // RFC 4443
	ProtoNoNext   uint8 = 59 // RFC 8200 §4.7
	ProtoDstOpts  uint8 = 60 // RFC 8200 §4.6
)

// EtherTypeIPv6 is the EtherType of IPv6 (RFC 2464 §3).
const EtherTypeIPv6 uint16 = 0x86dd

// MaxExtHeaders bounds the extension headers IPv6.Walk follows: a chain
// longer than this is refused (hostile chains cost a bounded amount of
// work; RFC 8200 §4.1 allows each header once, destination options twice).
const MaxExtHeaders = 8

// IPv6 is a view of an IPv6 packet (fixed header, extension headers and
// upper-layer payload).
type IPv6 []byte

// IPv6Status is the outcome of IPv6.Validate and IPv6.Walk.
type IPv6Status uint8

// IPv6 validation outcomes.
const (
	IPv6OK           IPv6Status = iota
	IPv6Short                   // shorter than 40 bytes
	IPv6BadVersion              // version is not 6
	IPv6BadLength               // payload length past the bytes present (or 0: jumbogram)
	IPv6ExtTruncated            // an extension header runs past the payload
	IPv6ExtTooMany              // more than MaxExtHeaders extension headers
	IPv6ExtOrder                // hop-by-hop options not first (RFC 8200 §4.1)
	IPv6Fragment                // a fragment header (no reassembly)
	IPv6RoutingLeft             // routing header with segments left > 0 (we are not the final destination)
	IPv6ExtOption               // an option whose type says discard (RFC 8200 §4.2, high bits != 00)
)

var ipv6StatusNames = [...]string{"ok", "short", "bad_version", "bad_length", "ext_truncated",
	"ext_too_many", "ext_order", "fragment", "routing_left", "ext_option"}

func (s IPv6Status) String() string {
	if int(s) < len(ipv6StatusNames) {
		return ipv6StatusNames[s]
	}
	return "unknown"
}

// Validate checks the length, version 6 and that the payload length lies
// within b (bytes past it, such as Ethernet padding, are allowed; a zero
// payload length, the jumbogram marker of RFC 2675, is refused: no link
// here carries jumbograms). After it returned IPv6OK no accessor panics and
// Payload is exactly the bytes the payload length covers.
func (b IPv6) Validate() IPv6Status {
	if len(b) < IPv6HeaderLen {
		return IPv6Short
	}
	if b[ip6VerTCFlow]>>4 != 6 {
		return IPv6BadVersion
	}
	pl := int(binary.BigEndian.Uint16(b[ip6PayLen:]))
	if IPv6HeaderLen+pl > len(b) {
		return IPv6BadLength
	}
	return IPv6OK
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ip6VerTCFlow:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[ip6VerTCFlow:]) & ip6FlowMask
}

// PayloadLen returns the payload length field.
func (b IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(b[ip6PayLen:]) }

// NextHeader returns the next-header field of the fixed header.
func (b IPv6) NextHeader() uint8 { return b[ip6NextHdr] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[ip6HopLimit] }

// Src returns the source address.
func (b IPv6) Src() (a [16]byte) { copy(a[:], b[ip6Src:ip6Src+16]); return }

// Dst returns the destination address.
func (b IPv6) Dst() (a [16]byte) { copy(a[:], b[ip6Dst:ip6Dst+16]); return }

// Payload returns the bytes after the fixed header that the payload length
// covers (extension headers included). Call it only after Validate.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLen())] }

// Walk follows the extension-header chain of a validated packet (RFC 8200
// §4) and returns the upper-layer protocol and its bytes. Hop-by-hop and
// destination options are skipped when every option in them is Pad1, PadN
// or of a type whose two high bits are 00 ("skip over this option", §4.2);
// any other option type asks for the packet to be discarded, and is
// (IPv6ExtOption; xdptcp sends no ICMPv6 Parameter Problem). A routing
// header with segments left 0 is skipped (§4.4), one with segments left > 0
// refused (we would have to forward). A fragment header is refused (no
// reassembly: IPv6Fragment). At most MaxExtHeaders headers are followed;
// every length is checked before it is used, so no chain makes Walk read
// outside b or loop. proto is ProtoNoNext for an empty upper layer.
func (b IPv6) Walk() (proto uint8, upper []byte, st IPv6Status) {
	p := b.Payload()
	nh := b.NextHeader()
	for i := 0; ; i++ {
		switch nh {
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting:
		case ProtoFragment:
			return nh, nil, IPv6Fragment
		default:
			return nh, p, IPv6OK
		}
		if i >= MaxExtHeaders {
			return nh, nil, IPv6ExtTooMany
		}
		if nh == ProtoHopByHop && i != 0 {
			return nh, nil, IPv6ExtOrder
		}
		if len(p) < 8 {
			return nh, nil, IPv6ExtTruncated
		}
		n := (int(p[1]) + 1) * 8
		if n > len(p) {
			return nh, nil, IPv6ExtTruncated
		}
		h := p[:n]
		switch nh {
		case ProtoRouting:
			if h[3] != 0 { // segments left
				return nh, nil, IPv6RoutingLeft
			}
		default:
			if st := checkOptions(h[2:]); st != IPv6OK {
				return nh, nil, st
			}
		}
		nh = h[0]
		p = p[n:]
	}
}

// checkOptions walks the TLV options of a hop-by-hop or destination options
// header (RFC 8200 §4.2).
func checkOptions(o []byte) IPv6Status {
	for len(o) > 0 {
		t := o[0]
		if t == 0 { // Pad1
			o = o[1:]
			continue
		}
		if len(o) < 2 || 2+int(o[1]) > len(o) {
			return IPv6ExtTruncated
		}
		if t != 1 && t>>6 != 0 { // not PadN, and not "skip over"
			return IPv6ExtOption
		}
		o = o[2+int(o[1]):]
	}
	return IPv6OK
}

// IPv6Fields are the values IPv6.Encode writes.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32 // low 20 bits used
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     [16]byte
}

// Encode writes every field of the fixed header. b must hold IPv6HeaderLen
// bytes.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b[ip6VerTCFlow:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&ip6FlowMask)
	binary.BigEndian.PutUint16(b[ip6PayLen:], f.PayloadLen)
	b[ip6NextHdr] = f.NextHeader
	b[ip6HopLimit] = f.HopLimit
	copy(b[ip6Src:ip6Src+16], f.Src[:])
	copy(b[ip6Dst:ip6Dst+16], f.Dst[:])
}

// PseudoHeaderChecksum6 returns the one's complement sum of the IPv6
// pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length,
// zero, next header) that TCP and ICMPv6 checksums cover.
func PseudoHeaderChecksum6(proto uint8, src, dst *[16]byte, length uint32) uint16 {
	var sum uint64
	for i := 0; i < 16; i += 4 {
		sum += uint64(binary.BigEndian.Uint32(src[i:])) + uint64(binary.BigEndian.Uint32(dst[i:]))
	}
	sum += uint64(length) + uint64(proto)
	return fold(sum)
}

// IsMulticast6 reports whether a is an IPv6 multicast address (ff00::/8).
func IsMulticast6(a *[16]byte) bool { return a[0] == 0xff }

// SolicitedNode returns the solicited-node multicast address of a
// (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1).
func SolicitedNode(a [16]byte) [16]byte {
	return [16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// MulticastMAC returns the Ethernet address of IPv6 multicast address a
// (33:33 and its low 32 bits, RFC 2464 §7).
func MulticastMAC(a [16]byte) [6]byte {
	return [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

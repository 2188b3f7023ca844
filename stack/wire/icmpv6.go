package wire

import "encoding/binary"

// ICMPv6 (RFC 4443 §2.1) and the Neighbor Discovery messages xdptcp uses
// (RFC 4861 §4.3-4.4). The fixed header has the same layout as ICMPv4's:
// type, code, checksum, 4 bytes of message body.
const (
	// ICMPv6MinLen is the fixed header: type, code, checksum, 4 bytes.
	ICMPv6MinLen = 8

	ndTarget = 8 // NS/NA target address
	// NDMinLen is the length of an NS or NA without options.
	NDMinLen = 24
	// NDOptLLALen is a link-layer address option for Ethernet (RFC 4861
	// §4.6.1, length 1 = 8 bytes).
	NDOptLLALen = 8

	naFlagRouter    = 1 << 31
	naFlagSolicited = 1 << 30
	naFlagOverride  = 1 << 29
)

// ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4).
const (
	ICMPv6DstUnreach   uint8 = 1
	ICMPv6PacketTooBig uint8 = 2
	ICMPv6TimeExceeded uint8 = 3
	ICMPv6ParamProblem uint8 = 4
	ICMPv6EchoRequest  uint8 = 128
	ICMPv6EchoReply    uint8 = 129
	ICMPv6RouterSol    uint8 = 133
	ICMPv6RouterAdv    uint8 = 134
	ICMPv6NeighborSol  uint8 = 135
	ICMPv6NeighborAdv  uint8 = 136
)

// NDP option types (RFC 4861 §4.6).
const (
	NDOptSourceLLA uint8 = 1
	NDOptTargetLLA uint8 = 2
)

// ICMPv6 is a view of an ICMPv6 message.
type ICMPv6 []byte

// IsValid reports whether b holds the fixed 8-byte header. After it returned
// true, no accessor or setter of the fixed header panics.
func (b ICMPv6) IsValid() bool { return len(b) >= ICMPv6MinLen }

// ChecksumOK reports whether the checksum over the IPv6 pseudo-header (src,
// dst, length, next header 58) and the message verifies (RFC 4443 §2.3).
func (b ICMPv6) ChecksumOK(src, dst *[16]byte) bool {
	return Checksum(b, PseudoHeaderChecksum6(ProtoICMPv6, src, dst, uint32(len(b)))) == 0xffff
}

// SetChecksumFor computes and stores the checksum of the whole message b
// sent from src to dst.
func (b ICMPv6) SetChecksumFor(src, dst *[16]byte) {
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint16(b[icmpChecksum:], ^Checksum(b, PseudoHeaderChecksum6(ProtoICMPv6, src, dst, uint32(len(b)))))
}

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// SetType sets the type without updating the checksum.
func (b ICMPv6) SetType(t uint8) { b[icmpType] = t }

// SetChecksum sets the checksum field.
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// MTU returns the MTU field of a Packet Too Big message (RFC 4443 §3.2).
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[4:]) }

// Body returns the bytes after the fixed header: the invoking packet of an
// error message, the data of an echo.
func (b ICMPv6) Body() []byte { return b[ICMPv6MinLen:] }

// NDValid reports whether b is long enough for an NS or NA (24 bytes) with
// options whose lengths are all non-zero and within b (RFC 4861 §7.1.1:
// otherwise the message is discarded). After it returned true, Target and
// NDOption do not panic.
func (b ICMPv6) NDValid() bool {
	if len(b) < NDMinLen {
		return false
	}
	o := b[NDMinLen:]
	for len(o) > 0 {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return false
		}
		o = o[int(o[1])*8:]
	}
	return true
}

// Target returns the target address of an NS or NA.
func (b ICMPv6) Target() (a [16]byte) { copy(a[:], b[ndTarget:ndTarget+16]); return }

// NAFlags returns the router, solicited and override flags of an NA.
func (b ICMPv6) NAFlags() (router, solicited, override bool) {
	f := binary.BigEndian.Uint32(b[4:])
	return f&naFlagRouter != 0, f&naFlagSolicited != 0, f&naFlagOverride != 0
}

// NDOptionLLA returns the Ethernet address in the first option of type typ
// (source or target link-layer address) of a message NDValid accepted.
func (b ICMPv6) NDOptionLLA(typ uint8) (mac [6]byte, ok bool) {
	o := b[NDMinLen:]
	for len(o) >= 2 && o[1] != 0 && int(o[1])*8 <= len(o) {
		n := int(o[1]) * 8
		if o[0] == typ && n >= NDOptLLALen {
			copy(mac[:], o[2:8])
			return mac, true
		}
		o = o[n:]
	}
	return mac, false
}

// EncodeNS writes a neighbour solicitation for target with a source
// link-layer address option (RFC 4861 §4.3), checksum excluded (use
// SetChecksumFor). b must hold NDMinLen+NDOptLLALen bytes; the message is
// that long.
func (b ICMPv6) EncodeNS(target [16]byte, mac [6]byte) {
	b[icmpType] = ICMPv6NeighborSol
	b[icmpCode] = 0
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint32(b[4:], 0)
	copy(b[ndTarget:ndTarget+16], target[:])
	b[NDMinLen] = NDOptSourceLLA
	b[NDMinLen+1] = 1
	copy(b[NDMinLen+2:NDMinLen+8], mac[:])
}

// EncodeNA writes a neighbour advertisement for target with a target
// link-layer address option (RFC 4861 §4.4), checksum excluded. b must hold
// NDMinLen+NDOptLLALen bytes.
func (b ICMPv6) EncodeNA(target [16]byte, mac [6]byte, solicited, override bool) {
	b[icmpType] = ICMPv6NeighborAdv
	b[icmpCode] = 0
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	var f uint32
	if solicited {
		f |= naFlagSolicited
	}
	if override {
		f |= naFlagOverride
	}
	binary.BigEndian.PutUint32(b[4:], f)
	copy(b[ndTarget:ndTarget+16], target[:])
	b[NDMinLen] = NDOptTargetLLA
	b[NDMinLen+1] = 1
	copy(b[NDMinLen+2:NDMinLen+8], mac[:])
}

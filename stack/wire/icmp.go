package wire

import "encoding/binary"

// ICMPv4 header (RFC 792).
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSeq      = 6

	// ICMPv4MinLen is the length of the fixed ICMP header (type, code,
	// checksum and the 4-byte rest-of-header).
	ICMPv4MinLen = 8
)

// ICMPv4 types (RFC 792).
const (
	ICMPv4EchoReply    uint8 = 0
	ICMPv4DstUnreach   uint8 = 3
	ICMPv4EchoRequest  uint8 = 8
	ICMPv4TimeExceeded uint8 = 11
	ICMPv4ParamProblem uint8 = 12

	// ICMPv4CodeFragNeeded is destination unreachable's "fragmentation
	// needed and DF set" (RFC 792), with the next-hop MTU (RFC 1191 §4).
	ICMPv4CodeFragNeeded uint8 = 4
)

// NextHopMTU returns the next-hop MTU of a "fragmentation needed" (RFC
// 1191 §4: the low 16 bits of the rest-of-header; 0 from routers older
// than RFC 1191).
func (b ICMPv4) NextHopMTU() uint16 { return binary.BigEndian.Uint16(b[6:]) }

// ICMPv4 is a view of an ICMPv4 message (header and data).
type ICMPv4 []byte

// IsValid reports whether b holds the fixed 8-byte header. After it returned
// true, no accessor or setter panics.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4MinLen }

// ChecksumOK reports whether the checksum over the whole message verifies
// (RFC 792: the one's complement sum of the message is all ones).
func (b ICMPv4) ChecksumOK() bool { return Checksum(b, 0) == 0xffff }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[icmpType] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[icmpCode] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpChecksum:]) }

// Ident returns the echo identifier.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpIdent:]) }

// Seq returns the echo sequence number.
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[icmpSeq:]) }

// Payload returns the data after the fixed header.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinLen:] }

// SetType sets the type without updating the checksum.
func (b ICMPv4) SetType(t uint8) { b[icmpType] = t }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[icmpChecksum:], c) }

// EncodeEcho writes every header field of an echo request or reply and
// copies data after it, then sets the checksum. b must hold
// ICMPv4MinLen+len(data) bytes; the message is b[:ICMPv4MinLen+len(data)].
func (b ICMPv4) EncodeEcho(typ uint8, ident, seq uint16, data []byte) {
	b[icmpType] = typ
	b[icmpCode] = 0
	binary.BigEndian.PutUint16(b[icmpChecksum:], 0)
	binary.BigEndian.PutUint16(b[icmpIdent:], ident)
	binary.BigEndian.PutUint16(b[icmpSeq:], seq)
	n := copy(b[ICMPv4MinLen:], data)
	binary.BigEndian.PutUint16(b[icmpChecksum:], ^Checksum(b[:ICMPv4MinLen+n], 0))
}

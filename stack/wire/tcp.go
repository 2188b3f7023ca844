package wire

import "encoding/binary"

// TCP header (RFC 9293 §3.1).
const (
	tcpSrcPort  = 0
	tcpDstPort  = 2
	tcpSeq      = 4
	tcpAck      = 8
	tcpDataOff  = 12
	tcpFlags    = 13
	tcpWindow   = 14
	tcpChecksum = 16
	tcpUrgent   = 18

	// TCPMinHeaderLen is the header length without options (data offset 5).
	TCPMinHeaderLen = 20
	// TCPMaxHeaderLen is the longest header (data offset 15).
	TCPMaxHeaderLen = 60
	// TCPMaxOptionsLen is the most option bytes a header holds.
	TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinHeaderLen
)

// TCP is a view of a TCP segment (header and payload).
type TCP []byte

// IsValid reports whether b holds a TCP header: at least 20 bytes, data
// offset >= 5 and within b (RFC 9293 §3.1). After it returned true, no
// accessor or setter panics.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinHeaderLen {
		return false
	}
	off := int(b[tcpDataOff]>>4) * 4
	return off >= TCPMinHeaderLen && off <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[tcpAck:]) }

// HeaderLen returns the data offset in bytes.
func (b TCP) HeaderLen() int { return int(b[tcpDataOff]>>4) * 4 }

// Flags returns the control bits.
func (b TCP) Flags() TCPFlags { return TCPFlags(b[tcpFlags]) }

// Window returns the raw (unscaled) window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// Urgent returns the urgent pointer.
func (b TCP) Urgent() uint16 { return binary.BigEndian.Uint16(b[tcpUrgent:]) }

// Options returns the option bytes between the fixed header and the data.
func (b TCP) Options() []byte { return b[TCPMinHeaderLen:b.HeaderLen()] }

// Payload returns the data after the header.
func (b TCP) Payload() []byte { return b[b.HeaderLen():] }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], c) }

// ChecksumOK reports whether the checksum over the pseudo-header (src, dst,
// protocol 6, length len(b)) and the whole segment verifies (RFC 9293 §3.1).
// b must be exactly the segment (IPv4 payload); len(b) must fit 16 bits.
func (b TCP) ChecksumOK(src, dst [4]byte) bool {
	return Checksum(b, PseudoHeaderChecksum(ProtoTCP, src, dst, uint16(len(b)))) == 0xffff
}

// TCPFields are the fixed-header values TCP.Encode writes.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOffset       int // header length in bytes (20 + options), multiple of 4
	Flags            TCPFlags
	Window           uint16
	Urgent           uint16
}

// Encode writes every field of the fixed 20-byte header, with the checksum
// zero (compute it once options and payload are in place). b must hold
// TCPMinHeaderLen bytes.
func (b TCP) Encode(f *TCPFields) {
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeq:], f.Seq)
	binary.BigEndian.PutUint32(b[tcpAck:], f.Ack)
	b[tcpDataOff] = uint8(f.DataOffset/4) << 4
	b[tcpFlags] = uint8(f.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], f.Window)
	binary.BigEndian.PutUint16(b[tcpChecksum:], 0)
	binary.BigEndian.PutUint16(b[tcpUrgent:], f.Urgent)
}

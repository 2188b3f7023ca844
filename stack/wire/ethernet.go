package wire

import "encoding/binary"

// Ethernet II header (IEEE 802.3 clause 3.2.6 with the EtherType
// interpretation of RFC 894).
const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12

	// EthernetHeaderLen is the length of an Ethernet II header without
	// VLAN tags.
	EthernetHeaderLen = 14
)

// EtherTypes the engine handles (IANA ieee-802-numbers).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
)

// BroadcastMAC is the all-ones Ethernet address.
var BroadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Ethernet is a view of an Ethernet II header followed by its payload.
type Ethernet []byte

// IsValid reports whether b is long enough to hold the header. After it
// returned true, no accessor or setter panics.
func (b Ethernet) IsValid() bool { return len(b) >= EthernetHeaderLen }

// Dst returns the destination address.
func (b Ethernet) Dst() (m [6]byte) { copy(m[:], b[ethDst:ethDst+6]); return }

// Src returns the source address.
func (b Ethernet) Src() (m [6]byte) { copy(m[:], b[ethSrc:ethSrc+6]); return }

// Type returns the EtherType.
func (b Ethernet) Type() uint16 { return binary.BigEndian.Uint16(b[ethType:]) }

// Payload returns the bytes after the header.
func (b Ethernet) Payload() []byte { return b[EthernetHeaderLen:] }

// SetDst sets the destination address.
func (b Ethernet) SetDst(m [6]byte) { copy(b[ethDst:ethDst+6], m[:]) }

// SetSrc sets the source address.
func (b Ethernet) SetSrc(m [6]byte) { copy(b[ethSrc:ethSrc+6], m[:]) }

// SetType sets the EtherType.
func (b Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(b[ethType:], t) }

// Encode writes every field of the header. b must hold EthernetHeaderLen
// bytes.
func (b Ethernet) Encode(dst, src [6]byte, etherType uint16) {
	b.SetDst(dst)
	b.SetSrc(src)
	b.SetType(etherType)
}

package wire

import "encoding/binary"

// ARP for IPv4 over Ethernet (RFC 826).
const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24

	// ARPLen is the length of an Ethernet/IPv4 ARP packet.
	ARPLen = 28

	// ARPHardwareEthernet is ar$hrd for Ethernet (RFC 826, IANA arp-parameters).
	ARPHardwareEthernet = 1
)

// ARP opcodes (RFC 826 ar$op).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is a view of an ARP packet for IPv4 over Ethernet.
type ARP []byte

// IsValid reports whether b is an Ethernet/IPv4 ARP packet: long enough,
// hardware type Ethernet, protocol type IPv4, address lengths 6 and 4.
// After it returned true, no accessor or setter panics.
func (b ARP) IsValid() bool {
	return len(b) >= ARPLen &&
		binary.BigEndian.Uint16(b[arpHType:]) == ARPHardwareEthernet &&
		binary.BigEndian.Uint16(b[arpPType:]) == EtherTypeIPv4 &&
		b[arpHLen] == 6 && b[arpPLen] == 4
}

// Op returns the opcode.
func (b ARP) Op() uint16 { return binary.BigEndian.Uint16(b[arpOp:]) }

// SHA returns the sender hardware address.
func (b ARP) SHA() (m [6]byte) { copy(m[:], b[arpSHA:arpSHA+6]); return }

// SPA returns the sender protocol address.
func (b ARP) SPA() (a [4]byte) { copy(a[:], b[arpSPA:arpSPA+4]); return }

// THA returns the target hardware address.
func (b ARP) THA() (m [6]byte) { copy(m[:], b[arpTHA:arpTHA+6]); return }

// TPA returns the target protocol address.
func (b ARP) TPA() (a [4]byte) { copy(a[:], b[arpTPA:arpTPA+4]); return }

// Encode writes every field of an Ethernet/IPv4 ARP packet. b must hold
// ARPLen bytes.
func (b ARP) Encode(op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) {
	binary.BigEndian.PutUint16(b[arpHType:], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(b[arpPType:], EtherTypeIPv4)
	b[arpHLen] = 6
	b[arpPLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], op)
	copy(b[arpSHA:arpSHA+6], sha[:])
	copy(b[arpSPA:arpSPA+4], spa[:])
	copy(b[arpTHA:arpTHA+6], tha[:])
	copy(b[arpTPA:arpTPA+4], tpa[:])
}

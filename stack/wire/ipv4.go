package wire

import "encoding/binary"

// IPv4 header (RFC 791 §3.1).
const (
	ipVersIHL   = 0
	ipTOS       = 1
	ipTotalLen  = 2
	ipID        = 4
	ipFlagsFrag = 6
	ipTTL       = 8
	ipProto     = 9
	ipChecksum  = 10
	ipSrc       = 12
	ipDst       = 16

	// IPv4MinHeaderLen is the header length without options (IHL 5).
	IPv4MinHeaderLen = 20

	ipFlagDF      = 0x4000 // RFC 791: Don't Fragment
	ipFlagMF      = 0x2000 // RFC 791: More Fragments
	ipFragOffMask = 0x1fff // RFC 791: fragment offset, in 8-byte units
)

// IP protocol numbers (IANA protocol-numbers).
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
)

// DefaultTTL is the TTL put on output, Linux's net.ipv4.ip_default_ttl (64,
// the value RFC 1700 recommends).
const DefaultTTL = 64

// IPv4 is a view of an IPv4 packet (header and payload).
type IPv4 []byte

// IPv4Status is the outcome of IPv4.Validate.
type IPv4Status uint8

// IPv4 validation outcomes.
const (
	IPv4OK          IPv4Status = iota
	IPv4Short                  // shorter than 20 bytes
	IPv4BadVersion             // version is not 4
	IPv4BadIHL                 // IHL < 5 or past the end
	IPv4BadTotalLen            // total length < IHL*4 or > the bytes present
	IPv4BadChecksum            // header checksum does not verify
)

var ipv4StatusNames = [...]string{"ok", "short", "bad_version", "bad_ihl", "bad_total_length", "bad_checksum"}

func (s IPv4Status) String() string {
	if int(s) < len(ipv4StatusNames) {
		return ipv4StatusNames[s]
	}
	return "unknown"
}

// Validate checks, in this order, the length, version 4, IHL >= 5 and within
// b, total length within [IHL*4, len(b)] (bytes past the total length, such
// as Ethernet padding, are allowed), and the header checksum (RFC 791 §3.1,
// RFC 1122 §3.2.1.1-2). After it returned IPv4OK, no accessor or setter
// panics, and Payload is exactly the bytes the total length covers.
func (b IPv4) Validate() IPv4Status {
	if len(b) < IPv4MinHeaderLen {
		return IPv4Short
	}
	if b[ipVersIHL]>>4 != 4 {
		return IPv4BadVersion
	}
	hl := int(b[ipVersIHL]&0xf) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return IPv4BadIHL
	}
	tl := int(binary.BigEndian.Uint16(b[ipTotalLen:]))
	if tl < hl || tl > len(b) {
		return IPv4BadTotalLen
	}
	if Checksum(b[:hl], 0) != 0xffff {
		return IPv4BadChecksum
	}
	return IPv4OK
}

// Version returns the version field.
func (b IPv4) Version() uint8 { return b[ipVersIHL] >> 4 }

// HeaderLen returns the header length in bytes (IHL*4).
func (b IPv4) HeaderLen() int { return int(b[ipVersIHL]&0xf) * 4 }

// HasOptions reports whether the header carries options (IHL > 5).
func (b IPv4) HasOptions() bool { return b.HeaderLen() > IPv4MinHeaderLen }

// TOS returns the type-of-service byte (DSCP and ECN).
func (b IPv4) TOS() uint8 { return b[ipTOS] }

// TotalLen returns the total length field.
func (b IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(b[ipTotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// DF reports whether Don't Fragment is set.
func (b IPv4) DF() bool { return binary.BigEndian.Uint16(b[ipFlagsFrag:])&ipFlagDF != 0 }

// MF reports whether More Fragments is set.
func (b IPv4) MF() bool { return binary.BigEndian.Uint16(b[ipFlagsFrag:])&ipFlagMF != 0 }

// FragOffset returns the fragment offset in bytes.
func (b IPv4) FragOffset() int {
	return int(binary.BigEndian.Uint16(b[ipFlagsFrag:])&ipFragOffMask) * 8
}

// IsFragment reports whether the packet is a fragment (MF set or a non-zero
// offset).
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipFlagsFrag:])&(ipFlagMF|ipFragOffMask) != 0
}

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol returns the protocol number.
func (b IPv4) Protocol() uint8 { return b[ipProto] }

// HeaderChecksum returns the checksum field.
func (b IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(b[ipChecksum:]) }

// Src returns the source address.
func (b IPv4) Src() (a [4]byte) { copy(a[:], b[ipSrc:ipSrc+4]); return }

// Dst returns the destination address.
func (b IPv4) Dst() (a [4]byte) { copy(a[:], b[ipDst:ipDst+4]); return }

// Payload returns the bytes between the header and the total length. Call
// it only after Validate returned IPv4OK.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLen()] }

// SetTTL sets the TTL without updating the checksum.
func (b IPv4) SetTTL(ttl uint8) { b[ipTTL] = ttl }

// SetHeaderChecksum sets the checksum field.
func (b IPv4) SetHeaderChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipChecksum:], c) }

// IPv4Fields are the values IPv4.Encode writes.
type IPv4Fields struct {
	TOS      uint8
	TotalLen uint16
	ID       uint16
	DF       bool
	TTL      uint8
	Protocol uint8
	Src, Dst [4]byte
}

// Encode writes every field of a 20-byte header without options (IHL 5,
// fragment offset 0, MF clear) and its checksum. b must hold
// IPv4MinHeaderLen bytes.
func (b IPv4) Encode(f *IPv4Fields) {
	b[ipVersIHL] = 4<<4 | 5
	b[ipTOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipTotalLen:], f.TotalLen)
	binary.BigEndian.PutUint16(b[ipID:], f.ID)
	var ff uint16
	if f.DF {
		ff = ipFlagDF
	}
	binary.BigEndian.PutUint16(b[ipFlagsFrag:], ff)
	b[ipTTL] = f.TTL
	b[ipProto] = f.Protocol
	binary.BigEndian.PutUint16(b[ipChecksum:], 0)
	copy(b[ipSrc:ipSrc+4], f.Src[:])
	copy(b[ipDst:ipDst+4], f.Dst[:])
	binary.BigEndian.PutUint16(b[ipChecksum:], ^Checksum(b[:IPv4MinHeaderLen], 0))
}

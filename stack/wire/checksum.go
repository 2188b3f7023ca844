package wire

import "encoding/binary"

// Checksum returns the 16-bit one's complement sum (RFC 1071 §4.1, not yet
// complemented) of b added to initial. An odd trailing byte is padded with a
// zero byte, so sums of several slices can be chained only when every slice
// but the last has an even length. The result feeds further Checksum calls
// or is complemented (^) to become the value put in a header.
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return fold(sum)
}

// fold folds a 64-bit sum into 16 bits with end-around carry (RFC 1071 §2(C)).
func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + sum>>16
	}
	return uint16(sum)
}

// ChecksumCombine adds two one's complement sums (RFC 1071 §2(B)).
func ChecksumCombine(a, b uint16) uint16 {
	return fold(uint64(a) + uint64(b))
}

// PseudoHeaderChecksum returns the one's complement sum of the IPv4
// pseudo-header (RFC 9293 §3.1: source, destination, zero, protocol, TCP
// length) that TCP and UDP checksums cover.
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, length uint16) uint16 {
	sum := uint64(binary.BigEndian.Uint16(src[0:])) + uint64(binary.BigEndian.Uint16(src[2:])) +
		uint64(binary.BigEndian.Uint16(dst[0:])) + uint64(binary.BigEndian.Uint16(dst[2:])) +
		uint64(proto) + uint64(length)
	return fold(sum)
}

// ChecksumUpdate16 returns the header checksum hc (as stored, complemented)
// after one 16-bit field changed from old to new, per RFC 1624 §3 eqn. 3:
// HC' = ~(~HC + ~m + m').
func ChecksumUpdate16(hc, old, new uint16) uint16 {
	return ^fold(uint64(^hc) + uint64(^old) + uint64(new))
}

package wire

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit one's complement sum (RFC 1071 §4.1, not yet
// complemented) of b added to initial. An odd trailing byte is padded with a
// zero byte, so sums of several slices can be chained only when every slice
// but the last has an even length. The result feeds further Checksum calls
// or is complemented (^) to become the value put in a header.
//
// It adds 64-bit little-endian words with their carries (four per round,
// one carry chain), then folds to 16 bits and swaps the two bytes: the one's
// complement sum does not depend on byte order (RFC 1071 §2(B)), and the
// wide words halve the work of 32-bit big-endian words on the receive path,
// where every segment's payload is summed.
func Checksum(b []byte, initial uint16) uint16 {
	var acc, carries, c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), 0)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), c)
		carries += c
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), 0)
		carries += c
		b = b[8:]
	}
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.LittleEndian.Uint16(b)) << 32
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 48 // its 16-bit word: the byte, then the zero pad
	}
	acc, c = bits.Add64(acc, tail, 0)
	carries += c
	acc, c = bits.Add64(acc, carries, 0)
	acc += c // cannot carry again: acc < carries here
	return fold(uint64(bits.ReverseBytes16(fold(acc))) + uint64(initial))
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

package flowtable

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
)

// seed is the secret key of a table's hash function, drawn from crypto/rand
// when the table is created so that a remote peer, who chooses its own
// address and port, cannot predict which slots its 4-tuples land in and
// aim collisions at one probe chain (hash flooding).
type seed struct{ k0, k1 uint64 }

func newSeed() seed {
	var b [16]byte
	// crypto/rand.Read never returns an error on Linux (Go 1.24+: it
	// crashes the program irrecoverably instead of returning one).
	_, _ = rand.Read(b[:])
	return seed{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// sipRound is one SipRound of SipHash (Aumasson and Bernstein, "SipHash: a
// fast short-input PRF", 2012, section 2).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sip13 is SipHash-1-3 (one compression round per block, three
// finalization rounds) specialised to the 36-byte message LocalAddr ‖
// RemoteAddr ‖ ports, ports being LocalPort<<16|RemotePort as a
// little-endian word: four full 8-byte blocks (little-endian words of the
// addresses) and a final block holding the last four bytes and the message
// length (36) in its top byte, as the SipHash paper pads.
func (s seed) sip13(k *Key) uint64 {
	v0 := s.k0 ^ 0x736f6d6570736575
	v1 := s.k1 ^ 0x646f72616e646f6d
	v2 := s.k0 ^ 0x6c7967656e657261
	v3 := s.k1 ^ 0x7465646279746573

	for _, m := range [4]uint64{
		binary.LittleEndian.Uint64(k.LocalAddr[:8]), binary.LittleEndian.Uint64(k.LocalAddr[8:]),
		binary.LittleEndian.Uint64(k.RemoteAddr[:8]), binary.LittleEndian.Uint64(k.RemoteAddr[8:]),
	} {
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}

	last := uint64(uint32(k.LocalPort)<<16|uint32(k.RemotePort)) | 36<<56
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last

	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

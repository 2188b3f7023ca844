package wire

import (
	"encoding/binary"
	"testing"
)

func BenchmarkChecksum1460(b *testing.B) {
	buf := make([]byte, 1460)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf, 0)
	}
}

// checksum32 is the earlier Checksum (32-bit big-endian words), kept to
// measure the current one against in the same run.
func checksum32(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return fold(sum)
}

func BenchmarkChecksum32Words1460(b *testing.B) {
	buf := make([]byte, 1460)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		checksum32(buf, 0)
	}
}

func BenchmarkParseTCPOptionsSYN(b *testing.B) {
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7}
	var o TCPOptions
	b.ReportAllocs()
	for b.Loop() {
		ParseTCPOptions(opts, &o)
	}
}

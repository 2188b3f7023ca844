package wire

import "testing"

func BenchmarkChecksum1460(b *testing.B) {
	buf := make([]byte, 1460)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf, 0)
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

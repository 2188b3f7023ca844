package stack

import (
	"testing"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

func benchFixture(b *testing.B) *fixture {
	f := newFixture(b, nil)
	f.p.capture = false
	f.recv(unhex(b, goldenARPReq)) // learn the peer
	return f
}

func BenchmarkHandleFrameEcho(b *testing.B) {
	f := benchFixture(b)
	echo := unhex(b, goldenEchoReq)
	b.ReportAllocs()
	b.SetBytes(int64(len(echo)))
	for b.Loop() {
		f.e.HandleFrame(f.now, echo)
		f.e.flushTx()
	}
}

func BenchmarkHandleFrameTCPInput(b *testing.B) {
	f := benchFixture(b)
	f.e.testInput = func(clock.Time, *tcp.Segment) {}
	seg := tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagACK, 1, &wire.TCPOptions{HasTimestamp: true}, make([]byte, 1448))
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		f.e.HandleFrame(f.now, seg)
	}
}

func BenchmarkSendTCP(b *testing.B) {
	f := benchFixture(b)
	seg := rstTo(addrPeer)
	seg.Flags = wire.FlagACK | wire.FlagPSH
	seg.Opts = wire.TCPOptions{HasTimestamp: true}
	seg.Payload = make([]byte, 1448)
	b.ReportAllocs()
	b.SetBytes(int64(len(seg.Payload)))
	for b.Loop() {
		f.e.SendTCP(seg)
		f.e.flushTx()
	}
}

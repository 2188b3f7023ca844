package stack

import (
	"encoding/binary"
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/xsk"
)

// csumDev plays a device with TX checksum offload: it records the request
// as the kernel reads it from the TX metadata.
type csumDev struct {
	start, offset int
	n             int
}

func (c *csumDev) TxChecksumOffload() bool { return true }
func (c *csumDev) RequestTxChecksum(d xsk.Desc, start, offset int) (xsk.Desc, bool) {
	c.start, c.offset = start, offset
	c.n++
	d.Options |= xsk.DescTxMetadata
	return d, true
}

// With a port that computes checksums, SendTCP leaves the pseudo-header
// sum in the TCP checksum field and asks for the sum from the TCP header
// to the end stored at offset 16 of it (CHECKSUM_PARTIAL's convention);
// completing it as a device does gives the frame the software path builds.
func TestTxChecksumRequest(t *testing.T) {
	f := newFixture(t, nil)
	dev := &csumDev{}
	f.e.csum = dev
	f.recv(unhex(t, goldenARPReq))
	seg := &tcp.OutSegment{
		Key: flowtable.Key{LocalAddr: m4(addrUs), RemoteAddr: m4(addrPeer), LocalPort: 80, RemotePort: 40000},
		Seq: 1000, Ack: 2000, Flags: wire.FlagPSH | wire.FlagACK, Window: 502,
		Opts:    wire.TCPOptions{HasTimestamp: true, TSVal: 7, TSEcr: 9, HasMSS: true, MSS: 1},
		Payload: []byte("hello, "), Payload2: []byte("world"),
	}
	f.e.ipID = 0
	ok, out := f.send(seg)
	if !ok || len(out) != 1 || dev.n != 1 {
		t.Fatalf("SendTCP %v, %d frames, %d requests", ok, len(out), dev.n)
	}
	fr := out[0]
	if dev.start != 34 || dev.offset != 16 {
		t.Fatalf("request: start %d offset %d, want 34 and 16", dev.start, dev.offset)
	}
	tcpLen := len(fr) - dev.start
	ph := wire.PseudoHeaderChecksum(wire.ProtoTCP, addrUs, addrPeer, uint16(tcpLen))
	if got := binary.BigEndian.Uint16(fr[dev.start+dev.offset:]); got != ph {
		t.Fatalf("checksum field %#04x, want the pseudo-header sum %#04x", got, ph)
	}
	// The device: sum from start to the end (the field included), store
	// its complement.
	binary.BigEndian.PutUint16(fr[dev.start+dev.offset:], ^wire.Checksum(fr[dev.start:], 0))
	f.expectOne(out, unhex(t, goldenData))
}

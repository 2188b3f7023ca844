package stack

import (
	"syscall"
	"testing"

	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// icmpUnreach4 builds an ICMP destination-unreachable (type 3, code) from
// the peer to us quoting the IPv4 header and the first 8 bytes of TCP of
// the frame we sent (RFC 792).
func icmpUnreach4(code uint8, sent []byte) []byte {
	quote := sent[14 : 14+20+8]
	b := make([]byte, 14+20+8+len(quote))
	wire.Ethernet(b).Encode(macUs, macPeer, wire.EtherTypeIPv4)
	wire.IPv4(b[14:]).Encode(&wire.IPv4Fields{TotalLen: uint16(len(b) - 14), TTL: 64, Protocol: wire.ProtoICMP, Src: addrPeer, Dst: addrUs})
	ic := b[34:]
	ic[0], ic[1] = wire.ICMPv4DstUnreach, code
	copy(ic[8:], quote)
	wire.ICMPv4(ic).SetChecksum(^wire.Checksum(ic, 0))
	return b
}

type failHandler struct {
	idleHandler
	err    error
	closed bool
}

func (h *failHandler) OnClose(c *tcp.Conn, err error) { h.closed, h.err = true, err }

// An ICMP error quoting our SYN fails the connect with the errno Linux's
// icmp_err_convert gives its code: host unreachable is EHOSTUNREACH,
// port unreachable ECONNREFUSED, a code past 15 is ignored.
func TestICMPUnreachableFailsDial(t *testing.T) {
	for _, tc := range []struct {
		code uint8
		want error
	}{
		{1, syscall.EHOSTUNREACH},
		{3, syscall.ECONNREFUSED},
		{13, syscall.EHOSTUNREACH},
		{16, nil},
	} {
		f := newFixture(t, nil)
		f.expectOne(f.recv(unhex(t, goldenARPReq)), unhex(t, goldenARPReply)) // the peer's MAC learned
		h := &failHandler{}
		f.e.now = f.now
		if _, err := f.e.TCP().Dial(f.now, m4(addrUs), m4(addrPeer), 80, h); err != nil {
			t.Fatal(err)
		}
		f.e.Poll(f.now)
		out := f.p.take()
		if len(out) != 1 || wire.TCP(out[0][34:]).Flags() != wire.FlagSYN {
			t.Fatalf("code %d: sent %d frames, want the SYN", tc.code, len(out))
		}
		f.expectNothing(f.recv(icmpUnreach4(tc.code, out[0])))
		if f.e.Stats().IcmpInDestUnreachs.Load() != 1 {
			t.Fatalf("code %d: IcmpInDestUnreachs not counted", tc.code)
		}
		if tc.want == nil {
			if h.closed {
				t.Fatalf("code %d: the connect failed with %v, want the error ignored", tc.code, h.err)
			}
			continue
		}
		if !h.closed || h.err != tc.want {
			t.Fatalf("code %d: closed %v with %v, want %v", tc.code, h.closed, h.err, tc.want)
		}
	}
}

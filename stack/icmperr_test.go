package stack

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// icmpUnreach4 builds an ICMP destination-unreachable (type 3, code) from
// the peer to us quoting the IPv4 header and the first 8 bytes of TCP of
// the frame we sent (RFC 792).
func icmpUnreach4(code uint8, sent []byte) []byte { return icmp4(wire.ICMPv4DstUnreach, code, sent) }

// icmp4 builds an ICMP error of type typ and code quoting sent.
func icmp4(typ, code uint8, sent []byte) []byte {
	quote := sent[14 : 14+20+8]
	b := make([]byte, 14+20+8+len(quote))
	wire.Ethernet(b).Encode(macUs, macPeer, wire.EtherTypeIPv4)
	wire.IPv4(b[14:]).Encode(&wire.IPv4Fields{TotalLen: uint16(len(b) - 14), TTL: 64, Protocol: wire.ProtoICMP, Src: addrPeer, Dst: addrUs})
	ic := b[34:]
	ic[0], ic[1] = typ, code
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

// An ICMP error about a half-open passive connection's SYN-ACK, as
// Linux's tcp_req_err: net or host unreachable, time exceeded and a
// parameter problem drop it (ListenDrops; nothing reaches the
// application); port unreachable, administratively prohibited and
// fragmentation needed change nothing, and the SYN-ACK is retransmitted
// as before; an error quoting another sequence number than the ISS is
// counted in OutOfWindowIcmps.
func TestICMPErrorDropsHalfOpen(t *testing.T) {
	for _, tc := range []struct {
		typ, code uint8
		seqOff    uint32
		drop      bool
	}{
		{wire.ICMPv4DstUnreach, 0, 0, true},
		{wire.ICMPv4DstUnreach, 1, 0, true},
		{wire.ICMPv4TimeExceeded, 0, 0, true},
		{12, 0, 0, true}, // parameter problem
		{wire.ICMPv4DstUnreach, 3, 0, false},
		{wire.ICMPv4DstUnreach, 13, 0, false},
		{wire.ICMPv4DstUnreach, 4, 0, false},
		{wire.ICMPv4DstUnreach, 1, 1, false},
	} {
		f := newFixture(t, nil)
		f.e.testInput = nil // segments go to the TCP layer
		f.expectOne(f.recv(unhex(t, goldenARPReq)), unhex(t, goldenARPReply))
		if _, err := f.e.TCP().Listen(m4(addrUs), 80, tcp.ListenOptions{NewHandler: echoServer{}.newHandler}); err != nil {
			t.Fatal(err)
		}
		out := f.recv(tcpFrame(macPeer, addrPeer, 40000, 80, wire.FlagSYN, 100, &wire.TCPOptions{HasMSS: true, MSS: 1460}, nil))
		if len(out) != 1 || wire.TCP(out[0][34:]).Flags() != wire.FlagSYN|wire.FlagACK {
			t.Fatalf("sent %d frames, want the SYN-ACK", len(out))
		}
		synack := out[0]
		if tc.seqOff != 0 {
			tp := wire.TCP(synack[34:])
			binary.BigEndian.PutUint32(tp[4:], tp.Seq()+tc.seqOff)
		}
		f.expectNothing(f.recv(icmp4(tc.typ, tc.code, synack)))
		st := f.e.TCP().Stats()
		name := fmt.Sprintf("type %d code %d seq+%d", tc.typ, tc.code, tc.seqOff)
		if gone := f.e.TCP().Conns() == 0; gone != tc.drop || (st.ListenDrops.Load() == 1) != tc.drop {
			t.Fatalf("%s: half-open dropped %v (ListenDrops %d), want %v", name, gone, st.ListenDrops.Load(), tc.drop)
		}
		if (st.OutOfWindowIcmps.Load() == 1) != (tc.seqOff != 0) {
			t.Fatalf("%s: OutOfWindowIcmps %d", name, st.OutOfWindowIcmps.Load())
		}
		if !tc.drop {
			// Still there: the SYN-ACK goes again after the initial RTO.
			f.now = f.now.Add(1100 * time.Millisecond)
			f.e.Poll(f.now)
			if out := f.p.take(); len(out) != 1 || wire.TCP(out[0][34:]).Flags() != wire.FlagSYN|wire.FlagACK {
				t.Fatalf("%s: %d frames after 1.1 s, want the SYN-ACK again", name, len(out))
			}
		}
	}
}

// icmp6 builds an ICMPv6 error of type typ and code from the peer quoting
// the IPv6 frame we sent (RFC 4443 §2.4: as much of it as fits).
func icmp6(typ, code uint8, sent []byte) []byte {
	quote := sent[14:]
	b := make([]byte, 14+40+8+len(quote))
	wire.Ethernet(b).Encode(macUs, macPeer, wire.EtherTypeIPv6)
	wire.IPv6(b[14:]).Encode(&wire.IPv6Fields{PayloadLen: uint16(8 + len(quote)), NextHeader: wire.ProtoICMPv6, HopLimit: 64, Src: addrPeer6, Dst: addrUs6})
	ic := wire.ICMPv6(b[54:])
	ic[0], ic[1] = typ, code
	if typ == wire.ICMPv6PacketTooBig {
		binary.BigEndian.PutUint32(ic[4:], 1280)
	}
	copy(ic[8:], quote)
	src, dst := addrPeer6, addrUs6
	ic.SetChecksumFor(&src, &dst)
	return b
}

// Over IPv6 the errors that drop a half-open passive connection are those
// icmpv6_err_convert calls fatal: administratively prohibited, port
// unreachable, a parameter problem; no route, address unreachable, time
// exceeded and packet too big change nothing.
func TestICMPv6ErrorDropsHalfOpen(t *testing.T) {
	for _, tc := range []struct {
		typ, code uint8
		drop      bool
	}{
		{wire.ICMPv6DstUnreach, 0, false},
		{wire.ICMPv6DstUnreach, 1, true},
		{wire.ICMPv6DstUnreach, 3, false},
		{wire.ICMPv6DstUnreach, 4, true},
		{wire.ICMPv6TimeExceeded, 0, false},
		{wire.ICMPv6ParamProblem, 0, true},
		{wire.ICMPv6PacketTooBig, 0, false},
	} {
		f := listening6(t)
		out := f.recv(unhex(t, goldenSYN6))
		if len(out) != 1 {
			t.Fatalf("%d frames out, want the SYN-ACK", len(out))
		}
		f.recv(icmp6(tc.typ, tc.code, out[0]))
		if gone := f.e.TCP().Conns() == 0; gone != tc.drop || (f.e.TCP().Stats().ListenDrops.Load() == 1) != tc.drop {
			t.Fatalf("type %d code %d: half-open dropped %v, want %v", tc.typ, tc.code, gone, tc.drop)
		}
	}
}

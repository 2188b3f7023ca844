package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/syncookie"
)

// The owner encoding: low bits are the id, never ahead of the raw clock,
// less than one tick (2^bits) behind it, and monotonic as the clock runs
// (RFC 7323 §5.4), across the 2^32 wrap too.
func TestOwnerTSEncoding(t *testing.T) {
	for _, bits := range []uint{1, 4, 8} {
		for _, id := range []uint32{0, 1, 5, 1<<bits - 1} {
			if id >= 1<<bits {
				continue
			}
			l := NewLayer(nil, &capture{}, 0)
			l.SetOwner(id, bits)
			if gid, gbits := l.Owner(); gid != id || gbits != bits {
				t.Fatalf("Owner() = %d, %d; want %d, %d", gid, gbits, id, bits)
			}
			mask := uint32(1)<<bits - 1
			prev := l.ownerTS(0xffffff00)
			for raw := uint32(0xffffff00); raw != 0x200; raw++ {
				ts := l.ownerTS(raw)
				if ts&mask != id {
					t.Fatalf("bits %d id %d: ownerTS(%#x) = %#x: low bits are not the id", bits, id, raw, ts)
				}
				if d := raw - ts; d > mask {
					t.Fatalf("bits %d id %d: ownerTS(%#x) = %#x is %d behind the clock (ahead, or more than a tick)", bits, id, raw, ts, int32(d))
				}
				if int32(ts-prev) < 0 {
					t.Fatalf("bits %d id %d: ownerTS went back from %#x to %#x at %#x", bits, id, prev, ts, raw)
				}
				prev = ts
			}
		}
	}
	l := NewLayer(nil, &capture{}, 0)
	if l.ownerTS(12345) != 12345 {
		t.Fatal("without owner bits the TSval is the clock")
	}
	l.SetOwner(3, 20) // capped at MaxOwnerBits
	if _, b := l.Owner(); b != MaxOwnerBits {
		t.Fatalf("bits = %d, want the cap %d", b, MaxOwnerBits)
	}
}

// ownerConn is an established passive connection with timestamps on a
// layer whose TSvals carry owner id 5 in 4 bits.
func ownerConn(t *testing.T) *harness {
	h := newHarness(t)
	h.l.SetOwner(5, 4)
	h.listen()
	h.now = clock.Time(10 * time.Second)
	h.send(SYN, peerISN, 0, withMSS(1460), withTS(100, 0))
	sa := h.expect(flags(SYN | ACK))
	if !sa.seg.Opts.HasTimestamp || sa.seg.Opts.TSVal&15 != 5 {
		t.Fatalf("SYN-ACK TSval %#x does not carry owner 5", sa.seg.Opts.TSVal)
	}
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1, withTS(101, sa.seg.Opts.TSVal))
	h.state(StateEstablished)
	return h
}

// Every segment of a connection carries the owner id (data,
// retransmissions, pure ACKs, FIN, the TIME-WAIT ACK), and its TSvals
// never go back; the RTT is measured right (to the millisecond, not to the
// 16 ms tick) from timed segments.
func TestOwnerBitsOnEverySegment(t *testing.T) {
	h := ownerConn(t)
	var last uint32
	seen := false
	check := func(s *sent) {
		t.Helper()
		if !s.seg.Opts.HasTimestamp || s.seg.Opts.TSVal&15 != 5 {
			t.Fatalf("segment %+v: TSval %#x without owner 5", s.seg.Flags, s.seg.Opts.TSVal)
		}
		if seen && int32(s.seg.Opts.TSVal-last) < 0 {
			t.Fatalf("TSval went back: %d after %d", s.seg.Opts.TSVal, last)
		}
		last, seen = s.seg.Opts.TSVal, true
	}
	// Ten request/response rounds with a 10 ms RTT.
	seq, ack := peerISN+1, ourISN+1
	for i := 0; i < 10; i++ {
		h.advance(13 * time.Millisecond)
		h.send(ACK|PSH, seq, ack, withData([]byte("GET")), withTS(200+2*uint32(i), last))
		seq += 3
		if h.c.Write([]byte("hello")) != 5 {
			t.Fatal("write refused")
		}
		var d *sent
		for i := range h.out.segs {
			check(&h.out.segs[i])
			if len(h.out.segs[i].seg.Payload) == 5 {
				d = &h.out.segs[i]
			}
		}
		if d == nil {
			t.Fatalf("no data segment in %v", h.out.segs)
		}
		h.out.segs = nil
		h.advance(10 * time.Millisecond)
		ack += 5
		h.send(ACK, seq, ack, withTS(201+2*uint32(i), d.seg.Opts.TSVal))
	}
	if srtt := h.c.rtt.srtt; srtt < 9*time.Millisecond || srtt > 11*time.Millisecond {
		t.Fatalf("srtt %v with owner bits; want 10 ms (not a multiple of the 16 ms tick)", srtt)
	}
	// A retransmission carries the id too.
	drain := func() int {
		t.Helper()
		n := len(h.out.segs)
		for i := range h.out.segs {
			check(&h.out.segs[i])
		}
		h.out.segs = nil
		return n
	}
	h.c.Write([]byte("lost"))
	drain()
	h.advance(time.Second)
	if drain() == 0 {
		t.Fatal("no retransmission")
	}
	h.send(ACK, seq, ack+4, withTS(400, last))
	drain()
	ack += 4
	// Our FIN, the peer's FIN: the TIME-WAIT ACK keeps the id.
	h.c.Close()
	fin := h.expect(flags(FIN | ACK))
	check(fin)
	h.send(FIN|ACK, seq, ack+1, withTS(401, last))
	check(h.expect(flags(ACK)))
	h.send(FIN|ACK, seq, ack+1, withTS(402, last)) // retransmitted FIN: TIME-WAIT answers
	check(h.expect(flags(ACK)))
	if h.l.TimeWaits() != 1 {
		t.Fatalf("not in TIME-WAIT: %v conns %d", h.c.State(), h.l.Conns())
	}
}

// fwd records what the layer offers and forwards what it is told to.
type fwd struct {
	offered []ForwardWhy
	take    map[ForwardWhy]bool
}

func (f *fwd) Forward(seg *Segment, why ForwardWhy) bool {
	f.offered = append(f.offered, why)
	return f.take[why]
}

// A layer with a forwarder offers every segment of a flow it does not
// know (that would get a RST, or a RST that would be dropped) before
// answering it; a forwarded segment gets no RST. SYNs and valid cookie
// ACKs are offered as new (a draining host forwards them); declined, they
// open a connection here as before.
func TestForwarderOffersStraySegments(t *testing.T) {
	h := newHarness(t)
	f := &fwd{take: map[ForwardWhy]bool{ForwardStray: true}}
	h.l.SetForwarder(f)
	// No listener: CLOSED.
	h.send(ACK, peerISN, ourISN)
	h.send(RST, peerISN, 0)
	h.expectNothing()
	// A listener: an ACK that is no cookie, a RST.
	h.listen()
	h.send(ACK|PSH, peerISN, ourISN, withData([]byte("x")))
	h.send(RST|ACK, peerISN, ourISN)
	h.expectNothing()
	if len(f.offered) != 4 || f.offered[0] != ForwardStray || f.offered[3] != ForwardStray {
		t.Fatalf("offered %v, want four strays", f.offered)
	}
	// Declined: the RST of a host alone.
	f.take[ForwardStray] = false
	h.send(ACK, peerISN, ourISN)
	h.expect(flags(RST), seqNum(ourISN))
	// A SYN is offered as new; declined, it opens a connection here.
	f.offered = nil
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN | ACK))
	if len(f.offered) != 1 || f.offered[0] != ForwardNew {
		t.Fatalf("SYN offered as %v, want new", f.offered)
	}
	// Taken (a draining host): no SYN-ACK, no state.
	f.take[ForwardNew] = true
	k := testKey
	k.RemotePort++
	h.send(SYN, peerISN, 0, withMSS(1460), withKey(k))
	h.expectNothing()
	if h.l.Conns() != 1 {
		t.Fatalf("%d connections, want only the first", h.l.Conns())
	}
	// Known flows are never offered.
	f.offered = nil
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateEstablished)
	if len(f.offered) != 0 {
		t.Fatalf("a known flow's segment was offered: %v", f.offered)
	}
}

// A valid cookie ACK is offered as new before it opens a connection: a
// draining host forwards it (to the peer its SYN went to) and keeps
// nothing. Declined, the connection opens here and its timestamps, which
// carry the owner, are not behind the cookie SYN-ACK's TSval the client
// echoes (its PAWS check would drop them).
func TestForwarderCookieAckAndOwnerPAWS(t *testing.T) {
	var key syncookie.Key
	key[0] = 9
	wall := time.Unix(1_800_000_000, 0)
	a := clusterHost(t, []syncookie.Key{key}, wall.Add(-48*time.Hour), wall, 2)
	b := clusterHost(t, []syncookie.Key{key}, wall.Add(-30*time.Second), wall.Add(time.Millisecond), 1)
	b.l.SetOwner(7, 4)
	f := &fwd{take: map[ForwardWhy]bool{ForwardNew: true}}
	b.l.SetForwarder(f)

	a.send(SYN, peerISN, 0, withMSS(1460), withTS(5000, 0), withWS(7))
	sa := a.expect(flags(SYN | ACK))
	b.send(ACK, peerISN+1, sa.seg.Seq+1, withTS(5001, sa.seg.Opts.TSVal))
	b.expectNothing()
	if b.l.Conns() != 0 || len(f.offered) != 1 || f.offered[0] != ForwardNew {
		t.Fatalf("draining: conns %d, offered %v", b.l.Conns(), f.offered)
	}
	f.take[ForwardNew] = false
	b.send(ACK, peerISN+1, sa.seg.Seq+1, withTS(5001, sa.seg.Opts.TSVal))
	b.state(StateEstablished)
	b.c.Write([]byte("hi"))
	d := b.expect(payloadLen(2))
	if d.seg.Opts.TSVal&15 != 7 {
		t.Fatalf("TSval %#x without owner 7", d.seg.Opts.TSVal)
	}
	if int32(d.seg.Opts.TSVal-sa.seg.Opts.TSVal) < 0 {
		t.Fatalf("TSval %d behind the SYN-ACK's %d: the client's PAWS drops it", d.seg.Opts.TSVal, sa.seg.Opts.TSVal)
	}
}

// A SYN and its retransmission reached two hosts (the route changed in
// between) and the client completed the handshake with the other host's
// SYN-ACK: its ACK, which does not acknowledge our SYN-ACK, is handed to
// the forwarder and our half-open entry goes, instead of a RST that would
// reset the client's connection. Declined (a host alone, or the TSecr
// names us), the RST as before.
func TestSynReceivedAckForAnotherHostsHandshake(t *testing.T) {
	for _, take := range []bool{true, false} {
		h := newHarness(t)
		f := &fwd{take: map[ForwardWhy]bool{ForwardStray: take}}
		h.l.SetForwarder(f)
		h.listen()
		h.send(SYN, peerISN, 0, withMSS(1460), withTS(100, 0))
		h.expect(flags(SYN | ACK))
		h.send(ACK|PSH, peerISN+1, ourISN+777, withTS(101, 0x4443), withData([]byte("GET")))
		if take {
			h.expectNothing()
			if h.l.Conns() != 0 || len(f.offered) != 2 || f.offered[1] != ForwardStray {
				t.Fatalf("conns %d, offered %v: want the ACK forwarded and the half-open entry gone", h.l.Conns(), f.offered)
			}
		} else {
			h.expect(flags(RST), seqNum(ourISN+777))
			if h.l.Conns() != 1 {
				t.Fatal("a declined ACK dropped the half-open entry")
			}
		}
	}
}

package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// A burst larger than the output's room waits in the send queue instead
// of being sent into nothing (txroom.go): only what fits goes, SND.NXT
// stops there, and ResumeTx sends the rest in order. Nothing is
// retransmitted or recovered; the peer's ACK of it all finds the
// connection Open. A retransmission timeout without room sends (and
// counts) nothing until there is room.
func TestTxRoomBurstWaits(t *testing.T) {
	h := establishedConn(t)
	room := 3
	h.out.room = &room
	una := ourISN + 1
	h.c.Write(make([]byte, 10*1460))
	for i := 0; i < 3; i++ {
		h.expect(seqNum(una.Add(seqnum.Size(i*1460))), payloadLen(1460))
	}
	h.expectNothing()
	if h.c.sndNxt != una+3*1460 || !h.l.TxBlocked() {
		t.Fatalf("SND.NXT %d (want %d), blocked %v: a segment the output had no room for was committed",
			h.c.sndNxt, una+3*1460, h.l.TxBlocked())
	}
	room = 100
	if !h.l.ResumeTx(h.now) {
		t.Fatal("ResumeTx resumed nothing")
	}
	for i := 3; i < 10; i++ {
		h.expect(seqNum(una.Add(seqnum.Size(i*1460))), payloadLen(1460))
	}
	h.expectNothing()
	if h.l.TxBlocked() {
		t.Fatal("still blocked with room")
	}
	h.send(ACK, peerISN+1, una+10*1460)
	st := h.l.Stats()
	if st.RetransSegs.Load() != 0 || h.c.Info().CAState != CAOpen {
		t.Fatalf("retransmitted %d, CA state %v after a burst that waited for room", st.RetransSegs.Load(), h.c.Info().CAState)
	}

	// The timeout: no room, nothing sent or counted; then the
	// retransmission goes when there is.
	h.c.Write(make([]byte, 1460))
	h.expect(seqNum(una + 10*1460))
	room = 0
	h.advance(300 * time.Millisecond)
	h.expectNothing()
	if n := st.RetransSegs.Load() + st.TCPRetransFail.Load(); n != 0 || !h.l.TxBlocked() {
		t.Fatalf("RetransSegs+TCPRetransFail %d, blocked %v after a timeout without room", n, h.l.TxBlocked())
	}
	room = 1
	h.l.ResumeTx(h.now)
	h.expect(seqNum(una+10*1460), payloadLen(1460))
	if st.RetransSegs.Load() != 1 {
		t.Fatalf("RetransSegs %d after the retransmission, want 1", st.RetransSegs.Load())
	}
}

// A connection that is gone while it waits is skipped by ResumeTx.
func TestTxRoomGoneSkipped(t *testing.T) {
	h := establishedConn(t)
	room := 0
	h.out.room = &room
	h.c.Write(make([]byte, 1460))
	h.expectNothing()
	if !h.l.TxBlocked() {
		t.Fatal("not blocked")
	}
	h.c.Abort()
	room = 10
	h.out.segs = nil // the RST, if it went
	if h.l.ResumeTx(h.now) {
		t.Fatal("ResumeTx resumed a connection that is gone")
	}
	if h.l.TxBlocked() {
		t.Fatal("the gone connection stays on the list")
	}
}

// A pure ACK without room waits too, and goes on ResumeTx.
func TestTxRoomAckWaits(t *testing.T) {
	h := establishedConn(t)
	room := 0
	h.out.room = &room
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(make([]byte, 100)))
	h.advance(time.Second) // the delayed ACK's timer, without room
	h.expectNothing()
	room = 1
	h.l.ResumeTx(h.now)
	h.expect(flags(ACK), ackNum(peerISN+101))
	h.expectNothing()
}

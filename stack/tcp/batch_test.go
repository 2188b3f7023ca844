package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Receive batches (batch.go): the segments of one RX batch get one ACK
// decision and one transmit round per connection at EndBatch.

// sendBatch delivers segs from the peer as one batch.
func (h *harness) sendBatch(segs ...Segment) {
	for i := range segs {
		s := segs[i]
		s.Key, s.Arrival = h.key, h.now
		if s.Window == 0 {
			s.Window = 65535
		}
		h.l.InputBatch(h.now, &s)
	}
	h.l.EndBatch(h.now)
}

// dataSeg is n bytes of peer data at offset off (from the peer's ISN+1).
func dataSeg(off, n int) Segment {
	return Segment{Seq: peerISN + 1 + seqnum.Value(off), Ack: ourISN + 1, Flags: ACK, Payload: make([]byte, n)}
}

// Ten full-sized in-order segments in one batch get one ACK for all of
// them (Linux ACKs one GRO-coalesced segment once); delivered one per
// batch, at least every second one is ACKed (RFC 9293 §3.8.6.3).
func TestBatchInOrderOneAck(t *testing.T) {
	for _, batched := range []bool{true, false} {
		h := establishedConn(t)
		pastQuickAcks(h)
		var segs []Segment
		for i := 0; i < 10; i++ {
			segs = append(segs, dataSeg(1460*i, 1460))
		}
		if batched {
			h.sendBatch(segs...)
		} else {
			for _, s := range segs {
				h.sendBatch(s)
			}
		}
		acks := len(h.out.segs)
		last := h.out.segs[acks-1].seg
		if last.Ack != peerISN+1+14600 {
			t.Fatalf("batched %v: last ACK %d, want %d", batched, last.Ack, peerISN+1+14600)
		}
		if batched && acks != 1 {
			t.Fatalf("one batch of 10 segments: %d ACKs, want 1", acks)
		}
		if !batched && acks != 5 {
			t.Fatalf("10 segments one per batch: %d ACKs, want 5", acks)
		}
	}
}

// One segment less than two full ones in a batch still waits for the
// delayed-ACK timer; the batch does not make every ACK immediate.
func TestBatchDelayedAckKept(t *testing.T) {
	h := establishedConn(t)
	pastQuickAcks(h)
	h.sendBatch(dataSeg(0, 1460))
	h.expectNothing()
	h.advance(atoMax)
	h.expect(flags(ACK), ackNum(peerISN+1+1460))
}

// With SACK, the out-of-order segments of a batch get one immediate ACK
// whose first SACK block holds them all; without SACK each gets its own
// duplicate ACK, as the sender counts them (RFC 5681 §3.2).
func TestBatchOutOfOrder(t *testing.T) {
	h := sackEstablished(t)
	h.out.segs = nil
	h.sendBatch(dataSeg(1000, 1000), dataSeg(2000, 1000), dataSeg(3000, 1000))
	a := h.expect(flags(ACK), ackNum(peerISN+1))
	h.expectNothing()
	want := wire.SACKBlock{Left: uint32(peerISN + 1001), Right: uint32(peerISN + 4001)}
	if a.seg.Opts.NumSACK != 1 || a.seg.Opts.SACK[0] != want {
		t.Fatalf("SACK %v, want [%v]", a.seg.Opts.SACK[:a.seg.Opts.NumSACK], want)
	}
	// The hole filled in the next batch, with one more segment: one ACK
	// for everything.
	h.sendBatch(dataSeg(0, 1000), dataSeg(4000, 1000))
	h.expect(flags(ACK), ackNum(peerISN+5001))
	h.expectNothing()

	h = establishedConn(t)
	h.sendBatch(dataSeg(1460, 1460), dataSeg(2920, 1460), dataSeg(4380, 1460))
	for i := 0; i < 3; i++ {
		h.expect(flags(ACK), ackNum(peerISN+1))
	}
	h.expectNothing()
}

// An application that answers from OnData (an echo) sends at the batch's
// end: its data carries the ACK for the whole batch, and no pure ACK
// goes before or after it.
func TestBatchReplyCarriesAck(t *testing.T) {
	h := establishedConn(t)
	pastQuickAcks(h)
	h.rec.onData = func(c *Conn, p []byte) { c.Write(p) }
	h.sendBatch(dataSeg(0, 1000), dataSeg(1000, 1000))
	h.expect(flags(ACK), seqNum(ourISN+1), ackNum(peerISN+2001), payloadLen(1460))
	h.expect(flags(ACK|PSH), seqNum(ourISN+1461), ackNum(peerISN+2001), payloadLen(540))
	h.expectNothing()
}

// Every range that changes in a batch reaches the sender in some ACK's
// SACK option: when a batch makes more new ranges than one option holds
// (4 blocks without timestamps, one fewer beside a D-SACK), the ACK owed
// so far goes before the segment that would push one out (as Linux's
// tcp_sack_new_ofo_skb sends before its table forgets a block). A range
// the sender never hears of has its segments retransmitted (RACK) and
// their cumulative ACK read as reordering.
func TestBatchSACKReportsEveryRange(t *testing.T) {
	for _, dup := range []bool{false, true} {
		h := sackEstablished(t)
		h.out.segs = nil
		// Six ranges in one batch: 1000-2000, 3000-4000, ..., 11000-12000.
		var segs []Segment
		if dup {
			h.sendBatch(dataSeg(1000, 1000))
			h.expect(flags(ACK), ackNum(peerISN+1))
			segs = append(segs, dataSeg(1000, 1000)) // a duplicate: D-SACK
		}
		for k := 0; k < 6; k++ {
			segs = append(segs, dataSeg(1000+2000*k, 1000))
		}
		h.sendBatch(segs...)
		var acks []*sent
		for len(h.out.segs) > 0 {
			acks = append(acks, h.expect(flags(ACK), ackNum(peerISN+1)))
		}
		if len(acks) != 2 {
			t.Fatalf("dup %v: %d ACKs for six new ranges in one batch, want 2 (4 blocks per option)", dup, len(acks))
		}
		for k := 0; k < 6; k++ {
			l := uint32(peerISN + 1 + seqnum.Value(1000+2000*k))
			found := false
			for _, a := range acks {
				for _, b := range a.seg.Opts.SACK[:a.seg.Opts.NumSACK] {
					if b.Left == l && b.Right == l+1000 {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("dup %v: range %d (%d) in no ACK: %v / %v", dup, k, l, acks[0].seg.Opts.SACK, acks[1].seg.Opts.SACK)
			}
		}
		// The last ACK follows RFC 2018 §4: the newest range first.
		last := acks[len(acks)-1].seg.Opts
		if last.SACK[0].Left != uint32(peerISN+1+11000) {
			t.Fatalf("dup %v: last ACK's first block %v, want the newest range", dup, last.SACK[:last.NumSACK])
		}
	}
}

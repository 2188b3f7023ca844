package tcp

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/wire"
)

// dsack checks that a segment's first SACK block is [l, r).
func dsack(l, r uint32) check {
	return func(s *sent) error {
		if s.seg.Opts.NumSACK == 0 || s.seg.Opts.SACK[0] != (wire.SACKBlock{Left: l, Right: r}) {
			return fmt.Errorf("SACK %v, want first [%d, %d)", s.seg.Opts.SACK[:s.seg.Opts.NumSACK], l, r)
		}
		return nil
	}
}

// A segment PAWS rejects gets Linux's duplicate ACK (tcp_send_dupack):
// old data is D-SACKed and counted in DelayedACKLost; the ACK for a
// segment without data is rate limited (TCPACKSkippedPAWS). Measured on
// Linux 6.18 (conformance/scripts/paws-old-data.pkt).
func TestPAWSDupAck(t *testing.T) {
	h, pts := tsEstablished(t)
	una := ourISN + 1
	rcv := peerISN + 1
	data := make([]byte, 100)
	h.send(ACK|PSH, rcv, una, withData(data), withTS(pts+100, 0))
	h.advance(time.Second)
	h.out.segs = nil
	h.send(ACK|PSH, rcv, una, withData(data), withTS(pts+50, 0))
	h.expect(ackNum(rcv+100), dsack(uint32(rcv), uint32(rcv+100)))
	h.send(ACK, rcv+100, una, withTS(pts+60, 0))
	h.expect(ackNum(rcv + 100))
	h.send(ACK, rcv+100, una, withTS(pts+61, 0)) // within tcp_invalid_ratelimit
	h.expectNothing()
	st := h.l.Stats()
	if a, b, c := st.PAWSEstab.Load(), st.DelayedACKLost.Load(), st.TCPACKSkippedPAWS.Load(); a != 3 || b != 1 || c != 1 {
		t.Fatalf("PAWSEstab %d DelayedACKLost %d TCPACKSkippedPAWS %d, want 3 1 1", a, b, c)
	}
}

// After a duplicate of received data the next segments are ACKed at
// once (Linux tcp_enter_quickack_mode with TCP_MAX_QUICKACKS), where a
// single segment would wait for the delayed-ACK timer.
// conformance/scripts/dup-data-quickack.pkt measured Linux 6.18.
func TestDuplicateDataQuickAck(t *testing.T) {
	h := establishedConn(t)
	rcv := peerISN + 1
	data := make([]byte, 1000)
	h.send(ACK|PSH, rcv, ourISN+1, withData(data))
	h.advance(50 * time.Millisecond) // within an RTO: no quick ACKs for idle
	h.out.segs = nil
	pastQuickAcks(h)
	// Without PSH: with it, read at once, it would be ACKed at once
	// (ICSK_ACK_PUSHED).
	h.send(ACK, rcv+1000, ourISN+1, withData(data))
	h.expectNothing() // delayed
	h.advance(50 * time.Millisecond)
	h.expect(ackNum(rcv + 2000))
	h.send(ACK|PSH, rcv+1000, ourISN+1, withData(data))
	h.expect(ackNum(rcv + 2000))
	for i := 2; i < 5; i++ {
		h.advance(10 * time.Millisecond)
		h.send(ACK|PSH, rcv.Add(seqnumSize(i*1000)), ourISN+1, withData(data))
		h.expect(ackNum(rcv.Add(seqnumSize((i + 1) * 1000))))
	}
	if n := h.l.Stats().DelayedACKLost.Load(); n != 1 {
		t.Fatalf("DelayedACKLost %d, want 1", n)
	}
}

// A retransmitted FIN is a duplicate like old data (Linux tcp_data_queue,
// which the peer's FIN reaches in CLOSE-WAIT, CLOSING and LAST-ACK for a
// segment below RCV.NXT): ACKed with a D-SACK of the FIN's sequence
// number and counted in DelayedACKLost. Text after the FIN is ignored,
// unanswered. Measured on Linux 6.18 (conformance/scripts/fin-dup-dsack.pkt).
func TestDuplicateFinDSACK(t *testing.T) {
	h := sackConn(t, false)
	fin := peerISN + 1
	h.send(FIN|ACK, fin, ourISN+1)
	h.expect(flags(ACK), ackNum(fin+1))
	h.state(StateCloseWait)
	h.advance(200 * time.Millisecond)
	h.send(FIN|ACK, fin, ourISN+1)
	h.expect(flags(ACK), ackNum(fin+1), dsack(uint32(fin), uint32(fin+1)))
	if n := h.l.Stats().DelayedACKLost.Load(); n != 1 {
		t.Fatalf("DelayedACKLost %d, want 1", n)
	}
	h.send(ACK|PSH, fin+1, ourISN+1, withData(make([]byte, 10)))
	h.expectNothing()
}

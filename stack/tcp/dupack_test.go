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

// tcp_dsack 0 (Linux tcp_dsack_set, tcp_dsack_extend): data received
// twice, below RCV.NXT or held out of order, is ACKed at once without a
// D-SACK block, and not counted as D-SACK sent; the held range's SACK
// block still goes (xdptcp/dsack-off, measured on Linux 6.18). With 1
// the same ACKs carry the D-SACK block first.
func TestDSACKSetting(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := sackConn(t, false, func(c *Config) { c.DSACK = on })
		h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
		h.expect(flags(ACK), ackNum(peerISN+1001))
		h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000))) // old data
		a := h.expect(flags(ACK), ackNum(peerISN+1001))
		want := 0
		if on {
			want = 1
		}
		if a.seg.Opts.NumSACK != want {
			t.Fatalf("tcp_dsack %v: old data's ACK has %d blocks %v, want %d", on, a.seg.Opts.NumSACK, a.seg.Opts.SACK[:a.seg.Opts.NumSACK], want)
		}
		h.send(ACK, peerISN+2001, ourISN+1, withData(make([]byte, 1000)))
		h.expect(flags(ACK), ackNum(peerISN+1001))
		h.send(ACK, peerISN+2001, ourISN+1, withData(make([]byte, 1000))) // held data again
		a = h.expect(flags(ACK), ackNum(peerISN+1001))
		if a.seg.Opts.NumSACK != want+1 || a.seg.Opts.SACK[want].Left != uint32(peerISN+2001) {
			t.Fatalf("tcp_dsack %v: held data's ACK has blocks %v, want %d D-SACK then the held range", on, a.seg.Opts.SACK[:a.seg.Opts.NumSACK], want)
		}
		st := h.l.Stats()
		if got := st.TCPDSACKOldSent.Load() + st.TCPDSACKOfoSent.Load(); got != uint64(2*want) {
			t.Fatalf("tcp_dsack %v: D-SACKs counted %d, want %d", on, got, 2*want)
		}
	}
}

package tcp

import (
	"fmt"
	"testing"
	"time"
)

// txHash checks the flow-label choice a segment went out under.
func txHash(v uint16) check {
	return func(s *sent) error {
		if s.seg.TxHash != v {
			return fmt.Errorf("TxHash %d, want %d", s.seg.TxHash, v)
		}
		return nil
	}
}

func withLabel(l uint32) segOpt { return func(s *Segment) { s.Label = l } }

// The rehash points of Linux 6.18 (rehash.go; measured with
// conformance/scripts/rehash-*.pkt): each SYN-ACK resent, by the timer or
// for a duplicate SYN, uncounted; each data timeout, counted in
// TcpTimeoutRehash and tcpi_rehash; a duplicate of received data under a
// label the last data did not carry, counted in TcpDuplicateDataRehash.
// The connection, its FIN and TIME-WAIT keep the last label.
func TestTxRehash(t *testing.T) {
	h := synReceivedConn(t)
	h.advance(time.Second)
	h.expect(flags(SYN|ACK), txHash(1)) // the SYN-ACK timeout
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), txHash(2)) // a duplicate SYN
	h.send(ACK, peerISN+1, ourISN+1)
	st := h.l.Stats()
	if n := st.TcpTimeoutRehash.Load(); n != 0 || h.c.Info().Rehash != 0 {
		t.Fatalf("TcpTimeoutRehash %d, tcpi_rehash %d after SYN-ACK timeouts: want 0 0 (Linux counts neither)", n, h.c.Info().Rehash)
	}
	una := ourISN + 1
	h.c.Write(make([]byte, 1000))
	h.expect(payloadLen(1000), txHash(2))
	untilTimeout(h)
	h.expect(payloadLen(1000), txHash(3))
	if n := st.TcpTimeoutRehash.Load(); n != 1 || h.c.Info().Rehash != 1 {
		t.Fatalf("TcpTimeoutRehash %d, tcpi_rehash %d after a data timeout: want 1 1", n, h.c.Info().Rehash)
	}
	h.send(ACK, peerISN+1, una+1000)

	data := make([]byte, 100)
	rcv := peerISN + 1
	h.send(ACK|PSH, rcv, una+1000, withData(data), withLabel(0x11))
	h.advance(time.Second)
	h.expect(ackNum(rcv+100), txHash(3))
	h.send(ACK|PSH, rcv, una+1000, withData(data), withLabel(0x11)) // the label of the last data
	h.expect(ackNum(rcv+100), txHash(3))
	h.send(ACK, rcv+100, una+1000, withLabel(0x12)) // a pure ACK does not change it
	h.send(ACK|PSH, rcv, una+1000, withData(data), withLabel(0x12))
	h.expect(ackNum(rcv+100), txHash(4))
	if n := st.TcpDuplicateDataRehash.Load(); n != 1 {
		t.Fatalf("TcpDuplicateDataRehash %d, want 1", n)
	}
	h.send(ACK|PSH, rcv+200, una+1000, withData(data), withLabel(0x13)) // out of order: its label counts
	h.expect(ackNum(rcv+100), txHash(4))
	h.send(ACK|PSH, rcv, una+1000, withData(data), withLabel(0x13))
	h.expect(ackNum(rcv+100), txHash(4))
	h.send(ACK|PSH, rcv+100, una+1000, withData(data), withLabel(0x13))
	h.expect(ackNum(rcv+300), txHash(4))

	h.c.Close()
	h.expect(flags(FIN|ACK), txHash(4))
	h.send(FIN|ACK, rcv+300, una+1001)
	h.expect(flags(ACK), ackNum(rcv+301), txHash(4))
	h.send(FIN|ACK, rcv+300, una+1001) // the FIN again, in TIME-WAIT
	h.expect(flags(ACK), ackNum(rcv+301), txHash(4))
	if n, m := st.TcpTimeoutRehash.Load(), st.TcpDuplicateDataRehash.Load(); n != 1 || m != 1 {
		t.Fatalf("TcpTimeoutRehash %d TcpDuplicateDataRehash %d, want 1 1", n, m)
	}
}

// While our own timeout is being recovered, a duplicate under a new label
// does not move the connection again (Linux tcp_rcv_spurious_retrans: not
// in TCP_CA_Loss), but its label is the one the next duplicate is
// compared with.
func TestTxRehashNotInLoss(t *testing.T) {
	h := establishedConn(t)
	una := ourISN + 1
	h.writeExpect(2, 1460)
	untilTimeout(h)
	h.expect(seqNum(una), txHash(1))
	data := make([]byte, 100)
	rcv := peerISN + 1
	h.send(ACK|PSH, rcv, una, withData(data), withLabel(0x11))
	h.out.segs = nil // its ACK
	h.send(ACK|PSH, rcv, una, withData(data), withLabel(0x12))
	h.expect(ackNum(rcv+100), txHash(1))
	h.send(ACK, rcv+100, una+2920) // the Loss state ends
	h.send(ACK|PSH, rcv, una+2920, withData(data), withLabel(0x12))
	h.expect(ackNum(rcv+100), txHash(1))
	if n := h.l.Stats().TcpDuplicateDataRehash.Load(); n != 0 {
		t.Fatalf("TcpDuplicateDataRehash %d, want 0", n)
	}
}

// A SYN timeout rehashes and counts (Linux tcp_write_timeout in
// SYN-SENT); txrehash 0 keeps one label and counts nothing.
func TestTxRehashSynSentAndOff(t *testing.T) {
	h := dialConn(t)
	h.advance(time.Second)
	h.expect(flags(SYN), txHash(1), at(time.Second))
	if n := h.l.Stats().TcpTimeoutRehash.Load(); n != 1 || h.c.Info().Rehash != 1 {
		t.Fatalf("TcpTimeoutRehash %d tcpi_rehash %d, want 1 1", n, h.c.Info().Rehash)
	}

	h = synReceivedConn(t, func(c *Config) { c.TxRehash = false })
	h.advance(time.Second)
	h.expect(flags(SYN|ACK), txHash(0))
	h.send(ACK, peerISN+1, ourISN+1)
	h.c.Write(make([]byte, 1000))
	h.expect(payloadLen(1000), txHash(0))
	untilTimeout(h)
	h.expect(payloadLen(1000), txHash(0))
	data := make([]byte, 100)
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(data), withLabel(0x11))
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(data), withLabel(0x12))
	st := h.l.Stats()
	if n, m := st.TcpTimeoutRehash.Load(), st.TcpDuplicateDataRehash.Load(); n != 0 || m != 0 || h.c.Info().Rehash != 0 {
		t.Fatalf("txrehash 0: TcpTimeoutRehash %d TcpDuplicateDataRehash %d tcpi_rehash %d, want 0", n, m, h.c.Info().Rehash)
	}
}

// untilTimeout advances the clock to the next retransmission timeout.
func untilTimeout(h *harness) {
	n := h.l.Stats().TCPTimeouts.Load()
	for h.l.Stats().TCPTimeouts.Load() == n {
		h.advance(time.Millisecond)
	}
}

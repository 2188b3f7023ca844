package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// The peer's FIN in ESTABLISHED is not ACKed at once (Linux tcp_fin:
// pingpong mode): an application that closes when it reads EOF sends one
// FIN-ACK, and one that does not gets the delayed ACK, 40 ms after data.
func TestPeerFinAckCarriedByClose(t *testing.T) {
	h := establishedConn(t)
	h.rec.onEOF = func(c *Conn) { c.Close() }
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(make([]byte, 100)))
	h.expect(flags(ACK), ackNum(peerISN+101)) // quick-ACK mode
	h.send(FIN|ACK, peerISN+101, ourISN+1)
	h.expect(flags(FIN|ACK), seqNum(ourISN+1), ackNum(peerISN+102))
	h.expectNothing()
	h.state(StateLastAck)
}

func TestPeerFinAckDelayed(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(make([]byte, 100)))
	h.expect(flags(ACK), ackNum(peerISN+101))
	h.send(FIN|ACK, peerISN+101, ourISN+1)
	h.expectNothing()
	h.state(StateCloseWait)
	h.advance(atoMin - time.Millisecond)
	h.expectNothing()
	h.advance(time.Millisecond)
	h.expect(flags(ACK), ackNum(peerISN+102))
	h.expectNothing()
}

// Before any data the FIN's ACK goes at the batch's end (Linux's
// delayed-ACK timeout is 0 then): the application's close in its
// callback still carries it, and otherwise it goes alone at once.
func TestPeerFinFirstAckedAtBatchEnd(t *testing.T) {
	h := establishedConn(t)
	h.send(FIN|ACK, peerISN+1, ourISN+1)
	h.expect(flags(ACK), ackNum(peerISN+2))
	h.expectNothing()

	h = establishedConn(t)
	h.rec.onEOF = func(c *Conn) { c.Close() }
	h.send(FIN|ACK, peerISN+1, ourISN+1)
	h.expect(flags(FIN|ACK), ackNum(peerISN+2))
	h.expectNothing()
}

// More than one full segment unacknowledged is ACKed at once only if the
// application took it (Linux __tcp_ack_snd_check's window condition);
// data it holds is ACKed when it reads (tcp_cleanup_rbuf).
func TestFullSegmentsAckedWhenRead(t *testing.T) {
	const seg = 1460
	h := establishedConn(t)
	pastQuickAcks(h)
	h.rec.hold = true
	h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, seg)))
	h.send(ACK, peerISN+1+seg, ourISN+1, withData(make([]byte, seg)))
	h.expectNothing()
	h.advance(10 * time.Millisecond)
	h.expectNothing()
	h.rec.hold = false
	h.c.PauseRead()
	h.c.ResumeRead() // offers the held bytes again: the application reads
	h.expect(flags(ACK), ackNum(peerISN+1+2*seg))
	h.expectNothing()

	// An application that takes the data: every second segment at once.
	h.send(ACK, peerISN+1+2*seg, ourISN+1, withData(make([]byte, seg)))
	h.expectNothing()
	h.send(ACK, peerISN+1+3*seg, ourISN+1, withData(make([]byte, seg)))
	h.expect(flags(ACK), ackNum(peerISN+1+4*seg))
}

// The first CE-marked data of an episode has it and the next segment
// ACKed at once, past quick-ACK mode, full-sized or not (Linux
// tcp_data_ecn_check: quick-ACK mode for two); the one after waits.
func TestECNCEQuickAcks(t *testing.T) {
	h := ecnConn(t)
	pastQuickAcks(h)
	seq := peerISN + 1
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNCE))
	h.expect(flags(ACK|ECE), ackNum(seq+1000))
	seq += 1000
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.expect(flags(ACK|ECE), ackNum(seq+1000))
	seq += 1000
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNECT0))
	h.expectNothing()
	// Another CE before the peer's CWR: the same episode, no quick ACKs.
	h.advance(atoMin)
	h.expect(flags(ACK|ECE), ackNum(seq+1000))
	seq += 1000
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)), withECN(ECNCE))
	h.expectNothing()
}

// Data that ended a write (a full-sized segment with PSH, or a smaller
// one) is ACKed when the application has read it all, outside pingpong
// mode (Linux tcp_measure_rcv_mss's ICSK_ACK_PUSHED, tcp_cleanup_rbuf);
// a full-sized segment without PSH waits. In pingpong mode (we replied
// within the ACK timeout) the reply carries the ACK, unless a second
// such segment came first (ICSK_ACK_PUSHED2); a delayed ACK that fires
// in pingpong mode ends it.
func TestPushedDataAckedWhenRead(t *testing.T) {
	h, seq := sized1000Conn(t)
	h.send(ACK|PSH, seq, ourISN+1, withData(make([]byte, 1000)))
	seq += 1000
	h.expect(flags(ACK), ackNum(seq))
	h.send(ACK, seq, ourISN+1, withData(make([]byte, 1000)))
	seq += 1000
	h.expectNothing()
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq))
	h.send(ACK|PSH, seq, ourISN+1, withData(make([]byte, 100)))
	seq += 100
	h.expect(flags(ACK), ackNum(seq))

	// A reply within the ACK timeout: pingpong mode.
	h.c.Write([]byte("reply"))
	h.expect(flags(ACK|PSH), ackNum(seq))
	h.send(ACK|PSH, seq, ourISN+6, withData(make([]byte, 100)))
	seq += 100
	h.expectNothing()
	h.send(ACK|PSH, seq, ourISN+6, withData(make([]byte, 100)))
	seq += 100
	h.expect(flags(ACK), ackNum(seq)) // the second: ICSK_ACK_PUSHED2

	h.send(ACK|PSH, seq, ourISN+6, withData(make([]byte, 100)))
	seq += 100
	h.expectNothing()
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq)) // the reply did not come: pingpong ends
	h.send(ACK|PSH, seq, ourISN+6, withData(make([]byte, 100)))
	seq += 100
	h.expect(flags(ACK), ackNum(seq))
}

// A delayed ACK that fires outside pingpong mode doubles the ACK timeout
// estimate, up to the RTO (Linux tcp_delack_timer_handler: "delayed ACK
// missed: inflate ATO"); in pingpong mode it ends pingpong and resets the
// estimate to 40 ms instead (TestPushedDataAckedWhenRead).
func TestDelayedAckInflatesTimeout(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
	h.expect(flags(ACK))
	pastQuickAcks(h)
	h.send(ACK, peerISN+1001, ourISN+1, withData(make([]byte, 1000)))
	h.expectNothing()
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(peerISN+2001))
	if h.c.ato != 2*atoMin {
		t.Fatalf("ato %v after a delayed ACK, want %v", h.c.ato, 2*atoMin)
	}
}

// Two segments in a row of one smaller size teach the receiver that size
// (Linux tcp_measure_rcv_mss's last_seg_size): from then on they are
// full-sized, and without PSH they do not end a write. Sizes below 536
// bytes are learned only without PSH (a sender sets it on a write's last
// segment), and SACK blocks on a segment count in its size, so one of
// the same payload with blocks does not match.
func TestSmallerSegmentSizeLearned(t *testing.T) {
	h, seq := sized1000Conn(t)
	data := func(n int, f wire.TCPFlags, opts ...segOpt) {
		h.send(ACK|f, seq, ourISN+1, append(opts, withData(make([]byte, n)))...)
		seq += seqnum.Value(n)
	}
	data(600, 0)
	h.expect(flags(ACK), ackNum(seq)) // smaller than 1000: ends a write
	data(600, 0)
	h.expectNothing() // the second of 600: learned, full-sized
	if h.c.rcvEstMSS != 600 {
		t.Fatalf("segment size %d, want 600", h.c.rcvEstMSS)
	}
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq))
	data(600, PSH)
	h.expect(flags(ACK), ackNum(seq)) // full-sized with PSH

	// 100 bytes with PSH: never learned, each ends a write.
	data(100, PSH)
	h.expect(flags(ACK), ackNum(seq))
	data(100, PSH)
	h.expect(flags(ACK), ackNum(seq))
	// 100 bytes without PSH: learned at the second.
	data(100, 0)
	h.expect(flags(ACK), ackNum(seq))
	data(100, 0)
	h.expectNothing()
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq))

	// 80 bytes and one SACK block (12 more option bytes), then 92 bytes
	// and none: the sizes differ by the payload, not by the wire.
	sack := func(s *Segment) { s.Opts.NumSACK, s.Opts.SACK[0] = 1, wire.SACKBlock{Left: 1, Right: 2} }
	data(80, 0, sack)
	h.expect(flags(ACK), ackNum(seq))
	data(92, 0)
	h.expectNothing() // 80+12 == 92: learned
	if h.c.rcvEstMSS != 92 {
		t.Fatalf("segment size %d, want 92", h.c.rcvEstMSS)
	}
}

// Every segment that carries an owed ACK spends a quick ACK, a reply's
// data as much as a pure ACK (Linux tcp_dec_quickack_mode, from
// tcp_event_ack_sent), so quick ACKs that pingpong mode suspended are
// fewer when it ends; the last one sets the ACK timeout back to 40 ms.
func TestQuickAcksSpentByReplies(t *testing.T) {
	h := establishedConn(t)
	echo := func(c *Conn, p []byte) { c.Write(p) }
	h.rec.onData = echo
	seq, our := peerISN+1, ourISN+1
	h.send(ACK|PSH, seq, our, withData(make([]byte, 100)))
	seq += 100
	h.expect(flags(ACK|PSH), ackNum(seq)) // the reply carries the ACK; pingpong mode
	our += 100
	q := h.c.quickAcks
	for i := 0; i < 5; i++ {
		h.advance(10 * time.Millisecond)
		h.send(ACK|PSH, seq, our, withData(make([]byte, 100)))
		seq += 100
		h.expect(flags(ACK|PSH), ackNum(seq))
		our += 100
	}
	if h.c.quickAcks != q-5 {
		t.Fatalf("quick ACKs %d after 5 replies, want %d", h.c.quickAcks, q-5)
	}
	// No reply: the delayed ACK ends pingpong mode and spends one more.
	h.rec.onData = nil
	h.advance(10 * time.Millisecond)
	h.send(ACK|PSH, seq, our, withData(make([]byte, 100)))
	seq += 100
	h.expectNothing()
	h.advance(atoMin)
	h.expect(flags(ACK), ackNum(seq))
	left := int(h.c.quickAcks)
	if left != int(q)-6 {
		t.Fatalf("quick ACKs %d, want %d", left, int(q)-6)
	}
	// Segments that would wait (full-sized, no PSH): the ones left are
	// ACKed at once, then the ACK waits.
	for i := 0; i < left; i++ {
		if i == left-1 {
			h.c.ato = 100 * time.Millisecond // grown (70 ms after this segment's gap)
		}
		h.advance(10 * time.Millisecond)
		h.send(ACK, seq, our, withData(make([]byte, 536)))
		seq += 536
		h.expect(flags(ACK), ackNum(seq))
	}
	if h.c.ato != atoMin {
		t.Fatalf("ato %v after the last quick ACK, want %v", h.c.ato, atoMin)
	}
	h.advance(10 * time.Millisecond)
	h.send(ACK, seq, our, withData(make([]byte, 536)))
	h.expectNothing()
}

// sized1000Conn is an established connection that has received one
// 1000-byte segment (the peer's segment size), past quick-ACK mode; seq
// is the peer's next sequence number.
func sized1000Conn(t *testing.T) (*harness, seqnum.Value) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
	h.expect(flags(ACK))
	pastQuickAcks(h)
	return h, peerISN + 1001
}

// TestOutOfOrderAckSpendsQuickAck: the ACK of an out-of-order segment is
// owed, with SACK or without, so it spends a quick ACK, and so does the
// ACK of the segment that fills the hole (Linux tcp_data_queue_ofo
// schedules the ACK; tcp_event_ack_sent spends one).
func TestOutOfOrderAckSpendsQuickAck(t *testing.T) {
	for _, sack := range []bool{false, true} {
		t.Run(map[bool]string{false: "nosack", true: "sack"}[sack], func(t *testing.T) {
			var h *harness
			if sack {
				h = sackConn(t, false)
			} else {
				h = establishedConn(t)
			}
			seq, our := peerISN+1, ourISN+1
			h.send(ACK, seq, our, withData(make([]byte, 1000)))
			h.expect(flags(ACK), ackNum(seq+1000))
			q := h.c.quickAcks
			h.send(ACK, seq+2000, our, withData(make([]byte, 1000)))
			h.expect(flags(ACK), ackNum(seq+1000))
			if h.c.quickAcks != q-1 {
				t.Fatalf("quick ACKs %d after the out-of-order ACK, want %d", h.c.quickAcks, q-1)
			}
			h.send(ACK, seq+1000, our, withData(make([]byte, 1000)))
			h.expect(flags(ACK), ackNum(seq+3000))
			if h.c.quickAcks != q-2 {
				t.Fatalf("quick ACKs %d after the hole was filled, want %d", h.c.quickAcks, q-2)
			}
		})
	}
}

// TCP_QUICKACK (xdptcp/sockopt-quickack): 0 enters pingpong mode, where
// a small segment's ACK waits; 1 leaves it and sends the ACK owed for
// data the application took; 2 does the same and enters pingpong mode
// again; with the data unread the ACK waits for the read.
func TestSetQuickAck(t *testing.T) {
	h := establishedConn(t)
	quick := func(want bool) {
		t.Helper()
		if got := h.c.QuickAck(); got != want {
			t.Fatalf("QuickAck %v, want %v", got, want)
		}
	}
	quick(true)
	seq := peerISN + 1
	for _, val := range []int{1, 2} {
		h.c.SetQuickAck(0)
		quick(false)
		h.send(ACK|PSH, seq, ourISN+1, withData(make([]byte, 10)))
		seq += 10
		h.expectNothing()
		h.c.SetQuickAck(val)
		h.expect(flags(ACK), ackNum(seq))
		h.expectNothing()
		quick(val == 1)
	}

	h.rec.hold = true
	h.send(ACK|PSH, seq, ourISN+1, withData(make([]byte, 10)))
	seq += 10
	h.expectNothing()
	h.c.SetQuickAck(1)
	h.expectNothing()
	h.rec.hold = false
	h.c.PauseRead()
	h.c.ResumeRead()
	h.expect(flags(ACK), ackNum(seq))
	h.expectNothing()
}

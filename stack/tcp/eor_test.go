package tcp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// MSG_EOR (Conn.WriteEOR): a record's end is never sent in one segment
// with data written after it, in first transmissions and in
// retransmissions (Linux 6.18 tcp_skb_can_collapse_to, tcp_can_collapse;
// google/eor/*.pkt run by make conformance).

// eorConn is an established connection whose peer offered MSS 1000, SACK
// and window scale 10 (the eor scripts' handshake) and a 514 << 10 window.
func eorConn(t *testing.T, opts ...cfgOpt) *harness {
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), withWS(10), func(s *Segment) { s.Opts.SACKPermitted = true })
	h.expect(flags(SYN | ACK))
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1, withWin(514))
	h.expectNothing()
	h.state(StateEstablished)
	return h
}

// drain pops what the connection sent, as "start:end" relative to our ISN
// with a "P" for PSH, space-separated.
func (h *harness) drain() string {
	var out []string
	for len(h.out.segs) > 0 {
		s := h.expect()
		p := ""
		if s.seg.Flags&PSH != 0 {
			p = "P"
		}
		from := int(s.seg.Seq.Sub(ourISN))
		out = append(out, fmt.Sprintf("%s%d:%d", p, from, from+len(s.seg.Payload)))
	}
	return strings.Join(out, " ")
}

// ackTo acknowledges up to rel (relative to our ISN) with the 514 << 10
// window.
func (h *harness) ackTo(rel int) {
	h.send(ACK, peerISN+1, ourISN.Add(seqnum.Size(rel)), withWin(514))
}

func TestEORRecordsNotCoalesced(t *testing.T) {
	h := eorConn(t)
	if n := h.c.Write(make([]byte, 10400)); n != 10400 {
		t.Fatalf("Write took %d", n)
	}
	// The first record takes the 400 bytes left of the write before it
	// (that write's skb was not EOR); the next ones stand alone.
	for i := 0; i < 3; i++ {
		if n := h.c.WriteEOR(make([]byte, 400)); n != 400 {
			t.Fatalf("WriteEOR took %d", n)
		}
	}
	h.c.Write(make([]byte, 2500))
	if got, want := h.drain(), "1:1001 P1001:2001 2001:3001 P3001:4001 4001:5001 P5001:6001 6001:7001 P7001:8001 8001:9001 P9001:10001"; got != want {
		t.Fatalf("initial window:\n got %s\nwant %s", got, want)
	}
	h.advance(time.Millisecond)
	h.ackTo(10001)
	if got, want := h.drain(), "P10001:10801 P10801:11201 P11201:11601 11601:12601 P12601:13601 P13601:14101"; got != want {
		t.Fatalf("after the ACK:\n got %s\nwant %s", got, want)
	}
}

// A record's last segment goes at once even with Nagle on and data in
// flight, as Linux sends an skb that is not the write queue's tail
// (TCP_NAGLE_PUSH); the queue's last small segment still waits.
func TestEORNagle(t *testing.T) {
	h := eorConn(t)
	h.c.SetNoDelay(false)
	h.c.Write(make([]byte, 1000))
	if got := h.drain(); got != "P1:1001" {
		t.Fatalf("got %s", got)
	}
	h.c.WriteEOR(make([]byte, 300))
	h.c.Write(make([]byte, 300))
	if got := h.drain(); got != "P1001:1301" {
		t.Fatalf("record end with a small segment in flight: got %q, want P1001:1301", got)
	}
	h.ackTo(1301)
	if got := h.drain(); got != "P1301:1601" {
		t.Fatalf("after the ACK: got %q, want P1301:1601", got)
	}
}

// Retransmissions send the records as first sent, never two together:
// after the RTO the loss window (one MSS, 1000 bytes) holds the first three
// records, which go as three segments, not one (Linux
// tcp_retrans_try_collapse stops at an EOR skb).
func TestEORRetransmission(t *testing.T) {
	h := eorConn(t)
	for i := 0; i < 4; i++ {
		h.c.WriteEOR(make([]byte, 300))
	}
	if got, want := h.drain(), "P1:301 P301:601 P601:901 P901:1201"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	h.advance(h.c.tlpAt.Sub(h.now))
	if got, want := h.drain(), "P901:1201"; got != want {
		t.Fatalf("tail loss probe: got %s, want %s", got, want)
	}
	h.advance(h.c.rtoAt.Sub(h.now))
	if got, want := h.drain(), "P1:301 P301:601 P601:901"; got != want {
		t.Fatalf("after the RTO: got %s, want %s", got, want)
	}
	h.advance(time.Millisecond)
	h.ackTo(901)
	if got, want := h.drain(), "P901:1201"; got != want {
		t.Fatalf("after the ACK: got %s, want %s", got, want)
	}
}

// The unsent records a connection holds are bounded like its segments in
// flight (maxTxSegs): past the bound WriteEOR takes nothing, and OnWritable
// follows once records have gone.
func TestEORBound(t *testing.T) {
	h := eorConn(t)
	h.send(ACK, peerISN+1, ourISN+1, withWin(0)) // nothing leaves: every record stays unsent
	bound := h.c.maxTxSegs()
	for i := 0; i < bound; i++ {
		if n := h.c.WriteEOR([]byte{1}); n != 1 {
			t.Fatalf("record %d: WriteEOR took %d", i, n)
		}
	}
	if n := h.c.WriteEOR([]byte{1}); n != 0 {
		t.Fatalf("record %d past the bound of %d: WriteEOR took %d", bound+1, bound, n)
	}
	if n := h.c.Write([]byte{1}); n != 1 {
		t.Fatalf("a plain Write past the record bound took %d", n)
	}
	h.ackTo(1) // the window opens: the records leave, one segment each, up to maxTxSegs
	got := strings.Fields(h.drain())
	if len(got) != bound || got[0] != "P1:2" || got[bound-1] != fmt.Sprintf("P%d:%d", bound, bound+1) {
		t.Fatalf("%d segments (%v ... %v), want %d", len(got), got[0], got[len(got)-1], bound)
	}
	h.ackTo(bound + 1)
	if got, want := h.drain(), fmt.Sprintf("P%d:%d", bound+1, bound+2); got != want {
		t.Fatalf("the plain write's byte: got %s, want %s", got, want)
	}
	if !h.rec.has("writable") {
		t.Fatal("no OnWritable after the records went")
	}
	if n := h.c.WriteEOR([]byte{1}); n != 1 {
		t.Fatalf("WriteEOR after the records went took %d", n)
	}
}

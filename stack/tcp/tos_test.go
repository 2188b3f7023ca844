package tcp

import (
	"testing"
	"time"
)

// IP_TOS: a connection's segments carry its TOS byte with the ECN bits
// clear (Linux ignores them on TCP sockets; marking stays the stack's).
func TestSetTOS(t *testing.T) {
	h := establishedConn(t)
	h.c.Write([]byte("a"))
	if s := h.expect(flags(ACK | PSH)); s.seg.TOS != 0 {
		t.Fatalf("default TOS %#x, want 0", s.seg.TOS)
	}
	h.c.SetTOS(0xbb) // DSCP 46 (EF) with ECN bits 11
	if got := h.c.TOS(); got != 0xb8 {
		t.Fatalf("TOS() %#x, want 0xb8 (ECN bits dropped)", got)
	}
	h.c.Write([]byte("b"))
	if s := h.expect(flags(ACK | PSH)); s.seg.TOS != 0xb8 {
		t.Fatalf("data segment TOS %#x, want 0xb8", s.seg.TOS)
	}
	h.send(ACK, peerISN+1, ourISN+3, withData([]byte("x")))
	h.advance(time.Second)
	if s := h.expect(flags(ACK)); s.seg.TOS != 0xb8 {
		t.Fatalf("pure ACK TOS %#x, want 0xb8", s.seg.TOS)
	}
}

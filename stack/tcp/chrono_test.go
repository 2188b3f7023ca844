package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// TCP_INFO chrono times (Linux tcp_chrono_start/stop): busy while data is
// queued or in flight, rwnd-limited while the peer's window holds new data
// back, sndbuf-limited while the send buffer holds the application back;
// on the engine clock.

func chronoCheck(t *testing.T, h *harness, busy, rwnd, sndbuf time.Duration) {
	t.Helper()
	in := h.c.Info()
	if in.BusyTime != busy || in.RwndLimited != rwnd || in.SndbufLimited != sndbuf {
		t.Fatalf("at %v: busy %v rwnd %v sndbuf %v, want %v %v %v", time.Duration(h.now),
			in.BusyTime, in.RwndLimited, in.SndbufLimited, busy, rwnd, sndbuf)
	}
}

// The timeline of google/tcp_info/tcp-info-rwnd-limited.pkt.
func TestChronoRwndLimited(t *testing.T) {
	h := dialConn(t)
	h.advance(10 * time.Millisecond)
	h.send(SYN|ACK, peerISN, ourISN+1, withMSS(1000), withWin(0), func(s *Segment) { s.Opts.SACKPermitted = true })
	h.expect(flags(ACK))
	chronoCheck(t, h, 0, 0, 0)
	h.c.Write(make([]byte, 1000)) // the window is closed: rwnd-limited from here
	h.advance(100 * time.Millisecond)
	chronoCheck(t, h, 100*time.Millisecond, 100*time.Millisecond, 0)
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1, withWin(2000))
	chronoCheck(t, h, 200*time.Millisecond, 200*time.Millisecond, 0)
	h.out.segs = nil
	h.advance(30 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1001, withWin(10)) // all acknowledged: idle
	chronoCheck(t, h, 230*time.Millisecond, 200*time.Millisecond, 0)
	h.advance(50 * time.Millisecond)
	chronoCheck(t, h, 230*time.Millisecond, 200*time.Millisecond, 0)
	h.c.Write(make([]byte, 1000)) // a 10-byte window: rwnd-limited again
	h.advance(100 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1001, withWin(2000))
	chronoCheck(t, h, 330*time.Millisecond, 300*time.Millisecond, 0)
	h.advance(20 * time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+2001, withWin(2000))
	chronoCheck(t, h, 350*time.Millisecond, 300*time.Millisecond, 0)
	h.advance(time.Second)
	chronoCheck(t, h, 350*time.Millisecond, 300*time.Millisecond, 0)
}

// Send-buffer limited, as Linux's tcp_cwnd_validate times it: a round
// that sent data, not cwnd-limited, leaving nothing unsent while a write
// waits for send-buffer space (SOCK_NOSPACE), until the ACKs that make
// the connection writable again. The write's skb (half the peer's largest
// window) leaves in part, the peer's window being smaller now: the rest
// goes when the window opens, after the write found no more room.
func TestChronoSndbufLimited(t *testing.T) {
	h := establishedConn(t)
	h.c.cc.setWindow(100 * 1460) // a grown cwnd: the round below is not cwnd-limited
	h.send(ACK, peerISN+1, ourISN+1, withWin(8000))
	h.c.SetSendBuffer(2304) // SO_SNDBUF: locked at SOCK_MIN_SNDBUF, one skb
	n := h.c.Write(make([]byte, 100000))
	if n <= 8000 || n >= 100000 {
		t.Fatalf("Write took %d of 100000 with SO_SNDBUF 2304", n)
	}
	for len(h.out.segs) > 0 {
		h.expect()
	}
	h.advance(10 * time.Millisecond)
	chronoCheck(t, h, 10*time.Millisecond, 10*time.Millisecond, 0) // the window holds the rest
	h.send(ACK, peerISN+1, ourISN+1+8000, withWin(65535))
	for len(h.out.segs) > 0 {
		h.expect()
	}
	h.advance(40 * time.Millisecond)
	chronoCheck(t, h, 50*time.Millisecond, 10*time.Millisecond, 40*time.Millisecond)
	h.send(ACK, peerISN+1, ourISN+1+seqnum.Value(n), withWin(65535))
	if !h.rec.has("writable") {
		t.Fatal("no OnWritable")
	}
	h.advance(time.Second)
	chronoCheck(t, h, 50*time.Millisecond, 10*time.Millisecond, 40*time.Millisecond)
}

// Info on a connection that never wrote reports zeros and allocates
// nothing; the chrono stops when the connection is gone.
func TestChronoStopsAtClose(t *testing.T) {
	h := establishedConn(t)
	chronoCheck(t, h, 0, 0, 0)
	if h.c.sx != nil {
		t.Fatal("a connection that never wrote holds a sendExt")
	}
	h.c.Write(make([]byte, 100))
	h.advance(10 * time.Millisecond)
	h.c.Abort()
	h.advance(time.Second)
	chronoCheck(t, h, 10*time.Millisecond, 0, 0)
}

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

// Send-buffer limited: a write cut short by a full send buffer, once the
// round sent all that was queued without being cwnd-limited, times
// sndbuf-limited until the ACKs that make the connection writable again.
func TestChronoSndbufLimited(t *testing.T) {
	h := establishedConn(t)
	// Out of slow start with a window far above what the buffer holds:
	// cwnd is not the limit (Linux tcp_is_cwnd_limited).
	h.c.cubic.cwnd, h.c.cubic.ssthresh = 100*1460, 50*1460
	h.c.SetSendBuffer(2000)
	n := h.c.Write(make([]byte, 1<<20))
	if n == 0 || n >= 1<<20 {
		t.Fatalf("Write took %d, want a partial write (SO_SNDBUF 2000)", n)
	}
	if nb := h.c.Info().NotsentBytes; nb != 0 {
		t.Fatalf("%d bytes unsent, want all %d sent (cwnd 100 segments)", nb, n)
	}
	for len(h.out.segs) > 0 {
		h.expect()
	}
	h.advance(40 * time.Millisecond)
	chronoCheck(t, h, 40*time.Millisecond, 0, 40*time.Millisecond)
	h.send(ACK, peerISN+1, ourISN.Add(seqnum.Size(1+n)))
	chronoCheck(t, h, 40*time.Millisecond, 0, 40*time.Millisecond)
	if !h.rec.has("writable") {
		t.Fatal("no OnWritable")
	}
	h.advance(time.Second)
	chronoCheck(t, h, 40*time.Millisecond, 0, 40*time.Millisecond)
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

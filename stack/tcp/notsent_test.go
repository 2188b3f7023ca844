package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// TCP_NOTSENT_LOWAT (Linux tcp_stream_memory_free with wake = 1): the
// connection is writable only while its unsent bytes, doubled, are below
// the low-water mark; tcp_notsent_lowat applies unless the connection sets
// its own.

func TestNotsentLowatWritable(t *testing.T) {
	h := establishedConn(t)
	if !h.c.Writable() || h.c.NotsentLowat() != 0 {
		t.Fatalf("default: writable %v, lowat %d; want true, 0 (tcp_notsent_lowat off)", h.c.Writable(), h.c.NotsentLowat())
	}
	h.c.SetNotsentLowat(4000)
	if got := h.c.NotsentLowat(); got != 4000 {
		t.Fatalf("NotsentLowat %d, want 4000", got)
	}
	// Initial window 10 * 1460 = 14600 bytes go out; 1000 stay unsent.
	if n := h.c.Write(make([]byte, 15600)); n != 15600 {
		t.Fatalf("Write took %d", n)
	}
	if nb := h.c.Info().NotsentBytes; nb != 1000 {
		t.Fatalf("unsent %d, want 1000", nb)
	}
	if !h.c.Writable() {
		t.Fatal("1000 unsent bytes (2000 < 4000): not writable")
	}
	h.c.Write(make([]byte, 1000)) // 2000 unsent: 4000 is not below 4000
	if h.c.Writable() {
		t.Fatal("2000 unsent bytes with lowat 4000: writable")
	}
	h.c.SetNotsentLowat(0) // back to tcp_notsent_lowat (off)
	if !h.c.Writable() {
		t.Fatal("lowat reset to the sysctl (off): not writable")
	}
}

func TestNotsentLowatSysctlOnWritable(t *testing.T) {
	h := establishedConn(t, func(c *Config) { c.NotsentLowat = 4000 })
	n := h.c.Write(make([]byte, 1<<20))
	if n >= 1<<20 {
		t.Fatalf("Write took all %d bytes; want a partial write", n)
	}
	var acked seqnum.Value
	for i := 0; i < 100; i++ {
		last := acked
		for len(h.out.segs) > 0 {
			s := h.expect()
			last = s.seg.Seq.Add(seqnum.Size(len(s.seg.Payload)))
		}
		unsent := h.c.Info().NotsentBytes
		for _, e := range h.rec.events {
			if e.kind == "writable" {
				if 2*unsent >= 4000 {
					t.Fatalf("OnWritable with %d bytes unsent (lowat 4000)", unsent)
				}
				return
			}
		}
		if last == acked {
			break
		}
		h.send(ACK, peerISN+1, last)
		acked = last
	}
	t.Fatal("no OnWritable once the unsent bytes drained")
}

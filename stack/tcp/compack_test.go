package tcp

import (
	"testing"
	"time"
)

// compressConn is an established SACK connection with timestamps whose
// RTT, the sender's and the receiver's, is rtt, past its quick ACKs: the
// ACKs for out-of-order data are then compressed (compack.go) when rtt
// is 20 ms or more.
func compressConn(t *testing.T, rtt time.Duration, opts ...cfgOpt) *harness {
	t.Helper()
	h := newHarness(t, opts...)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1000), withSACKOK(), withTS(100, 0))
	s := h.expect(flags(SYN | ACK))
	h.advance(rtt)
	h.send(ACK, peerISN+1, ourISN+1, withTS(101, s.seg.Opts.TSVal))
	h.state(StateEstablished)
	// A full-sized segment echoing the SYN-ACK's TSval: the receiver's
	// RTT sample (rcvrtt.go).
	h.send(ACK, peerISN+1, ourISN+1, withTS(101, s.seg.Opts.TSVal), withData(make([]byte, 1000)))
	h.expect(flags(ACK), ackNum(peerISN+1001))
	if got := h.c.rrtt.rtt(); got != rtt {
		t.Fatalf("receiver's RTT %v, want %v", got, rtt)
	}
	pastQuickAcks(h)
	return h
}

// ofoSeg is the k-th 1000-byte segment after a hole of 1000 bytes at
// offset 1000 (compressConn's connection received the first 1000).
func ofoSeg(k int) Segment {
	s := dataSeg(2000+1000*k, 1000)
	withTS(102, 0)(&s)
	return s
}

// ackedAt drains the captured segments: each must be a pure ACK for the
// hole; it returns when each was sent, relative to from, and the last.
func (h *harness) ackedAt(from time.Duration) ([]time.Duration, *sent) {
	h.t.Helper()
	var at []time.Duration
	var last *sent
	for len(h.out.segs) > 0 {
		last = h.expect(flags(ACK), ackNum(peerISN+1001), payloadLen(0))
		at = append(at, time.Duration(last.at)-from)
	}
	return at, last
}

// Linux 6.18 (xdptcp/sack-compress, measured with a 100 ms RTT): after a
// hole, of a burst of twelve segments the first three draw an ACK each
// and the other nine one ACK 1 ms later (TCPAckCompressed 8); segments 3
// ms apart then each draw one ACK 1 ms after them; filling the hole is
// ACKed at once and ends it.
func TestSACKCompression(t *testing.T) {
	h := compressConn(t, 100*time.Millisecond)
	start := time.Duration(h.now)
	for k := range 12 {
		h.sendBatch(ofoSeg(k))
	}
	if at, _ := h.ackedAt(start); len(at) != 3 {
		t.Fatalf("burst of 12: %d ACKs at once, want 3", len(at))
	}
	h.advance(2 * time.Millisecond)
	at, last := h.ackedAt(start)
	if len(at) != 1 || at[0] < time.Millisecond || at[0] > 2*time.Millisecond {
		t.Fatalf("burst of 12: compressed ACKs at %v, want one 1-2 ms after the burst", at)
	}
	if o := last.seg.Opts; o.NumSACK == 0 || o.SACK[0].Right != uint32(peerISN+1+14000) {
		t.Fatalf("compressed ACK's SACK %v, want up to %d", o.SACK[:o.NumSACK], peerISN+1+14000)
	}
	if got := h.l.Stats().TCPAckCompressed.Load(); got != 8 {
		t.Fatalf("TCPAckCompressed %d after the burst, want 8", got)
	}
	h.advance(time.Millisecond)
	for k := 12; k < 17; k++ { // 3 ms apart
		sent := time.Duration(h.now)
		h.sendBatch(ofoSeg(k))
		h.expectNothing()
		h.advance(3 * time.Millisecond)
		if at, _ := h.ackedAt(sent); len(at) != 1 || at[0] < time.Millisecond || at[0] > 2*time.Millisecond {
			t.Fatalf("segment %d alone: ACKs at %v after it, want one 1-2 ms after", k, at)
		}
	}
	if got := h.l.Stats().TCPAckCompressed.Load(); got != 8 {
		t.Fatalf("TCPAckCompressed %d, want 8: a lone held ACK that its timer sends is not one fewer", got)
	}
	fill := dataSeg(1000, 1000)
	withTS(103, 0)(&fill)
	h.sendBatch(fill)
	h.expect(flags(ACK), ackNum(peerISN+1+19000))
	h.expectNothing()
}

// An ACK that goes for another reason (new data at RCV.NXT moves it)
// stands for every held one; tcp_comp_sack_nr bounds how many are held;
// tcp_comp_sack_nr 0, no SACK, or an RTT under 20 ms (5% of it is less
// than the timers' 1 ms tick) send every ACK at once, as before
// compression.
func TestSACKCompressionBounds(t *testing.T) {
	t.Run("sent-for-new-data", func(t *testing.T) {
		h := compressConn(t, 100*time.Millisecond)
		for k := range 8 {
			h.sendBatch(ofoSeg(2 * k)) // eight ranges: the SACK option keeps the newest
		}
		// Three at once; of the five held, the ranges that no longer fit
		// one option (three blocks beside the timestamp) sent the ACK
		// owed before them (sackRoomFor), one of the held.
		at, _ := h.ackedAt(time.Duration(h.now))
		held := h.c.compHeld
		if len(at) < 3 || held == 0 {
			t.Fatalf("%d ACKs at once, %d held; want 3 and more, some held", len(at), held)
		}
		compressed := h.l.Stats().TCPAckCompressed.Load()
		// Half of the hole: RCV.NXT moves, an ACK goes now for it.
		part := dataSeg(1000, 500)
		withTS(103, 0)(&part)
		h.sendBatch(part)
		h.expect(flags(ACK), ackNum(peerISN+1501))
		h.expectNothing()
		if got := h.l.Stats().TCPAckCompressed.Load() - compressed; got != uint64(held) {
			t.Fatalf("TCPAckCompressed +%d, want the %d held", got, held)
		}
		if h.c.compHeld != 0 {
			t.Fatalf("%d still held", h.c.compHeld)
		}
	})
	t.Run("nr", func(t *testing.T) {
		h := compressConn(t, 100*time.Millisecond, func(c *Config) { c.CompSackNr = 4 })
		for k := range 3 + 4 + 1 {
			h.sendBatch(ofoSeg(k))
		}
		// Three at once, four held, the fifth finds four held: it goes.
		if at, _ := h.ackedAt(0); len(at) != 4 {
			t.Fatalf("%d ACKs at once, want 4", len(at))
		}
		if got := h.l.Stats().TCPAckCompressed.Load(); got != 4 {
			t.Fatalf("TCPAckCompressed %d, want 4", got)
		}
	})
	for _, tc := range []struct {
		name string
		rtt  time.Duration
		opts []cfgOpt
	}{
		{"nr-0", 100 * time.Millisecond, []cfgOpt{func(c *Config) { c.CompSackNr = 0 }}},
		{"rtt-19ms", 19 * time.Millisecond, nil},
		{"delay-0", 100 * time.Millisecond, []cfgOpt{func(c *Config) { c.CompSackDelayNs = 0 }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := compressConn(t, tc.rtt, tc.opts...)
			for k := range 10 {
				h.sendBatch(ofoSeg(k))
			}
			if at, _ := h.ackedAt(0); len(at) != 10 {
				t.Fatalf("%d ACKs at once for 10 segments, want 10", len(at))
			}
			if got := h.l.Stats().TCPAckCompressed.Load(); got != 0 {
				t.Fatalf("TCPAckCompressed %d, want 0", got)
			}
		})
	}
	t.Run("no-sack", func(t *testing.T) {
		h := establishedConn(t)
		h.c.rrtt.rtt8 = uint32(100*time.Millisecond/time.Microsecond) << 3
		pastQuickAcks(h)
		for k := range 10 {
			h.sendBatch(dataSeg(1000+1000*k, 1000))
		}
		for range 10 {
			h.expect(flags(ACK), ackNum(peerISN+1))
		}
		h.expectNothing()
	})
}

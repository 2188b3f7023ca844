package tcp

import (
	"bytes"
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// The out-of-order queue (reassembly.go) and the tcp_mem budget (mem.go).

// connMem is what a connection holds for received data: the receive
// queue's chunks and their list, and the range table.
func connMem(c *Conn) int {
	n := rcvHeld(c) + rcvListEntry*cap(c.rcvBuf.chunks)
	if c.ooo != nil {
		n += 8 * cap(c.ooo.r)
	}
	return n
}

// rcvHeld returns the bytes of the pages c's receive queue holds.
func rcvHeld(c *Conn) int { return c.rcvBuf.held() }

// rcvByte returns the byte held at logical offset off of c's receive
// queue.
func rcvByte(c *Conn, off int) byte {
	at := c.rcvBuf.head + off
	return c.rcvBuf.chunks[at/rcvChunk][at%rcvChunk]
}

// ooSeg is a one-byte segment from the i-th peer of establishN at offset
// off above its RCV.NXT.
func oooByte(c *Conn, off int) Segment {
	s := Segment{Key: c.key, Seq: c.rcvNxt.Add(seqnum.Size(off)), Ack: c.sndNxt, Flags: ACK, Window: 1024, Payload: []byte{byte(off)}}
	s.Opts.HasTimestamp, s.Opts.TSVal, s.Opts.TSEcr = true, 2, c.tsOffset
	return s
}

// The flood: 40 connections each get 1,500 one-byte segments out
// of order, with a hole between each two. All are held (the range table
// grows with the buffer, no fixed bound) and each connection holds at
// most its receive buffer plus an eighth of it for the range table, not a
// pool chunk per byte; the account counts exactly what is held, and all
// of it comes back when the holes are filled or the connections end.
func TestOOOFloodHeldWithinBuffer(t *testing.T) {
	var acct MemAccount
	l := NewLayer(memConfig(), &countOut{}, 0)
	l.SetMemAccount(&acct)
	conns := establishN(t, l, 40, false)
	for _, c := range conns {
		base := c.rcvNxt
		for i := 0; i < 1500; i++ {
			s := oooByte(c, 2+2*i)
			s.Seq = base.Add(seqnum.Size(2 + 2*i))
			l.Input(l.now, &s)
		}
		if c.oooRanges() != 1500 || c.oooBytes() != 1500 {
			t.Fatalf("%d ranges, %d bytes held, want 1500 each", c.oooRanges(), c.oooBytes())
		}
		if m := connMem(c); m > c.rcvCap+c.rcvCap/8 {
			t.Fatalf("holds %d bytes for a %d-byte buffer", m, c.rcvCap)
		}
	}
	sum := 0
	for _, c := range conns {
		sum += connMem(c)
	}
	if acct.Bytes() != int64(sum) {
		t.Fatalf("account %d bytes, connections hold %d", acct.Bytes(), sum)
	}
	t.Logf("40 connections x 1500 one-byte segments: %d bytes held per connection (receive buffer %d)", sum/40, conns[0].rcvCap)
	if got := l.Stats().TCPOFOQueue.Load(); got != 40*1500 {
		t.Fatalf("TCPOFOQueue %d", got)
	}
	// Fill every hole of the first connection: all 3001 bytes delivered,
	// the ring handed back.
	c := conns[0]
	base := c.rcvNxt
	for i := -1; i < 1500; i++ { // the holes: offsets 0 and 1, then every odd one
		s := oooByte(c, 0)
		s.Seq = base.Add(seqnum.Size(1 + 2*i))
		if i < 0 {
			s.Seq, s.Payload = base, []byte{0, 0}
		}
		l.Input(l.now, &s)
	}
	if c.rcvNxt != base+3001 || c.oooActive() || c.rcvBuf.chunks != nil {
		t.Fatalf("after the holes: RCV.NXT +%d, ooo %v, ring %v", c.rcvNxt-base, c.oooActive(), c.rcvBuf.chunks != nil)
	}
	for _, c := range conns {
		c.Abort()
	}
	if acct.Bytes() != 0 {
		t.Fatalf("%d bytes still counted after every connection ended", acct.Bytes())
	}
}

// The receive queue holds the pages its bytes landed in (rcvq.go): one
// out-of-order byte near RCV.NXT takes a page, one at the window's far
// edge one more page (not a buffer reaching up to it, as the contiguous
// ring did), the tcp_mem account following; bytes keep
// their place; pages are given back as the application reads past them,
// while out-of-order data is still held above; once everything is read
// the queue is handed back.
func TestRecvChunksFollowBytes(t *testing.T) {
	var acct MemAccount
	l := NewLayer(memConfig(), &countOut{}, 0)
	l.SetMemAccount(&acct)
	c := establishN(t, l, 1, false)[0]
	base := c.rcvNxt
	edge := int(c.rcvAdv.Sub(base)) - 1
	var held []int
	for _, step := range []struct{ off, pages int }{{1, 1}, {3000, 1}, {5000, 2}, {20000, 3}, {edge, 4}} {
		s := oooByte(c, step.off)
		l.Input(l.now, &s)
		held = append(held, step.off)
		if rcvHeld(c) != step.pages*rcvChunk || acct.Bytes() != int64(connMem(c)) {
			t.Fatalf("byte at +%d: %d bytes of pages held (want %d pages), account %d for %d held", step.off, rcvHeld(c), step.pages, acct.Bytes(), connMem(c))
		}
		for _, off := range held {
			if b := rcvByte(c, off); b != byte(off) {
				t.Fatalf("byte at +%d is %d, want %d", off, b, byte(off))
			}
		}
	}
	if m := connMem(c); m > 4*rcvChunk+1024 {
		t.Fatalf("%d bytes held for 5 bytes, the farthest at +%d", m, edge)
	}
	if in := c.Info(); in.RmemAlloc != 4*rcvChunk || in.RecvQ != 0 || in.RcvBuf != c.RecvBuffer() {
		t.Fatalf("TCP_INFO: rmem_alloc %d (want 4 pages), Recv-Q %d, rcvbuf %d", in.RmemAlloc, in.RecvQ, in.RcvBuf)
	}
	t.Logf("5 out-of-order bytes up to +%d: %d bytes held", edge, connMem(c))
	in := func(seq seqnum.Value, n int) {
		s := Segment{Key: c.key, Seq: seq, Ack: c.sndNxt, Flags: ACK, Window: 1024, Payload: make([]byte, n)}
		s.Opts.HasTimestamp, s.Opts.TSVal, s.Opts.TSEcr = true, 2, c.tsOffset
		l.Input(l.now, &s)
	}
	c.PauseRead()
	in(base, 30001) // pages 0-7, and the far edge's
	if c.rcvNxt != base+30001 || c.rcvBuf.Len() != 30001 || rcvHeld(c) != 9*rcvChunk || acct.Bytes() != int64(connMem(c)) {
		t.Fatalf("hole filled, not read: RCV.NXT +%d, %d in order, %d bytes of pages, account %d for %d", c.rcvNxt-base, c.rcvBuf.Len(), rcvHeld(c), acct.Bytes(), connMem(c))
	}
	c.ResumeRead() // pages 0-6 read past
	if c.rcvBuf.Len() != 0 || rcvHeld(c) != 2*rcvChunk || rcvByte(c, edge-30001) != byte(edge) || acct.Bytes() != int64(connMem(c)) {
		t.Fatalf("read: %d in order, %d bytes of pages, account %d for %d", c.rcvBuf.Len(), rcvHeld(c), acct.Bytes(), connMem(c))
	}
	in(base+30001, edge-30001)
	if c.rcvNxt != base.Add(seqnum.Size(edge+1)) || c.oooActive() || c.rcvBuf.chunks != nil || acct.Bytes() != int64(connMem(c)) {
		t.Fatalf("all read: RCV.NXT +%d, ooo %v, queue %v, account %d", c.rcvNxt-base, c.oooActive(), c.rcvBuf.chunks != nil, acct.Bytes())
	}
}

// Beyond the range bound (one per 64 bytes of buffer) the queue is pruned
// from the top: a new range below the highest one evicts it (PruneCalled,
// OfoPruned); a new highest range is dropped (TCPOFODrop).
func TestOOORangeBoundPrunesFromTop(t *testing.T) {
	cfg := memConfig()
	cfg.Rmem = [3]int{4096, 4096, 4096} // 64 ranges
	l := NewLayer(cfg, &countOut{}, 0)
	l.SetMemAccount(new(MemAccount))
	c := establishN(t, l, 1, false)[0]
	max := c.oooMaxRanges()
	if max != 64 {
		t.Fatalf("bound %d", max)
	}
	base := c.rcvNxt
	for i := 0; i < max; i++ {
		s := oooByte(c, 0)
		s.Seq = base.Add(seqnum.Size(10 + 20*i))
		l.Input(l.now, &s)
	}
	st := l.Stats()
	top := c.oooTop()
	s := oooByte(c, 0)
	s.Seq = top.Add(10)
	l.Input(l.now, &s)
	if c.oooRanges() != max || c.oooTop() != top || st.TCPOFODrop.Load() != 1 || st.PruneCalled.Load() != 1 {
		t.Fatalf("new top: %d ranges, top moved %v, TCPOFODrop %d, PruneCalled %d", c.oooRanges(), c.oooTop() != top, st.TCPOFODrop.Load(), st.PruneCalled.Load())
	}
	s.Seq = base.Add(5)
	l.Input(l.now, &s)
	if c.oooRanges() != max || !c.oooTop().LessThan(top) || st.OfoPruned.Load() != 1 || st.PruneCalled.Load() != 2 {
		t.Fatalf("low range: %d ranges, OfoPruned %d, PruneCalled %d", c.oooRanges(), st.OfoPruned.Load(), st.PruneCalled.Load())
	}
}

// tcp_mem set low: with 40 connections flooded out of order across their
// windows (so their rings grow to the whole buffer), the memory in use
// never passes tcp_mem[2]; the segments that would need more are
// dropped (TCPOFODrop) and pressure is entered once
// (TCPMemoryPressures); meanwhile another connection keeps receiving in
// order, and leaving the connections ends the pressure.
func TestTCPMemLimitsFloodAndServesOthers(t *testing.T) {
	var acct MemAccount
	cfg := memConfig()
	ring := cfg.Rmem[1]
	cfg.Mem = [3]int{ring / memPage * 2, ring / memPage * 4, ring / memPage * 8} // 8 rings
	l := NewLayer(cfg, &countOut{}, 0)
	l.SetMemAccount(&acct)
	conns := establishN(t, l, 41, false)
	served, flood := conns[0], conns[1:]
	highBytes := int64(cfg.Mem[2]) * memPage
	peak := int64(0)
	served0 := served.rcvNxt
	payload := bytes.Repeat([]byte{'x'}, 1000)
	for round := 0; round < 50; round++ {
		for _, c := range flood {
			s := oooByte(c, 2+2000*round)
			l.Input(l.now, &s)
			peak = max(peak, acct.Bytes())
		}
		s := Segment{Key: served.key, Seq: served.rcvNxt, Ack: served.sndNxt, Flags: ACK, Window: 1024, Payload: payload}
		s.Opts.HasTimestamp, s.Opts.TSVal, s.Opts.TSEcr = true, 2, served.tsOffset
		l.Input(l.now, &s)
	}
	st := l.Stats()
	t.Logf("tcp_mem high %d bytes: peak %d, TCPOFODrop %d, TCPMemoryPressures %d", highBytes, peak, st.TCPOFODrop.Load(), st.TCPMemoryPressures.Load())
	if peak > highBytes {
		t.Fatalf("memory in use reached %d bytes, tcp_mem[2] is %d", peak, highBytes)
	}
	if st.TCPOFODrop.Load() == 0 || st.TCPMemoryPressures.Load() != 1 || !acct.UnderPressure() {
		t.Fatalf("TCPOFODrop %d, TCPMemoryPressures %d, under pressure %v", st.TCPOFODrop.Load(), st.TCPMemoryPressures.Load(), acct.UnderPressure())
	}
	if got := int(served.rcvNxt.Sub(served0)); got != 50*1000 {
		t.Fatalf("the served connection received %d bytes, want 50000", got)
	}
	// Under pressure, new windows are clamped to 4 MSS.
	if w, _ := served.rcvWindow(); int(w) > int(served.rcvAdv.Sub(served.rcvNxt)) && int(w) > 4*int(served.rcvMSS) {
		t.Fatalf("window %d under pressure", w)
	}
	for _, c := range flood {
		c.Abort()
	}
	if acct.UnderPressure() || acct.Bytes() != 0 {
		t.Fatalf("after the flood ended: pressure %v, %d bytes", acct.UnderPressure(), acct.Bytes())
	}
}

// In-order data for a connection whose application does not read: the
// first segment is always taken (Linux forces memory for an empty
// receive queue), even above tcp_mem[2], in the pages it needs, and its
// ACK offers a zero window (Linux 6.18 tcp_data_queue: ICSK_ACK_NOMEM |
// ICSK_ACK_NOW; tcp_select_window records the zero window). The next
// segment crosses that window's edge while data waits to be read
// (BeyondWindow, Linux 6.17+'s tcp_sequence), and the duplicate ACK
// opens it again; the one after would need more memory and is dropped after the
// out-of-order queue was pruned (PruneCalled, RcvPruned, TCPRcvQDrop),
// its ACK again with a zero window.
func TestTCPMemInOrderForcedThenDropped(t *testing.T) {
	var acct MemAccount
	cfg := memConfig()
	cfg.Mem = [3]int{1, 1, 1}
	out := &windowOut{}
	l := NewLayer(cfg, out, 0)
	l.SetMemAccount(&acct)
	c := establishN(t, l, 1, false)[0]
	c.PauseRead()
	seg := func(seq seqnum.Value, n int) (win uint16) {
		sent := len(out.wins)
		s := Segment{Key: c.key, Seq: seq, Ack: c.sndNxt, Flags: ACK, Window: 1024, Payload: make([]byte, n)}
		s.Opts.HasTimestamp, s.Opts.TSVal, s.Opts.TSEcr = true, 2, c.tsOffset
		l.Input(l.now, &s)
		if len(out.wins) != sent+1 {
			t.Fatalf("%d ACKs for a segment of %d bytes at +%d", len(out.wins)-sent, n, seq-c.irs-1)
		}
		return out.wins[sent]
	}
	base := c.rcvNxt
	if w := seg(base, 8000); w != 0 || c.rcvAdv != c.rcvNxt {
		t.Fatalf("the forced segment's ACK offers %d, edge +%d", w, c.rcvAdv-c.rcvNxt)
	}
	if c.rcvNxt != base+8000 || c.rcvBuf.Len() != 8000 || rcvHeld(c) != 2*rcvChunk {
		t.Fatalf("first segment: RCV.NXT +%d, held %d in %d bytes of pages", c.rcvNxt-base, c.rcvBuf.Len(), rcvHeld(c))
	}
	st := l.Stats()
	if w := seg(base+8000, 1000); w == 0 || c.rcvNxt != base+8000 || st.BeyondWindow.Load() != 1 {
		t.Fatalf("into the zero window: ACK offers %d, RCV.NXT +%d, BeyondWindow %d", w, c.rcvNxt-base, st.BeyondWindow.Load())
	}
	if w := seg(base+8000, 1000); w != 0 || c.rcvNxt != base+8000 || st.TCPRcvQDrop.Load() != 1 || st.RcvPruned.Load() != 1 || st.PruneCalled.Load() != 1 {
		t.Fatalf("second segment: ACK offers %d, RCV.NXT +%d, TCPRcvQDrop %d, RcvPruned %d, PruneCalled %d",
			w, c.rcvNxt-base, st.TCPRcvQDrop.Load(), st.RcvPruned.Load(), st.PruneCalled.Load())
	}
	if st.TCPToZeroWindowAdv.Load() != 0 {
		t.Fatalf("TCPToZeroWindowAdv %d: Linux counts no NOMEM window", st.TCPToZeroWindowAdv.Load())
	}
	sent := len(out.wins)
	c.ResumeRead()
	if acct.Bytes() != 0 {
		t.Fatalf("%d bytes counted after the application read everything", acct.Bytes())
	}
	if n := len(out.wins); n != sent+1 || out.wins[n-1] == 0 {
		t.Fatalf("after the read: %d ACKs, the last offering %d", n-sent, out.wins[n-1])
	}
}

// windowOut records the window field of every segment sent.
type windowOut struct{ wins []uint16 }

func (o *windowOut) SendTCP(s *OutSegment) bool { o.wins = append(o.wins, s.Window); return true }

// Receive-buffer autotuning counts what the application consumed: a
// connection whose application does not read keeps tcp_rmem[1], one that
// reads grows.
func TestAutotuneCountsConsumed(t *testing.T) {
	for _, reads := range []bool{false, true} {
		h := establishedConn(t)
		h.c.rtt.sample(10*1e6, h.c.sndUna, h.c.sndNxt, minRTO)
		if !reads {
			h.c.PauseRead()
		}
		seq := peerISN + 1
		for i := 0; i < 160; i++ {
			h.send(ACK, seq, ourISN+1, withData(make([]byte, 1460)))
			seq += 1460
			if i%40 == 39 {
				h.advance(11 * 1e6)
			}
		}
		grew := h.c.rcvCap > h.l.cfg.Rmem[1]
		if grew != reads {
			t.Fatalf("application reads %v: receive buffer %d (tcp_rmem[1] %d)", reads, h.c.rcvCap, h.l.cfg.Rmem[1])
		}
	}
}

// Zero allocations per segment on the out-of-order path: a segment past
// a hole (held in the ring, ACKed with a SACK block) and the segment
// filling it (draining the queue, delivering, ACKing).
func TestNoAllocsOutOfOrder(t *testing.T) {
	l, out, c := allocConn(t)
	c.flags |= fSackOK
	payload := make([]byte, 1460)
	seq := peerISN + 1
	seg := Segment{Key: testKey, Ack: c.iss + 1, Flags: ACK, Window: 65535, Payload: payload}
	step := func() {
		seg.Seq = seq.Add(1460)
		l.Input(l.now, &seg)
		seg.Seq = seq.Add(2920)
		l.Input(l.now, &seg)
		seg.Seq = seq
		l.Input(l.now, &seg)
		seq = seq.Add(3 * 1460)
	}
	step()
	before := out.n
	allocs := testing.AllocsPerRun(1000, step)
	if allocs != 0 {
		t.Fatalf("%v allocations per out-of-order round", allocs)
	}
	if out.n-before < 3000 || c.rcvNxt != seq || l.Stats().TCPOFOQueue.Load() < 2000 {
		t.Fatalf("%d ACKs; RCV.NXT off by %d", out.n-before, seq-c.rcvNxt)
	}
}

// TCPOFOMerge counts an out-of-order segment that overlaps data already
// held (Linux tcp_data_queue_ofo): a duplicate of a held range and one
// overlapping it on both sides each count once; a segment that only
// touches held ranges (no overlap) does not. (Was the tcptest script
// ofo-sack-blocks' counter check; the SACK blocks themselves are
// conformance/scripts/ofo-sack-blocks.pkt.)
func TestOFOMergeCounted(t *testing.T) {
	h := establishedConn(t)
	una := ourISN + 1
	seg := func(from, to int) {
		h.send(ACK, peerISN+1+seqnum.Value(from), una, withData(make([]byte, to-from)))
	}
	merges := func(want uint64) {
		t.Helper()
		if got := h.l.Stats().TCPOFOMerge.Load(); got != want {
			t.Fatalf("TCPOFOMerge %d, want %d", got, want)
		}
	}
	seg(100, 200)
	seg(300, 400)
	seg(500, 600)
	seg(200, 300) // touches both neighbours, overlaps neither
	merges(0)
	seg(500, 600) // a duplicate of held data
	merges(1)
	seg(550, 750) // overlaps 500:600 and extends it
	merges(2)
	// Held: the four distinct segments and the one that extended a range.
	if got := h.l.Stats().TCPOFOQueue.Load(); got != 5 {
		t.Fatalf("TCPOFOQueue %d, want 5", got)
	}
}

// D-SACK counters (Linux tcp_dsack_set): a duplicate of held out-of-order
// data counts TCPDSACKOfoSent, an old duplicate below RCV.NXT
// TCPDSACKOldSent, each once per D-SACK block sent. (Was the tcptest
// script ofo-sack-blocks' counter check.)
func TestDSACKCounted(t *testing.T) {
	h := newHarness(t)
	h.listen()
	h.send(SYN, peerISN, 0, withMSS(1460), withSACKOK())
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.state(StateEstablished)
	una := ourISN + 1
	seg := func(from, to int) {
		h.send(ACK, peerISN+1+seqnum.Value(from), una, withData(make([]byte, to-from)))
	}
	sent := func(ofo, old uint64) {
		t.Helper()
		s := h.l.Stats()
		if s.TCPDSACKOfoSent.Load() != ofo || s.TCPDSACKOldSent.Load() != old {
			t.Fatalf("TCPDSACKOfoSent %d, TCPDSACKOldSent %d, want %d, %d",
				s.TCPDSACKOfoSent.Load(), s.TCPDSACKOldSent.Load(), ofo, old)
		}
	}
	seg(100, 200)
	sent(0, 0)
	seg(100, 200) // a duplicate of held data
	sent(1, 0)
	seg(0, 100) // fills the hole: 0..200 delivered
	sent(1, 0)
	seg(0, 100) // an old duplicate
	sent(1, 1)
}

// tcpi_bytes_received counts data that reached RCV.NXT out of order too,
// when the hole before it is filled (Linux tcp_rcv_nxt_update from
// tcp_ofo_queue).
func TestBytesReceivedCountsReassembled(t *testing.T) {
	h := sackEstablished(t)
	h.send(ACK, peerISN+1001, ourISN+1, withData(make([]byte, 1000)))
	h.send(ACK, peerISN+2001, ourISN+1, withData(make([]byte, 500)))
	if in := h.c.Info(); in.BytesReceived != 0 {
		t.Fatalf("%d bytes received before the hole was filled", in.BytesReceived)
	}
	h.send(ACK, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
	if in := h.c.Info(); in.BytesReceived != 2500 || h.c.rcvNxt != peerISN+2501 {
		t.Fatalf("bytes_received %d, RCV.NXT %d after the hole was filled; want 2500, %d", in.BytesReceived, h.c.rcvNxt, peerISN+2501)
	}
}

package tcp

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

var fuzzFixtures = []func(t *testing.T, opts ...cfgOpt) *harness{
	synReceivedConn, establishedConn, finWait1Conn, finWait2Conn, timeWaitConn,
	closeWaitConn, lastAckConn, closingConn, dialConn, ecnConn,
}

// fuzzCCs are the congestion controls a fuzzed connection runs: which
// picks the fixture (which mod 10; ecnConn: ECN agreed, so ECE counts)
// and then the controller.
var fuzzCCs = []string{"cubic", "bbr", "newreno"}

// checkInvariants asserts the sequence variables and buffers are sane.
func checkInvariants(t *testing.T, c *Conn) {
	t.Helper()
	if c == nil || c.flags&fGone != 0 {
		return
	}
	if c.sndNxt.LessThan(c.sndUna) || c.sndNxt.LessThan(c.sndNxt) {
		t.Fatalf("send sequence: una=%d nxt=%d max=%d", c.sndUna, c.sndNxt, c.sndNxt)
	}
	if c.rcvAdv.LessThan(c.rcvNxt) {
		t.Fatalf("receive window: nxt=%d adv=%d", c.rcvNxt, c.rcvAdv)
	}
	if int(c.rcvAdv.Sub(c.rcvNxt)) > 65535<<c.rcvShift {
		t.Fatalf("window %d too large", c.rcvAdv.Sub(c.rcvNxt))
	}
	if c.rcvBuf.Len() > c.rcvCap {
		t.Fatalf("receive buffer %d > %d", c.rcvBuf.Len(), c.rcvCap)
	}
	if c.userLocks&lockRcvBuf == 0 && c.rcvCap > max(c.layer.cfg.Rmem[1], c.layer.cfg.Rmem[2]) {
		t.Fatalf("receive buffer grew to %d past tcp_rmem[2] %d", c.rcvCap, c.layer.cfg.Rmem[2])
	}
	if c.userLocks&lockRcvBuf == 0 && c.rcvBuf.held() > c.rcvCap+2*rcvChunk {
		t.Fatalf("holds %d bytes in pages for a %d-byte buffer", c.rcvBuf.held(), c.rcvCap)
	}
	q := &c.rcvBuf
	for k, ch := range q.chunks {
		inOrder := k*rcvChunk < q.head+q.n && (k+1)*rcvChunk > q.head
		if (k+1)*rcvChunk <= q.head && ch != nil || inOrder && ch == nil {
			t.Fatalf("receive chunk %d held %v (head %d, %d bytes)", k, ch != nil, q.head, q.n)
		}
	}
	if c.sndBuf.Len()+c.sndBuf.room() > len(c.sndBuf.chunks)*c.layer.sndPool.size || c.sndBuf.Len() > c.layer.cfg.Wmem[2]+gsoMaxSize {
		t.Fatalf("send buffer %d", c.sndBuf.Len())
	}
	if c.oooRanges() > c.oooMaxRanges() || c.oooBytes() > c.rcvCap {
		t.Fatalf("ooo queue %d ranges %d bytes", c.oooRanges(), c.oooBytes())
	}
	if top := q.head + q.n + int(c.oooTop().Sub(c.rcvNxt)); top > len(q.chunks)*rcvChunk || len(q.chunks) > (top+rcvChunk-1)/rcvChunk {
		t.Fatalf("chunk list of %d for data up to %d", len(q.chunks), top)
	}
	if c.tq != nil {
		checkMarkIndex(t, c.tq)
	}
	if c.state.synchronized() && c.state != StateTimeWait {
		dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
		end := dataEnd
		if c.flags&fFinQueued != 0 {
			end++
		}
		if end.LessThan(c.sndNxt) {
			t.Fatalf("sent beyond the data: max=%d end=%d", c.sndNxt, end)
		}
		if c.sndUna.LessThan(c.sndBufSeq-1) || dataEnd.LessThan(c.sndUna) && c.flags&fFinQueued == 0 {
			t.Fatalf("send buffer start %d vs una %d", c.sndBufSeq, c.sndUna)
		}
	}
}

// FuzzSegments feeds segments to a connection in every state: no panic,
// sequence variables stay ordered and in window, buffers within bounds.
func FuzzSegments(f *testing.F) {
	f.Add(byte(1), []byte{0x10, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 10, 0})
	f.Add(byte(2), []byte{0x11, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0, 3})
	f.Add(byte(0), []byte{0x04, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(byte(8), []byte{0x12, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0, 0, 1})
	f.Add(byte(10), []byte{0x10, 0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0, 0xff, 0xff, 0, 0x22}) // BBR, established
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		cc := fuzzCCs[int(which)/len(fuzzFixtures)%len(fuzzCCs)]
		h := fuzzFixtures[int(which)%len(fuzzFixtures)](t, func(c *Config) { c.CongestionControl = cc })
		h.out.segs = nil
		payload := make([]byte, 3000)
		// A fixture's first Write gives the connection some data to send.
		if h.c != nil && data != nil && len(data)%2 == 0 {
			h.c.Write(payload[:len(data)*37%2500])
		}
		for len(data) >= 13 {
			flags := wire.TCPFlags(data[0])
			dseq := int32(binary.BigEndian.Uint32(data[1:]))
			dack := int32(binary.BigEndian.Uint32(data[5:]))
			win := binary.BigEndian.Uint16(data[9:])
			n := int(data[11]) * 12
			op := data[12]
			data = data[13:]
			seg := Segment{Key: h.key, Flags: flags, Window: win, Arrival: h.now}
			base, abase := peerISN, ourISN
			if h.c != nil {
				base, abase = h.c.rcvNxt, h.c.sndUna
			}
			seg.Seq = base + seqnum.Value(dseq%70000)
			seg.Ack = abase + seqnum.Value(dack%70000)
			seg.Payload = payload[:min(n, len(payload))]
			if op&1 != 0 {
				seg.Opts.HasMSS, seg.Opts.MSS = true, uint16(op)<<4
			}
			if op&2 != 0 {
				seg.Opts.HasTimestamp, seg.Opts.TSVal, seg.Opts.TSEcr = true, uint32(dseq), uint32(dack)
			}
			h.l.Input(h.now, &seg)
			checkInvariants(t, h.c)
			switch op >> 5 {
			case 1:
				h.advance(time.Duration(op) * 10 * time.Millisecond)
			case 2:
				if h.c != nil {
					h.c.Write(payload[:min(n, len(payload))])
				}
			case 3:
				if h.c != nil {
					h.c.Close()
				}
			case 4:
				h.advance(time.Duration(op) * time.Second)
			case 5:
				if h.c != nil {
					h.c.PauseRead()
				}
			case 6:
				if h.c != nil {
					h.c.ResumeRead()
				}
			case 7:
				// The application acts from inside its callbacks.
				switch op & 3 {
				case 0:
					h.rec.onData = func(c *Conn, p []byte) { c.Close() }
				case 1:
					h.rec.onData = func(c *Conn, p []byte) { c.Abort() }
				case 2:
					h.rec.onData = func(c *Conn, p []byte) { c.Write(p); c.CloseWrite() }
				case 3:
					h.rec.onData = func(c *Conn, p []byte) { c.PauseRead() }
				}
			}
			checkInvariants(t, h.c)
			h.out.segs = h.out.segs[:0]
		}
	})
}

package tcp

// The receiver against a rate-based sender (issue 12, measurement 1): a
// model of what BBR does through random loss, sending at its rate with
// about 300 segments in flight whatever is lost, and retransmitting only
// what our ACKs say is missing (RFC 6675 IsLost from the SACK
// scoreboard, RACK-style time ordering for lost retransmissions, RFC
// 8985). If the receiver drops out-of-order data, holds too little,
// advertises less than it can hold, or sends SACK blocks that do not
// describe what it holds, such a sender retransmits data that already
// arrived. The link drops data and ACKs at random (seeded); the bytes
// retransmitted must stay within 1.2 times the bytes the link dropped.

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// linkSeg is a segment on its way, due at at.
type linkSeg struct {
	at  clock.Time
	seg Segment
}

// ackLink collects what the receiving layer sends, dropping at random.
type ackLink struct {
	now   *clock.Time
	delay time.Duration
	rng   *rand.Rand
	drop  float64
	q     []linkSeg
}

func (a *ackLink) SendTCP(s *OutSegment) bool {
	if a.rng.Float64() < a.drop {
		return true
	}
	seg := Segment{Key: s.Key, Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Window, Opts: s.Opts}
	a.q = append(a.q, linkSeg{at: a.now.Add(a.delay), seg: seg})
	return true
}

// rateSeg is the model sender's state of one segment.
type rateSeg struct {
	sacked   bool
	lost     bool       // marked lost, not yet sent again
	sentAt   clock.Time // last transmission
	sends    int
	inFlight bool
}

// streamByte is the byte at stream offset off.
func streamByte(off int) byte { return byte(off*7 + off>>11) }

// checkHandler consumes data and checks every byte against streamByte.
type checkHandler struct {
	off int
	bad int
}

func (h *checkHandler) OnOpen(c *Conn) {}
func (h *checkHandler) OnData(c *Conn, p []byte) int {
	for i, b := range p {
		if b != streamByte(h.off+i) {
			h.bad++
		}
	}
	h.off += len(p)
	return len(p)
}
func (h *checkHandler) OnWritable(c *Conn)         {}
func (h *checkHandler) OnPeerClose(c *Conn)        {}
func (h *checkHandler) OnClose(c *Conn, err error) {}

type rateResult struct {
	droppedBytes, rtxBytes, segs int
	dur                          time.Duration
}

// rateTransfer moves total bytes from the model sender to a Layer over a
// link with one-way delay d that drops each data segment and each ACK
// with probability p.
func rateTransfer(t *testing.T, total int, p float64, seed uint64) rateResult {
	const (
		mss      = 1448
		inflight = 300
		d        = 5 * time.Millisecond
		step     = 10 * time.Microsecond
		gap      = 30 * time.Microsecond // 300 segments per 9 ms: a little over the path's BDP
	)
	var now clock.Time
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b9))
	out := &ackLink{now: &now, delay: d, rng: rng, drop: p}
	l := NewLayer(memConfig(), out, 0)
	l.SetMemAccount(new(MemAccount))
	app := &checkHandler{}
	var conn *Conn
	if _, err := l.Listen(ourAddr, ourPort, ListenOptions{NewHandler: func(c *Conn) Handler { conn = c; return app }}); err != nil {
		t.Fatal(err)
	}
	const iss = seqnum.Value(4_000_000_000) // the stream wraps 2^32
	syn := Segment{Key: testKey, Seq: iss, Flags: SYN, Window: 65535}
	syn.Opts.HasMSS, syn.Opts.MSS = true, mss
	syn.Opts.HasWScale, syn.Opts.WScale = true, 7
	syn.Opts.SACKPermitted = true
	l.Input(now, &syn)
	if len(out.q) == 0 {
		out.rng = rand.New(rand.NewPCG(1, 1)) // (the SYN-ACK may not be dropped)
	}
	c := l.conns.Get(testKey)
	if c == nil {
		t.Fatal("no SYN-RECEIVED connection")
	}
	out.q = out.q[:0]
	now = now.Add(2 * d)
	ack := Segment{Key: testKey, Seq: iss + 1, Ack: c.iss + 1, Flags: ACK, Window: 65535, Arrival: now}
	l.Input(now, &ack)
	if conn == nil || conn.State() != StateEstablished {
		t.Fatal("not established")
	}
	c.rtt.sample(2*d, c.sndUna, c.sndNxt, minRTO)

	nseg := (total + mss - 1) / mss
	segs := make([]rateSeg, nseg)
	segLen := func(i int) int { return min(mss, total-i*mss) }
	var (
		dataQ              []linkSeg
		una, next          int // first segment not cumulatively acked; next new segment
		rwnd               = 65535
		rackSent           clock.Time // send time of the latest segment known delivered
		lastSend, progress clock.Time
		res                rateResult
	)
	payload := make([]byte, mss)
	send := func(i int) {
		s := &segs[i]
		if s.sends > 0 {
			res.rtxBytes += segLen(i)
		}
		s.sends++
		s.sentAt, s.lost, s.inFlight = now, false, true
		lastSend = now
		n := segLen(i)
		for k := 0; k < n; k++ {
			payload[k] = streamByte(i*mss + k)
		}
		res.segs++
		if rng.Float64() < p {
			res.droppedBytes += n
			return
		}
		seg := Segment{Key: testKey, Seq: iss + 1 + seqnum.Value(i*mss), Ack: c.iss + 1, Flags: ACK, Window: 65535,
			Payload: append([]byte(nil), payload[:n]...)}
		dataQ = append(dataQ, linkSeg{at: now.Add(d), seg: seg})
	}
	pipe := func() int {
		n := 0
		for i := una; i < next; i++ {
			if segs[i].inFlight {
				n++
			}
		}
		return n
	}
	delivered := func(i int) {
		s := &segs[i]
		if s.sends == 1 && s.sentAt > rackSent {
			rackSent = s.sentAt // RACK: only unambiguous samples
		}
		s.inFlight, s.lost = false, false
	}
	onAck := func(a *Segment) {
		ackSeg := int(a.Ack.Sub(iss+1)) / mss
		if int(a.Ack.Sub(iss+1)) >= total {
			ackSeg = nseg
		}
		if ackSeg > una {
			for i := una; i < ackSeg; i++ {
				delivered(i)
			}
			una = ackSeg
			progress = now
		}
		rwnd = int(a.Window) << 7
		for k := 0; k < a.Opts.NumSACK; k++ {
			lo := int(seqnum.Value(a.Opts.SACK[k].Left).Sub(iss + 1))
			hi := int(seqnum.Value(a.Opts.SACK[k].Right).Sub(iss + 1))
			if lo < una*mss || hi > total || lo >= hi {
				continue // D-SACK below SND.UNA, or nonsense
			}
			for i := (lo + mss - 1) / mss; i*mss < hi && i < nseg; i++ {
				if (i+1)*mss <= hi || (i+1)*mss > total && hi == total {
					if !segs[i].sacked {
						segs[i].sacked = true
						delivered(i)
						progress = now
					}
				}
			}
		}
		// Loss detection: RFC 6675 IsLost (3 segments SACKed above) for
		// a first transmission; RACK time order (a segment sent after it
		// was delivered, 1 ms reordering window) for any transmission.
		above := 0
		for i := next - 1; i >= una; i-- {
			s := &segs[i]
			if s.sacked {
				above++
				continue
			}
			if !s.inFlight {
				continue
			}
			if (s.sends == 1 && above >= 3) || s.sentAt.Add(time.Millisecond) < rackSent {
				s.lost, s.inFlight = true, false
			}
		}
	}
	start := now
	deadline := now.Add(60 * time.Second)
	for una < nseg {
		if now > deadline {
			t.Fatalf("loss %.0f%%: stuck at segment %d of %d (next %d, pipe %d, rwnd %d)", p*100, una, nseg, next, pipe(), rwnd)
		}
		now = now.Add(step)
		for len(dataQ) > 0 && dataQ[0].at <= now {
			s := dataQ[0].seg
			dataQ = dataQ[1:]
			s.Arrival = now
			l.Input(now, &s)
		}
		l.Advance(now)
		for len(out.q) > 0 && out.q[0].at <= now {
			a := out.q[0].seg
			out.q = out.q[1:]
			if a.Flags&wire.FlagACK != 0 {
				onAck(&a)
			}
		}
		// A tail with nothing after it to SACK: after 4 RTTs without
		// progress, the lowest segment not SACKed is sent again.
		if now.Sub(progress) > 8*d && now.Sub(lastSend) > 8*d {
			for i := una; i < next; i++ {
				if !segs[i].sacked {
					segs[i].lost, segs[i].inFlight = true, false
					break
				}
			}
		}
		if now.Sub(lastSend) < gap {
			continue
		}
		sent := false
		for i := una; i < next && !sent; i++ {
			if segs[i].lost {
				send(i)
				sent = true
			}
		}
		if !sent && next < nseg && pipe() < inflight && (next+1)*mss <= una*mss+rwnd {
			send(next)
			next++
		}
	}
	res.dur = time.Duration(now - start)
	if app.off != total || app.bad != 0 {
		t.Fatalf("received %d of %d bytes, %d wrong", app.off, total, app.bad)
	}
	return res
}

func TestRateSenderRetransmitsOnlyWhatWasLost(t *testing.T) {
	total := 8 << 20
	if testing.Short() {
		total = 2 << 20
	}
	for _, p := range []float64{0.01, 0.05} {
		for seed := uint64(1); seed <= 2; seed++ {
			r := rateTransfer(t, total, p, seed)
			ratio := float64(r.rtxBytes) / float64(max(r.droppedBytes, 1))
			t.Logf("loss %.0f%% seed %d: %d MiB in %v (fake), %d segments, dropped %d bytes, retransmitted %d bytes (%.2fx)",
				p*100, seed, total>>20, r.dur.Round(time.Millisecond), r.segs, r.droppedBytes, r.rtxBytes, ratio)
			if float64(r.rtxBytes) > 1.2*float64(r.droppedBytes) {
				t.Errorf("loss %.0f%% seed %d: retransmitted %d bytes for %d dropped (%.2fx > 1.2x)", p*100, seed, r.rtxBytes, r.droppedBytes, ratio)
			}
		}
	}
}

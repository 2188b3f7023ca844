package impair

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

const testFrameSize = 128

// numbered returns an IPv4 frame whose payload starts with id.
func numbered(id uint32) []byte {
	f := ipv4Frame(8, 0)
	binary.BigEndian.PutUint32(f[34:], id)
	return f
}

func frameID(f []byte) uint32 { return binary.BigEndian.Uint32(f[34:]) }

type popped struct {
	id  uint32
	at  clock.Time
	len int
}

// drain pops everything due at now.
func drain(p *Pipe, now clock.Time) []popped {
	var out []popped
	var buf [8]Frame
	for {
		n := p.Pop(now, buf[:])
		for _, f := range buf[:n] {
			out = append(out, popped{frameID(f.Data), now, len(f.Data)})
			p.Release(f.Slot)
		}
		if n < len(buf) {
			return out
		}
	}
}

// TestPipeReleasesInTimeOrderNeverEarly drives a pipe with a fake clock
// and checks every frame against the delay its twin decider (same seed)
// drew: never before ingest+delay, at the first Pop at or after it, and in
// order of due time.
func TestPipeReleasesInTimeOrderNeverEarly(t *testing.T) {
	im := Impairment{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, JitterReorder: true}
	p := NewPipe(NewDecider(im, 99, 1), 4096, testFrameSize, false)
	twin := NewDecider(im, 99, 1)
	var clk clock.Fake
	r := rand.New(rand.NewPCG(5, 5))
	due := map[uint32]clock.Time{}
	var out []popped
	const step = 100 * time.Microsecond
	id := uint32(0)
	for range 20000 {
		// A random burst of frames, then time moves by one step.
		for range r.IntN(3) {
			due[id] = clk.Now().Add(twin.Decide().Delay)
			p.Ingest(clk.Now(), numbered(id))
			id++
		}
		if next, ok := p.Next(); ok && next < clk.Now() {
			t.Fatalf("Next %d is in the past at %d after draining", next, clk.Now())
		}
		clk.Advance(step)
		out = append(out, drain(p, clk.Now())...)
	}
	clk.Advance(time.Second)
	out = append(out, drain(p, clk.Now())...)
	if len(out) != int(id) {
		t.Fatalf("popped %d of %d frames", len(out), id)
	}
	var last clock.Time
	for i, f := range out[:len(out)-200] { // the tail left at the final jump
		d := due[f.id]
		if f.at < d {
			t.Fatalf("frame %d left at %d, %v early", f.id, f.at, d.Sub(f.at))
		}
		if f.at.Sub(d) >= step {
			t.Fatalf("frame %d left %v after it was due", f.id, f.at.Sub(d))
		}
		if d < last {
			t.Fatalf("frame %d (#%d) due %d left after a frame due %d", f.id, i, d, last)
		}
		last = d
	}
	st := p.Stats()
	if st.OutOfOrder == 0 {
		t.Error("jitter with JitterReorder reordered nothing")
	}
	if st.InFrames != uint64(id) || st.OutFrames != uint64(id) || st.Delayed != uint64(id) || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestPipeJitterKeepsOrder: without JitterReorder, jitter delays but never
// reorders.
func TestPipeJitterKeepsOrder(t *testing.T) {
	im := Impairment{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond}
	p := NewPipe(NewDecider(im, 1, 1), 1000, testFrameSize, false)
	var clk clock.Fake
	var out []popped
	for id := range uint32(5000) {
		p.Ingest(clk.Now(), numbered(id))
		clk.Advance(50 * time.Microsecond)
		out = append(out, drain(p, clk.Now())...)
	}
	clk.Advance(time.Second)
	out = append(out, drain(p, clk.Now())...)
	for i, f := range out {
		if f.id != uint32(i) {
			t.Fatalf("position %d holds frame %d", i, f.id)
		}
	}
	if st := p.Stats(); st.OutOfOrder != 0 || st.OutFrames != 5000 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPipeReorderHeldFrames: a held frame leaves right after the next gap
// frames that are not held themselves; held frames with nothing after them
// leave at their due time plus ReorderTimeout.
func TestPipeReorderHeldFrames(t *testing.T) {
	for _, gap := range []int{1, 3} {
		im := Impairment{Reorder: 0.3, ReorderGap: gap, ReorderTimeout: 7 * time.Millisecond}
		p := NewPipe(NewDecider(im, 2024, 1), 1000, testFrameSize, false)
		twin := NewDecider(im, 2024, 1)
		const n = 500
		// Expected order: replay the twin's hold decisions.
		type heldF struct {
			id   uint32
			left int
		}
		var want []uint32
		var held []heldF
		for id := range uint32(n) {
			p.Ingest(0, numbered(id))
			if twin.Decide().Hold {
				held = append(held, heldF{id, gap})
				continue
			}
			want = append(want, id)
			keep := held[:0]
			for _, h := range held {
				if h.left--; h.left == 0 {
					want = append(want, h.id)
				} else {
					keep = append(keep, h)
				}
			}
			held = keep
		}
		got := drain(p, 0)
		if len(got) != len(want) {
			t.Fatalf("gap %d: %d frames left at once, want %d", gap, len(got), len(want))
		}
		for i := range got {
			if got[i].id != want[i] {
				t.Fatalf("gap %d: position %d holds frame %d, want %d", gap, i, got[i].id, want[i])
			}
		}
		// The frames still held leave at the timeout, not before.
		if len(held) > 0 {
			if next, ok := p.Next(); !ok || next != clock.Time(7*time.Millisecond) {
				t.Fatalf("gap %d: Next = %d, %v; want the 7ms timeout", gap, next, ok)
			}
			if early := drain(p, clock.Time(7*time.Millisecond-1)); len(early) != 0 {
				t.Fatalf("gap %d: %d held frames left before the timeout", gap, len(early))
			}
			if late := drain(p, clock.Time(7*time.Millisecond)); len(late) != len(held) {
				t.Fatalf("gap %d: %d held frames left at the timeout, want %d", gap, len(late), len(held))
			}
		}
		st := p.Stats()
		if st.Reordered == 0 || st.OutFrames != n || st.OutOfOrder == 0 {
			t.Fatalf("gap %d: stats %+v", gap, st)
		}
	}
}

func TestPipeOverflowAndReuse(t *testing.T) {
	p := NewPipe(NewDecider(Impairment{Delay: time.Millisecond}, 1, 1), 4, testFrameSize, false)
	for id := range uint32(10) {
		p.Ingest(0, numbered(id))
	}
	if st := p.Stats(); st.Overflow != 6 || st.Queued != 4 {
		t.Fatalf("stats %+v, want 6 overflows and 4 queued", st)
	}
	if got := drain(p, clock.Time(time.Millisecond)); len(got) != 4 || got[3].id != 3 {
		t.Fatalf("popped %+v", got)
	}
	for id := range uint32(4) {
		p.Ingest(clock.Time(time.Millisecond), numbered(100+id))
	}
	if got := drain(p, clock.Time(2*time.Millisecond)); len(got) != 4 || got[0].id != 100 {
		t.Fatalf("after reuse popped %+v", got)
	}
}

func TestPipeOversizeAndRunt(t *testing.T) {
	p := NewPipe(NewDecider(Impairment{}, 1, 1), 4, testFrameSize, false)
	p.Ingest(0, make([]byte, testFrameSize+1))
	p.Ingest(0, make([]byte, 13))
	if st := p.Stats(); st.Oversize != 1 || st.Runt != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPipeRateLimit(t *testing.T) {
	// 8 Mbit/s is one byte per microsecond: a 100-byte frame takes 100us.
	p := NewPipe(NewDecider(Impairment{Rate: 8e6}, 1, 1), 100, testFrameSize, false)
	f := ipv4Frame(100-34, 0)
	for range 10 {
		p.Ingest(0, f)
	}
	var buf [16]Frame
	for i := range 10 {
		at := clock.Time(i * 100 * int(time.Microsecond))
		if next, ok := p.Next(); !ok || next != at {
			t.Fatalf("frame %d: Next = %d, %v; want %d", i, next, ok, at)
		}
		if at > 0 && p.Pop(at-1, buf[:]) != 0 {
			t.Fatalf("frame %d left before the link was free", i)
		}
		if n := p.Pop(at, buf[:]); n != 1 {
			t.Fatalf("frame %d: Pop at %d gave %d frames, want 1", i, at, n)
		}
		p.Release(buf[0].Slot)
	}
}

// The policer passes a full bucket's burst at once, then what its rate
// earns, and drops the rest (Policed) without queueing it.
func TestPipePolicer(t *testing.T) {
	// 8 Mbit/s earns one byte per microsecond; the bucket holds 300.
	p := NewPipe(NewDecider(Impairment{Police: 8e6, PoliceBurst: 300}, 1, 1), 100, testFrameSize, false)
	f := ipv4Frame(100-34, 0) // 100 bytes
	for range 5 {
		p.Ingest(0, f)
	}
	if st := p.Stats(); st.Policed != 2 || len(drain(p, 0)) != 3 {
		t.Fatalf("burst: %+v", st)
	}
	p.Ingest(clock.Time(99*time.Microsecond), f) // 99 bytes earned
	p.Ingest(clock.Time(100*time.Microsecond), f)
	if st := p.Stats(); st.Policed != 3 || len(drain(p, clock.Time(100*time.Microsecond))) != 1 {
		t.Fatalf("after 100us: %+v", st)
	}
	p.Ingest(clock.Time(time.Hour), f) // a long idle spell refills to the burst only
	p.Ingest(clock.Time(time.Hour), f)
	p.Ingest(clock.Time(time.Hour), f)
	p.Ingest(clock.Time(time.Hour), f)
	if st := p.Stats(); st.Policed != 4 {
		t.Fatalf("after an hour: %+v", st)
	}
}

func TestPipeNonIPv4Passthrough(t *testing.T) {
	arp := make([]byte, 60)
	arp[12], arp[13] = 0x08, 0x06
	im := Impairment{Loss: 1, Delay: time.Second}
	p := NewPipe(NewDecider(im, 1, 1), 10, testFrameSize, false)
	p.Ingest(0, arp)
	var buf [2]Frame
	if n := p.Pop(0, buf[:]); n != 1 || len(buf[0].Data) != 60 {
		t.Fatalf("ARP not forwarded at once: %d", n)
	}
	if st := p.Stats(); st.Passthrough != 1 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	all := NewPipe(NewDecider(im, 1, 1), 10, testFrameSize, true)
	all.Ingest(0, arp)
	if st := all.Stats(); st.Lost != 1 || st.Passthrough != 0 {
		t.Fatalf("ImpairAll: stats %+v", st)
	}
	// IPv6: neighbour discovery passes as ARP does; TCP and other ICMPv6
	// (an echo request, type 128) are impaired.
	v6 := NewPipe(NewDecider(im, 1, 1), 10, testFrameSize, false)
	na := ipv6Frame(protoICMPv6, 24, 0)
	v6.Ingest(0, na)
	if n := v6.Pop(0, buf[:]); n != 1 || string(buf[0].Data) != string(na) {
		t.Fatalf("neighbour advertisement not forwarded at once: %d", n)
	}
	v6.Release(buf[0].Slot)
	echo := ipv6Frame(protoICMPv6, 24, 0)
	echo[ethHeaderLen+ipv6Header] = 128
	v6.Ingest(0, echo)
	v6.Ingest(0, ipv6Frame(6, 20, 0))
	if st := v6.Stats(); st.Passthrough != 1 || st.Lost != 2 {
		t.Fatalf("IPv6: stats %+v", st)
	}
}

func TestPipeDuplicateAndCorrupt(t *testing.T) {
	p := NewPipe(NewDecider(Impairment{Dup: 1, Corrupt: 1}, 1, 1), 10, testFrameSize, false)
	f := numbered(77)
	p.Ingest(0, f)
	var buf [4]Frame
	n := p.Pop(0, buf[:])
	if n != 2 {
		t.Fatalf("%d frames, want the original and its copy", n)
	}
	diff := 0
	for i := range f {
		if buf[0].Data[i] != f[i] {
			diff++
		}
		if buf[1].Data[i] != f[i] {
			t.Fatal("the duplicate is corrupted; it should be a clean copy")
		}
	}
	if diff != 1 {
		t.Fatalf("original differs in %d bytes, want 1", diff)
	}
	if st := p.Stats(); st.Duplicated != 1 || st.Corrupted != 1 || st.OutFrames != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPipeNoAllocs: the per-frame path (Ingest, Next, Pop, Release)
// allocates nothing in steady state.
func TestPipeNoAllocs(t *testing.T) {
	im := Impairment{Loss: 0.02, Dup: 0.01, Corrupt: 0.01, Reorder: 0.25, Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}
	p := NewPipe(NewDecider(im, 1, 1), 1000, testFrameSize, false)
	f := numbered(1)
	var buf [8]Frame
	now := clock.Time(0)
	allocs := testing.AllocsPerRun(10000, func() {
		p.Ingest(now, f)
		now = now.Add(100 * time.Microsecond)
		p.Next()
		n := p.Pop(now, buf[:])
		for _, fr := range buf[:n] {
			p.Release(fr.Slot)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}

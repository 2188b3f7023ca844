package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

var isnKey = flowtable.Key{
	LocalAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), RemoteAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 2}),
	LocalPort: 8080, RemotePort: 40000,
}

func TestISNDiffersPerTuple(t *testing.T) {
	g := NewISNGeneratorSecret(1, 2)
	const now = clock.Time(123456789)
	base := g.ISN(now, isnKey)
	variants := []flowtable.Key{isnKey, isnKey, isnKey, isnKey, isnKey}
	variants[0].LocalAddr[3] = 3
	variants[1].RemoteAddr[3] = 3
	variants[2].LocalPort = 8081
	variants[3].RemotePort = 40001
	// Swapping the ends is another tuple.
	variants[4] = flowtable.Key{LocalAddr: isnKey.RemoteAddr, RemoteAddr: isnKey.LocalAddr, LocalPort: isnKey.RemotePort, RemotePort: isnKey.LocalPort}
	seen := map[seqnum.Value]int{base: -1}
	for i, k := range variants {
		v := g.ISN(now, k)
		if j, dup := seen[v]; dup {
			t.Errorf("variant %d has the same ISN as %d: %d", i, j, v)
		}
		seen[v] = i
	}
	if g.ISN(now, isnKey) != base {
		t.Error("ISN not deterministic")
	}
}

func TestISNMonotoneIn4usTicks(t *testing.T) {
	g := NewISNGeneratorSecret(7, 9)
	t0 := clock.Time(1_000_000_000)
	base := g.ISN(t0, isnKey)
	if g.ISN(t0+ISNTick-1, isnKey) != base {
		t.Error("ISN moved within one 4 µs tick")
	}
	for _, d := range []int64{1, 2, 250_000, 1_000_000_000} { // ticks
		v := g.ISN(t0+clock.Time(d*ISNTick), isnKey)
		if v.Sub(base) != seqnum.Size(d) {
			t.Errorf("after %d ticks ISN moved by %d", d, v.Sub(base))
		}
	}
	// One second is 250000 ticks.
	prev := base
	for i := 1; i <= 100; i++ {
		v := g.ISN(t0+clock.Time(i)*1_000_000, isnKey) // every ms
		if !v.GreaterThan(prev) {
			t.Fatalf("ISN not increasing at %d ms: %d then %d", i, prev, v)
		}
		prev = v
	}
}

func TestISNDiffersPerSecret(t *testing.T) {
	a := NewISNGeneratorSecret(1, 2).ISN(0, isnKey)
	b := NewISNGeneratorSecret(1, 3).ISN(0, isnKey)
	c := NewISNGeneratorSecret(2, 2).ISN(0, isnKey)
	if a == b || a == c || b == c {
		t.Errorf("same ISN under different secrets: %d %d %d", a, b, c)
	}
	g1, err := NewISNGenerator()
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := NewISNGenerator()
	if g1.ISN(0, isnKey) == g2.ISN(0, isnKey) && g1.ISN(0, variantsKey()) == g2.ISN(0, variantsKey()) {
		t.Error("two random secrets give the same ISNs")
	}
}

func variantsKey() flowtable.Key { k := isnKey; k.RemotePort++; return k }

func TestISNNoAllocs(t *testing.T) {
	g := NewISNGeneratorSecret(1, 2)
	var sink seqnum.Value
	if n := testing.AllocsPerRun(1000, func() { sink += g.ISN(5, isnKey) }); n != 0 {
		t.Errorf("ISN allocates %v per call", n)
	}
	_ = sink
}

func BenchmarkISN(b *testing.B) {
	g := NewISNGeneratorSecret(1, 2)
	var sink seqnum.Value
	for i := 0; b.Loop(); i++ {
		sink += g.ISN(clock.Time(i), isnKey)
	}
	_ = sink
}

// The base places the caller's clock on the host's: M counts from the
// host clock's zero (hostclock.go).
func TestISNBase(t *testing.T) {
	g := &ISNGenerator{k0: 1, k1: 2, base: clock.Time(10 * ISNTick)}
	if g.ISN(5*ISNTick, isnKey) != NewISNGeneratorSecret(1, 2).ISN(15*ISNTick, isnKey) {
		t.Fatal("base not added to the clock")
	}
}

package flowtable

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// keyN returns a distinct key for every n below 2^32, all inside
// 198.18.0.0/15.
func keyN(n uint32) Key {
	return Key{
		LocalAddr:  AddrFrom4([4]byte{198, 18, 0, 1}),
		RemoteAddr: AddrFrom4([4]byte{198, 19, byte(n >> 24), byte(n >> 16)}),
		LocalPort:  80,
		RemotePort: uint16(n),
	}
}

// Test values: a table of ints or uint32s holds n under keyN(n); a table of
// Keys holds each key under itself.
func intKey(v *int) Key    { return keyN(uint32(*v)) }
func u32Key(v *uint32) Key { return keyN(*v) }
func selfKey(k *Key) Key   { return *k }
func kp(k Key) *Key        { return &k }
func intVals(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = i
	}
	return v
}

func TestAddr(t *testing.T) {
	a := AddrFrom4([4]byte{198, 18, 0, 1})
	if !a.Is4() || a.As4() != [4]byte{198, 18, 0, 1} || a.String() != "198.18.0.1" || a.Netip() != netip.MustParseAddr("198.18.0.1") {
		t.Fatalf("IPv4-mapped: %v", a)
	}
	b := AddrFromNetip(netip.MustParseAddr("2001:2::1"))
	if b.Is4() || b.String() != "2001:2::1" || b.IsZero() || !(Addr{}).IsZero() {
		t.Fatalf("IPv6: %v", b)
	}
	if AddrFromNetip(netip.MustParseAddr("198.18.0.1")) != a {
		t.Fatal("netip IPv4 is not mapped")
	}
	k := Key{LocalAddr: b, RemoteAddr: AddrFromNetip(netip.MustParseAddr("2001:2::2")), LocalPort: 80, RemotePort: 40000}
	if k.String() != "[2001:2::1]:80-[2001:2::2]:40000" || k.Is4() {
		t.Fatal(k.String())
	}
	if keyN(0).String() != "198.18.0.1:80-198.19.0.0:0" || !keyN(0).Is4() {
		t.Fatal(keyN(0).String())
	}
}

func TestHashSeededPerTable(t *testing.T) {
	a, b := New[int](10, intKey), New[int](10, intKey)
	k := keyN(7)
	if a.Hash(k) != a.Hash(k) {
		t.Fatal("Hash is not stable")
	}
	if a.Hash(k) == b.Hash(k) && a.Hash(keyN(8)) == b.Hash(keyN(8)) {
		t.Fatal("two tables hash identically: seed not random")
	}
}

func TestSip13Vector(t *testing.T) {
	// SipHash-1-3 of the 36 bytes 00 01 .. 23 with key 00 01 .. 0f, as
	// computed by the generic algorithm (c=1, d=3) below.
	s := seed{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	msg := make([]byte, 36)
	for i := range msg {
		msg[i] = byte(i)
	}
	want := genericSip(s, 1, 3, msg)
	var k Key
	copy(k.LocalAddr[:], msg[0:16])
	copy(k.RemoteAddr[:], msg[16:32])
	// The ports are LocalPort<<16|RemotePort as a little-endian word:
	// bytes 32,33 are RemotePort's low and high byte, 34,35 LocalPort's.
	k.RemotePort = uint16(msg[33])<<8 | uint16(msg[32])
	k.LocalPort = uint16(msg[35])<<8 | uint16(msg[34])
	if got := s.sip13(&k); got != want {
		t.Fatalf("sip13 = %#x, generic = %#x", got, want)
	}
	// SipHash-2-4 reference vector from the paper's appendix A (15-byte
	// message 00..0e with key 00..0f): checks genericSip itself.
	msg15 := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	if got := genericSip(s, 2, 4, msg15); got != 0xa129ca6149be45e5 {
		t.Fatalf("generic SipHash-2-4 = %#x, want 0xa129ca6149be45e5", got)
	}
}

// genericSip is SipHash-c-d over any message, written straight from the
// paper, to check the specialised sip13.
func genericSip(s seed, c, d int, msg []byte) uint64 {
	v0 := s.k0 ^ 0x736f6d6570736575
	v1 := s.k1 ^ 0x646f72616e646f6d
	v2 := s.k0 ^ 0x6c7967656e657261
	v3 := s.k1 ^ 0x7465646279746573
	le := func(b []byte) uint64 {
		var x uint64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		return x
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := le(msg[:8])
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
		msg = msg[8:]
	}
	m := le(msg) | uint64(n)<<56
	v3 ^= m
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= m
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// TestModel runs random insert/delete/get sequences against a map.
func TestModel(t *testing.T) {
	for _, tc := range []struct {
		max, keys, ops int
	}{
		{1, 4, 2000},
		{10, 30, 20000},
		{100, 150, 50000},
		{1000, 1200, 200000},
		{5000, 100000, 200000},
	} {
		r := rand.New(rand.NewPCG(uint64(tc.max), 99))
		tab := New[int](tc.max, intKey)
		model := map[Key]*int{}
		vals := intVals(tc.keys)
		for op := range tc.ops {
			n := r.IntN(tc.keys)
			k := keyN(uint32(n))
			switch r.IntN(3) {
			case 0:
				_, present := model[k]
				want := !present && len(model) < tc.max
				if got := tab.Insert(k, &vals[n]); got != want {
					t.Fatalf("max %d op %d: Insert(%v) = %v, want %v", tc.max, op, k, got, want)
				}
				if want {
					model[k] = &vals[n]
				}
			case 1:
				_, present := model[k]
				if got := tab.Delete(k); got != present {
					t.Fatalf("max %d op %d: Delete(%v) = %v, want %v", tc.max, op, k, got, present)
				}
				delete(model, k)
			case 2:
				if got := tab.Get(k); got != model[k] {
					t.Fatalf("max %d op %d: Get(%v) = %p, want %p", tc.max, op, k, got, model[k])
				}
			}
			if tab.Len() != len(model) {
				t.Fatalf("max %d op %d: Len = %d, want %d", tc.max, op, tab.Len(), len(model))
			}
		}
		for k, v := range model {
			if tab.Get(k) != v {
				t.Fatalf("max %d: final Get(%v) wrong", tc.max, k)
			}
		}
		a := tab.arr.Load()
		if a.used*4 > len(a.slots)*3 || a.used < tab.Len()+a.tombs-0 {
			t.Fatalf("max %d: used %d tombs %d live %d slots %d", tc.max, a.used, a.tombs, tab.Len(), len(a.slots))
		}
		if got := tab.slots(); got > 2*minSlots && got > 4*(tc.max+1) {
			t.Fatalf("max %d: %d slots, more than a table of max entries needs", tc.max, got)
		}
	}
}

func TestFull(t *testing.T) {
	const max = 100
	tab := New[Key](max, selfKey)
	for i := range uint32(max) {
		if !tab.Insert(keyN(i), kp(keyN(i))) {
			t.Fatalf("Insert %d refused below max", i)
		}
	}
	if tab.Insert(keyN(max), kp(keyN(max))) {
		t.Fatal("Insert accepted over max")
	}
	if tab.Len() != max || tab.Max() != max {
		t.Fatalf("Len %d Max %d", tab.Len(), tab.Max())
	}
	if tab.Get(keyN(max)) != nil {
		t.Fatal("refused key is present")
	}
	if tab.Insert(keyN(0), kp(keyN(0))) {
		t.Fatal("duplicate accepted")
	}
	if !tab.Delete(keyN(3)) || tab.Delete(keyN(3)) {
		t.Fatal("Delete result wrong")
	}
	if !tab.Insert(keyN(max), kp(keyN(max))) {
		t.Fatal("Insert refused after a Delete made room")
	}
	// Churn at the bound: the array does not grow past what max needs.
	for i := range uint32(100000) {
		if !tab.Delete(keyN(max + i)) {
			t.Fatalf("churn %d: Delete failed", i)
		}
		if !tab.Insert(keyN(max+i+1), kp(keyN(max+i+1))) {
			t.Fatalf("churn %d: Insert failed", i)
		}
	}
	if s := tab.slots(); s > 256 {
		t.Fatalf("%d slots for %d entries", s, max)
	}
	if New[Key](0, selfKey).Insert(keyN(1), kp(keyN(1))) || New[Key](-1, selfKey).Insert(keyN(1), kp(keyN(1))) {
		t.Fatal("a table with max < 1 accepted an entry")
	}
	if tab.Insert(keyN(1<<20), nil) {
		t.Fatal("nil value accepted")
	}
}

func TestRange(t *testing.T) {
	tab := New[uint32](1000, u32Key)
	vals := make([]uint32, 1000)
	for i := range vals {
		vals[i] = uint32(i)
		tab.Insert(keyN(uint32(i)), &vals[i])
	}
	for i := 0; i < 1000; i += 2 {
		tab.Delete(keyN(uint32(i)))
	}
	seen := map[Key]bool{}
	tab.Range(func(k Key, v *uint32) bool {
		if seen[k] {
			t.Fatalf("%v seen twice", k)
		}
		seen[k] = true
		if k != keyN(*v) || *v%2 == 0 {
			t.Fatalf("Range gave %v → %d", k, *v)
		}
		return true
	})
	if len(seen) != 500 {
		t.Fatalf("Range saw %d entries, want 500", len(seen))
	}
	n := 0
	tab.Range(func(Key, *uint32) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("Range did not stop: %d calls", n)
	}
}

// TestConcurrentReaders runs readers on other goroutines while the owner
// inserts, deletes and grows. Stable keys (inserted first, never deleted)
// must always be found with their own value; churned keys, when found, must
// carry their own value. Run with -race.
func TestConcurrentReaders(t *testing.T) {
	for _, c := range []struct{ stable, churn, rounds int }{
		{2000, 20000, 20},
		{12, 40, 2000}, // a tiny table: long chains, tombstones reused and reclaimed constantly
	} {
		testConcurrentReaders(t, c.stable, c.churn, c.rounds)
	}
}

func testConcurrentReaders(t *testing.T, stable, churn, rounds int) {
	tab := New[uint32](stable+churn, u32Key)
	vals := make([]uint32, stable+churn)
	for i := range vals {
		vals[i] = uint32(i)
	}
	for i := range uint32(stable) {
		tab.Insert(keyN(i), &vals[i])
	}
	errs := make(chan string, 4)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			n := 0
			for !stop.Load() {
				i := uint32(r.IntN(stable + churn))
				v := tab.Get(keyN(i))
				n++
				if i < uint32(stable) && v == nil {
					errs <- "stable key missing"
					return
				}
				if v != nil && *v != i {
					errs <- "wrong value"
					return
				}
				if g == 0 && n%5000 == 0 {
					c := 0
					tab.Range(func(k Key, v *uint32) bool {
						if k != keyN(*v) {
							errs <- "Range key/value mismatch"
							return false
						}
						c++
						return true
					})
					if c < int(stable) {
						errs <- "Range missed stable keys"
						return
					}
				}
			}
			lookups.Add(int64(n))
		}()
	}
	r := rand.New(rand.NewPCG(3, 3))
	for range rounds {
		for i := uint32(stable); i < uint32(stable+churn); i++ {
			if r.IntN(2) == 0 {
				tab.Insert(keyN(i), &vals[i])
			} else {
				tab.Delete(keyN(i))
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	t.Logf("%d concurrent lookups", lookups.Load())
}

func TestNoAllocs(t *testing.T) {
	tab := New[int](1000, intKey)
	vals := intVals(601)
	for i := range uint32(500) {
		tab.Insert(keyN(i), &vals[i])
	}
	hit, miss := keyN(10), keyN(100000)
	if a := testing.AllocsPerRun(1000, func() { _ = tab.Get(hit) }); a != 0 {
		t.Errorf("Get hit: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() { _ = tab.Get(miss) }); a != 0 {
		t.Errorf("Get miss: %v allocs", a)
	}
	k, v := keyN(600), &vals[600]
	if a := testing.AllocsPerRun(1000, func() {
		tab.Insert(k, v)
		tab.Delete(k)
	}); a != 0 {
		t.Errorf("Insert+Delete: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = tab.Hash(hit) }); a != 0 {
		t.Errorf("Hash: %v allocs", a)
	}
	n := 0
	fn := func(Key, *int) bool { n++; return true }
	if a := testing.AllocsPerRun(10, func() { tab.Range(fn) }); a != 0 {
		t.Errorf("Range: %v allocs", a)
	}
}

// TestReaderDuringWrites stops a writer half-way through each write, as a
// reader may observe it, at every slot in turn: a fill whose fields are
// written but whose meta word is not yet stored, and a delete whose meta
// word is stored but whose value is not yet cleared. The key being written
// must read as absent and every other key must still be found.
func TestReaderDuringWrites(t *testing.T) {
	tab := New[uint32](40, u32Key)
	vals := make([]uint32, 200)
	for i := range vals {
		vals[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(4, 4))
	// Leave a mix of full slots, tombstones and empties (the slot layout
	// depends on the table's random seed, so churn until there is one).
	for n := 0; n < 300 || tab.arr.Load().tombs < 3 || tab.Len() < 20; n++ {
		if n > 100000 {
			t.Fatal("no tombstones to test with")
		}
		i := uint32(r.IntN(len(vals)))
		if r.IntN(3) > 0 {
			tab.Insert(keyN(i), &vals[i])
		} else {
			tab.Delete(keyN(i))
		}
	}
	model := map[Key]*uint32{}
	tab.Range(func(k Key, v *uint32) bool { model[k] = v; return true })
	check := func(j int, what string, skip Key) {
		t.Helper()
		for k, v := range model {
			if k != skip && tab.Get(k) != v {
				t.Fatalf("slot %d %s: key %v not found", j, what, k)
			}
		}
		if tab.Get(skip) != nil {
			t.Fatalf("slot %d %s: key %v visible", j, what, skip)
		}
	}
	a := tab.arr.Load()
	fresh := keyN(1000)
	freshV := uint32(1000)
	for j := range a.slots {
		s := &a.slots[j]
		m := s.meta.Load()
		if m&stateMask != stFull {
			// Half a fill: value written, meta word (with the hash
			// bits) not yet stored.
			s.val.Store(&freshV)
			check(j, "half-filled", fresh)
			s.val.Store(nil)
			continue
		}
		// Half a delete: meta word stored, value not yet cleared.
		k := keyN(*s.val.Load())
		s.meta.Store(nextMeta(m, stTomb, slotHash(m)))
		check(j, "half-deleted", k)
		s.meta.Store(m)
	}
}

// TestChurnKeepsTombstonesFew churns a table at a steady 20K entries (each
// step inserts a new key and deletes the oldest, as connections come and
// go) and checks that tombstones stay well below the live count: Delete
// empties a slot at once when no chain passes through it.
func TestChurnKeepsTombstonesFew(t *testing.T) {
	const live = 20_000
	keys := benchKeys(4 * live)
	tab := New[Key](2*live, selfKey)
	for i := range keys[:live] {
		tab.Insert(keys[i], &keys[i])
	}
	maxTombs := 0
	for i := range 500_000 {
		j := (i + live) % len(keys)
		if !tab.Insert(keys[j], &keys[j]) || !tab.Delete(keys[i%len(keys)]) {
			t.Fatalf("churn %d failed", i)
		}
		if i%1000 == 0 {
			maxTombs = max(maxTombs, tab.arr.Load().tombs)
		}
	}
	a := tab.arr.Load()
	t.Logf("slots %d live %d tombstones %d (max seen %d)", len(a.slots), tab.Len(), a.tombs, maxTombs)
	if maxTombs > live/2 {
		t.Fatalf("%d tombstones for %d live entries", maxTombs, live)
	}
}

package stack

import (
	"context"
	"github.com/xdptcp/xdptcp/flowtable"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

func TestNeighCacheAgainstMap(t *testing.T) {
	c := newNeighCache(64)
	model := map[flowtable.Addr]bool{}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		a := a32(r.Uint32N(200) + 1)
		if c.get(a) == nil {
			n, ev := c.insert(a)
			if ev != (len(model) == 64) {
				t.Fatalf("evicted=%v with %d entries", ev, len(model))
			}
			n.ref = r.IntN(2) == 0
			model[a] = true
		}
		if c.len() > 64 {
			t.Fatal("over bound")
		}
		// Every entry present in the table is found; the model may hold
		// evicted ones, so resync it from the table.
		cnt := 0
		for k := range model {
			if c.get(k) == nil {
				delete(model, k)
			} else {
				cnt++
			}
		}
		if cnt != c.len() {
			t.Fatalf("table has %d entries, lookups find %d", c.len(), cnt)
		}
	}
}

func TestNeighCacheClockSparesReferenced(t *testing.T) {
	c := newNeighCache(4)
	for a := uint32(1); a <= 4; a++ {
		n, _ := c.insert(a32(a))
		n.ref = a != 3
	}
	c.insert(a32(5))
	if c.get(a32(3)) != nil || c.get(a32(1)) == nil || c.get(a32(2)) == nil || c.get(a32(4)) == nil || c.get(a32(5)) == nil {
		t.Fatal("CLOCK did not evict the unreferenced entry")
	}
}

func TestDoQueueConcurrent(t *testing.T) {
	q := newDoQueue(8)
	if len(q.cells) != 8 {
		t.Fatal("size")
	}
	for i := 0; i < 8; i++ {
		if !q.push(func() {}) {
			t.Fatal("push failed before full")
		}
	}
	if q.push(func() {}) {
		t.Fatal("push succeeded when full")
	}
	for q.pop() != nil {
	}
	const producers, each = 4, 5000
	var wg sync.WaitGroup
	var sum atomic.Int64
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				if q.push(func() { sum.Add(1) }) {
					i++
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	ran := 0
	for ran < producers*each {
		if fn := q.pop(); fn != nil {
			fn()
			ran++
		}
	}
	<-done
	if sum.Load() != producers*each || !q.empty() {
		t.Fatal("lost or extra functions")
	}
}

func TestRunDoAndCancel(t *testing.T) {
	p := newFakePort(16)
	e := NewEngine(Config{Addr: addrUs, PrefixLen: 24, MAC: macUs}, p, 0)
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx, clock.NewMono()) }()
	for i := 0; i < 100; i++ {
		ch := make(chan struct{})
		for !e.Do(func() { close(ch) }) {
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("Do function not run by the loop")
		}
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// a32 is a test address: IPv4 a (host order), mapped.
func a32(a uint32) flowtable.Addr {
	return flowtable.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// m4 is flowtable.AddrFrom4.
func m4(a [4]byte) flowtable.Addr { return flowtable.AddrFrom4(a) }

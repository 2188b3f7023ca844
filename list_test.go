package xdptcp

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// TestListConnsPages: pages of ListConns, in key order, follow each other
// with After and cover every connection once; Info is filled on request.
func TestListConnsPages(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	const n = 7
	for i := 0; i < n; i++ {
		c, s := connPair(t, a, ln)
		defer c.Close()
		defer s.Close()
	}
	seen := map[flowtable.Key]bool{}
	var after flowtable.Key
	var last flowtable.Key
	pages := 0
	for {
		page, more := a.ListConns(ListOptions{Limit: 3, After: after, ByState: true, State: tcp.StateEstablished, Info: true})
		pages++
		for _, c := range page {
			if seen[c.Key] {
				t.Fatalf("%v listed twice", c.Key)
			}
			if pages > 1 || c.Key != page[0].Key {
				if CompareKeys(last, c.Key) >= 0 {
					t.Fatalf("%v listed after %v", c.Key, last)
				}
			}
			last = c.Key
			seen[c.Key] = true
			if c.Info == nil || c.Info.State != tcp.StateEstablished {
				t.Fatalf("no Info for %v", c.Key)
			}
		}
		if !more {
			break
		}
		if len(page) != 3 {
			t.Fatalf("a page of %d before the end", len(page))
		}
		after = page[len(page)-1].Key
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("%d connections in %d pages, want %d in 3", len(seen), pages, n)
	}
}

// TestPagerMillion: a page of 1000 out of a million connections offered in
// random order keeps at most 1001 entries and returns the 1000 smallest
// keys after the cursor, in order.
func TestPagerMillion(t *testing.T) {
	const n = 1000000
	key := func(i int) flowtable.Key {
		return flowtable.Key{LocalAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), LocalPort: 80,
			RemoteAddr: flowtable.AddrFrom4([4]byte{198, 19, byte(i >> 16), byte(i >> 8)}), RemotePort: uint16(i&0xff) + 1024}
	}
	after := key(5000)
	p := newPager(ListOptions{After: after})
	rng := uint64(1)
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := n - 1; i > 0; i-- { // Fisher-Yates with a fixed xorshift
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		j := int(rng % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	for _, i := range perm {
		k := key(int(i))
		if p.wants(k, tcp.StateEstablished) {
			p.add(ConnInfo{ConnInfo: tcp.ConnInfo{Key: k, State: tcp.StateEstablished}})
		}
		if len(p.h) > DefaultListLimit+1 {
			t.Fatalf("the page holds %d entries", len(p.h))
		}
	}
	page, more := p.page()
	if !more || len(page) != DefaultListLimit {
		t.Fatalf("page of %d, more %v", len(page), more)
	}
	for j, c := range page {
		if c.Key != key(5001+j) {
			t.Fatalf("entry %d is %v, want %v", j, c.Key, key(5001+j))
		}
	}
}

// TestStackCapture: a capture sees a connection's frames both ways, a
// second capture is refused while one runs, and Close ends ReadPacket.
func TestStackCapture(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, err := b.StartCapture(CaptureOptions{Queue: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.StartCapture(CaptureOptions{Queue: -1}); !errors.Is(err, ErrCaptureBusy) {
		t.Fatalf("second capture: %v", err)
	}
	cl, s := connPair(t, a, ln)
	defer cl.Close()
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dirs := map[stack.Direction]int{}
	for dirs[stack.DirIn] == 0 || dirs[stack.DirOut] == 0 {
		p, err := c.ReadPacket(ctx)
		if err != nil {
			t.Fatalf("ReadPacket: %v (seen %v)", err, dirs)
		}
		if len(p.Data) < 14 || p.OrigLen != len(p.Data) || p.Time.IsZero() {
			t.Fatalf("packet %+v", p)
		}
		dirs[p.Dir]++
	}
	c.Close()
	for {
		if _, err := c.ReadPacket(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	c2, err := b.StartCapture(CaptureOptions{Queue: -1})
	if err != nil {
		t.Fatalf("a capture after Close: %v", err)
	}
	c2.Close()
}

// failingPort is a memlink port whose Wait fails once fail is set: its
// loop's Run returns that error.
type failingPort struct {
	*memlink.Port
	fail atomic.Bool
}

var errPortBroken = errors.New("port broken")

func (p *failingPort) Wait(timeout time.Duration, wakeFD int) (bool, error) {
	if p.fail.Load() {
		return false, errPortBroken
	}
	return p.Port.Wait(min(timeout, 10*time.Millisecond), wakeFD)
}

// TestDeadLoopReported: a loop whose Run fails is reported (Loop.Err)
// and no longer holds the Stack: Do, ListConns, Serve and Close return
// instead of waiting forever.
func TestDeadLoopReported(t *testing.T) {
	pa, pb := memlink.Pair(memlink.Config{})
	defer pa.Close()
	defer pb.Close()
	fp := &failingPort{Port: pa}
	st := newMemStack(memAddrA, [6]byte{2, 0, 0, 0, 0, 1}, fp, tcp.DefaultConfig())
	st.Start(context.Background())
	defer st.Close()
	l := st.Loops()[0]
	if l.Err() != nil {
		t.Fatal("Err before any failure")
	}
	fp.fail.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for l.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(l.Err(), errPortBroken) {
		t.Fatalf("Err = %v", l.Err())
	}
	done := make(chan error, 1)
	go func() {
		// Enough work to fill the dead loop's request queue too.
		for i := 0; i < 2*1024+10; i++ {
			st.Do(func(*Loop) { t.Error("ran on a dead loop") })
		}
		st.ListConns(ListOptions{})
		done <- st.Serve(81, ServeOptions{}, func(*tcp.Conn) tcp.Handler { return nil })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLoopStopped) {
			t.Fatalf("Serve on a dead loop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Stack hangs on its dead loop")
	}
}

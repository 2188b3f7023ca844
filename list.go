package xdptcp

import (
	"bytes"
	"cmp"
	"container/heap"
	"slices"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// ConnInfo is one connection as listings show it.
type ConnInfo struct {
	tcp.ConnInfo
	Queue int
	// Info is the connection's TCP_INFO when ListOptions.Info asked for
	// it; nil for TIME-WAIT entries (no connection behind them).
	Info *tcp.TCPInfo
}

// DefaultListLimit is how many connections ListConns returns when
// ListOptions.Limit is 0; MaxListLimit caps any Limit.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 100000
)

// ListOptions select a page of connections.
type ListOptions struct {
	// ByState keeps only connections in State.
	ByState bool
	State   tcp.State
	// After starts the page after this 4-tuple (the last one of the
	// previous page); the zero Key starts at the beginning.
	After flowtable.Key
	// Limit bounds the page (0: DefaultListLimit; capped at MaxListLimit).
	Limit int
	// Info adds each live connection's TCP_INFO.
	Info bool
}

// CompareKeys orders 4-tuples by local address, local port, remote
// address, remote port (numerically, on the 16-byte form: IPv6 addresses
// before IPv4-mapped ones, which start with ::ffff; no formatting).
func CompareKeys(a, b flowtable.Key) int {
	if c := bytes.Compare(a.LocalAddr[:], b.LocalAddr[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.LocalPort, b.LocalPort); c != 0 {
		return c
	}
	if c := bytes.Compare(a.RemoteAddr[:], b.RemoteAddr[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.RemotePort, b.RemotePort)
}

// connHeap is a max-heap on the key: the page's largest entry on top, to
// be replaced by a smaller one.
type connHeap []ConnInfo

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return CompareKeys(h[i].Key, h[j].Key) > 0 }
func (h connHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *connHeap) Push(x any)        { *h = append(*h, x.(ConnInfo)) }
func (h *connHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// pager keeps the first limit entries (in key order) after a cursor, plus
// one to tell that more follow: a max-heap of at most limit+1 entries.
type pager struct {
	o     ListOptions
	limit int
	h     connHeap
}

func newPager(o ListOptions) *pager {
	limit := o.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	return &pager{o: o, limit: min(limit, MaxListLimit)}
}

// wants reports whether an entry with this key and state would enter the
// page (checked before building its Info).
func (p *pager) wants(k flowtable.Key, st tcp.State) bool {
	if p.o.ByState && st != p.o.State {
		return false
	}
	if p.o.After != (flowtable.Key{}) && CompareKeys(k, p.o.After) <= 0 {
		return false
	}
	return len(p.h) <= p.limit || CompareKeys(k, p.h[0].Key) < 0
}

// add puts e in the page; wants(e) must have been true.
func (p *pager) add(e ConnInfo) {
	if len(p.h) > p.limit {
		p.h[0] = e
		heap.Fix(&p.h, 0)
		return
	}
	heap.Push(&p.h, e)
}

// page returns the sorted page and whether more entries follow.
func (p *pager) page() ([]ConnInfo, bool) {
	page := []ConnInfo(p.h)
	slices.SortFunc(page, func(a, b ConnInfo) int { return CompareKeys(a.Key, b.Key) })
	if len(page) > p.limit {
		return page[:p.limit], true
	}
	return page, false
}

// ListConns returns one page of every loop's connections, TIME-WAIT
// entries included, sorted by CompareKeys: the first o.Limit after
// o.After. Memory and time are bounded by the page, not by the number of
// connections: each loop walks its table once keeping the page's best
// candidates in a heap (O(n log limit)); no key is formatted. more
// reports that connections follow the page.
func (s *Stack) ListConns(o ListOptions) (page []ConnInfo, more bool) {
	p := newPager(o)
	s.Do(func(l *Loop) {
		l.engine.TCP().RangeConns(func(ci tcp.ConnInfo, c *tcp.Conn) bool {
			if !p.wants(ci.Key, ci.State) {
				return true
			}
			e := ConnInfo{ConnInfo: ci, Queue: l.Queue}
			if o.Info && c != nil {
				in := c.Info()
				e.Info = &in
			}
			p.add(e)
			return true
		})
	})
	return p.page()
}

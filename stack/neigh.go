package stack

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// neighState is the state of a neighbour entry (a reduced form of Linux's
// NUD states).
type neighState uint8

const (
	neighIncomplete neighState = iota // request sent, no MAC yet
	neighValid                        // MAC known; fresh or stale by confirmed
)

// neigh is one entry of a neighCache: an address (IPv4 mapped, or IPv6)
// and its MAC, learnt through ARP or NDP.
type neigh struct {
	addr       flowtable.Addr // key; valid while used is true
	mac        [6]byte        // meaningful when state == neighValid
	state      neighState     //
	used       bool           // slot holds an entry
	ref        bool           // CLOCK reference bit: set on use, cleared by the hand
	confirmed  clock.Time     // last confirmation (reply, request for us, matching frame)
	lastReq    clock.Time     // last ARP request sent for addr (valid if reqSent)
	reqSent    bool           //
	permanent  bool           // set by SetNeighbor: never aged, updated or evicted (unless all are)
	probing    bool           // stale and being probed since probeStart
	probeStart clock.Time     //
	watched    bool           // Config.ARPWatch was told to watch addr (ARP reply or NDP advertisement)
	qHead      int32          // held frames (unres.go): first pendPool slot + 1; 0: none
	qTail      int32          // last pendPool slot + 1; 0: none
	qPkts      int32          // packets held, at most unres_qlen (Config.TCP.UnresQlen)
	qSince     clock.Time     // when the first held packet of this wait was held
}

// neighCache is a bounded map from address to neigh, both families in one
// cache (Linux keeps one per family; the bound here is shared): a fixed
// array of entries indexed by an open-addressing (linear probing) table of
// twice the size, hashed with a per-cache random seed (an on-link IPv6
// peer chooses among 2^64 source addresses). Full, it evicts with the CLOCK
// algorithm. Nothing allocates after newNeighCache.
type neighCache struct {
	seed  uint64
	ents  []neigh
	slots []int32 // index into ents, or -1
	mask  uint32
	n     int // entries in use
	hand  int // CLOCK hand over ents
	free  []int32
	// onEvict, if set, is called with an entry about to be evicted
	// (the engine frees the frames it holds).
	onEvict func(*neigh)
}

func newNeighCache(size int) *neighCache {
	if size < 1 {
		size = 1
	}
	ns := 2
	for ns < 2*size {
		ns <<= 1
	}
	c := &neighCache{
		ents:  make([]neigh, size),
		slots: make([]int32, ns),
		mask:  uint32(ns - 1),
		free:  make([]int32, 0, size),
		seed:  new(maphash.Hash).Sum64() | 1,
	}
	for i := range c.slots {
		c.slots[i] = -1
	}
	for i := size - 1; i >= 0; i-- {
		c.free = append(c.free, int32(i))
	}
	return c
}

func (c *neighCache) hash(a flowtable.Addr) uint32 {
	h := (binary.LittleEndian.Uint64(a[:8]) ^ c.seed) * 0x9e3779b97f4a7c15
	h = (h ^ binary.LittleEndian.Uint64(a[8:]) ^ h>>29) * 0xbf58476d1ce4e5b9
	return uint32(h ^ h>>32)
}

// get returns the entry for addr, or nil.
func (c *neighCache) get(addr flowtable.Addr) *neigh {
	for i := c.hash(addr) & c.mask; ; i = (i + 1) & c.mask {
		s := c.slots[i]
		if s < 0 {
			return nil
		}
		if c.ents[s].addr == addr {
			return &c.ents[s]
		}
	}
}

// insert returns a fresh (zeroed, used) entry for addr, which must not be
// present, evicting one if the cache is full; evicted says so.
func (c *neighCache) insert(addr flowtable.Addr) (e *neigh, evicted bool) {
	if len(c.free) == 0 {
		c.evict()
		evicted = true
	}
	idx := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	i := c.hash(addr) & c.mask
	for c.slots[i] >= 0 {
		i = (i + 1) & c.mask
	}
	c.slots[i] = idx
	c.ents[idx] = neigh{addr: addr, used: true}
	c.n++
	return &c.ents[idx], evicted
}

// evict removes one entry chosen by the CLOCK hand: the first whose
// reference bit is clear, clearing bits as it passes.
func (c *neighCache) evict() {
	for i := 0; ; i++ {
		e := &c.ents[c.hand]
		idx := c.hand
		c.hand++
		if c.hand == len(c.ents) {
			c.hand = 0
		}
		if !e.used {
			continue
		}
		// Two sweeps clear every reference bit; after them even
		// permanent entries go (the cache is all permanent).
		if i < 2*len(c.ents) && (e.ref || e.permanent) {
			e.ref = false
			continue
		}
		if c.onEvict != nil {
			c.onEvict(e)
		}
		c.remove(e.addr, int32(idx))
		return
	}
}

// remove deletes addr (stored at ents[idx]) with backward-shift deletion,
// so lookups never need tombstones.
func (c *neighCache) remove(addr flowtable.Addr, idx int32) {
	i := c.hash(addr) & c.mask
	for c.slots[i] != idx {
		i = (i + 1) & c.mask
	}
	for {
		c.slots[i] = -1
		j := i
		for {
			j = (j + 1) & c.mask
			s := c.slots[j]
			if s < 0 {
				c.ents[idx] = neigh{}
				c.free = append(c.free, idx)
				c.n--
				return
			}
			home := c.hash(c.ents[s].addr) & c.mask
			// Move s back into the hole at i unless its home lies
			// cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				c.slots[i] = s
				i = j
				break
			}
		}
	}
}

// len returns the number of entries.
func (c *neighCache) len() int { return c.n }

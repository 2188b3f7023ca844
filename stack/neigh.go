package stack

import "github.com/xdptcp/xdptcp/stack/clock"

// neighState is the state of a neighbour entry (a reduced form of Linux's
// NUD states).
type neighState uint8

const (
	neighIncomplete neighState = iota // request sent, no MAC yet
	neighValid                        // MAC known; fresh or stale by confirmed
)

// neigh is one entry of a neighCache: an IPv4 address and its MAC.
type neigh struct {
	addr       uint32     // key; valid while used is true
	mac        [6]byte    // meaningful when state == neighValid
	state      neighState //
	used       bool       // slot holds an entry
	ref        bool       // CLOCK reference bit: set on use, cleared by the hand
	confirmed  clock.Time // last confirmation (reply, request for us, matching frame)
	lastReq    clock.Time // last ARP request sent for addr (valid if reqSent)
	reqSent    bool       //
	permanent  bool       // set by SetNeighbor: never aged, updated or evicted (unless all are)
	probing    bool       // stale and being probed since probeStart
	probeStart clock.Time //
	watched    bool       // Config.ARPWatch was told to watch addr
}

// neighCache is a bounded map from IPv4 address to neigh: a fixed array of
// entries indexed by an open-addressing (linear probing) table of twice the
// size. Full, it evicts with the CLOCK algorithm. Nothing allocates after
// newNeighCache.
type neighCache struct {
	ents  []neigh
	slots []int32 // index into ents, or -1
	mask  uint32
	n     int // entries in use
	hand  int // CLOCK hand over ents
	free  []int32
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
	}
	for i := range c.slots {
		c.slots[i] = -1
	}
	for i := size - 1; i >= 0; i-- {
		c.free = append(c.free, int32(i))
	}
	return c
}

func hashAddr(a uint32) uint32 { return (a * 0x9e3779b1) ^ (a >> 16) }

func addrKey(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// get returns the entry for addr, or nil.
func (c *neighCache) get(addr uint32) *neigh {
	for i := hashAddr(addr) & c.mask; ; i = (i + 1) & c.mask {
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
func (c *neighCache) insert(addr uint32) (e *neigh, evicted bool) {
	if len(c.free) == 0 {
		c.evict()
		evicted = true
	}
	idx := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	i := hashAddr(addr) & c.mask
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
		c.remove(e.addr, int32(idx))
		return
	}
}

// remove deletes addr (stored at ents[idx]) with backward-shift deletion,
// so lookups never need tombstones.
func (c *neighCache) remove(addr uint32, idx int32) {
	i := hashAddr(addr) & c.mask
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
			home := hashAddr(c.ents[s].addr) & c.mask
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

// Package flowtable maps TCP 4-tuples to connections: the table a poll loop
// consults for every received segment, and that other goroutines (the admin
// endpoint, listings, statistics) may read at the same time.
//
// # Design
//
// The table is open addressing with linear probing over a power-of-two
// array of slots. A slot holds an atomic pointer to the value and a 64-bit
// meta word: the slot state (empty, full, tombstone) and a version counter
// in its low 32 bits, the low 32 bits of the key's hash in its high ones
// (slot indexes use no more than those: arrays stay below 2^32 slots). The
// key itself is not copied into the slot: the value holds it (a connection
// knows its 4-tuple), and the table reads it through the keyOf function
// given to New, only when the hash bits match. Keys are 36 bytes (two
// 16-byte addresses, IPv4 mapped into IPv6, and two ports), so storing
// them inline would triple the slot; this way nothing is allocated per
// entry and memory per entry is the 16-byte slot divided by the load
// factor, for both address families.
//
// Writers (Insert and Delete) run on the owning loop only, so there is never
// more than one. A slot's value is written only while the slot is not
// full, and readers look at it only in full slots: Insert writes the value,
// then publishes it with one store of the meta word (hash bits, full,
// version bumped); Delete stores the meta word (tombstone or empty, version
// bumped), then clears the value. A reader that finds a full slot holding its
// key loads the value and re-reads the meta word; if the word is unchanged
// the hash and value belong together (the seqlock validation: the 30-bit
// version rules out a delete and re-insert in between, short of 2^30 writes
// to that one slot between two loads of one reader), otherwise it reads the
// slot again, which happens only when the writer made progress (lock-free). Every Go atomic is sequentially consistent, which is what this
// argument needs. Readers (Get and Range) take no lock, never wait for the
// writer and never allocate.
//
// Entries never move within an array. Deletion leaves a tombstone when the
// probe chain of a live entry passes through the slot, so that a concurrent
// reader still reaches that entry (backward-shift deletion would move an
// entry behind such a reader and make it miss a live key); otherwise the
// slot becomes empty at once, and so do the tombstones just before it. After
// 3M steps of churn at 100K live entries (insert one, delete the oldest)
// this leaves about 35K tombstones in 262K slots, against 87K when only a
// tombstone followed by an empty slot was reclaimed, and lookups cost about
// 20 % more than in a fresh table (BenchmarkLookupChurned), against 2.5x
// with the simpler rule. Insert reuses the first tombstone on the key's
// chain; a rebuild drops them all.
//
// When live entries plus tombstones would exceed 3/4 of the slots, the owner
// builds a new array sized so that the live entries fill at most half of it
// (never smaller than the old one), copies the live entries and publishes it
// with one atomic pointer store. A reader still holding the old array sees
// the table as it was at that moment, which is a valid answer for a lookup
// that overlapped the change. The array starts at 16 slots and, because
// live entries never exceed Max, never grows past the power of two at or
// above 2*(Max+1).
//
// Slot indexes come from SipHash-1-3 keyed with 128 random bits drawn per
// table from crypto/rand, so a peer cannot choose 4-tuples that collide.
//
// Every operation is bounded by the array size: a probe stops at an empty
// slot, and at most 3/4 of the slots are ever non-empty.
package flowtable

import (
	"math/bits"
	"sync/atomic"
)

// Slot meta word layout: bits 0-1 state, bits 2-31 version, bits 32-63 the
// low 32 bits of the key's hash.
const (
	stEmpty   = 0 // never used since the last rebuild, or a reclaimed tombstone
	stFull    = 1 // holds a live key and value
	stTomb    = 2 // held a key that was deleted; probes continue past it
	stateMask = 3
	verUnit   = 4 // one version increment
)

// minSlots is the size of a new table's slot array.
const minSlots = 16

// slot is one cell of the open-addressing array: 16 bytes.
type slot[V any] struct {
	meta atomic.Uint64     // state, version, hash bits (the key is keyOf(val))
	val  atomic.Pointer[V] // the value, in a full slot
}

// hashBits is the part of a hash a slot keeps; slot indexes are hash&mask
// with mask < 2^32, so they are hashBits(h)&mask too.
func hashBits(h uint64) uint64 { return h & 0xffffffff }

// slotHash returns the hash bits of a meta word.
func slotHash(m uint64) uint64 { return m >> 32 }

// nextMeta is meta word m with state st, the version bumped (wrapping in
// its 30 bits) and hash bits hb.
func nextMeta(m uint64, st uint32, hb uint64) uint64 {
	return hb<<32 | uint64((uint32(m)&^stateMask+verUnit)|st)
}

// fill makes a slot that is not full (empty or tombstone) full, holding
// (h, v): the value first, then the meta word that publishes it. Owner
// only.
func (s *slot[V]) fill(h uint64, v *V) {
	m := s.meta.Load()
	s.val.Store(v)
	s.meta.Store(nextMeta(m, stFull, hashBits(h)))
}

// clear changes the slot to st (stTomb or stEmpty), then drops the value so
// the garbage collector can reclaim it. Owner only.
func (s *slot[V]) clear(st uint32) {
	m := s.meta.Load()
	s.meta.Store(nextMeta(m, st, slotHash(m)))
	s.val.Store(nil)
}

// array is one generation of the slot array. Readers only touch slots and
// mask; used and tombs belong to the owner.
type array[V any] struct {
	slots []slot[V]
	mask  uint64
	used  int // full + tombstone slots
	tombs int // tombstone slots
}

func newArray[V any](n int) *array[V] {
	return &array[V]{slots: make([]slot[V], n), mask: uint64(n - 1)}
}

// find probes for k from its hash h. It returns the slot holding the key
// (found) or the first empty slot, and the first tombstone met on the way
// (-1 if none). Owner only.
func (a *array[V]) find(h uint64, k Key, keyOf func(*V) Key) (i uint64, tomb int64, found bool) {
	tomb = -1
	i = h & a.mask
	for n := uint64(0); n <= a.mask; n++ {
		s := &a.slots[i]
		switch s.meta.Load() & stateMask {
		case stEmpty:
			return i, tomb, false
		case stFull:
			if slotHash(s.meta.Load()) == hashBits(h) && keyOf(s.val.Load()) == k {
				return i, tomb, true
			}
		case stTomb:
			if tomb < 0 {
				tomb = int64(i)
			}
		}
		i = (i + 1) & a.mask
	}
	// Unreachable: at most 3/4 of the slots are non-empty.
	return i, tomb, false
}

// Table maps a Key to a *V. Lookups (Get, Range, Len) may run on any
// goroutine and never block or allocate; Insert and Delete are called by
// the owning loop only.
type Table[V any] struct {
	arr   atomic.Pointer[array[V]]
	n     atomic.Int64 // live entries
	max   int
	seed  seed
	keyOf func(*V) Key // the key a value was inserted under; fixed for the value's life in the table
}

// New returns a table that holds at most max entries (none if max < 1).
// keyOf returns the key of a value: a value must be inserted under
// keyOf(value), and keyOf(value) must not change while it is in the table
// (readers on other goroutines call it). Its hash is keyed with fresh
// random bits from crypto/rand.
func New[V any](max int, keyOf func(*V) Key) *Table[V] {
	t := &Table[V]{max: max, seed: newSeed(), keyOf: keyOf}
	t.arr.Store(newArray[V](minSlots))
	return t
}

// Hash returns the table's keyed hash of k (SipHash-1-3 with the table's
// secret). It is stable for the life of the table and differs between
// tables; callers may use it to spread keys, e.g. over loops.
func (t *Table[V]) Hash(k Key) uint64 { return t.seed.sip13(&k) }

// Get returns the value for k, or nil. Safe on any goroutine; lock-free and
// allocation-free.
func (t *Table[V]) Get(k Key) *V {
	a := t.arr.Load()
	h := t.seed.sip13(&k)
	i := h & a.mask
	for n := uint64(0); n <= a.mask; {
		s := &a.slots[i]
		m := s.meta.Load()
		switch m & stateMask {
		case stEmpty:
			return nil
		case stFull:
			if slotHash(m) == hashBits(h) {
				v := s.val.Load()
				if s.meta.Load() != m {
					continue // the slot changed while we read it: read it again
				}
				if t.keyOf(v) == k {
					return v
				}
			}
		}
		// Tombstone or another key: the chain goes on.
		i = (i + 1) & a.mask
		n++
	}
	return nil
}

// Insert adds k→v; k must be keyOf(v). It returns false, changing nothing,
// if k is present, the table is full (Len() == Max()) or v is nil. The caller counts the refusal
// (a SYN dropped for lack of room). Owner only. It allocates only when the
// slot array is rebuilt (growth, or purging tombstones).
func (t *Table[V]) Insert(k Key, v *V) bool {
	if v == nil || t.n.Load() >= int64(t.max) {
		return false
	}
	h := t.seed.sip13(&k)
	a := t.arr.Load()
	i, tomb, found := a.find(h, k, t.keyOf)
	if found {
		return false
	}
	if tomb >= 0 {
		a.slots[tomb].fill(h, v)
		a.tombs--
	} else {
		if (a.used+1)*4 > len(a.slots)*3 {
			a = t.rebuild(a)
			i, _, _ = a.find(h, k, t.keyOf)
		}
		a.slots[i].fill(h, v)
		a.used++
	}
	t.n.Add(1)
	return true
}

// rebuild copies the live entries of old into a new array in which they
// fill at most half the slots, publishes it and returns it. Owner only.
func (t *Table[V]) rebuild(old *array[V]) *array[V] {
	live := int(t.n.Load())
	size := 1 << bits.Len(uint(2*(live+1)-1)) // power of two >= 2*(live+1)
	if size < len(old.slots) {
		size = len(old.slots)
	}
	a := newArray[V](size)
	for j := range old.slots {
		s := &old.slots[j]
		if s.meta.Load()&stateMask != stFull {
			continue
		}
		h := slotHash(s.meta.Load()) // the index bits are all there
		i := h & a.mask
		for a.slots[i].meta.Load()&stateMask != stEmpty {
			i = (i + 1) & a.mask
		}
		a.slots[i].fill(h, s.val.Load())
		a.used++
	}
	t.arr.Store(a)
	return a
}

// Delete removes k and reports whether it was present. Owner only; never
// allocates.
func (t *Table[V]) Delete(k Key) bool {
	a := t.arr.Load()
	i, _, found := a.find(t.seed.sip13(&k), k, t.keyOf)
	if !found {
		return false
	}
	if t.passedBy(a, i) {
		a.slots[i].clear(stTomb) // a chain passes through i
		a.tombs++
	} else {
		a.slots[i].clear(stEmpty)
		a.used--
		a.emptyTombsBefore(i)
	}
	t.n.Add(-1)
	return true
}

// passedBy reports whether the probe chain of a live entry passes through
// slot i: whether some full slot j after i, before the next empty slot, holds
// an entry whose home slot is i or before it (cyclically). If none does, no
// reader needs slot i to be non-empty to reach its key, and i may become
// empty at once. Owner only.
func (t *Table[V]) passedBy(a *array[V], i uint64) bool {
	for j := (i + 1) & a.mask; j != i; j = (j + 1) & a.mask {
		s := &a.slots[j]
		switch s.meta.Load() & stateMask {
		case stEmpty:
			return false
		case stFull:
			home := slotHash(s.meta.Load()) & a.mask
			if (j-home)&a.mask >= (j-i)&a.mask { // i is in [home, j)
				return true
			}
		}
	}
	return true // unreachable: at most 3/4 of the slots are non-empty
}

// emptyTombsBefore empties the tombstones just before slot i, which has
// just become empty: no chain can pass through them any more. Owner only.
func (a *array[V]) emptyTombsBefore(i uint64) {
	for j := (i - 1) & a.mask; a.slots[j].meta.Load()&stateMask == stTomb; j = (j - 1) & a.mask {
		a.slots[j].clear(stEmpty)
		a.used--
		a.tombs--
	}
}

// Len returns the number of entries. Safe on any goroutine.
func (t *Table[V]) Len() int { return int(t.n.Load()) }

// Max returns the table's bound.
func (t *Table[V]) Max() int { return t.max }

// Range calls fn for every entry until fn returns false. Safe on any
// goroutine, without locks: it walks the slot array current when it starts
// and is weakly consistent (an entry inserted or deleted during the walk may
// or may not be seen; an entry present throughout is seen exactly once,
// unless the array is rebuilt during the walk, in which case it is still
// seen exactly once, from the old array).
func (t *Table[V]) Range(fn func(Key, *V) bool) {
	a := t.arr.Load()
	for j := range a.slots {
		s := &a.slots[j]
		for {
			m := s.meta.Load()
			if m&stateMask != stFull {
				break
			}
			v := s.val.Load()
			if s.meta.Load() != m {
				continue
			}
			if !fn(t.keyOf(v), v) {
				return
			}
			break
		}
	}
}

// slots returns the size of the current slot array (for tests and memory
// accounting).
func (t *Table[V]) slots() int { return len(t.arr.Load().slots) }

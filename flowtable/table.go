// Package flowtable maps TCP 4-tuples to connections.
//
// PLACEHOLDER IMPLEMENTATION: a map behind a mutex with the final API, so the
// packages that use it compile while the lock-free table is written. The
// API below is the contract.
package flowtable

import "sync"

// Table maps a Key to a *V. Lookups (Get) may run on any goroutine and never
// block or allocate; Insert and Delete are called by the owning loop only.
type Table[V any] struct {
	mu  sync.RWMutex
	m   map[Key]*V
	max int
}

// New returns a table that holds at most max entries.
func New[V any](max int) *Table[V] {
	return &Table[V]{m: make(map[Key]*V), max: max}
}

// Get returns the value for k, or nil.
func (t *Table[V]) Get(k Key) *V {
	t.mu.RLock()
	v := t.m[k]
	t.mu.RUnlock()
	return v
}

// Insert adds k→v. It returns false, changing nothing, if k is present or
// the table is full.
func (t *Table[V]) Insert(k Key, v *V) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[k]; ok || len(t.m) >= t.max {
		return false
	}
	t.m[k] = v
	return true
}

// Delete removes k and reports whether it was present.
func (t *Table[V]) Delete(k Key) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[k]
	delete(t.m, k)
	return ok
}

// Len returns the number of entries.
func (t *Table[V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// Max returns the table's bound.
func (t *Table[V]) Max() int { return t.max }

// Range calls fn for every entry until fn returns false. It sees a
// consistent-enough view for listings, not a snapshot.
func (t *Table[V]) Range(fn func(Key, *V) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for k, v := range t.m {
		if !fn(k, v) {
			return
		}
	}
}

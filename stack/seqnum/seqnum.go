// Package seqnum holds TCP sequence numbers and their wrap-safe arithmetic
// (RFC 9293 §3.4: all comparisons are modulo 2^32). A raw uint32 comparison
// of sequence numbers is a bug waiting for 2^32; use these methods.
package seqnum

// Value is a TCP sequence number.
type Value uint32

// Size is a length in sequence space (at most 2^31-1 for comparisons to hold).
type Size uint32

// LessThan reports v < w modulo 2^32.
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports v <= w modulo 2^32.
func (v Value) LessThanEq(w Value) bool { return v == w || v.LessThan(w) }

// GreaterThan reports v > w modulo 2^32.
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports v >= w modulo 2^32.
func (v Value) GreaterThanEq(w Value) bool { return v == w || v.GreaterThan(w) }

// InRange reports a <= v < b.
func (v Value) InRange(a, b Value) bool { return v-a < b-a }

// InWindow reports first <= v < first+size.
func (v Value) InWindow(first Value, size Size) bool { return v.InRange(first, first.Add(size)) }

// Add returns v+s.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns the distance from w to v (v-w) as a Size.
func (v Value) Sub(w Value) Size { return Size(v - w) }

// Max returns the later of v and w.
func Max(v, w Value) Value {
	if v.LessThan(w) {
		return w
	}
	return v
}

// Min returns the earlier of v and w.
func Min(v, w Value) Value {
	if v.LessThan(w) {
		return v
	}
	return w
}

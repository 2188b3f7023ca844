package tcp

// Flow ownership for hosts behind ECMP (issue 18): the owner id in the low
// bits of every TSval this host sends, and the hook through which segments
// of flows this layer does not own leave for another host.
//
// RFC 7323 §4.3 makes the client echo our latest TSval as TSecr in every
// segment it sends, so whatever we put there comes back with each segment,
// much as Linux keeps the options of a cookie handshake in the TSval's low
// bits (cookie_init_timestamp) and QUIC-LB keeps a server id in the
// connection ID. With owner bits on, TSval = the largest value not above
// the millisecond clock (plus the connection's offset) whose low bits are
// the owner id: still monotonic (RFC 7323 §5.4 needs no more), never ahead
// of the clock, with a tick of 2^bits ms instead of 1 ms. A coarser tick
// would make timestamp RTT samples (RFC 7323 §4) off by up to 2^bits-1 ms,
// so with owner bits on the RTT is timed by one segment per round trip
// (Karn's rule, RFC 6298 §3), as for a peer without timestamps; PAWS,
// Eifel detection (RFC 3522) and RACK's ambiguity check compare echoed
// values, which the coarser tick only makes equal more often (no undo, an
// ambiguous sample), never wrongly ordered.

// MaxOwnerBits is the widest owner id SetOwner takes: 8 bits (256 hosts)
// keep the timestamp tick at 256 ms, within RFC 7323 §5.4's 1 ms to 1 s.
const MaxOwnerBits = 8

// SetOwner makes every TSval the layer sends from now on carry id in its
// low bits bits (0 bits: plain millisecond timestamps, the default).
// Connections already open switch too (their TSvals stay monotonic: the
// encoding never goes above the clock and only ever steps down to the
// previous value with the id's low bits).
func (l *Layer) SetOwner(id uint32, bits uint) {
	bits = min(bits, MaxOwnerBits)
	l.ownMask = uint32(1)<<bits - 1
	l.ownID = id & l.ownMask
}

// Owner returns the owner id and its width set by SetOwner.
func (l *Layer) Owner() (id uint32, bits uint) {
	for m := l.ownMask; m != 0; m >>= 1 {
		bits++
	}
	return l.ownID, bits
}

// ownerTS encodes the owner id into a raw timestamp (clock plus offset):
// the largest value <= raw whose low bits are the id (as
// syncookie.EncodeTS steps back when the options are above the clock's
// low bits).
func (l *Layer) ownerTS(raw uint32) uint32 {
	if l.ownMask == 0 {
		return raw
	}
	ts := raw&^l.ownMask | l.ownID
	if l.ownID > raw&l.ownMask {
		ts -= l.ownMask + 1
	}
	return ts
}

// ForwardWhy says why the layer offers a segment to its Forwarder.
type ForwardWhy uint8

const (
	// ForwardNew: a SYN for a listener, or an ACK returning a valid
	// cookie, about to open a connection here. A draining host hands it
	// to an active peer; otherwise the forwarder declines.
	ForwardNew ForwardWhy = iota + 1
	// ForwardStray: a segment of a flow this layer does not know, that
	// opens nothing: not a SYN, not a valid cookie ACK (RFC 9293
	// §3.10.7.1 would answer it with a RST, or drop it if it is a RST).
	// Another host may own the flow.
	ForwardStray
)

// Forwarder hands segments to other hosts of a cluster (package stack's
// engine implements it: it re-sends the frame the segment came in). Forward
// reports whether seg left this host; if not, the layer handles it as a
// host alone would (a RST for a stray segment, a connection for a new one).
type Forwarder interface {
	Forward(seg *Segment, why ForwardWhy) bool
}

// SetForwarder installs f (nil: none, the default: a host alone).
func (l *Layer) SetForwarder(f Forwarder) { l.fwd = f }

// forward offers seg to the forwarder, if any.
func (l *Layer) forward(seg *Segment, why ForwardWhy) bool {
	return l.fwd != nil && l.fwd.Forward(seg, why)
}

package syncookie

import (
	"sync/atomic"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// sentResolution is how stale the recorded send time may be: Sent writes
// at most once per second, so that loops sending cookies under a flood do
// not all dirty the same cache line on every SYN (Linux tcp_synq_overflow:
// "do not dirty this field too often (once per second is enough)").
const sentResolution = time.Second

// validWindow is how long after the recorded send time cookie ACKs are
// checked: MaxAge counter periods (Linux TCP_SYNCOOKIE_VALID =
// MAX_SYNCOOKIE_AGE * TCP_SYNCOOKIE_PERIOD), plus sentResolution because
// the recorded time may be up to that much older than the last cookie
// actually sent.
const validWindow = MaxAge*Period + sentResolution

// Recent records when a listener last sent a SYN cookie, so that ACKs are
// checked as cookies only while cookies can be outstanding: "Cookie ACKs are
// checked only if cookies were sent in the last two counter periods" (Linux
// tcp_synq_no_recent_overflow). Without it, any stray ACK to a listener
// would cost one or two SipHash computations and have a 2^-29 chance of
// opening a connection even when no cookie was ever sent.
//
// One Recent per listener; Sent and Valid may be called from any loop at the
// same time: they are lock-free (atomics) and do not allocate. The zero
// Recent has never sent a cookie.
type Recent struct {
	seen atomic.Bool  // a cookie was sent at least once; set after last is stored
	last atomic.Int64 // clock.Time of the recorded send, at most sentResolution older than the latest
}

// Sent records that a cookie was sent at now.
func (r *Recent) Sent(now clock.Time) {
	for {
		seen := r.seen.Load() // before last: once seen, last holds a real send time
		last := r.last.Load()
		if seen && int64(now)-last < int64(sentResolution) {
			return // recorded less than a second ago, or later by another loop's clock
		}
		if r.last.CompareAndSwap(last, int64(now)) {
			if !seen {
				r.seen.Store(true)
			}
			return
		}
		// Another loop recorded a time meanwhile; look at it again.
	}
}

// Valid reports whether a cookie was sent within the last MaxAge counter
// periods before now, i.e. whether an ACK to the listener may carry a
// cookie that Check can still accept. A now earlier than the recorded time
// (another loop read the shared clock later) counts as recent.
func (r *Recent) Valid(now clock.Time) bool {
	if !r.seen.Load() {
		return false
	}
	return int64(now)-r.last.Load() < int64(validWindow)
}

package tcp

// tcp_challenge_ack_limit: RFC 5961 §7's host-wide bound on challenge
// ACKs, as Linux keeps it per network namespace (tcp_send_challenge_ack),
// here one for the process, across its loops. Unlimited by default
// (2147483647, Linux 6.0+: the shared counter let an off-path attacker
// count the ACKs another connection drew, CVE-2016-5696). Below that, a
// challenge ACK that passed its connection's tcp_invalid_ratelimit
// spends one of a budget drawn at random in [limit/2, limit*3/2) at the
// start of each second, and goes unsent and uncounted once it is spent.

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// challengeBudget is the process's budget (Linux net->ipv4's
// tcp_challenge_timestamp and tcp_challenge_count).
var challengeBudget struct {
	second atomic.Int64 // the second the count is for; 0: none yet
	count  atomic.Int64 // challenge ACKs left in it
}

// challengeAckAllowed spends one challenge ACK of the budget at now under
// limit, tcp_challenge_ack_limit (>= 1); it reports false when none is
// left.
func challengeAckAllowed(now clock.Time, limit int) bool {
	if limit >= math.MaxInt32 {
		return true
	}
	b := &challengeBudget
	sec := int64(now/clock.Time(time.Second)) + 1 // (0 is "none yet")
	if old := b.second.Load(); old != sec && b.second.CompareAndSwap(old, sec) {
		half := (limit + 1) >> 1
		b.count.Store(int64(half + rand.IntN(limit))) // [half, limit+half-1], as get_random_u32_inclusive
	}
	for {
		n := b.count.Load()
		if n <= 0 {
			return false
		}
		if b.count.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

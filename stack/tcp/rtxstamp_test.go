package tcp

import (
	"testing"
	"time"
)

// The retries' budget counts from the episode's first retransmission,
// a fast one included (Linux retrans_stamp; fr-retries-budget.pkt,
// measured on Linux 6.18): with tcp_retries2=2 (1.4 s) the fast
// retransmission's resends at +210 and +630 ms are the last, and the timer
// at +1470 ms gives up. Counted from the first timeout's resend it would
// resend there and give up at +3150 ms.
func TestRetriesBudgetFromFastRetransmit(t *testing.T) {
	h := sackConn(t, false, func(c *Config) { c.Retries2, c.EarlyRetrans = 2, 0 })
	una := ourISN + 1
	writeSegs(h, 4, 1000)
	h.advance(10 * time.Millisecond)
	h.send(ACK, peerISN+1, una, withSACK(una+1000, una+4000))
	fr := h.now
	h.expect(seqNum(una), payloadLen(1000), at(time.Duration(fr)))
	h.advance(5 * time.Second)
	for _, ms := range []time.Duration{210, 630} {
		h.expect(seqNum(una), payloadLen(1000), at(time.Duration(fr)+ms*time.Millisecond))
	}
	h.expectNothing()
	if e := h.rec.events[len(h.rec.events)-1]; e.kind != "close" || time.Duration(e.at) != time.Duration(fr)+1470*time.Millisecond {
		t.Fatalf("last event %s at %v, want the close at %v", e.kind, time.Duration(e.at), time.Duration(fr)+1470*time.Millisecond)
	}
}

package tcp

// The out-of-line part of a connection's send side: tcp.Conn has no free
// bytes (memory_test.go keeps it in the 896-byte size class), so what only
// sending connections need lives here, allocated at the first write:
//
//   - MSG_EOR record ends (Linux 6.18 tcp_sendmsg_locked: a write with
//     MSG_EOR marks its last skb "eor", and tcp_skb_can_collapse_to then
//     starts a new skb for the next write; tcp_can_collapse and
//     tcp_skb_can_collapse keep retransmissions apart the same way). Here
//     the send queue is one byte stream, so a record end is a sequence number
//     that segment building never crosses: a new segment ends at the first
//     record end above SND.NXT (recordLimit). Once sent, the segment is a
//     scoreboard record, and retransmissions send records (or parts of
//     them) one at a time, never two together: the boundary holds there
//     without being kept.
//   - The PSH marks of tcp_sendmsg's forced push (push.go: forcedMarks).
//   - The end of the last small segment sent (Linux snd_sml), which
//     Nagle's rule asks about (Minshall's variant, output.go smallOut).
//   - Linux's chrono times for TCP_INFO (tcp_chrono_start/stop,
//     tcp_get_info_chrono_stats): how long the connection was busy (data
//     queued or in flight), limited by the peer's receive window, and
//     limited by the send buffer, measured on the engine clock.
//   - The delivery-rate sampler of a connection not run by BBR.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// sendExt is a connection's out-of-line send state; nil until the
// connection's first write (ext).
type sendExt struct {
	chrono chrono
	eor    recordEnds
	forced forcedMarks
	sml    seqnum.Value // Linux snd_sml: end of the last small segment sent (Minshall's Nagle, output.go)
	// softErr is the last soft ICMP error (Linux sk_err_soft, pmtu.go):
	// what a timeout reports instead of ErrTimeout; an ACK clears it.
	softErr error
	mtu     *mtuSearch  // the tcp_mtu_probing search (pmtu.go); nil while off
	undo    *undoState  // a loss episode that outlived its scoreboard (releaseTxq); valid while saved
	rate    rateSampler // delivery-rate sampling (ratesample.go) under controllers other than BBR, which keeps its own
	rto     rtoStats    // TCP_INFO's RTO counts (timers.go)
	// probesSince is when the persist timer sent this probing's first
	// zero-window probe (Linux icsk_probes_tstamp), never between
	// probings: a user timeout bounds the probing from there.
	probesSince clock.Time
	txHash      uint16 // which flow label our IPv6 segments carry (OutSegment.TxHash), changed by each rehash (rehash.go; Linux sk_txhash)
	rehashes    uint16 // rehashes on our timeouts, saturating (Linux timeout_rehash: tcpi_rehash)
}

// timeoutErr is the error a connection that timed out reports: the last
// soft ICMP error, else ErrTimeout (Linux tcp_write_err: sk_err_soft ?:
// ETIMEDOUT).
func (c *Conn) timeoutErr() error {
	if c.sx != nil && c.sx.softErr != nil {
		return c.sx.softErr
	}
	return ErrTimeout
}

// ext returns the connection's sendExt, allocating it (once per
// connection, at its first write, or its first retransmission timeout).
func (c *Conn) ext() *sendExt {
	if c.sx == nil {
		c.sx = &sendExt{sml: c.sndUna, rate: rateSampler{appLimited: rateStartLimited}, rto: rtoStats{since: never}, probesSince: never}
	}
	return c.sx
}

// Chrono types, Linux's enum tcp_chrono in priority order: a condition of
// a higher type that starts displaces the one being timed.
const (
	chronoNone   uint8 = iota // TCP_CHRONO_UNSPEC: nothing to send
	chronoBusy                // TCP_CHRONO_BUSY: data queued or in flight
	chronoRwnd                // TCP_CHRONO_RWND_LIMITED: the peer's window holds the next segment back
	chronoSndbuf              // TCP_CHRONO_SNDBUF_LIMITED: the application is held back by the send buffer
)

// chrono is Linux's chrono_type/chrono_start/chrono_stat: one condition
// timed at a time; stat[t-1] holds the closed periods of type t.
type chrono struct {
	stat  [3]time.Duration // busy, rwnd-limited, sndbuf-limited periods closed so far
	start clock.Time       // start of the current period; valid unless typ == chronoNone
	typ   uint8            // the condition being timed
}

// set closes the current period and starts one of type t (Linux
// tcp_chrono_set).
func (ch *chrono) set(now clock.Time, t uint8) {
	if ch.typ != chronoNone {
		ch.stat[ch.typ-1] += now.Sub(ch.start)
	}
	ch.start, ch.typ = now, t
}

// chronoStart starts timing condition t unless one of higher priority is
// being timed (Linux tcp_chrono_start).
func (c *Conn) chronoStart(now clock.Time, t uint8) {
	if ch := &c.ext().chrono; t > ch.typ {
		ch.set(now, t)
	}
}

// chronoStop ends condition t (Linux tcp_chrono_stop): with nothing queued
// or in flight the connection is no longer busy; otherwise, if t was the
// condition timed, busy time goes on.
func (c *Conn) chronoStop(now clock.Time, t uint8) {
	if c.sx == nil {
		return
	}
	ch := &c.sx.chrono
	switch {
	case c.sndBuf.Len() == 0:
		if ch.typ != chronoNone {
			ch.set(now, chronoNone)
		}
	case t == ch.typ:
		ch.set(now, chronoBusy)
	}
}

// chronoTimes returns the busy time (all three conditions, as Linux's
// tcpi_busy_time), and the rwnd- and sndbuf-limited times, the current
// period included.
func (c *Conn) chronoTimes(now clock.Time) (busy, rwnd, sndbuf time.Duration) {
	if c.sx == nil {
		return 0, 0, 0
	}
	ch := &c.sx.chrono
	st := ch.stat
	if ch.typ != chronoNone {
		st[ch.typ-1] += now.Sub(ch.start)
	}
	return st[0] + st[1] + st[2], st[1], st[2]
}

// recordEnd is one MSG_EOR record end in the send queue.
type recordEnd struct {
	end seqnum.Value // sequence number after the record's last byte
	psh bool         // the write was not MSG_MORE: the segment ending here carries PSH
}

// recordEnds holds the record ends above SND.NXT, oldest first, in a ring
// that doubles up to the connection's bound (maxTxSegs: a record end is a
// segment to come).
type recordEnds struct {
	r    []recordEnd // ring storage; len is 0 or a power of two
	head int
	n    int
}

func (q *recordEnds) at(i int) *recordEnd { return &q.r[(q.head+i)&(len(q.r)-1)] }

// push appends a record end; false if the ring is at its bound.
func (q *recordEnds) push(e recordEnd, bound int) bool {
	if q.n == len(q.r) {
		if q.n >= bound {
			return false
		}
		r := make([]recordEnd, max(2*len(q.r), 8))
		for i := 0; i < q.n; i++ {
			r[i] = *q.at(i)
		}
		q.r, q.head = r, 0
	}
	*q.at(q.n) = e
	q.n++
	return true
}

// endsAt reports whether the last record end queued is seq.
func (q *recordEnds) endsAt(seq seqnum.Value) bool {
	return q.n > 0 && q.at(q.n-1).end == seq
}

// nextRecordEnd returns the first record end above SND.NXT, dropping
// those already sent; ok is false if there is none.
func (c *Conn) nextRecordEnd() (e recordEnd, ok bool) {
	if c.sx == nil {
		return recordEnd{}, false
	}
	q := &c.sx.eor
	for q.n > 0 {
		if e := *q.at(0); c.sndNxt.LessThan(e.end) {
			return e, true
		}
		q.head = (q.head + 1) & (len(q.r) - 1)
		q.n--
	}
	return recordEnd{}, false
}

// recordLimit bounds n, the length of a new segment at SND.NXT, to the
// next record end: a segment never carries the end of one MSG_EOR record
// and data after it.
func (c *Conn) recordLimit(n int) int {
	if e, ok := c.nextRecordEnd(); ok {
		return min(n, int(e.end.Sub(c.sndNxt)))
	}
	return n
}

// atRecordEnd reports whether new data ending at end ends a record, and
// whether that record's write asked for PSH.
func (c *Conn) atRecordEnd(end seqnum.Value) (ends, psh bool) {
	e, ok := c.nextRecordEnd()
	return ok && e.end == end, ok && e.end == end && e.psh
}

// tailIsRecordEnd reports whether the send queue's last byte ends a
// MSG_EOR record (the next write starts a new one).
func (c *Conn) tailIsRecordEnd(end seqnum.Value) bool {
	return c.sx != nil && c.sx.eor.endsAt(end)
}

// dropRecordEnds forgets the record ends (the connection is gone).
func (c *Conn) dropRecordEnds() {
	if c.sx != nil {
		c.sx.eor = recordEnds{}
	}
}

// chronoRound times the end of a transmission round, as Linux's
// tcp_write_xmit and tcp_cwnd_validate do: rwnd-limited while the peer's
// window, not pacing or the congestion window, holds the next segment
// back; sndbuf-limited when a round that sent data left nothing unsent,
// the congestion window was not the limit (tcp_is_cwnd_limited), and a
// write was cut short by the send buffer (SOCK_NOSPACE: fWriteBlocked).
func (c *Conn) chronoRound(now clock.Time, sent bool) {
	if c.sx == nil {
		return
	}
	if c.rwndLimited(now) {
		c.chronoStart(now, chronoRwnd)
	} else {
		c.chronoStop(now, chronoRwnd)
	}
	if sent && c.flags&fWriteBlocked != 0 && c.notsentBytes() == 0 && !c.cwndLimited() &&
		(c.state == StateEstablished || c.state == StateCloseWait) {
		c.chronoStart(now, chronoSndbuf)
	}
}

// rwndLimited reports whether the peer's window holds the next segment of
// new data back while pacing and the congestion window would let it go
// (Linux tcp_write_xmit's is_rwnd_limited: tcp_snd_wnd_test failed after
// tcp_pacing_check and tcp_cwnd_test passed).
func (c *Conn) rwndLimited(now clock.Time) bool {
	unsent := int(c.notsentBytes())
	if unsent == 0 || (c.paceAt != never && now < c.paceAt && c.pacing()) {
		return false
	}
	need := min(c.recordLimit(unsent), c.effMSS())
	return c.cc.window()-c.pipe() >= need && int(c.sndWnd)-c.flight() < need
}

package tcp

// Orphans: connections the application closed (Close) that are still
// open on the wire, finishing their close (FIN-WAIT-1, CLOSING, LAST-ACK,
// FIN-WAIT-2): Linux's orphan sockets (tcp_orphan_count, the "orphan" of
// /proc/net/sockstat). Nothing reads from them and nothing will write:
// they hold their send queue until the peer takes it or the retries run
// out (tcp_orphan_retries), so a peer that stops reading can hold
// memory with them after the application let go. Linux bounds them by
// tcp_check_oom: more than tcp_max_orphans open, or TCP memory past
// tcp_mem[2] while the connection holds more than SOCK_MIN_SNDBUF of send
// queue. An orphan beyond the bounds is reset when it closes
// (__tcp_close) and when its retransmission or zero-window-probe timer
// fires (tcp_out_of_resources, which counts the orphans twice or four
// times for an orphan that has sent nothing new for 240 s, is about to
// give up, or has had an ICMP error), and counted in TCPAbortOnMemory.
//
// Linux counts the orphans of the host; xdptcp those of a loop, as its
// TIME-WAIT table (tcp_max_tw_buckets), whose default is half the flow
// table's as Linux's is half its established hash's. Linux turns an orphan
// in FIN-WAIT-2 into a TIME-WAIT bucket (tcp_fin_timeout at most 60 s);
// xdptcp keeps the connection until its FIN-WAIT-2 time (finTime) and
// counts it, but, as Linux, never resets it for the bounds: it holds no
// send queue.

import (
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// tcpRTOMaxFixed is Linux's TCP_RTO_MAX (120 s), which
// tcp_out_of_resources uses whatever tcp_rto_max_ms says.
const tcpRTOMaxFixed = 120 * time.Second

// orphanOOM is Linux's tcp_check_oom: more orphans than tcp_max_orphans,
// their count shifted left by shift (tcp_too_many_orphans), or TCP memory
// past tcp_mem[2] while the connection holds more than SOCK_MIN_SNDBUF
// (tcp_out_of_memory).
func (c *Conn) orphanOOM(shift uint) bool {
	l := c.layer
	return l.orphans.Load()<<shift > int64(l.cfg.MaxOrphans) || c.wmemQueued() > sockMinSndbuf && l.memOverLimit()
}

// outOfResources is Linux's tcp_out_of_resources, asked by an orphan's
// retransmission timer (doReset: the orphan is alive or not yet timed
// out) and probe timer (doReset true). An orphan that has sent no new
// data for twice TCP_RTO_MAX, or is not to be reset, counts the orphans
// double, one with a soft ICMP error double again. Beyond the bounds the
// connection ends, with a RST if asked, or if it sent new data within
// TIME-WAIT's length, or if the peer's window is closed with nothing in
// flight; it reports whether it ended.
func (c *Conn) outOfResources(now clock.Time, doReset bool) bool {
	var shift uint
	idle := now.Sub(c.lsndtime())
	if idle > 2*tcpRTOMaxFixed || !doReset {
		shift++
	}
	if c.sx != nil && c.sx.softErr != nil {
		shift++
	}
	if !c.orphanOOM(shift) {
		return false
	}
	if idle <= 2*c.layer.cfg.MSL || c.sndWnd == 0 && (c.tq == nil || c.tq.n == 0) {
		doReset = true
	}
	c.abortOnMemory(now, doReset)
	return true
}

// abortOnMemory ends an orphan beyond the bounds, with a RST if reset
// (Linux tcp_send_active_reset with SK_RST_REASON_TCP_ABORT_ON_MEMORY,
// then tcp_done).
func (c *Conn) abortOnMemory(now clock.Time, reset bool) {
	c.layer.stats.TCPAbortOnMemory.Add(1)
	if reset {
		c.sendReset(now)
	}
	c.destroy(nil)
}

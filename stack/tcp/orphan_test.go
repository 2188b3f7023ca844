package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

func (h *harness) orphanCounts(orphans int, aborts uint64) {
	h.t.Helper()
	if got, n := h.l.Orphans(), h.l.Stats().TCPAbortOnMemory.Load(); got != orphans || n != aborts {
		h.t.Fatalf("orphans %d TCPAbortOnMemory %d, want %d and %d", got, n, orphans, aborts)
	}
}

// tcp_max_orphans at close (Linux __tcp_close with tcp_check_oom): the
// orphan beyond the bound sends its FIN and then a RST, and ends; the one
// within it closes as usual, and is no orphan once in TIME-WAIT.
func TestOrphansBoundAtClose(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOrphans = 1 })
	h.listen()
	a := h.openOn(0)
	a.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1))
	h.orphanCounts(1, 0)

	h.openOn(1)
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1))
	h.expect(flags(RST|ACK), seqNum(ourISN+2))
	h.state(StateClosed)
	h.orphanCounts(1, 1)

	h.key, h.c = a.Key(), a
	h.send(ACK, peerISN+1, ourISN+2)
	h.send(FIN|ACK, peerISN+1, ourISN+2)
	h.expect(flags(ACK), ackNum(peerISN+2))
	h.state(StateTimeWait)
	h.orphanCounts(0, 1)
	h.expectNothing()
}

// An orphan whose retransmission timer fires beyond the bound (here
// lowered at run time, as a sysctl write lowers it) is reset instead of
// resending (Linux tcp_write_timeout's tcp_out_of_resources: new data
// sent within 60 s asks for the RST).
func TestOrphanRTOOutOfResources(t *testing.T) {
	h := establishedConn(t)
	h.writeExpect(1, 1000)
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1001))
	h.orphanCounts(1, 0)
	h.timerOutOfResources(ourISN + 1002)
}

// timerOutOfResources lowers tcp_max_orphans below the one orphan and
// expects its next timer, within a second, to reset it at seq.
func (h *harness) timerOutOfResources(seq seqnum.Value) {
	h.t.Helper()
	h.l.Config().MaxOrphans = 0
	h.advance(time.Second)
	h.expect(flags(RST|ACK), seqNum(seq))
	h.expectNothing()
	h.state(StateClosed)
	h.orphanCounts(0, 1)
}

// An orphan that has sent nothing (a zero window from the start, its
// data and FIN queued) counts the orphans once, not double, at its probe
// timer on a loop up for longer than 240 s: its idle time runs from the
// connection's start (Linux's lsndtime), not from the loop's; within the
// bound (1 of 1) it goes on probing.
func TestOrphanIdleFromConnectionStart(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxOrphans = 1 })
	h.advance(300 * time.Second)
	h.listen()
	h.openOn(0)
	h.send(ACK, peerISN+1, ourISN+1, withWin(0))
	h.c.Write(make([]byte, 1000))
	h.c.Close()
	h.expectNothing()
	h.advance(time.Second)
	h.expect(flags(ACK), seqNum(ourISN))
	h.orphanCounts(1, 0)
	h.state(StateFinWait1)
}

// An orphan's idle time runs from its last segment with data, not from
// its FIN (Linux's lsndtime is set by tcp_event_data_sent only): data
// acknowledged 250 s before the close puts the orphan past twice
// TCP_RTO_MAX at its FIN's first retransmission, which counts the
// orphans double, so one orphan of tcp_max_orphans 1 is reset.
func TestOrphanIdleSinceLastData(t *testing.T) {
	h := establishedConn(t, func(c *Config) { c.MaxOrphans = 1 })
	h.writeExpect(1, 1000)
	h.send(ACK, peerISN+1, ourISN+1001)
	h.advance(250 * time.Second)
	h.expectNothing()
	h.c.Close()
	h.expect(flags(FIN|ACK), seqNum(ourISN+1001))
	h.orphanCounts(1, 0)
	h.advance(time.Second)
	h.expect(flags(RST|ACK), seqNum(ourISN+1002))
	h.expectNothing()
	h.state(StateClosed)
	h.orphanCounts(0, 1)
}

// The same for an orphan probing a zero window with its data and FIN
// unsent (Linux tcp_probe_timer: tcp_out_of_resources with a reset).
func TestOrphanProbeOutOfResources(t *testing.T) {
	h := establishedConn(t)
	h.send(ACK, peerISN+1, ourISN+1, withWin(0))
	h.c.Write(make([]byte, 1000))
	h.c.Close()
	h.expectNothing()
	h.orphanCounts(1, 0)
	h.advance(200 * time.Millisecond) // the first probe, within the bound
	h.expect(flags(ACK), seqNum(ourISN))
	h.timerOutOfResources(ourISN + 1)
}

// Past tcp_mem[2] an orphan that holds more than SOCK_MIN_SNDBUF of send
// queue is reset at close (Linux tcp_out_of_memory); below tcp_mem[2] it
// closes as usual.
func TestOrphanOutOfMemoryAtClose(t *testing.T) {
	for _, over := range []bool{false, true} {
		h := establishedConn(t)
		h.l.SetMemAccount(&MemAccount{})
		if over {
			h.l.Config().Mem = [3]int{1, 1, 1}
		}
		h.c.Write(make([]byte, 8000))
		for _, n := range []int{1460, 1460, 1460, 1460, 1460, 700} {
			h.expect(payloadLen(n))
		}
		if !over && h.l.memOverLimit() || over && !h.l.memOverLimit() {
			t.Fatalf("over %v: memOverLimit %v", over, h.l.memOverLimit())
		}
		h.c.Close()
		h.expect(flags(FIN|ACK), seqNum(ourISN+8001))
		if over {
			h.expect(flags(RST|ACK), seqNum(ourISN+8002))
			h.state(StateClosed)
			h.orphanCounts(0, 1)
		} else {
			h.state(StateFinWait1)
			h.orphanCounts(1, 0)
		}
		h.expectNothing()
	}
}

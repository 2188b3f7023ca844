package main

// Lifecycle against the Linux kernel peer (issue 3): TIME-WAIT after a
// server-side close lasts 2*tcp_msl, keepalive finds a dead peer, and the
// SYN-ACK is retransmitted at 1, 3, 7 s when the handshake's ACK is lost.
// They need root; timing is checked only within generous slack.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// debugConn is one entry of /debug/conns?format=json.
type debugConn struct {
	State string `json:"state"`
	Local string `json:"local"`
	Peer  string `json:"peer"`
	Timer string `json:"timer"`
}

// conns lists xdptcpd's connections through the admin endpoint.
func (tp *topo) conns(t *testing.T) []debugConn {
	t.Helper()
	resp, err := httpInNS(tp.srv).Get("http://" + tp.admin + "/debug/conns?format=json")
	if err != nil {
		t.Fatalf("/debug/conns: %v", err)
	}
	defer resp.Body.Close()
	var out []debugConn
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/debug/conns: status %s, decode %v", resp.Status, err)
	}
	return out
}

// connState returns the state /debug/conns shows for peer, or "".
func (tp *topo) connState(t *testing.T, peer string) string {
	for _, c := range tp.conns(t) {
		if c.Peer == peer {
			return c.State
		}
	}
	return ""
}

// counter reads one counter from /metrics (0 if absent).
func (tp *topo) counter(t *testing.T, name string) float64 {
	t.Helper()
	fams := scrapeMetrics(t, tp.srv, tp.admin)
	f := fams[name]
	if f == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	sum := 0.0
	for _, m := range f.Metric {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// nft runs an nft command in ns; the table goes with the namespace.
func nft(t *testing.T, ns *testnet.NS, rule string) {
	t.Helper()
	ns.Exec(t, "nft", strings.Fields(rule)...)
}

// timeWaits reads the TIME-WAIT gauge of /metrics
// (xdptcp_tcp_connections{state="TIME-WAIT"}).
func (tp *topo) timeWaits(t *testing.T) float64 {
	t.Helper()
	fams := scrapeMetrics(t, tp.srv, tp.admin)
	sum := 0.0
	if f := fams["xdptcp_tcp_connections"]; f != nil {
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "state" && lp.GetValue() == "TIME-WAIT" {
					sum += m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}

// With tcp_msl=1, a connection xdptcpd closes first (HTTP
// `Connection: close`) is listed in TIME-WAIT in /debug/conns and gone
// 2 s later; the TIME-WAIT gauge of /metrics and the TW counter (entries
// that expired) agree.
func TestLifecycleTimeWaitKernel(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, "--sysctl", "tcp_msl=1")
	const twMetric = "xdptcp_tcp_ext_tw_total"
	twBefore := tp.counter(t, twMetric)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := c.LocalAddr().String()
	if err := get(bufio.NewReader(c), c, true); err != nil {
		t.Fatal(err)
	}
	// The server's FIN follows the response; our FIN completes the
	// exchange and leaves the TIME-WAIT entry on xdptcpd's side.
	c.Close()
	closed := time.Now()
	var listedAt, gaugeAt, goneAt time.Time
	deadline := closed.Add(2*time.Second + 2*time.Second)
	for {
		now := time.Now()
		st := tp.connState(t, peer)
		if st == "TIME-WAIT" && listedAt.IsZero() {
			listedAt = now
		}
		if st != "" && st != "TIME-WAIT" && now.Sub(closed) > time.Second {
			t.Fatalf("state %s 1 s after both FINs, want TIME-WAIT", st)
		}
		if gaugeAt.IsZero() && tp.timeWaits(t) == 1 {
			gaugeAt = now
		}
		if tp.counter(t, twMetric) == twBefore+1 {
			goneAt = now
			// st was read before the counter: the entry may have
			// expired in between. Once the counter says so, the
			// listing must not show it.
			if st := tp.connState(t, peer); st != "" {
				t.Fatalf("TIME-WAIT expired (%s) but /debug/conns still lists %s", twMetric, st)
			}
			break
		}
		if now.After(deadline) {
			t.Fatalf("TIME-WAIT not over %v after the close (tcp_msl=1: 2 s); /debug/conns %+v", now.Sub(closed), tp.conns(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	life := goneAt.Sub(closed)
	t.Logf("TIME-WAIT ended %v after the close (2*tcp_msl = 2 s); listed at %v, gauge at %v", life.Round(time.Millisecond),
		sinceOrNever(listedAt, closed), sinceOrNever(gaugeAt, closed))
	if life < 1500*time.Millisecond {
		t.Errorf("TIME-WAIT ended %v after the close, want about 2 s", life)
	}
	if tp.timeWaits(t) != 0 {
		t.Error("TIME-WAIT gauge not back to 0")
	}
	if listedAt.IsZero() {
		t.Error("/debug/conns never listed the TIME-WAIT entry")
	}
}

// sinceOrNever formats t-from, or "never" for a zero t.
func sinceOrNever(t, from time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Sub(from).Round(time.Millisecond).String()
}

// keepalive=1 with time 1 s, intvl 1 s, 3 probes: once the client's
// namespace drops everything, xdptcpd probes at 1, 2, 3 s of idleness and
// drops the connection at 4 s, counted as TCPAbortOnTimeout.
func TestLifecycleKeepaliveDeadPeerKernel(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, "--sysctl", "keepalive=1", "--sysctl", "tcp_keepalive_time=1",
		"--sysctl", "tcp_keepalive_intvl=1", "--sysctl", "tcp_keepalive_probes=3")
	const metric = "xdptcp_tcp_ext_tcp_abort_on_timeout_total"
	before := tp.counter(t, metric)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tp.cli.Dial(ctx, "tcp", srvIP+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := c.LocalAddr().String()
	// The peer answers probes while it is alive: the connection outlives
	// several keepalive times.
	time.Sleep(2500 * time.Millisecond)
	if st := tp.connState(t, peer); st != "ESTABLISHED" {
		t.Fatalf("state %q after 2.5 s with an answering peer, want ESTABLISHED", st)
	}
	if tp.counter(t, "xdptcp_tcp_ext_tcp_keep_alive_total") < 1 {
		t.Error("no keepalive probe counted (xdptcp_tcp_ext_tcp_keep_alive_total)")
	}
	nft(t, tp.cli, "add table inet lifecycle")
	nft(t, tp.cli, "add chain inet lifecycle in { type filter hook input priority 0 ; policy drop ; }")
	nft(t, tp.cli, "add chain inet lifecycle out { type filter hook output priority 0 ; policy drop ; }")
	dropped := time.Now()
	// The last answer came at most 1 s before the drop: dead at most
	// 1 + 3*1 s later; allow 3 s of slack on a shared machine.
	deadline := dropped.Add(4*time.Second + 3*time.Second)
	for tp.connState(t, peer) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("connection still listed %v after the peer went dead (keepalive 1+3*1 s)", time.Since(dropped))
		}
		time.Sleep(50 * time.Millisecond)
	}
	gone := time.Since(dropped)
	if after := tp.counter(t, metric); after != before+1 {
		t.Fatalf("%s %v -> %v, want +1", metric, before, after)
	}
	t.Logf("dead peer detected %v after the drop", gone.Round(time.Millisecond))
	if gone < 2*time.Second {
		t.Errorf("dropped %v after the peer went dead: sooner than the last probe interval allows", gone)
	}
}

// The handshake's final ACK is lost (the client namespace drops its pure
// ACKs): xdptcpd retransmits its SYN-ACK at 1, 3, 7 s (tcp_synack_retries,
// initial RTO 1 s doubled, Linux's reqsk_timer_handler schedule), seen on
// the wire in the client namespace.
func TestLifecycleSynAckRetransmitKernel(t *testing.T) {
	t.Parallel()
	tp := newTopo(t)
	const port = 8080
	nft(t, tp.cli, "add table inet lifecycle")
	nft(t, tp.cli, "add chain inet lifecycle out { type filter hook output priority 0 ; }")
	nft(t, tp.cli, fmt.Sprintf("add rule inet lifecycle out ip daddr %s tcp dport %d tcp flags & (syn|ack|fin|rst) == ack drop", srvIP, port))

	pcap := filepath.Join(t.TempDir(), "synack.pcap")
	filter := fmt.Sprintf("src host %s and tcp src port %d and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)", srvIP, port)
	dump := tp.cli.Command("timeout", "20", "tcpdump", "-i", tp.veth.B, "-n", "-U", "-c", "4", "-w", pcap, filter)
	var dumpOut strings.Builder
	dump.Stdout, dump.Stderr = &dumpOut, &dumpOut
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dump.Wait() }()
	t.Cleanup(func() {
		dump.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	// tcpdump says "listening on" once its capture is open.
	ready := time.Now().Add(10 * time.Second)
	for !strings.Contains(dumpOut.String(), "listening on") {
		if time.Now().After(ready) {
			t.Fatalf("tcpdump did not start: %s", dumpOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tp.cli.Dial(ctx, "tcp", net.JoinHostPort(srvIP, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tcpdump: %v\n%s", err, dumpOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("fewer than 4 SYN-ACKs within 15 s\n%s", dumpOut.String())
	}
	times := pcapTimes(t, pcap)
	if len(times) != 4 {
		t.Fatalf("%d SYN-ACKs captured, want 4", len(times))
	}
	want := []time.Duration{time.Second, 3 * time.Second, 7 * time.Second}
	var got []time.Duration
	for i, w := range want {
		d := times[i+1].Sub(times[0])
		got = append(got, d.Round(time.Millisecond))
		if d < w-300*time.Millisecond || d > w+500*time.Millisecond {
			t.Errorf("SYN-ACK %d at %v after the first, want %v", i+1, d, w)
		}
	}
	t.Logf("SYN-ACK retransmissions after the first: %v (want 1s 3s 7s)", got)
}

// pcapTimes returns the timestamps of the packets in a classic pcap file
// (microsecond or nanosecond resolution, either byte order).
func pcapTimes(t *testing.T, path string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("pcap %s: %d bytes", path, len(b))
	}
	u32 := func(p []byte) uint32 { return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24 }
	be := false
	nano := false
	switch magic := u32(b); magic {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		be = true
	case 0x4d3cb2a1:
		be, nano = true, true
	default:
		t.Fatalf("pcap magic %#x", magic)
	}
	rd := func(p []byte) uint32 {
		if be {
			return uint32(p[3]) | uint32(p[2])<<8 | uint32(p[1])<<16 | uint32(p[0])<<24
		}
		return u32(p)
	}
	var out []time.Time
	for off := 24; off+16 <= len(b); {
		sec, frac, incl := rd(b[off:]), rd(b[off+4:]), rd(b[off+8:])
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		out = append(out, time.Unix(int64(sec), ns))
		off += 16 + int(incl)
	}
	return out
}

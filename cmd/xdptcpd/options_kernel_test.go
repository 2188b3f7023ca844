package main

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

// Linux clients with TCP options turned off in their namespace (SACK,
// timestamps, window scaling, all three), over IPv4 and IPv6, against
// xdptcpd through 1 % loss and 3 % reordering: the SYN-ACK offers only what the client offered
// (xdptcpd's `ss -i` shows the connection's options), and a 1 MiB echo
// comes back byte-exact, so both directions run without the option: loss
// recovery from duplicate ACKs alone without SACK (and never SACK
// recovery), RTT from timed segments without timestamps, an unscaled
// 64 KiB window without window scaling.
func TestKernelClientOptionsOff(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kernel peers through the impairment bridge")
	}
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp, _ := impairtest.Start(t, "--loss", "0.01", "--reorder", "0.03", "--delay", "2ms", "--limit", "10000", "--seed", "21")
	admin := impairedDaemon(t, tp, bin, "--addr", tp.ServerAddr6.String()+"/64")
	kernelEcho(t, tp.Server, 7007, "cubic") // XDPTCP_RX_LINUX=1: the same echo from Linux, beside xdptcpd's
	data := make([]byte, 1<<20)
	rand.Read(data)
	opts := []string{"tcp_sack", "tcp_timestamps", "tcp_window_scaling"}
	for _, v := range []struct {
		name string
		off  []string // sysctls set to 0 in the client's namespace
		cc   string   // the client's congestion control
		v6   bool
	}{
		{"defaults", nil, "cubic", false},
		{"sack-off", []string{"tcp_sack"}, "cubic", false},
		{"timestamps-off", []string{"tcp_timestamps"}, "bbr", false},
		{"wscale-off", []string{"tcp_window_scaling"}, "cubic", false},
		{"all-off", opts, "bbr", false},
		{"ipv6", nil, "bbr", true},
		{"ipv6-all-off", opts, "cubic", true},
	} {
		t.Run(v.name, func(t *testing.T) {
			for _, o := range opts {
				val := "1"
				for _, off := range v.off {
					if off == o {
						val = "0"
					}
				}
				tp.Client.Exec(t, "sysctl", "-qw", "net.ipv4."+o+"="+val)
			}
			t.Cleanup(func() {
				for _, o := range opts {
					tp.Client.Exec(t, "sysctl", "-qw", "net.ipv4."+o+"=1")
				}
			})
			srv, cli := tp.ServerAddr, tp.ClientAddr
			if v.v6 {
				srv, cli = tp.ServerAddr6, tp.ClientAddr6
			}
			info := probeOptions(t, tp, bin, admin, srv, cli)
			want := map[string]bool{"sack": true, "ts": true, "wscale": true}
			for _, off := range v.off {
				want[map[string]string{"tcp_sack": "sack", "tcp_timestamps": "ts", "tcp_window_scaling": "wscale"}[off]] = false
			}
			for opt, on := range want {
				if hasOption(info, opt) != on {
					t.Errorf("option %s: want %v, xdptcpd's ss -i: %q", opt, on, info)
				}
			}

			before := daemonMetrics(t, tp.Server, admin)
			d, err := echoRoundTrip(tp.Client, netip.AddrPortFrom(srv, 7).String(), v.cc, data, time.Minute, nil)
			if err != nil {
				t.Fatalf("echo: %v", err)
			}
			after := daemonMetrics(t, tp.Server, admin)
			delta := func(name string) float64 { return after[name] - before[name] }
			sackRec, renoRec := delta("xdptcp_tcp_ext_tcp_sack_recovery_total"), delta("xdptcp_tcp_ext_tcp_reno_recovery_total")
			t.Logf("1 MiB echo over %s, client %s with %v off: %v; xdptcpd retrans_segs %v fast_retrans %v sack_recovery %v reno_recovery %v timeouts %v loss_probes %v dsack_recv %v undo full %v dsack %v loss %v",
				map[bool]string{false: "IPv4", true: "IPv6"}[v.v6], v.cc, v.off, d.Round(time.Millisecond), delta("xdptcp_tcp_retrans_segs_total"), delta("xdptcp_tcp_ext_tcp_fast_retrans_total"), sackRec, renoRec,
				delta("xdptcp_tcp_ext_tcp_timeouts_total"), delta("xdptcp_tcp_ext_tcp_loss_probes_total"), delta("xdptcp_tcp_ext_tcp_dsack_recv_total"), delta("xdptcp_tcp_ext_tcp_full_undo_total"),
				delta("xdptcp_tcp_ext_tcp_dsack_undo_total"), delta("xdptcp_tcp_ext_tcp_loss_undo_total"))
			if !want["sack"] && sackRec != 0 {
				t.Errorf("%v SACK recoveries on a connection without SACK", sackRec)
			}
			if compareLinux() {
				before := kernelCounters(t, tp)
				d, err := echoRoundTrip(tp.Client, netip.AddrPortFrom(srv, 7007).String(), v.cc, data, time.Minute, nil)
				if err != nil {
					t.Fatalf("Linux echo: %v", err)
				}
				after := kernelCounters(t, tp)
				t.Logf("Linux's echo (CUBIC back): %v; RetransSegs %d TCPSackRecovery %d TCPRenoRecovery %d TCPTimeouts %d TCPFullUndo %d TCPPartialUndo %d TCPDSACKUndo %d",
					d.Round(time.Millisecond), after[0]-before[0], after[1]-before[1], after[2]-before[2], after[3]-before[3], after[4]-before[4], after[5]-before[5], after[6]-before[6])
			}
		})
	}
}

// probeOptions opens a connection from cli to xdptcpd's discard port on
// srv and returns the TCP_INFO line xdptcpd's `ss -i` prints for it.
func probeOptions(t *testing.T, tp *impairtest.Topology, bin, admin string, srv, cli netip.Addr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tp.Client.Dial(ctx, "tcp", netip.AddrPortFrom(srv, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := netip.AddrPortFrom(cli, uint16(c.LocalAddr().(*net.TCPAddr).Port)).String()
	out := tp.Server.Exec(t, bin, "ss", "--admin", admin, "-i")
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, peer) && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("xdptcpd's ss -i has no connection from %s:\n%s", peer, out)
	return ""
}

// hasOption reports whether ss's info line lists opt ("ts", "sack", or
// "wscale", which ss prints as wscale:SND,RCV).
func hasOption(info, opt string) bool {
	for _, f := range strings.Fields(info) {
		if f == opt || strings.HasPrefix(f, opt+":") {
			return true
		}
	}
	return false
}

// kernelCounters reads the server namespace's Linux counters the options
// test logs beside xdptcpd's, in its order.
func kernelCounters(t *testing.T, tp *impairtest.Topology) [7]int {
	names := []string{"TcpRetransSegs", "TcpExtTCPSackRecovery", "TcpExtTCPRenoRecovery", "TcpExtTCPTimeouts",
		"TcpExtTCPFullUndo", "TcpExtTCPPartialUndo", "TcpExtTCPDSACKUndo"}
	out := tp.Server.Exec(t, "nstat", append([]string{"-az"}, names...)...)
	var v [7]int
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		for i, n := range names {
			if len(f) >= 2 && f[0] == n {
				v[i], _ = strconv.Atoi(f[1])
			}
		}
	}
	return v
}

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
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
	// The client's option sysctls, and the names ss prints for them.
	opts := map[string]string{"tcp_sack": "sack", "tcp_timestamps": "ts", "tcp_window_scaling": "wscale"}
	all := []string{"tcp_sack", "tcp_timestamps", "tcp_window_scaling"}
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
		{"all-off", all, "bbr", false},
		{"ipv6", nil, "bbr", true},
		{"ipv6-all-off", all, "cubic", true},
	} {
		t.Run(v.name, func(t *testing.T) {
			want := map[string]bool{} // ss's option name: agreed
			for sysctl, name := range opts {
				want[name] = !slices.Contains(v.off, sysctl)
				tp.Client.Exec(t, "sysctl", "-qw", "net.ipv4."+sysctl+"="+map[bool]string{true: "1", false: "0"}[want[name]])
			}
			t.Cleanup(func() {
				for sysctl := range opts {
					tp.Client.Exec(t, "sysctl", "-qw", "net.ipv4."+sysctl+"=1")
				}
			})
			srv, cli := tp.ServerAddr, tp.ClientAddr
			if v.v6 {
				srv, cli = tp.ServerAddr6, tp.ClientAddr6
			}
			info := probeOptions(t, tp, bin, admin, srv, cli)
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
			t.Logf("1 MiB echo over %s, client %s with %v off: %v; xdptcpd %s",
				map[bool]string{false: "IPv4", true: "IPv6"}[v.v6], v.cc, v.off, d.Round(time.Millisecond), deltas(xdptcpdCounters, before, after))
			if n := after[sackRecoveries] - before[sackRecoveries]; !want["sack"] && n != 0 {
				t.Errorf("%v SACK recoveries on a connection without SACK", n)
			}
			if compareLinux() {
				before := kernelCounters(t, tp)
				d, err := echoRoundTrip(tp.Client, netip.AddrPortFrom(srv, 7007).String(), v.cc, data, time.Minute, nil)
				if err != nil {
					t.Fatalf("Linux echo: %v", err)
				}
				t.Logf("Linux's echo (CUBIC back): %v; %s", d.Round(time.Millisecond), deltas(linuxCounters, before, kernelCounters(t, tp)))
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

// The loss-handling counters the options test logs for each echo:
// xdptcpd's /metrics and Linux's nstat names of the same counters.
const sackRecoveries = "xdptcp_tcp_ext_tcp_sack_recovery_total"

var (
	xdptcpdCounters = []string{"xdptcp_tcp_retrans_segs_total", "xdptcp_tcp_ext_tcp_fast_retrans_total", sackRecoveries,
		"xdptcp_tcp_ext_tcp_reno_recovery_total", "xdptcp_tcp_ext_tcp_timeouts_total", "xdptcp_tcp_ext_tcp_loss_probes_total",
		"xdptcp_tcp_ext_tcp_dsack_recv_total", "xdptcp_tcp_ext_tcp_full_undo_total", "xdptcp_tcp_ext_tcp_partial_undo_total", "xdptcp_tcp_ext_tcp_dsack_undo_total",
		"xdptcp_tcp_ext_tcp_loss_undo_total", "xdptcp_tcp_ext_tcp_slow_start_retrans_total",
		"xdptcp_tcp_ext_tcp_sack_recovery_fail_total", "xdptcp_tcp_ext_tcp_loss_failures_total",
		"xdptcp_tcp_ext_tcp_sack_reneging_total", "xdptcp_tcp_ext_tcp_timeout_rehash_total",
		"xdptcp_tcp_ext_tcp_duplicate_data_rehash_total", "xdptcp_tcp_ext_delayed_ack_lost_total"}
	linuxCounters = []string{"TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPSackRecovery", "TcpExtTCPRenoRecovery",
		"TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPDSACKRecv", "TcpExtTCPFullUndo", "TcpExtTCPPartialUndo",
		"TcpExtTCPDSACKUndo", "TcpExtTCPLossUndo", "TcpExtTCPSlowStartRetrans", "TcpExtTCPSackRecoveryFail",
		"TcpExtTCPLossFailures", "TcpExtTCPSACKReneging", "TcpExtTcpTimeoutRehash", "TcpExtTcpDuplicateDataRehash",
		"TcpExtDelayedACKLost"}
)

// deltas formats what each of names grew by from before to after.
func deltas(names []string, before, after map[string]float64) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, " %s %v", strings.TrimSuffix(strings.TrimPrefix(n, "xdptcp_"), "_total"), after[n]-before[n])
	}
	return strings.TrimSpace(b.String())
}

// kernelCounters reads linuxCounters in the server namespace.
func kernelCounters(t *testing.T, tp *impairtest.Topology) map[string]float64 {
	out := tp.Server.Exec(t, "nstat", append([]string{"-az"}, linuxCounters...)...)
	v := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			v[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	return v
}

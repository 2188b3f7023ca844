package harness

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/bench/flood"
)

// Namespace names are nsPrefix + the bench process's pid + a role letter
// (s server, c client, m middle), so a later run can tell a dead run's
// leftovers from a live one's.
const nsPrefix = "xbn"

var staleRe = regexp.MustCompile(`^` + nsPrefix + `(\d+)([scm]|[scm]i)$`)

// Addresses (198.18.0.0/15, the benchmarking range; 2001:2::/48, its
// IPv6 counterpart, for the -v6 scenarios).
var (
	DirectServer  = netip.MustParseAddr("198.18.0.1")
	DirectClient  = netip.MustParseAddr("198.18.0.2")
	DirectServer6 = netip.MustParseAddr("2001:2::1")
	DirectClient6 = netip.MustParseAddr("2001:2::2")
	// Extra client addresses for idle connections beyond one address's
	// port range.
	DirectClientExtra = []netip.Addr{netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11"),
		netip.MustParseAddr("198.18.0.12"), netip.MustParseAddr("198.18.0.13")}
	BridgedServer = netip.MustParseAddr("198.18.9.1")
	BridgedClient = netip.MustParseAddr("198.18.9.2")
)

// Topology is the bench's namespaces: server and client joined by a veth
// pair (direct), or through a middle namespace running the impairment
// bridge (bridged).
type Topology struct {
	Server, Client, Middle string // namespace names; Middle is "" when direct
	ServerIf, ClientIf     string
	LegA, LegB             string // the middle's legs (A faces the client)
	ServerAddr, ClientAddr netip.Addr
	// ServerAddr6 and ClientAddr6 are the direct topology's IPv6
	// addresses (/64); invalid when bridged.
	ServerAddr6, ClientAddr6 netip.Addr
	ClientExtra              []netip.Addr
	created                  []string
}

func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func nsExec(ctx context.Context, ns string, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// RemoveStale deletes namespaces left by bench runs whose process is gone
// (a run killed with SIGKILL cannot clean up after itself) and returns
// their names.
func RemoveStale() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var removed []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleRe.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || err == syscall.EPERM {
			continue // that run is alive
		}
		if exec.Command("ip", "netns", "del", f[0]).Run() == nil {
			removed = append(removed, f[0])
		}
	}
	return removed
}

func (t *Topology) addNS(ctx context.Context, name string) error {
	if err := ipCmd(ctx, "netns", "add", name); err != nil {
		return err
	}
	t.created = append(t.created, name)
	return ipCmd(ctx, "-n", name, "link", "set", "lo", "up")
}

// Close removes the namespaces (and with them the veths).
func (t *Topology) Close() {
	for _, n := range t.created {
		exec.Command("ip", "netns", "del", n).Run()
	}
	t.created = nil
}

// sysctls sets kernel settings in ns.
func sysctls(ctx context.Context, ns string, kv ...string) error {
	for _, s := range kv {
		if _, err := nsExec(ctx, ns, "sysctl", "-qw", s); err != nil {
			return err
		}
	}
	return nil
}

// clientSysctls lets the client open connections at a high rate (a wide
// port range; TIME-WAIT reuse for outgoing connections). The kernel's range
// stays clear of xdpClientPorts, which xdptcp-load uses on the same address
// (the server may still hold TIME-WAIT entries for either's connections).
var clientSysctls = []string{"net.ipv4.ip_local_port_range=1024 39999", "net.ipv4.tcp_tw_reuse=1"}

// xdpClientPorts is xdptcp-load's ip_local_port_range.
const xdpClientPorts = "40000 65535"

// serverSysctls are Linux's defaults, set explicitly so the report states
// them: SYN cookies on when the SYN queue overflows.
var serverSysctls = []string{"net.ipv4.tcp_syncookies=1"}

// LinuxCC is the congestion control of the Linux sockets the bench opens
// (the peer servers' listeners, whose connections inherit it, and the
// bulk clients), set per socket with TCP_CONGESTION; "" keeps the
// namespace's default. The default is CUBIC, Linux's own default and
// xdptcp's (tcp_congestion_control): this host defaults to BBR, which
// ignores random loss, so the loss scenarios would compare congestion
// controllers rather than stacks. (A namespace's default cannot be
// changed here: outside the initial namespace only the host's
// tcp_allowed_congestion_control may be chosen.)
var LinuxCC = "cubic"

// DirectMTU, when above 0, is the MTU of both ends of the direct
// topology's veth (e.g. 9000 for jumbo frames: xdptcpd then binds its
// socket with multi-buffer AF_XDP); 0 keeps veth's 1500.
var DirectMTU = 0

// XdptcpdFlags are more flags for every xdptcpd the bench starts (e.g.
// --tx-checksum on).
var XdptcpdFlags []string

// NewDirect builds server ns -- veth -- client ns. The client end has TX
// checksum offload off (xdptcpd's frames would otherwise carry partial
// checksums); 198.18.128.0/17 (the SYN flood's sources) is routed from the
// server to the client, where it is blackholed. Both ends have an IPv6
// address too, `nodad` so that it is usable at once (duplicate address
// detection would hold it tentative for a second).
func NewDirect(ctx context.Context, suffix string) (t *Topology, err error) {
	pid := strconv.Itoa(os.Getpid())
	// The veth names carry the pid too: NAPI kthreads are named after
	// their device (napi/DEV-N) and the rig finds them by that name.
	t = &Topology{Server: nsPrefix + pid + "s" + suffix, Client: nsPrefix + pid + "c" + suffix,
		ServerIf: "xbs" + pid + suffix, ClientIf: "xbc" + pid + suffix,
		ServerAddr: DirectServer, ClientAddr: DirectClient, ClientExtra: DirectClientExtra,
		ServerAddr6: DirectServer6, ClientAddr6: DirectClient6}
	tp := t // the named result is nil by the time an error return runs this
	defer func() {
		if err != nil {
			tp.Close()
		}
	}()
	if err := t.addNS(ctx, t.Server); err != nil {
		return nil, err
	}
	if err := t.addNS(ctx, t.Client); err != nil {
		return nil, err
	}
	if err := ipCmd(ctx, "-n", t.Server, "link", "add", t.ServerIf, "type", "veth", "peer", "name", t.ClientIf, "netns", t.Client); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"-n", t.Server, "addr", "add", t.ServerAddr.String() + "/24", "dev", t.ServerIf},
		{"-n", t.Client, "addr", "add", t.ClientAddr.String() + "/24", "dev", t.ClientIf},
		{"-n", t.Server, "addr", "add", t.ServerAddr6.String() + "/64", "dev", t.ServerIf, "nodad"},
		{"-n", t.Client, "addr", "add", t.ClientAddr6.String() + "/64", "dev", t.ClientIf, "nodad"},
	}
	for _, a := range t.ClientExtra {
		steps = append(steps, []string{"-n", t.Client, "addr", "add", a.String() + "/24", "dev", t.ClientIf})
	}
	if DirectMTU > 0 {
		mtu := strconv.Itoa(DirectMTU)
		steps = append(steps,
			[]string{"-n", t.Server, "link", "set", t.ServerIf, "mtu", mtu},
			[]string{"-n", t.Client, "link", "set", t.ClientIf, "mtu", mtu})
	}
	steps = append(steps,
		[]string{"-n", t.Server, "link", "set", t.ServerIf, "up"},
		[]string{"-n", t.Client, "link", "set", t.ClientIf, "up"},
		[]string{"-n", t.Server, "route", "add", flood.Allowed.String(), "via", t.ClientAddr.String()},
		[]string{"-n", t.Client, "route", "add", "blackhole", flood.Allowed.String()},
	)
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return nil, err
		}
	}
	if _, err := nsExec(ctx, t.Client, "ethtool", "-K", t.ClientIf, "tx", "off"); err != nil {
		return nil, err
	}
	if err := sysctls(ctx, t.Client, clientSysctls...); err != nil {
		return nil, err
	}
	if err := sysctls(ctx, t.Server, serverSysctls...); err != nil {
		return nil, err
	}
	return t, nil
}

// NewBridged builds client ns -- veth -- middle ns -- veth -- server ns,
// for the impairment bridge (run with StartBridge). TX checksum offload is
// off on every leg and endpoint (the bridge copies frames as they are).
func NewBridged(ctx context.Context) (t *Topology, err error) {
	pid := strconv.Itoa(os.Getpid())
	t = &Topology{Server: nsPrefix + pid + "si", Client: nsPrefix + pid + "ci", Middle: nsPrefix + pid + "m",
		ServerIf: "xbsrv", ClientIf: "xbcli", LegA: "xbla", LegB: "xblb",
		ServerAddr: BridgedServer, ClientAddr: BridgedClient}
	tp := t // the named result is nil by the time an error return runs this
	defer func() {
		if err != nil {
			tp.Close()
		}
	}()
	for _, n := range []string{t.Server, t.Client, t.Middle} {
		if err := t.addNS(ctx, n); err != nil {
			return nil, err
		}
	}
	steps := [][]string{
		{"-n", t.Client, "link", "add", t.ClientIf, "type", "veth", "peer", "name", t.LegA, "netns", t.Middle},
		{"-n", t.Server, "link", "add", t.ServerIf, "type", "veth", "peer", "name", t.LegB, "netns", t.Middle},
		{"-n", t.Server, "addr", "add", t.ServerAddr.String() + "/24", "dev", t.ServerIf},
		{"-n", t.Client, "addr", "add", t.ClientAddr.String() + "/24", "dev", t.ClientIf},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return nil, err
		}
	}
	sysctls(ctx, t.Middle, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	for _, d := range [][2]string{{t.Client, t.ClientIf}, {t.Server, t.ServerIf}, {t.Middle, t.LegA}, {t.Middle, t.LegB}} {
		if _, err := nsExec(ctx, d[0], "ethtool", "-K", d[1], "tx", "off"); err != nil {
			return nil, err
		}
		if err := ipCmd(ctx, "-n", d[0], "link", "set", d[1], "up"); err != nil {
			return nil, err
		}
	}
	if err := sysctls(ctx, t.Client, clientSysctls...); err != nil {
		return nil, err
	}
	if err := sysctls(ctx, t.Server, serverSysctls...); err != nil {
		return nil, err
	}
	return t, nil
}

// KernelSettings reads the TCP settings that matter for the figures.
func KernelSettings(ctx context.Context, ns string) map[string]string {
	names := []string{"net.ipv4.tcp_syncookies", "net.ipv4.tcp_tw_reuse", "net.core.somaxconn",
		"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_max_tw_buckets",
		"net.ipv4.ip_local_port_range", "net.ipv4.tcp_congestion_control", "net.ipv4.tcp_timestamps",
		"net.ipv4.tcp_sack", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_synack_retries"}
	out := map[string]string{}
	for _, n := range names {
		v, err := nsExec(ctx, ns, "sysctl", "-n", n)
		if err == nil {
			out[n] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

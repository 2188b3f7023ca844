// Package impairtest builds the impairment bridge's three-namespace test
// topology and runs the bridge command in it:
//
//	client ns: Client veth end ClientIf, ClientAddr (198.18.7.1/24), ClientAddr6 (2001:2:7::1/64)
//	   |
//	middle ns: LegA <- xdptcp-impair -> LegB   (no addresses, IPv6 off)
//	   |
//	server ns: Server veth end ServerIf, ServerAddr (198.18.7.2/24), ServerAddr6 (2001:2:7::2/64)
//
// Everything is created with internal/testnet, so namespaces and veths are
// uniquely named and removed when the test ends, pass or fail; the bridge
// process is stopped first. Tests that use it need root (testnet.RequireRoot).
package impairtest

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

// BridgePkg is the import path of the bridge command.
const BridgePkg = "github.com/xdptcp/xdptcp/bench/cmd/xdptcp-impair"

// Topology is client ns -- veth -- middle ns -- veth -- server ns.
type Topology struct {
	Client, Middle, Server *testnet.NS
	ClientIf, ServerIf     string // the endpoints' interfaces (tx offload off)
	LegA, LegB             string // the middle's legs: A faces the client
	ClientAddr, ServerAddr netip.Addr
	Prefix                 netip.Prefix
	// The IPv6 addresses (nodad: usable at once); the bridge impairs IPv6
	// as IPv4 and lets neighbour discovery through untouched.
	ClientAddr6, ServerAddr6 netip.Addr
	Prefix6                  netip.Prefix
}

// New builds the topology; it is torn down when t ends.
func New(t testing.TB) *Topology {
	t.Helper()
	testnet.RequireRoot(t)
	tp := &Topology{
		Prefix:      netip.MustParsePrefix("198.18.7.0/24"),
		ClientAddr:  netip.MustParseAddr("198.18.7.1"),
		ServerAddr:  netip.MustParseAddr("198.18.7.2"),
		Prefix6:     netip.MustParsePrefix("2001:2:7::/64"),
		ClientAddr6: netip.MustParseAddr("2001:2:7::1"),
		ServerAddr6: netip.MustParseAddr("2001:2:7::2"),
	}
	tp.Client = testnet.NewNS(t, "imc")
	tp.Middle = testnet.NewNS(t, "imm")
	tp.Server = testnet.NewNS(t, "ims")
	// IPv6 off in the middle so the legs send no router solicitations.
	testnet.Try("ip", "netns", "exec", tp.Middle.Name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	testnet.Try("ip", "netns", "exec", tp.Middle.Name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	cv := testnet.NewVeth(t, testnet.VethOptions{
		ANS: tp.Client, BNS: tp.Middle,
		AAddr: tp.ClientAddr.String() + "/24", TxOffOnA: true, TxOffOnB: true,
	})
	sv := testnet.NewVeth(t, testnet.VethOptions{
		ANS: tp.Server, BNS: tp.Middle,
		AAddr: tp.ServerAddr.String() + "/24", TxOffOnA: true, TxOffOnB: true,
	})
	tp.ClientIf, tp.LegA = cv.A, cv.B
	tp.ServerIf, tp.LegB = sv.A, sv.B
	tp.Client.Exec(t, "ip", "-6", "addr", "add", tp.ClientAddr6.String()+"/64", "dev", tp.ClientIf, "nodad")
	tp.Server.Exec(t, "ip", "-6", "addr", "add", tp.ServerAddr6.String()+"/64", "dev", tp.ServerIf, "nodad")
	return tp
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Build compiles the main package pkg (an import path in this module) into
// a temporary directory and returns the binary's path. Binaries are built
// once per test process; the directory goes away with the first test's
// temporary directory, so later tests build again.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, filepath.Base(pkg))
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// Bridge is a running xdptcp-impair process in the middle namespace.
type Bridge struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error // exit status, valid after done
	mu     sync.Mutex
	stats  *impair.Stats
}

// StartBridge builds the bridge command and starts it in the middle
// namespace between LegA and LegB with the extra flags args (impairments,
// --seed, ...); --json is always passed. It waits until the bridge reports
// ready (at most 10 s) and stops it, if still running, when t ends.
func (tp *Topology) StartBridge(t testing.TB, args ...string) *Bridge {
	t.Helper()
	bin := Build(t, BridgePkg)
	all := append([]string{"--a", tp.LegA, "--b", tp.LegB, "--json"}, args...)
	b := &Bridge{done: make(chan struct{})}
	b.cmd = tp.Middle.Command(bin, all...)
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start bridge: %v", err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		if _, err := b.Stop(); err != nil {
			t.Logf("bridge stop: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.stderr.String(), "xdptcp-impair: ready") {
		select {
		case <-b.done:
			t.Fatalf("bridge exited before ready: %v\n%s", b.err, b.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge not ready after 10s:\n%s", b.stderr.String())
		}
	}
	return b
}

// Stop sends SIGTERM, waits at most 10 s for a clean exit (then kills the
// process group) and returns the final counters the bridge printed. It may
// be called more than once.
func (b *Bridge) Stop() (impair.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stats != nil {
		return *b.stats, nil
	}
	select {
	case <-b.done:
	default:
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
			return impair.Stats{}, errors.New("bridge did not exit within 10s of SIGTERM; killed")
		}
	}
	if b.err != nil {
		return impair.Stats{}, fmt.Errorf("bridge exited: %v\nstderr:\n%s", b.err, b.stderr.String())
	}
	st, err := parseFinal(b.stdout.String())
	if err != nil {
		return impair.Stats{}, fmt.Errorf("%v\nstdout:\n%s", err, b.stdout.String())
	}
	b.stats = &st
	return st, nil
}

// Output returns what the bridge printed so far on stdout and stderr.
func (b *Bridge) Output() (stdout, stderr string) { return b.stdout.String(), b.stderr.String() }

// parseFinal finds the "final:" text line and the JSON line after it.
func parseFinal(out string) (impair.Stats, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sawFinal := false
	for _, l := range lines {
		if strings.HasPrefix(l, "final: ") {
			sawFinal = true
		}
		if sawFinal && strings.HasPrefix(l, "{") {
			return impair.ParseStatsJSON(l)
		}
	}
	return impair.Stats{}, errors.New("bridge printed no final counters")
}

// lockedBuffer is a bytes.Buffer safe for the writer goroutine of exec and
// readers in the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start builds the topology and starts the bridge in it with args, in one
// call; both go away when t ends.
func Start(t testing.TB, args ...string) (*Topology, *Bridge) {
	t.Helper()
	tp := New(t)
	return tp, tp.StartBridge(t, args...)
}

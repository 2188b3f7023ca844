package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Ports every server serves.
const (
	PortHTTP    = 8080
	PortEcho    = 7
	PortDiscard = 9
	PortBlob    = 8081 // GET /SIZE answers SIZE bytes (xdptcpd's blob handler, the Linux peer's --blob)
	// PortEchoCopy is echo through user space: the Linux peer's --echo-copy
	// (read and write, no splice); xdptcpd's echo handler, which has no
	// other way.
	PortEchoCopy = 8007
)

// Bins are the programs the harness runs.
type Bins struct {
	Xdptcpd  string // ./cmd/xdptcpd
	Peer     string // ./bench/cmd/xdptcp-peer
	Bench    string // ./bench/cmd/xdptcp-bench (its client subcommands)
	Synflood string // ./bench/cmd/xdptcp-synflood
	Impair   string // ./bench/cmd/xdptcp-impair
	Gvisor   string // bench/peers/gvisor (own module); "" when not built
	Load     string // ./bench/cmd/xdptcp-load; "" when not built
}

// Server names.
const (
	ServerXdptcpd   = "xdptcpd"
	ServerLinuxNet  = BaselineServer
	ServerLinuxHTTP = "linux-http"
	ServerGvisor    = "gvisor"
)

// AllServers lists the servers in report order.
var AllServers = []string{ServerXdptcpd, ServerLinuxNet, ServerLinuxHTTP, ServerGvisor}

// startServer starts server name in t's server namespace on cpus and waits
// until it answers HTTP from the client namespace. cc is the congestion
// control of its connections: xdptcpd's tcp_congestion_control, the Linux
// peer's TCP_CONGESTION ("": xdptcpd's default and LinuxCC); extra are
// more flags for xdptcpd (a scenario's own ports and settings), after
// XdptcpdFlags.
func startServer(ctx context.Context, name string, b Bins, t *Topology, cpus, cc string, extra ...string) (*Proc, error) {
	addr := t.ServerAddr.String()
	hp := func(p int) string { return fmt.Sprintf("%s:%d", addr, p) }
	// Servers that serve IPv6 too (the direct topology) listen on both
	// families; the gVisor peer stays IPv4 only.
	v6 := t.ServerAddr6.IsValid()
	hps := func(p int) string {
		if !v6 {
			return hp(p)
		}
		return hp(p) + "," + netip.AddrPortFrom(t.ServerAddr6, uint16(p)).String()
	}
	var p *Proc
	var err error
	switch name {
	case ServerXdptcpd:
		first := strings.Split(cpus, ",")[0]
		args := []string{"--iface", t.ServerIf, "--addr", addr + "/24"}
		if v6 {
			args = append(args, "--addr", t.ServerAddr6.String()+"/64")
		}
		args = append(args,
			"--listen", fmt.Sprintf("%d=http", PortHTTP), "--listen", fmt.Sprintf("%d=echo", PortEcho),
			"--listen", fmt.Sprintf("%d=discard", PortDiscard), "--listen", fmt.Sprintf("%d=blob", PortBlob),
			"--listen", fmt.Sprintf("%d=echo", PortEchoCopy),
			"--admin", xdptcpdAdmin, "--cpus", first, "--log-level", "warn")
		if cc != "" {
			args = append(args, "--sysctl", "tcp_congestion_control="+cc)
		}
		args = append(args, XdptcpdFlags...)
		p, err = Start(name, t.Server, cpus, b.Xdptcpd, append(args, extra...)...)
	case ServerLinuxNet, ServerLinuxHTTP:
		mode := "net"
		if name == ServerLinuxHTTP {
			mode = "http"
		}
		if cc == "" {
			cc = LinuxCC
		}
		p, err = Start(name, t.Server, cpus, b.Peer, "--mode", mode, "--http", hps(PortHTTP), "--echo", hps(PortEcho),
			"--discard", hps(PortDiscard), "--blob", hps(PortBlob), "--echo-copy", hps(PortEchoCopy), "--cc", cc)
	case ServerGvisor:
		if b.Gvisor == "" {
			return nil, fmt.Errorf("gvisor peer not built")
		}
		p, err = Start(name, t.Server, cpus, b.Gvisor, "--iface", t.ServerIf, "--addr", addr+"/24",
			"--http", fmt.Sprint(PortHTTP), "--echo", fmt.Sprint(PortEcho), "--discard", fmt.Sprint(PortDiscard))
	default:
		return nil, fmt.Errorf("unknown server %q", name)
	}
	if err != nil {
		return nil, err
	}
	cli := &testnet.NS{Name: t.Client}
	err = waitFor(ctx, 20*time.Second, func() error {
		if err := p.Exited(); err != nil {
			return err
		}
		return httpGet(ctx, cli, hp(PortHTTP))
	})
	if err == nil && v6 && name != ServerGvisor {
		err = waitFor(ctx, 5*time.Second, func() error {
			return httpGet(ctx, cli, netip.AddrPortFrom(t.ServerAddr6, PortHTTP).String())
		})
	}
	if err == nil {
		err = p.Exited()
	}
	if err != nil {
		p.Stop(2 * time.Second)
		return nil, fmt.Errorf("%s not serving: %v\n%s", name, err, tail(p.Output(), 2000))
	}
	return p, nil
}

// httpGet checks one request from ns.
func httpGet(ctx context.Context, ns *testnet.NS, addr string) error {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := ns.Dial(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return err
	}
	if !strings.Contains(string(b), "Hello, World!") {
		return fmt.Errorf("unexpected response %q", b)
	}
	return nil
}

var readFile = os.ReadFile

// errCCNotOffered says a server cannot run with a scenario's congestion
// control; the report shows the row as not offered rather than failed.
var errCCNotOffered = errors.New("congestion control not offered")

// ccOffered reports whether server name can run with congestion control
// cc. For xdptcpd that is whether the stack (built from the same tree as
// the bench) accepts tcp_congestion_control=cc.
func ccOffered(name, cc string) error {
	switch {
	case cc == "":
		return nil
	case name == ServerXdptcpd:
		cfg := tcp.DefaultConfig()
		if err := cfg.Set("tcp_congestion_control", cc); err != nil {
			return fmt.Errorf("%w: xdptcpd rejects %v", errCCNotOffered, err)
		}
	case name == ServerGvisor:
		return fmt.Errorf("%w: the gVisor peer keeps its own congestion control", errCCNotOffered)
	}
	return nil
}

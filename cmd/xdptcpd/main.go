// Command xdptcpd serves TCP on a network interface through AF_XDP: the
// built-in handlers (http, echo, discard) on the ports it is told to, while
// the kernel keeps all other traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/syncookie"
	"github.com/xdptcp/xdptcp/xsk"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// run is main with an exit status: 0 on a clean stop, 2 for a mistake the
// user can fix (one line on stderr), 1 for anything else.
func run(args []string, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(args[1:], stderr)
		case "ss":
			return runSS(args[1:], stderr)
		case "capture":
			return runCapture(args[1:], stderr)
		case "drain":
			return runDrain(args[1:], stderr)
		}
	}
	err := serve(args, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), isUserError(err):
		fmt.Fprintf(stderr, "xdptcpd: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "xdptcpd: %v\n", err)
		return 1
	}
}

// isUserError tells the errors a user can fix from the environment or
// command line (exit status 2).
func isUserError(err error) bool {
	for _, e := range []error{
		xsk.ErrNoInterface, xsk.ErrPermission, xsk.ErrXDPBusy, xsk.ErrZeroCopyUnsupported,
		xdptcp.ErrBadAddress, xdptcp.ErrBadConfig, xdptcp.ErrPortInUse, xdptcp.ErrMTU,
		tcp.ErrUnknownSetting, tcp.ErrBadValue,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// options is the daemon's configuration after flags and file are merged.
type options struct {
	fileConfig
	sysctls [][2]string     // in order: file first, then --sysctl flags
	set     map[string]bool // flags given on the command line
	file    *fileConfig     // the --config file, nil without one
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("xdptcpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                options
		listens, sysctls multiFlag
		addrs, gateways  multiFlag
		queues, cpus     string
		configPath       string
	)
	o.ShutdownSYN = "drop"
	fs.StringVar(&o.Iface, "iface", "", "network interface to serve on (required)")
	fs.Var(&addrs, "addr", "our address, IPV4[/PREFIX] or IPV6[/PREFIX]; repeatable, one per family (required; without a prefix every peer is off-link)")
	fs.Var(&gateways, "gateway", "next hop for peers off the local network, IPv4 or IPv6 (on the prefix or link-local); repeatable, one per family")
	fs.StringVar(&queues, "queues", "", "NIC queues to serve, e.g. 0,1 (default: all RX queues)")
	fs.StringVar(&cpus, "cpus", "", "pin the loop of each queue to these CPUs, e.g. 1 or 0,1")
	fs.StringVar(&o.XDPMode, "xdp-mode", "auto", "XDP attach mode: auto (native, else generic), native, generic")
	fs.StringVar(&o.BindMode, "bind-mode", "auto", "AF_XDP bind mode: auto (zero-copy, else copy), zerocopy, copy")
	fs.StringVar(&o.TxChecksum, "tx-checksum", "auto", "TCP checksums through AF_XDP TX metadata: auto (where the driver advertises it), off (software), on")
	fs.BoolVar(&o.XDPReplace, "xdp-replace", false, "detach an XDP program already attached to the interface through netlink")
	fs.Var(&listens, "listen", "serve PORT=HANDLER ("+strings.Join(allHandlerNames(), ", ")+"); repeatable")
	fs.StringVar(&o.Admin, "admin", defaultAdminSocket, "control endpoint (/debug/conns, /debug/capture, /metrics, /healthz): a Unix socket path (mode 0600), or HOST:PORT on loopback (beyond loopback only with --admin-token-file); off: none")
	fs.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file (mode 0600) holding the bearer token a TCP control endpoint requires (needed to open it beyond loopback)")
	fs.StringVar(&o.Metrics, "metrics", "", "HOST:PORT serving only /metrics and /healthz (fine to expose to a Prometheus server)")
	fs.StringVar(&configPath, "config", "", "YAML configuration file (flags win over it); SIGHUP reloads it")
	fs.Var(&sysctls, "sysctl", "TCP setting NAME=VALUE with Linux's sysctl name, e.g. tcp_fin_timeout=30; repeatable")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&o.BusyPoll, "busy-poll", false, "never sleep in poll(): lower latency, one busy core per queue")
	fs.IntVar(&o.FrameSize, "frame-size", 4096, "UMEM frame size in bytes (2048 or 4096)")
	fs.IntVar(&o.NumFrames, "num-frames", 4096, "UMEM frames per queue")
	fs.IntVar(&o.RingSize, "ring-size", 2048, "entries of each AF_XDP ring (fill, RX, TX, completion), a power of two; with windows of tens of MiB raise it and --num-frames")
	fs.IntVar(&o.Batch, "batch", 64, "frames per RX/TX batch")
	fs.StringVar(&o.CookieKeyFile, "cookie-key-file", "", "SYN-cookie keys shared by the hosts of a cluster (one 64-hex-digit key a line, mode 0600); SIGHUP re-reads it")
	var clusterPeers multiFlag
	fs.IntVar(&o.ClusterID, "cluster-id", -1, "this host's id in a cluster behind ECMP (0 to 2^cluster-id-bits - 1; -1: no cluster): carried in every TCP timestamp so peers forward a flow's segments to its owner")
	fs.Var(&clusterPeers, "cluster-peer", "another host of the cluster, ID=ADDR (its address on the shared link); repeatable")
	fs.IntVar(&o.ClusterIDBits, "cluster-id-bits", 4, "width of the cluster id in the TCP timestamp, 1 to 8 (16 hosts and a 16 ms timestamp tick with 4)")
	fs.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long established connections may finish before they are closed with FIN (RST after a second grace)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: xdptcpd --iface IFACE --addr IPV4[/PREFIX] [--addr IPV6[/PREFIX]] --listen PORT=HANDLER [flags]\n"+
			"       xdptcpd demo    (build a demo topology in namespaces and serve on it)\n"+
			"       xdptcpd ss [--admin ADDR] [--state NAME] [-i] [--json] [--limit N]\n"+
			"       xdptcpd capture [--admin ADDR] [-c COUNT] [-s SNAPLEN] [--queue Q] [-w FILE|-] [FILTER]\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nTCP settings (--sysctl NAME=VALUE, or sysctl: in the config file):\n%s", tcp.SettingsHelp())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.set = set

	if configPath != "" {
		fc, err := loadFile(configPath)
		if err != nil {
			return nil, err
		}
		o.file = fc
		o.fileConfig.path, o.fileConfig.lines = fc.path, fc.lines
		names := make([]string, 0, len(fc.Sysctl))
		for n := range fc.Sysctl {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			o.sysctls = append(o.sysctls, [2]string{n, fc.Sysctl[n]})
		}
		// Flags given explicitly win; the rest come from the file.
		merge := func(flagName string, apply func()) {
			if !set[flagName] {
				apply()
			}
		}
		merge("iface", func() { o.Iface = fc.Iface })
		merge("addr", func() { o.Addr = fc.Addr })
		merge("gateway", func() { o.Gateway = fc.Gateway })
		merge("queues", func() { o.Queues = fc.Queues })
		merge("cpus", func() { o.CPUs = fc.CPUs })
		merge("xdp-mode", func() { setIf(&o.XDPMode, fc.XDPMode) })
		merge("bind-mode", func() { setIf(&o.BindMode, fc.BindMode) })
		merge("tx-checksum", func() { setIf(&o.TxChecksum, fc.TxChecksum) })
		merge("xdp-replace", func() { o.XDPReplace = fc.XDPReplace })
		merge("admin", func() { setIf(&o.Admin, fc.Admin) })
		merge("admin-token-file", func() { o.AdminTokenFile = fc.AdminTokenFile })
		merge("metrics", func() { o.Metrics = fc.Metrics })
		merge("cookie-key-file", func() { o.CookieKeyFile = fc.CookieKeyFile })
		merge("log-format", func() { setIf(&o.LogFormat, fc.LogFormat) })
		merge("log-level", func() { setIf(&o.LogLevel, fc.LogLevel) })
		merge("busy-poll", func() { o.BusyPoll = fc.BusyPoll })
		merge("frame-size", func() { setIfInt(&o.FrameSize, fc.FrameSize) })
		merge("num-frames", func() { setIfInt(&o.NumFrames, fc.NumFrames) })
		merge("ring-size", func() { setIfInt(&o.RingSize, fc.RingSize) })
		merge("batch", func() { setIfInt(&o.Batch, fc.Batch) })
		merge("cluster-id", func() {
			if fc.lines["cluster_id"] != 0 {
				o.ClusterID = fc.ClusterID
			}
		})
		merge("cluster-peer", func() { o.ClusterPeer = fc.ClusterPeer })
		merge("cluster-id-bits", func() { setIfInt(&o.ClusterIDBits, fc.ClusterIDBits) })
		merge("grace", func() {
			if fc.lines["grace"] != 0 {
				o.Grace = fc.Grace
			}
		})
		setIf(&o.ShutdownSYN, fc.ShutdownSYN)
		if !set["listen"] {
			o.Listen = fc.Listen
		}
	}
	for _, l := range listens {
		spec, err := parseListen(l)
		if err != nil {
			return nil, err
		}
		o.Listen = append(o.Listen, spec)
	}
	for _, s := range sysctls {
		n, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, usagef("--sysctl %q: want NAME=VALUE", s)
		}
		o.sysctls = append(o.sysctls, [2]string{strings.TrimSpace(n), strings.TrimSpace(v)})
	}
	if queues != "" {
		q, err := parseIntList("queues", queues)
		if err != nil {
			return nil, err
		}
		o.Queues = q
	}
	if cpus != "" {
		c, err := parseIntList("cpus", cpus)
		if err != nil {
			return nil, err
		}
		o.CPUs = c
	}
	if len(addrs) > 0 {
		o.Addr = stringList(addrs)
	}
	if len(gateways) > 0 {
		o.Gateway = stringList(gateways)
	}
	if len(clusterPeers) > 0 {
		o.ClusterPeer = stringList(clusterPeers)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setIfInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

// newLogger returns the daemon's logger; its level is lv (SIGHUP may
// change it).
func newLogger(o *options, w io.Writer, lv *slog.LevelVar) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", o.LogLevel)
	}
	lv.Set(level)
	ho := &slog.HandlerOptions{Level: lv}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return slog.New(slog.NewTextHandler(w, ho)), nil
}

// stackConfig turns options into the library's Config.
func stackConfig(o *options, log *slog.Logger) (xdptcp.Config, error) {
	prefix, prefix6, err := parseAddrs(o.Addr)
	if err != nil {
		return xdptcp.Config{}, err
	}
	cfg := xdptcp.Config{
		Iface: o.Iface, Addr: prefix, Addr6: prefix6, Queues: o.Queues, CPUs: o.CPUs,
		XDPMode: o.XDPMode, BindMode: o.BindMode, XDPReplace: o.XDPReplace, TxChecksum: o.TxChecksum,
		NumFrames: o.NumFrames, RingSize: o.RingSize, FrameSize: o.FrameSize, BatchSize: o.Batch, BusyPoll: o.BusyPoll,
		TCP: tcp.DefaultConfig(), Logger: log,
	}
	if cfg.Gateway, cfg.Gateway6, err = parseGateways(o.Gateway); err != nil {
		return cfg, err
	}
	for _, kv := range o.sysctls {
		if err := cfg.TCP.Set(kv[0], kv[1]); err != nil {
			return cfg, usagef("--sysctl %v", err)
		}
	}
	if cfg.Cluster, err = o.cluster(); err != nil {
		return cfg, err
	}
	if o.CookieKeyFile != "" {
		keys, err := syncookie.ReadKeyFile(o.CookieKeyFile)
		if err != nil {
			return cfg, fmt.Errorf("%w: --cookie-key-file: %v", xdptcp.ErrBadConfig, err)
		}
		cfg.CookieKeys = keys
	}
	return cfg, nil
}

func serve(args []string, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	lv := new(slog.LevelVar)
	log, err := newLogger(o, stderr, lv)
	if err != nil {
		return err
	}
	cfg, err := stackConfig(o, log)
	if err != nil {
		return err
	}
	// Start-up checks (checks.go, caps.go): each a one-line error with
	// exit status 2, or a warning where xdptcpd can go on.
	if err := checkInterface(cfg, log); err != nil {
		return err
	}
	if err := checkPrivileges(); err != nil {
		return err
	}
	if err := checkMemlock(cfg, log); err != nil {
		return err
	}
	// Signals are caught from here on: a SIGTERM during start-up still
	// detaches cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	st, err := xdptcp.Open(cfg)
	if err != nil {
		if o.XDPMode == "native" && (errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "not supported")) {
			return usagef("%s %s: the driver of %s has no native XDP; use auto (falls back to generic) or generic", o.where("xdp_mode"), o.XDPMode, o.Iface)
		}
		return err
	}
	defer st.Close()
	d := &daemon{args: args, o: o, st: st, log: log, level: lv, routes: map[uint16]*route{}, cookieKeys: cfg.CookieKeys}
	for _, l := range o.Listen {
		if err := d.serveListen(l); err != nil {
			return err
		}
	}
	control := o.Admin
	if control == "off" || control == "none" {
		control = ""
	}
	admin, err := startAdmin(control, o.AdminTokenFile, o.Metrics, st, log)
	if err != nil && control == defaultAdminSocket && !o.set["admin"] && (o.file == nil || o.file.lines["admin"] == 0) {
		// The default control socket is unavailable (another xdptcpd
		// on this host, or no right to /run): serve without it.
		log.Warn("no control socket; give --admin PATH or HOST:PORT", "admin", control, "err", err)
		control = ""
		admin, err = startAdmin("", o.AdminTokenFile, o.Metrics, st, log)
	}
	if err != nil {
		return usagef("%s %s: %v", o.where("admin"), o.Admin, err)
	}
	defer admin.Close()
	d.admin = admin
	st.Start(context.Background())
	if o.XDPMode == "auto" && st.XDPMode() == "generic" {
		log.Warn("the driver has no native XDP: attached in generic mode (slower: every frame becomes an skb first)", "iface", o.Iface)
	}
	checkOffloads(o.Iface, st.XDPMode(), log)
	ls := make([]string, 0, len(o.Listen))
	for _, l := range o.Listen {
		ls = append(ls, fmt.Sprintf("%d=%s", l.Port, l.Handler))
	}
	log.Info("xdptcpd serving", "iface", o.Iface, "addr", o.Addr.String(), "queues", fmt.Sprint(queueIDs(st)),
		"xdp_mode", st.XDPMode(), "bind_mode", st.BindMode(), "listen", strings.Join(ls, ","), "admin", control, "metrics", o.Metrics,
		"cluster_id", o.ClusterID)
	d.wait(sigs)
	admin.Close()
	if err := st.Close(); err != nil {
		return err
	}
	log.Info("xdptcpd stopped: XDP program detached", "iface", o.Iface)
	return nil
}

func queueIDs(st *xdptcp.Stack) []int {
	var q []int
	for _, l := range st.Loops() {
		q = append(q, l.Queue)
	}
	return q
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a bench run.
type Options struct {
	Mode         string        // smoke, quick, full (for the report)
	Rig          string        // RigNAPI (default) or RigLegacy: how veth delivers (rig.go)
	Servers      []string      // servers to measure, in report order
	Scenarios    []string      // scenario ids; empty for all
	Runs         int           // runs per scenario and server
	Duration     time.Duration // each run's load
	ServerCPUs   string        // taskset list for the server, e.g. "1"
	ClientCPUs   string        // taskset list for clients, e.g. "0"
	LatencyRates []int         // open-loop rates
	FloodRate    int           // SYNs/s
	IdleConns    int           // idle connections
	MillionConns int           // connections the million scenario holds
	DownloadMiB  int           // size of a download-through-loss run (download.go)
	OutDir       string        // results directory (created)
	Bins         Bins
	Notes        []string // added to the report
}

// Presets are the modes' defaults.
func Preset(mode string) (Options, error) {
	o := Options{Mode: mode, Rig: RigNAPI, ServerCPUs: "1", ClientCPUs: "0", Servers: []string{ServerXdptcpd, ServerLinuxNet}}
	switch mode {
	case "smoke":
		o.Runs, o.Duration, o.LatencyRates, o.FloodRate, o.IdleConns = 1, time.Second, []int{5000}, 5000, 300
		o.MillionConns = 2000
		o.DownloadMiB = 1
	case "quick":
		o.Runs, o.Duration, o.LatencyRates, o.FloodRate, o.IdleConns = 2, 2*time.Second, []int{20000}, 20000, 5000
		o.MillionConns = 100_000 // only when asked for: million is not in quick's list
		o.DownloadMiB = 16
		o.Servers = []string{ServerXdptcpd, ServerLinuxNet}
		o.Scenarios = []string{"keepalive-64", "keepalive-1024", "new-conns", "xdpclient-keepalive-64", "latency-20000", "bulk-up", "bulk-echo", "bulk-echo-copy", "bulk-down", "keepalive-64-v6", "new-conns-v6", "bulk-up-v6", "idle", "synflood", "loss-up", "rx-up-bbr", "rx-up-cubic", "rx-smallwin-echo",
			"loss-echo", "loss-echo-bbr", "down-loss-cubic", "down-loss-bbr"}
	case "full":
		o.Runs, o.Duration, o.LatencyRates, o.FloodRate, o.IdleConns = 3, 10*time.Second, []int{5000, 20000}, 50000, 50000
		o.MillionConns = 1_000_000
		o.DownloadMiB = 16
		o.Servers = AllServers
	default:
		return o, fmt.Errorf("unknown mode %q (smoke, quick, full)", mode)
	}
	return o, nil
}

func parseCPUs(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, ok := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			continue
		}
		b := a
		if ok {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

// raiseNoFile lifts the open-file limit (inherited by servers and clients)
// for the idle-connection scenario.
func raiseNoFile() {
	lim := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		var cur syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur) == nil {
			cur.Cur = cur.Max
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &cur)
		}
	}
}

func kernelRelease() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "?"
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// Run measures every selected scenario on every selected server and writes
// the report into o.OutDir. The topology is removed on return, including
// after ctx is cancelled (Ctrl-C); a partial report is still written.
func Run(ctx context.Context, o Options) (*Report, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the bench needs root (namespaces, veth, AF_XDP)")
	}
	for _, tool := range []string{"ip", "taskset", "ethtool", "wrk"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the bench needs %s: %w", tool, err)
		}
	}
	raiseNoFile()
	var defs []scenarioDef
	for _, d := range allScenarios(&o) {
		if len(o.Scenarios) == 0 || slices.Contains(o.Scenarios, d.ID) {
			defs = append(defs, d)
		}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("no scenario selected from %v", o.Scenarios)
	}
	if o.Rig == "" {
		o.Rig = RigNAPI
	}
	if !slices.Contains(Rigs, o.Rig) {
		return nil, fmt.Errorf("unknown rig %q (%s)", o.Rig, strings.Join(Rigs, ", "))
	}
	rep := &Report{Started: time.Now(), Mode: o.Mode, Rig: o.Rig, Kernel: kernelRelease(), GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), ServerCPU: o.ServerCPUs, ClientCPU: o.ClientCPUs, Notes: o.Notes}
	rep.Notes = append(rep.Notes, rigDescription(o.Rig))
	if LinuxCC != "" {
		rep.Notes = append(rep.Notes, "The Linux peer servers and the bulk clients set TCP_CONGESTION="+LinuxCC+
			" on their sockets (xdptcp's default too); wrk and the other generators use the namespace default listed below.")
	}
	byID := map[string]*Scenario{}
	for _, d := range defs {
		s := d.Scenario
		s.Servers = nil
		for _, srv := range o.Servers {
			if d.runsOn(srv) {
				s.Servers = append(s.Servers, &ServerRuns{Server: srv})
			}
		}
		sc := s
		byID[d.ID] = &sc
		rep.Scenarios = append(rep.Scenarios, &sc)
	}
	var planned time.Duration
	for _, d := range defs {
		planned += time.Duration(d.runs(&o)*len(byID[d.ID].Servers)) * d.est(&o)
		if d.alternate {
			planned += time.Duration(d.runs(&o)*len(byID[d.ID].Servers)) * 3 * time.Second // a start per run
		}
	}
	planned += time.Duration(len(o.Servers)) * 3 * time.Second
	prog := NewProgress(planned)
	defer prog.Done()
	if st := RemoveStale(); len(st) > 0 {
		prog.Logf("removed namespaces of a killed run: %s", strings.Join(st, " "))
	}

	record := func(id, server string, r *RunResult, err error) {
		for _, sr := range byID[id].Servers {
			if sr.Server != server {
				continue
			}
			if err != nil {
				if r == nil {
					r = &RunResult{}
				}
				r.Err = err.Error()
				prog.Logf("%s / %s: %v", id, server, firstLine(err.Error()))
			}
			sr.Runs = append(sr.Runs, r)
		}
	}
	measure := func(d scenarioDef, e *env, run int) {
		prog.Step(fmt.Sprintf("%s · %s · run %d/%d", d.ID, e.name, run+1, d.runs(&o)), d.est(&o))
		var r *RunResult
		var err error
		// A run that fails or measures nothing is tried once more (a loaded
		// machine can starve a one-second run); the report says so.
		retried := ""
		for attempt := 0; attempt < 2 && ctx.Err() == nil; attempt++ {
			samp := StartCPUSampler(ctx, 500*time.Millisecond)
			probe := startServerCPUProbe(e.server.Pid(), e.t.ServerIf, parseCPUs(o.ServerCPUs))
			kicks0, kerr := math.NaN(), error(nil)
			if e.name == ServerXdptcpd && d.OpUnit != "" {
				kicks0, kerr = xdptcpdKicks(ctx, e.t.Server)
			}
			r, err = d.run(ctx, e)
			threadsNS, coreNS, switches := probe.Stop()
			if r != nil && kerr == nil && !math.IsNaN(kicks0) && r.Ops > 0 {
				if k1, err := xdptcpdKicks(ctx, e.t.Server); err == nil {
					r.KicksPerOp = (k1 - kicks0) / r.Ops
				}
			}
			whole, samples := samp.Stop()
			if r != nil {
				r.CPU, r.CPUSamples = whole, samples
				r.setServerCost(threadsNS, coreNS, switches)
			}
			if err == nil {
				if err = e.server.Exited(); err != nil {
					r = nil
					break
				}
			}
			if err == nil && r != nil && r.Value != 0 {
				break
			}
			if attempt == 0 {
				why := "measured 0"
				if err != nil {
					why = firstLine(err.Error())
				}
				retried = why
				prog.Logf("%s / %s: %s; trying once more", d.ID, e.name, why)
			}
		}
		if r != nil {
			r.Retried = retried
		}
		record(d.ID, e.name, r, err)
	}
	failAll := func(group []scenarioDef, server string, err error) {
		for _, d := range group {
			for sr := range slices.Values(byID[d.ID].Servers) {
				if sr.Server == server && sr.Err == "" {
					sr.Err = err.Error()
					sr.NotOffered = errors.Is(err, errCCNotOffered)
				}
			}
		}
		prog.Logf("%s: %v", server, firstLine(err.Error()))
	}

	// Direct topology.
	var direct []scenarioDef
	bridged := map[string][]scenarioDef{}
	var conds []string
	for _, d := range defs {
		if d.bridge == "" {
			direct = append(direct, d)
		} else {
			if _, ok := bridged[d.bridge]; !ok {
				conds = append(conds, d.bridge)
			}
			bridged[d.bridge] = append(bridged[d.bridge], d)
		}
	}
	var runErr error
	if len(direct) > 0 {
		t, err := NewDirect(ctx, "")
		if err != nil {
			return rep, fmt.Errorf("topology: %w", err)
		}
		pinner, err := startRig(ctx, t, &o)
		if err != nil {
			t.Close()
			return rep, err
		}
		rep.Sysctls = KernelSettings(ctx, t.Server)
		for k, v := range KernelSettings(ctx, t.Client) {
			if rep.Sysctls[k] != v {
				rep.Sysctls["client: "+k] = v
			}
		}
		prog.Logf("kernel settings (server namespace): tcp_syncookies=%s tcp_tw_reuse=%s somaxconn=%s tcp_max_syn_backlog=%s tcp_congestion_control=%s (Linux sockets: %s)",
			rep.Sysctls["net.ipv4.tcp_syncookies"], rep.Sysctls["net.ipv4.tcp_tw_reuse"], rep.Sysctls["net.core.somaxconn"],
			rep.Sysctls["net.ipv4.tcp_max_syn_backlog"], rep.Sysctls["net.ipv4.tcp_congestion_control"], LinuxCC)
		runErr = runGroup(ctx, &o, t, direct, prog, measure, failAll)
		pinner.Stop()
		t.Close()
	}
	for _, c := range conds {
		if ctx.Err() != nil {
			break
		}
		t, err := NewBridged(ctx)
		if err != nil {
			return rep, fmt.Errorf("bridged topology: %w", err)
		}
		pinner, err := startRig(ctx, t, &o)
		if err != nil {
			t.Close()
			return rep, err
		}
		prog.Step("starting the impairment bridge ("+c+")", time.Second)
		br, err := Start("xdptcp-impair", t.Middle, o.ClientCPUs, o.Bins.Impair, append([]string{"--a", t.LegA, "--b", t.LegB}, bridgeArgs[c]...)...)
		if err == nil {
			err = waitFor(ctx, 10*time.Second, func() error {
				if err := br.Exited(); err != nil {
					return err
				}
				if strings.Contains(br.Output(), "xdptcp-impair: ready") {
					return nil
				}
				return errors.New("bridge not ready")
			})
		}
		if err != nil {
			for _, srv := range o.Servers {
				failAll(bridged[c], srv, fmt.Errorf("impairment bridge: %w", err))
			}
		} else {
			if err := runGroup(ctx, &o, t, bridged[c], prog, measure, failAll); err != nil && runErr == nil {
				runErr = err
			}
		}
		if br != nil {
			br.Stop(3 * time.Second)
			// Its counters at exit (lost, policed, overflow ...): for
			// the record, not the report's tables.
			err := os.MkdirAll(o.OutDir, 0o755)
			if err == nil {
				err = os.WriteFile(filepath.Join(o.OutDir, "bridge-"+c+".txt"), []byte(br.Output()), 0o644)
			}
			if err != nil && runErr == nil {
				runErr = err
			}
		}
		pinner.Stop()
		t.Close()
	}
	rep.Finished = time.Now()
	if err := rep.Write(o.OutDir, parseCPUs(o.ServerCPUs), parseCPUs(o.ClientCPUs)); err != nil {
		return rep, err
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	return rep, runErr
}

// runGroup runs the scenarios on every server, one server at a time; a
// server runs first the scenarios that keep its default congestion
// control, then, restarted with each other one, the scenarios that ask
// for it (scenarioDef.serverCC). A server that cannot take a scenario's
// congestion control gets its rows marked not offered. The scenarios
// marked alternate come last, each in rounds: one run on every server
// per round.
func runGroup(ctx context.Context, o *Options, t *Topology, defs []scenarioDef, prog *Progress,
	measure func(scenarioDef, *env, int), failAll func([]scenarioDef, string, error)) error {
	var ccs []string // "" first, then in scenario order
	byCC := map[string][]scenarioDef{}
	var alt []scenarioDef
	for _, d := range defs {
		if d.alternate {
			alt = append(alt, d)
			continue
		}
		if _, ok := byCC[d.serverCC]; !ok {
			ccs = append(ccs, d.serverCC)
		}
		byCC[d.serverCC] = append(byCC[d.serverCC], d)
	}
	slices.SortStableFunc(ccs, func(a, b string) int {
		if (a == "") != (b == "") {
			if a == "" {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, name := range o.Servers {
		for _, cc := range ccs {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var group []scenarioDef
			for _, d := range byCC[cc] {
				if d.runsOn(name) {
					group = append(group, d)
				}
			}
			if len(group) == 0 {
				continue
			}
			if err := ccOffered(name, cc); err != nil {
				failAll(group, name, err)
				continue
			}
			runOn(ctx, o, t, name, cc, group, prog, measure, failAll, 0, -1)
		}
	}
	for _, d := range alt {
		for r := 0; r < d.runs(o); r++ {
			for _, name := range o.Servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !d.runsOn(name) {
					continue
				}
				if err := ccOffered(name, d.serverCC); err != nil {
					if r == 0 {
						failAll([]scenarioDef{d}, name, err)
					}
					continue
				}
				runOn(ctx, o, t, name, d.serverCC, []scenarioDef{d}, prog, measure, failAll, r, 1)
			}
		}
	}
	return nil
}

// runOn starts server name with congestion control cc and runs defs on
// it, restarting it for the scenarios that want a fresh server: runs
// first to first+n-1 of each (n < 0: all of its runs).
func runOn(ctx context.Context, o *Options, t *Topology, name, cc string, defs []scenarioDef, prog *Progress,
	measure func(scenarioDef, *env, int), failAll func([]scenarioDef, string, error), first, n int) {
	step := "starting " + name
	if cc != "" {
		step += " (" + cc + ")"
	}
	prog.Step(step, 3*time.Second)
	p, err := startServer(ctx, name, o.Bins, t, o.ServerCPUs, cc)
	if err != nil {
		failAll(defs, name, err)
		return
	}
	e := &env{o: o, t: t, server: p, name: name}
	for _, d := range defs {
		end := d.runs(o)
		if n >= 0 {
			end = min(end, first+n)
		}
		for i := first; i < end && ctx.Err() == nil; i++ {
			if d.fresh {
				p.Stop(5 * time.Second)
				var extra []string
				if d.serverArgs != nil {
					extra = d.serverArgs(o)
				}
				if p, err = startServer(ctx, name, o.Bins, t, o.ServerCPUs, cc, extra...); err != nil {
					failAll(defs, name, err)
					return
				}
				e.server = p
			}
			if err := p.Exited(); err != nil {
				failAll(defs, name, err)
				break
			}
			measure(d, e, i)
			// A moment for connections in FIN/TIME-WAIT to clear the
			// client's buffers before the next run.
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	p.Stop(5 * time.Second)
}

// DefaultOutDir is bench/results/<timestamp> under dir.
func DefaultOutDir(dir string) string {
	return filepath.Join(dir, "bench", "results", time.Now().UTC().Format("20060102-150405"))
}

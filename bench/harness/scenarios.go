package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/xdptcp/xdptcp/bench/loadgen"
)

// env is what a scenario's run needs.
type env struct {
	o      *Options
	t      *Topology
	server *Proc
	name   string // server name
}

func (e *env) url() string { return e.urlFam(false) }

// urlFam is the HTTP port's URL over IPv6 (v6) or IPv4.
func (e *env) urlFam(v6 bool) string { return "http://" + e.hostPortFam(PortHTTP, v6) + "/" }

func (e *env) hostPort(p int) string { return e.hostPortFam(p, false) }

// hostPortFam is the server's port p over IPv6 (v6, as [2001:2::1]:p) or
// IPv4.
func (e *env) hostPortFam(p int, v6 bool) string {
	a := e.t.ServerAddr
	if v6 {
		a = e.t.ServerAddr6
	}
	return netip.AddrPortFrom(a, uint16(p)).String()
}

// v6Servers are the servers the IPv6 scenarios run on: xdptcpd and its
// Linux baseline (Go net on kernel sockets); the gVisor peer and the
// net/http peer are measured over IPv4 only.
var v6Servers = []string{ServerXdptcpd, ServerLinuxNet}

// v6Suffix and v6Note name and describe a scenario's IPv6 variant.
const (
	v6Suffix = "-v6"
	v6Note   = " Over IPv6: client 2001:2::2 to server 2001:2::1 on the same veth pair."
)

// client runs `xdptcp-bench client ARGS` in the client namespace on the
// client CPUs and decodes its JSON output into v.
func (e *env) client(ctx context.Context, timeout time.Duration, v any, args ...string) error {
	out, err := RunPinned(ctx, timeout, e.t.Client, e.o.ClientCPUs, e.o.Bins.Bench, append([]string{"client"}, args...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("client %s output: %v: %q", args[0], err, tail(out, 300))
	}
	return nil
}

// scenarioDef is a scenario and how to run it once.
type scenarioDef struct {
	Scenario
	bridge string // "": direct topology; else the bridge condition (see bridgeArgs)
	fresh  bool   // restart the server before each run (memory figures)
	// only lists the servers the scenario runs on; nil for all.
	only []string
	// serverArgs are extra xdptcpd flags for a fresh scenario's server.
	serverArgs func(o *Options) []string
	// serverCC is the congestion control the server's connections use
	// (xdptcpd's tcp_congestion_control, the Linux peer's TCP_CONGESTION);
	// "" for the defaults (xdptcpd's, LinuxCC). runGroup starts the server
	// with it for these scenarios.
	serverCC string
	// alternate runs the servers in turn, one run each per round (each
	// server started for its run and stopped after it), instead of all
	// of one server's runs before the next server's: a drift of the
	// shared machine's load then reaches every server alike.
	alternate bool
	// minRuns raises Options.Runs for this scenario (not in smoke mode):
	// a figure that moves much from run to run needs more runs for its
	// median to mean something.
	minRuns int
	est     func(o *Options) time.Duration
	run     func(ctx context.Context, e *env) (*RunResult, error)
}

// runs is how many runs the scenario gets on each server.
func (d *scenarioDef) runs(o *Options) int {
	if o.Mode == "smoke" {
		return o.Runs
	}
	return max(o.Runs, d.minRuns)
}

// bridgeArgs are the impairment bridge's flags per condition.
var bridgeArgs = map[string][]string{
	"clean": nil,
	"loss1": {"--loss", "0.01", "--delay", "10ms"},
}

func runDur(o *Options) time.Duration { return o.Duration + 700*time.Millisecond }

func wrkScenario(id, title, desc string, conns int, close, v6 bool) scenarioDef {
	op := opUnit(close)
	var only []string
	if v6 {
		id, title, desc, only = id+v6Suffix, title+", IPv6", desc+v6Note, v6Servers
	}
	return scenarioDef{
		Scenario: Scenario{ID: id, Title: title, Description: desc, Metric: "requests/s", Unit: "req/s",
			Extra: []string{"p50 (µs)", "p99 (µs)", "socket errors"}, Plot: PlotBars, OpUnit: op},
		only: only,
		est:  runDur,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			threads := max(1, len(strings.Split(e.o.ClientCPUs, ",")))
			out, err := RunPinned(ctx, e.o.Duration+20*time.Second, e.t.Client, e.o.ClientCPUs, "wrk",
				WrkArgs(e.urlFam(v6), threads, conns, e.o.Duration, close)...)
			if err != nil {
				return nil, err
			}
			w, err := ParseWrk(out)
			if err != nil {
				return nil, fmt.Errorf("%w: %s", err, tail(out, 500))
			}
			return &RunResult{Value: w.RequestsSec, Raw: w, Ops: float64(w.Requests), Metrics: map[string]float64{
				"p50 (µs)": w.Percentiles["50"], "p99 (µs)": w.Percentiles["99"],
				"socket errors": float64(w.ErrConnect + w.ErrRead + w.ErrWrite + w.ErrTimeout)}}, nil
		},
	}
}

func latencyScenario(rate int) scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: fmt.Sprintf("latency-%d", rate), Title: fmt.Sprintf("Latency at %s requests/s (open loop)", commas(int64(rate))),
			Description: "64 keep-alive connections; requests on a fixed timetable, latency from each request's scheduled time (no coordinated omission); HdrHistogram percentiles.",
			Metric:      "p99", Unit: "µs", LowerBetter: true, Extra: []string{"p50 (µs)", "p99.9 (µs)", "achieved req/s", "errors"}, Plot: PlotLatency,
			OpUnit: "request"},
		est: runDur,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			var r loadgen.OpenLoopResult
			err := e.client(ctx, e.o.Duration+60*time.Second, &r, "openloop", "--addr", e.hostPort(PortHTTP),
				"--rate", fmt.Sprint(rate), "--duration", e.o.Duration.String(), "--conns", "64")
			if err != nil {
				return nil, err
			}
			rr := &RunResult{Value: r.Latency.P99, Raw: r, Ops: float64(r.Completed), Metrics: map[string]float64{
				"p50 (µs)": r.Latency.P50, "p99.9 (µs)": r.Latency.P999, "achieved req/s": r.Achieved, "errors": float64(r.Errors)}}
			for i, p := range loadgen.CurvePercentiles {
				if i < len(r.Latency.Curve) {
					rr.Curve = append(rr.Curve, CurvePoint{Percentile: p, LatencyUS: r.Latency.Curve[i]})
				}
			}
			return rr, nil
		},
	}
}

func bulkScenario(id, title, bridge string, port int, v6 bool) scenarioDef {
	echo := port != PortDiscard
	desc := "One connection from a Go kernel-socket client writing 64 KiB at a time to the discard port; goodput is what was written."
	switch port {
	case PortEcho:
		desc = "One connection to the echo port, the client writing and reading at once; goodput is what came back. The Linux peers echo with io.Copy(c, c), which on a *net.TCPConn splices (splice(2) through a pipe): the payload never reaches user space."
	case PortEchoCopy:
		desc = "As bulk-echo, but the Linux peers' echo reads into a 32 KiB buffer and writes it back (io.Copy without splice), as a server that looks at its data must; xdptcpd's echo is the same handler as on the echo port."
	}
	switch bridge {
	case "clean":
		desc += " Through the impairment bridge in a middle namespace, no impairment."
	case "loss1":
		desc += " Through the impairment bridge: 1 % loss and 10 ms delay each way."
	}
	var only []string
	if port == PortEchoCopy {
		// The gVisor peer's echo (port 7) reads and writes already: gonet
		// has no splice.
		only = []string{ServerXdptcpd, ServerLinuxNet, ServerLinuxHTTP}
	}
	if v6 { // direct topology only: the bridged one is IPv4
		id, title, desc, only = id+v6Suffix, title+", IPv6", desc+v6Note, v6Servers
	}
	return scenarioDef{
		Scenario: Scenario{ID: id, Title: title, Description: desc, Metric: "goodput", Unit: "Mbit/s", Plot: PlotBars, OpUnit: "MiB"},
		bridge:   bridge,
		only:     only,
		est:      runDur,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			var r loadgen.BulkResult
			args := []string{"bulk", "--addr", e.hostPortFam(port, v6), "--duration", e.o.Duration.String(), "--cc", LinuxCC}
			if echo {
				args = append(args, "--echo")
			}
			if err := e.client(ctx, e.o.Duration+60*time.Second, &r, args...); err != nil {
				return nil, err
			}
			// Per MiB of goodput: what was read back (echo) or written.
			moved := r.Written
			if echo {
				moved = r.Read
			}
			return &RunResult{Value: r.Mbps, Raw: r, Ops: float64(moved) / (1 << 20)}, nil
		},
	}
}

func idleScenario() scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "idle", Title: "Concurrent idle connections and memory per connection",
			Description: "The client opens N connections to the echo port, spread over several source addresses (and client processes of at most 15,000 connections), and holds them; memory is the server process's RSS after minus before, per connection, in a server started afresh for the run. For the Linux servers the kernel's own socket memory (about 2–3 KiB per idle socket in slab) is not in the process's RSS.",
			Metric:      "RSS per connection", Unit: "bytes", LowerBetter: true, Extra: []string{"connections", "RSS before (MiB)", "RSS after (MiB)"}, Plot: PlotBars},
		fresh: true,
		est:   func(o *Options) time.Duration { return 3 * time.Second },
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			before, err := RSS(e.server.Pid())
			if err != nil {
				return nil, err
			}
			srcs := []string{e.t.ClientAddr.String()}
			for _, a := range e.t.ClientExtra {
				srcs = append(srcs, a.String())
			}
			// One client process holds at most idlePerProcess connections (a
			// file descriptor each; the hard RLIMIT_NOFILE may be low and
			// raising it needs CAP_SYS_RESOURCE).
			var procs []*Proc
			defer func() {
				for _, p := range procs {
					p.Stop(5 * time.Second)
				}
			}()
			for left := e.o.IdleConns; left > 0; left -= idlePerProcess {
				n := min(left, idlePerProcess)
				p, err := Start("idle client", e.t.Client, e.o.ClientCPUs, e.o.Bins.Bench, "client", "idle",
					"--addr", e.hostPort(PortEcho), "--n", fmt.Sprint(n), "--sources", strings.Join(srcs, ","), "--hold", "120s")
				if err != nil {
					return nil, err
				}
				procs = append(procs, p)
			}
			opened := 0
			err = waitFor(ctx, 120*time.Second, func() error {
				opened = 0
				for _, p := range procs {
					var k int
					if _, err := fmt.Sscanf(lastLine(p.Output(), "opened "), "opened %d", &k); err != nil {
						if err := p.Exited(); err != nil {
							return err
						}
						return fmt.Errorf("idle client has not opened its connections")
					}
					opened += k
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if opened == 0 {
				return nil, fmt.Errorf("no connection opened: %s", tail(procs[0].Output(), 500))
			}
			// Let the server settle (accept queues drained, buffers touched).
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			after, err := RSS(e.server.Pid())
			if err != nil {
				return nil, err
			}
			return &RunResult{Value: float64(after-before) / float64(opened), Metrics: map[string]float64{
				"connections": float64(opened), "RSS before (MiB)": float64(before) / (1 << 20), "RSS after (MiB)": float64(after) / (1 << 20)}}, nil
		},
	}
}

// idlePerProcess bounds the connections one idle client process holds.
const idlePerProcess = 15000

func lastLine(out, prefix string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return lines[i]
		}
	}
	return ""
}

func floodScenario() scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "synflood", Title: "Goodput of real clients under a SYN flood",
			Description: "While xdptcp-synflood sends spoofed SYNs (sources from 198.18.128.0/17, routed back into the client namespace and dropped there) at the flood rate, 64 real clients connect, send one request with Connection: close and read the response. Linux runs with tcp_syncookies=1.",
			Metric:      "connections/s", Unit: "conn/s", Extra: []string{"p99 connect (µs)", "p50 connect (µs)", "failed", "SYNs/s sent"}, Plot: PlotGoodput,
			// Per legitimate connection: the flood's cost is in it.
			OpUnit: "connection"},
		est: func(o *Options) time.Duration { return o.Duration + 1500*time.Millisecond },
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			fl, err := Start("synflood", e.t.Client, e.o.ClientCPUs, e.o.Bins.Synflood, "--target", e.hostPort(PortHTTP),
				"--rate", fmt.Sprint(e.o.FloodRate), "--duration", (e.o.Duration + 500*time.Millisecond).String(), "--json")
			if err != nil {
				return nil, err
			}
			defer fl.Stop(3 * time.Second)
			// Let the flood fill the SYN queue first.
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if err := fl.Exited(); err != nil {
				return nil, err
			}
			var r loadgen.ConnectResult
			if err := e.client(ctx, e.o.Duration+60*time.Second, &r, "connect", "--addr", e.hostPort(PortHTTP),
				"--duration", e.o.Duration.String(), "--workers", "64"); err != nil {
				return nil, err
			}
			var fs struct {
				Rate float64 `json:"rate"`
			}
			waitFor(ctx, 5*time.Second, func() error {
				return json.Unmarshal([]byte(lastLine(fl.Output(), "{")), &fs)
			})
			rr := &RunResult{Value: r.PerSecond, Raw: r, Ops: float64(r.Completed), Metrics: map[string]float64{
				"p99 connect (µs)": r.ConnectLat.P99, "p50 connect (µs)": r.ConnectLat.P50, "failed": float64(r.Failed), "SYNs/s sent": fs.Rate}}
			for i, v := range r.Series {
				rr.Series = append(rr.Series, TimePoint{T: float64(i+1) * r.IntervalS, Value: v})
			}
			return rr, nil
		},
	}
}

// xdpClientScenario drives the server with xdptcp-load: the xdptcp stack in
// client mode over AF_XDP on the client's veth end, so the client does not
// pay for the kernel's TCP stack.
func xdpClientScenario(id, title string, conns int, close bool) scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: id, Title: title,
			Description: fmt.Sprintf("xdptcp-load: the xdptcp stack in client mode (Stack.Dial over AF_XDP on the client's veth end, loop pinned to the first client CPU), %d connections, closed loop. The server's veth end has TX checksum offload off during this scenario (an AF_XDP receiver needs full checksums), which costs the Linux servers their checksum-free veth path.", conns),
			Metric:      "requests/s", Unit: "req/s", Extra: []string{"errors"}, Plot: PlotBars, OpUnit: opUnit(close)},
		est: runDur,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			if e.o.Bins.Load == "" {
				return nil, fmt.Errorf("xdptcp-load not built")
			}
			args := []string{"--iface", e.t.ClientIf, "--addr", e.t.ClientAddr.String() + "/24", "--target", e.hostPort(PortHTTP),
				"--local-ports", xdpClientPorts,
				"--conns", fmt.Sprint(conns), "--duration", e.o.Duration.String()}
			if cpus := parseCPUs(e.o.ClientCPUs); len(cpus) > 0 {
				args = append(args, "--cpu", fmt.Sprint(cpus[0]))
			}
			if close {
				args = append(args, "--close")
			}
			// The kernel servers' frames must carry full checksums for an
			// AF_XDP receiver (veth leaves them partial with TX offload on);
			// only for this scenario, so the others keep Linux's fast path.
			// AF_XDP servers (xdptcpd, gVisor) write full checksums already,
			// and their interface is left alone.
			if e.name == ServerLinuxNet || e.name == ServerLinuxHTTP {
				if _, err := nsExec(ctx, e.t.Server, "ethtool", "-K", e.t.ServerIf, "tx", "off"); err != nil {
					return nil, err
				}
				defer nsExec(context.Background(), e.t.Server, "ethtool", "-K", e.t.ServerIf, "tx", "on")
			}
			out, err := RunPinned(ctx, e.o.Duration+60*time.Second, e.t.Client, e.o.ClientCPUs, e.o.Bins.Load, args...)
			if err != nil {
				return nil, err
			}
			var r struct {
				Requests  int64   `json:"requests"`
				PerSecond float64 `json:"per_s"`
				Errors    int64   `json:"errors"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				return nil, fmt.Errorf("xdptcp-load output: %v: %q", err, tail(out, 300))
			}
			return &RunResult{Value: r.PerSecond, Raw: json.RawMessage(out), Ops: float64(r.Requests), Metrics: map[string]float64{"errors": float64(r.Errors)}}, nil
		},
	}
}

// Descriptions shared by a scenario and its IPv6 variant.
const (
	keepalive64Desc = "wrk, one thread per client CPU, 64 keep-alive connections, `GET /` → `Hello, World!`."
	newConnsDesc    = "wrk with `-H 'Connection: close'`, 64 connections: one request per connection."
)

// opUnit is a request/response scenario's unit of work.
func opUnit(close bool) string {
	if close {
		return "connection"
	}
	return "request"
}

// allScenarios in run order; the flood comes last among the direct ones
// (it leaves the most state behind), but for million, which runs on a
// server started afresh with its own ports and is the longest.
func allScenarios(o *Options) []scenarioDef {
	s := []scenarioDef{
		wrkScenario("keepalive-64", "Keep-alive requests/s, 64 connections", keepalive64Desc, 64, false, false),
		wrkScenario("keepalive-1024", "Keep-alive requests/s, 1,024 connections", "wrk, one thread per client CPU, 1,024 keep-alive connections.", 1024, false, false),
		wrkScenario("new-conns", "New connections/s (Connection: close)", newConnsDesc, 64, true, false),
	}
	s = append(s,
		xdpClientScenario("xdpclient-keepalive-64", "Keep-alive requests/s, 64 connections, xdptcp client", 64, false),
		xdpClientScenario("xdpclient-new-conns", "New connections/s, xdptcp client", 64, true),
	)
	for _, r := range o.LatencyRates {
		s = append(s, latencyScenario(r))
	}
	s = append(s,
		bulkScenario("bulk-up", "Bulk throughput, client → server (discard)", "", PortDiscard, false),
		bulkScenario("bulk-echo", "Bulk throughput, both ways (echo)", "", PortEcho, false),
		bulkScenario("bulk-echo-copy", "Bulk throughput, both ways (echo through user space)", "", PortEchoCopy, false),
		bulkDownScenario(),
		// IPv6 variants (issue 15): the same load over 2001:2::/64.
		wrkScenario("keepalive-64", "Keep-alive requests/s, 64 connections", keepalive64Desc, 64, false, true),
		wrkScenario("new-conns", "New connections/s (Connection: close)", newConnsDesc, 64, true, true),
		bulkScenario("bulk-up", "Bulk throughput, client → server (discard)", "", PortDiscard, true),
		idleScenario(),
		floodScenario(),
		millionScenario(),
		bulkScenario("bridge-up", "Bulk client → server through the bridge, 0 % loss", "clean", PortDiscard, false),
		bulkScenario("bridge-echo", "Bulk echo through the bridge, 0 % loss", "clean", PortEcho, false),
		bulkScenario("loss-up", "Bulk client → server, 1 % loss and 10 ms delay", "loss1", PortDiscard, false),
		bulkScenario("loss-echo", "Bulk echo, 1 % loss and 10 ms delay", "loss1", PortEcho, false),
	)
	s = append(s, rxScenarios()...)      // rx.go
	s = append(s, lossCCScenarios(o)...) // download.go
	return s
}

// bulkDownMiB is what bulk-down downloads: 64 times --download-mib, at
// most the blob handler's 1 GiB (1 GiB in quick and full, 64 MiB in
// smoke).
func bulkDownMiB(o *Options) int { return min(64*o.DownloadMiB, 1024) }

// bulkDownScenario is a download on the direct path: the server sends at
// the rate the client takes, and where it puts PSH decides how much the
// client's GRO merges (a merge ends at a PSH).
func bulkDownScenario() scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "bulk-down", Title: "Bulk throughput, server → client (download)",
			Description: "A Go kernel-socket client GETs one blob (64 times --download-mib, at most 1 GiB) from the server's blob port on the direct path; goodput is the body over the time from request to last byte.",
			Metric:      "goodput", Unit: "Mbit/s", Plot: PlotBars, OpUnit: "MiB"},
		only: []string{ServerXdptcpd, ServerLinuxNet},
		est:  func(o *Options) time.Duration { return time.Duration(bulkDownMiB(o))*3*time.Millisecond + time.Second },
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			return runDownload(ctx, e, bulkDownMiB(e.o), LinuxCC, 60*time.Second) // download.go
		},
	}
}

// runsOn reports whether the scenario runs on server.
func (d *scenarioDef) runsOn(server string) bool {
	return d.only == nil || slices.Contains(d.only, server)
}

package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestParseWrkKeepAlive(t *testing.T) {
	r, err := ParseWrk(readTestdata(t, "wrk-keepalive.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 138147 || !near(r.RequestsSec, 125614.22) || !near(r.Duration, 1.10) {
		t.Errorf("requests %d %v/s in %vs", r.Requests, r.RequestsSec, r.Duration)
	}
	if !near(r.LatencyAvg, 60.23) || !near(r.LatencyStd, 118.72) || !near(r.LatencyMax, 2490) {
		t.Errorf("latency avg %v stdev %v max %v", r.LatencyAvg, r.LatencyStd, r.LatencyMax)
	}
	want := map[string]float64{"50": 43, "75": 70, "90": 84, "99": 502}
	for k, v := range want {
		if !near(r.Percentiles[k], v) {
			t.Errorf("p%s = %v, want %v", k, r.Percentiles[k], v)
		}
	}
	if !near(r.TransferSec, 9.34*(1<<20)) {
		t.Errorf("transfer %v", r.TransferSec)
	}
	if r.ErrConnect+r.ErrRead+r.ErrWrite+r.ErrTimeout+r.Non2xx != 0 {
		t.Errorf("errors %+v", r)
	}
}

func TestParseWrkClose(t *testing.T) {
	r, err := ParseWrk(readTestdata(t, "wrk-close.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 34661 || !near(r.RequestsSec, 31518.68) || !near(r.Percentiles["99"], 2610) {
		t.Errorf("%+v", r)
	}
}

func TestParseWrkErrors(t *testing.T) {
	r, err := ParseWrk(readTestdata(t, "wrk-errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ErrConnect != 17 || r.ErrRead != 3 || r.ErrWrite != 0 || r.ErrTimeout != 42 || r.Non2xx != 5 {
		t.Errorf("errors %+v", r)
	}
	if !near(r.LatencyMax, 1.02e6) || !near(r.Percentiles["99"], 15310) {
		t.Errorf("latency %+v", r)
	}
}

func TestParseWrkNoSummary(t *testing.T) {
	for _, out := range []string{"", "unable to connect to 198.18.0.1:8080 Connection refused\n", "Requests/sec: x\n"} {
		if _, err := ParseWrk(out); err == nil {
			t.Errorf("ParseWrk(%q) succeeded", out)
		}
	}
	if _, err := ParseWrk(""); !errors.Is(err, ErrWrkOutput) {
		t.Errorf("empty output: %v", err)
	}
}

func TestWrkArgs(t *testing.T) {
	got := strings.Join(WrkArgs("http://x/", 1, 64, 1500*time.Millisecond, true), " ")
	want := "-t 1 -c 64 -d 2s --timeout 5s --latency -H Connection: close http://x/"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 3, math.NaN()})
	if s.N != 3 || s.Median != 3 || s.Min != 1 || s.Max != 5 || !near(s.Mean, 3) || !near(s.Stdev, 2) || !near(s.Spread, 400.0/3) {
		t.Errorf("%+v", s)
	}
	if s := Summarize([]float64{4, 2}); s.Median != 3 {
		t.Errorf("even median %+v", s)
	}
	if s := Summarize(nil); s != (Summary{}) {
		t.Errorf("empty %+v", s)
	}
	if !math.IsNaN(Ratio(1, 0)) || Ratio(3, 2) != 1.5 {
		t.Error("Ratio")
	}
}

const procStatA = `cpu  100 0 100 800 0 0 0 0 0 0
cpu0 50 0 50 400 0 0 0 0 0 0
cpu1 50 0 50 400 0 0 0 0 0 0
intr 1 2 3
`

const procStatB = `cpu  400 0 200 1000 0 0 0 0 0 0
cpu0 250 0 50 400 0 0 0 0 0 0
cpu1 150 0 100 550 0 0 50 0 0 0
`

func TestCoreUsage(t *testing.T) {
	a, err := ParseProcStat(strings.NewReader(procStatA))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseProcStat(strings.NewReader(procStatB))
	if err != nil {
		t.Fatal(err)
	}
	u := CoreUsage(a, b)
	if len(u) != 2 {
		t.Fatalf("%+v", u)
	}
	// cpu0: 200 busy of 200; cpu1: 150+50 softirq busy (+50 in user... ) of 350.
	if !near(u[0].Busy, 100) || u[0].CPU != 0 {
		t.Errorf("cpu0 %+v", u[0])
	}
	if !near(u[1].Busy, 100*200.0/350) || !near(u[1].SoftIRQ, 100*50.0/350) {
		t.Errorf("cpu1 %+v", u[1])
	}
}

func sampleReport() *Report {
	mk := func(server string, vals ...float64) *ServerRuns {
		sr := &ServerRuns{Server: server}
		for i, v := range vals {
			sr.Runs = append(sr.Runs, &RunResult{
				Value:   v,
				Metrics: map[string]float64{"p99 (µs)": 100 + v/1000},
				CPU:     []CoreUse{{CPU: 0, Busy: 90}, {CPU: 1, Busy: 40 + float64(i)}},
				Curve:   []CurvePoint{{50, 100}, {90, 200}, {99, 400}, {99.9, 900}, {100, 2000}},
				Series:  []TimePoint{{0.5, v / 2}, {1, v}, {1.5, v * 0.9}},
			})
		}
		return sr
	}
	return &Report{
		Started: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC), Mode: "smoke", Kernel: "6.18", NumCPU: 2,
		ServerCPU: "1", ClientCPU: "0", Sysctls: map[string]string{"net.ipv4.tcp_syncookies": "1"},
		Scenarios: []*Scenario{
			{ID: "keepalive-64", Title: "Keep-alive <64>", Metric: "requests/s", Unit: "req/s", Plot: PlotBars, Extra: []string{"p99 (µs)"},
				Servers: []*ServerRuns{mk("xdptcpd", 200000, 210000, 190000), mk(BaselineServer, 100000, 120000, 110000),
					{Server: "gvisor", Err: "build failed\nmore"}}},
			{ID: "latency-20000", Title: "Latency at 20,000 req/s", Metric: "p99", Unit: "µs", LowerBetter: true, Plot: PlotLatency,
				Servers: []*ServerRuns{mk("xdptcpd", 300), mk(BaselineServer, 600)}},
			{ID: "flood", Title: "Goodput under SYN flood", Metric: "connections/s", Unit: "conn/s", Plot: PlotGoodput,
				Servers: []*ServerRuns{mk("xdptcpd", 5000), mk(BaselineServer, 4000)}},
		},
	}
}

func TestReportWriteAndCheck(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	r.Scenarios[0].Servers = r.Scenarios[0].Servers[:2] // Check refuses failed servers
	r.Scenarios[0].Servers[1].Runs[1].Retried = "wrk: 0 requests"
	if err := r.Write(dir, []int{1}, []int{0}); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{
		"## Keep-alive <64>",
		"| xdptcpd | 200,000 | 190,000 – 210,000 | 10 % | 1.82× | 300 | 90 % | 41 % |",
		"| linux-net | 110,000 | 100,000 – 120,000 | 18 % | 1.00× |",
		"![Goodput under SYN flood](flood.svg)",
		"`net.ipv4.tcp_syncookies=1`",
		"linux-net run 2 was repeated; its first attempt failed: wrk: 0 requests",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	var back Report
	js, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Scenarios[0].Servers[0].Runs[2].Value; got != 190000 {
		t.Errorf("raw run value %v", got)
	}
}

func TestReportFailedServer(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	if err := r.Write(dir, []int{1}, []int{0}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "| gvisor | failed: build failed |") {
		t.Errorf("report.md:\n%s", md)
	}
	err := Check(dir)
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "keepalive-64/gvisor") {
		t.Errorf("Check: %v", err)
	}
}

func TestCheckMissing(t *testing.T) {
	if err := Check(t.TempDir()); !errors.Is(err, ErrCheck) {
		t.Errorf("empty dir: %v", err)
	}
}

func TestSVGPlotsAreValid(t *testing.T) {
	dir := t.TempDir()
	for _, s := range sampleReport().Scenarios {
		s.Finish()
		name, err := s.Plots(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSVG(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		svg := string(b)
		switch s.Plot {
		case PlotBars:
			if n := strings.Count(svg, `class="bar"`); n != 3 {
				t.Errorf("%s: %d bars, want 3", name, n)
			}
			if !strings.Contains(svg, "Keep-alive &lt;64&gt;") {
				t.Errorf("%s: title not escaped", name)
			}
		case PlotLatency, PlotGoodput:
			if n := strings.Count(svg, "<polyline"); n != 2 {
				t.Errorf("%s: %d lines, want 2", name, n)
			}
		}
		if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
			t.Errorf("%s has NaN/Inf", name)
		}
	}
}

func TestCheckSVGRejects(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"broken.svg": `<svg xmlns="http://www.w3.org/2000/svg"><title>x</title><polyline></svg>`,
		"html.svg":   `<html><title>x</title></html>`,
		"empty.svg":  `<svg xmlns="http://www.w3.org/2000/svg"><title>x</title></svg>`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if err := CheckSVG(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestBarChartEmptyAndZero(t *testing.T) {
	var b bytes.Buffer
	if err := BarChart(&b, "t", "y", []Bar{{Label: "a"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") {
		t.Error("NaN in zero chart")
	}
	b.Reset()
	if err := LineChart(&b, "t", "x", "y", nil, true, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Errorf("empty line chart: %s", b.String())
	}
}

func TestStaleNamespaceNames(t *testing.T) {
	for name, want := range map[string]bool{
		"xbn123s": true, "xbn123c": true, "xbn9m": true, "xbn77si": true, "xbn77ci": true,
		"xbn123": false, "xbnas": false, "xbn12x": false, "xs1234abcd": false, "imc0a1b2c3d": false,
	} {
		if got := staleRe.MatchString(name); got != want {
			t.Errorf("%s: stale pattern %v, want %v", name, got, want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	got := parseCPUs("0,2-4, 7")
	want := []int{0, 2, 3, 4, 7}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v", got)
		}
	}
}

func TestPresets(t *testing.T) {
	ids := map[string]bool{}
	o, _ := Preset("full")
	for _, d := range allScenarios(&o) {
		if ids[d.ID] {
			t.Errorf("duplicate scenario id %s", d.ID)
		}
		ids[d.ID] = true
		if d.bridge != "" && bridgeArgs[d.bridge] == nil && d.bridge != "clean" {
			t.Errorf("%s: unknown bridge condition %q", d.ID, d.bridge)
		}
	}
	for _, mode := range []string{"smoke", "quick", "full"} {
		o, err := Preset(mode)
		if err != nil {
			t.Fatal(err)
		}
		if o.Runs < 1 || o.Duration <= 0 || len(o.Servers) < 2 || o.Servers[0] != ServerXdptcpd {
			t.Errorf("%s: %+v", mode, o)
		}
		for _, id := range o.Scenarios {
			if !ids[id] {
				t.Errorf("%s: unknown scenario %s", mode, id)
			}
		}
		if mode != "full" && slicesContains(o.Servers, ServerGvisor) {
			t.Errorf("%s runs gVisor", mode)
		}
	}
	if _, err := Preset("nope"); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestIPv6Scenarios checks the IPv6 variants: one per keep-alive,
// new-connection and bulk scenario, on xdptcpd and Linux + Go net only,
// aimed at the server's IPv6 address, and in every mode (smoke runs all
// scenarios).
func TestIPv6Scenarios(t *testing.T) {
	o, _ := Preset("full")
	defs := map[string]scenarioDef{}
	for _, d := range allScenarios(&o) {
		defs[d.ID] = d
	}
	for _, base := range []string{"keepalive-64", "new-conns", "bulk-up"} {
		v4, ok4 := defs[base]
		v6, ok6 := defs[base+"-v6"]
		if !ok4 || !ok6 {
			t.Fatalf("%s: IPv4 %v, IPv6 %v", base, ok4, ok6)
		}
		if v6.Metric != v4.Metric || v6.Unit != v4.Unit || strings.Join(v6.Extra, ",") != strings.Join(v4.Extra, ",") || v6.OpUnit != v4.OpUnit {
			t.Errorf("%s-v6 has other columns than %s", base, base)
		}
		if !v6.runsOn(ServerXdptcpd) || !v6.runsOn(ServerLinuxNet) || v6.runsOn(ServerGvisor) || v6.bridge != "" {
			t.Errorf("%s-v6: only %v, bridge %q", base, v6.only, v6.bridge)
		}
	}
	e := &env{t: &Topology{ServerAddr: DirectServer, ServerAddr6: DirectServer6}}
	if got := e.hostPortFam(PortDiscard, true); got != "[2001:2::1]:9" {
		t.Errorf("IPv6 host:port %q", got)
	}
	if got := e.urlFam(true); got != "http://[2001:2::1]:8080/" {
		t.Errorf("IPv6 URL %q", got)
	}
	if got := e.url(); got != "http://198.18.0.1:8080/" {
		t.Errorf("IPv4 URL %q", got)
	}
	q, _ := Preset("quick")
	for _, id := range []string{"keepalive-64-v6", "new-conns-v6", "bulk-up-v6"} {
		if !slicesContains(q.Scenarios, id) {
			t.Errorf("quick does not run %s", id)
		}
	}
	if s, _ := Preset("smoke"); len(s.Scenarios) != 0 {
		t.Errorf("smoke selects %v: the IPv6 scenarios must stay in it", s.Scenarios)
	}
}

// TestBulkScenarios checks the bulk scenarios' ports, servers and
// descriptions: echo through user space on its own port and not on the
// gVisor peer, the bridged ones saying which bridge.
func TestBulkScenarios(t *testing.T) {
	o, _ := Preset("full")
	defs := map[string]scenarioDef{}
	for _, d := range allScenarios(&o) {
		defs[d.ID] = d
	}
	for id, want := range map[string]string{
		"bulk-echo":      "splices",
		"bulk-echo-copy": "io.Copy without splice",
		"bridge-up":      "no impairment",
		"bridge-echo":    "no impairment",
		"loss-up":        "1 % loss and 10 ms delay each way",
		"loss-echo":      "1 % loss and 10 ms delay each way",
		"loss-echo-bbr":  "1 % loss and 10 ms delay each way",
	} {
		d, ok := defs[id]
		if !ok {
			t.Errorf("no scenario %s", id)
			continue
		}
		if !strings.Contains(d.Description, want) {
			t.Errorf("%s: description %q lacks %q", id, d.Description, want)
		}
	}
	c := defs["bulk-echo-copy"]
	if c.runsOn(ServerGvisor) || !c.runsOn(ServerXdptcpd) || !c.runsOn(ServerLinuxNet) || c.bridge != "" {
		t.Errorf("bulk-echo-copy: only %v, bridge %q", c.only, c.bridge)
	}
	q, _ := Preset("quick")
	if !slicesContains(q.Scenarios, "bulk-echo-copy") {
		t.Error("quick does not run bulk-echo-copy")
	}
}

func slicesContains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestServerCostPerOp checks the per-operation server cost and its ratios
// to Linux: a server that spends half Linux's CPU per request serves 2×
// the requests per server-core-second, by its threads' time and by the
// core's busy time (11,000 against 6,000 ns: 1.83×).
func TestServerCostPerOp(t *testing.T) {
	run := func(v, ops float64, threadNS, coreNS, switches int64) *RunResult {
		r := &RunResult{Value: v, Ops: ops}
		r.setServerCost(threadNS, coreNS, switches)
		return r
	}
	s := &Scenario{ID: "k", Title: "K", Metric: "requests/s", Unit: "req/s", OpUnit: "request", Servers: []*ServerRuns{
		{Server: "xdptcpd", Runs: []*RunResult{run(1, 1000, 5e6, 6e6, 500), run(1, 1000, 4e6, 5e6, 250), run(1, 1000, 6e6, 7e6, 750)}},
		{Server: BaselineServer, Runs: []*RunResult{run(1, 2000, 20e6, 22e6, 6000), run(1, 0, 1, 1, 1)}},
	}}
	s.Finish()
	x := s.Servers[0]
	if x.ThreadNSPerOp.Median != 5000 || x.ThreadNSPerOp.Min != 4000 || x.CoreNSPerOp.Median != 6000 {
		t.Errorf("xdptcpd cost %+v %+v", x.ThreadNSPerOp, x.CoreNSPerOp)
	}
	if b := s.Servers[1]; b.ThreadNSPerOp.N != 1 || b.ThreadNSPerOp.Median != 10000 {
		t.Errorf("a run without ops must not count: %+v", b.ThreadNSPerOp)
	}
	if x.SwitchesPerOp.Median != 0.5 || s.Servers[1].SwitchesPerOp.N != 1 || s.Servers[1].SwitchesPerOp.Median != 3 {
		t.Errorf("switches per request %+v %+v", x.SwitchesPerOp, s.Servers[1].SwitchesPerOp)
	}
	tab := s.Table([]int{1}, []int{0})
	for _, want := range []string{"| server ns/request | min – max | core ns/request | per core vs Linux | per busy core vs Linux | switches/request | kicks/request |",
		"| 5,000 | 4,000 – 6,000 | 6,000 | 2.00× | 1.83× | 0.50 | – |", "| 10,000 | 10,000 – 10,000 | 11,000 | 1.00× | 1.00× | 3.00 | – |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

func TestParseKicks(t *testing.T) {
	in := `# HELP xdptcp_xsk_events_total AF_XDP socket events per queue
# TYPE xdptcp_xsk_events_total counter
xdptcp_xsk_events_total{event="fill_kicks",queue="0"} 3
xdptcp_xsk_events_total{event="tx_kicks",queue="0"} 1.2e+06
xdptcp_xsk_events_total{event="tx_kicks",queue="1"} 7
xdptcp_xsk_events_total{event="kick_errors",queue="0"} 99
xdptcp_frames_transmitted_total{queue="0"} 5
`
	got, err := parseKicks(strings.NewReader(in))
	if err != nil || got != 1_200_010 {
		t.Errorf("parseKicks = %v, %v; want 1200010", got, err)
	}
	if _, err := parseKicks(strings.NewReader("xdptcp_frames_transmitted_total 5\n")); err == nil {
		t.Error("no kick lines: want an error")
	}
}

package harness

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// BaselineServer is the server ratios are computed against: the Linux
// kernel with a Go net server (goroutine per connection).
const BaselineServer = "linux-net"

// Plot kinds of a scenario.
const (
	PlotBars    = "bars"    // one bar per server (the primary metric)
	PlotLatency = "latency" // latency percentile curves
	PlotGoodput = "goodput" // a time series per server
)

// Report is everything a bench run measured; results.json is this value.
type Report struct {
	Started   time.Time         `json:"started"`
	Finished  time.Time         `json:"finished"`
	Mode      string            `json:"mode"`
	Rig       string            `json:"rig"` // RigNAPI or RigLegacy (rig.go)
	Kernel    string            `json:"kernel"`
	GoVersion string            `json:"go_version"`
	NumCPU    int               `json:"num_cpu"`
	ServerCPU string            `json:"server_cpu"`
	ClientCPU string            `json:"client_cpu"`
	Sysctls   map[string]string `json:"sysctls"`
	Notes     []string          `json:"notes,omitempty"`
	Scenarios []*Scenario       `json:"scenarios"`
}

// Scenario is one measurement over every server.
type Scenario struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Metric      string   `json:"metric"` // name of the primary figure
	Unit        string   `json:"unit"`
	LowerBetter bool     `json:"lower_is_better,omitempty"`
	Extra       []string `json:"extra,omitempty"` // secondary metrics shown as columns
	// OpUnit names what a run's Ops count ("request", "connection",
	// "MiB"); "" for scenarios without a server cost per operation.
	OpUnit  string        `json:"op_unit,omitempty"`
	Plot    string        `json:"plot,omitempty"`
	Servers []*ServerRuns `json:"servers"`
}

// ServerRuns are one server's runs of a scenario.
type ServerRuns struct {
	Server  string             `json:"server"`
	Runs    []*RunResult       `json:"runs"`
	Summary Summary            `json:"summary"`
	Extra   map[string]Summary `json:"extra,omitempty"`
	// ThreadNSPerOp and CoreNSPerOp summarize the runs' server cost per
	// operation (RunResult.ThreadNSPerOp, CoreNSPerOp).
	ThreadNSPerOp Summary `json:"server_thread_ns_per_op"`
	CoreNSPerOp   Summary `json:"server_core_ns_per_op"`
	KicksPerOp    Summary `json:"kicks_per_op"` // xdptcpd only
	// SwitchesPerOp summarizes RunResult.SwitchesPerOp.
	SwitchesPerOp Summary `json:"server_switches_per_op"`
	Err           string  `json:"error,omitempty"`
	// NotOffered says the server cannot run the scenario (it does not
	// offer the scenario's congestion control); Err says why. Not a
	// failure: --check accepts it.
	NotOffered bool `json:"not_offered,omitempty"`
}

// RunResult is one run.
type RunResult struct {
	Value      float64            `json:"value"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	CPU        []CoreUse          `json:"cpu"`
	CPUSamples [][]CoreUse        `json:"cpu_samples,omitempty"`
	Curve      []CurvePoint       `json:"latency_curve,omitempty"`
	Series     []TimePoint        `json:"series,omitempty"`
	Raw        any                `json:"raw,omitempty"`
	Err        string             `json:"error,omitempty"`
	Retried    string             `json:"retried_after,omitempty"` // why a first attempt was discarded
	// Ops is how many operations (Scenario.OpUnit) the run completed; 0
	// when the scenario has no per-operation cost.
	Ops float64 `json:"ops,omitempty"`
	// ServerThreadNS is the CPU time of the server's threads and of its
	// veth end's NAPI kthreads over the run; ServerCoreNS the busy time of
	// the server cores (/proc/stat: user, system, softirq, ..., of every
	// task that ran there, other tenants' too).
	ServerThreadNS int64 `json:"server_thread_ns"`
	ServerCoreNS   int64 `json:"server_core_ns"`
	// ServerSwitches is how many times those threads and kthreads were
	// put on a CPU over the run (/proc/TID/schedstat's pcount): each is a
	// wake-up or a preemption and the context switch into the thread.
	ServerSwitches int64 `json:"server_switches"`
	// ThreadNSPerOp and CoreNSPerOp are those per operation (0 without Ops).
	ThreadNSPerOp float64 `json:"server_thread_ns_per_op,omitempty"`
	CoreNSPerOp   float64 `json:"server_core_ns_per_op,omitempty"`
	// SwitchesPerOp is ServerSwitches per operation (0 without Ops).
	SwitchesPerOp float64 `json:"server_switches_per_op,omitempty"`
	// KicksPerOp is xdptcpd's AF_XDP wake-up system calls (TX sendto and
	// fill-ring recvfrom, from its /metrics) per operation; 0 for other
	// servers.
	KicksPerOp float64 `json:"kicks_per_op,omitempty"`
}

// setServerCost records the server's CPU time and switches over the run
// and, when the run counted its operations, those per operation.
func (r *RunResult) setServerCost(threadsNS, coreNS, switches int64) {
	r.ServerThreadNS, r.ServerCoreNS, r.ServerSwitches = threadsNS, coreNS, switches
	if r.Ops > 0 {
		r.ThreadNSPerOp = float64(threadsNS) / r.Ops
		r.CoreNSPerOp = float64(coreNS) / r.Ops
		r.SwitchesPerOp = float64(switches) / r.Ops
	}
}

// CurvePoint is one point of a latency percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	LatencyUS  float64 `json:"latency_us"`
}

// TimePoint is one interval of a time series.
type TimePoint struct {
	T     float64 `json:"t_s"`
	Value float64 `json:"value"`
}

// Finish computes the summaries of every server's runs.
func (s *Scenario) Finish() {
	for _, sr := range s.Servers {
		var vs, thr, core, kicks, sw []float64
		extra := map[string][]float64{}
		for _, r := range sr.Runs {
			if r.Err != "" {
				continue
			}
			vs = append(vs, r.Value)
			if r.Ops > 0 {
				thr = append(thr, r.ThreadNSPerOp)
				core = append(core, r.CoreNSPerOp)
				sw = append(sw, r.SwitchesPerOp)
				if r.KicksPerOp > 0 {
					kicks = append(kicks, r.KicksPerOp)
				}
			}
			for k, v := range r.Metrics {
				extra[k] = append(extra[k], v)
			}
		}
		sr.Summary = Summarize(vs)
		sr.ThreadNSPerOp, sr.CoreNSPerOp, sr.KicksPerOp, sr.SwitchesPerOp = Summarize(thr), Summarize(core), Summarize(kicks), Summarize(sw)
		if len(extra) > 0 {
			sr.Extra = map[string]Summary{}
			for k, v := range extra {
				sr.Extra[k] = Summarize(v)
			}
		}
		if sr.Summary.N == 0 && sr.Err == "" {
			for _, r := range sr.Runs {
				if r.Err != "" {
					sr.Err = r.Err
					break
				}
			}
			if sr.Err == "" {
				sr.Err = "no runs"
			}
		}
	}
}

// medianRun is the run whose value is nearest the median (for curves).
func (sr *ServerRuns) medianRun() *RunResult {
	var best *RunResult
	for _, r := range sr.Runs {
		if r.Err != "" {
			continue
		}
		if best == nil || math.Abs(r.Value-sr.Summary.Median) < math.Abs(best.Value-sr.Summary.Median) {
			best = r
		}
	}
	return best
}

// cpuMedian is the median busy share of core cpu over the runs.
func (sr *ServerRuns) cpuMedian(cpu int) float64 {
	var vs []float64
	for _, r := range sr.Runs {
		for _, c := range r.CPU {
			if c.CPU == cpu {
				vs = append(vs, c.Busy)
			}
		}
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	return Summarize(vs).Median
}

func (s *Scenario) baseline() *ServerRuns {
	for _, sr := range s.Servers {
		if sr.Server == BaselineServer && sr.Err == "" {
			return sr
		}
	}
	return nil
}

// fmtFig writes a figure for the table.
func fmtFig(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	a := math.Abs(v)
	switch {
	case a >= 100:
		return commas(int64(math.Round(v)))
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Markdown writes report.md.
func (r *Report) Markdown(w io.Writer, serverCPUs, clientCPUs []int) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# xdptcp bench — %s (%s)\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Mode)
	fmt.Fprintf(&b, "Kernel %s, %d CPUs, %s, rig `%s`. Server pinned to CPU %s, clients to CPU %s. ", r.Kernel, r.NumCPU, r.GoVersion, r.Rig, r.ServerCPU, r.ClientCPU)
	fmt.Fprintf(&b, "Medians of several runs, with min–max and spread ((max−min)/median); ratios are to `%s` (Linux kernel + Go net) measured in the same bench run. ", BaselineServer)
	fmt.Fprintf(&b, "CPU columns are the median busy share of the client and server cores during the runs (user+system+softirq): a core near 100 %% is the bottleneck. ")
	fmt.Fprintf(&b, "Where a scenario counts operations, *server ns/op* is the CPU time of the server's threads and its veth end's NAPI kthreads (/proc/TID/schedstat) per operation, median of the runs with min–max; *core ns/op* is the busy time of the server core from /proc/stat per operation (everything that ran on it, other tenants too); *per core vs Linux* is Linux's server ns/op over this server's: operations per server-core-second relative to `%s`; *per busy core vs Linux* is the same from core ns/op, which also counts what the kernel does for a server outside its threads — softirq work run while the core idles, such as a paced Linux sender's transmissions from its pacing timer, which no thread is charged for — but also anything else on that core; *switches/op* is how many times the server's threads and NAPI kthreads were put on a CPU (/proc/TID/schedstat), per operation: each a wake-up or a preemption, and a context switch; *kicks/op* is xdptcpd's AF_XDP wake-up system calls (TX `sendto` and fill-ring `recvfrom`, from its /metrics) per operation.\n\n", BaselineServer)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	if len(r.Sysctls) > 0 {
		b.WriteString("Kernel settings (server namespace; `client:` where the client namespace differs):")
		keys := make([]string, 0, len(r.Sysctls))
		for k := range r.Sysctls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " `%s=%s`", k, r.Sysctls[k])
		}
		b.WriteString("\n\n")
	}
	for _, s := range r.Scenarios {
		b.WriteString(s.Table(serverCPUs, clientCPUs))
		b.WriteString("\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Table is the scenario's markdown section.
func (s *Scenario) Table(serverCPUs, clientCPUs []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", s.Title)
	if s.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", s.Description)
	}
	if s.Plot != "" {
		fmt.Fprintf(&b, "![%s](%s.svg)\n\n", s.Title, s.ID)
	}
	base := s.baseline()
	b.WriteString("| server | " + s.Metric + " (" + s.Unit + ") | min – max | spread | vs Linux |")
	for _, e := range s.Extra {
		b.WriteString(" " + e + " |")
	}
	if s.OpUnit != "" {
		fmt.Fprintf(&b, " server ns/%s | min – max | core ns/%s | per core vs Linux | per busy core vs Linux | switches/%s | kicks/%s |", s.OpUnit, s.OpUnit, s.OpUnit, s.OpUnit)
	}
	b.WriteString(" client CPU | server CPU |\n|---|---:|---:|---:|---:|")
	for range s.Extra {
		b.WriteString("---:|")
	}
	if s.OpUnit != "" {
		b.WriteString("---:|---:|---:|---:|---:|---:|---:|")
	}
	b.WriteString("---:|---:|\n")
	for _, sr := range s.Servers {
		if sr.Err != "" {
			what := "failed: "
			if sr.NotOffered {
				what = "" // the error says "congestion control not offered"
			}
			fmt.Fprintf(&b, "| %s | %s%s |\n", sr.Server, what, strings.ReplaceAll(firstLine(sr.Err), "|", "/"))
			continue
		}
		sm := sr.Summary
		ratio := "–"
		if base != nil {
			if v := Ratio(sm.Median, base.Summary.Median); !math.IsNaN(v) {
				ratio = fmt.Sprintf("%.2f×", v)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s – %s | %.0f %% | %s |", sr.Server, fmtFig(sm.Median), fmtFig(sm.Min), fmtFig(sm.Max), sm.Spread, ratio)
		for _, e := range s.Extra {
			if x, ok := sr.Extra[e]; ok {
				fmt.Fprintf(&b, " %s |", fmtFig(x.Median))
			} else {
				b.WriteString(" – |")
			}
		}
		if s.OpUnit != "" {
			b.WriteString(costCells(sr, base))
		}
		fmt.Fprintf(&b, " %s | %s |\n", cpuCell(sr, clientCPUs), cpuCell(sr, serverCPUs))
	}
	for _, sr := range s.Servers {
		for i, r := range sr.Runs {
			if r.Retried != "" {
				fmt.Fprintf(&b, "\n%s run %d was repeated; its first attempt failed: %s\n", sr.Server, i+1, strings.ReplaceAll(r.Retried, "|", "/"))
			}
		}
	}
	return b.String()
}

// costCells are the per-operation server cost columns of sr.
func costCells(sr *ServerRuns, base *ServerRuns) string {
	t, c := sr.ThreadNSPerOp, sr.CoreNSPerOp
	kicks := "–"
	if sr.KicksPerOp.N > 0 {
		kicks = fmtFig(sr.KicksPerOp.Median)
	}
	if t.N == 0 {
		return " – | – | – | – | – | – | " + kicks + " |"
	}
	// ratio is Linux's cost over this server's.
	ratio := func(base, this Summary) string {
		if base.N > 0 && this.N > 0 {
			if v := Ratio(base.Median, this.Median); !math.IsNaN(v) {
				return fmt.Sprintf("%.2f×", v)
			}
		}
		return "–"
	}
	perThread, perCore := "–", "–"
	if base != nil {
		perThread, perCore = ratio(base.ThreadNSPerOp, t), ratio(base.CoreNSPerOp, c)
	}
	sw := "–"
	if sr.SwitchesPerOp.N > 0 {
		sw = fmtFig(sr.SwitchesPerOp.Median)
	}
	return fmt.Sprintf(" %s | %s – %s | %s | %s | %s | %s | %s |", fmtFig(t.Median), fmtFig(t.Min), fmtFig(t.Max), fmtFig(c.Median), perThread, perCore, sw, kicks)
}

func cpuCell(sr *ServerRuns, cpus []int) string {
	var parts []string
	for _, c := range cpus {
		v := sr.cpuMedian(c)
		if math.IsNaN(v) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%.0f %%", v))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, " / ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Plots writes the scenario's SVG plot into dir, if it has one, and returns
// the file name.
func (s *Scenario) Plots(dir string) (string, error) {
	if s.Plot == "" {
		return "", nil
	}
	var b bytes.Buffer
	var err error
	switch s.Plot {
	case PlotBars:
		var bars []Bar
		for _, sr := range s.Servers {
			if sr.Err != "" {
				bars = append(bars, Bar{Label: sr.Server})
				continue
			}
			bars = append(bars, Bar{Label: sr.Server, Value: sr.Summary.Median, Min: sr.Summary.Min, Max: sr.Summary.Max})
		}
		err = BarChart(&b, s.Title, s.Metric+" ("+s.Unit+")", bars)
	case PlotLatency:
		var ss []Series
		for _, sr := range s.Servers {
			r := sr.medianRun()
			if r == nil {
				continue
			}
			var sx Series
			sx.Label = sr.Server
			for _, p := range r.Curve {
				if p.Percentile >= 100 {
					continue
				}
				sx.X = append(sx.X, 1/(1-p.Percentile/100))
				sx.Y = append(sx.Y, p.LatencyUS/1000)
			}
			ss = append(ss, sx)
		}
		ticks := map[float64]string{2: "p50", 10: "p90", 100: "p99", 1000: "p99.9", 10000: "p99.99"}
		err = LineChart(&b, s.Title, "percentile", "latency (ms)", ss, true, ticks)
	case PlotGoodput:
		var ss []Series
		for _, sr := range s.Servers {
			r := sr.medianRun()
			if r == nil {
				continue
			}
			sx := Series{Label: sr.Server}
			for _, p := range r.Series {
				sx.X = append(sx.X, p.T)
				sx.Y = append(sx.Y, p.Value)
			}
			ss = append(ss, sx)
		}
		err = LineChart(&b, s.Title, "time (s)", s.Metric+" ("+s.Unit+")", ss, false, nil)
	default:
		return "", fmt.Errorf("unknown plot kind %q", s.Plot)
	}
	if err != nil {
		return "", err
	}
	name := s.ID + ".svg"
	return name, os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
}

// Write writes report.md, results.json and the plots into dir.
func (r *Report) Write(dir string, serverCPUs, clientCPUs []int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range r.Scenarios {
		s.Finish()
		if _, err := s.Plots(dir); err != nil {
			return err
		}
	}
	var md bytes.Buffer
	if err := r.Markdown(&md, serverCPUs, clientCPUs); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644)
}

// ErrCheck is returned by Check for a report that is missing something.
var ErrCheck = errors.New("bench report check failed")

// Check verifies a results directory: report.md and results.json exist,
// every scenario has a non-zero figure for every server, and every plot is
// a valid SVG with bars or lines.
func Check(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		return fmt.Errorf("%w: %v", ErrCheck, err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCheck, err)
	}
	var r Report
	if err := json.Unmarshal(js, &r); err != nil {
		return fmt.Errorf("%w: results.json: %v", ErrCheck, err)
	}
	if len(r.Scenarios) == 0 {
		return fmt.Errorf("%w: no scenarios", ErrCheck)
	}
	var problems []string
	for _, s := range r.Scenarios {
		if len(s.Servers) == 0 {
			problems = append(problems, s.ID+": no servers")
		}
		for _, sr := range s.Servers {
			if sr.NotOffered {
				continue // the server lacks the scenario's congestion control: reported, not a failure
			}
			if sr.Err != "" || sr.Summary.N == 0 || !(sr.Summary.Median > 0) {
				problems = append(problems, fmt.Sprintf("%s/%s: no non-zero figure (%s)", s.ID, sr.Server, firstLine(sr.Err)))
			}
		}
		if s.Plot == "" {
			continue
		}
		if err := CheckSVG(filepath.Join(dir, s.ID+".svg")); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrCheck, strings.Join(problems, "\n  "))
	}
	return nil
}

// CheckSVG verifies that file is well-formed XML with an <svg> root, a
// <title>, and at least one bar (rect class="bar") or line (polyline).
func CheckSVG(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	root, marks, titles := "", 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: not valid XML: %v", file, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
			if se.Name.Space != "http://www.w3.org/2000/svg" {
				return fmt.Errorf("%s: root namespace %q", file, se.Name.Space)
			}
		}
		switch se.Name.Local {
		case "title":
			titles++
		case "polyline":
			marks++
		case "rect":
			for _, a := range se.Attr {
				if a.Name.Local == "class" && a.Value == "bar" {
					marks++
				}
			}
		}
	}
	if root != "svg" {
		return fmt.Errorf("%s: root element %q, want svg", file, root)
	}
	if titles == 0 || marks == 0 {
		return fmt.Errorf("%s: %d titles, %d bars/lines", file, titles, marks)
	}
	return nil
}

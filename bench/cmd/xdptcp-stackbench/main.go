// Command xdptcp-stackbench measures the stack's own cost without a NIC
// (`make bench-stack`): two xdptcp Stacks back to back in this process over
// the in-memory link (xdptcp.NewMemPair), driven through net.Listener /
// net.Conn and through the event API (Serve, DialHandler), beside gVisor
// netstack driven by the same net.Conn workloads (bench/stackbench) in
// bench/peers/gvisor/stackbench, which it runs as a child process on the
// same CPU. It prints one table (Markdown) and writes report.md and
// results.json into --out.
//
//	taskset -c 1 xdptcp-stackbench [--gvisor BIN] [--out DIR] [--workloads keepalive,connect,bulk]
//	    [--apis net.Conn,events] [--requests N] [--connects N] [--bytes N] [--json]
//
// GOMAXPROCS is 1 unless the environment sets it. Pin the process with
// taskset (the Makefile does): every thread, the gVisor child's too, then
// shares one core.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/bench/stackbench"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

var (
	addrA = netip.MustParsePrefix("198.18.0.1/24") // client
	addrB = netip.MustParsePrefix("198.18.0.2/24") // server
)

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	p := stackbench.DefaultParams()
	gv := flag.String("gvisor", "", "gVisor stackbench program (bench/peers/gvisor/stackbench); \"\" for xdptcp rows only")
	out := flag.String("out", "", "directory for report.md and results.json (default bench/results/stack-<UTC timestamp>)")
	workloads := flag.String("workloads", "", "workloads, comma-separated (keepalive, connect, bulk); default all")
	apis := flag.String("apis", "net.Conn,events", "xdptcp APIs to drive: net.Conn, events")
	flag.IntVar(&p.Requests, "requests", p.Requests, "keepalive: requests over all connections")
	flag.IntVar(&p.Conns, "conns", p.Conns, "keepalive: connections")
	flag.IntVar(&p.Connects, "connects", p.Connects, "connect: connections opened and closed")
	flag.IntVar(&p.Parallel, "parallel", p.Parallel, "connect: connections in flight")
	flag.Int64Var(&p.Bytes, "bytes", p.Bytes, "bulk: bytes moved one way")
	flag.IntVar(&p.Runs, "runs", p.Runs, "runs of everything, xdptcp and gVisor alternating (the table shows medians)")
	jsonOnly := flag.Bool("json", false, "print the xdptcp rows as JSON only (no report)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the xdptcp runs to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile (every allocation sampled) of the xdptcp runs to this file")
	flag.Parse()
	if *memProfile != "" {
		runtime.MemProfileRate = 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-stackbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
	}
	var which []string
	if *workloads != "" {
		which = strings.Split(*workloads, ",")
	}
	p.Runs = max(1, p.Runs)
	rep := &stackbench.Report{Started: time.Now(), CPU: cpus(), Params: p}
	if *gv == "" && !*jsonOnly {
		rep.Notes = append(rep.Notes, "gVisor not run (--gvisor not given or its module did not build).")
	}
	for run := 1; run <= p.Runs; run++ {
		var rows []stackbench.Result
		for _, api := range strings.Split(*apis, ",") {
			switch api {
			case "net.Conn":
				rows = append(rows, runConn(p, which)...)
			case "events":
				rows = append(rows, runEvents(p, which)...)
			default:
				fmt.Fprintln(os.Stderr, "xdptcp-stackbench: unknown API", api)
				os.Exit(2)
			}
		}
		if *gv != "" && !*jsonOnly {
			grows, err := runGvisor(*gv, p, *workloads)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("run %d: gVisor rows missing: %v", run, err))
				fmt.Fprintln(os.Stderr, "xdptcp-stackbench: gvisor:", err)
			}
			rows = append(rows, grows...)
		}
		for i := range rows {
			rows[i].Run = run
		}
		rep.Results = append(rep.Results, rows...)
		fmt.Fprintf(os.Stderr, "xdptcp-stackbench: run %d of %d done\n", run, p.Runs)
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		if f, err := os.Create(*memProfile); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	if *jsonOnly {
		stackbench.WriteJSON(os.Stdout, rep.Results)
		return
	}
	if *out == "" {
		wd, _ := os.Getwd()
		*out = filepath.Join(wd, "bench", "results", "stack-"+time.Now().UTC().Format("20060102-150405"))
	}
	md := rep.Markdown()
	fmt.Print(md)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-stackbench:", err)
		os.Exit(1)
	}
	js, _ := json.MarshalIndent(rep, "", " ")
	os.WriteFile(filepath.Join(*out, "results.json"), js, 0o644)
	os.WriteFile(filepath.Join(*out, "report.md"), []byte(md), 0o644)
	fmt.Fprintf(os.Stderr, "xdptcp-stackbench: %s\n", filepath.Join(*out, "report.md"))
	for _, r := range rep.Results {
		if r.Err != "" {
			os.Exit(1)
		}
	}
}

// cpus is the affinity of this process ("1", "0-1", ...).
func cpus() string {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return "?"
	}
	var ids []string
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			ids = append(ids, fmt.Sprint(i))
		}
	}
	return strings.Join(ids, ",")
}

// pair starts two xdptcp Stacks over the in-memory link. The client's
// local ports span 1024-65535 (connect leaves TIME-WAIT on the client).
func pair() (*xdptcp.MemPair, error) {
	ca := xdptcp.Config{Addr: addrA, TCP: tcp.DefaultConfig()}
	if err := ca.TCP.Set("ip_local_port_range", "1024 65535"); err != nil {
		return nil, err
	}
	return xdptcp.NewMemPair(ca, xdptcp.Config{Addr: addrB})
}

// memNet is a MemPair seen through net.Listener and net.Conn.
type memNet struct {
	p     *xdptcp.MemPair
	addrs map[int]string // "IP:port" of each port dialed: formatted once, as gVisor's side passes a tcpip.FullAddress
}

func (m memNet) Listen(port int) (net.Listener, error) {
	return m.p.B.Listen("tcp4", fmt.Sprintf(":%d", port))
}

func (m memNet) Dial(ctx context.Context, port int) (net.Conn, error) {
	return m.p.A.DialContext(ctx, "tcp4", m.addrs[port])
}

func runConn(p stackbench.Params, which []string) []stackbench.Result {
	var out []stackbench.Result
	for _, w := range stackbench.Workloads {
		if len(which) > 0 && !contains(which, w) {
			continue
		}
		mp, err := pair()
		if err != nil {
			out = append(out, stackbench.Result{Stack: "xdptcp", API: "net.Conn", Workload: w, Err: err.Error()})
			continue
		}
		addrs := make(map[int]string)
		for _, port := range []int{stackbench.PortKeepAlive, stackbench.PortConnect, stackbench.PortBulk} {
			addrs[port] = fmt.Sprintf("%s:%d", addrB.Addr(), port)
		}
		out = append(out, stackbench.RunConn("xdptcp", memNet{mp, addrs}, p, []string{w})...)
		mp.Close()
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// runGvisor runs the gVisor program with the same parameters and decodes
// its rows.
func runGvisor(bin string, p stackbench.Params, workloads string) ([]stackbench.Result, error) {
	args := []string{"--requests", fmt.Sprint(p.Requests), "--conns", fmt.Sprint(p.Conns), "--connects", fmt.Sprint(p.Connects),
		"--parallel", fmt.Sprint(p.Parallel), "--bytes", fmt.Sprint(p.Bytes)}
	if workloads != "" {
		args = append(args, "--workloads", workloads)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*stackbench.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	var rows []stackbench.Result
	if jerr := json.Unmarshal(outb, &rows); jerr != nil {
		if err == nil {
			err = jerr
		}
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return rows, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return rows, nil
}

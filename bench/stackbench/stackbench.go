// Package stackbench measures a TCP/IP stack's own cost without a NIC:
// two instances of the stack back to back in one process (an in-memory
// link), driven through net.Listener / net.Conn by the same workloads for
// every stack, with the process's CPU time (getrusage) and heap
// allocations (runtime.MemStats) taken around each measured phase.
//
// `make bench-stack` runs it for xdptcp (bench/cmd/xdptcp-stackbench, which
// also drives xdptcp's event API) and for gVisor netstack
// (bench/peers/gvisor/stackbench, in the gVisor module, which imports this
// package: the main module never depends on gVisor), on one CPU with
// GOMAXPROCS=1, and prints one table.
//
// The package uses only the standard library, so the gVisor module can
// import it.
package stackbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Workload names.
const (
	KeepAlive = "keepalive" // Conns keep-alive connections, Size-byte request and response
	Connect   = "connect"   // connect, one request/response, close
	Bulk      = "bulk"      // one connection moves Bytes one way
)

// Workloads in table order.
var Workloads = []string{KeepAlive, Connect, Bulk}

// Params size the workloads; the same for every stack.
type Params struct {
	Conns    int   // keepalive: connections (100)
	Requests int   // keepalive: requests over all connections
	Size     int   // request and response size (64)
	Connects int   // connect: connections opened and closed
	Parallel int   // connect: connections in flight at once
	Bytes    int64 // bulk: bytes to move (1 GiB)
	Runs     int   // runs of everything, alternating the stacks (the table shows medians)
}

// DefaultParams are the workloads: 100 keep-alive connections with
// 64-byte requests and responses, connect/request/close, 1 GiB one way.
func DefaultParams() Params {
	return Params{Conns: 100, Requests: 200_000, Size: 64, Connects: 20_000, Parallel: 10, Bytes: 1 << 30, Runs: 3}
}

// Result is one measured row.
type Result struct {
	Run      int     `json:"run"`      // 1, 2, ...
	Stack    string  `json:"stack"`    // xdptcp, gvisor
	API      string  `json:"api"`      // net.Conn, events
	Workload string  `json:"workload"` // KeepAlive, Connect, Bulk
	OpUnit   string  `json:"op_unit"`  // request, connection, MiB
	Ops      float64 `json:"ops"`
	// CPUNS is the process's user+system time over the measured phase
	// (getrusage RUSAGE_SELF: both stacks, the workload's goroutines, GC).
	CPUNS           int64   `json:"cpu_ns"`
	UserNS          int64   `json:"user_ns"`
	SysNS           int64   `json:"sys_ns"`
	WallNS          int64   `json:"wall_ns"`
	Allocs          uint64  `json:"allocs"`      // heap objects allocated (MemStats.Mallocs)
	AllocBytes      uint64  `json:"alloc_bytes"` // heap bytes allocated (MemStats.TotalAlloc)
	NumGC           uint32  `json:"num_gc"`
	CPUNSPerOp      float64 `json:"cpu_ns_per_op"`
	AllocsPerOp     float64 `json:"allocs_per_op"`
	BytesPerOp      float64 `json:"alloc_bytes_per_op"`
	OpsPerCPUSecond float64 `json:"ops_per_cpu_s"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
	Err             string  `json:"error,omitempty"`
}

func tvNS(tv syscall.Timeval) int64 { return tv.Nano() }

// Measure runs fn, which returns the operations it completed, with the
// process's CPU time and allocations taken around it. The heap is
// collected first so one row does not pay for the previous row's garbage.
func Measure(stack, api, workload, opUnit string, fn func() (float64, error)) Result {
	r := Result{Stack: stack, API: api, Workload: workload, OpUnit: opUnit, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	runtime.GC()
	var m0, m1 runtime.MemStats
	var u0, u1 syscall.Rusage
	runtime.ReadMemStats(&m0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &u0)
	t0 := time.Now()
	ops, err := fn()
	r.WallNS = int64(time.Since(t0))
	syscall.Getrusage(syscall.RUSAGE_SELF, &u1)
	runtime.ReadMemStats(&m1)
	r.UserNS = tvNS(u1.Utime) - tvNS(u0.Utime)
	r.SysNS = tvNS(u1.Stime) - tvNS(u0.Stime)
	r.CPUNS = r.UserNS + r.SysNS
	r.Allocs = m1.Mallocs - m0.Mallocs
	r.AllocBytes = m1.TotalAlloc - m0.TotalAlloc
	r.NumGC = m1.NumGC - m0.NumGC
	r.Ops = ops
	if err != nil {
		r.Err = err.Error()
	}
	if ops > 0 {
		r.CPUNSPerOp = float64(r.CPUNS) / ops
		r.AllocsPerOp = float64(r.Allocs) / ops
		r.BytesPerOp = float64(r.AllocBytes) / ops
	}
	if r.CPUNS > 0 {
		r.OpsPerCPUSecond = ops / (float64(r.CPUNS) / 1e9)
	}
	return r
}

// Net is a stack under test, seen through the standard interfaces: a
// listener on the server instance and dials from the client instance.
type Net interface {
	Listen(port int) (net.Listener, error)
	Dial(ctx context.Context, port int) (net.Conn, error)
}

// Ports the workloads use on the server instance.
const (
	PortKeepAlive = 7001
	PortConnect   = 7002
	PortBulk      = 7003
)

// Timeout bounds every workload.
const Timeout = 5 * time.Minute

var errShort = errors.New("short response")

// RunConn runs the workloads named in which (all when empty) through n's
// net.Listener / net.Conn and returns a row for each.
func RunConn(stack string, n Net, p Params, which []string) []Result {
	var out []Result
	for _, w := range Workloads {
		if len(which) > 0 && !contains(which, w) {
			continue
		}
		var r Result
		switch w {
		case KeepAlive:
			r = connKeepAlive(stack, n, p)
		case Connect:
			r = connConnect(stack, n, p)
		case Bulk:
			r = connBulk(stack, n, p)
		}
		out = append(out, r)
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

// serve accepts on ln and runs h for each connection until ln is closed.
func serve(ln net.Listener, h func(c net.Conn)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); h(c) }()
		}
	}()
	return &wg
}

// echoN answers every size-byte request on c with a size-byte response
// until EOF.
func echoN(size int) func(c net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}
}

func connKeepAlive(stack string, n Net, p Params) Result {
	fail := func(err error) Result {
		return Result{Stack: stack, API: "net.Conn", Workload: KeepAlive, OpUnit: "request", Err: err.Error()}
	}
	ln, err := n.Listen(PortKeepAlive)
	if err != nil {
		return fail(err)
	}
	wg := serve(ln, echoN(p.Size))
	defer wg.Wait()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conns := make([]net.Conn, 0, p.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < p.Conns; i++ { // established before the measured phase
		c, err := n.Dial(ctx, PortKeepAlive)
		if err != nil {
			return fail(fmt.Errorf("dial %d: %w", i, err))
		}
		c.SetDeadline(time.Now().Add(Timeout))
		conns = append(conns, c)
	}
	per := max(1, p.Requests/p.Conns)
	return Measure(stack, "net.Conn", KeepAlive, "request", func() (float64, error) {
		return runWorkers(len(conns), func(w int, done func()) error {
			c := conns[w]
			req := bytes.Repeat([]byte{'q'}, p.Size)
			resp := make([]byte, p.Size)
			for i := 0; i < per; i++ {
				if err := exchange(c, req, resp); err != nil {
					return err
				}
				done()
			}
			return nil
		})
	})
}

// runWorkers runs work in n goroutines and returns how many operations
// they completed (calls of done) and the first error one of them met.
func runWorkers(n int, work func(w int, done func()) error) (float64, error) {
	var count atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work(w, func() { count.Add(1) }); err != nil {
				first.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	err, _ := first.Load().(error)
	return float64(count.Load()), err
}

// exchange writes req and reads len(resp) bytes back.
func exchange(c net.Conn, req, resp []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	_, err := io.ReadFull(c, resp)
	return err
}

func connConnect(stack string, n Net, p Params) Result {
	fail := func(err error) Result {
		return Result{Stack: stack, API: "net.Conn", Workload: Connect, OpUnit: "connection", Err: err.Error()}
	}
	ln, err := n.Listen(PortConnect)
	if err != nil {
		return fail(err)
	}
	wg := serve(ln, echoN(p.Size))
	defer wg.Wait()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return Measure(stack, "net.Conn", Connect, "connection", func() (float64, error) {
		var next atomic.Int64
		return runWorkers(p.Parallel, func(_ int, done func()) error {
			req := bytes.Repeat([]byte{'c'}, p.Size)
			resp := make([]byte, p.Size)
			for next.Add(1) <= int64(p.Connects) && ctx.Err() == nil {
				c, err := n.Dial(ctx, PortConnect)
				if err != nil {
					return err
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				err = exchange(c, req, resp)
				c.Close()
				if err != nil {
					return err
				}
				done()
			}
			return nil
		})
	})
}

func connBulk(stack string, n Net, p Params) Result {
	fail := func(err error) Result {
		return Result{Stack: stack, API: "net.Conn", Workload: Bulk, OpUnit: "MiB", Err: err.Error()}
	}
	ln, err := n.Listen(PortBulk)
	if err != nil {
		return fail(err)
	}
	got := make(chan int64, 1)
	wg := serve(ln, func(c net.Conn) {
		k, _ := io.Copy(io.Discard, c)
		got <- k
	})
	defer wg.Wait()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, err := n.Dial(ctx, PortBulk)
	if err != nil {
		return fail(err)
	}
	c.SetDeadline(time.Now().Add(Timeout))
	return Measure(stack, "net.Conn", Bulk, "MiB", func() (float64, error) {
		buf := make([]byte, 64<<10)
		var sent int64
		for sent < p.Bytes {
			k := int(min(int64(len(buf)), p.Bytes-sent))
			m, err := c.Write(buf[:k])
			sent += int64(m)
			if err != nil {
				c.Close()
				return float64(sent) / (1 << 20), err
			}
		}
		c.Close()
		select {
		case k := <-got:
			if k != p.Bytes {
				return float64(k) / (1 << 20), fmt.Errorf("server received %d of %d bytes", k, p.Bytes)
			}
			return float64(k) / (1 << 20), nil
		case <-ctx.Done():
			return float64(sent) / (1 << 20), ctx.Err()
		}
	})
}

// Report is what `make bench-stack` writes as results.json.
type Report struct {
	Started time.Time `json:"started"`
	CPU     string    `json:"cpu"` // the CPUs the process may run on
	Params  Params    `json:"params"`
	Notes   []string  `json:"notes,omitempty"`
	Results []Result  `json:"results"`
}

// Markdown is the report's table: one row per stack, API and workload, with
// the cost per operation and each row's requests per CPU-second relative to
// gVisor's net.Conn row of the same workload.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# xdptcp in-process stack cost — %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Two instances of each stack back to back in one process (xdptcp: two Stacks over stack/memlink; gVisor: two netstacks over link/pipe wrapped in link/ethernet), GOMAXPROCS=1, process pinned to CPU %s. ", r.CPU)
	fmt.Fprintf(&b, "CPU is getrusage(RUSAGE_SELF) user+system around the measured phase (both stacks and the workload's goroutines); allocations from runtime.MemStats. ")
	fmt.Fprintf(&b, "keepalive: %d connections (opened before the phase), %d-byte request and response; connect: dial, one %d-byte request/response, close, %d in flight; bulk: %s one way through one connection (net.Conn: 64 KiB writes). ",
		r.Params.Conns, r.Params.Size, r.Params.Size, r.Params.Parallel, sizeStr(r.Params.Bytes))
	fmt.Fprintf(&b, "%d runs, the stacks alternating; CPU ns/op is the median with min–max, allocations the medians; *vs gVisor* is gVisor net.Conn's median CPU ns/op over the row's (operations per CPU-second relative to gVisor).\n\n", max(1, r.Params.Runs))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("| workload | stack | API | ops/run | CPU ns/op (median) | min – max | ops per CPU-s | vs gVisor | allocs/op | bytes/op | runs |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	groups := r.Groups()
	gv := map[string]float64{}
	for _, g := range groups {
		if g.Stack == "gvisor" && g.API == "net.Conn" && g.OK > 0 {
			gv[g.Workload] = g.CPUNSPerOp.Median
		}
	}
	for _, g := range groups {
		if g.OK == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | failed: %s |\n", g.Workload, g.Stack, g.API, strings.ReplaceAll(firstLine(g.Err), "|", "/"))
			continue
		}
		ratio := "–"
		if base, ok := gv[g.Workload]; ok && g.CPUNSPerOp.Median > 0 {
			ratio = fmt.Sprintf("%.2f×", base/g.CPUNSPerOp.Median)
		}
		runs := fmt.Sprint(g.OK)
		if g.Failed > 0 {
			runs = fmt.Sprintf("%d (%d failed: %s)", g.OK, g.Failed, strings.ReplaceAll(firstLine(g.Err), "|", "/"))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s %s | %s | %s – %s | %s | %s | %s | %s | %s |\n", g.Workload, g.Stack, g.API, fig(g.Ops), g.OpUnit,
			fig(g.CPUNSPerOp.Median), fig(g.CPUNSPerOp.Min), fig(g.CPUNSPerOp.Max), fig(1e9/g.CPUNSPerOp.Median), ratio,
			fig(g.AllocsPerOp), fig(g.BytesPerOp), runs)
	}
	return b.String()
}

// Spread is the median and range of one figure over runs.
type Spread struct {
	Median, Min, Max float64
}

func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

// Group is one stack, API and workload over its runs.
type Group struct {
	Stack, API, Workload, OpUnit string
	Ops                          float64 // per run (the last successful one)
	CPUNSPerOp                   Spread
	AllocsPerOp, BytesPerOp      float64 // medians
	OK, Failed                   int
	Err                          string // the first failure
}

// Groups gathers the results by workload, stack and API: in workload
// order, then in the order they first appear.
func (r *Report) Groups() []Group {
	type acc struct {
		g                    Group
		cpu, allocs, bytesOp []float64
	}
	var order []string
	m := map[string]*acc{}
	for _, x := range r.Results {
		k := x.Workload + "/" + x.Stack + "/" + x.API
		a, ok := m[k]
		if !ok {
			a = &acc{g: Group{Stack: x.Stack, API: x.API, Workload: x.Workload, OpUnit: x.OpUnit}}
			m[k] = a
			order = append(order, k)
		}
		if x.Err != "" {
			a.g.Failed++
			if a.g.Err == "" {
				a.g.Err = x.Err
			}
			continue
		}
		a.g.OK++
		a.g.Ops = x.Ops
		if a.g.OpUnit == "" {
			a.g.OpUnit = x.OpUnit
		}
		a.cpu = append(a.cpu, x.CPUNSPerOp)
		a.allocs = append(a.allocs, x.AllocsPerOp)
		a.bytesOp = append(a.bytesOp, x.BytesPerOp)
	}
	rank := map[string]int{}
	for i, w := range Workloads {
		rank[w] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return rank[m[order[i]].g.Workload] < rank[m[order[j]].g.Workload] })
	var out []Group
	for _, k := range order {
		a := m[k]
		a.g.CPUNSPerOp = spreadOf(a.cpu)
		a.g.AllocsPerOp = spreadOf(a.allocs).Median
		a.g.BytesPerOp = spreadOf(a.bytesOp).Median
		out = append(out, a.g)
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sizeStr(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// fig formats a figure for the table.
func fig(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteJSON writes rows as one JSON array (what a stack's program prints).
func WriteJSON(w io.Writer, rows []Result) error {
	e := json.NewEncoder(w)
	e.SetIndent("", " ")
	return e.Encode(rows)
}

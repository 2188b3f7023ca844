package stackbench

import (
	"errors"
	"strings"
	"testing"
)

// TestReportMedians: the table shows each stack's median CPU ns/op with
// its range over the runs, failed runs are counted apart, and the ratio is
// to gVisor's net.Conn median of the same workload.
func TestReportMedians(t *testing.T) {
	row := func(stack, api string, ns float64, err error) Result {
		r := Result{Stack: stack, API: api, Workload: KeepAlive, OpUnit: "request", Ops: 1000, CPUNSPerOp: ns, AllocsPerOp: 1}
		if err != nil {
			r.Err = err.Error()
		}
		return r
	}
	rep := &Report{Params: DefaultParams(), Results: []Result{
		row("xdptcp", "net.Conn", 12000, nil), row("gvisor", "net.Conn", 40000, nil),
		row("xdptcp", "net.Conn", 10000, nil), row("gvisor", "net.Conn", 30000, nil),
		row("xdptcp", "net.Conn", 0, errors.New("dial: boom")), row("gvisor", "net.Conn", 50000, nil),
	}}
	g := rep.Groups()
	if len(g) != 2 || g[0].OK != 2 || g[0].Failed != 1 || g[0].CPUNSPerOp.Median != 11000 || g[1].CPUNSPerOp.Median != 40000 {
		t.Fatalf("groups %+v", g)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| keepalive | xdptcp | net.Conn | 1,000 request | 11,000 | 10,000 – 12,000 | 90,909 | 3.64× | 1.00 | 0.00 | 2 (1 failed: dial: boom) |",
		"| keepalive | gvisor | net.Conn | 1,000 request | 40,000 | 30,000 – 50,000 | 25,000 | 1.00× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

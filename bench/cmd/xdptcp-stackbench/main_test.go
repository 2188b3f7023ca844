package main

import (
	"testing"

	"github.com/xdptcp/xdptcp/bench/stackbench"
)

// TestWorkloadsComplete runs every workload through both APIs at a small
// size and checks each completed all its operations with CPU time and
// allocation figures filled in.
func TestWorkloadsComplete(t *testing.T) {
	p := stackbench.Params{Conns: 10, Requests: 500, Size: 64, Connects: 100, Parallel: 4, Bytes: 4 << 20}
	rows := append(runConn(p, nil), runEvents(p, nil)...)
	if len(rows) != 2*len(stackbench.Workloads) {
		t.Fatalf("%d rows", len(rows))
	}
	want := map[string]float64{stackbench.KeepAlive: 500, stackbench.Connect: 100, stackbench.Bulk: 4}
	for _, r := range rows {
		if r.Err != "" {
			t.Errorf("%s/%s: %s", r.API, r.Workload, r.Err)
			continue
		}
		if r.Ops != want[r.Workload] {
			t.Errorf("%s/%s: %v ops, want %v", r.API, r.Workload, r.Ops, want[r.Workload])
		}
		if r.CPUNS <= 0 || r.CPUNSPerOp <= 0 || r.OpUnit == "" {
			t.Errorf("%s/%s: no cost figures: %+v", r.API, r.Workload, r)
		}
	}
	rep := &stackbench.Report{Params: p, Results: rows}
	if md := rep.Markdown(); len(md) == 0 {
		t.Error("empty report")
	}
}

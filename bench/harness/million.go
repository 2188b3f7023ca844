package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The million scenario (issue 16, item 4): xdptcp-load in hold mode opens
// N connections to one xdptcpd with the event API (no file descriptor or
// goroutine per connection), spread over several echo ports so that one
// client address has enough 4-tuples (64,512 local ports per server port),
// then sends one keep-alive request on a sample and holds them while the
// server's RSS is read.

// millionPort0 is the first of the scenario's echo ports on xdptcpd.
const millionPort0 = 20000

// millionLocalPorts is the client's ip_local_port_range in this scenario
// (the client namespace's kernel makes no connections meanwhile).
const millionLocalPorts = "1024 65535"

// millionPorts is how many server ports n connections need.
func millionPorts(n int) int { return max(1, (n+63_999)/64_000) }

func millionServerArgs(o *Options) []string {
	n := o.MillionConns
	args := []string{"--sysctl", fmt.Sprintf("max_connections=%d", n+n/8+1024)}
	for i := 0; i < millionPorts(n); i++ {
		args = append(args, "--listen", fmt.Sprintf("%d=echo", millionPort0+i))
	}
	return args
}

type holdResult struct {
	Wanted    int     `json:"wanted"`
	Opened    int64   `json:"opened"`
	Failed    int64   `json:"failed"`
	FillS     float64 `json:"fill_s"`
	SetupRate float64 `json:"setup_per_s"`
	PeakRate  float64 `json:"peak_setup_per_s"`
	Sampled   int     `json:"sampled"`
	Answered  int64   `json:"answered"`
	SampleMS  float64 `json:"sample_ms"`
	ClientRSS uint64  `json:"client_rss_bytes"`
}

func millionScenario() scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "million", Title: "A million concurrent connections (xdptcp client, event API)",
			Description: "xdptcp-load --hold N (the xdptcp stack as the client, one loop on the client CPU, connections opened with the event API: no fd or goroutine per connection, at most 1,024 handshakes in flight) opens N connections to the echo handler of a freshly started xdptcpd on ⌈N/64,000⌉ ports from 20000, then sends one 5-byte keep-alive request on 1,000 of them spread over the whole set and counts the echoes, and holds everything while the server's RSS is read. RSS per connection is (RSS after − RSS before) / open connections; *total RSS/conn* divides the whole RSS (the flow table sized by max_connections included); *server ns/connection* is the server's CPU time over the run per connection accepted.",
			Metric:      "RSS per connection", Unit: "bytes", LowerBetter: true,
			Extra: []string{"connections", "setup/s while filling", "peak setup/s", "sample answered %", "total RSS/conn (bytes)", "RSS after (MiB)", "client RSS (MiB)"},
			Plot:  PlotBars, OpUnit: "connection"},
		fresh:      true,
		only:       []string{ServerXdptcpd},
		serverArgs: millionServerArgs,
		est:        func(o *Options) time.Duration { return time.Duration(o.MillionConns/20_000+5) * time.Second },
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			if e.o.Bins.Load == "" {
				return nil, fmt.Errorf("xdptcp-load not built")
			}
			n := e.o.MillionConns
			before, err := RSS(e.server.Pid())
			if err != nil {
				return nil, err
			}
			args := []string{"--iface", e.t.ClientIf, "--addr", e.t.ClientAddr.String() + "/24",
				"--target", e.hostPort(millionPort0), "--target-ports", fmt.Sprint(millionPorts(n)),
				"--local-ports", millionLocalPorts, "--hold", fmt.Sprint(n), "--sample", "1000", "--hold-time", "10m"}
			if cpus := parseCPUs(e.o.ClientCPUs); len(cpus) > 0 {
				args = append(args, "--cpu", fmt.Sprint(cpus[0]))
			}
			cl, err := Start("xdptcp-load --hold", e.t.Client, e.o.ClientCPUs, e.o.Bins.Load, args...)
			if err != nil {
				return nil, err
			}
			defer cl.Stop(10 * time.Second)
			var hr holdResult
			limit := time.Duration(n/2_000+60) * time.Second // a setup rate of 2,000/s at worst
			err = waitFor(ctx, limit, func() error {
				if line := lastLine(cl.Output(), "{"); line != "" {
					return json.Unmarshal([]byte(line), &hr)
				}
				if err := cl.Exited(); err != nil {
					return err
				}
				return fmt.Errorf("xdptcp-load has not opened its connections: %s", tail(strings.TrimSpace(cl.Output()), 200))
			})
			if err != nil {
				return nil, err
			}
			if hr.Opened == 0 {
				return nil, fmt.Errorf("no connection opened: %s", tail(cl.Output(), 500))
			}
			// Let the server settle (every ACK of the sample processed).
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			after, err := RSS(e.server.Pid())
			if err != nil {
				return nil, err
			}
			answered := 0.0
			if hr.Sampled > 0 {
				answered = 100 * float64(hr.Answered) / float64(hr.Sampled)
			}
			// Ops: the server's CPU over the run (the fill, the sample and
			// the hold) per connection it accepted.
			return &RunResult{Value: float64(after-before) / float64(hr.Opened), Raw: hr, Ops: float64(hr.Opened), Metrics: map[string]float64{
				"connections": float64(hr.Opened), "setup/s while filling": hr.SetupRate, "peak setup/s": hr.PeakRate,
				"sample answered %": answered, "total RSS/conn (bytes)": float64(after) / float64(hr.Opened),
				"RSS after (MiB)": float64(after) / (1 << 20), "client RSS (MiB)": float64(hr.ClientRSS) / (1 << 20)}}, nil
		},
	}
}

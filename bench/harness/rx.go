package harness

// Issue 12's receive-side scenarios: the measurements that found the
// receiver's faults, redone by the bench. Each runs on every server of the
// report, so xdptcpd's ratio to Linux's receiver is measured in one run.
//
//   - rx-up-bbr, rx-up-cubic, rx-up-reno: a Linux client uploads into the discard port
//     through the impairment bridge at 1 % loss and 5 ms each way, with BBR
//     and with CUBIC as its congestion control (TCP_CONGESTION). A BBR
//     sender keeps its rate through random loss: the receiver must hold
//     and SACK everything, or the sender retransmits what arrived.
//   - rx-up-bbr-wan: the BBR upload through 1 % loss and 20 ms each way
//     (not in the quick mode): with a 40 ms RTT the receiver compresses
//     its SACKs (stack/tcp/compack.go), which under 20 ms it does not.
//   - rx-smallwin-echo: three Linux clients whose namespace has
//     tcp_rmem=4096 4096 4096 (windows below one or two MSS, as embedded
//     stacks advertise) echo through the bridge (5 ms, no loss) at once;
//     goodput is what came back, summed.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/xdptcp/xdptcp/bench/loadgen"
)

func init() {
	bridgeArgs["loss1-5ms"] = []string{"--loss", "0.01", "--delay", "5ms"}
	bridgeArgs["loss1-20ms"] = []string{"--loss", "0.01", "--delay", "20ms"}
	bridgeArgs["delay5ms"] = []string{"--delay", "5ms"}
}

// rxUpRuns and rxUpMinDur are the uploads' least runs and run time
// (not in smoke mode): a CUBIC flow through 1 % loss runs at about 10
// Mbit/s, and one retransmission timeout in a run (a lost
// retransmission) halves that run's figure, so two 2-second runs were
// noise (0.73x and 1.31x in two quick runs of the same build). The runs
// alternate between the servers (scenarioDef.alternate), so a change in
// the shared machine's load reaches both alike.
var (
	rxUpRuns   = map[string]int{"bbr": 3, "cubic": 6, "reno": 6}
	rxUpMinDur = map[string]time.Duration{"bbr": 4 * time.Second, "cubic": 6 * time.Second, "reno": 6 * time.Second}
)

// rxUpDur is an upload run's load time.
func rxUpDur(o *Options, cc string) time.Duration {
	if o.Mode == "smoke" {
		return o.Duration
	}
	return max(o.Duration, rxUpMinDur[cc])
}

// rxUploadScenario is the upload through loss from a cc sender, 5 ms
// each way.
func rxUploadScenario(cc string) scenarioDef { return rxUploadPath(cc, "", 5) }

// rxUploadPath is the upload through 1 % loss and delayMs each way from a
// cc sender; id is the scenario id's suffix.
func rxUploadPath(cc, id string, delayMs int) scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "rx-up-" + cc + id, Title: fmt.Sprintf("Upload through 1 %% loss and %d ms, %s sender", delayMs, strings.ToUpper(cc)),
			Description: "One connection from a Go kernel-socket client with " + strings.ToUpper(cc) + " (TCP_CONGESTION) writing 64 KiB at a time to the discard port through the impairment bridge: " + fmt.Sprintf("1 %% loss and %d ms delay each way.", delayMs) + " Goodput is what was written (issue 12, measurement 1). " +
				fmt.Sprintf("At least %d runs of at least %s each (not in smoke mode), alternating between the servers, each started for its run.", rxUpRuns[cc], rxUpMinDur[cc]),
			Metric: "goodput", Unit: "Mbit/s", Plot: PlotBars, OpUnit: "MiB"},
		bridge:    fmt.Sprintf("loss1-%dms", delayMs),
		alternate: true,
		minRuns:   rxUpRuns[cc],
		est:       func(o *Options) time.Duration { return rxUpDur(o, cc) + 700*time.Millisecond },
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			var r loadgen.BulkResult
			d := rxUpDur(e.o, cc)
			if err := e.client(ctx, d+60*time.Second, &r, "bulk", "--addr", e.hostPort(PortDiscard),
				"--duration", d.String(), "--cc", cc); err != nil {
				return nil, err
			}
			return &RunResult{Value: r.Mbps, Raw: r, Ops: float64(r.Written) / (1 << 20)}, nil
		},
	}
}

// smallWinConns is the number of small-window echo clients at once.
const smallWinConns = 3

// rxSmallWindowScenario is the echo with clients' 4 KiB receive buffers.
func rxSmallWindowScenario() scenarioDef {
	return scenarioDef{
		Scenario: Scenario{ID: "rx-smallwin-echo", Title: "Echo to clients with a 4 KiB receive buffer, 3 connections",
			Description: fmt.Sprintf("%d Go kernel-socket clients at once in a namespace with tcp_rmem=4096 4096 4096, each on one connection to the echo port writing and reading at once, through the impairment bridge with 5 ms delay each way and no loss. Goodput is what came back, summed (issue 12, measurement 2).", smallWinConns),
			Metric:      "goodput", Unit: "Mbit/s", Plot: PlotBars, OpUnit: "MiB"},
		bridge: "delay5ms",
		est:    runDur,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			old, err := nsExec(ctx, e.t.Client, "sysctl", "-n", "net.ipv4.tcp_rmem")
			if err != nil {
				return nil, err
			}
			if _, err := nsExec(ctx, e.t.Client, "sysctl", "-w", "net.ipv4.tcp_rmem=4096 4096 4096"); err != nil {
				return nil, err
			}
			defer nsExec(context.Background(), e.t.Client, "sysctl", "-w", "net.ipv4.tcp_rmem="+strings.Join(strings.Fields(old), " "))
			res := make([]loadgen.BulkResult, smallWinConns)
			errs := make([]error, smallWinConns)
			var wg sync.WaitGroup
			for i := range res {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					errs[i] = e.client(ctx, e.o.Duration+60*time.Second, &res[i], "bulk", "--addr", e.hostPort(PortEcho),
						"--duration", e.o.Duration.String(), "--cc", LinuxCC, "--echo")
				}(i)
			}
			wg.Wait()
			var mbps float64
			var read int64
			for i, r := range res {
				if errs[i] != nil {
					return nil, errs[i]
				}
				mbps += r.Mbps
				read += r.Read
			}
			return &RunResult{Value: mbps, Raw: res, Ops: float64(read) / (1 << 20)}, nil
		},
	}
}

// rxScenarios are issue 12's scenarios, in run order.
func rxScenarios() []scenarioDef {
	return []scenarioDef{rxUploadScenario("bbr"), rxUploadScenario("cubic"), rxUploadScenario("reno"), rxUploadPath("bbr", "-wan", 20), rxSmallWindowScenario()}
}

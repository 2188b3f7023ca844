package harness

// Issue 13's scenarios: the sender through loss, per congestion control.
// The server sends here, so its congestion control is the one measured:
// each row runs xdptcpd with tcp_congestion_control=CC and the Linux peer
// with TCP_CONGESTION=CC (scenarioDef.serverCC), the client with the same.
//
//   - down-loss-cubic, down-loss-bbr, down-loss-reno: a Linux client downloads
//     Options.DownloadMiB (16 MiB in quick and full) from the blob port
//     through the impairment bridge at 1 % loss and 10 ms each way.
//   - loss-echo-bbr, loss-echo-reno: loss-echo (scenarios.go, CUBIC on
//     both sides) with BBR or Reno on both sides.
//   - down-loss-reno, loss-echo-reno and rx-up-reno are not in the quick
//     mode's list (Reno through 1 % loss moves a few Mbit/s: minutes per
//     row at its sizes); the full and smoke modes run them.
//
// Until xdptcpd offers a congestion control, its rows say "not offered"
// (ccOffered) and the Linux rows still run.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/xdptcp/xdptcp/bench/loadgen"
)

// lossCCs are the congestion controls the loss scenarios are measured
// with: every one xdptcpd offers (newreno is reno's other name).
var lossCCs = []string{"cubic", "bbr", "reno"}

// downloadEst is the time one download run is planned to take: about 5
// Mbit/s, what CUBIC reaches through 1 % loss and 10 ms.
func downloadEst(o *Options) time.Duration {
	return time.Duration(o.DownloadMiB)*1700*time.Millisecond + time.Second
}

// downloadScenario is the download through loss with cc on the server.
func downloadScenario(cc string, mib int) scenarioDef {
	CC := strings.ToUpper(cc)
	return scenarioDef{
		Scenario: Scenario{ID: "down-loss-" + cc, Title: "Download through 1 % loss and 10 ms, " + CC + " server",
			Description: fmt.Sprintf("A Go kernel-socket client GETs a %d MiB blob from the server's blob port through the impairment bridge: 1 %% loss and 10 ms delay each way. The server sends with "+CC+" (xdptcpd's tcp_congestion_control, the Linux peer's TCP_CONGESTION), the client's socket too. Goodput is the body over the time from request to last byte (issue 13).", mib),
			Metric:      "goodput", Unit: "Mbit/s", Plot: PlotBars, OpUnit: "MiB"},
		bridge:   "loss1",
		serverCC: cc,
		only:     []string{ServerXdptcpd, ServerLinuxNet},
		est:      downloadEst,
		run: func(ctx context.Context, e *env) (*RunResult, error) {
			return runDownload(ctx, e, e.o.DownloadMiB, cc, 4*downloadEst(e.o)+30*time.Second)
		},
	}
}

// runDownload runs the download client: one GET of mib MiB from the blob
// port with congestion control cc on the client's socket, given limit to
// finish; the figures are per MiB received.
func runDownload(ctx context.Context, e *env, mib int, cc string, limit time.Duration) (*RunResult, error) {
	var r loadgen.DownloadResult
	if err := e.client(ctx, limit+10*time.Second, &r, "download", "--addr", e.hostPort(PortBlob),
		"--size", fmt.Sprint(mib<<20), "--cc", cc, "--duration", limit.String()); err != nil {
		return nil, err
	}
	return &RunResult{Value: r.Mbps, Raw: r, Ops: float64(r.Read) / (1 << 20)}, nil
}

// lossEchoScenario is loss-echo with cc on both sides.
func lossEchoScenario(cc string) scenarioDef {
	CC := strings.ToUpper(cc)
	d := bulkScenario("loss-echo-"+cc, "Bulk echo, 1 % loss and 10 ms delay, "+CC+" both sides", "loss1", PortEcho, false)
	d.Description += " Both sides send with " + CC + ": the server (xdptcpd's tcp_congestion_control, the Linux peer's TCP_CONGESTION) and the client's socket."
	d.serverCC = cc
	d.only = []string{ServerXdptcpd, ServerLinuxNet}
	d.run = func(ctx context.Context, e *env) (*RunResult, error) {
		var r loadgen.BulkResult
		if err := e.client(ctx, e.o.Duration+60*time.Second, &r, "bulk", "--addr", e.hostPort(PortEcho),
			"--duration", e.o.Duration.String(), "--cc", cc, "--echo"); err != nil {
			return nil, err
		}
		return &RunResult{Value: r.Mbps, Raw: r, Ops: float64(r.Read) / (1 << 20)}, nil
	}
	return d
}

func init() {
	bridgeArgs["police20"] = []string{"--police", "20m", "--delay", "20ms"}
}

// policeScenario is the download through a token-bucket policer: 20
// Mbit/s with 64 KiB of burst, and 20 ms each way, BBR on the server. A
// policer drops what exceeds its rate instead of queueing it; Linux's
// BBR v1 finds it (bbr_lt_bw_sampling) and sends at its rate. The
// bridge's counters (policed frames) are in the out directory's
// bridge-police20.txt; run one server at a time to compare them.
func policeScenario(mib int) scenarioDef {
	d := downloadScenario("bbr", mib)
	d.ID = "down-police-bbr"
	d.Title = "Download through a 20 Mbit/s policer and 20 ms, BBR server"
	d.Description = fmt.Sprintf("A Go kernel-socket client GETs a %d MiB blob from the server's blob port through the impairment bridge: a token-bucket policer of 20 Mbit/s with 64 KiB of burst (frames beyond it dropped) and 20 ms delay each way. The server sends with BBR (xdptcpd's tcp_congestion_control, the Linux peer's TCP_CONGESTION), the client's socket too.", mib)
	d.bridge = "police20"
	return d
}

// lossCCScenarios are issue 13's scenarios, in run order, and the
// policer's.
func lossCCScenarios(o *Options) []scenarioDef {
	var s []scenarioDef
	for _, cc := range lossCCs {
		s = append(s, downloadScenario(cc, o.DownloadMiB))
	}
	s = append(s, policeScenario(o.DownloadMiB))
	for _, cc := range lossCCs[1:] { // (cubic's is loss-echo)
		s = append(s, lossEchoScenario(cc))
	}
	return s
}

// Command xdptcp-bench measures xdptcpd against Linux (Go net, net/http)
// and gVisor side by side and writes bench/results/<timestamp>/ (report.md,
// results.json, SVG plots). It needs root; `make bench`, `make bench-quick`
// and `make bench-smoke` build everything and run it.
//
//	xdptcp-bench [--mode smoke|quick|full] [--rig napi|legacy] [--servers a,b] [--scenarios a,b] [--runs N] [--duration D]
//	             [--server-cpus LIST] [--client-cpus LIST] [--out DIR] [--bin-dir DIR] [--check]
//	xdptcp-bench check DIR        verify a results directory (smoke test)
//	xdptcp-bench client KIND ...  a load generator, run by the harness in the client namespace
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/bench/harness"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "client":
			os.Exit(clientMain(os.Args[2:]))
		case "check":
			if len(os.Args) != 3 {
				fmt.Fprintln(os.Stderr, "usage: xdptcp-bench check DIR")
				os.Exit(2)
			}
			if err := harness.Check(os.Args[2]); err != nil {
				fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
				os.Exit(1)
			}
			fmt.Println("xdptcp-bench: report and plots in", os.Args[2], "are complete")
			os.Exit(0)
		}
	}
	os.Exit(benchMain(os.Args[1:]))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("xdptcp-bench", flag.ContinueOnError)
	mode := fs.String("mode", "quick", "smoke (1 s per scenario, xdptcpd and linux-net), quick (about 2 minutes), full")
	servers := fs.String("servers", "", "servers, comma-separated (xdptcpd, linux-net, linux-http, gvisor); default per mode")
	scenarios := fs.String("scenarios", "", "scenario ids, comma-separated; default per mode")
	runs := fs.Int("runs", 0, "runs per scenario and server (median and spread); default per mode")
	dur := fs.Duration("duration", 0, "load time of each run; default per mode")
	scpu := fs.String("server-cpus", "", "CPUs for the server (taskset list; xdptcpd's loop takes the first); default 1")
	ccpu := fs.String("client-cpus", "", "CPUs for the clients (wrk gets one thread per CPU); default 0")
	rates := fs.String("latency-rates", "", "open-loop request rates, comma-separated")
	floodRate := fs.Int("flood-rate", 0, "SYN flood rate, SYNs/s")
	idle := fs.Int("idle-conns", 0, "idle connections to open")
	downloadMiB := fs.Int("download-mib", 0, "MiB of each download-through-loss run (default per mode: smoke 1, quick and full 16)")
	million := fs.Int("million-conns", 0, "connections the million scenario opens and holds (default per mode: smoke 2,000, full 1,000,000)")
	out := fs.String("out", "", "results directory (default bench/results/<UTC timestamp>)")
	binDir := fs.String("bin-dir", "", "directory holding xdptcpd, xdptcp-peer, xdptcp-synflood, xdptcp-impair (default: this program's)")
	cc := fs.String("linux-cc", harness.LinuxCC, "congestion control (TCP_CONGESTION) of the Linux peers' and bulk clients' sockets (\"\" keeps the namespace default)")
	rig := fs.String("rig", harness.RigNAPI, "how veth delivers: napi (GRO and threaded NAPI on both veth ends, each end's NAPI kthreads pinned to the receiving side's CPUs) or legacy (veth as it comes: a frame is received on its sender's core)")
	mtu := fs.Int("mtu", 0, "MTU of the direct topology's veth, both ends (e.g. 9000: jumbo frames, multi-buffer AF_XDP for xdptcpd); default 1500")
	xflags := fs.String("xdptcpd-flags", "", "more flags for xdptcpd, space-separated (e.g. \"--tx-checksum on\")")
	check := fs.Bool("check", false, "after the run, verify the report and plots have non-zero figures (exit 1 if not)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	harness.LinuxCC = *cc
	if *mtu < 0 || (*mtu > 0 && *mtu < 1280) || *mtu > 65535 {
		fmt.Fprintln(os.Stderr, "xdptcp-bench: --mtu", *mtu, "(want 1280 to 65535)")
		return 2
	}
	harness.DirectMTU = *mtu
	harness.XdptcpdFlags = strings.Fields(*xflags)
	o, err := harness.Preset(*mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
		return 2
	}
	o.Rig = *rig
	if *servers != "" {
		o.Servers = splitList(*servers)
	}
	if *scenarios != "" {
		o.Scenarios = splitList(*scenarios)
	}
	if *runs > 0 {
		o.Runs = *runs
	}
	if *dur > 0 {
		o.Duration = *dur
	}
	if *scpu != "" {
		o.ServerCPUs = *scpu
	}
	if *ccpu != "" {
		o.ClientCPUs = *ccpu
	}
	if *rates != "" {
		o.LatencyRates = nil
		for _, r := range splitList(*rates) {
			n, err := strconv.Atoi(r)
			if err != nil || n <= 0 {
				fmt.Fprintln(os.Stderr, "xdptcp-bench: --latency-rates:", r)
				return 2
			}
			o.LatencyRates = append(o.LatencyRates, n)
		}
	}
	if *floodRate > 0 {
		o.FloodRate = *floodRate
	}
	if *idle > 0 {
		o.IdleConns = *idle
	}
	if *million > 0 {
		o.MillionConns = *million
	}
	if *downloadMiB > 0 {
		o.DownloadMiB = *downloadMiB
	}
	if *binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
			return 1
		}
		*binDir = filepath.Dir(exe)
	}
	bin := func(n string) string { return filepath.Join(*binDir, n) }
	o.Bins = harness.Bins{Xdptcpd: bin("xdptcpd"), Peer: bin("xdptcp-peer"), Bench: bin("xdptcp-bench"),
		Synflood: bin("xdptcp-synflood"), Impair: bin("xdptcp-impair")}
	for _, p := range []string{o.Bins.Xdptcpd, o.Bins.Peer, o.Bins.Bench, o.Bins.Synflood, o.Bins.Impair} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "xdptcp-bench: %v (build with `make bench` or pass --bin-dir)\n", err)
			return 2
		}
	}
	if _, err := os.Stat(bin("xdptcp-load")); err == nil {
		o.Bins.Load = bin("xdptcp-load")
	}
	if _, err := os.Stat(bin("xdptcp-gvisor-peer")); err == nil {
		o.Bins.Gvisor = bin("xdptcp-gvisor-peer")
	}
	if *out == "" {
		wd, _ := os.Getwd()
		*out = harness.DefaultOutDir(wd)
	}
	o.OutDir = *out
	if len(harness.XdptcpdFlags) > 0 {
		o.Notes = append(o.Notes, "xdptcpd ran with "+strings.Join(harness.XdptcpdFlags, " ")+".")
	}
	if *mtu > 0 {
		o.Notes = append(o.Notes, fmt.Sprintf("The direct topology's veth has MTU %d on both ends (--mtu): every server, xdptcpd and Linux, on the same path.", *mtu))
	}
	if err := harness.PinSelf(o.ClientCPUs); err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
		return 2
	}
	o.Notes = append(o.Notes, "The harness itself runs on the client CPUs ("+o.ClientCPUs+"), off the server core.")
	o.Notes = append(o.Notes, "Measured on a shared 2-core machine while other engineers ran tests on the same cores: absolute figures move from run to run; compare ratios within one report.")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once; deferred teardown runs on the first
	}()
	start := time.Now()
	_, err = harness.Run(ctx, o)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
	}
	if _, serr := os.Stat(filepath.Join(o.OutDir, "report.md")); serr == nil {
		fmt.Fprintf(os.Stderr, "xdptcp-bench: %s in %s\n", filepath.Join(o.OutDir, "report.md"), time.Since(start).Round(time.Second))
	}
	if err != nil {
		return 1
	}
	if *check {
		if err := harness.Check(o.OutDir); err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-bench:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "xdptcp-bench: check passed: report, results.json and plots have non-zero figures")
	}
	return 0
}

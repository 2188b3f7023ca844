package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/bench/loadgen"
)

// clientMain runs one load generator and prints its result as JSON.
func clientMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: xdptcp-bench client openloop|connect|bulk|download|idle [flags]")
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("xdptcp-bench client "+kind, flag.ContinueOnError)
	addr := fs.String("addr", "", "server host:port")
	dur := fs.Duration("duration", 2*time.Second, "how long (download: the time limit)")
	rate := fs.Int("rate", 20000, "openloop: requests/s")
	conns := fs.Int("conns", 64, "openloop: keep-alive connections")
	workers := fs.Int("workers", 64, "connect: concurrent connections")
	echo := fs.Bool("echo", false, "bulk: echo port (read back) instead of discard")
	cc := fs.String("cc", "", "bulk, download: congestion control (TCP_CONGESTION), e.g. cubic")
	size := fs.Int("size", 16<<20, "download: bytes to GET from the blob port")
	n := fs.Int("n", 1000, "idle: connections")
	sources := fs.String("sources", "", "idle: local addresses, comma-separated")
	hold := fs.Duration("hold", 30*time.Second, "idle: how long to hold the connections (stops early on SIGTERM)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res any
	var err error
	switch kind {
	case "openloop":
		res, err = loadgen.OpenLoop(ctx, loadgen.OpenLoopConfig{Addr: *addr, Rate: *rate, Duration: *dur, Conns: *conns})
	case "connect":
		res, err = loadgen.Connect(ctx, loadgen.ConnectConfig{Addr: *addr, Workers: *workers, Duration: *dur})
	case "bulk":
		res, err = loadgen.Bulk(ctx, loadgen.BulkConfig{Addr: *addr, Echo: *echo, Duration: *dur, CC: *cc})
	case "download":
		res, err = loadgen.Download(ctx, loadgen.DownloadConfig{Addr: *addr, Size: *size, CC: *cc, Timeout: *dur})
	case "idle":
		var srcs []string
		if *sources != "" {
			srcs = strings.Split(*sources, ",")
		}
		cs, ierr := loadgen.Idle(ctx, loadgen.IdleConfig{Addr: *addr, Sources: srcs, N: *n})
		fmt.Printf("opened %d\n", len(cs))
		if ierr != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-bench client idle:", ierr)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*hold):
		}
		for _, c := range cs {
			c.Close()
		}
		return 0
	default:
		fmt.Fprintln(os.Stderr, "xdptcp-bench client: unknown kind", kind)
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xdptcp-bench client %s: %v\n", kind, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// Command xdptcp-peer is a Linux kernel peer server for the bench: Go net
// with one goroutine per connection (--mode net) or net/http (--mode http),
// answering HTTP with "Hello, World!" and serving echo and discard ports.
//
//	xdptcp-peer --mode net --http 198.18.0.1:8080 --echo 198.18.0.1:7 --discard 198.18.0.1:9 --blob 198.18.0.1:8081
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/xdptcp/xdptcp/bench/peers/linux"
)

func main() {
	var c linux.Config
	flag.StringVar(&c.Mode, "mode", "net", "net (goroutine per connection) or http (net/http)")
	flag.StringVar(&c.HTTP, "http", "", "HTTP address, or a comma-separated list (one per family)")
	flag.StringVar(&c.Echo, "echo", "", "echo address(es)")
	flag.StringVar(&c.EchoCopy, "echo-copy", "", "echo address(es) through user space: read and write, no splice (--echo splices)")
	flag.StringVar(&c.Discard, "discard", "", "discard address(es)")
	flag.StringVar(&c.Blob, "blob", "", "blob address(es): GET /SIZE answers SIZE bytes (downloads)")
	flag.StringVar(&c.CC, "cc", "", "congestion control for the listeners (TCP_CONGESTION), e.g. cubic; default: the system's")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := linux.Serve(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-peer:", err)
		os.Exit(1)
	}
}

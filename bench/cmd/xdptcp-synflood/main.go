// Command xdptcp-synflood sends spoofed TCP SYNs at a fixed rate for a
// bounded time (package bench/flood). Sources come only from
// 198.18.128.0/17; route that prefix back into the sending namespace on the
// target so the SYN-ACKs die there.
//
//	xdptcp-synflood --target 198.18.0.1:8080 --rate 50000 --duration 10s [--netns NAME] [--sources 198.18.128.0/17] [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/bench/flood"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("xdptcp-synflood", flag.ContinueOnError)
	var (
		target, sources string
		c               flood.Config
		jsonOut         bool
	)
	fs.StringVar(&target, "target", "", "IPV4:PORT or [IPV6]:PORT to flood (required)")
	fs.StringVar(&sources, "sources", "", "spoofed source prefix, inside "+flood.Allowed.String()+" or "+flood.Allowed6.String()+" (default: all of it)")
	fs.IntVar(&c.Rate, "rate", 10000, "SYNs per second")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "how long to flood")
	fs.Int64Var(&c.Count, "count", 0, "stop after this many SYNs (0: no bound beyond --duration)")
	fs.StringVar(&c.Netns, "netns", "", "network namespace to send from (default: the current one)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed for sources, ports and sequence numbers")
	fs.BoolVar(&c.Options, "options", true, "send MSS, SACK-permitted, timestamps and window scale like Linux")
	fs.BoolVar(&jsonOut, "json", false, "print the stats as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if c.Target, err = netip.ParseAddrPort(target); err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-synflood: --target:", err)
		return 2
	}
	if sources != "" { // else flood.Config's zero Sources: all of the target family's range
		if c.Sources, err = netip.ParsePrefix(sources); err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-synflood: --sources:", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := flood.Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-synflood:", err)
		return 1
	}
	if jsonOut {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"sent": st.Sent, "errors": st.Errors, "elapsed_s": st.Elapsed.Seconds(), "rate": st.Rate()})
	} else {
		fmt.Printf("sent %d SYNs in %.2fs (%.0f/s), %d send errors\n", st.Sent, st.Elapsed.Seconds(), st.Rate(), st.Errors)
	}
	return 0
}

// Command xdptcp-impair is a user-space network impairment bridge: it
// forwards every Ethernet frame between two interfaces (AF_PACKET) and
// impairs IPv4 frames on the way with loss, duplication, corruption, delay
// with jitter, reordering and an optional rate limit, from a seeded random
// stream. It replaces netem, which this kernel does not have. See package
// github.com/xdptcp/xdptcp/bench/impair for the topology and the semantics.
//
// Usage:
//
//	ip netns exec MIDDLE xdptcp-impair --a LEG_A --b LEG_B \
//	    --loss 0.02 --dup 0.01 --corrupt 0.001 --delay 5ms --jitter 2ms \
//	    --reorder 0.25 --seed 1 --json
//
// It runs until SIGINT/SIGTERM (or --duration) and then prints its counters
// as one line of text and, with --json, one line of JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair"
)

const usageText = `xdptcp-impair: forward frames between two interfaces, impairing IPv4 and IPv6 frames.

Run it in a middle namespace between two veth legs (client -- A | bridge | B --
server). Frames read on A are impaired by the "a->b" settings and written to B,
and the other way round. The flags --loss ... --police apply to both directions;
--ab and --ba override them per direction with key=value lists, e.g.
  --ab "loss=0.05,delay=20ms" --ba none
ARP, other non-IP frames and IPv6 neighbour discovery pass untouched unless
--impair-all.

Offloads: the bridge turns tx checksum offload, TSO, GSO and GRO off on both
legs (ethtool -K LEG tx off tso off gso off gro off). The endpoints' veths need
"ethtool -K DEV tx off" as well, or frames carry partial checksums and arrive
corrupted-looking, and TSO super-frames exceed the MTU.

Counters at exit: in/out frames per direction, lost, policed, dup(licated), corrupt(ed),
reorder(ed: held back), delayed, overflow (queue full), ooo (sent after a later
frame), pass(ed through untouched), oversize, runt, txerr, rxdrop (kernel
socket drops), queued (left in the queue).

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xdptcp-impair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var (
		cfg      impair.Config
		both     impair.Impairment
		rate     string
		police   string
		ab, ba   string
		jsonOut  bool
		interval time.Duration
	)
	fs.StringVar(&cfg.A, "a", "", "leg A interface (faces the client)")
	fs.StringVar(&cfg.B, "b", "", "leg B interface (faces the server)")
	fs.StringVar(&cfg.Netns, "netns", "", "network namespace of the legs (name or path); default: the current one")
	fs.Float64Var(&both.Loss, "loss", 0, "probability a frame is dropped")
	fs.Float64Var(&both.Dup, "dup", 0, "probability a frame is duplicated")
	fs.Float64Var(&both.Corrupt, "corrupt", 0, "probability one bit of a frame's IP payload is flipped")
	fs.Float64Var(&both.CE, "ce", 0, "probability an ECN-capable (ECT) IPv4 frame is marked Congestion Experienced (RFC 3168)")
	fs.DurationVar(&both.Delay, "delay", 0, "fixed one-way delay")
	fs.DurationVar(&both.Jitter, "jitter", 0, "uniform jitter: delay is drawn from [delay-jitter, delay+jitter]")
	fs.BoolVar(&both.JitterReorder, "jitter-reorder", false, "let jitter reorder frames (default: frames keep their order unless --reorder)")
	fs.Float64Var(&both.Reorder, "reorder", 0, "probability a frame is held back and sent after the next --reorder-gap frames")
	fs.IntVar(&both.ReorderGap, "reorder-gap", 1, "how many later frames overtake a held-back frame")
	fs.DurationVar(&both.ReorderTimeout, "reorder-timeout", impair.DefaultReorderTimeout, "longest a held-back frame waits past its due time for frames to overtake it")
	fs.StringVar(&rate, "rate", "", "rate limit per direction in bit/s, e.g. 100m (default unlimited)")
	fs.StringVar(&police, "police", "", "token-bucket policer per direction in bit/s, e.g. 20m: frames beyond it are dropped (default none)")
	fs.IntVar(&both.PoliceBurst, "police-burst", impair.DefaultPoliceBurst, "the policer's bucket depth in bytes")
	fs.StringVar(&ab, "ab", "", "a->b impairments as key=value list, overriding the flags above (\"none\" for none)")
	fs.StringVar(&ba, "ba", "", "b->a impairments as key=value list, overriding the flags above (\"none\" for none)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the random decisions")
	fs.IntVar(&cfg.Limit, "limit", impair.DefaultLimit, "queue bound per direction in frames; a frame beyond it is dropped (overflow)")
	fs.BoolVar(&cfg.ImpairAll, "impair-all", false, "impair every frame (ARP and IPv6 neighbour discovery too)")
	fs.BoolVar(&cfg.NoEthtool, "no-ethtool", false, "leave the legs' offload settings alone")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	fs.DurationVar(&interval, "stats-interval", 0, "print the counters this often (0: only at the end)")
	fs.BoolVar(&jsonOut, "json", false, "also print the final counters as one line of JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cfg.A == "" || cfg.B == "" {
		fmt.Fprintln(stderr, "xdptcp-impair: --a and --b are required")
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "xdptcp-impair: unexpected arguments %q\n", fs.Args())
		return 2
	}
	for _, r := range []struct {
		s   string
		dst *uint64
	}{{rate, &both.Rate}, {police, &both.Police}} {
		if r.s == "" {
			continue
		}
		v, err := impair.ParseRate(r.s)
		if err != nil {
			fmt.Fprintln(stderr, "xdptcp-impair:", err)
			return 2
		}
		*r.dst = v
	}
	var err error
	if cfg.AB, err = impair.ParseImpairment(both, ab); err == nil {
		cfg.BA, err = impair.ParseImpairment(both, ba)
	}
	if err == nil && (ab == "none" || ba == "none") {
		if ab == "none" {
			cfg.AB = impair.Impairment{}
		}
		if ba == "none" {
			cfg.BA = impair.Impairment{}
		}
	}
	if err == nil {
		err = both.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "xdptcp-impair:", err)
		return 2
	}
	cfg.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, "xdptcp-impair: "+format+"\n", a...) }
	if interval > 0 {
		cfg.StatsInterval = interval
		cfg.OnStats = func(s impair.Stats) { fmt.Fprintln(stdout, "stats:", s) }
	}
	cfg.OnReady = func() { fmt.Fprintln(stderr, "xdptcp-impair: ready") }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the default way
	}()
	fmt.Fprintf(stderr, "xdptcp-impair: %s <-> %s seed=%d limit=%d a->b: %s; b->a: %s\n",
		cfg.A, cfg.B, cfg.Seed, cfg.Limit, cfg.AB, cfg.BA)
	st, err := impair.Run(ctx, cfg)
	fmt.Fprintln(stdout, "final:", st)
	if jsonOut {
		fmt.Fprintln(stdout, st.JSON())
	}
	if err != nil {
		fmt.Fprintln(stderr, "xdptcp-impair:", err)
		return 1
	}
	return 0
}

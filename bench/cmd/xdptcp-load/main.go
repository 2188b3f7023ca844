// Command xdptcp-load is a load generator on the xdptcp stack in client
// mode: it takes over an interface with AF_XDP (like xdptcpd), opens
// connections with Stack.Dial (active open), and drives an HTTP server
// with closed-loop keep-alive requests or new connections, so the client
// side does not pay for the kernel's TCP stack. The bench harness runs it
// in the client namespace; it prints its result as JSON.
//
//	xdptcp-load --iface IF --addr 198.18.0.2/24 --target 198.18.0.1:8080 [--conns 64] [--duration 2s] [--close] [--cpu N]
//	xdptcp-load --iface IF --addr 198.18.0.2/24 --target 198.18.0.1:20000 --hold N [--target-ports K] [--window W] [--sample S] [--hold-time D]
//
// With --hold it opens N connections with the event API (no goroutine or
// file descriptor per connection) to K consecutive server ports from the
// target's, at most W handshakes in flight, sends one echo request on S of
// them spread over the set, prints one JSON line (opened, setup rate, the
// sample's answers) and holds the connections until SIGTERM or D.
//
// While it runs, TCP to its address in --local-ports is xdptcp's (the XDP
// filter hands the replies over); keep the kernel's own connections out of
// that range.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Result is what a run measured.
type Result struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_s"`
	Conns     int     `json:"conns"`
	Close     bool    `json:"close"`
}

func main() {
	iface := flag.String("iface", "", "interface to take over (required)")
	addr := flag.String("addr", "", "our IPv4 address/prefix (required)")
	target := flag.String("target", "", "HTTP server ip:port (required)")
	conns := flag.Int("conns", 64, "concurrent connections")
	dur := flag.Duration("duration", 2*time.Second, "how long")
	closeEach := flag.Bool("close", false, "one request per connection (Connection: close): new connections/s")
	cpu := flag.Int("cpu", -1, "pin the stack's loop to this CPU")
	ports := flag.String("local-ports", "40000 60999", "ip_local_port_range for our connections")
	holdN := flag.Int("hold", 0, "open and hold this many connections (echo servers on --target-ports ports)")
	targetPorts := flag.Int("target-ports", 1, "hold: server ports, from the target's upward")
	window := flag.Int("window", 1024, "hold: handshakes in flight")
	sample := flag.Int("sample", 1000, "hold: connections that send one request once all are open")
	holdTime := flag.Duration("hold-time", 10*time.Minute, "hold: how long to hold the connections")
	flag.Parse()
	if *holdN > 0 {
		ap, err := netip.ParseAddrPort(*target)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-load: --target:", err)
			os.Exit(2)
		}
		if err := hold(*iface, *addr, ap.Addr().String(), int(ap.Port()), *targetPorts, *holdN, *window, *sample, *ports, *holdTime, *cpu); err != nil {
			fmt.Fprintln(os.Stderr, "xdptcp-load:", err)
			os.Exit(1)
		}
		return
	}
	r, err := run(*iface, *addr, *target, *ports, *conns, *dur, *closeEach, *cpu)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-load:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func run(iface, addr, target, ports string, conns int, dur time.Duration, closeEach bool, cpu int) (Result, error) {
	pfx, err := netip.ParsePrefix(addr)
	if err != nil {
		return Result{}, fmt.Errorf("--addr: %w", err)
	}
	tc := tcp.DefaultConfig()
	if err := tc.Set("ip_local_port_range", ports); err != nil {
		return Result{}, fmt.Errorf("--local-ports: %w", err)
	}
	cfg := xdptcp.Config{Iface: iface, Addr: pfx, TCP: tc,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cpu >= 0 {
		cfg.CPUs = []int{cpu}
		cfg.Queues = []int{0}
	}
	s, err := xdptcp.Open(cfg)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.Start(ctx)

	host, _, _ := net.SplitHostPort(target)
	req := []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	if closeEach {
		req = []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
	}
	dial := func() (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return s.DialContext(dctx, "tcp4", target)
	}
	var nreq, nerr atomic.Int64
	start := time.Now()
	end := start.Add(dur)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			for time.Now().Before(end) && ctx.Err() == nil {
				if c == nil {
					var err error
					if c, err = dial(); err != nil {
						nerr.Add(1)
						c = nil
						continue
					}
					c.SetDeadline(end.Add(3 * time.Second))
					br = bufio.NewReaderSize(c, 4096)
				}
				_, err := c.Write(req)
				if err == nil {
					err = readResponse(br)
				}
				if err != nil {
					nerr.Add(1)
					c.Close()
					c = nil
					continue
				}
				nreq.Add(1)
				if closeEach {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	return Result{Requests: nreq.Load(), Errors: nerr.Load(), Seconds: el, PerSecond: float64(nreq.Load()) / el,
		Conns: conns, Close: closeEach}, ctx.Err()
}

var errResponse = errors.New("unexpected HTTP response")

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(br *bufio.Reader) error {
	first := true
	clen := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || string(line[9:12]) != "200" {
				return fmt.Errorf("%w: %q", errResponse, line)
			}
			first = false
			continue
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			break
		}
		if len(t) > 15 && bytes.EqualFold(t[:15], []byte("content-length:")) {
			if clen, err = strconv.Atoi(string(bytes.TrimSpace(t[15:]))); err != nil {
				return fmt.Errorf("%w: %q", errResponse, t)
			}
		}
	}
	if clen < 0 {
		return fmt.Errorf("%w: no Content-Length", errResponse)
	}
	_, err := io.CopyN(io.Discard, br, int64(clen))
	return err
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// HoldResult is what --hold measured; printed as one JSON line once the
// connections are open and the sample answered (the program then holds
// them until --hold-time passes or SIGTERM).
type HoldResult struct {
	Wanted    int     `json:"wanted"`
	Opened    int64   `json:"opened"`
	Failed    int64   `json:"failed"`
	FillS     float64 `json:"fill_s"`
	SetupRate float64 `json:"setup_per_s"` // opened / fill time
	PeakRate  float64 `json:"peak_setup_per_s"`
	Sampled   int     `json:"sampled"`
	Answered  int64   `json:"answered"`
	SampleMS  float64 `json:"sample_ms"`
	Ports     int     `json:"server_ports"`
	Progress  []int64 `json:"opened_each_s"` // connections open at the end of each second of the fill
	ClientRSS uint64  `json:"client_rss_bytes"`
}

// holdConn is one held connection: it counts its handshake and, when
// sampled, the echo of its keep-alive request.
type holdConn struct {
	conn     *tcp.Conn
	opened   *atomic.Int64
	failed   *atomic.Int64
	inflight *atomic.Int64
	answered *atomic.Int64
	got      int
	open     bool
}

func (h *holdConn) OnOpen(c *tcp.Conn) {
	h.conn, h.open = c, true
	h.opened.Add(1)
	h.inflight.Add(-1)
}

func (h *holdConn) OnData(c *tcp.Conn, data []byte) int {
	h.got += len(data)
	if h.got == len(holdPing) {
		h.answered.Add(1)
	}
	return len(data)
}

func (h *holdConn) OnWritable(*tcp.Conn)    {}
func (h *holdConn) OnPeerClose(c *tcp.Conn) { c.Close() }
func (h *holdConn) OnClose(c *tcp.Conn, err error) {
	if !h.open {
		h.failed.Add(1)
		h.inflight.Add(-1)
	}
	h.open = false
	h.conn = nil
}

var holdPing = []byte("ping\n")

// dialers is how many goroutines open connections at once.
const dialers = 32

// hold opens n connections to ip:port0..port0+ports-1 (the event API, no
// goroutine or file descriptor per connection) with at most window
// handshakes in flight, then sends one request on sample of them (spread
// evenly) and counts the echoes, prints a HoldResult and holds.
func hold(iface, addr, ip string, port0, ports, n, window, sample int, localPorts string, holdTime time.Duration, cpu int) error {
	pfx, err := netip.ParsePrefix(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	tc := tcp.DefaultConfig()
	if err := tc.Set("ip_local_port_range", localPorts); err != nil {
		return fmt.Errorf("--local-ports: %w", err)
	}
	if err := tc.Set("max_connections", fmt.Sprint(n+n/8+1024)); err != nil {
		return err
	}
	cfg := xdptcp.Config{Iface: iface, Addr: pfx, TCP: tc, Queues: []int{0},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cpu >= 0 {
		cfg.CPUs = []int{cpu}
	}
	s, err := xdptcp.Open(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.Start(ctx)

	var opened, failed, inflight, answered atomic.Int64
	conns := make([]*holdConn, n)
	res := HoldResult{Wanted: n, Ports: ports}
	start := time.Now()
	// Dialers: DialHandler waits for the loop to take each SYN, so several
	// goroutines keep the loop's request queue full.
	var next atomic.Int64
	var dialErr atomic.Value
	var wg sync.WaitGroup
	for d := 0; d < dialers; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				for inflight.Load() >= int64(window) && ctx.Err() == nil {
					time.Sleep(200 * time.Microsecond)
				}
				h := &holdConn{opened: &opened, failed: &failed, inflight: &inflight, answered: &answered}
				inflight.Add(1)
				if err := s.DialHandler(fmt.Sprintf("%s:%d", ip, port0+i%ports), h); err != nil {
					inflight.Add(-1)
					if failed.Add(1) > int64(n/100+100) {
						dialErr.CompareAndSwap(nil, fmt.Errorf("after %d connections: %w", opened.Load(), err))
						return
					}
					continue
				}
				conns[i] = h
			}
		}()
	}
	filled := make(chan struct{})
	go func() { wg.Wait(); close(filled) }()
	tk := time.NewTicker(time.Second)
	for waiting := true; waiting; {
		select {
		case <-filled:
			waiting = false
		case <-tk.C:
			res.Progress = append(res.Progress, opened.Load())
			fmt.Fprintf(os.Stderr, "xdptcp-load: %d open, %d failed\n", opened.Load(), failed.Load())
		}
	}
	tk.Stop()
	if err, _ := dialErr.Load().(error); err != nil {
		return err
	}
	for inflight.Load() > 0 && ctx.Err() == nil && time.Since(start) < 10*time.Minute {
		time.Sleep(10 * time.Millisecond)
	}
	res.FillS = time.Since(start).Seconds()
	res.Progress = append(res.Progress, opened.Load())
	res.Opened, res.Failed = opened.Load(), failed.Load()
	res.SetupRate = float64(res.Opened) / res.FillS
	for i := 1; i < len(res.Progress); i++ {
		res.PeakRate = max(res.PeakRate, float64(res.Progress[i]-res.Progress[i-1]))
	}

	// The sample: one request each on connections spread over the whole
	// set (the first opened and the last), answered by the server's echo.
	var picked []*holdConn
	if sample > 0 && len(conns) > 0 {
		step := max(1, len(conns)/sample)
		for i := 0; i < len(conns) && len(picked) < sample; i += step {
			if conns[i] != nil {
				picked = append(picked, conns[i])
			}
		}
	}
	res.Sampled = len(picked)
	// (conns[i] is nil where the dial failed.)
	t0 := time.Now()
	s.Do(func(*xdptcp.Loop) {
		for _, h := range picked {
			if h.conn != nil {
				h.conn.Write(holdPing)
			}
		}
	})
	for answered.Load() < int64(len(picked)) && time.Since(t0) < 10*time.Second && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	res.SampleMS = float64(time.Since(t0).Microseconds()) / 1000
	res.Answered = answered.Load()
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, rss uint64
		fmt.Sscanf(string(b), "%d %d", &size, &rss)
		res.ClientRSS = rss * uint64(os.Getpagesize())
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	select {
	case <-ctx.Done():
	case <-time.After(holdTime):
	}
	return nil
}

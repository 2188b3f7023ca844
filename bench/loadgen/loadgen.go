// Package loadgen holds the bench's own load generators on kernel sockets,
// run by `xdptcp-bench client ...` inside the client namespace:
//
//   - OpenLoop: HTTP requests on a fixed timetable over keep-alive
//     connections; each latency is measured from the request's scheduled
//     time, not from when a connection was free to send it, so a stalled
//     server is charged for every request it delayed (no coordinated
//     omission). Percentiles come from an HdrHistogram.
//   - Connect: closed-loop new connections (connect, one request with
//     Connection: close, read the response); connections/s over time and
//     connect-time percentiles. Used for goodput under a SYN flood.
//   - Bulk: one connection pushing bytes to a discard port (upload) or
//     through an echo port (both directions) for a fixed time.
//   - Idle: opens N connections from several source addresses and holds
//     them open.
//
// Every generator is bounded in time and count.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/xdptcp/xdptcp/bench/peers/linux"
)

// Percentiles reported for every histogram (the curve plotted).
var CurvePercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

// LatencyResult summarises a histogram in microseconds.
type LatencyResult struct {
	Count int64     `json:"count"`
	P50   float64   `json:"p50_us"`
	P99   float64   `json:"p99_us"`
	P999  float64   `json:"p999_us"`
	Max   float64   `json:"max_us"`
	Mean  float64   `json:"mean_us"`
	Curve []float64 `json:"curve_us"` // at CurvePercentiles
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
}

func summarize(h *hdrhistogram.Histogram) LatencyResult {
	r := LatencyResult{Count: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)),
		P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)),
		Max: float64(h.Max()), Mean: h.Mean()}
	for _, p := range CurvePercentiles {
		r.Curve = append(r.Curve, float64(h.ValueAtQuantile(p)))
	}
	return r
}

// request is a GET for path on host.
func request(host string, close bool) []byte {
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal (RFC 3986 IP-literal, RFC 9110 Host)
	}
	if close {
		return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
	}
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
}

// ErrResponse is a response the generators did not expect.
var ErrResponse = errors.New("unexpected HTTP response")

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(br *bufio.Reader) error {
	status := true
	clen := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status {
			if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || string(line[9:12]) != "200" {
				return fmt.Errorf("%w: %q", ErrResponse, line)
			}
			status = false
			continue
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			break
		}
		if len(t) > 15 && bytes.EqualFold(t[:15], []byte("content-length:")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(t[15:])))
			if err != nil {
				return fmt.Errorf("%w: %q", ErrResponse, t)
			}
			clen = n
		}
	}
	if clen < 0 {
		return fmt.Errorf("%w: no Content-Length", ErrResponse)
	}
	_, err := br.Discard(clen)
	return err
}

// OpenLoopConfig configures OpenLoop.
type OpenLoopConfig struct {
	Addr     string        // host:port of the HTTP server
	Rate     int           // requests per second
	Duration time.Duration // of the measured schedule
	Conns    int           // keep-alive connections (64)
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// OpenLoopResult is what OpenLoop measured.
type OpenLoopResult struct {
	Scheduled int64         `json:"scheduled"`
	Completed int64         `json:"completed"`
	Errors    int64         `json:"errors"`
	Achieved  float64       `json:"achieved_per_s"`
	Latency   LatencyResult `json:"latency"`
}

// OpenLoop sends Rate requests per second for Duration over Conns
// connections. Request i is due at start + i/Rate; a free connection takes
// the oldest due request, and its latency is counted from the due time.
// Requests still unanswered 5 s after the schedule ends count as errors.
func OpenLoop(ctx context.Context, c OpenLoopConfig) (OpenLoopResult, error) {
	if c.Rate <= 0 || c.Duration <= 0 {
		return OpenLoopResult{}, errors.New("openloop: rate and duration must be positive")
	}
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	req := request(host, false)
	total := int64(float64(c.Rate) * c.Duration.Seconds())
	due := make(chan time.Time, min(total, 1<<20))
	type conn struct {
		c  net.Conn
		br *bufio.Reader
	}
	conns := make([]conn, 0, c.Conns)
	defer func() {
		for _, x := range conns {
			x.c.Close()
		}
	}()
	for i := 0; i < c.Conns; i++ {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nc, err := c.Dial(dctx, "tcp", c.Addr)
		cancel()
		if err != nil {
			return OpenLoopResult{}, fmt.Errorf("openloop: dial: %w", err)
		}
		conns = append(conns, conn{nc, bufio.NewReaderSize(nc, 4096)})
	}
	hists := make([]*hdrhistogram.Histogram, len(conns))
	errs := make([]int64, len(conns))
	done := make(chan struct{})
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(c.Duration).Add(5 * time.Second)
	for i := range conns {
		hists[i] = newHist()
		go func(i int) {
			defer func() { done <- struct{}{} }()
			x := conns[i]
			x.c.SetDeadline(end)
			for t := range due {
				if _, err := x.c.Write(req); err != nil {
					errs[i]++
					return
				}
				if err := readResponse(x.br); err != nil {
					errs[i]++
					return
				}
				hists[i].RecordValue(max(1, int64(time.Since(t)/time.Microsecond)))
			}
		}(i)
	}
	// The timetable.
	interval := time.Second / time.Duration(c.Rate)
	var sent int64
schedule:
	for sent < total {
		now := time.Now()
		n := int64(now.Sub(start)/interval) + 1 // requests due by now
		if n > total {
			n = total
		}
		for ; sent < n; sent++ {
			select {
			case due <- start.Add(time.Duration(sent) * interval):
			case <-ctx.Done():
				break schedule
			}
		}
		next := start.Add(time.Duration(sent) * interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break schedule
			}
		}
	}
	close(due)
	h := newHist()
	var nerr int64
	for range conns {
		<-done
	}
	for i := range conns {
		h.Merge(hists[i])
		nerr += errs[i]
	}
	r := OpenLoopResult{Scheduled: sent, Completed: h.TotalCount(), Latency: summarize(h)}
	r.Errors = nerr + (sent - h.TotalCount() - nerr)
	if r.Errors < 0 {
		r.Errors = 0
	}
	r.Achieved = float64(r.Completed) / c.Duration.Seconds()
	return r, ctx.Err()
}

// ConnectConfig configures Connect.
type ConnectConfig struct {
	Addr     string
	Workers  int           // concurrent connections in flight (64)
	Duration time.Duration // how long to keep connecting
	Interval time.Duration // time-series bucket (100 ms)
	Timeout  time.Duration // per connection attempt (3 s)
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ConnectResult is what Connect measured.
type ConnectResult struct {
	Completed  int64         `json:"completed"`
	Failed     int64         `json:"failed"`
	PerSecond  float64       `json:"per_s"`
	ConnectLat LatencyResult `json:"connect_latency"`
	RequestLat LatencyResult `json:"request_latency"`
	Series     []float64     `json:"series_per_s"` // completions per second in each Interval
	IntervalS  float64       `json:"interval_s"`
}

// Connect runs Workers loops of connect + one Connection: close request.
func Connect(ctx context.Context, c ConnectConfig) (ConnectResult, error) {
	if c.Duration <= 0 {
		return ConnectResult{}, errors.New("connect: duration must be positive")
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	host, _, _ := net.SplitHostPort(c.Addr)
	req := request(host, true)
	start := time.Now()
	stop := start.Add(c.Duration)
	nb := int(c.Duration/c.Interval) + 1
	type worker struct {
		conn, reqh *hdrhistogram.Histogram
		ok, fail   int64
		buckets    []int64
	}
	ws := make([]*worker, c.Workers)
	done := make(chan struct{}, c.Workers)
	for i := range ws {
		w := &worker{conn: newHist(), reqh: newHist(), buckets: make([]int64, nb)}
		ws[i] = w
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil && time.Now().Before(stop) {
				t0 := time.Now()
				dctx, cancel := context.WithTimeout(ctx, c.Timeout)
				nc, err := c.Dial(dctx, "tcp", c.Addr)
				cancel()
				if err != nil {
					w.fail++
					continue
				}
				t1 := time.Now()
				nc.SetDeadline(t1.Add(c.Timeout))
				_, err = nc.Write(req)
				if err == nil {
					err = readResponse(bufio.NewReaderSize(nc, 512))
				}
				nc.Close()
				t2 := time.Now()
				if err != nil {
					w.fail++
					continue
				}
				w.ok++
				w.conn.RecordValue(max(1, int64(t1.Sub(t0)/time.Microsecond)))
				w.reqh.RecordValue(max(1, int64(t2.Sub(t0)/time.Microsecond)))
				if b := int(t2.Sub(start) / c.Interval); b < nb {
					w.buckets[b]++
				}
			}
		}()
	}
	for range ws {
		<-done
	}
	elapsed := time.Since(start)
	r := ConnectResult{IntervalS: c.Interval.Seconds()}
	ch, rh := newHist(), newHist()
	buckets := make([]int64, nb)
	for _, w := range ws {
		r.Completed += w.ok
		r.Failed += w.fail
		ch.Merge(w.conn)
		rh.Merge(w.reqh)
		for i, v := range w.buckets {
			buckets[i] += v
		}
	}
	// The last bucket is partial: drop it.
	if full := int(c.Duration / c.Interval); full < nb {
		buckets = buckets[:full]
	}
	for _, v := range buckets {
		r.Series = append(r.Series, float64(v)/c.Interval.Seconds())
	}
	r.PerSecond = float64(r.Completed) / elapsed.Seconds()
	r.ConnectLat, r.RequestLat = summarize(ch), summarize(rh)
	return r, ctx.Err()
}

// BulkConfig configures Bulk.
type BulkConfig struct {
	Addr     string
	Echo     bool // read back what is written (echo port); else write only (discard port)
	Duration time.Duration
	CC       string // congestion control (TCP_CONGESTION) when Dial is nil; "" for the default
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// BulkResult is what Bulk measured.
type BulkResult struct {
	Written int64   `json:"written_bytes"`
	Read    int64   `json:"read_bytes"`
	Seconds float64 `json:"seconds"`
	// Mbps is the goodput: bytes read back (echo) or written (discard), in
	// megabits per second.
	Mbps float64 `json:"mbps"`
}

// Bulk moves bytes over one connection for Duration.
func Bulk(ctx context.Context, c BulkConfig) (BulkResult, error) {
	if c.Dial == nil {
		d := net.Dialer{Control: linux.CongestionControl(c.CC)}
		c.Dial = d.DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	nc, err := c.Dial(dctx, "tcp", c.Addr)
	cancel()
	if err != nil {
		return BulkResult{}, fmt.Errorf("bulk: dial: %w", err)
	}
	defer nc.Close()
	start := time.Now()
	end := start.Add(c.Duration)
	nc.SetDeadline(end.Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	var r BulkResult
	readDone := make(chan struct{})
	if c.Echo {
		go func() {
			defer close(readDone)
			rb := make([]byte, 64<<10)
			for {
				n, err := nc.Read(rb)
				r.Read += int64(n)
				if err != nil || !time.Now().Before(end) {
					return
				}
			}
		}()
	} else {
		close(readDone)
	}
	for time.Now().Before(end) && ctx.Err() == nil {
		nc.SetWriteDeadline(end)
		n, err := nc.Write(buf)
		r.Written += int64(n)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return r, fmt.Errorf("bulk: write: %w", err)
		}
	}
	if c.Echo {
		nc.SetReadDeadline(end)
		<-readDone
	}
	r.Seconds = time.Since(start).Seconds()
	moved := r.Written
	if c.Echo {
		moved = r.Read
	}
	r.Mbps = float64(moved) * 8 / r.Seconds / 1e6
	return r, ctx.Err()
}

// DownloadConfig configures Download.
type DownloadConfig struct {
	Addr    string
	Size    int           // bytes to GET (/SIZE from a blob handler)
	CC      string        // congestion control (TCP_CONGESTION) of the client's socket; "" for the default
	Timeout time.Duration // for the whole download
}

// DownloadResult is what Download measured.
type DownloadResult struct {
	Read    int64   `json:"read_bytes"` // body bytes
	Seconds float64 `json:"seconds"`    // from the request's write to the body's last byte
	Mbps    float64 `json:"mbps"`       // goodput of the body
}

// Download GETs Size bytes from a blob handler (xdptcpd's blob, the Linux
// peer's --blob) over one connection and times it; a short body is an
// error.
func Download(ctx context.Context, c DownloadConfig) (DownloadResult, error) {
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	d := net.Dialer{Control: linux.CongestionControl(c.CC)}
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return DownloadResult{}, fmt.Errorf("download: dial: %w", err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	start := time.Now()
	if _, err := fmt.Fprintf(nc, "GET /%d HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", c.Size); err != nil {
		return DownloadResult{}, fmt.Errorf("download: request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	status, err := br.ReadString('\n')
	if err != nil {
		return DownloadResult{}, fmt.Errorf("download: status line: %w", err)
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return DownloadResult{}, fmt.Errorf("download: %q", strings.TrimSpace(status))
	}
	length := int64(-1)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return DownloadResult{}, fmt.Errorf("download: header: %w", err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			length, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if length != int64(c.Size) {
		return DownloadResult{}, fmt.Errorf("download: Content-Length %d, asked for %d", length, c.Size)
	}
	var r DownloadResult
	buf := make([]byte, 64<<10)
	for r.Read < length {
		n, err := br.Read(buf[:min(int64(len(buf)), length-r.Read)])
		r.Read += int64(n)
		if err != nil {
			return r, fmt.Errorf("download: body after %d of %d bytes: %w", r.Read, length, err)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	r.Mbps = float64(r.Read) * 8 / r.Seconds / 1e6
	return r, nil
}

// IdleConfig configures Idle.
type IdleConfig struct {
	Addr     string
	Sources  []string // local addresses to spread connections over
	N        int
	Parallel int           // connection attempts in flight (128)
	Timeout  time.Duration // for opening all of them
}

// Idle opens N connections, spread round-robin over Sources, and returns
// them; the caller holds them and closes them.
func Idle(ctx context.Context, c IdleConfig) ([]net.Conn, error) {
	if c.Parallel <= 0 {
		c.Parallel = 128
	}
	if c.Timeout <= 0 {
		c.Timeout = 100 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conns := make([]net.Conn, c.N)
	sem := make(chan struct{}, c.Parallel)
	errc := make(chan error, c.N)
	for i := 0; i < c.N; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			var d net.Dialer
			if len(c.Sources) > 0 {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.Sources[i%len(c.Sources)])}
			}
			nc, err := d.DialContext(ctx, "tcp", c.Addr)
			if err != nil {
				errc <- err
				return
			}
			conns[i] = nc
		}(i)
	}
	for i := 0; i < c.Parallel; i++ {
		sem <- struct{}{}
	}
	close(errc)
	var out []net.Conn
	for _, nc := range conns {
		if nc != nil {
			out = append(out, nc)
		}
	}
	if err := <-errc; err != nil {
		return out, fmt.Errorf("idle: %d of %d opened: %w", len(out), c.N, err)
	}
	return out, nil
}

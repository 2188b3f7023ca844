package harness

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what wrk prints at the end of a run.
type WrkResult struct {
	Requests    int64   `json:"requests"`
	Duration    float64 `json:"duration_s"`
	RequestsSec float64 `json:"requests_per_s"`
	TransferSec float64 `json:"transfer_bytes_per_s"`
	LatencyAvg  float64 `json:"latency_avg_us"`
	LatencyStd  float64 `json:"latency_stdev_us"`
	LatencyMax  float64 `json:"latency_max_us"`
	// Percentiles from --latency (50, 75, 90, 99) in microseconds.
	Percentiles map[string]float64 `json:"latency_percentiles_us,omitempty"`
	ErrConnect  int64              `json:"err_connect"`
	ErrRead     int64              `json:"err_read"`
	ErrWrite    int64              `json:"err_write"`
	ErrTimeout  int64              `json:"err_timeout"`
	Non2xx      int64              `json:"non_2xx"`
}

// ErrWrkOutput is returned when wrk's output has no summary to parse.
var ErrWrkOutput = errors.New("wrk output has no summary")

// ParseWrk reads wrk's (4.x) text output.
func ParseWrk(out string) (WrkResult, error) {
	var r WrkResult
	found := false
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Latency Distribution"):
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err == nil {
				if r.Percentiles == nil {
					r.Percentiles = map[string]float64{}
				}
				r.Percentiles[strings.TrimSuffix(f[0], "%")] = d
			}
		case strings.HasPrefix(line, "Latency") && len(f) >= 4:
			inDist = false
			r.LatencyAvg, _ = parseWrkDuration(f[1])
			r.LatencyStd, _ = parseWrkDuration(f[2])
			r.LatencyMax, _ = parseWrkDuration(f[3])
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			// "1234 requests in 1.00s, 123.45KB read"
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk requests %q: %w", f[0], err)
			}
			r.Requests = n
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err == nil {
				r.Duration = d / 1e6
			}
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 12, write 0, timeout 3"
			rest := strings.TrimPrefix(line, "Socket errors:")
			for _, part := range strings.Split(rest, ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					continue
				}
				n, _ := strconv.ParseInt(kv[1], 10, 64)
				switch kv[0] {
				case "connect":
					r.ErrConnect = n
				case "read":
					r.ErrRead = n
				case "write":
					r.ErrWrite = n
				case "timeout":
					r.ErrTimeout = n
				}
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			r.Non2xx, _ = strconv.ParseInt(f[4], 10, 64)
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk requests/sec %q: %w", f[1], err)
			}
			r.RequestsSec = v
			found = true
		case strings.HasPrefix(line, "Transfer/sec:") && len(f) == 2:
			r.TransferSec, _ = parseWrkSize(f[1])
		}
	}
	if !found {
		return r, ErrWrkOutput
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations ("1.23ms", "850.00us", "2.00s",
// "1.50m", "1.00h") into microseconds.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return 0, err
			}
			return v * u.us, nil
		}
	}
	return 0, fmt.Errorf("wrk duration %q: unknown unit", s)
}

// parseWrkSize reads wrk's byte counts ("123.45KB", "1.20MB", "512B") in
// bytes (wrk uses powers of 1024).
func parseWrkSize(s string) (float64, error) {
	mult := map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	for _, suf := range []string{"KB", "MB", "GB", "TB", "B"} {
		if strings.HasSuffix(s, suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, suf), 64)
			if err != nil {
				return 0, err
			}
			return v * mult[suf], nil
		}
	}
	return 0, fmt.Errorf("wrk size %q: unknown unit", s)
}

// WrkArgs are the arguments of one wrk run against url.
func WrkArgs(url string, threads, conns int, d time.Duration, close bool) []string {
	a := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second)/time.Second))),
		"--timeout", "5s", "--latency"}
	if close {
		a = append(a, "-H", "Connection: close")
	}
	return append(a, url)
}

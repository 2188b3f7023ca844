package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPUTimes are one core's cumulative jiffies from /proc/stat.
type CPUTimes struct {
	Busy, Total uint64
	SoftIRQ     uint64
}

// ParseProcStat reads the per-core lines ("cpu0 ...") of /proc/stat.
func ParseProcStat(r io.Reader) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		id, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var t CPUTimes
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		for i, s := range f[1:] {
			if i >= 8 { // guest time is already in user
				break
			}
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat %s: %w", f[0], err)
			}
			t.Total += v
			if i != 3 && i != 4 { // idle, iowait
				t.Busy += v
			}
			if i == 6 {
				t.SoftIRQ = v
			}
		}
		out[id] = t
	}
	return out, sc.Err()
}

// CoreUse is one core's use over a run, in percent of the core.
type CoreUse struct {
	CPU     int     `json:"cpu"`
	Busy    float64 `json:"busy_pct"`
	SoftIRQ float64 `json:"softirq_pct"`
}

// CoreUsage is the use of every core between two /proc/stat readings.
func CoreUsage(a, b map[int]CPUTimes) []CoreUse {
	var out []CoreUse
	for id := 0; id < len(b)+64; id++ {
		tb, ok := b[id]
		if !ok {
			continue
		}
		ta := a[id]
		dt := float64(tb.Total - ta.Total)
		if dt <= 0 {
			out = append(out, CoreUse{CPU: id})
			continue
		}
		out = append(out, CoreUse{CPU: id,
			Busy:    100 * float64(tb.Busy-ta.Busy) / dt,
			SoftIRQ: 100 * float64(tb.SoftIRQ-ta.SoftIRQ) / dt})
	}
	return out
}

func readProcStat() map[int]CPUTimes {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil
	}
	defer f.Close()
	m, _ := ParseProcStat(f)
	return m
}

// CPUSampler samples /proc/stat every interval while a run goes on; Stop
// returns the use over the whole run and the per-interval samples.
type CPUSampler struct {
	start   map[int]CPUTimes
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples [][]CoreUse
}

// StartCPUSampler begins sampling.
func StartCPUSampler(ctx context.Context, interval time.Duration) *CPUSampler {
	s := &CPUSampler{start: readProcStat(), stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		prev := s.start
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
				cur := readProcStat()
				s.mu.Lock()
				s.samples = append(s.samples, CoreUsage(prev, cur))
				s.mu.Unlock()
				prev = cur
			}
		}
	}()
	return s
}

// Stop ends sampling.
func (s *CPUSampler) Stop() (whole []CoreUse, samples [][]CoreUse) {
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return CoreUsage(s.start, readProcStat()), s.samples
}

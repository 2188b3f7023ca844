package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// xdptcpdAdmin is where startServer has xdptcpd serve /metrics (in the
// server namespace).
const xdptcpdAdmin = "127.0.0.1:9100"

// parseKicks sums xdptcpd's AF_XDP wake-up system calls over its queues
// from a Prometheus text exposition: xdptcp_xsk_events_total with event
// tx_kicks (sendto) and fill_kicks (recvfrom).
func parseKicks(r io.Reader) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "xdptcp_xsk_events_total{") {
			continue
		}
		if !strings.Contains(line, `event="tx_kicks"`) && !strings.Contains(line, `event="fill_kicks"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
		found = true
	}
	if !found && sc.Err() == nil {
		return 0, fmt.Errorf("no xdptcp_xsk_events_total kicks in /metrics")
	}
	return sum, sc.Err()
}

// xdptcpdKicks reads xdptcpd's wake-up system calls so far from its admin
// endpoint in namespace ns.
func xdptcpdKicks(ctx context.Context, ns string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&testnet.NS{Name: ns}).Dial(ctx, "tcp4", xdptcpdAdmin)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	return parseKicks(c)
}

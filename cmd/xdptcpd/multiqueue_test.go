package main

// Multi-queue integration: xdptcpd on a 2-queue veth, one loop per queue,
// 256 concurrent kernel clients. The kernel picks the client veth's TX queue
// per flow (no XPS on veth: skb_tx_hash over the socket's flow hash), and
// veth_xmit delivers the frame to the peer's RX queue of the same index, so
// flows from different source ports spread over both server queues.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// startDaemonOn runs xdptcpd in srv on iface with args and waits until its
// admin endpoint answers.
func startDaemonOn(t *testing.T, srv *testnet.NS, iface, admin string, args ...string) {
	t.Helper()
	bin := daemonBinary(t)
	all := append([]string{"netns", "exec", srv.Name, bin, "--iface", iface, "--addr", srvIP + "/24", "--admin", admin}, args...)
	(&topo{srv: srv, admin: admin}).start(t, all...)
}

// adminConns reads /debug/conns?format=json.
func adminConns(t *testing.T, srv *testnet.NS, admin string) []connJSON {
	t.Helper()
	resp, err := httpInNS(srv).Get("http://" + admin + "/debug/conns?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []connJSON
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// adminMetrics reads /metrics: name -> summed value, and per-queue values
// of the queue-labelled families as name{queue} -> value.
func adminMetrics(t *testing.T, srv *testnet.NS, admin string) map[string]float64 {
	t.Helper()
	fams := scrapeMetrics(t, srv, admin)
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			out[key] += v
		}
	}
	return out
}

func TestMultiQueue256Clients(t *testing.T) {
	testnet.RequireRoot(t)
	const (
		nconns = 256
		admin  = "127.0.0.1:9100"
	)
	srv, cli := testnet.NewNS(t, "xs"), testnet.NewNS(t, "xc")
	veth := testnet.NewVeth(t, testnet.VethOptions{
		ANS: srv, BNS: cli, AAddr: srvIP + "/24", BAddr: cliIP + "/24", TxOffOnB: true, Queues: 2,
	})
	startDaemonOn(t, srv, veth.A, admin, "--queues", "0,1", "--cpus", "0,1", "--listen", "8080=http")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	// 256 connections open at once, each with a keep-alive request.
	conns := make([]net.Conn, nconns)
	errs := make(chan error, nconns)
	for i := range conns {
		go func(i int) {
			c, err := cli.Dial(ctx, "tcp", srvIP+":8080")
			if err != nil {
				errs <- fmt.Errorf("dial %d: %w", i, err)
				return
			}
			conns[i] = c
			errs <- get(bufio.NewReader(c), c, false)
		}(i)
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}

	// Every client connection is listed exactly once, on one queue.
	listed := map[string]int{} // peer -> queue
	perQueue := map[int]int{}
	for _, c := range adminConns(t, srv, admin) {
		if !strings.HasSuffix(c.Local, ":8080") || c.State != "ESTABLISHED" {
			continue
		}
		if q, dup := listed[c.Peer]; dup {
			t.Errorf("%s listed on queue %d and queue %d", c.Peer, q, c.Queue)
		}
		listed[c.Peer] = c.Queue
		perQueue[c.Queue]++
	}
	for i, c := range conns {
		peer := c.LocalAddr().String()
		if _, ok := listed[peer]; !ok {
			t.Errorf("connection %d (%s) is not listed by the daemon", i, peer)
		}
	}
	t.Logf("established connections per queue: %v", perQueue)
	if len(listed) != nconns {
		t.Errorf("daemon lists %d established connections, want %d", len(listed), nconns)
	}
	if perQueue[0] == 0 || perQueue[1] == 0 {
		t.Errorf("flows did not spread over both queues: %v", perQueue)
	}

	// A second request on every connection: each is still served by the
	// loop that owns it (a flow arriving at the other loop would be reset).
	for _, c := range conns {
		go func(c net.Conn) { errs <- get(bufio.NewReader(c), c, false) }(c)
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	// The per-loop counters add up: each loop received frames, and the
	// passive opens summed over loops equal the connections listed per queue.
	m := adminMetrics(t, srv, admin)
	for q := 0; q < 2; q++ {
		key := fmt.Sprintf("xdptcp_frames_received_total{queue=%d}", q)
		if m[key] == 0 {
			t.Errorf("%s = 0", key)
		}
		t.Logf("queue %d: %v frames received, %v transmitted", q, m[key], m[fmt.Sprintf("xdptcp_frames_transmitted_total{queue=%d}", q)])
	}
	if got := m["xdptcp_tcp_passive_opens_total"]; int(got) != perQueue[0]+perQueue[1] {
		t.Errorf("passive opens %v, connections per queue %v", got, perQueue)
	}
	for _, name := range []string{"xdptcp_tcp_out_rsts_total", "xdptcp_tcp_estab_resets_total", "xdptcp_tcp_attempt_fails_total"} {
		if m[name] != 0 {
			t.Errorf("%s = %v, want 0", name, m[name])
		}
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

// A Linux client with tcp_ecn=1 downloads 4 MiB from xdptcpd's blob
// handler through the impairment bridge (1 % loss, 10 ms each way, 2 % of
// ECN-capable frames marked CE): the body is intact, ECN was agreed and
// the CE marks came back as ECE and reduced xdptcpd's window
// (TCPECNReduce), and the losses were repaired (RetransSegs). Short: a few
// seconds.
func TestImpairedDownloadECNKernelPeer(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp, br := impairtest.Start(t, "--loss", "0.01", "--delay", "10ms", "--ce", "0.02", "--limit", "10000", "--seed", "5")
	tp.Client.Exec(t, "sysctl", "-w", "net.ipv4.tcp_ecn=1")
	admin := impairedDaemon(t, tp, bin, "--listen", "8081=blob")
	const size = 4 << 20
	c := httpInNS(tp.Client)
	c.Timeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+tp.ServerAddr.String()+":8081/4MiB", nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(body), err)
	}
	took := time.Since(start)
	if resp.StatusCode != 200 || len(body) != size || !bytes.Equal(body, blobBody(size)) {
		t.Fatalf("status %d, %d bytes of %d, content differs: %v", resp.StatusCode, len(body), size, !bytes.Equal(body, blobBody(size)))
	}
	m := daemonMetrics(t, tp.Server, admin)
	st, err := br.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4 MiB in %v; ECN reductions %v, retransmissions %v, probes %v; bridge b->a ce=%d lost=%d",
		took.Round(time.Millisecond), m["xdptcp_tcp_ext_tcp_ecn_reduce_total"], m["xdptcp_tcp_retrans_segs_total"],
		m["xdptcp_tcp_ext_tcp_loss_probes_total"], st.BA.CEMarked, st.BA.Lost)
	if st.BA.CEMarked == 0 {
		t.Fatal("the bridge marked nothing CE: xdptcpd's data was not ECN-capable (ECN not agreed?)")
	}
	if m["xdptcp_tcp_ext_tcp_ecn_reduce_total"] == 0 {
		t.Error("CE marks did not reduce xdptcpd's window (no ECE from Linux?)")
	}
	if m["xdptcp_tcp_retrans_segs_total"] == 0 {
		t.Error("no retransmission under 1 % loss")
	}
}

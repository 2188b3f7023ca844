package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

// A Linux client with tcp_ecn=1 downloads 4 MiB from xdptcpd's blob
// handler through the impairment bridge (1 % loss, 10 ms each way, 2 % of
// ECN-capable frames marked CE), over IPv4 (the IP header's ECN field)
// and IPv6 (the Traffic Class's ECN bits): the body is intact, ECN was
// agreed and the CE marks came back as ECE and reduced xdptcpd's window
// (TCPECNReduce), and the losses were repaired (RetransSegs). Short: a
// few seconds each.
func TestImpairedDownloadECNKernelPeer(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	for _, v6 := range []bool{false, true} {
		name := map[bool]string{false: "ipv4", true: "ipv6"}[v6]
		t.Run(name, func(t *testing.T) { downloadECN(t, bin, v6) })
	}
}

func downloadECN(t *testing.T, bin string, v6 bool) {
	tp, br := impairtest.Start(t, "--loss", "0.01", "--delay", "10ms", "--ce", "0.02", "--limit", "10000", "--seed", "5")
	tp.Client.Exec(t, "sysctl", "-w", "net.ipv4.tcp_ecn=1") // IPv6 too
	admin := impairedDaemon(t, tp, bin, "--listen", "8081=blob", "--addr", tp.ServerAddr6.String()+"/64")
	host := tp.ServerAddr.String()
	if v6 {
		host = "[" + tp.ServerAddr6.String() + "]"
	}
	const size = 4 << 20
	c := httpInNS(tp.Client)
	c.Timeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+host+":8081/4MiB", nil)
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

// kernelBlob serves GET /<any> with blobBody(size) from the kernel stack
// in ns on port, with congestion control cc; it stops when t ends.
func kernelBlob(t testing.TB, ns *testnet.NS, port, size int, cc string) {
	ln, err := ns.Listen("tcp", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	body := blobBody(size)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			setCC(c, cc)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf) // the request (one small GET)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size)
				c.Write(body)
			}()
		}
	}()
}

// blobDownload GETs url from the client namespace and checks the body.
func blobDownload(t *testing.T, c *http.Client, url string, size int) time.Duration {
	t.Helper()
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(body) != size || !bytes.Equal(body, blobBody(size)) {
		t.Fatalf("%s: %d bytes of %d, %v", url, len(body), size, err)
	}
	return time.Since(start)
}

// The comparison, on request (XDPTCP_DOWNLOAD_COMPARE=1 for CUBIC,
// =bbr for BBR, =cubic,bbr for both; about two minutes each): a Linux
// client downloads 16 MiB through 1 % loss and 10 ms each way from
// xdptcpd and from a Linux server with the same congestion control, same
// bridge, same run, three times each (XDPTCP_DOWNLOAD_RUNS for more),
// alternating; goodput and ratio.
func TestImpairedDownloadCompare(t *testing.T) {
	ccs := os.Getenv("XDPTCP_DOWNLOAD_COMPARE")
	if ccs == "" {
		t.Skip("XDPTCP_DOWNLOAD_COMPARE=1 (cubic), bbr or cubic,bbr runs the 16 MiB download comparison (about two minutes each)")
	}
	if ccs == "1" {
		ccs = "cubic"
	}
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	for _, cc := range strings.Split(ccs, ",") {
		t.Run(cc, func(t *testing.T) { downloadCompare(t, bin, cc) })
	}
}

func downloadCompare(t *testing.T, bin, cc string) {
	// The bench's path (bench/harness bridgeArgs "loss1"): the bridge's
	// default queue of 1000 frames, which BBR's STARTUP overflows.
	tp, _ := impairtest.Start(t, "--loss", "0.01", "--delay", "10ms", "--seed", "9")
	impairedDaemon(t, tp, bin, "--listen", "8081=blob", "--sysctl", "tcp_congestion_control="+cc)
	const size = 16 << 20
	kernelBlob(t, tp.Server, 8082, size, cc)
	c := httpInNS(tp.Client)
	c.Timeout = 5 * time.Minute
	var ours, linux []float64
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("XDPTCP_DOWNLOAD_RUNS")); err == nil && n > 0 {
		runs = n
	}
	for i := 0; i < runs; i++ {
		d := blobDownload(t, c, "http://"+tp.ServerAddr.String()+":8081/16MiB", size)
		ours = append(ours, float64(size)*8/d.Seconds()/1e6)
		d = blobDownload(t, c, "http://"+tp.ServerAddr.String()+":8082/x", size)
		linux = append(linux, float64(size)*8/d.Seconds()/1e6)
	}
	med := func(v []float64) float64 { s := append([]float64(nil), v...); sort.Float64s(s); return s[len(s)/2] }
	t.Logf("16 MiB download, 1 %% loss, 10 ms each way, %s: xdptcpd %.1f Mbit/s (runs %.1f), Linux %.1f Mbit/s (runs %.1f): ratio %.2f",
		cc, med(ours), ours, med(linux), linux, med(ours)/med(linux))
}

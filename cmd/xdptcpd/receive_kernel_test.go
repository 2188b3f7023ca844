package main

// Issue 12 against the Linux kernel through the impairment bridge (1 %
// loss, 5 ms each way): kernel clients with BBR and with CUBIC as their
// congestion control (TCP_CONGESTION) echo a few MiB through xdptcpd,
// byte-exact; and kernel clients with a 4 KiB receive buffer
// (tcp_rmem=4096 4096 4096 in their namespace, the windows embedded stacks
// advertise) complete 4 MiB echoes on several connections at once. Timings
// are logged next to Linux's echo server in the same run; no ratio is
// asserted here (the bench reports them), only completion within a
// generous bound. XDPTCP_RX_LINUX=1 times Linux's servers too.

import (
	"crypto/rand"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

// compareLinux reports whether the tests also time Linux's servers
// (XDPTCP_RX_LINUX=1; 0 in the log otherwise): the bench measures the
// ratios, the tests keep make test short.
func compareLinux() bool { return os.Getenv("XDPTCP_RX_LINUX") == "1" }

// receiveTopology starts the bridge (loss, 5 ms), xdptcpd and a kernel
// echo server on 7007 and discard on 9009 in the server namespace.
func receiveTopology(t *testing.T, loss string) (*impairtest.Topology, string) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp, _ := impairtest.Start(t, "--loss", loss, "--delay", "5ms", "--limit", "10000", "--seed", "12")
	admin := impairedDaemon(t, tp, bin)
	// Linux's echo sends back with CUBIC, as xdptcpd does.
	kernelEcho(t, tp.Server, 7007, "cubic")
	kernelDiscard(t, tp.Server, 9009, "")
	return tp, admin
}

// Uploads through loss from BBR and CUBIC senders: 4 MiB echoed back
// byte-exact (XDPTCP_RX_MIB changes the size).
func TestKernelSendersThroughLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kernel peers through the impairment bridge")
	}
	tp, admin := receiveTopology(t, "0.01")
	mib := 4
	if v, err := strconv.Atoi(os.Getenv("XDPTCP_RX_MIB")); err == nil && v > 0 {
		mib = v
	}
	data := make([]byte, mib<<20)
	rand.Read(data)
	for _, cc := range []string{"bbr", "cubic"} {
		// Upload into discard: only the receive side at work.
		up, rtx, err := uploadRetrans(tp, ":9", cc, len(data))
		if err != nil {
			t.Fatalf("%s sender, upload into xdptcpd: %v", cc, err)
		}
		var upLinux, linux time.Duration
		var rtxLinux uint32
		if compareLinux() {
			if upLinux, rtxLinux, err = uploadRetrans(tp, ":9009", cc, len(data)); err != nil {
				t.Fatalf("%s sender, upload into Linux: %v", cc, err)
			}
		}
		// Echo: every byte checked.
		ours, err := echoRoundTrip(tp.Client, tp.ServerAddr.String()+":7", cc, data, 90*time.Second, nil)
		if err != nil {
			t.Fatalf("%s sender, xdptcpd echo: %v", cc, err)
		}
		if compareLinux() {
			if linux, err = echoRoundTrip(tp.Client, tp.ServerAddr.String()+":7007", cc, data, 90*time.Second, nil); err != nil {
				t.Fatalf("%s sender, Linux echo: %v", cc, err)
			}
		}
		t.Logf("%s sender, %d MiB, 1%% loss 5 ms: upload xdptcpd %v (sender retransmitted %d segments), Linux %v (%d); echo (CUBIC back) xdptcpd %v, Linux %v",
			cc, mib, up.Round(time.Millisecond), rtx, upLinux.Round(time.Millisecond), rtxLinux, ours.Round(time.Millisecond), linux.Round(time.Millisecond))
	}
	m := daemonMetrics(t, tp.Server, admin)
	t.Logf("xdptcpd: ofo_queue %v ofo_drop %v dsack_ofo_sent %v dsack_old_sent %v retrans_segs %v rcvq_drop %v",
		m["xdptcp_tcp_ext_tcp_ofo_queue_total"], m["xdptcp_tcp_ext_tcp_ofo_drop_total"], m["xdptcp_tcp_ext_tcp_dsack_ofo_sent_total"],
		m["xdptcp_tcp_ext_tcp_dsack_old_sent_total"], m["xdptcp_tcp_retrans_segs_total"], m["xdptcp_tcp_ext_tcp_rcv_q_drop_total"])
	if m["xdptcp_tcp_ext_tcp_ofo_queue_total"] == 0 {
		t.Error("no out-of-order segment queued under 1 % loss")
	}
}

// Clients with a 4 KiB receive buffer: echoes on 3 connections at once
// complete, byte-exact, within 3 minutes. A 4 KiB window moves about
// 250 KiB/s over this 10 ms path, so by default each echo is 1 MiB (12 s
// for xdptcpd and 11 s for Linux here; XDPTCP_RX_SMALL_MIB=4 is the
// issue's 4 MiB: 47 s and 45 s, 2026-12-02; 70 s for xdptcpd before its
// bursts ran to the window's edge) and the bridge only delays (5 ms): with 1 % loss
// (XDPTCP_RX_SMALL_LOSS=0.01) each loss in a two-segment window costs a
// retransmission timeout, and Linux's own echo takes 1.5 minutes for 4 x
// 4 MiB. XDPTCP_RX_SMALL_CONNS changes the count.
func TestKernelSmallReceiveBufferEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kernel peers through the impairment bridge")
	}
	loss := "0"
	if v := os.Getenv("XDPTCP_RX_SMALL_LOSS"); v != "" {
		loss = v
	}
	tp, admin := receiveTopology(t, loss)
	tp.Client.Exec(t, "sysctl", "-w", "net.ipv4.tcp_rmem=4096 4096 4096")
	conns := 3
	if v, err := strconv.Atoi(os.Getenv("XDPTCP_RX_SMALL_CONNS")); err == nil && v > 0 {
		conns = v
	}
	mib := 1
	if v, err := strconv.Atoi(os.Getenv("XDPTCP_RX_SMALL_MIB")); err == nil && v > 0 {
		mib = v
	}
	data := make([]byte, mib<<20)
	rand.Read(data)
	run := func(addr string) (time.Duration, error) {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, conns)
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = echoRoundTrip(tp.Client, addr, "", data, 3*time.Minute, nil)
			}(i)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	ours, err := run(tp.ServerAddr.String() + ":7")
	if err != nil {
		t.Fatalf("xdptcpd echo: %v", err)
	}
	var linux time.Duration
	if compareLinux() {
		if linux, err = run(tp.ServerAddr.String() + ":7007"); err != nil {
			t.Fatalf("Linux echo: %v", err)
		}
	}
	t.Logf("%d x %d MiB echo, client tcp_rmem 4096, loss %s, 5 ms: xdptcpd %v, Linux %v", conns, mib, loss, ours.Round(time.Millisecond), linux.Round(time.Millisecond))
	m := daemonMetrics(t, tp.Server, admin)
	t.Logf("xdptcpd: in_segs %v out_segs %v retrans_segs %v win_probes %v delayed_acks %v to_zero_window %v timeouts %v loss_probes %v",
		m["xdptcp_tcp_in_segs_total"], m["xdptcp_tcp_out_segs_total"], m["xdptcp_tcp_retrans_segs_total"], m["xdptcp_tcp_ext_tcp_win_probe_total"],
		m["xdptcp_tcp_ext_delayed_acks_total"], m["xdptcp_tcp_ext_tcp_to_zero_window_adv_total"], m["xdptcp_tcp_ext_tcp_timeouts_total"], m["xdptcp_tcp_ext_tcp_loss_probes_total"])
}

// uploadRetrans sends n bytes to a discard server at port in tp's server
// namespace and returns the time and the segments the kernel sender
// retransmitted (TCP_INFO tcpi_total_retrans).
func uploadRetrans(tp *impairtest.Topology, port, cc string, n int) (time.Duration, uint32, error) {
	d, ti, err := upload(tp.Client, tp.ServerAddr.String()+port, cc, n)
	if err != nil {
		return 0, 0, err
	}
	return d, ti.Total_retrans, nil
}

// upload sends n bytes from a kernel socket in ns (congestion control cc)
// to the discard server at addr and returns the time until the server's
// close and the sender's TCP_INFO at that point.
func upload(ns *testnet.NS, addr, cc string, n int) (time.Duration, *unix.TCPInfo, error) {
	c, start, err := dialKernel(ns, addr, 90*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	if err := setCC(c, cc); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, 256<<10)
	for sent := 0; sent < n; {
		k := min(len(buf), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, nil, err
		}
		sent += k
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	d := time.Since(start)
	ti, err := kernelTCPInfo(c)
	return d, ti, err
}

// kernelTCPInfo is TCP_INFO of a kernel TCP connection.
func kernelTCPInfo(c net.Conn) (*unix.TCPInfo, error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var ti *unix.TCPInfo
	if cerr := rc.Control(func(fd uintptr) { ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); cerr != nil {
		return nil, cerr
	}
	return ti, err
}

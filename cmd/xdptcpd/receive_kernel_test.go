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
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
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
	c, start, err := dialKernel(ns, addr, cc, 90*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
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

// The receiver's RTT estimate (tcpi_rcv_rtt, Linux rcv_rtt_est) on a
// 40 ms path: a Linux client uploads 2 MiB into xdptcpd's discard and
// holds the connection open; xdptcpd, which sent nothing but ACKs, shows
// a receiver RTT of the path's round trip in /debug/conns, from the
// timestamps the client echoes, beside Linux's own discard server on the
// same path (ss -ti). With the client's timestamps off, the estimate comes
// from the time a window takes to arrive: above zero, and logged, as it
// is longer than Linux's (xdptcpd offers its whole buffer at once, where
// Linux's window starts at rcv_ssthresh and grows, so a window takes the
// sender's slow start more than one round trip to fill). About 5 s.
func TestKernelReceiverRTT(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp, _ := impairtest.Start(t, "--delay", "20ms", "--limit", "10000", "--seed", "5")
	admin := impairedDaemon(t, tp, bin)
	kernelDiscard(t, tp.Server, 9009, "")
	srv := tp.ServerAddr.String()
	measure := func(ts bool) (ours, linux time.Duration) {
		v := "0"
		if ts {
			v = "1"
		}
		tp.Client.Exec(t, "sysctl", "-w", "net.ipv4.tcp_timestamps="+v)
		for _, port := range []string{"9", "9009"} {
			c, _, err := dialKernel(tp.Client, srv+":"+port, "", 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(make([]byte, 2<<20)); err != nil {
				t.Fatalf("upload to :%s: %v", port, err)
			}
			waitAllAcked(t, c)
			local := c.LocalAddr().String()
			if port == "9" {
				ours = daemonRcvRTT(t, tp, admin, local)
			} else {
				linux = kernelRcvRTT(t, tp.Server, local)
			}
			c.Close()
		}
		return ours, linux
	}
	ours, linux := measure(true)
	t.Logf("rcv_rtt with timestamps: xdptcpd %v, Linux %v (path: 40 ms)", ours, linux)
	if ours < 40*time.Millisecond || ours > 100*time.Millisecond {
		t.Errorf("xdptcpd's rcv_rtt %v on a 40 ms path with timestamps", ours)
	}
	ours, linux = measure(false)
	t.Logf("rcv_rtt without timestamps: xdptcpd %v, Linux %v", ours, linux)
	if ours <= 0 {
		t.Errorf("no rcv_rtt without timestamps after a 2 MiB upload")
	}
}

// waitAllAcked waits, at most 10 s, until the server acknowledged all
// that the kernel client c wrote (its TCP_INFO: nothing unsent, nothing
// unacknowledged).
func waitAllAcked(t *testing.T, c net.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ti, err := kernelTCPInfo(c)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Unacked == 0 && ti.Notsent_bytes == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d segments unacknowledged, %d bytes unsent", ti.Unacked, ti.Notsent_bytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// daemonRcvRTT returns tcpi_rcv_rtt of xdptcpd's connection from peer.
func daemonRcvRTT(t *testing.T, tp *impairtest.Topology, admin, peer string) time.Duration {
	t.Helper()
	resp, err := httpInNS(tp.Server).Get("http://" + admin + "/debug/conns?format=json&info=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Peer string    `json:"peer"`
		Info *infoJSON `json:"info"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Peer == peer && e.Info != nil {
			return time.Duration(e.Info.RcvRTT) * time.Microsecond
		}
	}
	t.Fatalf("no connection from %s in /debug/conns", peer)
	return 0
}

var ssRcvRTT = regexp.MustCompile(`rcv_rtt:([0-9.]+)`)

// kernelRcvRTT returns Linux's tcpi_rcv_rtt (ss -ti) for the connection
// from peer in ns; 0 if ss shows none.
func kernelRcvRTT(t *testing.T, ns *testnet.NS, peer string) time.Duration {
	t.Helper()
	out := ns.Exec(t, "ss", "-tiHn", "state", "established", "dst", peer)
	m := ssRcvRTT.FindStringSubmatch(strings.ReplaceAll(out, "\n", " "))
	if m == nil {
		return 0
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(fmt.Errorf("ss rcv_rtt %q: %w", m[1], err))
	}
	return time.Duration(ms * float64(time.Millisecond))
}

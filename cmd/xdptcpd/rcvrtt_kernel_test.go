package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

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
			c, _, err := dialKernel(tp.Client, srv+":"+port, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(make([]byte, 2<<20)); err != nil {
				t.Fatalf("upload to :%s: %v", port, err)
			}
			time.Sleep(300 * time.Millisecond) // the last ACKs arrive
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

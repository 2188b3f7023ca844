package main

// IPv6 against the Linux kernel (issue 15): one xdptcpd serves IPv4 and
// IPv6 on the same ports; the client namespace's kernel resolves our IPv6
// address through xdptcp's neighbour advertisements (the server kernel
// shares the address), pings it, fetches over both families, echoes 4 MiB
// on several IPv6 connections and opens 1,000 IPv6 connections in turn.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/flood"
)

const (
	srvIP6 = "2001:2::1" // served by xdptcpd, and the kernel's own address
	cliIP6 = "2001:2::2"
)

// newTopo6 is newTopo with IPv6 addresses on both ends and xdptcpd given
// both families.
func newTopo6(t *testing.T) *topo {
	t.Helper()
	tp := newTopoWith(t, func(tp *topo) {
		// nodad: the addresses are usable at once (no 1 s of duplicate
		// address detection).
		tp.srv.Exec(t, "ip", "-6", "addr", "add", srvIP6+"/64", "dev", tp.veth.A, "nodad")
		tp.cli.Exec(t, "ip", "-6", "addr", "add", cliIP6+"/64", "dev", tp.veth.B, "nodad")
	}, "--addr", srvIP6+"/64")
	return tp
}

func TestIPv6Kernel(t *testing.T) {
	tp := newTopo6(t)
	t.Run("curl -6 and -4 to one port", func(t *testing.T) {
		for _, url := range []string{"http://[" + srvIP6 + "]:8080/", "http://" + srvIP + ":8080/"} {
			fam := "-4"
			if strings.Contains(url, "[") {
				fam = "-6"
			}
			out := tp.cli.Exec(t, "curl", fam, "-sS", "--max-time", "10", url)
			if out != "Hello, World!" {
				t.Fatalf("curl %s %s got %q", fam, url, out)
			}
		}
	})
	t.Run("ping -6", func(t *testing.T) {
		out := tp.cli.Exec(t, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", srvIP6)
		if !strings.Contains(out, "3 received") {
			t.Fatalf("ping: %s", out)
		}
		// The replies came from xdptcp, not the kernel sharing the address.
		fams := scrapeMetrics(t, tp.srv, tp.admin)
		val := func(name string) float64 {
			if f := fams[name]; f != nil && len(f.Metric) > 0 {
				return f.Metric[0].GetCounter().GetValue()
			}
			t.Fatalf("/metrics has no %s", name)
			return 0
		}
		if r, na := val("xdptcp_icmp6_out_echo_replies_total"), val("xdptcp_icmp6_out_neighbor_advertisements_total"); r < 3 || na < 1 {
			t.Fatalf("echo replies %v, neighbour advertisements %v", r, na)
		}
	})
	t.Run("4 MiB echo on 4 connections", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := make([]byte, 4<<20)
				r := rand.New(rand.NewPCG(uint64(i), 6))
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				errs <- echo6(tp, data)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("1000 sequential connections", func(t *testing.T) {
		start := time.Now()
		for i := range 1000 {
			if err := echo6(tp, []byte(fmt.Sprintf("hello %d", i))); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
		t.Logf("1000 IPv6 connections in %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("ss prints [addr]:port", func(t *testing.T) {
		c, err := tp.cli.Dial(context.Background(), "tcp6", net.JoinHostPort(srvIP6, "7"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		io.ReadFull(c, make([]byte, 1))
		out := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin)
		if !strings.Contains(out, "["+srvIP6+"]:7") || !strings.Contains(out, "["+cliIP6+"]:") {
			t.Fatalf("ss output has no IPv6 socket:\n%s", out)
		}
	})
}

// echo6 sends data to the echo port over IPv6 and checks it comes back
// byte-exact.
func echo6(tp *topo, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := tp.cli.Dial(ctx, "tcp6", net.JoinHostPort(srvIP6, "7"))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echoed %d bytes, not the %d sent", len(got), len(data))
	}
	return nil
}

// A short spoofed SYN flood over IPv6 from 2001:2:0:8000::/49 while kernel
// IPv6 clients open new connections: SYN cookies over IPv6 keep them
// served (the full-length IPv4 test is TestSynFloodKernelClients).
func TestSynFloodIPv6KernelClients(t *testing.T) {
	tp := newTopo6(t)
	tp.v6 = true
	// The SYN-ACKs to the spoofed sources go to the client veth (the
	// frames' Ethernet source); the client kernel drops them.
	tp.cli.Exec(t, "nft", "add", "table", "ip6", "synflood")
	tp.cli.Exec(t, "nft", "add", "chain", "ip6", "synflood", "pre",
		"{", "type", "filter", "hook", "prerouting", "priority", "-300", ";", "policy", "accept", ";", "}")
	tp.cli.Exec(t, "nft", "add", "rule", "ip6", "synflood", "pre", "ip6", "daddr", flood.Allowed6.String(), "counter", "drop")
	m0 := floodMetrics(t, tp)
	stop := make(chan struct{})
	var fst flood.Stats
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(stop)
		fst, ferr = floodFlatOut(tp, "8080", 3*time.Second)
	}()
	res := floodClientsRun(tp, "8080", 8, 200, stop, 30*time.Second)
	<-done
	if ferr != nil {
		t.Fatalf("flood: %v", ferr)
	}
	m1 := floodMetrics(t, tp)
	total := res.ok + res.failed
	sent := m1["xdptcp_tcp_ext_syncookies_sent_total"] - m0["xdptcp_tcp_ext_syncookies_sent_total"]
	t.Logf("IPv6 flood: %d SYNs in %v (%.0f SYN/s); clients: %d/%d requests succeeded; SyncookiesSent %.0f",
		fst.Sent, fst.Elapsed.Round(time.Millisecond), fst.Rate(), res.ok, total, sent)
	if total < 200 || float64(res.ok) < 0.999*float64(total) {
		t.Errorf("%d of %d requests failed (want at most 0.1 %%): %v", res.failed, total, res.errs)
	}
	if fst.Sent < 10_000 || sent < 1 {
		t.Errorf("flood sent %d SYNs, %.0f cookies", fst.Sent, sent)
	}
}

package main

// Path MTU discovery against the kernel (issue 15): xdptcpd behind a Linux
// router whose client-side path has a smaller MTU than the server's link
// (IPv4: a route with mtu 1000; IPv6: an egress link of 1280), the
// client's own link 1500. The router answers xdptcpd's full-sized
// segments with "fragmentation needed" / "packet too big"; a 4 MiB
// download must complete byte-exact over both families.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

const (
	rtrSrvIP  = "198.18.0.254"
	rtrSrvIP6 = "2001:2::fe"
	pmtuCli   = "198.19.0.2"
	pmtuCli6  = "2001:2:1::2"
)

func TestPathMTUKernel(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	srv, rtr, cli := testnet.NewNS(t, "xs"), testnet.NewNS(t, "xr"), testnet.NewNS(t, "xc")
	left := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: rtr, AAddr: srvIP + "/24", BAddr: rtrSrvIP + "/24", TxOffOnB: true})
	right := testnet.NewVeth(t, testnet.VethOptions{ANS: rtr, BNS: cli, AAddr: "198.19.0.254/24", BAddr: pmtuCli + "/24", TxOffOnA: true, TxOffOnB: true})
	srv.Exec(t, "ip", "-6", "addr", "add", srvIP6+"/64", "dev", left.A, "nodad")
	rtr.Exec(t, "ip", "-6", "addr", "add", rtrSrvIP6+"/64", "dev", left.B, "nodad")
	rtr.Exec(t, "ip", "-6", "addr", "add", "2001:2:1::fe/64", "dev", right.A, "nodad")
	cli.Exec(t, "ip", "-6", "addr", "add", pmtuCli6+"/64", "dev", right.B, "nodad")
	rtr.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	// The smaller MTU on the path: a route MTU for IPv4, the egress link
	// for IPv6; the client's own link stays at 1500.
	rtr.Exec(t, "ip", "route", "replace", "198.19.0.0/24", "dev", right.A, "mtu", "1000")
	rtr.Exec(t, "ip", "link", "set", "dev", right.A, "mtu", "1280")
	cli.Exec(t, "ip", "route", "add", "default", "via", "198.19.0.254")
	cli.Exec(t, "ip", "-6", "route", "add", "default", "via", "2001:2:1::fe")

	admin := "127.0.0.1:9100"
	tp := &topo{srv: srv, cli: cli, admin: admin}
	tp.start(t, "netns", "exec", srv.Name, bin, "--iface", left.A,
		"--addr", srvIP+"/24", "--addr", srvIP6+"/64", "--gateway", rtrSrvIP, "--gateway", rtrSrvIP6,
		"--listen", "8080=blob", "--admin", admin, "--sysctl", "tcp_mtu_probing=1")

	want := blobBody(4 << 20)
	for _, host := range []string{srvIP, "[" + srvIP6 + "]"} {
		t.Run(host, func(t *testing.T) {
			start := time.Now()
			got, err := download(cli, "http://"+host+":8080/4MiB")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("downloaded %d bytes, not the 4 MiB blob", len(got))
			}
			t.Logf("4 MiB through the smaller path MTU in %v", time.Since(start).Round(time.Millisecond))
		})
	}
	t.Run("forged frag-needed with an out-of-window sequence number", func(t *testing.T) {
		forgedICMP(t, cli, srv, admin)
	})
	// The router stops sending its ICMP errors (an ICMP black hole, RFC
	// 4821 §2): with tcp_mtu_probing 1, xdptcpd lowers the MSS after
	// tcp_retries1 timeouts. New client addresses, so that the path MTU
	// learnt above from ICMP does not apply.
	rtr.Exec(t, "nft", "add table inet blackhole")
	rtr.Exec(t, "nft", "add chain inet blackhole out { type filter hook output priority 0 ; }")
	rtr.Exec(t, "nft", "add rule inet blackhole out icmp type destination-unreachable drop")
	rtr.Exec(t, "nft", "add rule inet blackhole out icmpv6 type packet-too-big drop")
	cli.Exec(t, "ip", "addr", "add", "198.19.0.3/24", "dev", right.B)
	cli.Exec(t, "ip", "-6", "addr", "add", "2001:2:1::3/64", "dev", right.B, "nodad")
	for _, c := range []struct{ host, local string }{{srvIP, "198.19.0.3"}, {"[" + srvIP6 + "]", "2001:2:1::3"}} {
		t.Run("ICMP dropped, tcp_mtu_probing 1, "+c.host, func(t *testing.T) {
			start := time.Now()
			got, err := downloadFrom(cli, c.local, "http://"+c.host+":8080/4MiB")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("downloaded %d bytes, not the 4 MiB blob", len(got))
			}
			t.Logf("4 MiB through the ICMP black hole in %v", time.Since(start).Round(time.Millisecond))
		})
	}
	if counterValue(t, srv, admin, "xdptcp_tcp_ext_tcp_mtup_black_hole_total") < 2 {
		t.Error("TCPMTUPBlackHole not counted")
	}
	// After the black hole the search probes back up (RFC 4821): probes
	// above the path MTU are lost (TCPMTUPFail), those below it are
	// acknowledged and raise the MSS (TCPMTUPSuccess).
	succ := counterValue(t, srv, admin, "xdptcp_tcp_ext_tcp_mtup_success_total")
	fail := counterValue(t, srv, admin, "xdptcp_tcp_ext_tcp_mtup_fail_total")
	t.Logf("MTU probes after the black hole: %v acknowledged, %v lost", succ, fail)
	if succ < 2 || fail < 1 {
		t.Errorf("TCPMTUPSuccess %v, TCPMTUPFail %v: the search did not probe back up", succ, fail)
	}
	fams := scrapeMetrics(t, srv, admin)
	for _, name := range []string{"xdptcp_icmp_in_dest_unreachs_total", "xdptcp_icmp6_in_pkt_too_bigs_total"} {
		f := fams[name]
		if f == nil || f.Metric[0].GetCounter().GetValue() < 1 {
			t.Errorf("%s: no ICMP error counted (%v)", name, f)
		}
	}
}

// download fetches url with an HTTP client whose sockets live in ns.
func download(ns *testnet.NS, url string) ([]byte, error) { return downloadFrom(ns, "", url) }

// downloadFrom is download from local address local ("": any).
func downloadFrom(ns *testnet.NS, local, url string) ([]byte, error) {
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
			if local == "" {
				return ns.Dial(ctx, n, a)
			}
			var c net.Conn
			err := ns.Do(func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
				var err error
				c, err = d.DialContext(ctx, n, a)
				return err
			})
			return c, err
		},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// forgedICMP opens a connection, lets it go idle (SND.UNA == SND.NXT, so
// every other sequence number is outside the window), sends xdptcpd a
// "fragmentation needed" with MTU 600 quoting a segment of that connection
// with another sequence number, and checks that xdptcpd counted it as
// OutOfWindowIcmps, left the connection's MSS alone, and that the
// connection still downloads byte-exact (RFC 5927 §4.1).
func forgedICMP(t *testing.T, cli, srv *testnet.NS, admin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := cli.Dial(ctx, "tcp4", srvIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	get := func(path string, n int) {
		t.Helper()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		br := make([]byte, 0, n+512)
		buf := make([]byte, 64<<10)
		for len(br) < n || !bytes.Contains(br, []byte("\r\n\r\n")) || len(br)-bytes.Index(br, []byte("\r\n\r\n"))-4 < n {
			m, err := c.Read(buf)
			if err != nil {
				t.Fatalf("GET %s: %v after %d bytes", path, err, len(br))
			}
			br = append(br, buf[:m]...)
		}
		if body := br[bytes.Index(br, []byte("\r\n\r\n"))+4:]; !bytes.Equal(body, blobBody(n)) {
			t.Fatalf("GET %s: body differs", path)
		}
	}
	get("/64KiB", 64<<10)
	before := counterValue(t, srv, admin, "xdptcp_tcp_ext_out_of_window_icmps_total")
	lport := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	// The quoted segment: IPv4 header from us (srvIP:8080) to the
	// client, then TCP ports and a sequence number no segment in flight
	// has (nothing is in flight).
	inner := make([]byte, 28)
	inner[0], inner[8], inner[9] = 0x45, 64, 6
	copy(inner[12:], net.ParseIP(srvIP).To4())
	copy(inner[16:], net.ParseIP(pmtuCli).To4())
	inner[20], inner[21] = 8080>>8, 8080&0xff
	inner[22], inner[23] = byte(lport>>8), byte(lport)
	inner[24], inner[25], inner[26], inner[27] = 0x12, 0x34, 0x56, 0x78
	msg := append([]byte{3, 4, 0, 0, 0, 0, 600 >> 8, 600 & 0xff}, inner...)
	var sum uint32
	for i := 0; i < len(msg); i += 2 {
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	msg[2], msg[3] = byte(^sum>>8), byte(^sum)
	if err := cli.Do(func() error {
		pc, err := net.ListenPacket("ip4:icmp", pmtuCli)
		if err != nil {
			return err
		}
		defer pc.Close()
		_, err = pc.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(srvIP)})
		return err
	}); err != nil {
		t.Fatalf("send forged ICMP: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(t, srv, admin, "xdptcp_tcp_ext_out_of_window_icmps_total") <= before {
		if time.Now().After(deadline) {
			t.Fatal("the forged ICMP error was not counted as OutOfWindowIcmps")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Nothing changed: the connection keeps its MSS and downloads.
	out := srv.Exec(t, daemonBinary(t), "ss", "--admin", admin, "-i")
	if bytes.Contains([]byte(out), []byte("pmtu:600")) {
		t.Fatalf("the forged error lowered the path MTU:\n%s", out)
	}
	get("/4MiB", 4<<20)
}

// counterValue reads one counter from /metrics.
func counterValue(t *testing.T, ns *testnet.NS, admin, name string) float64 {
	f := scrapeMetrics(t, ns, admin)[name]
	if f == nil || len(f.Metric) == 0 {
		t.Fatalf("/metrics has no %s", name)
	}
	return f.Metric[0].GetCounter().GetValue()
}

package xdptcp

// The library over IPv6 against the Linux kernel (issue 15): Dial to a
// kernel IPv6 server and a kernel IPv6 client to a Listener, on a Stack
// that serves both families. Needs root.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

func TestKernelPeerIPv6(t *testing.T) {
	testnet.RequireRoot(t)
	srv, cli := testnet.NewNS(t, "xks"), testnet.NewNS(t, "xkc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true})
	srv.Exec(t, "ip", "-6", "addr", "add", "2001:2::1/64", "dev", veth.A, "nodad")
	cli.Exec(t, "ip", "-6", "addr", "add", "2001:2::2/64", "dev", veth.B, "nodad")
	cfg := Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Addr6: netip.MustParsePrefix("2001:2::1/64"),
		Queues: []int{0}, TCP: DefaultTCPConfig()}
	if err := cfg.TCP.Set("ip_local_port_range", "61000 65535"); err != nil {
		t.Fatal(err)
	}
	var st *Stack
	if err := srv.Do(func() error {
		var err error
		st, err = Open(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st.Start(context.Background())
	t.Cleanup(func() {
		st.Close()
		for _, l := range st.loops {
			l.engine.Close()
		}
	})

	t.Run("dial a kernel IPv6 server", func(t *testing.T) {
		kl, err := cli.Listen("tcp6", "[2001:2::2]:9000")
		if err != nil {
			t.Fatal(err)
		}
		defer kl.Close()
		go func() {
			for {
				c, err := kl.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		for i := 0; i < 3; i++ {
			c, err := st.Dial("tcp", "[2001:2::2]:9000")
			if err != nil {
				t.Fatal(err)
			}
			la, ra := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
			if la.IP.String() != "2001:2::1" || la.Port < 61000 || ra.String() != "[2001:2::2]:9000" {
				t.Fatalf("LocalAddr %v RemoteAddr %v", la, ra)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte{byte(i), 1, 2, 3}, 256<<10)
			go func() { c.Write(msg); c.(*Conn).CloseWrite() }()
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo from the kernel: %d of %d bytes, %v", len(got), len(msg), err)
			}
		}
	})

	t.Run("kernel IPv6 and IPv4 clients on one Listener", func(t *testing.T) {
		ln, err := st.Listen("tcp", ":7000")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		for _, addr := range []string{"[2001:2::1]:7000", "198.18.0.1:7000"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			k, err := cli.Dial(ctx, "tcp", addr)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			x, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if x.LocalAddr().String() != addr || x.RemoteAddr().String() != k.LocalAddr().String() {
				t.Fatalf("accepted %v <- %v, kernel %v -> %v", x.LocalAddr(), x.RemoteAddr(), k.LocalAddr(), k.RemoteAddr())
			}
			k.Write([]byte("ping"))
			buf := make([]byte, 4)
			x.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(x, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("%q %v", buf, err)
			}
			x.Close()
			k.Close()
		}
	})
}

package xdptcp

// Conn, Listener and Dial against the Linux kernel's TCP: a Stack on a veth
// end in a server namespace (the kernel shares its address), kernel
// sockets in a client namespace. Needs root.

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// kernelTopo opens a Stack on 198.18.0.1 (and 2001:2::1 with ipv6) facing a
// kernel client namespace at 198.18.0.2 (and 2001:2::2).
func kernelTopo(t *testing.T, ipv6 bool) (st *Stack, srv, cli *testnet.NS) {
	t.Helper()
	testnet.RequireRoot(t)
	srv, cli = testnet.NewNS(t, "xks"), testnet.NewNS(t, "xkc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true})
	cfg := Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Queues: []int{0}, TCP: DefaultTCPConfig()}
	if ipv6 {
		srv.Exec(t, "ip", "-6", "addr", "add", "2001:2::1/64", "dev", veth.A, "nodad")
		cli.Exec(t, "ip", "-6", "addr", "add", "2001:2::2/64", "dev", veth.B, "nodad")
		cfg.Addr6 = netip.MustParsePrefix("2001:2::1/64")
	}
	// Disjoint from the kernel's ip_local_port_range (32768-60999): the
	// kernel shares 198.18.0.1 and keeps its own connections' replies.
	if err := cfg.TCP.Set("ip_local_port_range", "61000 65535"); err != nil {
		t.Fatal(err)
	}
	return openStackIn(t, srv, cfg), srv, cli
}

// openStackIn opens a Stack with cfg in ns, starts it, and closes it and
// its engines when the test ends.
func openStackIn(t *testing.T, ns *testnet.NS, cfg Config) *Stack {
	t.Helper()
	var st *Stack
	if err := ns.Do(func() error {
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
	return st
}

// serveEcho echoes every connection ln accepts until ln closes.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// kernelEchoes dials addr from the kernel in ns, sends 1 MiB of random
// bytes and checks they come back; it returns the open connection.
func kernelEchoes(t *testing.T, ns *testnet.NS, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v", err)
	}
	return c
}

// kernelEchoServer runs a kernel echo server on addr in ns until the test ends.
func kernelEchoServer(t *testing.T, ns *testnet.NS, network, addr string) {
	t.Helper()
	kl, err := ns.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kl.Close() })
	go func() {
		for {
			c, err := kl.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// dialEcho dials addr from st, sends 1 MiB, half-closes and checks that the
// same bytes come back; it returns the connection's local address.
func dialEcho(t *testing.T, st *Stack, addr string, i int) *net.TCPAddr {
	t.Helper()
	c, err := st.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	la := c.LocalAddr().(*net.TCPAddr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := bytes.Repeat([]byte{byte(i), 1, 2, 3}, 256<<10)
	go func() { c.Write(msg); c.(*Conn).CloseWrite() }()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo from the kernel: %d of %d bytes, %v", len(got), len(msg), err)
	}
	return la
}

func TestKernelPeer(t *testing.T) {
	st, srv, cli := kernelTopo(t, false)

	t.Run("nettest", func(t *testing.T) {
		ln, err := st.Listen("tcp", ":7000")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			acc := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					c = nil
				}
				acc <- c
			}()
			k, err := cli.Dial(ctx, "tcp4", "198.18.0.1:7000")
			if err != nil {
				return nil, nil, nil, err
			}
			x := <-acc
			if x == nil {
				k.Close()
				return nil, nil, nil, net.ErrClosed
			}
			return x, k, func() { x.Close(); k.Close() }, nil
		})
	})

	t.Run("dial", func(t *testing.T) {
		kernelEchoServer(t, cli, "tcp4", "198.18.0.2:9000")
		for i := 0; i < 5; i++ {
			if p := dialEcho(t, st, "198.18.0.2:9000", i).Port; p < 61000 {
				t.Errorf("local port %d outside ip_local_port_range 61000-65535", p)
			}
		}
		// The kernel's own connections from the shared address still work
		// (their ports are in its range, not ours).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		kc, err := srv.Dial(ctx, "tcp4", "198.18.0.2:9000")
		if err != nil {
			t.Fatalf("the kernel's own dial from the shared address: %v", err)
		}
		defer kc.Close()
		kc.SetDeadline(time.Now().Add(10 * time.Second))
		kc.Write([]byte("kernel"))
		buf := make([]byte, 6)
		if _, err := io.ReadFull(kc, buf); err != nil || string(buf) != "kernel" {
			t.Fatalf("kernel connection: %q %v", buf, err)
		}
	})
}

// TestKernelListenerTwoQueues: on a two-queue veth the kernel clients'
// connections land on both loops; one Listener accepts them all.
func TestKernelListenerTwoQueues(t *testing.T) {
	testnet.RequireRoot(t)
	srv, cli := testnet.NewNS(t, "xqs"), testnet.NewNS(t, "xqc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true, Queues: 2})
	var st *Stack
	err := srv.Do(func() error {
		var err error
		st, err = Open(Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Queues: []int{0, 1}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		st.Close()
		for _, l := range st.loops {
			l.engine.Close()
		}
	}()
	ln, err := st.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	st.Start(context.Background())
	const n = 64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	errs := make(chan error, n)
	var conns []net.Conn
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := cli.Dial(ctx, "tcp4", "198.18.0.1:8080")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		go func(c net.Conn, i int) {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte{byte(i), 2, 3}
			c.Write(msg)
			buf := make([]byte, 3)
			_, err := io.ReadFull(c, buf)
			if err == nil && !bytes.Equal(buf, msg) {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		}(c, i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	perQueue := map[int]int{}
	page, _ := st.ListConns(ListOptions{})
	for _, ci := range page {
		if ci.Key.LocalPort == 8080 {
			perQueue[ci.Queue]++
		}
	}
	t.Logf("connections per queue: %v", perQueue)
	for _, c := range conns {
		c.Close()
	}
	if len(perQueue) < 2 {
		t.Logf("all connections arrived on one queue (the veth hashed them so); the Listener still took them all")
	}
}

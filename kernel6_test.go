package xdptcp

// The library over IPv6 against the Linux kernel (issue 15): Dial to a
// kernel IPv6 server and a kernel IPv6 client to a Listener, on a Stack
// that serves both families. Needs root.

import (
	"context"
	"io"
	"testing"
	"time"
)

func TestKernelPeerIPv6(t *testing.T) {
	st, _, cli := kernelTopo(t, true)

	t.Run("dial a kernel IPv6 server", func(t *testing.T) {
		kernelEchoServer(t, cli, "tcp6", "[2001:2::2]:9000")
		for i := 0; i < 3; i++ {
			if la := dialEcho(t, st, "[2001:2::2]:9000", i); la.IP.String() != "2001:2::1" || la.Port < 61000 {
				t.Fatalf("LocalAddr %v", la)
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

package xdptcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// On a veth of MTU 9000 without multi-buffer (Config.NoMultiBuffer, the
// path taken where the kernel refuses XDP_USE_SG), the loop serves the MTU
// one 4096-byte frame holds, 3826 (4096 - 256 headroom - 14), and
// advertises MSS 3786: a Linux client with MTU 9000 on its side sends
// segments that fit, and a 1 MiB echo is byte-exact.
func TestKernelJumboWithoutMultiBuffer(t *testing.T) {
	testnet.RequireRoot(t)
	srv, cli := testnet.NewNS(t, "xjs"), testnet.NewNS(t, "xjc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true, MTU: 9000})
	cfg := Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Queues: []int{0}, TCP: DefaultTCPConfig(), NoMultiBuffer: true}
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
	if l := st.loops[0]; l.sock.MultiBuffer() || l.engine.Config().MTU != 3826 {
		t.Fatalf("multi-buffer %v, loop MTU %d; want off and 3826", l.sock.MultiBuffer(), l.engine.Config().MTU)
	}
	ln, err := st.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := cli.Dial(ctx, "tcp4", "198.18.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v", err)
	}
	var ti *unix.TCPInfo
	rc, _ := c.(*net.TCPConn).SyscallConn()
	rc.Control(func(fd uintptr) { ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err != nil {
		t.Fatal(err)
	}
	if ti.Snd_mss != 3786-12 {
		t.Errorf("client snd_mss %d, want 3774 (MSS 3786 less timestamps)", ti.Snd_mss)
	}
}

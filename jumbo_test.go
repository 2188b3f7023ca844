package xdptcp

import (
	"net"
	"net/netip"
	"testing"

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
	st := openStackIn(t, srv, cfg)
	if l := st.loops[0]; l.sock.MultiBuffer() || l.engine.Config().MTU != 3826 {
		t.Fatalf("multi-buffer %v, loop MTU %d; want off and 3826", l.sock.MultiBuffer(), l.engine.Config().MTU)
	}
	ln, err := st.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	c := kernelEchoes(t, cli, "198.18.0.1:7000")
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

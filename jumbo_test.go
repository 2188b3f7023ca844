package xdptcp

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/xsk"
)

// On a veth of MTU 9000 without multi-buffer (Config.NoMultiBuffer, the
// path taken where the kernel refuses XDP_USE_SG), the loop serves the MTU
// one 4096-byte frame holds, 3826 (4096 - 256 headroom - 14), and
// advertises MSS 3786: a Linux client with MTU 9000 on its side sends
// segments that fit, and a 1 MiB echo is byte-exact. Where the filter's
// receive time travels as a prefix of the packet (StampsInPacket) it
// takes 16 bytes of the frame: MTU 3810, MSS 3770.
func TestKernelJumboWithoutMultiBuffer(t *testing.T) {
	testnet.RequireRoot(t)
	srv, cli := testnet.NewNS(t, "xjs"), testnet.NewNS(t, "xjc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true, MTU: 9000})
	cfg := Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Queues: []int{0}, TCP: DefaultTCPConfig(), NoMultiBuffer: true}
	st := openStackIn(t, srv, cfg)
	mtu := 3826
	if st.filter.(*xsk.Filter).StampsInPacket() {
		mtu -= xsk.RxMetaLen
	}
	if l := st.loops[0]; l.sock.MultiBuffer() || l.engine.Config().MTU != mtu {
		t.Fatalf("multi-buffer %v, loop MTU %d; want off and %d", l.sock.MultiBuffer(), l.engine.Config().MTU, mtu)
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
	if want := uint32(mtu - 40 - 12); ti.Snd_mss != want {
		t.Errorf("client snd_mss %d, want %d (MSS %d less timestamps)", ti.Snd_mss, want, mtu-40)
	}
}

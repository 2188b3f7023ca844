package xdptcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/xsk"
)

// TX checksum offload through AF_XDP TX metadata. veth advertises no
// tx-checksum in its AF_XDP features, so "auto" computes checksums in
// software (the path every other kernel test takes too); "on" asks the
// kernel anyway: in copy mode it builds a CHECKSUM_PARTIAL skb from the
// request, which the Linux client accepts. Both echo 1 MiB byte-exact to
// a Linux client, over IPv4 at MTU 1500 and at MTU 9000 (multi-buffer
// chains, the request on the first descriptor).
func TestKernelTxChecksum(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		mtu     int
		offload bool
	}{
		{"auto", 0, false}, {"on", 0, true}, {"on", 9000, true},
	} {
		t.Run(tc.mode+map[bool]string{false: "", true: "-jumbo"}[tc.mtu > 0], func(t *testing.T) {
			testnet.RequireRoot(t)
			srv, cli := testnet.NewNS(t, "xcs"), testnet.NewNS(t, "xcc")
			veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: "198.18.0.1/24", BAddr: "198.18.0.2/24", TxOffOnB: true, MTU: tc.mtu})
			if tc.mode == "auto" {
				var feat bool
				err := srv.Do(func() error {
					ifi, err := net.InterfaceByName(veth.A)
					if err != nil {
						return err
					}
					feat, err = xsk.DriverTxChecksum(ifi.Index)
					return err
				})
				if err != nil || feat {
					t.Fatalf("veth xsk-features tx-checksum %v, %v; want false, nil", feat, err)
				}
			}
			cfg := Config{Iface: veth.A, Addr: netip.MustParsePrefix("198.18.0.1/24"), Queues: []int{0}, TCP: DefaultTCPConfig(), TxChecksum: tc.mode}
			st := openStackIn(t, srv, cfg)
			sock := st.loops[0].sock
			if sock.TxChecksumOffload() != tc.offload {
				t.Fatalf("TxChecksumOffload %v, want %v", sock.TxChecksumOffload(), tc.offload)
			}
			ln, err := st.Listen("tcp", ":7000")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go serveEcho(ln)
			kernelEchoes(t, cli, "198.18.0.1:7000")
			n := sock.Stats().TxChecksumOffload
			t.Logf("packets with a TX checksum request: %d", n)
			if tc.offload != (n > 100) {
				t.Errorf("%d packets sent with a checksum request; offload %v", n, tc.offload)
			}
		})
	}
}

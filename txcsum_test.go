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
			sock := st.loops[0].sock
			if sock.TxChecksumOffload() != tc.offload {
				t.Fatalf("TxChecksumOffload %v, want %v", sock.TxChecksumOffload(), tc.offload)
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
			n := sock.Stats().TxChecksumOffload
			t.Logf("packets with a TX checksum request: %d", n)
			if tc.offload != (n > 100) {
				t.Errorf("%d packets sent with a checksum request; offload %v", n, tc.offload)
			}
		})
	}
}

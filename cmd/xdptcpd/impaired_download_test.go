package main

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/impair/impairtest"
	"github.com/xdptcp/xdptcp/internal/testnet"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// downloadCCs are the congestion controls a download through loss is
// tested (and benchmarked) with: Linux's default and the one that keeps
// its rate through random loss.
var downloadCCs = []string{"cubic", "bbr"}

// ccOffered reports whether xdptcpd accepts tcp_congestion_control=cc,
// with the reason if not.
func ccOffered(cc string) (bool, error) {
	cfg := tcp.DefaultConfig()
	if err := cfg.Set("tcp_congestion_control", cc); err != nil {
		return false, err
	}
	return true, nil
}

// A Linux client downloads 4 MiB from xdptcpd's blob handler through the
// impairment bridge (1 % loss, 10 ms each way), once per congestion
// control of xdptcpd (tcp_congestion_control cubic and bbr): the body
// arrives whole and intact. Completion and integrity only; the goodput
// against Linux is the bench's download-loss scenario. A few seconds per
// congestion control.
func TestImpairedDownloadKernelClient(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp, _ := impairtest.Start(t, "--loss", "0.01", "--delay", "10ms", "--limit", "10000", "--seed", "11")
	const size = 4 << 20
	for _, cc := range downloadCCs {
		t.Run(cc, func(t *testing.T) {
			if ok, err := ccOffered(cc); !ok {
				t.Skipf("xdptcpd does not offer tcp_congestion_control=%s yet: %v", cc, err)
			}
			admin := impairedDaemon(t, tp, bin, "--listen", "8081=blob", "--sysctl", "tcp_congestion_control="+cc)
			c := httpInNS(tp.Client)
			c.Timeout = 60 * time.Second
			took := blobDownload(t, c, "http://"+tp.ServerAddr.String()+":8081/4MiB", size)
			m := daemonMetrics(t, tp.Server, admin)
			t.Logf("%s: 4 MiB in %v (%.1f Mbit/s); retransmitted %v, recoveries %v, RTOs %v, probes %v, undone by D-SACK %v",
				cc, took.Round(time.Millisecond), float64(size)*8/took.Seconds()/1e6,
				m["xdptcp_tcp_retrans_segs_total"], m["xdptcp_tcp_ext_tcp_sack_recovery_total"],
				m["xdptcp_tcp_ext_tcp_timeouts_total"], m["xdptcp_tcp_ext_tcp_loss_probes_total"],
				m["xdptcp_tcp_ext_tcp_dsack_undo_total"])
		})
	}
}

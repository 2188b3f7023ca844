package harness

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

func netnsList(t *testing.T) string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestTopologiesBuildAndTearDown builds both topologies, checks the client
// reaches the server's address (through the bridge's legs only once the
// bridge runs, so the bridged one is checked for its namespaces only), and
// that Close leaves no namespace behind.
func TestTopologiesBuildAndTearDown(t *testing.T) {
	testnet.RequireRoot(t)
	ctx := context.Background()
	d, err := NewDirect(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := nsExec(ctx, d.Client, "ping", "-c", "1", "-W", "2", d.ServerAddr.String()); err != nil {
		t.Error(err)
	}
	// The IPv6 addresses are usable at once (nodad): no wait for DAD.
	if _, err := nsExec(ctx, d.Client, "ping", "-6", "-c", "1", "-W", "2", d.ServerAddr6.String()); err != nil {
		t.Error(err)
	}
	routes, _ := nsExec(ctx, d.Server, "ip", "route", "show", "198.18.128.0/17")
	if !strings.Contains(routes, "via "+d.ClientAddr.String()) {
		t.Errorf("server has no route for the flood sources: %q", routes)
	}
	if s := KernelSettings(ctx, d.Server); s["net.ipv4.tcp_syncookies"] != "1" {
		t.Errorf("settings %v", s)
	}
	b, err := NewBridged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	list := netnsList(t)
	for _, n := range []string{d.Server, d.Client, b.Server, b.Client, b.Middle} {
		if !strings.Contains(list, n) {
			t.Errorf("namespace %s missing", n)
		}
	}
	d.Close()
	b.Close()
	list = netnsList(t)
	for _, n := range []string{d.Server, d.Client, b.Server, b.Client, b.Middle} {
		if strings.Contains(list, n+" ") || strings.Contains(list, n+"\n") {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

// TestNAPIRig switches the direct topology to the per-core rig and checks
// that both veth ends run threaded NAPI in kthreads the pinner moves to
// the receiving side's CPU.
func TestNAPIRig(t *testing.T) {
	testnet.RequireRoot(t)
	ctx := context.Background()
	d, err := NewDirect(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := setupRig(ctx, d, RigNAPI); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{{d.Server, d.ServerIf}, {d.Client, d.ClientIf}} {
		out, err := nsExec(ctx, e[0], "cat", "/sys/class/net/"+e[1]+"/threaded")
		if err != nil || strings.TrimSpace(out) != "1" {
			t.Errorf("%s threaded = %q, %v", e[1], out, err)
		}
		feat, err := nsExec(ctx, e[0], "ethtool", "-k", e[1])
		if err != nil || !strings.Contains(feat, "generic-receive-offload: on") || !strings.Contains(feat, "tcp-segmentation-offload: off") {
			t.Errorf("%s offloads (want GRO on, TSO off): %v\n%s", e[1], err, feat)
		}
	}
	p := startNAPIPinner(d, []int{1}, []int{0}, time.Hour)
	p.Stop()
	for dev, cpu := range map[string]int{d.ServerIf: 1, d.ClientIf: 0} {
		tids := napiThreads(dev)
		if len(tids) == 0 {
			t.Errorf("no napi/%s-N kthread", dev)
		}
		for _, tid := range tids {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &set); err != nil {
				t.Fatal(err)
			}
			if set.Count() != 1 || !set.IsSet(cpu) {
				t.Errorf("napi kthread %d of %s: affinity %v, want CPU %d only", tid, dev, set, cpu)
			}
			if a, err := unix.SchedGetAttr(tid, 0); err != nil || a.Policy != unix.SCHED_FIFO || a.Priority != napiPriority {
				t.Errorf("napi kthread %d of %s: scheduling %+v, %v; want SCHED_FIFO %d", tid, dev, a, err, napiPriority)
			}
		}
	}
}

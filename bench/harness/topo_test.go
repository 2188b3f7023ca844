package harness

import (
	"context"
	"os/exec"
	"strings"
	"testing"

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

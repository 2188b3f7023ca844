package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp"
)

// The cluster settings from flags and from the file, and their mistakes.
func TestClusterOptions(t *testing.T) {
	base := []string{"--iface", "lo", "--addr", "198.18.100.1/24", "--listen", "80=http"}
	o, err := parseOptions(append(base, "--cluster-id", "1", "--cluster-peer", "2=198.18.100.12", "--cluster-peer", "3=198.18.100.13"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stackConfig(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &xdptcp.ClusterConfig{ID: 1, IDBits: 4, Peers: []xdptcp.ClusterPeer{
		{ID: 2, Addr: netip.MustParseAddr("198.18.100.12")}, {ID: 3, Addr: netip.MustParseAddr("198.18.100.13")}}}
	if c := cfg.Cluster; c == nil || c.ID != want.ID || c.IDBits != want.IDBits || len(c.Peers) != 2 || c.Peers[1] != want.Peers[1] {
		t.Fatalf("cluster %+v, want %+v", c, want)
	}
	o, _ = parseOptions(base, &bytes.Buffer{})
	if cfg, _ := stackConfig(o, nil); cfg.Cluster != nil {
		t.Fatal("a cluster without --cluster-id")
	}

	dir := t.TempDir()
	f := filepath.Join(dir, "c.yaml")
	os.WriteFile(f, []byte("iface: lo\naddr: 198.18.100.1/24\nlisten: [{port: 80, handler: http}]\ncluster_id: 0\ncluster_id_bits: 2\ncluster_peer: [1=198.18.100.12, 3=198.18.100.14]\n"), 0o644)
	o, err = parseOptions([]string{"--config", f}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := o.cluster(); err != nil || c.ID != 0 || c.IDBits != 2 || len(c.Peers) != 2 || c.Peers[1].ID != 3 {
		t.Fatalf("from the file: %+v %v", c, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-peer", "2=198.18.100.12"}, "--cluster-peer needs --cluster-id"},
		{[]string{"--cluster-id", "16"}, "--cluster-id 16: want 0 to 15"},
		{[]string{"--cluster-id", "1", "--cluster-id-bits", "9"}, "--cluster-id-bits 9: want 1 to 8"},
		{[]string{"--cluster-id", "1", "--cluster-peer", "198.18.100.12"}, "want ID=ADDR"},
		{[]string{"--cluster-id", "1", "--cluster-peer", "1=198.18.100.12"}, "id 1 is this host's or given twice"},
		{[]string{"--cluster-id", "1", "--cluster-peer", "2=198.18.100.12", "--cluster-peer", "2=198.18.100.13"}, "given twice"},
		{[]string{"--cluster-id", "1", "--cluster-peer", "20=198.18.100.12"}, "id 20: want 0 to 15"},
	} {
		_, err := parseOptions(append(append([]string{}, base...), tc.args...), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

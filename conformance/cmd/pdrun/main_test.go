package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestModes: a list id's address mode becomes packetdrill's --ip_version
// and addresses, and the adapter's; a script's own --mtu wins over the
// ipv6 mode's 1520.
func TestModes(t *testing.T) {
	for _, c := range []struct {
		id, script, mode string
		bad              bool
	}{
		{"google/close/a.pkt", "google/close/a.pkt", modeIPv4, false},
		{"google/close/a.pkt@ipv6", "google/close/a.pkt", modeIPv6, false},
		{"xdptcp/b.pkt@ipv4-mapped-ipv6", "xdptcp/b.pkt", modeMapped, false},
		{"nplab/sack/sack-shift-sacked-1-2:6-fack.pkt", "nplab/sack/sack-shift-sacked-1-2:6-fack.pkt", modeIPv4, false},
		{"xdptcp/b.pkt@ipv5", "", "", true},
	} {
		s, m, err := splitMode(c.id)
		if (err != nil) != c.bad || s != c.script || m != c.mode {
			t.Errorf("splitMode(%q) = %q, %q, %v", c.id, s, m, err)
		}
	}
	args, so := modeArgs(modeIPv6, "linux", "")
	if !slices.Contains(args, "--ip_version=ipv6") || !slices.Contains(args, "--mtu=1520") || !slices.Contains(args, "--local_ip=2001:2::1") || so != "local=2001:2::1,gateway=2001:2::fffe,mtu=1520" {
		t.Errorf("ipv6: %q %q", args, so)
	}
	args, so = modeArgs(modeIPv6, "xdptcp", "1500")
	if slices.ContainsFunc(args, func(a string) bool { return a == "--mtu=1520" || a == "--local_ip=192.168.0.1" }) || so != "local=2001:2::1,gateway=2001:2::fffe,mtu=1500" {
		t.Errorf("ipv6 with the script's --mtu=1500: %q %q", args, so)
	}
	args, so = modeArgs(modeMapped, "xdptcp", "")
	if !slices.Equal(args, []string{"--ip_version=ipv4-mapped-ipv6", "--local_ip=192.168.0.1"}) || so != "local=192.168.0.1,gateway=192.168.0.254" {
		t.Errorf("ipv4-mapped-ipv6: %q %q", args, so)
	}
	args, _ = modeArgs(modeIPv4, "linux", "")
	if len(args) != 0 {
		t.Errorf("ipv4 on Linux: %q, want packetdrill's defaults", args)
	}
}

// The Linux runs get every available congestion control allowed, and the
// host's list back afterwards; a list that has them all is left alone.
func TestAllowAllCC(t *testing.T) {
	dir := t.TempDir()
	allowed, available := filepath.Join(dir, "allowed"), filepath.Join(dir, "available")
	os.WriteFile(allowed, []byte("reno bbr\n"), 0o644)
	os.WriteFile(available, []byte("reno bbr cubic\n"), 0o644)
	restore, err := allowAllCC(allowed, available)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(allowed); string(b) != "reno bbr cubic\n" {
		t.Fatalf("allowed during the run: %q", b)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(allowed); string(b) != "reno bbr\n" {
		t.Fatalf("allowed after: %q", b)
	}
	os.WriteFile(allowed, []byte("bbr cubic reno\n"), 0o644)
	if _, err := allowAllCC(allowed, available); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(allowed); string(b) != "bbr cubic reno\n" {
		t.Fatalf("a complete list was rewritten: %q", b)
	}
}

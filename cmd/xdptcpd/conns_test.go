package main

import (
	"net/netip"
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
)

// The page cursor round-trips through Key.String for both families.
func TestParseKeyRoundTrip(t *testing.T) {
	for _, k := range []flowtable.Key{
		{LocalAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), LocalPort: 80, RemoteAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 2}), RemotePort: 40000},
		{LocalAddr: flowtable.AddrFromNetip(netip.MustParseAddr("2001:2::1")), LocalPort: 443, RemoteAddr: flowtable.AddrFromNetip(netip.MustParseAddr("2001:2::2")), RemotePort: 1},
	} {
		got, err := parseKey(k.String())
		if err != nil || got != k {
			t.Errorf("parseKey(%q) = %v, %v", k.String(), got, err)
		}
	}
	for _, bad := range []string{"", "198.18.0.1:80", "x-y", "198.18.0.1:80-198.18.0.2:70000"} {
		if _, err := parseKey(bad); err == nil {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}

// The dashboard parses and every panel queries xdptcp metrics (the live
// check that each is exported is in TestOpsMetricsAndSS).
func TestDashboardParses(t *testing.T) {
	if n := len(dashboardMetrics(t)); n == 0 {
		t.Fatal("no metric")
	}
}

package xdptcp

import (
	"errors"
	"net/netip"
	"testing"
)

// ClusterConfig's checks: id ranges, duplicates, addresses of a family the
// host serves; a valid one becomes the engines' form.
func TestClusterConfigChecks(t *testing.T) {
	p := func(id int, a string) ClusterPeer { return ClusterPeer{ID: id, Addr: netip.MustParseAddr(a)} }
	ok := ClusterConfig{ID: 1, Peers: []ClusterPeer{p(2, "198.18.100.12"), p(3, "2001:2::13")}}
	cl, err := ok.cluster(true, true)
	if err != nil || cl.ID != 1 || cl.IDBits != 4 || len(cl.Peers) != 2 || cl.Peers[1].ID != 3 || cl.Peers[0].Addr.Is4() != true {
		t.Fatalf("%+v %v", cl, err)
	}
	for _, tc := range []struct {
		c      ClusterConfig
		v4, v6 bool
		want   error
	}{
		{ClusterConfig{ID: 16}, true, false, ErrBadConfig},
		{ClusterConfig{ID: 1, IDBits: 9}, true, false, ErrBadConfig},
		{ClusterConfig{ID: 3, IDBits: 2, Peers: []ClusterPeer{p(4, "198.18.100.12")}}, true, false, ErrBadConfig},
		{ClusterConfig{ID: 1, Peers: []ClusterPeer{p(1, "198.18.100.12")}}, true, false, ErrBadConfig},
		{ClusterConfig{ID: 1, Peers: []ClusterPeer{p(2, "198.18.100.12"), p(2, "198.18.100.13")}}, true, false, ErrBadConfig},
		{ClusterConfig{ID: 1, Peers: []ClusterPeer{p(2, "0.0.0.0")}}, true, false, ErrBadAddress},
		{ClusterConfig{ID: 1, Peers: []ClusterPeer{p(2, "2001:2::12")}}, true, false, ErrBadAddress},
		{ClusterConfig{ID: 1, Peers: []ClusterPeer{p(2, "198.18.100.12")}}, false, true, ErrBadAddress},
	} {
		if _, err := tc.c.cluster(tc.v4, tc.v6); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.c, err, tc.want)
		}
	}
}

package xdptcp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
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

// DrainConns counts what a draining host still serves: not a passive
// half-open connection whose client has been silent for 3 s (a SYN-ACK the
// client answered at another host), but a fresh one. The SYNs go straight
// into the loop's TCP layer with their arrival time, the stale one's 10 s
// in the past: no waiting.
func TestDrainConnsSkipsStaleHalfOpen(t *testing.T) {
	p, err := NewMemPair(Config{Addr: netip.MustParsePrefix("198.18.0.1/24")}, Config{Addr: netip.MustParsePrefix("198.18.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.A.Serve(80, ServeOptions{}, func(c *tcp.Conn) tcp.Handler { return nil }); err != nil {
		t.Fatal(err)
	}
	syn := func(port uint16, age time.Duration) {
		p.A.Do(func(l *Loop) {
			now := p.A.clk.Now()
			at := now.Add(-age)
			l.engine.TCP().Input(at, &tcp.Segment{
				Key: flowtable.Key{LocalAddr: flowtable.AddrFrom4(p.A.addr), RemoteAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 99}), LocalPort: 80, RemotePort: port},
				Seq: 1000, Flags: wire.FlagSYN, Window: 65535, Arrival: at,
			})
			l.engine.TCP().Advance(now)
		})
	}
	syn(40000, 10*time.Second)
	if n, live := p.A.DrainConns(), p.A.LiveConns(); n != 0 || live != 1 {
		t.Fatalf("a half-open connection silent for 10 s: DrainConns %d (want 0), LiveConns %d (want 1)", n, live)
	}
	syn(40001, 0)
	if n := p.A.DrainConns(); n != 1 {
		t.Fatalf("a fresh half-open connection: DrainConns %d, want 1", n)
	}
}

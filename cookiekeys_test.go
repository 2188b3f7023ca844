package xdptcp

import (
	"errors"
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/syncookie"
)

// SetCookieKeys rotates a shared jar in place (the listeners keep the one
// jar) and is refused on a Stack opened without shared keys.
func TestSetCookieKeys(t *testing.T) {
	pa, _ := memlink.Pair(memlink.Config{})
	local := newMemStack(memAddrA, [6]byte{2, 0, 0, 0, 0, 1}, pa, tcp.DefaultConfig())
	if err := local.SetCookieKeys([]syncookie.Key{{1}}); !errors.Is(err, ErrCookieKeys) {
		t.Fatalf("SetCookieKeys on a local jar: %v, want ErrCookieKeys", err)
	}
	k1, k2 := syncookie.Key{1, 2, 3}, syncookie.Key{4, 5, 6}
	s := newMemStack(memAddrA, [6]byte{2, 0, 0, 0, 0, 1}, pa, tcp.DefaultConfig())
	s.cfg.CookieKeys = []syncookie.Key{k1}
	jar, err := s.cookieJar()
	if err != nil || !jar.Shared() {
		t.Fatalf("cookieJar: %v shared=%v", err, jar != nil && jar.Shared())
	}
	key := flowtable.Key{LocalAddr: flowtable.AddrFromNetip(memAddrA), RemoteAddr: flowtable.AddrFromNetip(memAddrB), LocalPort: 80, RemotePort: 40000}
	now := s.clk.Now()
	old, _ := jar.Make(now, key, 7, 1460)
	if err := s.SetCookieKeys([]syncookie.Key{k2}); err != nil {
		t.Fatal(err)
	}
	if j2, _ := s.cookieJar(); j2 != jar {
		t.Fatal("rotation replaced the jar the listeners hold")
	}
	if _, ok := jar.Check(now, key, 7, old); !ok {
		t.Fatal("a cookie made before the rotation fails after it")
	}
	want, _ := syncookie.NewShared([]syncookie.Key{k2}, s.clk.Epoch())
	if got, w := func() seqnum.Value { c, _ := jar.Make(now, key, 8, 1460); return c }(), func() seqnum.Value { c, _ := want.Make(now, key, 8, 1460); return c }(); got != w {
		t.Fatal("after the rotation cookies are not made with the new key")
	}
	if err := s.SetCookieKeys(nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("SetCookieKeys(nil) = %v", err)
	}
}

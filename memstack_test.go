package xdptcp

import (
	"context"
	"github.com/xdptcp/xdptcp/flowtable"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/xsk"
)

// nopFilter stands in for the XDP filter over an in-memory link.
type nopFilter struct{}

func (nopFilter) Mode() xsk.XDPMode                              { return 0 }
func (nopFilter) Register(int, *xsk.Socket) error                { return nil }
func (nopFilter) Unregister(int) error                           { return nil }
func (nopFilter) AddAddr([4]byte) error                          { return nil }
func (nopFilter) RemoveAddr([4]byte) error                       { return nil }
func (nopFilter) AddPort([4]byte, uint16) error                  { return nil }
func (nopFilter) RemovePort([4]byte, uint16) error               { return nil }
func (nopFilter) SetClientPorts([4]byte, uint16, uint16) error   { return nil }
func (nopFilter) WatchARP([4]byte) error                         { return nil }
func (nopFilter) UnwatchARP([4]byte) error                       { return nil }
func (nopFilter) AddAddr6([16]byte) error                        { return nil }
func (nopFilter) AddPort6([16]byte, uint16) error                { return nil }
func (nopFilter) RemovePort6([16]byte, uint16) error             { return nil }
func (nopFilter) SetClientPorts6([16]byte, uint16, uint16) error { return nil }
func (nopFilter) WatchND([16]byte) error                         { return nil }
func (nopFilter) UnwatchND([16]byte) error                       { return nil }
func (nopFilter) Close() error                                   { return nil }

var (
	memAddrA = netip.MustParseAddr("198.18.0.1")
	memAddrB = netip.MustParseAddr("198.18.0.2")
)

// newMemStack builds a Stack with one loop whose engine runs over port
// (an in-memory link) and a no-op filter.
func newMemStack(addr netip.Addr, mac [6]byte, port stack.Port, tcfg tcp.Config) *Stack {
	cfg := Config{Iface: "mem", Addr: netip.PrefixFrom(addr, 24), TCP: tcfg, Logger: slog.Default()}
	cfg.setDefaults()
	s := &Stack{cfg: cfg, addr: addr.As4(), clk: clock.NewMono(), filter: nopFilter{}, ports: map[uint16]bool{}}
	l := &Loop{Queue: 0, CPU: -1, listeners: map[uint16]*tcp.Listener{}}
	l.newEngine(stack.Config{
		Addr: s.addr, PrefixLen: 24, MAC: mac, MTU: 1500, TCP: tcfg,
	}, port, s.clk)
	s.loops = []*Loop{l}
	return s
}

// memPair returns two started stacks joined by an in-memory link:
// a at 198.18.0.1, b at 198.18.0.2. They close when the test ends.
func memPair(t testing.TB, faults memlink.Faults, tune func(*tcp.Config)) (a, b *Stack) {
	t.Helper()
	fa, fb := faults, faults
	fa.Seed, fb.Seed = 1, 2
	pa, pb := memlink.Pair(memlink.Config{AtoB: fa, BtoA: fb})
	tcfg := tcp.DefaultConfig()
	if tune != nil {
		tune(&tcfg)
	}
	a = newMemStack(memAddrA, [6]byte{2, 0, 0, 0, 0, 1}, pa, tcfg)
	b = newMemStack(memAddrB, [6]byte{2, 0, 0, 0, 0, 2}, pb, tcfg)
	// Permanent neighbours: the first SYN is not lost to ARP resolution.
	a.loops[0].engine.SetNeighbor(flowtable.AddrFrom4(b.addr), [6]byte{2, 0, 0, 0, 0, 2})
	b.loops[0].engine.SetNeighbor(flowtable.AddrFrom4(a.addr), [6]byte{2, 0, 0, 0, 0, 1})
	a.Start(context.Background())
	b.Start(context.Background())
	t.Cleanup(func() {
		a.Close()
		b.Close()
		for _, s := range []*Stack{a, b} {
			s.loops[0].engine.Close()
		}
		pa.Close()
		pb.Close()
	})
	return a, b
}

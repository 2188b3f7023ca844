package xdptcp

import (
	"context"
	"errors"
	"fmt"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/xsk"
)

// MemPair is two Stacks joined by an in-memory Ethernet link
// (stack/memlink) instead of an interface: no root, no XDP, no kernel on
// the path. Each Stack has one loop and serves the whole API (Listen,
// Dial, Serve, the event API) as over AF_XDP; the link copies each frame
// once, as veth does. For tests of applications and for measuring the
// stack's own cost (bench/cmd/xdptcp-stackbench).
type MemPair struct {
	A, B   *Stack
	ports  [2]*memlink.Port
	cancel context.CancelFunc
}

// memMACs are the link's Ethernet addresses (locally administered).
var memMACs = [2][6]byte{{2, 0, 0x5e, 0, 0, 1}, {2, 0, 0x5e, 0, 0, 2}}

// NewMemPair starts two stacks at a.Addr and b.Addr (same subnet; each
// other's neighbour, so the first SYN needs no ARP) joined by an
// in-memory link. Iface, Queues, XDP and UMEM settings are ignored; CPUs
// (one entry) pins a stack's loop. Close stops both.
func NewMemPair(a, b Config) (*MemPair, error) {
	if !a.Addr.Contains(b.Addr.Addr()) || !b.Addr.Contains(a.Addr.Addr()) || a.Addr.Addr() == b.Addr.Addr() {
		return nil, fmt.Errorf("%w: %s and %s are not two addresses of one subnet", ErrBadAddress, a.Addr, b.Addr)
	}
	p := &MemPair{}
	p.ports[0], p.ports[1] = memlink.Pair(memlink.Config{})
	cfgs := [2]*Config{&a, &b}
	var stacks [2]*Stack
	for i, cfg := range cfgs {
		s, err := openMemStack(*cfg, memMACs[i], p.ports[i])
		if err != nil {
			if i == 1 {
				stacks[0].loops[0].engine.Close()
			}
			p.ports[0].Close()
			p.ports[1].Close()
			return nil, err
		}
		stacks[i] = s
	}
	p.A, p.B = stacks[0], stacks[1]
	p.A.loops[0].engine.SetNeighbor(flowtable.AddrFrom4(p.B.addr), memMACs[1])
	p.B.loops[0].engine.SetNeighbor(flowtable.AddrFrom4(p.A.addr), memMACs[0])
	var ctx context.Context
	ctx, p.cancel = context.WithCancel(context.Background())
	p.A.Start(ctx)
	p.B.Start(ctx)
	return p, nil
}

// openMemStack is a Stack with one loop over port and no XDP filter.
func openMemStack(cfg Config, mac [6]byte, port stack.Port) (*Stack, error) {
	cfg.setDefaults()
	if cfg.TCP == (TCPConfig{}) {
		cfg.TCP = tcp.DefaultConfig()
	}
	if err := cfg.TCP.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	a := cfg.Addr.Addr()
	if !cfg.Addr.IsValid() || !a.Is4() || a.IsUnspecified() {
		return nil, fmt.Errorf("%w: %q is not a unicast IPv4 address", ErrBadAddress, cfg.Addr)
	}
	if len(cfg.CPUs) > 1 {
		return nil, fmt.Errorf("%w: an in-memory stack has one loop, %d CPUs given", ErrBadConfig, len(cfg.CPUs))
	}
	s := &Stack{cfg: cfg, addr: a.As4(), clk: clock.NewMono(), filter: memFilter{}, ports: map[uint16]bool{}}
	l := &Loop{Queue: 0, CPU: -1, listeners: map[uint16]*tcp.Listener{}}
	if len(cfg.CPUs) == 1 {
		l.CPU = cfg.CPUs[0]
	}
	l.newEngine(stack.Config{
		Addr: s.addr, PrefixLen: cfg.Addr.Bits(), MAC: mac, MTU: 1500,
		BatchSize: cfg.BatchSize, BusyPoll: cfg.BusyPoll, TCP: cfg.TCP,
	}, port, s.clk)
	s.loops = []*Loop{l}
	return s, nil
}

// Close stops both stacks and releases the link.
func (p *MemPair) Close() error {
	p.cancel()
	errs := []error{p.A.Close(), p.B.Close()}
	for i, s := range []*Stack{p.A, p.B} {
		errs = append(errs, s.loops[0].engine.Close(), p.ports[i].Close())
	}
	return errors.Join(errs...)
}

// memFilter stands in for the XDP filter over an in-memory link: every
// frame on the link is the stack's.
type memFilter struct{}

func (memFilter) Mode() xsk.XDPMode                              { return 0 }
func (memFilter) Register(int, *xsk.Socket) error                { return nil }
func (memFilter) Unregister(int) error                           { return nil }
func (memFilter) AddAddr([4]byte) error                          { return nil }
func (memFilter) RemoveAddr([4]byte) error                       { return nil }
func (memFilter) AddPort([4]byte, uint16) error                  { return nil }
func (memFilter) RemovePort([4]byte, uint16) error               { return nil }
func (memFilter) SetClientPorts([4]byte, uint16, uint16) error   { return nil }
func (memFilter) WatchARP([4]byte) error                         { return nil }
func (memFilter) UnwatchARP([4]byte) error                       { return nil }
func (memFilter) AddAddr6([16]byte) error                        { return nil }
func (memFilter) AddPort6([16]byte, uint16) error                { return nil }
func (memFilter) RemovePort6([16]byte, uint16) error             { return nil }
func (memFilter) SetClientPorts6([16]byte, uint16, uint16) error { return nil }
func (memFilter) WatchND([16]byte) error                         { return nil }
func (memFilter) UnwatchND([16]byte) error                       { return nil }
func (memFilter) Close() error                                   { return nil }

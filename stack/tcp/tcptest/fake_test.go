package tcptest

import (
	"fmt"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// fakeDriver is a toy TCP, just enough to exercise the runner: passive
// open with SYN-ACK retransmission (1 s, doubling, tcp_synack_retries
// times), data and FIN from the peer, write and close, RST to closed ports.
type fakeDriver struct {
	cfg      *tcp.Config
	sink     Sink
	stats    tcp.Stats
	listen   map[uint16]bool
	conns    map[flowtable.Key]*fakeConn
	acceptQ  []flowtable.Key
	isnBase  uint32
	tsClock  uint32
	brokenTS bool // send TS val 0 always
	corrupt  bool // deliver the first byte of each segment off by one
}

type fakeConn struct {
	key      flowtable.Key
	state    string
	iss, snd uint32 // our ISN and next sequence number
	rcv      uint32 // next expected from the peer
	deadline clock.Time
	armed    bool
	rto      time.Duration
	retries  int
	accepted bool
}

func newFake(cfg *tcp.Config, sink Sink, now clock.Time) Driver {
	return &fakeDriver{cfg: cfg, sink: sink, listen: map[uint16]bool{}, conns: map[flowtable.Key]*fakeConn{}, isnBase: 1000}
}

func (d *fakeDriver) emit(k flowtable.Key, flags wire.TCPFlags, seq, ack uint32, payload []byte, opts wire.TCPOptions) {
	d.stats.OutSegs.Add(1)
	d.sink.SendTCP(&tcp.OutSegment{Key: k, Seq: seqnum.Value(seq), Ack: seqnum.Value(ack), Flags: flags, Window: 65535, Opts: opts, Payload: payload})
}

func (d *fakeDriver) synack(c *fakeConn) {
	d.emit(c.key, wire.FlagSYN|wire.FlagACK, c.iss, c.rcv, nil, wire.TCPOptions{HasMSS: true, MSS: 1460})
}

func (d *fakeDriver) Input(now clock.Time, seg *tcp.Segment) {
	d.stats.InSegs.Add(1)
	c := d.conns[seg.Key]
	if c == nil {
		if seg.Flags == wire.FlagSYN && d.listen[seg.Key.LocalPort] {
			c = &fakeConn{key: seg.Key, state: "SYN-RECEIVED", iss: d.isnBase, rcv: uint32(seg.Seq) + 1, rto: time.Second}
			c.snd = c.iss + 1
			d.isnBase += 1000
			d.conns[seg.Key] = c
			d.stats.PassiveOpens.Add(1)
			d.synack(c)
			c.deadline, c.armed = now.Add(c.rto), true
			return
		}
		if seg.Flags.Has(wire.FlagRST) {
			return
		}
		d.stats.OutRsts.Add(1)
		if seg.Flags.Has(wire.FlagACK) {
			d.emit(seg.Key, wire.FlagRST, uint32(seg.Ack), 0, nil, wire.TCPOptions{})
		} else {
			n := uint32(len(seg.Payload))
			if seg.Flags.Has(wire.FlagSYN) {
				n++
			}
			d.emit(seg.Key, wire.FlagRST|wire.FlagACK, 0, uint32(seg.Seq)+n, nil, wire.TCPOptions{})
		}
		return
	}
	switch c.state {
	case "SYN-RECEIVED":
		if seg.Flags.Has(wire.FlagACK) && uint32(seg.Ack) == c.snd {
			c.state, c.armed = "ESTABLISHED", false
			d.stats.CurrEstab.Add(1)
			d.acceptQ = append(d.acceptQ, c.key)
		}
	case "ESTABLISHED":
		if n := len(seg.Payload); n > 0 {
			c.rcv += uint32(n)
			if c.accepted {
				p := append([]byte(nil), seg.Payload...)
				if d.corrupt {
					p[0]++
				}
				d.sink.(interface{ Data(flowtable.Key, []byte) }).Data(c.key, p)
				d.sink.Event(now, c.key, "data", n, nil)
			}
		}
		if seg.Flags.Has(wire.FlagFIN) {
			c.rcv++
			c.state = "CLOSE-WAIT"
			d.sink.Event(now, c.key, "peerclose", 0, nil)
		}
		if len(seg.Payload) > 0 || seg.Flags.Has(wire.FlagFIN) {
			opts := wire.TCPOptions{}
			if seg.Opts.HasTimestamp {
				d.tsClock++
				opts = wire.TCPOptions{HasTimestamp: true, TSVal: d.tsClock, TSEcr: seg.Opts.TSVal}
				if d.brokenTS {
					opts.TSVal = 0
				}
			}
			d.emit(c.key, wire.FlagACK, c.snd, c.rcv, nil, opts)
		}
	case "LAST-ACK":
		if seg.Flags.Has(wire.FlagACK) && uint32(seg.Ack) == c.snd {
			delete(d.conns, c.key)
			d.stats.CurrEstab.Add(^uint64(0))
			d.sink.Event(now, c.key, "close", 0, nil)
		}
	}
}

func (d *fakeDriver) Advance(now clock.Time) {
	for _, c := range d.conns {
		if !c.armed || c.deadline > now {
			continue
		}
		c.armed = false
		if c.state != "SYN-RECEIVED" {
			continue
		}
		if c.retries == d.cfg.SynackRetries {
			delete(d.conns, c.key)
			continue
		}
		c.retries++
		c.rto *= 2
		d.stats.TCPSynRetrans.Add(1)
		d.synack(c)
		c.deadline, c.armed = now.Add(c.rto), true
	}
}

func (d *fakeDriver) NextDeadline() (clock.Time, bool) {
	var t clock.Time
	ok := false
	for _, c := range d.conns {
		if c.armed && (!ok || c.deadline < t) {
			t, ok = c.deadline, true
		}
	}
	return t, ok
}

func (d *fakeDriver) Stats() *tcp.Stats { return &d.stats }

func (d *fakeDriver) Listen(now clock.Time, local flowtable.Addr, port uint16, backlog int, auto bool) error {
	if d.listen[port] {
		return tcp.ErrAddrInUse
	}
	d.listen[port] = true
	return nil
}

func (d *fakeDriver) Dial(now clock.Time, local, remote flowtable.Addr, port uint16) (flowtable.Key, error) {
	return flowtable.Key{}, fmt.Errorf("fake: no dial")
}

func (d *fakeDriver) Accept(now clock.Time, port uint16) (flowtable.Key, bool) {
	for i, k := range d.acceptQ {
		if k.LocalPort == port {
			d.acceptQ = append(d.acceptQ[:i], d.acceptQ[i+1:]...)
			if c := d.conns[k]; c != nil {
				c.accepted = true
				d.sink.Event(now, k, "open", 0, nil)
			}
			return k, true
		}
	}
	return flowtable.Key{}, false
}

func (d *fakeDriver) Do(now clock.Time, k flowtable.Key, cmd string, arg int64) error {
	c := d.conns[k]
	if c == nil {
		return fmt.Errorf("fake: no connection")
	}
	switch cmd {
	case "write":
		d.emit(k, wire.FlagPSH|wire.FlagACK, c.snd, c.rcv, make([]byte, arg), wire.TCPOptions{})
		c.snd += uint32(arg)
	case "close":
		if c.state == "CLOSE-WAIT" {
			d.emit(k, wire.FlagFIN|wire.FlagACK, c.snd, c.rcv, nil, wire.TCPOptions{})
			c.snd++
			c.state = "LAST-ACK"
		}
	default:
		return fmt.Errorf("fake: %s not supported", cmd)
	}
	return nil
}

func (d *fakeDriver) State(k flowtable.Key) (string, bool) {
	c := d.conns[k]
	if c == nil {
		return "", false
	}
	return c.state, true
}

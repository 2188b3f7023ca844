package tcptest

import (
	"fmt"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/syncookie"
)

const flagSYN = wire.FlagSYN

// cookieJar is the SYN cookie jar of every script listener.
var cookieJar = syncookie.NewWithSecrets([16]byte{1}, [16]byte{2})

// layerDriver drives the real tcp.Layer through its public API.
type layerDriver struct {
	l         *tcp.Layer
	sink      Sink
	listeners map[uint16]*tcp.Listener
	conns     map[flowtable.Key]*tcp.Conn // dialled or accepted by the script
	rec       *recorder                   // the Handler of every connection
}

func newLayerDriver(cfg *tcp.Config, sink Sink, now clock.Time) *layerDriver {
	return &layerDriver{
		l:         tcp.NewLayer(cfg, sink, now),
		sink:      sink,
		listeners: map[uint16]*tcp.Listener{},
		conns:     map[flowtable.Key]*tcp.Conn{},
		rec:       &recorder{sink: sink},
	}
}

// LayerDriver is the DriverFactory of the real tcp.Layer (what New uses).
func LayerDriver(cfg *tcp.Config, sink Sink, now clock.Time) Driver {
	return newLayerDriver(cfg, sink, now)
}

func (d *layerDriver) Input(now clock.Time, seg *tcp.Segment) { d.l.Input(now, seg) }
func (d *layerDriver) Advance(now clock.Time)                 { d.l.Advance(now) }
func (d *layerDriver) NextDeadline() (clock.Time, bool)       { return d.l.NextDeadline() }
func (d *layerDriver) Stats() *tcp.Stats                      { return d.l.Stats() }

func (d *layerDriver) Listen(now clock.Time, local flowtable.Addr, port uint16, backlog int, auto bool) error {
	o := tcp.ListenOptions{Backlog: backlog}
	if auto {
		o.NewHandler = func(c *tcp.Conn) tcp.Handler {
			d.conns[c.Key()] = c
			return d.rec
		}
	}
	ln, err := d.l.Listen(local, port, o)
	if err != nil {
		return err
	}
	// SYN cookies are available as in Linux; whether they are used
	// follows tcp_syncookies. Fixed secrets keep scripts repeatable.
	ln.Cookies = cookieJar
	d.listeners[port] = ln
	return nil
}

func (d *layerDriver) Dial(now clock.Time, local, remote flowtable.Addr, port uint16) (flowtable.Key, error) {
	c, err := d.l.Dial(now, local, remote, port, d.rec)
	if err != nil {
		return flowtable.Key{}, err
	}
	if c == nil {
		return flowtable.Key{}, fmt.Errorf("Dial returned no connection and no error")
	}
	d.conns[c.Key()] = c
	return c.Key(), nil
}

func (d *layerDriver) Accept(now clock.Time, port uint16) (flowtable.Key, bool) {
	ln := d.listeners[port]
	if ln == nil {
		return flowtable.Key{}, false
	}
	c, ok := ln.Accept()
	if !ok || c == nil {
		return flowtable.Key{}, false
	}
	d.conns[c.Key()] = c
	c.SetHandler(d.rec)
	return c.Key(), true
}

func (d *layerDriver) conn(k flowtable.Key) *tcp.Conn {
	if c := d.conns[k]; c != nil {
		return c
	}
	var found *tcp.Conn
	d.l.Range(func(c *tcp.Conn) bool {
		if c.Key() == k {
			found = c
			return false
		}
		return true
	})
	return found
}

func (d *layerDriver) Do(now clock.Time, k flowtable.Key, cmd string, arg int64) error {
	c := d.conn(k)
	if c == nil {
		return fmt.Errorf("%s: no connection on %v (accept or dial it first)", cmd, k)
	}
	switch cmd {
	case "write":
		p := make([]byte, arg)
		for i := range p {
			p[i] = byte('A' + i%26)
		}
		if n := c.Write(p); n != len(p) {
			return fmt.Errorf("write %d: the connection took %d bytes", arg, n)
		}
	case "close":
		c.Close()
	case "closewrite":
		c.CloseWrite()
	case "abort":
		c.Abort()
	case "linger":
		c.SetLinger(int(arg))
	case "keepalive":
		c.SetKeepAlive(arg != 0)
	case "keepalive-period":
		c.SetKeepAlivePeriod(time.Duration(arg))
	case "nodelay":
		c.SetNoDelay(arg != 0)
	case "hold":
		d.rec.hold = arg != 0
	case "pauseread":
		c.PauseRead()
	case "resumeread":
		c.ResumeRead()
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func (d *layerDriver) State(k flowtable.Key) (string, bool) {
	var found *tcp.Conn
	d.l.Range(func(c *tcp.Conn) bool {
		if c.Key() == k {
			found = c
			return false
		}
		return true
	})
	if found == nil {
		// TIME-WAIT entries may live outside the connection table; a
		// connection the script holds still answers.
		if c := d.conns[k]; c != nil && c.State() != tcp.StateClosed {
			found = c
		}
	}
	if found == nil {
		return "", false
	}
	return stateName(found.State()), true
}

// stateName prints a state with its String method if it has one.
func stateName(s tcp.State) string {
	if st, ok := any(s).(fmt.Stringer); ok {
		return st.String()
	}
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// recorder is the tcp.Handler of every script connection: it reports
// events and consumes all data offered, or none while hold is on (then the
// data stays in the receive buffer and no data event is recorded). In
// scripts, the bytes consumed are checked against what the peer sent.
type recorder struct {
	sink Sink
	hold bool
}

func (r *recorder) OnOpen(c *tcp.Conn) { r.sink.Event(0, c.Key(), "open", 0, nil) }
func (r *recorder) OnData(c *tcp.Conn, data []byte) int {
	if r.hold {
		return 0
	}
	if ds, ok := r.sink.(interface{ Data(flowtable.Key, []byte) }); ok {
		ds.Data(c.Key(), data)
	}
	r.sink.Event(0, c.Key(), "data", len(data), nil)
	return len(data)
}
func (r *recorder) OnWritable(c *tcp.Conn)         { r.sink.Event(0, c.Key(), "writable", 0, nil) }
func (r *recorder) OnPeerClose(c *tcp.Conn)        { r.sink.Event(0, c.Key(), "peerclose", 0, nil) }
func (r *recorder) OnClose(c *tcp.Conn, err error) { r.sink.Event(0, c.Key(), "close", 0, err) }

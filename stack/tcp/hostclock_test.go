package tcp

import (
	"math/rand"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// The offset is per 4-tuple (Linux net/core/secure_seq.c): it changes
// with either port, either address and the key, and is shifted by the
// clock's base.
func TestTSOffsetPerConnection(t *testing.T) {
	cfg := DefaultConfig()
	l := NewLayer(&cfg, nil, 0)
	l.SetHostClock(HostClock{TSKey: [16]byte{1}})
	k := flowtable.Key{LocalAddr: ourAddr, RemoteAddr: peerAddr, LocalPort: 80, RemotePort: 40000}
	off := l.tsOffsetFor(k)
	for _, other := range []flowtable.Key{
		{LocalAddr: ourAddr, RemoteAddr: peerAddr, LocalPort: 81, RemotePort: 40000},
		{LocalAddr: ourAddr, RemoteAddr: peerAddr, LocalPort: 80, RemotePort: 40001},
		{LocalAddr: ourAddr, RemoteAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 99}), LocalPort: 80, RemotePort: 40000},
	} {
		if l.tsOffsetFor(other) == off {
			t.Fatalf("offset of %v is that of %v", other, k)
		}
	}
	if l.tsOffsetFor(k) != off {
		t.Fatal("offset not stable")
	}
	l.SetHostClock(HostClock{TSKey: [16]byte{2}})
	if l.tsOffsetFor(k) == off {
		t.Fatal("offset does not depend on the key")
	}
	l.SetHostClock(HostClock{TSKey: [16]byte{1}, Base: clock.Time(time.Second)})
	if l.tsOffsetFor(k) != off+1000 {
		t.Fatal("base not added")
	}
}

// closeOnPeerClose answers the peer's FIN with its own.
type closeOnPeerClose struct{ opened, closed bool }

func (h *closeOnPeerClose) OnOpen(c *Conn)               { h.opened = true }
func (h *closeOnPeerClose) OnData(c *Conn, p []byte) int { return len(p) }
func (h *closeOnPeerClose) OnWritable(c *Conn)           {}
func (h *closeOnPeerClose) OnPeerClose(c *Conn)          { c.CloseWrite() }
func (h *closeOnPeerClose) OnClose(c *Conn, err error)   { h.closed = true }

// closeFirst sends one byte and closes as soon as it opens.
type closeFirst struct{ closeOnPeerClose }

func (h *closeFirst) OnOpen(c *Conn) { c.Write([]byte("x")); c.CloseWrite() }

// A client process that restarts and reuses a 4-tuple the server still
// holds in TIME-WAIT (the server closed first), with timestamps and
// without. With the host's secrets (the same in both processes) and the
// clocks placed on the host's, the new SYN's timestamp is newer and its
// sequence number higher than the old connection's, and the server
// reopens the slot at once (RFC 6191). With other secrets they can start
// behind: the SYN is taken for an old duplicate and ACKed, the client
// resets that ACK (RFC 9293 §3.10.7.3), which ends the TIME-WAIT entry
// (tcp_rfc1337=0), and the SYN retransmitted after the initial RTO (1 s)
// opens the connection.
func TestRestartedClientReopensTimeWait(t *testing.T) {
	hostSecrets := HostClock{ISNKey: [16]byte{7}, TSKey: [16]byte{8}}
	k := flowtable.Key{LocalAddr: peerAddr, RemoteAddr: ourAddr, LocalPort: 40000, RemotePort: 80}
	for _, ts := range []bool{true, false} {
		for _, same := range []bool{true, false} {
			lk := &link{delay: time.Millisecond, rng: rand.New(rand.NewSource(1))}
			cfg := DefaultConfig()
			cfg.LocalPortRange = [2]uint16{40000, 40000}
			cfg.Timestamps = ts
			var srv, cli *Layer
			srv = NewLayer(&cfg, linkEnd{lk, &cli}, 0)
			cli = NewLayer(&cfg, linkEnd{lk, &srv}, 0)
			lk.a, lk.b = srv, cli
			// The test's layer clocks are the host's: base 0.
			srv.SetHostClock(HostClock{ISNKey: [16]byte{1}, TSKey: [16]byte{2}})
			cli.SetHostClock(hostSecrets)
			if _, err := srv.Listen(ourAddr, 80, ListenOptions{NewHandler: func(*Conn) Handler { return &closeFirst{} }}); err != nil {
				t.Fatal(err)
			}
			first := &closeOnPeerClose{}
			if _, err := cli.Dial(lk.now, peerAddr, ourAddr, 80, first); err != nil {
				t.Fatal(err)
			}
			lk.run(t, 10*time.Second, func() bool { return first.closed && srv.TimeWaits() == 1 })
			lk.now = lk.now.Add(5 * time.Second)
			srv.Advance(lk.now)

			// The client process restarts.
			next := hostSecrets
			if !same {
				// Secrets that put the new timestamps and sequence
				// numbers well behind the old ones.
				for next.ISNKey[15], next.TSKey[15] = 1, 1; ; next.ISNKey[15], next.TSKey[15] = next.ISNKey[15]+1, next.TSKey[15]+1 {
					probe := NewLayer(&cfg, nil, 0)
					probe.SetHostClock(next)
					dts := int32(probe.tsOffsetFor(k) - cli.tsOffsetFor(k))
					dseq := int32(probe.isn(lk.now, k) - cli.isn(lk.now, k))
					if dts < -100_000 && dts > -1<<30 && dseq < -1<<24 && dseq > -1<<30 {
						break
					}
				}
			}
			cli = NewLayer(&cfg, linkEnd{lk, &srv}, lk.now)
			cli.SetHostClock(next)
			lk.b = cli
			second := &closeOnPeerClose{}
			start := lk.now
			if _, err := cli.Dial(lk.now, peerAddr, ourAddr, 80, second); err != nil {
				t.Fatal(err)
			}
			lk.run(t, 5*time.Second, func() bool { return second.opened })
			took := lk.now.Sub(start)
			if same && took > 10*time.Millisecond {
				t.Fatalf("timestamps %v, host secrets: reopen took %v, want one round trip", ts, took)
			}
			if !same && (took < time.Second || took > 1100*time.Millisecond) {
				t.Fatalf("timestamps %v, other secrets: reopen took %v, want the SYN retransmission at 1 s", ts, took)
			}
		}
	}
}

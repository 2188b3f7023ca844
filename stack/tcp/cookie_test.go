package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/syncookie"
)

// fakeJar is a CookieJar whose cookie is the client ISN + 7777.
type fakeJar struct{}

func (fakeJar) Make(now clock.Time, k flowtable.Key, isn seqnum.Value, mss uint16) (seqnum.Value, uint16) {
	return isn + 7777, 1460
}
func (fakeJar) Check(now clock.Time, k flowtable.Key, isn, cookie seqnum.Value) (uint16, bool) {
	return 1460, cookie == isn+7777
}

// With the SYN queue full and a cookie jar, a SYN gets a cookie SYN-ACK
// and the completing ACK creates the connection.
func TestListenSynCookieWhenSynQueueFull(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSynBacklog = 1 })
	h.listen()
	h.ln.Cookies = fakeJar{}
	h.key.RemotePort = 1
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(ourISN))
	h.key = testKey
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(peerISN+7777), ackNum(peerISN+1), mss(1460))
	if h.l.conns.Get(testKey) != nil {
		t.Fatal("state kept for a cookie SYN")
	}
	h.send(ACK|PSH, peerISN+1, peerISN+7778, withData([]byte("hi")))
	h.state(StateEstablished)
	if string(h.rec.data) != "hi" {
		t.Fatalf("data %q", h.rec.data)
	}
	h.expect(flags(ACK), ackNum(peerISN+3))
	st := h.l.Stats()
	if st.SyncookiesSent.Load() != 1 || st.SyncookiesRecv.Load() != 1 || st.TCPReqQFullDoCookies.Load() != 1 {
		t.Fatal("cookie counters")
	}
	// A bad cookie gets a RST.
	h.key.RemotePort = 2
	h.send(ACK, peerISN+1, 12345)
	h.expect(flags(RST), seqNum(12345))
	if st.SyncookiesFailed.Load() != 1 {
		t.Fatal("SyncookiesFailed")
	}
}

func TestCurrEstabGauge(t *testing.T) {
	h := establishedConn(t)
	if h.l.Stats().CurrEstab.Load() != 1 {
		t.Fatal("CurrEstab after open")
	}
	h.c.Close()
	if h.l.Stats().CurrEstab.Load() != 0 {
		t.Fatal("CurrEstab after close")
	}
}

// syncookie.Jar is the CookieJar the daemon plugs in.
var _ CookieJar = (*syncookie.Jar)(nil)

// tcp_syncookies=2: every SYN gets a cookie, no half-open state.
func TestSyncookiesAlways(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Syncookies = 2 })
	ln, err := h.l.Listen(ourAddr, ourPort, ListenOptions{Cookies: fakeJar{}, NewHandler: func(c *Conn) Handler { h.c = c; return h.rec }})
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	h.send(SYN, peerISN, 0, withMSS(1460))
	h.expect(flags(SYN|ACK), seqNum(peerISN+7777))
	if h.l.Conns() != 0 || ln.SynQueueLen() != 0 {
		t.Fatal("state kept")
	}
	h.send(ACK, peerISN+1, peerISN+7778)
	h.state(StateEstablished)
}

// Listener.Close resets queued connections and drops half-open ones;
// new SYNs then get a RST.
func TestListenerClose(t *testing.T) {
	h := newHarness(t)
	listenQueue(h, 8)
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.key.RemotePort = 2
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.ln.Close()
	h.expect(flags(RST|ACK), seqNum(ourISN+1))
	if h.l.Conns() != 0 {
		t.Fatalf("%d connections left", h.l.Conns())
	}
	h.send(SYN, peerISN+10, 0)
	h.expect(flags(RST|ACK), ackNum(peerISN+11))
}

// A queued connection reset by the peer leaves the accept queue.
func TestAcceptQueueResetLeaves(t *testing.T) {
	h := newHarness(t)
	listenQueue(h, 8)
	h.send(SYN, peerISN, 0)
	h.expect(flags(SYN | ACK))
	h.send(ACK, peerISN+1, ourISN+1)
	h.send(RST, peerISN+1, 0)
	if h.ln.AcceptQueueLen() != 0 || h.l.Conns() != 0 {
		t.Fatal("reset connection still queued")
	}
}

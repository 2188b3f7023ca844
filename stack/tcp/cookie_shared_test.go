package tcp

import (
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/syncookie"
)

// clusterHost is one host of a cluster sharing cookie keys: its loop clock
// started at boot (wall time); syncookies is its tcp_syncookies.
func clusterHost(t *testing.T, keys []syncookie.Key, boot, wall time.Time, syncookies int) *harness {
	t.Helper()
	jar, err := syncookie.NewShared(keys, boot)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Syncookies = syncookies })
	ln, err := h.l.Listen(ourAddr, ourPort, ListenOptions{Cookies: jar, NewHandler: func(c *Conn) Handler { h.c = c; return h.rec }})
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	h.now = clock.Time(wall.Sub(boot))
	return h
}

// A handshake whose SYN-ACK one host sent completes on another host with
// the same cookie keys (the router moved the flow between the SYN and the
// ACK), even though that host sent no cookie itself (tcp_syncookies=1, its
// SYN queue never full): the MSS and the options ride in the cookie and the
// timestamp, and the second host's timestamps continue from the TSval the
// client echoes, so the client's PAWS check accepts them.
func TestCookieHandshakeAcrossHosts(t *testing.T) {
	var key syncookie.Key
	for i := range key {
		key[i] = byte(i*7 + 1)
	}
	keys := []syncookie.Key{key}
	wall := time.Unix(1_800_000_000, 0)
	a := clusterHost(t, keys, wall.Add(-48*time.Hour), wall, 2)                         // up two days: a large timestamp clock
	b := clusterHost(t, keys, wall.Add(-30*time.Second), wall.Add(time.Millisecond), 1) // just started

	a.send(SYN, peerISN, 0, withMSS(1440), withTS(5000, 0), withWS(7), withSACKOK())
	sa := a.expect(flags(SYN|ACK), ackNum(peerISN+1))
	if a.l.Conns() != 0 {
		t.Fatal("the cookie SYN-ACK kept state")
	}

	b.send(ACK, peerISN+1, sa.seg.Seq+1, withTS(5001, sa.seg.Opts.TSVal))
	b.state(StateEstablished)
	c := b.c
	if c.flags&fCookie == 0 || c.mss != 1440 || c.flags&fSackOK == 0 || c.sndShift != 7 {
		t.Fatalf("rebuilt connection: cookie=%v mss=%d sack=%v sndShift=%d", c.flags&fCookie != 0, c.mss, c.flags&fSackOK != 0, c.sndShift)
	}
	if c.Write([]byte("hello")) != 5 {
		t.Fatal("write refused")
	}
	d := b.expect(payloadLen(5))
	if int32(d.seg.Opts.TSVal-sa.seg.Opts.TSVal) < 0 {
		t.Fatalf("host B's TSval %d is behind host A's SYN-ACK TSval %d: the client's PAWS would drop it", d.seg.Opts.TSVal, sa.seg.Opts.TSVal)
	}
	if got := b.l.stats.SyncookiesRecv.Load(); got != 1 {
		t.Fatalf("SyncookiesRecv = %d, want 1", got)
	}

	// A host with its own (unshared) secrets sends a RST for the same ACK,
	// as a Linux host does for an ACK that matches nothing.
	other := cookieHarness(t, func(c *Config) { c.Syncookies = 1 })
	other.send(ACK, peerISN+1, sa.seg.Seq+1, withTS(5001, sa.seg.Opts.TSVal))
	other.expect(flags(RST))
}

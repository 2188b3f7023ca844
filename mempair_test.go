package xdptcp

import (
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

type testEcho struct{ testNop }

func (testEcho) OnData(c *tcp.Conn, b []byte) int { return c.Write(b) }

type testNop struct{}

func (testNop) OnOpen(*tcp.Conn)             {}
func (testNop) OnData(*tcp.Conn, []byte) int { return 0 }
func (testNop) OnWritable(*tcp.Conn)         {}
func (testNop) OnPeerClose(c *tcp.Conn)      { c.Close() }
func (testNop) OnClose(*tcp.Conn, error)     {}

// testClient sends "ping" on open and reports what comes back.
type testClient struct {
	testNop
	got    []byte
	result chan []byte
}

func (h *testClient) OnOpen(c *tcp.Conn) { c.Write([]byte("ping")) }
func (h *testClient) OnData(c *tcp.Conn, b []byte) int {
	h.got = append(h.got, b...)
	if len(h.got) >= 4 {
		h.result <- h.got
		c.Close()
	}
	return len(b)
}

// TestMemPairDialHandler: an event-API client (DialHandler) and a
// net.Conn client (Dial) reach an event-API server and a Listener on the
// other stack of a MemPair.
func TestMemPairDialHandler(t *testing.T) {
	p, err := NewMemPair(Config{Addr: netip.MustParsePrefix("198.18.0.1/24")}, Config{Addr: netip.MustParsePrefix("198.18.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.B.Serve(7, ServeOptions{}, func(*tcp.Conn) tcp.Handler { return testEcho{} }); err != nil {
		t.Fatal(err)
	}
	h := &testClient{result: make(chan []byte, 1)}
	if err := p.A.DialHandler("198.18.0.2:7", h); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-h.result:
		if string(got) != "ping" {
			t.Errorf("echo %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no echo through DialHandler")
	}

	ln, err := p.B.Listen("tcp4", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := p.A.Dial("tcp4", "198.18.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("pong"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Errorf("echo %q, %v", buf, err)
	}
	c.Close()

	if err := p.A.DialHandler("example.com:80", h); !errors.Is(err, ErrBadAddress) {
		t.Errorf("DialHandler with a host name: %v, want ErrBadAddress", err)
	}
	if _, err := NewMemPair(Config{Addr: netip.MustParsePrefix("198.18.0.1/24")}, Config{Addr: netip.MustParsePrefix("198.18.1.2/24")}); !errors.Is(err, ErrBadAddress) {
		t.Errorf("two subnets: %v, want ErrBadAddress", err)
	}
}

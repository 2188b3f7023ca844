package main

import (
	"bytes"
	"strings"
	"testing"
)

// fakeConn takes at most room bytes per Write and records what it got.
type fakeConn struct {
	out     bytes.Buffer
	room    int
	closed  bool
	resumed int
	paused  bool
}

func (f *fakeConn) Write(p []byte) int {
	n := min(len(p), f.room)
	f.out.Write(p[:n])
	f.room -= n
	return n
}
func (f *fakeConn) Close()      { f.closed = true }
func (f *fakeConn) PauseRead()  { f.paused = true }
func (f *fakeConn) ResumeRead() { f.resumed++; f.paused = false }

func TestHTTPKeepAliveAndPipelining(t *testing.T) {
	c := &fakeConn{room: 1 << 20}
	h := &httpHandler{}
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	in := []byte(req + req + req)
	if n := h.data(c, in); n != len(in) {
		t.Fatalf("consumed %d of %d", n, len(in))
	}
	if got := strings.Count(c.out.String(), "Hello, World!"); got != 3 {
		t.Fatalf("%d responses, want 3:\n%s", got, c.out.String())
	}
	if c.closed {
		t.Fatal("closed a keep-alive connection")
	}
}

func TestHTTPConnectionClose(t *testing.T) {
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	} {
		c := &fakeConn{room: 1 << 20}
		h := &httpHandler{}
		h.data(c, []byte(req))
		if !c.closed || !bytes.Equal(c.out.Bytes(), respClose) {
			t.Errorf("%q: closed=%v out=%q", req, c.closed, c.out.String())
		}
	}
	c := &fakeConn{room: 1 << 20}
	(&httpHandler{}).data(c, []byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	if c.closed {
		t.Error("HTTP/1.0 keep-alive closed")
	}
}

func TestHTTPSplitHeaderEveryBoundary(t *testing.T) {
	req := []byte("POST /x HTTP/1.1\r\nHost: y\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n")
	for cut := 1; cut < len(req); cut++ {
		c := &fakeConn{room: 1 << 20}
		h := &httpHandler{}
		n1 := h.data(c, req[:cut])
		n2 := h.data(c, req[cut:])
		if n1 != cut || n2 != len(req)-cut {
			t.Fatalf("cut %d: consumed %d+%d", cut, n1, n2)
		}
		if got := strings.Count(c.out.String(), "Hello, World!"); got != 2 {
			t.Fatalf("cut %d: %d responses", cut, got)
		}
	}
}

func TestHTTPBackpressure(t *testing.T) {
	c := &fakeConn{room: 10}
	h := &httpHandler{}
	req := []byte("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
	n := h.data(c, req)
	if n != len(req)/2 {
		t.Fatalf("consumed %d, want the first request only (%d)", n, len(req)/2)
	}
	if h.data(c, req[n:]) != 0 {
		t.Fatal("took a request while a response is pending")
	}
	c.room = 1 << 20
	h.writable(c)
	if c.resumed != 1 || !bytes.Equal(c.out.Bytes(), respKeepAlive) {
		t.Fatalf("resumed=%d out=%q", c.resumed, c.out.String())
	}
	if h.data(c, req[n:]) != len(req)-n || strings.Count(c.out.String(), "Hello") != 2 {
		t.Fatal("second request not answered after resume")
	}
}

func TestHTTPBadAndOversized(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"garbage\r\n\r\n", respBad},
		{"GET / HTTP/2.0\r\n\r\n", respBad},
		{"GET / HTTP/1.1\r\nContent-Length: x1\r\n\r\n", respBad},
		{"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", respNotImpl},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeader) + "\r\n\r\n", respTooLarge},
	} {
		c := &fakeConn{room: 1 << 20}
		h := &httpHandler{}
		if n := h.data(c, []byte(tc.in)); n != len(tc.in) {
			t.Errorf("%.30q: consumed %d", tc.in, n)
		}
		if !bytes.Equal(c.out.Bytes(), tc.want) || !c.closed {
			t.Errorf("%.30q: out=%q closed=%v", tc.in, c.out.String(), c.closed)
		}
	}
}

func TestHTTPNoAllocs(t *testing.T) {
	c := &fakeConn{}
	h := &httpHandler{}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	allocs := testing.AllocsPerRun(1000, func() {
		c.room = 1 << 20
		c.out.Reset()
		h.data(c, req)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per request", allocs)
	}
}

func TestEchoBackpressure(t *testing.T) {
	c := &fakeConn{room: 3}
	h := &echoHandler{}
	if n := h.data(c, []byte("abcdef")); n != 3 {
		t.Fatalf("consumed %d", n)
	}
	c.room = 10
	h.writable(c)
	if c.resumed != 1 {
		t.Fatal("not resumed")
	}
	h.writable(c)
	if c.resumed != 1 {
		t.Fatal("resumed twice")
	}
}

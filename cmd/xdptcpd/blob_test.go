package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// readBlobResponses parses the responses in out.
func readBlobResponses(t *testing.T, out []byte) []*http.Response {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	var rs []*http.Response
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return rs
		}
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", len(rs), err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rs = append(rs, r)
	}
}

func bodyOf(r *http.Response) []byte { b, _ := io.ReadAll(r.Body); return b }

func TestBlobCloseWithSmallSendBuffer(t *testing.T) {
	c := &fakeConn{room: 1000}
	h := &blobHandler{}
	req := []byte("GET /200KiB HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if n := h.data(c, req); n != len(req) {
		t.Fatalf("consumed %d of %d", n, len(req))
	}
	for i := 0; !c.closed && i < 10000; i++ {
		c.room = 1000 // the peer acknowledged: OnWritable
		h.pump(c)
	}
	rs := readBlobResponses(t, c.out.Bytes())
	if len(rs) != 1 || rs[0].StatusCode != 200 || !rs[0].Close || !bytes.Equal(bodyOf(rs[0]), blobBody(200<<10)) {
		t.Fatalf("got %d responses, first %+v", len(rs), rs)
	}
}

func TestBlobPipelinedKeepAlive(t *testing.T) {
	c := &fakeConn{room: 1 << 20}
	h := &blobHandler{}
	in := []byte("GET /10 HTTP/1.1\r\nHost: x\r\n\r\nGET /70000 HTTP/1.1\r\nHost: x\r\n\r\n")
	if n := h.data(c, in); n != len(in) {
		t.Fatalf("consumed %d of %d", n, len(in))
	}
	rs := readBlobResponses(t, c.out.Bytes())
	if len(rs) != 2 || !bytes.Equal(bodyOf(rs[0]), blobBody(10)) || !bytes.Equal(bodyOf(rs[1]), blobBody(70000)) || c.closed {
		t.Fatalf("got %d responses, closed %v", len(rs), c.closed)
	}
}

// A second request waits while the first response is still being written.
func TestBlobWaitsForResponse(t *testing.T) {
	c := &fakeConn{room: 100}
	h := &blobHandler{}
	req := "GET /5000 HTTP/1.1\r\nHost: x\r\n\r\n"
	in := []byte(req + req)
	n := h.data(c, in)
	if n != len(req) || !c.paused {
		t.Fatalf("consumed %d (want %d), paused %v", n, len(req), c.paused)
	}
	for i := 0; c.paused && i < 1000; i++ {
		c.room = 100
		h.pump(c)
	}
	if c.paused || c.resumed == 0 {
		t.Fatal("not resumed after the response")
	}
	c.room = 1 << 20
	if n := h.data(c, in[len(req):]); n != len(req) {
		t.Fatalf("second request: consumed %d", n)
	}
	rs := readBlobResponses(t, c.out.Bytes())
	if len(rs) != 2 || !bytes.Equal(bodyOf(rs[1]), blobBody(5000)) {
		t.Fatalf("got %d responses", len(rs))
	}
}

func TestBlobSplitHeaderAndErrors(t *testing.T) {
	c := &fakeConn{room: 1 << 20}
	h := &blobHandler{}
	req := "GET /1KiB HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := 0; i < len(req); i++ {
		if n := h.data(c, []byte(req[i:i+1])); n != 1 {
			t.Fatalf("byte %d: consumed %d", i, n)
		}
	}
	rs := readBlobResponses(t, c.out.Bytes())
	if len(rs) != 1 || !bytes.Equal(bodyOf(rs[0]), blobBody(1024)) {
		t.Fatalf("split header: %d responses", len(rs))
	}
	for _, bad := range []string{"GET /lots HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "GET /2GiB HTTP/1.1\r\n\r\n", "nonsense\r\n\r\n",
		"GET /" + strings.Repeat("9", 10000) + " HTTP/1.1\r\n\r\n"} {
		c := &fakeConn{room: 1 << 20}
		h := &blobHandler{}
		h.data(c, []byte(bad))
		if !strings.HasPrefix(c.out.String(), "HTTP/1.1 404") || !c.closed {
			t.Errorf("%.30q: got %.40q, closed %v", bad, c.out.String(), c.closed)
		}
	}
}

// discardConn takes every byte and keeps none.
type discardConn struct{}

func (discardConn) Write(p []byte) int { return len(p) }
func (discardConn) Close()             {}
func (discardConn) PauseRead()         {}
func (discardConn) ResumeRead()        {}

func TestBlobNoAllocs(t *testing.T) {
	h := &blobHandler{}
	req := []byte("GET /64KiB HTTP/1.1\r\nHost: x\r\n\r\n")
	h.data(discardConn{}, req) // grows partial once
	if a := testing.AllocsPerRun(100, func() { h.data(discardConn{}, req) }); a != 0 {
		t.Fatalf("%v allocations per request", a)
	}
}

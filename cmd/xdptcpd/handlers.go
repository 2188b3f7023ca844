package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The built-in handlers run on the loop that owns the connection, through
// the event API: no goroutine per connection, data handed over as slices
// valid for the call.

// connIO is what a handler needs of a connection; *tcp.Conn has it, and
// tests use a fake.
type connIO interface {
	Write(p []byte) int
	Close()
	PauseRead()
	ResumeRead()
}

// handlerNames lists the built-in handlers for --listen PORT=HANDLER.
var handlerNames = []string{"http", "echo", "discard", "proxy:BACKEND[,BACKEND...]"}

// newHandlerFunc returns the handler constructor for a --listen value.
func newHandlerFunc(name string) (func(c *tcp.Conn) tcp.Handler, error) {
	switch name {
	case "http":
		return func(*tcp.Conn) tcp.Handler { return &httpHandler{} }, nil
	case "echo":
		return func(*tcp.Conn) tcp.Handler { return &echoHandler{} }, nil
	case "discard":
		return func(*tcp.Conn) tcp.Handler { return &discardHandler{} }, nil
	}
	if spec, ok := strings.CutPrefix(name, "proxy:"); ok {
		return newProxyHandler(spec)
	}
	return nil, fmt.Errorf("unknown handler %q (have %s)", name, strings.Join(handlerNames, ", "))
}

// echoHandler sends back every byte. When the send buffer is full it
// leaves the rest in the receive buffer (the advertised window closes: the
// peer is pushed back) and resumes when the buffer drains.
type echoHandler struct{ blocked bool }

func (h *echoHandler) OnOpen(c *tcp.Conn)                  {}
func (h *echoHandler) OnData(c *tcp.Conn, data []byte) int { return h.data(c, data) }
func (h *echoHandler) OnWritable(c *tcp.Conn)              { h.writable(c) }
func (h *echoHandler) OnPeerClose(c *tcp.Conn)             { c.Close() }
func (h *echoHandler) OnClose(c *tcp.Conn, err error)      {}

func (h *echoHandler) data(c connIO, data []byte) int {
	n := c.Write(data)
	if n < len(data) {
		h.blocked = true
		c.PauseRead()
	}
	return n
}

func (h *echoHandler) writable(c connIO) {
	if h.blocked {
		h.blocked = false
		c.ResumeRead()
	}
}

// discardHandler reads and drops everything.
type discardHandler struct{}

func (discardHandler) OnOpen(c *tcp.Conn)                  {}
func (discardHandler) OnData(c *tcp.Conn, data []byte) int { return len(data) }
func (discardHandler) OnWritable(c *tcp.Conn)              {}
func (discardHandler) OnPeerClose(c *tcp.Conn)             { c.Close() }
func (discardHandler) OnClose(c *tcp.Conn, err error)      {}

// The http handler answers every HTTP/1.x request with the same small
// response. HTTP/1.1 connections stay open unless the request says
// "Connection: close"; HTTP/1.0 ones close unless it says "keep-alive".
var (
	respKeepAlive = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	respClose     = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!")
	respBad       = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n")
	respTooLarge  = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	respNotImpl   = []byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

// maxHeader bounds a request's header block, as servers commonly do.
const maxHeader = 8192

type httpHandler struct {
	partial []byte // a header block split across segments (allocated only then)
	skip    int    // request body bytes still to discard
	pending []byte // the rest of a response Write did not take
	closing bool   // close once pending is written
	done    bool   // closed: ignore further input
}

func (h *httpHandler) OnOpen(c *tcp.Conn)                  {}
func (h *httpHandler) OnData(c *tcp.Conn, data []byte) int { return h.data(c, data) }
func (h *httpHandler) OnWritable(c *tcp.Conn)              { h.writable(c) }
func (h *httpHandler) OnPeerClose(c *tcp.Conn) {
	if !h.done && len(h.pending) == 0 {
		h.done = true
		c.Close()
	}
	h.closing = true
}
func (h *httpHandler) OnClose(c *tcp.Conn, err error) { h.done = true }

func (h *httpHandler) data(c connIO, data []byte) int {
	used := 0
	for used < len(data) {
		if h.done {
			return len(data)
		}
		if len(h.pending) > 0 {
			return used // wait for OnWritable; the rest stays buffered
		}
		in := data[used:]
		if h.skip > 0 {
			n := min(h.skip, len(in))
			h.skip -= n
			used += n
			continue
		}
		var hdr []byte
		end := -1
		if len(h.partial) == 0 {
			if i := bytes.Index(in, []byte("\r\n\r\n")); i >= 0 {
				end = i + 4
				hdr = in[:end]
			}
		} else {
			// Search where the terminator could straddle the boundary.
			old := len(h.partial)
			h.partial = append(h.partial, in...)
			from := max(0, old-3)
			if i := bytes.Index(h.partial[from:], []byte("\r\n\r\n")); i >= 0 {
				end = from + i + 4 - old // bytes of in that complete the header
				hdr = h.partial[:from+i+4]
			} else {
				h.partial = h.partial[:old]
			}
		}
		if end < 0 {
			if len(h.partial)+len(in) > maxHeader {
				h.respond(c, respTooLarge, true)
				return len(data)
			}
			h.partial = append(h.partial, in...)
			return len(data)
		}
		used += end
		if len(hdr) > maxHeader {
			h.respond(c, respTooLarge, true)
			return len(data)
		}
		req := parseRequest(hdr)
		h.partial = h.partial[:0]
		switch {
		case req.bad:
			h.respond(c, respBad, true)
		case req.chunked:
			h.respond(c, respNotImpl, true)
		default:
			h.skip = req.contentLength
			if req.close || httpDraining.Load() {
				h.respond(c, respClose, true)
			} else {
				h.respond(c, respKeepAlive, false)
			}
		}
	}
	return used
}

// httpDraining is set when the daemon drains (xdptcpd drain): every
// response then says "Connection: close" and the connection closes after
// it (RFC 9112 §9.6), so keep-alive clients open their next connection,
// which the router sends to a host in service; as nginx and Envoy do on a
// drain.
var httpDraining atomic.Bool

// httpRequests counts the requests the http handlers answered (one atomic
// add per request, exported as xdptcp_http_requests_total).
var httpRequests atomic.Uint64

// respond writes resp, keeping what does not fit for OnWritable, and
// closes afterwards if asked.
func (h *httpHandler) respond(c connIO, resp []byte, close bool) {
	httpRequests.Add(1)
	n := c.Write(resp)
	h.pending = resp[n:]
	if len(h.pending) > 0 && !close {
		c.PauseRead() // the rest of the input waits for OnWritable
	}
	if close {
		h.closing = true
	}
	if len(h.pending) == 0 && h.closing {
		h.done = true
		c.Close()
	}
}

func (h *httpHandler) writable(c connIO) {
	if len(h.pending) == 0 {
		return
	}
	n := c.Write(h.pending)
	h.pending = h.pending[n:]
	if len(h.pending) > 0 {
		return
	}
	if h.closing {
		h.done = true
		c.Close()
		return
	}
	c.ResumeRead()
}

type request struct {
	bad, close, chunked bool
	contentLength       int
}

// parseRequest reads what the handler needs from a header block ending in
// CRLFCRLF: the version and the Connection, Content-Length and
// Transfer-Encoding headers. It does not allocate.
func parseRequest(hdr []byte) request {
	var r request
	line, rest, _ := bytes.Cut(hdr, []byte("\r\n"))
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		r.bad = true
		return r
	}
	switch string(line[sp2+1:]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.close = true
	default:
		r.bad = true
		return r
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			r.bad = true
			return r
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			if containsToken(value, "close") {
				r.close = true
			} else if containsToken(value, "keep-alive") {
				r.close = false
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n := 0
			if len(value) == 0 || len(value) > 12 {
				r.bad = true
				return r
			}
			for _, ch := range value {
				if ch < '0' || ch > '9' {
					r.bad = true
					return r
				}
				n = n*10 + int(ch-'0')
			}
			r.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("identity")) {
				r.chunked = true
			}
		}
	}
	return r
}

// containsToken reports whether the comma-separated list v holds tok,
// case-insensitively.
func containsToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var f []byte
		f, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(f), []byte(tok)) {
			return true
		}
	}
	return false
}

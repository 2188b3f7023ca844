package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The blob handler serves large HTTP bodies for downloads and shutdown
// tests: GET /SIZE (/4MiB, /64KiB, /1GiB, /1000) answers 200 with SIZE bytes
// of a fixed pseudo-random pattern (blobPattern), so a client can check
// what it got with a hash of blobBody(SIZE). Other paths get 404. Like
// the http handler, HTTP/1.1 stays open unless the request says
// "Connection: close" (HTTP/1.0: closed unless "keep-alive").

// maxBlob bounds a blob (1 GiB).
const maxBlob = 1 << 30

// blobPattern is the body's repeating content: 64 KiB from a xorshift
// generator with a fixed seed.
var blobPattern = func() []byte {
	b := make([]byte, 64<<10)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}()

// blobBody returns the n bytes GET /n answers with (tests hash it).
func blobBody(n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += len(blobPattern) {
		copy(out[i:], blobPattern)
	}
	return out
}

// parseBlobSize reads "4MiB", "64KiB", "1GiB", "1000" or "1000B"
// (without allocating).
func parseBlobSize(s []byte) (int, bool) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if v, ok := bytes.CutSuffix(s, []byte(u.suffix)); ok {
			s, mult = v, u.mult
			break
		}
	}
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int(ch-'0')
	}
	if n > maxBlob/mult {
		return 0, false
	}
	return n * mult, true
}

var (
	blobNotFound = []byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\nnot found: try /4MiB, /64KiB, /1000\n")
)

type blobHandler struct {
	partial []byte // a header block split across segments
	hdr     []byte // the response header being written
	left    int    // body bytes still to write
	off     int    // body bytes written
	skip    int    // request body bytes to discard
	close   bool   // close after this response
	done    bool
	hbuf    [160]byte
}

func newBlobHandler(*tcp.Conn) tcp.Handler { return &blobHandler{} }

func (h *blobHandler) OnOpen(c *tcp.Conn)                  {}
func (h *blobHandler) OnData(c *tcp.Conn, data []byte) int { return h.data(c, data) }
func (h *blobHandler) OnWritable(c *tcp.Conn)              { h.pump(c) }
func (h *blobHandler) OnClose(c *tcp.Conn, err error)      { h.done = true }
func (h *blobHandler) OnPeerClose(c *tcp.Conn) {
	h.close = true
	if !h.busy() && !h.done {
		h.done = true
		c.Close()
	}
}

func (h *blobHandler) busy() bool { return len(h.hdr) > 0 || h.left > 0 }

func (h *blobHandler) data(c connIO, data []byte) int {
	used := 0
	for used < len(data) && !h.done {
		if h.busy() {
			c.PauseRead() // one response at a time; the rest waits
			return used
		}
		in := data[used:]
		if h.skip > 0 {
			n := min(h.skip, len(in))
			h.skip -= n
			used += n
			continue
		}
		old := len(h.partial)
		h.partial = append(h.partial, in...)
		i := bytes.Index(h.partial, []byte("\r\n\r\n"))
		if i < 0 {
			if len(h.partial) > maxHeader {
				h.fail(c)
				return len(data)
			}
			return len(data)
		}
		hdr := h.partial[:i+4]
		used += len(hdr) - old
		h.request(c, hdr)
		h.partial = h.partial[:0]
	}
	if h.done {
		return len(data)
	}
	return used
}

func (h *blobHandler) fail(c connIO) {
	h.close = true
	h.hdr = blobNotFound
	h.pump(c)
}

// request starts the response to one header block.
func (h *blobHandler) request(c connIO, hdr []byte) {
	req := parseRequest(hdr)
	line, _, _ := bytes.Cut(hdr, []byte("\r\n"))
	sp1, sp2 := bytes.IndexByte(line, ' '), bytes.LastIndexByte(line, ' ')
	if req.bad || req.chunked || sp1 < 0 || sp2-sp1 < 3 || line[sp1+1] != '/' {
		h.fail(c)
		return
	}
	n, ok := parseBlobSize(line[sp1+2 : sp2])
	if !ok {
		h.fail(c)
		return
	}
	h.skip = req.contentLength
	h.close = h.close || req.close
	b := append(h.hbuf[:0], "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	if h.close {
		b = append(b, "\r\nConnection: close"...)
	}
	h.hdr = append(b, "\r\n\r\n"...)
	h.left, h.off = n, 0
	h.pump(c)
}

// pump writes what the send buffer takes; when the response is complete
// it closes or reads the next request.
func (h *blobHandler) pump(c connIO) {
	for len(h.hdr) > 0 {
		n := c.Write(h.hdr)
		h.hdr = h.hdr[n:]
		if n == 0 {
			return
		}
	}
	for h.left > 0 {
		p := blobPattern[h.off%len(blobPattern):]
		p = p[:min(len(p), h.left)]
		n := c.Write(p)
		h.left -= n
		h.off += n
		if n < len(p) {
			return // OnWritable continues
		}
	}
	if h.done {
		return
	}
	if h.close {
		h.done = true
		c.Close()
		return
	}
	c.ResumeRead()
}

// lookupHandler returns the constructor of a built-in handler: blob (this
// file) or one of handlers.go's.
func lookupHandler(name string) (func(c *tcp.Conn) tcp.Handler, error) {
	if name == "blob" {
		return newBlobHandler, nil
	}
	if nh, err := newHandlerFunc(name); err == nil {
		return nh, nil
	}
	return nil, fmt.Errorf("unknown handler %q (have %s)", name, strings.Join(allHandlerNames(), ", "))
}

func allHandlerNames() []string { return append(append([]string(nil), handlerNames...), "blob") }

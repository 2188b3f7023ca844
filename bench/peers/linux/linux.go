// Package linux holds the bench's Linux kernel peer servers: a Go net
// server with one goroutine per connection, and a net/http server. Both
// answer every HTTP/1.x request with the same "Hello, World!" response as
// xdptcpd's http handler, and serve echo and discard ports and, like
// xdptcpd's blob handler, large bodies for downloads.
package linux

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Body is the response body every server sends.
const Body = "Hello, World!"

var (
	respKeepAlive = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n" + Body)
	respClose     = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + Body)
)

// Config says which ports to serve; an empty address is not served. Each
// address may be a comma-separated list, one listener per address, so one
// peer serves both families (198.18.0.1:8080,[2001:2::1]:8080).
type Config struct {
	Mode string // "net" (goroutine per connection) or "http" (net/http)
	HTTP string // e.g. 198.18.0.1:8080 or 198.18.0.1:8080,[2001:2::1]:8080
	Echo string
	// EchoCopy echoes through user space, reading into a buffer and
	// writing it back. Echo's io.Copy(c, c) splices on a *net.TCPConn
	// (TCPConn.ReadFrom uses splice(2) through a pipe), so its payload
	// never leaves the kernel.
	EchoCopy string
	Discard  string
	// Blob serves GET /SIZE (/16MiB, /64KiB, /1000) with SIZE bytes and
	// closes, as xdptcpd's blob handler (without its keep-alive).
	Blob string
	// CC is the congestion control set on the listeners with TCP_CONGESTION
	// (accepted connections inherit it); "" keeps the system default.
	CC string
}

// ErrMode is returned for an unknown Mode.
var ErrMode = errors.New("unknown peer mode (want net or http)")

// Serve serves until ctx ends.
func Serve(ctx context.Context, c Config) error {
	if c.Mode != "net" && c.Mode != "http" {
		return ErrMode
	}
	var lns []net.Listener
	lc := net.ListenConfig{Control: CongestionControl(c.CC)}
	// listen opens one listener per address of the list; the address's
	// literal picks the family.
	listen := func(addrs string) ([]net.Listener, error) {
		var out []net.Listener
		for _, a := range strings.Split(addrs, ",") {
			l, err := lc.Listen(ctx, "tcp", strings.TrimSpace(a))
			if err != nil {
				return nil, err
			}
			lns = append(lns, l)
			out = append(out, l)
		}
		return out, nil
	}
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var wg sync.WaitGroup
	// The first listener's error ends Serve; later ones are dropped.
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	start := func(addr string, h func(net.Conn)) error {
		if addr == "" {
			return nil
		}
		ls, err := listen(addr)
		if err != nil {
			return err
		}
		for _, l := range ls {
			wg.Add(1)
			go func() { defer wg.Done(); report(acceptLoop(l, h)) }()
		}
		return nil
	}
	if c.HTTP != "" {
		if c.Mode == "http" {
			ls, err := listen(c.HTTP)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Length", "13")
				io.WriteString(w, Body)
			})}
			for _, l := range ls {
				wg.Add(1)
				go func() { defer wg.Done(); report(srv.Serve(l)) }()
			}
			defer srv.Close()
		} else if err := start(c.HTTP, serveHTTP); err != nil {
			return err
		}
	}
	if err := start(c.Echo, func(c net.Conn) { io.Copy(c, c) }); err != nil {
		return err
	}
	if err := start(c.EchoCopy, echoCopy); err != nil {
		return err
	}
	if err := start(c.Discard, func(c net.Conn) { io.Copy(io.Discard, c) }); err != nil {
		return err
	}
	if err := start(c.Blob, serveBlob); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// echoCopy echoes with io.Copy's own 32 KiB buffer: wrapping both ends
// hides TCPConn's ReadFrom and WriteTo, so io.Copy reads and writes.
func echoCopy(c net.Conn) {
	io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c})
}

func acceptLoop(l net.Listener, h func(net.Conn)) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: keep serving the connections we have.
			continue
		}
		go func() {
			defer c.Close()
			h(c)
		}()
	}
}

// CongestionControl returns a net.Dialer/ListenConfig Control function that
// sets TCP_CONGESTION to cc (nil for "").
func CongestionControl(cc string) func(network, address string, rc syscall.RawConn) error {
	if cc == "" {
		return nil
	}
	return func(network, address string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP_CONGESTION %s: %w", cc, serr)
		}
		return nil
	}
}

// serveHTTP answers each request (up to its blank line) on c, in order;
// "Connection: close" closes after the response.
func serveHTTP(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	closeAfter := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if len(line) >= 17 && bytes.EqualFold(line[:17], []byte("connection: close")) {
			closeAfter = true
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			continue
		}
		resp := respKeepAlive
		if closeAfter {
			resp = respClose
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
		if closeAfter {
			return
		}
	}
}

// maxBlob bounds a blob (1 GiB, as xdptcpd's).
const maxBlob = 1 << 30

// serveBlob answers one GET /SIZE with SIZE bytes (a repeating pattern)
// and closes; a size it cannot read gets 404.
func serveBlob(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	for { // the rest of the header
		l, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if len(bytes.TrimRight(l, "\r\n")) == 0 {
			break
		}
	}
	f := strings.Fields(line)
	n, ok := 0, false
	if len(f) >= 2 && f[0] == "GET" {
		n, ok = ParseSize(strings.TrimPrefix(f[1], "/"))
	}
	if !ok {
		io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n)
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n > 0 {
		k, err := c.Write(buf[:min(n, len(buf))])
		if err != nil {
			return
		}
		n -= k
	}
}

// ParseSize reads "16MiB", "64KiB", "1GiB", "1000" or "1000B", up to 1 GiB.
func ParseSize(s string) (int, bool) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
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

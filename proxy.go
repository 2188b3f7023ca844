package xdptcp

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Proxy forwards each connection's bytes to a backend over ordinary kernel
// sockets: the frontend side is xdptcp (AF_XDP), the backend side is the
// kernel's TCP. Backends are tried round-robin; one that refuses or does
// not answer within DialTimeout is skipped for the next. When none can be
// reached the client gets a RST (counted as NoBackend). A FIN from either
// side is passed on as a FIN (half-close both ways); a reset or error on
// either side resets the other.
type Proxy struct {
	backends    []string
	DialTimeout time.Duration // per backend attempt; default 3 s

	next atomic.Uint64
	st   proxyCounters
}

type proxyCounters struct {
	conns, noBackend, backendFailures, active atomic.Int64
	toBackend, toClient                       atomic.Uint64
}

// ProxyStats are a Proxy's counters.
type ProxyStats struct {
	Conns           int64  // client connections handled
	Active          int64  // client connections open now
	NoBackend       int64  // clients reset because no backend could be reached
	BackendFailures int64  // backend dial attempts that failed
	BytesToBackend  uint64 // bytes forwarded client -> backend
	BytesToClient   uint64 // bytes forwarded backend -> client
}

// NewProxy returns a proxy to backends ("HOST:PORT" each).
func NewProxy(backends []string) (*Proxy, error) {
	if len(backends) == 0 {
		return nil, errors.New("proxy: no backend")
	}
	for _, b := range backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, err
		}
	}
	return &Proxy{backends: append([]string(nil), backends...), DialTimeout: 3 * time.Second}, nil
}

// Backends returns the backend addresses.
func (p *Proxy) Backends() []string { return append([]string(nil), p.backends...) }

// Stats returns the proxy's counters.
func (p *Proxy) Stats() ProxyStats {
	return ProxyStats{
		Conns: p.st.conns.Load(), Active: p.st.active.Load(),
		NoBackend: p.st.noBackend.Load(), BackendFailures: p.st.backendFailures.Load(),
		BytesToBackend: p.st.toBackend.Load(), BytesToClient: p.st.toClient.Load(),
	}
}

// NewHandler returns the handler constructor for Stack.Serve: each
// connection is proxied from its own goroutines.
func (p *Proxy) NewHandler() func(c *tcp.Conn) tcp.Handler { return ConnHandler(p.ServeConn) }

// dialBackend tries the backends round-robin from the next one.
func (p *Proxy) dialBackend() (*net.TCPConn, error) {
	n := len(p.backends)
	start := int(p.next.Add(1)-1) % n
	var last error
	for i := 0; i < n; i++ {
		addr := p.backends[(start+i)%n]
		ctx, cancel := context.WithTimeout(context.Background(), p.DialTimeout)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		p.st.backendFailures.Add(1)
		last = err
	}
	return nil, last
}

var proxyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// halfCloser is a connection with shutdown(SHUT_WR) and SO_LINGER.
type halfCloser interface {
	net.Conn
	CloseWrite() error
	SetLinger(sec int) error
}

// ServeConn proxies client (a *Conn, or any connection with CloseWrite and
// SetLinger) to a backend and closes it when both directions are done.
func (p *Proxy) ServeConn(client net.Conn) {
	p.st.conns.Add(1)
	p.st.active.Add(1)
	defer p.st.active.Add(-1)
	cl, ok := client.(halfCloser)
	if !ok {
		client.Close()
		return
	}
	backend, err := p.dialBackend()
	if err != nil {
		p.st.noBackend.Add(1)
		cl.SetLinger(0) // RST: the client learns at once that nobody serves it
		cl.Close()
		return
	}
	var wg sync.WaitGroup
	var failed atomic.Bool
	abort := func() {
		if failed.CompareAndSwap(false, true) {
			cl.SetLinger(0)
			backend.SetLinger(0)
			cl.Close()
			backend.Close()
		}
	}
	pipe := func(dst, src halfCloser, count *atomic.Uint64) {
		defer wg.Done()
		bp := proxyBufs.Get().(*[]byte)
		defer proxyBufs.Put(bp)
		n, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
		count.Add(uint64(n))
		if err != nil {
			abort() // a reset (or write failure) on one side resets the other
			return
		}
		dst.CloseWrite() // EOF from src: pass the FIN on
	}
	wg.Add(2)
	go pipe(backend, cl, &p.st.toBackend)
	go pipe(cl, backend, &p.st.toClient)
	wg.Wait()
	if !failed.Load() {
		cl.Close()
		backend.Close()
	}
}

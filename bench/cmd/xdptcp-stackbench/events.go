package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/bench/stackbench"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The event-API workloads: the same exchanges as bench/stackbench's
// net.Conn ones, with every callback on the stacks' loops and no goroutine
// per connection (Serve on the server, DialHandler on the client).

// base implements the callbacks a workload does not use.
type base struct{}

func (base) OnOpen(*tcp.Conn)             {}
func (base) OnData(*tcp.Conn, []byte) int { return 0 }
func (base) OnWritable(*tcp.Conn)         {}
func (base) OnPeerClose(c *tcp.Conn)      { c.Close() }
func (base) OnClose(*tcp.Conn, error)     {}

// echoHandler answers with what it receives (what fits in the send buffer;
// the rest stays in the receive buffer and is offered again).
type echoHandler struct{ base }

func (echoHandler) OnData(c *tcp.Conn, data []byte) int { return c.Write(data) }

// discardHandler counts what it receives and signals when total arrived.
type discardHandler struct {
	base
	got   int64
	total int64
	done  chan struct{}
}

func (h *discardHandler) OnData(c *tcp.Conn, data []byte) int {
	h.got += int64(len(data))
	if h.got >= h.total && h.done != nil {
		close(h.done)
		h.done = nil
	}
	return len(data)
}

func runEvents(p stackbench.Params, which []string) []stackbench.Result {
	var out []stackbench.Result
	for _, w := range stackbench.Workloads {
		if len(which) > 0 && !contains(which, w) {
			continue
		}
		mp, err := pair()
		if err != nil {
			out = append(out, stackbench.Result{Stack: "xdptcp", API: "events", Workload: w, Err: err.Error()})
			continue
		}
		var r stackbench.Result
		switch w {
		case stackbench.KeepAlive:
			r = eventKeepAlive(mp, p)
		case stackbench.Connect:
			r = eventConnect(mp, p)
		case stackbench.Bulk:
			r = eventBulk(mp, p)
		}
		out = append(out, r)
		mp.Close()
	}
	return out
}

func target(port int) string { return fmt.Sprintf("%s:%d", addrB.Addr(), port) }

func failed(api, w, unit string, err error) stackbench.Result {
	return stackbench.Result{Stack: "xdptcp", API: api, Workload: w, OpUnit: unit, Err: err.Error()}
}

// kaClient sends quota requests of len(req) bytes one after another,
// each after the previous response.
type kaClient struct {
	base
	req    []byte
	quota  int
	have   int // bytes of the current response received
	conn   *tcp.Conn
	opened func(c *kaClient)
	done   func()
	count  *atomic.Int64
}

func (h *kaClient) OnOpen(c *tcp.Conn) { h.conn = c; h.opened(h) }

func (h *kaClient) OnData(c *tcp.Conn, data []byte) int {
	h.have += len(data)
	for h.have >= len(h.req) {
		h.have -= len(h.req)
		h.count.Add(1)
		h.quota--
		if h.quota == 0 {
			h.done()
			return len(data)
		}
		c.Write(h.req)
	}
	return len(data)
}

func eventKeepAlive(mp *xdptcp.MemPair, p stackbench.Params) stackbench.Result {
	const api, w, unit = "events", stackbench.KeepAlive, "request"
	if err := mp.B.Serve(stackbench.PortKeepAlive, xdptcp.ServeOptions{}, func(*tcp.Conn) tcp.Handler { return echoHandler{} }); err != nil {
		return failed(api, w, unit, err)
	}
	per := max(1, p.Requests/p.Conns)
	var count atomic.Int64
	var openMu sync.Mutex
	var open []*kaClient
	allOpen := make(chan struct{})
	finished := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(p.Conns))
	req := make([]byte, p.Size)
	for i := range req {
		req[i] = 'q'
	}
	for i := 0; i < p.Conns; i++ {
		h := &kaClient{req: req, quota: per, count: &count,
			opened: func(c *kaClient) {
				openMu.Lock()
				open = append(open, c)
				if len(open) == p.Conns {
					close(allOpen)
				}
				openMu.Unlock()
			},
			done: func() {
				if left.Add(-1) == 0 {
					close(finished)
				}
			}}
		if err := mp.A.DialHandler(target(stackbench.PortKeepAlive), h); err != nil {
			return failed(api, w, unit, err)
		}
	}
	select {
	case <-allOpen:
	case <-time.After(30 * time.Second):
		return failed(api, w, unit, fmt.Errorf("only %d of %d connections opened", len(open), p.Conns))
	}
	return stackbench.Measure("xdptcp", api, w, unit, func() (float64, error) {
		mp.A.Do(func(*xdptcp.Loop) {
			for _, h := range open {
				h.conn.Write(h.req)
			}
		})
		select {
		case <-finished:
			return float64(count.Load()), nil
		case <-time.After(stackbench.Timeout):
			return float64(count.Load()), fmt.Errorf("timed out")
		}
	})
}

// connClient writes one request, closes after the response and asks for
// the next connection.
type connClient struct {
	base
	req   []byte
	have  int
	ended bool
	next  chan<- error
}

func (h *connClient) end(err error) {
	if !h.ended {
		h.ended = true
		h.next <- err
	}
}

func (h *connClient) OnOpen(c *tcp.Conn) { c.Write(h.req) }

func (h *connClient) OnData(c *tcp.Conn, data []byte) int {
	h.have += len(data)
	if h.have >= len(h.req) {
		c.Close()
		h.end(nil)
	}
	return len(data)
}

func (h *connClient) OnClose(c *tcp.Conn, err error) {
	if err == nil {
		err = fmt.Errorf("closed before the response")
	}
	h.end(err)
}

func eventConnect(mp *xdptcp.MemPair, p stackbench.Params) stackbench.Result {
	const api, w, unit = "events", stackbench.Connect, "connection"
	if err := mp.B.Serve(stackbench.PortConnect, xdptcp.ServeOptions{}, func(*tcp.Conn) tcp.Handler { return echoHandler{} }); err != nil {
		return failed(api, w, unit, err)
	}
	req := make([]byte, p.Size)
	for i := range req {
		req[i] = 'c'
	}
	// Each connection sends exactly one token; at most Parallel are out.
	next := make(chan error, p.Parallel)
	return stackbench.Measure("xdptcp", api, w, unit, func() (float64, error) {
		started, inflight, done := 0, 0, 0
		var first error
		dial := func() error {
			started++
			inflight++
			return mp.A.DialHandler(target(stackbench.PortConnect), &connClient{req: req, next: next})
		}
		for started < min(p.Parallel, p.Connects) {
			if err := dial(); err != nil {
				return 0, err
			}
		}
		deadline := time.After(stackbench.Timeout)
		for inflight > 0 {
			select {
			case err := <-next:
				inflight--
				if err == nil {
					done++
				} else if first == nil {
					first = err
				}
				if started < p.Connects && first == nil {
					if err := dial(); err != nil {
						return float64(done), err
					}
				}
			case <-deadline:
				return float64(done), fmt.Errorf("timed out after %d connections", done)
			}
		}
		return float64(done), first
	})
}

// bulkClient writes total bytes as fast as the send buffer takes them,
// then closes.
type bulkClient struct {
	base
	buf  []byte
	left int64
}

func (h *bulkClient) fill(c *tcp.Conn) {
	for h.left > 0 {
		k := int(min(int64(len(h.buf)), h.left))
		n := c.Write(h.buf[:k])
		h.left -= int64(n)
		if n < k {
			return // OnWritable comes when space is freed
		}
	}
	c.Close()
}

func (h *bulkClient) OnOpen(c *tcp.Conn)     { h.fill(c) }
func (h *bulkClient) OnWritable(c *tcp.Conn) { h.fill(c) }

func eventBulk(mp *xdptcp.MemPair, p stackbench.Params) stackbench.Result {
	const api, w, unit = "events", stackbench.Bulk, "MiB"
	done := make(chan struct{})
	srv := &discardHandler{total: p.Bytes, done: done}
	if err := mp.B.Serve(stackbench.PortBulk, xdptcp.ServeOptions{}, func(*tcp.Conn) tcp.Handler { return srv }); err != nil {
		return failed(api, w, unit, err)
	}
	return stackbench.Measure("xdptcp", api, w, unit, func() (float64, error) {
		if err := mp.A.DialHandler(target(stackbench.PortBulk), &bulkClient{buf: make([]byte, 64<<10), left: p.Bytes}); err != nil {
			return 0, err
		}
		select {
		case <-done:
			return float64(p.Bytes) / (1 << 20), nil
		case <-time.After(stackbench.Timeout):
			return 0, fmt.Errorf("timed out")
		}
	})
}

package main

import (
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The proxy handler: --listen PORT=proxy:BACKEND[,BACKEND...] accepts on
// AF_XDP and forwards each connection to a backend over kernel sockets
// (xdptcp.Proxy: round-robin, a failing backend is skipped, no backend
// reachable -> RST to the client, half-close passed on both ways).

// proxies holds every proxy the daemon made, for the collector.
var proxies struct {
	mu   sync.Mutex
	list []*xdptcp.Proxy
}

// newProxyHandler parses the backends of "proxy:B1,B2" (spec is what
// follows "proxy:") and returns the handler constructor.
func newProxyHandler(spec string) (func(c *tcp.Conn) tcp.Handler, error) {
	var backends []string
	for _, b := range strings.Split(spec, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("proxy backend %q: want HOST:PORT", b)
		}
		backends = append(backends, b)
	}
	if len(backends) == 0 {
		return nil, fmt.Errorf("proxy: give at least one backend, proxy:HOST:PORT[,HOST:PORT...]")
	}
	p, err := xdptcp.NewProxy(backends)
	if err != nil {
		return nil, err
	}
	proxies.mu.Lock()
	proxies.list = append(proxies.list, p)
	proxies.mu.Unlock()
	return p.NewHandler(), nil
}

// proxyStats sums the counters of every proxy handler: the collector
// exports them as xdptcp_proxy_connections_total,
// xdptcp_proxy_active_connections, xdptcp_proxy_no_backend_total (clients
// reset because no backend answered), xdptcp_proxy_backend_failures_total
// and xdptcp_proxy_bytes_total{direction="to_backend"|"to_client"}.
func proxyStats() xdptcp.ProxyStats {
	proxies.mu.Lock()
	defer proxies.mu.Unlock()
	var sum xdptcp.ProxyStats
	for _, p := range proxies.list {
		s := p.Stats()
		sum.Conns += s.Conns
		sum.Active += s.Active
		sum.NoBackend += s.NoBackend
		sum.BackendFailures += s.BackendFailures
		sum.BytesToBackend += s.BytesToBackend
		sum.BytesToClient += s.BytesToClient
	}
	return sum
}

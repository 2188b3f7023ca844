package main

// Two listeners with different reach (issue 19):
//   - --metrics ADDR: /metrics and /healthz only, fine to expose to a
//     Prometheus server on another machine;
//   - --admin ADDR, the control endpoint: everything else (connections
//     and their peers' addresses, TCP_INFO, packet capture, pprof when
//     enabled) plus /metrics and /healthz. A Unix socket by default
//     (/run/xdptcpd/admin.sock, mode 0600); a TCP address only on loopback
//     unless --admin-token-file opens it, and then every request needs
//     "Authorization: Bearer TOKEN".
// Both are hardened: read, write and idle timeouts, a header size limit,
// a bound on open connections, and on the control endpoint a bound on
// concurrent streams (listing, capture).

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/xdptcp/xdptcp"
)

// defaultAdminSocket is the control socket when --admin is not given.
const defaultAdminSocket = "/run/xdptcpd/admin.sock"

// Listener hardening. A variable so that tests can shorten the read
// timeouts (slowloris) without waiting for the real ones.
var listenerLimits = struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
	maxConns                      int // open connections per listener
	maxStreams                    int // concurrent /debug/* requests on the control endpoint
}{
	readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 60 * time.Second,
	maxHeaderBytes: 16 << 10, maxConns: 64, maxStreams: 4,
}

// adminServer is the control endpoint and the metrics listener.
type adminServer struct {
	srvs []*http.Server
	lns  []net.Listener
	// draining is set when a graceful shutdown begins: /healthz answers
	// 503 so that load balancers stop sending new clients.
	draining atomic.Bool
	// drainReq receives a request of POST /drain (xdptcpd drain); the
	// daemon's main loop takes it.
	drainReq chan struct{}
	streams  chan struct{} // semaphore of concurrent control streams
	token    []byte        // required on a TCP control endpoint when set
}

// isControlTCP reports whether addr is HOST:PORT (else a Unix socket path).
func isControlTCP(addr string) bool { return !strings.Contains(addr, "/") }

// isLoopback reports whether host is a loopback address or "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkAdminOptions validates --admin, --admin-token-file and --metrics
// before anything starts (a mistake is a usage error).
func checkAdminOptions(o *options) error {
	if o.Admin != "" && isControlTCP(o.Admin) {
		host, p, err := net.SplitHostPort(o.Admin)
		if err != nil || p == "" {
			return usagef("%s %q: want a Unix socket path or HOST:PORT", o.where("admin"), o.Admin)
		}
		if !isLoopback(host) && o.AdminTokenFile == "" {
			return usagef("%s %s: a TCP control endpoint beyond loopback needs --admin-token-file (it shows peers' addresses and the traffic itself); use a Unix socket, a loopback address, or give a token", o.where("admin"), o.Admin)
		}
	}
	if o.AdminTokenFile != "" {
		if _, err := readTokenFile(o.AdminTokenFile); err != nil {
			return usagef("%s: %v", o.where("admin_token_file"), err)
		}
	}
	if o.Metrics != "" {
		if _, p, err := net.SplitHostPort(o.Metrics); err != nil || p == "" {
			return usagef("%s %q: want HOST:PORT", o.where("metrics"), o.Metrics)
		}
	}
	return nil
}

// listenControl opens the control endpoint's listener. A Unix socket is
// created mode 0600 in a directory made 0700 if missing; a stale socket
// (nobody answers) is replaced, a live one is an error.
func listenControl(addr string) (net.Listener, error) {
	if isControlTCP(addr) {
		return net.Listen("tcp", addr)
	}
	if err := os.MkdirAll(filepath.Dir(addr), 0o700); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(addr); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", addr)
		}
		if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process answers on it (another xdptcpd?)", addr)
		}
		os.Remove(addr) // stale: its daemon is gone
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(addr, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// startAdmin starts the control endpoint on control ("" : none) and the
// metrics listener on metrics ("" : none).
func startAdmin(control, tokenFile, metrics string, st *xdptcp.Stack, log *slog.Logger) (*adminServer, error) {
	a := &adminServer{streams: make(chan struct{}, listenerLimits.maxStreams), drainReq: make(chan struct{}, 1)}
	if tokenFile != "" {
		tok, err := readTokenFile(tokenFile)
		if err != nil {
			return nil, err
		}
		a.token = []byte(tok)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(st))
	metricsH := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	healthz := func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		for _, l := range st.Loops() {
			if err := l.Err(); err != nil {
				// A queue is no longer served: take this host out of
				// rotation, while the rest keeps answering.
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, "loop of queue %d stopped: %v\n", l.Queue, err)
				return
			}
		}
		io.WriteString(w, "ok\n")
	}
	if metrics != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", healthz)
		mux.Handle("/metrics", metricsH)
		ln, err := net.Listen("tcp", metrics)
		if err != nil {
			return nil, fmt.Errorf("metrics %s: %w", metrics, err)
		}
		a.serve(ln, mux, "metrics", log)
	}
	if control != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", healthz)
		mux.Handle("/metrics", metricsH)
		mux.HandleFunc("/drain", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				w.Header().Set("Allow", "POST")
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			select {
			case a.drainReq <- struct{}{}:
			default: // one is pending already
			}
			io.WriteString(w, "draining\n")
		})
		mux.HandleFunc("/debug/conns", a.stream(func(w http.ResponseWriter, r *http.Request) { serveConns(w, r, st) }))
		mux.HandleFunc("/debug/capture", a.stream(func(w http.ResponseWriter, r *http.Request) { serveCapture(w, r, st) }))
		ln, err := listenControl(control)
		if err != nil {
			a.Close()
			return nil, err
		}
		var h http.Handler = mux
		if len(a.token) > 0 {
			h = a.requireToken(mux)
		}
		a.serve(ln, h, "control", log)
	}
	return a, nil
}

// serve runs one hardened HTTP server on ln.
func (a *adminServer) serve(ln net.Listener, h http.Handler, name string, log *slog.Logger) {
	lim := listenerLimits
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write, // a capture extends it per flush
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln = netutil.LimitListener(ln, lim.maxConns)
	a.srvs = append(a.srvs, srv)
	a.lns = append(a.lns, ln)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+" server", "err", err)
		}
	}()
}

// stream bounds concurrent control streams: a listing or a capture of a
// busy host must not let a few clients pin memory and loops.
func (a *adminServer) stream(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.streams <- struct{}{}:
			defer func() { <-a.streams }()
			h(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many control requests at once", http.StatusServiceUnavailable)
		}
	}
}

// requireToken answers 401 to a request without "Authorization: Bearer
// TOKEN" (compared in constant time).
func (a *adminServer) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xdptcpd"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Close stops both listeners (a Unix socket file is removed).
func (a *adminServer) Close() error {
	for _, s := range a.srvs {
		s.Close()
	}
	return nil
}

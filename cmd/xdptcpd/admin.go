package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xdptcp/xdptcp"
)

// adminServer serves /healthz, /metrics and /debug/conns on a kernel socket.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
	// draining is set when a graceful shutdown begins: /healthz answers
	// 503 so that load balancers stop sending new clients.
	draining atomic.Bool
}

func startAdmin(addr string, st *xdptcp.Stack, log *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(st))
	a := &adminServer{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if a.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/conns", func(w http.ResponseWriter, r *http.Request) { serveConns(w, r, st) })
	mux.HandleFunc("/debug/capture", func(w http.ResponseWriter, r *http.Request) { serveCapture(w, r, st) })
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "err", err)
		}
	}()
	return a, nil
}

func (a *adminServer) Close() error { return a.srv.Close() }

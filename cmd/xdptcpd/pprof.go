package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// pprofEnv names the address on which xdptcpd serves net/http/pprof
// (/debug/pprof/...), e.g. XDPTCPD_PPROF=127.0.0.1:6060. Unset: no
// profiling endpoint. It is a kernel socket of its own, never the admin
// endpoint, so profiles are exposed only where asked for:
//
//	XDPTCPD_PPROF=127.0.0.1:6060 xdptcpd --iface eth0 ...
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10
const pprofEnv = "XDPTCPD_PPROF"

func init() {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xdptcpd: %s=%s: %v\n", pprofEnv, addr, err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
}

// Command proxy embeds xdptcp's frontend proxy: connections accepted on
// AF_XDP are forwarded to backends over ordinary kernel sockets
// (round-robin; a failing backend is skipped; no backend: RST to the
// client; half-close passed on both ways).
//
//	proxy --iface eth0 --addr 198.18.0.1/24 --port 80 --backend 127.0.0.1:8080 --backend 127.0.0.1:8081
package main

import (
	"context"
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/xdptcp/xdptcp"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, strings.Split(v, ",")...); return nil }

func main() {
	iface := flag.String("iface", "", "network interface (required)")
	addr := flag.String("addr", "", "our IPv4 address, IPV4/PREFIX (required)")
	port := flag.Uint("port", 80, "TCP port to accept on")
	var backends multiFlag
	flag.Var(&backends, "backend", "backend HOST:PORT (kernel socket); repeatable or comma-separated")
	flag.Parse()
	prefix, err := netip.ParsePrefix(*addr)
	if *iface == "" || err != nil || len(backends) == 0 || *port == 0 || *port > 65535 {
		flag.Usage()
		os.Exit(2)
	}
	p, err := xdptcp.NewProxy(backends)
	if err != nil {
		log.Fatal(err)
	}
	st, err := xdptcp.Open(xdptcp.Config{Iface: *iface, Addr: prefix})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Serve(uint16(*port), xdptcp.ServeOptions{}, p.NewHandler()); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st.Start(ctx)
	log.Printf("proxying %s:%d to %s", prefix.Addr(), *port, backends.String())
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s := p.Stats()
			log.Printf("conns %d active %d no_backend %d backend_failures %d bytes to backend %d to client %d",
				s.Conns, s.Active, s.NoBackend, s.BackendFailures, s.BytesToBackend, s.BytesToClient)
		}
	}
}

// Command nethttp runs a net/http server on xdptcp: the standard library's
// http.Serve on an xdptcp net.Listener, bound to a NIC through AF_XDP.
//
//	nethttp --iface eth0 --addr 198.18.0.1/24 --port 8080
//
// With --raw it answers every request with a fixed response from a plain
// net.Conn read/write loop instead of net/http (to compare the net.Conn
// path with the event API without net/http's own cost).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xdptcp/xdptcp"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	iface := flag.String("iface", "", "network interface (required)")
	addr := flag.String("addr", "", "our IPv4 address, IPV4[/PREFIX] (required)")
	port := flag.Int("port", 8080, "TCP port to serve")
	raw := flag.Bool("raw", false, "answer from a plain net.Conn loop instead of net/http")
	var sysctls multiFlag
	flag.Var(&sysctls, "sysctl", "TCP setting NAME=VALUE (Linux sysctl name); repeatable")
	flag.Parse()
	if *iface == "" || *addr == "" {
		flag.Usage()
		os.Exit(2)
	}
	prefix, err := netip.ParsePrefix(*addr)
	if err != nil {
		a, err2 := netip.ParseAddr(*addr)
		if err2 != nil {
			log.Fatalf("--addr %q: %v", *addr, err)
		}
		prefix = netip.PrefixFrom(a, 32)
	}
	cfg := &xdptcp.Config{Iface: *iface, Addr: prefix, TCP: xdptcp.DefaultTCPConfig()}
	for _, kv := range sysctls {
		n, v, _ := strings.Cut(kv, "=")
		if err := cfg.TCP.Set(n, v); err != nil {
			log.Fatalf("--sysctl %s: %v", kv, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := xdptcp.Listen(ctx, "tcp", fmt.Sprintf("%s:%d", prefix.Addr(), *port), cfg)
	if err != nil {
		log.Fatal(err)
	}
	go func() { <-ctx.Done(); ln.Close() }()
	log.Printf("serving http on %s through AF_XDP on %s", ln.Addr(), *iface)

	if *raw {
		serveRaw(ln)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!")
	})
	if err := http.Serve(ln, mux); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")

// serveRaw answers each request (a header block ending in CRLFCRLF, no
// body) with the same response: the goroutine-per-connection net.Conn
// server of the bench.
func serveRaw(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReaderSize(c, 4096)
			var hdr []byte
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				hdr = append(hdr, line...)
				if !bytes.HasSuffix(hdr, []byte("\r\n\r\n")) {
					continue
				}
				closeAfter := bytes.Contains(bytes.ToLower(hdr), []byte("connection: close"))
				hdr = hdr[:0]
				if _, err := c.Write(response); err != nil || closeAfter {
					return
				}
			}
		}()
	}
}

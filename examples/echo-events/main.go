// Command echo-events is an echo server on xdptcp's event API: callbacks
// run on the loop that owns each connection, with no goroutine per
// connection and no copy on the way in.
//
//	echo-events --iface eth0 --addr 198.18.0.1/24 --port 7
package main

import (
	"context"
	"flag"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/xdptcp/xdptcp"
)

// echo writes back every byte. What the send buffer cannot take stays in
// the receive buffer: reading pauses (the peer's window closes) until
// OnWritable says there is room again.
type echo struct{ blocked bool }

func (h *echo) OnOpen(c *xdptcp.EventConn) {}

func (h *echo) OnData(c *xdptcp.EventConn, data []byte) int {
	n := c.Write(data) // data is valid only during this call: Write copies it
	if n < len(data) {
		h.blocked = true
		c.PauseRead() // the rest is offered again after ResumeRead
	}
	return n
}

func (h *echo) OnWritable(c *xdptcp.EventConn) {
	if h.blocked {
		h.blocked = false
		c.ResumeRead()
	}
}

func (h *echo) OnPeerClose(c *xdptcp.EventConn)        { c.Close() }
func (h *echo) OnClose(c *xdptcp.EventConn, err error) {}

func main() {
	iface := flag.String("iface", "", "network interface (required)")
	addr := flag.String("addr", "", "our IPv4 address, IPV4/PREFIX (required)")
	port := flag.Uint("port", 7, "TCP port to serve")
	flag.Parse()
	prefix, err := netip.ParsePrefix(*addr)
	if *iface == "" || err != nil || *port == 0 || *port > 65535 {
		flag.Usage()
		os.Exit(2)
	}
	st, err := xdptcp.Open(xdptcp.Config{Iface: *iface, Addr: prefix})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	err = st.Serve(uint16(*port), xdptcp.ServeOptions{}, func(c *xdptcp.EventConn) xdptcp.Handler { return &echo{} })
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st.Start(ctx)
	log.Printf("echo on %s:%d through AF_XDP on %s", prefix.Addr(), *port, *iface)
	<-ctx.Done()
}

package xdptcp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"

	"github.com/xdptcp/xdptcp"
)

// A net/http server on xdptcp: Listen opens a Stack on the interface and
// returns a net.Listener (needs root; see examples/nethttp).
func ExampleListen() {
	cfg := &xdptcp.Config{Iface: "eth0", Addr: netip.MustParsePrefix("198.18.0.1/24")}
	ln, err := xdptcp.Listen(context.Background(), "tcp", "198.18.0.1:8080", cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close() // closes the Stack too
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!")
	})
	log.Fatal(http.Serve(ln, nil))
}

// echoHandler is an event-API echo: callbacks run on the connection's loop.
type echoHandler struct{ blocked bool }

func (h *echoHandler) OnOpen(c *xdptcp.EventConn) {}
func (h *echoHandler) OnData(c *xdptcp.EventConn, data []byte) int {
	n := c.Write(data) // copies into the send buffer; data is valid only now
	if n < len(data) {
		h.blocked = true
		c.PauseRead() // the rest is offered again after ResumeRead
	}
	return n
}
func (h *echoHandler) OnWritable(c *xdptcp.EventConn) {
	if h.blocked {
		h.blocked = false
		c.ResumeRead()
	}
}
func (h *echoHandler) OnPeerClose(c *xdptcp.EventConn)        { c.Close() }
func (h *echoHandler) OnClose(c *xdptcp.EventConn, err error) {}

// The event API: no goroutine per connection (see examples/echo-events).
func ExampleStack_Serve() {
	st, err := xdptcp.Open(xdptcp.Config{Iface: "eth0", Addr: netip.MustParsePrefix("198.18.0.1/24")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	err = st.Serve(7, xdptcp.ServeOptions{}, func(c *xdptcp.EventConn) xdptcp.Handler { return &echoHandler{} })
	if err != nil {
		log.Fatal(err)
	}
	st.Start(context.Background())
	select {}
}

// A frontend proxy: AF_XDP in front, kernel sockets to the backends (see
// examples/proxy and xdptcpd --listen 80=proxy:HOST:PORT).
func ExampleProxy() {
	p, err := xdptcp.NewProxy([]string{"127.0.0.1:8080", "127.0.0.1:8081"})
	if err != nil {
		log.Fatal(err)
	}
	st, err := xdptcp.Open(xdptcp.Config{Iface: "eth0", Addr: netip.MustParsePrefix("198.18.0.1/24")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Serve(80, xdptcp.ServeOptions{}, p.NewHandler()); err != nil {
		log.Fatal(err)
	}
	st.Start(context.Background())
	select {}
}

// An active open. Give xdptcp a local port range the kernel does not use
// when it shares the address.
func ExampleStack_Dial() {
	cfg := xdptcp.Config{Iface: "eth0", Addr: netip.MustParsePrefix("198.18.0.1/24"), TCP: xdptcp.DefaultTCPConfig()}
	if err := cfg.TCP.Set("ip_local_port_range", "61000 65535"); err != nil {
		log.Fatal(err)
	}
	st, err := xdptcp.Open(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	st.Start(context.Background())
	c, err := st.Dial("tcp", "198.18.0.2:80")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	io.Copy(io.Discard, c)
}

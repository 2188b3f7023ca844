// Command xdptcp-gvisor-peer is the bench's gVisor peer: gVisor's netstack
// on an AF_XDP socket (pkg/tcpip/link/xdp, which parses Ethernet itself),
// serving the same "Hello, World!" HTTP response, echo and discard as
// xdptcpd through gonet listeners with one goroutine per connection.
//
// It lives in its own module so the main module does not depend on gVisor
// (gvisor.dev/gvisor resolves only at a pinned pseudo-version of its Go
// branch). Build: cd bench/peers/gvisor && go build.
//
// The endpoint needs an XDP program that redirects to its socket through an
// XSKMAP; this one redirects every frame of queue 0 (ARP included: netstack
// answers ARP itself), attached with a bpf_link so it goes away with the
// process. The interface is the peer's alone while it runs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/xdp"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

const body = "Hello, World!"

var (
	respKeepAlive = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n" + body)
	respClose     = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + body)
)

func main() {
	iface := flag.String("iface", "", "interface (required)")
	addr := flag.String("addr", "", "IPv4 address/prefix (required)")
	httpPort := flag.Int("http", 8080, "HTTP port (0: none)")
	echoPort := flag.Int("echo", 7, "echo port (0: none)")
	discardPort := flag.Int("discard", 9, "discard port (0: none)")
	flag.Parse()
	if err := run(*iface, *addr, *httpPort, *echoPort, *discardPort); err != nil {
		fmt.Fprintln(os.Stderr, "xdptcp-gvisor-peer:", err)
		os.Exit(1)
	}
}

// redirectProgram is bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS).
func redirectProgram(xsks *ebpf.Map) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // struct xdp_md: rx_queue_index at 16
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS when the slot is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
}

func run(iface, addr string, ports ...int) error {
	pfx, err := netip.ParsePrefix(addr)
	if err != nil || !pfx.Addr().Is4() {
		return fmt.Errorf("--addr %q: want IPv4/prefix", addr)
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("AF_XDP socket: %w", err)
	}
	ep, err := xdp.New(&xdp.Options{FD: fd, Address: tcpip.LinkAddress(ifi.HardwareAddr), InterfaceIndex: ifi.Index, Bind: true})
	if err != nil {
		return fmt.Errorf("xdp endpoint: %w", err)
	}
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 64})
	if err != nil {
		return fmt.Errorf("XSKMAP: %w", err)
	}
	defer xsks.Close()
	if err := xsks.Put(uint32(0), uint32(fd)); err != nil {
		return fmt.Errorf("XSKMAP[0]: %w", err)
	}
	prog, err := redirectProgram(xsks)
	if err != nil {
		return fmt.Errorf("XDP program: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
	if err != nil {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPGenericMode})
	}
	if err != nil {
		return fmt.Errorf("attach XDP: %w", err)
	}
	defer l.Close()

	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	if e := s.CreateNIC(1, ep); e != nil {
		return fmt.Errorf("CreateNIC: %v", e)
	}
	a4 := pfx.Addr().As4()
	local := tcpip.AddrFrom4(a4)
	if e := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: local, PrefixLen: pfx.Bits()}}, stack.AddressProperties{}); e != nil {
		return fmt.Errorf("AddProtocolAddress: %v", e)
	}
	// Every destination on-link (the bench's flood sources too: their ARP
	// goes unanswered and the SYN-ACKs are dropped).
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	handlers := []func(net.Conn){serveHTTP, func(c net.Conn) { io.Copy(c, c) }, func(c net.Conn) { io.Copy(io.Discard, c) }}
	errc := make(chan error, 3)
	for i, p := range ports {
		if p == 0 {
			continue
		}
		ln, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Addr: local, Port: uint16(p)}, ipv4.ProtocolNumber)
		if err != nil {
			return fmt.Errorf("listen %d: %w", p, err)
		}
		defer ln.Close()
		h := handlers[i]
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					errc <- err
					return
				}
				go func() { defer c.Close(); h(c) }()
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "xdptcp-gvisor-peer: serving %s on %s\n", pfx, iface)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
}

// serveHTTP answers each request on c in order; "Connection: close" closes
// after the response.
func serveHTTP(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	closeAfter := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if len(line) >= 17 && bytes.EqualFold(line[:17], []byte("connection: close")) {
			closeAfter = true
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			continue
		}
		resp := respKeepAlive
		if closeAfter {
			resp = respClose
		}
		if _, err := c.Write(resp); err != nil || closeAfter {
			return
		}
	}
}

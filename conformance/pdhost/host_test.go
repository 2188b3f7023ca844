package pdhost

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/wire"
)

var (
	testLocal   = [4]byte{192, 168, 0, 1}
	testRemote  = [4]byte{192, 0, 2, 1}
	testLocal6  = [16]byte(netip.MustParseAddr("2001:2::1").As16())
	testRemote6 = [16]byte(netip.MustParseAddr("2001:2:0:1::1").As16())
	testGw6     = [16]byte(netip.MustParseAddr("2001:2::fffe").As16())
)

// mode is one of packetdrill's address modes: the socket's family and the
// IP version on the wire.
type mode struct {
	name   string
	family int  // socket family
	v6     bool // IPv6 packets
}

var modes = []mode{{"ipv4", unix.AF_INET, false}, {"ipv4-mapped-ipv6", unix.AF_INET6, false}, {"ipv6", unix.AF_INET6, true}}

func newTestHost(t *testing.T) *Host {
	t.Helper()
	h, err := New(Options{Local: testLocal, Gateway: [4]byte{192, 168, 0, 254}, Local6: testLocal6, Gateway6: testGw6})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// remote is the peer's socket address as a script of mode m names it.
func (m mode) remote(port uint16) Sockaddr {
	if m.v6 {
		return Sockaddr{Family: m.family, Addr: flowtable.Addr(testRemote6), Port: port}
	}
	return Sockaddr{Family: m.family, Addr: flowtable.AddrFrom4(testRemote), Port: port}
}

// packet builds a raw IP+TCP packet from the remote peer, as packetdrill
// injects it.
func (m mode) packet(seq, ack uint32, flags wire.TCPFlags, opts *wire.TCPOptions, payload []byte) []byte {
	syn := flags&wire.FlagSYN != 0
	ol := 0
	if opts != nil {
		ol = wire.TCPOptionsLen(opts, syn)
	}
	hl := wire.TCPMinHeaderLen + ol
	iph := wire.IPv4MinHeaderLen
	if m.v6 {
		iph = wire.IPv6HeaderLen
	}
	b := make([]byte, iph+hl+len(payload))
	t := wire.TCP(b[iph:])
	t.Encode(&wire.TCPFields{SrcPort: 40000, DstPort: 8080, Seq: seq, Ack: ack, DataOffset: hl, Flags: flags, Window: 65535})
	if opts != nil {
		wire.WriteTCPOptions(t[wire.TCPMinHeaderLen:hl], opts, syn)
	}
	copy(t[hl:], payload)
	m.finish(b)
	return b
}

// finish writes the IP header of a packet from the remote peer whose TCP
// segment is in place, and the TCP checksum.
func (m mode) finish(b []byte) {
	if m.v6 {
		t := wire.TCP(b[wire.IPv6HeaderLen:])
		wire.IPv6(b).Encode(&wire.IPv6Fields{PayloadLen: uint16(len(t)), NextHeader: wire.ProtoTCP, HopLimit: 64, Src: testRemote6, Dst: testLocal6})
		t.SetChecksum(0)
		t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderChecksum6(wire.ProtoTCP, &testRemote6, &testLocal6, uint32(len(t)))))
		return
	}
	t := wire.TCP(b[wire.IPv4MinHeaderLen:])
	wire.IPv4(b).Encode(&wire.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: wire.ProtoTCP, Src: testRemote, Dst: testLocal})
	t.SetChecksum(0)
	t.SetChecksum(^wire.Checksum(t, wire.PseudoHeaderChecksum(wire.ProtoTCP, testRemote, testLocal, uint16(len(t)))))
}

// sniff returns the next TCP segment the host sends, checking that it is
// an IP packet of m's version between the test's addresses.
func (m mode) sniff(t *testing.T, h *Host) wire.TCP {
	t.Helper()
	buf := make([]byte, 70000)
	n, us, ok := h.NetdevReceive(buf, 5*time.Second)
	if !ok {
		t.Fatal("no packet from the stack")
	}
	if d := time.Since(time.UnixMicro(us)); d < 0 || d > 5*time.Second {
		t.Fatalf("packet time %v off", d)
	}
	if m.v6 {
		ip := wire.IPv6(buf[:n])
		if ip.Validate() != wire.IPv6OK || ip.Src() != testLocal6 || ip.Dst() != testRemote6 || ip.NextHeader() != wire.ProtoTCP || len(ip.Payload()) != n-wire.IPv6HeaderLen {
			t.Fatalf("bad IPv6 packet % x", buf[:n])
		}
		return wire.TCP(ip.Payload())
	}
	ip := wire.IPv4(buf[:n])
	if ip.Validate() != wire.IPv4OK || ip.Src() != testLocal || ip.Dst() != testRemote {
		t.Fatalf("bad IPv4 packet % x", buf[:n])
	}
	return wire.TCP(ip.Payload())
}

// TestServerExchange drives a passive open, data both ways and close
// through the socket calls and the raw-packet link, as packetdrill does,
// in each of packetdrill's address modes.
func TestServerExchange(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testServerExchange(t, m) })
	}
}

func testServerExchange(t *testing.T, m mode) {
	h := newTestHost(t)
	defer h.Stop()
	packet, sniff := m.packet, m.sniff
	fd, e := h.Socket(m.family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if e != 0 {
		t.Fatal(e)
	}
	if e := h.Bind(fd, Sockaddr{Family: m.family, Port: 8080}); e != 0 {
		t.Fatal(e)
	}
	if e := h.Listen(fd, 1); e != 0 {
		t.Fatal(e)
	}
	// accept(2) on a non-blocking listener with nothing queued.
	h.Fcntl(fd, unix.F_SETFL, unix.O_NONBLOCK)
	if _, _, e := h.Accept(fd); e != syscall.EAGAIN {
		t.Fatalf("accept on an empty queue: %v, want EAGAIN", e)
	}
	h.Fcntl(fd, unix.F_SETFL, 0)

	if e := h.NetdevSend(packet(1000, 0, wire.FlagSYN, &wire.TCPOptions{HasMSS: true, MSS: 1460}, nil)); e != 0 {
		t.Fatal(e)
	}
	sa := sniff(t, h)
	if sa.Flags() != wire.FlagSYN|wire.FlagACK || sa.Ack() != 1001 {
		t.Fatalf("want SYN-ACK ack 1001, got flags %v ack %d", sa.Flags(), sa.Ack())
	}
	iss := sa.Seq()
	h.NetdevSend(packet(1001, iss+1, wire.FlagACK, nil, nil))
	cfd, peer, e := h.Accept(fd)
	if e != 0 || peer != m.remote(40000) {
		t.Fatalf("accept: fd %d %+v %v", cfd, peer, e)
	}

	// A blocking read sleeps until data arrives.
	got := make(chan []byte)
	go func() {
		b := make([]byte, 100)
		n, e := h.Read(cfd, [][]byte{b}, 0)
		if e != 0 {
			t.Error(e)
		}
		got <- b[:max(n, 0)]
	}()
	h.NetdevSend(packet(1001, iss+1, wire.FlagACK|wire.FlagPSH, nil, []byte("hello")))
	if b := <-got; string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
	if a := sniff(t, h); a.Ack() != 1006 {
		t.Fatalf("want ACK 1006, got %d", a.Ack())
	}
	// A NULL buffer: EFAULT, the data stays queued for the next read.
	if n, e := h.WriteFault(cfd, 0); n != -1 || e != syscall.EFAULT {
		t.Fatalf("write from NULL: %d %v, want EFAULT", n, e)
	}
	h.NetdevSend(packet(1006, iss+1, wire.FlagACK|wire.FlagPSH, nil, []byte("x")))
	if n, e := h.ReadFault(cfd, 0); n != -1 || e != syscall.EFAULT {
		t.Fatalf("read into NULL: %d %v, want EFAULT", n, e)
	}
	sniff(t, h) // the ACK of x
	if b := make([]byte, 10); func() bool { n, e := h.Read(cfd, [][]byte{b}, 0); return n != 1 || e != 0 || b[0] != 'x' }() {
		t.Fatal("the byte a faulting read left is not read next")
	}
	if n, e := h.Write(cfd, [][]byte{[]byte("wor"), []byte("ld")}, 0); n != 5 || e != 0 {
		t.Fatalf("write: %d %v", n, e)
	}
	d := sniff(t, h)
	if !bytes.Equal(d.Payload(), []byte("world")) || d.Seq() != iss+1 {
		t.Fatalf("data segment seq %d payload %q", d.Seq(), d.Payload())
	}
	h.NetdevSend(packet(1007, iss+6, wire.FlagACK, nil, nil))

	// TCP_INFO in Linux's layout: ESTABLISHED (Linux's number 1),
	// tcpi_snd_mss 1460 at offset 16 (1440 over IPv6: our 1500-byte MTU
	// less 60 bytes of headers caps the peer's 1460), tcpi_snd_cwnd 10 at offset 80
	// (RFC 6928 initial window), tcpi_segs_in at offset 140.
	info := make([]byte, 248)
	if n, e := h.Getsockopt(cfd, unix.IPPROTO_TCP, unix.TCP_INFO, info); e != 0 || n != len(info) || info[0] != 1 {
		t.Fatalf("TCP_INFO: n %d %v state %d", n, e, info[0])
	}
	ne := binary.NativeEndian
	wantMSS := uint32(1460)
	if m.v6 {
		wantMSS = 1440
	}
	if mss, cwnd, in := ne.Uint32(info[16:]), ne.Uint32(info[80:]), ne.Uint32(info[140:]); mss != wantMSS || cwnd != 10 || in < 3 {
		t.Fatalf("TCP_INFO: snd_mss %d snd_cwnd %d segs_in %d", mss, cwnd, in)
	}
	if v, e := h.Getsockopt(cfd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, info[:4]); e != 0 || v != 4 || ne.Uint32(info) != wantMSS {
		t.Fatalf("TCP_MAXSEG: %d %v %d", v, e, ne.Uint32(info))
	}

	// The peer's FIN: read returns 0; poll says readable and RDHUP.
	h.NetdevSend(packet(1007, iss+6, wire.FlagACK|wire.FlagFIN, nil, nil))
	sniff(t, h) // its ACK
	pf := []PollFd{{Fd: int32(cfd), Events: unix.POLLIN | unix.POLLRDHUP}}
	if n, _ := h.Poll(pf, 1000); n != 1 || pf[0].Revents&unix.POLLRDHUP == 0 {
		t.Fatalf("poll after FIN: %d %#x", n, pf[0].Revents)
	}
	if n, e := h.Read(cfd, [][]byte{make([]byte, 10)}, 0); n != 0 || e != 0 {
		t.Fatalf("read at EOF: %d %v", n, e)
	}
	if e := h.CloseFD(cfd); e != 0 {
		t.Fatal(e)
	}
	if f := sniff(t, h); f.Flags()&wire.FlagFIN == 0 {
		t.Fatalf("want our FIN, got %v", f.Flags())
	}
	if e := h.CloseFD(cfd); e != syscall.EBADF {
		t.Fatalf("second close: %v, want EBADF", e)
	}
}

// TestConnectRefused: a RST answering our SYN fails a blocking connect
// with ECONNREFUSED, in each address mode.
func TestConnectRefused(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newTestHost(t)
			defer h.Stop()
			fd, _ := h.Socket(m.family, unix.SOCK_STREAM, 0)
			res := make(chan Errno)
			go func() { res <- h.Connect(fd, m.remote(8080)) }()
			syn := m.sniff(t, h)
			if syn.Flags() != wire.FlagSYN {
				t.Fatalf("want SYN, got %v", syn.Flags())
			}
			b := m.packet(0, syn.Seq()+1, wire.FlagRST|wire.FlagACK, nil, nil)
			// Answer from the port the SYN went to, to the port it came from.
			wire.TCP(b[len(b)-wire.TCPMinHeaderLen:]).Encode(&wire.TCPFields{SrcPort: syn.DstPort(), DstPort: syn.SrcPort(), Ack: syn.Seq() + 1, DataOffset: 20, Flags: wire.FlagRST | wire.FlagACK})
			m.finish(b)
			h.NetdevSend(b)
			if e := <-res; e != syscall.ECONNREFUSED {
				t.Fatalf("connect: %v, want ECONNREFUSED", e)
			}
		})
	}
}

// TestSockaddrFamilies: socket addresses follow Linux's family rules.
func TestSockaddrFamilies(t *testing.T) {
	h := newTestHost(t)
	defer h.Stop()
	v4, _ := h.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	v6, _ := h.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
	for _, c := range []struct {
		fd   int
		sa   Sockaddr
		want Errno
	}{
		{v4, Sockaddr{Family: unix.AF_INET6, Port: 80}, syscall.EAFNOSUPPORT},                                     // inet_bind: AF_INET only
		{v6, Sockaddr{Family: unix.AF_INET, Port: 80}, syscall.EAFNOSUPPORT},                                      // inet6_bind: AF_INET6 only
		{v6, Sockaddr{Family: unix.AF_INET6, Addr: flowtable.Addr(testRemote6), Port: 80}, syscall.EADDRNOTAVAIL}, // not ours
		{v6, Sockaddr{Family: unix.AF_INET6, Addr: flowtable.AddrFrom4(testLocal), Port: 80}, 0},                  // ::ffff:our IPv4
	} {
		if e := h.Bind(c.fd, c.sa); e != c.want {
			t.Errorf("bind(%d, %+v): %v, want %v", c.fd, c.sa, e, c.want)
		}
	}
	// Encode/Decode round trips, with Linux's sizes.
	for _, sa := range []Sockaddr{{unix.AF_INET, flowtable.AddrFrom4(testRemote), 1}, {unix.AF_INET6, flowtable.Addr(testRemote6), 2}, {unix.AF_INET6, flowtable.AddrFrom4(testRemote), 3}} {
		b := make([]byte, 28)
		n := sa.Encode(b)
		if (sa.Family == unix.AF_INET) != (n == 16) {
			t.Errorf("%+v encodes to %d bytes", sa, n)
		}
		got, e := DecodeSockaddr(b[:n])
		if e != 0 || got != sa {
			t.Errorf("%+v: decoded %+v %v", sa, got, e)
		}
	}
	short := make([]byte, 20) // shorter than RFC 2133's 24-byte sockaddr_in6
	binary.NativeEndian.PutUint16(short, unix.AF_INET6)
	if _, e := DecodeSockaddr(short); e != syscall.EINVAL {
		t.Errorf("short sockaddr_in6: %v, want EINVAL", e)
	}
}

// TestCongestionOption: setsockopt TCP_CONGESTION on a listener names the
// congestion control its connections start with, getsockopt reads it back
// NUL-padded as Linux's 16-byte name; an unknown name is ENOENT.
func TestCongestionOption(t *testing.T) {
	h := newTestHost(t)
	defer h.Stop()
	m := modes[0]
	packet, sniff := m.packet, m.sniff
	fd, _ := h.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if e := h.Setsockopt(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, []byte("vegas")); e != syscall.ENOENT {
		t.Fatalf("TCP_CONGESTION vegas: %v, want ENOENT", e)
	}
	if e := h.Setsockopt(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, []byte("bbr\x00x")); e != 0 {
		t.Fatal(e)
	}
	h.Bind(fd, Sockaddr{Family: unix.AF_INET, Port: 8080})
	h.Listen(fd, 1)
	h.NetdevSend(packet(1000, 0, wire.FlagSYN, &wire.TCPOptions{HasMSS: true, MSS: 1460}, nil))
	iss := sniff(t, h).Seq()
	h.NetdevSend(packet(1001, iss+1, wire.FlagACK, nil, nil))
	cfd, _, e := h.Accept(fd)
	if e != 0 {
		t.Fatal(e)
	}
	b := make([]byte, 20)
	n, e := h.Getsockopt(cfd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, b)
	if e != 0 || n != 16 || string(b[:4]) != "bbr\x00" {
		t.Fatalf("getsockopt TCP_CONGESTION: %d %q %v, want 16 bytes of bbr", n, b[:n], e)
	}
	if e := h.Setsockopt(cfd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, []byte("cubic")); e != 0 {
		t.Fatal(e)
	}
	n, _ = h.Getsockopt(cfd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, b[:8])
	if n != 8 || string(b[:6]) != "cubic\x00" {
		t.Fatalf("getsockopt TCP_CONGESTION after cubic: %q", b[:n])
	}
}

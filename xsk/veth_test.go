package xsk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/xdptcp/xdptcp/internal/testnet"
	"golang.org/x/sys/unix"
)

// topo is a veth pair: A in the test's namespace (the AF_XDP side, with a
// kernel address too so that kernel-reachability can be checked), B in a
// new namespace as the Linux peer (TX checksum offload off).
type topo struct {
	v            *testnet.Veth
	ns           *testnet.NS
	addrA, addrB string // dotted quads in one random /30 of 198.19.0.0/16
	macA         net.HardwareAddr
	ifindexA     int
}

func newTopo(t *testing.T) *topo {
	t.Helper()
	testnet.RequireRoot(t)
	r, s := rand.IntN(256), rand.IntN(64)
	tp := &topo{
		addrA: fmt.Sprintf("198.19.%d.%d", r, 4*s+1),
		addrB: fmt.Sprintf("198.19.%d.%d", r, 4*s+2),
	}
	tp.ns = testnet.NewNS(t, "xskp")
	tp.v = testnet.NewVeth(t, testnet.VethOptions{
		BNS: tp.ns, AAddr: tp.addrA + "/30", BAddr: tp.addrB + "/30", TxOffOnA: true, TxOffOnB: true,
	})
	ifi, err := net.InterfaceByName(tp.v.A)
	if err != nil {
		t.Fatal(err)
	}
	tp.macA, tp.ifindexA = ifi.HardwareAddr, ifi.Index
	return tp
}

// peerMAC reads B's MAC address in its namespace.
func (tp *topo) peerMAC(t *testing.T) net.HardwareAddr {
	out := tp.ns.Exec(t, "cat", "/sys/class/net/"+tp.v.B+"/address")
	mac, err := net.ParseMAC(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func smallConfig(iface string) Config {
	return Config{Iface: iface, NumFrames: 512, FillSize: 128, CompSize: 128, RxSize: 128, TxSize: 128}
}

func openSocket(t *testing.T, cfg Config) *Socket {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// attach loads the filter on tp's A end in mode and registers a small
// socket for queue 0; both close when t ends.
func attach(t *testing.T, tp *topo, mode XDPMode) (*Filter, *Socket) {
	t.Helper()
	f, err := NewFilter(FilterConfig{Iface: tp.v.A, Mode: mode})
	if err != nil {
		t.Fatalf("NewFilter: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	s := openSocket(t, smallConfig(tp.v.A))
	if err := f.Register(0, s); err != nil {
		t.Fatal(err)
	}
	return f, s
}

// recvMatch runs the loop (Wait, Receive, Flush) until a frame satisfies
// match or 5 s pass; other frames are released. The matching frame stays
// owned by the caller.
func recvMatch(t *testing.T, s *Socket, what string, match func([]byte) bool) Desc {
	t.Helper()
	descs := make([]Desc, 32)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.Wait(100*time.Millisecond, -1); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		n := s.Receive(descs)
		for i := 0; i < n; i++ {
			if match(s.Frame(descs[i])) {
				s.Release(descs[i+1 : n])
				return descs[i]
			}
		}
		s.Release(descs[:n])
		s.Flush()
	}
	t.Fatalf("no %s arrived on the AF_XDP socket within 5 s", what)
	return Desc{}
}

func isARPRequestFor(addr [4]byte) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == etherTypeARP &&
			binary.BigEndian.Uint16(f[20:]) == 1 && bytes.Equal(f[38:42], addr[:])
	}
}

func isICMPEchoTo(addr [4]byte) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == etherTypeIP4 && f[23] == protoICMP &&
			bytes.Equal(f[30:34], addr[:]) && f[14+int(f[14]&0xf)*4] == icmpEcho
	}
}

func isTCPTo(addr [4]byte, port uint16) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 54 || binary.BigEndian.Uint16(f[12:]) != etherTypeIP4 || f[23] != protoTCP {
			return false
		}
		th := 14 + int(f[14]&0xf)*4
		return bytes.Equal(f[30:34], addr[:]) && len(f) >= th+4 && binary.BigEndian.Uint16(f[th+2:]) == port
	}
}

// buildARPReply writes, into b, the RFC 826 reply to the request req.
func buildARPReply(b, req []byte, mac net.HardwareAddr) int {
	for i := range b[:64] {
		b[i] = 0xa5 // reused frames hold junk; every field is written below
	}
	copy(b[0:6], req[6:12]) // to the requester
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], etherTypeARP)
	copy(b[14:20], req[14:20]) // htype, ptype, hlen, plen
	binary.BigEndian.PutUint16(b[20:], 2)
	copy(b[22:28], mac)        // sender hardware address: ours
	copy(b[28:32], req[38:42]) // sender protocol address: the asked-for one
	copy(b[32:38], req[22:28]) // target: the requester
	copy(b[38:42], req[28:32])
	return 42
}

// echoReplyInPlace turns a received ICMP echo request into the reply.
func echoReplyInPlace(f []byte) {
	var mac [6]byte
	copy(mac[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], mac[:])
	var a [4]byte
	copy(a[:], f[26:30])
	copy(f[26:30], f[30:34])
	copy(f[30:34], a[:]) // swapping addresses keeps the IPv4 checksum
	ih := 14 + int(f[14]&0xf)*4
	tot := int(binary.BigEndian.Uint16(f[16:]))
	icmp := f[ih : 14+tot]
	icmp[0] = 0
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], inetChecksum(icmp))
}

// settle flushes until the frame accounting adds up (frames the kernel is
// still moving between rings land), for at most 2 s.
func settle(t *testing.T, s *Socket) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		s.Flush()
		if err = s.CheckFrames(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal(err)
}

// TestVethEndToEnd: the filter and a socket on veth A; from the peer, ping
// and TCP. ARP and ICMP for our address and TCP to the served port arrive
// on the socket; our hand-built ARP reply fills the peer's neighbour table
// and our echo reply (the received frame sent back in place) answers ping;
// a kernel listener on another port of the same address stays reachable.
func TestVethEndToEnd(t *testing.T) {
	tp := newTopo(t)
	f, err := NewFilter(FilterConfig{Iface: tp.v.A})
	if err != nil {
		t.Fatalf("NewFilter: %v", err)
	}
	defer f.Close()
	t.Logf("XDP mode %v", f.Mode())
	s := openSocket(t, smallConfig(tp.v.A))
	t.Logf("bind mode %v, need_wakeup %v", s.BindMode(), s.NeedWakeup())
	if s.BindMode() != BindCopy {
		t.Errorf("veth bind mode %v, want copy", s.BindMode())
	}
	if err := f.Register(0, s); err != nil {
		t.Fatal(err)
	}
	ours := ip4(tp.addrA)
	const served, kernelPort = 8080, 9090
	for _, err := range []error{f.AddAddr(ours), f.AddPort(ours, served)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The kernel shares the address: its listener on a port we do not
	// serve must keep working. It resolves the peer with ARP, and the
	// peer's reply (target: our address) is ours, so the kernel gets a
	// static entry.
	testnet.Cmd(t, "ip", "neigh", "replace", tp.addrB, "lladdr", tp.peerMAC(t).String(), "dev", tp.v.A, "nud", "permanent")
	ln, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", tp.addrA, kernelPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	ping := peerHelper(tp.ns, "ping", tp.addrA)
	var pingOut bytes.Buffer
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer ping.Process.Kill()

	// 1. The peer's ARP request for our address arrives; we answer it.
	req := recvMatch(t, s, "ARP request", isARPRequestFor(ours))
	d, b, ok := s.AllocTx()
	if !ok {
		t.Fatal("AllocTx: no frame")
	}
	d.Len = uint32(buildARPReply(b, s.Frame(req), tp.macA))
	s.Release([]Desc{req})
	if s.Transmit([]Desc{d}) != 1 {
		t.Fatal("Transmit ARP reply")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// 2. The ICMP echo request follows; the reply is the same frame.
	echo := recvMatch(t, s, "ICMP echo request", isICMPEchoTo(ours))
	echoReplyInPlace(s.Frame(echo))
	if s.Transmit([]Desc{echo}) != 1 {
		t.Fatal("Transmit echo reply")
	}
	s.Flush()
	if err := ping.Wait(); err != nil {
		t.Fatalf("peer ping got no reply: %v\n%s", err, pingOut.String())
	}
	neigh := tp.ns.Exec(t, "ip", "neigh", "show", tp.addrA, "dev", tp.v.B)
	if !strings.Contains(neigh, tp.macA.String()) {
		t.Errorf("peer neighbour table has no %s for %s: %q", tp.macA, tp.addrA, neigh)
	}

	// 3. TCP to the served port is ours (the SYN arrives; nobody answers).
	conn := peerHelper(tp.ns, "connect", fmt.Sprintf("%s:%d", tp.addrA, served))
	if err := conn.Start(); err != nil {
		t.Fatal(err)
	}
	syn := recvMatch(t, s, "TCP SYN to the served port", isTCPTo(ours, served))
	s.Release([]Desc{syn})
	conn.Process.Kill()
	conn.Wait()

	// 4. TCP to a port we do not serve reaches the kernel listener.
	if out, err := peerHelper(tp.ns, "connect", fmt.Sprintf("%s:%d", tp.addrA, kernelPort)).CombinedOutput(); err != nil {
		t.Errorf("kernel listener on %s:%d unreachable through the filter: %v %s", tp.addrA, kernelPort, err, out)
	}
	settle(t, s)
	st := s.Stats()
	t.Logf("stats %+v", st)
	if st.RxFrames < 3 || st.TxFrames < 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestVethRegisteredVerdict: with a socket in the XSKMAP slot, the real
// program's test run returns XDP_REDIRECT (4) for ours and XDP_PASS for the
// rest: the production program, not only the test variant.
func TestVethRegisteredVerdict(t *testing.T) {
	tp := newTopo(t)
	f, err := LoadFilterProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := openSocket(t, smallConfig(tp.v.A))
	if err := f.Register(0, s); err != nil {
		t.Fatal(err)
	}
	if err := f.Register(1, s); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Register in a slot of another queue: %v, want ErrBadConfig", err)
	}
	f.AddAddr(servedAddr)
	f.AddPort(servedAddr, servedPort)
	for _, c := range []struct {
		frame []byte
		want  uint32
	}{
		{tcpFrame(servedAddr, servedPort), xdpRedirect},
		{arpFrame(1, servedAddr), xdpRedirect},
		{icmpFrame(servedAddr, 8), xdpRedirect},
		{tcpFrame(servedAddr, otherPort), xdpPass},
		{arpFrame(1, otherAddr), xdpPass},
	} {
		if got := run(t, f.Program(), c.frame); got != c.want {
			t.Errorf("verdict %d, want %d", got, c.want)
		}
	}
}

// TestVethTransmitWrap sends six TX-ring-fulls of frames through a real
// socket (rings of 64) and checks the peer counted them and every frame
// came back through the completion ring.
func TestVethTransmitWrap(t *testing.T) {
	tp := newTopo(t)
	s := openSocket(t, Config{Iface: tp.v.A, NumFrames: 256, FrameSize: 2048, FillSize: 64, CompSize: 64, RxSize: 64, TxSize: 64})
	before := peerRxPackets(t, tp)
	// Stats from another goroutine while the loop runs (go test -race).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Stats()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	const total = 6 * 64
	batch := make([]Desc, 0, 16)
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for sent < total && time.Now().Before(deadline) {
		batch = batch[:0]
		for len(batch) < cap(batch) && sent+len(batch) < total {
			d, b, ok := s.AllocTx()
			if !ok {
				break
			}
			d.Len = uint32(junkFrame(b, tp.macA, sent+len(batch)))
			batch = append(batch, d)
		}
		n := s.Transmit(batch)
		for _, d := range batch[n:] {
			s.FreeTx(d)
		}
		sent += n
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	if c := s.FrameCounts(); c.Tx != 0 || c.Completion != 0 {
		t.Errorf("frames left in TX/completion: %+v", c)
	}
	if sent != total {
		t.Fatalf("sent %d of %d", sent, total)
	}
	if got := peerRxPackets(t, tp) - before; got < total {
		t.Errorf("peer received %d frames, want >= %d", got, total)
	}
	t.Logf("stats %+v", s.Stats())
}

// junkFrame writes a broadcast frame of the local experimental EtherType
// 0x88b5 (IEEE 802) that the peer counts and drops.
func junkFrame(b []byte, src net.HardwareAddr, i int) int {
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], 0x88b5)
	for j := 14; j < 60; j++ {
		b[j] = byte(i)
	}
	return 60
}

func peerRxPackets(t *testing.T, tp *topo) int {
	out := tp.ns.Exec(t, "cat", "/sys/class/net/"+tp.v.B+"/statistics/rx_packets")
	var n int
	fmt.Sscan(strings.TrimSpace(out), &n)
	return n
}

// TestVethNoAllocs: the hot-path methods on a real socket allocate nothing
// (Flush included: its kicks are raw syscalls).
func TestVethNoAllocs(t *testing.T) {
	tp := newTopo(t)
	s := openSocket(t, smallConfig(tp.v.A))
	descs := make([]Desc, 16)
	tx := make([]Desc, 1)
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		n := s.Receive(descs)
		s.Release(descs[:n])
		if d, b, ok := s.AllocTx(); ok {
			d.Len = uint32(junkFrame(b, tp.macA, i))
			tx[0] = d
			if s.Transmit(tx) == 0 {
				s.FreeTx(d)
			}
		}
		s.Flush()
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per iteration, want 0", allocs)
	}
	if st := s.Stats(); st.TxKicks == 0 {
		t.Errorf("no TX kicks: %+v", st)
	}
	settle(t, s)
}

// TestOpenCloseNoLeak: Open/Close leaves no descriptor, no ring mapping
// and no UMEM mapping behind, and Close is idempotent.
func TestOpenCloseNoLeak(t *testing.T) {
	tp := newTopo(t)
	count := func() (fds, rings int) {
		e, _ := os.ReadDir("/proc/self/fd")
		m, _ := os.ReadFile("/proc/self/maps")
		return len(e), bytes.Count(m, []byte("socket:["))
	}
	fd0, r0 := count()
	for i := 0; i < 5; i++ {
		s, err := Open(smallConfig(tp.v.A))
		if err != nil {
			t.Fatal(err)
		}
		if _, r := count(); r != r0+4 {
			t.Errorf("%d ring mappings while open, want %d", r, r0+4)
		}
		umem := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&s.um.mem[0])))
		if err := s.CheckFrames(); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_ = s.Stats() // after Close: no panic
		if m, _ := os.ReadFile("/proc/self/maps"); bytes.Contains(m, []byte("\n"+umem)) || bytes.HasPrefix(m, []byte(umem)) {
			t.Errorf("UMEM mapping %s still present after Close", umem)
		}
	}
	if fd1, r1 := count(); fd1 != fd0 || r1 != r0 {
		t.Errorf("leak: fds %d -> %d, ring mappings %d -> %d", fd0, fd1, r0, r1)
	}
}

// TestOpenErrors: user mistakes map to the sentinel errors.
func TestOpenErrors(t *testing.T) {
	tp := newTopo(t)
	if _, err := Open(Config{Iface: "xsk-no-such-if"}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := NewFilter(FilterConfig{Iface: "xsk-no-such-if"}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("missing interface (filter): %v", err)
	}
	cfg := smallConfig(tp.v.A)
	cfg.BindMode = BindZeroCopy
	if s, err := Open(cfg); !errors.Is(err, ErrZeroCopyUnsupported) {
		if err == nil {
			s.Close()
		}
		t.Errorf("zero-copy on veth: %v, want ErrZeroCopyUnsupported", err)
	} else {
		t.Logf("zero-copy: %v", err)
	}
	cfg.BindMode, cfg.QueueID = BindCopy, 99
	if s, err := Open(cfg); err == nil {
		s.Close()
		t.Error("queue 99 on a one-queue veth accepted")
	}
}

// attachNetlinkPass attaches a two-instruction XDP_PASS program to ifindex
// through netlink in mode (XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE), as
// `ip link set dev X xdp obj ...` would: it is not tied to any process.
func attachNetlinkPass(t *testing.T, ifindex int, mode uint32) ebpf.ProgramID {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, xdpPass), // r0 = XDP_PASS
			asm.Return(),                 // return r0
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() // the interface keeps its own reference
	if err := netlinkSetXDP(ifindex, int32(p.FD()), mode); err != nil {
		t.Fatalf("netlink attach: %v", err)
	}
	info, _ := p.Info()
	id, _ := info.ID()
	return id
}

// TestStaleNetlinkProgram: a program attached through netlink (someone
// else's, or a crashed tool's) makes NewFilter fail with ErrXDPBusy naming
// the interface, the program and the command that removes it; with Replace
// it is detached and ours attached.
func TestStaleNetlinkProgram(t *testing.T) {
	for _, c := range []struct {
		name string
		mode uint32
		off  string
	}{
		{"native", unix.XDP_FLAGS_DRV_MODE, "xdp off"},
		{"generic", unix.XDP_FLAGS_SKB_MODE, "xdpgeneric off"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopo(t)
			id := attachNetlinkPass(t, tp.ifindexA, c.mode)
			st, err := queryXDP(tp.ifindexA)
			if err != nil || len(st.progs()) != 1 || st.progs()[0][0] != c.mode {
				t.Fatalf("query after netlink attach: %+v %v", st, err)
			}
			_, err = NewFilter(FilterConfig{Iface: tp.v.A})
			if !errors.Is(err, ErrXDPBusy) {
				t.Fatalf("NewFilter over a netlink program: %v, want ErrXDPBusy", err)
			}
			msg := err.Error()
			for _, want := range []string{tp.v.A, fmt.Sprint(id), c.off, "Replace"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			t.Logf("error: %v", err)
			f, err := NewFilter(FilterConfig{Iface: tp.v.A, Replace: true})
			if err != nil {
				t.Fatalf("NewFilter with Replace: %v", err)
			}
			if st, _ := queryXDP(tp.ifindexA); len(st.progs()) != 1 || st.progs()[0][1] == uint32(id) {
				t.Errorf("after Replace: %+v", st)
			}
			// A second filter while ours is held by a bpf_link: busy, and
			// Replace does not steal it.
			_, err = NewFilter(FilterConfig{Iface: tp.v.A, Replace: true})
			if !errors.Is(err, ErrXDPBusy) || !strings.Contains(err.Error(), "bpf_link") {
				t.Errorf("second filter: %v, want ErrXDPBusy naming the bpf_link", err)
			}
			f.Close()
			if st, _ := queryXDP(tp.ifindexA); len(st.progs()) != 0 {
				t.Errorf("after Close the interface still has XDP: %+v", st)
			}
		})
	}
}

// TestSIGKILLDetaches: a child attaches the filter and a socket and is
// killed with SIGKILL; the bpf_link dies with it, no XDP program remains on
// the interface, and the kernel answers ping again.
func TestSIGKILLDetaches(t *testing.T) {
	tp := newTopo(t)
	child := os_exec(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=attach", "XSK_TEST_IFACE="+tp.v.A, "XSK_TEST_ADDR="+tp.addrA)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	waitLine(t, newScanner(out), "ready")
	if link := testnet.Cmd(t, "ip", "-d", "link", "show", "dev", tp.v.A); !strings.Contains(link, "xdp") {
		t.Fatalf("child attached nothing: %s", link)
	}
	// While the child holds the filter, ARP and ping for the address are
	// the child's socket's, which never answers: the kernel stays silent.
	p := peerHelper(tp.ns, "ping", tp.addrA)
	p.Env = append(p.Env, "XSK_TEST_PING_FOR=1s")
	if out, err := p.CombinedOutput(); err == nil {
		t.Fatalf("ping answered while the child's filter held the address: %s", out)
	}
	if err := child.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	var link string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		link = testnet.Cmd(t, "ip", "-d", "link", "show", "dev", tp.v.A)
		if !strings.Contains(link, "xdp") && !strings.Contains(link, "prog/") {
			break
		}
	}
	if strings.Contains(link, "xdp") || strings.Contains(link, "prog/") {
		t.Fatalf("XDP program still attached after SIGKILL:\n%s", link)
	}
	if out, err := peerHelper(tp.ns, "ping", tp.addrA).CombinedOutput(); err != nil {
		t.Fatalf("kernel does not answer ping after SIGKILL: %v %s", err, out)
	}
}

// TestVethWait: Wait returns on its timeout and on the wake-up eventfd,
// without frames.
func TestVethWait(t *testing.T) {
	tp := newTopo(t)
	s := openSocket(t, smallConfig(tp.v.A))
	got, err := s.Wait(5*time.Millisecond, -1)
	if err != nil || got {
		t.Errorf("Wait timeout: %v %v", got, err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	start := time.Now()
	got, err = s.Wait(-1, efd)
	if err != nil || got {
		t.Errorf("Wait woken: %v %v", got, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("eventfd did not wake Wait")
	}
}

// TestVethGenericMode: XDPGeneric attaches in SKB mode and still delivers.
func TestVethGenericMode(t *testing.T) {
	tp := newTopo(t)
	f, s := attach(t, tp, XDPGeneric)
	if f.Mode() != XDPGeneric {
		t.Errorf("mode %v", f.Mode())
	}
	if link := testnet.Cmd(t, "ip", "-d", "link", "show", "dev", tp.v.A); !strings.Contains(link, "xdpgeneric") {
		t.Errorf("not attached in generic mode: %s", link)
	}
	ours := ip4(tp.addrA)
	f.AddAddr(ours)
	ping := peerHelper(tp.ns, "ping", tp.addrA)
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ping.Process.Kill(); ping.Wait() }()
	req := recvMatch(t, s, "ARP request (generic mode)", isARPRequestFor(ours))
	s.Release([]Desc{req})
	settle(t, s)
}

// TestPermission: without root (uid 65534, no capabilities) Open and
// NewFilter fail with ErrPermission.
func TestPermission(t *testing.T) {
	tp := newTopo(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "xskperm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin, _ := os.ReadFile(exe)
	copyPath := dir + "/xsk.test"
	if err := os.WriteFile(copyPath, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c := os_exec(copyPath, "-test.run=^$")
	c.Env = append(os.Environ(), helperEnv+"=perm", "XSK_TEST_IFACE="+tp.v.A)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	t.Logf("unprivileged helper:\n%s", out)
	if err != nil {
		t.Errorf("unprivileged Open/NewFilter did not fail with ErrPermission: %v", err)
	}
}

// TestVethFlushDrainsTX: one Flush after a ring-full Transmit sends all of
// it. Copy mode transmits a bounded batch per kick (XDP_MAX_TX_SKB_BUDGET,
// 32 by default; Open raises it to the ring size), so a loop that went to
// sleep after a single budget-limited kick would leave frames on the ring
// until its next wake-up. The "budget32" case puts the default back to
// exercise Flush's repeated kicks.
func TestVethFlushDrainsTX(t *testing.T) {
	for _, budget := range []int{0, 32} {
		t.Run(fmt.Sprintf("budget%d", budget), func(t *testing.T) {
			tp := newTopo(t)
			s := openSocket(t, Config{Iface: tp.v.A, NumFrames: 512, FrameSize: 2048, FillSize: 128, CompSize: 256, RxSize: 128, TxSize: 256})
			if budget > 0 {
				if err := unix.SetsockoptInt(s.FD(), unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, budget); err != nil {
					t.Skipf("XDP_MAX_TX_SKB_BUDGET: %v", err)
				}
			}
			before := peerRxPackets(t, tp)
			var ds []Desc
			for i := 0; i < 256; i++ {
				d, b, ok := s.AllocTx()
				if !ok {
					break
				}
				d.Len = uint32(junkFrame(b, tp.macA, i))
				ds = append(ds, d)
			}
			n := s.Transmit(ds)
			for _, d := range ds[n:] {
				s.FreeTx(d)
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			if s.TxPending() {
				t.Errorf("TX ring still holds frames after one Flush: %+v", s.FrameCounts())
			}
			st := s.Stats()
			if budget > 0 && st.KickAgain == 0 {
				t.Errorf("budget %d: no EAGAIN kicks: %+v", budget, st)
			}
			settle(t, s)
			if got := peerRxPackets(t, tp) - before; got < n {
				t.Errorf("peer received %d of %d", got, n)
			}
			t.Logf("%d frames, %d kicks, %d EAGAIN", n, st.TxKicks, st.KickAgain)
		})
	}
}

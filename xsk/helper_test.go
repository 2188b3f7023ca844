package xsk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// The test binary doubles as a helper program, chosen by XSK_TEST_HELPER:
// it runs inside the peer namespace (ping, connect) or as the child that
// is killed with SIGKILL (attach).
const helperEnv = "XSK_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "ping":
		os.Exit(helperPing(os.Getenv("XSK_TEST_ADDR")))
	case "connect":
		os.Exit(helperConnect(os.Getenv("XSK_TEST_ADDR")))
	case "perm":
		os.Exit(helperPerm(os.Getenv("XSK_TEST_IFACE")))
	case "attach":
		os.Exit(helperAttach(os.Getenv("XSK_TEST_IFACE"), os.Getenv("XSK_TEST_ADDR")))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(3)
	}
}

// helperPing sends ICMP echo requests to addr every 200 ms for at most 4 s
// (or XSK_TEST_PING_FOR) and exits 0 on the first echo reply.
func helperPing(addr string) int {
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(addr)}
	buf := make([]byte, 1500)
	wait := 4 * time.Second
	if d, err := time.ParseDuration(os.Getenv("XSK_TEST_PING_FOR")); err == nil {
		wait = d
	}
	deadline := time.Now().Add(wait)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		req := []byte{8, 0, 0, 0, 0x12, 0x34, byte(seq >> 8), byte(seq), 'x', 'd', 'p', 't', 'c', 'p'}
		binary.BigEndian.PutUint16(req[2:], inetChecksum(req))
		if _, err := c.WriteTo(req, dst); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			if n >= 8 && buf[0] == 0 && from.String() == addr && buf[4] == 0x12 && buf[5] == 0x34 {
				return 0
			}
		}
	}
	fmt.Fprintln(os.Stderr, "no echo reply from", addr)
	return 1
}

// helperConnect opens a TCP connection to addr (host:port) with a 2 s
// timeout; exit 0 when it was established.
func helperConnect(addr string) int {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.Close()
	return 0
}

// helperAttach attaches the filter and a socket to iface, serves addr, says
// "ready" and blocks until killed.
func helperAttach(iface, addr string) int {
	f, err := NewFilter(FilterConfig{Iface: iface})
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	s, err := Open(Config{Iface: iface, NumFrames: 256, FillSize: 64, CompSize: 64, RxSize: 64, TxSize: 64})
	if err != nil {
		fmt.Println("error:", err)
		return 2
	}
	if err := f.Register(0, s); err != nil {
		fmt.Println("error:", err)
		return 2
	}
	f.AddAddr(ip4(addr))
	fmt.Println("ready")
	select {}
}

// peerHelper starts the test binary as helper mode inside ns.
func peerHelper(ns *testnet.NS, mode, addr string) *exec.Cmd {
	c := ns.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), helperEnv+"="+mode, "XSK_TEST_ADDR="+addr)
	return c
}

// inetChecksum is the RFC 1071 Internet checksum of b.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ip4(s string) [4]byte {
	var a [4]byte
	copy(a[:], net.ParseIP(s).To4())
	return a
}

// waitLine reads lines from r until one starts with want, or fails.
func waitLine(t *testing.T, sc *bufio.Scanner, want string) {
	t.Helper()
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), want) {
			return
		}
		t.Logf("child: %s", sc.Text())
		if strings.HasPrefix(sc.Text(), "error:") {
			t.Fatalf("child failed: %s", sc.Text())
		}
	}
	t.Fatalf("child ended before %q", want)
}

func os_exec(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

func newScanner(r interface{ Read([]byte) (int, error) }) *bufio.Scanner { return bufio.NewScanner(r) }

// helperPerm runs unprivileged: Open and NewFilter must fail with
// ErrPermission. It prints one line per check.
func helperPerm(iface string) int {
	rc := 0
	_, err := Open(Config{Iface: iface, NumFrames: 64, FillSize: 16, CompSize: 16, RxSize: 16, TxSize: 16})
	fmt.Printf("open: %v: %v\n", errors.Is(err, ErrPermission), err)
	if !errors.Is(err, ErrPermission) {
		rc = 1
	}
	_, err = NewFilter(FilterConfig{Iface: iface})
	fmt.Printf("filter: %v: %v\n", errors.Is(err, ErrPermission), err)
	if !errors.Is(err, ErrPermission) {
		rc = 1
	}
	return rc
}

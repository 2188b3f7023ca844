package main

// End-to-end tests: xdptcpd in one namespace, the Linux kernel as the
// client in another, joined by a veth pair. They need root; with CI=true
// they must run.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// The server side is deployed as on a real host: the kernel owns the
// address too and keeps every port xdptcpd does not serve.
const (
	srvIP = "198.18.0.1" // served by xdptcpd, and the kernel's own address
	cliIP = "198.18.0.2"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// daemonBinary builds xdptcpd once per test run.
// TestMain removes the daemon binary daemonBinary built (18 MB a run).
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func daemonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xdptcpd-test")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755) // the not-root case runs it as nobody
		binPath = filepath.Join(dir, "xdptcpd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// topo is a server namespace running xdptcpd and a client namespace.
type topo struct {
	srv, cli *testnet.NS
	veth     *testnet.Veth
	cmd      *exec.Cmd
	log      *syncBuffer
	admin    string
	exited   chan error
	v6       bool // the SYN-flood helpers aim at srvIP6 from 2001:2:0:8000::/49
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTopo builds the namespaces and starts xdptcpd with http on 8080 and
// echo on 7 plus extra flags.
func newTopo(t *testing.T, extra ...string) *topo {
	t.Helper()
	return newTopoWith(t, nil, extra...)
}

// newTopoWith is newTopo with setup run on the topology before xdptcpd
// starts.
func newTopoWith(t *testing.T, setup func(*topo), extra ...string) *topo {
	t.Helper()
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp := &topo{srv: testnet.NewNS(t, "xs"), cli: testnet.NewNS(t, "xc"), admin: "127.0.0.1:9100"}
	tp.veth = testnet.NewVeth(t, testnet.VethOptions{
		ANS: tp.srv, BNS: tp.cli, AAddr: srvIP + "/24", BAddr: cliIP + "/24", TxOffOnB: true,
	})
	if setup != nil {
		setup(tp)
	}
	tp.start(t, append([]string{"netns", "exec", tp.srv.Name, bin,
		"--iface", tp.veth.A, "--addr", srvIP + "/24",
		"--listen", "8080=http", "--listen", "7=echo", "--listen", "9=discard",
		"--admin", tp.admin}, extra...)...)
	return tp
}

// start runs argv (an `ip` command line, netns exec ... xdptcpd ...) as
// tp's daemon, kills it when the test ends (printing its output if the test
// failed) and waits until tp.admin answers /healthz. tp.exited receives
// the exit status; a test that reads it puts it back.
func (tp *topo) start(t testing.TB, argv ...string) {
	t.Helper()
	tp.cmd = exec.Command("ip", argv...)
	tp.log = &syncBuffer{}
	tp.cmd.Stdout, tp.cmd.Stderr = tp.log, tp.log
	if err := tp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tp.exited = make(chan error, 1)
	go func() { tp.exited <- tp.cmd.Wait() }()
	t.Cleanup(func() {
		tp.cmd.Process.Kill()
		err := <-tp.exited
		tp.exited <- err
		if t.Failed() {
			t.Logf("xdptcpd output:\n%s", tp.log.String())
		}
	})
	tp.waitHealthy(t)
}

// httpInNS is an HTTP client whose sockets live in ns.
func httpInNS(ns *testnet.NS) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, n, a string) (net.Conn, error) { return ns.Dial(ctx, n, a) },
			DisableKeepAlives: true,
		},
	}
}

func (tp *topo) waitHealthy(t testing.TB) {
	t.Helper()
	c := httpInNS(tp.srv)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-tp.exited:
			tp.exited <- err // for the cleanup, which waits for it
			t.Fatalf("xdptcpd exited at start: %v\n%s", err, tp.log.String())
		default:
		}
		resp, err := c.Get("http://" + tp.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("xdptcpd not healthy after 15 s\n%s", tp.log.String())
}

// get makes one HTTP/1.1 request on c and checks the response.
func get(br *bufio.Reader, c net.Conn, close bool) error {
	req := "GET / HTTP/1.1\r\nHost: " + srvIP + "\r\n\r\n"
	if close {
		req = "GET / HTTP/1.1\r\nHost: " + srvIP + "\r\nConnection: close\r\n\r\n"
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("got %s %q", resp.Status, body)
	}
	return nil
}

func TestDaemonServesKernelClients(t *testing.T) {
	tp := newTopo(t)
	ctx := context.Background()

	t.Run("curl", func(t *testing.T) {
		out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "10", "http://"+srvIP+":8080/")
		if out != "Hello, World!" {
			t.Fatalf("curl got %q", out)
		}
	})

	t.Run("ping", func(t *testing.T) {
		out := tp.cli.Exec(t, "ping", "-c", "3", "-i", "0.2", "-W", "2", srvIP)
		if !strings.Contains(out, "3 received") {
			t.Fatalf("ping: %s", out)
		}
	})

	t.Run("1000 sequential connections", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			c, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			err = get(bufio.NewReader(c), c, true)
			c.Close()
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
	})

	t.Run("64 concurrent x 100 keep-alive", func(t *testing.T) {
		conns := make([]net.Conn, 64)
		for i := range conns {
			c, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			defer c.Close()
			conns[i] = c
		}
		errs := make(chan error, len(conns))
		for _, c := range conns {
			go func(c net.Conn) {
				br := bufio.NewReader(c)
				for j := 0; j < 100; j++ {
					if err := get(br, c, false); err != nil {
						errs <- fmt.Errorf("request %d: %w", j, err)
						return
					}
				}
				errs <- nil
			}(c)
		}
		for range conns {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("echo 8 MiB round trip", func(t *testing.T) {
		data := make([]byte, 8<<20)
		rand.Read(data)
		c, err := tp.cli.Dial(ctx, "tcp", srvIP+":7")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(data)
			if err == nil {
				err = c.(*net.TCPConn).CloseWrite()
			}
			werr <- err
		}()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", n, err)
		}
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if n != int64(len(data)) || !bytes.Equal(h.Sum(nil), sha256Sum(data)) {
			t.Fatalf("echoed %d bytes, SHA-256 differs", n)
		}
	})

	t.Run("kernel keeps other ports", func(t *testing.T) {
		ln, err := tp.srv.Listen("tcp", "0.0.0.0:9090")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go serveKernel(ln)
		if err := kernelHello(tp.cli, srvIP+":9090"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("metrics and connection listing", func(t *testing.T) {
		fams := scrapeMetrics(t, tp.srv, tp.admin)
		for _, name := range []string{
			"xdptcp_frames_received_total", "xdptcp_frames_transmitted_total", "xdptcp_frames_dropped_total",
			"xdptcp_tcp_passive_opens_total", "xdptcp_tcp_out_rsts_total", "xdptcp_tcp_ext_listen_overflows_total",
			"xdptcp_icmp_in_echos_total", "xdptcp_xsk_events_total", "xdptcp_tcp_connections",
			"xdptcp_proxy_connections_total", "xdptcp_proxy_bytes_total", "xdptcp_tcp_mem_pages", "xdptcp_tcp_mem_bytes", "xdptcp_tcp_orphans", "xdptcp_tcp_ext_tcp_abort_on_memory_total",
		} {
			if fams[name] == nil {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if f := fams["xdptcp_tcp_passive_opens_total"]; f != nil && f.Metric[0].GetCounter().GetValue() < 1000 {
			t.Errorf("passive opens %v, want >= 1000", f.Metric[0].GetCounter().GetValue())
		}
		held, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		out := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin, "--state", "ESTABLISHED")
		if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, cliIP+":") {
			t.Fatalf("xdptcpd ss does not show the held connection:\n%s", out)
		}
	})

	t.Run("SIGTERM exits 0 and detaches", func(t *testing.T) {
		tp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-tp.exited:
			tp.exited <- err // for the cleanup
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, tp.log.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("xdptcpd did not stop within 10 s of SIGTERM")
		}
		waitNoXDP(t, tp)
	})
}

// scrapeMetrics fetches the daemon's /metrics from inside ns and parses it
// with the Prometheus text parser, failing t on any error.
func scrapeMetrics(t testing.TB, ns *testnet.NS, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpInNS(ns).Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("/metrics: status %s, parse: %v", resp.Status, err)
	}
	return fams
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// serveKernel answers every connection with "kernel\n".
func serveKernel(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "kernel\n")
		c.Close()
	}
}

func kernelHello(ns *testnet.NS, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "kernel\n" {
		return fmt.Errorf("%s answered %q", addr, b)
	}
	return nil
}

// waitNoXDP waits until no XDP program is attached to the server's veth.
func waitNoXDP(t *testing.T, tp *topo) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := testnet.Cmd(t, "ip", "-n", tp.srv.Name, "-d", "link", "show", "dev", tp.veth.A)
		if !strings.Contains(out, "prog/xdp") && !strings.Contains(out, "xdp") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("XDP program still attached:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// After kill -9 the bpf_link goes with the process: the interface is the
// kernel's again, for other ports and for the port xdptcpd served.
func TestKill9GivesInterfaceBack(t *testing.T) {
	tp := newTopo(t)
	if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "10", "http://"+srvIP+":8080/"); out != "Hello, World!" {
		t.Fatalf("curl got %q", out)
	}
	other, err := tp.srv.Listen("tcp", "0.0.0.0:9090")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go serveKernel(other)

	if err := tp.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = <-tp.exited
	tp.exited <- err
	waitNoXDP(t, tp)

	// The kernel answers on the served port again.
	kernelServesAgain(t, tp, "8080")
	if err := kernelHello(tp.cli, srvIP+":9090"); err != nil {
		t.Fatalf("other port: %v", err)
	}
}

// kernelServesAgain checks, after xdptcpd left the interface, that a kernel
// server on port of the server namespace answers the client namespace.
func kernelServesAgain(t *testing.T, tp *topo, port string) {
	t.Helper()
	tp.cli.Exec(t, "ip", "neigh", "flush", "dev", tp.veth.B)
	ln, err := tp.srv.Listen("tcp", "0.0.0.0:"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveKernel(ln)
	if err := kernelHello(tp.cli, srvIP+":"+port); err != nil {
		t.Fatalf("served port %s after xdptcpd left: %v", port, err)
	}
}

// Mistakes a user can make end with one line and exit status 2.
func TestUserErrorsExit2(t *testing.T) {
	bin := daemonBinary(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown interface", []string{"--iface", "nosuch0", "--addr", srvIP, "--listen", "80=http"}, "no such interface"},
		{"bad address", []string{"--iface", "lo", "--addr", "300.1.1.1", "--listen", "80=http"}, "not an IPv4 or IPv6 address"},
		{"port twice", []string{"--iface", "lo", "--addr", srvIP, "--listen", "80=http", "--listen", "80=echo"}, "given twice"},
		{"unknown handler", []string{"--iface", "lo", "--addr", srvIP, "--listen", "80=nope"}, "unknown handler"},
		{"unknown sysctl", []string{"--iface", "lo", "--addr", srvIP, "--listen", "80=http", "--sysctl", "tcp_nope=1"}, "tcp_nope"},
		{"sysctl out of range", []string{"--iface", "lo", "--addr", srvIP, "--listen", "80=http", "--sysctl", "tcp_syncookies=7"}, "tcp_syncookies"},
		{"no listen", []string{"--iface", "lo", "--addr", srvIP}, "nothing to serve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runBin(t, bin, tc.args...)
			if code != 2 || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Fatalf("exit %d, output %q; want exit 2 and one line containing %q", code, out, tc.want)
			}
		})
	}
	t.Run("not root", func(t *testing.T) {
		testnet.RequireRoot(t)
		out, code := runBin(t, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin,
			"--iface", "lo", "--addr", srvIP, "--listen", "80=http")
		if code != 2 || !strings.Contains(out, "CAP_NET_ADMIN") {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
}

func runBin(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

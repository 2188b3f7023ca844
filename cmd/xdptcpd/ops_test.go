package main

// Operating xdptcpd against Linux kernel clients: /metrics, xdptcpd ss,
// graceful SIGTERM with downloads in flight, SIGHUP reloads. They need
// root; with CI=true they must run.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// newOpsTopo is newTopo with the whole xdptcpd command line given (no
// built-in --listen flags, so a config file's listeners count).
func newOpsTopo(t *testing.T, args ...string) *topo {
	t.Helper()
	return newOpsTopoWith(t, nil, args...)
}

// newOpsTopoWith runs xdptcpd under the command prefix (e.g. setpriv ...).
func newOpsTopoWith(t *testing.T, prefix []string, args ...string) *topo {
	t.Helper()
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	tp := &topo{srv: testnet.NewNS(t, "xs"), cli: testnet.NewNS(t, "xc"), admin: "127.0.0.1:9100"}
	tp.veth = testnet.NewVeth(t, testnet.VethOptions{
		ANS: tp.srv, BNS: tp.cli, AAddr: srvIP + "/24", BAddr: cliIP + "/24", TxOffOnB: true,
	})
	full := append(append([]string{"netns", "exec", tp.srv.Name}, prefix...), bin)
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "IFACE", tp.veth.A))
	}
	// /healthz is polled on a TCP --admin, or on --metrics when given
	// (it answers there without a token).
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--admin" && isControlTCP(args[i+1]) {
			tp.admin = args[i+1]
		}
	}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--metrics" {
			tp.admin = args[i+1]
		}
	}
	tp.start(t, full...)
	return tp
}

// dialSmallRcvbuf connects from ns with a 64 KiB receive buffer, so that
// a slow reader keeps the rest of a download in the server's send buffer.
func dialSmallRcvbuf(ns *testnet.NS, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10) })
			return serr
		}}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	return c, err
}

func scrape(t *testing.T, tp *topo) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeMetrics(t, tp.srv, tp.admin)
}

// /metrics parses with the Prometheus text parser and has the families the
// issue lists; counters end in _total; no per-connection labels. xdptcpd ss
// lists a connection that curl holds open.
func TestOpsMetricsAndSS(t *testing.T) {
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http", "--listen", "8081=blob", "--admin", "127.0.0.1:9100")
	if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "10", "http://"+srvIP+":8080/"); out != "Hello, World!" {
		t.Fatalf("curl got %q", out)
	}
	// curl reads 4 MiB at 64 KiB/s: it holds the connection for a minute
	// unless killed.
	curl := tp.cli.Command("curl", "-sS", "--max-time", "50", "--limit-rate", "64K", "-o", "/dev/null", "http://"+srvIP+":8081/4MiB")
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { curl.Process.Kill(); curl.Wait() }()
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out = tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin, "--state", "ESTABLISHED")
		if strings.Contains(out, srvIP+":8081") && strings.Contains(out, cliIP+":") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "ESTABLISHED") || !strings.Contains(out, srvIP+":8081") || !strings.Contains(out, cliIP+":") {
		t.Fatalf("xdptcpd ss does not show curl's connection:\n%s", out)
	}
	if !strings.HasPrefix(out, "State") || !strings.Contains(out, "Send-Q") || !strings.Contains(out, "Cwnd") {
		t.Fatalf("xdptcpd ss has no header:\n%s", out)
	}
	// ss -i: TCP_INFO of the held connection, as `ss -ti` prints it, with
	// a measured RTT and a congestion window.
	info := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin, "-i", "--state", "ESTABLISHED")
	rtt := regexp.MustCompile(`\brtt:([0-9.]+)/[0-9.]+`).FindStringSubmatch(info)
	cwnd := regexp.MustCompile(`\bcwnd:([0-9]+)`).FindStringSubmatch(info)
	if rtt == nil || cwnd == nil || rtt[1] == "0" || cwnd[1] == "0" || !strings.Contains(info, "bytes_sent:") || !strings.Contains(info, "mss:") {
		t.Fatalf("xdptcpd ss -i shows no rtt and cwnd:\n%s", info)
	}
	var withInfo []struct {
		Local string `json:"local"`
		Info  *struct {
			RTT       int64  `json:"rtt"`
			SndCwnd   int    `json:"snd_cwnd"`
			BytesSent uint64 `json:"bytes_sent"`
			State     string `json:"state"`
		} `json:"info"`
	}
	js := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin, "-i", "--json", "--state", "ESTABLISHED")
	if err := json.Unmarshal([]byte(js), &withInfo); err != nil || len(withInfo) == 0 || withInfo[0].Info == nil ||
		withInfo[0].Info.RTT <= 0 || withInfo[0].Info.SndCwnd <= 0 || withInfo[0].Info.BytesSent == 0 {
		t.Fatalf("xdptcpd ss -i --json: %v\n%s", err, js)
	}
	t.Logf("ss -i:\n%s", info)

	var listed []connEntry
	js = tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", tp.admin, "--state", "established", "--json")
	if err := json.Unmarshal([]byte(js), &listed); err != nil || len(listed) == 0 || listed[0].State != "ESTABLISHED" {
		t.Fatalf("xdptcpd ss --json: %v\n%s", err, js)
	}

	fams := scrape(t, tp)
	// Every metric the Grafana dashboard queries is exported.
	for _, name := range dashboardMetrics(t) {
		if fams[name] == nil {
			t.Errorf("configs/grafana-xdptcp.json queries %s, which /metrics does not export", name)
		}
	}
	for _, name := range []string{
		"xdptcp_tcp_active_opens_total", "xdptcp_tcp_passive_opens_total", "xdptcp_tcp_out_rsts_total",
		"xdptcp_tcp_in_segs_total", "xdptcp_tcp_out_segs_total", "xdptcp_tcp_retrans_segs_total",
		"xdptcp_tcp_ext_listen_overflows_total", "xdptcp_tcp_ext_listen_drops_total", "xdptcp_tcp_ext_syncookies_sent_total",
		"xdptcp_frames_received_total", "xdptcp_frames_transmitted_total", "xdptcp_frames_dropped_total",
		"xdptcp_xsk_events_total", "xdptcp_xsk_ring_entries",
		"xdptcp_tcp_connections", "xdptcp_listen_accept_queue", "xdptcp_listen_syn_queue",
	} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	allowed := map[string]bool{"queue": true, "reason": true, "event": true, "ring": true, "counter": true, "state": true, "port": true, "direction": true}
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if !allowed[lp.GetName()] {
					t.Errorf("%s has label %s (no per-connection labels)", name, lp.GetName())
				}
			}
		}
	}
	if f := fams["xdptcp_tcp_connections"]; f != nil {
		est := -1.0
		for _, m := range f.Metric {
			if m.Label[0].GetValue() == "ESTABLISHED" {
				est = m.GetGauge().GetValue()
			}
		}
		if est < 1 {
			t.Errorf("xdptcp_tcp_connections{state=ESTABLISHED} = %v while curl holds a connection", est)
		}
	}
	for _, ev := range []string{"fill_ring_empty", "tx_ring_full"} {
		found := false
		for _, m := range fams["xdptcp_xsk_events_total"].GetMetric() {
			for _, lp := range m.Label {
				if lp.GetValue() == ev {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("xdptcp_xsk_events_total has no event=%q", ev)
		}
	}
	if f := fams["xdptcp_listen_accept_queue"]; f != nil && len(f.Metric) != 2 {
		t.Errorf("xdptcp_listen_accept_queue has %d series, want one per port and queue (2)", len(f.Metric))
	}
	// One log line at start, with what an operator needs.
	var start []string
	for _, line := range strings.Split(tp.log.String(), "\n") {
		if strings.Contains(line, "level=INFO") {
			start = append(start, line)
		}
	}
	if len(start) != 1 {
		t.Fatalf("want one INFO line at start, got %d:\n%s", len(start), strings.Join(start, "\n"))
	}
	for _, k := range []string{"iface=", "queues=", "xdp_mode=native", "bind_mode=copy", `listen="8080=http,8081=blob"`} {
		if !strings.Contains(start[0], k) {
			t.Errorf("start line lacks %s: %s", k, start[0])
		}
	}
}

// SIGTERM while 50 clients are mid-download of 4 MiB: new connections are
// refused, every client gets all its bytes, xdptcpd exits 0 within the
// grace period and the interface is the kernel's again.
func TestOpsSIGTERMDrainsDownloads(t *testing.T) {
	const (
		clients = 50
		size    = 4 << 20
		grace   = 20 * time.Second
	)
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8081=blob", "--admin", "127.0.0.1:9100", "--grace", grace.String())
	want := sha256.Sum256(blobBody(size))
	var progressed atomic.Int32
	results := make(chan error, clients)
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := dialSmallRcvbuf(tp.cli, srvIP+":8081")
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	for _, c := range conns {
		go func(c net.Conn) {
			results <- func() error {
				c.SetDeadline(time.Now().Add(55 * time.Second))
				if _, err := io.WriteString(c, "GET /4MiB HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
					return err
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return err
				}
				if resp.StatusCode != 200 || resp.ContentLength != size {
					return fmt.Errorf("got %s, length %d", resp.Status, resp.ContentLength)
				}
				h := sha256.New()
				buf := make([]byte, 16<<10)
				var n int
				told := false
				for {
					// A slow reader: about 1.6 MB/s per client.
					k, err := resp.Body.Read(buf)
					h.Write(buf[:k])
					n += k
					if !told && n >= 256<<10 {
						told = true
						progressed.Add(1)
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						return fmt.Errorf("after %d bytes: %w", n, err)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if !told {
					progressed.Add(1)
				}
				c.Close()
				if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
					return fmt.Errorf("got %d bytes, SHA-256 differs", n)
				}
				return nil
			}()
		}(c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for progressed.Load() < clients {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d clients got 256 KiB in 30 s", progressed.Load(), clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	// New connections are refused at once (SYNs dropped).
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(tp.log.String(), "new connections refused") {
		if time.Now().After(deadline) {
			t.Fatal("no shutdown log line 5 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if c, err := tp.cli.Dial(ctx, "tcp", srvIP+":8081"); err == nil {
		c.Close()
		t.Error("a new connection was accepted after SIGTERM")
	}
	cancel()
	for i := 0; i < clients; i++ {
		if err := <-results; err != nil {
			t.Errorf("client: %v", err)
		}
	}
	select {
	case err := <-tp.exited:
		tp.exited <- err
		if err != nil {
			t.Fatalf("xdptcpd exit: %v", err)
		}
	case <-time.After(grace + 5*time.Second - time.Since(sent)):
		t.Fatalf("xdptcpd still running %v after SIGTERM (grace %v)", time.Since(sent), grace)
	}
	if took := time.Since(sent); took > grace {
		t.Errorf("xdptcpd took %v to exit, more than the grace period %v", took, grace)
	} else {
		t.Logf("xdptcpd exited %v after SIGTERM with %d downloads in flight", took.Round(time.Millisecond), clients)
	}
	waitNoXDP(t, tp)
	// The kernel has the interface back, the served port included.
	kernelServesAgain(t, tp, "8081")
}

type connEntry struct {
	State  string  `json:"state"`
	Local  string  `json:"local"`
	Peer   string  `json:"peer"`
	Timer  string  `json:"timer"`
	TimerS float64 `json:"timer_s"`
}

func connsJSONOf(t *testing.T, tp *topo) []connEntry {
	t.Helper()
	resp, err := httpInNS(tp.srv).Get("http://" + tp.admin + "/debug/conns?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []connEntry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitConn polls /debug/conns until the connection from peer satisfies ok.
func waitConn(t *testing.T, tp *topo, peer string, ok func(connEntry) bool) connEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []connEntry
	for time.Now().Before(deadline) {
		last = connsJSONOf(t, tp)
		for _, e := range last {
			if e.Peer == peer && ok(e) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("connection from %s never matched; connections: %+v", peer, last)
	return connEntry{}
}

// SIGHUP reloads the file: a changed tcp_keepalive_time applies to a
// connection opened afterwards (its timer, then a probe on the wire), a
// changed handler to new connections while an open one keeps its own, a
// new port is served, and a setting that needs a restart is named and kept.
func TestOpsSIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "xdptcpd.yaml")
	conf := func(keepalive, handler, extra, sysctlExtra string) {
		s := fmt.Sprintf(`iface: IFACE
addr: %s/24
admin: 127.0.0.1:9100
grace: 5s
listen:
  - port: 8080
    handler: %s
    keepalive: true
%s
sysctl:
  tcp_keepalive_time: "%s"
%s`, srvIP, handler, extra, keepalive, sysctlExtra)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf("7200", "http", "", "")
	// The interface name is known once the topology exists: the file names
	// IFACE and the flag wins.
	tp := newOpsTopo(t, "--config", path, "--iface", "IFACE")
	ctx := context.Background()

	a, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	abr := bufio.NewReader(a)
	if err := get(abr, a, false); err != nil {
		t.Fatal(err)
	}
	ea := waitConn(t, tp, a.LocalAddr().String(), func(e connEntry) bool { return e.Timer == "keepalive" })
	if ea.TimerS < 7000 {
		t.Fatalf("before reload: keepalive in %v s, want ~7200", ea.TimerS)
	}

	conf("2", "blob", "  - port: 8082\n    handler: echo\nframe_size: 2048\nlog_level: debug", "  max_connections: \"1000\"\n")
	tp.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.log.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no reload log line 10 s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs := tp.log.String()
	if !strings.Contains(logs, "need a restart") || !strings.Contains(logs, "frame_size") || !strings.Contains(logs, "sysctl.max_connections") {
		t.Errorf("the reload does not report frame_size and max_connections as kept:\n%s", logs)
	}
	for _, w := range []string{"sysctl.tcp_keepalive_time", "listen.8080(blob)", "listen.8082(new,echo)", "log_level"} {
		if !strings.Contains(logs, w) {
			t.Errorf("the reload does not report %s as changed:\n%s", w, logs)
		}
	}

	b, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	eb := waitConn(t, tp, b.LocalAddr().String(), func(e connEntry) bool { return e.Timer == "keepalive" })
	if eb.TimerS > 2 {
		t.Fatalf("after reload: new connection's keepalive in %v s, want <= 2", eb.TimerS)
	}
	// The new connection gets the new handler, the old one keeps its own.
	b.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(b, "GET /1000 HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, blobBody(1000)) {
		t.Fatalf("new connection after reload: %s, %d bytes; want the blob handler's 1000", resp.Status, len(body))
	}
	if err := get(abr, a, false); err != nil {
		t.Fatalf("connection opened before the reload: %v", err)
	}
	// The new port.
	e, err := tp.cli.Dial(ctx, "tcp", srvIP+":8082")
	if err != nil {
		t.Fatal(err)
	}
	e.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(e, "ping")
	pong := make([]byte, 4)
	if _, err := io.ReadFull(e, pong); err != nil || string(pong) != "ping" {
		t.Fatalf("echo on the port added by the reload: %q, %v", pong, err)
	}
	e.Close()
	// A keepalive probe goes out once b has been idle for 2 s.
	deadline = time.Now().Add(15 * time.Second)
	for {
		var probes float64
		for name, f := range scrape(t, tp) {
			if strings.Contains(name, "keep_alive") && len(f.Metric) > 0 {
				probes = f.Metric[0].GetCounter().GetValue()
			}
		}
		if probes >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no keepalive probe counted 15 s after the reload")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Both connections survived the reload.
	for _, c := range []net.Conn{a, b} {
		waitConn(t, tp, c.LocalAddr().String(), func(e connEntry) bool { return e.State == "ESTABLISHED" })
	}
	// A bad file is refused with its line; the running configuration stays.
	os.WriteFile(path, []byte("iface: x\nbogus: 1\n"), 0o644)
	tp.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.log.String(), "reload failed") {
		if time.Now().After(deadline) {
			t.Fatal("no 'reload failed' line for a bad file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(tp.log.String(), `xdptcpd.yaml:2: unknown key \"bogus\"`) {
		t.Errorf("reload failure does not name the line:\n%s", tp.log.String())
	}
	if err := get(abr, a, false); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

// background is an xdptcpd started by a test that waits for its lines.
type background struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan error
}

func startBackground(t *testing.T, name string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(name, args...), log: &syncBuffer{}, exited: make(chan error, 1)}
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.exited <- b.cmd.Wait() }()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		err := <-b.exited
		b.exited <- err
	})
	return b
}

func (b *background) waitLine(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(b.log.String(), s) {
		select {
		case err := <-b.exited:
			b.exited <- err
			t.Fatalf("xdptcpd exited (%v) before logging %q:\n%s", err, s, b.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xdptcpd did not log %q in 15 s:\n%s", s, b.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and wants exit status 0 (waiting up to 30 s: a
// loaded machine is slow, and no connection holds the shutdown).
func (b *background) stop(t *testing.T) {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.exited:
		b.exited <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, b.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM:\n%s", b.log.String())
	}
}

// Start-up checks: a one-line error with exit status 2, or a warning where
// xdptcpd goes on.
func TestOpsStartupChecks(t *testing.T) {
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	ns := testnet.NewNS(t, "xk")
	v := testnet.NewVeth(t, testnet.VethOptions{ANS: ns, AAddr: srvIP + "/24"})
	br := testnet.Name("xbr")
	testnet.Cmd(t, "ip", "-n", ns.Name, "link", "add", br, "type", "bridge") // no native XDP; created down
	inNS := func(args ...string) []string { return append([]string{"netns", "exec", ns.Name}, args...) }
	base := func(iface string, extra ...string) []string {
		return inNS(append([]string{bin, "--iface", iface, "--addr", srvIP, "--listen", "80=http"}, extra...)...)
	}
	exit2 := func(t *testing.T, want string, args ...string) {
		t.Helper()
		out, code := runBin(t, "ip", args...)
		if code != 2 || !strings.Contains(out, want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Fatalf("exit %d, output %q; want exit 2 and one line containing %q", code, out, want)
		}
	}
	t.Run("interface down", func(t *testing.T) {
		exit2(t, "is down", base(br)...)
	})
	testnet.Cmd(t, "ip", "-n", ns.Name, "link", "set", br, "up")
	t.Run("native XDP demanded, driver has none", func(t *testing.T) {
		exit2(t, "has no native XDP", base(br, "--xdp-mode", "native")...)
	})
	t.Run("zero-copy demanded, not available", func(t *testing.T) {
		exit2(t, "zero-copy AF_XDP is not supported", base(v.A, "--bind-mode", "zerocopy")...)
	})
	t.Run("memlock too low", func(t *testing.T) {
		exit2(t, "memlock limit 64 KiB (hard 64 KiB) is below the UMEM's 16384 KiB",
			inNS(append([]string{"prlimit", "--memlock=65536:65536", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				"--inh-caps=+net_admin,+net_raw,+bpf,+perfmon", "--ambient-caps=+net_admin,+net_raw,+bpf,+perfmon"},
				base(br)[3:]...)...)...)
	})
	t.Run("generic fallback, GRO, another program attached", func(t *testing.T) {
		testnet.Cmd(t, "ip", "netns", "exec", ns.Name, "ethtool", "-K", br, "gro", "on")
		b := startBackground(t, "ip", base(br)...)
		b.waitLine(t, "xdptcpd serving")
		for _, w := range []string{"no native XDP: attached in generic mode", "GRO is on", "xdp_mode=generic"} {
			if !strings.Contains(b.log.String(), w) {
				t.Errorf("log lacks %q:\n%s", w, b.log.String())
			}
		}
		exit2(t, "another XDP program is attached", base(br, "--admin", "127.0.0.1:9101")...)
		b.stop(t)
	})
	t.Run("no carrier", func(t *testing.T) {
		a, b := testnet.Name("xna"), testnet.Name("xnb")
		testnet.Cmd(t, "ip", "-n", ns.Name, "link", "add", a, "type", "veth", "peer", "name", b)
		testnet.Cmd(t, "ip", "-n", ns.Name, "link", "set", a, "up") // b stays down: a has no carrier
		bg := startBackground(t, "ip", base(a, "--admin", "127.0.0.1:9102")...)
		bg.waitLine(t, "xdptcpd serving")
		if !strings.Contains(bg.log.String(), "no carrier") {
			t.Errorf("no warning for an interface without carrier:\n%s", bg.log.String())
		}
		bg.stop(t)
	})
	t.Run("address on none of the interface's networks", func(t *testing.T) {
		args := base(v.A)
		args[7] = "198.19.5.5/24"
		b := startBackground(t, "ip", args...)
		b.waitLine(t, "xdptcpd serving")
		if !strings.Contains(b.log.String(), "level=WARN msg=\"our address is on none of the interface's networks") ||
			!strings.Contains(b.log.String(), "kernel_addrs="+srvIP+"/24") {
			t.Errorf("no warning for an address off the interface's networks:\n%s", b.log.String())
		}
		b.stop(t)
	})
}

// configs/xdptcpd.service verifies with systemd-analyze, grants the
// capabilities and no more, does not run as root, and those capabilities
// are enough: xdptcpd serves curl as an unprivileged user with them.
func TestOpsServiceUnit(t *testing.T) {
	b, err := os.ReadFile("../../configs/xdptcpd.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	var ambient []string
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "AmbientCapabilities="); ok {
			ambient = strings.Fields(v)
		}
		if strings.HasPrefix(line, "User=root") {
			t.Errorf("the unit runs as root: %s", line)
		}
	}
	for _, c := range []string{"CAP_NET_ADMIN", "CAP_BPF", "CAP_NET_RAW", "CAP_IPC_LOCK"} {
		if !strings.Contains(strings.Join(ambient, " "), c) {
			t.Errorf("AmbientCapabilities lacks %s", c)
		}
	}
	for _, c := range ambient {
		if c == "CAP_SYS_ADMIN" {
			t.Error("the unit grants CAP_SYS_ADMIN")
		}
	}
	if !strings.Contains(unit, "DynamicUser=yes") || !strings.Contains(unit, "CapabilityBoundingSet=") || !strings.Contains(unit, "ExecReload=") {
		t.Error("the unit lacks DynamicUser=yes, CapabilityBoundingSet= or ExecReload=")
	}
	testnet.RequireRoot(t)
	bin := daemonBinary(t)
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		u := filepath.Join(dir, "xdptcpd.service")
		os.WriteFile(u, []byte(strings.ReplaceAll(unit, "/usr/local/bin/xdptcpd", bin)), 0o644)
		if out, err := exec.Command("systemd-analyze", "verify", u).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	var caps []string
	for _, c := range ambient {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	cs := strings.Join(caps, ",")
	tp := newOpsTopoWith(t, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + cs, "--ambient-caps=" + cs},
		"--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http", "--admin", "127.0.0.1:9100")
	if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "10", "http://"+srvIP+":8080/"); out != "Hello, World!" {
		t.Fatalf("curl got %q", out)
	}
	tp.cmd.Process.Signal(syscall.SIGTERM)
	err = <-tp.exited
	tp.exited <- err // for the cleanup, which waits for it
	if err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// The three shutdown phases with shutdown_syn: rst and a 1 s grace: a new
// SYN gets a RST; an idle keep-alive connection gets a FIN when the grace
// ends; a download stalled by a client that stopped reading is reset
// after the second grace; xdptcpd exits 0.
func TestOpsShutdownPhases(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "xdptcpd.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`addr: %s/24
admin: 127.0.0.1:9100
grace: 1s
shutdown_syn: rst
listen:
  - {port: 8080, handler: http}
  - {port: 8081, handler: blob}
`, srvIP)), 0o644)
	tp := newOpsTopo(t, "--config", path, "--iface", "IFACE")
	ctx := context.Background()
	idle, err := tp.cli.Dial(ctx, "tcp", srvIP+":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := get(bufio.NewReader(idle), idle, false); err != nil {
		t.Fatal(err)
	}
	stalled, err := dialSmallRcvbuf(tp.cli, srvIP+":8081")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	io.WriteString(stalled, "GET /64MiB HTTP/1.1\r\nHost: x\r\n\r\n")
	// The client reads nothing: its window closes with most of the body
	// still in xdptcpd's send buffer.
	waitConn(t, tp, stalled.LocalAddr().String(), func(e connEntry) bool { return e.State == "ESTABLISHED" })

	tp.cmd.Process.Signal(syscall.SIGTERM)
	sent := time.Now()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(tp.log.String(), "new connections refused") {
		if time.Now().After(deadline) {
			t.Fatal("no shutdown log line 5 s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := httpInNS(tp.srv).Get("http://" + tp.admin + "/healthz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz while draining: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = tp.cli.Dial(cctx, "tcp", srvIP+":8080")
	cancel()
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a SYN after SIGTERM with shutdown_syn: rst: %v, want connection refused", err)
	}
	// The idle connection reads EOF: the FIN after the first grace.
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: read %d, %v; want EOF (FIN) after the grace", n, err)
	}
	if d := time.Since(sent); d < time.Second {
		t.Errorf("idle connection closed %v after SIGTERM, before the 1 s grace", d)
	}
	select {
	case err := <-tp.exited:
		tp.exited <- err
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("xdptcpd still running 10 s after SIGTERM with a 1 s grace")
	}
	// The stalled download was reset.
	stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, stalled)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("stalled download: %v, want connection reset", err)
	}
	logs := tp.log.String()
	for _, w := range []string{"grace period over: closing the remaining connections with FIN", "second grace period over: resetting"} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q", w)
		}
	}
	waitNoXDP(t, tp)
}

// tagServer answers every line on every connection with tag + line.
func tagServer(t *testing.T, ns *testnet.NS, addr, tag string) {
	t.Helper()
	ln, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, tag+sc.Text()+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// askLine sends line on c and returns the answer line.
func askLine(c net.Conn, br *bufio.Reader, line string) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := br.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// SIGHUP with a proxy port's backends changed: connections opened
// afterwards go to the new backend, the one opened before stays on its
// backend.
func TestOpsSIGHUPProxyBackends(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "xdptcpd.yaml")
	conf := func(backend string) {
		os.WriteFile(path, []byte(fmt.Sprintf("addr: %s/24\nadmin: 127.0.0.1:9100\nlisten:\n  - {port: 8083, handler: \"proxy:%s\"}\n", srvIP, backend)), 0o644)
	}
	conf("127.0.0.1:9001")
	tp := newOpsTopo(t, "--config", path, "--iface", "IFACE")
	tagServer(t, tp.srv, "127.0.0.1:9001", "one:")
	tagServer(t, tp.srv, "127.0.0.1:9002", "two:")
	ctx := context.Background()
	a, err := tp.cli.Dial(ctx, "tcp", srvIP+":8083")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	abr := bufio.NewReader(a)
	if got, err := askLine(a, abr, "a1"); got != "one:a1" {
		t.Fatalf("before reload: %q, %v", got, err)
	}
	conf("127.0.0.1:9002")
	tp.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.log.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no reload log line 10 s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := tp.cli.Dial(ctx, "tcp", srvIP+":8083")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := askLine(b, bufio.NewReader(b), "b1"); got != "two:b1" {
		t.Fatalf("connection opened after the reload: %q, %v; want the new backend", got, err)
	}
	if got, err := askLine(a, abr, "a2"); got != "one:a2" {
		t.Fatalf("connection opened before the reload: %q, %v; want its backend kept", got, err)
	}
}

// xdptcpd capture streams pcapng of what the loops receive and send:
// tcpdump reads it and shows curl's handshake, in and out, through a
// tcpdump filter compiled to classic BPF.
func TestOpsCapture(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tcpdump is not installed (.ci/run installs it)")
		}
		t.Skip("needs tcpdump")
	}
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http", "--listen", "7=echo", "--admin", "127.0.0.1:9100")
	file := filepath.Join(t.TempDir(), "cap.pcapng")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	capt := exec.CommandContext(ctx, "ip", "netns", "exec", tp.srv.Name, daemonBinary(t), "capture", "--admin", tp.admin, "-c", "3", "-w", file, "tcp port 8080")
	var capLog syncBuffer
	capt.Stdout, capt.Stderr = &capLog, &capLog
	if err := capt.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- capt.Wait() }()
	// The pcapng header arrives once the capture is attached.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(file); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no capture header: %s", capLog.String())
		}
	}
	// Traffic the filter refuses (port 7) and the handshake it keeps.
	err := tp.cli.Do(func() error {
		c, err := net.DialTimeout("tcp", srvIP+":7", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hi")); err != nil {
			return err
		}
		_, err = io.ReadFull(c, make([]byte, 2))
		return err
	})
	if err != nil {
		t.Fatalf("echo on port 7: %v", err)
	}
	if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "10", "http://"+srvIP+":8080/"); out != "Hello, World!" {
		t.Fatalf("curl got %q", out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("xdptcpd capture: %v\n%s", err, capLog.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("xdptcpd capture -c 3 did not end\n%s", capLog.String())
	}
	if !strings.Contains(capLog.String(), "3 packets captured") || strings.Contains(capLog.String(), "\n0 packets refused by the filter") {
		t.Errorf("capture summary (the echo exchange must be refused by the filter): %s", capLog.String())
	}
	out, err := exec.Command("tcpdump", "-n", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	t.Logf("tcpdump -n -r:\n%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var pkts []string
	for _, l := range lines {
		if strings.Contains(l, " IP ") {
			pkts = append(pkts, l)
		}
	}
	if len(pkts) != 3 {
		t.Fatalf("%d packets in the capture, want 3", len(pkts))
	}
	want := []struct{ from, flags string }{{cliIP, "Flags [S]"}, {srvIP + ".8080", "Flags [S.]"}, {cliIP, "Flags [.]"}}
	for i, w := range want {
		if !strings.Contains(pkts[i], "IP "+w.from) || !strings.Contains(pkts[i], w.flags) {
			t.Errorf("packet %d: %q, want from %s with %s", i+1, pkts[i], w.from, w.flags)
		}
	}
	// Direction is in each block's epb_flags: inbound, outbound, inbound.
	dirs := pcapngDirections(t, file)
	if fmt.Sprint(dirs) != "[1 2 1]" {
		t.Errorf("directions %v, want [1 2 1] (in, out, in)", dirs)
	}
}

// pcapngDirections returns the epb_flags direction of every Enhanced
// Packet Block of a little-endian pcapng file.
func pcapngDirections(t *testing.T, file string) []uint32 {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []uint32
	le := func(o int) uint32 { return uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24 }
	for o := 0; o+12 <= len(b); {
		typ, n := le(o), int(le(o+4))
		if n < 12 || o+n > len(b) {
			t.Fatalf("bad block at %d", o)
		}
		if typ == 6 {
			capLen := int(le(o + 20))
			opt := o + 28 + (capLen+3)&^3
			for opt+4 <= o+n-4 {
				code, l := uint16(le(opt)), int(le(opt)>>16)
				if code == 0 {
					break
				}
				if code == 2 {
					dirs = append(dirs, le(opt+4)&3)
				}
				opt += 4 + (l+3)&^3
			}
		}
		o += n
	}
	return dirs
}

// dashboardMetrics returns the metric names the Grafana dashboard's
// queries use (configs/grafana-xdptcp.json).
func dashboardMetrics(t *testing.T) []string {
	b, err := os.ReadFile("../../configs/grafana-xdptcp.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	seen := map[string]bool{}
	var names []string
	re := regexp.MustCompile(`\bxdptcp_[a-z0-9_]+`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range re.FindAllString(tg.Expr, -1) {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("the dashboard queries only %d metrics", len(names))
	}
	return names
}

package main

// The two listeners of issue 19: the control endpoint (Unix socket by
// default; TCP beyond loopback only with a token) and the metrics
// listener; their hardening against slow clients.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

const testToken = "0123456789abcdef-test-token"

func writeToken(t *testing.T, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// A control endpoint beyond loopback needs a token file, which must not be
// readable by group or others; --metrics wants HOST:PORT. Checked before
// anything starts (no root needed).
func TestAdminOptionsRefused(t *testing.T) {
	base := []string{"--iface", "lo", "--addr", "198.18.0.1/24", "--listen", "8080=http"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"non-loopback without token", []string{"--admin", "198.18.0.1:9101"}, "needs --admin-token-file"},
		{"any address without token", []string{"--admin", ":9101"}, "needs --admin-token-file"},
		{"token readable by others", []string{"--admin", "198.18.0.1:9101", "--admin-token-file", writeToken(t, 0o644)}, "accessible by group or others"},
		{"metrics not HOST:PORT", []string{"--metrics", "9102"}, "want HOST:PORT"},
	} {
		var stderr bytes.Buffer
		if code := run(append(append([]string{}, base...), tc.args...), &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, %q; want exit 2 and %q", tc.name, code, stderr.String(), tc.want)
		}
	}
}

// A TCP control endpoint opened beyond loopback with a token: 401 without
// it (or with a wrong one), 200 with it, from another namespace. The
// metrics listener answers /metrics there and not /debug/conns. Slowloris
// clients on both listeners are cut off by the header timeout while the
// daemon serves its TCP traffic.
func TestAdminTokenMetricsAndSlowClients(t *testing.T) {
	t0 := time.Now()
	tok := writeToken(t, 0o600)
	control, metrics := srvIP+":9101", srvIP+":9102"
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http",
		"--admin", control, "--admin-token-file", tok, "--metrics", metrics)
	t.Logf("daemon healthy after %v", time.Since(t0).Round(time.Millisecond))
	cli := httpInNS(tp.cli)
	get := func(url, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cli.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("http://"+control+"/debug/conns", ""); code != http.StatusUnauthorized {
		t.Errorf("control without token: %d, want 401", code)
	}
	if code, _ := get("http://"+control+"/debug/conns", "wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("control with a wrong token: %d, want 401", code)
	}
	if code, _ := get("http://"+control+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("control /metrics without token: %d, want 401", code)
	}
	if code, body := get("http://"+control+"/debug/conns", testToken); code != 200 || !strings.HasPrefix(body, "State") {
		t.Errorf("control with the token: %d %q", code, body)
	}
	if code, body := get("http://"+metrics+"/metrics", ""); code != 200 || !strings.Contains(body, "xdptcp_tcp_passive_opens_total") {
		t.Errorf("metrics listener /metrics from another namespace: %d", code)
	}
	for _, path := range []string{"/debug/conns", "/debug/capture"} {
		if code, _ := get("http://"+metrics+path, ""); code != http.StatusNotFound {
			t.Errorf("metrics listener %s: %d, want 404", path, code)
		}
	}
	out := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", control, "--admin-token-file", tok)
	if !strings.HasPrefix(out, "State") {
		t.Errorf("xdptcpd ss with the token: %q", out)
	}

	// Slowloris: connections that send half a header and stall.
	var slow []net.Conn
	for _, addr := range []string{control, metrics} {
		for i := 0; i < 10; i++ {
			c, err := tp.cli.Dial(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
				t.Fatal(err)
			}
			slow = append(slow, c)
		}
	}
	start := time.Now()
	// TCP traffic is served meanwhile.
	for i := 0; i < 3; i++ {
		if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "5", "http://"+srvIP+":8080/"); out != "Hello, World!" {
			t.Fatalf("curl during slowloris: %q", out)
		}
	}
	for _, c := range slow {
		c.SetReadDeadline(start.Add(20 * time.Second))
		_, err := io.ReadAll(c) // the server answers 408 or just closes
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a slow client was not cut off after %v", time.Since(start))
		}
	}
	t.Logf("%d slow clients cut off %v after their half headers", len(slow), time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("slow clients cut off after %v, want about the 5 s header timeout", d)
	}
	// The listeners still answer.
	if code, _ := get("http://"+metrics+"/healthz", ""); code != 200 {
		t.Errorf("metrics /healthz after slowloris: %d", code)
	}
	if code, _ := get("http://"+control+"/healthz", testToken); code != 200 {
		t.Errorf("control /healthz after slowloris: %d", code)
	}
}

// The control endpoint on a Unix socket: created mode 0600 (its
// directory made 0700), xdptcpd ss talks to it, removed on exit.
func TestAdminUnixSocket(t *testing.T) {
	testnet.RequireRoot(t)
	sock := filepath.Join(t.TempDir(), "run", "admin.sock")
	tp := newOpsTopo(t, "--iface", "IFACE", "--addr", srvIP+"/24", "--listen", "8080=http",
		"--admin", sock, "--metrics", "127.0.0.1:9100")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v, want a socket with 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(sock)); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory: %v %v", di.Mode(), err)
	}
	if out := tp.cli.Exec(t, "curl", "-sS", "--max-time", "5", "http://"+srvIP+":8080/"); out != "Hello, World!" {
		t.Fatalf("curl got %q", out)
	}
	out := tp.srv.Exec(t, daemonBinary(t), "ss", "--admin", sock, "-i")
	if !strings.HasPrefix(out, "State") {
		t.Fatalf("xdptcpd ss over the Unix socket: %q", out)
	}
	tp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-tp.exited:
		tp.exited <- err
		if err != nil {
			t.Fatalf("xdptcpd exit: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("xdptcpd did not stop on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind after exit: %v", err)
	}
}

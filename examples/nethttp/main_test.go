package main

// The example against the Linux kernel as the client: nethttp in a server
// namespace on a veth end, curl, wrk and a Go client in a client namespace.
// Needs root (testnet.RequireRoot).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

const (
	srvIP = "198.18.0.1"
	cliIP = "198.18.0.2"
)

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

// startExample builds the example, puts it on a veth end in a server
// namespace and waits until a kernel client gets an answer.
func startExample(t *testing.T, extra ...string) (cli *testnet.NS) {
	t.Helper()
	testnet.RequireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "nethttp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := testnet.NewNS(t, "nhs")
	cli = testnet.NewNS(t, "nhc")
	veth := testnet.NewVeth(t, testnet.VethOptions{ANS: srv, BNS: cli, AAddr: srvIP + "/24", BAddr: cliIP + "/24", TxOffOnB: true})
	cmd := srv.Command(bin, append([]string{"--iface", veth.A, "--addr", srvIP + "/24", "--port", "8080"}, extra...)...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited closes when the example has exited (waitErr is then its
	// end): both the start loop and the cleanup may wait on it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nethttp output:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("nethttp exited: %v\n%s", waitErr, log.String())
		default:
		}
		if out, err := testnet.Try("ip", "netns", "exec", cli.Name, "curl", "-sS", "--max-time", "1", "http://"+srvIP+":8080/"); err == nil && out == "Hello, World!" {
			return cli
		}
		if time.Now().After(deadline) {
			t.Fatalf("nethttp never answered\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNetHTTPKernelClients(t *testing.T) {
	cli := startExample(t)

	t.Run("curl", func(t *testing.T) {
		out := cli.Exec(t, "curl", "-sS", "--max-time", "10", "-H", "Connection: close", "http://"+srvIP+":8080/some/path")
		if out != "Hello, World!" {
			t.Fatalf("curl: %q", out)
		}
	})

	t.Run("wrk", func(t *testing.T) {
		if _, err := exec.LookPath("wrk"); err != nil {
			t.Skip("wrk not installed")
		}
		out := cli.Exec(t, "wrk", "-t1", "-c32", "-d3s", "--timeout", "5s", "http://"+srvIP+":8080/")
		t.Log(out)
		if strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
			t.Fatalf("wrk saw errors:\n%s", out)
		}
		m := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
		if m == nil || m[1] == "0" {
			t.Fatalf("wrk made no requests:\n%s", out)
		}
	})

	t.Run("10000 requests", func(t *testing.T) {
		const total, conns = 10000, 16
		tr := &http.Transport{
			DialContext:         func(ctx context.Context, n, a string) (net.Conn, error) { return cli.Dial(ctx, n, a) },
			MaxIdleConnsPerHost: conns,
		}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		var next, failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < conns; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= total {
					resp, err := c.Get("http://" + srvIP + ":8080/")
					if err == nil {
						var body []byte
						body, err = io.ReadAll(resp.Body)
						resp.Body.Close()
						if err == nil && (resp.StatusCode != 200 || string(body) != "Hello, World!") {
							err = fmt.Errorf("got %s %q", resp.Status, body)
						}
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Fatalf("%d of %d requests failed; first: %v", n, total, firstErr.Load())
		}
	})
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// xdptcpd drain: /healthz answers 503 at once, a keep-alive connection is
// still served and its next response says "Connection: close" (then the
// server closes it), and the daemon exits 0 once no connection is left and
// it forwarded nothing for drainQuiet; SIGUSR1 does the same.
func TestDrainServesOpenConnectionsThenExits(t *testing.T) {
	for _, via := range []string{"command", "SIGUSR1"} {
		t.Run(via, func(t *testing.T) {
			tp := newTopo(t, "--grace", "20s")
			c, err := tp.cli.Dial(context.Background(), "tcp", srvIP+":8080")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if err := get(br, c, false); err != nil {
				t.Fatal(err)
			}
			waited := make(chan string, 1)
			if via == "command" {
				// --wait returns once the daemon is gone (a preStop hook).
				go func() {
					out, code := runBin(t, "ip", "netns", "exec", tp.srv.Name, daemonBinary(t), "drain", "--admin", tp.admin, "--wait", "30s")
					waited <- fmt.Sprintf("exit %d: %s", code, out)
				}()
			} else if err := tp.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			hc := httpInNS(tp.srv)
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, err := hc.Get("http://" + tp.admin + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable && strings.TrimSpace(string(body)) == "draining" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/healthz: %d %q, want 503 draining", resp.StatusCode, body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Still served; told to close.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request on the open connection while draining: %v", err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("response while draining: %s, close %v; want 200 with Connection: close", resp.Status, resp.Close)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the close response: %v, want EOF", err)
			}
			start := time.Now()
			select {
			case err := <-tp.exited:
				tp.exited <- err
				if err != nil {
					t.Fatalf("xdptcpd exited with %v, want 0\n%s", err, tp.log.String())
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Fatalf("exited %v after the last connection closed", d)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("xdptcpd still running 15 s after its last connection closed\n%s", tp.log.String())
			}
			if via == "command" {
				select {
				case r := <-waited:
					if !strings.HasPrefix(r, "exit 0") {
						t.Fatalf("xdptcpd drain --wait: %s", r)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("xdptcpd drain --wait did not return after the daemon exited")
				}
			}
			if !strings.Contains(tp.log.String(), "drained") {
				t.Fatalf("no drained line in the log:\n%s", tp.log.String())
			}
		})
	}
}

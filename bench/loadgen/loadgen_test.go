package loadgen

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/bench/peers/linux"
)

func TestReadResponse(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 13\r\n\r\nHello, World!" +
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	br := bufio.NewReader(strings.NewReader(ok))
	for i := 0; i < 2; i++ {
		if err := readResponse(br); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
	}
	for _, bad := range []string{
		"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"garbage\r\n",
	} {
		if err := readResponse(bufio.NewReader(strings.NewReader(bad))); !errors.Is(err, ErrResponse) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// loopbackPeer serves the Go net peer on 127.0.0.1 ports chosen here.
func loopbackPeer(t *testing.T) (http, echo, discard string) {
	t.Helper()
	pick := func() string {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	}
	http, echo, discard = pick(), pick(), pick()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- linux.Serve(ctx, linux.Config{Mode: "net", HTTP: http, Echo: echo, Discard: discard}) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp4", discard)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return
}

func TestGeneratorsOnLoopback(t *testing.T) {
	h, e, d := loopbackPeer(t)
	ctx := context.Background()
	ol, err := OpenLoop(ctx, OpenLoopConfig{Addr: h, Rate: 2000, Duration: 300 * time.Millisecond, Conns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if ol.Scheduled != 600 || ol.Completed != 600 || ol.Errors != 0 || ol.Latency.P50 <= 0 || len(ol.Latency.Curve) != len(CurvePercentiles) {
		t.Errorf("openloop %+v", ol)
	}
	cr, err := Connect(ctx, ConnectConfig{Addr: h, Workers: 4, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Completed == 0 || cr.Failed != 0 || len(cr.Series) != 3 || cr.ConnectLat.Count != cr.Completed {
		t.Errorf("connect %+v", cr)
	}
	for _, echo := range []bool{false, true} {
		addr := d
		if echo {
			addr = e
		}
		br, err := Bulk(ctx, BulkConfig{Addr: addr, Echo: echo, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if br.Mbps <= 0 || (echo && br.Read == 0) {
			t.Errorf("bulk echo=%v %+v", echo, br)
		}
	}
	conns, err := Idle(ctx, IdleConfig{Addr: e, Sources: []string{"127.0.0.1", "127.0.0.2"}, N: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		c.Close()
	}
	if len(conns) != 50 {
		t.Errorf("idle: %d conns", len(conns))
	}
}

func TestOpenLoopRefusesBadConfig(t *testing.T) {
	if _, err := OpenLoop(context.Background(), OpenLoopConfig{Addr: "127.0.0.1:1"}); err == nil {
		t.Error("zero rate accepted")
	}
}

// TestRequestHost checks the Host header: an IPv6 literal in brackets.
func TestRequestHost(t *testing.T) {
	for host, want := range map[string]string{"198.18.0.1": "Host: 198.18.0.1\r\n", "2001:2::1": "Host: [2001:2::1]\r\n"} {
		if got := string(request(host, false)); !strings.Contains(got, want) {
			t.Errorf("request(%q) = %q, want %q", host, got, want)
		}
	}
}

// Download GETs a blob from the Go net peer's blob port: every byte, and
// a short or refused body is an error.
func TestDownloadOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	blob := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- linux.Serve(ctx, linux.Config{Mode: "net", Blob: blob}) }()
	t.Cleanup(func() { cancel(); <-done })
	var r DownloadResult
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err = Download(context.Background(), DownloadConfig{Addr: blob, Size: 3<<20 + 5, Timeout: 10 * time.Second})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.Read != 3<<20+5 || r.Mbps <= 0 {
		t.Errorf("download %+v", r)
	}
	if _, err := Download(context.Background(), DownloadConfig{Addr: blob, Size: 2 << 30, Timeout: 10 * time.Second}); err == nil {
		t.Error("a blob above the peer's 1 GiB bound was not refused")
	}
}

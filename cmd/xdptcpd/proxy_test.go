package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestProxyHandlerSpec(t *testing.T) {
	for _, bad := range []string{"proxy:", "proxy:,", "proxy:nohostport", "proxy::80"} {
		if _, err := newHandlerFunc(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := newHandlerFunc("proxy:127.0.0.1:9000, 127.0.0.1:9001"); err != nil {
		t.Fatal(err)
	}
	if _, err := parseListen("80=proxy:127.0.0.1:9000"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(handlerNames, " "), "proxy:") {
		t.Error("handlerNames does not list proxy")
	}
}

// proxyBackend is a kernel echo server inside the server namespace; kill
// closes the listener and every connection (the backend process dies).
type proxyBackend struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (b *proxyBackend) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		go func() {
			io.Copy(c, c)
			c.(*net.TCPConn).CloseWrite()
		}()
	}
}

func (b *proxyBackend) kill() {
	b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
}

// TestProxyE2E: xdptcpd proxies AF_XDP connections to a kernel echo
// backend; 200 kernel clients each round-trip 1 MiB with identical
// SHA-256; then the backend is killed mid-transfer: clients get a reset or
// EOF (never a hang) and xdptcpd stays up.
func TestProxyE2E(t *testing.T) {
	tp := newTopo(t, "--listen", "8000=proxy:127.0.0.1:9000,127.0.0.1:9001")
	ln, err := tp.srv.Listen("tcp4", "127.0.0.1:9000") // 9001 refuses: skipped
	if err != nil {
		t.Fatal(err)
	}
	be := &proxyBackend{ln: ln}
	go be.serve()
	defer be.kill()

	roundTrip := func(ctx context.Context, seed byte, size int, stopAfter chan<- struct{}) error {
		c, err := tp.cli.Dial(ctx, "tcp4", srvIP+":8000")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(45 * time.Second))
		src := rand.NewChaCha8([32]byte{seed})
		sent, recv := sha256.New(), sha256.New()
		werr := make(chan error, 1)
		go func() {
			buf := make([]byte, 32<<10)
			for n := 0; n < size; {
				m := min(len(buf), size-n)
				src.Read(buf[:m])
				sent.Write(buf[:m])
				if _, err := c.Write(buf[:m]); err != nil {
					werr <- err
					return
				}
				n += m
			}
			werr <- c.(*net.TCPConn).CloseWrite()
		}()
		var got int64
		if stopAfter != nil {
			n, err := io.CopyN(recv, c, 64<<10)
			got += n
			if err != nil {
				return err
			}
			stopAfter <- struct{}{}
		}
		n, err := io.Copy(recv, c)
		got += n
		if err != nil {
			return err
		}
		if stopAfter != nil {
			return io.EOF // the backend died: EOF is an acceptable end
		}
		if e := <-werr; e != nil {
			return e
		}
		if got != int64(size) || !bytes.Equal(sent.Sum(nil), recv.Sum(nil)) {
			return errors.New("echoed bytes differ")
		}
		return nil
	}

	t.Run("200 clients x 1 MiB", func(t *testing.T) {
		const clients = 200
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- roundTrip(ctx, byte(i), 1<<20, nil)
			}(i)
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				if failed <= 5 {
					t.Error(err)
				}
			}
		}
		if failed > 0 {
			t.Fatalf("%d of %d clients failed", failed, clients)
		}
	})

	t.Run("backend killed mid-run", func(t *testing.T) {
		const clients = 20
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		started := make(chan struct{}, clients)
		errs := make(chan error, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs <- roundTrip(ctx, byte(i), 64<<20, started)
			}(i)
		}
		for i := 0; i < clients; i++ {
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("transfers did not start")
			}
		}
		be.kill()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("client after the backend died: %v, want EOF or a reset", err)
			}
		}
		select {
		case err := <-tp.exited:
			tp.exited <- err // for the cleanup, which waits for it
			t.Fatalf("xdptcpd exited: %v", err)
		default:
		}
		tp.waitHealthy(t)
		// With no backend left, a new client is reset at once: the
		// reset may reach the kernel client before its connect returns.
		c, err := tp.cli.Dial(ctx, "tcp4", srvIP+":8000")
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("client with no backend: %v, want a reset", err)
		}
	})
}

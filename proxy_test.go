package xdptcp

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/memlink"
)

// kernelEcho is an echo server on a kernel socket: it answers a FIN with
// a FIN once everything was echoed (half-close).
func kernelEcho(t testing.TB) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
}

// echoRoundTrip sends size pseudo-random bytes, half-closes, and checks
// that the same bytes come back followed by EOF.
func echoRoundTrip(c net.Conn, size int, seed byte) error {
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
		werr <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	n, err := io.Copy(recv, c)
	if e := <-werr; e != nil {
		return e
	}
	if err != nil {
		return err
	}
	if int(n) != size || !bytes.Equal(sent.Sum(nil), recv.Sum(nil)) {
		return errors.New("echoed bytes differ")
	}
	return nil
}

func TestProxyEcho(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	down := "127.0.0.1:1" // refuses: the proxy must skip it
	echo, stop := kernelEcho(t)
	defer stop()
	p, err := NewProxy([]string{down, echo})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(80, ServeOptions{}, p.NewHandler()); err != nil {
		t.Fatal(err)
	}
	const clients = 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := a.Dial("tcp", "198.18.0.2:80")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			errs <- echoRoundTrip(c, 256<<10, byte(i))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st := p.Stats()
	if st.Conns != clients || st.NoBackend != 0 || st.BackendFailures == 0 {
		t.Errorf("stats %+v: want %d conns, some backend failures (the refusing one), no RST for lack of backend", st, clients)
	}
}

func TestProxyNoBackendResets(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	p, err := NewProxy([]string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	b.Serve(80, ServeOptions{}, p.NewHandler())
	c, err := a.Dial("tcp", "198.18.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read with no backend: %v, want a reset", err)
	}
	if st := p.Stats(); st.NoBackend != 1 || st.BackendFailures != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestProxyBackendDies: clients mid-transfer get EOF or a reset when the
// backend goes away, never a hang.
func TestProxyBackendDies(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	echo, stop := kernelEcho(t)
	p, _ := NewProxy([]string{echo})
	b.Serve(80, ServeOptions{}, p.NewHandler())
	const clients = 10
	var wg sync.WaitGroup
	started := make(chan struct{}, clients)
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.Dial("tcp", "198.18.0.2:80")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() {
				buf := make([]byte, 8<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			buf := make([]byte, 8<<10)
			if _, err := io.ReadFull(c, buf[:1]); err != nil {
				errs <- err
				return
			}
			started <- struct{}{}
			for {
				if _, err := c.Read(buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < clients; i++ {
		select {
		case <-started:
		case err := <-errs:
			t.Fatalf("before the backend died: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("transfers never started")
		}
	}
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client after the backend died: %v, want EOF or reset", err)
		}
	}
}

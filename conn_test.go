package xdptcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/xdptcp/xdptcp/stack/memlink"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// connPair dials from a to a listener on b and returns both ends.
func connPair(t testing.TB, a *Stack, ln *Listener) (client, server *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptConn()
		ch <- res{c, err}
	}()
	c, err := a.dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("accept: %v", r.err)
	}
	return c, r.c
}

func listenB(t testing.TB, b *Stack, port string) *Listener {
	t.Helper()
	ln, err := b.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestNetTest runs golang.org/x/net/nettest's conformance suite on a pair
// of xdptcp connections over an in-memory link (one Dial, one Accept).
func TestNetTest(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "7000")
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c, s := connPair(t, a, ln)
		return c, s, func() { c.Close(); s.Close() }, nil
	})
}

// TestNetTestLossy is the conformance suite over a link that drops,
// duplicates and reorders.
func TestNetTestLossy(t *testing.T) {
	a, b := memPair(t, memlink.Faults{Drop: 0.01, Duplicate: 0.01, Reorder: 0.02}, nil)
	ln := listenB(t, b, "7001")
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c, s := connPair(t, a, ln)
		return c, s, func() { c.Close(); s.Close() }, nil
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestDeadlines(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer c.Close()
	defer s.Close()

	// A read deadline in the future fires while Read waits.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.Read(make([]byte, 10))
	var oe *net.OpError
	if !isTimeout(err) || !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read past deadline: %v (%T)", err, err)
	}
	// Data that arrives later is still read once the deadline is cleared.
	c.SetReadDeadline(time.Time{})
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read after clearing the deadline: %q %v", buf, err)
	}
	// A writer whose peer does not read blocks, then times out with
	// the count it got in.
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	total := 0
	chunk := make([]byte, 64<<10)
	for {
		n, err := c.Write(chunk)
		total += n
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("write: %v", err)
			}
			break
		}
		if total > 64<<20 {
			t.Fatal("writes never blocked against a peer that does not read")
		}
	}
	t.Logf("written before the window closed: %d bytes", total)
	// A deadline in the past fails at once and takes nothing.
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := c.Write([]byte("x")); n != 0 || !isTimeout(err) {
		t.Fatalf("write with a past deadline: %d %v", n, err)
	}
}

func TestCloseErrors(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer s.Close()
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		t.Fatalf("LocalAddr is %T", c.LocalAddr())
	}
	if ra := c.RemoteAddr().(*net.TCPAddr); ra.Port != 80 || !ra.IP.Equal(net.IPv4(198, 18, 0, 2)) {
		t.Fatalf("RemoteAddr %v", ra)
	}
	if la := s.LocalAddr().(*net.TCPAddr); la.Port != 80 {
		t.Fatalf("server LocalAddr %v", la)
	}
	c.Close()
	for _, err := range []error{
		func() error { _, err := c.Read(make([]byte, 1)); return err }(),
		func() error { _, err := c.Write([]byte("x")); return err }(),
		c.Close(),
	} {
		var oe *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
			t.Errorf("after Close: %v (%T), want *net.OpError wrapping net.ErrClosed", err, err)
		}
	}
	// The peer sees EOF (FIN: nothing was unread).
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("peer read after Close: %d %v", n, err)
	}
}

// TestHalfClose: CloseWrite sends a FIN after the written data; the peer
// reads the data then io.EOF and can still answer.
func TestHalfClose(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer c.Close()
	defer s.Close()
	msg := bytes.Repeat([]byte("request "), 10000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("server read %d bytes, %v", len(got), err)
	}
	if _, err := s.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err = io.ReadAll(c)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v", got, err)
	}
	// CloseRead: Read returns EOF at once.
	a2, b2 := c, s
	_ = a2
	if err := b2.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after CloseRead: %v", err)
	}
}

// TestLingerZeroResets: SetLinger(0) then Close resets; the peer's Read
// fails with ECONNRESET (and tcp.ErrReset).
func TestLingerZeroResets(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer s.Close()
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := s.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) || !errors.Is(err, tcp.ErrReset) {
		t.Fatalf("read after the peer's linger-0 close: %v", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write after reset: %v", err)
	}
}

// TestLingerCloseWaitsForAck: with SetLinger(n > 0) Close returns once
// the peer acknowledged the FIN sent after everything written, as Linux's
// close(2) (the connection is past FIN-WAIT-1 then), or after n seconds
// if it never does (the peer's stack stopped).
func TestLingerCloseWaitsForAck(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	state := func(c *Conn) tcp.State { return tcpState(t, c) }

	c, s := connPair(t, a, ln)
	defer s.Close()
	go io.Copy(io.Discard, s)
	if err := c.SetLinger(5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Close()
	if d, st := time.Since(start), state(c); d >= 5*time.Second || st == tcp.StateFinWait1 {
		t.Fatalf("Close returned after %v in %v, want the FIN acknowledged", d, st)
	}

	c, _ = connPair(t, a, ln)
	c.SetLinger(1)
	b.Close() // the peer acknowledges nothing any more
	start = time.Now()
	c.Close()
	if d, st := time.Since(start), state(c); d < 900*time.Millisecond || d > 3*time.Second || st != tcp.StateFinWait1 {
		t.Fatalf("Close returned after %v in %v, want about 1 s in FIN-WAIT-1", d, st)
	}
}

// waitFor polls cond every millisecond until it holds, failing the test
// after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

// tcpState is c's TCP state, read on its loop.
func tcpState(t *testing.T, c *Conn) tcp.State {
	t.Helper()
	ch := make(chan tcp.State, 1)
	if err := c.s.post(c.loop, func() { ch <- c.tc.State() }); err != nil {
		t.Fatal(err)
	}
	return <-ch
}

// TestLinger2Negative: with SetLinger2(-1) closing a connection whose FIN
// was acknowledged (after CloseWrite) resets it at once instead of
// leaving it in FIN-WAIT-2 (Linux tcp_close with TCP_LINGER2 < 0).
func TestLinger2Negative(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	for _, l2 := range []int{0, -1} {
		c, s := connPair(t, a, ln)
		if err := c.SetLinger2(l2); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		if _, err := io.ReadAll(s); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "FIN-WAIT-2", func() bool { return tcpState(t, c) == tcp.StateFinWait2 })
		c.Close()
		want := tcp.StateFinWait2
		if l2 < 0 {
			want = tcp.StateClosed
		}
		if st := tcpState(t, c); st != want {
			t.Fatalf("linger2 %d: %v after Close, want %v", l2, st, want)
		}
		s.Close()
	}
}

// TestSetQuickAck: SetQuickAck reaches the connection's pingpong mode
// (tcp.Conn.QuickAck, getsockopt TCP_QUICKACK).
func TestSetQuickAck(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	c, s := connPair(t, a, listenB(t, b, "80"))
	defer s.Close()
	for _, quick := range []bool{false, true} {
		if err := c.SetQuickAck(quick); err != nil {
			t.Fatal(err)
		}
		ch := make(chan bool, 1)
		if err := c.s.post(c.loop, func() { ch <- c.tc.QuickAck() }); err != nil {
			t.Fatal(err)
		}
		if got := <-ch; got != quick {
			t.Fatalf("SetQuickAck(%v): QuickAck %v", quick, got)
		}
	}
}

// TestCloseWithUnreadDataResets follows Linux (RFC 2525 §2.17): closing
// with unread data sends a RST, not a FIN.
func TestCloseWithUnreadDataResets(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer c.Close()
	if _, err := c.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	// Wait until the bytes reached s's read buffer.
	waitFor(t, "the data", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.rbuf)-s.roff == 6
	})
	s.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer closed with unread data: %v", err)
	}
}

// TestBackpressure: a reader that does not read closes the advertised
// window (the writer blocks with bounded data in flight); once it reads,
// every byte arrives intact.
func TestBackpressure(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer c.Close()
	defer s.Close()
	const total = 16 << 20
	src := rand.NewChaCha8([32]byte{1})
	sent := sha256.New()
	written := make(chan int, 1)
	go func() {
		chunk := make([]byte, 32<<10)
		n := 0
		for n < total {
			src.Read(chunk)
			w, err := c.Write(chunk)
			sent.Write(chunk[:w])
			n += w
			if err != nil {
				break
			}
		}
		c.CloseWrite()
		written <- n
	}()
	// The reader sleeps: the writer must stall well short of total.
	var stalled int
	for i := 0; i < 200; i++ {
		time.Sleep(5 * time.Millisecond)
		var q int
		a.Do(func(l *Loop) {
			l.engine.TCP().Range(func(tc *tcp.Conn) bool { q = tc.Info().SendQ; return true })
		})
		st := s.stats()
		if st.paused && q > 0 {
			stalled = st.buffered
			break
		}
	}
	if stalled == 0 {
		t.Fatal("the writer never stalled against a reader that does not read")
	}
	if stalled > DefaultReadBuffer {
		t.Fatalf("read buffer holds %d bytes, bound %d", stalled, DefaultReadBuffer)
	}
	// Now read everything.
	recv := sha256.New()
	n, err := io.Copy(recv, s)
	if err != nil {
		t.Fatal(err)
	}
	if w := <-written; int(n) != w || w != total {
		t.Fatalf("read %d of %d written (%d)", n, w, total)
	}
	if !bytes.Equal(sent.Sum(nil), recv.Sum(nil)) {
		t.Fatal("data differs")
	}
}

type connStats struct {
	paused   bool
	buffered int
}

func (c *Conn) stats() connStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return connStats{paused: c.paused, buffered: len(c.rbuf) - c.roff}
}

// TestListenerMany: many concurrent connections through Accept, each an
// echo round trip; Close of the listener ends Accept.
func TestListenerMany(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := a.DialContext(ctx, "tcp", "198.18.0.2:80")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte{byte(i)}, 5000)
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			c.(*Conn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				errs <- errors.Join(err, errors.New("echo differs"))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestDialRefused(t *testing.T) {
	a, _ := memPair(t, memlink.Faults{}, nil)
	_, err := a.Dial("tcp", "198.18.0.2:81")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = a.DialContext(ctx, "tcp", "198.18.0.9:80") // nobody answers ARP
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial with a context deadline: %v", err)
	}
}

// TestConnHandlerServe: Stack.Serve with ConnHandler runs a goroutine per
// connection with a net.Conn.
func TestConnHandlerServe(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	if err := b.Serve(90, ServeOptions{}, ConnHandler(func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
	})); err != nil {
		t.Fatal(err)
	}
	c, err := a.Dial("tcp", "198.18.0.2:90")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("abc"), 100000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through ConnHandler: %v", err)
	}
}

// TestConnLoopSideNoAllocs: the loop side of a Conn (OnData into the
// read buffer) and the reader taking the bytes do not allocate once the
// buffer exists.
func TestConnLoopSideNoAllocs(t *testing.T) {
	l := &Loop{}
	c := newConn(&Stack{}, l)
	data := make([]byte, 1448)
	buf := make([]byte, 4096)
	c.OnData(nil, data) // allocates the read buffer once (and the loop's wake-up list)
	l.wakeReaders()
	c.Read(buf)
	allocs := testing.AllocsPerRun(1000, func() {
		if n := c.OnData(nil, data); n != len(data) {
			t.Fatalf("OnData took %d", n)
		}
		l.wakeReaders() // the end of the loop iteration
		if n, err := c.Read(buf); n != len(data) || err != nil {
			t.Fatalf("Read: %d %v", n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per segment", allocs)
	}
}

// TestStackCloseWakes: closing the Stack ends blocked Accept, Read and
// Write calls with net.ErrClosed instead of leaving them waiting for a
// loop that is gone.
func TestStackCloseWakes(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, _ := connPair(t, a, ln)
	c2, _ := connPair(t, a, ln)
	errs := make(chan error, 3)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = fmt.Errorf("accepted %v", c.RemoteAddr())
		}
		errs <- err
	}()
	go func() {
		n, err := c.Read(make([]byte, 1)) // nobody writes to c
		if err == nil {
			err = fmt.Errorf("read %d", n)
		}
		errs <- err
	}()
	go func() {
		var err error
		for err == nil {
			_, err = c2.Write(make([]byte, 64<<10)) // its peer never reads
		}
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond) // let them block
	a.Close()
	b.Close()
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("after the Stack closed: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a call still blocks after the Stack closed")
		}
	}
}

// TestSocketOptions: SetKeepAlive/SetKeepAlivePeriod arm the keepalive
// timer on the loop (ss shows "keepalive"), SetNoDelay succeeds, and all
// of them fail with net.ErrClosed after Close.
func TestSocketOptions(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer s.Close()
	if err := c.SetNoDelay(false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKeepAlivePeriod(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCongestionControl("vegas"); !errors.Is(err, tcp.ErrBadCongestionControl) {
		t.Fatalf("SetCongestionControl(vegas): %v", err)
	}
	if err := c.SetCongestionControl("bbr"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteBuffer(30000); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadBuffer(40000); err != nil {
		t.Fatal(err)
	}
	var info tcp.TCPInfo
	var rcvbuf int
	a.Do(func(l *Loop) {}) // the setters ran before this (FIFO per loop)
	a.Do(func(l *Loop) { info, rcvbuf = c.tc.Info(), c.tc.RecvBuffer() })
	if info.SndBuf != 60000 || rcvbuf != 80000 {
		t.Fatalf("after SetWriteBuffer(30000), SetReadBuffer(40000): SO_SNDBUF %d, SO_RCVBUF %d; want 60000, 80000 (doubled)", info.SndBuf, rcvbuf)
	}
	if info.Timer != "keepalive" || info.TimerIn > 30*time.Second || info.TimerIn < 20*time.Second {
		t.Fatalf("after SetKeepAlive: timer %q in %v, want keepalive in ~30s", info.Timer, info.TimerIn)
	}
	if info.CongestionControl != "bbr" || info.PacingRate == 0 {
		t.Fatalf("after SetCongestionControl(bbr): %q, pacing rate %d", info.CongestionControl, info.PacingRate)
	}
	// The connection still moves data with BBR.
	go s.Write([]byte("after bbr"))
	buf := make([]byte, 9)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "after bbr" {
		t.Fatalf("read %q: %v", buf, err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, err := range []error{c.SetNoDelay(true), c.SetKeepAlive(false), c.SetKeepAlivePeriod(time.Second), c.SetLinger(0), c.SetCongestionControl("cubic"), c.SetWriteBuffer(1), c.SetReadBuffer(1)} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("setter after Close: %v", err)
		}
	}
}

// TestCloseStuckWriteBufferResets: Close while the peer takes no data and
// the write buffer cannot drain ends, after tcp_fin_timeout, with a reset
// instead of a connection that lives forever.
func TestCloseStuckWriteBufferResets(t *testing.T) {
	// Where the unsent bytes sit at Close decides who ends the orphan:
	// bytes still in the Conn's own buffer, its tcp_fin_timeout reset;
	// bytes all taken by the TCP send buffer, the zero-window probes'
	// tcp_orphan_retries (1 here; Linux's 0 means 8, about 50 s of
	// probes). Either way it must be gone well within 10 s.
	a, b := memPair(t, memlink.Faults{}, func(c *tcp.Config) { c.FinTimeout = time.Second; c.OrphanRetries = 1 })
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer s.Close()
	c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		if _, err := c.Write(make([]byte, 64<<10)); err != nil {
			break // s never reads: everything is full
		}
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		a.Do(func(l *Loop) { n = l.engine.TCP().Conns() })
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 10 s after Close", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerSyncookies: with tcp_syncookies=2 every SYN gets a cookie
// SYN-ACK; connections through the Listener still open and carry data.
func TestListenerSyncookies(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, func(c *tcp.Config) { c.Syncookies = 2 })
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer c.Close()
	defer s.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("cookie")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "cookie" {
		t.Fatalf("%q %v", buf, err)
	}
	if n := b.loops[0].engine.TCP().Stats().SyncookiesRecv.Load(); n == 0 {
		t.Fatal("no SYN cookie was checked: the Listener's ports have no jar")
	}
}

// TestConnInfo: Conn.Info reads TCP_INFO on the loop (RTT, cwnd, byte
// counts after an exchange) and fails with net.ErrClosed once closed.
func TestConnInfo(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "80")
	c, s := connPair(t, a, ln)
	defer s.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	var in tcp.TCPInfo
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if in, err = c.Info(); err != nil {
			t.Fatal(err)
		}
		if in.BytesAcked == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond) // the ACK is on its way
	}
	if in.State != tcp.StateEstablished || in.RTT <= 0 || in.SndCwnd <= 0 || in.BytesSent != 5 || in.BytesAcked != 5 || in.DataSegsOut != 1 {
		t.Fatalf("Info: state %v rtt %v cwnd %d sent %d acked %d data segs %d", in.State, in.RTT, in.SndCwnd, in.BytesSent, in.BytesAcked, in.DataSegsOut)
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := c.Info(); errors.Is(err, net.ErrClosed) {
			return
		}
	}
	t.Fatal("Info after Close does not fail with net.ErrClosed")
}

// The segments of one loop iteration wake the reader once, at the end of
// the iteration (Loop.wakeReaders), not once per OnData.
func TestConnOneWakeupPerIteration(t *testing.T) {
	l := &Loop{}
	c := newConn(&Stack{}, l)
	for i := 0; i < 5; i++ {
		c.OnData(nil, make([]byte, 1448))
	}
	if len(l.rwakes) != 1 || len(c.rwake) != 0 {
		t.Fatalf("after 5 segments: %d readers listed, %d wake-ups sent; want 1 and 0", len(l.rwakes), len(c.rwake))
	}
	l.wakeReaders()
	if len(l.rwakes) != 0 || len(c.rwake) != 1 {
		t.Fatalf("after the iteration: %d readers listed, %d wake-ups sent; want 0 and 1", len(l.rwakes), len(c.rwake))
	}
}

// TestConnKeepAliveNoAllocs: a request and its response through net.Conn
// on both ends of an in-memory link allocate nothing in steady state,
// loops included (the read and write buffers come back to their pools
// when they empty, connbuf.go).
func TestConnKeepAliveNoAllocs(t *testing.T) {
	a, b := memPair(t, memlink.Faults{}, nil)
	ln := listenB(t, b, "7080")
	c, s := connPair(t, a, ln)
	defer c.Close()
	defer s.Close()
	req, resp := make([]byte, 64), make([]byte, 64)
	sreq := make([]byte, 64)
	exchange := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, sreq); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(sreq); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		exchange()
	}
	if allocs := testing.AllocsPerRun(1000, exchange); allocs != 0 && !raceEnabled {
		t.Fatalf("%.3f allocations per request and response", allocs)
	}
}

// TestDeadlineResetNoAllocs: moving a deadline (net/http sets one per
// request) reuses the direction's timer.
func TestDeadlineResetNoAllocs(t *testing.T) {
	c := newConn(&Stack{}, &Loop{})
	c.SetDeadline(time.Now().Add(time.Hour))
	if allocs := testing.AllocsPerRun(1000, func() {
		c.SetDeadline(time.Now().Add(time.Hour))
		c.SetReadDeadline(time.Time{})
	}); allocs != 0 {
		t.Fatalf("%.1f allocations per SetDeadline", allocs)
	}
	c.SetDeadline(time.Time{})
}

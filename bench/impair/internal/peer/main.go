// Command peer is the endpoint program of the impairment bridge's
// integration tests: it runs inside the client or server namespace (via ip
// netns exec) and uses the Linux kernel stack through Go's net package.
//
//	peer ping -addr IP -count N            ICMP echo; prints "ok N min_rtt_us U"
//	peer sink -listen ADDR                 accept one conn, print "sha256 HEX bytes N"
//	peer send -addr ADDR -bytes N -seed S  send N pseudo-random bytes, print the same
//	peer echo -listen ADDR                 echo every connection until killed
//	peer echoclient -addr ADDR -bytes N -conns C -seed S
//	                                       C parallel round trips of N bytes each;
//	                                       prints "ok C" when every echo matched
//
// Every mode takes -timeout; it exits non-zero on any error or mismatch.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peer ping|sink|send|echo|echoclient [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "", "remote address (IP for ping, IP:port otherwise)")
	listen := fs.String("listen", "", "listen address")
	n := fs.Int64("bytes", 8<<20, "bytes to send per connection")
	count := fs.Int("count", 3, "pings to send")
	conns := fs.Int("conns", 4, "parallel connections")
	seed := fs.Uint64("seed", 1, "seed of the payload")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	fs.Parse(os.Args[2:])
	deadline := time.Now().Add(*timeout)
	var err error
	switch os.Args[1] {
	case "ping":
		err = ping(*addr, *count, deadline)
	case "sink":
		err = sink(*listen, deadline)
	case "send":
		err = send(*addr, *n, *seed, deadline)
	case "echo":
		err = echo(*listen)
	case "echoclient":
		err = echoClient(*addr, *n, *conns, *seed, deadline)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

// payload is a deterministic pseudo-random stream.
type payload struct{ r *rand.Rand }

func newPayload(seed uint64) *payload { return &payload{rand.New(rand.NewPCG(seed, 7))} }

func (p *payload) Read(b []byte) (int, error) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], p.r.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func ping(addr string, count int, deadline time.Time) error {
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(addr)}
	id := uint16(os.Getpid())
	got := 0
	minRTT := time.Duration(1<<63 - 1)
	buf := make([]byte, 1500)
	for seq := 0; seq < count; seq++ {
		msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'x', 'd', 'p', 't', 'c', 'p'}
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
		sentAt := time.Now()
		if _, err := c.WriteTo(msg, dst); err != nil {
			return err
		}
		wait := time.Now().Add(time.Second)
		if wait.After(deadline) {
			wait = deadline
		}
		c.SetReadDeadline(wait)
		for {
			m, from, err := c.ReadFrom(buf)
			if err != nil {
				break // lost; try the next one
			}
			if m >= 8 && buf[0] == 0 && from.String() == dst.String() &&
				binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == uint16(seq) {
				got++
				minRTT = min(minRTT, time.Since(sentAt))
				break
			}
		}
	}
	if got == 0 {
		return fmt.Errorf("no echo reply from %s", addr)
	}
	fmt.Println("ok", got, "min_rtt_us", minRTT.Microseconds())
	return nil
}

func sink(listen string, deadline time.Time) error {
	l, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println("listening")
	l.(*net.TCPListener).SetDeadline(deadline)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	h := sha256.New()
	m, err := io.Copy(h, c)
	if err != nil {
		return err
	}
	fmt.Printf("sha256 %s bytes %d\n", hex.EncodeToString(h.Sum(nil)), m)
	return nil
}

func dial(addr string, deadline time.Time) (net.Conn, error) {
	d := net.Dialer{Deadline: deadline}
	for {
		c, err := d.Dial("tcp4", addr)
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(50 * time.Millisecond) // the listener may not be up yet
	}
}

func send(addr string, n int64, seed uint64, deadline time.Time) error {
	c, err := dial(addr, deadline)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	h := sha256.New()
	m, err := io.Copy(io.MultiWriter(c, h), io.LimitReader(newPayload(seed), n))
	if err != nil {
		return err
	}
	fmt.Printf("sha256 %s bytes %d\n", hex.EncodeToString(h.Sum(nil)), m)
	return nil
}

func echo(listen string) error {
	l, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func echoClient(addr string, n int64, conns int, seed uint64, deadline time.Time) error {
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = roundTrip(addr, n, seed+uint64(i), deadline)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("ok", conns)
	return nil
}

// roundTrip sends n bytes on one connection while reading the echo, and
// compares the SHA-256 of both.
func roundTrip(addr string, n int64, seed uint64, deadline time.Time) error {
	c, err := dial(addr, deadline)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	sent := sha256.New()
	werr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(c, sent), io.LimitReader(newPayload(seed), n))
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if m != n || !bytes.Equal(sent.Sum(nil), got.Sum(nil)) {
		return fmt.Errorf("echo mismatch: sent %d bytes sha256 %x, got %d bytes sha256 %x", n, sent.Sum(nil), m, got.Sum(nil))
	}
	return nil
}

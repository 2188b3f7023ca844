package xdptcp

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"
)

// WriteRecord marks record ends (MSG_EOR) that reach the TCP send queue
// with the bytes: five records and plain bytes after them, all buffered
// while the loop is held, leave in six segments, where one Write of the
// same 700 bytes leaves in one (Nagle is off, the MSS is 1460).
func TestWriteRecord(t *testing.T) {
	p, err := NewMemPair(Config{Addr: netip.MustParsePrefix("198.18.0.1/24")}, Config{Addr: netip.MustParsePrefix("198.18.0.2/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := p.B.Listen("tcp4", ":9")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1400)
		_, err = io.ReadFull(c, buf)
		got <- buf
	}()
	nc, err := p.A.Dial("tcp4", "198.18.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	want := make([]byte, 0, 1400)
	segs := func() int {
		in, err := c.Info()
		if err != nil {
			t.Fatal(err)
		}
		return in.DataSegsOut - in.TotalRetrans // first transmissions (a TLP on a loaded machine is not one)
	}
	// send holds the loop while fn buffers its writes, so one flush
	// moves them all into the TCP send buffer; it returns the data
	// segments sent for them, once acknowledged.
	send := func(fn func()) int {
		before := segs()
		release := make(chan struct{})
		if err := c.s.post(c.loop, func() { <-release }); err != nil {
			t.Fatal(err)
		}
		fn()
		close(release)
		for i := 0; i < 10000; i++ { // until acknowledged (10 s at most)
			in, _ := c.Info()
			if in.SendQ == 0 && in.NotsentBytes == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		return segs() - before
	}
	n := send(func() {
		for i := 0; i < 5; i++ {
			rec := bytes.Repeat([]byte{byte('a' + i)}, 100)
			want = append(want, rec...)
			if k, err := c.WriteRecord(rec); k != 100 || err != nil {
				t.Fatalf("WriteRecord: %d, %v", k, err)
			}
		}
		tail := bytes.Repeat([]byte{'z'}, 200)
		want = append(want, tail...)
		c.Write(tail)
	})
	if n != 6 {
		t.Errorf("five records and 200 plain bytes left in %d data segments, want 6", n)
	}
	plain := bytes.Repeat([]byte{'p'}, 700)
	want = append(want, plain...)
	if n := send(func() { c.Write(plain) }); n != 1 {
		t.Errorf("700 plain bytes left in %d data segments, want 1", n)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("the peer read %q..., want %q...", b[:min(len(b), 40)], want[:40])
	}
}

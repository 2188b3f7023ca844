package xsk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// isARPReplyFrom matches an ARP reply whose sender protocol address is
// from and whose target protocol address is to.
func isARPReplyFrom(from, to [4]byte) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == etherTypeARP &&
			binary.BigEndian.Uint16(f[20:]) == 2 && bytes.Equal(f[28:32], from[:]) && bytes.Equal(f[38:42], to[:])
	}
}

// buildARPRequest writes, into b, a broadcast RFC 826 request from (mac,
// spa) for tpa.
func buildARPRequest(b []byte, mac net.HardwareAddr, spa, tpa [4]byte) int {
	for i := range b[:64] {
		b[i] = 0xa5 // reused frames hold junk; every field is written below
	}
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], etherTypeARP)
	binary.BigEndian.PutUint16(b[14:], 1) // htype Ethernet
	binary.BigEndian.PutUint16(b[16:], etherTypeIP4)
	b[18], b[19] = 6, 4
	binary.BigEndian.PutUint16(b[20:], 1) // request
	copy(b[22:28], mac)
	copy(b[28:32], spa[:])
	copy(b[32:38], make([]byte, 6)) // target hardware address: unknown
	copy(b[38:42], tpa[:])
	return 42
}

// TestVethSharedAddrKernelARP is the normal deployment: the kernel and
// xdptcp share the served address on the interface. With the filter and a
// socket attached, the socket answering ARP requests for the address (by
// hand, as TestVethEndToEnd does) and no static neighbour entry anywhere, a
// kernel TCP server on a port we do not serve is reachable from the peer:
// the kernel resolves the peer by itself, because the peer's ARP reply to
// the kernel's request (sender not watched) is XDP_PASS. Then the same for
// xdptcp: with the peer watched (WatchARP), the peer's reply to a request
// the socket sends arrives on the socket.
func TestVethSharedAddrKernelARP(t *testing.T) {
	tp := newTopo(t)
	f, s := attach(t, tp, XDPAuto)
	ours, peer := ip4(tp.addrA), ip4(tp.addrB)
	const served, kernelPort = 8080, 9090
	for _, err := range []error{f.AddAddr(ours), f.AddPort(ours, served)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Neither side knows the other: the kernel must resolve the peer.
	testnet.Cmd(t, "ip", "neigh", "flush", "dev", tp.v.A)
	tp.ns.Exec(t, "ip", "neigh", "flush", "dev", tp.v.B)
	ln, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", tp.addrA, kernelPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("kernel\n"))
			c.Close()
		}
	}()

	// The loop: answer ARP requests for our address, count ARP replies to
	// it that reach the socket (none should: nobody is watched), release
	// everything else. It owns the socket until stop is closed.
	stop, done := make(chan struct{}), make(chan struct{})
	var answered, repliesSeen int
	go func() {
		defer close(done)
		descs := make([]Desc, 32)
		isReq, isReply := isARPRequestFor(ours), isARPReplyFrom(peer, ours)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Wait(50*time.Millisecond, -1); err != nil {
				t.Errorf("Wait: %v", err)
				return
			}
			n := s.Receive(descs)
			for _, d := range descs[:n] {
				fr := s.Frame(d)
				if isReply(fr) {
					repliesSeen++
				}
				if !isReq(fr) {
					continue
				}
				tx, b, ok := s.AllocTx()
				if !ok {
					t.Errorf("AllocTx: no frame")
					continue
				}
				tx.Len = uint32(buildARPReply(b, fr, tp.macA))
				if s.Transmit([]Desc{tx}) == 1 {
					answered++
				}
			}
			s.Release(descs[:n])
			s.Flush()
		}
	}()
	start := time.Now()
	out, connErr := peerHelper(tp.ns, "connect", fmt.Sprintf("%s:%d", tp.addrA, kernelPort)).CombinedOutput()
	t.Logf("connect took %v", time.Since(start))
	close(stop)
	<-done
	kernelNeigh := testnet.Cmd(t, "ip", "neigh", "show", tp.addrB, "dev", tp.v.A)
	t.Logf("answered %d ARP requests; %d ARP replies reached the socket; kernel neighbour entry %q", answered, repliesSeen, strings.TrimSpace(kernelNeigh))
	if connErr != nil {
		t.Fatalf("kernel listener on %s:%d unreachable from the peer while the filter is attached: %v %s", tp.addrA, kernelPort, connErr, out)
	}
	if answered == 0 {
		t.Errorf("the peer's ARP request for %s never reached the socket", tp.addrA)
	}
	if repliesSeen != 0 {
		t.Errorf("%d ARP replies from the unwatched peer reached the socket, want 0", repliesSeen)
	}
	if !strings.Contains(kernelNeigh, tp.peerMAC(t).String()) {
		t.Errorf("kernel has no neighbour entry for %s: %q", tp.addrB, kernelNeigh)
	}

	// xdptcp resolves the peer: watched, its reply comes to the socket.
	if err := f.WatchARP(peer); err != nil {
		t.Fatal(err)
	}
	d, b, ok := s.AllocTx()
	if !ok {
		t.Fatal("AllocTx: no frame")
	}
	d.Len = uint32(buildARPRequest(b, tp.macA, ours, peer))
	if s.Transmit([]Desc{d}) != 1 {
		t.Fatal("Transmit ARP request")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	reply := recvMatch(t, s, "ARP reply from the watched peer", isARPReplyFrom(peer, ours))
	if sha := net.HardwareAddr(s.Frame(reply)[22:28]); sha.String() != tp.peerMAC(t).String() {
		t.Errorf("ARP reply sender hardware address %s, want %s", sha, tp.peerMAC(t))
	}
	s.Release([]Desc{reply})
	if err := f.UnwatchARP(peer); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
}

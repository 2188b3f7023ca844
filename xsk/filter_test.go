package xsk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/xdptcp/xdptcp/internal/testnet"
)

var (
	servedAddr = [4]byte{198, 18, 0, 1}
	otherAddr  = [4]byte{198, 18, 0, 9}
	peerAddr   = [4]byte{198, 18, 0, 2}
	// watchedAddr is in arp_watch in the test filter: a neighbour xdptcp
	// is resolving, whose ARP replies are ours.
	watchedAddr = [4]byte{198, 18, 0, 3}
)

const (
	servedPort = 8080
	otherPort  = 22
)

// testFallback is the redirect fallback verdict of the test variant of the
// program: XDP_TX, which the real program never returns, so "ours, but the
// XSKMAP slot is empty" (3) and "not ours" (XDP_PASS, 2) differ.
const testFallback = xdpTx

// ethHdr writes an Ethernet header with EtherType et.
func ethHdr(et uint16) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0, 0}
	binary.BigEndian.PutUint16(b[12:], et)
	return b
}

// ipv4Frame builds Ethernet + IPv4 (with optLen bytes of options, a
// multiple of 4) + payload.
func ipv4Frame(dst [4]byte, proto byte, optLen int, payload []byte) []byte {
	ihl := 20 + optLen
	ip := make([]byte, ihl)
	ip[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl+len(payload)))
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:], peerAddr[:])
	copy(ip[16:], dst[:])
	for i := 20; i < ihl; i++ {
		ip[i] = 1 // NOP options
	}
	return append(append(ethHdr(etherTypeIP4), ip...), payload...)
}

func tcpSeg(dstPort uint16) []byte {
	t := make([]byte, 20)
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], dstPort)
	t[12] = 5 << 4
	t[13] = 0x02 // SYN
	return t
}

func tcpFrame(dst [4]byte, port uint16) []byte { return ipv4Frame(dst, protoTCP, 0, tcpSeg(port)) }

func icmpFrame(dst [4]byte, typ byte) []byte {
	return ipv4Frame(dst, protoICMP, 0, []byte{typ, 0, 0, 0, 0, 1, 0, 1, 'x', 'y'})
}

func arpFrame(op uint16, target [4]byte) []byte { return arpFrameFrom(op, peerAddr, target) }

// arpFrameFrom builds an Ethernet/IPv4 ARP packet with operation op from
// sender protocol address spa for target protocol address tpa.
func arpFrameFrom(op uint16, spa, target [4]byte) []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], etherTypeIP4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:], []byte{0x02, 0, 0, 0, 0, 2})
	copy(a[14:], spa[:])
	copy(a[24:], target[:])
	return append(ethHdr(etherTypeARP), a...)
}

func loadTestFilter(t *testing.T, fallback int32) *Filter {
	t.Helper()
	testnet.RequireRoot(t)
	f, err := loadFilter(fallback)
	if err != nil {
		t.Fatalf("load filter: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.AddAddr(servedAddr); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPort(servedAddr, servedPort); err != nil {
		t.Fatal(err)
	}
	if err := f.SetClientPorts(servedAddr, 32768, 60999); err != nil {
		t.Fatal(err)
	}
	if err := f.WatchARP(watchedAddr); err != nil {
		t.Fatal(err)
	}
	return f
}

func run(t *testing.T, p *ebpf.Program, frame []byte) uint32 {
	t.Helper()
	// The kernel's test run refuses inputs shorter than an Ethernet header.
	ret, err := p.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("run on %d bytes: %v", len(frame), err)
	}
	return ret
}

func verdictName(v uint32) string {
	switch v {
	case xdpPass:
		return "XDP_PASS"
	case xdpTx:
		return "ours (XDP_TX fallback)"
	case xdpRedirect:
		return "XDP_REDIRECT"
	}
	return "?"
}

func TestFilterVerdicts(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	withOpts := ipv4Frame(servedAddr, protoTCP, 20, tcpSeg(servedPort))
	withOptsOther := ipv4Frame(servedAddr, protoTCP, 8, tcpSeg(otherPort))
	// A frame whose port is served only if the header length is ignored:
	// the port field at offset 2 of where a 20-byte header would end.
	trick := ipv4Frame(servedAddr, protoTCP, 4, tcpSeg(otherPort))
	binary.BigEndian.PutUint16(trick[ethLen+20+2:], servedPort)
	vlan := append(ethHdr(0x8100), []byte{0, 1, 0x08, 0x00}...)
	vlan = append(vlan, tcpFrame(servedAddr, servedPort)[ethLen:]...)
	ipv6 := append(ethHdr(0x86dd), make([]byte, 60)...)
	frag := tcpFrame(servedAddr, servedPort)
	frag[ipFragOff] = 0x20 // MF
	notV4 := tcpFrame(servedAddr, servedPort)
	notV4[ipVerIHL] = 0x65
	badIHL := tcpFrame(servedAddr, servedPort)
	badIHL[ipVerIHL] = 0x44
	udp := ipv4Frame(servedAddr, 17, 0, make([]byte, 16))

	for _, c := range []struct {
		name  string
		frame []byte
		ours  bool
	}{
		{"tcp to served addr:port", tcpFrame(servedAddr, servedPort), true},
		{"tcp to served addr, other port", tcpFrame(servedAddr, otherPort), false},
		{"tcp to other addr, served port", tcpFrame(otherAddr, servedPort), false},
		{"tcp to client port range low", tcpFrame(servedAddr, 32768), true},
		{"tcp to client port range high", tcpFrame(servedAddr, 60999), true},
		{"tcp below client range", tcpFrame(servedAddr, 32767), false},
		{"tcp above client range", tcpFrame(servedAddr, 61000), false},
		{"tcp client port on other addr", tcpFrame(otherAddr, 40000), false},
		{"ipv4 options, served port", withOpts, true},
		{"ipv4 options, other port", withOptsOther, false},
		{"ipv4 options hide a served port", trick, false},
		{"arp request for us", arpFrame(1, servedAddr), true},
		{"arp request for us from a watched sender", arpFrameFrom(1, watchedAddr, servedAddr), true},
		{"arp probe for us (spa 0.0.0.0)", arpFrameFrom(1, [4]byte{}, servedAddr), true},
		{"arp reply to us from a watched sender", arpFrameFrom(2, watchedAddr, servedAddr), true},
		{"arp reply to us from an unwatched sender (the kernel's)", arpFrame(2, servedAddr), false},
		{"arp reply to someone else from a watched sender", arpFrameFrom(2, watchedAddr, otherAddr), false},
		{"arp for someone else", arpFrame(1, otherAddr), false},
		{"gratuitous arp request for us", arpFrameFrom(1, servedAddr, servedAddr), false},
		{"gratuitous arp reply for us", arpFrameFrom(2, servedAddr, servedAddr), false},
		{"gratuitous arp of a watched neighbour", arpFrameFrom(2, watchedAddr, watchedAddr), false},
		{"rarp request (oper 3) for us", arpFrame(3, servedAddr), false},
		{"inarp reply (oper 9) for us from a watched sender", arpFrameFrom(9, watchedAddr, servedAddr), false},
		{"icmp echo to us", icmpFrame(servedAddr, 8), true},
		{"icmp echo reply to us", icmpFrame(servedAddr, 0), false},
		{"icmp echo to other", icmpFrame(otherAddr, 8), false},
		{"udp to us", udp, false},
		{"ipv6", ipv6, false},
		{"vlan tagged tcp to us", vlan, false},
		{"ipv4 fragment", frag, false},
		{"ip version 6 in ipv4 ethertype", notV4, false},
		{"ihl 4", badIHL, false},
	} {
		want := uint32(xdpPass)
		if c.ours {
			want = testFallback
		}
		if got := run(t, f.Program(), c.frame); got != want {
			t.Errorf("%s: verdict %d (%s), want %d (%s)", c.name, got, verdictName(got), want, verdictName(want))
		}
	}
}

// TestFilterTruncated cuts every ours-frame at every length: anything short
// of a complete header is not ours.
func TestFilterTruncated(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	for _, c := range []struct {
		name  string
		frame []byte
		need  int // shortest length that is ours
	}{
		{"tcp", tcpFrame(servedAddr, servedPort), ethLen + 20 + 20},
		{"tcp with options", ipv4Frame(servedAddr, protoTCP, 40, tcpSeg(servedPort)), ethLen + 60 + 20},
		{"icmp", icmpFrame(servedAddr, 8), ethLen + 20 + 8},
		{"arp", arpFrame(1, servedAddr), ethLen + 28},
		{"arp reply from a watched sender", arpFrameFrom(2, watchedAddr, servedAddr), ethLen + 28},
	} {
		for n := 0; n <= len(c.frame); n++ {
			if n < ethLen {
				// BPF_PROG_TEST_RUN rejects XDP input shorter than
				// ETH_HLEN (EINVAL); the program still bounds-checks.
				if _, err := f.Program().Run(&ebpf.RunOptions{Data: c.frame[:n]}); err == nil {
					t.Logf("%s: kernel ran a %d-byte frame", c.name, n)
				}
				continue
			}
			want := uint32(xdpPass)
			if n >= c.need {
				want = testFallback
			}
			if got := run(t, f.Program(), c.frame[:n]); got != want {
				t.Errorf("%s cut at %d: verdict %d, want %d", c.name, n, got, want)
			}
		}
	}
}

// TestFilterProductionFallback checks the real program: ours with an empty
// XSKMAP slot falls back to XDP_PASS (so a missing socket never black-holes
// the interface), not ours is XDP_PASS.
func TestFilterProductionFallback(t *testing.T) {
	testnet.RequireRoot(t)
	f, err := LoadFilterProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.AddPort(servedAddr, servedPort)
	if got := run(t, f.Program(), tcpFrame(servedAddr, servedPort)); got != xdpPass {
		t.Errorf("ours, empty slot: %d, want XDP_PASS", got)
	}
	if got := run(t, f.Program(), tcpFrame(servedAddr, otherPort)); got != xdpPass {
		t.Errorf("not ours: %d, want XDP_PASS", got)
	}
	// The kernel gets the frame as it came: where the receive time is a
	// prefix of the packet (StampsInPacket), the fallback takes it off;
	// where it is XDP metadata, the kernel keeps it beside the packet
	// (BPF_PROG_TEST_RUN's output holds it before the frame: the stamp of
	// a served frame, none for another).
	for i, frame := range [][]byte{tcpFrame(servedAddr, servedPort), tcpFrame(servedAddr, otherPort)} {
		opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+64)}
		ret, err := f.Program().Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		out := opts.DataOut
		if meta := len(out) - len(frame); !f.StampsInPacket() && i == 0 && meta == RxMetaLen {
			out = out[meta:]
		}
		if ret != xdpPass || !bytes.Equal(out, frame) {
			t.Errorf("verdict %d, %d bytes out of %d (prefix in packet: %v): the kernel would not get the frame as it came",
				ret, len(out), len(frame), f.StampsInPacket())
		}
	}
}

// TestFilterMapUpdates: ports and ranges can be removed again.
func TestFilterMapUpdates(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	if err := f.RemovePort(servedAddr, servedPort); err != nil {
		t.Fatal(err)
	}
	if err := f.RemovePort(servedAddr, servedPort); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if got := run(t, f.Program(), tcpFrame(servedAddr, servedPort)); got != xdpPass {
		t.Errorf("removed port: %d, want XDP_PASS", got)
	}
	f.SetClientPorts(servedAddr, 1, 0)
	if got := run(t, f.Program(), tcpFrame(servedAddr, 40000)); got != xdpPass {
		t.Errorf("cleared range: %d, want XDP_PASS", got)
	}
	if got := run(t, f.Program(), arpFrame(1, servedAddr)); got != testFallback {
		t.Errorf("address still served after clearing the range: %d", got)
	}
	f.AddAddr(servedAddr) // keeps the range
	f.RemoveAddr(servedAddr)
	if got := run(t, f.Program(), arpFrame(1, servedAddr)); got != xdpPass {
		t.Errorf("removed address: %d, want XDP_PASS", got)
	}
	if err := f.Register(MaxQueues, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Register out of range: %v", err)
	}
}

// TestFilterRandomFrames mutates ours-frames at random (seeded): the
// program only ever answers XDP_PASS or the redirect, and the kernel's test
// run never fails.
func TestFilterRandomFrames(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{
		tcpFrame(servedAddr, servedPort), arpFrame(1, servedAddr), icmpFrame(servedAddr, 8),
		ipv4Frame(servedAddr, protoTCP, 12, tcpSeg(40000)), arpFrameFrom(2, watchedAddr, servedAddr),
	}
	for i := 0; i < 3000; i++ {
		fr := append([]byte(nil), seeds[i%len(seeds)]...)
		for j := rng.IntN(4); j >= 0; j-- {
			fr[rng.IntN(len(fr))] = byte(rng.Uint32())
		}
		fr = fr[:ethLen+rng.IntN(len(fr)-ethLen+1)]
		if got := run(t, f.Program(), fr); got != xdpPass && got != testFallback {
			t.Fatalf("frame %x: verdict %d", fr, got)
		}
	}
}

// TestFilterARPWatch: a reply from a neighbour is ours exactly while it is
// watched; watching twice and unwatching an unwatched address are not
// errors.
func TestFilterARPWatch(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	reply := arpFrame(2, servedAddr) // from peerAddr
	verdict := func(when string, want uint32) {
		t.Helper()
		if got := run(t, f.Program(), reply); got != want {
			t.Errorf("%s: reply from %v: %s, want %s", when, peerAddr, verdictName(got), verdictName(want))
		}
	}
	verdict("never watched", xdpPass)
	for i := 0; i < 2; i++ {
		if err := f.WatchARP(peerAddr); err != nil {
			t.Fatalf("watch #%d: %v", i+1, err)
		}
	}
	verdict("watched", testFallback)
	for i := 0; i < 2; i++ {
		if err := f.UnwatchARP(peerAddr); err != nil {
			t.Fatalf("unwatch #%d: %v", i+1, err)
		}
	}
	verdict("unwatched", xdpPass)
	// Requests do not depend on the watch.
	if got := run(t, f.Program(), arpFrame(1, servedAddr)); got != testFallback {
		t.Errorf("request from an unwatched sender: %s", verdictName(got))
	}
	// Neither does a served address: a reply to an address no longer
	// served is the kernel's even from a watched sender.
	f.WatchARP(peerAddr)
	f.RemoveAddr(servedAddr)
	verdict("watched, address not served", xdpPass)
}

// TestFilterARPWatchFull: the map holds MaxARPWatch addresses; one more is
// ErrARPWatchFull itself (not wrapped: the loop counts it without
// allocating), while re-watching a watched address still succeeds and an
// unwatch makes room.
func TestFilterARPWatchFull(t *testing.T) {
	f := loadTestFilter(t, testFallback) // watches watchedAddr
	addr := func(i int) [4]byte { return [4]byte{198, 19, byte(i >> 8), byte(i)} }
	for i := 1; i < MaxARPWatch; i++ {
		if err := f.WatchARP(addr(i)); err != nil {
			t.Fatalf("watch %d of %d: %v", i+1, MaxARPWatch, err)
		}
	}
	if err := f.WatchARP(addr(MaxARPWatch)); err != ErrARPWatchFull {
		t.Fatalf("watch %d: %v, want ErrARPWatchFull", MaxARPWatch+1, err)
	}
	if err := f.WatchARP(watchedAddr); err != nil {
		t.Errorf("re-watch with a full map: %v", err)
	}
	if err := f.UnwatchARP(addr(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.WatchARP(addr(MaxARPWatch)); err != nil {
		t.Errorf("watch after an unwatch: %v", err)
	}
	if got := run(t, f.Program(), arpFrameFrom(2, addr(MaxARPWatch), servedAddr)); got != testFallback {
		t.Errorf("reply from the last watched: %s", verdictName(got))
	}
	if got := run(t, f.Program(), arpFrameFrom(2, addr(1), servedAddr)); got != xdpPass {
		t.Errorf("reply from an unwatched: %s", verdictName(got))
	}
	// The loop's cycle (watch, reply, unwatch) stays cheap: the key escapes
	// into the bpf(2) attribute, nothing else allocates.
	allocs := testing.AllocsPerRun(100, func() {
		f.UnwatchARP(addr(2))
		f.WatchARP(addr(2))
	})
	if allocs > 2 {
		t.Errorf("UnwatchARP + WatchARP: %.0f allocations, want at most 2", allocs)
	}
}

// TestFilterARPWatchConcurrent: WatchARP and UnwatchARP from several
// goroutines while the program runs (go test -race).
func TestFilterARPWatchConcurrent(t *testing.T) {
	f := loadTestFilter(t, testFallback)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := [4]byte{198, 19, 1, byte(g)}
			for i := 0; i < 200; i++ {
				if err := f.WatchARP(a); err != nil {
					t.Error(err)
					return
				}
				if v := run(t, f.Program(), arpFrameFrom(2, a, servedAddr)); v != testFallback {
					t.Errorf("watched %v: %s", a, verdictName(v))
					return
				}
				if err := f.UnwatchARP(a); err != nil {
					t.Error(err)
					return
				}
				if v := run(t, f.Program(), arpFrameFrom(2, a, servedAddr)); v != xdpPass {
					t.Errorf("unwatched %v: %s", a, verdictName(v))
					return
				}
			}
		}()
	}
	wg.Wait()
}

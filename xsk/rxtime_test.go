package xsk

import (
	"testing"

	"golang.org/x/sys/unix"
)

func monotonicNow(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}

// A frame the filter redirects carries the CLOCK_MONOTONIC time the XDP
// program ran, native and generic XDP alike on veth (copy mode): between
// the time before the peer sent it and the time it was read. Read once,
// the metadata is cleared, so the frame's next use shows no old time.
// On a kernel that refuses bpf_xdp_adjust_meta to XDP programs the time
// comes as a prefix of the packet, which Receive strips: the same holds.
func TestVethRxTimestamp(t *testing.T) {
	for _, mode := range []XDPMode{XDPNative, XDPGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			tp := newTopo(t)
			f, s := attach(t, tp, mode)
			ours := ip4(tp.addrA)
			if err := f.AddAddr(ours); err != nil {
				t.Fatal(err)
			}
			before := monotonicNow(t)
			ping := peerHelper(tp.ns, "ping", tp.addrA)
			if err := ping.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { ping.Process.Kill(); ping.Wait() }()
			req := recvMatch(t, s, "ARP request", isARPRequestFor(ours))
			after := monotonicNow(t)
			if f.StampsInPacket() {
				t.Log("this kernel refuses bpf_xdp_adjust_meta to XDP programs: the time is a prefix of the packet")
			}
			at, ok := s.RxTimestamp(req)
			if !ok || at < before || at > after {
				t.Errorf("receive time %d (%v), want between %d and %d", at, ok, before, after)
			}
			if _, again := s.RxTimestamp(req); again {
				t.Error("the metadata was not cleared after it was read")
			}
			if n := s.Stats().RxNoTimestamp; n != 1 {
				t.Errorf("RxNoTimestamp %d, want 1 (the second read)", n)
			}
			s.Release([]Desc{req})
			settle(t, s)
		})
	}
}

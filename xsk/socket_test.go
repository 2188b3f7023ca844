package xsk

import (
	"encoding/binary"
	"testing"
)

func checkFrames(t *testing.T, s *Socket, when string) {
	t.Helper()
	if err := s.CheckFrames(); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

func TestFakeInitialPlacement(t *testing.T) {
	s, _ := newFakeSocket(t, Config{NumFrames: 64, FrameSize: 2048, FillSize: 16, CompSize: 16, RxSize: 16, TxSize: 16})
	c := s.FrameCounts()
	if c.Fill != 16 || c.Free != 48 {
		t.Errorf("initial placement %+v, want 16 on fill, 48 free", c)
	}
	checkFrames(t, s, "after open")
}

// TestFakeFrameAccounting moves frames through every place and checks after
// each step that they add up to NumFrames.
func TestFakeFrameAccounting(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 32, FrameSize: 2048, FillSize: 8, CompSize: 8, RxSize: 8, TxSize: 8})
	descs := make([]Desc, 16)
	for round := 0; round < 50; round++ {
		k.deliver(5, 60)
		checkFrames(t, s, "deliver")
		n := s.Receive(descs)
		checkFrames(t, s, "receive")
		// Echo the first half back in place, release the rest.
		h := n / 2
		sent := s.Transmit(descs[:h])
		s.Release(descs[sent:n])
		checkFrames(t, s, "transmit+release")
		// Build two fresh frames, send one, free the other.
		d1, b1, ok1 := s.AllocTx()
		d2, _, ok2 := s.AllocTx()
		checkFrames(t, s, "alloc")
		if ok1 {
			d1.Len = uint32(copy(b1, "frame"))
			if s.Transmit([]Desc{d1}) != 1 {
				s.FreeTx(d1)
			}
		}
		if ok2 {
			s.FreeTx(d2)
		}
		checkFrames(t, s, "alloc transmit/free")
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		checkFrames(t, s, "flush")
		k.transmit(3)
		checkFrames(t, s, "kernel transmit")
	}
	k.transmit(1 << 20)
	s.Flush()
	c := s.FrameCounts()
	if c.Loop != 0 || c.Tx != 0 || c.Completion != 0 || c.Free+c.Fill != 32 {
		t.Errorf("after draining: %+v", c)
	}
	if st := s.Stats(); st.RxFrames == 0 || st.TxFrames == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestFakeRingWrap sends 20 ring-fulls through RX and TX with 8-entry rings:
// every index wraps many times and frames come out in order.
func TestFakeRingWrap(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 16, FrameSize: 2048, FillSize: 8, CompSize: 8, RxSize: 8, TxSize: 8})
	descs := make([]Desc, 3) // odd batch so batches straddle the wrap
	const total = 20 * 8
	var got []uint32
	for len(got) < total {
		k.deliver(5, 64)
		n := s.Receive(descs)
		for _, d := range descs[:n] {
			f := s.Frame(d)
			if len(f) != 64 {
				t.Fatalf("frame len %d", len(f))
			}
			got = append(got, binary.NativeEndian.Uint32(f))
		}
		sent := s.Transmit(descs[:n])
		s.Release(descs[sent:n])
		s.Flush()
		k.transmit(8)
		s.Flush()
		checkFrames(t, s, "wrap")
	}
	for i, v := range got {
		if v != uint32(i+1) {
			t.Fatalf("rx frame %d has sequence %d", i, v)
		}
	}
	for i, v := range k.sent {
		if v != uint32(i+1) {
			t.Fatalf("tx frame %d has sequence %d", i, v)
		}
	}
	if len(k.sent) < total-8 {
		t.Errorf("only %d frames transmitted", len(k.sent))
	}
	if *s.rx.consumer < 2*8 || *s.fill.producer < 2*8 {
		t.Errorf("indices did not wrap: rx consumer %d fill producer %d", *s.rx.consumer, *s.fill.producer)
	}
}

// TestFakeTxRingFull: a full TX ring takes a prefix, counts the event, and
// leaves the rest with the caller.
func TestFakeTxRingFull(t *testing.T) {
	s, _ := newFakeSocket(t, Config{NumFrames: 32, FrameSize: 2048, FillSize: 8, CompSize: 8, RxSize: 8, TxSize: 4})
	var ds []Desc
	for i := 0; i < 6; i++ {
		d, _, ok := s.AllocTx()
		if !ok {
			t.Fatal("no frame")
		}
		d.Len = 60
		ds = append(ds, d)
	}
	if n := s.Transmit(ds); n != 4 {
		t.Fatalf("Transmit took %d, want 4", n)
	}
	if st := s.Stats(); st.TxRingFull != 1 {
		t.Errorf("TxRingFull %d", st.TxRingFull)
	}
	for _, d := range ds[4:] {
		s.FreeTx(d)
	}
	checkFrames(t, s, "ring full")
}

// TestFakeNoFreeFrame: AllocTx reports exhaustion, counts it, and recovers
// once completions come back.
func TestFakeNoFreeFrame(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 8, FrameSize: 2048, FillSize: 4, CompSize: 8, RxSize: 8, TxSize: 8})
	var ds []Desc
	for {
		d, _, ok := s.AllocTx()
		if !ok {
			break
		}
		d.Len = 60
		ds = append(ds, d)
	}
	if len(ds) != 4 {
		t.Fatalf("allocated %d, want the 4 reserved frames", len(ds))
	}
	if s.Stats().NoFreeFrame != 1 {
		t.Error("NoFreeFrame not counted")
	}
	s.Transmit(ds)
	k.transmit(8)
	// AllocTx drains completions itself.
	if _, _, ok := s.AllocTx(); !ok {
		t.Error("AllocTx did not take a completed frame")
	}
}

// TestFakeInvalidDescs: descriptors outside the UMEM or overrunning their
// frame are refused without panicking.
func TestFakeInvalidDescs(t *testing.T) {
	s, _ := newFakeSocket(t, Config{NumFrames: 8, FrameSize: 2048, FillSize: 4, CompSize: 4, RxSize: 4, TxSize: 4})
	bad := []Desc{
		{Addr: 8 * 2048, Len: 10},
		{Addr: ^uint64(0), Len: 1},
		{Addr: 2048 + 100, Len: 2048},
		{Addr: 0, Len: 0},
	}
	for _, d := range bad[:3] {
		if s.Frame(d) != nil && d.Len > 0 {
			t.Errorf("Frame(%+v) not nil", d)
		}
	}
	if s.FrameCap(bad[0]) != nil || s.FrameCap(bad[1]) != nil {
		t.Error("FrameCap outside the UMEM")
	}
	if c := s.FrameCap(Desc{Addr: 2048 + 256}); len(c) != 2048-256 {
		t.Errorf("FrameCap of a received frame: %d bytes", len(c))
	}
	for _, d := range bad {
		if s.Transmit([]Desc{d}) != 0 {
			t.Errorf("Transmit accepted %+v", d)
		}
	}
	s.Release(bad[:2])
	s.FreeTx(bad[0])
	checkFrames(t, s, "invalid")
	if s.Stats().InvalidDescs != 4+2+1 {
		t.Errorf("InvalidDescs %d", s.Stats().InvalidDescs)
	}
}

// TestFakeNoAllocs: the per-packet operations allocate nothing.
func TestFakeNoAllocs(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 256, FrameSize: 2048, FillSize: 64, CompSize: 64, RxSize: 64, TxSize: 64})
	descs := make([]Desc, 16)
	tx := make([]Desc, 1)
	k.sent = make([]uint32, 0, 1<<20)
	allocs := testing.AllocsPerRun(1000, func() {
		k.deliver(8, 60)
		n := s.Receive(descs)
		sent := s.Transmit(descs[:n/2])
		s.Release(descs[sent:n])
		if d, b, ok := s.AllocTx(); ok {
			d.Len = uint32(copy(b, "hello"))
			tx[0] = d
			if s.Transmit(tx) == 0 {
				s.FreeTx(d)
			}
		}
		_ = s.Frame(descs[0])
		s.Flush()
		k.sent = k.sent[:0]
		k.transmit(64)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per iteration, want 0", allocs)
	}
	checkFrames(t, s, "after alloc test")
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Iface: "x"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.NumFrames != 4096 || c.FrameSize != 4096 || c.FillSize != 2048 || c.TxSize != 2048 {
		t.Errorf("defaults %+v", c)
	}
	for _, bad := range []Config{{FrameSize: 1000}, {RxSize: 3}, {NumFrames: 1}, {QueueID: -1}, {BindMode: 7}} {
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if MaxPacket(4096) != 3840 || MaxPacket(2048) != 1792 || MaxPacket(100) != 0 {
		t.Error("MaxPacket")
	}
}

func TestModeStrings(t *testing.T) {
	for _, m := range []BindMode{BindAuto, BindZeroCopy, BindCopy} {
		if p, err := ParseBindMode(m.String()); err != nil || p != m {
			t.Errorf("bind mode %v round trip: %v %v", m, p, err)
		}
	}
	for _, m := range []XDPMode{XDPAuto, XDPNative, XDPGeneric} {
		if p, err := ParseXDPMode(m.String()); err != nil || p != m {
			t.Errorf("xdp mode %v round trip: %v %v", m, p, err)
		}
	}
	if _, err := ParseBindMode("fast"); err == nil {
		t.Error("bad bind mode accepted")
	}
	if _, err := ParseXDPMode("fast"); err == nil {
		t.Error("bad xdp mode accepted")
	}
}

// BenchmarkFakeEcho measures the ring operations alone: receive a batch of
// 32, send half back in place, release the rest, flush.
func BenchmarkFakeEcho(b *testing.B) {
	s, k := newFakeSocket(b, Config{NumFrames: 4096, FrameSize: 2048, FillSize: 1024, CompSize: 1024, RxSize: 1024, TxSize: 1024})
	descs := make([]Desc, 32)
	k.sent = make([]uint32, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		k.deliver(32, 60)
		n := s.Receive(descs)
		sent := s.Transmit(descs[:n/2])
		s.Release(descs[sent:n])
		s.Flush()
		k.sent = k.sent[:0]
		k.transmit(32)
	}
}

// TestFakeDoubleRelease: releasing, freeing or sending a frame the loop no
// longer holds is refused, so one frame never sits in two places.
func TestFakeDoubleRelease(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 16, FrameSize: 2048, FillSize: 8, CompSize: 8, RxSize: 8, TxSize: 8})
	k.deliver(2, 60)
	descs := make([]Desc, 2)
	if s.Receive(descs) != 2 {
		t.Fatal("receive")
	}
	s.Release(descs[:1])
	s.Release(descs[:1]) // again
	if s.Transmit(descs[:1]) != 0 {
		t.Error("sent a released frame")
	}
	s.FreeTx(descs[0])
	d, _, _ := s.AllocTx()
	d.Len = 60
	if s.Transmit([]Desc{d}) != 1 {
		t.Fatal("transmit")
	}
	s.FreeTx(d) // on the TX ring now
	if s.Transmit([]Desc{d}) != 0 {
		t.Error("sent a frame twice")
	}
	if got := s.Stats().InvalidDescs; got != 5 {
		t.Errorf("InvalidDescs %d, want 5", got)
	}
	s.Release(descs[1:])
	k.transmit(8)
	s.Flush()
	checkFrames(t, s, "after double release")
}

package xsk

import (
	"errors"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/internal/testnet"
)

// deliverChain publishes one packet of the given descriptor lengths from
// fill entries, all but the last marked XDP_PKT_CONTD, as the kernel's
// multi-buffer copy mode does (one producer store per packet). It reports
// false, publishing nothing, when the fill or RX ring lacks room.
func (k *fakeKernel) deliverChain(lens ...uint32) bool {
	f, r := &k.s.fill, &k.s.rx
	fp, fc := atomic.LoadUint32(f.producer), atomic.LoadUint32(f.consumer)
	rp, rc := atomic.LoadUint32(r.producer), atomic.LoadUint32(r.consumer)
	if int(fp-fc) < len(lens) || int(r.size-(rp-rc)) < len(lens) {
		return false
	}
	for i, l := range lens {
		addr := f.addrs[fc&f.mask] + XDPPacketHeadroom
		fc++
		var opt uint32
		if i < len(lens)-1 {
			opt = unix.XDP_PKT_CONTD
		}
		r.descs[rp&r.mask] = unix.XDPDesc{Addr: addr, Len: l, Options: opt}
		rp++
	}
	atomic.StoreUint32(f.consumer, fc)
	atomic.StoreUint32(r.producer, rp)
	return true
}

func lensOf(ds []Desc) (lens []uint32, contd []bool) {
	for _, d := range ds {
		lens = append(lens, d.Len)
		contd = append(contd, d.Options&DescContd != 0)
	}
	return
}

// Receive hands out whole packets: a chain cut by the end of the batch
// waits for the next call; a chain longer than the whole batch is given
// back to the fill ring, counted once, and the packets after it arrive.
func TestReceiveWholePackets(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 64, FillSize: 32, CompSize: 32, RxSize: 32, TxSize: 32})
	s.sg = true
	k.deliverChain(100)
	k.deliverChain(3840, 3840, 1334)
	k.deliverChain(60)
	ds := make([]Desc, 3)
	if n := s.Receive(ds); n != 1 || ds[0].Len != 100 || ds[0].Options != 0 {
		t.Fatalf("first batch: %d %+v, want the one-frame packet only", n, ds[:n])
	}
	s.Release(ds[:1])
	if n := s.Receive(ds); n != 3 {
		t.Fatalf("second batch: %d, want the 3-frame packet", n)
	}
	if l, c := lensOf(ds); l[0] != 3840 || l[2] != 1334 || !c[0] || !c[1] || c[2] {
		t.Fatalf("chain %v %v", l, c)
	}
	s.Release(ds)
	// A packet of 5 descriptors cannot fit a batch of 3.
	k.deliverChain(10, 10, 10, 10, 10)
	k.deliverChain(70)
	var got []uint32
	for i := 0; i < 6; i++ {
		n := s.Receive(ds)
		for _, d := range ds[:n] {
			got = append(got, d.Len)
		}
		s.Release(ds[:n])
	}
	if len(got) != 2 || got[0] != 60 || got[1] != 70 {
		t.Fatalf("around the long packet: got packets of %v bytes, want [60 70]", got)
	}
	if st := s.Stats(); st.RxTooLong != 1 {
		t.Errorf("RxTooLong %d, want 1", st.RxTooLong)
	}
	s.Flush()
	if err := s.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

// Transmit publishes a chain whole or not at all and refuses malformed
// chains before them.
func TestTransmitWholePackets(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 64, FillSize: 16, CompSize: 16, RxSize: 16, TxSize: 4})
	s.sg = true
	alloc := func(n int, lastContd bool) []Desc {
		var ds []Desc
		for i := 0; i < n; i++ {
			d, _, ok := s.AllocTx()
			if !ok {
				t.Fatal("AllocTx")
			}
			d.Len = 100
			if i < n-1 || lastContd {
				d.Options = DescContd
			}
			ds = append(ds, d)
		}
		return ds
	}
	// A ring of 4: one frame and a chain of 3 fill it; a chain of 2
	// after them must wait whole (not 0 of 2 published half).
	batch := append(alloc(1, false), alloc(3, false)...)
	batch = append(batch, alloc(2, false)...)
	if n := s.Transmit(batch); n != 4 {
		t.Fatalf("Transmit took %d, want 4 (the 2-frame chain does not fit the ring's room)", n)
	}
	if st := s.Stats(); st.TxRingFull != 1 {
		t.Errorf("TxRingFull %d, want 1", st.TxRingFull)
	}
	k.transmit(4)
	if n := s.Transmit(batch[4:]); n != 2 {
		t.Fatalf("second Transmit took %d, want 2", n)
	}
	k.transmit(2)
	for _, d := range batch[:4] {
		if s.um.owner[d.Addr>>s.um.shift] != ownKernelTx {
			t.Fatal("a transmitted frame is not the kernel's")
		}
	}
	// Malformed: unterminated at the end of the batch; on a socket
	// without multi-buffer; longer than MaxDescsPerPacket.
	s.Flush()
	bad := alloc(2, true)
	if n := s.Transmit(bad); n != 0 {
		t.Errorf("unterminated chain: took %d", n)
	}
	s.sg = false
	bad[1].Options = 0
	if n := s.Transmit(bad); n != 0 {
		t.Errorf("chain without multi-buffer: took %d", n)
	}
	for _, d := range bad {
		s.FreeTx(d)
	}
	s.sg = true
	if st := s.Stats(); st.InvalidDescs != 2 {
		t.Errorf("InvalidDescs %d, want 2", st.InvalidDescs)
	}
	s.Flush()
	long := alloc(MaxDescsPerPacket+1, false)
	if n := s.Transmit(long); n != 0 {
		t.Errorf("chain of %d: took %d", len(long), n)
	}
	for _, d := range long {
		s.FreeTx(d)
	}
	s.Flush()
	if err := s.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

// Where the kernel refuses XDP_USE_SG (simulated by an unknown bind flag,
// which xsk_bind answers with EINVAL as a kernel before 6.6 does for
// XDP_USE_SG), Open binds without it on an MTU above a frame, counts and
// reports the refusal, and MaxFrame is one frame's packet (less the
// filter's receive-time prefix where it travels in the packet).
func TestVethMultiBufferRefused(t *testing.T) {
	one := MaxPacket(DefaultFrameSize) - stampPrefix()
	tp := newTopo(t)
	testnet.Cmd(t, "ip", "link", "set", tp.v.A, "mtu", "9000")
	s := openSocket(t, smallConfig(tp.v.A))
	if !s.MultiBuffer() || s.MaxFrame() != 9014 || s.MultiBufferError() != nil || s.Stats().MultiBufferRefused != 0 {
		t.Fatalf("MTU 9000: multi-buffer %v, max frame %d, %v", s.MultiBuffer(), s.MaxFrame(), s.MultiBufferError())
	}
	s.Close()
	defer func(f uint16) { useSG = f }(useSG)
	useSG = 0x80
	s = openSocket(t, smallConfig(tp.v.A))
	if s.MultiBuffer() || s.MaxFrame() != one || !errors.Is(s.MultiBufferError(), unix.EINVAL) ||
		s.Stats().MultiBufferRefused != 1 {
		t.Fatalf("SG refused: multi-buffer %v, max frame %d, %v, counted %d", s.MultiBuffer(), s.MaxFrame(), s.MultiBufferError(), s.Stats().MultiBufferRefused)
	}
	s.Close()
	cfg := smallConfig(tp.v.A)
	cfg.NoMultiBuffer = true
	s = openSocket(t, cfg)
	if s.MultiBuffer() || s.MaxFrame() != one || s.Stats().MultiBufferRefused != 0 {
		t.Fatalf("NoMultiBuffer: multi-buffer %v, max frame %d", s.MultiBuffer(), s.MaxFrame())
	}
}

// RequestTxChecksum writes struct xsk_tx_metadata in front of the packet
// and marks the descriptor; Transmit accepts the mark on a packet's first
// descriptor of a socket with TX metadata only.
func TestTxChecksumMetadata(t *testing.T) {
	s, k := newFakeSocket(t, Config{NumFrames: 64, FillSize: 16, CompSize: 16, RxSize: 16, TxSize: 16})
	d, _, _ := s.AllocTx()
	if _, ok := s.RequestTxChecksum(d, 34, 16); ok {
		t.Fatal("a request on a socket without TX metadata")
	}
	d.Len = 60
	s.Transmit([]Desc{d})
	s.um.txMeta, s.sg = txMetaLen, true // as register does when the kernel takes it
	d, b, _ := s.AllocTx()
	if d.Addr%uint64(s.cfg.FrameSize) != txMetaLen || len(b) != s.cfg.FrameSize-txMetaLen {
		t.Fatalf("TX frame at offset %d, %d bytes: want the metadata area in front", d.Addr%uint64(s.cfg.FrameSize), len(b))
	}
	d, ok := s.RequestTxChecksum(d, 34, 16)
	if !ok || d.Options != DescTxMetadata {
		t.Fatal("RequestTxChecksum")
	}
	md := s.um.mem[d.Addr-txMetaLen : d.Addr]
	if md[0] != unix.XDP_TXMD_FLAGS_CHECKSUM || md[8] != 34 || md[10] != 16 {
		t.Fatalf("metadata % x", md)
	}
	d2, _, _ := s.AllocTx()
	d.Len, d.Options = 100, d.Options|DescContd
	d2.Len, d2.Options = 50, DescTxMetadata // not allowed past the first
	if n := s.Transmit([]Desc{d, d2}); n != 0 {
		t.Fatalf("metadata on a chain's second descriptor: took %d", n)
	}
	d2.Options = 0
	if n := s.Transmit([]Desc{d, d2}); n != 2 || s.Stats().TxChecksumOffload != 1 {
		t.Fatalf("took %d, offload count %d", n, s.Stats().TxChecksumOffload)
	}
	k.transmit(3)
	s.Flush()
	if err := s.CheckFrames(); err != nil {
		t.Fatal(err)
	}
}

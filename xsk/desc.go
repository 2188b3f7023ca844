package xsk

import "golang.org/x/sys/unix"

// Desc describes one UMEM frame: its offset in the UMEM and the length of the
// packet in it. A Desc is owned by exactly one place at a time: the free
// list, the fill ring, the loop (after Receive or AllocTx), the TX ring, or
// the completion ring.
//
// On a socket bound with XDP_USE_SG (Socket.MultiBuffer) one packet may
// span several descriptors: every one but the last has DescContd in
// Options (Documentation/networking/af_xdp.rst, "Multi-Buffer Support").
// Receive hands out only whole packets and Transmit publishes only whole
// packets.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32 // DescContd, or 0
}

// DescContd marks a descriptor whose packet continues in the next one
// (XDP_PKT_CONTD).
const DescContd = unix.XDP_PKT_CONTD

// MaxDescsPerPacket bounds the descriptors of one packet: the kernel's
// copy-mode transmit builds an skb with at most MAX_SKB_FRAGS (17)
// fragments and drops longer chains (net/xdp/xsk.c, xsk_build_skb:
// -EOVERFLOW); receive chains of a frame the MTU allows stay below it.
const MaxDescsPerPacket = 17

// Package xsk is xdptcp's AF_XDP layer: one Socket per NIC queue (a UMEM of
// fixed-size frames and its four rings: fill, completion, RX, TX) and the
// XDP Filter that decides which frames leave the kernel for the socket.
//
// # Frames and rings
//
// A frame is in exactly one place at a time: the free list, the fill ring,
// the RX ring, the loop's hands (after Receive or AllocTx), the TX ring or
// the completion ring. Receive/Release/AllocTx/Transmit/FreeTx/Flush move
// frames between places; CheckFrames counts them. Rings follow the kernel's
// protocol (net/xdp/xsk_queue.h): acquire loads of the index the kernel
// writes, one release store of ours per batch. The socket is bound with
// XDP_USE_NEED_WAKEUP, so Flush makes a system call only when the kernel
// asks (on copy-mode veth it always asks for TX). Nothing on the packet path
// allocates or locks; Stats alone may be called from other goroutines.
//
// # Multi-buffer and TX metadata
//
// Where the interface's MTU does not fit one frame, Open binds with
// XDP_USE_SG (Linux 6.6): a packet spans several descriptors, all but the
// last marked DescContd; Receive returns and Transmit publishes whole
// packets only, and the filter is loaded as xdp.frags. Where the kernel
// refuses SG, Open binds without it and MaxFrame says what one frame
// holds. With Config.TxChecksum (auto: where the driver advertises
// tx-checksum in its AF_XDP features) the UMEM carries TX metadata in
// front of every TX packet and RequestTxChecksum leaves the TCP checksum
// to the device (txmeta.go).
//
// Layout: umem.go (area, free list), ring.go (shared index protocol),
// fill.go, completion.go, rx.go, tx.go (one file per ring), socket.go (Open,
// Close), datapath.go (the per-packet methods), stats.go, filter_prog.go
// (the XDP program as cilium/ebpf asm), filter.go (load, attach, maps),
// netlink.go (reading and clearing netlink-attached XDP programs).
//
// # The filter
//
// The XDP program redirects to XSKMAP[rx_queue_index] (bpf_redirect_map
// with XDP_PASS as the fallback, so an empty slot never black-holes the
// interface) only: the ARP described below, ICMP echo requests to a served
// address, and IPv4 TCP to a served (address, port) or to a served
// address's client port range. Everything else, including IP fragments,
// VLAN-tagged frames, IPv6 and anything truncated, is XDP_PASS (so the
// kernel reassembles fragments to a shared address, and its own TCP, with
// no socket on a served port, answers a reassembled segment with a RST;
// the fragments of its own UDP traffic must reach it anyway). It is
// attached with a bpf_link, which the kernel removes when the process
// exits, even by SIGKILL.
//
// # ARP on a shared address
//
// The served address is normally the kernel's too: the kernel keeps SSH and
// every port xdptcp does not serve, and resolves its own neighbours to
// answer on them. The filter cannot hand one frame to both, so it splits
// ARP (Ethernet/IPv4) by who asked:
//
//   - A request (operation 1) whose target protocol address is served is
//     ours: xdptcp answers it with the interface's MAC, the one the kernel
//     would give, and learns the sender. An RFC 5227 probe (sender
//     0.0.0.0) is a request too.
//   - A reply (operation 2) to a served address is ours only if its sender
//     protocol address is in the arp_watch map (at most MaxARPWatch
//     entries), which Filter.WatchARP and Filter.UnwatchARP fill around
//     xdptcp's own resolutions. Any other reply answers the kernel's
//     request and is XDP_PASS; were it ours, the kernel's resolutions would
//     never complete and its SSH replies would go nowhere. While a
//     neighbour is watched, a reply from it that the kernel awaited goes to
//     xdptcp instead; the kernel's retransmitted request after the unwatch
//     gets its answer.
//   - Gratuitous ARP (sender protocol address == target: announcements, or
//     another host claiming the address), other operations and other
//     targets are XDP_PASS.
//
// Since the kernel never sees requests for the served address, it does not
// learn neighbours from them (as Linux's arp_process would); it learns each
// one from its own request when it first needs it.
//
// # Why not github.com/asavie/xdp
//
// The original design card named github.com/asavie/xdp. Read at v0.3.3, the
// only version that resolves (the repository is archived), none of it
// serves, so xdptcp does not depend on it:
//
//   - Attach: Program.Attach uses netlink (vishvananda/netlink
//     LinkSetXdpFdWithFlags), so the program outlives a crashed process and,
//     with its socket gone, black-holes the interface; our invariant 7 needs a
//     bpf_link. Its built-in program redirects every frame of a queue (no
//     filtering: SSH and DNS would vanish) and passes 0 (XDP_ABORTED) as the
//     bpf_redirect_map fallback, so frames on a configured queue whose
//     socket is gone are dropped.
//   - Rings: producer and consumer indices are plain loads and stores
//     (`*xsk.txRing.Producer = prod`, the fence is commented out); the kernel
//     protocol needs acquire/release ordering.
//   - No XDP_USE_NEED_WAKEUP: Transmit calls sendto on every call.
//   - Transmit panics on any sendto error other than EINTR/EAGAIN/EBUSY
//     (e.g. ENOBUFS, or ENETDOWN when a link goes down); GetFrame slices the
//     UMEM without validating the descriptor, so a bad one panics.
//   - Close unmaps the UMEM but not the four rings (it only zeroes the slice
//     headers), leaking four mappings per socket.
//   - It pulls in vishvananda/netlink v1.1.0 and was written against
//     cilium/ebpf v0.4.0 (it builds against v0.22.0, which MVS would select).
//
// What it does do (UMEM_REG, ring setsockopts, XDP_MMAP_OFFSETS, mmap at the
// XDP_PGOFF_* offsets, bind) is the documented kernel interface
// (Documentation/networking/af_xdp.rst), implemented here from that
// document with the fixes above; fixing it in place would have meant
// rewriting most of its 994 lines and carrying an archived fork.
package xsk

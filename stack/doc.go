// Package stack is one NIC queue's protocol engine: the poll loop and
// everything it does with a frame below the TCP layer (Ethernet, ARP, IPv4,
// ICMP echo) plus the glue to stack/tcp. One Engine is owned by one
// goroutine (Run locks it to its OS thread); other goroutines reach it only
// through Do and read its counters through Stats.
//
// # Receive path
//
// Poll takes a batch of frames from the Port and hands each to HandleFrame,
// which validates and dispatches it: ARP (RFC 826) is answered and learned
// from, ICMP echo requests (RFC 792) are answered, TCP segments are
// checksum-verified, parsed into a tcp.Segment and given to
// tcp.Layer.InputBatch; after the batch, tcp.Layer.EndBatch makes one ACK
// decision and one transmit round per connection for all its segments of
// the batch (GRO-like coalescing). Every frame that goes nowhere is counted
// under a DropReason.
//
// # Next-hop rule
//
// For a segment to remote address R the engine picks the Ethernet
// destination as follows:
//
//   - R on-link (in Config.Addr/PrefixLen): R's own MAC, from the ARP cache.
//   - R off-link and Config.Gateway set: the gateway's MAC, from the ARP cache.
//   - R off-link and no gateway: the Ethernet source of the last valid IPv4
//     frame that came from R (a bounded return-path cache filled on
//     receive). Without such an entry the segment is dropped (no_route).
//
// With several queues a loop may never see the ARP reply to its request
// (the reply reaches the queue the peer's transmit hash picks, and that
// queue's loop learns it), so a miss for an on-link R that sent this loop a
// valid IPv4 frame within ARP's reachable time is sent to that frame's
// Ethernet source while the loop keeps asking by ARP.
//
// A cache miss for an ARP-resolved next hop sends an ARP request (at most
// one per second per address, Linux's retrans_time) and drops the segment
// (arp_unresolved); TCP's retransmission recovers it. ARP and ICMP replies
// are sent straight back to the Ethernet source of the frame they answer.
//
// # Neighbour cache
//
// Entries are learned from ARP requests for our address and from replies
// (RFC 826 merge), confirmed by ARP replies and by IPv4 frames whose
// source MAC matches, and stay usable for Linux's base_reachable_time (30 s)
// after confirmation. A stale entry is still used, and probed by unicast
// requests (at most one per second) when used; if no reply confirms it
// within 8 s of the first probe (Linux's delay_first_probe_time 5 s plus 3
// unicast probes 1 s apart) it fails and must be resolved again.
// The cache holds Config.ARPCacheSize entries and evicts with the CLOCK
// algorithm. ARP needs no timers: requests are sent when a transmission
// needs them.
package stack

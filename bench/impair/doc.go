// Package impair is a user-space network impairment bridge for tests and the
// bench harness: it forwards every Ethernet frame between two interfaces and,
// on the way, drops, duplicates, corrupts, delays, reorders and rate-limits
// IPv4 frames with a seeded random number generator.
//
// It exists because this machine's kernel has no netem (sch_netem is neither
// built in nor loadable) and because AF_XDP transmit bypasses qdiscs anyway.
//
// # Topology
//
// The bridge runs in a middle namespace between two veth pairs:
//
//	  client ns                 middle ns                    server ns
//	+-----------+   veth   +------------------+   veth   +-----------+
//	| cli       |----------| legA  bridge legB|----------| srv       |
//	| 198.18.x.1|          | (no IP address)  |          |198.18.x.2 |
//	+-----------+          +------------------+          +-----------+
//	          A->B direction: client to server (Config.AB)
//	          B->A direction: server to client (Config.BA)
//
// Both endpoints sit in one IPv4 subnet (and one IPv6 prefix); the bridge
// is transparent at layer 2 (ARP and IPv6 neighbour discovery cross it
// untouched unless Config.ImpairAll is set), so the endpoints see each
// other as link neighbours.
//
// # How frames move
//
// One AF_PACKET raw socket (SOCK_RAW, ETH_P_ALL) is bound to each leg. Per
// direction, one goroutine reads frames in batches (recvmmsg), skips the ones
// the kernel reports as PACKET_OUTGOING (frames this bridge wrote itself),
// takes the impairment decisions (Decider) and queues the frame in a Pipe: a
// bounded pool of frame buffers plus a time-ordered heap. A second goroutine
// per direction sleeps on a timer until the next frame is due and writes due
// frames to the other leg. There is no goroutine per frame and no busy spin;
// the pure scheduling logic (Pipe) takes the time as a value so tests drive
// it with a fake clock.
//
// # Checksum offload
//
// Frames that cross a veth with TX checksum offload on carry partial
// checksums, and with TSO/GSO/GRO on they may be super-frames larger than the
// MTU. Run turns tx, tso, gso and gro off on both legs (ethtool -K); the
// endpoints' veths need "ethtool -K DEV tx off" as well, which the test
// topology in package impairtest does.
//
// # Limits
//
// Corruption flips a bit after the IPv4 header or IPv6's fixed header: TCP,
// ICMP and UDP with a checksum catch it; UDP over IPv4 sent with a zero
// checksum does not, nor a flipped bit in an IPv6 extension header. CE
// marking ("ce=P") re-marks IPv4 and IPv6 frames whose ECN field is ECT(0)
// or ECT(1) as Congestion Experienced, as an AQM router does (RFC 3168
// §5), counted in DirStats.CEMarked. VLAN tags that
// the kernel strips into packet metadata are not re-inserted (PACKET_AUXDATA
// is not read), so use untagged legs. Delays are served by Go timers: a
// frame leaves at or after its due time, late by the timer and scheduling
// latency (DirStats.MaxLateUS shows how much).
package impair

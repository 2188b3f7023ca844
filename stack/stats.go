package stack

import "sync/atomic"

// DropReason names why the engine dropped a frame or a segment to send.
type DropReason uint8

// Drop reasons. Each has a counter in Stats.Drops.
const (
	DropEthHeader             DropReason = iota // frame shorter than an Ethernet header
	DropEthNotOurs                              // destination MAC neither ours nor broadcast
	DropEthType                                 // EtherType neither ARP nor IPv4
	DropARPMalformed                            // not an Ethernet/IPv4 ARP packet
	DropARPOp                                   // opcode neither request nor reply
	DropARPNotOurs                              // ARP for another host (after learning, RFC 826)
	DropARPGratuitous                           // gratuitous ARP (sender == target), ignored
	DropIPv4Header                              // bad version, IHL or total length (IpInHdrErrors)
	DropIPv4Checksum                            // bad header checksum (IpInHdrErrors, IpInCsumErrors)
	DropIPv4NotOurs                             // destination not our address (IpInAddrErrors)
	DropIPv4Fragment                            // MF or fragment offset set (IpReasmFails)
	DropIPv4Options                             // IP options present (IHL > 5)
	DropIPv4Proto                               // protocol neither ICMP nor TCP (IpInUnknownProtos)
	DropICMPHeader                              // shorter than 8 bytes
	DropICMPChecksum                            // bad ICMP checksum (IcmpInErrors, IcmpInCsumErrors)
	DropICMPType                                // ICMP other than echo request
	DropTCPHeader                               // shorter than 20 bytes or bad data offset
	DropTCPChecksum                             // bad TCP checksum (TcpInCsumErrors)
	DropTCPOptions                              // malformed TCP options
	DropNoTxFrame                               // no free TX frame
	DropTxRingFull                              // TX ring took fewer frames than offered
	DropTxTooBig                                // packet larger than the MTU or the TX frame
	DropARPUnresolved                           // next hop not resolved yet (ARP request sent)
	DropNoRoute                                 // off-link, no gateway, no return-path entry
	DropIPv6Header                              // short, bad version, payload length past the frame (Ip6InHdrErrors, Ip6InTruncatedPkts)
	DropIPv6NotOurs                             // destination not our address or our NDP groups (Ip6InAddrErrors)
	DropIPv6Fragment                            // fragment header (no reassembly; Ip6ReasmFails)
	DropIPv6ExtHeader                           // extension header refused: truncated, too many, routing with segments left, discard-type option (Ip6InHdrErrors)
	DropIPv6Proto                               // upper layer neither ICMPv6 nor TCP (Ip6InUnknownProtos)
	DropICMPv6Header                            // shorter than 8 bytes (Icmp6InErrors)
	DropICMPv6Checksum                          // bad ICMPv6 checksum (Icmp6InErrors, Icmp6InCsumErrors)
	DropICMPv6Type                              // ICMPv6 type not handled (router advertisements, ...: the kernel's)
	DropNDInvalid                               // NS/NA failing RFC 4861 §7.1 validation (hop limit, code, options, target)
	DropNDNotOurs                               // NS for an address not ours
	DropICMPQuote                               // ICMP(v6) error not quoting a TCP segment from our address
	DropClusterPeerUnresolved                   // a segment to forward to a cluster peer whose MAC is not resolved yet
	DropRxTooBig                                // multi-buffer frame longer than the MTU allows
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	"eth_header", "eth_not_ours", "eth_type",
	"arp_malformed", "arp_op", "arp_not_ours", "arp_gratuitous",
	"ipv4_header", "ipv4_checksum", "ipv4_not_ours", "ipv4_fragment", "ipv4_options", "ipv4_proto",
	"icmp_header", "icmp_checksum", "icmp_type",
	"tcp_header", "tcp_checksum", "tcp_options",
	"no_tx_frame", "tx_ring_full", "tx_too_big", "arp_unresolved", "no_route",
	"ipv6_header", "ipv6_not_ours", "ipv6_fragment", "ipv6_ext_header", "ipv6_proto",
	"icmp6_header", "icmp6_checksum", "icmp6_type", "nd_invalid", "nd_not_ours",
	"icmp_quote", "cluster_peer_unresolved", "rx_too_big",
}

// String returns the reason's metric label, e.g. "ipv4_checksum".
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Stats are one engine's counters. They are written by the loop only and
// may be read (Load) from any goroutine. IP and ICMP counters carry Linux's
// nstat names (Ip*, Icmp*).
type Stats struct {
	FramesRx atomic.Uint64 // frames handed to HandleFrame
	FramesTx atomic.Uint64 // frames the port accepted for transmission

	IpInReceives      atomic.Uint64 // IPv4 packets received (before any check)
	IpInHdrErrors     atomic.Uint64 // bad version/IHL/length/checksum
	IpInCsumErrors    atomic.Uint64 // bad header checksum
	IpInAddrErrors    atomic.Uint64 // not addressed to us
	IpInUnknownProtos atomic.Uint64 // protocol not ICMP/TCP
	IpInDelivers      atomic.Uint64 // handed to ICMP or TCP
	IpOutRequests     atomic.Uint64 // IPv4 packets built for output
	IpReasmFails      atomic.Uint64 // fragments (not reassembled: dropped)

	IcmpInMsgs         atomic.Uint64
	IcmpInErrors       atomic.Uint64
	IcmpInCsumErrors   atomic.Uint64
	IcmpInEchos        atomic.Uint64
	IcmpInDestUnreachs atomic.Uint64
	IcmpInTimeExcds    atomic.Uint64
	IcmpInParmProbs    atomic.Uint64
	IcmpOutMsgs        atomic.Uint64
	IcmpOutEchoReps    atomic.Uint64

	Ip6InReceives      atomic.Uint64 // IPv6 packets received (before any check)
	Ip6InHdrErrors     atomic.Uint64 // bad version, extension header refused
	Ip6InTruncatedPkts atomic.Uint64 // payload length past the frame
	Ip6InAddrErrors    atomic.Uint64 // not addressed to us
	Ip6InUnknownProtos atomic.Uint64 // upper layer not ICMPv6/TCP
	Ip6InDelivers      atomic.Uint64 // handed to ICMPv6 or TCP
	Ip6OutRequests     atomic.Uint64 // IPv6 packets built for output
	Ip6ReasmFails      atomic.Uint64 // fragments (not reassembled: dropped)

	Icmp6InMsgs                    atomic.Uint64
	Icmp6InErrors                  atomic.Uint64
	Icmp6InCsumErrors              atomic.Uint64
	Icmp6InEchos                   atomic.Uint64
	Icmp6InNeighborSolicits        atomic.Uint64
	Icmp6InNeighborAdvertisements  atomic.Uint64
	Icmp6InPktTooBigs              atomic.Uint64
	Icmp6InDestUnreachs            atomic.Uint64
	Icmp6InTimeExcds               atomic.Uint64
	Icmp6InParmProblems            atomic.Uint64
	Icmp6OutMsgs                   atomic.Uint64
	Icmp6OutEchoReplies            atomic.Uint64
	Icmp6OutNeighborSolicits       atomic.Uint64
	Icmp6OutNeighborAdvertisements atomic.Uint64

	TcpInCsumErrors atomic.Uint64
	TcpInErrs       atomic.Uint64 // bad checksum, header or options

	ArpInRequests     atomic.Uint64
	ArpInReplies      atomic.Uint64
	ArpOutRequests    atomic.Uint64
	ArpOutReplies     atomic.Uint64
	ArpCacheEvictions atomic.Uint64
	ArpCacheEntries   atomic.Uint64 // gauge: entries in the neighbour cache
	ArpWatchFailures  atomic.Uint64 // Config.ARPWatch could not watch an address

	// Cluster (cluster.go): segments forwarded to a peer, by why (the owner
	// the TSecr names; the search around the ring of ids; a new connection
	// handed on while draining), forwarded frames received, and segments of
	// flows no host knew (answered as a host alone would: RST) because the
	// host the frame was forwarded to as owner did not know it, or the
	// search ended here.
	ClusterForwardedOwner    atomic.Uint64
	ClusterForwardedSearch   atomic.Uint64
	ClusterForwardedNew      atomic.Uint64
	ClusterReceivedForwarded atomic.Uint64
	ClusterOwnerMisses       atomic.Uint64
	ClusterSearchMisses      atomic.Uint64
	ClusterTrailerLost       atomic.Uint64 // a stray frame from a peer's MAC without the trailer: not forwarded again

	BusyNanos   atomic.Uint64 // time Run spent in iterations that found work (not in Each: exported per queue)
	DoQueueFull atomic.Uint64 // Do calls refused
	Wakeups     atomic.Uint64 // times Run came back from Port.Wait

	Drops [NumDropReasons]atomic.Uint64
}

// Each calls fn with the name and value of every counter except the drop
// counters (see EachDrop), in a fixed order, for metrics exporters.
func (s *Stats) Each(fn func(name string, value uint64)) {
	for _, c := range [...]struct {
		n string
		v *atomic.Uint64
	}{
		{"FramesRx", &s.FramesRx}, {"FramesTx", &s.FramesTx},
		{"IpInReceives", &s.IpInReceives}, {"IpInHdrErrors", &s.IpInHdrErrors},
		{"IpInCsumErrors", &s.IpInCsumErrors}, {"IpInAddrErrors", &s.IpInAddrErrors},
		{"IpInUnknownProtos", &s.IpInUnknownProtos}, {"IpInDelivers", &s.IpInDelivers},
		{"IpOutRequests", &s.IpOutRequests}, {"IpReasmFails", &s.IpReasmFails},
		{"IcmpInMsgs", &s.IcmpInMsgs}, {"IcmpInErrors", &s.IcmpInErrors},
		{"IcmpInCsumErrors", &s.IcmpInCsumErrors}, {"IcmpInEchos", &s.IcmpInEchos},
		{"IcmpInDestUnreachs", &s.IcmpInDestUnreachs}, {"IcmpInTimeExcds", &s.IcmpInTimeExcds},
		{"IcmpInParmProbs", &s.IcmpInParmProbs},
		{"IcmpOutMsgs", &s.IcmpOutMsgs}, {"IcmpOutEchoReps", &s.IcmpOutEchoReps},
		{"Ip6InReceives", &s.Ip6InReceives}, {"Ip6InHdrErrors", &s.Ip6InHdrErrors},
		{"Ip6InTruncatedPkts", &s.Ip6InTruncatedPkts}, {"Ip6InAddrErrors", &s.Ip6InAddrErrors},
		{"Ip6InUnknownProtos", &s.Ip6InUnknownProtos}, {"Ip6InDelivers", &s.Ip6InDelivers},
		{"Ip6OutRequests", &s.Ip6OutRequests}, {"Ip6ReasmFails", &s.Ip6ReasmFails},
		{"Icmp6InMsgs", &s.Icmp6InMsgs}, {"Icmp6InErrors", &s.Icmp6InErrors},
		{"Icmp6InCsumErrors", &s.Icmp6InCsumErrors}, {"Icmp6InEchos", &s.Icmp6InEchos},
		{"Icmp6InNeighborSolicits", &s.Icmp6InNeighborSolicits},
		{"Icmp6InNeighborAdvertisements", &s.Icmp6InNeighborAdvertisements},
		{"Icmp6InPktTooBigs", &s.Icmp6InPktTooBigs}, {"Icmp6InDestUnreachs", &s.Icmp6InDestUnreachs},
		{"Icmp6InTimeExcds", &s.Icmp6InTimeExcds}, {"Icmp6InParmProblems", &s.Icmp6InParmProblems},
		{"Icmp6OutMsgs", &s.Icmp6OutMsgs}, {"Icmp6OutEchoReplies", &s.Icmp6OutEchoReplies},
		{"Icmp6OutNeighborSolicits", &s.Icmp6OutNeighborSolicits},
		{"Icmp6OutNeighborAdvertisements", &s.Icmp6OutNeighborAdvertisements},
		{"TcpInCsumErrors", &s.TcpInCsumErrors}, {"TcpInErrs", &s.TcpInErrs},
		{"ArpInRequests", &s.ArpInRequests}, {"ArpInReplies", &s.ArpInReplies},
		{"ArpOutRequests", &s.ArpOutRequests}, {"ArpOutReplies", &s.ArpOutReplies},
		{"ArpCacheEvictions", &s.ArpCacheEvictions}, {"ArpCacheEntries", &s.ArpCacheEntries},
		{"ArpWatchFailures", &s.ArpWatchFailures},
		{"ClusterForwardedOwner", &s.ClusterForwardedOwner}, {"ClusterForwardedSearch", &s.ClusterForwardedSearch},
		{"ClusterForwardedNew", &s.ClusterForwardedNew}, {"ClusterReceivedForwarded", &s.ClusterReceivedForwarded},
		{"ClusterOwnerMisses", &s.ClusterOwnerMisses}, {"ClusterSearchMisses", &s.ClusterSearchMisses},
		{"ClusterTrailerLost", &s.ClusterTrailerLost},
		{"DoQueueFull", &s.DoQueueFull}, {"Wakeups", &s.Wakeups},
	} {
		fn(c.n, c.v.Load())
	}
}

// EachDrop calls fn with every drop reason and its count.
func (s *Stats) EachDrop(fn func(reason DropReason, value uint64)) {
	for r := DropReason(0); r < NumDropReasons; r++ {
		fn(r, s.Drops[r].Load())
	}
}

// drop counts one drop for reason r.
func (s *Stats) drop(r DropReason) { inc(&s.Drops[r]) }

// inc adds one to a counter that only the loop writes: a plain load and
// store (no locked instruction); readers still see whole values.
func inc(c *atomic.Uint64) { c.Store(c.Load() + 1) }

package stack

// IPv6 (RFC 8200), ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861):
// the IPv6 twin of ipv4.go and arp.go. TCP over IPv6 takes the same path as
// over IPv4 (handleTCP, SendTCP); neighbour resolution the same cache,
// states and timers as ARP (resolve, solicit).

import (
	"encoding/binary"
	"syscall"

	"github.com/dchest/siphash"
	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// nsFrameLen is a neighbour solicitation or advertisement with one
// link-layer address option in an Ethernet frame: 14+40+24+8 bytes.
const nsFrameLen = wire.EthernetHeaderLen + wire.IPv6HeaderLen + wire.NDMinLen + wire.NDOptLLALen

// ndHopLimit is the hop limit every NDP message carries and must arrive
// with (RFC 4861 §7.1.1: proof it was not forwarded).
const ndHopLimit = 255

var allNodes = [16]byte{0xff, 0x02, 15: 1} // ff02::1 (RFC 4291 §2.7.1)

// handleIPv6 validates an IPv6 packet (RFC 8200), walks its extension
// headers (wire.IPv6.Walk: what it refuses is counted and dropped) and hands
// ICMPv6 and TCP to their handlers. Packets to our address are ours, and
// ICMPv6 to our solicited-node group or to all nodes (neighbour discovery).
func (e *Engine) handleIPv6(now clock.Time, eth wire.Ethernet) {
	inc(&e.stats.Ip6InReceives)
	ip := wire.IPv6(eth.Payload())
	switch ip.Validate() {
	case wire.IPv6OK:
	case wire.IPv6BadLength:
		inc(&e.stats.Ip6InTruncatedPkts)
		e.stats.drop(DropIPv6Header)
		return
	default:
		inc(&e.stats.Ip6InHdrErrors)
		e.stats.drop(DropIPv6Header)
		return
	}
	dst := ip.Dst()
	multicast := wire.IsMulticast6(&dst)
	if e.addr6.IsZero() || (dst != e.addr6 && dst != wire.SolicitedNode(e.addr6) && dst != allNodes) {
		inc(&e.stats.Ip6InAddrErrors)
		e.stats.drop(DropIPv6NotOurs)
		return
	}
	proto, up, st := ip.Walk()
	switch st {
	case wire.IPv6OK:
	case wire.IPv6Fragment:
		// No reassembly, as for IPv4: xdptcp's segments fit the path
		// MTU and peers doing PMTU discovery do not fragment TCP.
		inc(&e.stats.Ip6ReasmFails)
		e.stats.drop(DropIPv6Fragment)
		return
	default:
		inc(&e.stats.Ip6InHdrErrors)
		e.stats.drop(DropIPv6ExtHeader)
		return
	}
	src := flowtable.Addr(ip.Src())
	switch proto {
	case wire.ProtoTCP:
		if multicast {
			inc(&e.stats.Ip6InAddrErrors)
			e.stats.drop(DropIPv6NotOurs)
			return
		}
		inc(&e.stats.Ip6InDelivers)
		if e.cl == nil || !e.clusterFrame(eth, wire.EthernetHeaderLen+wire.IPv6HeaderLen+int(ip.PayloadLen())) {
			e.learnFromIP(now, src, eth.Src()) // not from a peer (as IPv4)
		}
		s, d := [16]byte(src), [16]byte(e.addr6)
		e.handleTCP(now, up, src, e.addr6, wire.PseudoHeaderChecksum6(wire.ProtoTCP, &s, &d, uint32(len(up))), ip.TrafficClass(), ip.FlowLabel())
		e.curFrame = nil
	case wire.ProtoICMPv6:
		inc(&e.stats.Ip6InDelivers)
		e.handleICMPv6(now, eth, ip, up, multicast)
	default:
		inc(&e.stats.Ip6InUnknownProtos)
		e.stats.drop(DropIPv6Proto)
	}
}

// handleICMPv6 checks an ICMPv6 message (RFC 4443 §2.3 checksum) and
// handles echo requests (§4.1), neighbour solicitations and advertisements
// (RFC 4861 §7.2). Router advertisements and every other type are the
// kernel's business: counted and dropped (the XDP filter does not send
// them here).
func (e *Engine) handleICMPv6(now clock.Time, eth wire.Ethernet, ip wire.IPv6, up []byte, multicast bool) {
	inc(&e.stats.Icmp6InMsgs)
	ic := wire.ICMPv6(up)
	src, dst := ip.Src(), ip.Dst()
	if !ic.IsValid() {
		inc(&e.stats.Icmp6InErrors)
		e.stats.drop(DropICMPv6Header)
		return
	}
	if !ic.ChecksumOK(&src, &dst) {
		inc(&e.stats.Icmp6InErrors)
		inc(&e.stats.Icmp6InCsumErrors)
		e.stats.drop(DropICMPv6Checksum)
		return
	}
	switch ic.Type() {
	case wire.ICMPv6EchoRequest:
		inc(&e.stats.Icmp6InEchos)
		if multicast {
			e.stats.drop(DropIPv6NotOurs) // Linux answers multicast echo only with icmp_echo_ignore_multicast off; xdptcp never
			return
		}
		e.learnFromIP(now, src, eth.Src())
		e.echoReply6(eth, ip, ic)
	case wire.ICMPv6NeighborSol:
		inc(&e.stats.Icmp6InNeighborSolicits)
		e.handleNS(eth, ip, ic)
	case wire.ICMPv6NeighborAdv:
		inc(&e.stats.Icmp6InNeighborAdvertisements)
		e.handleNA(ip, ic)
	case wire.ICMPv6PacketTooBig, wire.ICMPv6DstUnreach, wire.ICMPv6TimeExceeded, wire.ICMPv6ParamProblem:
		if multicast {
			e.stats.drop(DropIPv6NotOurs)
			return
		}
		e.handleICMPv6Error(now, ic)
	default:
		e.stats.drop(DropICMPv6Type)
	}
}

// handleICMPv6Error passes an ICMPv6 error about one of our TCP segments
// (the quoted IPv6 header from our address, TCP right after it, and at
// least 8 bytes of TCP) to the TCP layer: "packet too big" lowers the path
// MTU (RFC 8201 §4), the others are soft errors.
func (e *Engine) handleICMPv6Error(now clock.Time, ic wire.ICMPv6) {
	kind := tcp.ICMPSoft
	errno := syscall.EPROTO // icmpv6_err_convert's default: a parameter problem, an unknown unreachable code
	switch ic.Type() {
	case wire.ICMPv6PacketTooBig:
		inc(&e.stats.Icmp6InPktTooBigs)
		kind = tcp.ICMPPacketTooBig
		errno = syscall.EMSGSIZE
	case wire.ICMPv6DstUnreach:
		inc(&e.stats.Icmp6InDestUnreachs)
		kind = tcp.ICMPFatal // an unknown code: icmpv6_err_convert's default
		if int(ic.Code()) < len(icmp6UnreachErrno) {
			errno = icmp6UnreachErrno[ic.Code()]
			if !icmp6UnreachFatal[ic.Code()] {
				kind = tcp.ICMPSoft
			}
		}
	case wire.ICMPv6TimeExceeded:
		inc(&e.stats.Icmp6InTimeExcds)
		errno = syscall.EHOSTUNREACH
	default:
		inc(&e.stats.Icmp6InParmProblems)
		kind = tcp.ICMPFatal
	}
	q := ic.Body()
	if len(q) < wire.IPv6HeaderLen+8 || q[0]>>4 != 6 || wire.IPv6(q).NextHeader() != wire.ProtoTCP ||
		flowtable.Addr(wire.IPv6(q).Src()) != e.addr6 {
		e.stats.drop(DropICMPQuote)
		return
	}
	t := q[wire.IPv6HeaderLen:]
	k := flowtable.Key{
		LocalAddr: e.addr6, RemoteAddr: flowtable.Addr(wire.IPv6(q).Dst()),
		LocalPort: binary.BigEndian.Uint16(t[0:]), RemotePort: binary.BigEndian.Uint16(t[2:]),
	}
	mtu := ic.MTU()
	if mtu > 65535 {
		mtu = 65535
	}
	e.layer.ICMPError(now, k, seqnum.Value(binary.BigEndian.Uint32(t[4:])), kind, int(mtu), errno)
}

// echoReply6 answers an echo request with its identifier, sequence number
// and data (RFC 4443 §4.2), from our address.
func (e *Engine) echoReply6(eth wire.Ethernet, ip wire.IPv6, ic wire.ICMPv6) {
	total := wire.IPv6HeaderLen + len(ic)
	if total > e.maxIP {
		e.stats.drop(DropTxTooBig)
		return
	}
	d, b, ok := e.allocTx()
	if !ok {
		return
	}
	off := ipHdrOffset + wire.IPv6HeaderLen
	src, dst := [16]byte(e.addr6), ip.Src()
	wire.Ethernet(b).Encode(eth.Src(), e.cfg.MAC, wire.EtherTypeIPv6)
	wire.IPv6(b[ipHdrOffset:]).Encode(&wire.IPv6Fields{
		TrafficClass: ip.TrafficClass(), PayloadLen: uint16(len(ic)), NextHeader: wire.ProtoICMPv6,
		HopLimit: wire.DefaultTTL, Src: src, Dst: dst,
	})
	// The request's message with the reply's header (type, checksum over
	// the pseudo-header from our address, RFC 4443 §2.3), in this frame
	// or, above a frame (multi-buffer), continued in more.
	var hdr [8]byte
	copy(hdr[:], ic)
	hdr[0], hdr[2], hdr[3] = wire.ICMPv6EchoReply, 0, 0
	sum := wire.Checksum(ic[8:], wire.Checksum(hdr[:], wire.PseudoHeaderChecksum6(wire.ProtoICMPv6, &src, &dst, uint32(len(ic)))))
	binary.BigEndian.PutUint16(hdr[2:], ^sum)
	if !e.queueBody(d, b, off, hdr[:], ic[8:]) {
		return
	}
	inc(&e.stats.Ip6OutRequests)
	inc(&e.stats.Icmp6OutMsgs)
	inc(&e.stats.Icmp6OutEchoReplies)
}

// ndValid applies RFC 4861 §7.1.1/§7.1.2's checks common to NS and NA: hop
// limit 255, code 0, length and option lengths, target not multicast.
func (e *Engine) ndValid(ip wire.IPv6, ic wire.ICMPv6) bool {
	if ip.HopLimit() != ndHopLimit || ic.Code() != 0 || !ic.NDValid() {
		e.stats.drop(DropNDInvalid)
		return false
	}
	if t := ic.Target(); wire.IsMulticast6(&t) {
		e.stats.drop(DropNDInvalid)
		return false
	}
	return true
}

// handleNS answers a neighbour solicitation for our address with a
// solicited advertisement carrying our MAC (RFC 4861 §7.2.4), and learns
// the sender's link-layer address (§7.2.3). A duplicate address detection
// probe (source ::) is answered to all nodes, unsolicited, and not learnt.
func (e *Engine) handleNS(eth wire.Ethernet, ip wire.IPv6, ic wire.ICMPv6) {
	if !e.ndValid(ip, ic) {
		return
	}
	src := ip.Src()
	dad := src == [16]byte{}
	sll, hasSLL := ic.NDOptionLLA(wire.NDOptSourceLLA)
	if dad && (hasSLL || ip.Dst() != wire.SolicitedNode(ic.Target())) {
		e.stats.drop(DropNDInvalid) // §7.1.1: a DAD probe has no source option and goes to the solicited-node group
		return
	}
	if flowtable.Addr(ic.Target()) != e.addr6 {
		e.stats.drop(DropNDNotOurs)
		return
	}
	if hasSLL {
		e.learnNeighbor(flowtable.Addr(src), sll, !dad, true)
	}
	d, b, ok := e.allocTx()
	if !ok {
		return
	}
	if len(b) < nsFrameLen {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return
	}
	to, mac := src, eth.Src()
	if dad {
		to, mac = allNodes, wire.MulticastMAC(allNodes)
	} else if hasSLL {
		mac = sll
	}
	me := [16]byte(e.addr6)
	wire.Ethernet(b).Encode(mac, e.cfg.MAC, wire.EtherTypeIPv6)
	wire.IPv6(b[ipHdrOffset:]).Encode(&wire.IPv6Fields{
		PayloadLen: wire.NDMinLen + wire.NDOptLLALen, NextHeader: wire.ProtoICMPv6,
		HopLimit: ndHopLimit, Src: me, Dst: to,
	})
	na := wire.ICMPv6(b[ipHdrOffset+wire.IPv6HeaderLen : nsFrameLen])
	na.EncodeNA(me, e.cfg.MAC, !dad, true)
	na.SetChecksumFor(&me, &to)
	inc(&e.stats.Ip6OutRequests)
	inc(&e.stats.Icmp6OutMsgs)
	inc(&e.stats.Icmp6OutNeighborAdvertisements)
	e.queueTx(d, nsFrameLen)
}

// handleNA updates an existing neighbour entry from an advertisement's
// target link-layer address (RFC 4861 §7.2.5: an advertisement for an
// address without an entry is ignored).
func (e *Engine) handleNA(ip wire.IPv6, ic wire.ICMPv6) {
	if !e.ndValid(ip, ic) {
		return
	}
	tll, ok := ic.NDOptionLLA(wire.NDOptTargetLLA)
	if !ok {
		e.stats.drop(DropNDInvalid) // no link-layer address to learn
		return
	}
	e.learnNeighbor(flowtable.Addr(ic.Target()), tll, true, false)
}

// buildNS writes a neighbour solicitation for target into frame b (which
// holds nsFrameLen bytes): to its solicited-node group (multicast), or
// unicast to target at mac (probing a stale entry, RFC 4861 §7.3.3), from
// our address with our MAC as the source link-layer option.
func (e *Engine) buildNS(b []byte, target flowtable.Addr, mac [6]byte, multicast bool) {
	to := [16]byte(target)
	if multicast {
		to = wire.SolicitedNode(to)
		mac = wire.MulticastMAC(to)
	}
	me := [16]byte(e.addr6)
	wire.Ethernet(b).Encode(mac, e.cfg.MAC, wire.EtherTypeIPv6)
	wire.IPv6(b[ipHdrOffset:]).Encode(&wire.IPv6Fields{
		PayloadLen: wire.NDMinLen + wire.NDOptLLALen, NextHeader: wire.ProtoICMPv6,
		HopLimit: ndHopLimit, Src: me, Dst: to,
	})
	ns := wire.ICMPv6(b[ipHdrOffset+wire.IPv6HeaderLen : nsFrameLen])
	ns.EncodeNS(target, e.cfg.MAC)
	ns.SetChecksumFor(&me, &to)
	inc(&e.stats.Ip6OutRequests)
	inc(&e.stats.Icmp6OutMsgs)
	inc(&e.stats.Icmp6OutNeighborSolicits)
}

// flowLabel returns the flow label of the connection on k: a keyed hash
// of the 4-tuple and the connection's txHash, the same for every segment
// until the connection rehashes (a timeout, or a duplicate of data it
// acknowledged: Linux's sk_rethink_txhash picks a new random sk_txhash
// then, so that ECMP routers hashing the label move the flow to another
// path), different between connections, and never zero (RFC 6437 §3:
// labels from a uniformly distributed hash of the flow, so that routers
// may use them for load balancing; Linux's auto_flowlabels derives them
// from the flow's hash the same way).
func (e *Engine) flowLabel(k *flowtable.Key, txHash uint16) uint32 {
	var b [38]byte
	copy(b[:16], k.LocalAddr[:])
	copy(b[16:32], k.RemoteAddr[:])
	binary.BigEndian.PutUint16(b[32:], k.LocalPort)
	binary.BigEndian.PutUint16(b[34:], k.RemotePort)
	binary.BigEndian.PutUint16(b[36:], txHash)
	l := uint32(siphash.Hash(binary.LittleEndian.Uint64(e.flowK[:8]), binary.LittleEndian.Uint64(e.flowK[8:]), b[:])) & 0xfffff
	if l == 0 {
		l = 1
	}
	return l
}

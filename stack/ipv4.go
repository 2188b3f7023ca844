package stack

import (
	"encoding/binary"
	"syscall"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/xsk"
)

// ipHdrOffset is where the IPv4 header starts in a frame we build.
const ipHdrOffset = wire.EthernetHeaderLen

// handleIPv4 validates an IPv4 packet (RFC 791, RFC 1122 §3.2.1) and hands
// ICMP and TCP to their handlers. Bytes past the total length (Ethernet
// padding) are ignored.
func (e *Engine) handleIPv4(now clock.Time, eth wire.Ethernet) {
	inc(&e.stats.IpInReceives)
	ip := wire.IPv4(eth.Payload())
	switch ip.Validate() {
	case wire.IPv4OK:
	case wire.IPv4BadChecksum:
		inc(&e.stats.IpInHdrErrors)
		inc(&e.stats.IpInCsumErrors)
		e.stats.drop(DropIPv4Checksum)
		return
	default:
		inc(&e.stats.IpInHdrErrors)
		e.stats.drop(DropIPv4Header)
		return
	}
	if e.addr4.IsZero() || ip.Dst() != e.cfg.Addr {
		inc(&e.stats.IpInAddrErrors)
		e.stats.drop(DropIPv4NotOurs)
		return
	}
	// No reassembly: xdptcp sends DF and expects peers doing PMTU
	// discovery. Behind the XDP filter no fragment gets here (it passes
	// them to the kernel, xsk/doc.go); on other links they are dropped.
	if ip.IsFragment() {
		inc(&e.stats.IpReasmFails)
		e.stats.drop(DropIPv4Fragment)
		return
	}
	if ip.HasOptions() {
		e.stats.drop(DropIPv4Options)
		return
	}
	src := ip.Src()
	switch ip.Protocol() {
	case wire.ProtoTCP:
		inc(&e.stats.IpInDelivers)
		// A frame a peer forwarded comes from the peer's MAC, not the
		// client's path: nothing to learn from it.
		if e.cl == nil || !e.clusterFrame(eth, wire.EthernetHeaderLen+int(ip.TotalLen())) {
			e.learnFromIP(now, flowtable.AddrFrom4(src), eth.Src())
		}
		p := ip.Payload()
		e.handleTCP(now, p, flowtable.AddrFrom4(src), e.addr4,
			wire.PseudoHeaderChecksum(wire.ProtoTCP, src, e.cfg.Addr, uint16(len(p))), ip.TOS(), 0)
		e.curFrame = nil
	case wire.ProtoICMP:
		inc(&e.stats.IpInDelivers)
		e.learnFromIP(now, flowtable.AddrFrom4(src), eth.Src())
		e.handleICMP(now, eth, ip)
	default:
		inc(&e.stats.IpInUnknownProtos)
		e.stats.drop(DropIPv4Proto)
	}
}

// handleICMP answers echo requests (RFC 792; RFC 1122 §3.2.2.6: the reply
// carries the request's identifier, sequence and data) and hands errors
// quoting one of our TCP segments to the TCP layer (handleICMPError).
// Other types are counted and dropped.
func (e *Engine) handleICMP(now clock.Time, eth wire.Ethernet, ip wire.IPv4) {
	inc(&e.stats.IcmpInMsgs)
	ic := wire.ICMPv4(ip.Payload())
	if !ic.IsValid() {
		inc(&e.stats.IcmpInErrors)
		e.stats.drop(DropICMPHeader)
		return
	}
	if !ic.ChecksumOK() {
		inc(&e.stats.IcmpInErrors)
		inc(&e.stats.IcmpInCsumErrors)
		e.stats.drop(DropICMPChecksum)
		return
	}
	switch ic.Type() {
	case wire.ICMPv4EchoRequest:
	case wire.ICMPv4DstUnreach, wire.ICMPv4TimeExceeded, wire.ICMPv4ParamProblem:
		e.handleICMPError(now, ic)
		return
	default:
		e.stats.drop(DropICMPType)
		return
	}
	inc(&e.stats.IcmpInEchos)
	total := wire.IPv4MinHeaderLen + len(ic)
	if total > e.maxIP {
		e.stats.drop(DropTxTooBig)
		return
	}
	d, b, ok := e.allocTx()
	if !ok {
		return
	}
	off := ipHdrOffset + wire.IPv4MinHeaderLen
	if len(b) < off+wire.ICMPv4MinLen {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return
	}
	wire.Ethernet(b).Encode(eth.Src(), e.cfg.MAC, wire.EtherTypeIPv4)
	wire.IPv4(b[ipHdrOffset:]).Encode(&wire.IPv4Fields{
		TOS: ip.TOS(), TotalLen: uint16(total), ID: e.nextID(), DF: true,
		TTL: wire.DefaultTTL, Protocol: wire.ProtoICMP, Src: e.cfg.Addr, Dst: ip.Src(),
	})
	// The request's message with its header changed, in this frame or,
	// above a frame (multi-buffer), continued in more.
	var hdr [wire.ICMPv4MinLen]byte
	reply := wire.ICMPv4(hdr[:])
	copy(reply, ic)
	// Only the type changes (8 -> 0): RFC 1624 incremental update of the
	// first 16-bit word (type, code).
	old := uint16(ic.Type())<<8 | uint16(ic.Code())
	reply.SetType(wire.ICMPv4EchoReply)
	reply.SetChecksum(wire.ChecksumUpdate16(ic.Checksum(), old, uint16(wire.ICMPv4EchoReply)<<8|uint16(ic.Code())))
	if !e.queueBody(d, b, off, hdr[:], ic[wire.ICMPv4MinLen:]) {
		return
	}
	inc(&e.stats.IpOutRequests)
	inc(&e.stats.IcmpOutMsgs)
	inc(&e.stats.IcmpOutEchoReps)
}

// handleTCP verifies the checksum over the pseudo-header (RFC 9293 §3.1
// for IPv4, RFC 8200 §8.1 for IPv6; phsum is its sum), the header and the
// options, and hands the segment from src to local to the TCP layer. Both
// families take this one path.
// ecn is the IP header's ECN field (RFC 3168 §5), label IPv6's flow label
// (0 for IPv4), both given to TCP.
func (e *Engine) handleTCP(now clock.Time, p []byte, src, local flowtable.Addr, phsum uint16, ecn uint8, label uint32) {
	t := wire.TCP(p)
	if !t.IsValid() {
		inc(&e.stats.TcpInErrs)
		e.stats.drop(DropTCPHeader)
		return
	}
	if wire.Checksum(t, phsum) != 0xffff {
		inc(&e.stats.TcpInErrs)
		inc(&e.stats.TcpInCsumErrors)
		e.stats.drop(DropTCPChecksum)
		return
	}
	s := &e.seg
	if wire.ParseTCPOptions(t.Options(), &s.Opts) != wire.OptOK {
		inc(&e.stats.TcpInErrs)
		e.stats.drop(DropTCPOptions)
		return
	}
	s.Key = flowtable.Key{LocalAddr: local, RemoteAddr: src, LocalPort: t.DstPort(), RemotePort: t.SrcPort()}
	s.Seq = seqnum.Value(t.Seq())
	s.Ack = seqnum.Value(t.Ack())
	s.Flags = t.Flags()
	s.Window = t.Window()
	s.Urgent = t.Urgent()
	s.Payload = t.Payload()
	s.Arrival = now
	s.ECN = ecn & 3
	s.Label = label
	if e.testInput != nil {
		e.testInput(now, s)
	} else {
		e.layer.InputBatch(now, s)
	}
	s.Payload = nil
}

// handleICMPError passes an ICMP error about one of our TCP segments (the
// quoted IPv4 header, from our address, and at least the first 8 bytes of
// TCP: ports and sequence number, RFC 792) to the TCP layer: "fragmentation
// needed" (type 3 code 4, RFC 1191) lowers the path MTU, the others are
// soft errors.
func (e *Engine) handleICMPError(now clock.Time, ic wire.ICMPv4) {
	kind := tcp.ICMPSoft
	var errno syscall.Errno
	switch ic.Type() {
	case wire.ICMPv4DstUnreach:
		inc(&e.stats.IcmpInDestUnreachs)
		switch ic.Code() {
		case wire.ICMPv4CodeFragNeeded:
			kind = tcp.ICMPPacketTooBig
		case icmp4NetUnreach, icmp4HostUnreach:
			kind = tcp.ICMPFatal
		}
		if int(ic.Code()) >= len(icmp4UnreachErrno) {
			return // Linux tcp_v4_err: a code past NR_ICMP_UNREACH is ignored
		}
		errno = icmp4UnreachErrno[ic.Code()]
	case wire.ICMPv4TimeExceeded:
		inc(&e.stats.IcmpInTimeExcds)
		kind, errno = tcp.ICMPFatal, syscall.EHOSTUNREACH
	default:
		inc(&e.stats.IcmpInParmProbs)
		kind, errno = tcp.ICMPFatal, syscall.EPROTO
	}
	q := wire.IPv4(ic.Payload())
	if len(q) < wire.IPv4MinHeaderLen || q.Version() != 4 || q.HeaderLen() < wire.IPv4MinHeaderLen ||
		len(q) < q.HeaderLen()+8 || q.Protocol() != wire.ProtoTCP || q.Src() != e.cfg.Addr {
		e.stats.drop(DropICMPQuote)
		return
	}
	t := q[q.HeaderLen():]
	k := flowtable.Key{
		LocalAddr: e.addr4, RemoteAddr: flowtable.AddrFrom4(q.Dst()),
		LocalPort: binary.BigEndian.Uint16(t[0:]), RemotePort: binary.BigEndian.Uint16(t[2:]),
	}
	e.layer.ICMPError(now, k, seqnum.Value(binary.BigEndian.Uint32(t[4:])), kind, int(ic.NextHopMTU()), errno)
}

func (e *Engine) nextID() uint16 {
	id := e.ipID
	e.ipID++
	return id
}

// SendTCP implements tcp.Output: it resolves the next hop, builds
// Ethernet+IP+TCP+options+payload into a TX frame and appends it to the TX
// batch. IPv4: TTL 64, DF, IP ID from the per-loop counter, both
// checksums. IPv6: hop limit 64, the connection's flow label (RFC 6437),
// the TCP checksum over the IPv6 pseudo-header. A packet whose on-link
// next hop is not resolved yet is built and held on its neighbour entry
// until the reply (unres.go), as Linux does. It returns false, having
// counted why, when there is no route, no TX frame is free, or the packet
// exceeds the MTU.
func (e *Engine) SendTCP(seg *tcp.OutSegment) bool {
	syn := seg.Flags&wire.FlagSYN != 0
	ol := wire.TCPOptionsLen(&seg.Opts, syn)
	hl := wire.TCPMinHeaderLen + ol
	v4 := seg.Key.Is4()
	iphl := wire.IPv4MinHeaderLen
	if !v4 {
		iphl = wire.IPv6HeaderLen
	}
	total := iphl + hl + len(seg.Payload) + len(seg.Payload2)
	if total > e.maxIP {
		e.stats.drop(DropTxTooBig)
		return false
	}
	mac, wait, ok := e.resolve(seg.Key.RemoteAddr)
	if !ok {
		return false
	}
	d, b, ok := e.allocTx()
	if !ok {
		return false
	}
	n := wire.EthernetHeaderLen + total
	hdrEnd := ipHdrOffset + iphl + hl
	if len(b) < n && (!e.cfg.MultiBuffer || len(b) < hdrEnd) {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return false
	}
	var phsum uint16
	if v4 {
		wire.Ethernet(b).Encode(mac, e.cfg.MAC, wire.EtherTypeIPv4)
		dst := seg.Key.RemoteAddr.As4()
		wire.IPv4(b[ipHdrOffset:]).Encode(&wire.IPv4Fields{
			TOS: seg.TOS&^3 | seg.ECN&3, TotalLen: uint16(total), ID: e.nextID(), DF: true, TTL: wire.DefaultTTL,
			Protocol: wire.ProtoTCP, Src: e.cfg.Addr, Dst: dst,
		})
		phsum = wire.PseudoHeaderChecksum(wire.ProtoTCP, e.cfg.Addr, dst, uint16(total-iphl))
		inc(&e.stats.IpOutRequests)
	} else {
		wire.Ethernet(b).Encode(mac, e.cfg.MAC, wire.EtherTypeIPv6)
		src, dst := [16]byte(seg.Key.LocalAddr), [16]byte(seg.Key.RemoteAddr)
		wire.IPv6(b[ipHdrOffset:]).Encode(&wire.IPv6Fields{
			TrafficClass: seg.ECN & 3, FlowLabel: e.flowLabel(&seg.Key, seg.TxHash), PayloadLen: uint16(total - iphl),
			NextHeader: wire.ProtoTCP, HopLimit: wire.DefaultTTL, Src: src, Dst: dst,
		})
		phsum = wire.PseudoHeaderChecksum6(wire.ProtoTCP, &src, &dst, uint32(total-iphl))
		inc(&e.stats.Ip6OutRequests)
	}
	t := wire.TCP(b[ipHdrOffset+iphl : min(n, len(b))])
	t.Encode(&wire.TCPFields{
		SrcPort: seg.Key.LocalPort, DstPort: seg.Key.RemotePort,
		Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), DataOffset: hl,
		Flags: seg.Flags, Window: seg.Window,
	})
	wire.WriteTCPOptions(t[wire.TCPMinHeaderLen:hl], &seg.Opts, syn)
	if n > len(b) {
		return e.sendChain(d, ipHdrOffset+iphl, t, hl, phsum, seg, wait)
	}
	p := copy(t[hl:], seg.Payload)
	copy(t[hl+p:], seg.Payload2)
	if e.csum != nil && e.requestCsum(&d, ipHdrOffset+iphl) {
		// The device sums from the TCP header to the end, over the
		// pseudo-header sum left in the field (CHECKSUM_PARTIAL).
		t.SetChecksum(phsum)
	} else {
		t.SetChecksum(^wire.Checksum(t, phsum))
	}
	if wait != nil {
		d.Len = uint32(n)
		e.hold(wait, []xsk.Desc{d})
		return true
	}
	e.queueTx(d, n)
	return true
}

// requestCsum asks the port for the TCP checksum of d's packet, whose TCP
// header starts at off.
func (e *Engine) requestCsum(d *xsk.Desc, off int) bool {
	nd, ok := e.csum.RequestTxChecksum(*d, off, tcpChecksumOffset)
	if ok {
		*d = nd
	}
	return ok
}

// tcpChecksumOffset is where the checksum field is in the TCP header
// (RFC 9293 §3.1): csum_offset of a TX checksum request.
const tcpChecksumOffset = 16

// sendChain sends a segment larger than a TX frame as a multi-buffer
// packet: the first frame d holds the headers (t is its TCP part from
// offset off of the frame to the frame's end, with the header of hl bytes
// written) and the payload's start, further frames the rest. The checksum
// is summed frame by frame: every part but the last has an even length
// (frames are a power of two long and the headers before the payload are
// even), so the sums chain (RFC 1071 §2(B)). It returns false, having
// freed the frames and counted why, when TX frames run out.
func (e *Engine) sendChain(d xsk.Desc, off int, t wire.TCP, hl int, phsum uint16, seg *tcp.OutSegment, wait *neigh) bool {
	k, p1, p2 := copyFrom(t[hl:], seg.Payload, seg.Payload2)
	offload := e.csum != nil && e.requestCsum(&d, off)
	var sum uint16
	if !offload {
		sum = wire.Checksum(t[:hl+k], phsum)
	}
	d.Len, d.Options = uint32(off+hl+k), d.Options|xsk.DescContd
	e.chain = append(e.chain[:0], d)
	if sum, ok := e.chainRest(p1, p2, sum, !offload); !ok {
		return false
	} else if !offload {
		t.SetChecksum(^sum)
	} else {
		t.SetChecksum(phsum)
	}
	if wait != nil {
		e.hold(wait, e.chain)
		e.chain = e.chain[:0]
		return true
	}
	e.queueChain(e.chain)
	e.chain = e.chain[:0]
	return true
}

// chainRest puts p1 then p2 into further TX frames appended to
// e.chain (which holds the packet's first frame), marks the last frame as
// the packet's end and, with doSum, continues the one's complement sum
// over what it copied. It returns false, having freed the chain and
// counted why, when TX frames run out or the packet would need more than
// xsk.MaxDescsPerPacket frames.
func (e *Engine) chainRest(p1, p2 []byte, sum uint16, doSum bool) (uint16, bool) {
	for len(p1)+len(p2) > 0 {
		if len(e.chain) == cap(e.chain) {
			e.freeChain()
			e.stats.drop(DropTxTooBig)
			return 0, false
		}
		d2, b2, ok := e.allocTx()
		if !ok {
			e.freeChain()
			return 0, false
		}
		var k int
		k, p1, p2 = copyFrom(b2, p1, p2)
		if doSum {
			sum = wire.Checksum(b2[:k], sum)
		}
		e.chain = append(e.chain, xsk.Desc{Addr: d2.Addr, Len: uint32(k), Options: xsk.DescContd})
	}
	e.chain[len(e.chain)-1].Options &^= xsk.DescContd
	return sum, true
}

// queueBody queues the frame d (buffer b), whose first off bytes are
// built, followed by body1 and body2: in d alone when they fit, else
// (MultiBuffer) continued in further frames. It returns false, having
// freed the frames and counted why, when it cannot.
func (e *Engine) queueBody(d xsk.Desc, b []byte, off int, body1, body2 []byte) bool {
	if n := off + len(body1) + len(body2); n <= len(b) {
		copyFrom(b[off:], body1, body2)
		e.queueTx(d, n)
		return true
	}
	if !e.cfg.MultiBuffer || len(b) < off {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return false
	}
	k, p1, p2 := copyFrom(b[off:], body1, body2)
	d.Len, d.Options = uint32(off+k), d.Options|xsk.DescContd
	e.chain = append(e.chain[:0], d)
	if _, ok := e.chainRest(p1, p2, 0, false); !ok {
		return false
	}
	e.queueChain(e.chain)
	e.chain = e.chain[:0]
	return true
}

// freeChain gives back the frames of a chain that will not be sent.
func (e *Engine) freeChain() {
	for _, d := range e.chain {
		e.port.FreeTx(d)
	}
	e.chain = e.chain[:0]
}

// copyFrom copies p1, then p2, into dst, as much as fits, and returns how
// much and what is left of each.
func copyFrom(dst, p1, p2 []byte) (int, []byte, []byte) {
	a := copy(dst, p1)
	b := copy(dst[a:], p2)
	return a + b, p1[a:], p2[b:]
}

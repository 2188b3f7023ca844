package stack

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// arpFrameLen is an ARP packet in an Ethernet frame (without the padding to
// 60 bytes, which the NIC or veth adds; Linux sends 42 bytes too).
const arpFrameLen = wire.EthernetHeaderLen + wire.ARPLen

// handleARP implements RFC 826's packet reception algorithm for
// Ethernet/IPv4: merge the sender into an existing entry, and if we are
// the target add it and answer a request. Gratuitous ARP (sender address
// equals target address) is ignored, as are senders that are not on-link
// or are 0.0.0.0 (RFC 5227 probes: answered, not learned).
func (e *Engine) handleARP(eth wire.Ethernet) {
	a := wire.ARP(eth.Payload())
	if !a.IsValid() {
		e.stats.drop(DropARPMalformed)
		return
	}
	op := a.Op()
	switch op {
	case wire.ARPRequest:
		inc(&e.stats.ArpInRequests)
	case wire.ARPReply:
		inc(&e.stats.ArpInReplies)
	default:
		e.stats.drop(DropARPOp)
		return
	}
	spa, tpa := a.SPA(), a.TPA()
	if spa == tpa {
		e.stats.drop(DropARPGratuitous)
		return
	}
	sha := a.SHA()
	if e.addr4.IsZero() || tpa != e.cfg.Addr {
		e.learnNeighbor(flowtable.AddrFrom4(spa), sha, spa != [4]byte{}, false)
		e.stats.drop(DropARPNotOurs)
		return
	}
	e.learnNeighbor(flowtable.AddrFrom4(spa), sha, spa != [4]byte{}, true)
	if op != wire.ARPRequest {
		return
	}
	d, b, ok := e.allocTx()
	if !ok {
		return
	}
	if len(b) < arpFrameLen {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return
	}
	// Linux's arp_process answers to the sender hardware address.
	wire.Ethernet(b).Encode(sha, e.cfg.MAC, wire.EtherTypeARP)
	wire.ARP(b[wire.EthernetHeaderLen:]).Encode(wire.ARPReply, e.cfg.MAC, e.cfg.Addr, sha, spa)
	inc(&e.stats.ArpOutReplies)
	e.queueTx(d, arpFrameLen)
}

// learnNeighbor merges sender's link-layer address sha into an existing
// neighbour entry (RFC 826 "merge"; RFC 4861 §7.2.3 for a solicitation's
// source link-layer option), and, when we were the target (add), creates
// the entry. valid is false for a sender that must not be learnt (an RFC
// 5227 probe from 0.0.0.0, a DAD solicitation from ::). Our own address,
// off-link senders and multicast MACs are never learnt.
func (e *Engine) learnNeighbor(sender flowtable.Addr, sha [6]byte, valid, add bool) {
	if !valid || sender == e.addr4 || sender == e.addr6 || !e.onLink(sender) || sha[0]&1 != 0 {
		return
	}
	if n := e.arp.get(sender); n != nil {
		if !n.permanent {
			e.confirm(n, sha)
		}
		return
	}
	if !add {
		return
	}
	n, ev := e.arp.insert(sender)
	if ev {
		inc(&e.stats.ArpCacheEvictions)
	}
	e.confirm(n, sha)
	e.stats.ArpCacheEntries.Store(uint64(e.arp.len()))
}

// confirm records that n's MAC is mac as of now, and sends the frames
// held for it.
func (e *Engine) confirm(n *neigh, mac [6]byte) {
	n.mac = mac
	n.state = neighValid
	n.confirmed = e.now
	n.ref = true
	n.probing = false
	if n.watched {
		n.watched = false
		e.cfg.ARPWatch(n.addr, false)
	}
	if n.qPkts > 0 {
		e.sendHeld(n, mac)
	}
}

// gateway returns the gateway for a's family (zero: none).
func (e *Engine) gateway(a flowtable.Addr) flowtable.Addr {
	if a.Is4() {
		return e.gw4
	}
	return e.gw6
}

// resolve returns the Ethernet destination for destination dst (IPv4
// mapped, or IPv6) by the next-hop rule (package doc), the same for both
// families: ARP resolves IPv4 next hops, NDP (RFC 4861 §7.2) IPv6 ones,
// with the same cache states and timers. When the next hop is on-link but
// not resolved yet it returns its entry as wait (a request or solicitation
// sent when one is due): the caller builds the packet and holds it there
// (hold). Otherwise a failure has been counted (no_route).
func (e *Engine) resolve(dst flowtable.Addr) (mac [6]byte, wait *neigh, ok bool) {
	k := dst
	gw := e.gateway(dst)
	if !e.onLink(k) {
		if gw.IsZero() {
			if n := e.ret.get(k); n != nil {
				n.ref = true
				return n.mac, nil, true
			}
			e.stats.drop(DropNoRoute)
			return [6]byte{}, nil, false
		}
		k = gw
	}
	return e.neighbor(k, gw)
}

// neighbor returns the MAC of the on-link neighbour k (the next hop
// resolve chose; gw: the gateway of its family), asking for it when it
// is unknown or stale; unresolved, it returns k's entry to hold the packet
// on (Linux's neigh_resolve_output queues on the INCOMPLETE entry) unless
// holding is off (unres_qlen 0 or Config.UnresQlenTotal negative), when
// the failure is counted (arp_unresolved).
func (e *Engine) neighbor(k, gw flowtable.Addr) ([6]byte, *neigh, bool) {
	mac, ok := e.findNeighbor(k, gw)
	if ok {
		return mac, nil, true
	}
	if e.cfg.TCP.UnresQlen <= 0 || len(e.pend.slots) == 0 {
		e.stats.drop(DropARPUnresolved)
		return mac, nil, false
	}
	return mac, e.arp.get(k), true
}

// findNeighbor is neighbor without counting a failure.
func (e *Engine) findNeighbor(k, gw flowtable.Addr) ([6]byte, bool) {
	n := e.arp.get(k)
	if n == nil {
		var ev bool
		n, ev = e.arp.insert(k)
		if ev {
			inc(&e.stats.ArpCacheEvictions)
		}
		e.stats.ArpCacheEntries.Store(uint64(e.arp.len()))
	}
	n.ref = true
	if n.state == neighValid {
		if n.permanent || e.now.Sub(n.confirmed) <= ARPReachableTime {
			return n.mac, true
		}
		// Stale: keep using the MAC while probing it by unicast (Linux
		// STALE -> DELAY -> PROBE); only when probes went unanswered
		// for ARPStaleGrace does the entry fail (Linux FAILED).
		if !n.probing {
			n.probing, n.probeStart = true, e.now
		}
		if e.now.Sub(n.probeStart) <= ARPStaleGrace {
			e.solicit(n, false)
			return n.mac, true
		}
		n.state, n.probing = neighIncomplete, false
	}
	e.solicit(n, true)
	// With several queues, the ARP reply lands on the queue the peer's
	// transmit hash picks, and that queue's loop learns it; the other
	// loops answer to the Ethernet source of the frames the peer sent
	// them (the return path) while they keep asking.
	if k != gw || gw.IsZero() {
		if r := e.ret.get(k); r != nil && e.now.Sub(r.confirmed) <= ARPReachableTime {
			r.ref = true
			// Segments held before the return path was known go
			// first, to the same MAC, so the peer sees them in order.
			if n.qPkts > 0 {
				e.sendHeld(n, r.mac)
			}
			return r.mac, true
		}
	}
	return [6]byte{}, false
}

// solicit asks for n's link-layer address unless a request went out less
// than ARPRetransTime ago: an ARP request (broadcast, or unicast to the
// known MAC when probing a stale entry) for IPv4, a neighbour solicitation
// (to the solicited-node multicast group, or unicast, RFC 4861 §7.2.2) for
// IPv6.
func (e *Engine) solicit(n *neigh, multicast bool) {
	if n.reqSent && e.now.Sub(n.lastReq) < ARPRetransTime {
		return
	}
	d, b, ok := e.allocTx()
	if !ok {
		return
	}
	size := arpFrameLen
	if !n.addr.Is4() {
		size = nsFrameLen
	}
	if len(b) < size {
		e.port.FreeTx(d)
		e.stats.drop(DropTxTooBig)
		return
	}
	n.reqSent, n.lastReq = true, e.now
	if e.cfg.ARPWatch != nil && !n.watched {
		if e.cfg.ARPWatch(n.addr, true) {
			n.watched = true
		} else {
			inc(&e.stats.ArpWatchFailures)
		}
	}
	if !n.addr.Is4() {
		e.buildNS(b, n.addr, n.mac, multicast)
		e.queueTx(d, size)
		return
	}
	dst := n.mac
	if multicast {
		dst = wire.BroadcastMAC
	}
	wire.Ethernet(b).Encode(dst, e.cfg.MAC, wire.EtherTypeARP)
	wire.ARP(b[wire.EthernetHeaderLen:]).Encode(wire.ARPRequest, e.cfg.MAC, e.cfg.Addr, [6]byte{}, n.addr.As4())
	inc(&e.stats.ArpOutRequests)
	e.queueTx(d, arpFrameLen)
}

// learnFromIP updates the caches from a valid IPv4 or IPv6 frame from
// src: an off-link source fills the return-path cache; an on-link source
// (or the gateway, for off-link sources) whose entry has the frame's MAC is
// confirmed, like Linux's neigh_confirm on forward progress.
func (e *Engine) learnFromIP(now clock.Time, src flowtable.Addr, mac [6]byte) {
	if mac[0]&1 != 0 {
		return
	}
	k := src
	gw := e.gateway(src)
	if !e.onLink(src) {
		if gw.IsZero() {
			n := e.ret.get(src)
			if n == nil {
				n, _ = e.ret.insert(src)
			}
			n.mac, n.state, n.confirmed, n.ref = mac, neighValid, now, true
			return
		}
		k = gw
	}
	n := e.arp.get(k)
	if n != nil && n.state == neighValid {
		if n.mac == mac && !n.permanent {
			n.confirmed, n.probing = now, false
		}
		return
	}
	if k != src {
		return // the gateway is not the frame's source
	}
	// Unresolved on-link source: remember its MAC as the return path
	// (used by resolve only until ARP answers on this loop).
	r := e.ret.get(src)
	if r == nil {
		r, _ = e.ret.insert(src)
	}
	r.mac, r.state, r.confirmed, r.ref = mac, neighValid, now, true
}

// SetNeighbor adds or replaces a permanent neighbour entry, like
// `ip neigh replace ADDR lladdr MAC nud permanent`: it is used without ARP,
// never aged and not changed by received ARP. Call it on the loop (before
// Run, or from Do).
func (e *Engine) SetNeighbor(addr flowtable.Addr, mac [6]byte) {
	k := addr
	n := e.arp.get(k)
	if n == nil {
		var ev bool
		n, ev = e.arp.insert(k)
		if ev {
			inc(&e.stats.ArpCacheEvictions)
		}
		e.stats.ArpCacheEntries.Store(uint64(e.arp.len()))
	}
	e.confirm(n, mac)
	n.permanent = true
}

// NeighborInfo is one neighbour cache entry as `ip neigh` shows it.
type NeighborInfo struct {
	Addr  flowtable.Addr
	MAC   [6]byte // zero while INCOMPLETE
	State string  // "PERMANENT", "REACHABLE", "STALE", "PROBE", "INCOMPLETE"
	Age   time.Duration
}

// RangeNeighbors calls fn for every neighbour cache entry until fn returns
// false. Call it on the loop (from Do while Run is running).
func (e *Engine) RangeNeighbors(fn func(NeighborInfo) bool) {
	for i := range e.arp.ents {
		n := &e.arp.ents[i]
		if !n.used {
			continue
		}
		in := NeighborInfo{Addr: n.addr}
		switch {
		case n.state != neighValid:
			in.State = "INCOMPLETE"
		case n.permanent:
			in.State, in.MAC = "PERMANENT", n.mac
		case n.probing:
			in.State, in.MAC = "PROBE", n.mac
		case e.now.Sub(n.confirmed) <= ARPReachableTime:
			in.State, in.MAC = "REACHABLE", n.mac
		default:
			in.State, in.MAC = "STALE", n.mac
		}
		if n.state == neighValid {
			in.Age = e.now.Sub(n.confirmed)
		}
		if !fn(in) {
			return
		}
	}
}

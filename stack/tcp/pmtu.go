package tcp

// ICMP errors for TCP connections: path MTU discovery (RFC 1191 for IPv4's
// "fragmentation needed", RFC 8201 for ICMPv6 "packet too big") and soft
// errors (RFC 5461: an established connection is not aborted; as Linux's
// tcp_v4_err/tcp_v6_err, the error is kept, sk_err_soft, and reported if
// the connection later times out, and a connection still in SYN-SENT
// fails at once with it). The engine parses the ICMP message
// and the quoted header; the layer checks the quoted sequence number
// against the connection (RFC 5927 §4.1: SND.UNA <= seq <= SND.NXT, as
// Linux's tcp_v4_err/tcp_v6_err, counted OutOfWindowIcmps otherwise), so a
// blind attacker who does not know the window cannot shrink or stall a
// connection, and remembers the path MTU per destination (pmtuCache) for
// the connections opened next.

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Path MTU bounds (Linux).
const (
	// MinPMTU4 is net.ipv4.route.min_pmtu (552): a smaller MTU in a
	// "fragmentation needed" is raised to it.
	MinPMTU4 = 552
	// MinPMTU6 is IPv6's minimum link MTU (RFC 8200 §5, 1280): an
	// IPv6 path is never taken to be smaller.
	MinPMTU6 = 1280
	// PMTUExpires is net.ipv4.route.mtu_expires (ip_rt_mtu_expires, 10
	// minutes): how long a learnt path MTU is used for new connections.
	PMTUExpires = 10 * time.Minute
)

// ICMPKind is what an ICMP error says about the path.
type ICMPKind uint8

const (
	// ICMPPacketTooBig is IPv4 "fragmentation needed" (type 3 code 4)
	// or ICMPv6 "packet too big" (type 2), with the next-hop MTU.
	ICMPPacketTooBig ICMPKind = iota
	// ICMPSoft is any other destination-unreachable, time-exceeded or
	// parameter-problem error: a soft error (RFC 5461).
	ICMPSoft
)

// headerOverhead is the IP and TCP header bytes (without options) around
// an MSS: 40 for IPv4, 60 for IPv6.
func headerOverhead(k flowtable.Key) int {
	if k.Is4() {
		return 40
	}
	return 60
}

// ICMPError handles an ICMP error about connection k (our 4-tuple, from the
// quoted header) whose quoted segment starts at seq; mtu is the next-hop
// MTU of a packet-too-big, err the error a soft one reports (the errno
// Linux's icmp_err_convert or icmpv6_err_convert gives its type and
// code). It reports whether the error was applied.
func (l *Layer) ICMPError(now clock.Time, k flowtable.Key, seq seqnum.Value, kind ICMPKind, mtu int, err error) bool {
	l.now = now
	c := l.conns.Get(k)
	if c == nil || c.flags&fGone != 0 {
		return false
	}
	// RFC 5927 §4.1, Linux tcp_v4_err: between(seq, snd_una, snd_nxt).
	if seq.LessThan(c.sndUna) || c.sndNxt.LessThan(seq) {
		l.stats.OutOfWindowIcmps.Add(1)
		return false
	}
	if kind != ICMPPacketTooBig {
		if err == nil {
			err = ErrTimeout
		}
		if c.state == StateSynSent {
			// Linux tcp_v4_err/tcp_v6_err: an error about our SYN ends
			// the connect with it (connect(2) gets EHOSTUNREACH, ...).
			c.destroy(err)
			return true
		}
		// A soft error (RFC 5461 §4: must not abort a connection; RFC
		// 1122 §4.2.3.9). Linux keeps it in sk_err_soft: a connection
		// that later times out reports it instead of ETIMEDOUT
		// (tcp_write_err), and an ACK clears it (tcp_ack).
		c.ext().softErr = err
		return true
	}
	floor := MinPMTU4
	if !k.Is4() {
		floor = MinPMTU6
	}
	mtu = max(mtu, floor)
	l.pmtus.learn(now, k.RemoteAddr, mtu, l.cfg.PmtuCacheSize)
	c.lowerMSS(now, mtu-headerOverhead(k))
	return true
}

// lowerMSS takes a smaller path MSS: segments in flight larger than it are
// lost for good, so every record in flight is marked lost and resent at
// once at the new size (Linux tcp_simple_retransmit: the congestion
// window is left alone, the loss is the path's, not congestion).
func (c *Conn) lowerMSS(now clock.Time, mss int) {
	mss = max(mss, c.layer.cfg.MinSndMss, 1)
	if mss >= c.mss {
		return
	}
	c.mss = mss
	if c.state.synchronized() && c.tq != nil && c.tq.n > 0 {
		c.tq.markAllLost(false)
		c.trySend(now)
		c.rearm()
	}
}

// mtuBlackHole is Linux's tcp_mtu_probing, called when tcp_retries1
// consecutive retransmission timeouts suggest a path that drops
// full-sized segments and the ICMP errors that would say so (RFC 4821
// §2's black hole): the first time it turns the search on (starting the
// MSS at tcp_base_mss), every later time it halves the MSS, never below
// tcp_mtu_probe_floor or tcp_min_snd_mss. Called from the RTO, which has
// already marked everything in flight lost. xdptcp does not send Linux's
// upward probes: once lowered, the MSS stays so for the connection.
func (c *Conn) mtuBlackHole() {
	cfg := &c.layer.cfg
	mss := min(c.mss, cfg.BaseMss)
	if c.flags&fMTUProbe != 0 {
		mss = min(cfg.BaseMss, c.mss/2)
	}
	c.flags |= fMTUProbe
	mss = max(mss, cfg.MtuProbeFloor, cfg.MinSndMss, 1)
	if mss < c.mss {
		c.mss = mss
		c.layer.stats.TCPMTUPBlackHole.Add(1)
	}
}

// pmtuEntry is a learnt path MTU and when it stops applying.
type pmtuEntry struct {
	mtu     int
	expires clock.Time
}

// pmtuCache maps a destination to its learnt path MTU, bounded by the
// pmtu_cache_size setting (Linux keeps it in the route's exception, which
// expires after ip_rt_mtu_expires). It allocates only when it learns a new
// destination (an ICMP error, not the packet path).
type pmtuCache struct {
	m map[flowtable.Addr]pmtuEntry
}

func (p *pmtuCache) learn(now clock.Time, a flowtable.Addr, mtu, size int) {
	if p.m == nil {
		p.m = make(map[flowtable.Addr]pmtuEntry)
	}
	if e, ok := p.m[a]; ok && e.expires > now && e.mtu <= mtu {
		return // never raised by an ICMP error (RFC 1191 §6.3: increases are found by probing or expiry)
	}
	for len(p.m) >= max(size, 1) {
		var oldest flowtable.Addr
		var t clock.Time = never
		for k, e := range p.m {
			if e.expires < t {
				oldest, t = k, e.expires
			}
		}
		delete(p.m, oldest)
	}
	p.m[a] = pmtuEntry{mtu: mtu, expires: now.Add(PMTUExpires)}
}

// lookup returns the learnt path MTU of a, if one has not expired.
func (p *pmtuCache) lookup(now clock.Time, a flowtable.Addr) (int, bool) {
	e, ok := p.m[a]
	if !ok {
		return 0, false
	}
	if e.expires <= now {
		delete(p.m, a)
		return 0, false
	}
	return e.mtu, true
}

// PathMTU returns the learnt path MTU to a, if one is cached.
func (l *Layer) PathMTU(a flowtable.Addr) (int, bool) { return l.pmtus.lookup(l.now, a) }

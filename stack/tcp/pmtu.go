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
	// ICMPFatal is a soft error that also ends a half-open passive
	// connection it quotes (Linux tcp_req_err's abort): IPv4 net or
	// host unreachable, time exceeded and parameter problem (tcp_v4_err);
	// ICMPv6's fatal ones (icmpv6_err_convert: administratively
	// prohibited, port unreachable, policy, reject route, an unknown
	// unreachable code, parameter problem). Anywhere else it is ICMPSoft.
	ICMPFatal
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
	if c.state == StateSynReceived && c.listener != nil {
		return c.requestICMPError(seq, kind)
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
		if c.state == StateSynSent || c.state == StateSynReceived {
			// Linux tcp_v4_err/tcp_v6_err: an error about our SYN ends
			// the connect with it (connect(2) gets EHOSTUNREACH, ...);
			// so does one in a simultaneous open's SYN-RECEIVED.
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

// requestICMPError is an ICMP error about a half-open passive connection
// (SYN-RECEIVED, from a listener), as Linux's tcp_req_err for its request
// sockets: it must quote our SYN-ACK's sequence number, the ISS, or it is
// counted (OutOfWindowIcmps) and ignored; a fatal one drops the
// connection silently, counted in ListenDrops ("there is no good way to
// pass the error to the newly created socket, and POSIX does not want
// network errors returned from accept()"); any other, a packet-too-big
// included, changes nothing (the SYN-ACK is retransmitted as before).
func (c *Conn) requestICMPError(seq seqnum.Value, kind ICMPKind) bool {
	l := c.layer
	if seq != c.iss {
		l.stats.OutOfWindowIcmps.Add(1)
		return false
	}
	if kind != ICMPFatal {
		return false
	}
	l.stats.ListenDrops.Add(1)
	c.destroy(ErrTimeout)
	return true
}

// lowerMSS takes a smaller path MSS (an ICMP packet-too-big): segments in
// flight larger than it are lost for good, so every record in flight is
// marked lost and resent at once at the new size (Linux
// tcp_simple_retransmit: the congestion window is left alone, the loss is
// the path's, not congestion). With the MTU search on, the search's top
// comes down to the path MTU (Linux tcp_sync_mss); a probe in flight fails
// as the resend takes it (mtuProbeResent).
func (c *Conn) lowerMSS(now clock.Time, mss int) {
	mss = max(mss, c.layer.cfg.MinSndMss, 1)
	if ms := c.mtuSearch(); ms != nil {
		ov := int32(headerOverhead(c.key))
		ms.pmtu = min(ms.pmtu, int32(mss)+ov)
		ms.high = min(ms.high, ms.pmtu)
		mss = c.searchMSS(ms)
	}
	if mss >= c.mss {
		return
	}
	c.mss = mss
	if c.state.synchronized() && c.tq != nil && c.tq.n > 0 {
		c.tq.markAllLost(false, never)
		c.trySend(now)
		c.rearm()
	}
}

// mtuSearch is RFC 4821's packetization-layer path MTU discovery as
// Linux's tcp_mtu_probing runs it (icsk_mtup and tp->mtu_probe): a binary
// search between an MTU known to work (low) and the largest the path may
// take (high). The connection sends segments of low's size; now and then
// it sends one probe of the middle size made of data it had to send
// anyway (mtuProbe). An acknowledged probe raises low and the MSS with it
// (mtuProbeAcked); a lost one lowers high (mtuProbeResent). The
// search ends when the range is narrower than tcp_probe_threshold and
// starts again after tcp_probe_interval. tcp_retries1 timeouts in a row
// (an ICMP black hole, RFC 4821 §2) halve low (mtuBlackHole). All sizes
// are IP packet sizes (MTUs); the MSS is the MTU less headerOverhead.
type mtuSearch struct {
	pmtu      int32        // the path MTU as last known (Linux icsk_pmtu_cookie): link, the peer's MSS, ICMP
	clamp     int32        // the MTU the peer's MSS (capped by ours) allows: high when a search starts again
	high, low int32        // the search range: low works, nothing above high does
	probe     int32        // MTU of the probe in flight; 0 when none
	probeSeq  seqnum.Value // the probe's first sequence number
	probeEnd  seqnum.Value // and its end
	stamp     clock.Time   // when the search began: tcp_probe_interval counts from it
}

// mtuSearch returns the connection's search, nil when tcp_mtu_probing has
// not turned it on (Linux icsk_mtup.enabled).
func (c *Conn) mtuSearch() *mtuSearch {
	if c.flags&fMTUProbe == 0 || c.sx == nil {
		return nil
	}
	return c.sx.mtu
}

// optLen is the TCP option bytes every segment carries (timestamps):
// Linux's tcp_header_len less the bare header, which tcp_mtu_to_mss
// subtracts. tcp_base_mss and a probe's size count payload, as Linux's.
func (c *Conn) optLen() int32 {
	if c.flags&fTS != 0 {
		return 12
	}
	return 0
}

// mtuSearchStart turns the search on (Linux tcp_mtup_init with
// tcp_mtu_probing 2 at the handshake; tcp_mtu_probing's first black-hole
// timeout with 1): the range runs from tcp_base_mss to the path MTU.
// pathMSS is the MSS the path allows (link, peer, ICMP), clampMSS the one
// the peer's MSS and ours allow (floored as the MSS is). The MSS is the caller's to sync
// (searchMSS): Linux does at once for Dial (tcp_connect_init) and after
// black-hole timeouts, not for an accepted connection, which keeps the
// path's MSS until its first probe is acknowledged (tcp_init_transfer
// calls tcp_mtup_init after the MSS was set; measured on Linux 6.18,
// conformance script mtu-probe.pkt).
func (c *Conn) mtuSearchStart(now clock.Time, pathMSS, clampMSS int) *mtuSearch {
	ov := int32(headerOverhead(c.key))
	clampMSS = max(clampMSS, c.layer.cfg.MinSndMss, 1)
	ms := &mtuSearch{pmtu: int32(pathMSS) + ov, clamp: int32(clampMSS) + ov, stamp: now}
	ms.high = ms.pmtu
	ms.low = int32(c.layer.cfg.BaseMss) + c.optLen() + ov
	c.flags |= fMTUProbe
	c.ext().mtu = ms
	return ms
}

// searchMSS is the MSS the search allows: the path's, no larger than low's
// (Linux tcp_sync_mss with icsk_mtup.enabled), at least tcp_min_snd_mss.
func (c *Conn) searchMSS(ms *mtuSearch) int {
	ov := int32(headerOverhead(c.key))
	return max(int(min(ms.pmtu, ms.low)-ov), c.layer.cfg.MinSndMss, 1)
}

// mtuBlackHole is Linux's tcp_mtu_probing, called when tcp_retries1's
// time of retransmission timeouts suggests a path that drops
// full-sized segments and the ICMP errors that would say so (RFC 4821
// §2's black hole): the first time it turns the search on (the MSS goes
// to tcp_base_mss), every later time it halves low, never below
// tcp_mtu_probe_floor or tcp_min_snd_mss. Called from the RTO before
// the loss state's cwnd is set. The search then probes back up
// (mtuProbe).
func (c *Conn) mtuBlackHole(now clock.Time) {
	cfg := &c.layer.cfg
	old := c.mss
	if ms := c.mtuSearch(); ms == nil {
		c.mss = c.searchMSS(c.mtuSearchStart(now, c.mss, c.mss))
	} else {
		ov := int32(headerOverhead(c.key)) + c.optLen()
		m := min(int((ms.low-ov)>>1), cfg.BaseMss)
		m = max(m, cfg.MtuProbeFloor, cfg.MinSndMss)
		ms.low = int32(m) + ov
		c.mss = c.searchMSS(ms)
	}
	if c.mss < old {
		c.layer.stats.TCPMTUPBlackHole.Add(1)
	}
}

// mtuProbe sends the search's next probe when Linux's tcp_mtu_probe
// would: the search is on and no probe is in flight; no loss episode,
// reordering or ECN reduction is open (TCP_CA_Open); cwnd is at least 11
// segments; we send no SACK blocks (they would change the header size);
// the unsent data fills the probe and reordering+1 full segments behind
// it (so that the probe's loss is found by them), the peer's window takes
// it all, and cwnd has room for two segments more than pipe. The probe is
// the middle of the range, less headers; it is data the connection had to
// send anyway, taken from SND.NXT as one segment. It reports wait when
// the round should send nothing, to let cwnd or the peer's window drain
// for the probe (Linux's 0: data is in flight, so an ACK comes). A search
// whose range has closed starts again after tcp_probe_interval
// (tcp_mtu_check_reprobe) from the current MSS up to the peer's.
func (c *Conn) mtuProbe(now clock.Time) (wait bool) {
	ms := c.mtuSearch()
	if ms == nil || ms.probe != 0 || !c.caOpen() || c.flags&fSackOK != 0 && (c.oooActive() || c.flags&fDSACK != 0) {
		return false
	}
	mss := c.effMSS()
	if c.cc.window() < 11*mss {
		return false
	}
	cfg := &c.layer.cfg
	ov := int32(headerOverhead(c.key)) + c.optLen()
	size := int((ms.high+ms.low)>>1 - ov)
	if size > int(ms.high-ov) || int(ms.high-ms.low) < cfg.ProbeThreshold {
		if now.Sub(ms.stamp) >= time.Duration(cfg.ProbeInterval)*time.Second {
			ms.high, ms.pmtu = ms.clamp, ms.clamp
			ms.low = int32(c.mss) + int32(headerOverhead(c.key))
			ms.stamp = now
		}
		return false
	}
	need := size + (c.dupThresh()+1)*mss
	unsent := int(c.dataEnd().Sub(c.sndNxt))
	if unsent < need || int(c.sndWnd) < need {
		return false
	}
	if c.flight()+need > int(c.sndWnd) {
		return true
	}
	if c.pipe()+2*mss > c.cc.window() {
		return c.pipe() > 0 // with none in flight, do not stall
	}
	if c.recordLimit(size) < size {
		return false // a MSG_EOR record ends inside (Linux tcp_can_coalesce_send_queue_head)
	}
	seq := c.sndNxt
	if c.transmit(now, seq, size) {
		ms.probe = int32(size) + ov
		ms.probeSeq, ms.probeEnd = seq, seq.Add(seqnum.Size(size))
		if c.pushGrid.LessThanEq(seq) {
			// Linux's TSO packets start again after the probe's skb
			// (push.go's grid).
			c.pushGrid = ms.probeEnd
		}
	}
	return false
}

// caOpen reports Linux's TCP_CA_Open: no recovery, loss (RTO) or CWR
// episode, and nothing SACKed, lost or retransmitted outstanding.
func (c *Conn) caOpen() bool {
	if c.flags&(fInRecovery|fInCWR) != 0 || c.sndUna.LessThan(c.recover) || c.dupAcks > 0 {
		return false
	}
	q := c.tq
	return q == nil || (q.sacked == 0 && q.lost == 0 && q.retrans == 0)
}

// mtuProbeAcked is called as SND.UNA advances: a probe acknowledged whole
// raises low to its size, the MSS with it (Linux tcp_mtup_probe_success;
// the congestion window, in bytes here, stays: Linux rescales its segment
// count to keep the bytes).
func (c *Conn) mtuProbeAcked() {
	ms := c.mtuSearch()
	if ms == nil || ms.probe == 0 || c.sndUna.LessThan(ms.probeEnd) {
		return
	}
	ms.low = ms.probe
	ms.probe = 0
	c.mss = c.searchMSS(ms)
	c.layer.stats.TCPMTUPSuccess.Add(1)
}

// mtuProbeLost is asked before fast recovery starts on an ACK: when the
// probe is the first segment not acknowledged, the loss is taken for the
// probe's and there is no recovery: the probe's data goes again in
// segments of the MSS (which ends the probe as failed, mtuProbeResent),
// the congestion window untouched (Linux tcp_fastretrans_alert: "MTU
// probe failure: don't reduce cwnd", then tcp_simple_retransmit). It
// reports whether it was so.
func (c *Conn) mtuProbeLost() bool {
	ms := c.mtuSearch()
	if ms == nil || ms.probe == 0 || c.sndUna != ms.probeSeq || c.flags&fInCWR != 0 {
		return false
	}
	q := c.tq
	full := uint32(c.effMSS())
	for i := 0; i < q.n; i++ {
		if s := q.at(i); s.len > full && s.mark&(sbSacked|sbLost) == 0 {
			q.setMark(i, sbLost)
		}
	}
	return true
}

// mtuProbeResent is called as record s is sent again: when it holds
// probe data the probe has failed, whatever resends it (fast recovery, a
// timeout, RACK's reordering timer, a packet-too-big), since the ACK of
// data resent in smaller segments proves nothing about the probe's size
// (Linux would take that ACK for a success). Nothing at the probe's size
// or above is tried again until the search restarts (Linux
// tcp_mtup_probe_failed).
func (c *Conn) mtuProbeResent(s *txSeg) {
	ms := c.mtuSearch()
	if ms == nil || ms.probe == 0 || !s.seq.LessThan(ms.probeEnd) || !ms.probeSeq.LessThan(s.end()) {
		return
	}
	ms.high = ms.probe - 1
	ms.probe = 0
	c.layer.stats.TCPMTUPFail.Add(1)
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

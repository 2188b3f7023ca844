package tcp

// Per-connection TCP information, as Linux's TCP_INFO socket option
// (struct tcp_info in include/uapi/linux/tcp.h) and `ss -ti` show it.
// Field names follow tcp_info's (tcpi_snd_cwnd -> SndCwnd) and mean what
// Linux means by them; times are time.Duration instead of Linux's
// microseconds or milliseconds. A field xdptcp has no mechanism for
// (receiver-side RTT) stays zero, as in Linux when the mechanism is off,
// and says so below. Delivery-rate samples exist
// on connections that run BBR (ratesample.go).

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// CAState is Linux's congestion-avoidance state (enum tcp_ca_state).
type CAState uint8

// The CA states, with Linux's values (TCP_CA_Open ... TCP_CA_Loss).
const (
	CAOpen     CAState = 0 // no loss suspected
	CADisorder CAState = 1 // duplicate ACKs or SACKs seen: reordering or loss
	CACWR      CAState = 2 // window reduced for an ECN echo (RFC 3168)
	CARecovery CAState = 3 // fast recovery (RFC 6582 / RFC 6675)
	CALoss     CAState = 4 // retransmission timeout: going back from SND.UNA
)

// String returns Linux's spelling ("Open", "Recovery", ...).
func (s CAState) String() string {
	switch s {
	case CAOpen:
		return "Open"
	case CADisorder:
		return "Disorder"
	case CACWR:
		return "CWR"
	case CARecovery:
		return "Recovery"
	case CALoss:
		return "Loss"
	}
	return "?"
}

// Options bits of TCPInfo.Options (Linux TCPI_OPT_*).
const (
	OptTimestamps uint8 = 1 // TCPI_OPT_TIMESTAMPS: RFC 7323 timestamps negotiated
	OptSACK       uint8 = 2 // TCPI_OPT_SACK: SACK permitted by both sides
	OptWScale     uint8 = 4 // TCPI_OPT_WSCALE: window scaling negotiated
	OptECN        uint8 = 8 // TCPI_OPT_ECN: ECN agreed in the handshake (RFC 3168)
)

// TCPInfo is one connection's struct tcp_info, plus what `ss -ti` prints
// beside it (queues, timer, congestion control name).
type TCPInfo struct {
	// What ss prints before the info.
	Key   flowtable.Key // 4-tuple from our side
	RecvQ int           // Recv-Q: bytes received and not yet consumed
	SendQ int           // Send-Q: bytes written and not yet acknowledged
	// SndBuf is the send-buffer limit and WmemQueued what the send
	// queue is charged against it, in Linux's skb accounting (sndbuf.go;
	// SO_MEMINFO's SK_MEMINFO_SNDBUF and SK_MEMINFO_WMEM_QUEUED).
	SndBuf     int
	WmemQueued int
	// RmemAlloc is what the receive queue holds, in order and out of
	// order: its pages, 4096 bytes each (rcvq.go), as Linux's
	// sk_rmem_alloc counts the truesize of held skbs; RcvBuf the receive
	// buffer as getsockopt SO_RCVBUF reports it (Linux sk_rcvbuf:
	// tcp_rmem[1], autotuned, or SO_RCVBUF doubled; RecvBuffer). ss -m's r and rb,
	// SO_MEMINFO's SK_MEMINFO_RMEM_ALLOC and SK_MEMINFO_RCVBUF.
	RmemAlloc int
	RcvBuf    int
	Timer     string        // ss -o: "on", "keepalive", "timewait", "persist", ""
	TimerIn   time.Duration // time left on Timer

	State       State   // tcpi_state
	CAState     CAState // tcpi_ca_state
	Retransmits uint8   // tcpi_retransmits: consecutive RTO expiries without progress
	Probes      uint8   // tcpi_probes: unanswered keepalive or zero-window probes (icsk_probes_out)
	Backoff     uint8   // tcpi_backoff: RTO backoff exponent
	Options     uint8   // tcpi_options: Opt* bits
	SndWscale   uint8   // tcpi_snd_wscale: the peer's window scale
	RcvWscale   uint8   // tcpi_rcv_wscale: our window scale

	RTO    time.Duration // tcpi_rto: current RTO, backoff included
	ATO    time.Duration // tcpi_ato: delayed-ACK timeout (Linux icsk_ack.ato, 40-200 ms)
	SndMSS int           // tcpi_snd_mss: payload per segment now (options deducted)
	RcvMSS int           // tcpi_rcv_mss: estimate of the peer's MSS (min(AdvMSS, 536) raised to the largest segment received, at most AdvMSS)

	Unacked int // tcpi_unacked: segments in flight (bytes in flight / MSS, rounded up)
	Sacked  int // tcpi_sacked: segments the peer SACKed above SND.UNA
	Lost    int // tcpi_lost: segments the scoreboard marks lost (RFC 6675 IsLost, RACK, everything outstanding after an RTO)
	Retrans int // tcpi_retrans: retransmitted segments in flight (scoreboard bytes marked retransmitted / MSS)

	LastDataSent time.Duration // tcpi_last_data_sent: time since data was last sent
	LastDataRecv time.Duration // tcpi_last_data_recv: time since in-order data was last received
	LastAckRecv  time.Duration // tcpi_last_ack_recv: time since an acceptable segment (they all carry ACKs) was last received

	PMTU        int           // tcpi_pmtu: path MTU assumed (MSS + 40 bytes of IPv4 and TCP headers, 60 for IPv6; with tcp_mtu_probing's search on, the path's MTU it searches under)
	RcvSsthresh int           // tcpi_rcv_ssthresh: most we would advertise now (the window space, half the receive buffer)
	RTT         time.Duration // tcpi_rtt: smoothed RTT (RFC 6298 SRTT)
	RTTVar      time.Duration // tcpi_rttvar: RTT variation (RFC 6298 RTTVAR)
	SndSsthresh int           // tcpi_snd_ssthresh: slow-start threshold in segments; Linux's 0x7fffffff ("infinite") before a loss
	SndCwnd     int           // tcpi_snd_cwnd: congestion window in segments
	AdvMSS      int           // tcpi_advmss: the MSS we advertised
	Reordering  int           // tcpi_reordering: DupThresh (3, raised by reordering seen)

	RcvRTT   time.Duration // tcpi_rcv_rtt: the receiver's RTT estimate (rcvrtt.go; Linux rcv_rtt_est); 0 before the first sample
	RcvSpace int           // tcpi_rcv_space: most bytes the application took in one receiver RTT, what autotuning sizes the buffer from (Linux rcvq_space.space)

	TotalRetrans int // tcpi_total_retrans: segments retransmitted over the connection's life

	// Linux 6.7's RTO counts: tcpi_total_rto, every retransmission
	// timeout (SYN and SYN-ACK ones included); tcpi_total_rto_recoveries,
	// the RTO recoveries (a timeout with none before it unanswered, until
	// the Loss state ends; the SYN-ACK's timeouts of a passive open are
	// one); tcpi_total_rto_time, the time spent in them, the one in
	// progress included.
	TotalRTO           int
	TotalRTORecoveries int
	TotalRTOTime       time.Duration
	// tcpi_rehash: timeouts that moved the connection to a new flow label
	// (rehash.go; Linux sums timeout_rehash and PLB's rehashes, and
	// xdptcp has no PLB): not the SYN-ACK's of a passive open, measured
	// on Linux 6.18 (0 after one, 1 after a data timeout as well).
	Rehash int

	PacingRate    uint64 // tcpi_pacing_rate (bytes/s): BBR's, or cwnd/SRTT's under SO_MAX_PACING_RATE; 0: not pacing
	MaxPacingRate uint64 // tcpi_max_pacing_rate (bytes/s); 0: no SO_MAX_PACING_RATE

	BytesAcked    uint64 // tcpi_bytes_acked: RFC 4898 tcpEStatsAppHCThruOctetsAcked
	BytesReceived uint64 // tcpi_bytes_received: RFC 4898 tcpEStatsAppHCThruOctetsReceived
	SegsOut       int    // tcpi_segs_out: segments sent, retransmissions included (RFC 4898 tcpEStatsPerfSegsOut)
	SegsIn        int    // tcpi_segs_in: segments received (RFC 4898 tcpEStatsPerfSegsIn)

	NotsentBytes uint32        // tcpi_notsent_bytes: bytes written and never sent
	MinRTT       time.Duration // tcpi_min_rtt: smallest RTT sample of the last tcp_min_rtt_wlen seconds (0 before the first)
	DataSegsIn   int           // tcpi_data_segs_in: segments received with data
	DataSegsOut  int           // tcpi_data_segs_out: segments sent with data, retransmissions included

	DeliveryRate           uint64        // tcpi_delivery_rate (bytes/s): the latest delivery-rate sample (every controller; 0 before the first)
	DeliveryRateAppLimited bool          // tcpi_delivery_rate_app_limited: that sample was application-limited
	BusyTime               time.Duration // tcpi_busy_time: time with data queued or in flight, the two below included (Linux chrono, sendext.go)
	RwndLimited            time.Duration // tcpi_rwnd_limited: time the peer's receive window held new data back
	SndbufLimited          time.Duration // tcpi_sndbuf_limited: time the application was held back by the send buffer

	Delivered    int    // tcpi_delivered: segments delivered, SACKed or cumulatively acknowledged, each once, in MSS units (BBR: its delivery-rate sampler's count)
	DeliveredCE  int    // tcpi_delivered_ce: of those, delivered by ACKs that carried ECE (Linux tcp_count_delivered's classic-ECN count)
	BytesSent    uint64 // tcpi_bytes_sent: payload bytes sent, retransmissions included (RFC 4898 tcpEStatsPerfHCDataOctetsOut)
	BytesRetrans uint64 // tcpi_bytes_retrans: payload bytes retransmitted (RFC 4898 tcpEStatsPerfOctetsRetrans)
	DSACKDups    int    // tcpi_dsack_dups: D-SACKs received (RFC 2883)
	ReordSeen    int    // tcpi_reord_seen: reordering events seen (a fast retransmission found spurious)
	RcvOOOPack   int    // tcpi_rcv_ooopack: out-of-order segments received and queued
	SndWnd       uint32 // tcpi_snd_wnd: the peer's advertised window in bytes
	RcvWnd       uint32 // tcpi_rcv_wnd: our advertised window in bytes (right edge - RCV.NXT)

	CongestionControl string // TCP_CONGESTION: "reno", "cubic" or "bbr"

	// BBR's state (Linux INET_DIAG_BBRINFO, ss's "bbr:(...)"); zero
	// unless CongestionControl is "bbr".
	BBR BBRInfo
}

// BBRInfo is Linux's struct tcp_bbr_info, plus the state's name.
type BBRInfo struct {
	BW         uint64        // bbr_bw: the bottleneck bandwidth estimate, bytes/s
	MinRTT     time.Duration // bbr_min_rtt: the RTprop estimate
	PacingGain uint32        // bbr_pacing_gain, in 1/256 units
	CwndGain   uint32        // bbr_cwnd_gain, in 1/256 units
	Mode       string        // STARTUP, DRAIN, PROBE_BW or PROBE_RTT
}

// infoCounters are the per-connection counts TCPInfo reports that the
// connection keeps for nothing else. Plain integers (one loop owns the
// connection), updated where the layer-wide counters are.
type infoCounters struct {
	bytesSent     uint64     // payload bytes sent, retransmissions included
	bytesRetrans  uint64     // payload bytes retransmitted
	bytesAcked    uint64     // sequence space acknowledged (SND.UNA advances)
	bytesReceived uint64     // in-order payload bytes received (RCV.NXT advances)
	lastDataSent  clock.Time // last segment with data sent; 0 if none
	segsOut       uint32     // segments sent
	segsIn        uint32     // segments received
	dataSegsOut   uint32     // segments sent with data
	dataSegsIn    uint32     // segments received with data
	totalRetrans  uint32     // segments retransmitted
	delivered     uint32     // segments delivered, SACKed or acknowledged (MSS units, rounded up per ACK; countDelivered)
	deliveredCE   uint32     // of those, delivered by ACKs that carried ECE (Linux delivered_ce)
	dsackDups     uint16     // D-SACKs received (saturates)
	reordSeen     uint16     // spurious fast retransmissions (saturates)
	oooPack       uint32     // out-of-order segments queued
	rcvMSS        uint32     // largest payload received, <= rcvMSS (Linux tcp_measure_rcv_mss)
}

// lsndtime is Linux's tp->lsndtime: when a segment with payload was last
// sent, retransmissions included (tcp_event_data_sent; a FIN or an ACK
// alone does not count), or the connection's start if none was. TCP_INFO's
// last_data_sent, the restart after idle and the orphan bound's idle time
// all read it.
func (c *Conn) lsndtime() clock.Time {
	if c.ic.lastDataSent != 0 {
		return c.ic.lastDataSent
	}
	return c.created
}

// countIn counts one segment received for the connection.
func (ic *infoCounters) countIn(seg *Segment, advMSS int) {
	ic.segsIn++
	if n := len(seg.Payload); n > 0 {
		ic.dataSegsIn++
		if n > int(ic.rcvMSS) {
			ic.rcvMSS = uint32(min(n, advMSS))
		}
	}
}

// countOut counts one segment sent; rtx tells a retransmission.
func (ic *infoCounters) countOut(now clock.Time, s *OutSegment, rtx bool) {
	ic.segsOut++
	n := uint64(len(s.Payload) + len(s.Payload2))
	if rtx {
		ic.totalRetrans++
		ic.bytesRetrans += n
	}
	if n > 0 {
		ic.dataSegsOut++
		ic.bytesSent += n
		ic.lastDataSent = now
	}
}

// countAcked counts n bytes newly acknowledged; syn says the ACK covers
// our SYN, which is not counted (as in Linux, whose passive child starts
// with its SYN acknowledged).
func (ic *infoCounters) countAcked(syn bool, n int) {
	if syn {
		n--
	}
	if n > 0 {
		ic.bytesAcked += uint64(n)
	}
}

// countDelivered counts what one ACK newly delivered (deliveredBytes, our
// SYN excepted), in MSS units rounded up per ACK: tcpi_delivered and the
// TCPDelivered counter, and when the ACK carried ECE tcpi_delivered_ce and
// TCPDeliveredCE too (Linux tcp_count_delivered, tcp_newly_delivered,
// where an ACK with ECE, FLAG_ECE, counts what it delivered as CE-marked).
func (c *Conn) countDelivered(as *ackSample, syn bool) {
	n := as.deliveredBytes()
	if syn {
		n--
	}
	if n <= 0 {
		return
	}
	d := uint32((n + c.mss - 1) / max(c.mss, 1))
	c.ic.delivered += d
	st := &c.layer.stats
	st.TCPDelivered.Add(uint64(d))
	if as.ece {
		c.ic.deliveredCE += d
		st.TCPDeliveredCE.Add(uint64(d))
	}
}

func sat16(v uint16) uint16 {
	if v < 0xffff {
		v++
	}
	return v
}

// Info returns the connection's TCP_INFO (what `ss -ti` shows). It must be
// called on the connection's loop; it does not allocate.
func (c *Conn) Info() TCPInfo {
	now := c.layer.now
	mss := max(c.mss, 1)
	ic := &c.ic
	in := TCPInfo{
		Key:         c.key,
		RecvQ:       c.rcvBuf.Len(),
		SendQ:       c.sndBuf.Len(),
		SndBuf:      int(c.sndBufLim),
		WmemQueued:  c.wmemQueued(),
		RmemAlloc:   c.rcvBuf.held(),
		RcvBuf:      c.RecvBuffer(),
		State:       c.State(),
		Retransmits: uint8(min(c.nRtx, 255)),
		Probes:      uint8(min(int(c.kaProbes)+int(c.zwProbes), 255)),
		Backoff:     uint8(min(c.rtoShift(), 255)),
		RTO:         c.currentRTO(),
		ATO:         c.delAckTimeout(),
		SndMSS:      c.mss,
		AdvMSS:      int(c.rcvMSS),
		RTT:         c.rtt.srtt,
		RTTVar:      c.rtt.rttvarInfo(),
		MinRTT:      c.minRTT(),
		RcvRTT:      c.rrtt.rtt(),
		RcvSpace:    int(c.rcvSpace),
		RcvSsthresh: c.rcvCap,
		SndWnd:      c.sndWnd,

		TotalRetrans:  int(ic.totalRetrans),
		BytesAcked:    ic.bytesAcked,
		BytesReceived: ic.bytesReceived,
		SegsOut:       int(ic.segsOut),
		SegsIn:        int(ic.segsIn),
		DataSegsIn:    int(ic.dataSegsIn),
		DataSegsOut:   int(ic.dataSegsOut),
		Delivered:     int(ic.delivered),
		DeliveredCE:   int(ic.deliveredCE),
		BytesSent:     ic.bytesSent,
		BytesRetrans:  ic.bytesRetrans,
		DSACKDups:     int(ic.dsackDups),
		ReordSeen:     int(ic.reordSeen),
		RcvOOOPack:    int(ic.oooPack),
	}
	in.Timer, in.TimerIn = c.timerInfo(now)
	if c.sx != nil {
		r := &c.sx.rto
		in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = int(r.timeouts), int(r.recoveries), r.done
		in.Rehash = int(c.sx.rehashes)
		if r.since != never {
			in.TotalRTOTime += now.Sub(r.since)
		}
	}
	if c.flags&fTS != 0 {
		in.Options |= OptTimestamps
	}
	if c.flags&fSackOK != 0 {
		in.Options |= OptSACK
	}
	if c.flags&fECN != 0 {
		in.Options |= OptECN
	}
	if c.flags&fWS != 0 {
		in.Options |= OptWScale
		in.SndWscale, in.RcvWscale = c.sndShift, c.rcvShift
	}
	if c.state.synchronized() {
		in.SndMSS = c.effMSS()
		in.PMTU = c.mss + headerOverhead(c.key)
		if ms := c.mtuSearch(); ms != nil {
			in.PMTU = int(ms.pmtu) // the path's, not the search's MSS (Linux icsk_pmtu_cookie)
		}
		in.Reordering = 3 + int(c.reordering) // Linux tp->reordering (DupThresh before its half-flight bound)
		if c.rcvNxt.LessThan(c.rcvAdv) {
			in.RcvWnd = uint32(c.rcvAdv.Sub(c.rcvNxt))
		}
	}
	// Linux tcp_initialize_rcv_mss starts at min(advmss, mss, 536);
	// tcp_measure_rcv_mss raises it to the largest segment seen.
	in.RcvMSS = max(int(ic.rcvMSS), min(int(c.rcvMSS), mss, 536))
	flight := 0 // Linux packets_out: sent and not acknowledged
	if c.state.synchronized() {
		flight = c.flight()
	}
	in.Unacked = (flight + mss - 1) / mss
	sacked, lost, retrans := 0, 0, 0
	if q := c.tq; q != nil {
		sacked, lost, retrans = q.sacked, q.lost, q.retrans
	}
	// The scoreboard counts bytes; tcp_info counts segments.
	in.Sacked = (sacked + mss - 1) / mss
	in.Lost = (lost + mss - 1) / mss
	in.Retrans = (retrans + mss - 1) / mss
	switch {
	case c.flags&fInRecovery != 0:
		in.CAState = CARecovery
	case c.nRtx > 0 || lost > 0:
		in.CAState = CALoss // after an RTO: everything outstanding marked lost
	case c.flags&fInCWR != 0:
		in.CAState = CACWR // window reduced for an ECN echo (RFC 3168 §6.1.2)
	case c.dupAcks > 0 || sacked > 0:
		in.CAState = CADisorder
	}
	if c.cc != nil {
		in.SndCwnd = c.cc.window() / mss
		in.SndSsthresh = 0x7fffffff // Linux TCP_INFINITE_SSTHRESH
		if ss := c.cc.ssthreshBytes(); ss < 1<<30 {
			in.SndSsthresh = ss / mss
		}
	}
	if c.cc != nil {
		in.CongestionControl = c.cc.name()
	}
	in.PacingRate = c.pacingRate()
	in.MaxPacingRate = uint64(c.maxPacing)
	if r := c.rater(); r != nil {
		in.DeliveryRate, in.DeliveryRateAppLimited = r.lastRate()
	}
	if b := c.rateCtl(); b != nil {
		in.Delivered = int((b.rs.delivered + uint64(mss) - 1) / uint64(mss))
		in.BBR = BBRInfo{BW: b.bw.get(), MinRTT: b.minRTT, PacingGain: b.pacingGain, CwndGain: b.cwndGain, Mode: b.mode.String()}
	}
	if t := c.lsndtime(); t != 0 {
		in.LastDataSent = now.Sub(t)
	}
	if c.lastDataAt != 0 {
		in.LastDataRecv = now.Sub(c.lastDataAt)
	} else if c.created != 0 {
		in.LastDataRecv = now.Sub(c.created)
	}
	if c.lastRecv != 0 {
		in.LastAckRecv = now.Sub(c.lastRecv)
	}
	in.NotsentBytes = c.notsentBytes()
	in.BusyTime, in.RwndLimited, in.SndbufLimited = c.chronoTimes(now)
	return in
}

// timerInfo is the timer `ss -o` shows: retransmission (or SYN
// retransmission), persist, keepalive, or the FIN-WAIT-2 timeout (which
// Linux lists as timewait).
func (c *Conn) timerInfo(now clock.Time) (string, time.Duration) {
	var name string
	var at clock.Time
	switch {
	case c.rtoAt != never:
		name, at = "on", c.rtoAt
	case c.synAt != never:
		name, at = "on", c.synAt
	case c.persistAt != never:
		name, at = "persist", c.persistAt
	case c.kaAt != never:
		name, at = "keepalive", c.kaAt
	case c.fw2At != never:
		name, at = "timewait", c.fw2At
	default:
		return "", 0
	}
	return name, max(at.Sub(now), 0)
}

// summary is what a listing (`ss -tan`, /debug/conns) shows.
func (c *Conn) summary() ConnInfo {
	in := ConnInfo{
		State: c.state,
		Key:   c.key,
		SendQ: c.sndBuf.Len(),
		RecvQ: c.rcvBuf.Len(),
		RTT:   c.rtt.srtt,
		RTO:   c.currentRTO(),
	}
	if c.cc != nil {
		in.Cwnd = c.cc.window() / max(c.mss, 1)
	}
	in.Timer, in.TimerIn = c.timerInfo(c.layer.now)
	return in
}

package tcp

import (
	"strings"
	"sync/atomic"
)

// Stats are the counters of one loop's TCP layer, named after Linux's nstat
// counters (groups "Tcp" and "TcpExt" of /proc/net/snmp and
// /proc/net/netstat). Single writer (the loop, with Add(1)), read atomically
// by anyone. Every field is a counter except CurrEstab, a gauge (decrement
// it with CurrEstab.Add(^uint64(0))).
type Stats struct {
	// Tcp group (RFC 4022 MIB names).
	ActiveOpens  atomic.Uint64 // CLOSED -> SYN-SENT transitions
	PassiveOpens atomic.Uint64 // connections created by a listener; Linux counts when the final ACK creates the child (tcp_create_openreq_child), not at the SYN
	AttemptFails atomic.Uint64 // SYN-SENT/SYN-RECEIVED -> CLOSED, SYN-RECEIVED -> LISTEN
	EstabResets  atomic.Uint64 // ESTABLISHED/CLOSE-WAIT -> CLOSED by RST
	CurrEstab    atomic.Uint64 // gauge: connections in ESTABLISHED or CLOSE-WAIT (Linux tcp_set_state: +1 entering ESTABLISHED, -1 leaving ESTABLISHED or CLOSE-WAIT for a state other than CLOSE-WAIT)
	InSegs       atomic.Uint64 // segments received, including errors
	OutSegs      atomic.Uint64 // segments sent, excluding retransmissions
	RetransSegs  atomic.Uint64 // segments retransmitted
	InErrs       atomic.Uint64 // segments received in error
	OutRsts      atomic.Uint64 // RSTs sent
	InCsumErrors atomic.Uint64 // segments with a bad checksum

	// TcpExt group (Linux-specific).
	EmbryonicRsts          atomic.Uint64 // RST received in SYN-RECEIVED
	ListenOverflows        atomic.Uint64 // handshake completed with the accept queue full
	ListenDrops            atomic.Uint64 // SYN or ACK to a listener dropped, for any reason
	SyncookiesSent         atomic.Uint64 // SYN cookies sent
	SyncookiesRecv         atomic.Uint64 // valid SYN cookies received
	SyncookiesFailed       atomic.Uint64 // invalid SYN cookies received
	TCPReqQFullDoCookies   atomic.Uint64 // SYN queue full, answered with a cookie
	TCPReqQFullDrop        atomic.Uint64 // SYN queue full, SYN dropped
	TW                     atomic.Uint64 // TIME-WAIT entries that expired
	TCPTimeWaitOverflow    atomic.Uint64 // tcp_max_tw_buckets reached: TIME-WAIT skipped
	TCPAbortOnData         atomic.Uint64 // RST sent: data arrived after close, or close with SO_LINGER 0 (Linux __tcp_close)
	TCPAbortOnClose        atomic.Uint64 // RST sent: closed with unread data (RFC 2525 §2.17)
	TCPAbortOnTimeout      atomic.Uint64 // dropped: retransmissions or keepalives exhausted
	TCPAbortOnMemory       atomic.Uint64 // an orphan reset or dropped: too many orphans (tcp_max_orphans) or tcp_mem[2] passed (Linux tcp_out_of_resources, tcp_close)
	TCPAbortOnLinger       atomic.Uint64 // an orphan with TCP_LINGER2 < 0 reset in FIN-WAIT-2 by its close (Linux tcp_close)
	TCPTimeouts            atomic.Uint64 // retransmission timer expirations
	TCPSackRecoveryFail    atomic.Uint64 // first timeouts in a row during a fast recovery with SACK
	TCPRenoRecoveryFail    atomic.Uint64 // the same without SACK
	TCPLossFailures        atomic.Uint64 // first timeouts in a row in the slow start after an earlier timeout (Linux's Loss state)
	TCPSackFailures        atomic.Uint64 // first timeouts in a row after SACKs below the recovery threshold (Linux's Disorder state)
	TCPRenoFailures        atomic.Uint64 // the same after duplicate ACKs, without SACK
	TCPSynRetrans          atomic.Uint64 // SYN and SYN-ACK retransmissions
	TCPKeepAlive           atomic.Uint64 // keepalive probes sent
	TCPFastRetrans         atomic.Uint64 // segments the loss-recovery loop resent in fast recovery (Linux tcp_xmit_retransmit_queue)
	TCPSlowStartRetrans    atomic.Uint64 // segments it resent outside fast recovery: after a timeout (not the timer's own resend of the head), a packet-too-big or a lost MTU probe
	TCPSackRecovery        atomic.Uint64 // recoveries entered with SACK
	TCPRenoRecovery        atomic.Uint64 // recoveries entered without SACK
	TCPDSACKRecv           atomic.Uint64 // D-SACKs received (RFC 2883)
	TCPDSACKOldSent        atomic.Uint64 // D-SACKs sent for old duplicate data
	TCPDSACKOfoSent        atomic.Uint64 // D-SACKs sent for out-of-order duplicate data
	TCPSpuriousRTOs        atomic.Uint64 // RTOs F-RTO found spurious (RFC 5682; Linux counts no other detector's here)
	TCPFullUndo            atomic.Uint64 // fast recoveries undone: timestamps showed the retransmission spurious (RFC 3522/4015)
	TCPPartialUndo         atomic.Uint64 // fast recoveries undone on a partial ACK: timestamps showed the retransmissions it covers spurious, none other in flight (Linux tcp_try_undo_partial)
	TCPLossUndo            atomic.Uint64 // RTO recoveries undone, by F-RTO, timestamps (RFC 3522/4015) or D-SACKs while the Loss state lasts
	TCPDSACKUndo           atomic.Uint64 // fast recoveries, and RTO recoveries after the Loss state ended, undone because D-SACKs reported every retransmission a duplicate (RFC 2883 §4, RFC 3708)
	TCPSACKReneging        atomic.Uint64 // timeouts that found the data at SND.UNA SACKed and forgot the SACKs (the receiver reneged, RFC 2018 §8)
	TcpTimeoutRehash       atomic.Uint64 // timeouts (SYN or data) that moved the connection to a new flow label (txrehash; Linux's spelling)
	TcpDuplicateDataRehash atomic.Uint64 // duplicates of received data under a new peer flow label that moved the connection to a new one (txrehash)
	TCPLostRetransmit      atomic.Uint64 // retransmissions found lost (SACKs for later data) and sent again before the RTO
	TCPHystartTrainDetect  atomic.Uint64 // slow starts ended by HyStart's ACK train (hystart.go)
	TCPHystartTrainCwnd    atomic.Uint64 // sum of cwnd (segments) at those ends
	TCPHystartDelayDetect  atomic.Uint64 // slow starts ended by HyStart's delay rise (hystart.go)
	TCPHystartDelayCwnd    atomic.Uint64 // sum of cwnd (segments) at those ends
	TCPDelivered           atomic.Uint64 // segments delivered, SACKed or acknowledged, each once (MSS units per ACK; tcpi_delivered)
	TCPDeliveredCE         atomic.Uint64 // of those, delivered by ACKs that carried ECE (tcpi_delivered_ce)
	TCPECNReduce           atomic.Uint64 // congestion window reductions for an ECN echo (RFC 3168 §6.1.2); xdptcp\'s name, Linux counts none
	TCPLossProbes          atomic.Uint64 // tail loss probes sent (RFC 8985)
	TCPLossProbeRecovery   atomic.Uint64 // losses repaired by a tail loss probe
	TCPSACKReorder         atomic.Uint64 // reordering detected through SACK
	TCPOFOQueue            atomic.Uint64 // segments put in the out-of-order queue
	TCPOFODrop             atomic.Uint64 // out-of-order segments dropped (no room)
	TCPOFOMerge            atomic.Uint64 // out-of-order segments overlapping queued data
	TCPRcvQDrop            atomic.Uint64 // in-order segments dropped: receive buffer full
	TCPMemoryPressures     atomic.Uint64 // times buffer memory entered pressure (tcp_mem[1])
	PruneCalled            atomic.Uint64 // a segment found no room (range bound or tcp_mem): the out-of-order queue was pruned or the segment dropped
	RcvPruned              atomic.Uint64 // segments dropped for memory even after pruning
	OfoPruned              atomic.Uint64 // times out-of-order data was dropped to make room (Linux tcp_prune_ofo_queue)
	TCPChallengeACK        atomic.Uint64 // challenge ACKs sent (RFC 5961 §3, §4, §5)
	PAWSEstab              atomic.Uint64 // segments rejected by PAWS (RFC 7323 §5)
	TCPACKSkippedSeq       atomic.Uint64 // rate-limited ACK not sent for an out-of-window segment
	TCPACKSkippedSynRecv   atomic.Uint64 // SYN-ACK not resent for a duplicate SYN within 500 ms of the last answer
	TCPACKSkippedPAWS      atomic.Uint64 // rate-limited ACK not sent for a segment without data that PAWS rejected
	DelayedACKLost         atomic.Uint64 // segments whose data was all received before: our ACK was lost or late (then D-SACK and quick ACKs)
	TCPACKSkippedChallenge atomic.Uint64 // challenge ACK not sent: rate limit (RFC 5961 §7)
	TCPACKSkippedTimeWait  atomic.Uint64 // rate-limited ACK not sent in TIME-WAIT for a segment not at RCV.NXT
	TCPWinProbe            atomic.Uint64 // zero-window probes sent
	DelayedACKs            atomic.Uint64 // delayed ACKs sent by the delayed-ACK timer
	TCPAckCompressed       atomic.Uint64 // ACKs for out-of-order data not sent: a compressed SACK stood for them (compack.go)
	TCPZeroWindowDrop      atomic.Uint64 // segments dropped: our window was zero and nothing was held
	BeyondWindow           atomic.Uint64 // segments refused at the window's right edge: starting beyond it, or crossing it while data waits to be read (Linux 6.17+)
	TCPToZeroWindowAdv     atomic.Uint64 // our advertised window went to zero
	TCPFromZeroWindowAdv   atomic.Uint64 // our advertised window left zero
	TCPWantZeroWindowAdv   atomic.Uint64 // window would have shrunk to zero
	TCPOrigDataSent        atomic.Uint64 // segments with new data sent
	TCPRetransFail         atomic.Uint64 // retransmissions that could not be sent
	OutOfWindowIcmps       atomic.Uint64 // ICMP errors for out-of-window sequence numbers
	TCPMTUPBlackHole       atomic.Uint64 // tcp_mtu_probing lowered a connection's MSS after timeouts (xdptcp's; Linux counts no such event)
	TCPMTUPFail            atomic.Uint64 // MTU probes lost (RFC 4821): the search's top came down
	TCPMTUPSuccess         atomic.Uint64 // MTU probes acknowledged: the connection's MSS went up
}

// StatDesc describes one field of Stats.
type StatDesc struct {
	Group string // "Tcp" or "TcpExt"
	Name  string // Linux nstat name, e.g. "ListenOverflows"
	Gauge bool   // CurrEstab only
	field func(s *Stats) *atomic.Uint64
}

// Value returns the field's value in s.
func (d *StatDesc) Value(s *Stats) uint64 { return d.field(s).Load() }

// Counter returns the field in s, for a caller that holds a StatDesc (for
// example one looked up by name in a test).
func (d *StatDesc) Counter(s *Stats) *atomic.Uint64 { return d.field(s) }

func tcpStat(name string, f func(s *Stats) *atomic.Uint64) StatDesc {
	return StatDesc{Group: "Tcp", Name: name, field: f}
}

func extStat(name string, f func(s *Stats) *atomic.Uint64) StatDesc {
	return StatDesc{Group: "TcpExt", Name: name, field: f}
}

// statDescs lists every field of Stats in declaration order; a test checks
// it against the struct with reflection.
var statDescs = []StatDesc{
	tcpStat("ActiveOpens", func(s *Stats) *atomic.Uint64 { return &s.ActiveOpens }),
	tcpStat("PassiveOpens", func(s *Stats) *atomic.Uint64 { return &s.PassiveOpens }),
	tcpStat("AttemptFails", func(s *Stats) *atomic.Uint64 { return &s.AttemptFails }),
	tcpStat("EstabResets", func(s *Stats) *atomic.Uint64 { return &s.EstabResets }),
	{Group: "Tcp", Name: "CurrEstab", Gauge: true, field: func(s *Stats) *atomic.Uint64 { return &s.CurrEstab }},
	tcpStat("InSegs", func(s *Stats) *atomic.Uint64 { return &s.InSegs }),
	tcpStat("OutSegs", func(s *Stats) *atomic.Uint64 { return &s.OutSegs }),
	tcpStat("RetransSegs", func(s *Stats) *atomic.Uint64 { return &s.RetransSegs }),
	tcpStat("InErrs", func(s *Stats) *atomic.Uint64 { return &s.InErrs }),
	tcpStat("OutRsts", func(s *Stats) *atomic.Uint64 { return &s.OutRsts }),
	tcpStat("InCsumErrors", func(s *Stats) *atomic.Uint64 { return &s.InCsumErrors }),

	extStat("EmbryonicRsts", func(s *Stats) *atomic.Uint64 { return &s.EmbryonicRsts }),
	extStat("ListenOverflows", func(s *Stats) *atomic.Uint64 { return &s.ListenOverflows }),
	extStat("ListenDrops", func(s *Stats) *atomic.Uint64 { return &s.ListenDrops }),
	extStat("SyncookiesSent", func(s *Stats) *atomic.Uint64 { return &s.SyncookiesSent }),
	extStat("SyncookiesRecv", func(s *Stats) *atomic.Uint64 { return &s.SyncookiesRecv }),
	extStat("SyncookiesFailed", func(s *Stats) *atomic.Uint64 { return &s.SyncookiesFailed }),
	extStat("TCPReqQFullDoCookies", func(s *Stats) *atomic.Uint64 { return &s.TCPReqQFullDoCookies }),
	extStat("TCPReqQFullDrop", func(s *Stats) *atomic.Uint64 { return &s.TCPReqQFullDrop }),
	extStat("TW", func(s *Stats) *atomic.Uint64 { return &s.TW }),
	extStat("TCPTimeWaitOverflow", func(s *Stats) *atomic.Uint64 { return &s.TCPTimeWaitOverflow }),
	extStat("TCPAbortOnData", func(s *Stats) *atomic.Uint64 { return &s.TCPAbortOnData }),
	extStat("TCPAbortOnClose", func(s *Stats) *atomic.Uint64 { return &s.TCPAbortOnClose }),
	extStat("TCPAbortOnTimeout", func(s *Stats) *atomic.Uint64 { return &s.TCPAbortOnTimeout }),
	extStat("TCPAbortOnMemory", func(s *Stats) *atomic.Uint64 { return &s.TCPAbortOnMemory }),
	extStat("TCPAbortOnLinger", func(s *Stats) *atomic.Uint64 { return &s.TCPAbortOnLinger }),
	extStat("TCPTimeouts", func(s *Stats) *atomic.Uint64 { return &s.TCPTimeouts }),
	extStat("TCPSackRecoveryFail", func(s *Stats) *atomic.Uint64 { return &s.TCPSackRecoveryFail }),
	extStat("TCPRenoRecoveryFail", func(s *Stats) *atomic.Uint64 { return &s.TCPRenoRecoveryFail }),
	extStat("TCPLossFailures", func(s *Stats) *atomic.Uint64 { return &s.TCPLossFailures }),
	extStat("TCPSackFailures", func(s *Stats) *atomic.Uint64 { return &s.TCPSackFailures }),
	extStat("TCPRenoFailures", func(s *Stats) *atomic.Uint64 { return &s.TCPRenoFailures }),
	extStat("TCPSynRetrans", func(s *Stats) *atomic.Uint64 { return &s.TCPSynRetrans }),
	extStat("TCPKeepAlive", func(s *Stats) *atomic.Uint64 { return &s.TCPKeepAlive }),
	extStat("TCPFastRetrans", func(s *Stats) *atomic.Uint64 { return &s.TCPFastRetrans }),
	extStat("TCPSlowStartRetrans", func(s *Stats) *atomic.Uint64 { return &s.TCPSlowStartRetrans }),
	extStat("TCPSackRecovery", func(s *Stats) *atomic.Uint64 { return &s.TCPSackRecovery }),
	extStat("TCPRenoRecovery", func(s *Stats) *atomic.Uint64 { return &s.TCPRenoRecovery }),
	extStat("TCPDSACKRecv", func(s *Stats) *atomic.Uint64 { return &s.TCPDSACKRecv }),
	extStat("TCPDSACKOldSent", func(s *Stats) *atomic.Uint64 { return &s.TCPDSACKOldSent }),
	extStat("TCPDSACKOfoSent", func(s *Stats) *atomic.Uint64 { return &s.TCPDSACKOfoSent }),
	extStat("TCPSpuriousRTOs", func(s *Stats) *atomic.Uint64 { return &s.TCPSpuriousRTOs }),
	extStat("TCPFullUndo", func(s *Stats) *atomic.Uint64 { return &s.TCPFullUndo }),
	extStat("TCPPartialUndo", func(s *Stats) *atomic.Uint64 { return &s.TCPPartialUndo }),
	extStat("TCPLossUndo", func(s *Stats) *atomic.Uint64 { return &s.TCPLossUndo }),
	extStat("TCPDSACKUndo", func(s *Stats) *atomic.Uint64 { return &s.TCPDSACKUndo }),
	extStat("TCPSACKReneging", func(s *Stats) *atomic.Uint64 { return &s.TCPSACKReneging }),
	extStat("TcpTimeoutRehash", func(s *Stats) *atomic.Uint64 { return &s.TcpTimeoutRehash }),
	extStat("TcpDuplicateDataRehash", func(s *Stats) *atomic.Uint64 { return &s.TcpDuplicateDataRehash }),
	extStat("TCPLostRetransmit", func(s *Stats) *atomic.Uint64 { return &s.TCPLostRetransmit }),
	extStat("TCPHystartTrainDetect", func(s *Stats) *atomic.Uint64 { return &s.TCPHystartTrainDetect }),
	extStat("TCPHystartTrainCwnd", func(s *Stats) *atomic.Uint64 { return &s.TCPHystartTrainCwnd }),
	extStat("TCPHystartDelayDetect", func(s *Stats) *atomic.Uint64 { return &s.TCPHystartDelayDetect }),
	extStat("TCPHystartDelayCwnd", func(s *Stats) *atomic.Uint64 { return &s.TCPHystartDelayCwnd }),
	extStat("TCPDelivered", func(s *Stats) *atomic.Uint64 { return &s.TCPDelivered }),
	extStat("TCPDeliveredCE", func(s *Stats) *atomic.Uint64 { return &s.TCPDeliveredCE }),
	extStat("TCPECNReduce", func(s *Stats) *atomic.Uint64 { return &s.TCPECNReduce }),
	extStat("TCPLossProbes", func(s *Stats) *atomic.Uint64 { return &s.TCPLossProbes }),
	extStat("TCPLossProbeRecovery", func(s *Stats) *atomic.Uint64 { return &s.TCPLossProbeRecovery }),
	extStat("TCPSACKReorder", func(s *Stats) *atomic.Uint64 { return &s.TCPSACKReorder }),
	extStat("TCPOFOQueue", func(s *Stats) *atomic.Uint64 { return &s.TCPOFOQueue }),
	extStat("TCPOFODrop", func(s *Stats) *atomic.Uint64 { return &s.TCPOFODrop }),
	extStat("TCPOFOMerge", func(s *Stats) *atomic.Uint64 { return &s.TCPOFOMerge }),
	extStat("TCPRcvQDrop", func(s *Stats) *atomic.Uint64 { return &s.TCPRcvQDrop }),
	extStat("TCPMemoryPressures", func(s *Stats) *atomic.Uint64 { return &s.TCPMemoryPressures }),
	extStat("PruneCalled", func(s *Stats) *atomic.Uint64 { return &s.PruneCalled }),
	extStat("RcvPruned", func(s *Stats) *atomic.Uint64 { return &s.RcvPruned }),
	extStat("OfoPruned", func(s *Stats) *atomic.Uint64 { return &s.OfoPruned }),
	extStat("TCPChallengeACK", func(s *Stats) *atomic.Uint64 { return &s.TCPChallengeACK }),
	extStat("PAWSEstab", func(s *Stats) *atomic.Uint64 { return &s.PAWSEstab }),
	extStat("TCPACKSkippedSeq", func(s *Stats) *atomic.Uint64 { return &s.TCPACKSkippedSeq }),
	extStat("TCPACKSkippedSynRecv", func(s *Stats) *atomic.Uint64 { return &s.TCPACKSkippedSynRecv }),
	extStat("TCPACKSkippedPAWS", func(s *Stats) *atomic.Uint64 { return &s.TCPACKSkippedPAWS }),
	extStat("DelayedACKLost", func(s *Stats) *atomic.Uint64 { return &s.DelayedACKLost }),
	extStat("TCPACKSkippedChallenge", func(s *Stats) *atomic.Uint64 { return &s.TCPACKSkippedChallenge }),
	extStat("TCPACKSkippedTimeWait", func(s *Stats) *atomic.Uint64 { return &s.TCPACKSkippedTimeWait }),
	extStat("TCPWinProbe", func(s *Stats) *atomic.Uint64 { return &s.TCPWinProbe }),
	extStat("DelayedACKs", func(s *Stats) *atomic.Uint64 { return &s.DelayedACKs }),
	extStat("TCPAckCompressed", func(s *Stats) *atomic.Uint64 { return &s.TCPAckCompressed }),
	extStat("TCPZeroWindowDrop", func(s *Stats) *atomic.Uint64 { return &s.TCPZeroWindowDrop }),
	extStat("BeyondWindow", func(s *Stats) *atomic.Uint64 { return &s.BeyondWindow }),
	extStat("TCPToZeroWindowAdv", func(s *Stats) *atomic.Uint64 { return &s.TCPToZeroWindowAdv }),
	extStat("TCPFromZeroWindowAdv", func(s *Stats) *atomic.Uint64 { return &s.TCPFromZeroWindowAdv }),
	extStat("TCPWantZeroWindowAdv", func(s *Stats) *atomic.Uint64 { return &s.TCPWantZeroWindowAdv }),
	extStat("TCPOrigDataSent", func(s *Stats) *atomic.Uint64 { return &s.TCPOrigDataSent }),
	extStat("TCPRetransFail", func(s *Stats) *atomic.Uint64 { return &s.TCPRetransFail }),
	extStat("OutOfWindowIcmps", func(s *Stats) *atomic.Uint64 { return &s.OutOfWindowIcmps }),
	extStat("TCPMTUPBlackHole", func(s *Stats) *atomic.Uint64 { return &s.TCPMTUPBlackHole }),
	extStat("TCPMTUPFail", func(s *Stats) *atomic.Uint64 { return &s.TCPMTUPFail }),
	extStat("TCPMTUPSuccess", func(s *Stats) *atomic.Uint64 { return &s.TCPMTUPSuccess }),
}

// StatDescs returns the description of every Stats field, in declaration
// order (Tcp first, then TcpExt). The slice is shared: do not modify it.
func StatDescs() []StatDesc { return statDescs }

// LookupStat returns the description of the field with nstat name name
// ("ListenOverflows"), or nil.
func LookupStat(name string) *StatDesc {
	for i := range statDescs {
		if statDescs[i].Name == name {
			return &statDescs[i]
		}
	}
	return nil
}

// Each calls fn for every counter with its Linux group ("Tcp" or "TcpExt"),
// nstat name, current value and whether it is a gauge. No reflection, no
// allocation.
func (s *Stats) Each(fn func(group, name string, value uint64, gauge bool)) {
	for i := range statDescs {
		d := &statDescs[i]
		fn(d.Group, d.Name, d.field(s).Load(), d.Gauge)
	}
}

// Add adds every counter (and the gauge) of other to s, to sum the loops'
// stats. Not atomic as a whole: each field is added atomically.
func (s *Stats) Add(other *Stats) {
	for i := range statDescs {
		d := &statDescs[i]
		d.field(s).Add(d.field(other).Load())
	}
}

// SnakeName turns an nstat name into the snake_case used in metric names:
//
//  1. a leading "TCP" followed by an upper-case letter is a word of its own
//     ("TCPDSACKRecv" -> "tcp", "DSACKRecv");
//  2. a new word starts at an upper-case letter that follows a lower-case
//     letter or a digit ("ListenOverflows" -> "listen_overflows"), or that
//     follows an upper-case letter and precedes a lower-case one (the end of
//     an acronym: "PAWSEstab" -> "paws_estab"), except that a plural "s"
//     ending an acronym stays with it ("DelayedACKs" -> "delayed_acks");
//  3. words are lower-cased and joined with "_".
//
// So "TCPReqQFullDoCookies" -> "tcp_req_q_full_do_cookies",
// "TCPTimeWaitOverflow" -> "tcp_time_wait_overflow", "TW" -> "tw".
func SnakeName(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 8)
	start := 0
	if len(name) > 3 && name[:3] == "TCP" && snakeIsUpper(name[3]) {
		b.WriteString("tcp_")
		start = 3
	}
	for i := start; i < len(name); i++ {
		c := name[i]
		if i > start && snakeIsUpper(c) {
			p := name[i-1]
			if snakeIsLower(p) || snakeIsDigit(p) || (snakeIsUpper(p) && i+1 < len(name) && snakeIsLower(name[i+1]) && !snakePluralS(name, i+1)) {
				b.WriteByte('_')
			}
		}
		if snakeIsUpper(c) {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// MetricName is the Prometheus name of a counter: xdptcp_tcp_<snake>_total
// for group "Tcp", xdptcp_tcp_ext_<snake>_total for "TcpExt"; gauges have
// no "_total" suffix.
func MetricName(group, name string, gauge bool) string {
	prefix := "xdptcp_tcp_"
	if group == "TcpExt" {
		prefix = "xdptcp_tcp_ext_"
	}
	n := prefix + SnakeName(name)
	if !gauge {
		n += "_total"
	}
	return n
}

// snakePluralS reports whether name[i] is an "s" that ends a word (end of
// name or an upper-case letter next).
func snakePluralS(name string, i int) bool {
	return name[i] == 's' && (i+1 == len(name) || snakeIsUpper(name[i+1]))
}

func snakeIsUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func snakeIsLower(c byte) bool { return c >= 'a' && c <= 'z' }
func snakeIsDigit(c byte) bool { return c >= '0' && c <= '9' }

package pdhost

import (
	"encoding/binary"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// Linux's TCP states as tcp_info and /proc number them (include/net/tcp_states.h).
var linuxState = [...]uint8{
	tcp.StateClosed:      7,
	tcp.StateListen:      10,
	tcp.StateSynSent:     2,
	tcp.StateSynReceived: 3,
	tcp.StateEstablished: 1,
	tcp.StateFinWait1:    4,
	tcp.StateFinWait2:    5,
	tcp.StateCloseWait:   8,
	tcp.StateClosing:     11,
	tcp.StateLastAck:     9,
	tcp.StateTimeWait:    6,
}

// tcpInfoLen bounds the struct tcp_info we return: Linux 6.18's layout
// ends at tcpi_total_rto_time (248 bytes); a caller asking for more (a
// newer packetdrill's struct) gets zeros after it, as from an older kernel.
const tcpInfoLen = 512

// tcpInfo writes in (nil: a socket without a connection) into b in the
// layout of Linux's struct tcp_info (include/uapi/linux/tcp.h), native
// endian, times in Linux's units (µs, the last_* fields ms). Fields
// xdptcp has no mechanism for are zero (see tcp.TCPInfo).
func tcpInfo(b []byte, s *sock, in *tcp.TCPInfo) {
	clear(b)
	ne := binary.NativeEndian
	u32 := func(off int, v int64) { ne.PutUint32(b[off:], uint32(v)) }
	u64 := func(off int, v uint64) { ne.PutUint64(b[off:], v) }
	us := func(d time.Duration) int64 { return int64(d / time.Microsecond) }
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	switch {
	case s.ln != nil:
		b[0] = linuxState[tcp.StateListen]
		return
	case in == nil:
		b[0] = linuxState[tcp.StateClosed]
		return
	}
	if int(in.State) < len(linuxState) {
		b[0] = linuxState[in.State]
	}
	b[1] = uint8(in.CAState)
	b[2] = in.Retransmits
	b[3] = in.Probes
	b[4] = in.Backoff
	b[5] = in.Options
	b[6] = in.SndWscale&0xf | in.RcvWscale<<4 // tcpi_snd_wscale:4, tcpi_rcv_wscale:4
	if in.DeliveryRateAppLimited {
		b[7] = 1
	}
	u32(8, us(in.RTO))
	u32(12, us(in.ATO))
	u32(16, int64(in.SndMSS))
	u32(20, int64(in.RcvMSS))
	u32(24, int64(in.Unacked))
	u32(28, int64(in.Sacked))
	u32(32, int64(in.Lost))
	u32(36, int64(in.Retrans))
	// 40 tcpi_fackets: 0 (Linux too since FACK was removed)
	u32(44, ms(in.LastDataSent))
	// 48 tcpi_last_ack_sent: "not remembered" (0) in Linux too
	u32(52, ms(in.LastDataRecv))
	u32(56, ms(in.LastAckRecv))
	u32(60, int64(in.PMTU))
	u32(64, int64(in.RcvSsthresh))
	u32(68, us(in.RTT))
	u32(72, us(in.RTTVar))
	u32(76, int64(in.SndSsthresh))
	u32(80, int64(in.SndCwnd))
	u32(84, int64(in.AdvMSS))
	u32(88, int64(in.Reordering))
	u32(92, us(in.RcvRTT))
	u32(96, int64(in.RcvSpace))
	u32(100, int64(in.TotalRetrans))
	u64(104, in.PacingRate)
	u64(112, in.MaxPacingRate)
	u64(120, in.BytesAcked)
	u64(128, in.BytesReceived)
	u32(136, int64(in.SegsOut))
	u32(140, int64(in.SegsIn))
	u32(144, int64(in.NotsentBytes))
	u32(148, us(in.MinRTT))
	u32(152, int64(in.DataSegsIn))
	u32(156, int64(in.DataSegsOut))
	u64(160, in.DeliveryRate)
	u64(168, uint64(us(in.BusyTime)))
	u64(176, uint64(us(in.RwndLimited)))
	u64(184, uint64(us(in.SndbufLimited)))
	u32(192, int64(in.Delivered))
	u32(196, int64(in.DeliveredCE))
	u64(200, in.BytesSent)
	u64(208, in.BytesRetrans)
	u32(216, int64(in.DSACKDups))
	u32(220, int64(in.ReordSeen))
	u32(224, int64(in.RcvOOOPack))
	u32(228, int64(in.SndWnd))
	u32(232, int64(in.RcvWnd))
	u32(236, int64(in.Rehash))
	ne.PutUint16(b[240:], uint16(min(in.TotalRTO, 0xffff)))
	ne.PutUint16(b[242:], uint16(min(in.TotalRTORecoveries, 0xffff)))
	u32(244, ms(in.TotalRTOTime))
}

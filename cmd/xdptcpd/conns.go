package main

// /debug/conns and `xdptcpd ss`: connections like `ss -tan`, with
// `-i` like `ss -ti` (TCP_INFO), one bounded page at a time.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// parseState takes an RFC 9293 state name, any case, with or without
// dashes ("TIME-WAIT", "timewait", "established").
func parseState(name string) (tcp.State, bool) {
	norm := func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "")) }
	for s := tcp.StateClosed; s <= tcp.StateTimeWait; s++ {
		if norm(s.String()) == norm(name) {
			return s, true
		}
	}
	return 0, false
}

// parseKey parses flowtable.Key.String()'s form, the "after" cursor of a
// page: "L.L.L.L:P-R.R.R.R:P" or "[L6]:P-[R6]:P".
func parseKey(s string) (flowtable.Key, error) {
	var k flowtable.Key
	l, r, ok := strings.Cut(s, "-")
	if !ok {
		return k, fmt.Errorf("bad 4-tuple %q (want LOCAL:PORT-REMOTE:PORT)", s)
	}
	la, err1 := netip.ParseAddrPort(l)
	ra, err2 := netip.ParseAddrPort(r)
	if err1 != nil || err2 != nil {
		return k, fmt.Errorf("bad 4-tuple %q (want LOCAL:PORT-REMOTE:PORT)", s)
	}
	k.LocalAddr, k.LocalPort = flowtable.AddrFromNetip(la.Addr()), la.Port()
	k.RemoteAddr, k.RemotePort = flowtable.AddrFromNetip(ra.Addr()), ra.Port()
	return k, nil
}

// serveConns answers /debug/conns: ?state=NAME, ?limit=N (default 1000,
// at most 100000), ?after=L:P-R:P (the page after that 4-tuple; the
// X-Next-After header names the cursor of the next page when there is
// one), ?info=1 (TCP_INFO, as ss -ti), ?format=json.
func serveConns(w http.ResponseWriter, r *http.Request, st *xdptcp.Stack) {
	q := r.URL.Query()
	var o xdptcp.ListOptions
	if v := q.Get("state"); v != "" {
		s, ok := parseState(v)
		if !ok {
			http.Error(w, "unknown state "+strconv.Quote(v), http.StatusBadRequest)
			return
		}
		o.ByState, o.State = true, s
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > xdptcp.MaxListLimit {
			http.Error(w, fmt.Sprintf("limit must be 1..%d", xdptcp.MaxListLimit), http.StatusBadRequest)
			return
		}
		o.Limit = n
	}
	if v := q.Get("after"); v != "" {
		k, err := parseKey(v)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.After = k
	}
	o.Info = q.Get("info") == "1" || q.Get("info") == "true"
	page, more := st.ListConns(o)
	if more && len(page) > 0 {
		w.Header().Set("X-Next-After", page[len(page)-1].Key.String())
	}
	if q.Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(connsJSON(page))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriter(w)
	writeConns(bw, page, o.Info)
	if more {
		fmt.Fprintf(bw, "# more connections follow: ?after=%s\n", page[len(page)-1].Key.String())
	}
	bw.Flush()
}

type connJSON struct {
	State  string    `json:"state"`
	Local  string    `json:"local"`
	Peer   string    `json:"peer"`
	SendQ  int       `json:"send_q"`
	RecvQ  int       `json:"recv_q"`
	RTTms  float64   `json:"rtt_ms"`
	RTOms  float64   `json:"rto_ms"`
	Cwnd   int       `json:"cwnd"`
	Timer  string    `json:"timer,omitempty"`
	TimerS float64   `json:"timer_s,omitempty"`
	Queue  int       `json:"queue"`
	Info   *infoJSON `json:"info,omitempty"`
}

// infoJSON is struct tcp_info under its field names (without "tcpi_")
// and in its units: microseconds for rto, ato, rtt, rttvar, min_rtt,
// rcv_rtt, busy_time, rwnd_limited, sndbuf_limited; milliseconds for
// last_data_sent, last_data_recv, last_ack_recv; bytes per second for
// rates; segments for windows.
type infoJSON struct {
	State                  string    `json:"state"`
	CAState                string    `json:"ca_state"`
	Retransmits            uint8     `json:"retransmits"`
	Probes                 uint8     `json:"probes"`
	Backoff                uint8     `json:"backoff"`
	Options                uint8     `json:"options"`
	SndWscale              uint8     `json:"snd_wscale"`
	RcvWscale              uint8     `json:"rcv_wscale"`
	RTO                    int64     `json:"rto"`
	ATO                    int64     `json:"ato"`
	SndMSS                 int       `json:"snd_mss"`
	RcvMSS                 int       `json:"rcv_mss"`
	Unacked                int       `json:"unacked"`
	Sacked                 int       `json:"sacked"`
	Lost                   int       `json:"lost"`
	Retrans                int       `json:"retrans"`
	LastDataSent           int64     `json:"last_data_sent"`
	LastDataRecv           int64     `json:"last_data_recv"`
	LastAckRecv            int64     `json:"last_ack_recv"`
	PMTU                   int       `json:"pmtu"`
	RcvSsthresh            int       `json:"rcv_ssthresh"`
	RTT                    int64     `json:"rtt"`
	RTTVar                 int64     `json:"rttvar"`
	SndSsthresh            int       `json:"snd_ssthresh"`
	SndCwnd                int       `json:"snd_cwnd"`
	AdvMSS                 int       `json:"advmss"`
	Reordering             int       `json:"reordering"`
	RcvRTT                 int64     `json:"rcv_rtt"`
	RcvSpace               int       `json:"rcv_space"`
	TotalRetrans           int       `json:"total_retrans"`
	TotalRTO               int       `json:"total_rto"`
	TotalRTORecoveries     int       `json:"total_rto_recoveries"`
	TotalRTOTime           int64     `json:"total_rto_time"`
	Rehash                 int       `json:"rehash"`
	PacingRate             uint64    `json:"pacing_rate"`
	MaxPacingRate          uint64    `json:"max_pacing_rate"`
	BytesAcked             uint64    `json:"bytes_acked"`
	BytesReceived          uint64    `json:"bytes_received"`
	SegsOut                int       `json:"segs_out"`
	SegsIn                 int       `json:"segs_in"`
	NotsentBytes           uint32    `json:"notsent_bytes"`
	MinRTT                 int64     `json:"min_rtt"`
	DataSegsIn             int       `json:"data_segs_in"`
	DataSegsOut            int       `json:"data_segs_out"`
	DeliveryRate           uint64    `json:"delivery_rate"`
	BusyTime               int64     `json:"busy_time"`
	RwndLimited            int64     `json:"rwnd_limited"`
	SndbufLimited          int64     `json:"sndbuf_limited"`
	Delivered              int       `json:"delivered"`
	DeliveredCE            int       `json:"delivered_ce"`
	BytesSent              uint64    `json:"bytes_sent"`
	BytesRetrans           uint64    `json:"bytes_retrans"`
	DSACKDups              int       `json:"dsack_dups"`
	ReordSeen              int       `json:"reord_seen"`
	RcvOOOPack             int       `json:"rcv_ooopack"`
	SndWnd                 uint32    `json:"snd_wnd"`
	RcvWnd                 uint32    `json:"rcv_wnd"`
	DeliveryRateAppLimited bool      `json:"delivery_rate_app_limited"`
	CongestionControl      string    `json:"congestion_control"`
	BBR                    *bbrJSON  `json:"bbr,omitempty"`
	Skmem                  skmemJSON `json:"skmem"`
}

// skmemJSON is what ss -m prints as skmem:(...), Linux's SK_MEMINFO_*
// values in bytes; those xdptcp has no such memory for are 0.
type skmemJSON struct {
	RmemAlloc  int `json:"rmem_alloc"`
	RcvBuf     int `json:"rcvbuf"`
	SndBuf     int `json:"sndbuf"`
	WmemQueued int `json:"wmem_queued"`
}

// bbrJSON is Linux's struct tcp_bbr_info (bw in bytes/s, min_rtt in µs,
// gains in 1/256), plus the state.
type bbrJSON struct {
	BW         uint64 `json:"bbr_bw"`
	MinRTT     int64  `json:"bbr_min_rtt"`
	PacingGain uint32 `json:"bbr_pacing_gain"`
	CwndGain   uint32 `json:"bbr_cwnd_gain"`
	Mode       string `json:"mode"`
}

func us(d time.Duration) int64 { return d.Microseconds() }
func ms(d time.Duration) int64 { return d.Milliseconds() }

func newInfoJSON(in *tcp.TCPInfo) *infoJSON {
	j := newInfoJSONFields(in)
	if in.CongestionControl == "bbr" {
		j.BBR = &bbrJSON{BW: in.BBR.BW, MinRTT: us(in.BBR.MinRTT), PacingGain: in.BBR.PacingGain, CwndGain: in.BBR.CwndGain, Mode: in.BBR.Mode}
	}
	return j
}

func newInfoJSONFields(in *tcp.TCPInfo) *infoJSON {
	return &infoJSON{
		State: in.State.String(), CAState: in.CAState.String(), Retransmits: in.Retransmits, Probes: in.Probes,
		Backoff: in.Backoff, Options: in.Options, SndWscale: in.SndWscale, RcvWscale: in.RcvWscale,
		RTO: us(in.RTO), ATO: us(in.ATO), SndMSS: in.SndMSS, RcvMSS: in.RcvMSS,
		Unacked: in.Unacked, Sacked: in.Sacked, Lost: in.Lost, Retrans: in.Retrans,
		LastDataSent: ms(in.LastDataSent), LastDataRecv: ms(in.LastDataRecv), LastAckRecv: ms(in.LastAckRecv),
		PMTU: in.PMTU, RcvSsthresh: in.RcvSsthresh, RTT: us(in.RTT), RTTVar: us(in.RTTVar),
		SndSsthresh: in.SndSsthresh, SndCwnd: in.SndCwnd, AdvMSS: in.AdvMSS, Reordering: in.Reordering,
		RcvRTT: us(in.RcvRTT), RcvSpace: in.RcvSpace, TotalRetrans: in.TotalRetrans,
		TotalRTO: in.TotalRTO, TotalRTORecoveries: in.TotalRTORecoveries, TotalRTOTime: ms(in.TotalRTOTime), Rehash: in.Rehash,
		PacingRate: in.PacingRate, MaxPacingRate: in.MaxPacingRate, BytesAcked: in.BytesAcked,
		BytesReceived: in.BytesReceived, SegsOut: in.SegsOut, SegsIn: in.SegsIn, NotsentBytes: in.NotsentBytes,
		MinRTT: us(in.MinRTT), DataSegsIn: in.DataSegsIn, DataSegsOut: in.DataSegsOut,
		DeliveryRate: in.DeliveryRate, BusyTime: us(in.BusyTime), RwndLimited: us(in.RwndLimited),
		SndbufLimited: us(in.SndbufLimited), Delivered: in.Delivered, DeliveredCE: in.DeliveredCE,
		BytesSent: in.BytesSent, BytesRetrans: in.BytesRetrans, DSACKDups: in.DSACKDups,
		ReordSeen: in.ReordSeen, RcvOOOPack: in.RcvOOOPack, SndWnd: in.SndWnd, RcvWnd: in.RcvWnd,
		DeliveryRateAppLimited: in.DeliveryRateAppLimited, CongestionControl: in.CongestionControl,
		Skmem: skmemJSON{RmemAlloc: in.RmemAlloc, RcvBuf: in.RcvBuf, SndBuf: in.SndBuf, WmemQueued: in.WmemQueued},
	}
}

// addrPort prints an address and port as ss does: 198.18.0.1:80,
// [2001:2::1]:80.
func addrPort(a flowtable.Addr, p uint16) string {
	return netip.AddrPortFrom(a.Netip(), p).String()
}

func connsJSON(conns []xdptcp.ConnInfo) []connJSON {
	out := make([]connJSON, 0, len(conns))
	for _, c := range conns {
		e := connJSON{
			State: c.State.String(), Local: addrPort(c.Key.LocalAddr, c.Key.LocalPort),
			Peer: addrPort(c.Key.RemoteAddr, c.Key.RemotePort), SendQ: c.SendQ, RecvQ: c.RecvQ,
			RTTms: float64(c.RTT) / 1e6, RTOms: float64(c.RTO) / 1e6, Cwnd: c.Cwnd,
			Timer: c.Timer, TimerS: c.TimerIn.Seconds(), Queue: c.Queue,
		}
		if c.Info != nil {
			e.Info = newInfoJSON(c.Info)
		}
		out = append(out, e)
	}
	return out
}

// writeConns prints connections the way `ss -tan` does, with xdptcp's
// extra columns; with info, each is followed by the line `ss -ti` prints.
func writeConns(w io.Writer, conns []xdptcp.ConnInfo, info bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port\tRTT\tRTO\tCwnd\tTimer\tQueue")
	for _, c := range conns {
		timer := "-"
		if c.Timer != "" {
			timer = fmt.Sprintf("%s,%s", c.Timer, c.TimerIn.Round(time.Millisecond))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", c.State, c.RecvQ, c.SendQ,
			addrPort(c.Key.LocalAddr, c.Key.LocalPort), addrPort(c.Key.RemoteAddr, c.Key.RemotePort),
			c.RTT.Round(time.Microsecond), c.RTO.Round(time.Millisecond), c.Cwnd, timer, c.Queue)
		if info && c.Info != nil {
			tw.Flush() // the info line is not part of the table
			fmt.Fprintf(w, "\t %s\n", ssInfoLine(c.Info))
		}
	}
	tw.Flush()
}

// msf prints a duration in milliseconds as ss does (%g of a float).
func msf(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'g', -1, 64)
}

// bps prints a rate in bits per second as ss's sprint_bw: 1 decimal with
// k/M/G above 1e3/1e6/1e9.
func bps(bitsPerSec float64) string {
	switch {
	case bitsPerSec > 1e9:
		return fmt.Sprintf("%.1fGbps", bitsPerSec/1e9)
	case bitsPerSec > 1e6:
		return fmt.Sprintf("%.1fMbps", bitsPerSec/1e6)
	case bitsPerSec > 1e3:
		return fmt.Sprintf("%.1fKbps", bitsPerSec/1e3)
	}
	return fmt.Sprintf("%gbps", bitsPerSec)
}

// ssInfoLine is what iproute2's ss prints for TCP_INFO (tcp_show_info),
// in its order and spelling; fields Linux leaves out when zero are left
// out here too. ca_state is xdptcp's addition when not Open.
func ssInfoLine(in *tcp.TCPInfo) string {
	var b strings.Builder
	add := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, format, args...)
	}
	// ss -m's socket memory (r: receive queue, rb: receive buffer, t:
	// not yet transmitted by the device, tb: send buffer, f: forward
	// allocation, w: send queue, o: option memory, bl: backlog, d:
	// drops); xdptcp holds none of the zero ones.
	add("skmem:(r%d,rb%d,t0,tb%d,f0,w%d,o0,bl0,d0)", in.RmemAlloc, in.RcvBuf, in.SndBuf, in.WmemQueued)
	if in.Options&tcp.OptTimestamps != 0 {
		add("ts")
	}
	if in.Options&tcp.OptSACK != 0 {
		add("sack")
	}
	if in.Options&tcp.OptECN != 0 {
		add("ecn")
	}
	add("%s", in.CongestionControl)
	if in.CAState != tcp.CAOpen {
		add("ca_state:%s", in.CAState)
	}
	if in.Options&tcp.OptWScale != 0 {
		add("wscale:%d,%d", in.SndWscale, in.RcvWscale)
	}
	if in.RTO > 0 {
		add("rto:%s", msf(in.RTO))
	}
	if in.Backoff > 0 {
		add("backoff:%d", in.Backoff)
	}
	if in.RTT > 0 {
		add("rtt:%s/%s", msf(in.RTT), msf(in.RTTVar))
	}
	if in.ATO > 0 {
		add("ato:%s", msf(in.ATO))
	}
	if in.SndMSS > 0 {
		add("mss:%d", in.SndMSS)
	}
	if in.PMTU > 0 {
		add("pmtu:%d", in.PMTU)
	}
	if in.RcvMSS > 0 {
		add("rcvmss:%d", in.RcvMSS)
	}
	if in.AdvMSS > 0 {
		add("advmss:%d", in.AdvMSS)
	}
	if in.SndCwnd > 0 {
		add("cwnd:%d", in.SndCwnd)
	}
	if in.SndSsthresh < 0xffff {
		add("ssthresh:%d", in.SndSsthresh)
	}
	if in.BytesSent > 0 {
		add("bytes_sent:%d", in.BytesSent)
	}
	if in.BytesRetrans > 0 {
		add("bytes_retrans:%d", in.BytesRetrans)
	}
	if in.BytesAcked > 0 {
		add("bytes_acked:%d", in.BytesAcked)
	}
	if in.BytesReceived > 0 {
		add("bytes_received:%d", in.BytesReceived)
	}
	if in.SegsOut > 0 {
		add("segs_out:%d", in.SegsOut)
	}
	if in.SegsIn > 0 {
		add("segs_in:%d", in.SegsIn)
	}
	if in.DataSegsOut > 0 {
		add("data_segs_out:%d", in.DataSegsOut)
	}
	if in.DataSegsIn > 0 {
		add("data_segs_in:%d", in.DataSegsIn)
	}
	if in.CongestionControl == "bbr" {
		// ss's INET_DIAG_BBRINFO, plus the state (xdptcp's addition).
		add("bbr:(bw:%s,mrtt:%s,pacing_gain:%g,cwnd_gain:%g,mode:%s)", bps(float64(in.BBR.BW)*8), msf(in.BBR.MinRTT),
			float64(in.BBR.PacingGain)/256, float64(in.BBR.CwndGain)/256, in.BBR.Mode)
	}
	if in.RTT > 0 && in.SndMSS > 0 && in.SndCwnd > 0 {
		// ss computes the send rate: cwnd * mss * 8 / rtt.
		add("send %s", bps(float64(in.SndCwnd)*float64(in.SndMSS)*8/in.RTT.Seconds()))
	}
	add("lastsnd:%d lastrcv:%d lastack:%d", ms(in.LastDataSent), ms(in.LastDataRecv), ms(in.LastAckRecv))
	if in.PacingRate > 0 {
		add("pacing_rate %s", bps(float64(in.PacingRate)*8))
	}
	if in.DeliveryRate > 0 {
		add("delivery_rate %s", bps(float64(in.DeliveryRate)*8))
	}
	if in.Delivered > 0 {
		add("delivered:%d", in.Delivered)
	}
	if in.DeliveredCE > 0 {
		add("delivered_ce:%d", in.DeliveredCE)
	}
	if in.DeliveryRateAppLimited {
		add("app_limited")
	}
	if in.BusyTime > 0 {
		// ss's chrono times: busy, and the limited shares of it.
		add("busy:%dms", in.BusyTime.Milliseconds())
		if in.RwndLimited > 0 {
			add("rwnd_limited:%dms(%.1f%%)", in.RwndLimited.Milliseconds(), 100*float64(in.RwndLimited)/float64(in.BusyTime))
		}
		if in.SndbufLimited > 0 {
			add("sndbuf_limited:%dms(%.1f%%)", in.SndbufLimited.Milliseconds(), 100*float64(in.SndbufLimited)/float64(in.BusyTime))
		}
	}
	if in.Unacked > 0 {
		add("unacked:%d", in.Unacked)
	}
	if in.Retrans > 0 || in.TotalRetrans > 0 {
		add("retrans:%d/%d", in.Retrans, in.TotalRetrans)
	}
	if in.Lost > 0 {
		add("lost:%d", in.Lost)
	}
	if in.Sacked > 0 {
		add("sacked:%d", in.Sacked)
	}
	if in.DSACKDups > 0 {
		add("dsack_dups:%d", in.DSACKDups)
	}
	if in.Reordering != 3 && in.Reordering > 0 {
		add("reordering:%d", in.Reordering)
	}
	if in.ReordSeen > 0 {
		add("reord_seen:%d", in.ReordSeen)
	}
	if in.RcvRTT > 0 {
		add("rcv_rtt:%s", msf(in.RcvRTT))
	}
	add("rcv_space:%d rcv_ssthresh:%d", in.RcvSpace, in.RcvSsthresh)
	if in.NotsentBytes > 0 {
		add("notsent:%d", in.NotsentBytes)
	}
	if in.MinRTT > 0 {
		add("minrtt:%s", msf(in.MinRTT))
	}
	if in.RcvOOOPack > 0 {
		add("rcv_ooopack:%d", in.RcvOOOPack)
	}
	add("snd_wnd:%d", in.SndWnd)
	if in.RcvWnd > 0 {
		add("rcv_wnd:%d", in.RcvWnd)
	}
	return b.String()
}

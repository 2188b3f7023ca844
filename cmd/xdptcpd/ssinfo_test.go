package main

import (
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The ss -i line of a BBR connection carries what `ss -ti` prints for
// one on Linux: pacing_rate, delivery_rate, app_limited and the
// bbr:(...) block (plus the state).
func TestSSInfoLineBBR(t *testing.T) {
	in := &tcp.TCPInfo{
		CongestionControl: "bbr", PacingRate: 1_250_000, DeliveryRate: 1_000_000, DeliveryRateAppLimited: true, Delivered: 42,
		BBR: tcp.BBRInfo{BW: 1_000_000, MinRTT: 21 * time.Millisecond, PacingGain: 320, CwndGain: 512, Mode: "PROBE_BW"},
	}
	line := ssInfoLine(in)
	for _, want := range []string{" bbr ", "bbr:(bw:8.0Mbps,mrtt:21,pacing_gain:1.25,cwnd_gain:2,mode:PROBE_BW)",
		"pacing_rate 10.0Mbps", "delivery_rate 8.0Mbps", "delivered:42 app_limited"} {
		if !strings.Contains(" "+line+" ", want) {
			t.Errorf("%q not in %q", want, line)
		}
	}
	if j := newInfoJSON(in); j.BBR == nil || j.BBR.BW != 1_000_000 || j.BBR.MinRTT != 21000 || j.BBR.Mode != "PROBE_BW" {
		t.Errorf("json %+v", j.BBR)
	}
	if j := newInfoJSON(&tcp.TCPInfo{CongestionControl: "cubic"}); j.BBR != nil {
		t.Error("bbr block on a cubic connection")
	}
}

// Socket memory prints as `ss -tim` prints skmem, first on the line, and
// goes into the JSON.
func TestSSInfoLineSkmem(t *testing.T) {
	in := &tcp.TCPInfo{CongestionControl: "cubic", RmemAlloc: 8192, RcvBuf: 131072, SndBuf: 87040, WmemQueued: 4352}
	if line, want := ssInfoLine(in), "skmem:(r8192,rb131072,t0,tb87040,f0,w4352,o0,bl0,d0) cubic"; !strings.HasPrefix(line, want) {
		t.Errorf("%q does not start with %q", line, want)
	}
	if j := newInfoJSON(in); j.Skmem != (skmemJSON{RmemAlloc: 8192, RcvBuf: 131072, SndBuf: 87040, WmemQueued: 4352}) {
		t.Errorf("json %+v", j.Skmem)
	}
}

// The chrono times print as `ss -ti` prints them: busy, then the rwnd-
// and sndbuf-limited times with their share of busy; none while idle.
func TestSSInfoLineChrono(t *testing.T) {
	in := &tcp.TCPInfo{CongestionControl: "cubic", BusyTime: 400 * time.Millisecond, RwndLimited: 100 * time.Millisecond, SndbufLimited: 50 * time.Millisecond}
	line := ssInfoLine(in)
	if want := "busy:400ms rwnd_limited:100ms(25.0%) sndbuf_limited:50ms(12.5%)"; !strings.Contains(line, want) {
		t.Errorf("%q not in %q", want, line)
	}
	if j := newInfoJSON(in); j.BusyTime != 400000 || j.RwndLimited != 100000 || j.SndbufLimited != 50000 {
		t.Errorf("json busy %d rwnd %d sndbuf %d, want µs", j.BusyTime, j.RwndLimited, j.SndbufLimited)
	}
	if line := ssInfoLine(&tcp.TCPInfo{CongestionControl: "cubic"}); strings.Contains(line, "busy") {
		t.Errorf("busy on an idle connection: %q", line)
	}
}

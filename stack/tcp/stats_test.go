package tcp

import (
	"reflect"
	"sync/atomic"
	"testing"
)

// TestStatDescsCoverStats checks the hand-written table against the struct:
// every field once, in order, with its own name and pointer.
func TestStatDescsCoverStats(t *testing.T) {
	typ := reflect.TypeOf(Stats{})
	if typ.NumField() != len(statDescs) {
		t.Fatalf("Stats has %d fields, statDescs %d", typ.NumField(), len(statDescs))
	}
	var s Stats
	v := reflect.ValueOf(&s).Elem()
	for i := range statDescs {
		d := &statDescs[i]
		f := typ.Field(i)
		if f.Name != d.Name {
			t.Errorf("field %d is %s, statDescs says %s", i, f.Name, d.Name)
		}
		if f.Type != reflect.TypeOf(atomic.Uint64{}) {
			t.Errorf("%s is %v", f.Name, f.Type)
		}
		if d.field(&s) != v.Field(i).Addr().Interface().(*atomic.Uint64) {
			t.Errorf("%s: accessor returns another field", d.Name)
		}
		if (d.Group == "Tcp") != (i < 11) || (d.Group != "Tcp" && d.Group != "TcpExt") {
			t.Errorf("%s: group %q", d.Name, d.Group)
		}
		if d.Gauge != (d.Name == "CurrEstab") {
			t.Errorf("%s: gauge %v", d.Name, d.Gauge)
		}
		if LookupStat(d.Name) != d {
			t.Errorf("LookupStat(%s)", d.Name)
		}
	}
	if LookupStat("NoSuchCounter") != nil {
		t.Error("LookupStat of unknown name")
	}
}

func TestStatsEachAdd(t *testing.T) {
	var a, b Stats
	for i := range statDescs {
		statDescs[i].field(&a).Store(uint64(i + 1))
		statDescs[i].field(&b).Store(uint64(100 * (i + 1)))
	}
	a.Add(&b)
	n := 0
	seen := map[string]bool{}
	a.Each(func(group, name string, value uint64, gauge bool) {
		if value != uint64(101*(n+1)) {
			t.Errorf("%s/%s = %d, want %d", group, name, value, 101*(n+1))
		}
		if seen[name] {
			t.Errorf("%s twice", name)
		}
		seen[name] = true
		n++
	})
	if n != len(statDescs) {
		t.Errorf("Each visited %d, want %d", n, len(statDescs))
	}
	a.CurrEstab.Store(2)
	a.CurrEstab.Add(^uint64(0))
	if a.CurrEstab.Load() != 1 {
		t.Errorf("gauge decrement: %d", a.CurrEstab.Load())
	}
	if got := testing.AllocsPerRun(100, func() {
		a.Each(func(string, string, uint64, bool) {})
	}); got != 0 {
		t.Errorf("Each allocates %v", got)
	}
}

func TestSnakeName(t *testing.T) {
	tests := map[string]string{
		"ListenOverflows":        "listen_overflows",
		"SyncookiesSent":         "syncookies_sent",
		"TCPReqQFullDoCookies":   "tcp_req_q_full_do_cookies",
		"TCPTimeWaitOverflow":    "tcp_time_wait_overflow",
		"TCPDSACKRecv":           "tcp_dsack_recv",
		"TCPSACKReorder":         "tcp_sack_reorder",
		"TCPOFOQueue":            "tcp_ofo_queue",
		"TCPACKSkippedChallenge": "tcp_ack_skipped_challenge",
		"TCPSYNChallenge":        "tcp_syn_challenge",
		"TCPChallengeACK":        "tcp_challenge_ack",
		"PAWSEstab":              "paws_estab",
		"TW":                     "tw",
		"InCsumErrors":           "in_csum_errors",
		"OutOfWindowIcmps":       "out_of_window_icmps",
		"CurrEstab":              "curr_estab",
		"DelayedACKs":            "delayed_acks",
		"Retries2":               "retries2",
		"TCP":                    "tcp",
		"":                       "",
	}
	for in, want := range tests {
		if got := SnakeName(in); got != want {
			t.Errorf("SnakeName(%q) = %q, want %q", in, got, want)
		}
	}
	// Every counter gets a distinct metric name.
	names := map[string]string{}
	for _, d := range StatDescs() {
		m := MetricName(d.Group, d.Name, d.Gauge)
		if o, dup := names[m]; dup {
			t.Errorf("%s and %s both map to %s", o, d.Name, m)
		}
		names[m] = d.Name
	}
	for _, c := range []struct {
		group, name string
		gauge       bool
		want        string
	}{
		{"Tcp", "ActiveOpens", false, "xdptcp_tcp_active_opens_total"},
		{"Tcp", "CurrEstab", true, "xdptcp_tcp_curr_estab"},
		{"TcpExt", "ListenOverflows", false, "xdptcp_tcp_ext_listen_overflows_total"},
		{"TcpExt", "TCPTimeWaitOverflow", false, "xdptcp_tcp_ext_tcp_time_wait_overflow_total"},
	} {
		if got := MetricName(c.group, c.name, c.gauge); got != c.want {
			t.Errorf("MetricName(%s, %s) = %s, want %s", c.group, c.name, got, c.want)
		}
	}
}

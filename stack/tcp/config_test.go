package tcp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsLinux(t *testing.T) {
	c := DefaultConfig()
	want := map[string]string{
		"tcp_syn_retries":           "6",
		"tcp_syn_linear_timeouts":   "4",
		"tcp_synack_retries":        "5",
		"tcp_retries2":              "15",
		"tcp_orphan_retries":        "0",
		"tcp_fin_timeout":           "60",
		"tcp_max_syn_backlog":       "4096",
		"somaxconn":                 "4096",
		"tcp_abort_on_overflow":     "0",
		"tcp_syncookies":            "1",
		"tcp_msl":                   "30",
		"tcp_max_tw_buckets":        "262144",
		"tcp_max_orphans":           "131072",
		"tcp_tw_reuse_delay":        "1000",
		"tcp_tw_reuse":              "2",
		"tcp_rfc1337":               "0",
		"keepalive":                 "0",
		"tcp_keepalive_time":        "7200",
		"tcp_keepalive_intvl":       "75",
		"tcp_keepalive_probes":      "9",
		"tcp_rmem":                  "4096 131072 33554432",
		"tcp_moderate_rcvbuf":       "1",
		"tcp_wmem":                  "4096 16384 4194304",
		"wmem_max":                  "4194304",
		"rmem_max":                  "4194304",
		"tcp_mem":                   "49152 65536 98304",
		"tcp_timestamps":            "1",
		"tcp_window_scaling":        "1",
		"tcp_sack":                  "1",
		"tcp_dsack":                 "1",
		"tcp_congestion_control":    "cubic",
		"tcp_recovery":              "1",
		"tcp_max_reordering":        "300",
		"tcp_reordering":            "3",
		"tcp_invalid_ratelimit":     "500",
		"tcp_comp_sack_delay_ns":    "1000000",
		"tcp_pingpong_thresh":       "1",
		"tcp_challenge_ack_limit":   "2147483647",
		"tcp_comp_sack_nr":          "44",
		"tcp_rto_min_us":            "200000",
		"tcp_rto_max_ms":            "120000",
		"tcp_early_retrans":         "3",
		"tcp_frto":                  "2",
		"txrehash":                  "1",
		"tcp_slow_start_after_idle": "1",
		"tcp_thin_linear_timeouts":  "0",
		"tcp_ecn":                   "2",
		"tcp_ecn_fallback":          "1",
		"tcp_pacing_ss_ratio":       "200",
		"tcp_pacing_ca_ratio":       "120",
		"tcp_notsent_lowat":         "4294967295", // Linux: UINT_MAX, i.e. off
		"tcp_min_snd_mss":           "48",
		"tcp_min_tso_segs":          "2",
		"tcp_min_rtt_wlen":          "300",
		"tcp_retries1":              "3",
		"tcp_mtu_probing":           "0",
		"tcp_base_mss":              "1024",
		"tcp_mtu_probe_floor":       "48",
		"tcp_probe_threshold":       "8",
		"tcp_probe_interval":        "600",
		"pmtu_cache_size":           "4096",
		"unres_qlen":                "101",
		"ip_local_port_range":       "32768 60999",
		"max_connections":           "262144",
		"mss":                       "1460",
	}
	want["tcp_workaround_signed_windows"] = "0" // (beside the table: its long name would realign it)
	if len(want) != len(SettingNames()) {
		t.Errorf("%d settings, test knows %d", len(SettingNames()), len(want))
	}
	for _, n := range SettingNames() {
		got, err := c.Get(n)
		if err != nil {
			t.Fatalf("Get(%q): %v", n, err)
		}
		if got != want[n] {
			t.Errorf("default %s = %q, want %q", n, got, want[n])
		}
	}
	if c.MSL*2 != 60*time.Second {
		t.Errorf("2*MSL = %v, want TCP_TIMEWAIT_LEN 60s", 2*c.MSL)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	for _, s := range Settings() {
		if s.Default != want[s.Name] || s.Meaning == "" || strings.Contains(s.Meaning, "\n") {
			t.Errorf("Settings() entry %+v", s)
		}
	}
}

func TestSetGetRoundTrip(t *testing.T) {
	// A non-default value for every setting, in text form.
	vals := map[string]string{
		"tcp_syn_retries":           "127",
		"tcp_syn_linear_timeouts":   "0",
		"tcp_synack_retries":        "0",
		"tcp_retries2":              "8",
		"tcp_orphan_retries":        "3",
		"tcp_fin_timeout":           "1",
		"tcp_max_syn_backlog":       "128",
		"somaxconn":                 "0",
		"tcp_abort_on_overflow":     "1",
		"tcp_syncookies":            "2",
		"tcp_msl":                   "1",
		"tcp_max_tw_buckets":        "0",
		"tcp_max_orphans":           "0",
		"tcp_tw_reuse":              "1",
		"tcp_tw_reuse_delay":        "100",
		"tcp_rfc1337":               "1",
		"keepalive":                 "1",
		"tcp_keepalive_time":        "32767",
		"tcp_keepalive_intvl":       "1",
		"tcp_keepalive_probes":      "127",
		"tcp_rmem":                  "1 1 1",
		"tcp_wmem":                  "4096 65536 8388608",
		"wmem_max":                  "212992",
		"rmem_max":                  "2304",
		"tcp_mem":                   "1 2 3",
		"tcp_timestamps":            "0",
		"tcp_window_scaling":        "0",
		"tcp_sack":                  "0",
		"tcp_dsack":                 "0",
		"tcp_congestion_control":    "newreno",
		"tcp_recovery":              "0",
		"tcp_max_reordering":        "20",
		"tcp_reordering":            "6",
		"tcp_invalid_ratelimit":     "0",
		"tcp_comp_sack_delay_ns":    "5000000",
		"tcp_pingpong_thresh":       "3",
		"tcp_challenge_ack_limit":   "1000",
		"tcp_comp_sack_nr":          "0",
		"tcp_rto_min_us":            "5000",
		"tcp_rto_max_ms":            "1000",
		"tcp_early_retrans":         "0",
		"tcp_frto":                  "0",
		"txrehash":                  "0",
		"tcp_slow_start_after_idle": "0",
		"tcp_thin_linear_timeouts":  "1",
		"tcp_moderate_rcvbuf":       "0",
		"tcp_ecn":                   "1",
		"tcp_ecn_fallback":          "0",
		"tcp_pacing_ss_ratio":       "150",
		"tcp_pacing_ca_ratio":       "100",
		"tcp_notsent_lowat":         "16384",
		"tcp_min_snd_mss":           "536",
		"tcp_min_tso_segs":          "10",
		"tcp_min_rtt_wlen":          "10",
		"tcp_retries1":              "5",
		"tcp_mtu_probing":           "1",
		"tcp_base_mss":              "512",
		"tcp_mtu_probe_floor":       "256",
		"tcp_probe_threshold":       "16",
		"tcp_probe_interval":        "60",
		"pmtu_cache_size":           "16",
		"unres_qlen":                "3",
		"ip_local_port_range":       "1024 1024",
		"max_connections":           "1",
		"mss":                       "8960",
	}
	vals["tcp_workaround_signed_windows"] = "1"
	for _, n := range SettingNames() {
		v, ok := vals[n]
		if !ok {
			t.Errorf("no round-trip value for %s", n)
			continue
		}
		c := DefaultConfig()
		if err := c.Set(n, v); err != nil {
			t.Errorf("Set(%q, %q): %v", n, v, err)
			continue
		}
		got, err := c.Get(n)
		if err != nil || got != v {
			t.Errorf("Get(%q) = %q, %v; want %q", n, got, err, v)
		}
		if c == DefaultConfig() {
			t.Errorf("Set(%q, %q) changed nothing", n, v)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("after Set(%q, %q): Validate: %v", n, v, err)
		}
	}
	// sysctl text is forgiving about blanks.
	c := DefaultConfig()
	if err := c.Set("tcp_rmem", " 10\t20  30\n"); err != nil || c.Rmem != [3]int{10, 20, 30} {
		t.Errorf("tcp_rmem with tabs: %v %v", err, c.Rmem)
	}
	if err := c.Set("tcp_fin_timeout", "30\n"); err != nil || c.FinTimeout != 30*time.Second {
		t.Errorf("tcp_fin_timeout 30: %v %v", err, c.FinTimeout)
	}
	if err := c.Set("tcp_congestion_control", "reno"); err != nil || c.CongestionControl != "reno" {
		t.Errorf("reno: %v", err)
	}
}

func TestSetRejects(t *testing.T) {
	tests := []struct {
		name, value, msg string
	}{
		{"tcp_syn_retries", "0", "tcp_syn_retries: 0 out of range 1..127"},
		{"tcp_syn_retries", "128", "tcp_syn_retries: 128 out of range 1..127"},
		{"tcp_syn_linear_timeouts", "128", "tcp_syn_linear_timeouts: 128 out of range 0..127"},
		{"tcp_rto_min_us", "0", "tcp_rto_min_us: 0 out of range 1..2147483647"},
		{"tcp_rto_max_ms", "999", "tcp_rto_max_ms: 999 out of range 1000..120000"},
		{"tcp_max_reordering", "2", "tcp_max_reordering: 2 out of range 3..65535"},
		{"tcp_reordering", "2", "tcp_reordering: 2 out of range 3..65535"},
		{"tcp_invalid_ratelimit", "-1", "tcp_invalid_ratelimit: -1 out of range 0..2147483647"},
		{"tcp_comp_sack_nr", "256", "tcp_comp_sack_nr: 256 out of range 0..255"},
		{"tcp_pingpong_thresh", "0", "tcp_pingpong_thresh: 0 out of range 1..255"},
		{"tcp_challenge_ack_limit", "0", "tcp_challenge_ack_limit: 0 out of range 1..2147483647"},
		{"tcp_syn_retries", "abc", `tcp_syn_retries: invalid value "abc": want an integer`},
		{"tcp_syn_retries", "", `tcp_syn_retries: invalid value "": want an integer`},
		{"tcp_syn_retries", "6.5", `tcp_syn_retries: invalid value "6.5": want an integer`},
		{"tcp_synack_retries", "256", "tcp_synack_retries: 256 out of range 0..255"},
		{"tcp_synack_retries", "-1", "tcp_synack_retries: -1 out of range 0..255"},
		{"tcp_retries2", "1000", "tcp_retries2: 1000 out of range 0..255"},
		{"tcp_orphan_retries", "-3", "tcp_orphan_retries: -3 out of range 0..255"},
		{"tcp_fin_timeout", "0", "tcp_fin_timeout: 0 out of range 1..32767"},
		{"tcp_fin_timeout", "60s", `tcp_fin_timeout: invalid value "60s": want an integer`},
		{"tcp_max_syn_backlog", "0", "tcp_max_syn_backlog: 0 out of range 1..2147483647"},
		{"somaxconn", "-1", "somaxconn: -1 out of range 0..2147483647"},
		{"somaxconn", "99999999999", "somaxconn: 99999999999 out of range 0..2147483647"},
		{"tcp_abort_on_overflow", "2", "tcp_abort_on_overflow: 2 out of range 0..1"},
		{"tcp_abort_on_overflow", "yes", `tcp_abort_on_overflow: invalid value "yes": want an integer`},
		{"tcp_syncookies", "3", "tcp_syncookies: 3 out of range 0..2"},
		{"tcp_msl", "0", "tcp_msl: 0 out of range 1..3600"},
		{"tcp_max_tw_buckets", "-1", "tcp_max_tw_buckets: -1 out of range 0..2147483647"},
		{"tcp_max_orphans", "-1", "tcp_max_orphans: -1 out of range 0..2147483647"},
		{"tcp_tw_reuse", "3", "tcp_tw_reuse: 3 out of range 0..2"},
		{"tcp_tw_reuse_delay", "0", "tcp_tw_reuse_delay: 0 out of range 1..60000"},
		{"keepalive", "2", "keepalive: 2 out of range 0..1"},
		{"tcp_keepalive_time", "0", "tcp_keepalive_time: 0 out of range 1..32767"},
		{"tcp_keepalive_time", "32768", "tcp_keepalive_time: 32768 out of range 1..32767"},
		{"tcp_keepalive_intvl", "0", "tcp_keepalive_intvl: 0 out of range 1..32767"},
		{"tcp_keepalive_intvl", "40000", "tcp_keepalive_intvl: 40000 out of range 1..32767"},
		{"tcp_keepalive_probes", "0", "tcp_keepalive_probes: 0 out of range 1..127"},
		{"tcp_keepalive_probes", "128", "tcp_keepalive_probes: 128 out of range 1..127"},
		{"tcp_rmem", "4096 131072", `tcp_rmem: invalid value "4096 131072": want 3 integers separated by spaces`},
		{"tcp_rmem", "4096 131072 6291456 1", `tcp_rmem: invalid value "4096 131072 6291456 1": want 3 integers separated by spaces`},
		{"tcp_rmem", "0 131072 6291456", "tcp_rmem: 0 out of range 1..2147483647"},
		{"tcp_rmem", "4096 x 6291456", `tcp_rmem: invalid value "x": want an integer`},
		{"tcp_rmem", "8192 4096 6291456", `tcp_rmem: "8192 4096 6291456": want min <= default <= max`},
		{"tcp_wmem", "4096 16384 8192", `tcp_wmem: "4096 16384 8192": want min <= default <= max`},
		{"tcp_timestamps", "2", "tcp_timestamps: 2 out of range 0..1"},
		{"tcp_window_scaling", "-1", "tcp_window_scaling: -1 out of range 0..1"},
		{"tcp_sack", "on", `tcp_sack: invalid value "on": want an integer`},
		{"tcp_congestion_control", "vegas", `tcp_congestion_control: "vegas" not one of cubic, bbr, newreno, reno`},
		{"tcp_congestion_control", "", `tcp_congestion_control: "" not one of cubic, bbr, newreno, reno`},
		{"tcp_min_snd_mss", "47", "tcp_min_snd_mss: 47 out of range 48..65535"},
		{"tcp_min_tso_segs", "0", "tcp_min_tso_segs: 0 out of range 1..255"},
		{"tcp_min_rtt_wlen", "86401", "tcp_min_rtt_wlen: 86401 out of range 0..86400"},
		{"tcp_min_snd_mss", "65536", "tcp_min_snd_mss: 65536 out of range 48..65535"},
		{"ip_local_port_range", "60999 32768", `ip_local_port_range: "60999 32768": want first <= last`},
		{"ip_local_port_range", "0 100", "ip_local_port_range: 0 out of range 1..65535"},
		{"ip_local_port_range", "1 65536", "ip_local_port_range: 65536 out of range 1..65535"},
		{"ip_local_port_range", "1024", `ip_local_port_range: invalid value "1024": want 2 integers separated by spaces`},
		{"max_connections", "0", "max_connections: 0 out of range 1..67108864"},
		{"mss", "47", "mss: 47 out of range 48..65495"},
		{"mss", "65496", "mss: 65496 out of range 48..65495"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		err := c.Set(tt.name, tt.value)
		if err == nil {
			t.Errorf("Set(%q, %q) accepted", tt.name, tt.value)
			continue
		}
		if err.Error() != tt.msg {
			t.Errorf("Set(%q, %q) = %q, want %q", tt.name, tt.value, err, tt.msg)
		}
		if !errors.Is(err, ErrBadValue) || errors.Is(err, ErrUnknownSetting) {
			t.Errorf("Set(%q, %q): error %v is not ErrBadValue", tt.name, tt.value, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
		if c != DefaultConfig() {
			t.Errorf("Set(%q, %q) failed but changed the config", tt.name, tt.value)
		}
	}
}

func TestUnknownSetting(t *testing.T) {
	tests := []struct{ name, msg string }{
		{"tcp_foo", `unknown setting "tcp_foo" (did you mean "tcp_frto"?)`},
		{"tcp_foobarbaz", `unknown setting "tcp_foobarbaz"`},
		{"tcp_syn_retrie", `unknown setting "tcp_syn_retrie" (did you mean "tcp_syn_retries"?)`},
		{"tcp_synack_retry", `unknown setting "tcp_synack_retry" (did you mean "tcp_synack_retries"?)`},
		{"tcp_fin_timeot", `unknown setting "tcp_fin_timeot" (did you mean "tcp_fin_timeout"?)`},
		{"tcp_mss", `unknown setting "tcp_mss" (did you mean "mss"?)`},
		{"syncookies", `unknown setting "syncookies" (did you mean "tcp_syncookies"?)`},
		{"", `unknown setting ""`},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		err := c.Set(tt.name, "1")
		if err == nil || err.Error() != tt.msg {
			t.Errorf("Set(%q) = %v, want %q", tt.name, err, tt.msg)
		}
		if !errors.Is(err, ErrUnknownSetting) || errors.Is(err, ErrBadValue) {
			t.Errorf("Set(%q): %v is not ErrUnknownSetting", tt.name, err)
		}
		if _, err := c.Get(tt.name); !errors.Is(err, ErrUnknownSetting) {
			t.Errorf("Get(%q) = %v", tt.name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		mod func(c *Config)
		msg string
	}{
		{func(c *Config) { c.SynRetries = 0 }, "tcp_syn_retries: 0 out of range 1..127"},
		{func(c *Config) { c.KeepaliveTime = 0 }, "tcp_keepalive_time: 0 out of range 1..32767"},
		{func(c *Config) { c.KeepaliveTime = 1500 * time.Millisecond }, "tcp_keepalive_time: 1.5s is not a whole number of seconds"},
		{func(c *Config) { c.Rmem = [3]int{3, 2, 1} }, `tcp_rmem: "3 2 1": want min <= default <= max`},
		{func(c *Config) { c.LocalPortRange = [2]uint16{2, 1} }, `ip_local_port_range: "2 1": want first <= last`},
		{func(c *Config) { c.CongestionControl = "" }, `tcp_congestion_control: "" not one of cubic, bbr, newreno, reno`},
		{func(c *Config) { c.MaxConnections = 0 }, "max_connections: 0 out of range 1..67108864"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || err.Error() != tt.msg || !errors.Is(err, ErrBadValue) {
			t.Errorf("Validate = %v, want %q", err, tt.msg)
		}
	}
}

func TestSettingsRuntime(t *testing.T) {
	for _, s := range Settings() {
		if want := s.Name != "max_connections"; s.Runtime != want {
			t.Errorf("%s: Runtime = %v, want %v", s.Name, s.Runtime, want)
		}
	}
}

// FuzzConfigSet: Set never panics; what it accepts validates and reads
// back through Get as something Set accepts again to the same config.
func FuzzConfigSet(f *testing.F) {
	for _, s := range Settings() {
		f.Add(s.Name, s.Default)
	}
	f.Add("tcp_rmem", "1 2")
	f.Add("ip_local_port_range", "65535 1")
	f.Add("tcp_syn_retries", "-9223372036854775808")
	f.Fuzz(func(t *testing.T, name, value string) {
		c := DefaultConfig()
		if err := c.Set(name, value); err != nil {
			if !errors.Is(err, ErrBadValue) && !errors.Is(err, ErrUnknownSetting) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Set(%q, %q) accepted, Validate: %v", name, value, err)
		}
		got, err := c.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		d := DefaultConfig()
		if err := d.Set(name, got); err != nil || d != c {
			t.Fatalf("Get gives %q which does not round-trip: %v", got, err)
		}
	})
}

func TestSettingsHelp(t *testing.T) {
	h := SettingsHelp()
	lines := strings.Split(strings.TrimRight(h, "\n"), "\n")
	if len(lines) != len(Settings())+1 {
		t.Fatalf("%d lines for %d settings:\n%s", len(lines), len(Settings()), h)
	}
	if !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("header %q", lines[0])
	}
	for i, s := range Settings() {
		l := lines[i+1]
		if !strings.HasPrefix(l, s.Name+" ") || !strings.Contains(l, s.Meaning) {
			t.Errorf("line %q for %s", l, s.Name)
		}
		if strings.Contains(l, "(restart)") == s.Runtime {
			t.Errorf("line %q: restart marker wrong", l)
		}
	}
}

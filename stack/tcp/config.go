package tcp

// TCP settings. Names and defaults follow Linux's sysctls (net.ipv4.tcp_*,
// net.core.somaxconn, net.ipv4.ip_local_port_range; see
// Documentation/networking/ip-sysctl.rst), so a user who knows Linux knows
// xdptcp. Settings Linux does not have carry no "tcp_" prefix (mss,
// max_connections, keepalive), except tcp_msl, which the
// lifecycle issue names so (as FreeBSD does: net.inet.tcp.msl): Linux fixes
// TIME-WAIT at 60 s (TCP_TIMEWAIT_LEN) with no sysctl.
//
// Values are read and written in the text form `sysctl -w` takes: durations
// as whole seconds, booleans as 0/1, triples and pairs separated by spaces or
// tabs.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of Set, Get and Validate; test with errors.Is.
var (
	// ErrUnknownSetting: the name is not a setting.
	ErrUnknownSetting = errors.New("unknown setting")
	// ErrBadValue: the value is malformed or out of range.
	ErrBadValue = errors.New("bad setting value")
)

// SettingError is the error of Set/Get/Validate. Its message is one line:
// `unknown setting "tcp_foo" (did you mean "tcp_fin_timeout"?)` or
// `tcp_syn_retries: 0 out of range 1..127`.
type SettingError struct {
	Name string // the setting's name as given
	Msg  string // what is wrong, without the name
	Err  error  // ErrUnknownSetting or ErrBadValue
}

func (e *SettingError) Error() string {
	if e.Err == ErrUnknownSetting {
		return "unknown setting " + strconv.Quote(e.Name) + e.Msg
	}
	return e.Name + ": " + e.Msg
}

// Unwrap returns the sentinel (ErrUnknownSetting or ErrBadValue).
func (e *SettingError) Unwrap() error { return e.Err }

// Ranges Linux enforces (include/net/tcp.h, net/ipv4/sysctl_net_ipv4.c).
const (
	// MaxTCPSynCnt is MAX_TCP_SYNCNT: tcp_syn_retries is 1..127.
	MaxTCPSynCnt = 127
	// MaxTCPKeepIdle is MAX_TCP_KEEPIDLE: keepalive time 1..32767 s.
	MaxTCPKeepIdle = 32767
	// MaxTCPKeepIntvl is MAX_TCP_KEEPINTVL: keepalive interval 1..32767 s.
	MaxTCPKeepIntvl = 32767
	// MaxTCPKeepCnt is MAX_TCP_KEEPCNT: keepalive probes 1..127.
	MaxTCPKeepCnt = 127
	// TCPFinTimeoutMax is TCP_FIN_TIMEOUT_MAX in seconds: the most
	// TCP_LINGER2 takes.
	TCPFinTimeoutMax = 120
	// TCPMinSndMSS is TCP_MIN_SND_MSS (48), the floor of tcp_min_snd_mss
	// (Linux commit 5f3e2bf008c2, the SACK-panic fix).
	TCPMinSndMSS = 48
	// DefaultMaxConnections is xdptcp's default bound on connections per
	// loop (the flow table's size). It matches tcp_max_tw_buckets' default
	// (262144): with the default buffers a fully used table already holds
	// more memory than a small server has, and one loop (one core) is not
	// expected to serve more live connections than that.
	DefaultMaxConnections = 262144
	// DefaultMSSValue is the MSS xdptcp advertises by default: an Ethernet
	// MTU of 1500 minus 20 bytes of IPv4 and 20 of TCP header (RFC 9293
	// §3.7.1; RFC 879).
	DefaultMSSValue = 1460
	// DefaultTCPMemLow, DefaultTCPMemPressure and DefaultTCPMemHigh are
	// tcp_mem's defaults in pages: what Linux's tcp_init_mem computes for
	// a host with 4 GiB of buffer pages (limit = pages/16 = 65536;
	// low = limit/4*3, pressure = limit, high = low*2): 192, 256 and 384 MiB.
	DefaultTCPMemLow      = 49152
	DefaultTCPMemPressure = 65536
	DefaultTCPMemHigh     = 98304
	// maxInt31 bounds sizes Linux keeps in an int.
	maxInt31 = 1<<31 - 1
)

// DefaultConfig returns Linux's defaults (Linux 6.x, a host with enough
// memory for the largest tcp_max_syn_backlog default), plus xdptcp's own
// settings' defaults.
func DefaultConfig() Config {
	return Config{
		SynRetries:         6,
		SynLinearTimeouts:  4,
		SynackRetries:      5,
		Retries2:           15,
		OrphanRetries:      0,
		FinTimeout:         60 * time.Second,
		MaxSynBacklog:      4096,
		Somaxconn:          4096,
		AbortOnOverflow:    false,
		Syncookies:         1,
		MSL:                30 * time.Second,
		MaxTwBuckets:       262144,
		MaxOrphans:         DefaultMaxConnections / 2,
		TwReuse:            2,
		TwReuseDelayMs:     1000,
		RFC1337:            false,
		Keepalive:          false,
		KeepaliveTime:      7200 * time.Second,
		KeepaliveIntvl:     75 * time.Second,
		KeepaliveProbes:    9,
		Rmem:               [3]int{4096, 131072, 33554432},
		ModerateRcvbuf:     true,
		Wmem:               [3]int{4096, 16384, 4194304},
		WmemMax:            4194304,
		RmemMax:            4194304,
		Mem:                [3]int{DefaultTCPMemLow, DefaultTCPMemPressure, DefaultTCPMemHigh},
		Timestamps:         true,
		WindowScaling:      true,
		Sack:               true,
		DSACK:              true,
		CongestionControl:  "cubic",
		Recovery:           1,
		MaxReordering:      300,
		InvalidRatelimitMs: 500,
		ChallengeAckLimit:  math.MaxInt32,
		PingpongThresh:     1,
		CompSackDelayNs:    1000000,
		CompSackNr:         44,
		Reordering:         3,
		RTOMinUs:           int(minRTO / time.Microsecond),
		RTOMaxMs:           int(maxRTO / time.Millisecond),
		EarlyRetrans:       3,
		Frto:               2,
		TxRehash:           true,
		SlowStartAfterIdle: true,
		NotsentLowat:       math.MaxUint32,
		ECN:                2,
		ECNFallback:        true,
		PacingSSRatio:      200,
		PacingCARatio:      120,
		MinSndMss:          TCPMinSndMSS,
		MinTSOSegs:         2,
		MinRTTWlen:         300,
		Retries1:           3,
		MtuProbing:         0,
		BaseMss:            1024,
		MtuProbeFloor:      48,
		ProbeThreshold:     8,
		ProbeInterval:      600,
		PmtuCacheSize:      4096,
		UnresQlen:          101,
		LocalPortRange:     [2]uint16{32768, 60999},
		MaxConnections:     DefaultMaxConnections,
		DefaultMSS:         DefaultMSSValue,
	}
}

// Config holds the TCP settings, named after Linux's sysctls
// (net.ipv4.tcp_*). DefaultConfig returns Linux's defaults; Set and Get take
// the sysctl text form; Settings describes each one.
type Config struct {
	SynRetries         int           // tcp_syn_retries (6): SYN retransmissions of an active open, 1..127
	SynLinearTimeouts  int           // tcp_syn_linear_timeouts (4): an active open's first timeouts that do not back off, 0..127
	SynackRetries      int           // tcp_synack_retries (5): SYN-ACK retransmissions, 0..255
	Retries2           int           // tcp_retries2 (15): retransmissions before an established connection is dropped
	OrphanRetries      int           // tcp_orphan_retries (0 means 8, as Linux)
	FinTimeout         time.Duration // tcp_fin_timeout (60 s): FIN-WAIT-2 lifetime of an orphan
	MaxSynBacklog      int           // tcp_max_syn_backlog (4096): SYN queue bound per listener
	Somaxconn          int           // somaxconn (4096): accept queue bound
	AbortOnOverflow    bool          // tcp_abort_on_overflow (0): RST instead of drop when the accept queue is full
	Syncookies         int           // tcp_syncookies (1): 0 off, 1 when the SYN queue is full, 2 always
	MSL                time.Duration // tcp_msl (30 s; TIME-WAIT lasts 2*MSL, Linux's TCP_TIMEWAIT_LEN)
	MaxTwBuckets       int           // tcp_max_tw_buckets (262144): TIME-WAIT entries per loop
	MaxOrphans         int           // tcp_max_orphans (131072): connections the application closed that may still be open, per loop
	TwReuse            int           // tcp_tw_reuse (2: loopback only in Linux; here 0/1/2)
	TwReuseDelayMs     int           // tcp_tw_reuse_delay (1000 ms, 1..60000): how long after entering TIME-WAIT its 4-tuple may be reused
	RFC1337            bool          // tcp_rfc1337 (0): 1 ignores a RST in TIME-WAIT (RFC 1337); 0 lets an in-window one end it, as Linux does
	Keepalive          bool          // keepalive (0): xdptcp: SO_KEEPALIVE on for every new connection (Linux has no sysctl: off unless the socket asks)
	KeepaliveTime      time.Duration // tcp_keepalive_time (7200 s): idle time before the first probe
	KeepaliveIntvl     time.Duration // tcp_keepalive_intvl (75 s): time between probes
	KeepaliveProbes    int           // tcp_keepalive_probes (9): unanswered probes before the connection is dropped
	Rmem               [3]int        // tcp_rmem (4096 131072 33554432, Linux 6.16 and later): receive buffer min, default, max bytes
	ModerateRcvbuf     bool          // tcp_moderate_rcvbuf (1): receive-buffer autotuning (rcvBufGrow)
	Wmem               [3]int        // tcp_wmem (4096 16384 4194304): send buffer min, default, max bytes
	WmemMax            int           // wmem_max (net.core; 4194304 in Linux 6.18): the largest SO_SNDBUF (Conn.SetSendBuffer), doubled
	RmemMax            int           // rmem_max (net.core; 4194304 in Linux 6.18): the largest SO_RCVBUF (Conn.SetRecvBuffer), doubled
	Mem                [3]int        // tcp_mem (49152 65536 98304): low, pressure, high in pages of 4096 bytes, for all connections of the process (mem.go)
	Timestamps         bool          // tcp_timestamps (1): RFC 7323 timestamps
	WindowScaling      bool          // tcp_window_scaling (1): RFC 7323 window scaling
	SignedWindows      bool          // tcp_workaround_signed_windows (0): at most 32767 in the SYN-ACK's window, and in every window when not scaled
	Sack               bool          // tcp_sack (1): RFC 2018 selective acknowledgements
	DSACK              bool          // tcp_dsack (1): report data received twice in D-SACK blocks (RFC 2883)
	CongestionControl  string        // tcp_congestion_control ("cubic"; also "bbr", "newreno", "reno")
	Recovery           int           // tcp_recovery (1): bits 0x2 static reordering window, 0x4 no DupThresh rule in RACK; 0x1 (RACK) has no effect, as in Linux 6.18: with SACK RACK always detects losses
	MaxReordering      int           // tcp_max_reordering (300, 3..65535): the largest reordering degree (DupThresh) reordering seen may raise
	Reordering         int           // tcp_reordering (3, 3..65535): a new connection's reordering degree (DupThresh, tcpi_reordering)
	InvalidRatelimitMs int           // tcp_invalid_ratelimit (500 ms; 0: none): at most one ACK per interval answers unacceptable segments without data
	ChallengeAckLimit  int           // tcp_challenge_ack_limit (2147483647: none): challenge ACKs per second for the whole process (challenge.go)
	PingpongThresh     int           // tcp_pingpong_thresh (1, 1..255): replies within the ACK timeout that start pingpong mode (no quick ACKs)
	CompSackDelayNs    int           // tcp_comp_sack_delay_ns (1000000): the longest a compressed SACK waits; it waits 5% of the RTT up to this (compack.go)
	CompSackNr         int           // tcp_comp_sack_nr (44, 0..255): the most ACKs one compressed SACK stands for; 0: no compression
	RTOMinUs           int           // tcp_rto_min_us (200000): the RTO's smallest variance term, and the tail loss probe's delayed-ACK allowance with one segment out
	RTOMaxMs           int           // tcp_rto_max_ms (120000, 1000..120000): the largest RTO, the cap of the retries' time budget, and half the silence that ends a shrunk window
	EarlyRetrans       int           // tcp_early_retrans (3): 3 or 4 send tail loss probes (RFC 8985 §7), 0-2 do not
	Frto               int           // tcp_frto (2): F-RTO (RFC 5682) detects spurious RTOs; 0 off
	TxRehash           bool          // txrehash (net.core, 1): a timeout or a duplicate of received data moves the connection to a new IPv6 flow label (rehash.go)
	PacingSSRatio      int           // tcp_pacing_ss_ratio (200): pacing rate in slow start, percent of cwnd/SRTT
	PacingCARatio      int           // tcp_pacing_ca_ratio (120): pacing rate in congestion avoidance, percent of cwnd/SRTT
	ECN                int           // tcp_ecn (2): RFC 3168 ECN: 0 off, 1 request and accept, 2 accept when requested
	ECNFallback        bool          // tcp_ecn_fallback (1): a resent SYN does not request ECN
	SlowStartAfterIdle bool          // tcp_slow_start_after_idle (1): cwnd restarts from the initial window after an idle RTO (RFC 5681 §4.1)
	ThinLinearTimeouts bool          // tcp_thin_linear_timeouts (0): a thin stream's first six timeouts do not back off
	NotsentLowat       int           // tcp_notsent_lowat (4294967295, i.e. off): a connection is writable only while its unsent bytes are below half of it (Linux tcp_stream_memory_free)
	MinSndMss          int           // tcp_min_snd_mss (48): floor of the peer's MSS
	MinRTTWlen         int           // tcp_min_rtt_wlen (300): seconds of RTT samples the minimum RTT is taken over (Linux tcp_min_rtt)
	MinTSOSegs         int           // tcp_min_tso_segs (2): the fewest segments of a packet Linux would build with TSO; xdptcp sends segments, this sizes where PSH falls (push.go)
	Retries1           int           // tcp_retries1 (3): its tcp_model_timeout (3.0 s) since the first retransmission suspects the path (black-hole MTU search)
	MtuProbing         int           // tcp_mtu_probing (0): 0 off, 1 after an ICMP black hole is detected, 2 from the start
	BaseMss            int           // tcp_base_mss (1024): the MSS the black-hole search starts from
	MtuProbeFloor      int           // tcp_mtu_probe_floor (48): the smallest MSS the search goes to
	ProbeThreshold     int           // tcp_probe_threshold (8): the search stops when its range is narrower (bytes of MTU)
	ProbeInterval      int           // tcp_probe_interval (600): seconds after which a finished search starts again
	PmtuCacheSize      int           // pmtu_cache_size (4096): xdptcp: destinations whose path MTU a loop remembers
	UnresQlen          int           // unres_qlen (101, Linux net.ipv4.neigh.default.unres_qlen): packets held per unresolved next hop; 0: dropped
	LocalPortRange     [2]uint16     // ip_local_port_range (32768 60999): ephemeral ports for Dial
	MaxConnections     int           // max_connections (262144): xdptcp's flow table bound per loop
	DefaultMSS         int           // mss (1460): our MSS to advertise (MTU-40)
}

// SettingInfo describes one setting for --help, the README and reloads.
type SettingInfo struct {
	Name    string // sysctl-style name, e.g. "tcp_fin_timeout"
	Default string // default value in sysctl text form
	Meaning string // one line
	// Runtime reports whether a reload (SIGHUP) may change it; settings
	// that size structures at start-up (max_connections) need a restart.
	// Changed values apply to connections created after the reload.
	Runtime bool
}

// settingDef is one entry of settingTable.
type settingDef struct {
	name    string
	meaning string
	runtime bool
	get     func(c *Config) string
	set     func(c *Config, v string) *SettingError // parse and range-check v
}

// Settings returns every setting, in the table's (documentation) order.
func Settings() []SettingInfo {
	d := DefaultConfig()
	out := make([]SettingInfo, len(settingTable))
	for i := range settingTable {
		s := &settingTable[i]
		out[i] = SettingInfo{Name: s.name, Default: s.get(&d), Meaning: s.meaning, Runtime: s.runtime}
	}
	return out
}

// SettingsHelp returns a table of every setting for --help and the
// README: name, default and meaning, one per line, with "(restart)" after
// those a reload cannot change.
func SettingsHelp() string {
	infos := Settings()
	wn, wd := len("NAME"), len("DEFAULT")
	for _, s := range infos {
		wn = max(wn, len(s.Name))
		wd = max(wd, len(s.Default))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %-*s  %s\n", wn, "NAME", wd, "DEFAULT", "MEANING")
	for _, s := range infos {
		m := s.Meaning
		if !s.Runtime {
			m += " (restart)"
		}
		fmt.Fprintf(&b, "%-*s  %-*s  %s\n", wn, s.Name, wd, s.Default, m)
	}
	return b.String()
}

// SettingNames returns the names of every setting, in documentation order.
func SettingNames() []string {
	out := make([]string, len(settingTable))
	for i := range settingTable {
		out[i] = settingTable[i].name
	}
	return out
}

// Set sets the setting with Linux name name (e.g. "tcp_fin_timeout") from
// its sysctl text form; it rejects unknown names and out-of-range values,
// leaving c unchanged. Errors wrap ErrUnknownSetting or ErrBadValue.
func (c *Config) Set(name, value string) error {
	s := lookupSettingDef(name)
	if s == nil {
		return unknownSetting(name)
	}
	if err := s.set(c, value); err != nil {
		err.Name = name
		return err
	}
	return nil
}

// Get returns the setting's value in sysctl text form.
func (c *Config) Get(name string) (string, error) {
	s := lookupSettingDef(name)
	if s == nil {
		return "", unknownSetting(name)
	}
	return s.get(c), nil
}

// Validate checks every settingDef of c against the ranges Set enforces and
// returns the first violation (nil if all hold). Durations must be whole
// seconds of at least the range's minimum.
func (c *Config) Validate() error {
	for i := range settingTable {
		s := &settingTable[i]
		tmp := *c
		if err := s.set(&tmp, s.get(c)); err != nil {
			err.Name = s.name
			return err
		}
	}
	// Durations set from Go code may hold fractions Get truncates.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"tcp_fin_timeout", c.FinTimeout}, {"tcp_msl", c.MSL},
		{"tcp_keepalive_time", c.KeepaliveTime}, {"tcp_keepalive_intvl", c.KeepaliveIntvl},
	} {
		if d.v%time.Second != 0 {
			return &SettingError{Name: d.name, Msg: d.v.String() + " is not a whole number of seconds", Err: ErrBadValue}
		}
	}
	return nil
}

func lookupSettingDef(name string) *settingDef {
	for i := range settingTable {
		if settingTable[i].name == name {
			return &settingTable[i]
		}
	}
	return nil
}

// unknownSetting builds the error for name, with a "did you mean" for a
// near miss: edit distance at most 2 (3 for names of 12 bytes or more), or the same name with or without the
// "tcp_" prefix.
func unknownSetting(name string) *SettingError {
	e := &SettingError{Name: name, Err: ErrUnknownSetting}
	best, bestD := "", 3 // accept distance <= 2
	if len(name) >= 12 {
		bestD = 4 // long names: <= 3
	}
	for i := range settingTable {
		n := settingTable[i].name
		if "tcp_"+n == name || "tcp_"+name == n {
			best, bestD = n, 0
			break
		}
		if d := settingEditDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		e.Msg = " (did you mean " + strconv.Quote(best) + "?)"
	}
	return e
}

// settingEditDistance is the Levenshtein distance of a and b (bytes).
func settingEditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// badSettingValue returns an ErrBadValue error; Set fills in the name.
func badSettingValue(format string, args ...any) *SettingError {
	return &SettingError{Msg: fmt.Sprintf(format, args...), Err: ErrBadValue}
}

// parseSettingInt parses one integer field in [lo, hi].
func parseSettingInt(v string, lo, hi int) (int, *SettingError) {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badSettingValue("invalid value %q: want an integer", v)
	}
	if n < int64(lo) || n > int64(hi) {
		return 0, badSettingValue("%d out of range %d..%d", n, lo, hi)
	}
	return int(n), nil
}

// parseSettingInts parses exactly len(dst) whitespace-separated integers, each in
// [lo, hi].
func parseSettingInts(v string, dst []int, lo, hi int) *SettingError {
	f := strings.Fields(v)
	if len(f) != len(dst) {
		return badSettingValue("invalid value %q: want %d integers separated by spaces", v, len(dst))
	}
	for i, s := range f {
		n, err := parseSettingInt(s, lo, hi)
		if err != nil {
			return err
		}
		dst[i] = n
	}
	return nil
}

func intSetting(name, meaning string, runtime bool, lo, hi int, p func(c *Config) *int) settingDef {
	return settingDef{
		name: name, meaning: meaning, runtime: runtime,
		get: func(c *Config) string { return strconv.Itoa(*p(c)) },
		set: func(c *Config, v string) *SettingError {
			n, err := parseSettingInt(v, lo, hi)
			if err != nil {
				return err
			}
			*p(c) = n
			return nil
		},
	}
}

func boolSetting(name, meaning string, p func(c *Config) *bool) settingDef {
	return settingDef{
		name: name, meaning: meaning, runtime: true,
		get: func(c *Config) string {
			if *p(c) {
				return "1"
			}
			return "0"
		},
		set: func(c *Config, v string) *SettingError {
			n, err := parseSettingInt(v, 0, 1)
			if err != nil {
				return err
			}
			*p(c) = n == 1
			return nil
		},
	}
}

// secondsSetting is a duration written as whole seconds in [lo, hi].
func secondsSetting(name, meaning string, lo, hi int, p func(c *Config) *time.Duration) settingDef {
	return settingDef{
		name: name, meaning: meaning, runtime: true,
		get: func(c *Config) string { return strconv.FormatInt(int64(*p(c)/time.Second), 10) },
		set: func(c *Config, v string) *SettingError {
			n, err := parseSettingInt(v, lo, hi)
			if err != nil {
				return err
			}
			*p(c) = time.Duration(n) * time.Second
			return nil
		},
	}
}

// memSetting is a tcp_rmem/tcp_wmem/tcp_mem triple: each at least 1 (Linux's
// extra1 = SYSCTL_ONE), and min <= default <= max.
func memSetting(name, meaning string, p func(c *Config) *[3]int) settingDef {
	order := "min <= default <= max"
	if name == "tcp_mem" {
		order = "low <= pressure <= high"
	}
	return settingDef{
		name: name, meaning: meaning, runtime: true,
		get: func(c *Config) string {
			m := p(c)
			return fmt.Sprintf("%d %d %d", m[0], m[1], m[2])
		},
		set: func(c *Config, v string) *SettingError {
			var m [3]int
			if err := parseSettingInts(v, m[:], 1, maxInt31); err != nil {
				return err
			}
			if m[0] > m[1] || m[1] > m[2] {
				return badSettingValue("%q: want %s", v, order)
			}
			*p(c) = m
			return nil
		},
	}
}

// congestionControls are the accepted tcp_congestion_control values
// ("newreno" and "reno" are one controller, Linux's reno).
var congestionControls = []string{"cubic", "bbr", "newreno", "reno"}

// ErrBadCongestionControl: SetCongestionControl was given a name that is
// not one of tcp_congestion_control's values.
var ErrBadCongestionControl = errors.New("unknown congestion control")

func validCongestionControl(name string) bool {
	for _, cc := range congestionControls {
		if name == cc {
			return true
		}
	}
	return false
}

// settingTable holds every setting, in documentation order.
var settingTable = []settingDef{
	intSetting("tcp_syn_retries", "SYN retransmissions before an active open fails (MAX_TCP_SYNCNT 127)", true,
		1, MaxTCPSynCnt, func(c *Config) *int { return &c.SynRetries }),
	intSetting("tcp_syn_linear_timeouts", "an active open's first SYN timeouts that keep the initial RTO (1 s) before it doubles (Linux 6.18: SYNs at 0, 1, 2, 3, 4, 5, 7, 11 s...); the give-up time stays tcp_syn_retries' doubling schedule", true,
		0, MaxTCPSynCnt, func(c *Config) *int { return &c.SynLinearTimeouts }),
	intSetting("tcp_synack_retries", "SYN-ACK retransmissions before a passive open is dropped", true,
		0, 255, func(c *Config) *int { return &c.SynackRetries }),
	intSetting("tcp_retries2", "retransmissions before an established connection is dropped", true,
		0, 255, func(c *Config) *int { return &c.Retries2 }),
	intSetting("tcp_orphan_retries", "retransmissions before an orphaned (closed) connection is dropped; 0 means 8", true,
		0, 255, func(c *Config) *int { return &c.OrphanRetries }),
	secondsSetting("tcp_fin_timeout", "seconds an orphaned connection stays in FIN-WAIT-2 (at least 3.5 RTOs, as Linux tcp_fin_time)",
		1, MaxTCPKeepIdle, func(c *Config) *time.Duration { return &c.FinTimeout }),
	intSetting("tcp_max_syn_backlog", "SYN queue (half-open connections) bound per listener", true,
		1, maxInt31, func(c *Config) *int { return &c.MaxSynBacklog }),
	intSetting("somaxconn", "accept queue bound (listen backlogs are capped to it)", true,
		0, maxInt31, func(c *Config) *int { return &c.Somaxconn }),
	boolSetting("tcp_abort_on_overflow", "1: reset a handshake whose accept queue is full instead of dropping its ACK",
		func(c *Config) *bool { return &c.AbortOnOverflow }),
	intSetting("tcp_syncookies", "SYN cookies: 0 never, 1 when the SYN queue is full, 2 always", true,
		0, 2, func(c *Config) *int { return &c.Syncookies }),
	secondsSetting("tcp_msl", "maximum segment lifetime in seconds; TIME-WAIT lasts 2*tcp_msl (Linux: fixed 60 s)",
		1, 3600, func(c *Config) *time.Duration { return &c.MSL }),
	intSetting("tcp_max_tw_buckets", "TIME-WAIT entries per loop; beyond it closing sockets skip TIME-WAIT", true,
		0, maxInt31, func(c *Config) *int { return &c.MaxTwBuckets }),
	intSetting("tcp_max_orphans", "connections closed by the application but still open, per loop; beyond it one that closes, or whose retransmission or probe timer fires, is reset (TCPAbortOnMemory)", true,
		0, maxInt31, func(c *Config) *int { return &c.MaxOrphans }),
	intSetting("tcp_tw_reuse", "reuse TIME-WAIT ports for Dial: 0 off, 1 on, 2 loopback only", true,
		0, 2, func(c *Config) *int { return &c.TwReuse }),
	intSetting("tcp_tw_reuse_delay", "milliseconds after entering TIME-WAIT before tcp_tw_reuse may give its 4-tuple to Dial (at most TCP_PAWS_MSL, 60 s)", true,
		1, 60000, func(c *Config) *int { return &c.TwReuseDelayMs }),
	boolSetting("tcp_rfc1337", "1: ignore a RST in TIME-WAIT (RFC 1337); 0: an in-window RST ends TIME-WAIT, as in Linux by default",
		func(c *Config) *bool { return &c.RFC1337 }),
	boolSetting("keepalive", "xdptcp: 1 turns keepalive (SO_KEEPALIVE) on for every new connection; Linux has no such sysctl",
		func(c *Config) *bool { return &c.Keepalive }),
	secondsSetting("tcp_keepalive_time", "idle seconds before the first keepalive probe (MAX_TCP_KEEPIDLE 32767)",
		1, MaxTCPKeepIdle, func(c *Config) *time.Duration { return &c.KeepaliveTime }),
	secondsSetting("tcp_keepalive_intvl", "seconds between keepalive probes (MAX_TCP_KEEPINTVL 32767)",
		1, MaxTCPKeepIntvl, func(c *Config) *time.Duration { return &c.KeepaliveIntvl }),
	intSetting("tcp_keepalive_probes", "unanswered keepalive probes before the connection is dropped (MAX_TCP_KEEPCNT 127)", true,
		1, MaxTCPKeepCnt, func(c *Config) *int { return &c.KeepaliveProbes }),
	memSetting("tcp_rmem", "receive buffer bytes: min default max",
		func(c *Config) *[3]int { return &c.Rmem }),
	boolSetting("tcp_moderate_rcvbuf", "receive-buffer autotuning: the buffer grows from tcp_rmem[1] up to tcp_rmem[2] with what the application reads per round trip",
		func(c *Config) *bool { return &c.ModerateRcvbuf }),
	memSetting("tcp_wmem", "send buffer bytes: min default max",
		func(c *Config) *[3]int { return &c.Wmem }),
	intSetting("wmem_max", "largest SO_SNDBUF value in bytes (net.core.wmem_max; the buffer is twice it)", true,
		sockMinSndbuf/2, maxInt31/2, func(c *Config) *int { return &c.WmemMax }),
	intSetting("rmem_max", "largest SO_RCVBUF value in bytes (net.core.rmem_max; the buffer is twice it)", true,
		sockMinRcvbuf/2, maxInt31/2, func(c *Config) *int { return &c.RmemMax }),
	memSetting("tcp_mem", "pages (4096 bytes) of buffer memory for all connections: low pressure high",
		func(c *Config) *[3]int { return &c.Mem }),
	boolSetting("tcp_timestamps", "RFC 7323 timestamps",
		func(c *Config) *bool { return &c.Timestamps }),
	boolSetting("tcp_window_scaling", "RFC 7323 window scaling",
		func(c *Config) *bool { return &c.WindowScaling }),
	boolSetting("tcp_workaround_signed_windows", "1: offer at most 32767 in a SYN or SYN-ACK, and in every window when window scaling is off, for peers that read the window as signed",
		func(c *Config) *bool { return &c.SignedWindows }),
	boolSetting("tcp_sack", "RFC 2018 selective acknowledgements",
		func(c *Config) *bool { return &c.Sack }),
	boolSetting("tcp_dsack", "1: our ACKs report data received twice in a D-SACK block (RFC 2883), with SACK",
		func(c *Config) *bool { return &c.DSACK }),
	{
		name: "tcp_congestion_control", meaning: "congestion control for new connections: cubic, bbr (BBR v1), newreno or reno", runtime: true,
		get: func(c *Config) string { return c.CongestionControl },
		set: func(c *Config, v string) *SettingError {
			v = strings.TrimSpace(v)
			if validCongestionControl(v) {
				c.CongestionControl = v
				return nil
			}
			return badSettingValue("%q not one of %s", v, strings.Join(congestionControls, ", "))
		},
	},
	intSetting("tcp_recovery", "RACK (RFC 8985) bits: 0x2 static reordering window, 0x4 no DupThresh rule; 0x1 has no effect (with SACK RACK always detects losses, as in Linux 6.18)", true,
		0, 7, func(c *Config) *int { return &c.Recovery }),
	intSetting("tcp_invalid_ratelimit", "milliseconds: at most one ACK per connection in this time answers segments without data that are out of the window, old by PAWS, or draw a challenge ACK (0: no limit)", true,
		0, math.MaxInt32, func(c *Config) *int { return &c.InvalidRatelimitMs }),
	intSetting("tcp_challenge_ack_limit", "challenge ACKs (RFC 5961) per second for the whole process, a budget drawn at random around it each second; 2147483647: no limit (Linux's default since the shared count was CVE-2016-5696)", true,
		1, math.MaxInt32, func(c *Config) *int { return &c.ChallengeAckLimit }),
	intSetting("tcp_pingpong_thresh", "replies sent within the ACK timeout of the data they answer after which a connection is in pingpong mode: its ACKs wait for the reply instead of going at once", true,
		1, 255, func(c *Config) *int { return &c.PingpongThresh }),
	intSetting("tcp_comp_sack_delay_ns", "nanoseconds: the longest an ACK for out-of-order data, after the third for the same hole, is held to be sent as one with those that follow (SACK compression); it is held 5% of the RTT up to this, and sent at once when that is under the 1 ms timer tick", true,
		0, math.MaxInt32, func(c *Config) *int { return &c.CompSackDelayNs }),
	intSetting("tcp_comp_sack_nr", "the most ACKs for out-of-order data one compressed SACK stands for (then it goes at once); 0: no SACK compression", true,
		0, 255, func(c *Config) *int { return &c.CompSackNr }),
	intSetting("tcp_reordering", "a new connection's reordering degree in segments (DupThresh, tcpi_reordering), before reordering seen raises it", true,
		3, 65535, func(c *Config) *int { return &c.Reordering }),
	intSetting("tcp_max_reordering", "largest reordering degree in segments (DupThresh, tcpi_reordering) that reordering seen may raise the connection's to", true,
		3, 65535, func(c *Config) *int { return &c.MaxReordering }),
	intSetting("tcp_rto_min_us", "smallest retransmission timeout in microseconds: the floor of the RTO's variance term, and what a tail loss probe adds with one segment out", true,
		1, math.MaxInt32, func(c *Config) *int { return &c.RTOMinUs }),
	intSetting("tcp_rto_max_ms", "largest retransmission timeout in milliseconds: the RTO's backoff stops there, the time budget of tcp_retries2 and tcp_syn_retries assumes it, and twice it of silence ends a shrunk window's retransmissions", true,
		1000, 120000, func(c *Config) *int { return &c.RTOMaxMs }),
	intSetting("tcp_early_retrans", "tail loss probes (RFC 8985 TLP): 3 or 4 on, 0-2 off", true,
		0, 4, func(c *Config) *int { return &c.EarlyRetrans }),
	intSetting("tcp_frto", "F-RTO (RFC 5682) spurious RTO detection: 0 off, 1 or 2 on (SACK-enhanced when SACK is on)", true,
		0, 2, func(c *Config) *int { return &c.Frto }),
	boolSetting("txrehash", "net.core.txrehash: 1 moves a connection to a new IPv6 flow label (another ECMP path) on each retransmission timeout and on a duplicate of received data sent under a new label; 0 keeps one label",
		func(c *Config) *bool { return &c.TxRehash }),
	intSetting("tcp_pacing_ss_ratio", "pacing rate in slow start, percent of cwnd/SRTT (paced connections: SetMaxPacingRate)", true,
		0, 1000, func(c *Config) *int { return &c.PacingSSRatio }),
	intSetting("tcp_pacing_ca_ratio", "pacing rate in congestion avoidance, percent of cwnd/SRTT", true,
		0, 1000, func(c *Config) *int { return &c.PacingCARatio }),
	intSetting("tcp_ecn", "RFC 3168 ECN: 0 off, 1 request on Dial and accept, 2 accept when the peer requests it", true,
		0, 2, func(c *Config) *int { return &c.ECN }),
	boolSetting("tcp_ecn_fallback", "1: a resent SYN of Dial does not request ECN (RFC 3168 §6.1.1.1: the first may have been dropped for its ECN bits)",
		func(c *Config) *bool { return &c.ECNFallback }),
	boolSetting("tcp_slow_start_after_idle", "1: after an idle RTO cwnd restarts from the initial window (RFC 5681 §4.1)",
		func(c *Config) *bool { return &c.SlowStartAfterIdle }),
	boolSetting("tcp_thin_linear_timeouts", "1: the first six retransmission timeouts of a thin stream (fewer than 4 segments out, past the initial slow start) do not back off",
		func(c *Config) *bool { return &c.ThinLinearTimeouts }),
	intSetting("tcp_notsent_lowat", "unsent bytes below which a connection becomes writable again: poll/OnWritable wait until unsent*2 < it (Linux; `TCP_NOTSENT_LOWAT` per connection overrides)", true,
		0, math.MaxUint32, func(c *Config) *int { return &c.NotsentLowat }),
	intSetting("tcp_min_snd_mss", "floor of the peer's advertised MSS (TCP_MIN_SND_MSS 48)", true,
		TCPMinSndMSS, 65535, func(c *Config) *int { return &c.MinSndMss }),
	intSetting("tcp_min_rtt_wlen", "seconds of RTT samples the minimum RTT (RACK's reordering window, TCP_INFO min_rtt) is taken over", true,
		0, 86400, func(c *Config) *int { return &c.MinRTTWlen }),
	intSetting("tcp_min_tso_segs", "the fewest segments of a TSO packet (tcp_tso_autosize); xdptcp has no TSO: it places PSH at the end of each packet Linux would build", true,
		1, 255, func(c *Config) *int { return &c.MinTSOSegs }),
	intSetting("tcp_retries1", "retransmission timeouts whose time (Linux's tcp_model_timeout, 3.0 s for 3) must pass since the first retransmission before the path is suspected (then tcp_mtu_probing acts)", true,
		0, 255, func(c *Config) *int { return &c.Retries1 }),
	intSetting("tcp_mtu_probing", "MSS search for paths that drop ICMP (RFC 4821 PLPMTUD): 0 off, 1 after tcp_retries1 timeouts, 2 always (start at tcp_base_mss); then probes upward", true,
		0, 2, func(c *Config) *int { return &c.MtuProbing }),
	intSetting("tcp_base_mss", "the MSS the tcp_mtu_probing search starts from (payload, without options)", true,
		TCPMinSndMSS, 65535, func(c *Config) *int { return &c.BaseMss }),
	intSetting("tcp_mtu_probe_floor", "the smallest MSS the tcp_mtu_probing search goes down to", true,
		TCPMinSndMSS, 65535, func(c *Config) *int { return &c.MtuProbeFloor }),
	intSetting("tcp_probe_threshold", "the tcp_mtu_probing search upward stops when the range left is narrower than this many bytes of MTU", true,
		0, 65535, func(c *Config) *int { return &c.ProbeThreshold }),
	intSetting("tcp_probe_interval", "seconds after which a finished tcp_mtu_probing search probes upward again (the path MTU may have grown)", true,
		0, math.MaxUint32, func(c *Config) *int { return &c.ProbeInterval }),
	{
		name: "ip_local_port_range", meaning: "ephemeral ports for Dial: first last", runtime: true,
		get: func(c *Config) string {
			return fmt.Sprintf("%d %d", c.LocalPortRange[0], c.LocalPortRange[1])
		},
		set: func(c *Config, v string) *SettingError {
			var r [2]int
			if err := parseSettingInts(v, r[:], 1, 65535); err != nil {
				return err
			}
			// Linux (ipv4_local_port_range) rejects last < first only.
			if r[1] < r[0] {
				return badSettingValue("%q: want first <= last", v)
			}
			c.LocalPortRange = [2]uint16{uint16(r[0]), uint16(r[1])}
			return nil
		},
	},
	intSetting("max_connections", "xdptcp: connections per loop (flow table size)", false,
		1, 1<<26, func(c *Config) *int { return &c.MaxConnections }),
	intSetting("pmtu_cache_size", "xdptcp: destinations whose learnt path MTU each loop remembers (10 minutes each); the oldest goes first", true,
		1, 1<<20, func(c *Config) *int { return &c.PmtuCacheSize }),
	intSetting("unres_qlen", "packets held per unresolved next hop (ARP, NDP) until its reply, the oldest dropped when full; 0: dropped at once (Linux neigh unres_qlen)", true,
		0, 65535, func(c *Config) *int { return &c.UnresQlen }),
	intSetting("mss", "xdptcp: MSS we advertise (interface MTU minus 40)", true,
		TCPMinSndMSS, 65495, func(c *Config) *int { return &c.DefaultMSS }),
}

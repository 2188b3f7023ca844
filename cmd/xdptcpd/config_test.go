package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The example configuration loads, and gives every key a value.
func TestExampleConfigLoads(t *testing.T) {
	o, err := parseOptions([]string{"--config", "../../configs/xdptcpd.yaml"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Iface == "" || len(o.Addr) == 0 || len(o.Listen) == 0 || o.Admin == "" || o.Grace != 30*time.Second || o.ShutdownSYN == "" {
		t.Fatalf("example config incomplete: %+v", o.fileConfig)
	}
	if _, err := stackConfig(o, nil); err != nil {
		t.Fatal(err)
	}
	// Every key of fileConfig appears in the example (set or commented).
	b, _ := os.ReadFile("../../configs/xdptcpd.yaml")
	for _, key := range []string{"iface", "addr", "gateway", "queues", "cpus", "xdp_mode", "bind_mode", "xdp_replace",
		"listen", "port", "handler", "backlog", "keepalive", "admin", "sysctl", "log_format", "log_level",
		"busy_poll", "frame_size", "num_frames", "ring_size", "batch", "grace", "shutdown_syn", "cookie_key_file", "admin_token_file", "metrics",
		"cluster_id", "cluster_id_bits", "cluster_peer"} {
		if !strings.Contains(string(b), key+":") {
			t.Errorf("configs/xdptcpd.yaml does not show key %s", key)
		}
	}
}

// Flags win over the file.
func TestFlagsWinOverFile(t *testing.T) {
	o, err := parseOptions([]string{"--config", "../../configs/xdptcpd.yaml", "--iface", "lo", "--grace", "5s", "--listen", "81=blob"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Iface != "lo" || o.Grace != 5*time.Second || len(o.Listen) != 1 || o.Listen[0].Handler != "blob" {
		t.Fatalf("got iface %q grace %v listen %+v", o.Iface, o.Grace, o.Listen)
	}
}

const goodConfig = `iface: lo
addr: 198.18.0.1/24
listen:
  - port: 8080
    handler: http
`

// Every mistake in the file is one line naming the file, the line and the
// reason, with exit status 2.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", goodConfig + "gracee: 10s\n", `:6: unknown key "gracee"`},
		{"unknown listen key", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - port: 80\n    handler: http\n    backlg: 5\n", `:6: unknown key "backlg" in listen[0]`},
		{"wrong type int", goodConfig + "frame_size: big\n", `:6: frame_size: "big" is not an integer`},
		{"wrong type port", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - port: 70000\n    handler: http\n", `:4: listen[0].port: "70000" is not a port number`},
		{"wrong type duration", goodConfig + "grace: 30\n", `:6: grace: "30" is not a duration`},
		{"wrong type bool", goodConfig + "busy_poll: maybe\n", `:6: busy_poll: "maybe" is not true or false`},
		{"syntax", goodConfig + "admin: [\n", `:6: did not find expected node content`},
		{"bad sysctl name", goodConfig + "sysctl:\n  tcp_nope: \"1\"\n", `:7: sysctl`},
		{"bad sysctl value", goodConfig + "sysctl:\n  tcp_syncookies: \"7\"\n", `:7: sysctl tcp_syncookies`},
		{"bad handler", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - port: 80\n    handler: nope\n", `:5: listen[0].handler: unknown handler "nope"`},
		{"missing handler", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - port: 80\n", `:4: listen[0]: want handler`},
		{"port twice", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - port: 80\n    handler: http\n  - port: 80\n    handler: echo\n", `:6: listen[1].port: port 80 is given twice (first at line 4)`},
		{"bad address", "iface: lo\naddr: 198.18.0.300\nlisten:\n  - {port: 80, handler: http}\n", `:2: addr "198.18.0.300": not an IPv4 or IPv6 address`},
		{"bad gateway", goodConfig + "gateway: nowhere\n", `:6: gateway "nowhere": not an IPv4 or IPv6 address`},
		{"bad xdp mode", goodConfig + "xdp_mode: turbo\n", `:6: xdp_mode "turbo": want auto, native or generic`},
		{"bad bind mode", goodConfig + "bind_mode: fast\n", `:6: bind_mode "fast": want auto, zerocopy or copy`},
		{"bad log format", goodConfig + "log_format: xml\n", `:6: log_format "xml": want text or json`},
		{"bad log level", goodConfig + "log_level: loud\n", `:6: log_level "loud"`},
		{"bad frame size", goodConfig + "frame_size: 3000\n", `:6: frame_size 3000: want 2048 or 4096`},
		{"bad grace", goodConfig + "grace: -1s\n", `:6: grace -1s: want a positive duration`},
		{"bad shutdown_syn", goodConfig + "shutdown_syn: reject\n", `:6: shutdown_syn "reject": want drop or rst`},
		{"bad admin", goodConfig + "admin: localhost\n", `:6: admin "localhost": want a Unix socket path or HOST:PORT`},
		{"negative queue", goodConfig + "queues: [-1]\n", `:6: queues: -1 is negative`},
		{"not a mapping", "- a\n- b\n", `:1: want a mapping`},
		{"list for a mapping", goodConfig + "sysctl: [a]\n", `:6: sysctl: want a mapping of NAME: VALUE, not a list`},
		{"mapping for a list", "iface: lo\naddr: 198.18.0.1\nlisten: {port: 80}\n", `:3: listen: want a list of {port, handler} entries, not a mapping`},
		{"scalar for a listen entry", "iface: lo\naddr: 198.18.0.1\nlisten:\n  - 8080\n", `:4: listen[0]: "8080" is not a mapping {port: N, handler: NAME}`},
		{"key twice", goodConfig + "iface: eth0\n", `:6: mapping key "iface" already defined at line 1`},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run([]string{"--config", path}, &stderr)
			out := stderr.String()
			if code != 2 || !strings.Contains(out, path+tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Fatalf("exit %d, output %q; want exit 2 and one line containing %q", code, out, path+tc.want)
			}
		})
	}
}

// Mistakes in flags name the flag.
func TestFlagErrors(t *testing.T) {
	base := []string{"--iface", "lo", "--addr", "198.18.0.1", "--listen", "80=http"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--grace", "0s"}, "--grace 0s: want a positive duration"},
		{[]string{"--frame-size", "1000"}, "--frame-size 1000: want 2048 or 4096"},
		{[]string{"--ring-size", "3000"}, "--ring-size 3000: want a power of two from 1 to 1048576"},
		{[]string{"--xdp-mode", "x"}, `--xdp-mode "x": want auto, native or generic`},
		{[]string{"--gateway", "g"}, `--gateway "g": not an IPv4 or IPv6 address`},
		{[]string{"--log-format", "xml"}, `--log-format "xml": want text or json`},
		{[]string{"--addr", "198.18.0.2/24"}, `--addr "198.18.0.2/24": a second address of the same family`},
		{[]string{"--addr", "fe80::1/64"}, `--addr "fe80::1/64": not a global unicast IPv6 address`},
		{[]string{"--gateway", "198.18.0.254", "--gateway", "198.18.0.253"}, `--gateway "198.18.0.253": a second gateway of the same family`},
		{[]string{"--sysctl", "tcp_fin_timeout=0"}, "--sysctl tcp_fin_timeout"},
		{[]string{"--listen", "81=nope"}, `unknown handler "nope" (have http, echo, discard`},
		{[]string{"--listen", "81=nope"}, `blob)`},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		code := run(append(append([]string{}, base...), tc.args...), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// --addr and --gateway are repeatable, one per family; the config file
// takes one address or a list.
func TestDualStackOptions(t *testing.T) {
	o, err := parseOptions([]string{"--iface", "lo", "--addr", "198.18.0.1/24", "--addr", "2001:2::1/64",
		"--gateway", "198.18.0.254", "--gateway", "fe80::1", "--listen", "80=http"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stackConfig(o, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr.String() != "198.18.0.1/24" || cfg.Addr6.String() != "2001:2::1/64" ||
		cfg.Gateway.String() != "198.18.0.254" || cfg.Gateway6.String() != "fe80::1" {
		t.Fatalf("got addr %v addr6 %v gateway %v gateway6 %v", cfg.Addr, cfg.Addr6, cfg.Gateway, cfg.Gateway6)
	}
	path := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(path, []byte("iface: lo\naddr: [198.18.0.1/24, 2001:2::1/64]\ngateway: 2001:2::fe\nlisten:\n  - {port: 80, handler: http}\n"), 0o600)
	o, err = parseOptions([]string{"--config", path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = stackConfig(o, slog.Default()); err != nil || !cfg.Addr.IsValid() || cfg.Addr6.String() != "2001:2::1/64" || cfg.Gateway6.String() != "2001:2::fe" {
		t.Fatalf("file: %v %+v", err, cfg)
	}
	// IPv6 only.
	o, err = parseOptions([]string{"--iface", "lo", "--addr", "2001:2::1", "--listen", "80=http"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = stackConfig(o, slog.Default()); err != nil || cfg.Addr.IsValid() || cfg.Addr6.String() != "2001:2::1/128" {
		t.Fatalf("IPv6 only: %v %v %v", err, cfg.Addr, cfg.Addr6)
	}
}

func TestOnNetworks(t *testing.T) {
	var p []netip.Prefix
	for _, s := range []string{"198.18.0.1/24", "10.0.0.5/8", "198.18.0.2/24", "198.19.0.2/32"} {
		p = append(p, netip.MustParsePrefix(s))
	}
	for _, tc := range []struct {
		addr   int
		kernel []int
		want   bool
	}{
		{0, nil, true},         // no kernel address: dedicated interface
		{0, []int{2}, true},    // same /24
		{0, []int{1}, false},   // elsewhere
		{0, []int{1, 2}, true}, // one of them
		{1, []int{2}, false},   // 10/8 holds neither
		{0, []int{3}, false},   // a /32 elsewhere
		{1, []int{0}, false},   // symmetric
	} {
		var k []netip.Prefix
		for _, i := range tc.kernel {
			k = append(k, p[i])
		}
		if got := onNetworks(p[tc.addr], k); got != tc.want {
			t.Errorf("onNetworks(%v, %v) = %v, want %v", p[tc.addr], k, got, tc.want)
		}
	}
}

func TestMemlockPlan(t *testing.T) {
	inf := uint64(unix.RLIM_INFINITY)
	for _, tc := range []struct {
		cur, max, need uint64
		wantCur        uint64
		wantErr        bool
	}{
		{inf, inf, 1 << 30, inf, false},
		{64 << 20, 64 << 20, 16 << 20, 64 << 20, false}, // enough
		{8 << 20, 64 << 20, 16 << 20, 64 << 20, false},  // raised to the hard limit
		{8 << 20, inf, 16 << 20, inf, false},            // raised to unlimited
		{8 << 20, 8 << 20, 16 << 20, 0, true},           // hard limit too low
	} {
		got, err := memlockPlan(unix.Rlimit{Cur: tc.cur, Max: tc.max}, tc.need)
		if (err != nil) != tc.wantErr || (err == nil && got.Cur != tc.wantCur) {
			t.Errorf("memlockPlan(%d/%d, %d) = %d, %v", tc.cur, tc.max, tc.need, got.Cur, err)
		}
	}
}

func TestBlobSizes(t *testing.T) {
	for s, want := range map[string]int{"4MiB": 4 << 20, "64KiB": 64 << 10, "1000": 1000, "10B": 10, "1GiB": 1 << 30, "0": 0} {
		if n, ok := parseBlobSize([]byte(s)); !ok || n != want {
			t.Errorf("parseBlobSize(%q) = %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "2GiB", "-1", "x", "4MB", "99999999999999999999"} {
		if n, ok := parseBlobSize([]byte(s)); ok {
			t.Errorf("parseBlobSize(%q) = %d, want refusal", s, n)
		}
	}
}

// Every flag has a config key: its name with '-' spelled '_'.
func TestEveryFlagHasAKey(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	ft := reflect.TypeOf(fileConfig{})
	for i := 0; i < ft.NumField(); i++ {
		if tag := ft.Field(i).Tag.Get("yaml"); tag != "" {
			keys[tag] = true
		}
	}
	m := regexp.MustCompile(`fs\.(?:String|Bool|Int|Duration)?Var\([^,]+, "([a-z-]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(m) < 10 {
		t.Fatalf("found only %d flags in main.go", len(m))
	}
	for _, f := range m {
		if f[1] == "config" {
			continue
		}
		if key := strings.ReplaceAll(f[1], "-", "_"); !keys[key] {
			t.Errorf("flag --%s has no config key %s", f[1], key)
		}
	}
}

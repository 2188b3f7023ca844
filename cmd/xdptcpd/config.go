package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xdptcp/xdptcp"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/xsk"
)

// fileConfig is the YAML configuration file (--config). Every flag has a
// key of the same name with '-' spelled '_'; flags given on the command line
// win over the file. Keys without a flag: listen entries' backlog and
// keepalive, and shutdown_syn.
type fileConfig struct {
	Iface          string            `yaml:"iface"`
	Addr           stringList        `yaml:"addr"`    // one address, or a list (one per family)
	Gateway        stringList        `yaml:"gateway"` // likewise
	Queues         []int             `yaml:"queues"`
	CPUs           []int             `yaml:"cpus"`
	XDPMode        string            `yaml:"xdp_mode"`
	BindMode       string            `yaml:"bind_mode"`
	TxChecksum     string            `yaml:"tx_checksum"`
	XDPReplace     bool              `yaml:"xdp_replace"`
	Listen         []listenSpec      `yaml:"listen"`
	Admin          string            `yaml:"admin"`
	AdminTokenFile string            `yaml:"admin_token_file"`
	Metrics        string            `yaml:"metrics"`
	CookieKeyFile  string            `yaml:"cookie_key_file"`
	Sysctl         map[string]string `yaml:"sysctl"`
	LogFormat      string            `yaml:"log_format"`
	LogLevel       string            `yaml:"log_level"`
	BusyPoll       bool              `yaml:"busy_poll"`
	FrameSize      int               `yaml:"frame_size"`
	NumFrames      int               `yaml:"num_frames"`
	RingSize       int               `yaml:"ring_size"`
	Batch          int               `yaml:"batch"`
	Grace          time.Duration     `yaml:"grace"`
	ShutdownSYN    string            `yaml:"shutdown_syn"`
	ClusterID      int               `yaml:"cluster_id"`      // -1 (flag default): not in a cluster
	ClusterPeer    stringList        `yaml:"cluster_peer"`    // ID=ADDR, one or a list
	ClusterIDBits  int               `yaml:"cluster_id_bits"` // width of the id in the TSval

	path  string         // the file read
	lines map[string]int // key path ("addr", "listen[1].handler", "sysctl.tcp_sack") -> line
}

// listenSpec is one served port: `PORT=HANDLER` on the command line, or
// {port, handler, backlog, keepalive} in the file.
type listenSpec struct {
	Port    uint16 `yaml:"port"`
	Handler string `yaml:"handler"`
	Backlog int    `yaml:"backlog"`
	// Keepalive turns keepalive probes on for the port's connections
	// (SO_KEEPALIVE; timing from tcp_keepalive_time/_intvl/_probes).
	Keepalive bool `yaml:"keepalive"`
}

// usageError is a mistake in flags or configuration: one line, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// at returns where key was set in the file: "FILE:LINE: key".
func (fc *fileConfig) at(key string) string {
	return fmt.Sprintf("%s:%d: %s", fc.path, fc.lines[key], key)
}

// loadFile reads a YAML configuration. Syntax errors, unknown keys, values
// of the wrong type and values out of range are reported as one line
// "FILE:LINE: reason".
func loadFile(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	fc := fileConfig{path: path, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(path, err, nil)
	}
	if len(root.Content) == 0 {
		return &fc, nil // empty file
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, usagef("%s:%d: want a mapping of keys (iface: ..., addr: ..., listen: ...)", path, doc.Line)
	}
	keyLines(doc, "", fc.lines)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && err != io.EOF {
		return nil, yamlError(path, err, fc.lines)
	}
	names := make([]string, 0, len(fc.Sysctl))
	for n := range fc.Sysctl {
		names = append(names, n)
	}
	sort.Strings(names)
	probe := tcp.DefaultConfig()
	for _, name := range names {
		if err := probe.Set(name, fc.Sysctl[name]); err != nil {
			return nil, usagef("%s:%d: sysctl %v", path, fc.lines["sysctl."+name], err)
		}
	}
	seen := map[uint16]int{}
	for i, l := range fc.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		switch {
		case fc.lines[key+".port"] == 0:
			return nil, usagef("%s: want port: (1-65535) and handler:", fc.at(key))
		case l.Port == 0:
			return nil, usagef("%s: 0 is not a port (1-65535)", fc.at(key+".port"))
		case seen[l.Port] != 0:
			return nil, usagef("%s: port %d is given twice (first at line %d)", fc.at(key+".port"), l.Port, seen[l.Port])
		case l.Backlog < 0:
			return nil, usagef("%s: %d is negative", fc.at(key+".backlog"), l.Backlog)
		}
		seen[l.Port] = fc.lines[key+".port"]
		if _, err := lookupHandler(l.Handler); err != nil {
			if fc.lines[key+".handler"] == 0 {
				return nil, usagef("%s: want handler: (%s)", fc.at(key), strings.Join(allHandlerNames(), ", "))
			}
			return nil, usagef("%s: %v", fc.at(key+".handler"), err)
		}
	}
	return &fc, nil
}

// keyLines records the line of every key under n, as dotted paths with
// list indexes: "listen[0].port".
func keyLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if prefix != "" {
				k = prefix + "." + k
			}
			if _, dup := out[k]; !dup {
				out[k] = n.Content[i].Line
			}
			keyLines(n.Content[i+1], k, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", prefix, i)
			out[k] = c.Line
			keyLines(c, k, out)
		}
	}
}

var (
	reYAMLLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	reYAMLUnknown = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	reYAMLType    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	reYAMLKind    = regexp.MustCompile(`^cannot unmarshal !!(seq|map) into (\S+)$`)
)

// yamlTypeNames says in words what a Go type wants.
var yamlTypeNames = map[string]string{
	"int": "an integer", "uint16": "a port number (1-65535)", "bool": "true or false",
	"string": "a string", "time.Duration": "a duration like 30s or 1m30s",
	"[]int": "a list of integers like [0, 1]", "map[string]string": "a mapping of NAME: VALUE",
	"[]main.listenSpec": "a list of {port, handler} entries", "main.listenSpec": "a mapping {port: N, handler: NAME}",
	"main.fileConfig": "a mapping of keys",
}

// yamlError turns yaml's messages into "FILE:LINE: reason" (the first
// one only: one line).
func yamlError(path string, err error, lines map[string]int) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	m := reYAMLLine.FindStringSubmatch(msg)
	if m == nil {
		return usagef("%s: %s", path, msg)
	}
	line, _ := strconv.Atoi(m[1])
	reason := m[2]
	key := keyAtLine(lines, line, true)
	if u := reYAMLUnknown.FindStringSubmatch(reason); u != nil {
		where := ""
		if i := strings.LastIndexByte(key, '.'); i >= 0 {
			where = " in " + key[:i]
		}
		return usagef("%s:%d: unknown key %q%s", path, line, u[1], where)
	}
	if t := reYAMLType.FindStringSubmatch(reason); t != nil {
		want := yamlTypeNames[t[3]]
		if want == "" {
			want = t[3]
		}
		if key != "" {
			return usagef("%s:%d: %s: %q is not %s", path, line, key, t[2], want)
		}
		return usagef("%s:%d: %q is not %s", path, line, t[2], want)
	}
	if k := reYAMLKind.FindStringSubmatch(reason); k != nil {
		got := map[string]string{"seq": "a list", "map": "a mapping"}[k[1]]
		want := yamlTypeNames[k[2]]
		if want == "" {
			want = k[2]
		}
		return usagef("%s:%d: %s: want %s, not %s", path, line, keyAtLine(lines, line, false), want, got)
	}
	return usagef("%s:%d: %s", path, line, reason)
}

// keyAtLine returns the deepest (or shallowest) key path set at line (""
// if none): a scalar's error concerns the innermost key on its line, a
// whole list's or mapping's the outermost.
func keyAtLine(lines map[string]int, line int, deepest bool) string {
	best := ""
	for k, l := range lines {
		if l != line {
			continue
		}
		if best == "" || (deepest && len(k) > len(best)) || (!deepest && len(k) < len(best)) || (len(k) == len(best) && k < best) {
			best = k
		}
	}
	return best
}

// validate checks the merged options; where(key) names the flag or the
// file line a value came from.
func (o *options) validate() error {
	if o.Iface == "" {
		return usagef("--iface is required")
	}
	if len(o.Addr) == 0 {
		return usagef("--addr is required")
	}
	if _, _, err := parseAddrs(o.Addr); err != nil {
		return usagef("%s %v", o.where("addr"), err)
	}
	if _, _, err := parseGateways(o.Gateway); err != nil {
		return usagef("%s %v", o.where("gateway"), err)
	}
	for _, k := range []struct {
		key  string
		list []int
	}{{"queues", o.Queues}, {"cpus", o.CPUs}} {
		for _, v := range k.list {
			if v < 0 {
				return usagef("%s: %d is negative", o.where(k.key), v)
			}
		}
	}
	if _, err := xsk.ParseXDPMode(o.XDPMode); err != nil {
		return usagef("%s %q: want auto, native or generic", o.where("xdp_mode"), o.XDPMode)
	}
	if _, err := xsk.ParseBindMode(o.BindMode); err != nil {
		return usagef("%s %q: want auto, zerocopy or copy", o.where("bind_mode"), o.BindMode)
	}
	if _, err := xsk.ParseTxChecksum(o.TxChecksum); err != nil {
		return usagef("%s %q: want auto, off or on", o.where("tx_checksum"), o.TxChecksum)
	}
	if err := checkAdminOptions(o); err != nil {
		return err
	}
	switch o.LogFormat {
	case "text", "json":
	default:
		return usagef("%s %q: want text or json", o.where("log_format"), o.LogFormat)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return usagef("%s %q: want debug, info, warn or error", o.where("log_level"), o.LogLevel)
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return usagef("%s %d: want 2048 or 4096", o.where("frame_size"), o.FrameSize)
	}
	if o.NumFrames < 2 || o.NumFrames > 1<<20 {
		return usagef("%s %d: want 2 to 1048576 frames", o.where("num_frames"), o.NumFrames)
	}
	if o.RingSize < 1 || o.RingSize > 1<<20 || o.RingSize&(o.RingSize-1) != 0 {
		return usagef("%s %d: want a power of two from 1 to 1048576", o.where("ring_size"), o.RingSize)
	}
	if o.Batch < 1 || o.Batch > 1024 {
		return usagef("%s %d: want 1 to 1024 frames", o.where("batch"), o.Batch)
	}
	if o.Grace <= 0 {
		return usagef("%s %v: want a positive duration like 30s", o.where("grace"), o.Grace)
	}
	switch o.ShutdownSYN {
	case "drop", "rst":
	default:
		return usagef("%s %q: want drop or rst", o.where("shutdown_syn"), o.ShutdownSYN)
	}
	if len(o.Listen) == 0 {
		return usagef("nothing to serve: give at least one --listen PORT=HANDLER")
	}
	seen := map[uint16]bool{}
	for _, l := range o.Listen {
		if seen[l.Port] {
			return usagef("port %d is given twice", l.Port)
		}
		seen[l.Port] = true
	}
	if _, err := o.cluster(); err != nil {
		return err
	}
	return nil
}

// cluster returns the cluster settings (nil: not in a cluster). Peers are
// ID=ADDR.
func (o *options) cluster() (*xdptcp.ClusterConfig, error) {
	if o.ClusterID < 0 {
		if len(o.ClusterPeer) > 0 {
			return nil, usagef("%s needs --cluster-id (this host's id)", o.where("cluster_peer"))
		}
		return nil, nil
	}
	bits := o.ClusterIDBits
	if bits < 1 || bits > tcp.MaxOwnerBits {
		return nil, usagef("%s %d: want 1 to %d", o.where("cluster_id_bits"), bits, tcp.MaxOwnerBits)
	}
	if o.ClusterID >= 1<<bits {
		return nil, usagef("%s %d: want 0 to %d (cluster_id_bits %d)", o.where("cluster_id"), o.ClusterID, 1<<bits-1, bits)
	}
	c := &xdptcp.ClusterConfig{ID: o.ClusterID, IDBits: bits}
	seen := map[int]bool{o.ClusterID: true}
	for _, s := range o.ClusterPeer {
		id, addr, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(strings.TrimSpace(id))
		a, aerr := netip.ParseAddr(strings.TrimSpace(addr))
		switch {
		case !ok || err != nil || aerr != nil:
			return nil, usagef("%s %q: want ID=ADDR, e.g. 2=198.18.1.12", o.where("cluster_peer"), s)
		case n < 0 || n >= 1<<bits:
			return nil, usagef("%s %q: id %d: want 0 to %d (cluster_id_bits %d)", o.where("cluster_peer"), s, n, 1<<bits-1, bits)
		case seen[n]:
			return nil, usagef("%s %q: id %d is this host's or given twice", o.where("cluster_peer"), s, n)
		}
		seen[n] = true
		c.Peers = append(c.Peers, xdptcp.ClusterPeer{ID: n, Addr: a})
	}
	return c, nil
}

// where names the source of key's value: "--flag" when the flag was
// given or there is no file, else "FILE:LINE: key".
func (o *options) where(key string) string {
	flagName := strings.ReplaceAll(key, "_", "-")
	if o.file == nil || o.set[flagName] || o.file.lines[key] == 0 {
		return "--" + flagName
	}
	return o.file.at(key)
}

// parseListen parses PORT=HANDLER.
func parseListen(s string) (listenSpec, error) {
	p, h, ok := strings.Cut(s, "=")
	if !ok {
		return listenSpec{}, usagef("--listen %q: want PORT=HANDLER (handlers: %s)", s, strings.Join(allHandlerNames(), ", "))
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return listenSpec{}, usagef("--listen %q: %q is not a port (1-65535)", s, p)
	}
	if _, err := lookupHandler(h); err != nil {
		return listenSpec{}, usagef("--listen %q: %v", s, err)
	}
	return listenSpec{Port: uint16(port), Handler: h}, nil
}

// stringList is a config-file value given as one string or a list of them.
type stringList []string

// UnmarshalYAML takes a scalar or a sequence of scalars.
func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// String joins the list with commas.
func (l stringList) String() string { return strings.Join(l, ",") }

// parseAddrs parses the --addr values: at most one
// IPV4[/PREFIX] and one IPV6[/PREFIX]. Without a prefix an address is taken
// as /32 or /128: every peer is then off-link (reached through the gateway,
// or answered at the Ethernet source of its frames).
func parseAddrs(l stringList) (v4, v6 netip.Prefix, err error) {
	for _, a := range l {
		p, err := parseAddr(a)
		if err != nil {
			return v4, v6, err
		}
		dst := &v4
		if p.Addr().Is6() {
			dst = &v6
		}
		if dst.IsValid() {
			return v4, v6, usagef("%q: a second address of the same family (one IPv4 and one IPv6 at most)", a)
		}
		*dst = p
	}
	return v4, v6, nil
}

func parseAddr(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, usagef("%q: not an IPv4 or IPv6 address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, usagef("%q: not IPV4/PREFIX or IPV6/PREFIX", s)
	}
	if a := p.Addr(); a.Is6() && (a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback()) {
		return netip.Prefix{}, usagef("%q: not a global unicast IPv6 address", s)
	}
	return p, nil
}

// parseGateways parses the --gateway values: at most one IPv4 and one IPv6
// next hop.
func parseGateways(l stringList) (v4, v6 netip.Addr, err error) {
	for _, g := range l {
		a, err := netip.ParseAddr(g)
		if err != nil {
			return v4, v6, usagef("%q: not an IPv4 or IPv6 address", g)
		}
		a = a.WithZone("").Unmap()
		dst := &v4
		if a.Is6() {
			dst = &v6
		}
		if dst.IsValid() {
			return v4, v6, usagef("%q: a second gateway of the same family", g)
		}
		*dst = a
	}
	return v4, v6, nil
}

// parseIntList parses "0,1,3-5".
func parseIntList(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(f), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a {
			return nil, usagef("--%s %q: want a list like 0,1,2-3", flagName, s)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// fileConfig is the YAML configuration file (--config). Every flag has a
// key of the same name with '-' spelled '_'; flags given on the command line
// win over the file.
type fileConfig struct {
	Iface      string            `yaml:"iface"`
	Addr       string            `yaml:"addr"`
	Gateway    string            `yaml:"gateway"`
	Queues     []int             `yaml:"queues"`
	CPUs       []int             `yaml:"cpus"`
	XDPMode    string            `yaml:"xdp_mode"`
	BindMode   string            `yaml:"bind_mode"`
	XDPReplace bool              `yaml:"xdp_replace"`
	Listen     []listenSpec      `yaml:"listen"`
	Admin      string            `yaml:"admin"`
	Sysctl     map[string]string `yaml:"sysctl"`
	LogFormat  string            `yaml:"log_format"`
	LogLevel   string            `yaml:"log_level"`
	BusyPoll   bool              `yaml:"busy_poll"`
	FrameSize  int               `yaml:"frame_size"`
	NumFrames  int               `yaml:"num_frames"`
	Batch      int               `yaml:"batch"`
	Grace      time.Duration     `yaml:"grace"`
}

// listenSpec is one served port: `PORT=HANDLER` on the command line, or
// {port, handler, backlog} in the file.
type listenSpec struct {
	Port    uint16 `yaml:"port"`
	Handler string `yaml:"handler"`
	Backlog int    `yaml:"backlog"`
}

// usageError is a mistake in flags or configuration: one line, exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// loadFile reads a YAML configuration; unknown keys and bad values are
// reported with the file and line.
func loadFile(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return nil, usagef("%s: %s", path, strings.TrimPrefix(te.Errors[0], "yaml: "))
		}
		return nil, usagef("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// Values yaml accepted but we do not: report with the line.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	lineOf := func(key string) int {
		if len(root.Content) == 0 {
			return 0
		}
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i].Line
			}
		}
		return 0
	}
	sysctlLine := func(name string) int {
		if len(root.Content) == 0 {
			return 0
		}
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "sysctl" {
				s := m.Content[i+1]
				for j := 0; j+1 < len(s.Content); j += 2 {
					if s.Content[j].Value == name {
						return s.Content[j].Line
					}
				}
			}
		}
		return 0
	}
	probe := tcp.DefaultConfig()
	for name, v := range fc.Sysctl {
		if err := probe.Set(name, v); err != nil {
			return nil, usagef("%s:%d: sysctl %v", path, sysctlLine(name), err)
		}
	}
	for _, l := range fc.Listen {
		if l.Port == 0 {
			return nil, usagef("%s:%d: listen: port 0 is not a port", path, lineOf("listen"))
		}
		if _, err := newHandlerFunc(l.Handler); err != nil {
			return nil, usagef("%s:%d: listen %d: %v", path, lineOf("listen"), l.Port, err)
		}
	}
	return &fc, nil
}

// parseListen parses PORT=HANDLER.
func parseListen(s string) (listenSpec, error) {
	p, h, ok := strings.Cut(s, "=")
	if !ok {
		return listenSpec{}, usagef("--listen %q: want PORT=HANDLER (handlers: %s)", s, strings.Join(handlerNames, ", "))
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return listenSpec{}, usagef("--listen %q: %q is not a port (1-65535)", s, p)
	}
	if _, err := newHandlerFunc(h); err != nil {
		return listenSpec{}, usagef("--listen %q: %v", s, err)
	}
	return listenSpec{Port: uint16(port), Handler: h}, nil
}

// parseAddr parses IPV4[/PREFIX]. Without a prefix the address is taken
// as /32: every peer is then off-link (reached through the gateway, or
// answered at the Ethernet source of its frames).
func parseAddr(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, usagef("--addr %q: not an IPv4 address", s)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, usagef("--addr %q: not IPV4/PREFIX", s)
	}
	return p, nil
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

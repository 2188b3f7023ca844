package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// configs/xdptcpd-daemonset.yaml grants exactly the capabilities the
// systemd unit grants (all others dropped), on the host network, with the
// drain as its preStop hook, and its per-node config loads.
func TestDaemonSetManifest(t *testing.T) {
	b, err := os.ReadFile("../../configs/xdptcpd-daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unit, _ := os.ReadFile("../../configs/xdptcpd.service")
	m := regexp.MustCompile(`(?m)^AmbientCapabilities=(.*)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("no AmbientCapabilities in the unit")
	}
	var want []string
	for _, c := range strings.Fields(string(m[1])) {
		want = append(want, strings.TrimPrefix(c, "CAP_"))
	}
	type container struct {
		Command         []string
		Args            []string
		SecurityContext struct {
			RunAsUser                *int  `yaml:"runAsUser"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct{ Add, Drop []string }
		} `yaml:"securityContext"`
		Lifecycle struct {
			PreStop struct{ Exec struct{ Command []string } } `yaml:"preStop"`
		}
	}
	var ds struct {
		Kind string
		Spec struct {
			Template struct {
				Spec struct {
					HostNetwork bool `yaml:"hostNetwork"`
					Containers  []container
				}
			}
		}
		Data map[string]string
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var nodeConf string
	found := false
	for {
		ds.Kind, ds.Data = "", nil
		if err := dec.Decode(&ds); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		switch ds.Kind {
		case "DaemonSet":
			found = true
			s := ds.Spec.Template.Spec
			if !s.HostNetwork || len(s.Containers) != 1 {
				t.Fatalf("hostNetwork %v, %d containers", s.HostNetwork, len(s.Containers))
			}
			c := s.Containers[0]
			got := slices.Clone(c.SecurityContext.Capabilities.Add)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || !slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
				t.Fatalf("capabilities add %v drop %v; want add %v (the systemd unit's) drop [ALL]", got, c.SecurityContext.Capabilities.Drop, want)
			}
			if e := c.SecurityContext.AllowPrivilegeEscalation; e == nil || *e {
				t.Fatal("allowPrivilegeEscalation must be false")
			}
			if pre := c.Lifecycle.PreStop.Exec.Command; len(pre) < 2 || pre[1] != "drain" || !slices.Contains(pre, "--wait") {
				t.Fatalf("preStop %v: want xdptcpd drain --wait", pre)
			}
		case "ConfigMap":
			nodeConf = ds.Data["node-a.yaml"]
		}
	}
	if !found || nodeConf == "" {
		t.Fatalf("DaemonSet found %v, node config %q", found, nodeConf)
	}
	f := t.TempDir() + "/node-a.yaml"
	os.WriteFile(f, []byte(nodeConf), 0o644)
	o, err := parseOptions([]string{"--config", f}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := o.cluster(); err != nil || c == nil || len(c.Peers) != 2 {
		t.Fatalf("node config cluster: %+v %v", c, err)
	}
}

package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 13's loss scenarios: download, echo and upload through loss for
// every congestion control, the server set to the scenario's (the download
// and the BBR echo), in quick and full.
func TestLossScenariosPerCC(t *testing.T) {
	o, _ := Preset("full")
	defs := map[string]scenarioDef{}
	for _, d := range allScenarios(&o) {
		defs[d.ID] = d
	}
	for _, cc := range lossCCs {
		d, ok := defs["down-loss-"+cc]
		if !ok || d.serverCC != cc || d.bridge != "loss1" || !d.runsOn(ServerXdptcpd) || !d.runsOn(ServerLinuxNet) || d.runsOn(ServerGvisor) {
			t.Errorf("down-loss-%s: %+v", cc, d.Scenario)
		}
		if _, ok := defs["rx-up-"+cc]; !ok {
			t.Errorf("no upload through loss with %s", cc)
		}
	}
	for _, cc := range lossCCs[1:] {
		if d := defs["loss-echo-"+cc]; d.serverCC != cc || d.bridge != "loss1" {
			t.Errorf("loss-echo-%s: server cc %q bridge %q", cc, d.serverCC, d.bridge)
		}
	}
	if d, ok := defs["down-police-bbr"]; !ok || d.serverCC != "bbr" || d.bridge != "police20" || !strings.Contains(strings.Join(bridgeArgs[d.bridge], " "), "--police 20m") {
		t.Errorf("down-police-bbr: %+v, bridge %q %q", d.Scenario, d.bridge, bridgeArgs[d.bridge])
	}
	q, _ := Preset("quick")
	for _, id := range []string{"down-loss-cubic", "down-loss-bbr", "loss-echo", "loss-echo-bbr", "rx-up-cubic", "rx-up-bbr"} {
		if !slicesContains(q.Scenarios, id) {
			t.Errorf("quick does not run %s", id)
		}
	}
	if q.DownloadMiB != 16 || o.DownloadMiB != 16 {
		t.Errorf("download size quick %d full %d MiB, want the issue's 16", q.DownloadMiB, o.DownloadMiB)
	}
	if err := ccOffered(ServerGvisor, "bbr"); !errors.Is(err, errCCNotOffered) {
		t.Errorf("gvisor with bbr: %v", err)
	}
	if err := ccOffered(ServerXdptcpd, "cubic"); err != nil {
		t.Errorf("xdptcpd with cubic: %v", err)
	}
	if err := ccOffered(ServerXdptcpd, "no-such-cc"); !errors.Is(err, errCCNotOffered) {
		t.Errorf("xdptcpd with no-such-cc: %v", err)
	}
}

// A server that does not offer a scenario's congestion control is
// reported as such, and --check accepts it (unlike a failure).
func TestReportNotOffered(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	r.Scenarios[0].Servers[2] = &ServerRuns{Server: ServerXdptcpd + "-bbr", Err: "congestion control not offered: xdptcpd rejects bbr", NotOffered: true}
	if err := r.Write(dir, []int{1}, []int{0}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if !strings.Contains(string(md), "| xdptcpd-bbr | congestion control not offered: xdptcpd rejects bbr |") {
		t.Errorf("report.md:\n%s", md)
	}
	if err := Check(dir); err != nil {
		t.Errorf("Check: %v", err)
	}
}

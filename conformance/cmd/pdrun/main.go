// Command pdrun runs the conformance list (conformance/list.txt) with
// packetdrill against xdptcp (shared-object mode, the adapter library) and
// against this machine's Linux kernel (local mode), each script in a fresh
// network namespace (unshare -n) with a timeout. It prints one line per
// script and last the line
//
//	conformance: xdptcp P/N, linux L/N
//
// writes results.md and results.json into -out, and fails (exit 1) when a
// script that the expected-results file records as PASS for a stack did
// not pass (a PASS -> FAIL change). -record rewrites the expected file
// from this run.
//
// A list entry runs in packetdrill's ipv4 mode unless its id ends in
// "@ipv6" or "@ipv4-mapped-ipv6" (packetdrill's --ip_version): the same
// script then runs over IPv6 (addresses from 2001:2::/48, MTU 1520 as
// google's run_all.py gives, so that MSS 1460 fits) or on AF_INET6
// sockets talking to ::ffff:a.b.c.d (IPv4 on the wire). The id with its
// suffix is the row of the table and of the expected file.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result of one script on one stack.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

type entry struct {
	ID     string // e.g. google/close/close-on-syn-sent.pkt, or ...pkt@ipv6
	Skip   string // non-empty: deliberately not run, with the reason
	Expect string // why xdptcp is expected to fail (README), from the list
}

type outcome struct {
	Result  string  `json:"result"`
	Reason  string  `json:"reason,omitempty"` // first error line of packetdrill, or the skip reason
	Seconds float64 `json:"seconds"`
	Tries   int     `json:"tries,omitempty"`
}

type row struct {
	Script string  `json:"script"`
	Xdptcp outcome `json:"xdptcp"`
	Linux  outcome `json:"linux"`
	Note   string  `json:"note,omitempty"`
}

type config struct {
	packetdrill string
	roots       map[string]string // list prefix -> directory
	so          string
	shim        string
	timeout     time.Duration
	retries     int
	tolerance   int
	verbose     bool // write a failed run's whole output to stderr
}

func main() {
	var (
		list      = flag.String("list", "conformance/list.txt", "curated list of scripts")
		expected  = flag.String("expected", "conformance/expected.txt", "expected results (PASS/FAIL per script and stack)")
		out       = flag.String("out", "bin/conformance", "directory for results.md and results.json")
		record    = flag.Bool("record", false, "rewrite -expected from this run")
		pdBin     = flag.String("packetdrill", "", "packetdrill binary")
		google    = flag.String("google", "", "google's gtests/net/tcp directory")
		nplab     = flag.String("nplab", "", "nplab's tests/linux directory")
		ours      = flag.String("ours", "conformance/scripts", "xdptcp's own scripts")
		so        = flag.String("so", "", "the adapter library (libxdptcp-pd.so)")
		shim      = flag.String("shim", "", "directory with the sysctl and tc shims for xdptcp runs")
		timeout   = flag.Duration("timeout", 60*time.Second, "per script and stack")
		retries   = flag.Int("retries", 2, "re-runs of a failed script whose expected result is PASS (timing on a loaded machine)")
		jobs      = flag.Int("j", 2, "scripts run at once")
		only      = flag.String("run", "", "only scripts whose id contains this")
		stacks    = flag.String("stacks", "xdptcp,linux", "stacks to run")
		tolerance = flag.Int("tolerance_usecs", 40000, "packetdrill's timing tolerance unless a script sets its own (20 ms measures Linux well on a quiet machine; the shared 2-core CI box runs at load 20)")
		verbose   = flag.Bool("v", false, "write each failed run's whole packetdrill output to stderr (what a %{ }% assertion printed)")
		readme    = flag.String("readme", "", "with -record: put results.md into this file between the conformance-table markers")
	)
	flag.Parse()
	cfg := config{
		packetdrill: abs(*pdBin), so: abs(*so), shim: abs(*shim), timeout: *timeout, retries: *retries, tolerance: *tolerance, verbose: *verbose,
		roots: map[string]string{"google": abs(*google), "nplab": abs(*nplab), "xdptcp": abs(*ours)},
	}
	entries, err := readList(*list)
	if err != nil {
		fatal(err)
	}
	exp, err := readExpected(*expected)
	if err != nil && !(*record && errors.Is(err, os.ErrNotExist)) {
		fatal(err)
	}
	runX, runL := strings.Contains(*stacks, "xdptcp"), strings.Contains(*stacks, "linux")
	if runL {
		allowHostCC() // hostcc.go
		defer runCleanups()
	}
	var sel []entry
	for _, e := range entries {
		if *only == "" || strings.Contains(e.ID, *only) {
			sel = append(sel, e)
		}
	}
	rows := make([]row, len(sel))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(*jobs, 1))
	var printMu sync.Mutex
	next := 0
	done := make([]bool, len(sel))
	for i, e := range sel {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, e entry) {
			defer wg.Done()
			defer func() { <-sem }()
			r := row{Script: e.ID, Note: e.Expect}
			if e.Skip != "" {
				r.Xdptcp = outcome{Result: Skip, Reason: e.Skip}
				r.Linux = outcome{Result: Skip, Reason: e.Skip}
			} else {
				r.Xdptcp = outcome{Result: Skip, Reason: "not run (-stacks)"}
				r.Linux = outcome{Result: Skip, Reason: "not run (-stacks)"}
				// A script expected to pass is re-run when it fails;
				// when recording, every failure is (a timing miss on
				// a loaded machine is not the result to record).
				if runX {
					r.Xdptcp = cfg.runRetry(e.ID, "xdptcp", *record || exp[e.ID]["xdptcp"] == Pass)
				}
				if runL {
					r.Linux = cfg.runRetry(e.ID, "linux", *record || exp[e.ID]["linux"] == Pass)
				}
			}
			printMu.Lock()
			rows[i] = r
			done[i] = true
			for next < len(sel) && done[next] { // print in list order
				printRow(rows[next])
				next++
			}
			printMu.Unlock()
		}(i, e)
	}
	wg.Wait()

	var regress []string
	px, pl, n := 0, 0, 0
	for _, r := range rows {
		if r.Xdptcp.Result == Skip && r.Linux.Result == Skip {
			continue
		}
		n++
		if r.Xdptcp.Result == Pass {
			px++
		}
		if r.Linux.Result == Pass {
			pl++
		}
		for _, s := range []struct {
			name string
			o    outcome
		}{{"xdptcp", r.Xdptcp}, {"linux", r.Linux}} {
			if exp[r.Script][s.name] == Pass && s.o.Result == Fail {
				regress = append(regress, fmt.Sprintf("%s on %s: was PASS, now FAIL: %s", r.Script, s.name, s.o.Reason))
			}
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	if err := writeResults(*out, rows, px, pl, n); err != nil {
		fatal(err)
	}
	if *record {
		if err := writeExpected(*expected, rows, exp); err != nil {
			fatal(err)
		}
		if *readme != "" {
			if err := updateReadme(*readme, filepath.Join(*out, "results.md")); err != nil {
				fatal(err)
			}
		}
	}
	for _, s := range regress {
		fmt.Println("REGRESSION " + s)
	}
	fmt.Printf("conformance: xdptcp %d/%d, linux %d/%d\n", px, n, pl, n)
	if len(regress) > 0 && !*record {
		exit(1)
	}
}

func abs(p string) string {
	if p == "" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "pdrun:", err)
	exit(2)
}

func printRow(r row) {
	line := fmt.Sprintf("%-4s %-4s  %s", r.Xdptcp.Result, r.Linux.Result, r.Script)
	switch {
	case r.Xdptcp.Result == Skip && r.Linux.Result == Skip:
		line += "  (" + r.Xdptcp.Reason + ")"
	default:
		if r.Xdptcp.Result == Fail {
			line += "  xdptcp: " + r.Xdptcp.Reason
		}
		if r.Linux.Result == Fail {
			line += "  linux: " + r.Linux.Reason
		}
	}
	fmt.Println(line)
}

// readList parses the curated list: one script id a line, with an
// optional "@ipv6" or "@ipv4-mapped-ipv6" address mode; "SKIP id
// reason" for a deliberately absent feature; text after " # " is the
// reason xdptcp (or, where xdptcp passes, Linux) is expected to fail,
// shown in the table.
func readList(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var e entry
		if rest, ok := strings.CutPrefix(line, "SKIP "); ok {
			id, reason, _ := strings.Cut(strings.TrimSpace(rest), " ")
			e = entry{ID: id, Skip: strings.TrimSpace(reason)}
		} else {
			id, note, _ := strings.Cut(line, " # ")
			e = entry{ID: strings.TrimSpace(id), Expect: strings.TrimSpace(note)}
		}
		if _, _, err := splitMode(e.ID); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// readExpected parses "id xdptcp=RESULT linux=RESULT" lines.
func readExpected(path string) (map[string]map[string]string, error) {
	m := map[string]map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		m[fs[0]] = map[string]string{}
		for _, kv := range fs[1:] {
			k, v, _ := strings.Cut(kv, "=")
			m[fs[0]][k] = v
		}
	}
	return m, sc.Err()
}

func writeExpected(path string, rows []row, old map[string]map[string]string) error {
	var b strings.Builder
	b.WriteString("# Expected conformance results (make conformance-record writes it; make conformance\n")
	b.WriteString("# fails when a script recorded PASS for a stack does not pass). script xdptcp=R linux=R\n")
	for _, r := range rows {
		x, l := r.Xdptcp.Result, r.Linux.Result
		if strings.HasPrefix(r.Xdptcp.Reason, "not run") {
			x = old[r.Script]["xdptcp"]
		}
		if strings.HasPrefix(r.Linux.Reason, "not run") {
			l = old[r.Script]["linux"]
		}
		fmt.Fprintf(&b, "%s xdptcp=%s linux=%s\n", r.Script, x, l)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeResults(dir string, rows []row, px, pl, n int) error {
	j, err := json.MarshalIndent(struct {
		Xdptcp  int   `json:"xdptcp_pass"`
		Linux   int   `json:"linux_pass"`
		Run     int   `json:"scripts_run"`
		Scripts []row `json:"scripts"`
	}{px, pl, n, rows}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "xdptcp passes %d of %d scripts, Linux %d of %d (skipped scripts not counted).\n\n", px, n, pl, n)
	b.WriteString("| script | xdptcp | Linux | note |\n|---|---|---|---|\n")
	sorted := append([]row(nil), rows...)
	sort.SliceStable(sorted, func(i, k int) bool { return sorted[i].Script < sorted[k].Script })
	for _, r := range sorted {
		note := ""
		switch {
		case r.Xdptcp.Result == Skip:
			note = r.Xdptcp.Reason
		case r.Xdptcp.Result == Fail && r.Note != "":
			note = r.Note
		case r.Xdptcp.Result == Fail:
			note = r.Xdptcp.Reason
		case r.Linux.Result == Fail:
			note = r.Note // why Linux fails here, when the list says
		}
		note = strings.ReplaceAll(note, "|", "\\|")
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.Script, r.Xdptcp.Result, r.Linux.Result, note)
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644)
}

// updateReadme replaces what lies between the table markers of path with
// the Markdown table in md.
func updateReadme(path, md string) error {
	const begin, end = "<!-- conformance-table -->\n", "<!-- /conformance-table -->"
	r, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	t, err := os.ReadFile(md)
	if err != nil {
		return err
	}
	s := string(r)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q markers", path, strings.TrimSpace(begin), end)
	}
	s = s[:i+len(begin)] + string(t) + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// runRetry runs a script, again up to cfg.retries times if it failed and
// was expected to pass (a timing miss on a loaded machine is not a
// regression; a real one fails every time).
func (cfg *config) runRetry(id, stack string, expectPass bool) outcome {
	var o outcome
	for try := 0; ; try++ {
		o = cfg.run(id, stack)
		o.Tries = try + 1
		if o.Result != Fail || !expectPass || try >= cfg.retries {
			return o
		}
	}
}

// Address modes (packetdrill's --ip_version) and the addresses of the
// ipv6 mode: all in 2001:2::/48 (packetdrill puts its local address in a
// /48 and routes the remote one via the gateway; in local mode this is
// inside the script's own network namespace).
const (
	modeIPv4       = "ipv4"
	modeIPv6       = "ipv6"
	modeMapped     = "ipv4-mapped-ipv6"
	v6Local        = "2001:2::1"
	v6Gateway      = "2001:2::fffe"
	v6Remote       = "2001:2:0:1::1"
	v6MTU          = "1520"
	xdptcpLocal4   = "192.168.0.1"
	xdptcpGateway4 = "192.168.0.254"
)

// splitMode splits "script@mode" into the script's id and its address
// mode (ipv4 when there is no suffix).
func splitMode(id string) (script, mode string, err error) {
	script, mode, ok := strings.Cut(id, "@")
	if !ok {
		return id, modeIPv4, nil
	}
	switch mode {
	case modeIPv6, modeMapped:
		return script, mode, nil
	}
	return "", "", fmt.Errorf("%s: unknown address mode %q (want ipv6 or ipv4-mapped-ipv6)", id, mode)
}

// modeArgs are packetdrill's address arguments for mode and stack, and
// the adapter's --so_flags addresses. mtu is the script's own --mtu
// option ("" if none): packetdrill's command line would override it, so
// the ipv6 mode's 1520 is given only to scripts without one, and the
// adapter's engine gets the script's.
func modeArgs(mode, stack, mtu string) (args []string, soFlags string) {
	switch mode {
	case modeIPv6:
		args = []string{"--ip_version=ipv6", "--local_ip=" + v6Local, "--gateway_ip=" + v6Gateway, "--remote_ip=" + v6Remote}
		if mtu == "" {
			mtu = v6MTU
			args = append(args, "--mtu="+mtu)
		}
		soFlags = "local=" + v6Local + ",gateway=" + v6Gateway
	case modeMapped:
		args = []string{"--ip_version=ipv4-mapped-ipv6"}
		soFlags = "local=" + xdptcpLocal4 + ",gateway=" + xdptcpGateway4
	default:
		soFlags = "local=" + xdptcpLocal4 + ",gateway=" + xdptcpGateway4
	}
	if stack == "xdptcp" && mode != modeIPv6 {
		args = append(args, "--local_ip="+xdptcpLocal4)
	}
	if mtu != "" {
		soFlags += ",mtu=" + mtu
	}
	return args, soFlags
}

// collectionRmem is the tcp_rmem a collection's scripts start from, and
// the rmem_max xdptcp's runs of them start from (empty: xdptcp's
// default, Linux 6.18's 4 MB): Linux's defaults before 6.16 raised
// tcp_rmem[2] to 32 MiB (window scale 7; the scripts' own settings
// scripts set theirs, google's 15 MiB, scale 8), except for nplab's scripts, written on Linux 3.11 with 87380 bytes by
// default and a largest buffer under 4 MB (it depends on memory there):
// window scale 6, which their SYN-ACKs expect (ilog2(3 MB) - 15). The
// scale covers rmem_max too (tcp_select_initial_window), and Linux's
// net.core.rmem_max is the host's, read-only in a network namespace: on
// Linux those scripts still see scale 7 and fail at the SYN-ACK.
func collectionRmem(prefix string) (rmem, rmemMax string) {
	if prefix == "nplab" {
		return "4096 87380 3145728", "3145728"
	}
	return "4096 131072 6291456", ""
}

// scriptOption returns the value of a script's own --name= option line,
// or "".
func scriptOption(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "--"+name+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// run runs one script on one stack.
func (cfg *config) run(id, stack string) outcome {
	id, mode, err := splitMode(id)
	if err != nil {
		return outcome{Result: Fail, Reason: err.Error()}
	}
	prefix, rel, _ := strings.Cut(id, "/")
	root := cfg.roots[prefix]
	if root == "" {
		return outcome{Result: Fail, Reason: "unknown collection " + prefix}
	}
	script := filepath.Join(root, rel)
	if _, err := os.Stat(script); err != nil {
		return outcome{Result: Fail, Reason: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	margs, soFlags := modeArgs(mode, stack, scriptOption(script, "mtu"))
	rmem, rmemMax := collectionRmem(prefix)
	args := []string{"-n", cfg.packetdrill}
	if scriptOption(script, "tolerance_usecs") == "" {
		// packetdrill's command line overrides a script's own options:
		// the default goes only to scripts that set none.
		args = append(args, fmt.Sprintf("--tolerance_usecs=%d", cfg.tolerance))
	}
	args = append(args, margs...)
	env := os.Environ()
	var ctl string
	if stack == "xdptcp" {
		tmp, err := os.MkdirTemp("", "pdrun")
		if err != nil {
			return outcome{Result: Fail, Reason: err.Error()}
		}
		defer os.RemoveAll(tmp)
		ctl = filepath.Join(tmp, "ctl.sock")
		soFlags += ",ctl=" + ctl + ",sysctl=net.ipv4.tcp_rmem=" + rmem
		if rmemMax != "" {
			soFlags += ",sysctl=net.core.rmem_max=" + rmemMax
		}
		args = append(args, "--so_filename="+cfg.so, "--so_flags="+soFlags)
		env = append(env, "XDPTCP_PD_CTL="+ctl, "PATH="+cfg.shim+":"+os.Getenv("PATH"))
	}
	args = append(args, filepath.Base(script))
	if stack == "linux" {
		// A fresh namespace starts from the host's tcp_rmem/tcp_wmem
		// (a tuned host advertises other window scales): put Linux's
		// defaults back first, which are xdptcp's defaults too.
		args = append([]string{"-n", "sh", "-c", `sysctl -qw net.ipv4.tcp_rmem="` + rmem + `" net.ipv4.tcp_wmem="4096 16384 4194304" && exec "$@"`, "sh"}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = env
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		// set_sysctls.py (and the shim's stand-in) leave the script's
		// restore file under packetdrill's pid (unshare and sh exec
		// it, so it is the child's); few scripts run it, none remove it.
		os.Remove(fmt.Sprintf("/tmp/sysctl_restore_%d.sh", cmd.Process.Pid))
	}
	o := outcome{Seconds: time.Since(start).Seconds()}
	switch {
	case ctx.Err() != nil:
		o.Result, o.Reason = Fail, fmt.Sprintf("timeout after %v", cfg.timeout)
	case err != nil:
		o.Result, o.Reason = Fail, firstError(string(outb), err)
		if cfg.verbose {
			fmt.Fprintf(os.Stderr, "--- %s on %s:\n%s--- end\n", id, stack, outb)
		}
	default:
		o.Result = Pass
	}
	return o
}

// firstError picks packetdrill's error line from its output.
func firstError(out string, err error) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, ".pkt:") {
			l = strings.TrimSpace(l)
			if i := strings.Index(l, ".pkt:"); i >= 0 {
				l = l[i+5:]
			}
			if len(l) > 160 {
				l = l[:160] + "..."
			}
			return "line " + l
		}
	}
	// No packetdrill error line: a %{ }% code event's assertion, or a
	// crash; the last line of output says most.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		if len(last) > 160 {
			last = last[:160] + "..."
		}
		return err.Error() + ": " + last
	}
	return err.Error()
}

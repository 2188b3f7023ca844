// Package fuzzshort tests .ci/fuzz-short, the script `make fuzz-short`
// runs: it must fail on a crasher or a real failure and must not fail on a
// stall of the fuzzing engine itself.
package fuzzshort

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo writes a stand-in for the go command that prints what the
// scenario's fuzzing run would print and exits with its code. With crash
// set it also writes an input to testdata/fuzz, as the engine does.
func fakeGo(t *testing.T, dir, out string, rc int, crash bool) string {
	t.Helper()
	script := "#!/bin/sh\ncat <<'EOF'\n" + out + "\nEOF\n"
	if crash {
		script += "mkdir -p " + dir + "/pkg/testdata/fuzz/FuzzX && touch " + dir + "/pkg/testdata/fuzz/FuzzX/abc123\n"
	}
	script += "exit " + string(rune('0'+rc)) + "\n"
	p := filepath.Join(dir, "go")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, out string, rc int, crash bool) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../.ci/fuzz-short")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, "1s", dir+"/pkg:FuzzX")
	cmd.Env = append(os.Environ(), "GO="+fakeGo(t, dir, out, rc, crash))
	b, err := cmd.CombinedOutput()
	return string(b), err
}

const (
	stallLog = "fuzz: elapsed: 3s, execs: 0 (0/sec), new interesting: 0 (total: 12)\n--- FAIL: FuzzX (5.01s)\n    context deadline exceeded\nFAIL"
	crashLog = "--- FAIL: FuzzX (0.20s)\n    --- FAIL: FuzzX (0.00s)\n        panic: index out of range\n    Failing input written to testdata/fuzz/FuzzX/abc123\nFAIL"
	buildLog = "pkg/x.go:3:1: syntax error: non-declaration statement outside function body\nFAIL\tpkg [build failed]"
	passLog  = "fuzz: elapsed: 5s, execs: 51234 (10246/sec), new interesting: 3 (total: 15)\nPASS\nok  \tpkg\t5.1s"
)

func TestFuzzShort(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	cases := []struct {
		name     string
		out      string
		rc       int
		crash    bool
		wantFail bool
		want     string
	}{
		{"pass", passLog, 0, false, false, "try 1"},
		{"stall is not a failure", stallLog, 1, false, false, "stalled twice without a crasher"},
		{"crasher fails", crashLog, 1, true, true, "found a crasher"},
		{"crasher reported without file fails", crashLog, 1, false, true, "found a crasher"},
		{"build failure fails", buildLog, 1, false, true, "failed (exit 1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(t, c.out, c.rc, c.crash)
			if failed := err != nil; failed != c.wantFail {
				t.Fatalf("failed=%v, want %v; output:\n%s", failed, c.wantFail, out)
			}
			if !strings.Contains(out, c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, out)
			}
		})
	}
}

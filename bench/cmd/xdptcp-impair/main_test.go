package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--a", "x"},
		{"--a", "x", "--b", "y", "extra"},
		{"--a", "x", "--b", "y", "--loss", "1.5"},
		{"--a", "x", "--b", "y", "--rate", "fast"},
		{"--a", "x", "--b", "y", "--ab", "loss=0.1,bogus=1"},
		{"--a", "x", "--b", "y", "--nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"tx off", "--ab", "-loss", "-jitter-reorder", "overflow"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestMissingInterface: a leg that does not exist is a setup error (exit 1)
// reported on stderr, and the counters line is still printed.
func TestMissingInterface(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--a", "xdptcp-no-such0", "--b", "xdptcp-no-such1", "--no-ethtool", "--json"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "final: ") || !strings.Contains(out.String(), `"ab":`) {
		t.Errorf("stdout %q lacks the final counters", out.String())
	}
}

package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// The README documents every flag and every TCP setting: this keeps it true.
func TestREADMEDocumentsFlagsAndSettings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, name := range tcp.SettingNames() {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README.md does not document setting %s", name)
		}
	}
	// The daemon's flags, read from its source.
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`fs\.(?:String|Bool|Int|Duration)?Var\([^,]+, "([a-z-]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(m) < 10 {
		t.Fatalf("found only %d flags in main.go", len(m))
	}
	for _, f := range m {
		name := f[1]
		if !strings.Contains(readme, "--"+name) {
			t.Errorf("README.md does not document flag --%s", name)
		}
	}
}

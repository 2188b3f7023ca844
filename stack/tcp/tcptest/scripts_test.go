package tcptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

// scriptDir holds the seed scenarios the state machine must pass.
const scriptDir = "../testdata/scripts"

// TestScripts runs every script in stack/tcp/testdata/scripts against the
// real tcp.Layer with DefaultConfig, one subtest per file. A script with a
// `pending REASON` header that fails is skipped with its reason and the
// failure (never silently); one that passes is logged so the header can go.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scriptDir, "*.pkt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no scripts in %s", scriptDir)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".pkt"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(string(src))
			if err != nil {
				t.Fatalf("%s:%v", f, err)
			}
			err = RunScript(t, tcp.DefaultConfig(), s, nil)
			switch {
			case err != nil && s.Pending != "":
				t.Skipf("pending (%s); fails with:\n%s:%v", s.Pending, f, err)
			case err != nil:
				t.Fatalf("%s:%v", f, err)
			case s.Pending != "":
				t.Logf("pending script passes now: remove its `pending` line")
			}
		})
	}
}

// TestRealLayerBasicHandshake is the smallest scenario the real layer must
// pass, independent of the seed files: a passive open and an accept.
func TestRealLayerBasicHandshake(t *testing.T) {
	Run(t, tcp.DefaultConfig(), `
0.000 listen 8080 backlog 16
+0 < S 1000:1000(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1001 win * <mss 1460,sackOK,TS val * ecr 100,*>
+0.010 < . 1001:1001(0) ack 1 win 512 <nop,nop,TS val 110 ecr *>
+0 state ESTABLISHED
+0 accept
+0 event open
+0 counter PassiveOpens 1
+1 expect-nothing
`)
}

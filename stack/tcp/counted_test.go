package tcp

import (
	"testing"

	"github.com/xdptcp/xdptcp/internal/countscan"
)

// Every exported TCP counter (StatDescs, hence /metrics) is incremented
// by some code path: a go/ast scan of the module's non-test source finds
// X.Name.Add/Store for each. stats.go's Add (summing loops) and the
// exporter's folding do not count as increments.
func TestEveryExportedCounterIsCounted(t *testing.T) {
	root, err := countscan.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	inc, err := countscan.Scan(root, func(rel string) bool {
		return rel == "stack/tcp/stats.go" || rel == "cmd/xdptcpd/collector.go"
	})
	if err != nil {
		t.Fatal(err)
	}
	// The engine checks TCP checksums and headers before this layer sees
	// a segment; the exporter folds its TcpInCsumErrors and TcpInErrs
	// into Tcp:InCsumErrors and Tcp:InErrs.
	counted := func(name string) bool {
		return inc.Fields[name] || (name == "InCsumErrors" || name == "InErrs") && inc.Fields["Tcp"+name]
	}
	for _, d := range StatDescs() {
		if !counted(d.Name) {
			t.Errorf("%s:%s is exported but no code path increments it", d.Group, d.Name)
		}
	}
}

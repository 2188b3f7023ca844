package tcptest

import (
	"fmt"
	"testing"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

func sprint(args ...any) string                 { return fmt.Sprint(args...) }
func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// RunErrTB runs a script on the fake through Run's failure path.
func RunErrTB(t testing.TB, script string) {
	if err := RunErr(t, tcp.DefaultConfig(), script, newFake); err != nil {
		t.Fatal(err)
	}
}

package xdptcp

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
)

// The package's tests keep the host's TCP secret in a directory of their
// own, not in /run.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "xdptcp-test-")
	if err != nil {
		panic(err)
	}
	secretFile = filepath.Join(dir, "run", "tcp-secret")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Two Stacks' clocks (two processes of the host) get the same key and
// bases that put both on the host's monotonic clock, apart by as much as
// the clocks' starts, so the later one's timestamps continue the earlier
// one's.
func TestHostClockContinuesAcrossStarts(t *testing.T) {
	a := clock.NewMono()
	b := clock.NewMono()
	ca, cb := hostClock(a), hostClock(b)
	if _, err := hostSecret(); err != nil {
		t.Fatalf("host secret: %v", err)
	}
	if ca.ISNKey != cb.ISNKey || ca.TSKey != cb.TSKey || ca.ISNKey == ([16]byte{}) || ca.TSKey == ca.ISNKey {
		t.Fatal("secrets differ, are zero or are one")
	}
	if d := cb.Base.Sub(ca.Base) - b.Epoch().Sub(a.Epoch()); d < -time.Second || d > time.Second {
		t.Fatalf("bases %v apart, starts %v: %v off", cb.Base.Sub(ca.Base), b.Epoch().Sub(a.Epoch()), d)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	host := clock.Time(ts.Nano())
	for _, x := range []struct {
		clk  *clock.Mono
		base clock.Time
	}{{a, ca.Base}, {b, cb.Base}} {
		if d := host.Sub(x.clk.Now() + x.base); d < -time.Second || d > time.Second {
			t.Fatalf("clock + base is %v off the host's monotonic clock", d)
		}
	}
}

// The secret file is made once, root-only, and read back by every later
// process; processes starting at once agree on one key.
func TestSecretFileSharedAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xdptcp", "tcp-secret")
	keys := make([][32]byte, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = loadSecret(path)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatal("processes starting at once got different keys")
		}
	}
	if again, err := loadSecret(path); err != nil || again != keys[0] {
		t.Fatalf("reread: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("%d files left in the directory, want the secret alone", len(ents))
	}
	// Readable by others, or the wrong size: refused.
	os.Chmod(path, 0o644)
	if _, err := loadSecret(path); err == nil {
		t.Fatal("a secret file others can read was used")
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := loadSecret(path); err == nil {
		t.Fatal("a 5-byte secret file was used")
	}
}

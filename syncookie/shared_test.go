package syncookie

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/stack/clock"
)

func sharedKeys(seeds ...byte) []Key {
	var ks []Key
	for _, s := range seeds {
		var k Key
		for i := range k {
			k[i] = s + byte(i)
		}
		ks = append(ks, k)
	}
	return ks
}

// hostJar is one host's shared Jar whose loop clock started at boot
// (wall time): loop time now corresponds to wall time boot+now.
func hostJar(t *testing.T, keys []Key, boot time.Time) *Jar {
	t.Helper()
	j, err := NewShared(keys, boot)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Shared() {
		t.Fatal("NewShared: Shared() = false")
	}
	return j
}

// at returns host's loop time at wall-clock time w.
func at(boot, w time.Time) clock.Time { return clock.Time(w.Sub(boot)) }

// A cookie made by one host checks on another host with the same keys,
// whatever their loop clocks, as long as their wall clocks agree to within
// a counter period; hosts with other keys reject it.
func TestSharedJarAcrossHosts(t *testing.T) {
	keys := sharedKeys(1)
	wall := time.Unix(1_800_000_000, 0).Truncate(Period).Add(5 * time.Millisecond) // 5 ms after a tick
	bootA, bootB := wall.Add(-3*time.Hour), wall.Add(-17*time.Second)
	a, b := hostJar(t, keys, bootA), hostJar(t, keys, bootB)
	other := hostJar(t, sharedKeys(2), bootB)
	k := testKey(7)
	cookie, mss := a.Make(at(bootA, wall), k, 1000, 1460)
	for _, tc := range []struct {
		name string
		w    time.Time
		ok   bool
	}{
		{"one RTT later", wall.Add(30 * time.Millisecond), true},
		{"B's clock 20 ms behind (the previous counter)", wall.Add(-20 * time.Millisecond), true},
		{"B's clock two counters behind", wall.Add(-Period - 20*time.Millisecond), false},
		{"a period later (the next counter)", wall.Add(Period + 30*time.Millisecond), true},
		{"two periods later", wall.Add(2*Period + 10*time.Millisecond), false},
	} {
		got, ok := b.Check(at(bootB, tc.w), k, 1000, cookie)
		if ok != tc.ok || (ok && got != mss) {
			t.Errorf("%s: Check = %d, %v; want %v (mss %d)", tc.name, got, ok, tc.ok, mss)
		}
	}
	if _, ok := other.Check(at(bootB, wall.Add(time.Millisecond)), k, 1000, cookie); ok {
		t.Error("a host with another key accepted the cookie")
	}
	if _, ok := b.Check(at(bootB, wall.Add(time.Millisecond)), k, 1001, cookie); ok {
		t.Error("a cookie for another client ISN was accepted")
	}
}

// A local Jar never accepts a cookie from a counter ahead of its own (a
// single host cannot have made one).
func TestLocalJarRejectsFutureCounter(t *testing.T) {
	j := testJar()
	k := testKey(1)
	cookie, _ := j.Make(t0.Add(Period), k, 5, 1460)
	if _, ok := j.Check(t0, k, 5, cookie); ok {
		t.Fatal("local jar accepted a cookie from the next counter")
	}
	if (&Jar{}).Shared() || j.Shared() {
		t.Fatal("local jar reports Shared")
	}
}

// Rotation: the new first key makes cookies at once; the key that made
// them before keeps checking for one cookie lifetime, then not; a key that
// is listed but not first checks without making (introduce a key on every
// host first, then make it first, so hosts that reload later still check).
func TestSharedJarRotate(t *testing.T) {
	boot := time.Unix(1_800_000_000, 0)
	k1, k2 := sharedKeys(1)[0], sharedKeys(2)[0]
	a := hostJar(t, []Key{k1}, boot)
	b := hostJar(t, []Key{k1, k2}, boot) // k2 introduced, not yet making
	k := testKey(9)
	now := clock.Time(10 * time.Second)

	if err := a.Rotate([]Key{k2, k1}, boot.Add(now.Sub(0))); err != nil {
		t.Fatal(err)
	}
	c2, _ := a.Make(now, k, 42, 1460)
	if _, ok := b.Check(now, k, 42, c2); !ok {
		t.Fatal("a cookie made with the introduced key failed on a host that lists it")
	}
	if _, ok := hostJar(t, []Key{k1}, boot).Check(now, k, 42, c2); ok {
		t.Fatal("a cookie made with the new key passed on a host without it")
	}

	// The old key retires: cookies it made stay good for their lifetime.
	old, _ := b.Make(now, k, 43, 1460) // b still makes with k1
	if err := b.Rotate([]Key{k2}, boot.Add(now.Sub(0))); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Check(now.Add(time.Second), k, 43, old); !ok {
		t.Fatal("a cookie made just before the rotation failed after it")
	}
	late := now.Add((MaxAge + 1) * Period).Add(time.Second)
	fresh, _ := b.Make(late, k, 44, 1460)
	if _, ok := b.Check(late, k, 44, fresh); !ok {
		t.Fatal("new key does not check its own cookie")
	}
	if ks := b.keys.Load(); ks.retired == nil {
		t.Fatal("rotation kept no retired key")
	}
	// Remake a cookie with the retired key at the late time: it must fail
	// because the retirement is over, not because of its age.
	oldJar := hostJar(t, []Key{k1}, boot)
	stale, _ := oldJar.Make(late, k, 45, 1460)
	if _, ok := b.Check(late, k, 45, stale); ok {
		t.Fatal("the retired key still checks after one cookie lifetime")
	}
	if _, ok := b.Check(now.Add(time.Minute), k, 45, stale); ok {
		t.Fatal("a cookie from the future counter with the retired key passed")
	}
	if err := b.Rotate(nil, boot); err != ErrNoKey {
		t.Fatalf("Rotate(nil) = %v, want ErrNoKey", err)
	}
}

func TestSharedCheckNoAllocs(t *testing.T) {
	keys := sharedKeys(1, 2, 3)
	boot := time.Unix(1_800_000_000, 0)
	j := hostJar(t, keys, boot)
	if err := j.Rotate(sharedKeys(4, 1), boot); err != nil {
		t.Fatal(err)
	}
	k := testKey(2)
	now := clock.Time(time.Second)
	cookie, _ := j.Make(now, k, 1, 1460)
	if n := testing.AllocsPerRun(100, func() {
		j.Make(now, k, 1, 1460)
		j.Check(now, k, 1, cookie)
		j.Check(now, k, 2, cookie) // fails: tries every key
	}); n != 0 {
		t.Fatalf("%v allocations per Make+Check", n)
	}
}

func TestParseKeyFile(t *testing.T) {
	k1 := strings.Repeat("0123456789abcdef", 4)
	k2 := strings.Repeat("fedcba9876543210", 4)
	good := "# cluster cookie keys\n\n" + k1 + "\n  " + k2 + "  \n"
	keys, err := ParseKeyFile([]byte(good))
	if err != nil || len(keys) != 2 || keys[0][0] != 0x01 || keys[1][0] != 0xfe {
		t.Fatalf("ParseKeyFile = %x, %v", keys, err)
	}
	for name, bad := range map[string]string{
		"empty":   "# nothing\n",
		"short":   k1[:62] + "\n",
		"long":    k1 + "00\n",
		"not hex": "zz" + k1[2:] + "\n",
		"zero":    strings.Repeat("0", 64) + "\n",
		"twice":   k1 + "\n" + k1 + "\n",
		"too many": strings.Repeat(k1+"\n", 1) + strings.Join(func() []string {
			var l []string
			for i := 0; i < MaxKeys; i++ {
				l = append(l, strings.Repeat(string("123456789"[i]), 64))
			}
			return l
		}(), "\n"),
	} {
		if _, err := ParseKeyFile([]byte(bad)); err == nil {
			t.Errorf("%s: ParseKeyFile accepted %q", name, bad)
		}
	}
}

func TestReadKeyFileMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys")
	if err := os.WriteFile(p, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err := ReadKeyFile(p); err != nil || len(keys) != 1 {
		t.Fatalf("0600: ReadKeyFile = %v, %v", keys, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyFile(p); err == nil || !strings.Contains(err.Error(), "group or others") {
			t.Errorf("mode %04o: ReadKeyFile err = %v, want ErrKeyFileMode", mode, err)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

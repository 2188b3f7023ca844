package xdptcp

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// secretFile holds the host's TCP secrets for the current boot (ISNs,
// timestamp offsets; /run is a tmpfs that a reboot empties): the first
// xdptcp process after boot creates it, root-only, and the later ones read
// it. A variable so that tests use their own.
var secretFile = "/run/xdptcp/tcp-secret"

// hostSecret is the process's TCP secret: the host's (secretFile), or a
// random one where that cannot be read or made (no /run, not root, a file
// that is not root-only), with the error that says why.
var hostSecret = sync.OnceValues(func() ([32]byte, error) {
	key, err := loadSecret(secretFile)
	if err != nil {
		crand.Read(key[:])
	}
	return key, err
})

// loadSecret reads the 32-byte secret in path, creating it (and its
// directory, mode 0700) if it does not exist. Two processes starting at
// once agree: each writes a candidate and links it into place, and the
// loser reads the winner's. A file or directory another user owns, or
// that others can read, is refused.
func loadSecret(path string) ([32]byte, error) {
	var key [32]byte
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return key, err
	}
	if err := ownedPrivate(dir); err != nil {
		return key, err
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := ownedPrivate(path); err != nil {
			return key, err
		}
		if len(b) != len(key) {
			return key, fmt.Errorf("%s: %d bytes, want %d", path, len(b), len(key))
		}
		copy(key[:], b)
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	f, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return key, err
	}
	defer os.Remove(f.Name())
	crand.Read(key[:])
	_, err = f.Write(key[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return key, err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, os.ErrExist) {
		return loadSecret(path) // another process made it first
	} else if err != nil {
		return key, err
	}
	return key, nil
}

// ownedPrivate checks that path belongs to this user and that no one else
// may read or write it.
func ownedPrivate(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o077 != 0 || fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s: not owned by uid %d with mode 0600/0700", path, os.Geteuid())
	}
	return nil
}

// hostClock places a loop's TCP clocks on this host's (tcp.HostClock,
// stack/tcp/hostclock.go): the host's CLOCK_MONOTONIC at clk's zero and
// the host's secrets for this boot, so every xdptcp process on the host
// forms the ISNs and timestamps that Linux's per-boot secret gives all of
// its processes, and a restarted process continues them on every 4-tuple.
func hostClock(clk *clock.Mono) tcp.HostClock {
	var c tcp.HostClock
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		c.Base = clock.Time(ts.Nano() - int64(clk.Now()))
	}
	key, _ := hostSecret()
	copy(c.ISNKey[:], key[:16])
	copy(c.TSKey[:], key[16:])
	return c
}

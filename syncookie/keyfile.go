package syncookie

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MaxKeys bounds the keys of a key file: the one that makes cookies and a
// few that only check (being introduced or retired across a cluster).
const MaxKeys = 8

var (
	// ErrNoKey: a shared Jar needs at least one key.
	ErrNoKey = errors.New("syncookie: no key")
	// ErrKeyFileMode: the key file can be read by users other than its
	// owner (a cookie key lets anyone who has it complete handshakes
	// without a SYN, and predict our timestamps).
	ErrKeyFileMode = errors.New("syncookie: key file is readable or writable by group or others")
)

// ReadKeyFile reads a shared cookie key file after checking that only its
// owner can read or write it (mode 0600 or stricter; a file that group or
// others may access is refused with ErrKeyFileMode, as ssh refuses a
// private key), and parses it with ParseKeyFile.
func ReadKeyFile(path string) ([]Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("syncookie: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("syncookie: key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o (want 0600 or 0400)", ErrKeyFileMode, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("syncookie: key file: %w", err)
	}
	keys, err := ParseKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// ParseKeyFile parses the text of a key file: one key a line, 64 hex
// digits (32 bytes, e.g. from `openssl rand -hex 32` or
// `head -c32 /dev/urandom | xxd -p -c32`); blank lines and lines starting
// with '#' are ignored. The first key makes cookies, every key checks them.
// From 1 to MaxKeys keys, no key twice.
func ParseKeyFile(b []byte) ([]Key, error) {
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var k Key
		if len(line) != 2*len(k) {
			return nil, fmt.Errorf("line %d: a key is %d hex digits, not %d characters", n, 2*len(k), len(line))
		}
		if _, err := hex.Decode(k[:], []byte(line)); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if k == (Key{}) {
			return nil, fmt.Errorf("line %d: an all-zero key", n)
		}
		for _, o := range keys {
			if o == k {
				return nil, fmt.Errorf("line %d: the same key twice", n)
			}
		}
		if len(keys) == MaxKeys {
			return nil, fmt.Errorf("line %d: more than %d keys", n, MaxKeys)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	return keys, nil
}

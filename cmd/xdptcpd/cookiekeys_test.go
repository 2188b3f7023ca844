package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --cookie-key-file (and cookie_key_file in the config file) loads the
// cluster's shared SYN-cookie keys into the Stack's configuration; a key
// file that group or others can read, or a malformed one, is a user error
// (exit status 2) naming the file.
func TestCookieKeyFile(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "cookie.keys")
	if err := os.WriteFile(keys, []byte("# cluster keys\n"+strings.Repeat("5a", 32)+"\n"+strings.Repeat("a5", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--iface", "lo", "--addr", "198.18.0.1/24", "--listen", "80=http"}
	o, err := parseOptions(append(args, "--cookie-key-file", keys), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stackConfig(o, nil)
	if err != nil || len(cfg.CookieKeys) != 2 || cfg.CookieKeys[0][0] != 0x5a {
		t.Fatalf("stackConfig: %d keys, %v", len(cfg.CookieKeys), err)
	}

	conf := filepath.Join(dir, "x.yaml")
	if err := os.WriteFile(conf, []byte(goodConfig+"cookie_key_file: "+keys+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, err = parseOptions([]string{"--config", conf}, &bytes.Buffer{}); err != nil || o.CookieKeyFile != keys {
		t.Fatalf("config file: %q, %v", o.CookieKeyFile, err)
	}

	for name, mode := range map[string]os.FileMode{"world-readable": 0o644, "group-readable": 0o640} {
		os.Chmod(keys, mode)
		o, _ := parseOptions(append(args, "--cookie-key-file", keys), &bytes.Buffer{})
		if _, err := stackConfig(o, nil); err == nil || !isUserError(err) || !strings.Contains(err.Error(), keys) {
			t.Errorf("%s key file: err %v (user error %v)", name, err, isUserError(err))
		}
	}
	os.Chmod(keys, 0o600)
	os.WriteFile(keys, []byte("not a key\n"), 0o600)
	o, _ = parseOptions(append(args, "--cookie-key-file", keys), &bytes.Buffer{})
	if _, err := stackConfig(o, nil); err == nil || !isUserError(err) {
		t.Errorf("malformed key file: err %v", err)
	}
}

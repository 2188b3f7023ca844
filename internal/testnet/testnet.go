// Package testnet builds throw-away network topologies for tests: network
// namespaces and veth pairs, named uniquely per test and removed when the
// test ends, pass or fail. Addresses come from 198.18.0.0/15 only.
package testnet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireRoot skips t when not running as root, with a message saying why.
// With CI=true it fails instead: in CI these tests must run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test needs root (namespaces, veth, AF_XDP) and CI=true: refusing to skip")
	}
	t.Skip("skipping: needs root for network namespaces, veth and AF_XDP (run as root or set CI=true to require it)")
}

// Name returns a short unique name with the given prefix, usable for
// namespaces and interfaces (at most 15 bytes).
func Name(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	n := prefix + hex.EncodeToString(b[:])
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// Cmd runs a command and returns its combined output, failing on error.
func Cmd(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Try runs a command and returns its output and error without failing.
func Try(name string, args ...string) (string, error) {
	var b bytes.Buffer
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.String(), err
}

// NS is a network namespace made for a test.
type NS struct{ Name string }

// NewNS creates a namespace with its loopback up; it is deleted when t ends.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	n := Name(prefix)
	Cmd(t, "ip", "netns", "add", n)
	t.Cleanup(func() { Try("ip", "netns", "del", n) })
	Cmd(t, "ip", "-n", n, "link", "set", "lo", "up")
	return &NS{Name: n}
}

// Exec runs a command inside the namespace and fails t on error.
func (ns *NS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	return Cmd(t, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Command returns an exec.Cmd that runs inside the namespace.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Veth is a veth pair: A stays where it was created (the test's own
// namespace when ANS is nil), B is moved into BNS.
type Veth struct {
	A, B     string
	ANS, BNS *NS
}

// VethOptions shape a veth pair.
type VethOptions struct {
	ANS, BNS   *NS    // nil means the test process's namespace
	AAddr      string // e.g. "198.18.0.1/24"; empty for none
	BAddr      string
	Queues     int  // numrxqueues/numtxqueues on both ends; 0 means 1
	TxOffOnA   bool // ethtool -K A tx off
	TxOffOnB   bool // ethtool -K B tx off (the kernel peer must have it)
	MTU        int  // 0 keeps the default
	NoAddrOnUp bool
}

// NewVeth creates a veth pair per o, brings both ends up, and deletes it
// when t ends.
func NewVeth(t testing.TB, o VethOptions) *Veth {
	t.Helper()
	v := &Veth{A: Name("xa"), B: Name("xb"), ANS: o.ANS, BNS: o.BNS}
	args := []string{"link", "add", v.A}
	if o.Queues > 1 {
		args = append(args, "numrxqueues", fmt.Sprint(o.Queues), "numtxqueues", fmt.Sprint(o.Queues))
	}
	args = append(args, "type", "veth", "peer", "name", v.B)
	if o.Queues > 1 {
		args = append(args, "numrxqueues", fmt.Sprint(o.Queues), "numtxqueues", fmt.Sprint(o.Queues))
	}
	Cmd(t, "ip", args...)
	t.Cleanup(func() {
		// Deleting either end removes the pair; the end may have moved.
		if v.ANS != nil {
			Try("ip", "-n", v.ANS.Name, "link", "del", v.A)
		} else {
			Try("ip", "link", "del", v.A)
		}
	})
	if o.ANS != nil {
		Cmd(t, "ip", "link", "set", v.A, "netns", o.ANS.Name)
	}
	if o.BNS != nil {
		Cmd(t, "ip", "link", "set", v.B, "netns", o.BNS.Name)
	}
	v.setup(t, v.A, o.ANS, o.AAddr, o.TxOffOnA, o.MTU)
	v.setup(t, v.B, o.BNS, o.BAddr, o.TxOffOnB, o.MTU)
	return v
}

func (v *Veth) setup(t testing.TB, dev string, ns *NS, addr string, txoff bool, mtu int) {
	t.Helper()
	ip := func(args ...string) {
		t.Helper()
		if ns != nil {
			args = append([]string{"-n", ns.Name}, args...)
		}
		Cmd(t, "ip", args...)
	}
	if mtu > 0 {
		ip("link", "set", dev, "mtu", fmt.Sprint(mtu))
	}
	if addr != "" {
		ip("addr", "add", addr, "dev", dev)
	}
	if txoff {
		if ns != nil {
			Cmd(t, "ip", "netns", "exec", ns.Name, "ethtool", "-K", dev, "tx", "off")
		} else {
			Cmd(t, "ethtool", "-K", dev, "tx", "off")
		}
	}
	ip("link", "set", dev, "up")
}

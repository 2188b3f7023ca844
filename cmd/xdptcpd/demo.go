package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
)

var stdout io.Writer = os.Stdout

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// The demo topology: two namespaces joined by a veth pair. xdptcpd serves
// 198.18.0.1 on the server end; the client end is an ordinary Linux host
// at 198.18.0.2 (TX checksum offload off, or its frames would reach the
// AF_XDP socket with partial checksums).
const (
	demoServerNS  = "xdptcp-srv"
	demoClientNS  = "xdptcp-cli"
	demoServerIf  = "xdptcp0"
	demoClientIf  = "xdptcp1"
	demoServerIP  = "198.18.0.1"
	demoClientIP  = "198.18.0.2"
	demoAdminAddr = "127.0.0.1:9100"
)

// runDemo builds the demo topology, runs xdptcpd in it with http on 8080
// and echo on 7, and tears everything down when interrupted. Arguments
// after the demo flags are passed on to xdptcpd.
func runDemo(args []string, stderr io.Writer) int {
	fs := newFlagSet("xdptcpd demo", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "xdptcpd demo: needs root (it creates network namespaces and a veth pair)")
		return 2
	}
	if _, err := exec.LookPath("ethtool"); err != nil {
		fmt.Fprintln(stderr, "xdptcpd demo: needs ethtool (apt-get install ethtool)")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "xdptcpd demo: %v\n", err)
		return 1
	}
	demoTeardown()
	defer demoTeardown()
	steps := [][]string{
		{"ip", "netns", "add", demoServerNS},
		{"ip", "netns", "add", demoClientNS},
		{"ip", "link", "add", demoServerIf, "type", "veth", "peer", "name", demoClientIf},
		{"ip", "link", "set", demoServerIf, "netns", demoServerNS},
		{"ip", "link", "set", demoClientIf, "netns", demoClientNS},
		{"ip", "-n", demoServerNS, "link", "set", "lo", "up"},
		{"ip", "-n", demoServerNS, "link", "set", demoServerIf, "up"},
		{"ip", "-n", demoClientNS, "link", "set", "lo", "up"},
		{"ip", "-n", demoClientNS, "addr", "add", demoClientIP + "/24", "dev", demoClientIf},
		{"ip", "netns", "exec", demoClientNS, "ethtool", "-K", demoClientIf, "tx", "off"},
		{"ip", "-n", demoClientNS, "link", "set", demoClientIf, "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "xdptcpd demo: %s: %v: %s\n", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
			return 1
		}
	}
	daemonArgs := append([]string{"netns", "exec", demoServerNS, self,
		"--iface", demoServerIf, "--addr", demoServerIP + "/24",
		"--listen", "8080=http", "--listen", "7=echo", "--admin", demoAdminAddr,
		"--grace", "3s"}, fs.Args()...) // Ctrl-C should not wait 30 s for idle clients
	cmd := exec.Command("ip", daemonArgs...)
	cmd.Stdout, cmd.Stderr = os.Stdout, stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "xdptcpd demo: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `
xdptcpd demo: serving %[1]s (namespace %[2]s, interface %[3]s); client namespace %[4]s at %[5]s.
Try, in another terminal:
  ip netns exec %[4]s curl http://%[1]s:8080/
  ip netns exec %[4]s ping -c 3 %[1]s
  echo hello | ip netns exec %[4]s nc -q1 %[1]s 7
  ip netns exec %[2]s curl -s http://%[6]s/metrics | grep xdptcp_
  ip netns exec %[2]s %[7]s ss --admin %[6]s
Ctrl-C stops xdptcpd and removes the namespaces.

`, demoServerIP, demoServerNS, demoServerIf, demoClientNS, demoClientIP, demoAdminAddr, self)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "xdptcpd demo: xdptcpd exited: %v\n", err)
			return 1
		}
		return 0
	case <-sigs:
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		return 0
	}
}

// demoTeardown removes the demo namespaces (their veth ends go with them).
func demoTeardown() {
	exec.Command("ip", "netns", "del", demoServerNS).Run()
	exec.Command("ip", "netns", "del", demoClientNS).Run()
}

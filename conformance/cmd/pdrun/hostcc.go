package main

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// The Linux side's settings script (gtests/net/common/defaults.sh) sets
// tcp_congestion_control=cubic in the script's network namespace. Outside
// the initial namespace Linux lets a namespace's default be only one of
// tcp_allowed_congestion_control, a host-wide list that holds the boot
// default and reno unless someone widened it; on a host booted with BBR
// as its default (this one) the sysctl fails with EPERM and the script
// runs with BBR, paced, on other timings than it was written for
// (shutdown-rdwr-send-queue-ack-close.pkt then fails on Linux). For the
// run pdrun allows every available control, and puts the list back when
// it ends.
const (
	allowedCCPath   = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
	availableCCPath = "/proc/sys/net/ipv4/tcp_available_congestion_control"
)

// cleanups run before pdrun exits, however it exits.
var cleanups []func()

func runCleanups() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// exit runs the cleanups and exits with code.
func exit(code int) {
	runCleanups()
	os.Exit(code)
}

// allowAllCC writes the available congestion controls into the allowed
// list at allowed and returns the function that writes the old list back;
// it changes nothing when every available one is allowed already.
func allowAllCC(allowed, available string) (restore func() error, err error) {
	old, err := os.ReadFile(allowed)
	if err != nil {
		return nil, err
	}
	avail, err := os.ReadFile(available)
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(old))
	want := strings.Fields(string(avail))
	missing := false
	for _, cc := range want {
		if !slices.Contains(have, cc) {
			missing = true
		}
	}
	if !missing {
		return func() error { return nil }, nil
	}
	if err := os.WriteFile(allowed, []byte(strings.Join(want, " ")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("allow %q: %w", want, err)
	}
	return func() error { return os.WriteFile(allowed, old, 0o644) }, nil
}

// allowHostCC widens the host's allowed congestion controls for the Linux
// runs and registers putting them back, also on SIGINT and SIGTERM. A
// failure (not root) is reported and the run goes on.
func allowHostCC() {
	restore, err := allowAllCC(allowedCCPath, availableCCPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pdrun: cannot allow every congestion control for the Linux runs (scripts that set tcp_congestion_control may run with the host's default):", err)
		return
	}
	cleanups = append(cleanups, func() {
		if err := restore(); err != nil {
			fmt.Fprintln(os.Stderr, "pdrun: restoring", allowedCCPath+":", err)
		}
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintln(os.Stderr, "pdrun:", s)
		exit(3)
	}()
}

// Command pdsysctl stands in for sysctl(8) while packetdrill runs a script
// against xdptcp: the conformance runner puts it first on PATH as
// "sysctl", so settings scripts (gtests/net/common/defaults.sh, a script's
// own `sysctl -q net.ipv4.tcp_...=...` lines) set xdptcp's settings by the
// same Linux names through the adapter's control socket ($XDPTCP_PD_CTL).
//
//	sysctl [-q] [-w] [-e] NAME=VALUE ...   set
//	sysctl [-n] NAME ...                   print
//
// A name xdptcp does not have (tcp_frto, tcp_ecn, ...) is reported on
// stderr and skipped; the exit status stays 0 so that a settings script
// goes on (a script that depends on the missing feature fails on its
// packets instead). -e silences the report. A bad value for a setting
// xdptcp has is an error (exit status 255, as sysctl(8)).
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	path := os.Getenv("XDPTCP_PD_CTL")
	if path == "" {
		fmt.Fprintln(os.Stderr, "sysctl: XDPTCP_PD_CTL is not set (run by the conformance runner)")
		os.Exit(255)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysctl: %v\n", err)
		os.Exit(255)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	ask := func(req string) (string, error) {
		if _, err := fmt.Fprintln(c, req); err != nil {
			return "", err
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimSuffix(line, "\n")
		if r, ok := strings.CutPrefix(line, "ok"); ok {
			return strings.TrimPrefix(r, " "), nil
		}
		return "", fmt.Errorf("%s", strings.TrimPrefix(line, "err "))
	}
	quiet, valueOnly, ignore := false, false, false
	status := 0
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") {
			for _, f := range a[1:] {
				switch f {
				case 'q':
					quiet = true
				case 'n':
					valueOnly = true
				case 'e':
					ignore = true
				}
			}
			continue
		}
		name, value, set := strings.Cut(a, "=")
		name = strings.ReplaceAll(name, "/", ".")
		if set {
			value = strings.Trim(value, `"'`)
			if _, err := ask("set " + name + " " + value); err != nil {
				unknown := strings.Contains(err.Error(), "unknown setting")
				if !ignore || !unknown {
					fmt.Fprintf(os.Stderr, "sysctl: xdptcp: %s: %v\n", name, err)
				}
				if !unknown {
					status = 255
				}
				continue
			}
			if !quiet {
				fmt.Printf("%s = %s\n", name, value)
			}
			continue
		}
		v, err := ask("get " + name)
		if err != nil {
			if !ignore {
				fmt.Fprintf(os.Stderr, "sysctl: xdptcp: %s: %v\n", name, err)
				status = 255
			}
			continue
		}
		if valueOnly {
			fmt.Println(v)
		} else {
			fmt.Printf("%s = %s\n", name, v)
		}
	}
	os.Exit(status)
}

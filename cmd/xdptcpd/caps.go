package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capIPCLock  = 14
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// checkPrivileges reports, in one line, which capabilities xdptcpd lacks:
// CAP_NET_ADMIN (attach XDP), CAP_BPF or CAP_SYS_ADMIN (load the program and
// maps), CAP_PERFMON or CAP_SYS_ADMIN (the verifier allows the filter's
// packet-pointer arithmetic with a variable IPv4 header length only with
// it: bpf_allow_ptr_leaks; without it loading fails with "pointer
// arithmetic with it prohibited for !root"), CAP_NET_RAW (AF_XDP sockets).
// CAP_IPC_LOCK is optional: without it the UMEM counts against
// RLIMIT_MEMLOCK (checkMemlock).
func checkPrivileges() error {
	eff, ok := effectiveCaps()
	if !ok {
		return nil // cannot tell; the kernel will say EPERM later
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	var missing []string
	if !has(capNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) && !has(capSysAdmin) {
		missing = append(missing, "CAP_PERFMON")
	}
	if !has(capNetRaw) {
		missing = append(missing, "CAP_NET_RAW")
	}
	if len(missing) > 0 {
		return usagef("missing %s: run as root or grant them (see configs/xdptcpd.service)", strings.Join(missing, ", "))
	}
	return nil
}

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

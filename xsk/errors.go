package xsk

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Errors a user can cause by configuration or environment. They are
// sentinels: test for them with errors.Is; the returned errors wrap them with
// the interface, queue or program they are about.
var (
	// ErrNoInterface: the named network interface does not exist (in this
	// network namespace).
	ErrNoInterface = errors.New("xsk: no such network interface")
	// ErrPermission: the process lacks root or CAP_NET_ADMIN / CAP_NET_RAW /
	// CAP_BPF; bpf(2) or socket(AF_XDP) answered EPERM or EACCES.
	ErrPermission = errors.New("xsk: permission denied (needs root or CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF)")
	// ErrXDPBusy: another XDP program is attached to the interface (through
	// netlink, or through a bpf_link that another process holds).
	ErrXDPBusy = errors.New("xsk: another XDP program is attached to the interface")
	// ErrZeroCopyUnsupported: BindZeroCopy was demanded and the driver or
	// queue does not support AF_XDP zero-copy.
	ErrZeroCopyUnsupported = errors.New("xsk: zero-copy AF_XDP is not supported by this interface")
	// ErrBadConfig: a Config or FilterConfig field is out of range.
	ErrBadConfig = errors.New("xsk: invalid configuration")
)

// isPerm reports whether err is a permission failure from the kernel.
func isPerm(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, os.ErrPermission)
}

// wrapPerm maps a permission failure of op to ErrPermission, keeping the
// original error in the chain, and wraps everything else with op.
func wrapPerm(op string, err error) error {
	if isPerm(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrPermission, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

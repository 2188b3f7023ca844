package xsk

import "fmt"

// BindMode selects how an AF_XDP socket binds to its queue.
type BindMode int

const (
	// BindAuto tries zero-copy first and falls back to copy mode.
	BindAuto BindMode = iota
	// BindZeroCopy demands zero-copy (XDP_ZEROCOPY); Open fails with
	// ErrZeroCopyUnsupported where the driver lacks it.
	BindZeroCopy
	// BindCopy forces copy mode (XDP_COPY), which every driver supports.
	BindCopy
)

// String returns "auto", "zerocopy" or "copy".
func (m BindMode) String() string {
	switch m {
	case BindAuto:
		return "auto"
	case BindZeroCopy:
		return "zerocopy"
	case BindCopy:
		return "copy"
	}
	return fmt.Sprintf("BindMode(%d)", int(m))
}

// ParseBindMode parses the String form of a BindMode ("zero-copy" is
// accepted too).
func ParseBindMode(s string) (BindMode, error) {
	switch s {
	case "auto", "":
		return BindAuto, nil
	case "zerocopy", "zero-copy", "zc":
		return BindZeroCopy, nil
	case "copy":
		return BindCopy, nil
	}
	return 0, fmt.Errorf("%w: bind mode %q (want auto, zerocopy or copy)", ErrBadConfig, s)
}

// XDPMode selects where the XDP filter program is attached.
type XDPMode int

const (
	// XDPAuto tries native (driver) mode first, then generic (SKB) mode.
	XDPAuto XDPMode = iota
	// XDPNative attaches in the driver's receive path (XDP_FLAGS_DRV_MODE).
	XDPNative
	// XDPGeneric attaches after SKB allocation (XDP_FLAGS_SKB_MODE); every
	// interface supports it, slower.
	XDPGeneric
)

// String returns "auto", "native" or "generic".
func (m XDPMode) String() string {
	switch m {
	case XDPAuto:
		return "auto"
	case XDPNative:
		return "native"
	case XDPGeneric:
		return "generic"
	}
	return fmt.Sprintf("XDPMode(%d)", int(m))
}

// ParseXDPMode parses the String form of an XDPMode ("drv" and "skb", the
// iproute2 spellings, are accepted too).
func ParseXDPMode(s string) (XDPMode, error) {
	switch s {
	case "auto", "":
		return XDPAuto, nil
	case "native", "drv", "driver":
		return XDPNative, nil
	case "generic", "skb":
		return XDPGeneric, nil
	}
	return 0, fmt.Errorf("%w: XDP mode %q (want auto, native or generic)", ErrBadConfig, s)
}

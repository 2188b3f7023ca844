package xsk

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// XDP attachment modes reported by IFLA_XDP_ATTACHED (include/uapi/linux/if_link.h).
const (
	xdpAttachedNone  = 0
	xdpAttachedDrv   = 1
	xdpAttachedSkb   = 2
	xdpAttachedHw    = 3
	xdpAttachedMulti = 4
)

// xdpState is what rtnetlink says about an interface's XDP hook.
type xdpState struct {
	attached uint8  // xdpAttached*
	progID   uint32 // IFLA_XDP_PROG_ID (single mode)
	drvID    uint32 // IFLA_XDP_DRV_PROG_ID (multi)
	skbID    uint32 // IFLA_XDP_SKB_PROG_ID (multi)
	hwID     uint32 // IFLA_XDP_HW_PROG_ID (multi)
}

// progs lists (mode flag, program id) for every attached program.
func (st xdpState) progs() [][2]uint32 {
	var out [][2]uint32
	switch st.attached {
	case xdpAttachedDrv:
		out = append(out, [2]uint32{unix.XDP_FLAGS_DRV_MODE, st.progID})
	case xdpAttachedSkb:
		out = append(out, [2]uint32{unix.XDP_FLAGS_SKB_MODE, st.progID})
	case xdpAttachedHw:
		out = append(out, [2]uint32{unix.XDP_FLAGS_HW_MODE, st.progID})
	case xdpAttachedMulti:
		for _, p := range [][2]uint32{{unix.XDP_FLAGS_DRV_MODE, st.drvID}, {unix.XDP_FLAGS_SKB_MODE, st.skbID}, {unix.XDP_FLAGS_HW_MODE, st.hwID}} {
			if p[1] != 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// queryXDP reads the IFLA_XDP attributes of ifindex from an RTM_GETLINK dump.
func queryXDP(ifindex int) (xdpState, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return xdpState{}, fmt.Errorf("rtnetlink RTM_GETLINK: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return xdpState{}, fmt.Errorf("rtnetlink parse: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		ifi := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		if int(ifi.Index) != ifindex {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return xdpState{}, fmt.Errorf("rtnetlink parse attributes: %w", err)
		}
		var st xdpState
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_XDP {
				continue
			}
			for _, n := range parseAttrs(a.Value) {
				switch n.typ {
				case unix.IFLA_XDP_ATTACHED:
					if len(n.val) >= 1 {
						st.attached = n.val[0]
					}
				case unix.IFLA_XDP_PROG_ID:
					st.progID = attrU32(n.val)
				case unix.IFLA_XDP_DRV_PROG_ID:
					st.drvID = attrU32(n.val)
				case unix.IFLA_XDP_SKB_PROG_ID:
					st.skbID = attrU32(n.val)
				case unix.IFLA_XDP_HW_PROG_ID:
					st.hwID = attrU32(n.val)
				}
			}
		}
		return st, nil
	}
	return xdpState{}, fmt.Errorf("%w: ifindex %d", ErrNoInterface, ifindex)
}

type nlAttr struct {
	typ uint16
	val []byte
}

// parseAttrs splits a run of netlink attributes, stopping at the first
// malformed one.
func parseAttrs(b []byte) []nlAttr {
	var out []nlAttr
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofNlAttr || l > len(b) {
			break
		}
		out = append(out, nlAttr{typ: t, val: b[unix.SizeofNlAttr:l]})
		al := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return out
}

func attrU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

// netlinkSetXDP attaches prog fd (or detaches with fd -1) on ifindex through
// rtnetlink (RTM_SETLINK with IFLA_XDP {IFLA_XDP_FD, IFLA_XDP_FLAGS}), the
// legacy interface `ip link set dev X xdp ...` uses. A program attached this
// way is not tied to any process.
func netlinkSetXDP(ifindex int, fd int32, flags uint32) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}

	attr := func(typ uint16, val []byte) []byte {
		b := make([]byte, unix.SizeofNlAttr, unix.SizeofNlAttr+len(val)+3)
		binary.NativeEndian.PutUint16(b[0:2], uint16(unix.SizeofNlAttr+len(val)))
		binary.NativeEndian.PutUint16(b[2:4], typ)
		b = append(b, val...)
		for len(b)%unix.NLA_ALIGNTO != 0 {
			b = append(b, 0)
		}
		return b
	}
	fdb := binary.NativeEndian.AppendUint32(nil, uint32(fd))
	flb := binary.NativeEndian.AppendUint32(nil, flags)
	nested := append(attr(unix.IFLA_XDP_FD, fdb), attr(unix.IFLA_XDP_FLAGS, flb)...)
	xdp := attr(unix.IFLA_XDP|unix.NLA_F_NESTED, nested)

	ifi := make([]byte, unix.SizeofIfInfomsg)
	ifi[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(ifi[4:8], uint32(int32(ifindex)))

	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(ifi)+len(xdp))
	msg = append(msg, ifi...)
	msg = append(msg, xdp...)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], unix.RTM_SETLINK)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], 1) // sequence

	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("netlink: short error message")
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data[0:4])); e != 0 {
				return fmt.Errorf("RTM_SETLINK IFLA_XDP: %w", unix.Errno(-e))
			}
			return nil
		}
	}
}

package xsk

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// TX checksum offload through AF_XDP TX metadata
// (Documentation/networking/xsk-tx-metadata.rst, Linux 6.8): the UMEM is
// registered with tx_metadata_len bytes in front of every TX packet; a
// descriptor with XDP_TX_METADATA in its options carries a struct
// xsk_tx_metadata there whose XDP_TXMD_FLAGS_CHECKSUM asks the device to
// compute the checksum from csum_start to the packet's end and store it at
// csum_start+csum_offset, as an skb's CHECKSUM_PARTIAL does (the checksum
// field holds the pseudo-header sum meanwhile).

// TxChecksum selects whether TCP checksums are left to the device.
type TxChecksum int

const (
	// TxChecksumAuto offloads where the driver advertises tx-checksum in
	// its AF_XDP features (netlink netdev family, xsk-features; the
	// drivers with xsk_tx_metadata_ops, e.g. mlx5, stmmac, ice and idpf
	// in zero-copy mode) and computes checksums in software otherwise
	// (veth has no such feature).
	TxChecksumAuto TxChecksum = iota
	// TxChecksumOff always computes checksums in software.
	TxChecksumOff
	// TxChecksumOn always asks for the offload (Linux 6.8 or newer). In
	// copy mode the kernel builds an skb with CHECKSUM_PARTIAL from the
	// request, which the device's checksum offload completes or, where it
	// has none, the kernel in software (validate_xmit_skb); on veth the
	// receiving namespace trusts it as it trusts its own stack's
	// CHECKSUM_PARTIAL packets, so no one computes it.
	TxChecksumOn
)

// String returns "auto", "off" or "on".
func (m TxChecksum) String() string {
	switch m {
	case TxChecksumAuto:
		return "auto"
	case TxChecksumOff:
		return "off"
	case TxChecksumOn:
		return "on"
	}
	return fmt.Sprintf("TxChecksum(%d)", int(m))
}

// ParseTxChecksum parses the String form of a TxChecksum.
func ParseTxChecksum(s string) (TxChecksum, error) {
	switch s {
	case "auto", "":
		return TxChecksumAuto, nil
	case "off":
		return TxChecksumOff, nil
	case "on":
		return TxChecksumOn, nil
	}
	return 0, fmt.Errorf("%w: TX checksum offload %q (want auto, off or on)", ErrBadConfig, s)
}

// DescTxMetadata in a TX descriptor's Options says its frame carries TX
// metadata in front of Addr (XDP_TX_METADATA); RequestTxChecksum sets it.
const DescTxMetadata = unix.XDP_TX_METADATA

// txMetaLen is the TX metadata area in front of every TX packet when the
// offload is on: sizeof(union xsk_tx_metadata) (flags, then csum_start,
// csum_offset and launch_time; 24 bytes since Linux 6.15, 16 before, the
// rest being padding the kernel ignores); the kernel wants a multiple of 8.
const txMetaLen = 24

// Offsets in struct xsk_tx_metadata (include/uapi/linux/if_xdp.h).
const (
	txmdFlags      = 0 // __u64 flags
	txmdCsumStart  = 8 // __u16 request.csum_start
	txmdCsumOffset = 10
)

// TxChecksumOffload reports whether the socket's TX frames carry metadata
// and RequestTxChecksum may be used.
func (s *Socket) TxChecksumOffload() bool { return s.um.txMeta != 0 }

// RequestTxChecksum asks the device to compute the checksum of the packet
// in d (a frame from AllocTx, the first of a multi-buffer chain) from byte
// start of the packet to its end and to store it at start+offset; the
// checksum field must hold the pseudo-header sum. It returns d with
// DescTxMetadata set in its Options. On a socket without the offload it
// does nothing and returns false.
func (s *Socket) RequestTxChecksum(d Desc, start, offset int) (Desc, bool) {
	m := s.um.txMeta
	if m == 0 || !s.um.valid(d.Addr) || d.Addr-s.um.base(d.Addr) < m {
		return d, false
	}
	md := s.um.mem[d.Addr-m : d.Addr]
	binary.NativeEndian.PutUint64(md[txmdFlags:], unix.XDP_TXMD_FLAGS_CHECKSUM)
	binary.NativeEndian.PutUint16(md[txmdCsumStart:], uint16(start))
	binary.NativeEndian.PutUint16(md[txmdCsumOffset:], uint16(offset))
	d.Options |= DescTxMetadata
	return d, true
}

// netdev generic netlink family (include/uapi/linux/netdev.h).
const (
	netdevCmdDevGet       = 1
	netdevAttrIfindex     = 1
	netdevAttrXskFeatures = 6
	netdevXskFlagsTxCsum  = 2 // NETDEV_XSK_FLAGS_TX_CHECKSUM
	netdevFamilyName      = "netdev"
	genlHdrLen            = 4 // struct genlmsghdr
)

// DriverTxChecksum reports whether the driver of ifindex advertises
// tx-checksum in its AF_XDP features (NETDEV_A_DEV_XSK_FEATURES of the
// netdev family's dev-get, what `ynl --family netdev --do dev-get` shows
// as xsk-features). Kernels without the attribute (before 6.8) report
// false.
func DriverTxChecksum(ifindex int) (bool, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return false, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("netlink bind: %w", err)
	}
	name := append([]byte(netdevFamilyName), 0)
	attrs, err := genlRequest(fd, unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY, nlattr(unix.CTRL_ATTR_FAMILY_NAME, name))
	if err != nil {
		if err == unix.ENOENT {
			return false, nil // no netdev family: a kernel before 6.3
		}
		return false, fmt.Errorf("genetlink family %q: %w", netdevFamilyName, err)
	}
	var family uint16
	for _, a := range attrs {
		if a.typ == unix.CTRL_ATTR_FAMILY_ID && len(a.val) >= 2 {
			family = binary.NativeEndian.Uint16(a.val)
		}
	}
	if family == 0 {
		return false, fmt.Errorf("genetlink family %q: no id", netdevFamilyName)
	}
	idx := binary.NativeEndian.AppendUint32(nil, uint32(ifindex))
	attrs, err = genlRequest(fd, family, netdevCmdDevGet, nlattr(netdevAttrIfindex, idx))
	if err != nil {
		return false, fmt.Errorf("netdev dev-get ifindex %d: %w", ifindex, err)
	}
	for _, a := range attrs {
		if a.typ == netdevAttrXskFeatures && len(a.val) >= 8 {
			return binary.NativeEndian.Uint64(a.val)&netdevXskFlagsTxCsum != 0, nil
		}
	}
	return false, nil
}

// nlattr encodes one netlink attribute, padded.
func nlattr(typ uint16, val []byte) []byte {
	b := make([]byte, unix.SizeofNlAttr, unix.SizeofNlAttr+len(val)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(unix.SizeofNlAttr+len(val)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, val...)
	for len(b)%unix.NLA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// genlRequest sends one generic netlink request (family, cmd, attrs) and
// returns the attributes of the reply, or the kernel's error.
func genlRequest(fd int, family uint16, cmd uint8, attrs []byte) ([]nlAttr, error) {
	msg := make([]byte, unix.SizeofNlMsghdr+genlHdrLen, unix.SizeofNlMsghdr+genlHdrLen+len(attrs))
	msg = append(msg, attrs...)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], family)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], 1)
	msg[unix.SizeofNlMsghdr] = cmd
	msg[unix.SizeofNlMsghdr+1] = 1 // version
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	buf := make([]byte, 16384)
	var out []nlAttr
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, fmt.Errorf("netlink: short error message")
				}
				if e := int32(binary.NativeEndian.Uint32(m.Data[0:4])); e != 0 {
					return nil, unix.Errno(-e)
				}
				return out, nil // the ACK after the reply
			case unix.NLMSG_DONE:
				return out, nil
			default:
				if len(m.Data) >= genlHdrLen {
					out = append(out, parseAttrs(m.Data[genlHdrLen:])...)
				}
			}
		}
	}
}

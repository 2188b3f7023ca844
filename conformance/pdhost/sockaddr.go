package pdhost

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/flowtable"
)

// Sockaddr is a struct sockaddr_in or sockaddr_in6 as a script passes or
// receives it. Addr holds an IPv4 address in its mapped form
// (::ffff:a.b.c.d), as flowtable.Addr does; the unspecified address of
// either family (0.0.0.0, ::) is the zero Addr.
type Sockaddr struct {
	Family int // unix.AF_INET or unix.AF_INET6
	Addr   flowtable.Addr
	Port   uint16
}

// Sizes of struct sockaddr_in and sockaddr_in6; 24 is RFC 2133's
// sockaddr_in6 without sin6_scope_id, the least Linux takes
// (SIN6_LEN_RFC2133).
const (
	sockaddrInLen      = 16
	sockaddrIn6Len     = 28
	sockaddrIn6MinLen  = 24
	sockaddrFamilyOnly = 2
)

// DecodeSockaddr reads a struct sockaddr_in or sockaddr_in6 from b (its
// length is the caller's addrlen). Linux: an address shorter than its
// family's struct is EINVAL, an unknown family EAFNOSUPPORT.
func DecodeSockaddr(b []byte) (Sockaddr, Errno) {
	if len(b) < sockaddrFamilyOnly {
		return Sockaddr{}, syscall.EINVAL
	}
	sa := Sockaddr{Family: int(binary.NativeEndian.Uint16(b))}
	switch sa.Family {
	case unix.AF_INET:
		if len(b) < sockaddrInLen {
			return Sockaddr{}, syscall.EINVAL
		}
		if a := [4]byte(b[4:8]); a != ([4]byte{}) {
			sa.Addr = flowtable.AddrFrom4(a)
		}
	case unix.AF_INET6:
		if len(b) < sockaddrIn6MinLen {
			return Sockaddr{}, syscall.EINVAL
		}
		sa.Addr = flowtable.Addr(b[8:24])
		if sa.Addr == flowtable.AddrFrom4([4]byte{}) {
			sa.Addr = flowtable.Addr{} // ::ffff:0.0.0.0, IPv4's any address
		}
	default:
		return Sockaddr{}, syscall.EAFNOSUPPORT
	}
	sa.Port = binary.BigEndian.Uint16(b[2:4])
	return sa, 0
}

// Encode writes sa as its family's struct into b (truncated to len(b), as
// the kernel copies at most addrlen bytes) and returns the struct's full
// size, the addrlen the kernel reports. An AF_INET6 socket's IPv4 peer is
// ::ffff:a.b.c.d.
func (sa Sockaddr) Encode(b []byte) int {
	var buf [sockaddrIn6Len]byte
	binary.NativeEndian.PutUint16(buf[:], uint16(sa.Family))
	binary.BigEndian.PutUint16(buf[2:], sa.Port)
	n := sockaddrIn6Len
	if sa.Family == unix.AF_INET {
		a := sa.Addr.As4()
		copy(buf[4:8], a[:])
		n = sockaddrInLen
	} else {
		copy(buf[8:24], sa.Addr[:])
	}
	copy(b, buf[:n])
	return n
}

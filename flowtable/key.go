package flowtable

import (
	"net/netip"
	"strconv"
)

// Addr is an IP address in 16 bytes, network byte order: an IPv6 address,
// or an IPv4 address mapped into IPv6 (::ffff:a.b.c.d, RFC 4291 §2.5.5.2),
// the form netip.Addr.As16 returns. One representation for both families
// keeps one key type, one table and one code path for IPv4 and IPv6.
type Addr [16]byte

// AddrFrom4 returns the IPv4-mapped form of a.
func AddrFrom4(a [4]byte) Addr {
	return Addr{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// AddrFromNetip returns a's 16-byte form (the zone is dropped).
func AddrFromNetip(a netip.Addr) Addr { return Addr(a.As16()) }

// Is4 reports whether a is an IPv4-mapped address.
func (a Addr) Is4() bool {
	return a[0]|a[1]|a[2]|a[3]|a[4]|a[5]|a[6]|a[7]|a[8]|a[9] == 0 && a[10] == 0xff && a[11] == 0xff
}

// As4 returns the IPv4 address of an IPv4-mapped a (its last 4 bytes).
func (a Addr) As4() [4]byte { return [4]byte{a[12], a[13], a[14], a[15]} }

// IsZero reports whether a is all zeros (no address; the IPv6
// unspecified address ::).
func (a Addr) IsZero() bool { return a == Addr{} }

// Netip returns a as a netip.Addr: IPv4 for a mapped address, else IPv6.
func (a Addr) Netip() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// String returns a in its usual text form (198.18.0.1, 2001:2::1).
func (a Addr) String() string { return a.Netip().String() }

// Key is a TCP 4-tuple seen from our side: a small comparable value, usable
// as a map key and hashed without allocating. Both addresses are of the same
// family.
type Key struct {
	LocalAddr  Addr
	RemoteAddr Addr
	LocalPort  uint16
	RemotePort uint16
}

// Is4 reports whether k is an IPv4 4-tuple.
func (k Key) Is4() bool { return k.RemoteAddr.Is4() }

// String returns "local:port-remote:port", IPv6 addresses in brackets
// (198.18.0.1:80-198.18.0.2:40000, [2001:2::1]:80-[2001:2::2]:40000).
func (k Key) String() string {
	return hostPort(k.LocalAddr, k.LocalPort) + "-" + hostPort(k.RemoteAddr, k.RemotePort)
}

func hostPort(a Addr, p uint16) string {
	if a.Is4() {
		return a.String() + ":" + strconv.Itoa(int(p))
	}
	return "[" + a.String() + "]:" + strconv.Itoa(int(p))
}

package stack

import "syscall"

// The errno a soft ICMP error reports to a TCP connection (tcp.Layer's
// ICMPError: a SYN-SENT connect fails with it, a later timeout reports it
// instead of ETIMEDOUT), as Linux converts them: icmp_err_convert for
// IPv4's destination-unreachable codes 0-15, EHOSTUNREACH for time
// exceeded and EPROTO for a parameter problem (tcp_v4_err);
// icmpv6_err_convert for ICMPv6.

// icmp4UnreachErrno is icmp_err_convert by destination-unreachable code.
var icmp4UnreachErrno = [16]syscall.Errno{
	syscall.ENETUNREACH,  // 0 net unreachable
	syscall.EHOSTUNREACH, // 1 host unreachable
	syscall.ENOPROTOOPT,  // 2 protocol unreachable
	syscall.ECONNREFUSED, // 3 port unreachable
	syscall.EMSGSIZE,     // 4 fragmentation needed (handled as a path MTU instead)
	syscall.EOPNOTSUPP,   // 5 source route failed
	syscall.ENETUNREACH,  // 6 network unknown
	syscall.EHOSTDOWN,    // 7 host unknown
	syscall.ENONET,       // 8 host isolated
	syscall.ENETUNREACH,  // 9 network administratively prohibited
	syscall.EHOSTUNREACH, // 10 host administratively prohibited
	syscall.ENETUNREACH,  // 11 network unreachable for TOS
	syscall.EHOSTUNREACH, // 12 host unreachable for TOS
	syscall.EHOSTUNREACH, // 13 communication administratively prohibited
	syscall.EHOSTUNREACH, // 14 host precedence violation
	syscall.EHOSTUNREACH, // 15 precedence cutoff
}

// The IPv4 destination-unreachable codes that, with time exceeded and
// parameter problem, end a half-open passive connection (Linux
// tcp_v4_err's abort argument of tcp_req_err: tcp.ICMPFatal).
const (
	icmp4NetUnreach  = 0
	icmp4HostUnreach = 1
)

// icmp6UnreachFatal is icmpv6_err_convert's "fatal" by destination-
// unreachable code: what, with a parameter problem or an unknown code,
// ends a half-open passive connection (tcp_v6_err, tcp_req_err).
var icmp6UnreachFatal = [7]bool{
	false, // 0 no route
	true,  // 1 administratively prohibited
	false, // 2 beyond the scope of the source address
	false, // 3 address unreachable
	true,  // 4 port unreachable
	true,  // 5 source address failed ingress/egress policy
	true,  // 6 reject route
}

// icmp6UnreachErrno is icmpv6_err_convert's table by destination-unreachable code.
var icmp6UnreachErrno = [7]syscall.Errno{
	syscall.ENETUNREACH,  // 0 no route
	syscall.EACCES,       // 1 administratively prohibited
	syscall.EHOSTUNREACH, // 2 beyond the scope of the source address
	syscall.EHOSTUNREACH, // 3 address unreachable
	syscall.ECONNREFUSED, // 4 port unreachable
	syscall.EACCES,       // 5 source address failed ingress/egress policy
	syscall.EACCES,       // 6 reject route
}

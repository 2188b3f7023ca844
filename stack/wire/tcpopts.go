package wire

import "strings"

// TCPFlags are the TCP header control bits (RFC 9293 §3.1, RFC 3168 for
// ECE/CWR).
type TCPFlags uint8

const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Has reports whether every flag in m is set.
func (f TCPFlags) Has(m TCPFlags) bool { return f&m == m }

// String prints flags the way tcpdump does: "S.", "F.", "R", "P.".
func (f TCPFlags) String() string {
	var b strings.Builder
	if f&FlagFIN != 0 {
		b.WriteByte('F')
	}
	if f&FlagSYN != 0 {
		b.WriteByte('S')
	}
	if f&FlagRST != 0 {
		b.WriteByte('R')
	}
	if f&FlagPSH != 0 {
		b.WriteByte('P')
	}
	if f&FlagURG != 0 {
		b.WriteByte('U')
	}
	if f&FlagECE != 0 {
		b.WriteByte('E')
	}
	if f&FlagCWR != 0 {
		b.WriteByte('W')
	}
	if f&FlagACK != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// SACKBlock is one SACK block (RFC 2018 §3): the left and right edges of a
// block of data received out of order.
type SACKBlock struct {
	Left, Right uint32
}

// MaxSACKBlocks is the most SACK blocks a segment can carry (4 without
// timestamps, RFC 2018 §3; 3 with them).
const MaxSACKBlocks = 4

// TCPOptions are the TCP options xdptcp understands, parsed from or to be
// written into a header. A Has* flag says whether the option was present.
type TCPOptions struct {
	HasMSS        bool
	MSS           uint16
	HasWScale     bool
	WScale        uint8 // as received; callers cap it at 14 (RFC 7323 §2.3)
	SACKPermitted bool
	HasTimestamp  bool
	TSVal         uint32
	TSEcr         uint32
	NumSACK       int // blocks used in SACK
	SACK          [MaxSACKBlocks]SACKBlock
}

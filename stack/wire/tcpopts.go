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

// TCP option kinds and lengths (RFC 9293 §3.2, RFC 7323 §2-3, RFC 2018 §2-3).
const (
	OptEOL       = 0  // End of Option List (RFC 9293 §3.2)
	OptNOP       = 1  // No-Operation (RFC 9293 §3.2)
	OptMSS       = 2  // Maximum Segment Size (RFC 9293 §3.2), length 4
	OptWScale    = 3  // Window Scale (RFC 7323 §2.2), length 3
	OptSACKPerm  = 4  // SACK-Permitted (RFC 2018 §2), length 2
	OptSACK      = 5  // SACK (RFC 2018 §3), length 2+8n
	OptTimestamp = 8  // Timestamps (RFC 7323 §3.2), length 10
	optLenMSS    = 4  // RFC 9293 §3.2
	optLenWScale = 3  // RFC 7323 §2.2
	optLenSACKOK = 2  // RFC 2018 §2
	optLenTS     = 10 // RFC 7323 §3.2
	optLenSACK1  = 8  // RFC 2018 §3: bytes per SACK block
)

// OptStatus is the outcome of ParseTCPOptions; anything but OptOK means the
// option list is malformed and the segment should be dropped.
type OptStatus uint8

// ParseTCPOptions outcomes.
const (
	OptOK        OptStatus = iota
	OptBadLength           // a length byte of 0 or 1 (RFC 9293 §3.2: length counts kind and length)
	OptTruncated           // an option (or its length byte) runs past the header
	OptDuplicate           // MSS, window scale, timestamps or SACK-permitted present twice
)

var optStatusNames = [...]string{"ok", "bad_length", "truncated", "duplicate"}

func (s OptStatus) String() string {
	if int(s) < len(optStatusNames) {
		return optStatusNames[s]
	}
	return "unknown"
}

// ParseTCPOptions parses the option bytes b (between the fixed header and
// the data) into o, which it clears first. EOL ends the list, NOP is
// skipped, unknown kinds are skipped by their length (RFC 9293 §3.1 and
// RFC 1122 §4.2.2.5: a TCP must ignore options it does not implement). A
// known option with the wrong length is ignored, as Linux's
// tcp_parse_options does. Lengths of 0 or 1, options past the end, and a
// second MSS/WS/TS/SACK-permitted are reported. It makes progress on every
// step, so it always terminates, and it never reads past b.
func ParseTCPOptions(b []byte, o *TCPOptions) OptStatus {
	*o = TCPOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case OptEOL:
			return OptOK
		case OptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return OptTruncated
		}
		l := int(b[i+1])
		if l < 2 {
			return OptBadLength
		}
		if i+l > len(b) {
			return OptTruncated
		}
		v := b[i+2 : i+l]
		switch kind {
		case OptMSS:
			if l == optLenMSS {
				if o.HasMSS {
					return OptDuplicate
				}
				o.HasMSS = true
				o.MSS = uint16(v[0])<<8 | uint16(v[1])
			}
		case OptWScale:
			if l == optLenWScale {
				if o.HasWScale {
					return OptDuplicate
				}
				o.HasWScale = true
				o.WScale = v[0]
			}
		case OptSACKPerm:
			if l == optLenSACKOK {
				if o.SACKPermitted {
					return OptDuplicate
				}
				o.SACKPermitted = true
			}
		case OptTimestamp:
			if l == optLenTS {
				if o.HasTimestamp {
					return OptDuplicate
				}
				o.HasTimestamp = true
				o.TSVal = be32(v[0:])
				o.TSEcr = be32(v[4:])
			}
		case OptSACK:
			n := (l - 2) / optLenSACK1
			if (l-2)%optLenSACK1 == 0 && n >= 1 && n <= MaxSACKBlocks {
				o.NumSACK = n
				for k := 0; k < n; k++ {
					o.SACK[k] = SACKBlock{Left: be32(v[k*8:]), Right: be32(v[k*8+4:])}
				}
			}
		}
		i += l
	}
	return OptOK
}

func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// sackBlocks returns how many of o's SACK blocks fit in the 40 option bytes
// after the other options (3 with timestamps, 4 without, RFC 2018 §3).
func sackBlocks(o *TCPOptions, used int) int {
	n := o.NumSACK
	if n > MaxSACKBlocks {
		n = MaxSACKBlocks
	}
	if n < 0 {
		n = 0
	}
	for n > 0 && used+4+n*optLenSACK1 > TCPMaxOptionsLen {
		n--
	}
	return n
}

// TCPOptionsLen returns the number of bytes WriteTCPOptions writes for o: a
// multiple of 4, at most 40. syn says whether the segment carries SYN (MSS,
// window scale and SACK-permitted are sent only on SYN, RFC 9293 §3.2,
// RFC 7323 §2.2, RFC 2018 §2).
func TCPOptionsLen(o *TCPOptions, syn bool) int {
	n := 0
	if syn {
		if o.HasMSS {
			n += 4
		}
		if o.SACKPermitted && !o.HasTimestamp {
			n += 4
		}
		if o.HasWScale {
			n += 4
		}
	}
	if o.HasTimestamp {
		n += 12
	}
	if k := sackBlocks(o, n); k > 0 {
		n += 4 + k*optLenSACK1
	}
	return n
}

// WriteTCPOptions writes o into b in Linux's order and alignment
// (tcp_options_write): MSS; then SACK-permitted+timestamps as one 12-byte
// group, or NOP NOP timestamps, or NOP NOP SACK-permitted; then NOP window
// scale; then NOP NOP SACK blocks (as many as fit). A real Linux SYN thus
// reads MSS, SACKOK, TS, NOP, WS; a data segment NOP NOP TS. It returns
// the length written (TCPOptionsLen(o, syn)), or 0 if b is too short, in
// which case b is untouched.
func WriteTCPOptions(b []byte, o *TCPOptions, syn bool) int {
	total := TCPOptionsLen(o, syn)
	if len(b) < total {
		return 0
	}
	i := 0
	if syn && o.HasMSS {
		b[i], b[i+1], b[i+2], b[i+3] = OptMSS, optLenMSS, byte(o.MSS>>8), byte(o.MSS)
		i += 4
	}
	if o.HasTimestamp {
		if syn && o.SACKPermitted {
			b[i], b[i+1] = OptSACKPerm, optLenSACKOK
		} else {
			b[i], b[i+1] = OptNOP, OptNOP
		}
		b[i+2], b[i+3] = OptTimestamp, optLenTS
		put32(b[i+4:], o.TSVal)
		put32(b[i+8:], o.TSEcr)
		i += 12
	} else if syn && o.SACKPermitted {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptNOP, OptSACKPerm, optLenSACKOK
		i += 4
	}
	if syn && o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptWScale, optLenWScale, o.WScale
		i += 4
	}
	if k := sackBlocks(o, i); k > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptNOP, OptSACK, byte(2+k*optLenSACK1)
		i += 4
		for j := 0; j < k; j++ {
			put32(b[i:], o.SACK[j].Left)
			put32(b[i+4:], o.SACK[j].Right)
			i += 8
		}
	}
	return i
}

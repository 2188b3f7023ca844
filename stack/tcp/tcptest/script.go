package tcptest

// The packet-script format, a small cousin of packetdrill's:
//
//	// comment (also after a line's content)
//	set tcp_synack_retries 2             header: a setting, before the first timed line
//	tuple 198.18.0.2:40000 > 198.18.0.1:8080   remote > local (the inbound direction; [2001:2::2]:40000 for IPv6)
//	tolerance 0.001                      how far an emission may be from its line's time
//	pending <reason>                     header: the script is known not to pass yet
//	0.000 listen 8080 backlog 128 [auto] (auto: accept every connection at once)
//	+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
//	+0 > S. 0:0(0) ack 1 win * <mss 1460,*>
//	+0 accept
//	+0 write 1000 / close / closewrite / abort / linger N / keepalive on|off
//	   keepalive period SECONDS / nodelay on|off / pauseread / resumeread
//	   hold on|off (the application stops/starts consuming what OnData
//	   offers: held data stays in the receive buffer, offered again after
//	   more data or resumeread) / dial 198.18.0.2:80
//	+5 expect-nothing
//	+0 state ESTABLISHED / gone
//	+0 event open / event data N / event peerclose / event writable /
//	   event close [nil|ErrReset|ErrRefused|ErrTimeout|ErrAborted|...]
//	+0 counter ListenOverflows 1
//
// A time is absolute ("1.5") or relative to the previous timed line
// ("+0.2"), in seconds. Segment lines are `< ` (the peer sends) and `> `
// (we must send). Sequence numbers of our side are relative to our ISN, the
// sequence number of the latest SYN we sent on the tuple (0 until then);
// the peer's are absolute, as the script chooses them. So in `< . 1:1(0) ack
// 1` the ack is relative and in `> S. 0:0(0) ack 1` it is absolute, as in
// packetdrill. In an expected segment "*" means "any": `ack *`, `win *`,
// `TS val * ecr 100`, and a "*" item in the option list allows options not
// listed (without it, the listed options are exactly the ones sent). In a
// segment the peer sends, `ecr *` echoes the last TSval we sent.

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Default script tuple: the peer 198.18.0.2:40000 talks to us at
// 198.18.0.1:8080.
var (
	DefaultLocal  = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 1}), 8080)
	DefaultRemote = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 2}), 40000)
)

// DefaultTolerance is how far (either way) an emission may be from the time
// its `>` line states: one millisecond.
const DefaultTolerance = clock.Time(1_000_000)

// Kind is the kind of a script line.
type Kind uint8

// Line kinds.
const (
	KindIn        Kind = iota + 1 // `<`: a segment from the peer
	KindOut                       // `>`: a segment we must send
	KindCmd                       // an application command (listen, write, ...)
	KindNothing                   // expect-nothing
	KindState                     // state NAME
	KindGone                      // gone
	KindEvent                     // event ...
	KindCounter                   // counter NAME N
	KindTuple                     // tuple R > L
	KindSet                       // set NAME VALUE (header)
	KindTolerance                 // tolerance SECONDS
	KindPending                   // pending REASON (header)
)

// Line is one parsed script line.
type Line struct {
	N     int        // line number, from 1
	Text  string     // the line without its comment
	At    clock.Time // absolute script time (resolved)
	Timed bool       // the line had a time
	Kind  Kind
	Seg   *SegSpec // KindIn, KindOut
	Cmd   string   // KindCmd: listen, dial, accept, write, close, ...; KindEvent: open, data, ...
	Args  []string // command arguments; KindState: the state; KindSet: name, value
	Num   int64    // write N, linger N, event data N, counter value, listen backlog
	Port  uint16   // listen port
	Dur   clock.Time
	Addr  netip.AddrPort // dial target
	Key   flowtable.Key  // KindTuple
	Flag  bool           // on/off for keepalive/nodelay, auto for listen
}

// SegSpec is a segment as a script writes it.
type SegSpec struct {
	Flags   wire.TCPFlags
	Seq     uint32 // relative for our side, absolute for the peer's
	Len     int    // payload length
	HasAck  bool
	AckAny  bool
	Ack     uint32
	HasWin  bool
	WinAny  bool
	Win     uint16
	HasOpts bool // an option list was given
	OptsAny bool // the list has a "*": other options allowed
	Opts    wire.TCPOptions
	ValAny  bool // TS val *
	EcrAny  bool // TS ecr * (expected: any; sent: echo our last TSval)
}

// Script is a parsed script.
type Script struct {
	Lines   []Line
	Pending string // reason from a `pending` line, or ""
}

// ParseError is a script syntax error, with its line number.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse parses a script. The error, if any, is a *ParseError naming the
// first bad line.
func Parse(src string) (*Script, error) { return parseFrom(src, 0) }

// parseFrom parses src with relative times counted from start.
func parseFrom(src string, start clock.Time) (*Script, error) {
	s := &Script{}
	now := start
	timedSeen := false
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		text := raw
		if j := strings.Index(text, "//"); j >= 0 {
			text = text[:j]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		l := Line{N: n, Text: text}
		rest := text
		if c := rest[0]; c == '+' || (c >= '0' && c <= '9') || c == '.' {
			tok, r := splitWord(rest)
			t, rel, err := parseTime(tok)
			if err != nil {
				return nil, &ParseError{n, err.Error()}
			}
			if rel {
				t += now
			} else if t < now {
				return nil, &ParseError{n, fmt.Sprintf("time %s is before the previous line's %s", tok, fmtTime(now))}
			}
			now = t
			l.Timed = true
			timedSeen = true
			rest = strings.TrimSpace(r)
		}
		l.At = now
		if err := parseBody(&l, rest); err != nil {
			return nil, &ParseError{n, err.Error()}
		}
		switch l.Kind {
		case KindSet, KindPending:
			if l.Timed || timedSeen {
				return nil, &ParseError{n, fmt.Sprintf("%q belongs in the header, before the first timed line", strings.Fields(rest)[0])}
			}
			if l.Kind == KindPending {
				s.Pending = strings.Join(l.Args, " ")
			}
		case KindTuple, KindTolerance:
		default:
			if !l.Timed {
				return nil, &ParseError{n, "missing time (e.g. \"+0\" or \"1.5\")"}
			}
		}
		s.Lines = append(s.Lines, l)
	}
	return s, nil
}

// parseTime parses "1.5" (absolute) or "+0.2" (relative) seconds.
func parseTime(tok string) (clock.Time, bool, error) {
	rel := strings.HasPrefix(tok, "+")
	num := strings.TrimPrefix(tok, "+")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "eEnN+-") || f < 0 || f > 1e6 {
		return 0, false, fmt.Errorf("bad time %q: want seconds like 1.5 or +0.2", tok)
	}
	return clock.Time(math.Round(f * 1e9)), rel, nil
}

func fmtTime(t clock.Time) string { return strconv.FormatFloat(float64(t)/1e9, 'f', 6, 64) }

func splitWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// parseBody parses what follows the time.
func parseBody(l *Line, rest string) error {
	if rest == "" {
		return fmt.Errorf("empty line after the time")
	}
	if rest[0] == '<' || rest[0] == '>' {
		if len(rest) > 1 && rest[1] != ' ' && rest[1] != '\t' {
			return fmt.Errorf("want a space after %q", rest[:1])
		}
		l.Kind = KindIn
		if rest[0] == '>' {
			l.Kind = KindOut
		}
		spec, err := parseSeg(strings.TrimSpace(rest[1:]), l.Kind == KindOut)
		if err != nil {
			return err
		}
		l.Seg = spec
		return nil
	}
	f := strings.Fields(rest)
	cmd, args := f[0], f[1:]
	l.Cmd = cmd
	nargs := func(lo, hi int) error {
		if len(args) < lo || len(args) > hi {
			if lo == hi {
				return fmt.Errorf("%s: want %d argument(s), got %d", cmd, lo, len(args))
			}
			return fmt.Errorf("%s: want %d to %d arguments, got %d", cmd, lo, hi, len(args))
		}
		return nil
	}
	switch cmd {
	case "listen":
		l.Kind = KindCmd
		if len(args) < 1 {
			return fmt.Errorf("listen: want a port")
		}
		p, err := parsePort(args[0])
		if err != nil {
			return err
		}
		l.Port = p
		for i := 1; i < len(args); i++ {
			switch args[i] {
			case "backlog":
				if i+1 == len(args) {
					return fmt.Errorf("listen: backlog needs a number")
				}
				n, err := parseNum(args[i+1], 0, 1<<30)
				if err != nil {
					return err
				}
				l.Num = n
				i++
			case "auto":
				l.Flag = true
			default:
				return fmt.Errorf("listen: unknown option %q (want backlog N or auto)", args[i])
			}
		}
		if l.Num == 0 {
			l.Num = 128
		}
	case "dial":
		l.Kind = KindCmd
		if err := nargs(1, 1); err != nil {
			return err
		}
		ap, err := parseAddrPort(args[0])
		if err != nil {
			return err
		}
		l.Addr = ap
	case "accept", "close", "closewrite", "abort", "pauseread", "resumeread":
		l.Kind = KindCmd
		if err := nargs(0, 0); err != nil {
			return err
		}
	case "write", "linger":
		l.Kind = KindCmd
		if err := nargs(1, 1); err != nil {
			return err
		}
		n, err := parseNum(args[0], 0, 1<<30)
		if err != nil {
			return err
		}
		l.Num = n
	case "nodelay", "hold":
		l.Kind = KindCmd
		if err := nargs(1, 1); err != nil {
			return err
		}
		on, err := parseOnOff(args[0])
		if err != nil {
			return err
		}
		l.Flag = on
	case "keepalive":
		l.Kind = KindCmd
		if len(args) == 2 && args[0] == "period" {
			t, rel, err := parseTime(args[1])
			if err != nil || rel || t <= 0 {
				return fmt.Errorf("keepalive period: bad duration %q: want seconds like 75", args[1])
			}
			l.Cmd, l.Dur = "keepalive-period", t
			return nil
		}
		if err := nargs(1, 1); err != nil {
			return fmt.Errorf("keepalive: want on, off or period SECONDS")
		}
		on, err := parseOnOff(args[0])
		if err != nil {
			return err
		}
		l.Flag = on
	case "expect-nothing":
		l.Kind = KindNothing
		return nargs(0, 0)
	case "state":
		l.Kind = KindState
		if err := nargs(1, 1); err != nil {
			return err
		}
		if !knownState(args[0]) {
			return fmt.Errorf("state: unknown state %q (want the RFC 9293 spelling, e.g. SYN-RECEIVED)", args[0])
		}
		l.Args = args
	case "gone":
		l.Kind = KindGone
		return nargs(0, 0)
	case "event":
		l.Kind = KindEvent
		if len(args) == 0 {
			return fmt.Errorf("event: want open, data N, peerclose, writable or close [ERR]")
		}
		l.Cmd = args[0]
		switch args[0] {
		case "open", "peerclose", "writable":
			if len(args) != 1 {
				return fmt.Errorf("event %s: takes no argument", args[0])
			}
		case "data":
			if len(args) != 2 {
				return fmt.Errorf("event data: want a byte count")
			}
			n, err := parseNum(args[1], 0, 1<<40)
			if err != nil {
				return err
			}
			l.Num = n
		case "close":
			if len(args) > 2 {
				return fmt.Errorf("event close: want at most one error name")
			}
			l.Args = []string{"nil"}
			if len(args) == 2 {
				if _, ok := errorByName(args[1]); !ok {
					return fmt.Errorf("event close: unknown error %q (want nil, %s)", args[1], strings.Join(errorNames(), ", "))
				}
				l.Args = []string{args[1]}
			}
		default:
			return fmt.Errorf("event: unknown event %q (want open, data, peerclose, writable or close)", args[0])
		}
	case "counter":
		l.Kind = KindCounter
		if err := nargs(2, 2); err != nil {
			return err
		}
		if !knownCounter(args[0]) {
			return fmt.Errorf("counter: unknown counter %q", args[0])
		}
		n, err := parseNum(args[1], 0, math.MaxInt64)
		if err != nil {
			return err
		}
		l.Args, l.Num = args[:1], n
	case "tuple":
		l.Kind = KindTuple
		if len(args) != 3 || args[1] != ">" {
			return fmt.Errorf("tuple: want REMOTE:PORT > LOCAL:PORT")
		}
		r, err := parseAddrPort(args[0])
		if err != nil {
			return err
		}
		lo, err := parseAddrPort(args[2])
		if err != nil {
			return err
		}
		l.Key = flowtable.Key{LocalAddr: flowtable.AddrFromNetip(lo.Addr()), RemoteAddr: flowtable.AddrFromNetip(r.Addr()), LocalPort: lo.Port(), RemotePort: r.Port()}
	case "set":
		l.Kind = KindSet
		if len(args) < 2 {
			return fmt.Errorf("set: want NAME VALUE")
		}
		l.Args = []string{args[0], strings.Join(args[1:], " ")}
	case "tolerance":
		l.Kind = KindTolerance
		if err := nargs(1, 1); err != nil {
			return err
		}
		t, rel, err := parseTime(args[0])
		if err != nil || rel {
			return fmt.Errorf("tolerance: bad duration %q", args[0])
		}
		l.Dur = t
	case "pending":
		l.Kind = KindPending
		if len(args) == 0 {
			return fmt.Errorf("pending: say why")
		}
		l.Args = args
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func parseNum(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("number %d out of range %d..%d", n, lo, hi)
	}
	return n, nil
}

func parsePort(s string) (uint16, error) {
	n, err := parseNum(s, 1, 65535)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("bad address %q: want IPV4:PORT or [IPV6]:PORT", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func parseOnOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("want on or off, got %q", s)
}

// stateNames are the RFC 9293 spellings State.String prints.
var stateNames = []string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func knownState(s string) bool {
	for _, n := range stateNames {
		if n == s {
			return true
		}
	}
	return false
}

// parseSeg parses `FLAGS SEQ:END(LEN) [ack N] [win N] [<opts>]`.
func parseSeg(s string, out bool) (*SegSpec, error) {
	spec := &SegSpec{}
	optText := ""
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.LastIndexByte(s, '>')
		if j < i {
			return nil, fmt.Errorf("option list not closed with '>'")
		}
		if strings.TrimSpace(s[j+1:]) != "" {
			return nil, fmt.Errorf("text after the option list: %q", strings.TrimSpace(s[j+1:]))
		}
		optText = s[i+1 : j]
		s = s[:i]
		spec.HasOpts = true
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil, fmt.Errorf("segment: want FLAGS SEQ:END(LEN)")
	}
	for _, c := range f[0] {
		var fl wire.TCPFlags
		switch c {
		case 'S':
			fl = wire.FlagSYN
		case 'F':
			fl = wire.FlagFIN
		case 'R':
			fl = wire.FlagRST
		case 'P':
			fl = wire.FlagPSH
		case 'U':
			fl = wire.FlagURG
		case 'E':
			fl = wire.FlagECE
		case 'W':
			fl = wire.FlagCWR
		case '.':
			fl = wire.FlagACK
		default:
			return nil, fmt.Errorf("bad flags %q: want letters of SFRPUEW and '.' for ACK", f[0])
		}
		if spec.Flags&fl != 0 {
			return nil, fmt.Errorf("flag %q twice in %q", c, f[0])
		}
		spec.Flags |= fl
	}
	if err := parseSeqRange(f[1], spec); err != nil {
		return nil, err
	}
	for i := 2; i < len(f); i += 2 {
		if i+1 == len(f) {
			return nil, fmt.Errorf("%q needs a value", f[i])
		}
		v := f[i+1]
		switch f[i] {
		case "ack":
			if spec.HasAck {
				return nil, fmt.Errorf("ack given twice")
			}
			spec.HasAck = true
			if v == "*" && out {
				spec.AckAny = true
				continue
			}
			n, err := parseNum(v, 0, math.MaxUint32)
			if err != nil {
				return nil, fmt.Errorf("ack: %v", err)
			}
			spec.Ack = uint32(n)
		case "win":
			if spec.HasWin {
				return nil, fmt.Errorf("win given twice")
			}
			spec.HasWin = true
			if v == "*" && out {
				spec.WinAny = true
				continue
			}
			n, err := parseNum(v, 0, 65535)
			if err != nil {
				return nil, fmt.Errorf("win: %v", err)
			}
			spec.Win = uint16(n)
		default:
			return nil, fmt.Errorf("unknown segment field %q (want ack, win or <options>)", f[i])
		}
	}
	if spec.HasAck && !spec.Flags.Has(wire.FlagACK) {
		return nil, fmt.Errorf("ack given without the ACK flag '.'")
	}
	if !out && spec.Flags.Has(wire.FlagACK) && !spec.HasAck {
		return nil, fmt.Errorf("the ACK flag '.' needs an ack number")
	}
	if spec.HasOpts {
		if err := parseOpts(optText, spec, out); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// parseSeqRange parses SEQ:END(LEN).
func parseSeqRange(s string, spec *SegSpec) error {
	bad := fmt.Errorf("bad sequence range %q: want SEQ:END(LEN), e.g. 1:101(100)", s)
	colon := strings.IndexByte(s, ':')
	open := strings.IndexByte(s, '(')
	if colon < 0 || open < colon || !strings.HasSuffix(s, ")") {
		return bad
	}
	seq, err1 := strconv.ParseUint(s[:colon], 10, 32)
	end, err2 := strconv.ParseUint(s[colon+1:open], 10, 32)
	n, err3 := strconv.ParseUint(s[open+1:len(s)-1], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return bad
	}
	if uint32(end)-uint32(seq) != uint32(n) || n > 1<<20 {
		return fmt.Errorf("sequence range %q: END-SEQ must equal LEN (at most 1 MiB)", s)
	}
	spec.Seq, spec.Len = uint32(seq), int(n)
	return nil
}

// parseOpts parses the items of an option list.
func parseOpts(s string, spec *SegSpec, out bool) error {
	o := &spec.Opts
	if strings.TrimSpace(s) == "" {
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		f := strings.Fields(item)
		if len(f) == 0 {
			return fmt.Errorf("empty option in <%s>", s)
		}
		dup := func(has bool) error {
			if has {
				return fmt.Errorf("option %s twice", f[0])
			}
			return nil
		}
		switch f[0] {
		case "*":
			if !out || len(f) != 1 {
				return fmt.Errorf("'*' in an option list only in expected segments, alone")
			}
			spec.OptsAny = true
		case "nop", "eol":
			if len(f) != 1 {
				return fmt.Errorf("%s takes no value", f[0])
			}
		case "mss":
			if err := dup(o.HasMSS); err != nil {
				return err
			}
			if len(f) != 2 {
				return fmt.Errorf("mss: want mss N")
			}
			n, err := parseNum(f[1], 0, 65535)
			if err != nil {
				return fmt.Errorf("mss: %v", err)
			}
			o.HasMSS, o.MSS = true, uint16(n)
		case "wscale":
			if err := dup(o.HasWScale); err != nil {
				return err
			}
			if len(f) != 2 {
				return fmt.Errorf("wscale: want wscale N")
			}
			n, err := parseNum(f[1], 0, 255)
			if err != nil {
				return fmt.Errorf("wscale: %v", err)
			}
			o.HasWScale, o.WScale = true, uint8(n)
		case "sackOK":
			if err := dup(o.SACKPermitted); err != nil {
				return err
			}
			if len(f) != 1 {
				return fmt.Errorf("sackOK takes no value")
			}
			o.SACKPermitted = true
		case "TS":
			if err := dup(o.HasTimestamp); err != nil {
				return err
			}
			if len(f) != 5 || f[1] != "val" || f[3] != "ecr" {
				return fmt.Errorf("TS: want TS val N ecr N")
			}
			o.HasTimestamp = true
			if f[2] == "*" && out {
				spec.ValAny = true
			} else {
				n, err := parseNum(f[2], 0, math.MaxUint32)
				if err != nil {
					return fmt.Errorf("TS val: %v", err)
				}
				o.TSVal = uint32(n)
			}
			if f[4] == "*" {
				spec.EcrAny = true
			} else {
				n, err := parseNum(f[4], 0, math.MaxUint32)
				if err != nil {
					return fmt.Errorf("TS ecr: %v", err)
				}
				o.TSEcr = uint32(n)
			}
		case "sack":
			if o.NumSACK > 0 {
				return fmt.Errorf("option sack twice")
			}
			if len(f) < 2 || len(f)-1 > wire.MaxSACKBlocks {
				return fmt.Errorf("sack: want 1 to %d blocks L:R", wire.MaxSACKBlocks)
			}
			for i, b := range f[1:] {
				l, r, ok := strings.Cut(b, ":")
				ln, err1 := strconv.ParseUint(l, 10, 32)
				rn, err2 := strconv.ParseUint(r, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("sack: bad block %q: want L:R", b)
				}
				o.SACK[i] = wire.SACKBlock{Left: uint32(ln), Right: uint32(rn)}
			}
			o.NumSACK = len(f) - 1
		default:
			return fmt.Errorf("unknown option %q (want mss, wscale, sackOK, TS, sack, nop, eol or *)", f[0])
		}
	}
	return nil
}

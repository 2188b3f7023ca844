package tcptest

import (
	"errors"
	"testing"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/wire"
)

func TestParseEveryForm(t *testing.T) {
	src := `// header
set tcp_synack_retries 2
set tcp_rmem 4096 8192 16384
pending waits for the state machine
tolerance 0.004
tuple 198.18.0.9:1234 > 198.18.0.1:80

0.000 listen 80 backlog 16 auto   // trailing comment
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1 win * <mss 1460,*>
+1.5 > S. 0:0(0) ack 1
2.5 < P. 1:101(100) ack 1 win 300 <nop,nop,TS val 5 ecr *,sack 1:2 3:4>
+0 > . 1:1(0) ack * <TS val * ecr 5>
+0 < FPUEW. 4294967295:99(100) ack 4294967295
+0 < R 0:0(0)
+0 dial 198.18.0.2:443
+0 accept
+0 write 1000
+0 close
+0 closewrite
+0 abort
+0 linger 0
+0 keepalive on
+0 keepalive off
+0 keepalive period 75
+0 nodelay on
+0 pauseread
+0 resumeread
+5 expect-nothing
+0 state TIME-WAIT
+0 gone
+0 event open
+0 event data 100
+0 event peerclose
+0 event writable
+0 event close
+0 event close ErrTimeout
+0 counter ListenOverflows 1
+0.25 tuple 198.18.0.2:1 > 198.18.0.1:2
`
	s, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending != "waits for the state machine" {
		t.Errorf("pending %q", s.Pending)
	}
	byLine := map[int]*Line{}
	for i := range s.Lines {
		byLine[s.Lines[i].N] = &s.Lines[i]
	}
	if len(s.Lines) != 37 {
		t.Errorf("%d lines parsed", len(s.Lines))
	}
	sec := func(f float64) clock.Time { return clock.Time(f * 1e9) }
	l := byLine[2]
	if l.Kind != KindSet || l.Args[0] != "tcp_synack_retries" || l.Args[1] != "2" || l.Timed {
		t.Errorf("set: %+v", l)
	}
	if l := byLine[3]; l.Args[1] != "4096 8192 16384" {
		t.Errorf("set triple: %q", l.Args[1])
	}
	if l := byLine[5]; l.Kind != KindTolerance || l.Dur != sec(0.004) {
		t.Errorf("tolerance: %+v", l)
	}
	wantKey := flowtable.Key{LocalAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), RemoteAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 9}), LocalPort: 80, RemotePort: 1234}
	if l := byLine[6]; l.Kind != KindTuple || l.Key != wantKey {
		t.Errorf("tuple: %+v", l)
	}
	if l := byLine[8]; l.Kind != KindCmd || l.Cmd != "listen" || l.Port != 80 || l.Num != 16 || !l.Flag || l.At != 0 || l.Text != "0.000 listen 80 backlog 16 auto" {
		t.Errorf("listen: %+v", l)
	}
	in := byLine[9].Seg
	if byLine[9].Kind != KindIn || in.Flags != wire.FlagSYN || in.Seq != 0 || in.Len != 0 || in.HasAck || in.Win != 65535 || !in.HasOpts {
		t.Errorf("SYN: %+v", in)
	}
	wantOpts := wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 100, HasWScale: true, WScale: 7}
	if in.Opts != wantOpts {
		t.Errorf("SYN options %+v", in.Opts)
	}
	out := byLine[10].Seg
	if byLine[10].Kind != KindOut || out.Flags != wire.FlagSYN|wire.FlagACK || !out.HasAck || out.Ack != 1 || !out.WinAny || !out.OptsAny || !out.Opts.HasMSS {
		t.Errorf("SYN-ACK: %+v", out)
	}
	if l := byLine[11]; l.At != sec(1.5) || l.Seg.HasOpts || l.Seg.HasWin {
		t.Errorf("+1.5: %+v", l)
	}
	d := byLine[12]
	if d.At != sec(2.5) || d.Seg.Flags != wire.FlagPSH|wire.FlagACK || d.Seg.Seq != 1 || d.Seg.Len != 100 || d.Seg.Win != 300 || !d.Seg.EcrAny ||
		d.Seg.Opts.NumSACK != 2 || d.Seg.Opts.SACK[1] != (wire.SACKBlock{Left: 3, Right: 4}) {
		t.Errorf("data: %+v", d.Seg)
	}
	if a := byLine[13].Seg; !a.AckAny || !a.ValAny || a.EcrAny || a.Opts.TSEcr != 5 {
		t.Errorf("ack *: %+v", a)
	}
	if w := byLine[14].Seg; w.Flags != 0xff&^(wire.FlagSYN|wire.FlagRST) || w.Seq != 4294967295 || w.Len != 100 {
		t.Errorf("wrapping: %+v", w)
	}
	if r := byLine[15].Seg; r.Flags != wire.FlagRST {
		t.Errorf("RST: %+v", r)
	}
	if l := byLine[16]; l.Cmd != "dial" || l.Addr.String() != "198.18.0.2:443" {
		t.Errorf("dial: %+v", l)
	}
	for n, cmd := range map[int]string{17: "accept", 19: "close", 20: "closewrite", 21: "abort", 26: "nodelay", 27: "pauseread", 28: "resumeread"} {
		if l := byLine[n]; l.Kind != KindCmd || l.Cmd != cmd {
			t.Errorf("line %d: %+v, want %s", n, l, cmd)
		}
	}
	if l := byLine[18]; l.Cmd != "write" || l.Num != 1000 {
		t.Errorf("write: %+v", l)
	}
	if l := byLine[22]; l.Cmd != "linger" || l.Num != 0 {
		t.Errorf("linger: %+v", l)
	}
	if byLine[23].Cmd != "keepalive" || !byLine[23].Flag || byLine[24].Flag {
		t.Errorf("keepalive on/off")
	}
	if l := byLine[25]; l.Cmd != "keepalive-period" || l.Dur != sec(75) {
		t.Errorf("keepalive period: %+v", l)
	}
	if l := byLine[29]; l.Kind != KindNothing || l.At != sec(7.5) {
		t.Errorf("expect-nothing: %+v", l)
	}
	if l := byLine[30]; l.Kind != KindState || l.Args[0] != "TIME-WAIT" {
		t.Errorf("state: %+v", l)
	}
	if byLine[31].Kind != KindGone {
		t.Error("gone")
	}
	for n, ev := range map[int]string{32: "open", 33: "data", 34: "peerclose", 35: "writable", 36: "close", 37: "close"} {
		if l := byLine[n]; l.Kind != KindEvent || l.Cmd != ev {
			t.Errorf("line %d: %+v, want event %s", n, l, ev)
		}
	}
	if byLine[33].Num != 100 || byLine[36].Args[0] != "nil" || byLine[37].Args[0] != "ErrTimeout" {
		t.Error("event arguments")
	}
	if l := byLine[38]; l.Kind != KindCounter || l.Args[0] != "ListenOverflows" || l.Num != 1 {
		t.Errorf("counter: %+v", l)
	}
	if l := byLine[39]; l.Kind != KindTuple || !l.Timed || l.At != sec(7.75) {
		t.Errorf("timed tuple: %+v", l)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		line int
		msg  string
	}{
		{"0 listen 80\n\n// c\nfoo", 4, `unknown command "foo"`},
		{"listen 80", 1, `missing time (e.g. "+0" or "1.5")`},
		{"0 listen 80\nset tcp_sack 0", 2, `"set" belongs in the header, before the first timed line`},
		{"1 listen 80\n0.5 close", 2, "time 0.5 is before the previous line's 1.000000"},
		{"+x listen 80", 1, `bad time "+x": want seconds like 1.5 or +0.2`},
		{"1e3 listen 80", 1, `bad time "1e3": want seconds like 1.5 or +0.2`},
		{"+0", 1, "empty line after the time"},
		{"0 listen", 1, "listen: want a port"},
		{"0 listen 0", 1, `bad port "0"`},
		{"0 listen 80 backlog", 1, "listen: backlog needs a number"},
		{"0 listen 80 backlog -1", 1, "number -1 out of range 0..1073741824"},
		{"0 listen 80 fast", 1, `listen: unknown option "fast" (want backlog N or auto)`},
		{"0 dial 198.18.0.2", 1, `bad address "198.18.0.2": want IPV4:PORT or [IPV6]:PORT`},
		{"0 dial [fe80::1%eth0]:80", 1, `bad address "[fe80::1%eth0]:80": want IPV4:PORT or [IPV6]:PORT`},
		{"0 dial", 1, "dial: want 1 argument(s), got 0"},
		{"0 accept now", 1, "accept: want 0 argument(s), got 1"},
		{"0 write", 1, "write: want 1 argument(s), got 0"},
		{"0 write lots", 1, `bad number "lots"`},
		{"0 keepalive maybe", 1, `want on or off, got "maybe"`},
		{"0 keepalive period x", 1, `keepalive period: bad duration "x": want seconds like 75`},
		{"0 keepalive period 0", 1, `keepalive period: bad duration "0": want seconds like 75`},
		{"0 nodelay", 1, "nodelay: want 1 argument(s), got 0"},
		{"0 expect-nothing now", 1, "expect-nothing: want 0 argument(s), got 1"},
		{"0 state established", 1, `state: unknown state "established" (want the RFC 9293 spelling, e.g. SYN-RECEIVED)`},
		{"0 gone 1", 1, "gone: want 0 argument(s), got 1"},
		{"0 event", 1, "event: want open, data N, peerclose, writable or close [ERR]"},
		{"0 event opened", 1, `event: unknown event "opened" (want open, data, peerclose, writable or close)`},
		{"0 event data", 1, "event data: want a byte count"},
		{"0 event open 1", 1, "event open: takes no argument"},
		{"0 event close ErrBoom", 1, `event close: unknown error "ErrBoom" (want nil, ErrAborted, ErrAddrInUse, ErrClosed, ErrNoPorts, ErrRefused, ErrReset, ErrTableFull, ErrTimeout)`},
		{"0 counter Nope 1", 1, `counter: unknown counter "Nope"`},
		{"0 counter ListenDrops", 1, "counter: want 2 argument(s), got 1"},
		{"0 counter ListenDrops -1", 1, "number -1 out of range 0..9223372036854775807"},
		{"tuple 198.18.0.2:1 198.18.0.1:2", 1, "tuple: want REMOTE:PORT > LOCAL:PORT"},
		{"tuple 198.18.0.2:1 > 198.18.0.1", 1, `bad address "198.18.0.1": want IPV4:PORT or [IPV6]:PORT`},
		{"set tcp_sack", 1, "set: want NAME VALUE"},
		{"tolerance +1", 1, `tolerance: bad duration "+1"`},
		{"pending", 1, "pending: say why"},
		{"0 <S 0:0(0)", 1, `want a space after "<"`},
		{"0 < S", 1, "segment: want FLAGS SEQ:END(LEN)"},
		{"0 < X 0:0(0)", 1, `bad flags "X": want letters of SFRPUEW and '.' for ACK`},
		{"0 < SS 0:0(0)", 1, `flag 'S' twice in "SS"`},
		{"0 < S 0:0", 1, `bad sequence range "0:0": want SEQ:END(LEN), e.g. 1:101(100)`},
		{"0 < S 0:5(4)", 1, `sequence range "0:5(4)": END-SEQ must equal LEN (at most 1 MiB)`},
		{"0 < S 0:0(0) win", 1, `"win" needs a value`},
		{"0 < S 0:0(0) win 65536", 1, "win: number 65536 out of range 0..65535"},
		{"0 < S 0:0(0) win *", 1, `win: bad number "*"`},
		{"0 < S 0:0(0) win 1 win 2", 1, "win given twice"},
		{"0 < S 0:0(0) ack 1", 1, "ack given without the ACK flag '.'"},
		{"0 < . 1:1(0)", 1, "the ACK flag '.' needs an ack number"},
		{"0 < . 1:1(0) ack *", 1, `ack: bad number "*"`},
		{"0 > . 1:1(0) ack 1 ack 2", 1, "ack given twice"},
		{"0 < . 1:1(0) ack 1 urg 5", 1, `unknown segment field "urg" (want ack, win or <options>)`},
		{"0 < S 0:0(0) <mss 1460", 1, "option list not closed with '>'"},
		{"0 < S 0:0(0) <mss 1460> win 5", 1, `text after the option list: "win 5"`},
		{"0 < S 0:0(0) <mss>", 1, "mss: want mss N"},
		{"0 < S 0:0(0) <mss 70000>", 1, "mss: number 70000 out of range 0..65535"},
		{"0 < S 0:0(0) <mss 1,mss 2>", 1, "option mss twice"},
		{"0 < S 0:0(0) <wscale>", 1, "wscale: want wscale N"},
		{"0 < S 0:0(0) <sackOK 1>", 1, "sackOK takes no value"},
		{"0 < S 0:0(0) <TS val 1>", 1, "TS: want TS val N ecr N"},
		{"0 < S 0:0(0) <TS val * ecr 0>", 1, `TS val: bad number "*"`},
		{"0 < S 0:0(0) <sack 1-2>", 1, `sack: bad block "1-2": want L:R`},
		{"0 < S 0:0(0) <sack 1:2 3:4 5:6 7:8 9:10>", 1, "sack: want 1 to 4 blocks L:R"},
		{"0 < S 0:0(0) <*>", 1, "'*' in an option list only in expected segments, alone"},
		{"0 < S 0:0(0) <nop,,nop>", 1, "empty option in <nop,,nop>"},
		{"0 < S 0:0(0) <nop 1>", 1, "nop takes no value"},
		{"0 < S 0:0(0) <md5 x>", 1, `unknown option "md5" (want mss, wscale, sackOK, TS, sack, nop, eol or *)`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a ParseError", tt.src, err)
			continue
		}
		if pe.Line != tt.line || pe.Msg != tt.msg {
			t.Errorf("Parse(%q):\n got line %d: %s\nwant line %d: %s", tt.src, pe.Line, pe.Msg, tt.line, tt.msg)
		}
	}
}

// FuzzParse: no input makes the parser panic, and an accepted script has
// lines in time order.
func FuzzParse(f *testing.F) {
	f.Add("0 listen 8080\n+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7>\n+0 > S. 0:0(0) ack 1 <mss 1460,*>")
	f.Add("tuple 198.18.0.2:1 > 198.18.0.1:2\n+1.5 event close ErrTimeout\n+0 counter TW 1")
	f.Add("0 < P. 4294967295:99(100) ack 1 <sack 1:2 3:4,TS val 1 ecr *>")
	f.Add("0 > S 0:0(0) <<>>\n+ \n+0 keepalive period 1e9")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			return
		}
		var last clock.Time
		for _, l := range s.Lines {
			if l.At < last {
				t.Fatalf("line %d goes back in time", l.N)
			}
			last = l.At
		}
	})
}

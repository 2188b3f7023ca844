package tcptest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Checker checks one property of an emitted segment, in the style of
// gVisor's checker package: h.Expect(Flags(wire.FlagSYN|wire.FlagACK),
// AckNum(1), MSS(1460)).
type Checker func(c *Captured) error

// Check runs every checker on c and returns the first failure.
func Check(c *Captured, checks ...Checker) error {
	for _, ch := range checks {
		if err := ch(c); err != nil {
			return err
		}
	}
	return nil
}

// Flags checks the control bits exactly.
func Flags(f wire.TCPFlags) Checker {
	return func(c *Captured) error {
		if c.Seg.Flags != f {
			return fmt.Errorf("flags %s, want %s", c.Seg.Flags, f)
		}
		return nil
	}
}

// SeqNum checks the absolute sequence number.
func SeqNum(v seqnum.Value) Checker {
	return func(c *Captured) error {
		if c.Seg.Seq != v {
			return fmt.Errorf("seq %d, want %d", c.Seg.Seq, v)
		}
		return nil
	}
}

// RelSeq checks the sequence number relative to our ISN on the tuple.
func RelSeq(v uint32) Checker {
	return func(c *Captured) error {
		if got := uint32(c.Seg.Seq) - c.ISN; got != v {
			return fmt.Errorf("relative seq %d, want %d", got, v)
		}
		return nil
	}
}

// AckNum checks the acknowledgement number (and that ACK is set).
func AckNum(v seqnum.Value) Checker {
	return func(c *Captured) error {
		if !c.Seg.Flags.Has(wire.FlagACK) {
			return fmt.Errorf("no ACK flag (flags %s), want ack %d", c.Seg.Flags, v)
		}
		if c.Seg.Ack != v {
			return fmt.Errorf("ack %d, want %d", c.Seg.Ack, v)
		}
		return nil
	}
}

// Window checks the raw window field.
func Window(w uint16) Checker {
	return func(c *Captured) error {
		if c.Seg.Window != w {
			return fmt.Errorf("win %d, want %d", c.Seg.Window, w)
		}
		return nil
	}
}

// PayloadLen checks the payload length.
func PayloadLen(n int) Checker {
	return func(c *Captured) error {
		if len(c.Seg.Payload) != n {
			return fmt.Errorf("payload %d bytes, want %d", len(c.Seg.Payload), n)
		}
		return nil
	}
}

// Payload checks the payload bytes.
func Payload(p []byte) Checker {
	return func(c *Captured) error {
		if !bytes.Equal(c.Seg.Payload, p) {
			return fmt.Errorf("payload %q, want %q", c.Seg.Payload, p)
		}
		return nil
	}
}

// MSS checks the MSS option.
func MSS(m uint16) Checker {
	return func(c *Captured) error {
		if !c.Seg.Opts.HasMSS || c.Seg.Opts.MSS != m {
			return fmt.Errorf("options <%s>, want mss %d", formatOpts(c), m)
		}
		return nil
	}
}

// WScale checks the window scale option.
func WScale(s uint8) Checker {
	return func(c *Captured) error {
		if !c.Seg.Opts.HasWScale || c.Seg.Opts.WScale != s {
			return fmt.Errorf("options <%s>, want wscale %d", formatOpts(c), s)
		}
		return nil
	}
}

// SACKPermitted checks whether the SACK-permitted option is present.
func SACKPermitted(on bool) Checker {
	return func(c *Captured) error {
		if c.Seg.Opts.SACKPermitted != on {
			return fmt.Errorf("sackOK %v, want %v", c.Seg.Opts.SACKPermitted, on)
		}
		return nil
	}
}

// TSEcr checks that a timestamp option is present and echoes v.
func TSEcr(v uint32) Checker {
	return func(c *Captured) error {
		if !c.Seg.Opts.HasTimestamp || c.Seg.Opts.TSEcr != v {
			return fmt.Errorf("options <%s>, want TS ecr %d", formatOpts(c), v)
		}
		return nil
	}
}

// NoTimestamp checks that no timestamp option is present.
func NoTimestamp() Checker {
	return func(c *Captured) error {
		if c.Seg.Opts.HasTimestamp {
			return fmt.Errorf("has TS option, want none")
		}
		return nil
	}
}

// SACKBlocks checks the SACK blocks (absolute edges), in order.
func SACKBlocks(blocks ...wire.SACKBlock) Checker {
	return func(c *Captured) error {
		o := &c.Seg.Opts
		if o.NumSACK != len(blocks) {
			return fmt.Errorf("%d SACK blocks, want %d", o.NumSACK, len(blocks))
		}
		for i, b := range blocks {
			if o.SACK[i] != b {
				return fmt.Errorf("SACK block %d is %d:%d, want %d:%d", i, o.SACK[i].Left, o.SACK[i].Right, b.Left, b.Right)
			}
		}
		return nil
	}
}

// Key checks the segment's 4-tuple (seen from our side).
func Key(k flowtable.Key) Checker {
	return func(c *Captured) error {
		if c.Seg.Key != k {
			return fmt.Errorf("sent on %v, want %v", c.Seg.Key, k)
		}
		return nil
	}
}

// FormatOut prints an emitted segment as a script's `>` line would, with
// our sequence number relative to our ISN: "S. 0:0(0) ack 1 win 65535
// <mss 1460,sackOK,TS val 7 ecr 100,wscale 7>".
func FormatOut(c *Captured) string {
	s := &c.Seg
	seq := uint32(s.Seq) - c.ISN
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d:%d(%d)", s.Flags.String(), seq, seq+uint32(len(s.Payload)), len(s.Payload))
	if s.Flags.Has(wire.FlagACK) {
		fmt.Fprintf(&b, " ack %d", s.Ack)
	}
	fmt.Fprintf(&b, " win %d", s.Window)
	if o := formatOpts(c); o != "" {
		b.WriteString(" <" + o + ">")
	}
	return b.String()
}

// formatOpts prints the options of c in script syntax. SACK edges of our
// emitted segments refer to the peer's (absolute) numbers.
func formatOpts(c *Captured) string {
	return optsText(&c.Seg.Opts, 0)
}

// optsText prints o; sackBase is subtracted from SACK edges.
func optsText(o *wire.TCPOptions, sackBase uint32) string {
	var items []string
	if o.HasMSS {
		items = append(items, "mss "+strconv.Itoa(int(o.MSS)))
	}
	if o.SACKPermitted {
		items = append(items, "sackOK")
	}
	if o.HasTimestamp {
		items = append(items, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	if o.HasWScale {
		items = append(items, "wscale "+strconv.Itoa(int(o.WScale)))
	}
	if o.NumSACK > 0 {
		var bl []string
		for i := 0; i < o.NumSACK && i < len(o.SACK); i++ {
			bl = append(bl, fmt.Sprintf("%d:%d", o.SACK[i].Left-sackBase, o.SACK[i].Right-sackBase))
		}
		items = append(items, "sack "+strings.Join(bl, " "))
	}
	return strings.Join(items, ",")
}

// matchSpec compares an emitted segment with an expected `>` spec and
// describes the first difference ("" if it matches). With no option list
// the options are not checked.
func matchSpec(spec *SegSpec, c *Captured) string {
	s := &c.Seg
	if s.Flags != spec.Flags {
		return fmt.Sprintf("flags %s, want %s", s.Flags.String(), spec.Flags.String())
	}
	if seq := uint32(s.Seq) - c.ISN; seq != spec.Seq {
		return fmt.Sprintf("seq %d, want %d", seq, spec.Seq)
	}
	if len(s.Payload) != spec.Len {
		return fmt.Sprintf("payload %d bytes, want %d", len(s.Payload), spec.Len)
	}
	if spec.HasAck && !spec.AckAny && uint32(s.Ack) != spec.Ack {
		return fmt.Sprintf("ack %d, want %d", s.Ack, spec.Ack)
	}
	if spec.HasWin && !spec.WinAny && s.Window != spec.Win {
		return fmt.Sprintf("win %d, want %d", s.Window, spec.Win)
	}
	if !spec.HasOpts {
		return ""
	}
	got, want := &s.Opts, &spec.Opts
	opt := func(name string, has, wantHas bool) string {
		if wantHas && !has {
			return "no " + name + " option"
		}
		if has && !wantHas && !spec.OptsAny {
			return "unexpected " + name + " option"
		}
		return ""
	}
	if m := opt("mss", got.HasMSS, want.HasMSS); m != "" {
		return m
	}
	if want.HasMSS && got.MSS != want.MSS {
		return fmt.Sprintf("mss %d, want %d", got.MSS, want.MSS)
	}
	if m := opt("wscale", got.HasWScale, want.HasWScale); m != "" {
		return m
	}
	if want.HasWScale && got.WScale != want.WScale {
		return fmt.Sprintf("wscale %d, want %d", got.WScale, want.WScale)
	}
	if m := opt("sackOK", got.SACKPermitted, want.SACKPermitted); m != "" {
		return m
	}
	if m := opt("TS", got.HasTimestamp, want.HasTimestamp); m != "" {
		return m
	}
	if want.HasTimestamp {
		if !spec.ValAny && got.TSVal != want.TSVal {
			return fmt.Sprintf("TS val %d, want %d", got.TSVal, want.TSVal)
		}
		if !spec.EcrAny && got.TSEcr != want.TSEcr {
			return fmt.Sprintf("TS ecr %d, want %d", got.TSEcr, want.TSEcr)
		}
	}
	if m := opt("sack", got.NumSACK > 0, want.NumSACK > 0); m != "" {
		return m
	}
	if want.NumSACK > 0 {
		if got.NumSACK != want.NumSACK {
			return fmt.Sprintf("%d SACK blocks, want %d", got.NumSACK, want.NumSACK)
		}
		for i := 0; i < want.NumSACK; i++ {
			if got.SACK[i] != want.SACK[i] {
				return fmt.Sprintf("SACK block %d:%d, want %d:%d", got.SACK[i].Left, got.SACK[i].Right, want.SACK[i].Left, want.SACK[i].Right)
			}
		}
	}
	return ""
}

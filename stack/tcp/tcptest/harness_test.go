package tcptest

import (
	"strings"
	"testing"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// TestHarnessGoAPI drives the fake through the Go helpers.
func TestHarnessGoAPI(t *testing.T) {
	h := NewWithDriver(t, tcp.DefaultConfig(), newFake)
	if err := h.Driver().Listen(h.Now(), h.Tuple().LocalAddr, 8080, 16, false); err != nil {
		t.Fatal(err)
	}
	h.ExpectNothing()
	h.Send(&tcp.Segment{Seq: 41, Flags: wire.FlagSYN, Window: 1000})
	synack := h.Expect(Flags(wire.FlagSYN|wire.FlagACK), AckNum(42), MSS(1460), Window(65535), PayloadLen(0), SACKPermitted(false), NoTimestamp(), Key(h.Tuple()))
	isn, ok := h.OurISN()
	if !ok || seqnum.Value(isn) != synack.Seg.Seq || synack.At != 0 {
		t.Fatalf("ISN %d %v, SYN-ACK %+v", isn, ok, synack)
	}
	h.ExpectNothing()
	h.Advance(999 * time.Millisecond)
	h.ExpectNothing()
	h.Advance(time.Millisecond)
	re := h.Expect(Flags(wire.FlagSYN|wire.FlagACK), SeqNum(seqnum.Value(isn)), RelSeq(0))
	if re.At != clock1s {
		t.Errorf("retransmission at %d", re.At)
	}
	h.Send(&tcp.Segment{Seq: 42, Ack: seqnum.Value(isn + 1), Flags: wire.FlagACK, Window: 1000})
	h.ExpectNothing()
	if k, ok := h.Driver().Accept(h.Now(), 8080); !ok || k != h.Tuple() {
		t.Fatal("accept")
	}
	if _, ok := h.TakeEvent(h.Tuple(), "open"); !ok {
		t.Error("no open event")
	}
	h.Send(&tcp.Segment{Seq: 42, Ack: seqnum.Value(isn + 1), Flags: wire.FlagACK, Window: 1000, Payload: []byte("hello"),
		Opts: wire.TCPOptions{HasTimestamp: true, TSVal: 77}})
	h.Expect(Flags(wire.FlagACK), AckNum(47), TSEcr(77))
	if n := h.TakeData(h.Tuple()); n != 5 {
		t.Errorf("data %d", n)
	}
	if v, ok := h.Counter("PassiveOpens"); !ok || v != 1 {
		t.Errorf("PassiveOpens %d %v", v, ok)
	}
	if _, ok := h.Counter("Nope"); ok {
		t.Error("unknown counter found")
	}
	// Checker failures describe the difference.
	c := &Captured{Seg: tcp.OutSegment{Flags: wire.FlagACK, Ack: 5, Window: 9, Payload: []byte("ab")}, ISN: 100}
	c.Seg.Seq = 103
	for _, tc := range []struct {
		ch   Checker
		want string
	}{
		{Flags(wire.FlagSYN), "flags ., want S"},
		{SeqNum(1), "seq 103, want 1"},
		{RelSeq(4), "relative seq 3, want 4"},
		{AckNum(6), "ack 5, want 6"},
		{Window(10), "win 9, want 10"},
		{PayloadLen(3), "payload 2 bytes, want 3"},
		{Payload([]byte("ac")), `payload "ab", want "ac"`},
		{MSS(1460), "options <>, want mss 1460"},
		{WScale(7), "options <>, want wscale 7"},
		{SACKPermitted(true), "sackOK false, want true"},
		{TSEcr(1), "options <>, want TS ecr 1"},
		{SACKBlocks(wire.SACKBlock{Left: 1, Right: 2}), "0 SACK blocks, want 1"},
	} {
		if err := Check(c, tc.ch); err == nil || err.Error() != tc.want {
			t.Errorf("checker error %v, want %q", err, tc.want)
		}
	}
	if got := FormatOut(c); got != ". 3:5(2) ack 5 win 9" {
		t.Errorf("FormatOut = %q", got)
	}
	c.Seg.Flags = wire.FlagSYN | wire.FlagACK
	c.Seg.Opts = wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7,
		NumSACK: 1, SACK: [4]wire.SACKBlock{{Left: 10, Right: 20}}}
	if got := FormatOut(c); got != "S. 3:5(2) ack 5 win 9 <mss 1460,sackOK,TS val 1 ecr 2,wscale 7,sack 10:20>" {
		t.Errorf("FormatOut = %q", got)
	}
}

const clock1s = 1_000_000_000

// TestHarnessExpectFails checks the Go helpers fail the test with a message.
func TestHarnessExpectFails(t *testing.T) {
	rec := &tbRecorder{TB: t}
	h := NewWithDriver(rec, tcp.DefaultConfig(), newFake)
	h.Expect(Flags(wire.FlagSYN))
	if rec.failed != "at 0.000000: expected a segment, nothing was emitted" {
		t.Errorf("Expect on nothing: %q", rec.failed)
	}
	h.Send(&tcp.Segment{Seq: 1, Flags: wire.FlagSYN})
	h.ExpectNothing()
	if rec.failed != "at 0.000000: expected nothing, emitted:\n\t0.000000 R. 0:0(0) ack 2 win 65535" {
		t.Errorf("ExpectNothing: %q", rec.failed)
	}
	h.Expect(Flags(wire.FlagRST))
	if rec.failed != "at 0.000000: emitted R. 0:0(0) ack 2 win 65535: flags R., want R" {
		t.Errorf("Expect mismatch: %q", rec.failed)
	}
}

// TestRecorderHold checks the `hold` command's handler: held data is not
// consumed and not reported.
func TestRecorderHold(t *testing.T) {
	h := NewWithDriver(t, tcp.DefaultConfig(), newFake)
	r := &recorder{sink: (*harnessSink)(h), hold: true}
	if n := r.OnData(&tcp.Conn{}, []byte("abc")); n != 0 || len(h.Events()) != 0 {
		t.Fatalf("held: consumed %d, events %v", n, h.Events())
	}
	r.hold = false
	if n := r.OnData(&tcp.Conn{}, []byte("abc")); n != 3 || h.TakeData(flowtable.Key{}) != 3 {
		t.Fatalf("not held: consumed %d", n)
	}
	s, err := Parse("0 hold on\n0 hold off")
	if err != nil || s.Lines[0].Cmd != "hold" || !s.Lines[0].Flag || s.Lines[1].Flag {
		t.Fatalf("parse hold: %v %+v", err, s)
	}
}

// TestHarnessScriptAndApp mixes script lines and Go helpers on one harness.
func TestHarnessScriptAndApp(t *testing.T) {
	h := NewWithDriver(t, tcp.DefaultConfig(), newFake)
	h.Listen(8080, 16)
	h.Advance(5 * time.Second)
	h.Script(`
+0 < S 0:0(0) win 1000
+0 > S. 0:0(0) ack 1 <mss 1460>
+0.5 < . 1:1(0) ack 1 win 1000
`)
	if h.Now() != 5_500_000_000 {
		t.Errorf("clock %d after the script", h.Now())
	}
	if h.State() != "ESTABLISHED" {
		t.Errorf("state %q", h.State())
	}
	h.Accept()
	h.Do("write", 10)
	h.Expect(Flags(wire.FlagPSH|wire.FlagACK), RelSeq(1), PayloadLen(10))
	if h.Conn() != nil {
		t.Error("Conn with the fake driver")
	}
	h.Script("+0 expect-nothing\n+0 state ESTABLISHED")

	rec := &tbRecorder{TB: t}
	h2 := NewWithDriver(rec, tcp.DefaultConfig(), newFake)
	h2.Script("+1 state ESTABLISHED")
	if !strings.Contains(rec.failed, "line 1: +1 state ESTABLISHED") {
		t.Errorf("Script failure: %q", rec.failed)
	}
	h2.Accept()
	if rec.failed != "accept: accept queue of port 8080 is empty" {
		t.Errorf("Accept failure: %q", rec.failed)
	}
}

// TestHarnessRealLayer uses the Go helpers on the real layer.
func TestHarnessRealLayer(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen(8080, 16)
	h.Send(&tcp.Segment{Seq: 0, Flags: wire.FlagSYN, Window: 65535, Opts: wire.TCPOptions{HasMSS: true, MSS: 1460}})
	h.Expect(Flags(wire.FlagSYN|wire.FlagACK), AckNum(1), MSS(1460), RelSeq(0))
	isn, _ := h.OurISN()
	h.Advance(10 * time.Millisecond)
	h.Send(&tcp.Segment{Seq: 1, Ack: seqnum.Value(isn + 1), Flags: wire.FlagACK, Window: 65535})
	h.ExpectNothing()
	h.Accept()
	if c := h.Conn(); c == nil || c.State() != tcp.StateEstablished || h.Layer() == nil {
		t.Fatalf("conn %v", c)
	}
}

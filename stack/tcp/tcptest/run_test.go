package tcptest

import (
	"strings"
	"testing"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
)

// fakeHandshake is a passive open, data both ways and a passive close on
// the fake driver.
const fakeHandshake = `
// passive open
0.000 listen 8080 backlog 128
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1 win * <mss 1460>
+0.1 < . 1:1(0) ack 1 win 65535
+0 state ESTABLISHED
+0 accept
+0 event open
+0 counter PassiveOpens 1
+0 counter CurrEstab 1
+0 < P. 1:101(100) ack 1 win 65535 <nop,nop,TS val 200 ecr *>
+0 > . 1:1(0) ack 101 <TS val * ecr 200>
+0 event data 100
+0 write 10
+0 > P. 1:11(10) ack 101
+0.2 < F. 101:101(0) ack 11 win 65535
+0 > . 11:11(0) ack 102
+0 event peerclose
+0 state CLOSE-WAIT
+0 close
+0 > F. 11:11(0) ack 102
+0 state LAST-ACK
+0.05 < . 102:102(0) ack 12 win 65535
+0 gone
+0 event close nil
+0 counter CurrEstab 0
`

func TestRunFakeHandshake(t *testing.T) {
	if err := RunErr(t, tcp.DefaultConfig(), fakeHandshake, newFake); err != nil {
		t.Fatal(err)
	}
}

func TestRunFakeSynAckRetransmission(t *testing.T) {
	script := `
set tcp_synack_retries 3
0 listen 8080
0 < S 0:0(0) win 1000
0 > S. 0:0(0) ack 1 <mss 1460>
1 > S. 0:0(0) ack 1
3 > S. 0:0(0) ack 1
+4 > S. 0:0(0) ack 1
+8 expect-nothing
+0 gone
+0 counter TCPSynRetrans 3
+100 expect-nothing
`
	if err := RunErr(t, tcp.DefaultConfig(), script, newFake); err != nil {
		t.Fatal(err)
	}
}

func TestRunFakeRSTClosedPort(t *testing.T) {
	script := `
tuple 198.18.0.2:40000 > 198.18.0.1:9
0 < S 7:7(0) win 1000
+0 > R. 0:0(0) ack 8 win *
+0 < . 1:1(0) ack 555 win 1000
+0 > R 555:555(0)
+0 counter OutRsts 2
+0 gone
`
	if err := RunErr(t, tcp.DefaultConfig(), script, newFake); err != nil {
		t.Fatal(err)
	}
}

// TestRunFailures checks that each kind of mismatch fails at its line with
// a message saying what was emitted versus expected.
func TestRunFailures(t *testing.T) {
	const open = "0 listen 8080\n0 < S 0:0(0) win 1000\n" // lines 1-2
	tests := []struct {
		name, script string
		want         []string // substrings of the error
	}{
		{"wrong flags", open + "0 > S 0:0(0)\n", []string{"line 3: 0 > S 0:0(0)", "flags S., want S", "got: S. 0:0(0) ack 1 win 65535 <mss 1460>"}},
		{"wrong ack", open + "0 > S. 0:0(0) ack 2\n", []string{"line 3", "ack 1, want 2"}},
		{"wrong seq", open + "0 > S. 5:5(0) ack 1\n", []string{"line 3", "seq 0, want 5"}},
		{"wrong len", open + "0 > S. 0:10(10) ack 1\n", []string{"line 3", "payload 0 bytes, want 10"}},
		{"wrong win", open + "0 > S. 0:0(0) ack 1 win 5\n", []string{"line 3", "win 65535, want 5"}},
		{"wrong mss", open + "0 > S. 0:0(0) ack 1 <mss 536>\n", []string{"line 3", "mss 1460, want 536"}},
		{"missing option", open + "0 > S. 0:0(0) ack 1 <mss 1460,sackOK>\n", []string{"line 3", "no sackOK option"}},
		{"extra option", open + "0 > S. 0:0(0) ack 1 <>\n", []string{"line 3", "unexpected mss option"}},
		{"too late", open + "0 > S. 0:0(0) ack 1\n+0.5 > S. 0:0(0) ack 1\n", []string{"line 4", "nothing emitted by 0.501000"}},
		{"too early", open + "0 > S. 0:0(0) ack 1\n1.5 > S. 0:0(0) ack 1\n", []string{"line 4", "emitted at 1.000000, want at 1.500000"}},
		{"unexpected before input", open + "+0.1 < . 1:1(0) ack 1\n", []string{"line 3", "unexpected segment(s) emitted before this line", "S. 0:0(0) ack 1"}},
		{"expect-nothing", open + "0 > S. 0:0(0) ack 1\n+2 expect-nothing\n", []string{"line 4", "1.000000 S. 0:0(0) ack 1"}},
		{"end of script", open, []string{"end of script: unexpected segment(s)", "S. 0:0(0) ack 1"}},
		{"state", open + "0 > S. 0:0(0) ack 1\n0 state ESTABLISHED\n", []string{"line 4", "state SYN-RECEIVED, want ESTABLISHED"}},
		{"no conn", "0 state ESTABLISHED\n", []string{"line 1", "no connection on the tuple"}},
		{"gone", open + "0 > S. 0:0(0) ack 1\n0 gone\n", []string{"line 4", "still there in state SYN-RECEIVED"}},
		{"counter", open + "0 > S. 0:0(0) ack 1\n0 counter PassiveOpens 2\n", []string{"line 4", "counter PassiveOpens is 1, want 2"}},
		{"event", open + "0 > S. 0:0(0) ack 1\n0 event open\n", []string{"line 4", "no open event"}},
		{"accept empty", open + "0 > S. 0:0(0) ack 1\n0 accept\n", []string{"line 4", "accept queue of port 8080 is empty"}},
		{"listen twice", "0 listen 8080\n0 listen 8080\n", []string{"line 2", "address already in use"}},
		{"other tuple", open + "tuple 198.18.0.3:1 > 198.18.0.1:8080\n0 > S. 0:0(0) ack 1\n", []string{"line 4", "emitted on 198.18.0.1:8080-198.18.0.2:40000"}},
		{"set", "set tcp_syn_retries 0\n0 listen 80\n", []string{"line 1: tcp_syn_retries: 0 out of range 1..127"}},
		{"parse", "0 listen 8080\n0 frobnicate\n", []string{"line 2: unknown command \"frobnicate\""}},
		{"close event", fakeHandshake[:strings.Index(fakeHandshake, "+0 event close nil")] + "+0 event close ErrReset\n", []string{"close event with nil, want ErrReset"}},
		{"data event", strings.Replace(fakeHandshake, "event data 100", "event data 99", 1), []string{"100 bytes delivered, want 99"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RunErr(t, tcp.DefaultConfig(), tt.script, newFake)
			if err == nil {
				t.Fatal("script passed")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestRunTolerance(t *testing.T) {
	base := "set tcp_synack_retries 1\n0 listen 8080\n0 < S 0:0(0) win 1000\n0 > S. 0:0(0) ack 1\n"
	// 1.0009 is within the default 1 ms; 1.002 is not, unless widened.
	if err := RunErr(t, tcp.DefaultConfig(), base+"1.0009 > S. 0:0(0) ack 1\n+10 expect-nothing\n+0 gone\n", newFake); err != nil {
		t.Errorf("within tolerance: %v", err)
	}
	if err := RunErr(t, tcp.DefaultConfig(), base+"1.002 > S. 0:0(0) ack 1\n", newFake); err == nil {
		t.Error("2 ms off passed with 1 ms tolerance")
	}
	if err := RunErr(t, tcp.DefaultConfig(), "tolerance 0.005\n"+base+"1.002 > S. 0:0(0) ack 1\n+20 expect-nothing\n+0 gone\n", newFake); err != nil {
		t.Errorf("tolerance 5 ms: %v", err)
	}
}

// tbRecorder is a testing.TB that records Fatal instead of stopping.
type tbRecorder struct {
	testing.TB
	failed string
}

func (r *tbRecorder) Helper()                           {}
func (r *tbRecorder) Fatal(args ...any)                 { r.failed = sprint(args...) }
func (r *tbRecorder) Fatalf(format string, args ...any) { r.failed = sprintf(format, args...) }

func TestRunCallsFatal(t *testing.T) {
	rec := &tbRecorder{TB: t}
	RunErrTB(rec, "0 listen 8080\n0 bogus\n")
	if !strings.Contains(rec.failed, "line 2") {
		t.Errorf("Run did not fail with the line number: %q", rec.failed)
	}
}

// stuckDriver's timer is always due and never goes away.
type stuckDriver struct{ *fakeDriver }

func (d *stuckDriver) NextDeadline() (clock.Time, bool) { return 0, true }

func TestRunStuckTimer(t *testing.T) {
	f := func(cfg *tcp.Config, sink Sink, now clock.Time) Driver {
		return &stuckDriver{newFake(cfg, sink, now).(*fakeDriver)}
	}
	err := RunErr(t, tcp.DefaultConfig(), "0 listen 80\n+1 expect-nothing\n", f)
	if err == nil || !strings.Contains(err.Error(), "a timer keeps firing") {
		t.Errorf("stuck timer: %v", err)
	}
}

// TestRunChecksDeliveredData: bytes the layer delivers must be the ones the
// script's peer sent.
func TestRunChecksDeliveredData(t *testing.T) {
	f := func(cfg *tcp.Config, sink Sink, now clock.Time) Driver {
		d := newFake(cfg, sink, now).(*fakeDriver)
		d.corrupt = true
		return d
	}
	err := RunErr(t, tcp.DefaultConfig(), fakeHandshake, f)
	if err == nil || !strings.Contains(err.Error(), "line 12: +0 < P. 1:101(100)") ||
		!strings.Contains(err.Error(), `delivered byte 0 of the stream is 'c', the peer sent 'b' (sequence number 1)`) {
		t.Errorf("corrupt delivery: %v", err)
	}
}

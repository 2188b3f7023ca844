package tcp

import (
	"testing"
	"time"
)

// TCP_INFO (info.go): the counts and estimates follow the segments a
// connection exchanges.
func TestInfoCountsAnExchange(t *testing.T) {
	h := establishedConn(t)
	h.advance(10 * time.Millisecond)
	in := h.c.Info()
	if in.State != StateEstablished || in.CAState != CAOpen || in.SndMSS != 1460 || in.AdvMSS != 1460 {
		t.Fatalf("after the handshake: %+v", in)
	}
	if in.SndCwnd != initialWindowSegments || in.SndSsthresh != 0x7fffffff || in.CongestionControl == "" {
		t.Fatalf("cwnd %d ssthresh %d cc %q", in.SndCwnd, in.SndSsthresh, in.CongestionControl)
	}
	if in.SegsIn != 1 || in.SegsOut != 1 || in.RTT <= 0 || in.MinRTT <= 0 || in.RcvMSS != 536 {
		t.Fatalf("segs in %d out %d rtt %v min %v rcvmss %d", in.SegsIn, in.SegsOut, in.RTT, in.MinRTT, in.RcvMSS)
	}
	h.send(ACK|PSH, peerISN+1, ourISN+1, withData(make([]byte, 1000)))
	h.expect(flags(ACK), ackNum(peerISN+1001))
	if n := h.c.Write(make([]byte, 3000)); n != 3000 {
		t.Fatalf("Write %d", n)
	}
	h.expect(flags(ACK), payloadLen(1460))
	h.expect(flags(ACK|PSH), payloadLen(1460)) // a two-segment skb's end (push.go)
	h.expect(flags(ACK|PSH), payloadLen(80))
	h.advance(5 * time.Millisecond)
	h.send(ACK, peerISN+1001, ourISN+1+1460)
	in = h.c.Info()
	if in.DataSegsIn != 1 || in.SegsIn != 3 || in.BytesReceived != 1000 || in.RcvMSS != 1000 {
		t.Fatalf("receive side: data segs %d segs %d bytes %d rcvmss %d", in.DataSegsIn, in.SegsIn, in.BytesReceived, in.RcvMSS)
	}
	if in.DataSegsOut != 3 || in.SegsOut != 5 || in.BytesSent != 3000 || in.BytesAcked != 1460 || in.Delivered != 1 {
		t.Fatalf("send side: data segs %d segs %d sent %d acked %d delivered %d", in.DataSegsOut, in.SegsOut, in.BytesSent, in.BytesAcked, in.Delivered)
	}
	if in.Unacked != 2 || in.SendQ != 1540 || in.LastDataSent != 5*time.Millisecond || in.LastAckRecv != 0 || in.Timer != "on" {
		t.Fatalf("unacked %d sendq %d lastsnd %v lastack %v timer %q", in.Unacked, in.SendQ, in.LastDataSent, in.LastAckRecv, in.Timer)
	}
	// An RTO: Loss state, a retransmission counted in bytes and segments.
	h.advance(300 * time.Millisecond)
	h.expect(flags(ACK), payloadLen(1460))
	in = h.c.Info()
	if in.CAState != CALoss || in.Retransmits != 1 || in.Backoff != 1 || in.TotalRetrans != 1 || in.BytesRetrans != 1460 || in.Retrans != 1 || in.Lost != 2 {
		t.Fatalf("after an RTO: %v retransmits %d backoff %d total %d bytes %d retrans %d lost %d",
			in.CAState, in.Retransmits, in.Backoff, in.TotalRetrans, in.BytesRetrans, in.Retrans, in.Lost)
	}
	if in.SndCwnd != 1 || in.SndSsthresh == 0x7fffffff {
		t.Fatalf("after an RTO: cwnd %d ssthresh %d", in.SndCwnd, in.SndSsthresh)
	}
	h.send(ACK, peerISN+1001, ourISN+3001)
	in = h.c.Info()
	if in.CAState != CAOpen || in.Unacked != 0 || in.BytesAcked != 3000 || in.Retrans != 0 {
		t.Fatalf("all acked: %v unacked %d acked %d retrans %d", in.CAState, in.Unacked, in.BytesAcked, in.Retrans)
	}
}

func TestInfoNoAllocs(t *testing.T) {
	h := establishedConn(t)
	var in TCPInfo
	if a := testing.AllocsPerRun(100, func() { in = h.c.Info() }); a != 0 {
		t.Fatalf("Info allocates %v times", a)
	}
	_ = in
}

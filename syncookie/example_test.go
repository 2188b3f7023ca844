package syncookie_test

import (
	"fmt"
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/syncookie"
)

// A listener's use of the package: answer a SYN with a cookie SYN-ACK, then
// rebuild the connection from the client's ACK.
func Example() {
	jar := syncookie.NewWithSecrets([16]byte{1}, [16]byte{2}) // production: syncookie.New()
	var recent syncookie.Recent                               // one per listener

	k := flowtable.Key{
		LocalAddr: flowtable.AddrFrom4([4]byte{198, 18, 0, 1}), LocalPort: 80,
		RemoteAddr: flowtable.AddrFrom4([4]byte{198, 19, 0, 2}), RemotePort: 40000,
	}
	now := clock.Time(3 * time.Hour)

	// SYN: seq 1000, <mss 1460, wscale 7, sackOK, TS val 555 ecr 0>, queue full.
	synSeq := seqnum.Value(1000)
	iss, mss := jar.Make(now, k, synSeq, 1460)
	ourTSClock := uint32(987654) // the listener's timestamp clock (plus offset)
	tsval := syncookie.EncodeTS(ourTSClock, syncookie.Options{WScale: 7, HasWScale: true, SACK: true})
	recent.Sent(now)
	// Send SYN-ACK: seq iss, ack 1001, <mss mss, wscale ours, sackOK, TS val tsval ecr 555>.

	// ACK, 40 ms later: seq 1001, ack iss+1, TS val 560 ecr tsval.
	now = now.Add(40 * time.Millisecond)
	ackSeq, ackAck, tsecr := synSeq+1, iss+1, tsval
	if !recent.Valid(now) {
		return // no cookie outstanding: an ordinary ACK without a connection (RST)
	}
	gotMSS, ok := jar.Check(now, k, ackSeq-1, ackAck-1)
	opts, tsOK := syncookie.DecodeTS(tsecr) // only when the ACK has timestamps
	fmt.Println(ok && tsOK, gotMSS == mss, gotMSS, opts.HasWScale, opts.WScale, opts.SACK, opts.ECN)
	// Output: true true 1460 true 7 true false
}

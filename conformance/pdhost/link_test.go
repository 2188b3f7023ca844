package pdhost

import (
	"testing"

	"github.com/xdptcp/xdptcp/xsk"
)

// TestLinkRxTimestamp: a frame packetdrill sends carries the
// CLOCK_MONOTONIC time of its netdev_send until the engine releases it; a
// frame the engine allocates to transmit carries none.
func TestLinkRxTimestamp(t *testing.T) {
	l, err := newLink(4, 2048)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	before := monoNow()
	if !l.inject(make([]byte, 60)) {
		t.Fatal("inject refused")
	}
	after := monoNow()
	var d [1]xsk.Desc
	if l.Receive(d[:]) != 1 {
		t.Fatal("no frame received")
	}
	if ts, ok := l.RxTimestamp(d[0]); !ok || before == 0 || ts < before || ts > after {
		t.Fatalf("RxTimestamp %d %v, want in [%d, %d]", ts, ok, before, after)
	}
	l.Release(d[:])
	for range 4 {
		tx, _, ok := l.AllocTx()
		if !ok {
			t.Fatal("AllocTx: no frame")
		}
		if ts, ok := l.RxTimestamp(tx); ok {
			t.Fatalf("TX frame %#x carries a receive time %d", tx.Addr, ts)
		}
	}
}

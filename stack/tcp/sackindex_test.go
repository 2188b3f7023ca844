package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// checkSackIndex fails t unless sackBits says, for every record, whether
// it is SACKed, and nextUnsacked finds what a walk of the records finds.
func checkSackIndex(t *testing.T, q *txQueue) {
	t.Helper()
	want := q.n
	for i := q.n - 1; i >= -1; i-- {
		if got := q.nextUnsacked(i + 1); got != want {
			t.Fatalf("nextUnsacked(%d) = %d, want %d (head %d, %d records in %d slots)", i+1, got, want, q.head, q.n, len(q.segs))
		}
		if i < 0 {
			break
		}
		p := (q.head + i) & (len(q.segs) - 1)
		bit := q.sackBits[p>>6]>>(p&63)&1 != 0
		if sacked := q.at(i).mark&sbSacked != 0; bit != sacked {
			t.Fatalf("record %d (slot %d): index says SACKed %v, mark %v", i, p, bit, sacked)
		}
		if q.at(i).mark&sbSacked == 0 {
			want = i
		}
	}
}

// The SACK index follows the marks through everything that moves records
// or changes sbSacked: sends into a ring that wraps and grows, SACK
// blocks, splits, cumulative ACKs, SACKs taken back and an RTO that
// forgets them.
func TestSackIndex(t *testing.T) {
	grew, wrapped := false, false
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		q := newTxQueue()
		next, una := seqnum.Value(1), seqnum.Value(1)
		for step := 0; step < 3000; step++ {
			switch op := rng.IntN(100); {
			case op < 40 && q.n < 600: // send
				q.push(next, 1000, 0, 0)
				next = next.Add(1000)
			case op < 70 && q.n > 0: // a SACK block
				l := una.Add(seqnum.Size(rng.IntN(int(next.Sub(una)))))
				r := l.Add(seqnum.Size(1 + rng.IntN(int(next.Sub(l)))))
				q.sack(l, r, nil)
			case op < 80 && q.n > 0: // a cumulative ACK
				una = una.Add(seqnum.Size(rng.IntN(min(int(next.Sub(una)), 20000) + 1)))
				q.ackTo(una, nil, nil)
			case op < 88 && q.n > 0: // a record cut in two
				i := rng.IntN(q.n)
				if s := q.at(i); s.len > 1 {
					q.split(i, 1+uint32(rng.IntN(int(s.len)-1)))
				}
			case op < 95 && q.n > 0: // a SACK taken back
				if i := rng.IntN(q.n); q.at(i).mark&sbSacked != 0 {
					q.unsackAt(i)
				}
			case op < 97:
				q.markAllLost(rng.IntN(2) == 0)
			case op < 98 && q.n == 0:
				q.reset()
			}
			checkSackIndex(t, q)
			grew = grew || len(q.segs) > txInitSegs
			wrapped = wrapped || q.head+q.n > len(q.segs)
		}
	}
	if !grew || !wrapped {
		t.Fatalf("the ring grew %v, wrapped %v: the test missed a case", grew, wrapped)
	}
}

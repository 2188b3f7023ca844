package tcp

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// checkMarkIndex fails t unless the scoreboard's index says, for every
// record, whether it is SACKed and whether it is owed a retransmission,
// and nextPending, nextOwed and nextUnsacked find what a walk of the
// records finds.
func checkMarkIndex(t *testing.T, q *txQueue) {
	t.Helper()
	pending, owed, unsacked := q.n, q.n, q.n
	for i := q.n - 1; i >= -1; i-- {
		if got := q.nextUnsacked(i + 1); got != unsacked {
			t.Fatalf("nextUnsacked(%d) = %d, want %d (head %d, %d records in %d slots)", i+1, got, unsacked, q.head, q.n, len(q.segs))
		}
		if got := q.nextPending(i + 1); got != pending {
			t.Fatalf("nextPending(%d) = %d, want %d (head %d, %d records in %d slots)", i+1, got, pending, q.head, q.n, len(q.segs))
		}
		if got := q.nextOwed(i + 1); got != owed {
			t.Fatalf("nextOwed(%d) = %d, want %d (head %d, %d records in %d slots)", i+1, got, owed, q.head, q.n, len(q.segs))
		}
		if i < 0 {
			break
		}
		p := (q.head + i) & (len(q.segs) - 1)
		m := q.at(i).mark
		isSacked, isOwed := m&sbSacked != 0, m&(sbSacked|sbLost|sbRetrans) == sbLost
		if q.sackBits[p>>6]>>(p&63)&1 != 0 != isSacked || q.owedBits[p>>6]>>(p&63)&1 != 0 != isOwed {
			t.Fatalf("record %d (slot %d, marks %#x): the index is wrong", i, p, m)
		}
		if isOwed {
			owed = i
		}
		if !isSacked && !isOwed {
			pending = i
		}
		if !isSacked {
			unsacked = i
		}
	}
}

// The index follows the marks through everything that moves records or
// changes them: sends into a ring that wraps and grows, SACK blocks (which
// SACK what a walk of every record would), splits, cumulative ACKs,
// losses, retransmissions (and their loss), SACKs taken back, an undo and
// an RTO that may forget the SACKs.
func TestMarkIndex(t *testing.T) {
	grew, wrapped := false, false
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		q := newTxQueue()
		next, una := seqnum.Value(1), seqnum.Value(1)
		for step := 0; step < 3000; step++ {
			i := 0
			if q.n > 0 {
				i = rng.IntN(q.n)
			}
			switch op := rng.IntN(100); {
			case op < 45 && q.n < 600: // send
				q.push(next, 1000, clock.Time(step), 0)
				next = next.Add(1000)
			case op < 60 && q.n > 0: // a SACK block
				l := una.Add(seqnum.Size(rng.IntN(int(next.Sub(una)))))
				r := l.Add(seqnum.Size(1 + rng.IntN(int(next.Sub(l)))))
				// What a walk of every record finds newly SACKed: those
				// the block covers whole that were not SACKed yet.
				var want, got []seqnum.Value
				for j := 0; j < q.n; j++ {
					s := q.at(j)
					if r.LessThan(s.end()) {
						break
					}
					if s.mark&sbSacked == 0 && !s.seq.LessThan(l) {
						want = append(want, s.seq)
					}
				}
				q.sack(l, r, func(s *txSeg) { got = append(got, s.seq) })
				if !slices.Equal(got, want) {
					t.Fatalf("SACK of [%d, %d): newly SACKed %v, want %v", l, r, got, want)
				}
			case op < 65 && q.n > 0: // a cumulative ACK
				una = una.Add(seqnum.Size(rng.IntN(min(int(next.Sub(una)), 20000) + 1)))
				q.ackTo(una, nil, nil)
			case op < 72 && q.n > 0: // a record cut in two
				if s := q.at(i); s.len > 1 {
					q.split(i, 1+uint32(rng.IntN(int(s.len)-1)))
				}
			case op < 80 && q.n > 0: // lost
				q.setMark(i, sbLost)
			case op < 87 && q.n > 0: // retransmitted
				if q.at(i).mark&sbLost != 0 {
					q.setMark(i, sbRetrans)
				}
			case op < 91 && q.n > 0: // the retransmission lost too
				q.clearMark(i, sbRetrans)
			case op < 95 && q.n > 0: // a SACK taken back
				q.clearMark(i, sbSacked)
			case op < 96:
				q.clearLost()
			case op < 98:
				q.markAllLost(rng.IntN(2) == 0, clock.Time(rng.IntN(step+1))) // records sent after keep stay as they are
			case q.n == 0:
				q.reset()
			}
			checkMarkIndex(t, q)
			grew = grew || len(q.segs) > txInitSegs
			wrapped = wrapped || q.head+q.n > len(q.segs)
		}
	}
	if !grew || !wrapped {
		t.Fatalf("the ring grew %v, wrapped %v: the test missed a case", grew, wrapped)
	}
}

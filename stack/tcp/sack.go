package tcp

// Selective acknowledgements (RFC 2018): the blocks we send for
// out-of-order data, and the sender's scoreboard of blocks the peer
// reported, used in recovery to retransmit only the holes (a simplified
// RFC 6675: one hole segment per ACK that arrives in recovery, plus the
// NewReno window).

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// maxScoreboard bounds the ranges kept from the peer's SACK blocks.
const maxScoreboard = 8

// scoreboard holds the ranges above SND.UNA the peer reported received,
// sorted and disjoint. The array is allocated by the first add: most
// connections never see a SACK block, and an idle connection's memory is
// bounded (issue 5: at most 1 KiB).
type scoreboard struct {
	r *[maxScoreboard]sackRange // r[:n] sorted by l, disjoint, non-adjacent; nil until the first add
	n int
}

func (sb *scoreboard) reset() { sb.n = 0 }

// high returns the highest SACKed sequence number (valid if n > 0).
func (sb *scoreboard) high() seqnum.Value { return sb.r[sb.n-1].r }

// add merges [l, r) in; when full the highest range is dropped.
func (sb *scoreboard) add(l, r seqnum.Value) {
	if !l.LessThan(r) {
		return
	}
	if sb.r == nil {
		sb.r = new([maxScoreboard]sackRange)
	}
	i := 0
	for i < sb.n && sb.r[i].r.LessThan(l) {
		i++
	}
	// Merge with every range that overlaps or touches [l, r).
	j := i
	for j < sb.n && sb.r[j].l.LessThanEq(r) {
		l = seqnum.Min(l, sb.r[j].l)
		r = seqnum.Max(r, sb.r[j].r)
		j++
	}
	if j > i {
		// Replace r[i:j] with the merged range.
		sb.r[i] = sackRange{l, r}
		copy(sb.r[i+1:], sb.r[j:sb.n])
		sb.n -= j - i - 1
		return
	}
	if sb.n == maxScoreboard {
		if i == sb.n {
			return
		}
		sb.n-- // drop the highest
	}
	copy(sb.r[i+1:sb.n+1], sb.r[i:sb.n])
	sb.r[i] = sackRange{l, r}
	sb.n++
}

// prune drops what SND.UNA has passed.
func (sb *scoreboard) prune(una seqnum.Value) {
	k := 0
	for i := 0; i < sb.n; i++ {
		x := sb.r[i]
		if x.r.LessThanEq(una) {
			continue
		}
		if x.l.LessThan(una) {
			x.l = una
		}
		sb.r[k] = x
		k++
	}
	sb.n = k
}

// covered returns the end of the SACKed range holding seq, or seq.
func (sb *scoreboard) covered(seq seqnum.Value) seqnum.Value {
	for i := 0; i < sb.n; i++ {
		if seq.InRange(sb.r[i].l, sb.r[i].r) {
			return sb.r[i].r
		}
	}
	return seq
}

// nextSacked returns the start of the first SACKed range above seq.
func (sb *scoreboard) nextSacked(seq seqnum.Value) (seqnum.Value, bool) {
	for i := 0; i < sb.n; i++ {
		if seq.LessThan(sb.r[i].l) {
			return sb.r[i].l, true
		}
	}
	return 0, false
}

// sackedBytes returns how many bytes above SND.UNA the peer SACKed.
func (sb *scoreboard) sackedBytes() int {
	n := 0
	for i := 0; i < sb.n; i++ {
		n += int(sb.r[i].r.Sub(sb.r[i].l))
	}
	return n
}

// sackLost is RFC 6675 IsLost(SND.UNA): more than (DupThresh-1)*SMSS
// bytes above it were SACKed (DupThresh 3), or DupThresh discontiguous
// ranges.
func (c *Conn) sackLost() bool {
	d := c.dupThresh()
	return c.sb.n >= d || c.sb.sackedBytes() > (d-1)*c.effMSS()
}

// dupThresh is DupThresh: 3 (RFC 5681), raised by one for each fast
// retransmission found spurious, up to maxReordering, as Linux raises
// tp->reordering when it sees reordering (tcp_check_sack_reordering,
// tcp_undo_cwnd_reduction); but never above half the segments in
// flight, so a small window still recovers without a timeout.
func (c *Conn) dupThresh() int {
	d := 3 + int(c.undo.reorder)
	if half := c.flight() / (2 * max(c.mss, 1)); d > half {
		d = max(3, half)
	}
	return d
}

// maxReordering bounds the extra DupThresh.
const maxReordering = 12

// takeSACK records the SACK blocks of an ACK (only those within
// (SND.UNA, SND.MAX], RFC 2018 §8 treats others as invalid). It reports
// whether they SACKed data not SACKed before.
func (c *Conn) takeSACK(seg *Segment) bool {
	before := c.sb.sackedBytes()
	n := seg.Opts.NumSACK
	if n > wire.MaxSACKBlocks {
		n = wire.MaxSACKBlocks
	}
	if c.isDSACK(seg) {
		c.layer.stats.TCPDSACKRecv.Add(1) // RFC 2883: accepted, counted, not in the scoreboard
		c.ic.dsackDups = sat16(c.ic.dsackDups)
	}
	for i := 0; i < n; i++ {
		l, r := seqnum.Value(seg.Opts.SACK[i].Left), seqnum.Value(seg.Opts.SACK[i].Right)
		if !l.LessThan(r) || !c.sndUna.LessThan(r) || c.sndMax.LessThan(r) {
			continue // includes D-SACK blocks below SND.UNA (RFC 2883)
		}
		if l.LessThan(c.sndUna) {
			l = c.sndUna
		}
		c.sb.add(l, r)
	}
	return c.sb.sackedBytes() > before
}

// sackRetransmit sends the next hole below the highest SACKed byte, if
// any; it reports whether it sent one.
func (c *Conn) sackRetransmit(now clock.Time) bool {
	if c.sb.n == 0 {
		return false
	}
	seq := seqnum.Max(c.sndUna, c.rtxNext)
	seq = c.sb.covered(seq)
	high := c.sb.high()
	if !seq.LessThan(high) {
		return false
	}
	n := c.effMSS()
	if next, ok := c.sb.nextSacked(seq); ok && int(next.Sub(seq)) < n {
		n = int(next.Sub(seq))
	}
	if int(c.sndMax.Sub(seq)) < n {
		n = int(c.sndMax.Sub(seq))
	}
	if n <= 0 {
		return false
	}
	c.sendRange(now, seq, n)
	c.rtxNext = seq.Add(seqnum.Size(n))
	return true
}

// sendRange retransmits [seq, seq+n) of the send buffer (and the FIN when
// it follows), leaving SND.NXT alone.
func (c *Conn) sendRange(now clock.Time, seq seqnum.Value, n int) {
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	if int(dataEnd.Sub(seq)) < n || seq.LessThan(c.sndBufSeq) {
		return
	}
	flags := wire.FlagACK
	if seq.Add(seqnum.Size(n)) == dataEnd {
		flags |= wire.FlagPSH
		if c.flags&fFinQueued != 0 && c.finSeq.LessThan(c.sndMax) {
			flags |= wire.FlagFIN
		}
	}
	s := c.fill(now, seq, flags)
	s.Payload, s.Payload2 = c.sndBuf.peek(int(seq.Sub(c.sndBufSeq)), n)
	c.noteRetransmit(seq)
	c.xmit(s)
}

// fillSACK adds our SACK blocks for the out-of-order queue to an ACK
// (RFC 2018 §4: the block with the most recent segment first).
func (c *Conn) fillSACK(s *OutSegment) {
	if c.flags&fSackOK == 0 || c.ooo.n == 0 {
		return
	}
	max := wire.MaxSACKBlocks
	if s.Opts.HasTimestamp {
		max = 3
	}
	var b [4]sackRange
	n := c.ooo.sackBlocks(&b, 4)
	// Most recent first.
	for i := 0; i < n; i++ {
		if c.ooo.last.InRange(b[i].l, b[i].r) && i > 0 {
			b[0], b[i] = b[i], b[0]
			break
		}
	}
	if n > max {
		n = max
	}
	for i := 0; i < n; i++ {
		s.Opts.SACK[i] = wire.SACKBlock{Left: uint32(b[i].l), Right: uint32(b[i].r)}
	}
	s.Opts.NumSACK = n
}

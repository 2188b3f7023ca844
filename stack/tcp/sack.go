package tcp

// Selective acknowledgements (RFC 2018): the blocks we send for
// out-of-order data. The sender's side, the scoreboard of what the peer
// SACKed, is scoreboard.go.

import (
	"github.com/xdptcp/xdptcp/stack/wire"
)

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

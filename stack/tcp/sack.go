package tcp

// Selective acknowledgements (RFC 2018): the blocks we send for
// out-of-order data (their order: reassembly.go sackBlocks). The sender's
// side, the scoreboard of what the peer SACKed, is scoreboard.go.

import (
	"github.com/xdptcp/xdptcp/stack/wire"
)

// fillSACK adds our SACK blocks to an ACK: a D-SACK first if one is owed
// (sent once, RFC 2883 §4), then the out-of-order ranges in the order of
// RFC 2018 §4; three blocks fit with timestamps, four without.
func (c *Conn) fillSACK(s *OutSegment) {
	if c.flags&fSackOK == 0 || (c.flags&fDSACK == 0 && !c.oooActive()) {
		return
	}
	max := wire.MaxSACKBlocks
	if s.Opts.HasTimestamp {
		max = 3
	}
	var b [wire.MaxSACKBlocks]sackRange
	n := c.sackBlocks(&b, max)
	c.flags &^= fDSACK
	if c.ooo != nil {
		c.ooo.fresh = 0 // every changed range is in b (sackRoomFor kept them within max)
	}
	for i := 0; i < n; i++ {
		s.Opts.SACK[i] = wire.SACKBlock{Left: uint32(b[i].l), Right: uint32(b[i].r)}
	}
	s.Opts.NumSACK = n
}

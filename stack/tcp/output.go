package tcp

// Output: building the segments a connection sends.

import (
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// maxWindowShift is RFC 7323 §2.3's cap on the window scale.
const maxWindowShift = 14

// rcvWindow computes the window to advertise: free receive-buffer space,
// with receiver-side SWS avoidance (RFC 1122 §4.2.3.3: do not open the
// window by less than min(buffer/2, MSS)... here by less than a quarter
// buffer or an MSS, like Linux's __tcp_select_window), never moving the
// right edge left (RFC 9293 §3.8.6.2.2), rounded to the scale's
// granularity.
func (c *Conn) rcvWindow() uint32 {
	free := c.rcvCap - c.rcvBuf.Len() - c.ooo.bytes
	if free < 0 {
		free = 0
	}
	if free < c.rcvCap/4 && free < c.rcvMSS {
		free = 0
	}
	maxw := 65535 << c.rcvShift
	if free > maxw {
		free = maxw
	}
	free &^= (1 << c.rcvShift) - 1
	w := uint32(free)
	if edge := c.rcvNxt.Add(seqnum.Size(w)); edge.LessThan(c.rcvAdv) {
		w = uint32(c.rcvAdv.Sub(c.rcvNxt))
	}
	return w
}

// tsVal is our RFC 7323 timestamp clock: milliseconds plus a per-connection
// offset (Linux uses a millisecond clock too).
func (c *Conn) tsVal(now clock.Time) uint32 {
	return uint32(int64(now)/1e6) + c.tsOffset
}

// fill prepares the layer's OutSegment with the fields every segment of
// this connection carries.
func (c *Conn) fill(now clock.Time, seq seqnum.Value, flags wire.TCPFlags) *OutSegment {
	s := &c.layer.out
	*s = OutSegment{Key: c.key, Seq: seq, Flags: flags}
	if flags&wire.FlagACK != 0 {
		s.Ack = c.rcvNxt
	}
	if flags&wire.FlagSYN != 0 {
		return s
	}
	w := c.rcvWindow()
	c.rcvAdv = c.rcvNxt.Add(seqnum.Size(w))
	s.Window = uint16(w >> c.rcvShift)
	if c.flags&fTS != 0 && flags&wire.FlagRST == 0 {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = c.tsVal(now)
		s.Opts.TSEcr = c.tsRecent
	}
	if flags&wire.FlagRST == 0 {
		c.fillSACK(s)
	}
	return s
}

// xmit hands s to the engine and does the bookkeeping common to every
// segment. It reports whether the engine took it.
func (c *Conn) xmit(s *OutSegment) bool {
	l := c.layer
	c.ic.countOut(l.now, s, l.rtxSeg)
	if l.rtxSeg {
		l.rtxSeg = false // Linux counts retransmissions in RetransSegs only
	} else {
		l.stats.OutSegs.Add(1)
	}
	if s.Flags&wire.FlagRST != 0 {
		l.stats.OutRsts.Add(1)
	}
	if s.Flags&wire.FlagACK != 0 {
		c.ackOwed = 0
		c.delackAt = never
	}
	return l.output.SendTCP(s)
}

// sendAck sends a pure ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. SND.NXT is
// the highest sent (sndMax): after an RTO rewinds sndNxt, an ACK with the
// rewound value would fall left of the peer's window and be ignored (Linux
// never rewinds snd_nxt).
func (c *Conn) sendAck(now clock.Time) {
	c.xmit(c.fill(now, c.sndMax, wire.FlagACK))
}

// sendReset sends <SEQ=SND.MAX><ACK=RCV.NXT><CTL=RST,ACK>, as Linux's
// tcp_send_active_reset does for an abort (RFC 9293 §3.10.5 ABORT).
func (c *Conn) sendReset(now clock.Time) {
	c.xmit(c.fill(now, c.sndMax, wire.FlagRST|wire.FlagACK))
}

// sendProbe sends a zero-length segment at SND.UNA-1, which the peer must
// answer with an ACK (keepalive RFC 1122 §4.2.3.6; Linux also uses it as
// the zero-window probe, tcp_xmit_probe_skb).
func (c *Conn) sendProbe(now clock.Time) {
	c.xmit(c.fill(now, c.sndUna-1, wire.FlagACK))
}

// sendSyn sends our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) with the
// options we offer: MSS always (RFC 9293 §3.7.1), window scale, SACK
// permitted and timestamps when configured (active) or offered by the peer
// (passive). Its window is never scaled (RFC 7323 §2.2).
func (c *Conn) sendSyn(now clock.Time) bool {
	l := c.layer
	flags := wire.FlagSYN
	active := c.state == StateSynSent
	if !active {
		flags |= wire.FlagACK
	}
	s := c.fill(now, c.iss, flags)
	w := c.rcvCap
	if w > 65535 {
		w = 65535
	}
	s.Window = uint16(w)
	if edge := c.rcvNxt.Add(seqnum.Size(w)); c.rcvAdv.LessThan(edge) {
		c.rcvAdv = edge
	}
	s.Opts.HasMSS = true
	s.Opts.MSS = uint16(c.rcvMSS)
	if (active && l.cfg.WindowScaling) || c.flags&fWS != 0 {
		s.Opts.HasWScale = true
		s.Opts.WScale = c.rcvShift
	}
	if (active && l.cfg.Sack) || c.flags&fSackOK != 0 {
		s.Opts.SACKPermitted = true
	}
	if (active && l.cfg.Timestamps) || c.flags&fTS != 0 {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = c.tsVal(now)
		s.Opts.TSEcr = c.tsRecent
	}
	if c.sndMax == c.iss {
		c.sndMax = c.iss + 1
		c.sndNxt = c.iss + 1
	}
	return c.xmit(s)
}

// effMSS is the payload a segment may carry: the MSS less the options
// every segment now carries (timestamps, SACK blocks), as Linux's
// tcp_current_mss; RFC 9293 §3.7.1 and RFC 6691: the MSS counts data
// only when there are no options.
func (c *Conn) effMSS() int {
	n := 0
	if c.flags&fTS != 0 {
		n = 12 // NOP NOP TS
	}
	if c.flags&fSackOK != 0 && c.ooo.n > 0 {
		maxb := 4
		if n > 0 {
			maxb = 3
		}
		var b [4]sackRange
		k := min(c.ooo.sackBlocks(&b, 4), maxb)
		n += 4 + 8*k // NOP NOP kind len + blocks
	}
	return max(c.mss-n, 1)
}

// flight returns the bytes (and SYN/FIN) sent and not acknowledged.
func (c *Conn) flight() int { return int(c.sndNxt.Sub(c.sndUna)) }

// trySend sends what the send buffer, the peer's window, the congestion
// window, Nagle and sender SWS avoidance (RFC 9293 §3.8.6.2.1) allow, and
// the FIN once all data has been sent. It arms the retransmission or the
// persist timer as needed.
func (c *Conn) trySend(now clock.Time) {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	l := c.layer
	dataEnd := c.sndBufSeq.Add(seqnum.Size(c.sndBuf.Len()))
	for {
		unsent := 0
		if c.sndNxt.LessThan(dataEnd) {
			unsent = int(dataEnd.Sub(c.sndNxt))
		}
		if unsent == 0 {
			if c.flags&fFinQueued != 0 && c.sndNxt == c.finSeq {
				seq := c.sndNxt
				s := c.fill(now, seq, wire.FlagFIN|wire.FlagACK)
				if seq.LessThan(c.sndMax) {
					c.noteRetransmit(seq)
				}
				c.sndNxt = seq + 1
				c.xmit(s)
			}
			break
		}
		wnd := int(c.sndWnd)
		if cw := c.cc.window(); cw < wnd {
			wnd = cw
		}
		usable := wnd - c.flight()
		if usable <= 0 {
			if c.sndWnd == 0 && c.flight() == 0 && c.rtxAt == never {
				c.rtxKind = rtxPersist
				c.rtxAt = now.Add(c.currentRTO())
			}
			break
		}
		full := c.effMSS()
		n := min(unsent, full, usable)
		if c.sb.n > 0 && c.sndNxt.LessThan(c.sndMax) {
			// Going back N after a timeout: skip what the peer SACKed,
			// and stop a segment at the next SACKed range.
			if e := c.sb.covered(c.sndNxt); e != c.sndNxt {
				c.sndNxt = seqnum.Min(e, c.sndMax)
				continue
			}
			if next, ok := c.sb.nextSacked(c.sndNxt); ok && int(next.Sub(c.sndNxt)) < n {
				n = int(next.Sub(c.sndNxt))
			}
		}
		if n < full && n < unsent && c.flight() > 0 {
			break // sender SWS avoidance: wait for a usable window
		}
		if n < full && n == unsent && c.flags&fNoDelay == 0 && c.flight() > 0 {
			break // Nagle (RFC 9293 §3.7.4): one small segment in flight
		}
		off := int(c.sndNxt.Sub(c.sndBufSeq))
		seq := c.sndNxt
		flags := wire.FlagACK
		if n == unsent {
			flags |= wire.FlagPSH
		}
		fin := c.flags&fFinQueued != 0 && seq.Add(seqnum.Size(n)) == c.finSeq
		if fin {
			flags |= wire.FlagFIN
		}
		s := c.fill(now, seq, flags)
		s.Payload, s.Payload2 = c.sndBuf.peek(off, n)
		if seq.LessThan(c.sndMax) {
			c.noteRetransmit(seq)
		} else {
			l.stats.TCPOrigDataSent.Add(1)
			if c.quickAcks > 0 && now.Sub(c.lastDataAt) < delAckTimeout {
				// Linux pingpong mode (tcp_event_data_sent): we answer
				// what we receive, so our data will carry the ACKs;
				// quick ACKs would only add packets.
				c.quickAcks = 0
			}
			if c.flags&fRTTTiming == 0 && c.flags&fTS == 0 {
				c.flags |= fRTTTiming
				c.rttSeq, c.rttSent = seq, now
			}
		}
		c.sndNxt = seq.Add(seqnum.Size(n))
		if fin {
			c.sndNxt++
		}
		if !c.xmit(s) {
			break // the engine could not send: the retransmission timer recovers
		}
	}
	if c.sndMax.LessThan(c.sndNxt) {
		c.sndMax = c.sndNxt
	}
	if c.sndNxt != c.sndUna && (c.rtxAt == never || c.rtxKind == rtxPersist) {
		c.rtxKind = rtxRetransmit
		c.rtxAt = now.Add(c.currentRTO())
	}
}

// noteRetransmit counts a retransmitted segment and applies Karn's rule.
func (c *Conn) noteRetransmit(seq seqnum.Value) {
	if seq == c.sndUna {
		c.flags |= fHeadRtx
		c.headRtxMax = c.sndMax
	}
	c.layer.stats.RetransSegs.Add(1)
	c.layer.rtxSeg = true // the next xmit is a retransmission
	c.flags &^= fRTTTiming
}

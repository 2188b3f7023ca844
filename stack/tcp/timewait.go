package tcp

// TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337) in a compact side table: a
// connection that enters TIME-WAIT gives up its Conn and buffers and
// leaves a small timeWait entry for 2*MSL. Only received data the
// application has not read yet stays with the Conn until it is read or the
// application closes (holdTail, as Linux keeps the receive queue readable).

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// timeWait is a TIME-WAIT entry: what is needed to re-ACK a retransmitted
// FIN, to judge a new SYN for the same 4-tuple, and to list it: 64 bytes on
// 64-bit (a Go size class), with no other allocation. Entries expire in the
// order of their deadlines (every entry lives 2*MSL from its last restart),
// so instead of a wheel timer each they sit on the layer's FIFO list, and
// one layer timer fires for the head.
type timeWait struct {
	key        flowtable.Key // 4-tuple from our side
	sndNxt     seqnum.Value  // our SND.NXT (after our FIN)
	rcvNxt     seqnum.Value  // RCV.NXT (after the peer's FIN)
	tsRecent   uint32        // TS.Recent when hasTS
	tsOffset   uint32        // our timestamp offset
	rcvShift   uint8         // our window scale
	hasTS      bool          // timestamps were in use
	tsAt       clock.Time    // when TS.Recent was last updated (tcp_tw_reuse's 1 s rule)
	expires    clock.Time    // end of TIME-WAIT (2*MSL after entry or the last restart)
	next, prev *timeWait     // the layer's expiry list, oldest deadline first
}

// timeWaitLen is the TIME-WAIT duration: 2*MSL (RFC 9293 §3.4.2), with
// tcp_msl 30 s, 60 s like Linux's TCP_TIMEWAIT_LEN.
func (l *Layer) timeWaitLen() time.Duration { return 2 * l.cfg.MSL }

// enterTimeWait replaces c by a TIME-WAIT entry, or closes it at once when
// tcp_max_tw_buckets entries exist (TCPTimeWaitOverflow). Received data
// the application has not read yet stays with c (holdTail), and OnClose
// waits for it.
func (c *Conn) enterTimeWait(now clock.Time) {
	l := c.layer
	held := c.holdTail() // unread data stays readable (see holdTail)
	if l.tws.Len() >= l.cfg.MaxTwBuckets {
		l.stats.TCPTimeWaitOverflow.Add(1)
		c.teardown()
		if !held {
			c.notifyClosed(nil)
		}
		return
	}
	tw := &timeWait{
		key:      c.key,
		sndNxt:   c.sndNxt,
		rcvNxt:   c.rcvNxt,
		tsRecent: c.tsRecent,
		tsOffset: c.tsOffset,
		rcvShift: c.rcvShift,
		hasTS:    c.flags&fTS != 0,
		tsAt:     c.tsRecentAt,
	}
	c.teardown()
	c.state = StateTimeWait
	if !l.tws.Insert(tw.key, tw) {
		l.stats.TCPTimeWaitOverflow.Add(1)
		c.state = StateClosed
		if !held {
			c.notifyClosed(nil)
		}
		return
	}
	c.tw = tw
	l.twPush(tw, now)
	if !held {
		c.notifyClosed(nil)
	}
}

// twPush appends tw to the expiry list with the deadline now+2*MSL (no
// earlier than any entry's: the layer's clock never goes back).
func (l *Layer) twPush(tw *timeWait, now clock.Time) {
	tw.expires = now.Add(l.timeWaitLen())
	tw.next, tw.prev = nil, l.twTail
	if l.twTail != nil {
		l.twTail.next = tw
	} else {
		l.twHead = tw
	}
	l.twTail = tw
	if !l.twTimer.Pending() {
		l.wheel.Schedule(&l.twTimer, l.twHead.expires)
	}
}

// twUnlink takes tw off the expiry list. The layer timer may then fire
// early; expireTimeWaits just re-arms it.
func (l *Layer) twUnlink(tw *timeWait) {
	if tw.prev != nil {
		tw.prev.next = tw.next
	} else {
		l.twHead = tw.next
	}
	if tw.next != nil {
		tw.next.prev = tw.prev
	} else {
		l.twTail = tw.prev
	}
	tw.next, tw.prev = nil, nil
}

// expireTimeWaits is the layer's TIME-WAIT timer: it ends every entry
// whose 2*MSL is over and re-arms for the next one.
func (l *Layer) expireTimeWaits(now clock.Time) {
	for tw := l.twHead; tw != nil && tw.expires <= now; tw = l.twHead {
		l.twUnlink(tw)
		l.tws.Delete(tw.key)
		l.stats.TW.Add(1)
	}
	if l.twHead != nil {
		l.wheel.Schedule(&l.twTimer, l.twHead.expires)
	}
}

// notifyClosed delivers OnClose once, if the application saw the
// connection.
func (c *Conn) notifyClosed(err error) {
	c.closeErr = err
	if c.handler != nil && c.flags&(fOpened|fActive) != 0 {
		c.handler.OnClose(c, err)
	}
}

// remove deletes the entry before its time (reuse).
func (tw *timeWait) remove(l *Layer) {
	l.twUnlink(tw)
	l.tws.Delete(tw.key)
}

// info describes the entry for listings.
func (tw *timeWait) info(now clock.Time) ConnInfo {
	left := tw.expires.Sub(now)
	if left < 0 {
		left = 0
	}
	return ConnInfo{State: StateTimeWait, Key: tw.key, Timer: "timewait", TimerIn: left}
}

// input is SEGMENT ARRIVES in TIME-WAIT, following Linux's
// tcp_timewait_state_process.
func (tw *timeWait) input(l *Layer, now clock.Time, seg *Segment) {
	flags := seg.Flags
	if flags&wire.FlagRST != 0 {
		return // RFC 1337: a RST does not end TIME-WAIT
	}
	if flags&(wire.FlagSYN|wire.FlagACK) == wire.FlagSYN {
		// A new SYN may reuse the slot if it cannot be an old duplicate
		// (Linux tcp_timewait_state_process, TCP_TW_SYN): a sequence
		// number above RCV.NXT that PAWS does not reject, or a newer
		// timestamp (RFC 6191).
		newer := seg.Seq.GreaterThan(tw.rcvNxt)
		if tw.hasTS && seg.Opts.HasTimestamp {
			d := int32(seg.Opts.TSVal - tw.tsRecent)
			newer = (newer && d >= 0) || d > 0
		}
		if newer {
			if ln := l.lookupListener(seg.Key); ln != nil {
				// Linux: the new ISN is the old SND.NXT + 65535 + 2, so
				// the new connection's segments are beyond the old one's.
				isn := tw.sndNxt + 65535 + 2
				tw.remove(l)
				ln.input(now, seg, isn, true)
				return
			}
		}
		tw.sendAck(l, now)
		return
	}
	if flags&wire.FlagFIN != 0 && seg.Seq.Add(seqnum.Size(len(seg.Payload))) == tw.rcvNxt-1 {
		// The peer's FIN again: our last ACK was lost. Re-ACK and
		// restart the 2*MSL timer (RFC 9293 §3.10.7.4 eighth).
		tw.sendAck(l, now)
		l.twUnlink(tw)
		l.twPush(tw, now)
		return
	}
	if flags&wire.FlagSYN == 0 && len(seg.Payload) == 0 && flags&wire.FlagFIN == 0 && seg.Seq == tw.rcvNxt {
		return // an in-window pure ACK: nothing to do
	}
	tw.sendAck(l, now)
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
func (tw *timeWait) sendAck(l *Layer, now clock.Time) {
	s := &l.out
	*s = OutSegment{Key: tw.key, Seq: tw.sndNxt, Ack: tw.rcvNxt, Flags: wire.FlagACK}
	if tw.hasTS {
		s.Opts.HasTimestamp = true
		s.Opts.TSVal = uint32(int64(now)/1e6) + tw.tsOffset
		s.Opts.TSEcr = tw.tsRecent
	}
	l.stats.OutSegs.Add(1)
	l.output.SendTCP(s)
}

package tcp

// TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337) in a compact side table: a
// connection that enters TIME-WAIT gives up its Conn and buffers and
// leaves a small timeWait entry for 2*MSL.

import (
	"time"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/timer"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// timeWait is a TIME-WAIT entry: what is needed to re-ACK a retransmitted
// FIN, to judge a new SYN for the same 4-tuple, and to list it (96 bytes on
// 64-bit).
type timeWait struct {
	layer    *Layer        // owning layer
	key      flowtable.Key // 4-tuple from our side
	sndNxt   seqnum.Value  // our SND.NXT (after our FIN)
	rcvNxt   seqnum.Value  // RCV.NXT (after the peer's FIN)
	tsRecent uint32        // TS.Recent when hasTS
	tsOffset uint32        // our timestamp offset
	rcvShift uint8         // our window scale
	hasTS    bool          // timestamps were in use
	tsAt     clock.Time    // when TS.Recent was last updated (tcp_tw_reuse's 1 s rule)
	timer    timer.Timer   // expiry at 2*MSL
}

// timeWaitLen is the TIME-WAIT duration: 2*MSL (RFC 9293 §3.4.2), with
// tcp_msl 30 s, 60 s like Linux's TCP_TIMEWAIT_LEN.
func (l *Layer) timeWaitLen() time.Duration { return 2 * l.cfg.MSL }

// enterTimeWait replaces c by a TIME-WAIT entry, or closes it at once when
// tcp_max_tw_buckets entries exist (TCPTimeWaitOverflow).
func (c *Conn) enterTimeWait(now clock.Time) {
	l := c.layer
	if l.tws.Len() >= l.cfg.MaxTwBuckets {
		l.stats.TCPTimeWaitOverflow.Add(1)
		c.teardown()
		c.notifyClosed(nil)
		return
	}
	tw := &timeWait{
		layer:    l,
		key:      c.key,
		sndNxt:   c.sndMax,
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
		c.notifyClosed(nil)
		return
	}
	c.tw = tw
	tw.timer.Fn = tw.expire
	l.wheel.Schedule(&tw.timer, now.Add(l.timeWaitLen()))
	c.notifyClosed(nil)
}

// notifyClosed delivers OnClose once, if the application saw the
// connection.
func (c *Conn) notifyClosed(err error) {
	c.closeErr = err
	if c.handler != nil && c.flags&(fOpened|fActive) != 0 {
		c.handler.OnClose(c, err)
	}
}

// expire ends the TIME-WAIT.
func (tw *timeWait) expire(now clock.Time) {
	l := tw.layer
	l.tws.Delete(tw.key)
	l.stats.TW.Add(1)
}

// remove deletes the entry before its time (reuse).
func (tw *timeWait) remove() {
	l := tw.layer
	l.wheel.Stop(&tw.timer)
	l.tws.Delete(tw.key)
}

// info describes the entry for listings.
func (tw *timeWait) info(now clock.Time) ConnInfo {
	left := tw.timer.When().Sub(now)
	if left < 0 {
		left = 0
	}
	return ConnInfo{State: StateTimeWait, Key: tw.key, Timer: "timewait", TimerIn: left}
}

// input is SEGMENT ARRIVES in TIME-WAIT, following Linux's
// tcp_timewait_state_process.
func (tw *timeWait) input(now clock.Time, seg *Segment) {
	l := tw.layer
	flags := seg.Flags
	if flags&wire.FlagRST != 0 {
		return // RFC 1337: a RST does not end TIME-WAIT
	}
	if flags&(wire.FlagSYN|wire.FlagACK) == wire.FlagSYN {
		// A new SYN may reuse the slot if it cannot be an old duplicate:
		// a higher sequence number, or a newer timestamp (RFC 6191).
		newer := seg.Seq.GreaterThan(tw.rcvNxt)
		if tw.hasTS && seg.Opts.HasTimestamp {
			newer = int32(seg.Opts.TSVal-tw.tsRecent) > 0
		}
		if newer {
			if ln := l.lookupListener(seg.Key); ln != nil {
				// Linux: the new ISN is the old SND.NXT + 65535 + 2, so
				// the new connection's segments are beyond the old one's.
				isn := tw.sndNxt + 65535 + 2
				tw.remove()
				ln.input(now, seg, isn, true)
				return
			}
		}
		tw.sendAck(now)
		return
	}
	if flags&wire.FlagFIN != 0 && seg.Seq.Add(seqnum.Size(len(seg.Payload))) == tw.rcvNxt-1 {
		// The peer's FIN again: our last ACK was lost. Re-ACK and
		// restart the 2*MSL timer (RFC 9293 §3.10.7.4 eighth).
		tw.sendAck(now)
		l.wheel.Schedule(&tw.timer, now.Add(l.timeWaitLen()))
		return
	}
	if flags&wire.FlagSYN == 0 && len(seg.Payload) == 0 && flags&wire.FlagFIN == 0 && seg.Seq == tw.rcvNxt {
		return // an in-window pure ACK: nothing to do
	}
	tw.sendAck(now)
}

// sendAck sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
func (tw *timeWait) sendAck(now clock.Time) {
	l := tw.layer
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

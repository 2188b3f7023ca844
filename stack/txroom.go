package stack

import "github.com/xdptcp/xdptcp/xsk"

// Room to transmit (tcp.TxRoomer): before a connection commits a data
// segment it asks whether a full-sized one can be built now. The engine
// answers by taking the frames such a segment needs from the port ahead
// of time (spare frames), so the SendTCP that follows cannot fail for
// lack of a frame; allocTx hands the spare frames out first. Without
// room, the connection waits on the TCP layer's txBlocked list and Poll
// resumes it after the next kick has given frames back (tcp/txroom.go).

// spareFrame is a TX frame taken from the port before it is needed.
type spareFrame struct {
	d xsk.Desc
	b []byte
}

// TxRoom reports whether the frames of a full-sized segment (one, or a
// jumbo segment's chain with multi-buffer) are at hand.
func (e *Engine) TxRoom() bool {
	for len(e.spare) < max(e.segFrames, 1) {
		d, b, ok := e.port.AllocTx()
		if !ok {
			return false
		}
		e.spare = append(e.spare, spareFrame{d, b})
		if e.segFrames == 0 && len(b) > 0 {
			// Multi-buffer: the frame size is the port's, learnt
			// from the first frame; a segment of the MTU takes
			// this many frames.
			e.segFrames = min((e.cfg.MTU+ipHdrOffset+len(b)-1)/len(b), cap(e.spare))
		}
	}
	return true
}

// freeSpare gives the spare frames back to the port.
func (e *Engine) freeSpare() {
	for _, f := range e.spare {
		e.port.FreeTx(f.d)
	}
	e.spare = e.spare[:0]
}

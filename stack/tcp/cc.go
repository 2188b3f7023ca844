package tcp

// Congestion control (RFC 5681) behind a small interface so that CUBIC
// (RFC 9438) can be added beside NewReno.

// congestionControl decides the congestion window of one connection.
type congestionControl interface {
	// window returns cwnd in bytes.
	window() int
	// onAck is called for an ACK that newly acknowledged acked bytes.
	onAck(acked, mss int)
	// onRTO is called when the retransmission timer expires with flight
	// bytes outstanding (RFC 5681 (4)).
	onRTO(flight, mss int)
	// onLoss is called on entering fast recovery (RFC 5681 (2) / RFC 6582).
	onLoss(flight, mss int)
	// ssthresh returns the slow-start threshold in bytes.
	ssthreshBytes() int
}

// initialWindowSegments is RFC 6928's IW of 10 segments (Linux
// TCP_INIT_CWND).
const initialWindowSegments = 10

// newReno is RFC 5681 slow start and congestion avoidance; its recovery
// (RFC 6582) lives in the sender.
type newReno struct {
	cwnd     int // bytes; >= 1 MSS
	ssthresh int // bytes
	acc      int // bytes acknowledged in congestion avoidance since cwnd last grew
}

func (r *newReno) init(mss int) {
	r.cwnd = initialWindowSegments * mss
	r.ssthresh = 1 << 30 // RFC 5681 §3.1: arbitrarily high
}

func (r *newReno) window() int        { return r.cwnd }
func (r *newReno) ssthreshBytes() int { return r.ssthresh }

func (r *newReno) onAck(acked, mss int) {
	if r.cwnd < r.ssthresh {
		// RFC 5681 (2), with RFC 3465 appropriate byte counting, L = 2*SMSS.
		if acked > 2*mss {
			acked = 2 * mss
		}
		r.cwnd += acked
		return
	}
	// RFC 5681 (3): about one SMSS per RTT.
	r.acc += acked
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += mss
	}
}

func (r *newReno) onRTO(flight, mss int) {
	r.ssthresh = max(flight/2, 2*mss) // RFC 5681 (4)
	r.cwnd = mss                      // loss window, one segment
	r.acc = 0
}

func (r *newReno) onLoss(flight, mss int) {
	r.ssthresh = max(flight/2, 2*mss) // RFC 5681 (4)
	r.cwnd = r.ssthresh
	r.acc = 0
}

package tcp

// State is a connection state (RFC 9293 §3.3.2); String prints the RFC
// spelling ("SYN-RECEIVED", "TIME-WAIT").
type State uint8

// The RFC 9293 §3.3.2 states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	StateClosed:      "CLOSED",
	StateListen:      "LISTEN",
	StateSynSent:     "SYN-SENT",
	StateSynReceived: "SYN-RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateCloseWait:   "CLOSE-WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST-ACK",
	StateTimeWait:    "TIME-WAIT",
}

// String returns the RFC 9293 name of s.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether s is one of RFC 9293's synchronized states
// (ESTABLISHED and after), where unacceptable segments get an ACK, not a RST.
func (s State) synchronized() bool { return s >= StateEstablished }

// setState moves c to s, keeping the CurrEstab gauge (connections in
// ESTABLISHED or CLOSE-WAIT, RFC 4022 tcpCurrEstab).
func (c *Conn) setState(s State) {
	was := c.state == StateEstablished || c.state == StateCloseWait
	is := s == StateEstablished || s == StateCloseWait
	if was != is {
		if is {
			c.layer.stats.CurrEstab.Add(1)
		} else {
			c.layer.stats.CurrEstab.Add(^uint64(0))
		}
	}
	c.state = s
	if c.flags&fLingering != 0 && !finUnacked(s) {
		c.flags &^= fLingering
		if w, ok := c.handler.(LingerWaiter); ok {
			w.OnLingerDone(c)
		}
	}
}

// finUnacked reports whether s is a state in which our FIN is sent and
// not yet acknowledged (Linux's closing(): FIN-WAIT-1, CLOSING,
// LAST-ACK), which a lingering close waits out.
func finUnacked(s State) bool {
	return s == StateFinWait1 || s == StateClosing || s == StateLastAck
}

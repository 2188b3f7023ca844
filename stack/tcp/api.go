// Package tcp is xdptcp's sans-I/O TCP: connections and listeners are values
// fed segments and the time, that hand back segments to send (through
// Output) and events for the application (through Handler). Nothing here
// reads a clock, sleeps, or does I/O.
//
// THIS FILE IS THE CONTRACT between the engine (package stack), the
// application side (root package, cmd/xdptcpd) and this package. Signatures
// here may be extended, not changed, without telling the other sides.
package tcp

import (
	"errors"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
	"github.com/xdptcp/xdptcp/stack/wire"
)

// Segment is an incoming TCP segment, parsed and checksum-verified by the
// engine. Key is seen from our side (Local = the packet's destination).
type Segment struct {
	Key     flowtable.Key
	Seq     seqnum.Value
	Ack     seqnum.Value
	Flags   wire.TCPFlags
	Window  uint16 // raw header value, not yet scaled
	Urgent  uint16
	Opts    wire.TCPOptions
	Payload []byte     // valid only for the duration of the call
	Arrival clock.Time // when the frame reached the loop (RTT samples use it)
	ECN     uint8      // the IP header's ECN field (RFC 3168 §5): ECNNotECT, ECNECT1, ECNECT0 or ECNCE
	Label   uint32     // IPv6: the header's flow label (RFC 6437); 0 for IPv4
}

// The IP ECN field's codepoints (RFC 3168 §5).
const (
	ECNNotECT uint8 = 0 // not ECN-capable
	ECNECT1   uint8 = 1 // ECN-capable transport, ECT(1)
	ECNECT0   uint8 = 2 // ECN-capable transport, ECT(0)
	ECNCE     uint8 = 3 // congestion experienced
)

// OutSegment is a segment the TCP layer asks the engine to transmit. The
// engine builds Ethernet+IPv4+TCP around it, computing the checksums.
type OutSegment struct {
	Key      flowtable.Key
	Seq      seqnum.Value
	Ack      seqnum.Value
	Flags    wire.TCPFlags
	Window   uint16 // as put in the header (already scaled down)
	Opts     wire.TCPOptions
	Payload  []byte // first part of the payload; valid during the call
	Payload2 []byte // second part, when the send buffer wraps
	ECN      uint8  // the IP header's ECN field to send: ECNECT0 on data of an ECN connection, else ECNNotECT
	TOS      uint8  // the connection's IP_TOS with the ECN bits clear: the DSCP bits of its IPv4 packets
	TxHash   uint16 // which flow label IPv6 packets carry: the engine's keyed hash of Key and TxHash (RFC 6437 §3); the connection changes it to move to another path (rehash.go)
}

// Output transmits segments. SendTCP returns false when the segment could
// not be sent (no TX frame, next hop unresolved); the engine counts why, and
// TCP treats the segment as lost (retransmission recovers it).
type Output interface {
	SendTCP(seg *OutSegment) bool
}

// Errors given to Handler.OnClose and returned by Dial.
var (
	ErrReset     = errors.New("connection reset by peer") // ECONNRESET
	ErrRefused   = errors.New("connection refused")       // ECONNREFUSED
	ErrTimeout   = errors.New("connection timed out")     // ETIMEDOUT
	ErrAborted   = errors.New("connection aborted")       // local abort
	ErrTableFull = errors.New("connection table full")
	ErrAddrInUse = errors.New("address already in use")  // EADDRINUSE
	ErrNoPorts   = errors.New("no local port available") // EADDRNOTAVAIL
	ErrClosed    = errors.New("use of closed connection")
)

// Handler receives a connection's events. All methods run on the loop that
// owns the connection and must not block.
type Handler interface {
	// OnOpen: the connection is established (passive: taken from the
	// accept queue; active: the handshake completed).
	OnOpen(c *Conn)
	// OnData: in-order bytes, valid until the call returns. It returns how
	// many it consumed; the rest stays in the receive buffer (and counts
	// against the advertised window) and is offered again after more data
	// arrives or after ResumeRead. Bytes come a piece at a time: one
	// segment's payload straight from its frame, or what the receive
	// buffer holds up to the end of one of its 4 KiB pages (rcvq.go), so
	// a handler that needs more bytes than a call offers (a message
	// header split across pieces) copies what it got and consumes it:
	// what it leaves is offered again unchanged, from the same place.
	OnData(c *Conn, data []byte) int
	// OnWritable: send-buffer space was freed after a Write accepted fewer
	// bytes than offered.
	OnWritable(c *Conn)
	// OnPeerClose: the peer's FIN arrived after all its data (read EOF).
	OnPeerClose(c *Conn)
	// OnClose: the connection is gone for the application. err is nil for
	// an orderly close, else ErrReset, ErrTimeout, ErrAborted, ...
	// An orderly close (TIME-WAIT, or CLOSED from LAST-ACK) that leaves
	// unread data in the receive buffer (PauseRead, or OnData took less)
	// does not drop it, as Linux keeps the receive queue readable until
	// close(2): the data is offered after ResumeRead, then OnPeerClose,
	// then OnClose(nil); or Close (OnClose(nil)) or Abort
	// (OnClose(ErrAborted)) drops it. Meanwhile the 4-tuple is already
	// TIME-WAIT or CLOSED on the wire and Write returns 0. A peer's RST
	// keeps unread data the same way (Linux tcp_reset): it is offered
	// after ResumeRead, then OnClose(ErrReset).
	OnClose(c *Conn, err error)
}

// LingerWaiter is a Handler that waits out a lingering close. Close with
// a positive SetLinger time (SO_LINGER) returns at once, as everything
// on the loop does, leaving the connection in FIN-WAIT-1, CLOSING or
// LAST-ACK until its FIN is acknowledged (Lingering reports it); Linux's
// close(2) blocks for that, up to the linger time (sk_stream_wait_close).
// OnLingerDone is called, on the loop, when the connection leaves those
// states: its FIN acknowledged, or the connection ended (before OnClose).
// The waiter bounds its own wait by the linger time.
type LingerWaiter interface {
	OnLingerDone(c *Conn)
}

package tcp

// Path rehashing, as Linux's sk_rethink_txhash under net.core.txrehash
// (1 by default). Routers that spread IPv6 flows over equal-cost paths
// may hash the flow label (RFC 6437 §3, RFC 7098); a connection whose
// path fails changes its label and so, with luck, its path. The engine
// derives the label from the 4-tuple and the connection's txHash
// (OutSegment.TxHash), so a rehash is one increment and costs no random
// number; the count lives in the sendExt, which a connection that never
// rehashed nor wrote does not have (a half-open connection's SYN-ACK
// resends are counted in Conn, beside its SYN-ACK timeouts), and the
// last data's label in three bytes of padding of Conn. Linux rehashes:
//   - on each retransmission timeout that does not end the connection
//     (tcp_write_timeout; SYN and data alike), counted in
//     TcpTimeoutRehash and tcpi_rehash, but not on a timeout the peer's
//     zero window turned into a probe;
//   - on each SYN-ACK retransmission, by the timer or for a duplicate
//     SYN (tcp_rtx_synack), counted nowhere; the connection keeps the
//     last SYN-ACK's label;
//   - on a duplicate of data already received that carries another
//     flow label than the last data did (tcp_rcv_spurious_retrans): the
//     peer timed out and moved, so our ACKs are likely not getting
//     through either; not while our own timeout is being recovered,
//     which moved us already. Counted in TcpDuplicateDataRehash.
//
// Measured on Linux 6.18 over IPv6 with packetdrill
// (conformance/scripts/rehash-*.pkt): a new label on each SYN,
// SYN-ACK and data timeout and on a duplicate SYN, the ACK of a
// duplicate under a new label carries a new one, a duplicate under the
// label of the last data (in order or not; a pure ACK does not count)
// does not move it, TIME-WAIT keeps the last one. Over IPv4 the label
// does not exist, but the timeout counters count all the same (Linux
// rehashes the skb hash there); a duplicate never rehashes (Linux's
// check is for IPv6 only, here both labels are 0).

// txHash is the connection's flow-label choice (OutSegment.TxHash): the
// SYN-ACK's rehashes, counted in Conn, and the later ones, counted in the
// sendExt, which the first of them allocates.
func (c *Conn) txHash() uint16 {
	h := c.synHash
	if c.sx != nil {
		h += c.sx.txHash
	}
	return h
}

// rethinkTxHash moves the connection to a new flow label if txrehash is
// on, and reports whether it did.
func (c *Conn) rethinkTxHash() bool {
	if !c.layer.cfg.TxRehash {
		return false
	}
	c.ext().txHash++
	return true
}

// timeoutRehash is the rehash of a retransmission timeout that did not
// end the connection (Linux tcp_write_timeout: timeout_rehash).
func (c *Conn) timeoutRehash() {
	if c.rethinkTxHash() {
		c.sx.rehashes = sat16(c.sx.rehashes)
		c.layer.stats.TcpTimeoutRehash.Add(1)
	}
}

// lastDataLabel is the flow label of the last segment that brought data.
func (c *Conn) lastDataLabel() uint32 {
	return uint32(c.lrcvLbl[0])<<16 | uint32(c.lrcvLbl[1])<<8 | uint32(c.lrcvLbl[2])
}

// setLastDataLabel keeps l (20 bits) as the label of the last data.
func (c *Conn) setLastDataLabel(l uint32) {
	c.lrcvLbl = [3]byte{byte(l >> 16 & 0xf), byte(l >> 8), byte(l)}
}

// duplicateData is a segment whose data was all received before (Linux
// tcp_rcv_spurious_retrans, from tcp_data_queue and tcp_send_dupack):
// under another flow label than the last data, the peer moved after a
// timeout of its own, and we move too unless our own timeout moved us.
func (c *Conn) duplicateData(seg *Segment) {
	if seg.Label != c.lastDataLabel() && c.lossState() != CALoss && c.rethinkTxHash() {
		c.layer.stats.TcpDuplicateDataRehash.Add(1)
	}
	c.setLastDataLabel(seg.Label)
}

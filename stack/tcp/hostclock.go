package tcp

// The host's clock and secrets. Linux draws its ISN and timestamp secret
// once per boot and runs both clocks on the host's: ISN = clock + a SipHash
// of the 4-tuple (RFC 6528, isn.go), TSval = tcp_clock_ms()
// (CLOCK_MONOTONIC) + a SipHash of the 4-tuple (net/core/secure_seq.c;
// Linux hashed only the two addresses from 2017 until commit 165573e41f2f
// of 2026 put the ports back, since port-less offsets leak source ports
// through a SYN-cookie side channel). Both therefore continue on a
// 4-tuple from one connection to the next, from any process: a SYN that
// meets the peer's TIME-WAIT entry for a reused 4-tuple carries a higher
// sequence number and a newer timestamp, and the peer reopens the entry at
// once (RFC 6191; Linux tcp_timewait_state_process, TCP_TW_SYN) instead
// of taking the SYN for an old duplicate, ACKing it, getting a RST and
// waiting for the SYN's retransmission a second later.
//
// A layer's clock counts from its process's start. The Stack, which knows
// the host, passes in where that start is on the host's monotonic clock
// and the secrets every xdptcp process of the host shares until it reboots
// (SetHostClock), so sequence numbers and timestamps also continue across
// a restart of the process. Until then (tests) the secrets are random and
// the base 0.

import (
	crand "crypto/rand"
	"encoding/binary"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
)

// HostClock places a layer's clocks on the host's, with the host's
// secrets.
type HostClock struct {
	// Base is the host's monotonic clock (CLOCK_MONOTONIC) at the layer
	// clock's zero.
	Base clock.Time
	// ISNKey keys initial sequence numbers (RFC 6528's secret).
	ISNKey [16]byte
	// TSKey keys timestamp offsets.
	TSKey [16]byte
}

// SetHostClock sets the clocks and secrets; call it before the first
// connection.
func (l *Layer) SetHostClock(c HostClock) {
	l.host = c
	l.isnGen = &ISNGenerator{k0: binary.LittleEndian.Uint64(c.ISNKey[:8]), k1: binary.LittleEndian.Uint64(c.ISNKey[8:]), base: c.Base}
}

// randomHostClock is a layer's until SetHostClock: random secrets, base 0.
func randomHostClock() HostClock {
	var c HostClock
	crand.Read(c.ISNKey[:])
	crand.Read(c.TSKey[:])
	return c
}

// tsOffsetFor is the timestamp offset of a connection on k: SipHash-2-4 of
// the 4-tuple under the timestamp secret, plus the base in milliseconds.
func (l *Layer) tsOffsetFor(k flowtable.Key) uint32 {
	h := hash4(binary.LittleEndian.Uint64(l.host.TSKey[:8]), binary.LittleEndian.Uint64(l.host.TSKey[8:]), k)
	return uint32(h) + uint32(int64(l.host.Base)/1e6)
}

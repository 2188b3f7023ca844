package tcp

// Initial sequence numbers, RFC 6528 §3:
//
//	ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
//
// M is a timer ticking every 4 microseconds (RFC 9293 §3.4.1's clock) and F
// is a keyed pseudo-random function; here SipHash-2-4, as Linux uses
// (secure_tcp_seq in net/core/secure_seq.c).

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/dchest/siphash"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// ISNTick is the period of the ISN clock M: 4 µs (RFC 9293 §3.4.1, kept by
// RFC 6528 §3).
const ISNTick = 4000 // nanoseconds

// ISNGenerator computes RFC 6528 initial sequence numbers. It is read-only
// after creation, so one generator is safe for every loop at once.
type ISNGenerator struct {
	k0, k1 uint64     // SipHash key: the secret of RFC 6528 §3
	base   clock.Time // added to now for M: where the caller's clock's zero is on the host's (hostclock.go)
}

// NewISNGenerator returns a generator with a secret from crypto/rand.
func NewISNGenerator() (*ISNGenerator, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("tcp: ISN secret: %w", err)
	}
	return NewISNGeneratorSecret(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])), nil
}

// NewISNGeneratorSecret returns a generator with the given secret, for tests.
func NewISNGeneratorSecret(k0, k1 uint64) *ISNGenerator {
	return &ISNGenerator{k0: k0, k1: k1}
}

// ISN returns the initial sequence number for a connection on k at now:
// M(now) + SipHash-2-4(secret, local addr, local port, remote addr, remote
// port). It allocates nothing.
func (g *ISNGenerator) ISN(now clock.Time, k flowtable.Key) seqnum.Value {
	m := uint32(uint64(now+g.base) / ISNTick)
	return seqnum.Value(m + uint32(hash4(g.k0, g.k1, k)))
}

// hash4 is SipHash-2-4 of k's 4-tuple (local addr, local port, remote
// addr, remote port) under the key k0, k1. It allocates nothing.
func hash4(k0, k1 uint64, k flowtable.Key) uint64 {
	var b [36]byte
	copy(b[0:16], k.LocalAddr[:])
	binary.BigEndian.PutUint16(b[16:18], k.LocalPort)
	copy(b[18:34], k.RemoteAddr[:])
	binary.BigEndian.PutUint16(b[34:36], k.RemotePort)
	return siphash.Hash(k0, k1, b[:])
}

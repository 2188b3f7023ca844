package syncookie

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dchest/siphash"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/seqnum"
)

// Period is how often the cookie counter ticks. Linux's tcp_cookie_time
// ticks every 60 s (TCP_SYNCOOKIE_PERIOD = 60*HZ); xdptcp uses 64 s, as the
// SYN-flood design asks.
const Period = 64 * time.Second

// MaxAge is how many counter values a cookie is valid for: the one it was
// made with and the next (Linux MAX_SYNCOOKIE_AGE = 2). A cookie therefore
// lives at least Period and at most 2*Period.
const MaxAge = 2

// Layout of B, the cookie once W+I has been subtracted (see the package
// doc).
const (
	counterShift = 24                       // bits 31-24: counter mod 256 (Linux COOKIEBITS = 24)
	counterMask  = 1<<(32-counterShift) - 1 // 8 bits of counter
	macShift     = 2                        // bits 23-2: MAC
	macBits      = counterShift - macShift
	macMask      = 1<<macBits - 1
	mssIndexMask = 1<<macShift - 1 // bits 1-0: index into mssTable
)

// mssTable is Linux's msstab (net/ipv4/syncookies.c), sorted ascending:
// 536 (the RFC 9293 §3.7.1 default), 1300 (tunnels), 1440 (PPPoE) and 1460
// (Ethernet), chosen from the MSS values measured by Alcock and Nelson,
// "An Analysis of TCP Maximum Segment Sizes" (2011).
var mssTable = [4]uint16{536, 1300, 1440, 1460}

// mssTable6 is Linux's IPv6 msstab (net/ipv6/syncookies.c): 1280-60 (the
// IPv6 minimum MTU less headers), 1480-60 (tunnels), 1500-60 (Ethernet),
// 9000-60 (jumbo frames).
var mssTable6 = [4]uint16{1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60}

// MSSTable returns the MSS values an IPv4 cookie can carry, ascending.
func MSSTable() [4]uint16 { return mssTable }

// MSSTableFor returns the MSS values a cookie for k can carry, ascending:
// the IPv4 table or the IPv6 one.
func MSSTableFor(k flowtable.Key) *[4]uint16 {
	if k.Is4() {
		return &mssTable
	}
	return &mssTable6
}

// Jar holds the cookie secrets. Every loop shares one Jar; it is safe for
// concurrent use, and lock-free: the secrets in force are one immutable
// value behind an atomic pointer, replaced whole by Rotate. The zero Jar is
// not usable: get one from New, NewWithSecrets or NewShared.
type Jar struct {
	keys atomic.Pointer[keySet]
	// epoch is the wall-clock time, in Unix nanoseconds, of the loops'
	// clock zero, for a shared Jar: the counter is then computed from wall
	// time, so every host of a cluster agrees on it. 0 for a local Jar,
	// whose counter runs on the loops' own clock.
	epoch int64
	// skew is how many counter values ahead of ours a cookie may be: 1 for
	// a shared Jar (the host that made it may have ticked a little before
	// us, its clock a few milliseconds ahead), 0 for a local Jar.
	skew uint32
}

// secrets are the two SipHash keys made from one key.
type secrets struct {
	w0, w1 uint64 // SipHash key Kw: the whitening W over the 4-tuple
	m0, m1 uint64 // SipHash key Km: the MAC over 4-tuple, ISN, counter, MSS index
}

// keySet is what a Jar checks with: make makes cookies and checks them;
// also are further keys that check (the other keys of a shared key file,
// so a cluster can introduce a key everywhere before any host makes
// cookies with it); retired is the key that made cookies before the last
// Rotate, accepted until retiredUntil (wall Unix ns) so cookies it made
// stay good for their lifetime.
type keySet struct {
	make         secrets
	also         []secrets
	retired      *secrets
	retiredUntil int64
}

// Key is one shared cookie key: 32 bytes, the first 16 the whitening key,
// the last 16 the MAC key.
type Key [32]byte

func (k Key) secrets() secrets {
	return secrets{
		w0: binary.LittleEndian.Uint64(k[0:8]),
		w1: binary.LittleEndian.Uint64(k[8:16]),
		m0: binary.LittleEndian.Uint64(k[16:24]),
		m1: binary.LittleEndian.Uint64(k[24:32]),
	}
}

// New returns a Jar with secrets from crypto/rand.
func New() (*Jar, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("syncookie: reading secrets: %w", err)
	}
	var w, m [16]byte
	copy(w[:], b[:16])
	copy(m[:], b[16:])
	return NewWithSecrets(w, m), nil
}

// NewWithSecrets returns a Jar with the given SipHash keys: whitening keys
// the 4-tuple hash added to the cookie, mac keys the 22-bit MAC. It is
// deterministic, for tests; production code uses New.
func NewWithSecrets(whitening, mac [16]byte) *Jar {
	var k Key
	copy(k[:16], whitening[:])
	copy(k[16:], mac[:])
	j := &Jar{}
	j.keys.Store(&keySet{make: k.secrets()})
	return j
}

// NewShared returns a Jar for a cluster of hosts that share keys (a key
// file, see ParseKeyFile): keys[0] makes cookies, every key checks them,
// and the counter comes from wall-clock time: epoch is the wall-clock time
// of the loops' clock zero (clock.Time 0). Any host whose clock is within
// a counter period of ours completes a handshake whose SYN-ACK another
// host sent.
func NewShared(keys []Key, epoch time.Time) (*Jar, error) {
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	j := &Jar{epoch: epoch.UnixNano(), skew: 1}
	j.keys.Store(newKeySet(keys))
	return j, nil
}

func newKeySet(keys []Key) *keySet {
	ks := &keySet{make: keys[0].secrets()}
	for _, k := range keys[1:] {
		ks.also = append(ks.also, k.secrets())
	}
	return ks
}

// Rotate replaces a shared Jar's keys (a reloaded key file) at wall-clock
// time at: keys[0] makes cookies from now on, every key of keys checks, and
// the key that made cookies until now keeps checking for one cookie
// lifetime (MaxAge periods, plus one of clock skew) so that no handshake in
// flight fails. It is safe while loops use the Jar.
func (j *Jar) Rotate(keys []Key, at time.Time) error {
	if len(keys) == 0 {
		return ErrNoKey
	}
	old := j.keys.Load()
	ks := newKeySet(keys)
	if old.make != ks.make && !slices.Contains(ks.also, old.make) {
		prev := old.make
		ks.retired = &prev
		ks.retiredUntil = at.UnixNano() + int64(MaxAge+j.skew)*int64(Period)
	}
	j.keys.Store(ks)
	return nil
}

// Shared reports whether the Jar's keys are shared with other hosts, so
// that an ACK may carry a cookie another host made: a listener then checks
// cookie ACKs even when it sent no cookie lately.
func (j *Jar) Shared() bool { return j.skew != 0 }

// Make returns the cookie to use as our ISN in the SYN-ACK answering a SYN
// on 4-tuple k with sequence number clientISN and MSS option mss, and the
// MSS the cookie carries: the largest entry of the MSS table not above mss,
// or the smallest entry (536) when mss is below all of them, as Linux's
// __cookie_v4_init_sequence does. The caller passes 536 when the SYN had no
// MSS option (RFC 9293 §3.7.1). It does not allocate.
func (j *Jar) Make(now clock.Time, k flowtable.Key, clientISN seqnum.Value, mss uint16) (cookie seqnum.Value, mssUsed uint16) {
	tab := MSSTableFor(k)
	idx := mssIndex(tab, mss)
	c := j.counter(now)
	ks := j.keys.Load()
	b := (c&counterMask)<<counterShift | (ks.make.mac(k, clientISN, c, idx)&macMask)<<macShift | idx
	return seqnum.Value(ks.make.whiten(k) + uint32(clientISN) + b), tab[idx]
}

// Check reports whether cookie is one this Jar made (or, for a shared Jar,
// any host with the same keys), for 4-tuple k and client ISN clientISN,
// with the current or the previous counter value (or, for a shared Jar,
// the next one: the other host's clock may be slightly ahead), and if so
// returns the MSS it carries. For the ACK completing a cookie handshake,
// clientISN is SEG.SEQ-1 and cookie is SEG.ACK-1. Any input is safe; it
// does not allocate.
func (j *Jar) Check(now clock.Time, k flowtable.Key, clientISN seqnum.Value, cookie seqnum.Value) (mss uint16, ok bool) {
	ks := j.keys.Load()
	c := j.counter(now)
	if mss, ok = j.check(&ks.make, c, k, clientISN, cookie); ok {
		return mss, true
	}
	for i := range ks.also {
		if mss, ok = j.check(&ks.also[i], c, k, clientISN, cookie); ok {
			return mss, true
		}
	}
	if ks.retired != nil && j.epoch+int64(now) < ks.retiredUntil {
		return j.check(ks.retired, c, k, clientISN, cookie)
	}
	return 0, false
}

// check is Check with one key.
func (j *Jar) check(s *secrets, c uint32, k flowtable.Key, clientISN, cookie seqnum.Value) (mss uint16, ok bool) {
	b := uint32(cookie) - s.whiten(k) - uint32(clientISN)
	age := (c - b>>counterShift) & counterMask // 256-skew..255: a cookie from up to skew counters ahead
	if age >= MaxAge && age < counterMask+1-j.skew {
		return 0, false
	}
	if age >= MaxAge {
		age -= counterMask + 1 // negative: a counter ahead of ours
	}
	idx := b & mssIndexMask
	if (b>>macShift)&macMask != s.mac(k, clientISN, c-age, idx)&macMask {
		return 0, false
	}
	return MSSTableFor(k)[idx], true
}

// mssIndex returns the index of the largest entry of tab <= mss, or 0.
func mssIndex(tab *[4]uint16, mss uint16) uint32 {
	for i := len(tab) - 1; i > 0; i-- {
		if mss >= tab[i] {
			return uint32(i)
		}
	}
	return 0
}

// counter returns floor((epoch+now)/Period) truncated to 32 bits (it wraps
// after 8,700 years; the MAC covers all 32 bits): for a local Jar the loops'
// clock, for a shared one wall-clock time.
func (j *Jar) counter(now clock.Time) uint32 {
	t := j.epoch + int64(now)
	q := t / int64(Period)
	if t < 0 && t%int64(Period) != 0 {
		q-- // floor, so the counter ticks at multiples of Period before the epoch too
	}
	return uint32(q)
}

// tupleLen is the length of the serialized 4-tuple T.
const tupleLen = 36

// putTuple writes T = remoteAddr ‖ localAddr ‖ remotePort ‖ localPort
// (16-byte addresses, IPv4 mapped; ports big endian) into b[:tupleLen].
func putTuple(b []byte, k flowtable.Key) {
	_ = b[tupleLen-1]
	copy(b[0:16], k.RemoteAddr[:])
	copy(b[16:32], k.LocalAddr[:])
	binary.BigEndian.PutUint16(b[32:34], k.RemotePort)
	binary.BigEndian.PutUint16(b[34:36], k.LocalPort)
}

// whiten returns W = SipHash(Kw; T) mod 2^32.
func (j *secrets) whiten(k flowtable.Key) uint32 {
	var b [tupleLen]byte
	putTuple(b[:], k)
	return uint32(siphash.Hash(j.w0, j.w1, b[:]))
}

// mac returns SipHash(Km; T ‖ I ‖ c ‖ m); callers keep the low macBits.
func (j *secrets) mac(k flowtable.Key, isn seqnum.Value, c, idx uint32) uint32 {
	var b [tupleLen + 4 + 4 + 1]byte
	putTuple(b[:], k)
	binary.LittleEndian.PutUint32(b[tupleLen:], uint32(isn))
	binary.LittleEndian.PutUint32(b[tupleLen+4:], c)
	b[tupleLen+8] = byte(idx)
	return uint32(siphash.Hash(j.m0, j.m1, b[:]))
}

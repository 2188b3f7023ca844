// Package flood is a spoofed SYN flood generator for benches and SYN-cookie
// tests. It writes IPv4 TCP SYNs, built with stack/wire, on a raw socket
// (IPPROTO_RAW: the kernel routes them by destination and sends them as
// built), at a fixed rate for a bounded time.
//
// Source addresses come only from 198.18.128.0/17 (the upper half of the
// benchmarking range, RFC 2544), never random addresses: Run refuses any
// Sources prefix outside it. Whoever runs a flood routes that prefix back
// into the flooding namespace (on the target: a route for 198.18.128.0/17
// via the flooding host; there: no address in it and no forwarding, or a
// blackhole route), so the SYN-ACKs die there and nothing reaches a real
// network.
package flood

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/wire"
)

// Allowed is the only prefix spoofed source addresses may come from.
var Allowed = netip.MustParsePrefix("198.18.128.0/17")

// Allowed6 is the only prefix spoofed IPv6 source addresses may come from:
// the upper half of 2001:2::/48 (RFC 5180's benchmarking range).
var Allowed6 = netip.MustParsePrefix("2001:2:0:8000::/49")

// Errors from Run for a bad Config.
var (
	ErrSources = errors.New("flood: source prefix must lie inside 198.18.128.0/17 (IPv6: 2001:2:0:8000::/49)")
	ErrConfig  = errors.New("flood: bad config")
)

// Config says what to flood.
type Config struct {
	Target   netip.AddrPort // IPv4 or IPv6 address and port SYNs go to
	Sources  netip.Prefix   // spoofed sources; zero means Allowed (198.18.128.0/17)
	Rate     int            // SYNs per second (> 0)
	Duration time.Duration  // how long (> 0); Run also stops when ctx ends
	Count    int64          // stop after this many SYNs (0: no bound beyond Duration)
	Netns    string         // network namespace to send from (name under /run/netns, or a path); "" for the current one
	Seed     uint64         // source address/port/sequence choice; 0 picks 1
	// Options adds MSS 1460, SACK-permitted, timestamps and window scale 7,
	// as Linux clients send (exercising the SYN cookie option encoding).
	Options bool
}

// Stats is what Run sent.
type Stats struct {
	Sent    int64         `json:"sent"`
	Errors  int64         `json:"errors"` // sendto failures (ENOBUFS, ...)
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Rate is the achieved SYNs per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

func (c *Config) validate() error {
	allowed := Allowed
	if c.Target.Addr().Is6() {
		allowed = Allowed6
	}
	if c.Sources == (netip.Prefix{}) {
		c.Sources = allowed
	}
	c.Sources = c.Sources.Masked()
	if c.Sources.Addr().Is4() != allowed.Addr().Is4() || c.Sources.Bits() < allowed.Bits() || !allowed.Contains(c.Sources.Addr()) {
		return fmt.Errorf("%w (got %s)", ErrSources, c.Sources)
	}
	if !c.Target.IsValid() || c.Target.Addr().Zone() != "" || c.Target.Port() == 0 {
		return fmt.Errorf("%w: target %s is not an address and port", ErrConfig, c.Target)
	}
	if allowed.Contains(c.Target.Addr()) {
		return fmt.Errorf("%w: target %s is inside the spoofed range", ErrConfig, c.Target)
	}
	if c.Rate <= 0 || c.Duration <= 0 {
		return fmt.Errorf("%w: rate and duration must be positive", ErrConfig)
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return nil
}

// openRaw opens the raw socket of family (AF_INET or AF_INET6; with
// IPPROTO_RAW both take whole IP packets), in netns if given.
func openRaw(netns string, family int) (int, error) {
	if netns == "" {
		return unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	}
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// The thread is left locked (and so discarded) if switching back fails.
		runtime.LockOSThread()
		path := netns
		if path[0] != '/' {
			path = "/run/netns/" + netns
		}
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{-1, err}
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{-1, fmt.Errorf("flood: netns %s: %w", netns, err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			ch <- res{-1, fmt.Errorf("flood: setns %s: %w", netns, err)}
			return
		}
		fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			ch <- res{-1, fmt.Errorf("flood: setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// Builder writes SYN packets (IPv4 or IPv6 header + TCP header) into a
// buffer.
type Builder struct {
	dst     [4]byte
	dport   uint16
	base    uint32   // first source address
	span    uint32   // number of source addresses
	v6      bool     // IPv6: dst6, and sources base6 with random low 64 bits
	dst6    [16]byte //
	base6   [16]byte //
	options bool
	rng     *rand.PCG
	id      uint16
}

// NewBuilder returns a SYN builder for c (validated by Run or the caller).
func NewBuilder(c Config) *Builder {
	b := &Builder{dport: c.Target.Port(), options: c.Options, rng: rand.NewPCG(c.Seed, 0x5eed)}
	if c.Target.Addr().Is6() {
		b.v6, b.dst6, b.base6 = true, c.Target.Addr().As16(), c.Sources.Masked().Addr().As16()
		return b
	}
	b.dst = c.Target.Addr().As4()
	a := c.Sources.Masked().Addr().As4()
	b.base = binary.BigEndian.Uint32(a[:])
	b.span = uint32(1) << (32 - c.Sources.Bits())
	return b
}

// PacketLen is the length of the packets Build writes.
func (b *Builder) PacketLen() int {
	if b.v6 {
		n := wire.IPv6HeaderLen + wire.TCPMinHeaderLen
		if b.options {
			n += 20
		}
		return n
	}
	if b.options {
		return wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen + 20
	}
	return wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen
}

// Build writes one SYN with a fresh source address, port and sequence
// number into p (at least PacketLen bytes) and returns its source address.
// Every header field is written (p may hold an older packet).
func (b *Builder) Build(p []byte) (src [4]byte) {
	if b.v6 {
		b.build6(p)
		return src
	}
	r := b.rng.Uint64()
	off := uint32(r) % b.span
	if b.span > 2 && (off == 0 || off == b.span-1) { // skip network and broadcast
		off = 1
	}
	binary.BigEndian.PutUint32(src[:], b.base+off)
	sport := uint16(1024 + (r>>32)%64511)
	seq := uint32(b.rng.Uint64())
	n := b.PacketLen()
	b.id++
	ip := wire.IPv4(p[:n])
	ip.Encode(&wire.IPv4Fields{TotalLen: uint16(n), ID: b.id, DF: true, TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: b.dst})
	tcp := wire.TCP(p[wire.IPv4MinHeaderLen:n])
	hl := n - wire.IPv4MinHeaderLen
	tcp.Encode(&wire.TCPFields{SrcPort: sport, DstPort: b.dport, Seq: seq, DataOffset: hl, Flags: wire.FlagSYN, Window: 64240})
	if b.options {
		o := wire.TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamp: true, TSVal: uint32(r >> 16), HasWScale: true, WScale: 7}
		wire.WriteTCPOptions(tcp[wire.TCPMinHeaderLen:], &o, true)
	}
	tcp.SetChecksum(^wire.Checksum(tcp, wire.PseudoHeaderChecksum(wire.ProtoTCP, src, b.dst, uint16(hl))))
	return src
}

// build6 is Build for IPv6: a random interface identifier (low 64 bits)
// under the source prefix.
func (b *Builder) build6(p []byte) {
	r := b.rng.Uint64()
	src := b.base6
	binary.BigEndian.PutUint64(src[8:], b.rng.Uint64()|1)
	sport := uint16(1024 + (r>>32)%64511)
	seq := uint32(r)
	n := b.PacketLen()
	hl := n - wire.IPv6HeaderLen
	wire.IPv6(p[:n]).Encode(&wire.IPv6Fields{PayloadLen: uint16(hl), NextHeader: wire.ProtoTCP, HopLimit: 64, Src: src, Dst: b.dst6})
	tcp := wire.TCP(p[wire.IPv6HeaderLen:n])
	tcp.Encode(&wire.TCPFields{SrcPort: sport, DstPort: b.dport, Seq: seq, DataOffset: hl, Flags: wire.FlagSYN, Window: 64240})
	if b.options {
		o := wire.TCPOptions{HasMSS: true, MSS: 1440, SACKPermitted: true, HasTimestamp: true, TSVal: uint32(r >> 16), HasWScale: true, WScale: 7}
		wire.WriteTCPOptions(tcp[wire.TCPMinHeaderLen:], &o, true)
	}
	tcp.SetChecksum(^wire.Checksum(tcp, wire.PseudoHeaderChecksum6(wire.ProtoTCP, &src, &b.dst6, uint32(hl))))
}

// Run sends SYNs at c.Rate until c.Duration (or c.Count SYNs) has passed or
// ctx ends. It paces in 1 ms slots, so short bursts stay near the rate.
func Run(ctx context.Context, c Config) (Stats, error) {
	if err := c.validate(); err != nil {
		return Stats{}, err
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: c.Target.Addr().As16()}
	if c.Target.Addr().Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: c.Target.Addr().As4()}
	}
	fd, err := openRaw(c.Netns, family)
	if err != nil {
		return Stats{}, fmt.Errorf("flood: raw socket: %w", err)
	}
	defer unix.Close(fd)
	b := NewBuilder(c)
	pkt := make([]byte, b.PacketLen())
	var st Stats
	start := time.Now()
	end := start.Add(c.Duration)
	const slot = time.Millisecond
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil || (c.Count > 0 && st.Sent >= c.Count) {
			break
		}
		due := int64(float64(c.Rate) * now.Sub(start).Seconds())
		if c.Count > 0 && due > c.Count {
			due = c.Count
		}
		for st.Sent+st.Errors < due {
			b.Build(pkt)
			if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
				if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
					return st, fmt.Errorf("flood: sendto: %w", err)
				}
				st.Errors++
				continue
			}
			st.Sent++
		}
		time.Sleep(slot)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

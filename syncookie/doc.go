// Package syncookie encodes and checks SYN cookies: when a listener's SYN
// queue is full, the SYN-ACK's initial sequence number (our ISN) carries
// everything needed to rebuild the connection from the client's ACK, so the
// listener keeps no per-SYN state (D. J. Bernstein's design, RFC 4987 §3.6;
// Linux net/ipv4/syncookies.c).
//
// A Jar holds the secrets (two 128-bit SipHash-2-4 keys from crypto/rand,
// like Linux's syncookie_secret[2]) and is read-only after New, so every
// poll loop shares one. A Recent per listener records when cookies were last
// sent; cookie ACKs are checked only while it says so (Linux
// tcp_synq_no_recent_overflow).
//
// # The cookie
//
// The listener calls Make on a SYN it cannot queue and puts the result in
// the SYN-ACK's sequence number field; on the ACK it calls Check with
// clientISN = SEG.SEQ-1 and cookie = SEG.ACK-1. With 4-tuple T (our side's
// flowtable.Key), client ISN I, counter c and MSS index m:
//
//	T       = remoteAddr(4) ‖ localAddr(4) ‖ remotePort(2, big endian) ‖ localPort(2, big endian)
//	c       = floor(now / Period)                  a counter that ticks every 64 s
//	W       = SipHash-2-4(Kw; T) mod 2^32          whitening, independent of c and I
//	MAC     = SipHash-2-4(Km; T ‖ I ‖ c ‖ m) mod 2^22
//	           (I and c as 4 bytes little endian, m as 1 byte: 21 bytes)
//	B       = (c mod 2^8) << 24  |  MAC << 2  |  m
//	cookie  = W + I + B  (mod 2^32)
//
// Bit by bit, B (the cookie once W+I has been subtracted):
//
//	 31            24 23                                       2 1      0
//	+----------------+------------------------------------------+--------+
//	|  c mod 256     |  MAC: 22 bits keyed by T, I, c and m     |   m    |
//	+----------------+------------------------------------------+--------+
//
// m indexes the MSS table {536, 1300, 1440, 1460} (Linux's msstab, chosen
// from the MSS distribution measured by Alcock and Nelson, 2011): Make uses
// the largest entry not above the client's MSS, and 536 when the client's
// MSS is below every entry, as Linux does (536 is the MSS every host must
// accept, RFC 9293 §3.7.1).
//
// Check subtracts W+I, reads the counter byte, accepts it only if it is the
// current counter or the previous one (age (c - byte) mod 256 < MaxAge),
// recomputes the MAC with the full counter c-age and the index m from the
// low bits, and accepts the cookie only if the 22 bits match.
//
// # How this differs from Linux, and why
//
// Linux (__cookie_v4_init_sequence, secure_tcp_syn_cookie) builds
//
//	cookie = H0(T) + I + (c << 24) + ((H1(T, c) + m) mod 2^24)
//
// The counter byte, the whitening W = H0(T) and the client ISN added in the
// clear are the same here. Linux adds m to the hash instead of covering it:
// the low 24 bits are authenticated only as "hash plus a small number", so
// an ACK number off by one or two (or a client ISN off by one) decodes to a
// neighbouring MSS index and is accepted with the wrong MSS. Here m sits in
// the clear under a MAC that covers m, I and the full counter, so every
// change to the ACK number, the sequence number or the 4-tuple is rejected
// (up to the 2^-22 chance of a MAC collision), and a cookie from 256
// periods ago, whose counter byte matches again, is rejected too (Linux
// also hashes the full counter). The false-accept rate for a random ACK is
// the same as Linux's: 2/256 for the counter byte times 2^-22 for the MAC
// (Linux: 2/256 times 4/2^24) = 2^-29 ≈ 1.9e-9. Cookies are only ever
// checked by the host that made them, so bit compatibility with Linux is
// not needed.
//
// The counter ticks every 64 s (Period); Linux's tcp_cookie_time ticks every
// 60 s (TCP_SYNCOOKIE_PERIOD = 60*HZ).
//
// # Lifetime: MaxAge = 2
//
// A cookie is valid while the counter is the one it was made with or the
// next one (Linux MAX_SYNCOOKIE_AGE = 2): at least one full Period (64 s)
// after it was made, at most two (128 s, for a cookie made just after a
// tick). One counter value alone would reject a legitimate ACK that merely
// crossed a tick; a legitimate ACK comes back one round trip after the
// SYN-ACK, so more than two values would only lengthen the time a captured
// cookie can be replayed and the number of counter bytes a forger can hit.
//
// # Options in the timestamp
//
// The cookie has no room for the client's other SYN options, so, when the
// client sent timestamps (RFC 7323), EncodeTS hides them in the low 6 bits
// of our TSval and DecodeTS reads them back from the ACK's TSecr, as Linux's
// cookie_init_timestamp and cookie_timestamp_decode do:
//
//	 31                          6   5     4    3      0
//	+-----------------------------+-----+------+--------+
//	|  timestamp clock (TSval)    | ECN | SACK | WScale |
//	+-----------------------------+-----+------+--------+
//
// WScale 0-14 is the client's window shift, 15 (0xf) means the SYN carried
// no window scale option; SACK is SACK-permitted (RFC 2018); ECN is the
// client's ECN setup SYN (RFC 3168 §6.1.1). Without timestamps these options
// are lost, as in Linux: the SYN-ACK then advertises none of them (no window
// scale, no SACK-permitted, no ECN). The TS options are not authenticated:
// they are the client's own choices and only the client can be hurt by
// forging them.
package syncookie

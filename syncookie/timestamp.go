package syncookie

// Options are the SYN options that survive a cookie handshake in the low
// bits of our TSval when the client sent timestamps (Linux
// cookie_init_timestamp / cookie_timestamp_decode).
type Options struct {
	WScale    uint8 // client's window shift (RFC 7323 §2.3); meaningful only with HasWScale
	HasWScale bool  // the SYN carried a window scale option
	SACK      bool  // the SYN carried SACK-permitted (RFC 2018 §2)
	ECN       bool  // the SYN was an ECN-setup SYN (RFC 3168 §6.1.1)
}

// Low bits of TSval, as in Linux net/ipv4/syncookies.c.
const (
	// TSBits is how many low bits of TSval carry options (Linux TSBITS).
	TSBits = 6
	tsMask = 1<<TSBits - 1

	tsOptWScaleMask = 0xf    // bits 3-0: window shift 0-14 (Linux TS_OPT_WSCALE_MASK)
	tsOptNoWScale   = 0xf    // wscale 15, not a valid shift: the SYN had no window scale option
	tsOptSACK       = 1 << 4 // bit 4: SACK-permitted (Linux TS_OPT_SACK)
	tsOptECN        = 1 << 5 // bit 5: ECN (Linux TS_OPT_ECN)

	// maxWScale is the largest window shift, RFC 7323 §2.3: "If a Window
	// Scale option is received with a shift.cnt value larger than 14, the
	// TCP SHOULD log the error but MUST use 14 instead of the specified
	// value."
	maxWScale = 14
)

// EncodeTS returns the TSval to send in a cookie SYN-ACK: tsval with its low
// TSBits bits replaced by o. Like Linux's cookie_init_timestamp, when the
// options are larger than tsval's low bits the result is moved back one
// 64-tick step, so it is never ahead of tsval (it lies in (tsval-64, tsval]
// modulo 2^32): timestamps sent later from the ordinary clock never go
// backwards relative to it (RFC 7323 §5.4 monotonicity). A WScale above 14
// is encoded as 14 (RFC 7323 §2.3).
//
// If the listener adds a per-connection timestamp offset (RFC 7323 §5.4),
// it must do so consistently: either add it to tsval before EncodeTS, or add
// it after and subtract it from TSecr before DecodeTS (Linux does the
// latter with tsoff in cookie_v4_check).
func EncodeTS(tsval uint32, o Options) uint32 {
	opts := tsOptions(o)
	ts := tsval&^tsMask | opts
	if opts > tsval&tsMask { // ts would be ahead of tsval: step back, Linux's "ts -= 1 << TSBITS"
		ts -= 1 << TSBits
	}
	return ts
}

// tsOptions returns the low TSBits bits encoding o.
func tsOptions(o Options) uint32 {
	opts := uint32(tsOptNoWScale)
	if o.HasWScale {
		opts = uint32(min(o.WScale, maxWScale))
	}
	if o.SACK {
		opts |= tsOptSACK
	}
	if o.ECN {
		opts |= tsOptECN
	}
	return opts
}

// DecodeTS returns the options carried in the TSecr of the ACK completing a
// cookie handshake, and whether the bits are a valid encoding. In Linux's
// layout every one of the 64 patterns is valid (window shift 0-14, 15 for
// "no window scale"; a shift above 14 cannot be expressed), so ok is always
// true with this layout; it is part of the contract so that the listener
// already rejects the ACK if a future layout has invalid patterns. The
// caller uses DecodeTS only when the ACK carries a timestamp option; without
// one the connection has no window scale, SACK or ECN (Linux
// tcp_clear_options in cookie_timestamp_decode).
func DecodeTS(tsecr uint32) (o Options, ok bool) {
	if ws := uint8(tsecr & tsOptWScaleMask); ws != tsOptNoWScale {
		o.WScale, o.HasWScale = ws, true // 0-14: the 4-bit field holds no larger shift
	}
	o.SACK = tsecr&tsOptSACK != 0
	o.ECN = tsecr&tsOptECN != 0
	return o, true
}

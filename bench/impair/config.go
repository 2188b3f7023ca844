package impair

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Impairment is what happens to the frames of one direction. The zero value
// forwards every frame unchanged and without delay.
type Impairment struct {
	// Loss is the probability that a frame is dropped (Bernoulli, per frame).
	Loss float64 `json:"loss"`
	// Dup is the probability that a frame is sent twice. The copy takes its
	// own delay draw and is never itself dropped, corrupted or held back.
	Dup float64 `json:"dup"`
	// Corrupt is the probability that one random bit of the IP payload (the
	// bytes after the IPv4 header, up to the IPv4 total length) is flipped,
	// so that the transport checksum catches it.
	Corrupt float64 `json:"corrupt"`
	// CE is the probability that an ECN-capable frame (IPv4 ECN field
	// ECT(0) or ECT(1)) is marked Congestion Experienced, as an AQM router
	// would (RFC 3168 §5); the IPv4 header checksum is updated. Not-ECT
	// frames are never marked.
	CE float64 `json:"ce"`
	// Delay is the fixed one-way delay added to every frame.
	Delay time.Duration `json:"delay"`
	// Jitter widens the delay to a uniform draw in [Delay-Jitter,
	// Delay+Jitter], clamped at zero.
	Jitter time.Duration `json:"jitter"`
	// JitterReorder lets jitter reorder frames: each frame leaves at its own
	// due time. When false (the default) a frame never leaves before the
	// frame queued ahead of it, so only Reorder reorders.
	JitterReorder bool `json:"jitter_reorder"`
	// Reorder is the probability that a frame is held back and sent right
	// after the next ReorderGap frames that are not held back themselves.
	Reorder float64 `json:"reorder"`
	// ReorderGap is how many later frames overtake a held frame; 0 means 1.
	ReorderGap int `json:"reorder_gap"`
	// ReorderTimeout bounds how long a held frame waits for the frames that
	// should overtake it, counted from its own due time; 0 means
	// DefaultReorderTimeout.
	ReorderTimeout time.Duration `json:"reorder_timeout"`
	// Rate limits the direction to this many bits per second of Ethernet
	// frame bytes (headers included); 0 means unlimited. Frames wait in the
	// bounded queue; a full queue drops (Overflow).
	Rate uint64 `json:"rate"`
	// Police is a token-bucket policer in front of the queue, in bits per
	// second of Ethernet frame bytes; 0 means none. A frame that finds
	// fewer tokens than its bytes is dropped (Policed), as a provider's
	// policer does, instead of waiting as with Rate.
	Police uint64 `json:"police"`
	// PoliceBurst is the bucket's depth in bytes; 0 means
	// DefaultPoliceBurst. The bucket starts full.
	PoliceBurst int `json:"police_burst"`
}

// DefaultPoliceBurst is the policer's bucket depth when PoliceBurst is 0.
const DefaultPoliceBurst = 64 << 10

// DefaultReorderTimeout is how long a frame held back for reordering waits
// past its due time for the frames that should overtake it.
const DefaultReorderTimeout = 10 * time.Millisecond

// DefaultLimit is the queue bound per direction in frames, the same default
// as netem's "limit 1000".
const DefaultLimit = 1000

// ErrConfig reports an invalid configuration.
var ErrConfig = errors.New("impair: invalid configuration")

// Validate reports whether the impairment's values are in range.
func (im Impairment) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", im.Loss}, {"dup", im.Dup}, {"corrupt", im.Corrupt}, {"reorder", im.Reorder}, {"ce", im.CE}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			return fmt.Errorf("%w: %s %v not in [0,1]", ErrConfig, p.name, p.v)
		}
	}
	if im.Delay < 0 || im.Jitter < 0 || im.ReorderTimeout < 0 || im.ReorderGap < 0 || im.PoliceBurst < 0 {
		return fmt.Errorf("%w: negative delay, jitter, reorder gap, reorder timeout or police burst", ErrConfig)
	}
	return nil
}

// Active reports whether the impairment changes anything.
func (im Impairment) Active() bool {
	return im.Loss > 0 || im.Dup > 0 || im.Corrupt > 0 || im.CE > 0 || im.Delay > 0 ||
		im.Jitter > 0 || im.Reorder > 0 || im.Rate > 0 || im.Police > 0
}

// String formats the impairment in the syntax ParseImpairment reads.
func (im Impairment) String() string {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + v)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	if im.Loss > 0 {
		add("loss", f(im.Loss))
	}
	if im.Dup > 0 {
		add("dup", f(im.Dup))
	}
	if im.Corrupt > 0 {
		add("corrupt", f(im.Corrupt))
	}
	if im.CE > 0 {
		add("ce", f(im.CE))
	}
	if im.Delay > 0 {
		add("delay", im.Delay.String())
	}
	if im.Jitter > 0 {
		add("jitter", im.Jitter.String())
	}
	if im.JitterReorder {
		add("jitter-reorder", "true")
	}
	if im.Reorder > 0 {
		add("reorder", f(im.Reorder))
	}
	if im.ReorderGap > 1 && im.Reorder > 0 {
		add("reorder-gap", strconv.Itoa(im.ReorderGap))
	}
	if im.ReorderTimeout > 0 && im.Reorder > 0 {
		add("reorder-timeout", im.ReorderTimeout.String())
	}
	if im.Rate > 0 {
		add("rate", strconv.FormatUint(im.Rate, 10))
	}
	if im.Police > 0 {
		add("police", strconv.FormatUint(im.Police, 10))
		if im.PoliceBurst > 0 {
			add("police-burst", strconv.Itoa(im.PoliceBurst))
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// ParseImpairment reads a comma-separated list of key=value settings, e.g.
// "loss=0.02,delay=10ms,jitter=5ms,reorder=0.25", on top of base. Keys:
// loss, dup, corrupt, ce, reorder (probabilities), delay, jitter,
// reorder-timeout (durations), reorder-gap (frames), jitter-reorder (bool),
// rate and police (bits per second, with an optional k, m or g suffix),
// police-burst (bytes). "none" or the
// empty string returns base unchanged.
func ParseImpairment(base Impairment, s string) (Impairment, error) {
	im := base
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return im, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return base, fmt.Errorf("%w: %q is not key=value", ErrConfig, kv)
		}
		var err error
		switch k {
		case "loss":
			im.Loss, err = strconv.ParseFloat(v, 64)
		case "dup":
			im.Dup, err = strconv.ParseFloat(v, 64)
		case "corrupt":
			im.Corrupt, err = strconv.ParseFloat(v, 64)
		case "ce":
			im.CE, err = strconv.ParseFloat(v, 64)
		case "reorder":
			im.Reorder, err = strconv.ParseFloat(v, 64)
		case "delay":
			im.Delay, err = time.ParseDuration(v)
		case "jitter":
			im.Jitter, err = time.ParseDuration(v)
		case "reorder-timeout":
			im.ReorderTimeout, err = time.ParseDuration(v)
		case "reorder-gap":
			im.ReorderGap, err = strconv.Atoi(v)
		case "jitter-reorder":
			im.JitterReorder, err = strconv.ParseBool(v)
		case "rate":
			im.Rate, err = ParseRate(v)
		case "police":
			im.Police, err = ParseRate(v)
		case "police-burst":
			im.PoliceBurst, err = strconv.Atoi(v)
		default:
			return base, fmt.Errorf("%w: unknown impairment %q", ErrConfig, k)
		}
		if err != nil {
			return base, fmt.Errorf("%w: %s: %v", ErrConfig, k, err)
		}
	}
	return im, im.Validate()
}

// ParseRate reads a rate in bits per second with an optional decimal suffix
// k, m or g (case-insensitive, an optional trailing "bit" or "bps" is
// ignored): "100m" is 100,000,000 bit/s.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "bps"), "bit")
	mul := uint64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mul, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mul, t = 1e6, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mul, t = 1e9, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mul) > 1e15 {
		return 0, fmt.Errorf("%w: bad rate %q", ErrConfig, s)
	}
	return uint64(v * float64(mul)), nil
}

// Config is a bridge's configuration.
type Config struct {
	// A and B are the two legs' interface names. A faces the client: frames
	// read on A are impaired by AB and written to B.
	A string `json:"a"`
	B string `json:"b"`
	// Netns, when set, is the network namespace the legs live in, as a path
	// (/var/run/netns/NAME) or a name under /var/run/netns. Run creates its
	// sockets there; the calling process may stay where it is.
	Netns string `json:"netns,omitempty"`
	// AB and BA impair the A-to-B and B-to-A directions.
	AB, BA Impairment `json:"-"`
	// Seed seeds the random decisions; the same seed and the same frame
	// sequence give the same decisions. Each direction derives its own
	// stream from it.
	Seed uint64 `json:"seed"`
	// Limit bounds each direction's queue in frames; 0 means DefaultLimit. A
	// frame that finds the queue full is dropped and counted as Overflow.
	Limit int `json:"limit"`
	// ImpairAll applies the impairments to every frame; by default
	// frames other than IPv4 and IPv6 (ARP, ...) and IPv6 neighbour
	// discovery are forwarded untouched and without delay (Impairable).
	ImpairAll bool `json:"impair_all"`
	// Duration stops the bridge after this long; 0 runs until ctx ends.
	Duration time.Duration `json:"duration"`
	// NoEthtool skips turning offloads off on the legs (for interfaces
	// prepared by the caller).
	NoEthtool bool `json:"no_ethtool"`
	// StatsInterval, when positive, calls OnStats with a snapshot this often.
	StatsInterval time.Duration `json:"-"`
	// OnStats receives periodic snapshots; it runs on its own goroutine.
	OnStats func(Stats) `json:"-"`
	// OnReady, when set, is called once both legs' sockets are open and
	// bound: from then on no frame is missed.
	OnReady func() `json:"-"`
	// Logf, when set, receives setup warnings (an offload that could not be
	// turned off, for instance).
	Logf func(format string, args ...any) `json:"-"`
}

func (c Config) validate() error {
	if c.A == "" || c.B == "" || c.A == c.B {
		return fmt.Errorf("%w: need two distinct legs, got A=%q B=%q", ErrConfig, c.A, c.B)
	}
	if c.Limit < 0 {
		return fmt.Errorf("%w: negative limit", ErrConfig)
	}
	if err := c.AB.Validate(); err != nil {
		return fmt.Errorf("a->b: %w", err)
	}
	if err := c.BA.Validate(); err != nil {
		return fmt.Errorf("b->a: %w", err)
	}
	return nil
}

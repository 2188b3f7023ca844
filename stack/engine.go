package stack

import (
	crand "crypto/rand"
	"sync/atomic"

	"github.com/xdptcp/xdptcp/flowtable"
	"github.com/xdptcp/xdptcp/stack/clock"
	"github.com/xdptcp/xdptcp/stack/tcp"
	"github.com/xdptcp/xdptcp/stack/wire"
	"github.com/xdptcp/xdptcp/xsk"
)

// Engine is one queue's protocol processing above its Port. All methods but
// Do, Stats and Close run on the loop goroutine.
type Engine struct {
	cfg       Config
	port      Port
	layer     *tcp.Layer
	stats     Stats
	addr4     flowtable.Addr // our IPv4 address, mapped; zero: no IPv4
	addr6     flowtable.Addr // our IPv6 address; zero: no IPv6
	gw4       flowtable.Addr // IPv4 gateway, mapped; zero: none
	gw6       flowtable.Addr // IPv6 gateway; zero: none
	flowK     [16]byte       // secret for the IPv6 flow labels (RFC 6437 §3)
	now       clock.Time
	ipID      uint16 // next IPv4 identification (per-loop counter)
	maxIP     int    // largest IPv4 packet (MTU)
	rx        []xsk.Desc
	tx        []xsk.Desc    // pending TX batch, cap BatchSize
	chain     []xsk.Desc    // a multi-buffer packet being built, cap xsk.MaxDescsPerPacket
	rxBuf     []byte        // a received multi-buffer frame gathered, cap MTU+14 (MultiBuffer only)
	tapBuf    []byte        // a sent multi-buffer frame gathered for the tap, cap MTU+14 (MultiBuffer only)
	csum      TxChecksummer // the port computes TCP checksums (TX metadata); nil: software
	rxts      RxTimestamper // the port stamps received frames (XDP metadata); nil: none
	kOff      int64         // with kOK: CLOCK_MONOTONIC nanoseconds at the loop clock's zero (Run)
	kOK       bool          // frames are handled at their receive time (rxTime)
	floor     clock.Time    // the latest time the TCP layer was given: no frame's time goes below it
	spare     []spareFrame  // TX frames taken ahead for the next segment (txroom.go), cap xsk.MaxDescsPerPacket
	segFrames int           // frames a full-sized segment takes: 1, more for a jumbo chain; 0 until learnt (txroom.go)
	arp       *neighCache
	ret       *neighCache // return-path cache (off-link peers, no gateway)
	pend      pendPool    // frames held for unresolved next hops (unres.go)
	unresNext clock.Time  // with frames held: when expireUnres is next due
	seg       tcp.Segment // reused for every delivered segment
	doq       *doQueue
	wakeFD    int                 // eventfd for Do wake-ups; -1 if none
	asleep    atomic.Bool         // the loop is (about to be) in Port.Wait
	woke      bool                // this iteration made another goroutine runnable (Woke); on the loop only
	peer      PeerWaker           // the port, if it wakes an in-process peer loop; nil otherwise
	tap       atomic.Pointer[Tap] // packet capture; nil when none (capture.go)

	cl       *Cluster      // the cluster this host is one of (cluster.go); nil: alone
	curFrame wire.Ethernet // with cl: the frame being handled, nil outside handleTCP
	curEnd   int           // where curFrame's IP packet ends
	fwdIn    fwdInfo       // whether curFrame was forwarded to us, by whom
	peersAt  clock.Time    // next time refreshPeers resolves the peers' MACs

	// testInput, if set, receives segments instead of the TCP layer.
	testInput func(now clock.Time, seg *tcp.Segment)
}

// NewEngine returns an engine for port with cfg (zero fields get their
// defaults; a zero cfg.TCP becomes tcp.DefaultConfig(), and its DefaultMSS
// follows the MTU: LinkMSS). now is the loop clock's current time.
func NewEngine(cfg Config, port Port, now clock.Time) *Engine {
	cfg.setDefaults()
	if cfg.TCP.DefaultMSS == 0 && cfg.TCP.MaxConnections == 0 {
		cfg.TCP = tcp.DefaultConfig()
	}
	cfg.TCP.DefaultMSS = LinkMSS(cfg.TCP.DefaultMSS, cfg.MTU)
	e := &Engine{
		cfg:  cfg,
		port: port,

		now:    now,
		maxIP:  cfg.MTU,
		rx:     make([]xsk.Desc, cfg.BatchSize),
		tx:     make([]xsk.Desc, 0, cfg.BatchSize),
		arp:    newNeighCache(cfg.ARPCacheSize),
		ret:    newNeighCache(cfg.ARPCacheSize),
		doq:    newDoQueue(cfg.DoQueueSize),
		wakeFD: newWakeFD(),
		pend:   newPendPool(cfg.UnresQlenTotal),

		spare:     make([]spareFrame, 0, xsk.MaxDescsPerPacket),
		segFrames: 1,
	}
	if cfg.MultiBuffer {
		e.segFrames = 0 // learnt from the port's first frame (TxRoom)
	}
	e.arp.onEvict = e.dropHeld
	e.peer, _ = port.(PeerWaker)
	e.rxts, _ = port.(RxTimestamper)
	if c, ok := port.(TxChecksummer); ok && c.TxChecksumOffload() {
		e.csum = c
	}
	if cfg.MultiBuffer {
		e.chain = make([]xsk.Desc, 0, xsk.MaxDescsPerPacket)
		e.rxBuf = make([]byte, 0, cfg.MTU+wire.EthernetHeaderLen)
		e.tapBuf = make([]byte, 0, cfg.MTU+wire.EthernetHeaderLen)
	}
	if cfg.Addr != [4]byte{} {
		e.addr4 = flowtable.AddrFrom4(cfg.Addr)
	}
	if cfg.Gateway != [4]byte{} {
		e.gw4 = flowtable.AddrFrom4(cfg.Gateway)
	}
	e.addr6, e.gw6 = cfg.Addr6, cfg.Gateway6
	crand.Read(e.flowK[:])
	e.layer = tcp.NewLayer(&e.cfg.TCP, e, now)
	return e
}

// LinkMSS returns the MSS to advertise on a link of IP MTU mtu when the
// mss setting is mss: MTU-40, as Linux derives it from the device MTU
// (tcp_mss_clamp / tcp_advertise_mss: dst_metric_advmss), when mss is 0
// or the default 1460 (so a jumbo link advertises 8960 without
// configuration); otherwise mss capped at MTU-40.
func LinkMSS(mss, mtu int) int {
	m := mtu - wire.IPv4MinHeaderLen - wire.TCPMinHeaderLen
	if mss == 0 || mss == tcp.DefaultMSSValue || mss > m {
		return m
	}
	return mss
}

// TCP returns the engine's TCP layer. Use it on the loop only (from Do
// when the loop is running).
func (e *Engine) TCP() *tcp.Layer { return e.layer }

// Stats returns the engine's counters; safe to read from any goroutine.
func (e *Engine) Stats() *Stats { return &e.stats }

// Config returns the configuration with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Close releases the engine's wake-up eventfd. Call it after Run returned.
func (e *Engine) Close() error {
	fd := e.wakeFD
	e.wakeFD = -1
	return closeWakeFD(fd)
}

// Do asks the loop to run fn soon, from any goroutine. It returns false,
// running nothing, if the queue is full (Config.DoQueueSize).
func (e *Engine) Do(fn func()) bool {
	if !e.doq.push(fn) {
		e.stats.DoQueueFull.Add(1)
		return false
	}
	if e.asleep.Load() && e.asleep.CompareAndSwap(true, false) {
		wake(e.wakeFD)
	}
	return true
}

// Woke tells the loop that the current iteration made another goroutine
// runnable (an application goroutine it signalled): before sleeping, Run
// then lets it run first (see Run). On the loop only.
func (e *Engine) Woke() { e.woke = true }

// Poll runs one loop iteration at now: a batch of received frames through
// HandleFrame, due TCP timers, queued Do functions, then the pending TX
// batch to the port, a Flush and Config.AfterPoll. It reports whether
// there was any work.
func (e *Engine) Poll(now clock.Time) bool {
	e.now = now
	work := false
	if n := e.port.Receive(e.rx); n > 0 {
		work = true
		t := e.tap.Load()
		for i := 0; i < n; {
			at := e.rxTime(e.rx[i], now)
			var f []byte
			f, i = e.gather(e.rxBuf, e.rx[:n], i, e.port.Frame)
			if f == nil {
				e.stats.drop(DropRxTooBig)
				continue
			}
			if t != nil {
				t.Put(at, DirIn, f)
			}
			e.handleFrame(at, f)
		}
		if t != nil {
			t.Flush()
		}
		e.now = now // what the batch sends goes at the batch's time
		// One ACK decision and one transmit round per connection for
		// its segments of the batch (GRO-like, stack/tcp batch.go).
		e.layer.EndBatch(now)
		e.port.Release(e.rx[:n])
	}
	// Timers before the queued functions: Advance moves the TCP layer's
	// clock to now, which the connection calls in them (Write, Close,
	// ...) use to stamp and arm timers; run first, they would use the
	// time of the last received segment or timer, and a timer armed
	// from it (a tail loss probe after Close) could fire at once.
	e.layer.Advance(now)
	for i := len(e.doq.cells); i > 0; i-- {
		fn := e.doq.pop()
		if fn == nil {
			break
		}
		work = true
		fn()
	}
	if e.cl != nil {
		e.refreshPeers(now)
	}
	if e.pend.pkts > 0 && !now.Before(e.unresNext) {
		e.expireUnres(now)
	}
	if e.layer.TxBlocked() && e.layer.ResumeTx(now) {
		work = true // connections that waited for TX frames sent (txroom.go)
	}
	if len(e.tx) > 0 {
		work = true
		e.flushTx()
	}
	e.port.Flush()
	e.floor = now
	if e.cfg.AfterPoll != nil {
		e.cfg.AfterPoll()
	}
	return work
}

// rxTime is the time a received frame is handled at: when the port says
// it arrived (RxTimestamper), kept at or after the latest time the TCP
// layer was given (the previous frame's, or the previous batch's) and at
// or before now, the batch's; without one, now.
func (e *Engine) rxTime(d xsk.Desc, now clock.Time) clock.Time {
	if !e.kOK {
		return now
	}
	at := now // a frame without a time: the batch's, and no later frame goes below it
	if k, ok := e.rxts.RxTimestamp(d); ok {
		at = min(max(clock.Time(k-e.kOff), e.floor), now)
	}
	e.floor = at
	return at
}

// HandleFrame processes one received Ethernet frame at now: everything it
// causes (replies, TCP input and output) happens before it returns, with
// frames to send appended to the TX batch. frame is not kept.
func (e *Engine) HandleFrame(now clock.Time, frame []byte) {
	e.handleFrame(now, frame)
	e.layer.EndBatch(now)
}

// handleFrame is HandleFrame as one frame of an RX batch: the TCP layer's
// answers to it wait for the batch's EndBatch.
func (e *Engine) handleFrame(now clock.Time, frame []byte) {
	e.now = now
	inc(&e.stats.FramesRx)
	eth := wire.Ethernet(frame)
	if !eth.IsValid() {
		e.stats.drop(DropEthHeader)
		return
	}
	// Our MAC, broadcast (ARP), or an IPv6 multicast MAC (33:33:..., RFC
	// 2464 §7: neighbour solicitations go to the solicited-node group).
	if dst := eth.Dst(); dst != e.cfg.MAC && dst != wire.BroadcastMAC && (dst[0] != 0x33 || dst[1] != 0x33) {
		e.stats.drop(DropEthNotOurs)
		return
	}
	switch eth.Type() {
	case wire.EtherTypeARP:
		e.handleARP(eth)
	case wire.EtherTypeIPv4:
		e.handleIPv4(now, eth)
	case wire.EtherTypeIPv6:
		e.handleIPv6(now, eth)
	default:
		e.stats.drop(DropEthType)
	}
}

// gather returns the frame that starts at descs[i] and the index after
// it. A frame in one descriptor is returned in place; one in several
// (multi-buffer: all but the last marked xsk.DescContd) is copied into buf
// (of capacity MTU+14), or is nil when it does not fit or its last
// descriptor is missing (ports hand out whole frames; this is defence).
func (e *Engine) gather(buf []byte, descs []xsk.Desc, i int, frame func(xsk.Desc) []byte) ([]byte, int) {
	if descs[i].Options&xsk.DescContd == 0 {
		return frame(descs[i]), i + 1
	}
	buf = buf[:0]
	fits, ended := true, false
	for ; i < len(descs) && !ended; i++ {
		if p := frame(descs[i]); len(p) <= cap(buf)-len(buf) {
			buf = append(buf, p...)
		} else {
			fits = false
		}
		ended = descs[i].Options&xsk.DescContd == 0
	}
	if !fits || !ended {
		return nil, i
	}
	return buf, i
}

// allocTx returns a TX frame, a spare one first (txroom.go), counting
// no_tx_frame when none is free.
func (e *Engine) allocTx() (xsk.Desc, []byte, bool) {
	if n := len(e.spare); n > 0 {
		f := e.spare[n-1]
		e.spare = e.spare[:n-1]
		return f.d, f.b, true
	}
	d, b, ok := e.port.AllocTx()
	if !ok {
		e.stats.drop(DropNoTxFrame)
	}
	return d, b, ok
}

// queueTx appends a built frame of n bytes to the TX batch, transmitting the
// batch when it is full.
func (e *Engine) queueTx(d xsk.Desc, n int) {
	d.Len = uint32(n)
	e.tx = append(e.tx, d)
	if len(e.tx) == cap(e.tx) {
		e.flushTx()
	}
}

// queueChain appends a multi-buffer packet (descriptors with their Len
// and Options set) to the TX batch whole, transmitting the batch first
// when the packet does not fit in it.
func (e *Engine) queueChain(ds []xsk.Desc) {
	if len(e.tx)+len(ds) > cap(e.tx) {
		e.flushTx()
	}
	e.tx = append(e.tx, ds...)
	if len(e.tx) == cap(e.tx) {
		e.flushTx()
	}
}

// flushTx hands the TX batch to the port; frames it does not take are
// freed and counted (tx_ring_full, once per packet).
func (e *Engine) flushTx() {
	n := e.port.Transmit(e.tx)
	if n < 0 {
		n = 0
	}
	if n > len(e.tx) {
		n = len(e.tx)
	}
	e.stats.FramesTx.Store(e.stats.FramesTx.Load() + uint64(n))
	if t := e.tap.Load(); t != nil {
		frameCap := func(d xsk.Desc) []byte { return e.port.FrameCap(d)[:d.Len] }
		for i := 0; i < n; {
			var f []byte
			if f, i = e.gather(e.tapBuf, e.tx[:n], i, frameCap); f != nil {
				t.Put(e.now, DirOut, f)
			}
		}
		t.Flush()
	}
	for _, d := range e.tx[n:] {
		e.port.FreeTx(d)
		if d.Options&xsk.DescContd == 0 {
			e.stats.drop(DropTxRingFull)
		}
	}
	e.tx = e.tx[:0]
}

// onLink reports whether a is in the on-link prefix of its family (IPv6
// link-local addresses, fe80::/10, always are: RFC 4861 §5.2).
func (e *Engine) onLink(a flowtable.Addr) bool {
	if a.Is4() {
		return !e.addr4.IsZero() && samePrefix(&a, &e.addr4, 96+e.cfg.PrefixLen)
	}
	if a[0] == 0xfe && a[1]&0xc0 == 0x80 {
		return true
	}
	return !e.addr6.IsZero() && samePrefix(&a, &e.addr6, e.cfg.PrefixLen6)
}

// samePrefix reports whether a and b agree in their first bits bits.
func samePrefix(a, b *flowtable.Addr, bits int) bool {
	i := 0
	for ; bits >= 8; bits -= 8 {
		if a[i] != b[i] {
			return false
		}
		i++
	}
	if bits == 0 {
		return true
	}
	m := byte(0xff) << (8 - bits)
	return a[i]&m == b[i]&m
}

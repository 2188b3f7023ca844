package xdptcp

// Packet capture of the frames the loops receive and transmit (tcpdump
// on the interface sees none of them: XDP takes them before the kernel's
// taps and AF_XDP transmit bypasses them).

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/net/bpf"

	"github.com/xdptcp/xdptcp/stack"
)

// ErrCaptureBusy is returned by StartCapture while another capture runs:
// one at a time, so that captures cannot multiply the copies a loop makes.
var ErrCaptureBusy = errors.New("a packet capture is already running")

// DefaultCaptureBuffer is the ring each loop fills for a capture when
// CaptureOptions.Buffer is 0: frames beyond it, while the reader lags, are
// dropped and counted.
const DefaultCaptureBuffer = 4 << 20

// CaptureOptions shape a capture.
type CaptureOptions struct {
	// Filter is a classic BPF program run on each Ethernet frame (as
	// libpcap compiles tcpdump's expressions for DLT_EN10MB, e.g. the
	// output of `tcpdump -ddd -y EN10MB EXPR`); nil keeps every frame.
	Filter []bpf.RawInstruction
	// Snaplen keeps at most this many bytes of a frame (0: 262144).
	Snaplen int
	// Queue captures only this queue's loop; -1 all loops.
	Queue int
	// Buffer is the ring per loop in bytes (0: DefaultCaptureBuffer).
	Buffer int
}

// Capture is a running capture. Read its packets from one goroutine.
type Capture struct {
	s     *Stack
	taps  []*stack.Tap
	queue []int
	epoch time.Time
	next  int // round-robin start
	done  chan struct{}
	// The record of the last packet returned, consumed at the next read.
	held    stack.TapRecord
	heldTap *stack.Tap
	once    sync.Once
}

// CapturedPacket is one frame; Data is valid until the next ReadPacket.
type CapturedPacket struct {
	Time    time.Time
	Queue   int
	Dir     stack.Direction
	OrigLen int
	Data    []byte
}

// CaptureStats count a capture's frames over all loops.
type CaptureStats struct {
	Captured uint64 // frames the filter accepted and the ring kept
	Dropped  uint64 // frames the filter accepted that found the ring full (the reader lagged)
	Filtered uint64 // frames the filter refused
}

// StartCapture attaches a capture to the loops. With no capture running
// a loop pays one atomic load per batch.
func (s *Stack) StartCapture(o CaptureOptions) (*Capture, error) {
	var prog []bpf.Instruction
	if len(o.Filter) > 0 {
		var ok bool
		if prog, ok = bpf.Disassemble(o.Filter); !ok {
			return nil, errors.Join(ErrBadConfig, errors.New("capture filter: an instruction is not classic BPF"))
		}
	}
	buf := o.Buffer
	if buf <= 0 {
		buf = DefaultCaptureBuffer
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, net.ErrClosed
	}
	if s.capture != nil {
		return nil, ErrCaptureBusy
	}
	c := &Capture{s: s, epoch: s.clk.Epoch(), done: make(chan struct{})}
	for _, l := range s.loops {
		if o.Queue >= 0 && l.Queue != o.Queue {
			continue
		}
		t, err := stack.NewTap(buf, o.Snaplen, prog)
		if err != nil {
			return nil, errors.Join(ErrBadConfig, err)
		}
		c.taps = append(c.taps, t)
		c.queue = append(c.queue, l.Queue)
	}
	if len(c.taps) == 0 {
		return nil, errors.Join(ErrBadConfig, errors.New("no loop serves that queue"))
	}
	i := 0
	for _, l := range s.loops {
		if o.Queue >= 0 && l.Queue != o.Queue {
			continue
		}
		l.engine.SetTap(c.taps[i])
		i++
	}
	s.capture = c
	return c, nil
}

// ReadPacket returns the next captured frame, waiting for one until ctx
// ends or the capture is closed (io.EOF).
func (c *Capture) ReadPacket(ctx context.Context) (CapturedPacket, error) {
	for {
		if p, ok := c.poll(); ok {
			return p, nil
		}
		select {
		case <-c.done:
			if p, ok := c.poll(); ok { // what the loops wrote before Close
				return p, nil
			}
			return CapturedPacket{}, io.EOF
		case <-ctx.Done():
			return CapturedPacket{}, ctx.Err()
		case <-c.wake():
		case <-time.After(100 * time.Millisecond):
			// with several loops the wake-up may come from another tap
		}
	}
}

// TryReadPacket returns the next captured frame if one is waiting.
func (c *Capture) TryReadPacket() (CapturedPacket, bool) { return c.poll() }

// release consumes the record of the packet returned last.
func (c *Capture) release() {
	if c.heldTap != nil {
		c.heldTap.Advance(c.held)
		c.heldTap = nil
	}
}

// poll returns the next record of any tap, round robin.
func (c *Capture) poll() (CapturedPacket, bool) {
	c.release()
	for k := 0; k < len(c.taps); k++ {
		i := (c.next + k) % len(c.taps)
		t := c.taps[i]
		r, ok := t.Next()
		if !ok {
			continue
		}
		c.next = i + 1
		c.held, c.heldTap = r, t
		return CapturedPacket{Time: c.epoch.Add(time.Duration(r.Time)), Queue: c.queue[i], Dir: r.Dir, OrigLen: r.OrigLen, Data: r.Data}, true
	}
	return CapturedPacket{}, false
}

func (c *Capture) wake() <-chan struct{} {
	if len(c.taps) == 1 {
		return c.taps[0].Wake()
	}
	return c.taps[c.next%len(c.taps)].Wake()
}

// Stats returns the counts so far.
func (c *Capture) Stats() CaptureStats {
	var st CaptureStats
	for _, t := range c.taps {
		st.Captured += t.Captured.Load()
		st.Dropped += t.Dropped.Load()
		st.Filtered += t.Filtered.Load()
	}
	return st
}

// Close detaches the capture from the loops; ReadPacket then returns what
// is left, then io.EOF.
func (c *Capture) Close() error {
	c.once.Do(func() {
		s := c.s
		s.mu.Lock()
		for _, l := range s.loops {
			for _, t := range c.taps {
				if l.engine != nil {
					l.engine.SetTapIf(t, nil)
				}
			}
		}
		if s.capture == c {
			s.capture = nil
		}
		s.mu.Unlock()
		close(c.done)
	})
	return nil
}

// PcapngWriter writes captured frames as pcapng (one Ethernet interface;
// each Enhanced Packet Block carries its direction in epb_flags, which
// Wireshark shows and tcpdump reads).
type PcapngWriter struct {
	w   io.Writer
	buf []byte
}

// NewPcapngWriter writes the section and interface headers.
func NewPcapngWriter(w io.Writer, snaplen int, ifname string) (*PcapngWriter, error) {
	p := &PcapngWriter{w: w}
	// Section Header Block: byte-order magic, version 1.0, length unknown.
	shb := make([]byte, 28)
	le := binary.LittleEndian
	le.PutUint32(shb[0:], 0x0A0D0D0A)
	le.PutUint32(shb[4:], 28)
	le.PutUint32(shb[8:], 0x1A2B3C4D)
	le.PutUint16(shb[12:], 1)
	le.PutUint16(shb[14:], 0)
	le.PutUint64(shb[16:], ^uint64(0))
	le.PutUint32(shb[24:], 28)
	// Interface Description Block: LINKTYPE_ETHERNET, snaplen,
	// if_name, if_tsresol 9 (nanoseconds).
	var opts []byte
	opts = appendOpt(opts, 2, []byte(ifname))
	opts = appendOpt(opts, 9, []byte{9})
	opts = appendOpt(opts, 0, nil)
	idbLen := 20 + len(opts)
	idb := make([]byte, idbLen)
	le.PutUint32(idb[0:], 1)
	le.PutUint32(idb[4:], uint32(idbLen))
	le.PutUint16(idb[8:], 1) // LINKTYPE_ETHERNET
	le.PutUint32(idb[12:], uint32(snaplen))
	copy(idb[16:], opts)
	le.PutUint32(idb[idbLen-4:], uint32(idbLen))
	if _, err := w.Write(append(shb, idb...)); err != nil {
		return nil, err
	}
	return p, nil
}

func appendOpt(b []byte, code uint16, v []byte) []byte {
	var h [4]byte
	binary.LittleEndian.PutUint16(h[0:], code)
	binary.LittleEndian.PutUint16(h[2:], uint16(len(v)))
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// WritePacket writes one Enhanced Packet Block.
func (p *PcapngWriter) WritePacket(pk CapturedPacket) error {
	le := binary.LittleEndian
	pad := (4 - len(pk.Data)%4) % 4
	n := 28 + len(pk.Data) + pad + 8 + 4 + 4 // header, data, epb_flags option, opt_endofopt, trailing length
	b := p.buf[:0]
	if cap(b) < n {
		b = make([]byte, 0, n)
	}
	b = b[:n]
	ts := uint64(pk.Time.UnixNano())
	le.PutUint32(b[0:], 6)
	le.PutUint32(b[4:], uint32(n))
	le.PutUint32(b[8:], 0) // interface 0
	le.PutUint32(b[12:], uint32(ts>>32))
	le.PutUint32(b[16:], uint32(ts))
	le.PutUint32(b[20:], uint32(len(pk.Data)))
	le.PutUint32(b[24:], uint32(pk.OrigLen))
	copy(b[28:], pk.Data)
	o := 28 + len(pk.Data)
	clear(b[o : o+pad])
	o += pad
	le.PutUint16(b[o:], 2) // epb_flags
	le.PutUint16(b[o+2:], 4)
	le.PutUint32(b[o+4:], uint32(pk.Dir)) // bits 0-1: 1 inbound, 2 outbound
	o += 8
	le.PutUint32(b[o:], 0) // opt_endofopt
	o += 4
	le.PutUint32(b[o:], uint32(n))
	p.buf = b
	_, err := p.w.Write(b)
	return err
}

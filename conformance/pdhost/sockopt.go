package pdhost

import (
	"encoding/binary"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdptcp/xdptcp/stack/tcp"
)

func putInt(b []byte, v int) int {
	if len(b) < 4 {
		return 0
	}
	binary.NativeEndian.PutUint32(b, uint32(int32(v)))
	return 4
}

func getInt(v []byte) (int, Errno) {
	if len(v) < 4 {
		return 0, syscall.EINVAL
	}
	return int(int32(binary.NativeEndian.Uint32(v))), 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Getsockopt is getsockopt(2); it returns how many bytes of b it filled.
func (h *Host) Getsockopt(fd, level, name int, b []byte) (int, Errno) {
	s, e := h.get(fd)
	if e != 0 {
		return 0, e
	}
	o := &s.opts
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_ERROR:
			v := s.soErr
			s.soErr = 0
			if v == 0 && s.cs != nil {
				h.do(func() {
					if s.cs.gone && s.cs.err != nil && !s.cs.errRep {
						s.cs.errRep = true
						v = errnoOf(s.cs.err)
					}
				})
			}
			return putInt(b, int(v)), 0
		case unix.SO_REUSEADDR:
			return putInt(b, o.reuseAddr), 0
		case unix.SO_KEEPALIVE:
			return putInt(b, b2i(o.keepAlive)), 0
		case unix.SO_TYPE:
			return putInt(b, unix.SOCK_STREAM), 0
		case unix.SO_LINGER:
			if len(b) < 8 {
				return 0, syscall.EINVAL
			}
			putInt(b, b2i(o.lingerOn))
			putInt(b[4:], o.lingerSecs)
			return 8, 0
		case unix.SO_MEMINFO:
			// Linux's sk_meminfo (SK_MEMINFO_*), as far as xdptcp
			// knows: the receive queue's pages, the buffer sizes,
			// unacknowledged bytes and the send queue's charge;
			// forward alloc, option memory, backlog and drops 0.
			var m [9]uint32
			if s.cs != nil {
				h.do(func() {
					in := s.cs.c.Info()
					m[0], m[1], m[2], m[3], m[5] = uint32(in.RmemAlloc), uint32(in.RcvBuf), uint32(in.SendQ), uint32(in.SndBuf), uint32(in.WmemQueued)
				})
			}
			n := 0
			for i := 0; i < len(m) && n+4 <= len(b); i++ {
				binary.NativeEndian.PutUint32(b[n:], m[i])
				n += 4
			}
			return n, 0
		case unix.SO_RCVBUF, unix.SO_SNDBUF:
			v := 0
			h.do(func() {
				cfg := h.eng.TCP().Config()
				if name == unix.SO_RCVBUF {
					v = cfg.Rmem[1]
					switch {
					case s.cs != nil:
						v = s.cs.c.RecvBuffer() // sk_rcvbuf: SO_RCVBUF doubled, or the buffer's size
					case o.rcvBufSet:
						v = max(2*min(max(o.rcvBuf, 0), cfg.RmemMax), 2304) // Linux: doubled, SOCK_MIN_RCVBUF
					}
				} else {
					v = cfg.Wmem[1]
					switch {
					case s.cs != nil:
						v = s.cs.c.SendBuffer() // sk_sndbuf: autotuned, or SO_SNDBUF doubled
					case o.sndBufSet:
						v = sndBufOf(h, o.sndBuf)
					}
				}
			})
			return putInt(b, v), 0
		}
	case unix.IPPROTO_IP:
		switch name {
		case unix.IP_TOS:
			return putInt(b, int(o.tos)), 0
		case unix.IP_MTU_DISCOVER:
			return putInt(b, o.pmtudisc), 0
		}
	case unix.IPPROTO_TCP:
		switch name {
		case unix.TCP_NODELAY:
			return putInt(b, b2i(o.noDelay)), 0
		case unix.TCP_CONGESTION:
			// Linux copies the name's TCP_CA_NAME_MAX-byte array,
			// NUL-padded, up to optlen.
			var name string
			h.do(func() {
				switch {
				case s.cs != nil:
					name = s.cs.c.Info().CongestionControl
				case o.cc != "":
					name = o.cc
				default:
					name = h.eng.TCP().Config().CongestionControl
				}
			})
			var full [tcpCANameMax]byte
			copy(full[:tcpCANameMax-1], name)
			return copy(b, full[:]), 0
		case unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT:
			v := 0
			h.do(func() {
				cfg := h.eng.TCP().Config()
				switch name {
				case unix.TCP_KEEPIDLE:
					v = int(cfg.KeepaliveTime / time.Second)
					if o.keepIdle > 0 {
						v = o.keepIdle
					}
				case unix.TCP_KEEPINTVL:
					v = int(cfg.KeepaliveIntvl / time.Second)
					if o.keepIntvl > 0 {
						v = o.keepIntvl
					}
				default:
					v = cfg.KeepaliveProbes
					if o.keepCnt > 0 {
						v = o.keepCnt
					}
				}
			})
			return putInt(b, v), 0
		case unix.TCP_MAXSEG:
			// Linux: the current send MSS (mss_cache) once connected;
			// before, the user MSS if set, else TCP_MSS_DEFAULT (536).
			v := 536
			if o.maxSeg > 0 {
				v = o.maxSeg
			}
			if s.cs != nil {
				h.do(func() {
					if !s.cs.gone {
						v = s.cs.c.Info().SndMSS
					}
				})
			}
			return putInt(b, v), 0
		case unix.TCP_USER_TIMEOUT:
			return putInt(b, o.userTimeout), 0
		case unix.TCP_SYNCNT:
			v := o.synCnt
			h.do(func() {
				switch {
				case s.cs != nil:
					v = s.cs.c.SynCount()
				case v == 0:
					v = h.eng.TCP().Config().SynRetries
				}
			})
			return putInt(b, v), 0
		case unix.TCP_QUICKACK:
			v := 1
			if s.cs != nil {
				h.do(func() { v = b2i(s.cs.c.QuickAck()) })
			}
			return putInt(b, v), 0
		case unix.TCP_LINGER2:
			v := o.linger2
			if v == 0 {
				h.do(func() { v = int(h.eng.TCP().Config().FinTimeout / time.Second) })
			}
			return putInt(b, v), 0
		case unix.TCP_NOTSENT_LOWAT:
			return putInt(b, int(int32(o.notsentLow))), 0
		case unix.TCP_INQ:
			return putInt(b, b2i(o.inq)), 0
		case unix.TCP_CORK:
			return putInt(b, b2i(o.cork)), 0
		case unix.TCP_THIN_LINEAR_TIMEOUTS:
			return putInt(b, b2i(o.thinLTO)), 0
		case unix.TCP_CC_INFO:
			return 0, 0 // CUBIC and Reno have none (Linux: length 0)
		case unix.TCP_INFO:
			var in *tcp.TCPInfo
			if s.cs != nil {
				var ci tcp.TCPInfo
				h.do(func() { ci = s.cs.c.Info() })
				if s.cs.gone {
					ci.State = tcp.StateClosed
				}
				in = &ci
			}
			var full [tcpInfoLen]byte
			tcpInfo(full[:], s, in)
			return copy(b, full[:]), 0
		}
	}
	return 0, syscall.ENOPROTOOPT
}

// tcpCANameMax is Linux's TCP_CA_NAME_MAX: a congestion control's name
// and its NUL.
const tcpCANameMax = 16

// setCongestion is setsockopt TCP_CONGESTION (Linux do_tcp_setsockopt):
// the name up to a NUL or TCP_CA_NAME_MAX-1 bytes; one xdptcp does not
// have is ENOENT. On a listener it applies to the connections it accepts
// (tcp.ListenOptions.CongestionControl), before connect from the SYN on,
// on a connection at once (tcp.Conn.SetCongestionControl).
func (h *Host) setCongestion(s *sock, v []byte) Errno {
	if len(v) < 1 {
		return syscall.EINVAL
	}
	v = v[:min(len(v), tcpCANameMax-1)]
	for i, ch := range v {
		if ch == 0 {
			v = v[:i]
			break
		}
	}
	name := string(v)
	if name != "reno" && name != "cubic" && name != "bbr" { // Linux's names; xdptcp also takes "newreno", Linux not
		return syscall.ENOENT
	}
	s.opts.cc = name
	if s.ln != nil {
		h.do(func() { s.ln.SetCongestionControl(name) })
		return 0
	}
	if s.cs != nil {
		var err error
		h.do(func() { err = s.cs.c.SetCongestionControl(name) })
		return errnoOf(err)
	}
	return 0
}

// Setsockopt is setsockopt(2).
func (h *Host) Setsockopt(fd, level, name int, v []byte) Errno {
	s, e := h.get(fd)
	if e != 0 {
		return e
	}
	o := &s.opts
	apply := func() {
		if s.cs != nil {
			h.do(func() { h.applyOpts(s) })
		}
	}
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_REUSEADDR, unix.SO_REUSEPORT:
			n, e := getInt(v)
			if e != 0 {
				return e
			}
			o.reuseAddr = n
			return 0
		case unix.SO_KEEPALIVE:
			n, e := getInt(v)
			if e != 0 {
				return e
			}
			o.keepAlive = n != 0
			apply()
			return 0
		case unix.SO_LINGER:
			if len(v) < 8 {
				return syscall.EINVAL
			}
			on, _ := getInt(v)
			secs, _ := getInt(v[4:])
			o.lingerOn, o.lingerSecs = on != 0, secs
			apply()
			return 0
		case unix.SO_RCVBUF, unix.SO_SNDBUF:
			n, e := getInt(v)
			if e != 0 {
				return e
			}
			if name == unix.SO_RCVBUF {
				o.rcvBuf, o.rcvBufSet = n, true
				apply() // Conn.SetRecvBuffer; before listen/connect also the window scale
				return 0
			}
			o.sndBuf, o.sndBufSet = n, true
			apply()
			return 0
		}
	case unix.IPPROTO_IP:
		// Linux do_ip_setsockopt: an int, or one byte when optlen < 4.
		n := 0
		switch {
		case len(v) >= 4:
			n, _ = getInt(v)
		case len(v) >= 1:
			n = int(v[0])
		default:
			return syscall.EINVAL
		}
		if name == unix.IP_TOS {
			// For TCP the ECN bits are dropped: marking stays the stack's.
			o.tos = uint8(n) &^ 3
			apply()
			return 0
		}
		if name == unix.IP_MTU_DISCOVER {
			// Recorded for getsockopt; xdptcp keeps DF and PMTU
			// discovery whatever the mode (README "Conformance").
			if n < unix.IP_PMTUDISC_DONT || n > unix.IP_PMTUDISC_OMIT {
				return syscall.EINVAL
			}
			o.pmtudisc = n
			return 0
		}
	case unix.IPPROTO_TCP:
		if name == unix.TCP_CONGESTION {
			return h.setCongestion(s, v)
		}
		n, e := getInt(v)
		if e != 0 {
			return e
		}
		switch name {
		case unix.TCP_NODELAY:
			o.noDelay = n != 0
			apply()
			return 0
		case unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL:
			if n < 1 || n > 32767 { // MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
				return syscall.EINVAL
			}
			if name == unix.TCP_KEEPIDLE {
				o.keepIdle = n
			} else {
				o.keepIntvl = n
			}
			apply()
			return 0
		case unix.TCP_KEEPCNT:
			if n < 1 || n > 127 { // MAX_TCP_KEEPCNT
				return syscall.EINVAL
			}
			o.keepCnt = n
			return 0
		case unix.TCP_MAXSEG:
			if n < 0 || (n > 0 && (n < 88 || n > 32767)) { // TCP_MIN_MSS 88, MAX_TCP_WINDOW
				return syscall.EINVAL
			}
			o.maxSeg = n
			if s.ln != nil {
				h.do(func() { s.ln.SetMSS(n) }) // Linux: inherited by the connections it accepts
			}
			return 0
		case unix.TCP_CORK:
			o.cork = n != 0
			if s.cs != nil {
				h.do(func() { s.cs.c.SetCork(o.cork) })
			}
			return 0
		case unix.TCP_INQ:
			if n < 0 || n > 1 {
				return syscall.EINVAL
			}
			o.inq = n == 1
			return 0
		case unix.TCP_THIN_LINEAR_TIMEOUTS:
			if n < 0 || n > 1 {
				return syscall.EINVAL // Linux: do_tcp_setsockopt
			}
			o.thinLTO = n == 1
			if s.cs != nil {
				h.do(func() { s.cs.c.SetThinLinearTimeouts(o.thinLTO) })
			}
			return 0
		case unix.TCP_SYNCNT:
			if n < 1 || n > tcp.MaxTCPSynCnt {
				return syscall.EINVAL // Linux do_tcp_setsockopt
			}
			o.synCnt = n
			if s.ln != nil {
				h.do(func() { s.ln.SetSynCount(n) }) // its SYN-ACKs
			}
			apply()
			return 0
		case unix.TCP_QUICKACK:
			// An action on the connection's ACK state, not an option
			// kept: a listener's children start afresh (Linux
			// inet_csk_clone_lock clears icsk_ack); before connect it
			// is not applied (README "Conformance").
			if s.cs != nil {
				h.do(func() { s.cs.c.SetQuickAck(n) })
			}
			return 0
		case unix.TCP_LINGER2:
			o.linger2 = max(-1, min(n, tcp.TCPFinTimeoutMax)) // Linux: below 0 is -1, above TCP_FIN_TIMEOUT_MAX is it
			apply()
			return 0
		case unix.TCP_USER_TIMEOUT:
			if n < 0 {
				return syscall.EINVAL
			}
			o.userTimeout = n
			apply()
			return 0
		case unix.TCP_NOTSENT_LOWAT:
			o.notsentLow = uint32(n) // Linux takes any int as a u32
			apply()
			return 0
		}
	}
	return syscall.ENOPROTOOPT
}

// Poll event bits (Linux).
const (
	pollIn     = unix.POLLIN
	pollOut    = unix.POLLOUT
	pollErr    = unix.POLLERR
	pollHup    = unix.POLLHUP
	pollRdNorm = 0x40  // POLLRDNORM (asm-generic/poll.h)
	pollWrNorm = 0x100 // POLLWRNORM (asm-generic/poll.h)
	pollRdHup  = unix.POLLRDHUP
	pollNval   = unix.POLLNVAL
)

// readiness is Linux's tcp_poll for s. On the loop.
func (h *Host) readiness(s *sock) uint32 {
	if s.epoll != nil {
		return 0
	}
	if s.ln != nil {
		if s.ln.AcceptQueueLen() > 0 {
			return pollIn | pollRdNorm
		}
		return 0
	}
	cs := s.cs
	if cs == nil {
		return pollOut | pollHup // TCP_CLOSE, never connected
	}
	var m uint32
	st := cs.c.State()
	if cs.gone {
		st = tcp.StateClosed
	}
	in := cs.c.Info()
	rcvShut := cs.eof || s.shutRd
	if cs.gone && cs.err != nil {
		rcvShut = true
	}
	sndShut := s.shutWr || cs.gone
	if (rcvShut && sndShut) || st == tcp.StateClosed {
		m |= pollHup
	}
	if rcvShut {
		m |= pollIn | pollRdNorm | pollRdHup
	}
	if st != tcp.StateSynSent && st != tcp.StateSynReceived || cs.opened {
		if in.RecvQ > 0 {
			m |= pollIn | pollRdNorm
		}
		if sndShut {
			m |= pollOut | pollWrNorm
		} else if cs.opened && cs.c.Writable() {
			m |= pollOut | pollWrNorm
		}
	}
	if cs.gone && cs.err != nil && !cs.errRep {
		m |= pollErr
	}
	return m
}

// PollFd is struct pollfd.
type PollFd struct {
	Fd      int32
	Events  int16
	Revents int16
}

// Poll is poll(2) over xdptcp sockets (timeout in ms, negative: none).
func (h *Host) Poll(fds []PollFd, timeout int) (int, Errno) {
	socks := make([]*sock, len(fds))
	for i := range fds {
		socks[i], _ = h.get(int(fds[i].Fd))
	}
	n := 0
	scan := func() bool {
		n = 0
		for i := range fds {
			fds[i].Revents = 0
			if fds[i].Fd < 0 {
				continue
			}
			if socks[i] == nil {
				fds[i].Revents = pollNval
				n++
				continue
			}
			m := h.readiness(socks[i]) & (uint32(uint16(fds[i].Events)) | pollErr | pollHup)
			fds[i].Revents = int16(m)
			if m != 0 {
				n++
			}
		}
		return n > 0
	}
	d := time.Duration(-1)
	if timeout >= 0 {
		d = time.Duration(timeout) * time.Millisecond
	}
	h.block(timeout == 0, d, scan)
	return n, 0
}

// epEntry is one descriptor in an epoll instance.
type epEntry struct {
	events uint32
	data   uint64
	last   uint32 // what was ready at the last scan (EPOLLET)
	lastEv uint64 // the connection's event count at the last scan (EPOLLET)
	off    bool   // EPOLLONESHOT fired
}

// EpollEvent is struct epoll_event.
type EpollEvent struct {
	Events uint32
	Data   uint64
}

// EpollCreate is epoll_create(2).
func (h *Host) EpollCreate(size int) (int, Errno) {
	if size <= 0 {
		return -1, syscall.EINVAL
	}
	s, e := h.newFD()
	if e != 0 {
		return -1, e
	}
	s.epoll = map[int]*epEntry{}
	return s.fd, 0
}

// EpollCtl is epoll_ctl(2).
func (h *Host) EpollCtl(epfd, op, fd int, ev EpollEvent) Errno {
	ep, e := h.get(epfd)
	if e != 0 {
		return e
	}
	if _, e := h.get(fd); e != 0 {
		return e
	}
	if ep.epoll == nil || fd == epfd {
		return syscall.EINVAL
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := ep.epoll[fd]
	switch op {
	case unix.EPOLL_CTL_ADD:
		if cur != nil {
			return syscall.EEXIST
		}
		ep.epoll[fd] = &epEntry{events: ev.Events, data: ev.Data}
	case unix.EPOLL_CTL_MOD:
		if cur == nil {
			return syscall.ENOENT
		}
		*cur = epEntry{events: ev.Events, data: ev.Data}
	case unix.EPOLL_CTL_DEL:
		if cur == nil {
			return syscall.ENOENT
		}
		delete(ep.epoll, fd)
	default:
		return syscall.EINVAL
	}
	return 0
}

// EpollWait is epoll_wait(2).
func (h *Host) EpollWait(epfd int, out []EpollEvent, timeout int) (int, Errno) {
	ep, e := h.get(epfd)
	if e != 0 {
		return -1, e
	}
	if ep.epoll == nil || len(out) == 0 {
		return -1, syscall.EINVAL
	}
	n := 0
	scan := func() bool {
		n = 0
		h.mu.Lock()
		ents := make(map[int]*epEntry, len(ep.epoll))
		for fd, en := range ep.epoll {
			ents[fd] = en
		}
		socks := make(map[int]*sock, len(ents))
		for fd := range ents {
			socks[fd] = h.socks[fd]
		}
		h.mu.Unlock()
		for fd, en := range ents {
			s := socks[fd]
			if s == nil || en.off || n == len(out) {
				continue
			}
			m := h.readiness(s) & (en.events | unix.EPOLLERR | unix.EPOLLHUP)
			if en.events&unix.EPOLLET != 0 {
				// Edge-triggered: report when a bit became ready
				// since the last report; like Linux's wake-up, the
				// report carries every ready bit.
				fresh := m &^ en.last
				en.last = m
				var ev uint64
				if s.cs != nil {
					ev = s.cs.ev
				}
				if fresh == 0 && ev == en.lastEv {
					m = 0
				}
				en.lastEv = ev
			}
			if m == 0 {
				continue
			}
			if en.events&unix.EPOLLONESHOT != 0 {
				en.off = true
			}
			out[n] = EpollEvent{Events: m, Data: en.data}
			n++
		}
		return n > 0
	}
	d := time.Duration(-1)
	if timeout >= 0 {
		d = time.Duration(timeout) * time.Millisecond
	}
	h.block(timeout == 0, d, scan)
	return n, 0
}

// sndBufOf is the send-buffer limit SO_SNDBUF n gives (Linux
// sock_setsockopt: twice n capped by wmem_max, at least SOCK_MIN_SNDBUF),
// as Conn.SetSendBuffer sets it. On the loop.
func sndBufOf(h *Host, n int) int {
	return max(2*min(max(n, 0), h.eng.TCP().Config().WmemMax), 4608)
}

//go:build pdadapter

// Command adapter is the packetdrill shared-object library for xdptcp:
// built with -buildmode=c-shared (make conformance does it, with
// packetdrill's source directory on CGO_CFLAGS for packetdrill.h), it
// exports packetdrill_interface_init (shim.c) and runs the socket calls of
// a script on conformance/pdhost, a real xdptcp engine.
//
// --so_flags is a comma-separated list: local=IP (our address, also
// packetdrill's --local_ip; an IPv6 address, in --ip_version=ipv6, is our
// IPv6 address beside the IPv4 default 192.168.0.1), gateway=IP (the next
// hop of that family; any address off our /32 or /128), mtu=N (the IP
// MTU, packetdrill's --mtu), ctl=PATH (the Unix socket the sysctl shim
// talks to), sysctl=NAME=VALUE (a setting by its Linux name, set before
// the script runs; repeatable).
package main

/*
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
*/
import "C"

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"github.com/xdptcp/xdptcp/conformance/pdhost"
)

var (
	host     *pdhost.Host
	stopCtl  func()
	errnoNeg = func(e syscall.Errno) C.long { return -C.long(e) }
)

func main() {}

//export pdInit
func pdInit(flags *C.char) {
	opt := pdhost.Options{
		Local:   [4]byte{192, 168, 0, 1},
		Gateway: [4]byte{192, 168, 0, 254},
	}
	ctl := ""
	var sysctls [][2]string
	for _, kv := range strings.Split(C.GoString(flags), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "local", "gateway":
			a, err := netip.ParseAddr(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "xdptcp adapter: bad %s=%q\n", k, v)
				os.Exit(1)
			}
			switch {
			case k == "local" && a.Is4():
				opt.Local = a.As4()
			case k == "local":
				opt.Local6 = a.As16()
			case a.Is4():
				opt.Gateway = a.As4()
			default:
				opt.Gateway6 = a.As16()
			}
		case "ctl":
			ctl = v
		case "mtu":
			fmt.Sscan(v, &opt.MTU)
		case "sysctl":
			n, val, _ := strings.Cut(v, "=")
			sysctls = append(sysctls, [2]string{n, val})
		}
	}
	h, err := pdhost.New(opt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xdptcp adapter: %v\n", err)
		os.Exit(1)
	}
	host = h
	for _, kv := range sysctls {
		if err := h.Sysctl(kv[0], kv[1]); err != nil {
			fmt.Fprintf(os.Stderr, "xdptcp adapter: sysctl %s=%q: %v\n", kv[0], kv[1], err)
			os.Exit(1)
		}
	}
	if ctl != "" {
		if stopCtl, err = h.ServeControl(ctl); err != nil {
			fmt.Fprintf(os.Stderr, "xdptcp adapter: control socket: %v\n", err)
			os.Exit(1)
		}
	}
}

//export pdFree
func pdFree() {
	if stopCtl != nil {
		stopCtl()
	}
	host.Stop()
}

func res(n int, e syscall.Errno) C.long {
	if e != 0 {
		return errnoNeg(e)
	}
	return C.long(n)
}

// sockaddr reads a struct sockaddr_in or sockaddr_in6 of length l.
func sockaddr(p unsafe.Pointer, l C.int) (pdhost.Sockaddr, syscall.Errno) {
	if p == nil || l < 2 {
		return pdhost.Sockaddr{}, syscall.EINVAL
	}
	return pdhost.DecodeSockaddr(unsafe.Slice((*byte)(p), int(l)))
}

//export pdSocket
func pdSocket(d, t, p C.int) C.long { return res(host.Socket(int(d), int(t), int(p))) }

//export pdBind
func pdBind(fd C.int, a unsafe.Pointer, l C.int) C.long {
	sa, e := sockaddr(a, l)
	if e != 0 {
		return errnoNeg(e)
	}
	return res(0, host.Bind(int(fd), sa))
}

//export pdListen
func pdListen(fd, backlog C.int) C.long { return res(0, host.Listen(int(fd), int(backlog))) }

//export pdAccept
func pdAccept(fd C.int, a unsafe.Pointer, l *C.socklen_t) C.long {
	nfd, sa, e := host.Accept(int(fd))
	if e != 0 {
		return errnoNeg(e)
	}
	if a != nil && l != nil {
		*l = C.socklen_t(sa.Encode(unsafe.Slice((*byte)(a), int(*l))))
	}
	return C.long(nfd)
}

//export pdConnect
func pdConnect(fd C.int, a unsafe.Pointer, l C.int) C.long {
	sa, e := sockaddr(a, l)
	if e != 0 {
		return errnoNeg(e)
	}
	return res(0, host.Connect(int(fd), sa))
}

func iovecs(iov unsafe.Pointer, n C.int) [][]byte {
	if iov == nil || n <= 0 {
		return nil
	}
	vs := unsafe.Slice((*C.struct_iovec)(iov), int(n))
	out := make([][]byte, len(vs))
	for i, v := range vs {
		if v.iov_base != nil {
			out[i] = unsafe.Slice((*byte)(v.iov_base), int(v.iov_len))
		}
	}
	return out
}

// nullIov reports whether an iovec has no buffer but a length: the one
// bad user pointer a library can tell (Linux returns EFAULT when it comes
// to copy; a wild pointer would fault here as in any library).
func nullIov(iov unsafe.Pointer, n C.int) bool {
	if iov == nil || n <= 0 {
		return false
	}
	for _, v := range unsafe.Slice((*C.struct_iovec)(iov), int(n)) {
		if v.iov_base == nil && v.iov_len > 0 {
			return true
		}
	}
	return false
}

//export pdRecv
func pdRecv(fd C.int, iov unsafe.Pointer, n, flags C.int) C.long {
	if nullIov(iov, n) {
		return res(host.ReadFault(int(fd), int(flags)))
	}
	return res(host.Read(int(fd), iovecs(iov, n), int(flags)))
}

//export pdInq
func pdInq(fd C.int) C.int { return C.int(host.Inq(int(fd))) }

//export pdSend
func pdSend(fd C.int, iov unsafe.Pointer, n, flags C.int) C.long {
	if nullIov(iov, n) {
		return res(host.WriteFault(int(fd), int(flags)))
	}
	return res(host.Write(int(fd), iovecs(iov, n), int(flags)))
}

//export pdFcntl
func pdFcntl(fd, cmd C.int, arg C.long) C.long { return res(host.Fcntl(int(fd), int(cmd), int(arg))) }

//export pdIoctl
func pdIoctl(fd C.int, req C.ulong) C.long { return res(host.Ioctl(int(fd), uint(req))) }

//export pdClose
func pdClose(fd C.int) C.long { return res(0, host.CloseFD(int(fd))) }

//export pdShutdown
func pdShutdown(fd, how C.int) C.long { return res(0, host.Shutdown(int(fd), int(how))) }

//export pdGetsockopt
func pdGetsockopt(fd, level, name C.int, val unsafe.Pointer, l C.int) C.long {
	var b []byte
	if val != nil && l > 0 {
		b = unsafe.Slice((*byte)(val), int(l))
	}
	return res(host.Getsockopt(int(fd), int(level), int(name), b))
}

//export pdSetsockopt
func pdSetsockopt(fd, level, name C.int, val unsafe.Pointer, l C.int) C.long {
	var b []byte
	if val != nil && l > 0 {
		b = unsafe.Slice((*byte)(val), int(l))
	}
	return res(0, host.Setsockopt(int(fd), int(level), int(name), b))
}

//export pdPoll
func pdPoll(fds unsafe.Pointer, n, timeout C.int) C.long {
	var ps []pdhost.PollFd
	if fds != nil && n > 0 {
		ps = unsafe.Slice((*pdhost.PollFd)(fds), int(n)) // struct pollfd: int, short, short
	}
	return res(host.Poll(ps, int(timeout)))
}

//export pdNetdevSend
func pdNetdevSend(buf unsafe.Pointer, n C.int) C.long {
	return res(0, host.NetdevSend(unsafe.Slice((*byte)(buf), int(n))))
}

//export pdNetdevReceive
func pdNetdevReceive(buf unsafe.Pointer, n C.int, usecs *C.longlong) C.long {
	k, us, ok := host.NetdevReceive(unsafe.Slice((*byte)(buf), int(n)), -1)
	if !ok {
		return -1
	}
	*usecs = C.longlong(us)
	return C.long(k)
}

//export pdEpollCreate
func pdEpollCreate(size C.int) C.long { return res(host.EpollCreate(int(size))) }

//export pdEpollCtl
func pdEpollCtl(epfd, op, fd C.int, events C.uint32_t, data C.uint64_t) C.long {
	return res(0, host.EpollCtl(int(epfd), int(op), int(fd), pdhost.EpollEvent{Events: uint32(events), Data: uint64(data)}))
}

//export pdEpollWait
func pdEpollWait(epfd C.int, evs *C.uint32_t, data *C.uint64_t, max, timeout C.int) C.long {
	out := make([]pdhost.EpollEvent, int(max))
	n, e := host.EpollWait(int(epfd), out, int(timeout))
	if e != 0 {
		return errnoNeg(e)
	}
	ev := unsafe.Slice(evs, int(max))
	da := unsafe.Slice(data, int(max))
	for i := 0; i < n; i++ {
		ev[i] = C.uint32_t(out[i].Events)
		da[i] = C.uint64_t(out[i].Data)
	}
	return C.long(n)
}

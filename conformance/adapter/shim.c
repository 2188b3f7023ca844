//go:build pdadapter

// The C side of the packetdrill adapter: packetdrill_interface_init fills
// struct packetdrill_interface (packetdrill.h, from the packetdrill source
// the build extracts; its directory is on CGO_CFLAGS) with wrappers that
// call the Go functions exported by adapter.go. The wrappers turn the Go
// side's "negative errno" results into -1 and errno, unpack the variadic
// fcntl/ioctl arguments cgo cannot take, and convert msghdr, iovec and
// epoll_event arrays.

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "packetdrill.h"
#include "_cgo_export.h"

static int ret_int(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static ssize_t ret_ssize(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (ssize_t)r;
}

static void w_free(void *u) { pdFree(); }

static int w_socket(void *u, int d, int t, int p) { return ret_int(pdSocket(d, t, p)); }

static int w_bind(void *u, int fd, const struct sockaddr *a, socklen_t l)
{
	return ret_int(pdBind(fd, (void *)a, l));
}

static int w_listen(void *u, int fd, int backlog) { return ret_int(pdListen(fd, backlog)); }

static int w_accept(void *u, int fd, struct sockaddr *a, socklen_t *l)
{
	return ret_int(pdAccept(fd, a, l));
}

static int w_connect(void *u, int fd, const struct sockaddr *a, socklen_t l)
{
	return ret_int(pdConnect(fd, (void *)a, l));
}

static ssize_t w_readv_flags(int fd, const struct iovec *iov, int n, int flags)
{
	return ret_ssize(pdRecv(fd, (void *)iov, n, flags));
}

static ssize_t w_writev_flags(int fd, const struct iovec *iov, int n, int flags)
{
	return ret_ssize(pdSend(fd, (void *)iov, n, flags));
}

static ssize_t w_read(void *u, int fd, void *buf, size_t count)
{
	struct iovec iov = { .iov_base = buf, .iov_len = count };
	return w_readv_flags(fd, &iov, 1, 0);
}

static ssize_t w_readv(void *u, int fd, const struct iovec *iov, int n)
{
	return w_readv_flags(fd, iov, n, 0);
}

static ssize_t w_recv(void *u, int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	return w_readv_flags(fd, &iov, 1, flags);
}

static ssize_t w_recvfrom(void *u, int fd, void *buf, size_t len, int flags,
			  struct sockaddr *src, socklen_t *srclen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	if (srclen)
		*srclen = 0;	/* Linux TCP leaves the address out */
	return w_readv_flags(fd, &iov, 1, flags);
}

static ssize_t w_recvmsg(void *u, int fd, struct msghdr *msg, int flags)
{
	size_t room = msg->msg_control ? msg->msg_controllen : 0;
	ssize_t n;
	int inq;

	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	msg->msg_flags = 0;
	n = w_readv_flags(fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
	inq = pdInq(fd);
	if (n >= 0 && inq >= 0) {
		/* TCP_INQ: Linux tcp_recvmsg puts a TCP_CM_INQ message. */
		if (room >= CMSG_SPACE(sizeof(int))) {
			struct cmsghdr *c = (struct cmsghdr *)msg->msg_control;
			c->cmsg_level = SOL_TCP;
			c->cmsg_type = TCP_CM_INQ;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &inq, sizeof(int));
			msg->msg_controllen = CMSG_SPACE(sizeof(int));
		} else {
			msg->msg_flags |= MSG_CTRUNC;
		}
	}
	return n;
}

static ssize_t w_write(void *u, int fd, const void *buf, size_t count)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = count };
	return w_writev_flags(fd, &iov, 1, 0);
}

static ssize_t w_writev(void *u, int fd, const struct iovec *iov, int n)
{
	return w_writev_flags(fd, iov, n, 0);
}

static ssize_t w_send(void *u, int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return w_writev_flags(fd, &iov, 1, flags);
}

static ssize_t w_sendto(void *u, int fd, const void *buf, size_t len, int flags,
			const struct sockaddr *dst, socklen_t dstlen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return w_writev_flags(fd, &iov, 1, flags);
}

static ssize_t w_sendmsg(void *u, int fd, const struct msghdr *msg, int flags)
{
	return w_writev_flags(fd, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

static int w_fcntl(void *u, int fd, int cmd, ...)
{
	long arg = 0;
	if (cmd == F_SETFL || cmd == F_SETFD) {
		va_list ap;
		va_start(ap, cmd);
		arg = va_arg(ap, long);
		va_end(ap);
	}
	return ret_int(pdFcntl(fd, cmd, arg));
}

static int w_ioctl(void *u, int fd, unsigned long req, ...)
{
	va_list ap;
	int *out;
	long r;

	va_start(ap, req);
	out = va_arg(ap, int *);
	va_end(ap);
	r = pdIoctl(fd, req);
	if (r >= 0 && out)
		*out = (int)r;
	return ret_int(r < 0 ? r : 0);
}

static int w_close(void *u, int fd) { return ret_int(pdClose(fd)); }

static int w_shutdown(void *u, int fd, int how) { return ret_int(pdShutdown(fd, how)); }

static int w_getsockopt(void *u, int fd, int level, int name, void *val, socklen_t *len)
{
	long r = pdGetsockopt(fd, level, name, val, len ? (int)*len : 0);
	if (r < 0)
		return ret_int(r);
	if (len)
		*len = (socklen_t)r;
	return 0;
}

static int w_setsockopt(void *u, int fd, int level, int name, const void *val, socklen_t len)
{
	return ret_int(pdSetsockopt(fd, level, name, (void *)val, (int)len));
}

static int w_poll(void *u, struct pollfd *fds, nfds_t n, int timeout)
{
	return ret_int(pdPoll(fds, (int)n, timeout));
}

static int w_netdev_send(void *u, const void *buf, size_t count)
{
	return pdNetdevSend((void *)buf, (int)count) < 0 ? -1 : 0;
}

static int w_netdev_receive(void *u, void *buf, size_t *count, long long *time_usecs)
{
	long long t = 0;
	long r = pdNetdevReceive(buf, (int)*count, &t);
	if (r < 0) {
		*count = 0;
		return -1;
	}
	*count = (size_t)r;
	*time_usecs = t;
	return 0;
}

static int w_usleep(void *u, useconds_t usec) { return usleep(usec); }

static int w_gettimeofday(void *u, struct timeval *tv, struct timezone *tz)
{
	return gettimeofday(tv, tz);
}

static int w_epoll_create(void *u, int size) { return ret_int(pdEpollCreate(size)); }

static int w_epoll_ctl(void *u, int epfd, int op, int fd, struct epoll_event *ev)
{
	return ret_int(pdEpollCtl(epfd, op, fd, ev ? ev->events : 0, ev ? ev->data.u64 : 0));
}

static int w_epoll_wait(void *u, int epfd, struct epoll_event *evs, int max, int timeout)
{
	uint32_t *ev;
	uint64_t *data;
	long r;
	int i;

	if (max <= 0) {
		errno = EINVAL;
		return -1;
	}
	ev = calloc(max, sizeof(*ev));
	data = calloc(max, sizeof(*data));
	r = pdEpollWait(epfd, ev, data, max, timeout);
	for (i = 0; i < r; i++) {
		evs[i].events = ev[i];
		evs[i].data.u64 = data[i];
	}
	free(ev);
	free(data);
	return ret_int(r);
}

static int w_pipe(void *u, int fds[2])
{
	errno = ENOSYS;		/* not a socket call: xdptcp has no pipes */
	return -1;
}

static int w_splice(void *u, int in, loff_t *inoff, int out, loff_t *outoff,
		    size_t len, unsigned int flags)
{
	errno = ENOSYS;		/* splice is deliberately absent */
	return -1;
}

void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc)
{
	pdInit((char *)(flags ? flags : ""));
	memset(ifc, 0, sizeof(*ifc));
	ifc->free = w_free;
	ifc->socket = w_socket;
	ifc->bind = w_bind;
	ifc->listen = w_listen;
	ifc->accept = w_accept;
	ifc->connect = w_connect;
	ifc->read = w_read;
	ifc->readv = w_readv;
	ifc->recv = w_recv;
	ifc->recvfrom = w_recvfrom;
	ifc->recvmsg = w_recvmsg;
	ifc->write = w_write;
	ifc->writev = w_writev;
	ifc->send = w_send;
	ifc->sendto = w_sendto;
	ifc->sendmsg = w_sendmsg;
	ifc->fcntl = w_fcntl;
	ifc->ioctl = w_ioctl;
	ifc->close = w_close;
	ifc->shutdown = w_shutdown;
	ifc->getsockopt = w_getsockopt;
	ifc->setsockopt = w_setsockopt;
	ifc->poll = w_poll;
	ifc->netdev_send = w_netdev_send;
	ifc->netdev_receive = w_netdev_receive;
	ifc->usleep = w_usleep;
	ifc->gettimeofday = w_gettimeofday;
	ifc->epoll_create = w_epoll_create;
	ifc->epoll_ctl = w_epoll_ctl;
	ifc->epoll_wait = w_epoll_wait;
	ifc->pipe = w_pipe;
	ifc->splice = w_splice;
}

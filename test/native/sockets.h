/* SPDX-License-Identifier: MIT */
/*
 * Loopback sockets and completion waits for the native tests that check
 * what the kernel does with each io_uring request (the seed_*.c tests).
 * Include after helpers.h. Every wait is bounded.
 */
#ifndef RL_TEST_SOCKETS_H
#define RL_TEST_SOCKETS_H
#include "../../packages/core-native/src/compat/liburing_compat.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* exit 77 (skip) when io_uring cannot be used here, 1 on another failure */
static inline void require_io_uring(void)
{
	struct io_uring r;
	int ret = io_uring_queue_init(4, &r, 0);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "queue_init: %s", strerror(-ret));
	io_uring_queue_exit(&r);
}

static inline struct sockaddr_in loopback(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* a listening TCP socket on 127.0.0.1, port chosen by the kernel */
static inline int tcp_listener(int *port, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	REQUIRE(listen(fd, backlog) == 0, "listen");
	REQUIRE(getsockname(fd, (struct sockaddr *) &sa, &len) == 0, "getsockname");
	*port = ntohs(sa.sin_port);
	return fd;
}

/* a connected client (the handshake completes against the backlog) */
static inline int tcp_dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = loopback(port);
	REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect: %s",
		strerror(errno));
	return fd;
}

/* local port of a socket, to tell connections apart */
static inline int local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	REQUIRE(getsockname(fd, (struct sockaddr *) &sa, &len) == 0, "getsockname");
	return ntohs(sa.sin_port);
}

/*
 * What a peer sees within ms: 1 the connection is open and quiet, 0 EOF,
 * -errno (e.g. -ECONNRESET), or 2 data is waiting (left unread).
 */
static inline int peer_state(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, ms) == 0)
		return 1;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return 2;
	return n == 0 ? 0 : -errno;
}

/* one completion within ms, or res = -ETIME and user_data = ~0 */
static inline struct io_uring_cqe cqe_wait(struct io_uring *r, int ms)
{
	struct io_uring_cqe *cqe, out = { .user_data = ~0ULL, .res = -ETIME };
	struct __kernel_timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long long) (ms % 1000) * 1000000LL };
	if (io_uring_wait_cqe_timeout(r, &cqe, &ts) == 0) {
		out = *cqe;
		io_uring_cqe_seen(r, cqe);
	}
	return out;
}

/* submit what is queued and return the next completion (within 2 s) */
static inline struct io_uring_cqe submit_wait(struct io_uring *r)
{
	int ret = io_uring_submit(r);
	REQUIRE(ret >= 0, "submit: %s", strerror(-ret));
	return cqe_wait(r, 2000);
}

/* a recv of one byte on a fixed-file slot, without waiting: -EAGAIN means a
 * connected socket is there and quiet, -EBADF an empty slot, 1 a byte */
static inline int slot_recv(struct io_uring *r, unsigned slot, char *out)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	io_uring_prep_recv(sqe, (int) slot, out, 1, MSG_DONTWAIT);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = 0x5107;
	struct io_uring_cqe c = submit_wait(r);
	REQUIRE(c.user_data == 0x5107, "slot_recv: unexpected completion %llx",
		(unsigned long long) c.user_data);
	return c.res;
}

/* the acceptor's hand-off: msg_ring fd_alloc of `slot` to the target ring
 * (user_data 1) linked with close_direct of the slot (user_data 2) */
static inline void submit_handoff(struct io_uring *src, int target_ring_fd, int slot, __u64 data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(src);
	io_uring_prep_msg_ring_fd_alloc(sqe, target_ring_fd, slot, data, 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(src);
	io_uring_prep_close_direct(sqe, (unsigned) slot);
	sqe->user_data = 2;
	REQUIRE(io_uring_submit(src) == 2, "submit hand-off");
}

static inline int fd_count(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	REQUIRE(d, "opendir /proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif

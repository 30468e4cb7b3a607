/* SPDX-License-Identifier: MIT */
/*
 * io_uring_prep_accept(3), checked against the running kernel: plain
 * accept, accept_direct into a given index (which the product does not
 * use), into an allocated index (the acceptor's rl_prep_accept_direct_alloc
 * from src/compat), the edges of the fixed-file table, and multishot
 * accept, plain and direct. Each check names the sentence of the man page
 * it proves; test/README.md maps them. What the page leaves out and the
 * acceptor depends on is checked too: a direct accept that cannot install
 * its socket has already taken the connection off the backlog, and the
 * client sees it closed.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"

#define TABLE 4

enum { PLAIN, DIRECT, ALLOC, LIBURING_DIRECT, MULTI, MULTI_DIRECT, MULTI_AT };

static void prep(struct io_uring *r, int kind, int lfd, struct sockaddr_in *sa, socklen_t *len, int flags,
		 unsigned slot, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct sockaddr *a = (struct sockaddr *) sa;
	switch (kind) {
	case PLAIN:
		io_uring_prep_accept(sqe, lfd, a, len, flags);
		break;
	case DIRECT:
		io_uring_prep_accept_direct(sqe, lfd, a, len, flags, slot);
		break;
	case ALLOC:
		rl_prep_accept_direct_alloc(sqe, lfd, a, len, flags);
		break;
	case LIBURING_DIRECT:
		io_uring_prep_accept_direct(sqe, lfd, a, len, flags, IORING_FILE_INDEX_ALLOC);
		break;
	case MULTI:
		io_uring_prep_multishot_accept(sqe, lfd, a, len, flags);
		break;
	case MULTI_DIRECT:
		io_uring_prep_multishot_accept_direct(sqe, lfd, a, len, flags);
		break;
	case MULTI_AT:
		/* a multishot direct accept into a chosen index: the raw SQE, since
		 * liburing only offers the IORING_FILE_INDEX_ALLOC form */
		io_uring_prep_multishot_accept(sqe, lfd, a, len, flags);
		__io_uring_set_target_fixed_file(sqe, slot);
		break;
	}
	sqe->user_data = ud;
}

/* one single-shot accept of the given kind, submitted and completed */
static int accept_one(struct io_uring *r, int kind, int lfd, int flags, unsigned slot)
{
	prep(r, kind, lfd, NULL, NULL, flags, slot, 0xacc);
	struct io_uring_cqe c = submit_wait(r);
	REQUIRE(c.user_data == 0xacc, "no completion for the accept");
	return c.res;
}

/* the connection waiting first in the backlog is `client` (plain accept) */
static int next_in_backlog_is(int lfd, int client)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	if (poll(&p, 1, 1000) != 1)
		return 0;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = accept(lfd, (struct sockaddr *) &sa, &len);
	int ok = fd >= 0 && ntohs(sa.sin_port) == local_port(client);
	if (fd >= 0)
		close(fd);
	return ok;
}

static int closed(int fd)
{
	int s = peer_state(fd, 1000);
	return s == 0 || s == -ECONNRESET;
}

static void plain_and_errors(int lfd, int port)
{
	struct io_uring r;
	REQUIRE(io_uring_queue_init(8, &r, 0) == 0, "queue_init");
	/* "the non-direct accept returns the installed file descriptor",
	 * addr/addrlen as accept4(2), and accept4's flags apply */
	int client = tcp_dial(port);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	prep(&r, PLAIN, lfd, &sa, &len, SOCK_CLOEXEC, 0, 1);
	struct io_uring_cqe c = submit_wait(&r);
	REQUIRE(c.res >= 0, "plain accept: %d", c.res);
	CHECK(len == sizeof(sa) && sa.sin_family == AF_INET && ntohs(sa.sin_port) == local_port(client),
	      "addr is the client's address (port %d, want %d)", ntohs(sa.sin_port), local_port(client));
	CHECK(fcntl(c.res, F_GETFD) == FD_CLOEXEC, "SOCK_CLOEXEC applied to the accepted fd");
	REQUIRE(write(client, "hi", 2) == 2, "write");
	char buf[2];
	CHECK(read(c.res, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0, "the accepted fd carries the data");
	close(c.res);
	close(client);

	/* "it returns the negated errno directly in the CQE res field" */
	int notl = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	CHECK(accept_one(&r, PLAIN, notl, 0, 0) == -EINVAL,
	      "accept on a socket that does not listen: -EINVAL");
	CHECK(errno == 0, "errno touched: %d", errno);
	close(notl);
	io_uring_queue_exit(&r);
}

static void direct_at_index(int lfd, int port)
{
	struct io_uring r, nt;
	REQUIRE(io_uring_queue_init(8, &r, 0) == 0, "queue_init");
	REQUIRE(io_uring_queue_init(8, &nt, 0) == 0, "queue_init");
	REQUIRE(io_uring_register_files_sparse(&r, TABLE) == 0, "sparse table");
	char b;

	/* "the direct accept returns 0 on success. The caller must know which
	 * direct descriptor was picked": index 1, used with IOSQE_FIXED_FILE */
	int c1 = tcp_dial(port);
	int fds = fd_count();
	CHECK(accept_one(&r, DIRECT, lfd, 0, 1) == 0, "accept_direct into index 1");
	CHECK(fd_count() == fds, "a direct accept took a process fd");
	REQUIRE(write(c1, "a", 1) == 1, "write");
	CHECK(slot_recv(&r, 1, &b) == 1 && b == 'a', "index 1 holds c1's connection");

	/* "If a specified entry already contains a file, the file will first
	 * be removed from the table and closed" */
	int c2 = tcp_dial(port);
	CHECK(accept_one(&r, DIRECT, lfd, 0, 1) == 0, "accept_direct into the occupied index 1");
	CHECK(closed(c1), "c1's connection was not closed when its slot was reused");
	REQUIRE(write(c2, "b", 1) == 1, "write");
	CHECK(slot_recv(&r, 1, &b) == 1 && b == 'b', "index 1 now holds c2's connection");

	/* "may use any entry in that table, as long as it is within the size of
	 * the registered table": beyond it -EINVAL, after the kernel has taken
	 * the connection off the backlog (the client sees it closed) */
	int c3 = tcp_dial(port);
	CHECK(accept_one(&r, DIRECT, lfd, 0, TABLE + 3) == -EINVAL, "index past the table: -EINVAL");
	CHECK(closed(c3), "the connection accepted for a bad index was not closed");

	/* "the application must first have registered a file table": -ENXIO,
	 * and again the connection is gone */
	int c4 = tcp_dial(port);
	CHECK(accept_one(&nt, DIRECT, lfd, 0, 0) == -ENXIO, "accept_direct without a table: -ENXIO");
	CHECK(closed(c4), "the connection accepted without a table was not closed");

	/* SOCK_CLOEXEC cannot apply to a direct descriptor: refused before
	 * accepting, so the connection stays in the backlog */
	int c5 = tcp_dial(port);
	CHECK(accept_one(&r, DIRECT, lfd, SOCK_CLOEXEC, 0) == -EINVAL, "direct + SOCK_CLOEXEC: -EINVAL");
	CHECK(next_in_backlog_is(lfd, c5), "a refused SQE must not consume a connection");

	close(c2);
	close(c5);
	io_uring_queue_exit(&r);
	io_uring_queue_exit(&nt);
}

static void direct_alloc(int lfd, int port)
{
	struct io_uring r;
	REQUIRE(io_uring_queue_init(8, &r, 0) == 0, "queue_init");
	REQUIRE(io_uring_register_files_sparse(&r, TABLE) == 0, "sparse table");
	int fds = fd_count();

	/* "file_index ... IORING_FILE_INDEX_ALLOC ... the file index will be
	 * returned as CQE res" (the acceptor's compat helper) */
	int seen[TABLE] = { 0 }, clients[TABLE];
	for (int i = 0; i < TABLE; i++) {
		clients[i] = tcp_dial(port);
		int res = accept_one(&r, ALLOC, lfd, 0, 0);
		CHECK(res >= 0 && res < TABLE && !seen[res], "alloc accept %d: res %d", i, res);
		if (res >= 0 && res < TABLE)
			seen[res] = 1;
	}
	CHECK(fd_count() == fds + TABLE, "allocated direct accepts took process fds (only the clients may)");

	/* "-ENFILE is otherwise returned if there is no free entries": the
	 * kernel accepted the connection first, so it is lost (closed) -- why
	 * the acceptor never arms more accepts than it has free slots */
	int extra = tcp_dial(port);
	CHECK(accept_one(&r, ALLOC, lfd, 0, 0) == -ENFILE, "alloc into a full table: -ENFILE");
	CHECK(closed(extra), "the connection accepted into a full table was not closed");
	for (int i = 0; i < TABLE; i++)
		CHECK(peer_state(clients[i], 0) == 1, "client %d lost its connection", i);
	for (int i = 0; i < TABLE; i++)
		close(clients[i]);
	close(extra);

#if !RL_LIBURING_AT_LEAST(2, 4)
	/* liburing 2.3's own accept_direct(..., IORING_FILE_INDEX_ALLOC) wraps
	 * the index to 0, which the kernel reads as "not direct": a process fd
	 * comes back. This is why src/compat has rl_prep_accept_direct_alloc. */
	{
		int c = tcp_dial(port);
		int res = accept_one(&r, LIBURING_DIRECT, lfd, 0, 0);
		CHECK(res >= 0 && fcntl(res, F_GETFD) >= 0, "liburing 2.3 ALLOC accept gave %d", res);
		if (res >= 0)
			close(res);
		close(c);
	}
#endif
	io_uring_queue_exit(&r);
}

static void multishot(int lfd, int port)
{
	struct io_uring r;
	REQUIRE(io_uring_queue_init(16, &r, 0) == 0, "queue_init");
	REQUIRE(io_uring_register_files_sparse(&r, 2) == 0, "sparse table of 2");

	/* "a single accept request, which will repeatedly trigger a CQE when a
	 * connection request comes in ... IORING_CQE_F_MORE": plain multishot
	 * returns process fds; a cancel ends it with F_MORE clear */
	prep(&r, MULTI, lfd, NULL, NULL, 0, 0, 0x3a);
	REQUIRE(io_uring_submit(&r) == 1, "submit multishot");
	int c[3];
	for (int i = 0; i < 3; i++) {
		c[i] = tcp_dial(port);
		struct io_uring_cqe e = cqe_wait(&r, 2000);
		CHECK(e.user_data == 0x3a && e.res >= 0 && (e.flags & IORING_CQE_F_MORE),
		      "multishot CQE %d: ud %llx res %d flags %x", i, (unsigned long long) e.user_data, e.res,
		      e.flags);
		CHECK(e.res < 0 || fcntl(e.res, F_GETFD) >= 0, "res is a process fd");
		if (e.res >= 0)
			close(e.res);
		close(c[i]);
	}
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_cancel64(sqe, 0x3a, 0);
		sqe->user_data = 0xca;
		io_uring_submit(&r);
		int ended = 0, cancel_ok = 0;
		for (int i = 0; i < 2; i++) {
			struct io_uring_cqe e = cqe_wait(&r, 2000);
			if (e.user_data == 0x3a)
				ended = e.res == -ECANCELED && !(e.flags & IORING_CQE_F_MORE);
			if (e.user_data == 0xca)
				cancel_ok = e.res == 0;
		}
		CHECK(ended && cancel_ok, "a cancelled multishot ends with -ECANCELED and F_MORE clear");
	}

	/* "For multishot with direct descriptors, IORING_FILE_INDEX_ALLOC must
	 * be used ... the allocated descriptor will be returned in the CQE res
	 * field"; a table that fills ends the request: -ENFILE, F_MORE clear,
	 * and that connection is closed; the next one waits in the backlog */
	prep(&r, MULTI_DIRECT, lfd, NULL, NULL, 0, 0, 0x3d);
	REQUIRE(io_uring_submit(&r) == 1, "submit multishot direct");
	int slots[2] = { -1, -1 };
	for (int i = 0; i < 2; i++) {
		c[i] = tcp_dial(port);
		struct io_uring_cqe e = cqe_wait(&r, 2000);
		CHECK(e.user_data == 0x3d && e.res >= 0 && e.res < 2 && (e.flags & IORING_CQE_F_MORE),
		      "multishot direct CQE %d: res %d flags %x", i, e.res, e.flags);
		slots[i] = e.res;
	}
	CHECK(slots[0] != slots[1], "two connections, two slots (%d, %d)", slots[0], slots[1]);
	c[2] = tcp_dial(port);
	struct io_uring_cqe e = cqe_wait(&r, 2000);
	CHECK(e.user_data == 0x3d && e.res == -ENFILE && !(e.flags & IORING_CQE_F_MORE),
	      "full table: res %d flags %x, want -ENFILE without F_MORE", e.res, e.flags);
	CHECK(closed(c[2]), "the connection accepted into the full table was not closed");
	int waiting = tcp_dial(port);
	CHECK(cqe_wait(&r, 200).res == -ETIME, "a multishot without F_MORE kept accepting");
	CHECK(next_in_backlog_is(lfd, waiting), "the next connection waits in the backlog");
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(waiting);

	/* "Failure to do so will result in the accept request being terminated
	 * with -EINVAL" -- at once, before any connection is taken */
	int pending = tcp_dial(port);
	prep(&r, MULTI_AT, lfd, NULL, NULL, 0, 1, 0x3e);
	e = submit_wait(&r);
	CHECK(e.user_data == 0x3e && e.res == -EINVAL && !(e.flags & IORING_CQE_F_MORE),
	      "multishot direct into index 1: res %d flags %x, want -EINVAL without F_MORE", e.res, e.flags);
	CHECK(next_in_backlog_is(lfd, pending), "the refused multishot consumed a connection");
	close(pending);
	io_uring_queue_exit(&r);
}

int main(void)
{
	require_io_uring();

	int port, lfd = tcp_listener(&port, 64);
	plain_and_errors(lfd, port);
	direct_at_index(lfd, port);
	direct_alloc(lfd, port);
	multishot(lfd, port);
	close(lfd);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * io_uring_prep_socket(3), checked against the running kernel: the plain
 * variant the product does not use, socket_direct into a given slot,
 * socket_direct_alloc (the proxy's and the load generator's dial), and what
 * happens at the edges of the fixed-file table. Each check names the
 * sentence of the man page it proves. test/README.md maps them.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"

#include <netinet/tcp.h>

#define TABLE 4

static struct io_uring_cqe socket_op(struct io_uring *r, int domain, int type, int direct, unsigned slot,
				     unsigned flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	if (!direct)
		io_uring_prep_socket(sqe, domain, type, 0, flags);
	else if (slot == IORING_FILE_INDEX_ALLOC)
		io_uring_prep_socket_direct_alloc(sqe, domain, type, 0, flags);
	else
		io_uring_prep_socket_direct(sqe, domain, type, 0, slot, flags);
	sqe->user_data = 0x50c;
	struct io_uring_cqe c = submit_wait(r);
	REQUIRE(c.user_data == 0x50c, "no completion for the socket request");
	return c;
}

static int sockopt(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) < 0)
		return -errno;
	return v;
}

/* connect the socket in a fixed slot to port (IOSQE_FIXED_FILE) */
static int slot_connect(struct io_uring *r, unsigned slot, int port)
{
	struct sockaddr_in sa = loopback(port);
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	io_uring_prep_connect(sqe, (int) slot, (struct sockaddr *) &sa, sizeof(sa));
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = 0xc0;
	return submit_wait(r).res;
}

int main(void)
{
	struct io_uring r, nt;
	int ret = io_uring_queue_init(8, &r, 0);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "queue_init: %s", strerror(-ret));
	REQUIRE(io_uring_queue_init(8, &nt, 0) == 0, "queue_init (ring without a table)");
	REQUIRE(io_uring_register_files_sparse(&r, TABLE) == 0, "register a sparse table");
	int lport, lfd = tcp_listener(&lport, 16);

	/* "prepares a socket creation request ... domain, type, protocol":
	 * the plain variant returns a process fd with exactly those */
	{
		struct io_uring_cqe c = socket_op(&r, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0);
		REQUIRE(c.res >= 0, "plain socket: %d (%s)", c.res, strerror(-c.res));
		int fd = c.res;
		CHECK(sockopt(fd, SO_DOMAIN) == AF_INET, "SO_DOMAIN %d", sockopt(fd, SO_DOMAIN));
		CHECK(sockopt(fd, SO_TYPE) == SOCK_STREAM, "SO_TYPE %d", sockopt(fd, SO_TYPE));
		CHECK(sockopt(fd, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL %d", sockopt(fd, SO_PROTOCOL));
		CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC, "SOCK_CLOEXEC in type sets FD_CLOEXEC");
		struct sockaddr_in sa = loopback(lport);
		CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "the fd is a usable socket");
		int srv = accept(lfd, NULL, NULL);
		CHECK(srv >= 0, "the listener saw it");
		close(srv);
		close(fd);

		c = socket_op(&r, AF_INET6, SOCK_DGRAM, 0, 0, 0);
		REQUIRE(c.res >= 0, "plain UDP/IPv6 socket: %d", c.res);
		CHECK(sockopt(c.res, SO_DOMAIN) == AF_INET6 && sockopt(c.res, SO_TYPE) == SOCK_DGRAM,
		      "AF_INET6/SOCK_DGRAM honoured");
		CHECK(fcntl(c.res, F_GETFD) == 0, "no FD_CLOEXEC unless asked");
		close(c.res);
	}

	/* "The flags argument are currently unused": the kernel insists on 0 */
	CHECK(socket_op(&r, AF_INET, SOCK_STREAM, 0, 0, 1).res == -EINVAL, "flags != 0 must be -EINVAL");

	/* "io_uring never uses errno ... returns the negated errno in res" */
	{
		errno = 0;
		struct io_uring_cqe c = socket_op(&r, 12345, SOCK_STREAM, 0, 0, 0);
		CHECK(c.res == -EAFNOSUPPORT, "bad domain: res %d, want -EAFNOSUPPORT", c.res);
		CHECK(errno == 0, "errno was touched: %d", errno);
	}

	/* socket_direct "maps the socket to a direct descriptor ... file_index
	 * should be set to the slot": res 0, no process fd, and the slot is a
	 * socket that IOSQE_FIXED_FILE requests can use */
	int fds_before = fd_count();
	{
		struct io_uring_cqe c = socket_op(&r, AF_INET, SOCK_STREAM, 1, 2, 0);
		CHECK(c.res == 0, "socket_direct into slot 2: res %d (want 0)", c.res);
		CHECK(fd_count() == fds_before, "a direct socket took a process fd");
		CHECK(slot_connect(&r, 2, lport) == 0, "connect on fixed slot 2");
	}
	int srv = accept(lfd, NULL, NULL);
	REQUIRE(srv >= 0, "accept the slot-2 connection");

	/* "If a specified entry already contains a file, the file will first
	 * be removed from the table and closed": slot 2's connection ends */
	{
		CHECK(peer_state(srv, 0) == 1, "slot 2's connection is up before the replace");
		struct io_uring_cqe c = socket_op(&r, AF_INET, SOCK_STREAM, 1, 2, 0);
		CHECK(c.res == 0, "socket_direct into the occupied slot 2: %d", c.res);
		CHECK(peer_state(srv, 1000) == 0, "the replaced socket was not closed (peer saw no EOF)");
		char b;
		int rr = slot_recv(&r, 2, &b);
		CHECK(rr == -ENOTCONN, "slot 2 holds the new, unconnected socket: recv %d", rr);
		close(srv);
	}

	/* "a direct socket request may use any entry in that table, as long as
	 * it is within the size of the registered table" */
	CHECK(socket_op(&r, AF_INET, SOCK_STREAM, 1, TABLE + 5, 0).res == -EINVAL,
	      "a slot past the table must be -EINVAL");

	/* SOCK_CLOEXEC has no meaning for a direct descriptor: refused */
	CHECK(socket_op(&r, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 1, 1, 0).res == -EINVAL,
	      "socket_direct with SOCK_CLOEXEC must be -EINVAL");

	/* socket_direct_alloc: "the res field of the CQE will return the direct
	 * slot that was allocated"; "-ENFILE is otherwise returned if there is
	 * no free entries" (slot 2 is taken: three more fit) */
	{
		int seen[TABLE] = { 0 };
		seen[2] = 1;
		for (int i = 0; i < TABLE - 1; i++) {
			struct io_uring_cqe c =
				socket_op(&r, AF_INET, SOCK_STREAM, 1, IORING_FILE_INDEX_ALLOC, 0);
			CHECK(c.res >= 0 && c.res < TABLE && !seen[c.res], "alloc %d: res %d", i, c.res);
			if (c.res >= 0 && c.res < TABLE)
				seen[c.res] = 1;
		}
		CHECK(socket_op(&r, AF_INET, SOCK_STREAM, 1, IORING_FILE_INDEX_ALLOC, 0).res == -ENFILE,
		      "a full table must give -ENFILE");
		CHECK(fd_count() == fds_before, "direct sockets took process fds");
	}

	/* "the application must first have registered a file table": without
	 * one, a given slot is -ENXIO and an allocation finds no free entry */
	CHECK(socket_op(&nt, AF_INET, SOCK_STREAM, 1, 0, 0).res == -ENXIO,
	      "socket_direct without a table: want -ENXIO");
	CHECK(socket_op(&nt, AF_INET, SOCK_STREAM, 1, IORING_FILE_INDEX_ALLOC, 0).res == -ENFILE,
	      "socket_direct_alloc without a table: want -ENFILE");

	close(lfd);
	io_uring_queue_exit(&r);
	io_uring_queue_exit(&nt);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * The hand-off primitive, as the engine uses it (compat msg_ring_fd_alloc
 * linked with close_direct):
 *  1. success: the source CQE and the target CQE both carry the new slot,
 *     the target CQE carries our data, the linked close frees the source;
 *  2. -ENFILE into a full target table: the linked close is cancelled and
 *     the source slot still holds a working socket;
 *  3. -EINVAL when the target is the source ring itself.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/compat/liburing_compat.h"
#include "helpers.h"
#include "sockets.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static struct io_uring_cqe get(struct io_uring *r)
{
	struct io_uring_cqe *cqe, out;
	struct __kernel_timespec ts = { .tv_sec = 2 };
	int ret = io_uring_wait_cqe_timeout(r, &cqe, &ts);
	REQUIRE(ret == 0, "wait_cqe: %s", strerror(-ret));
	out = *cqe;
	io_uring_cqe_seen(r, cqe);
	return out;
}

int main(void)
{
	struct io_uring a, b;
	int ret = io_uring_queue_init(8, &a, 0);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "queue_init: %s", strerror(-ret));
	REQUIRE(io_uring_queue_init(8, &b, 0) == 0, "queue_init b");
	REQUIRE(io_uring_register_files_sparse(&a, 4) == 0, "sparse a");
	REQUIRE(io_uring_register_files_sparse(&b, 1) == 0, "sparse b (one slot)");

	int sv[2], sv2[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2) == 0, "socketpair");
	REQUIRE(io_uring_register_files_update(&a, 0, &sv[0], 1) == 1, "install slot 0");
	REQUIRE(io_uring_register_files_update(&a, 1, &sv2[0], 1) == 1, "install slot 1");
	close(sv[0]);
	close(sv2[0]);

	/* 1. success */
	submit_handoff(&a, b.ring_fd, 0, 0xfeed0001);
	struct io_uring_cqe c1 = get(&a), c2 = get(&a);
	CHECK(c1.user_data == 1 && c1.res == 0, "msg_ring res=%d (want target slot 0)", c1.res);
	CHECK(c2.user_data == 2 && c2.res == 0, "linked close res=%d", c2.res);
	struct io_uring_cqe t = get(&b);
	CHECK(t.user_data == 0xfeed0001, "target user_data %llx", (unsigned long long) t.user_data);
	CHECK(t.res == 0, "target res (new slot) = %d", t.res);
	/* the source slot is free again: updating it with -1 is a no-op, and
	 * a recv on it must fail with EBADF */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
		char x;
		io_uring_prep_recv(sqe, 0, &x, 1, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = 3;
		io_uring_submit(&a);
		struct io_uring_cqe c = get(&a);
		CHECK(c.res == -EBADF, "source slot should be empty after close, recv res=%d", c.res);
	}
	/* the socket works on the target: write on the peer, recv there */
	{
		REQUIRE(write(sv[1], "hi", 2) == 2, "write");
		char buf[4] = { 0 };
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b);
		io_uring_prep_recv(sqe, t.res, buf, sizeof(buf), 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = 4;
		io_uring_submit(&b);
		struct io_uring_cqe c = get(&b);
		CHECK(c.res == 2 && memcmp(buf, "hi", 2) == 0, "recv on target res=%d", c.res);
	}

	/* 2. target table (1 slot) is full: -ENFILE, close cancelled, slot 1 still ours */
	submit_handoff(&a, b.ring_fd, 1, 0xfeed0002);
	c1 = get(&a);
	c2 = get(&a);
	CHECK(c1.user_data == 1 && c1.res == -ENFILE, "want -ENFILE, got %d", c1.res);
	CHECK(c2.user_data == 2 && c2.res == -ECANCELED, "linked close want -ECANCELED, got %d", c2.res);
	{
		REQUIRE(write(sv2[1], "ok", 2) == 2, "write");
		char buf[4] = { 0 };
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
		io_uring_prep_recv(sqe, 1, buf, sizeof(buf), 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = 5;
		io_uring_submit(&a);
		struct io_uring_cqe c = get(&a);
		CHECK(c.res == 2 && memcmp(buf, "ok", 2) == 0,
		      "source slot unusable after -ENFILE: recv res=%d", c.res);
	}

	/* 3. target == source ring */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
		io_uring_prep_msg_ring_fd_alloc(sqe, a.ring_fd, 1, 7, 0);
		sqe->user_data = 6;
		io_uring_submit(&a);
		struct io_uring_cqe c = get(&a);
		CHECK(c.res == -EINVAL, "same ring: want -EINVAL, got %d", c.res);
	}

	/* 4. target is not a ring */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
		io_uring_prep_msg_ring_fd_alloc(sqe, sv[1], 1, 7, 0);
		sqe->user_data = 7;
		io_uring_submit(&a);
		struct io_uring_cqe c = get(&a);
		CHECK(c.res == -EBADFD, "non-ring target: want -EBADFD, got %d", c.res);
	}

	io_uring_queue_exit(&a);
	io_uring_queue_exit(&b);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * io_uring_prep_connect(3), checked against the running kernel: a connect
 * completes with 0, a failure is a negated errno in res, and
 * IORING_FEAT_SUBMIT_STABLE: "Once a request has been submitted, the
 * in-kernel state is stable", so the sockaddr may be overwritten and even
 * unmapped right after io_uring_submit() returns. The dial path
 * (engine/proxy.c, engine/client.c) keeps its addresses alive anyway; this
 * proves the kernel guarantee the page documents, with a connect that
 * does not even start until 100 ms after its address is gone.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"

#include <sys/mman.h>
#include <time.h>

/* a connection waiting on lfd within ms? (accepted and closed) */
static int has_connection(int lfd, int ms)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	if (poll(&p, 1, ms) != 1)
		return 0;
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int main(void)
{
	struct io_uring r;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ret = io_uring_queue_init_params(8, &r, &p);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "queue_init: %s", strerror(-ret));

	/* "Applications can test for this behavior by inspecting the
	 * IORING_FEAT_SUBMIT_STABLE flag" */
	CHECK(p.features & IORING_FEAT_SUBMIT_STABLE, "IORING_FEAT_SUBMIT_STABLE not reported");

	int port_a, port_b;
	int la = tcp_listener(&port_a, 8), lb = tcp_listener(&port_b, 8);

	/* "prepares a connect request ... to the destination described by the
	 * socket address at addr": res 0, the listener has it */
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = loopback(port_a);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_connect(sqe, fd, (struct sockaddr *) &sa, sizeof(sa));
		sqe->user_data = 1;
		struct io_uring_cqe c = submit_wait(&r);
		CHECK(c.user_data == 1 && c.res == 0, "connect res %d", c.res);
		CHECK(has_connection(la, 1000), "listener A got no connection");
		close(fd);
	}

	/* "io_uring never uses errno ... the negated errno directly in the CQE
	 * res field": a port bound but not listening refuses */
	{
		int holder = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = loopback(0);
		socklen_t len = sizeof(sa);
		REQUIRE(bind(holder, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bind");
		REQUIRE(getsockname(holder, (struct sockaddr *) &sa, &len) == 0, "getsockname");
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		errno = 0;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_connect(sqe, fd, (struct sockaddr *) &sa, sizeof(sa));
		sqe->user_data = 2;
		struct io_uring_cqe c = submit_wait(&r);
		CHECK(c.res == -ECONNREFUSED, "connect to a closed port: res %d", c.res);
		CHECK(errno == 0, "errno touched: %d", errno);
		close(fd);
		close(holder);
	}

	/*
	 * SUBMIT_STABLE: the address lives in its own page. The connect is
	 * linked behind a 100 ms timeout, so it is issued long after submit;
	 * right after submit the page is rewritten to point at listener B and
	 * then unmapped. A kernel that read the address late would connect to
	 * B or fail with -EFAULT; a stable one connects to A.
	 */
	{
		long pg = sysconf(_SC_PAGESIZE);
		struct sockaddr_in *sa =
			mmap(NULL, (size_t) pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		REQUIRE(sa != MAP_FAILED, "mmap");
		*sa = loopback(port_a);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct __kernel_timespec delay = { .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_timeout(sqe, &delay, 0, IORING_TIMEOUT_ETIME_SUCCESS);
		sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = 3;
		sqe = io_uring_get_sqe(&r);
		io_uring_prep_connect(sqe, fd, (struct sockaddr *) sa, sizeof(*sa));
		sqe->user_data = 4;
		REQUIRE(io_uring_submit(&r) == 2, "submit timeout + connect");
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		t1 = t0;
		*sa = loopback(port_b);
		REQUIRE(munmap(sa, (size_t) pg) == 0, "munmap");
		int timeout_done = 0, connect_res = 1;
		for (int i = 0; i < 2; i++) {
			struct io_uring_cqe c = cqe_wait(&r, 2000);
			if (c.user_data == 3)
				timeout_done = c.res == -ETIME;
			if (c.user_data == 4) {
				connect_res = c.res;
				clock_gettime(CLOCK_MONOTONIC, &t1);
			}
		}
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		CHECK(ms >= 90, "the connect completed %ld ms after submit: before the page was gone?", ms);
		CHECK(timeout_done, "the 100 ms timeout in front of the connect did not fire");
		CHECK(connect_res == 0, "the connect with an address freed after submit: res %d",
		      connect_res);
		CHECK(has_connection(la, 1000), "the connect did not reach the address given at submit (A)");
		CHECK(!has_connection(lb, 100), "the connect followed the address written after submit (B)");
		close(fd);
	}

	close(la);
	close(lb);
	io_uring_queue_exit(&r);
	DONE();
}

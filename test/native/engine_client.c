/* SPDX-License-Identifier: MIT */
/*
 * The client engine without Node: a client ring drives a small threaded echo
 * server (one blocking thread per connection) until an exact message quota
 * is met, then closes. Every message is verified; sent == verified == quota,
 * the latency histogram holds one sample per message, nothing leaks into the
 * process fd table, and the payload pattern is the same whether generated
 * whole or in slices. Then bulk through send_zc (every notification comes
 * back) and churn with both socket set-ups and a source address.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/client.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define CONNS 8
#define QUOTA 5000

static int fd_count(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void *echo_conn(void *arg)
{
	int fd = (int) (intptr_t) arg;
	char buf[8192];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(fd, buf + off, (size_t) (n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	int ls = (int) (intptr_t) arg;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		pthread_create(&t, NULL, echo_conn, (void *) (intptr_t) fd);
		pthread_detach(t);
	}
}

int main(void)
{
	/* pattern: slices agree with the whole, keys differ */
	uint8_t whole[300], parts[300];
	uint64_t key = rl_pat_key(99, 3, 7);
	rl_pat_fill(whole, key, 0, sizeof(whole));
	rl_pat_fill(parts, key, 0, 13);
	rl_pat_fill(parts + 13, key, 13, 100);
	rl_pat_fill(parts + 113, key, 113, 187);
	CHECK(memcmp(whole, parts, sizeof(whole)) == 0, "sliced pattern differs");
	CHECK(rl_pat_key(99, 3, 7) != rl_pat_key(99, 4, 7) && rl_pat_key(99, 3, 7) != rl_pat_key(99, 3, 8),
	      "keys collide");
	for (uint64_t s = 0; s < 1000; s++) {
		uint32_t sz = rl_pat_size(rl_pat_key(1, 1, s), 10, 20);
		CHECK(sz >= 10 && sz <= 20, "size %u out of range", sz);
	}

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(ls >= 0, "socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	REQUIRE(bind(ls, (struct sockaddr *) &a, sizeof(a)) == 0 && listen(ls, 64) == 0, "listen");
	getsockname(ls, (struct sockaddr *) &a, &alen);
	pthread_t at;
	pthread_create(&at, NULL, acceptor, (void *) (intptr_t) ls);
	pthread_detach(at);

	rl_addr target;
	REQUIRE(rl_addr_parse(&target, "127.0.0.1", ntohs(a.sin_port)) == 0, "addr");
	static int32_t i32[RL_C_I32_COUNT];
	static uint64_t u64[RL_C_U64_COUNT];
	rl_client_opts o = {
		.mode = RL_CM_ECHO,
		.nconns = CONNS,
		.targets = &target,
		.ntargets = 1,
		.sock_mode = RL_SOCK_RING,
		.sock_cmd = 1,
		.size_min = 1,
		.size_max = 3000,
		.pipeline = 4,
		.chunk = 12000,
		.zc_threshold = 0,
		.seed = 42,
		.quota = QUOTA,
		.retry_ns = 100000000ull,
		.drain_ns = 2000000000ull,
		.buf_count = 256,
		.buf_size = 4096,
	};
	rl_counters c = { i32, u64 };
	rl_client cl;
	const char *failed = NULL;
	int fds0 = fd_count();
	int ret = rl_client_init(&cl, &o, c, &failed);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring unavailable");
	REQUIRE(ret == 0, "rl_client_init: %d (%s)", ret, failed);
	uint64_t now = rl_now_ns();
	REQUIRE(rl_client_start(&cl, now, now, 0) == 0, "start");
	int peak_fds = fd_count();
	uint64_t until = now + 20000000000ull;
	while (!rl_client_done(&cl) && rl_now_ns() < until) {
		struct pollfd p = { .fd = cl.ring.efd, .events = POLLIN };
		poll(&p, 1, 100);
		REQUIRE(rl_client_run(&cl, 0) >= 0, "run");
		int f = fd_count();
		if (f > peak_fds)
			peak_fds = f;
	}
	CHECK(rl_client_done(&cl), "the run did not finish (state %d)", cl.state);
	CHECK(u64[RL_CU_msgs_all] == QUOTA, "verified %llu of %d", (unsigned long long) u64[RL_CU_msgs_all],
	      QUOTA);
	CHECK(u64[RL_CU_msgs_sent] == QUOTA, "sent %llu", (unsigned long long) u64[RL_CU_msgs_sent]);
	CHECK(u64[RL_CU_verify_failures] == 0, "verify failures %llu",
	      (unsigned long long) u64[RL_CU_verify_failures]);
	CHECK(u64[RL_CU_errors] == 0, "errors %llu", (unsigned long long) u64[RL_CU_errors]);
	CHECK(u64[RL_CU_connects] == CONNS, "connects %llu", (unsigned long long) u64[RL_CU_connects]);
	CHECK(u64[RL_CU_bytes_out_all] == u64[RL_CU_bytes_in_all], "bytes out %llu in %llu",
	      (unsigned long long) u64[RL_CU_bytes_out_all], (unsigned long long) u64[RL_CU_bytes_in_all]);
	uint64_t samples = 0;
	for (unsigned i = 0; i < RL_CLIENT_HIST_BUCKETS; i++)
		samples += u64[RL_C_U64_HIST + i];
	CHECK(samples == QUOTA, "histogram holds %llu samples", (unsigned long long) samples);
	CHECK(u64[RL_CU_t_done_ns] != 0, "t_done not set");
	/* the client's connections are direct descriptors: the process fd table
	 * grows only by the server side's CONNS sockets and the ring's own fds
	 * (ring, eventfd), not by another CONNS */
	CHECK(peak_fds - fds0 <= CONNS + 4, "process fds grew by %d", peak_fds - fds0);
	rl_client_destroy(&cl);

	/* bulk through send_zc, then churn with the process-fd socket set-up and
	 * a source address: exact quotas, nothing failed */
	struct {
		unsigned mode, sock_mode, quota;
		const char *src;
	} runs[] = {
		{ RL_CM_BULK, RL_SOCK_RING, 400, NULL },
		{ RL_CM_CHURN, RL_SOCK_FD, 300, "127.0.0.2" },
		{ RL_CM_CHURN, RL_SOCK_RING, 300, "127.0.0.3" },
	};
	for (unsigned r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		memset(i32, 0, sizeof(i32));
		memset(u64, 0, sizeof(u64));
		rl_addr src;
		rl_client_opts o2 = o;
		o2.mode = runs[r].mode;
		o2.sock_mode = runs[r].sock_mode;
		o2.quota = runs[r].quota;
		o2.pipeline = 1;
		o2.zc_threshold = 8192;
		if (runs[r].src) {
			rl_addr_parse(&src, runs[r].src, 0);
			o2.sources = &src;
			o2.nsources = 1;
		}
		REQUIRE(rl_client_init(&cl, &o2, c, &failed) == 0, "init run %u", r);
		now = rl_now_ns();
		REQUIRE(rl_client_start(&cl, now, now, 0) == 0, "start run %u", r);
		until = now + 20000000000ull;
		while (!rl_client_done(&cl) && rl_now_ns() < until) {
			struct pollfd p = { .fd = cl.ring.efd, .events = POLLIN };
			poll(&p, 1, 100);
			REQUIRE(rl_client_run(&cl, 0) >= 0, "run");
		}
		uint64_t done = runs[r].mode == RL_CM_CHURN ? u64[RL_CU_cycles_all] : u64[RL_CU_msgs_all];
		CHECK(rl_client_done(&cl), "run %u did not finish", r);
		CHECK(done == runs[r].quota, "run %u: %llu of %u", r, (unsigned long long) done,
		      runs[r].quota);
		CHECK(u64[RL_CU_errors] == 0 && u64[RL_CU_verify_failures] == 0,
		      "run %u: %llu errors, %llu verify failures", r, (unsigned long long) u64[RL_CU_errors],
		      (unsigned long long) u64[RL_CU_verify_failures]);
		if (runs[r].mode == RL_CM_BULK)
			CHECK(u64[RL_CU_zc_sends] > 0 && u64[RL_CU_zc_notifs] == u64[RL_CU_zc_sends],
			      "zc sends %llu notifs %llu", (unsigned long long) u64[RL_CU_zc_sends],
			      (unsigned long long) u64[RL_CU_zc_notifs]);
		if (runs[r].mode == RL_CM_CHURN)
			CHECK(u64[RL_CU_connects] == runs[r].quota, "run %u: %llu connects", r,
			      (unsigned long long) u64[RL_CU_connects]);
		rl_client_destroy(&cl);
	}

	/* A bind that fails in the ring (an address that is not this machine's,
	 * as when one is removed during a run), with and without a linked
	 * connect timeout. The kernel posts no CQE for the connect behind a
	 * failed skip-success bind: each failure must still settle its attempt,
	 * so the run retries on the other source and finishes its quota. */
	for (int timed = 0; timed < 2; timed++) {
		memset(i32, 0, sizeof(i32));
		memset(u64, 0, sizeof(u64));
		rl_addr srcs[2];
		rl_addr_parse(&srcs[0], "127.0.0.4", 0);
		rl_addr_parse(&srcs[1], "192.0.2.1", 0); /* TEST-NET-1: EADDRNOTAVAIL */
		rl_client_opts o3 = o;
		o3.mode = RL_CM_CHURN;
		o3.sock_mode = RL_SOCK_RING;
		o3.quota = 200;
		o3.pipeline = 1;
		o3.sources = srcs;
		o3.nsources = 2;
		o3.retry_ns = 1000000ull;
		o3.connect_timeout_ns = timed ? 2000000000ull : 0;
		REQUIRE(rl_client_init(&cl, &o3, c, &failed) == 0, "init bind-failure run");
		now = rl_now_ns();
		REQUIRE(rl_client_start(&cl, now, now, 0) == 0, "start bind-failure run");
		until = now + 10000000000ull;
		while (!rl_client_done(&cl) && rl_now_ns() < until) {
			struct pollfd p = { .fd = cl.ring.efd, .events = POLLIN };
			poll(&p, 1, 100);
			REQUIRE(rl_client_run(&cl, 0) >= 0, "run");
		}
		CHECK(rl_client_done(&cl), "bind failures (timeout %d): the run did not finish (%llu cycles)",
		      timed, (unsigned long long) u64[RL_CU_cycles_all]);
		CHECK(u64[RL_CU_cycles_all] == 200, "bind failures (timeout %d): %llu of 200 cycles", timed,
		      (unsigned long long) u64[RL_CU_cycles_all]);
		CHECK(u64[RL_CU_connect_errors] > 0 && u64[RL_CU_errors] == u64[RL_CU_connect_errors],
		      "bind failures (timeout %d): %llu connect errors, %llu errors", timed,
		      (unsigned long long) u64[RL_CU_connect_errors], (unsigned long long) u64[RL_CU_errors]);
		rl_client_destroy(&cl);
	}
	close(ls);
	DONE();
}

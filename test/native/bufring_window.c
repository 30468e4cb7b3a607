/* SPDX-License-Identifier: MIT */
/*
 * The provided buffer ring keeps only a window of the free buffers in the
 * kernel's ring and tops it up from those returned most recently
 * (bufring.h). Real recvs with buffer select on socketpairs check:
 *  - a steady light load is served from the window: buffers past it are
 *    never handed out, so the memory it touches stays in the CPU's cache;
 *  - a round that uses more than half of the window doubles it;
 *  - a recv that finds the ring empty while buffers wait on the stack is not
 *    exhaustion (rl_buf_exhausted 0) and grows the window; with every buffer
 *    taken it is (1);
 *  - quiet rounds shrink the window back, never below the minimum;
 *  - every buffer is accounted for throughout (rl_buf_free).
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/bufring.h"
#include "helpers.h"
#include "../../packages/core-native/src/engine/ring.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define COUNT 256u
#define BGID 3
#define PAIRS 200

static rl_ring R;
static rl_bufring B;
static int sv[PAIRS][2];

static void post_recv(int p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&R.ring);
	REQUIRE(sqe, "no sqe");
	io_uring_prep_recv(sqe, sv[p][0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = (uint64_t) p;
}

/* n recvs on pairs [0, n), each with a byte waiting; returns the bids taken
 * (out) and how many recvs found the ring empty */
static unsigned round_of(unsigned n, int *bids, int *got)
{
	for (unsigned p = 0; p < n; p++)
		REQUIRE(write(sv[p][1], "x", 1) == 1, "write");
	for (unsigned p = 0; p < n; p++)
		post_recv((int) p);
	REQUIRE(io_uring_submit_and_wait(&R.ring, n) >= 0, "submit");
	unsigned enobufs = 0, seen = 0;
	*got = 0;
	while (seen < n) {
		struct io_uring_cqe *cqe;
		REQUIRE(io_uring_wait_cqe(&R.ring, &cqe) == 0, "wait");
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			CHECK(cqe->res == 1, "recv %d", cqe->res);
			rl_buf_taken(&B);
			bids[(*got)++] = (int) (cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		} else {
			CHECK(cqe->res == -ENOBUFS, "recv without a buffer: %d", cqe->res);
			if (cqe->res == -ENOBUFS) {
				enobufs++;
				CHECK(rl_buf_exhausted(&B) == 0, "buffers wait on the stack: not exhausted");
				char c;
				REQUIRE(read(sv[cqe->user_data][0], &c, 1) == 1, "drain");
			}
		}
		io_uring_cqe_seen(&R.ring, cqe);
		seen++;
	}
	return enobufs;
}

int main(void)
{
	rl_ring_opts ro = { .sq_entries = 256, .cq_entries = 512 };
	const char *failed = NULL;
	int ret = rl_ring_init(&R, &ro, &failed);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring unavailable");
	REQUIRE(ret == 0, "rl_ring_init: %s %d", failed, ret);
	ret = rl_bufring_init(&B, &R.ring, BGID, COUNT, 64);
	SKIP_IF(ret == -EINVAL, "no provided buffer rings (Linux < 5.19)");
	REQUIRE(ret == 0, "rl_bufring_init %d", ret);
	for (int p = 0; p < PAIRS; p++)
		REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[p]) == 0, "socketpair");

	CHECK(B.window == RL_BUF_MIN_WINDOW && B.avail == RL_BUF_MIN_WINDOW, "window %u avail %u", B.window,
	      B.avail);
	CHECK(rl_buf_free(&B) == COUNT, "free %u", rl_buf_free(&B));

	/* light load: 4 recvs a round, buffers back at once, 1,000 rounds */
	int bids[PAIRS], got;
	int highest = -1;
	for (int r = 0; r < 1000; r++) {
		CHECK(round_of(4, bids, &got) == 0, "light load found the ring empty");
		for (int i = 0; i < got; i++) {
			if (bids[i] > highest)
				highest = bids[i];
			rl_buf_put(&B, (unsigned) bids[i]);
		}
		rl_buf_commit(&B);
	}
	CHECK(highest >= 0 && highest < (int) RL_BUF_MIN_WINDOW, "light load used buffer %d, past the window",
	      highest);
	CHECK(B.window == RL_BUF_MIN_WINDOW, "light load kept the window: %u", B.window);
	CHECK(rl_buf_free(&B) == COUNT, "free %u", rl_buf_free(&B));

	/* a round using 40 of 64 doubles the window */
	CHECK(round_of(40, bids, &got) == 0, "40 of 64 found the ring empty");
	for (int i = 0; i < got; i++)
		rl_buf_put(&B, (unsigned) bids[i]);
	rl_buf_commit(&B);
	CHECK(B.window == 2 * RL_BUF_MIN_WINDOW && B.avail == B.window, "window %u avail %u", B.window,
	      B.avail);

	/* 200 recvs in one round against a window of 128: the rest find the
	 * ring empty with buffers on the stack; the window grows for them */
	unsigned short_ = round_of(PAIRS, bids, &got);
	CHECK(got == 128 && short_ == PAIRS - 128, "got %d, %u without a buffer", got, short_);
	CHECK(B.window == COUNT, "window after the empty ring %u", B.window);
	CHECK(rl_buf_free(&B) == COUNT - 128, "free %u", rl_buf_free(&B));
	rl_buf_commit(&B);
	CHECK(B.avail == COUNT - 128, "the ring holds every free buffer: %u", B.avail);

	/* keep those 128, take the other 128: now the pool itself is out */
	int more;
	CHECK(round_of(128, bids + 0, &more) == 0 && more == 128, "took %d", more);
	for (int p = 0; p < 1; p++)
		REQUIRE(write(sv[p][1], "x", 1) == 1, "write");
	post_recv(0);
	REQUIRE(io_uring_submit_and_wait(&R.ring, 1) >= 0, "submit");
	struct io_uring_cqe *cqe;
	REQUIRE(io_uring_wait_cqe(&R.ring, &cqe) == 0, "wait");
	CHECK(cqe->res == -ENOBUFS, "recv with every buffer taken: %d", cqe->res);
	io_uring_cqe_seen(&R.ring, cqe);
	CHECK(rl_buf_exhausted(&B) == 1, "every buffer taken is exhaustion");
	char c;
	REQUIRE(read(sv[0][0], &c, 1) == 1, "drain");
	CHECK(rl_buf_free(&B) == 0, "free %u", rl_buf_free(&B));

	/* give all back: quiet rounds shrink the window to the minimum */
	for (unsigned i = 0; i < COUNT; i++)
		rl_buf_put(&B, i);
	rl_buf_commit(&B);
	CHECK(rl_buf_free(&B) == COUNT, "free %u", rl_buf_free(&B));
	for (unsigned r = 0; r < 4 * RL_BUF_SHRINK_ROUNDS && B.window > RL_BUF_MIN_WINDOW; r++) {
		round_of(1, bids, &got);
		for (int i = 0; i < got; i++)
			rl_buf_put(&B, (unsigned) bids[i]);
		rl_buf_commit(&B);
	}
	CHECK(B.window == RL_BUF_MIN_WINDOW, "window after quiet rounds %u", B.window);
	/* the ring drains down to the window before it is topped up again */
	for (int r = 0; r < 400; r++) {
		round_of(1, bids, &got);
		for (int i = 0; i < got; i++)
			rl_buf_put(&B, (unsigned) bids[i]);
		rl_buf_commit(&B);
	}
	CHECK(B.avail == RL_BUF_MIN_WINDOW, "avail %u", B.avail);
	CHECK(rl_buf_free(&B) == COUNT, "free %u", rl_buf_free(&B));

	for (int p = 0; p < PAIRS; p++) {
		close(sv[p][0]);
		close(sv[p][1]);
	}
	rl_bufring_destroy(&B, &R.ring);
	rl_ring_destroy(&R);
	DONE();
}

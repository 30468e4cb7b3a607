/* SPDX-License-Identifier: MIT */
/*
 * One acceptor serving two listening sockets (systemd's ListenStream=8080
 * and ListenStream=8081), against the real kernel:
 *  1. multishot is asked for but not armed (its margin is per listener);
 *     the single-shot accepts are spread over both listeners;
 *  2. connections on both are accepted and handed off to a target ring,
 *     where each one's byte arrives, and every completed accept is re-armed
 *     on its own listener;
 *  3. with the table nearly full, no more accepts are armed than free
 *     slots: connections on both listeners wait in the backlogs, none is
 *     accepted into a full table (no -ENFILE), and all are accepted once
 *     the held slots are handed off;
 *  4. share reports both, stop closes both.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/ud.h"
#include "helpers.h"
#include "sockets.h"

#define TABLE 16
#define TARGET_SLOTS 64

static int32_t ai32[RL_A_I32_COUNT];
static uint64_t au64[RL_A_U64_COUNT];
static struct io_uring target;
/* bytes that reached the target ring, by value */
static int got_a, got_b;

/* take the target ring's hand-off CQEs (bounded): read each connection's
 * byte on its new slot, then close the slot. Returns how many arrived. */
static int target_take(int want)
{
	int slots[TARGET_SLOTS], n = 0;
	for (int i = 0; i < 2000 && n < want; i++) {
		struct io_uring_cqe *cqe;
		while (n < want && io_uring_peek_cqe(&target, &cqe) == 0) {
			CHECK(rl_ud_op(cqe->user_data) == RL_OP_HANDOFF_IN && cqe->res >= 0,
			      "target CQE op %u res %d", rl_ud_op(cqe->user_data), cqe->res);
			slots[n++] = cqe->res;
			io_uring_cqe_seen(&target, cqe);
		}
		if (n < want)
			usleep(1000);
	}
	for (int i = 0; i < n; i++) {
		char c = 0;
		int r = slot_recv(&target, (unsigned) slots[i], &c);
		CHECK(r == 1, "recv on the target's slot %d: %d", slots[i], r);
		got_a += c == 'A';
		got_b += c == 'B';
		struct io_uring_sqe *sqe = io_uring_get_sqe(&target);
		io_uring_prep_close_direct(sqe, (unsigned) slots[i]);
		sqe->user_data = 0xc105e;
		struct io_uring_cqe cl = submit_wait(&target);
		CHECK(cl.res == 0, "close on the target: %d", cl.res);
	}
	return n;
}

/* run the acceptor (bounded) until `want` accepts; hand each off at once
 * (handoff), or keep its slot in held[] */
static int run_accepts(rl_acceptor *a, int want, int handoff, int *held, int *nheld)
{
	int got = 0;
	for (int i = 0; i < 500 && got < want; i++) {
		rl_acceptor_run(a);
		for (unsigned k = 0; k < a->nev; k++) {
			if (a->ev[k].type == RL_AEV_HANDOFF_ERR)
				CHECK(0, "hand-off failed: %d", a->ev[k].b);
			if (a->ev[k].type != RL_AEV_ACCEPT)
				continue;
			got++;
			CHECK(a->used + a->armed <= TABLE, "armed %u with %u of %u slots used", a->armed,
			      a->used, TABLE);
			if (handoff)
				CHECK(rl_acceptor_handoff(a, (unsigned) a->ev[k].slot, 0) == 0, "handoff");
			else
				held[(*nheld)++] = a->ev[k].slot;
		}
		a->nev = 0;
		if (got < want)
			usleep(1000);
	}
	for (int i = 0; i < 20; i++) { /* submit the hand-offs, take their CQEs */
		rl_acceptor_run(a);
		a->nev = 0;
		usleep(1000);
	}
	return got;
}

static int dial_with(int port, char c)
{
	int fd = tcp_dial(port);
	REQUIRE(write(fd, &c, 1) == 1, "write");
	return fd;
}

int main(void)
{
	rl_acceptor a;
	rl_acceptor_opts o = { .table_size = TABLE, .multishot = 1, .multishot_margin = 2 };
	rl_counters c = { ai32, au64 };
	int ret = rl_acceptor_init(&a, &o, c, NULL);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "acceptor init: %s", strerror(-ret));
	REQUIRE(io_uring_queue_init(256, &target, 0) == 0, "target ring");
	REQUIRE(io_uring_register_files_sparse(&target, TARGET_SLOTS) == 0, "target table");
	REQUIRE(rl_acceptor_add_target(&a, target.ring_fd) == 0, "add target");

	int pa, pb;
	int fds[2] = { tcp_listener(&pa, 64), tcp_listener(&pb, 64) };
	REQUIRE(rl_acceptor_listen_fds(&a, fds, 2, 0) == 0, "listen on two");

	/* 1. single-shot only, spread over both */
	CHECK(a.ms_state == 0 && au64[RL_AU_multishot_arms] == 0, "multishot armed with two listeners");
	CHECK(a.armed == TABLE && a.lst[0].armed == TABLE / 2 && a.lst[1].armed == TABLE / 2,
	      "armed %u: %u + %u, want %d + %d", a.armed, a.lst[0].armed, a.lst[1].armed, TABLE / 2,
	      TABLE / 2);

	/* 2. ten connections on each, interleaved, accepted and handed off */
	int clients[64], n = 0;
	for (int i = 0; i < 10; i++) {
		clients[n++] = dial_with(pa, 'A');
		clients[n++] = dial_with(pb, 'B');
	}
	CHECK(run_accepts(&a, 20, 1, NULL, NULL) == 20, "not all 20 accepted");
	CHECK(target_take(20) == 20, "not all 20 reached the target");
	CHECK(got_a == 10 && got_b == 10, "bytes on the target: %d A, %d B (want 10, 10)", got_a, got_b);
	CHECK(au64[RL_AU_handoffs] == 20, "hand-offs %llu", (unsigned long long) au64[RL_AU_handoffs]);
	CHECK(a.used == 0 && a.lst[0].armed == TABLE / 2 && a.lst[1].armed == TABLE / 2,
	      "re-armed on their own listeners: used %u, %u + %u", a.used, a.lst[0].armed, a.lst[1].armed);
	for (int i = 0; i < n; i++)
		close(clients[i]);
	n = 0;

	/* 3. hold TABLE - 1 slots (both listeners), then 3 more on each */
	int held[TABLE + 8], nheld = 0;
	for (int i = 0; i < TABLE - 1; i++)
		clients[n++] = dial_with(i % 2 ? pb : pa, i % 2 ? 'B' : 'A');
	CHECK(run_accepts(&a, TABLE - 1, 0, held, &nheld) == TABLE - 1, "held %d of %d", nheld, TABLE - 1);
	CHECK(a.armed <= 1 && a.used == TABLE - 1, "one slot free: armed %u, used %u", a.armed, a.used);
	for (int i = 0; i < 3; i++) {
		clients[n++] = dial_with(pa, 'A');
		clients[n++] = dial_with(pb, 'B');
	}
	CHECK(run_accepts(&a, 6, 0, held, &nheld) == 1, "into the last free slot: want 1 accept");
	CHECK(a.used == TABLE && a.armed == 0 && ai32[RL_AI_stalled] == 1,
	      "full: used %u armed %u stalled %d", a.used, a.armed, ai32[RL_AI_stalled]);
	for (int i = n - 6; i < n; i++)
		CHECK(peer_state(clients[i], 0) == 1, "a waiting client's connection ended");
	/* hand off the held slots: the 5 waiting on both listeners come in */
	for (int i = 0; i < nheld; i++)
		CHECK(rl_acceptor_handoff(&a, (unsigned) held[i], 0) == 0, "handoff of a held slot");
	int first = nheld;
	nheld = 0;
	CHECK(run_accepts(&a, 5, 1, NULL, NULL) == 5, "the waiting connections were not all accepted");
	CHECK(target_take(first + 5) == first + 5, "not all reached the target");
	CHECK(got_a == 10 + 8 + 3 && got_b == 10 + 7 + 3, "bytes on the target: %d A, %d B", got_a, got_b);
	CHECK(au64[RL_AU_accepted] == 20 + TABLE - 1 + 6, "accepted %llu, want %d",
	      (unsigned long long) au64[RL_AU_accepted], 20 + TABLE - 1 + 6);
	CHECK(au64[RL_AU_accept_errors] == 0 && au64[RL_AU_err_enfile] == 0,
	      "accept errors %llu (ENFILE %llu): accepted into a full table",
	      (unsigned long long) au64[RL_AU_accept_errors], (unsigned long long) au64[RL_AU_err_enfile]);
	CHECK(a.used == 0 && a.armed == TABLE, "at the end: used %u, armed %u", a.used, a.armed);
	for (int i = 0; i < n; i++)
		close(clients[i]);

	/* 4. share names both; stop closes both */
	int out[RL_MAX_LISTENERS];
	CHECK(rl_acceptor_share(&a, out, RL_MAX_LISTENERS) == 2 && out[0] == fds[0] && out[1] == fds[1],
	      "share");
	rl_acceptor_stop(&a);
	for (int i = 0; i < 50; i++) {
		rl_acceptor_run(&a);
		usleep(1000);
	}
	CHECK(a.armed == 0 && a.lst[0].armed == 0 && a.lst[1].armed == 0, "accepts left after stop: %u",
	      a.armed);
	CHECK(fcntl(fds[0], F_GETFD) < 0 && fcntl(fds[1], F_GETFD) < 0, "listeners still open after stop");
	rl_acceptor_destroy(&a);
	io_uring_queue_exit(&target);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * The acceptor with multishot accept on (multishotAccept: true), against
 * the real kernel (io_uring_prep_accept(3): "repeatedly trigger a CQE ...
 * look at the CQE flags and see if IORING_CQE_F_MORE is set"):
 *  1. one multishot SQE really serves many connections: every accept
 *     arrives while the engine has armed exactly one multishot and no
 *     single-shot accept (a CQE with F_MORE keeps it armed);
 *  2. when the kernel ends it (a CQE without F_MORE; here a cancel the
 *     engine did not ask for), the engine arms a new one and goes on;
 *  3. as the table fills it cancels the multishot below its margin and
 *     accepts single-shot, never more than its free slots: a connection
 *     beyond the table waits in the backlog and is accepted once slots
 *     free up. No accept fails with -ENFILE on the way.
 * The kernel side of F_MORE (set while the request lives, clear on the
 * last CQE, -ENFILE ends it) is test/native/seed_accept.c.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/ud.h"
#include "helpers.h"
#include "sockets.h"

#define TABLE 16
#define MARGIN 2 /* multishot armed at >= 2 * MARGIN free slots, cancelled below MARGIN */

static int32_t ai32[RL_A_I32_COUNT];
static uint64_t au64[RL_A_U64_COUNT];

/* run the acceptor until `want` connections were accepted (bounded); each
 * slot is dropped at once, or kept in held[] */
static int run_accepts(rl_acceptor *a, int want, int drop, int *held, int *nheld)
{
	int got = 0;
	for (int i = 0; i < 2000 && got < want; i++) {
		rl_acceptor_run(a);
		for (unsigned k = 0; k < a->nev; k++) {
			if (a->ev[k].type != RL_AEV_ACCEPT)
				continue;
			got++;
			if (drop)
				rl_acceptor_drop(a, (unsigned) a->ev[k].slot);
			else
				held[(*nheld)++] = a->ev[k].slot;
		}
		a->nev = 0;
		if (got < want)
			usleep(1000);
	}
	rl_acceptor_run(a); /* submit the drops */
	a->nev = 0;
	return got;
}

/* run the acceptor for ms, for the closes and re-arms to settle */
static void settle(rl_acceptor *a, int ms)
{
	for (int i = 0; i < ms; i++) {
		rl_acceptor_run(a);
		usleep(1000);
	}
}

int main(void)
{
	rl_acceptor a;
	rl_acceptor_opts o = { .table_size = TABLE, .multishot = 1, .multishot_margin = MARGIN };
	rl_counters c = { ai32, au64 };
	int ret = rl_acceptor_init(&a, &o, c, NULL);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "acceptor init: %s", strerror(-ret));
	int port;
	REQUIRE(rl_acceptor_start(&a, tcp_listener(&port, 64)) == 0, "start");
	CHECK(a.ms_state == 1 && au64[RL_AU_multishot_arms] == 1 && au64[RL_AU_single_arms] == 0,
	      "multishot armed at start (arms %llu, single %llu)",
	      (unsigned long long) au64[RL_AU_multishot_arms], (unsigned long long) au64[RL_AU_single_arms]);

	/* 1. eight connections through the one multishot */
	int clients[TABLE + 1], n = 0;
	for (int i = 0; i < 8; i++) {
		clients[n++] = tcp_dial(port);
		CHECK(run_accepts(&a, 1, 1, NULL, NULL) == 1, "connection %d not accepted", i);
	}
	settle(&a, 20);
	CHECK(au64[RL_AU_accepted] == 8, "accepted %llu", (unsigned long long) au64[RL_AU_accepted]);
	CHECK(au64[RL_AU_multishot_arms] == 1 && au64[RL_AU_single_arms] == 0,
	      "8 accepts took %llu multishot and %llu single-shot SQEs (want 1 and 0)",
	      (unsigned long long) au64[RL_AU_multishot_arms], (unsigned long long) au64[RL_AU_single_arms]);
	CHECK(ai32[RL_AI_multishot] == 1, "multishot gauge %d", ai32[RL_AI_multishot]);
	for (int i = 0; i < n; i++)
		close(clients[i]);
	n = 0;

	/* 2. the kernel ends the multishot behind the engine's back: its last
	 * CQE (-ECANCELED) has no F_MORE, and the engine arms a new one */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&a.ring.ring);
		io_uring_prep_cancel64(sqe, rl_ud(RL_OP_ACCEPT_MS, 0, 0, 0), 0);
		sqe->user_data = rl_ud(RL_OP_NONE, 0, 0, 0);
		for (int i = 0; i < 500 && au64[RL_AU_multishot_arms] < 2; i++) {
			rl_acceptor_run(&a);
			usleep(1000);
		}
	}
	CHECK(au64[RL_AU_multishot_arms] == 2 && a.ms_state == 1,
	      "after a CQE without F_MORE: %llu multishot arms (want 2), state %d",
	      (unsigned long long) au64[RL_AU_multishot_arms], a.ms_state);
	CHECK(au64[RL_AU_accept_errors] == 0, "a cancelled multishot is not an accept error");
	for (int i = 0; i < 4; i++) {
		clients[n++] = tcp_dial(port);
		CHECK(run_accepts(&a, 1, 1, NULL, NULL) == 1, "connection %d after the re-arm not accepted",
		      i);
	}
	settle(&a, 20);
	CHECK(au64[RL_AU_accepted] == 12 && au64[RL_AU_single_arms] == 0,
	      "the re-armed multishot took them: accepted %llu, single-shot arms %llu",
	      (unsigned long long) au64[RL_AU_accepted], (unsigned long long) au64[RL_AU_single_arms]);
	for (int i = 0; i < n; i++)
		close(clients[i]);
	n = 0;

	/* 3. fill the table one connection at a time and hold every slot */
	int held[TABLE + 1], nheld = 0;
	for (int i = 0; i < TABLE; i++) {
		clients[n++] = tcp_dial(port);
		CHECK(run_accepts(&a, 1, 0, held, &nheld) == 1, "connection %d of %d not accepted", i + 1,
		      TABLE);
		CHECK(a.used + a.armed <= TABLE, "more accepts armed (%u) than free slots (%u used)", a.armed,
		      a.used);
	}
	settle(&a, 20);
	CHECK(a.ms_state == 0, "the multishot must be off with the table full (state %d)", a.ms_state);
	CHECK(au64[RL_AU_single_arms] > 0, "below the margin the engine must accept single-shot");
	CHECK(a.used == TABLE && a.armed == 0 && ai32[RL_AI_stalled] == 1,
	      "full: used %u, armed %u, stalled %d", a.used, a.armed, ai32[RL_AI_stalled]);
	/* one more waits in the backlog, not accepted into a full table */
	clients[n++] = tcp_dial(port);
	CHECK(run_accepts(&a, 1, 0, held, &nheld) == 0, "a connection was accepted into a full table");
	CHECK(peer_state(clients[n - 1], 0) == 1, "the waiting connection must stay open");
	/* free the table: the waiting connection is accepted */
	for (int i = 0; i < nheld; i++)
		rl_acceptor_drop(&a, (unsigned) held[i]);
	nheld = 0;
	CHECK(run_accepts(&a, 1, 1, NULL, NULL) == 1,
	      "the waiting connection was not accepted after the table freed");
	settle(&a, 50);
	CHECK(au64[RL_AU_accepted] == 12 + TABLE + 1, "accepted %llu, want %d",
	      (unsigned long long) au64[RL_AU_accepted], 12 + TABLE + 1);
	CHECK(au64[RL_AU_err_enfile] == 0 && au64[RL_AU_accept_errors] == 0,
	      "accept errors: %llu (ENFILE %llu): the kernel accepted into a full table",
	      (unsigned long long) au64[RL_AU_accept_errors], (unsigned long long) au64[RL_AU_err_enfile]);
	CHECK(a.used == 0, "slots in use at the end: %u", a.used);
	for (int i = 0; i < n; i++)
		close(clients[i]);

	rl_acceptor_stop(&a);
	settle(&a, 10);
	rl_acceptor_destroy(&a);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * The acceptor hands a connection to a worker ring whose thread has
 * destroyed it (io_uring_prep_msg_ring_fd(3), the server's dead-worker
 * path). The acceptor holds a dup of every worker ring fd
 * (rl_acceptor_add_target), so the ring outlives its owner's close:
 *  1. a worker ring as the server makes it (COOP_TASKRUN): the kernel takes
 *     the hand-off (HANDOFF_OK) into a ring nobody serves; the connection
 *     stays open, unserved, until the acceptor drops the target
 *     (rl_acceptor_remove_target), then it is closed (EOF). The server
 *     therefore stops sending to a worker before it ends, and a crashing
 *     worker sends late arrivals back (test/native/worker_evacuate.c).
 *  2. a DEFER_TASKRUN worker ring (workerDeferTaskrun: true) whose thread
 *     exited: the kernel refuses with -EOWNERDEAD, the engine reports
 *     HANDOFF_ERR and counts a dead target, the slot stays with the
 *     acceptor, and the same connection is then handed to a live worker,
 *     which receives the client's bytes.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "helpers.h"
#include "sockets.h"

#include <pthread.h>

static int32_t ai32[RL_A_I32_COUNT];
static uint64_t au64[RL_A_U64_COUNT];

typedef struct owner {
	int no_defer;
	volatile int ring_fd, added, done;
} owner;

/* a worker thread: make the ring, wait to be added as a target, destroy
 * the ring (closing its fd) and exit */
static void *owner_main(void *arg)
{
	owner *o = arg;
	rl_ring r;
	rl_ring_opts ro = { .sq_entries = 8, .files = 8, .no_defer_taskrun = o->no_defer };
	if (rl_ring_init(&r, &ro, NULL) < 0) {
		o->ring_fd = -2;
		return NULL;
	}
	o->ring_fd = rl_ring_fd(&r);
	while (!o->added)
		usleep(1000);
	rl_ring_destroy(&r);
	return NULL;
}

/* a worker ring that is gone, but still a target of the acceptor */
static int dead_target(rl_acceptor *a, int no_defer)
{
	owner o = { .no_defer = no_defer, .ring_fd = -1 };
	pthread_t t;
	pthread_create(&t, NULL, owner_main, &o);
	for (int i = 0; i < 2000 && o.ring_fd == -1; i++)
		usleep(1000);
	REQUIRE(o.ring_fd >= 0, "worker ring");
	int idx = rl_acceptor_add_target(a, o.ring_fd);
	REQUIRE(idx >= 0, "add target: %d", idx);
	o.added = 1;
	pthread_join(t, NULL);
	return idx;
}

/* run the acceptor until an event of `type` (bounded); copies it out */
static int wait_event(rl_acceptor *a, int type, rl_acc_event *out)
{
	for (int i = 0; i < 2000; i++) {
		rl_acceptor_run(a);
		for (unsigned k = 0; k < a->nev; k++) {
			if (a->ev[k].type == type) {
				*out = a->ev[k];
				a->nev = 0;
				return 1;
			}
		}
		a->nev = 0;
		usleep(1000);
	}
	return 0;
}

int main(void)
{
	rl_acceptor a;
	rl_acceptor_opts o = { .table_size = 8 };
	rl_counters c = { ai32, au64 };
	int ret = rl_acceptor_init(&a, &o, c, NULL);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "acceptor init: %s", strerror(-ret));
	int port;
	REQUIRE(rl_acceptor_start(&a, tcp_listener(&port, 16)) == 0, "start");
	rl_acc_event e;

	/* 1. the server's worker ring (COOP_TASKRUN), owner gone */
	{
		int target = dead_target(&a, 1);
		int client = tcp_dial(port);
		REQUIRE(wait_event(&a, RL_AEV_ACCEPT, &e), "accept");
		REQUIRE(rl_acceptor_handoff(&a, (unsigned) e.slot, (unsigned) target) == 0, "hand-off");
		CHECK(wait_event(&a, RL_AEV_HANDOFF_OK, &e),
		      "the kernel takes a hand-off into a COOP ring whose owner is gone");
		CHECK(peer_state(client, 100) == 1,
		      "the connection sits open and unserved in the orphan ring");
		CHECK(rl_acceptor_remove_target(&a, (unsigned) target) == 0, "remove target");
		CHECK(peer_state(client, 1000) == 0, "dropping the last ring reference must close it (EOF)");
		close(client);
	}

	/* 2. a DEFER_TASKRUN worker ring whose thread exited */
	{
		int target = dead_target(&a, 0);
		rl_ring live;
		rl_ring_opts lo = { .sq_entries = 8, .files = 8, .no_defer_taskrun = 1 };
		REQUIRE(rl_ring_init(&live, &lo, NULL) == 0, "live worker ring");
		int live_target = rl_acceptor_add_target(&a, rl_ring_fd(&live));
		REQUIRE(live_target >= 0, "add live target");

		int client = tcp_dial(port);
		REQUIRE(wait_event(&a, RL_AEV_ACCEPT, &e), "accept");
		int slot = e.slot;
		REQUIRE(rl_acceptor_handoff(&a, (unsigned) slot, (unsigned) target) == 0, "hand-off");
		CHECK(wait_event(&a, RL_AEV_HANDOFF_ERR, &e),
		      "no HANDOFF_ERR from a DEFER_TASKRUN ring without owner");
		CHECK(e.slot == slot && e.b == -EOWNERDEAD, "HANDOFF_ERR slot %d res %d, want -EOWNERDEAD",
		      e.slot, e.b);
		CHECK(au64[RL_AU_handoff_dead] == 1, "counted as a dead target: %llu",
		      (unsigned long long) au64[RL_AU_handoff_dead]);
		CHECK(peer_state(client, 50) == 1, "the refused connection stays open");
		rl_acceptor_remove_target(&a, (unsigned) target);

		/* the same connection to a live worker */
		REQUIRE(rl_acceptor_handoff(&a, (unsigned) slot, (unsigned) live_target) == 0,
			"hand-off again");
		CHECK(wait_event(&a, RL_AEV_HANDOFF_OK, &e) && e.slot == slot, "second hand-off");
		struct io_uring_cqe in = cqe_wait(&live.ring, 2000);
		CHECK(in.res >= 0, "the live worker got the connection: res %d", in.res);
		if (in.res >= 0) {
			REQUIRE(write(client, "z", 1) == 1, "write");
			char b = 0;
			CHECK(slot_recv(&live.ring, (unsigned) in.res, &b) == 1 && b == 'z',
			      "the client's byte reaches the live worker");
		}
		close(client);
		rl_ring_destroy(&live);
	}
	for (int i = 0; i < 50 && a.used; i++) {
		rl_acceptor_run(&a);
		a.nev = 0;
		usleep(1000);
	}
	CHECK(a.used == 0, "acceptor slots in use at the end: %u", a.used);
	rl_acceptor_stop(&a);
	rl_acceptor_destroy(&a);
	DONE();
}

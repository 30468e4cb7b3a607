/* SPDX-License-Identifier: MIT */
/*
 * A failing worker sends its late arrivals back (hardening issue, defect
 * 10): once rl_worker_evacuate() is called, a hand-off that reaches the
 * worker goes back to the acceptor ring (msg_ring fd_alloc, same connection
 * id), arrives there as RL_AEV_ACCEPT with b = 1, and can be handed to
 * another worker, which serves it. Nothing is lost, and every slot ends
 * free: the worker's, the acceptor's (with its reservation), the other's.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/worker.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define CLIENTS 20

typedef struct wctx {
	rl_worker w;
	int32_t i32[RL_W_I32_COUNT];
	uint64_t u64[RL_W_U64_COUNT];
	volatile int ready, stop, ring_fd, evacuate_to;
	pthread_t t;
} wctx;

static void *worker_main(void *arg)
{
	wctx *x = arg;
	rl_worker_opts o = { .table_size = 64, .buf_count = 64, .buf_size = 4096, .mode = RL_MODE_ECHO };
	rl_counters c = { x->i32, x->u64 };
	if (rl_worker_init(&x->w, &o, c, NULL) < 0) {
		x->ready = -1;
		return NULL;
	}
	x->ring_fd = rl_ring_fd(&x->w.ring);
	/* the ring's own thread switches it, as the binding does */
	if (x->evacuate_to >= 0 && rl_worker_evacuate(&x->w, x->evacuate_to) < 0) {
		x->ready = -1;
		return NULL;
	}
	x->ready = 1;
	while (!x->stop) {
		struct pollfd p = { x->w.ring.efd, POLLIN, 0 };
		if (poll(&p, 1, 10) > 0)
			rl_worker_run(&x->w);
	}
	rl_worker_close_all(&x->w);
	for (int i = 0; i < 100 && x->w.cx.live; i++) {
		struct pollfd p = { x->w.ring.efd, POLLIN, 0 };
		poll(&p, 1, 10);
		rl_worker_run(&x->w);
	}
	return NULL;
}

static echo_clients ec;

int main(void)
{
	rl_probe_result pr;
	SKIP_IF(rl_probe(&pr) < 0, "io_uring is not available here");
	SKIP_IF(!pr.msg_ring_fd, "kernel lacks msg_ring fd passing");

	int32_t ai[RL_A_I32_COUNT] = { 0 };
	uint64_t au[RL_A_U64_COUNT] = { 0 };
	rl_acceptor a;
	rl_acceptor_opts ao = { .table_size = 64 };
	rl_counters ac = { ai, au };
	REQUIRE(rl_acceptor_init(&a, &ao, ac, NULL) == 0, "acceptor init");

	/* worker 0 is failing from the start; worker 1 serves */
	static wctx w[2];
	w[0].evacuate_to = rl_ring_fd(&a.ring);
	w[1].evacuate_to = -1;
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i].t, NULL, worker_main, &w[i]);
	for (int i = 0; i < 2; i++) {
		while (!w[i].ready)
			usleep(1000);
		REQUIRE(w[i].ready == 1, "worker %d failed to start", i);
		REQUIRE(rl_acceptor_add_target(&a, w[i].ring_fd) == i, "target %d", i);
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	REQUIRE(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(lfd, 64) == 0, "listen");
	getsockname(lfd, (struct sockaddr *) &sa, &len);
	rl_acceptor_reserve(&a, CLIENTS); /* room for everything worker 0 sends back */
	REQUIRE(rl_acceptor_start(&a, lfd) == 0, "start");

	ec = (echo_clients){ .port = ntohs(sa.sin_port),
			     .clients = CLIENTS,
			     .concurrency = 4,
			     .max_len = 3000,
			     .chunk = 1000,
			     .seed_salt = 7,
			     .poll_ms = 3000 };
	pthread_t tids[4];
	echo_client_arg args[4];
	echo_clients_start(&ec, tids, args);

	/* fresh accepts go to worker 0 (failing); what comes back goes to 1 */
	int fresh = 0, back = 0;
	for (int iter = 0; iter < 6000 && ec.done < ec.concurrency; iter++) {
		struct pollfd p = { a.ring.efd, POLLIN, 0 };
		poll(&p, 1, 1);
		rl_acceptor_run(&a);
		for (unsigned k = 0; k < a.nev; k++) {
			rl_acc_event *e = &a.ev[k];
			if (e->type == RL_AEV_ACCEPT) {
				int to = e->b ? 1 : 0;
				if (e->b)
					back++;
				else
					fresh++;
				CHECK(rl_acceptor_handoff(&a, (unsigned) e->slot, (unsigned) to) == 0,
				      "hand-off");
			} else if (e->type == RL_AEV_HANDOFF_ERR) {
				CHECK(0, "hand-off error %d", e->b);
			}
		}
		a.nev = 0;
		rl_ring_submit(&a.ring);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(tids[i], NULL);
	CHECK(ec.failures == 0, "%d clients failed", ec.failures);
	CHECK(fresh == CLIENTS && back == CLIENTS, "accepted %d, sent back %d, want %d each", fresh, back,
	      CLIENTS);
	CHECK(w[0].u64[RL_WU_evacuated] == CLIENTS, "worker 0 sent back %llu",
	      (unsigned long long) w[0].u64[RL_WU_evacuated]);
	CHECK(w[0].u64[RL_WU_evacuate_failed] == 0, "none failed to go back");
	CHECK(w[0].u64[RL_WU_accepted] == 0, "worker 0 served nothing");
	CHECK(w[1].u64[RL_WU_accepted] == CLIENTS, "worker 1 served %llu",
	      (unsigned long long) w[1].u64[RL_WU_accepted]);
	CHECK(au[RL_AU_returned] == CLIENTS, "acceptor counted %llu returns",
	      (unsigned long long) au[RL_AU_returned]);

	/* every slot free again */
	for (int i = 0; i < 200 && (a.used || w[0].w.cx.slots_used || w[1].w.cx.slots_used); i++) {
		rl_acceptor_run(&a);
		a.nev = 0;
		usleep(1000);
	}
	CHECK(a.used == 0, "acceptor slots used %u", a.used);
	CHECK(w[0].w.cx.slots_used == 0 && w[1].w.cx.slots_used == 0, "worker slots used %u, %u",
	      w[0].w.cx.slots_used, w[1].w.cx.slots_used);
	rl_acceptor_reserve(&a, -CLIENTS);
	CHECK(a.reserved == 0, "reservation released");

	for (int i = 0; i < 2; i++) {
		w[i].stop = 1;
		pthread_join(w[i].t, NULL);
		rl_worker_destroy(&w[i].w);
	}
	rl_acceptor_stop(&a);
	rl_acceptor_destroy(&a);
	DONE();
}

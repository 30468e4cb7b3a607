/* SPDX-License-Identifier: MIT */
/*
 * The engine end to end, without Node: one acceptor (tiny table), two worker
 * rings (tiny tables) on their own threads, real TCP clients. Every byte is
 * echoed, -ENFILE on a full worker table is retried rather than lost, and
 * afterwards every acceptor and worker slot is free again.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/worker.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define NW 2
#define CLIENTS 400
#define CONCURRENCY 48

typedef struct wctx {
	rl_worker w;
	int32_t i32[RL_W_I32_COUNT];
	uint64_t u64[RL_W_U64_COUNT];
	volatile int ready, stop, ring_fd;
	pthread_t t;
	unsigned table;
} wctx;

static void *worker_main(void *arg)
{
	wctx *x = arg;
	rl_worker_opts o = {
		.table_size = x->table, .buf_count = 64, .buf_size = 4096, .mode = RL_MODE_ECHO
	};
	rl_counters c = { x->i32, x->u64 };
	int ret = rl_worker_init(&x->w, &o, c, NULL);
	if (ret < 0) {
		fprintf(stderr, "worker init %d\n", ret);
		x->ready = -1;
		return NULL;
	}
	x->ring_fd = rl_ring_fd(&x->w.ring);
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

	static wctx w[NW];
	for (int i = 0; i < NW; i++) {
		w[i].table = 8;
		pthread_create(&w[i].t, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < NW; i++) {
		while (!w[i].ready)
			usleep(1000);
		REQUIRE(w[i].ready == 1, "worker %d failed to start", i);
	}

	int32_t ai[RL_A_I32_COUNT] = { 0 };
	uint64_t au[RL_A_U64_COUNT] = { 0 };
	rl_acceptor a;
	rl_acceptor_opts ao = { .table_size = 32, .max_armed = 8, .want_addr = 1 };
	REQUIRE(rl_acceptor_init(&a, &ao, (rl_counters){ ai, au }, NULL) == 0, "acceptor init");
	int targets[NW];
	for (int i = 0; i < NW; i++) {
		targets[i] = rl_acceptor_add_target(&a, w[i].ring_fd);
		REQUIRE(targets[i] >= 0, "add target");
	}
	rl_addr la;
	rl_addr_parse(&la, "127.0.0.1", 0);
	int lfd = rl_listen(&la, 512, 0, NULL);
	REQUIRE(lfd >= 0, "listen %d", lfd);
	ec.port = rl_local_port(lfd);
	REQUIRE(rl_acceptor_start(&a, lfd) == 0, "start");

	pthread_t ct[CONCURRENCY];
	echo_client_arg cargs[CONCURRENCY];
	ec.clients = CLIENTS;
	ec.concurrency = CONCURRENCY;
	ec.max_len = 65536;
	ec.chunk = 8192;
	ec.seed_salt = 1;
	ec.early_shut = 0;
	ec.poll_ms = 2000;
	echo_clients_start(&ec, ct, cargs);

	/* the scheduler, minimal: round robin, held queue, ENFILE -> saturated */
	int held[1024], nheld = 0, rr = 0, saturated[NW] = { 0 }, enfile = 0, ok = 0;
	uint64_t deadline = rl_now_ns() + 60ull * 1000000000ull;
	while (ec.done < CONCURRENCY && rl_now_ns() < deadline) {
		struct pollfd p = { a.ring.efd, POLLIN, 0 };
		poll(&p, 1, 5);
		rl_acceptor_run(&a);
		for (unsigned e = 0; e < a.nev; e++) {
			rl_acc_event *ev = &a.ev[e];
			if (ev->type == RL_AEV_ACCEPT)
				held[nheld++] = ev->slot;
			else if (ev->type == RL_AEV_HANDOFF_OK)
				ok++;
			else if (ev->type == RL_AEV_HANDOFF_ERR) {
				CHECK(ev->b == -ENFILE, "hand-off error %d", ev->b);
				enfile++;
				saturated[ev->a] = 1;
				held[nheld++] = ev->slot;
			}
		}
		a.nev = 0;
		for (int i = 0; i < NW; i++)
			if (saturated[i] && RL_LOAD(&w[i].i32[RL_WI_live]) < (int) w[i].table / 2)
				saturated[i] = 0;
		int kept = 0;
		for (int h = 0; h < nheld; h++) {
			int tgt = -1;
			for (int k = 0; k < NW; k++) {
				int cand = (rr + k) % NW;
				if (!saturated[cand]) {
					tgt = cand;
					break;
				}
			}
			if (tgt < 0) {
				held[kept++] = held[h];
				continue;
			}
			rr = tgt + 1;
			CHECK(rl_acceptor_handoff(&a, (unsigned) held[h], (unsigned) targets[tgt]) == 0,
			      "handoff");
		}
		nheld = kept;
		rl_ring_submit(&a.ring);
	}
	for (long i = 0; i < CONCURRENCY; i++)
		pthread_join(ct[i], NULL);

	/* let closes land */
	for (int i = 0; i < 100; i++) {
		struct pollfd p = { a.ring.efd, POLLIN, 0 };
		poll(&p, 1, 10);
		rl_acceptor_run(&a);
		a.nev = 0;
		if (RL_LOAD(&w[0].i32[RL_WI_live]) == 0 && RL_LOAD(&w[1].i32[RL_WI_live]) == 0 && a.used == 0)
			break;
	}
	CHECK(ec.failures == 0, "%d client failures", ec.failures);
	CHECK(ok == CLIENTS, "hand-offs %d of %d", ok, CLIENTS);
	CHECK(a.used == 0, "acceptor slots still used: %u", a.used);
	CHECK(au[RL_AU_accepted] == CLIENTS, "accepted %llu", (unsigned long long) au[RL_AU_accepted]);
	uint64_t total = 0;
	for (int i = 0; i < NW; i++) {
		CHECK(RL_LOAD(&w[i].i32[RL_WI_live]) == 0, "worker %d live=%d", i, w[i].i32[RL_WI_live]);
		CHECK(RL_LOAD(&w[i].i32[RL_WI_table_used]) == 0, "worker %d slots used=%d", i,
		      w[i].i32[RL_WI_table_used]);
		CHECK(w[i].u64[RL_WU_accepted] > 0, "worker %d served nothing", i);
		CHECK(RL_LOAD(&w[i].i32[RL_WI_buf_free]) == 64, "worker %d buffers free %d", i,
		      w[i].i32[RL_WI_buf_free]);
		total += w[i].u64[RL_WU_accepted];
	}
	CHECK(total == CLIENTS, "workers accepted %llu", (unsigned long long) total);
	printf("enfile retries: %d, handoff p50 bucket present: %llu\n", enfile,
	       (unsigned long long) (w[0].u64[RL_WU_handoff_n] + w[1].u64[RL_WU_handoff_n]));
	for (int i = 0; i < NW; i++) {
		w[i].stop = 1;
		pthread_join(w[i].t, NULL);
		rl_worker_destroy(&w[i].w);
	}
	rl_acceptor_destroy(&a);
	DONE();
}

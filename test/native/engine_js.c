/* SPDX-License-Identifier: MIT */
/*
 * JS mode without Node: a worker ring in RL_MODE_JS whose "handler" is C code
 * reading the event records as the binding hands them to JS. The event buffer
 * holds only 3 records, so nearly every batch overflows into the engine's
 * spill list and must still arrive complete and in order. The handler echoes
 * with all three write paths in turn: the data view itself (queued in place),
 * a copy, and two small staged writes. Clients half-close; the handler end()s
 * on END; every byte must come back, every connection must close cleanly,
 * stale handles must be refused, and every buffer and slot must be free at
 * the end.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/js.h"
#include "../../packages/core-native/src/engine/worker.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENTS 240
#define CONCURRENCY 24
#define TABLE 32
#define BUFS 64
#define EVCAP 3

static rl_worker W;
static int32_t wi32[RL_W_I32_COUNT];
static uint64_t wu64[RL_W_U64_COUNT];
static int32_t ev[EVCAP * RL_JS_EV_WORDS];
static volatile int ready, stop, ring_fd;

/* handler-side view of the connections */
static int32_t gen_of[TABLE];
static int open_[TABLE];
static int connects, closes, close_errors, ends, data_events, stale_ok, order_errors, addr_errors;
static int in_place, copied, staged, write_errors;
static uint64_t max_batch;

static void handle(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int32_t *r = ev + (size_t) i * RL_JS_EV_WORDS;
		unsigned type = (unsigned) r[0] & 0xffff;
		uint16_t gen = (uint16_t) ((uint32_t) r[0] >> 16);
		uint32_t idx = (uint32_t) r[1];
		if (idx >= TABLE) {
			order_errors++;
			continue;
		}
		if (type != RL_JEV_CONNECT && (!open_[idx] || gen_of[idx] != gen)) {
			fprintf(stderr, "event %u for idx %u gen %u: not open (open %d gen %d)\n", type, idx,
				gen, open_[idx], gen_of[idx]);
			order_errors++;
			continue;
		}
		switch (type) {
		case RL_JEV_CONNECT: {
			if (open_[idx])
				order_errors++;
			open_[idx] = 1;
			gen_of[idx] = gen;
			connects++;
			unsigned fam = (uint32_t) r[3] >> 16, port = (uint32_t) r[3] & 0xffff;
			const uint8_t *a = (const uint8_t *) &r[4];
			if (fam != AF_INET || port == 0 || a[0] != 127)
				addr_errors++;
			break;
		}
		case RL_JEV_DATA: {
			uint32_t bid = (uint32_t) r[2], len = (uint32_t) r[3];
			const uint8_t *p = W.br.base + (size_t) bid * W.br.size;
			int64_t q;
			switch (data_events++ % 3) {
			case 0:
				q = rl_js_write(&W, idx, gen, p, len);
				in_place++;
				break;
			case 1: {
				uint8_t *copy = malloc(len);
				memcpy(copy, p, len);
				q = rl_js_write(&W, idx, gen, copy, len);
				free(copy);
				copied++;
				break;
			}
			default: {
				q = rl_js_write(&W, idx, gen, p, len / 2);
				if (q >= 0)
					q = rl_js_write(&W, idx, gen, p + len / 2, len - len / 2);
				staged++;
				break;
			}
			}
			if (q < 0) {
				fprintf(stderr, "write idx %u: %lld\n", idx, (long long) q);
				write_errors++;
			}
			break;
		}
		case RL_JEV_END:
			ends++;
			CHECK(rl_js_end(&W, idx, gen) == 0, "end");
			{
				/* refused: -EPIPE, or -ESTALE when end() closed it at once */
				int64_t q = rl_js_write(&W, idx, gen, "x", 1);
				CHECK(q == -EPIPE || q == -ESTALE, "write after end: %lld", (long long) q);
			}
			break;
		case RL_JEV_DRAIN:
			break;
		case RL_JEV_CLOSE:
			if (r[2] != 0) {
				fprintf(stderr, "close idx %u err %d\n", idx, r[2]);
				close_errors++;
			}
			open_[idx] = 0;
			closes++;
			if (rl_js_write(&W, idx, gen, "x", 1) == -ESTALE &&
			    rl_js_end(&W, idx, gen) == -ESTALE)
				stale_ok++;
			break;
		default:
			order_errors++;
		}
	}
}

/* what the binding does on every wake */
static void wake(void)
{
	int again;
	do {
		rl_worker_run(&W);
		unsigned n, batch = 0;
		while ((n = rl_js_ready(&W)) > 0) {
			handle(n);
			rl_js_consumed(&W, n);
			batch += n;
		}
		if (batch > max_batch)
			max_batch = batch;
		again = rl_js_end_batch(&W);
		rl_ring_submit(&W.ring);
	} while (again);
}

static void *worker_main(void *arg)
{
	/* zero-copy sends on: in-place writes of 2 KiB and more leave with send_zc_fixed */
	rl_worker_opts o = { .table_size = TABLE,
			     .buf_count = BUFS,
			     .buf_size = 4096,
			     .mode = RL_MODE_JS,
			     .zc_threshold = 2048 };
	int ret = rl_worker_init(&W, &o, (rl_counters){ wi32, wu64 }, NULL);
	if (ret < 0) {
		fprintf(stderr, "worker init %d\n", ret);
		ready = -1;
		return NULL;
	}
	rl_js_attach(&W, ev, EVCAP);
	ring_fd = rl_ring_fd(&W.ring);
	ready = 1;
	while (!stop) {
		struct pollfd p = { W.ring.efd, POLLIN, 0 };
		if (poll(&p, 1, 10) > 0)
			wake();
	}
	for (int i = 0; i < 100 && W.cx.live; i++) {
		struct pollfd p = { W.ring.efd, POLLIN, 0 };
		poll(&p, 1, 10);
		wake();
	}
	return NULL;
}

static echo_clients ec;

int main(void)
{
	rl_probe_result pr;
	SKIP_IF(rl_probe(&pr) < 0, "io_uring is not available here");
	SKIP_IF(!pr.msg_ring_fd, "kernel lacks msg_ring fd passing");

	pthread_t wt;
	pthread_create(&wt, NULL, worker_main, NULL);
	while (!ready)
		usleep(1000);
	REQUIRE(ready == 1, "worker failed to start");

	int32_t ai[RL_A_I32_COUNT] = { 0 };
	uint64_t au[RL_A_U64_COUNT] = { 0 };
	rl_acceptor a;
	rl_acceptor_opts ao = { .table_size = 64, .max_armed = 8, .want_addr = 1 };
	REQUIRE(rl_acceptor_init(&a, &ao, (rl_counters){ ai, au }, NULL) == 0, "acceptor init");
	int target = rl_acceptor_add_target(&a, ring_fd);
	REQUIRE(target >= 0, "add target");
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
	ec.max_len = 40000;
	ec.chunk = 3000;
	ec.seed_salt = 3;
	ec.early_shut = 1;
	ec.poll_ms = 3000;
	echo_clients_start(&ec, ct, cargs);

	/* hand every accepted slot to the worker; retry on a full table */
	int held[256], nheld = 0, ok = 0;
	uint64_t deadline = rl_now_ns() + 90ull * 1000000000ull;
	while (ec.done < CONCURRENCY && rl_now_ns() < deadline) {
		struct pollfd p = { a.ring.efd, POLLIN, 0 };
		poll(&p, 1, 5);
		rl_acceptor_run(&a);
		for (unsigned e = 0; e < a.nev; e++) {
			rl_acc_event *x = &a.ev[e];
			if (x->type == RL_AEV_ACCEPT)
				held[nheld++] = x->slot;
			else if (x->type == RL_AEV_HANDOFF_OK)
				ok++;
			else if (x->type == RL_AEV_HANDOFF_ERR) {
				CHECK(x->b == -ENFILE, "hand-off error %d", x->b);
				held[nheld++] = x->slot;
			}
		}
		a.nev = 0;
		int kept = 0;
		for (int h = 0; h < nheld; h++) {
			if (RL_LOAD(&wi32[RL_WI_live]) >= TABLE - 2) {
				held[kept++] = held[h];
				continue;
			}
			CHECK(rl_acceptor_handoff(&a, (unsigned) held[h], (unsigned) target) == 0, "handoff");
		}
		nheld = kept;
		rl_ring_submit(&a.ring);
	}
	for (long i = 0; i < CONCURRENCY; i++)
		pthread_join(ct[i], NULL);
	for (int i = 0; i < 200 && (RL_LOAD(&wi32[RL_WI_live]) != 0 || a.used); i++) {
		struct pollfd p = { a.ring.efd, POLLIN, 0 };
		poll(&p, 1, 10);
		rl_acceptor_run(&a);
		a.nev = 0;
	}
	stop = 1;
	pthread_join(wt, NULL);

	CHECK(ec.failures == 0, "%d client failures", ec.failures);
	CHECK(ok == CLIENTS, "hand-offs %d of %d", ok, CLIENTS);
	CHECK(connects == CLIENTS && closes == CLIENTS && ends == CLIENTS, "connects %d ends %d closes %d",
	      connects, ends, closes);
	CHECK(close_errors == 0, "%d closes with an error", close_errors);
	CHECK(order_errors == 0, "%d events out of order or for a closed connection", order_errors);
	CHECK(addr_errors == 0, "%d connections without their peer address", addr_errors);
	CHECK(write_errors == 0, "%d writes refused", write_errors);
	CHECK(stale_ok == CLIENTS, "stale handles refused %d of %d", stale_ok, CLIENTS);
	CHECK(in_place > 0 && copied > 0 && staged > 0, "write paths: in place %d, copied %d, staged %d",
	      in_place, copied, staged);
	CHECK(max_batch > EVCAP, "largest batch %llu: the overflow list was never used",
	      (unsigned long long) max_batch);
	CHECK(RL_LOAD(&wi32[RL_WI_live]) == 0, "live %d", wi32[RL_WI_live]);
	CHECK(RL_LOAD(&wi32[RL_WI_table_used]) == 0, "slots used %d", wi32[RL_WI_table_used]);
	CHECK(RL_LOAD(&wi32[RL_WI_buf_free]) == BUFS, "buffers free %d of %d", wi32[RL_WI_buf_free], BUFS);
	CHECK(wu64[RL_WU_js_events] >= (uint64_t) data_events + 3 * CLIENTS, "js_events %llu",
	      (unsigned long long) wu64[RL_WU_js_events]);
	CHECK(W.cx.buffered == 0, "bytes still queued: %llu", (unsigned long long) W.cx.buffered);
	printf("events %llu in %llu calls, largest batch %llu; writes: %d in place, %d copied, %d staged; zc sends %llu\n",
	       (unsigned long long) wu64[RL_WU_js_events], (unsigned long long) wu64[RL_WU_js_batches],
	       (unsigned long long) max_batch, in_place, copied, staged,
	       (unsigned long long) wu64[RL_WU_zc_sends]);
	rl_worker_destroy(&W);
	rl_acceptor_destroy(&a);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * A receive budget on the connection core (conn.h recv_budget), as the proxy
 * uses it to bound what one direction takes in before its pause lands. Over
 * a real loopback connection, with 256-byte buffers:
 *  - 16 KiB written at once arrive whole and in order, and between two arms
 *    of the recv the core never delivers more than the budget plus one
 *    buffer: with the kernel's byte cap (Linux >= 6.17) the multishot recv
 *    ends there and is re-armed; without it, one buffer per recv;
 *  - the same with the cap turned off by hand (the older kernels' path);
 *  - with no budget (0) the recv stays multishot: one arm for everything.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/conn.h"
#include "helpers.h"
#include "sockets.h"

#define BUF 256u
#define COUNT 64u
#define TOTAL 16384u
#define BUDGET 1000u

typedef struct owner {
	rl_ring ring;
	rl_bufring br;
	rl_conns cx;
	int budgeted;   /* the hook answers BUDGET, else 0 (no limit) */
	unsigned arms;  /* budget hook calls: one per arm of the recv */
	unsigned since; /* bytes delivered since the last arm */
	unsigned worst; /* the most delivered between two arms */
	unsigned got;   /* bytes delivered in all */
	unsigned char data[TOTAL];
	int closed;
} owner;

static void on_data(rl_conns *cx, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	owner *o = cx->owner;
	if (o->got + len <= TOTAL)
		memcpy(o->data + o->got, rl_buf(&o->br, bid), len);
	o->got += len;
	o->since += len;
	if (o->since > o->worst)
		o->worst = o->since;
	rl_seg_release(cx, bid);
}

static unsigned budget(rl_conns *cx, rl_conn *c, unsigned side)
{
	owner *o = cx->owner;
	o->arms++;
	o->since = 0;
	return o->budgeted ? BUDGET : 0;
}

static void on_closed(rl_conns *cx, rl_conn *c) { ((owner *) cx->owner)->closed = 1; }

static const rl_conn_ops ops = { .data = on_data, .recv_budget = budget, .closed = on_closed };

static void pump(owner *o)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000000LL };
	struct io_uring_cqe *cqe;
	io_uring_submit_and_wait_timeout(&o->ring.ring, &cqe, 1, &ts, NULL);
	unsigned head, n = 0;
	io_uring_for_each_cqe(&o->ring.ring, head, cqe)
	{
		rl_conn *c = rl_conn_of(&o->cx, cqe);
		if (c)
			rl_conn_cqe(&o->cx, c, cqe);
		n++;
	}
	io_uring_cq_advance(&o->ring.ring, n);
	rl_buf_commit(&o->br);
	rl_conns_feed_starved(&o->cx);
}

static unsigned char pattern(unsigned i) { return (unsigned char) (i * 7u + (i >> 8)); }

/* one connection, TOTAL bytes written at once; returns the owner's figures */
static void run(owner *o, int budgeted, int cap, const char *what)
{
	memset(o, 0, sizeof(*o));
	rl_ring_opts ro = { .sq_entries = 64, .files = 4, .wait_in_ring = 1 };
	REQUIRE(rl_ring_init(&o->ring, &ro, NULL) == 0, "ring init");
	REQUIRE(rl_bufring_init(&o->br, &o->ring.ring, 0, COUNT, BUF) == 0, "buffer ring");
	rl_conns_opts co = { .cap = 1 };
	REQUIRE(rl_conns_init(&o->cx, &o->ring, &o->br, &co, &ops, o) == 0, "conns init");
	o->cx.recv_cap = cap;
	o->budgeted = budgeted;

	int port = 0;
	int lfd = tcp_listener(&port, 4);
	int cfd = tcp_dial(port);
	int sfd = accept(lfd, NULL, NULL);
	REQUIRE(lfd >= 0 && cfd >= 0 && sfd >= 0, "a loopback connection");
	REQUIRE(io_uring_register_files_update(&o->ring.ring, 0, &sfd, 1) == 1, "slot 0");
	close(sfd);
	rl_conn *c = &o->cx.conns[0];
	rl_conn_open(&o->cx, c);
	c->s[0].slot = 0;
	o->cx.slots_used = 1;

	static unsigned char out[TOTAL];
	for (unsigned i = 0; i < TOTAL; i++)
		out[i] = pattern(i);
	REQUIRE(write(cfd, out, TOTAL) == (ssize_t) TOTAL, "client write");
	rl_sock_arm_recv(&o->cx, c, 0);
	for (int i = 0; i < 500 && o->got < TOTAL; i++)
		pump(o);
	CHECK(o->got == TOTAL, "%s: %u of %u bytes arrived", what, o->got, TOTAL);
	CHECK(!memcmp(o->data, out, TOTAL), "%s: the bytes arrived in order", what);

	rl_conn_close(&o->cx, c, 0);
	for (int i = 0; i < 50 && !o->closed; i++)
		pump(o);
	CHECK(o->closed, "%s: the connection closed", what);
	CHECK(rl_buf_free(&o->br) == COUNT, "%s: every buffer back (%u of %u)", what, rl_buf_free(&o->br),
	      COUNT);
	close(cfd);
	close(lfd);
	rl_ring_destroy(&o->ring);
	rl_conns_destroy(&o->cx);
	rl_bufring_destroy(&o->br, NULL);
}

int main(void)
{
	require_io_uring();
	static owner o;
	int cap = rl_recv_cap_supported();
	printf("kernel caps multishot recv by bytes: %s\n", cap ? "yes" : "no");

	if (cap) {
		run(&o, 1, 1, "capped multishot");
		CHECK(o.worst <= BUDGET + BUF,
		      "capped multishot: %u bytes between two arms (budget %u + one %u buffer)", o.worst,
		      BUDGET, BUF);
		/* 16 KiB at <= 1,256 a time: at least 13 arms */
		CHECK(o.arms >= TOTAL / (BUDGET + BUF), "capped multishot: re-armed %u times", o.arms);
		printf("capped multishot: %u arms, at most %u bytes between two\n", o.arms, o.worst);
	}
	run(&o, 1, 0, "one buffer at a time");
	CHECK(o.worst <= BUF, "one buffer at a time: %u bytes between two arms", o.worst);
	CHECK(o.arms >= TOTAL / BUF, "one buffer at a time: %u arms", o.arms);

	run(&o, 0, cap, "no budget");
	CHECK(o.arms <= 2, "no budget: one multishot recv took it all (%u arms)", o.arms);

	DONE();
}

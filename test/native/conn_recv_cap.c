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
#include "helpers.h"
#include "sockets.h"
#include "conn_harness.h"

#define BUF 256u
#define COUNT 64u
#define TOTAL 16384u
#define BUDGET 1000u

typedef struct owner {
	conn_rig r;
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
		memcpy(o->data + o->got, rl_buf(&o->r.br, bid), len);
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

static unsigned char pattern(unsigned i) { return (unsigned char) (i * 7u + (i >> 8)); }

/* one connection, TOTAL bytes written at once; returns the owner's figures */
static void run(owner *o, int budgeted, int cap, const char *what)
{
	memset(o, 0, sizeof(*o));
	rl_conns_opts co = { .cap = 1 };
	rig_init(&o->r, COUNT, BUF, &co, &ops, o);
	o->r.cx.recv_cap = cap;
	o->budgeted = budgeted;
	rl_conn *c = rig_connect(&o->r);
	int cfd = o->r.cfd;

	static unsigned char out[TOTAL];
	for (unsigned i = 0; i < TOTAL; i++)
		out[i] = pattern(i);
	REQUIRE(write(cfd, out, TOTAL) == (ssize_t) TOTAL, "client write");
	rl_sock_arm_recv(&o->r.cx, c, 0);
	for (int i = 0; i < 500 && o->got < TOTAL; i++)
		rig_pump(&o->r, 20);
	CHECK(o->got == TOTAL, "%s: %u of %u bytes arrived", what, o->got, TOTAL);
	CHECK(!memcmp(o->data, out, TOTAL), "%s: the bytes arrived in order", what);

	rig_close(&o->r, &o->closed, what);
	rig_destroy(&o->r);
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

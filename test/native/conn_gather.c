/* SPDX-License-Identifier: MIT */
/*
 * Gathered sends on the connection core (conns_opts.gather): what queues up
 * behind a send in flight leaves in one sendmsg. Over a real loopback
 * connection with 256-byte buffers, an owner echoes what arrives, every
 * third piece copied into a chunk of its own (so buffers and chunks mix in
 * one queue); the client writes 64 KiB at once and reads it back.
 *  - the bytes come back whole and in order, gathered or not;
 *  - gathered, fewer send completions than segments queued (without
 *    gathering, one completion per segment);
 *  - every buffer is back in the ring at the end, the byte counts match.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"
#include "conn_harness.h"

#include <fcntl.h>

#define BUF 256u
#define COUNT 512u
#define TOTAL 65536u

typedef struct owner {
	conn_rig r;
	unsigned queued;  /* segments queued */
	unsigned pieces;  /* data events */
	unsigned sends;   /* sent hook calls with a finished segment */
	uint64_t sent;    /* bytes the sent hook reported */
	unsigned deepest; /* the most segments queued at once */
	int closed;
} owner;

static unsigned depth(const rl_conns *cx, const rl_sock *s)
{
	unsigned n = 0;
	for (uint32_t k = s->qhead; k != RL_SEG_NONE; k = cx->segs[k].next)
		n++;
	return n;
}

static void on_data(rl_conns *cx, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	owner *o = cx->owner;
	uint32_t seg = bid;
	if (o->pieces++ % 3 == 2) {
		seg = rl_seg_chunk(cx, rl_buf(&o->r.br, bid), len);
		REQUIRE(seg != RL_SEG_NONE, "a chunk");
		rl_seg_release(cx, bid);
	}
	o->queued++;
	rl_sock_enqueue(cx, c, side, seg, len);
	unsigned d = depth(cx, &c->s[side]);
	if (d > o->deepest)
		o->deepest = d;
}

static void on_sent(rl_conns *cx, rl_conn *c, unsigned side, unsigned res, uint32_t seg)
{
	owner *o = cx->owner;
	o->sent += res;
	if (seg != RL_SEG_NONE)
		o->sends++;
}

static void on_closed(rl_conns *cx, rl_conn *c) { ((owner *) cx->owner)->closed = 1; }

static const rl_conn_ops ops = { .data = on_data, .sent = on_sent, .closed = on_closed };

static unsigned char pattern(unsigned i) { return (unsigned char) (i * 13u + (i >> 9)); }

static void run(owner *o, unsigned gather, const char *what)
{
	memset(o, 0, sizeof(*o));
	rl_conns_opts co = { .cap = 1, .gather = gather };
	rig_init(&o->r, COUNT, BUF, &co, &ops, o);
	rl_conn *c = rig_connect(&o->r);
	int cfd = o->r.cfd;

	static unsigned char out[TOTAL], back[TOTAL];
	for (unsigned i = 0; i < TOTAL; i++)
		out[i] = pattern(i);
	REQUIRE(write(cfd, out, TOTAL) == (ssize_t) TOTAL, "client write");
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	rl_sock_arm_recv(&o->r.cx, c, 0);
	unsigned got = 0;
	for (int i = 0; i < 2000 && got < TOTAL; i++) {
		rig_pump(&o->r, 5);
		ssize_t r;
		while (got < TOTAL && (r = read(cfd, back + got, TOTAL - got)) > 0)
			got += (unsigned) r;
	}
	CHECK(got == TOTAL, "%s: %u of %u bytes came back", what, got, TOTAL);
	CHECK(!memcmp(back, out, TOTAL), "%s: the bytes came back in order", what);
	CHECK(o->sent == TOTAL, "%s: the sent hook reported %llu bytes", what, (unsigned long long) o->sent);
	printf("%s: %u segments queued (at most %u at once), %u send completions\n", what, o->queued,
	       o->deepest, o->sends);

	rig_close(&o->r, &o->closed, what);
	rig_destroy(&o->r);
}

int main(void)
{
	require_io_uring();
	static owner o;

	run(&o, 0, "one segment a send");
	CHECK(o.sends == o.queued, "one segment a send: %u completions for %u segments", o.sends, o.queued);

	run(&o, RL_GATHER_MAX, "gathered");
	/* 64 KiB arrive in 256 of 256 B, faster than one send a round trip
	 * takes them: the queue backs up, and each send takes up to 8 */
	CHECK(o.deepest > 1, "gathered: the queue held %u segments at most", o.deepest);
	CHECK(o.sends * 2 <= o.queued, "gathered: %u completions for %u segments", o.sends, o.queued);
	DONE();
}

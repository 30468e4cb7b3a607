/* SPDX-License-Identifier: MIT */
/*
 * The connection core on its own: a buffer that arrived is sent back from
 * where it lies (as the echo mode does) with send_zc, and when the kernel's
 * notification gives it back the owner hears of it through sent(res 0,
 * RL_SEG_NONE) with the socket's zbufs fallen to 0. The worker's modes
 * depend on that call to resume receiving: the proxy bounds what a socket
 * holds by the buffers queued plus those a zero-copy send still pins.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"
#include "conn_harness.h"

#include <sys/uio.h>

typedef struct owner {
	conn_rig r;        /* first: the after_cqe hook casts back */
	unsigned echoed;   /* bytes the sends completed */
	unsigned returned; /* sent(0, RL_SEG_NONE) calls */
	int zbufs_then;    /* the socket's zbufs at the last of them */
	int max_zbufs;     /* the most buffers the kernel held at once */
	int closed;
	uint64_t zc_sends;
} owner;

static void on_data(rl_conns *cx, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	rl_sock_enqueue(cx, c, side, bid, len);
}

static void on_sent(rl_conns *cx, rl_conn *c, unsigned side, unsigned res, uint32_t seg)
{
	owner *o = cx->owner;
	o->echoed += res;
	if (!res && seg == RL_SEG_NONE) {
		o->returned++;
		o->zbufs_then = c->s[side].zbufs;
	}
}

static void on_closed(rl_conns *cx, rl_conn *c) { ((owner *) cx->owner)->closed = 1; }

static const rl_conn_ops ops = { .data = on_data, .sent = on_sent, .closed = on_closed };

/* after each CQE: the most buffers the kernel held at once */
static void track_zbufs(conn_rig *r)
{
	owner *o = (owner *) r;
	if (r->cx.conns[0].s[0].zbufs > o->max_zbufs)
		o->max_zbufs = r->cx.conns[0].s[0].zbufs;
}

int main(void)
{
	require_io_uring();
	static owner o;
	rl_conns_opts co = { .cap = 1, .zc_threshold = 1 };
	rig_init(&o.r, 8, 4096, &co, &ops, &o);
	o.r.after_cqe = track_zbufs;
	o.r.cx.k.zc_sends = &o.zc_sends;
	/* the provided buffers as fixed buffer 0, as the worker registers them */
	struct iovec iov = { .iov_base = o.r.br.base, .iov_len = o.r.br.map_len };
	SKIP_IF(io_uring_register_buffers(&o.r.ring.ring, &iov, 1) < 0,
		"cannot register the buffers (memlock)");
	o.r.cx.zc_fixed = 1;

	rl_conn *c = rig_connect(&o.r);
	int cfd = o.r.cfd;
	rl_sock_arm_recv(&o.r.cx, c, 0);

	static const char msg[] = "zero-copy, back where it came from";
	REQUIRE(write(cfd, msg, sizeof(msg)) == (ssize_t) sizeof(msg), "client write");
	char got[sizeof(msg)];
	size_t n = 0;
	for (int i = 0; i < 100 && (n < sizeof(msg) || !o.returned); i++) {
		rig_pump(&o.r, 20);
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		if (n < sizeof(msg) && poll(&p, 1, 0) == 1) {
			ssize_t r = read(cfd, got + n, sizeof(msg) - n);
			if (r > 0)
				n += (size_t) r;
		}
	}
	REQUIRE(n == sizeof(msg) && !memcmp(got, msg, n), "echoed %zu of %zu bytes", n, sizeof(msg));
	SKIP_IF(o.zc_sends == 0, "send_zc was not used (kernel without it)");
	CHECK(o.echoed == sizeof(msg), "sends completed %u bytes", o.echoed);
	CHECK(o.max_zbufs == 1, "the kernel held the buffer until its notification (zbufs %d)", o.max_zbufs);
	CHECK(o.returned == 1, "sent(0, RL_SEG_NONE) told of the buffer coming back %u times", o.returned);
	CHECK(o.zbufs_then == 0, "zbufs %d when the owner heard of it", o.zbufs_then);
	CHECK(o.r.br.avail == o.r.br.count, "the buffer is back in the ring (%u of %u)", o.r.br.avail,
	      o.r.br.count);

	rig_close(&o.r, &o.closed, "zc release");
	rig_destroy(&o.r);
	DONE();
}

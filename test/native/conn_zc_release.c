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
#include "../../packages/core-native/src/engine/conn.h"
#include "helpers.h"
#include "sockets.h"

#include <sys/uio.h>

typedef struct owner {
	rl_ring ring;
	rl_bufring br;
	rl_conns cx;
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

/* submit, wait up to 20 ms, hand every CQE to the core */
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
		if (o->cx.conns[0].s[0].zbufs > o->max_zbufs)
			o->max_zbufs = o->cx.conns[0].s[0].zbufs;
		n++;
	}
	io_uring_cq_advance(&o->ring.ring, n);
	rl_buf_commit(&o->br);
}

int main(void)
{
	require_io_uring();
	static owner o;
	rl_ring_opts ro = { .sq_entries = 64, .files = 4, .wait_in_ring = 1 };
	REQUIRE(rl_ring_init(&o.ring, &ro, NULL) == 0, "ring init");
	REQUIRE(rl_bufring_init(&o.br, &o.ring.ring, 0, 8, 4096) == 0, "buffer ring");
	rl_conns_opts co = { .cap = 1, .zc_threshold = 1 };
	REQUIRE(rl_conns_init(&o.cx, &o.ring, &o.br, &co, &ops, &o) == 0, "conns init");
	o.cx.k.zc_sends = &o.zc_sends;
	/* the provided buffers as fixed buffer 0, as the worker registers them */
	struct iovec iov = { .iov_base = o.br.base, .iov_len = o.br.map_len };
	SKIP_IF(io_uring_register_buffers(&o.ring.ring, &iov, 1) < 0,
		"cannot register the buffers (memlock)");
	o.cx.zc_fixed = 1;

	int port = 0;
	int lfd = tcp_listener(&port, 4);
	int cfd = tcp_dial(port);
	int sfd = accept(lfd, NULL, NULL);
	REQUIRE(lfd >= 0 && cfd >= 0 && sfd >= 0, "a loopback connection");
	REQUIRE(io_uring_register_files_update(&o.ring.ring, 0, &sfd, 1) == 1, "slot 0");
	close(sfd);
	rl_conn *c = &o.cx.conns[0];
	rl_conn_open(&o.cx, c);
	c->s[0].slot = 0;
	o.cx.slots_used = 1;
	rl_sock_arm_recv(&o.cx, c, 0);

	static const char msg[] = "zero-copy, back where it came from";
	REQUIRE(write(cfd, msg, sizeof(msg)) == (ssize_t) sizeof(msg), "client write");
	char got[sizeof(msg)];
	size_t n = 0;
	for (int i = 0; i < 100 && (n < sizeof(msg) || !o.returned); i++) {
		pump(&o);
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
	CHECK(o.br.avail == o.br.count, "the buffer is back in the ring (%u of %u)", o.br.avail, o.br.count);

	rl_conn_close(&o.cx, c, 0);
	for (int i = 0; i < 50 && !o.closed; i++)
		pump(&o);
	CHECK(o.closed, "the connection closed");
	close(cfd);
	close(lfd);
	rl_ring_destroy(&o.ring);
	rl_conns_destroy(&o.cx);
	rl_bufring_destroy(&o.br, NULL);
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * The connection core's tests (conn_*.c) drive one rl_conns by hand: a ring,
 * a buffer ring, the core, and one loopback connection in fixed slot 0. This
 * is that set-up and the completion pump. Include after helpers.h and
 * sockets.h.
 */
#ifndef RL_TEST_CONN_HARNESS_H
#define RL_TEST_CONN_HARNESS_H
#include "../../packages/core-native/src/engine/conn.h"

typedef struct conn_rig {
	rl_ring ring;
	rl_bufring br;
	rl_conns cx;
	int lfd, cfd; /* listener and the client's end */
	/* called after each CQE the core handled, when set */
	void (*after_cqe)(struct conn_rig *r);
} conn_rig;

/* ring, count buffers of size bytes, the core (owner gets the hooks) */
static inline void rig_init(conn_rig *r, unsigned count, unsigned size, const rl_conns_opts *co,
			    const rl_conn_ops *ops, void *owner)
{
	rl_ring_opts ro = { .sq_entries = 64, .files = 4, .wait_in_ring = 1 };
	REQUIRE(rl_ring_init(&r->ring, &ro, NULL) == 0, "ring init");
	REQUIRE(rl_bufring_init(&r->br, &r->ring.ring, 0, count, size) == 0, "buffer ring");
	REQUIRE(rl_conns_init(&r->cx, &r->ring, &r->br, co, ops, owner) == 0, "conns init");
}

/* a loopback connection whose server end is connection 0, side 0, slot 0 */
static inline rl_conn *rig_connect(conn_rig *r)
{
	int port = 0;
	r->lfd = tcp_listener(&port, 4);
	r->cfd = tcp_dial(port);
	int sfd = accept(r->lfd, NULL, NULL);
	REQUIRE(r->lfd >= 0 && r->cfd >= 0 && sfd >= 0, "a loopback connection");
	REQUIRE(io_uring_register_files_update(&r->ring.ring, 0, &sfd, 1) == 1, "slot 0");
	close(sfd);
	rl_conn *c = &r->cx.conns[0];
	rl_conn_open(&r->cx, c);
	c->s[0].slot = 0;
	r->cx.slots_used = 1;
	return c;
}

/* submit, wait up to ms for a CQE, hand every CQE to the core, then give
 * the released buffers back and feed sockets that ran out of them */
static inline void rig_pump(conn_rig *r, long ms)
{
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };
	struct io_uring_cqe *cqe;
	io_uring_submit_and_wait_timeout(&r->ring.ring, &cqe, 1, &ts, NULL);
	unsigned head, n = 0;
	io_uring_for_each_cqe(&r->ring.ring, head, cqe)
	{
		rl_conn *c = rl_conn_of(&r->cx, cqe);
		if (c)
			rl_conn_cqe(&r->cx, c, cqe);
		if (r->after_cqe)
			r->after_cqe(r);
		n++;
	}
	io_uring_cq_advance(&r->ring.ring, n);
	rl_buf_commit(&r->br);
	rl_conns_feed_starved(&r->cx);
}

/* close connection 0, pump until the owner's closed hook set *closed, and
 * check that every buffer is back in the ring */
static inline void rig_close(conn_rig *r, const int *closed, const char *what)
{
	rl_conn_close(&r->cx, &r->cx.conns[0], 0);
	for (int i = 0; i < 50 && !*closed; i++)
		rig_pump(r, 20);
	CHECK(*closed, "%s: the connection closed", what);
	CHECK(rl_buf_free(&r->br) == r->br.count, "%s: every buffer back (%u of %u)", what,
	      rl_buf_free(&r->br), r->br.count);
}

static inline void rig_destroy(conn_rig *r)
{
	close(r->cfd);
	close(r->lfd);
	rl_ring_destroy(&r->ring);
	rl_conns_destroy(&r->cx);
	rl_bufring_destroy(&r->br, NULL);
}

#endif

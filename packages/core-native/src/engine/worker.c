/* SPDX-License-Identifier: MIT */
/*
 * The worker ring (see worker.h): set-up, the hand-off of connections from
 * the acceptor, the dispatch of completions to the connection core and the
 * mode, the engine timer and the drain. Receiving, sending and closing are
 * the connection core's (conn.c); the worker counts what it does through the
 * core's hooks and passes each event on to its mode.
 */
#define _GNU_SOURCE
#include "worker_int.h"
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#define BGID 0

/* ---------------- the connection core's hooks ---------------- */

static void on_data(rl_conns *cx, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	rl_worker *w = cx->owner;
	RL_ADD(&w->c.u64[RL_WU_bytes_in], (uint64_t) len);
	RL_ADD(&w->c.u64[RL_WU_recvs], 1);
	w->ops->data(w, c, side, bid, len);
}

static void on_eof(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_worker *w = cx->owner;
	if (w->ops->eof)
		w->ops->eof(w, c, side);
}

static void on_sent(rl_conns *cx, rl_conn *c, unsigned side, unsigned res, uint32_t seg)
{
	rl_worker *w = cx->owner;
	if (res) {
		RL_ADD(&w->c.u64[RL_WU_bytes_out], (uint64_t) res);
		/* the proxy's two directions count what reached the other peer,
		 * not what was received (a client whose upstream never answered
		 * relayed nothing) */
		if (w->ops == &rl_proxy_ops)
			RL_ADD(&w->c.u64[side ? RL_WU_c2u_bytes : RL_WU_u2c_bytes], (uint64_t) res);
	}
	if (seg != RL_SEG_NONE)
		RL_ADD(&w->c.u64[RL_WU_sends], 1);
	if (!rl_conn_closing(c) && w->ops->sent)
		w->ops->sent(w, c, side);
}

static void on_error(rl_conns *cx, rl_conn *c, unsigned side, int err)
{
	rl_worker *w = cx->owner;
	if (w->ops->error)
		w->ops->error(w, c, side, err);
	else
		rl_conn_close(cx, c, err);
}

static unsigned on_recv_budget(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_worker *w = cx->owner;
	return w->ops->recv_budget ? w->ops->recv_budget(w, c, side) : 0;
}

/* every request naming c has completed: count it, free its index */
static void on_closed(rl_conns *cx, rl_conn *c)
{
	rl_worker *w = cx->owner;
	if (w->ops->closed)
		w->ops->closed(w, c);
	if (c->flags & RL_C_ERROR)
		RL_ADD(&w->c.u64[RL_WU_conn_errors], 1);
	if (c->flags & RL_C_FORCED)
		RL_ADD(&w->c.u64[RL_WU_forced], 1);
	RL_ADD(&w->c.u64[RL_WU_closed], 1);
	c->flags = 0;
	uint32_t idx = rl_conn_idx(cx, c);
	w->next_free[idx] = w->free_head;
	w->free_head = idx;
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) cx->live);
}

static const rl_conn_ops worker_conn_ops = {
	.data = on_data,
	.eof = on_eof,
	.sent = on_sent,
	.error = on_error,
	.recv_budget = on_recv_budget,
	.closed = on_closed,
};

/* ---------------- setup ---------------- */

/* a mode's name (abi.h's, as the runtime spells it) names a failed init */
#define RL_MODE_NAME(c, js, value) [value] = js,
static const char *const mode_names[] = { RL_WORKER_MODES(RL_MODE_NAME) };
#undef RL_MODE_NAME

static const rl_mode_ops *mode_ops(unsigned mode)
{
	switch (mode) {
	case RL_MODE_ECHO:
		return &rl_echo_ops;
	case RL_MODE_PROXY:
		return &rl_proxy_ops;
	case RL_MODE_JS:
		return &rl_js_ops;
	default:
		return NULL;
	}
}

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c, const char **failed_call)
{
	failed_call = rl_failed_sink(failed_call);
	memset(w, 0, sizeof(*w));
	w->evacuate_fd = -1;
	w->c = c;
	w->mode = o->mode ? o->mode : RL_MODE_ECHO;
	w->ops = mode_ops(w->mode);
	if (!w->ops) {
		*failed_call = "rl_worker_init";
		return -EOPNOTSUPP;
	}
	if (!o->table_size || o->table_size >= RL_IDX_MAX) {
		*failed_call = "rl_worker_init";
		return -EINVAL;
	}
	unsigned bcount = o->buf_count ? o->buf_count : 1024;
	unsigned bsize = o->buf_size ? o->buf_size : 16384;
	w->hiwat = o->hiwat ? o->hiwat : 256 * 1024;
	w->lowat = o->lowat ? o->lowat : w->hiwat / 2;
	w->max_bufs = o->max_bufs;
	unsigned sq = o->sq_entries ? o->sq_entries : 2048;
	rl_ring_opts ro = { .sq_entries = sq,
			    .cq_entries = rl_worker_cq_entries(sq, o->table_size, bcount),
			    .files = o->table_size,
			    .no_defer_taskrun = o->no_defer_taskrun,
			    .wait_in_ring = o->wait_in_ring };
	int ret = rl_ring_init(&w->ring, &ro, failed_call);
	if (ret < 0)
		return ret;
	ret = rl_bufring_init(&w->br, &w->ring.ring, BGID, bcount, bsize);
	if (ret < 0) {
		*failed_call = "io_uring_register_buf_ring";
		rl_ring_destroy(&w->ring);
		return ret;
	}
	/* a local peer or a device without zero copy makes the kernel copy: a
	 * socket whose zc sends were copied 4 times in a row goes back to send;
	 * what queues up behind a send in flight leaves in one gathered send */
	rl_conns_opts co = { .cap = o->table_size,
			     .chunks = 256,
			     .zc_threshold = o->zc_threshold,
			     .zc_copied_limit = 4,
			     .gather = RL_GATHER_MAX };
	ret = rl_conns_init(&w->cx, &w->ring, &w->br, &co, &worker_conn_ops, w);
	w->next_free = malloc(o->table_size * sizeof(uint32_t));
	if (ret < 0 || !w->next_free) {
		*failed_call = "malloc";
		rl_worker_destroy(w);
		return -ENOMEM;
	}
	w->cx.k = (rl_conn_counters){
		.enobufs = &w->c.u64[RL_WU_enobufs],
		.rx_paused = &w->c.u64[RL_WU_rx_paused],
		.zc_sends = &w->c.u64[RL_WU_zc_sends],
		.zc_copied = &w->c.u64[RL_WU_zc_copied],
		.zc_stopped = &w->c.u64[RL_WU_zc_stopped],
		.zc_fallbacks = &w->c.u64[RL_WU_zc_fallbacks],
		.zc_enabled = &w->c.i32[RL_WI_zc_enabled],
		.zc_error = &w->c.i32[RL_WI_zc_error],
	};
	for (unsigned i = 0; i < o->table_size; i++)
		w->next_free[i] = i + 1 < o->table_size ? i + 1 : RL_CONN_NONE;
	w->free_head = 0;
	if (o->zc_threshold) {
		/* the provided buffers double as fixed buffer 0, so what arrived in
		 * one can leave with send_zc_fixed without copying */
		struct iovec iov = { .iov_base = w->br.base, .iov_len = w->br.map_len };
		ret = io_uring_register_buffers(&w->ring.ring, &iov, 1);
		if (ret == 0)
			w->cx.zc_fixed = 1;
		else
			rl_conns_zc_off(&w->cx, ret);
	}
	RL_STORE(&w->c.i32[RL_WI_zc_enabled], w->cx.zc_fixed);
	if (w->ops->init) {
		ret = w->ops->init(w, o);
		if (ret < 0) {
			*failed_call = mode_names[w->mode];
			w->ops = NULL;
			rl_worker_destroy(w);
			return ret;
		}
	}
	RL_STORE(&w->c.i32[RL_WI_table_size], (int32_t) o->table_size);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) rl_buf_free(&w->br));
	RL_STORE(&w->c.i32[RL_WI_state], 1);
	return 0;
}

void rl_worker_destroy(rl_worker *w)
{
	/* the ring goes first: queue_exit cancels requests that use the buffers */
	rl_ring_destroy(&w->ring);
	if (w->evacuate_fd >= 0)
		close(w->evacuate_fd);
	w->evacuate_fd = -1;
	if (w->ops && w->ops->destroy)
		w->ops->destroy(w);
	w->ops = NULL;
	rl_conns_destroy(&w->cx);
	rl_bufring_destroy(&w->br, NULL);
	free(w->next_free);
	w->next_free = NULL;
	if (w->c.i32) {
		RL_STORE(&w->c.i32[RL_WI_live], 0);
		RL_STORE(&w->c.i32[RL_WI_state], 3);
	}
}

int rl_worker_timer(rl_worker *w, unsigned ms)
{
	if (w->timer_armed)
		return 0;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe)
		return -EBUSY;
	w->timer_ts.tv_sec = ms / 1000;
	w->timer_ts.tv_nsec = (long long) (ms % 1000) * 1000000LL;
	io_uring_prep_timeout(sqe, &w->timer_ts, 0, 0);
	sqe->user_data = rl_ud(RL_OP_TIMER, RL_IDX_MAX, 0, 0);
	w->timer_armed = 1;
	return 0;
}

void rl_worker_close_all(rl_worker *w)
{
	w->draining = 1;
	RL_STORE(&w->c.i32[RL_WI_state], 2);
	for (unsigned i = 0; i < w->cx.cap; i++) {
		rl_conn *c = &w->cx.conns[i];
		if ((c->flags & RL_C_LIVE) && !(c->flags & RL_C_CLOSING)) {
			/* cut short, so both peers see a reset: a FIN would tell a
			 * client its response was complete, and an upstream that
			 * the client's request was */
			c->flags |= RL_C_FORCED;
			rl_conn_abort(&w->cx, c, 0);
		}
	}
}

/* ---------------- hand-off ---------------- */

/* send an arrived connection back to the acceptor (see rl_worker_evacuate) */
static void evacuate_one(rl_worker *w, int slot, uint32_t id)
{
	if (rl_ring_reserve(&w->ring, 2) < 0) {
		/* cannot even queue it: it ends here, counted */
		struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
		if (sqe) {
			io_uring_prep_close_direct(sqe, (unsigned) slot);
			sqe->user_data = rl_ud(RL_OP_NONE, RL_IDX_MAX, 0, 0);
		}
		RL_ADD(&w->c.u64[RL_WU_evacuate_failed], 1);
		return;
	}
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	io_uring_prep_msg_ring_fd_alloc(sqe, w->evacuate_fd, slot, rl_ud_handoff_in(id), 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = rl_ud(RL_OP_HANDOFF, RL_IDX_MAX, 0, (uint16_t) slot);
	sqe = rl_ring_sqe(&w->ring);
	io_uring_prep_close_direct(sqe, (unsigned) slot);
	sqe->user_data = rl_ud(RL_OP_NONE, RL_IDX_MAX, 0, 0);
	rl_ring_submit(&w->ring);
}

int rl_worker_evacuate(rl_worker *w, int acceptor_fd)
{
	if (w->evacuate_fd >= 0)
		return 0;
	int fd = fcntl(acceptor_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	w->evacuate_fd = fd;
	RL_STORE(&w->c.i32[RL_WI_state], 2);
	return 0;
}

static rl_conn *conn_alloc(rl_worker *w)
{
	if (w->free_head == RL_CONN_NONE)
		return NULL;
	rl_conn *c = &w->cx.conns[w->free_head];
	w->free_head = w->next_free[w->free_head];
	rl_conn_open(&w->cx, c);
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) w->cx.live);
	return c;
}

static void on_handoff(rl_worker *w, struct io_uring_cqe *cqe)
{
	int slot = cqe->res;
	if (slot < 0)
		return;
	if (w->evacuate_fd >= 0) {
		evacuate_one(w, slot, rl_ud_conn_id(cqe->user_data));
		return;
	}
	w->cx.slots_used++;
	rl_conn *c = conn_alloc(w);
	if (!c) {
		struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
		if (sqe) {
			io_uring_prep_close_direct(sqe, (unsigned) slot);
			sqe->user_data = rl_ud(RL_OP_CLOSE, RL_IDX_MAX, 0, 0);
		}
		return;
	}
	c->id = rl_ud_conn_id(cqe->user_data);
	c->s[0].slot = slot;
	RL_ADD(&w->c.u64[RL_WU_accepted], 1);
	rl_peer p;
	if (rl_peer_get(c->id, &p) == 0 && p.t_accept_ns) {
		uint64_t now = rl_now_ns();
		uint64_t d = now > p.t_accept_ns ? now - p.t_accept_ns : 0;
		RL_ADD(&w->c.u64[RL_WU_handoff_ns], d);
		RL_ADD(&w->c.u64[RL_WU_handoff_n], 1);
		RL_ADD(&w->c.u64[RL_W_U64_HIST + rl_hist_index(d, RL_HANDOFF_SUB_BITS, RL_HANDOFF_BUCKETS)],
		       1);
	}
	if (w->draining) {
		c->flags |= RL_C_FORCED;
		rl_conn_abort(&w->cx, c, 0); /* refused: a reset, not an empty reply */
		return;
	}
	w->ops->start(w, c);
}

/* ---------------- dispatch ---------------- */

static void worker_cqe(void *ctx, struct io_uring_cqe *cqe)
{
	rl_worker *w = ctx;
	uint64_t ud = cqe->user_data;
	unsigned op = rl_ud_op(ud);
	if (op == RL_OP_HANDOFF_IN) {
		on_handoff(w, cqe);
		return;
	}
	if (rl_ud_idx(ud) >= w->cx.cap) {
		/* worker-level requests */
		if (op == RL_OP_CLOSE && w->cx.slots_used)
			w->cx.slots_used--;
		if (op == RL_OP_HANDOFF) {
			/* an evacuated connection: back at the acceptor, or lost */
			if (cqe->res >= 0) {
				RL_ADD(&w->c.u64[RL_WU_evacuated], 1);
			} else {
				/* the linked close was cancelled: close it here */
				struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
				if (sqe) {
					io_uring_prep_close_direct(sqe, rl_ud_aux(ud));
					sqe->user_data = rl_ud(RL_OP_NONE, RL_IDX_MAX, 0, 0);
				}
				RL_ADD(&w->c.u64[RL_WU_evacuate_failed], 1);
			}
		}
		if (op == RL_OP_WAKE)
			w->woken = 1;
		if (op == RL_OP_TIMER) {
			w->timer_armed = 0;
			if (w->ops->timer && !w->draining)
				w->ops->timer(w);
		}
		return;
	}
	rl_conn *c = rl_conn_of(&w->cx, cqe);
	if (!c || rl_conn_cqe(&w->cx, c, cqe))
		return;
	if (w->ops->cqe)
		w->ops->cqe(w, c, op, rl_ud_aux(ud) & 1, cqe);
	else
		rl_conn_put(&w->cx, c);
}

static void worker_after_round(void *ctx)
{
	rl_worker *w = ctx;
	if (w->ops->round)
		w->ops->round(w);
	rl_buf_commit(&w->br);
	rl_conns_feed_starved(&w->cx);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) rl_buf_free(&w->br));
	RL_STORE(&w->c.i32[RL_WI_table_used], (int32_t) w->cx.slots_used);
	uint64_t b = w->cx.buffered;
	RL_STORE(&w->c.i32[RL_WI_buffered], (int32_t) (b > INT32_MAX ? INT32_MAX : b));
}

int rl_worker_run(rl_worker *w)
{
	w->in_run = 1;
	int ret = rl_ring_run(&w->ring, worker_cqe, w, 8, worker_after_round);
	w->in_run = 0;
	return ret;
}

int rl_worker_serve(rl_worker *w, unsigned max_ms)
{
	w->woken = 0;
	w->in_run = 1;
	int ret = rl_ring_serve(&w->ring, worker_cqe, w, (uint64_t) max_ms * 1000000u, worker_after_round,
				&w->woken);
	w->in_run = 0;
	return ret;
}

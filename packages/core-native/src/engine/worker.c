/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "worker.h"
#include "net.h"
#include "ud.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BGID 0

static void conn_close(rl_worker *w, rl_conn *c, int err);
static void sock_kick(rl_worker *w, rl_conn *c, unsigned side);

static inline uint32_t conn_idx(rl_worker *w, rl_conn *c) { return (uint32_t) (c - w->conns); }

static inline uint64_t cud(rl_worker *w, rl_conn *c, unsigned op, unsigned side)
{
	return rl_ud(op, conn_idx(w, c), c->gen, (uint16_t) side);
}

/* ---------------- setup ---------------- */

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c,
		   const char **failed_call)
{
	static const char *dummy;
	if (!failed_call)
		failed_call = &dummy;
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->mode = o->mode ? o->mode : RL_MODE_ECHO;
	if (!o->table_size || o->table_size > RL_IDX_MAX) {
		*failed_call = "rl_worker_init";
		return -EINVAL;
	}
	unsigned bcount = o->buf_count ? o->buf_count : 1024;
	unsigned bsize = o->buf_size ? o->buf_size : 16384;
	w->hiwat = o->hiwat ? o->hiwat : 256 * 1024;
	w->lowat = o->lowat ? o->lowat : w->hiwat / 2;
	unsigned sq = o->sq_entries ? o->sq_entries : 2048;
	rl_ring_opts ro = { .sq_entries = sq, .cq_entries = sq * 4, .files = o->table_size,
			    .no_defer_taskrun = o->no_defer_taskrun };
	int ret = rl_ring_init(&w->ring, &ro, failed_call);
	if (ret < 0)
		return ret;
	ret = rl_bufring_init(&w->br, &w->ring.ring, BGID, bcount, bsize);
	if (ret < 0) {
		*failed_call = "io_uring_register_buf_ring";
		rl_ring_destroy(&w->ring);
		return ret;
	}
	w->conn_cap = o->table_size;
	w->conns = calloc(w->conn_cap, sizeof(rl_conn));
	w->bnext = malloc(bcount * sizeof(uint16_t));
	w->blen = calloc(bcount, sizeof(uint32_t));
	w->starved = malloc(2 * w->conn_cap * sizeof(uint32_t));
	if (!w->conns || !w->bnext || !w->blen || !w->starved) {
		*failed_call = "malloc";
		rl_worker_destroy(w);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < w->conn_cap; i++)
		w->conns[i].next_free = i + 1 < w->conn_cap ? i + 1 : RL_CONN_NONE;
	w->free_head = 0;
	RL_STORE(&w->c.i32[RL_WI_table_size], (int32_t) o->table_size);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) w->br.avail);
	RL_STORE(&w->c.i32[RL_WI_state], 1);
	return 0;
}

void rl_worker_destroy(rl_worker *w)
{
	/* the ring goes first: queue_exit cancels requests that use the buffers */
	rl_ring_destroy(&w->ring);
	rl_bufring_destroy(&w->br, NULL);
	free(w->conns);
	free(w->bnext);
	free(w->blen);
	free(w->starved);
	w->conns = NULL;
	w->bnext = NULL;
	w->blen = NULL;
	w->starved = NULL;
	if (w->c.i32) {
		RL_STORE(&w->c.i32[RL_WI_live], 0);
		RL_STORE(&w->c.i32[RL_WI_state], 3);
	}
}

/* ---------------- connections ---------------- */

static rl_conn *conn_alloc(rl_worker *w)
{
	if (w->free_head == RL_CONN_NONE)
		return NULL;
	rl_conn *c = &w->conns[w->free_head];
	w->free_head = c->next_free;
	uint16_t gen = (uint16_t) (c->gen + 1);
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->flags = RL_C_LIVE;
	c->mode = (uint8_t) w->mode;
	for (int i = 0; i < 2; i++) {
		c->s[i].slot = -1;
		c->s[i].qhead = c->s[i].qtail = RL_NOBUF;
	}
	w->live++;
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) w->live);
	return c;
}

static void sock_drop_queue(rl_worker *w, rl_sock *s)
{
	uint16_t b = s->qhead;
	while (b != RL_NOBUF) {
		uint16_t next = w->bnext[b];
		rl_buf_put(&w->br, b);
		b = next;
	}
	w->buffered -= s->qbytes;
	s->qhead = s->qtail = RL_NOBUF;
	s->qbytes = 0;
	s->qoff = 0;
}

static void conn_free(rl_worker *w, rl_conn *c)
{
	for (int i = 0; i < 2; i++)
		sock_drop_queue(w, &c->s[i]);
	if (c->flags & RL_C_ERROR)
		RL_ADD(&w->c.u64[RL_WU_conn_errors], 1);
	if (c->flags & RL_C_FORCED)
		RL_ADD(&w->c.u64[RL_WU_forced], 1);
	RL_ADD(&w->c.u64[RL_WU_closed], 1);
	c->flags = 0;
	c->next_free = w->free_head;
	w->free_head = conn_idx(w, c);
	w->live--;
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) w->live);
}

static void conn_put(rl_worker *w, rl_conn *c)
{
	if (c->refs)
		c->refs--;
	if (c->refs == 0 && (c->flags & RL_C_CLOSING))
		conn_free(w, c);
}

/* ---------------- receive ---------------- */

static void sock_arm_recv(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (s->slot < 0 || (s->flags & (RL_S_RECV | RL_S_EOF | RL_S_PAUSED)) ||
	    (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe) {
		conn_close(w, c, -EBUSY);
		return;
	}
	io_uring_prep_recv_multishot(sqe, s->slot, NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = cud(w, c, RL_OP_RECV, side);
	s->flags |= RL_S_RECV;
	s->flags &= (uint16_t) ~RL_S_STARVED;
	c->refs++;
}

static void sock_pause_recv(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (s->flags & RL_S_PAUSED)
		return;
	s->flags |= RL_S_PAUSED;
	RL_ADD(&w->c.u64[RL_WU_rx_paused], 1);
	if (!(s->flags & RL_S_RECV) || (s->flags & RL_S_CANCELLING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, cud(w, c, RL_OP_RECV, side), 0);
	sqe->user_data = cud(w, c, RL_OP_CANCEL, side);
	s->flags |= RL_S_CANCELLING;
	c->refs++;
}

static void sock_resume_recv(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (!(s->flags & RL_S_PAUSED))
		return;
	s->flags &= (uint16_t) ~RL_S_PAUSED;
	/* if the recv is still armed (its cancel not yet complete) it re-arms
	 * itself when its last CQE arrives */
	sock_arm_recv(w, c, side);
}

/* where data received on `side` goes out */
static inline unsigned out_side(const rl_conn *c, unsigned side)
{
	return c->mode == RL_MODE_PROXY ? side ^ 1u : side;
}

static void enqueue(rl_worker *w, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	rl_sock *s = &c->s[side];
	w->bnext[bid] = RL_NOBUF;
	w->blen[bid] = len;
	if (s->qtail == RL_NOBUF)
		s->qhead = (uint16_t) bid;
	else
		w->bnext[s->qtail] = (uint16_t) bid;
	s->qtail = (uint16_t) bid;
	s->qbytes += len;
	w->buffered += len;
}

/* both directions are done when each side got EOF and drained */
static void maybe_finish(rl_worker *w, rl_conn *c)
{
	if (c->flags & RL_C_CLOSING)
		return;
	if (c->mode == RL_MODE_ECHO) {
		rl_sock *s = &c->s[0];
		if ((s->flags & RL_S_EOF) && s->qhead == RL_NOBUF && !(s->flags & RL_S_SENDING))
			conn_close(w, c, 0);
	}
}

static void on_recv(rl_worker *w, rl_conn *c, unsigned side, struct io_uring_cqe *cqe)
{
	rl_sock *s = &c->s[side];
	int res = cqe->res;
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	if (!more)
		s->flags &= (uint16_t) ~(RL_S_RECV | RL_S_CANCELLING);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		rl_buf_taken(&w->br);
		if (res > 0 && !(c->flags & RL_C_CLOSING)) {
			RL_ADD(&w->c.u64[RL_WU_bytes_in], (uint64_t) res);
			RL_ADD(&w->c.u64[RL_WU_recvs], 1);
			unsigned o = out_side(c, side);
			enqueue(w, c, o, bid, (unsigned) res);
			sock_kick(w, c, o);
			if (c->s[o].qbytes >= w->hiwat)
				sock_pause_recv(w, c, side);
		} else {
			rl_buf_put(&w->br, bid);
		}
	}
	if (res == 0) {
		s->flags |= RL_S_EOF;
		maybe_finish(w, c);
	} else if (res == -ENOBUFS) {
		RL_ADD(&w->c.u64[RL_WU_enobufs], 1);
		if (!(s->flags & RL_S_STARVED) && !(c->flags & RL_C_CLOSING)) {
			s->flags |= RL_S_STARVED;
			w->starved[w->nstarved++] = conn_idx(w, c) << 1 | side;
		}
	} else if (res < 0 && res != -ECANCELED) {
		conn_close(w, c, res);
	} else if (!more && !(c->flags & RL_C_CLOSING)) {
		/* multishot ended without error, or was cancelled for a pause
		 * that has since been lifted: keep receiving */
		sock_arm_recv(w, c, side);
	}
	if (!more)
		conn_put(w, c); /* the recv's own reference, dropped last */
}

/* give buffers back to connections that ran dry */
static void feed_starved(rl_worker *w)
{
	if (!w->nstarved || w->br.avail < 4)
		return;
	unsigned n = w->nstarved;
	w->nstarved = 0;
	for (unsigned i = 0; i < n; i++) {
		rl_conn *c = &w->conns[w->starved[i] >> 1];
		unsigned side = w->starved[i] & 1;
		if (!(c->flags & RL_C_LIVE) || (c->flags & RL_C_CLOSING))
			continue;
		if (w->br.avail < 4) {
			w->starved[w->nstarved++] = w->starved[i];
			continue;
		}
		c->s[side].flags &= (uint16_t) ~RL_S_STARVED;
		sock_arm_recv(w, c, side);
	}
}

/* ---------------- send ---------------- */

static void sock_kick(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if ((s->flags & RL_S_SENDING) || s->qhead == RL_NOBUF || s->slot < 0 ||
	    (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe) {
		conn_close(w, c, -EBUSY);
		return;
	}
	unsigned bid = s->qhead;
	io_uring_prep_send(sqe, s->slot, rl_buf(&w->br, bid) + s->qoff,
			   w->blen[bid] - s->qoff, MSG_NOSIGNAL | MSG_WAITALL);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = cud(w, c, RL_OP_SEND, side);
	s->flags |= RL_S_SENDING;
	c->refs++;
}

static void on_send(rl_worker *w, rl_conn *c, unsigned side, struct io_uring_cqe *cqe)
{
	rl_sock *s = &c->s[side];
	int res = cqe->res;
	s->flags &= (uint16_t) ~RL_S_SENDING;
	if (res < 0) {
		if (!(c->flags & RL_C_CLOSING))
			conn_close(w, c, res);
		conn_put(w, c);
		return;
	}
	RL_ADD(&w->c.u64[RL_WU_bytes_out], (uint64_t) res);
	unsigned bid = s->qhead;
	if (bid != RL_NOBUF) {
		s->qoff += (uint32_t) res;
		s->qbytes -= (uint32_t) res;
		w->buffered -= (uint64_t) res;
		if (s->qoff >= w->blen[bid]) {
			RL_ADD(&w->c.u64[RL_WU_sends], 1);
			s->qhead = w->bnext[bid];
			if (s->qhead == RL_NOBUF)
				s->qtail = RL_NOBUF;
			s->qoff = 0;
			rl_buf_put(&w->br, bid);
		}
	}
	if (!(c->flags & RL_C_CLOSING)) {
		sock_kick(w, c, side);
		/* the side that feeds this one may receive again */
		unsigned src = out_side(c, side);
		if (s->qbytes <= w->lowat)
			sock_resume_recv(w, c, src);
		maybe_finish(w, c);
	}
	conn_put(w, c);
}

/* ---------------- close ---------------- */

static void conn_close(rl_worker *w, rl_conn *c, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	c->flags |= RL_C_CLOSING;
	if (err < 0) {
		c->flags |= RL_C_ERROR;
		c->err = err;
	}
	for (unsigned side = 0; side < 2; side++) {
		rl_sock *s = &c->s[side];
		if (s->slot < 0)
			continue;
		if (rl_ring_reserve(&w->ring, 2) < 0)
			continue; /* ring teardown will close it */
		struct io_uring_sqe *sqe;
		if (s->flags & (RL_S_RECV | RL_S_SENDING)) {
			sqe = rl_ring_sqe(&w->ring);
			io_uring_prep_cancel_fd(sqe, s->slot,
						IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
			sqe->flags |= IOSQE_IO_HARDLINK;
			sqe->user_data = cud(w, c, RL_OP_CANCEL, side);
			c->refs++;
		}
		sqe = rl_ring_sqe(&w->ring);
		io_uring_prep_close_direct(sqe, (unsigned) s->slot);
		sqe->user_data = cud(w, c, RL_OP_CLOSE, side);
		c->refs++;
	}
	if (c->refs == 0)
		conn_free(w, c);
}

void rl_worker_close_all(rl_worker *w)
{
	w->draining = 1;
	RL_STORE(&w->c.i32[RL_WI_state], 2);
	for (unsigned i = 0; i < w->conn_cap; i++) {
		rl_conn *c = &w->conns[i];
		if ((c->flags & RL_C_LIVE) && !(c->flags & RL_C_CLOSING)) {
			c->flags |= RL_C_FORCED;
			conn_close(w, c, 0);
		}
	}
}

/* ---------------- hand-off ---------------- */

static void on_handoff(rl_worker *w, struct io_uring_cqe *cqe)
{
	int slot = cqe->res;
	if (slot < 0)
		return;
	w->slots_used++;
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
		RL_ADD(&w->c.u64[RL_W_U64_HIST + rl_hist_index(d, RL_HANDOFF_SUB_BITS, RL_HANDOFF_BUCKETS)], 1);
	}
	if (w->draining) {
		c->flags |= RL_C_FORCED;
		conn_close(w, c, 0);
		return;
	}
	sock_arm_recv(w, c, 0);
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
	uint32_t idx = rl_ud_idx(ud);
	if (idx >= w->conn_cap) {
		if (op == RL_OP_CLOSE && w->slots_used)
			w->slots_used--;
		return;
	}
	rl_conn *c = &w->conns[idx];
	unsigned side = rl_ud_aux(ud) & 1;
	if (c->gen != rl_ud_gen(ud) || !(c->flags & RL_C_LIVE)) {
		/* stale: cannot happen while refs are counted; never leak a buffer */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			rl_buf_taken(&w->br);
			rl_buf_put(&w->br, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		return;
	}
	switch (op) {
	case RL_OP_RECV:
		on_recv(w, c, side, cqe);
		break;
	case RL_OP_SEND:
		on_send(w, c, side, cqe);
		break;
	case RL_OP_CANCEL:
		c->s[side].flags &= (uint16_t) ~RL_S_CANCELLING;
		conn_put(w, c);
		break;
	case RL_OP_CLOSE:
		c->s[side].slot = -1;
		if (w->slots_used)
			w->slots_used--;
		conn_put(w, c);
		break;
	default:
		conn_put(w, c);
		break;
	}
}

static void worker_after_round(void *ctx)
{
	rl_worker *w = ctx;
	rl_buf_commit(&w->br);
	feed_starved(w);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) w->br.avail);
	RL_STORE(&w->c.i32[RL_WI_table_used], (int32_t) w->slots_used);
	RL_STORE(&w->c.i32[RL_WI_buffered], (int32_t) (w->buffered > INT32_MAX ? INT32_MAX : w->buffered));
}

int rl_worker_run(rl_worker *w)
{
	return rl_ring_run(&w->ring, worker_cqe, w, 8, worker_after_round);
}

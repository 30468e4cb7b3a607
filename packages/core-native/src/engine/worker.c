/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "worker_int.h"
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#define BGID 0

static void maybe_shut(rl_worker *w, rl_conn *c, unsigned side);
static void sock_failed(rl_worker *w, rl_conn *c, unsigned side, int err);
void rl_worker_zc_off(rl_worker *w, int err);

/* ---------------- setup ---------------- */

static const rl_mode_ops *mode_ops(unsigned mode)
{
	switch (mode) {
	case RL_MODE_ECHO: return &rl_echo_ops;
	case RL_MODE_PROXY: return &rl_proxy_ops;
	case RL_MODE_JS: return &rl_js_ops;
	default: return NULL;
	}
}

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c,
		   const char **failed_call)
{
	static const char *dummy;
	if (!failed_call)
		failed_call = &dummy;
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
	unsigned sq = o->sq_entries ? o->sq_entries : 2048;
	rl_ring_opts ro = { .sq_entries = sq, .cq_entries = rl_worker_cq_entries(sq, o->table_size, bcount),
			    .files = o->table_size, .no_defer_taskrun = o->no_defer_taskrun };
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
	w->nsegs = bcount + 256;
	w->segs = calloc(w->nsegs, sizeof(rl_seg));
	w->starved = malloc(2 * w->conn_cap * sizeof(uint32_t));
	if (!w->conns || !w->segs || !w->starved) {
		*failed_call = "malloc";
		rl_worker_destroy(w);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < w->conn_cap; i++)
		w->conns[i].next_free = i + 1 < w->conn_cap ? i + 1 : RL_CONN_NONE;
	w->free_head = 0;
	for (uint32_t i = 0; i < bcount; i++)
		w->segs[i].ptr = rl_buf(&w->br, i);
	for (uint32_t i = bcount; i < w->nsegs; i++)
		w->segs[i].next = i + 1 < w->nsegs ? i + 1 : RL_SEG_NONE;
	w->seg_free = bcount;
	w->zc_threshold = o->zc_threshold;
	if (w->zc_threshold) {
		w->zc_state = calloc(bcount, 1);
		if (!w->zc_state) {
			*failed_call = "malloc";
			rl_worker_destroy(w);
			return -ENOMEM;
		}
		/* the provided buffers double as fixed buffer 0, so what arrived in
		 * one can leave with send_zc_fixed without copying */
		struct iovec iov = { .iov_base = w->br.base, .iov_len = w->br.map_len };
		ret = io_uring_register_buffers(&w->ring.ring, &iov, 1);
		if (ret == 0)
			w->zc_enabled = 1;
		else
			rl_worker_zc_off(w, ret);
	}
	RL_STORE(&w->c.i32[RL_WI_zc_enabled], w->zc_enabled);
	if (w->ops->init) {
		ret = w->ops->init(w, o);
		if (ret < 0) {
			*failed_call = w->ops->name;
			w->ops = NULL;
			rl_worker_destroy(w);
			return ret;
		}
	}
	RL_STORE(&w->c.i32[RL_WI_table_size], (int32_t) o->table_size);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) w->br.avail);
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
	if (w->segs) {
		for (uint32_t i = w->br.count; i < w->nsegs; i++)
			if (w->segs[i].len && w->segs[i].ptr)
				free(w->segs[i].ptr);
	}
	rl_bufring_destroy(&w->br, NULL);
	free(w->zc_state);
	w->zc_state = NULL;
	free(w->conns);
	free(w->segs);
	free(w->starved);
	w->conns = NULL;
	w->segs = NULL;
	w->starved = NULL;
	if (w->c.i32) {
		RL_STORE(&w->c.i32[RL_WI_live], 0);
		RL_STORE(&w->c.i32[RL_WI_state], 3);
	}
}

/* ---------------- segments ---------------- */

uint32_t rl_seg_chunk(rl_worker *w, const void *data, uint32_t len)
{
	if (w->seg_free == RL_SEG_NONE) {
		uint32_t n = w->nsegs * 2;
		rl_seg *s = realloc(w->segs, n * sizeof(rl_seg));
		if (!s)
			return RL_SEG_NONE;
		memset(s + w->nsegs, 0, (n - w->nsegs) * sizeof(rl_seg));
		for (uint32_t i = w->nsegs; i < n; i++)
			s[i].next = i + 1 < n ? i + 1 : RL_SEG_NONE;
		w->seg_free = w->nsegs;
		w->segs = s;
		w->nsegs = n;
	}
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return RL_SEG_NONE;
	memcpy(p, data, len);
	uint32_t id = w->seg_free;
	w->seg_free = w->segs[id].next;
	w->segs[id].ptr = p;
	w->segs[id].len = len;
	w->segs[id].next = RL_SEG_NONE;
	return id;
}

void rl_seg_release(rl_worker *w, uint32_t seg)
{
	if (seg < w->br.count) {
		rl_buf_put(&w->br, seg);
		return;
	}
	free(w->segs[seg].ptr);
	w->segs[seg].ptr = NULL;
	w->segs[seg].len = 0;
	w->segs[seg].next = w->seg_free;
	w->seg_free = seg;
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
		c->s[i].qhead = c->s[i].qtail = RL_SEG_NONE;
	}
	w->live++;
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) w->live);
	return c;
}

static void drop_queue(rl_worker *w, uint32_t *head, uint32_t *tail)
{
	uint32_t s = *head;
	while (s != RL_SEG_NONE) {
		uint32_t next = w->segs[s].next;
		rl_seg_release(w, s);
		s = next;
	}
	*head = *tail = RL_SEG_NONE;
}

static void conn_free(rl_worker *w, rl_conn *c)
{
	if (w->ops->closed)
		w->ops->closed(w, c);
	for (int i = 0; i < 2; i++) {
		rl_sock *s = &c->s[i];
		drop_queue(w, &s->qhead, &s->qtail);
		w->buffered -= s->qbytes;
		s->qbytes = 0;
	}
	if (c->flags & RL_C_ERROR)
		RL_ADD(&w->c.u64[RL_WU_conn_errors], 1);
	if (c->flags & RL_C_FORCED)
		RL_ADD(&w->c.u64[RL_WU_forced], 1);
	RL_ADD(&w->c.u64[RL_WU_closed], 1);
	c->flags = 0;
	c->next_free = w->free_head;
	w->free_head = rl_conn_idx(w, c);
	w->live--;
	RL_STORE(&w->c.i32[RL_WI_live], (int32_t) w->live);
}

void rl_conn_put(rl_worker *w, rl_conn *c)
{
	if (c->refs)
		c->refs--;
	if (c->refs == 0 && (c->flags & RL_C_CLOSING))
		conn_free(w, c);
}

/* ---------------- receive ---------------- */

void rl_sock_arm_recv(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (s->slot < 0 || (c->flags & RL_C_CLOSING) ||
	    (s->flags & (RL_S_RECV | RL_S_EOF | RL_S_PAUSED | RL_S_USER_PAUSED | RL_S_CONNECTING)))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe) {
		rl_conn_close(w, c, -EBUSY);
		return;
	}
	if (w->recv_single)
		io_uring_prep_recv(sqe, s->slot, NULL, 0, 0); /* one buffer, then re-armed */
	else
		io_uring_prep_recv_multishot(sqe, s->slot, NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = rl_conn_ud(w, c, RL_OP_RECV, side);
	s->flags |= RL_S_RECV;
	s->flags &= (uint16_t) ~RL_S_STARVED;
	rl_conn_get(c);
}

void rl_sock_pause(rl_worker *w, rl_conn *c, unsigned side, int user)
{
	rl_sock *s = &c->s[side];
	uint16_t flag = user ? RL_S_USER_PAUSED : RL_S_PAUSED;
	if (s->flags & flag)
		return;
	s->flags |= flag;
	if (!user)
		RL_ADD(&w->c.u64[RL_WU_rx_paused], 1);
	if (!(s->flags & RL_S_RECV) || (s->flags & RL_S_CANCELLING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, rl_conn_ud(w, c, RL_OP_RECV, side), 0);
	sqe->user_data = rl_conn_ud(w, c, RL_OP_CANCEL, side);
	s->flags |= RL_S_CANCELLING;
	rl_conn_get(c);
}

void rl_sock_resume(rl_worker *w, rl_conn *c, unsigned side, int user)
{
	rl_sock *s = &c->s[side];
	uint16_t flag = user ? RL_S_USER_PAUSED : RL_S_PAUSED;
	if (!(s->flags & flag))
		return;
	s->flags &= (uint16_t) ~flag;
	/* if the recv is still armed (its cancel not yet complete) it re-arms
	 * itself when its last CQE arrives */
	rl_sock_arm_recv(w, c, side);
}

static void sock_failed(rl_worker *w, rl_conn *c, unsigned side, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	if (w->ops->error)
		w->ops->error(w, c, side, err);
	else
		rl_conn_close(w, c, err);
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
			w->ops->data(w, c, side, bid, (unsigned) res);
		} else {
			rl_buf_put(&w->br, bid);
		}
	}
	if (res == 0) {
		s->flags |= RL_S_EOF;
		if (!(c->flags & RL_C_CLOSING) && w->ops->eof)
			w->ops->eof(w, c, side);
	} else if (res == -ENOBUFS) {
		RL_ADD(&w->c.u64[RL_WU_enobufs], 1);
		if (!(s->flags & RL_S_STARVED) && !(c->flags & RL_C_CLOSING)) {
			s->flags |= RL_S_STARVED;
			w->starved[w->nstarved++] = rl_conn_idx(w, c) << 1 | side;
		}
	} else if (res < 0 && res != -ECANCELED) {
		sock_failed(w, c, side, res);
	} else if (!more && !(c->flags & RL_C_CLOSING)) {
		/* multishot ended without error, or was cancelled for a pause that
		 * has since been lifted: keep receiving */
		rl_sock_arm_recv(w, c, side);
	}
	if (!more)
		rl_conn_put(w, c); /* the recv's own reference, dropped last */
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
		rl_sock_arm_recv(w, c, side);
	}
}

/* ---------------- send ---------------- */

void rl_sock_enqueue(rl_worker *w, rl_conn *c, unsigned side, uint32_t seg, uint32_t len)
{
	rl_sock *s = &c->s[side];
	rl_seg *g = &w->segs[seg];
	g->len = len;
	g->next = RL_SEG_NONE;
	if (s->qtail == RL_SEG_NONE)
		s->qhead = seg;
	else
		w->segs[s->qtail].next = seg;
	s->qtail = seg;
	s->qbytes += len;
	w->buffered += len;
	rl_sock_kick(w, c, side);
}

/* send_zc cannot be used by this worker (memlock, unsupported): plain send
 * from now on, once; the runtime warns when it sees zc_fallbacks move */
void rl_worker_zc_off(rl_worker *w, int err)
{
	if (!w->zc_threshold)
		return;
	w->zc_enabled = 0;
	w->zc_threshold = 0;
	RL_ADD(&w->c.u64[RL_WU_zc_fallbacks], 1);
	RL_STORE(&w->c.i32[RL_WI_zc_enabled], 0);
	RL_STORE(&w->c.i32[RL_WI_zc_error], err);
}

/* a segment left the send queue: give it back unless a zero-copy send still
 * holds it, in which case its last notification gives it back */
static void seg_sent(rl_worker *w, uint32_t seg)
{
	if (seg < w->br.count && w->zc_state && (w->zc_state[seg] & ~RL_ZC_SENT)) {
		w->zc_state[seg] |= RL_ZC_SENT;
		return;
	}
	if (seg < w->br.count && w->zc_state)
		w->zc_state[seg] = 0;
	rl_seg_release(w, seg);
}

static void zc_unref(rl_worker *w, uint32_t bid)
{
	uint8_t st = w->zc_state[bid];
	uint8_t n = (uint8_t) ((st & ~RL_ZC_SENT) - 1);
	if (n == 0 && (st & RL_ZC_SENT)) {
		w->zc_state[bid] = 0;
		rl_seg_release(w, bid);
	} else {
		w->zc_state[bid] = (uint8_t) (n | (st & RL_ZC_SENT));
	}
}

void rl_sock_kick(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if ((s->flags & (RL_S_SENDING | RL_S_CONNECTING)) || s->qhead == RL_SEG_NONE || s->slot < 0 ||
	    (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe) {
		rl_conn_close(w, c, -EBUSY);
		return;
	}
	uint32_t seg = s->qhead;
	rl_seg *g = &w->segs[seg];
	uint32_t len = g->len - s->qoff;
	if (w->zc_enabled && seg < w->br.count && len >= w->zc_threshold && !(s->flags & RL_S_NO_ZC)) {
		/* MSG_WAITALL: a short send is then an error, as linked zc sends need */
		io_uring_prep_send_zc_fixed(sqe, s->slot, g->ptr + s->qoff, len, MSG_NOSIGNAL | MSG_WAITALL,
					    IORING_SEND_ZC_REPORT_USAGE, 0);
		sqe->user_data = rl_ud(RL_OP_SEND_ZC, rl_conn_idx(w, c), c->gen, (uint16_t) (seg << 1 | side));
		w->zc_state[seg]++;
		RL_ADD(&w->c.u64[RL_WU_zc_sends], 1);
	} else {
		io_uring_prep_send(sqe, s->slot, g->ptr + s->qoff, len, MSG_NOSIGNAL | MSG_WAITALL);
		sqe->user_data = rl_conn_ud(w, c, RL_OP_SEND, side);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	s->flags |= RL_S_SENDING;
	rl_conn_get(c);
}

/* res bytes of side's head segment went out (or res < 0) */
static void send_done(rl_worker *w, rl_conn *c, unsigned side, int res)
{
	rl_sock *s = &c->s[side];
	s->flags &= (uint16_t) ~RL_S_SENDING;
	if (res < 0) {
		sock_failed(w, c, side, res);
		return;
	}
	RL_ADD(&w->c.u64[RL_WU_bytes_out], (uint64_t) res);
	uint32_t seg = s->qhead;
	if (seg != RL_SEG_NONE) {
		s->qoff += (uint32_t) res;
		s->qbytes -= (uint32_t) res;
		w->buffered -= (uint64_t) res;
		if (s->qoff >= w->segs[seg].len) {
			RL_ADD(&w->c.u64[RL_WU_sends], 1);
			s->qhead = w->segs[seg].next;
			if (s->qhead == RL_SEG_NONE)
				s->qtail = RL_SEG_NONE;
			s->qoff = 0;
			seg_sent(w, seg);
		}
	}
	if (!(c->flags & RL_C_CLOSING)) {
		rl_sock_kick(w, c, side);
		maybe_shut(w, c, side);
		if (w->ops->sent)
			w->ops->sent(w, c, side);
	}
}

static void on_send(rl_worker *w, rl_conn *c, unsigned side, struct io_uring_cqe *cqe)
{
	send_done(w, c, side, cqe->res);
	rl_conn_put(w, c);
}

/*
 * send_zc completes twice: first the send itself (IORING_CQE_F_MORE set when a
 * notification follows), then a notification (IORING_CQE_F_NOTIF) once the
 * kernel no longer uses the buffer. Only then may the buffer be reused.
 */
static void on_send_zc(rl_worker *w, rl_conn *c, uint16_t aux, struct io_uring_cqe *cqe)
{
	unsigned side = aux & 1;
	uint32_t bid = aux >> 1;
	rl_sock *s = &c->s[side];
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		if ((uint32_t) cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
			RL_ADD(&w->c.u64[RL_WU_zc_copied], 1);
			if (++s->zc_copied_run == RL_ZC_COPIED_LIMIT && !(s->flags & RL_S_NO_ZC)) {
				s->flags |= RL_S_NO_ZC;
				RL_ADD(&w->c.u64[RL_WU_zc_stopped], 1);
			}
		} else {
			s->zc_copied_run = 0;
		}
		if (s->zc_pending)
			s->zc_pending--;
		zc_unref(w, bid);
		rl_conn_put(w, c); /* the notification's reference */
		return;
	}
	if (cqe->flags & IORING_CQE_F_MORE) {
		s->zc_pending++;
		rl_conn_get(c); /* held until the notification */
	} else {
		zc_unref(w, bid); /* no notification will come for this send */
	}
	int res = cqe->res;
	if (res == -EOPNOTSUPP || res == -ENOMEM) {
		/* nothing was sent: switch to plain send and send it again */
		rl_worker_zc_off(w, res);
		s->flags &= (uint16_t) ~RL_S_SENDING;
		rl_sock_kick(w, c, side);
	} else {
		send_done(w, c, side, res);
	}
	rl_conn_put(w, c);
}

/* ---------------- half-close ---------------- */

static void maybe_shut(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (!(s->flags & RL_S_WANT_SHUT) || (s->flags & RL_S_WR_SHUT) || !rl_sock_idle(s) ||
	    s->slot < 0 || (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&w->ring);
	if (!sqe) {
		rl_conn_close(w, c, -EBUSY);
		return;
	}
	io_uring_prep_shutdown(sqe, s->slot, SHUT_WR);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = rl_conn_ud(w, c, RL_OP_SHUTDOWN, side);
	s->flags |= RL_S_WR_SHUT | RL_S_SHUTTING;
	rl_conn_get(c);
}

void rl_sock_shutdown_after_drain(rl_worker *w, rl_conn *c, unsigned side)
{
	c->s[side].flags |= RL_S_WANT_SHUT;
	maybe_shut(w, c, side);
}

/* ---------------- close ---------------- */

/* close_direct of side's slot, after SO_LINGER {on, 0} when the connection
 * is being reset (RL_C_RST) so the close sends RST, not FIN */
static void sock_close_direct(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (rl_ring_reserve(&w->ring, 2) < 0)
		return; /* ring teardown will close it */
	struct io_uring_sqe *sqe;
	if (c->flags & RL_C_RST) {
		static const struct linger lg = { 1, 0 };
		sqe = rl_ring_sqe(&w->ring);
		rl_prep_setsockopt(sqe, s->slot, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		sqe->user_data = rl_conn_ud(w, c, RL_OP_SETSOCKOPT, side);
		rl_conn_get(c);
	}
	sqe = rl_ring_sqe(&w->ring);
	io_uring_prep_close_direct(sqe, (unsigned) s->slot);
	sqe->user_data = rl_conn_ud(w, c, RL_OP_CLOSE, side);
	rl_conn_get(c);
}

void rl_conn_close(rl_worker *w, rl_conn *c, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	c->flags |= RL_C_CLOSING;
	if (err < 0) {
		c->flags |= RL_C_ERROR;
		c->err = err;
	}
	rl_conn_get(c); /* hold it while queueing, so it cannot be freed midway */
	for (unsigned side = 0; side < 2; side++) {
		rl_sock *s = &c->s[side];
		if (s->slot < 0)
			continue;
		if (rl_ring_reserve(&w->ring, 3) < 0)
			continue; /* ring teardown will close it */
		struct io_uring_sqe *sqe;
		/* a shutdown in flight closes the slot when it completes */
		int shutting = (s->flags & RL_S_SHUTTING) != 0;
		if (s->flags & (RL_S_RECV | RL_S_SENDING | RL_S_CONNECTING)) {
			sqe = rl_ring_sqe(&w->ring);
			io_uring_prep_cancel_fd(sqe, s->slot,
						IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
			if (!shutting)
				sqe->flags |= IOSQE_IO_HARDLINK;
			sqe->user_data = rl_conn_ud(w, c, RL_OP_CANCEL, side);
			rl_conn_get(c);
		}
		if (!shutting)
			sock_close_direct(w, c, side);
	}
	rl_conn_put(w, c);
}

void rl_conn_abort(rl_worker *w, rl_conn *c, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	c->flags |= RL_C_RST;
	RL_ADD(&w->c.u64[RL_WU_resets], 1);
	rl_conn_close(w, c, err);
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
	for (unsigned i = 0; i < w->conn_cap; i++) {
		rl_conn *c = &w->conns[i];
		if ((c->flags & RL_C_LIVE) && !(c->flags & RL_C_CLOSING)) {
			c->flags |= RL_C_FORCED;
			rl_conn_close(w, c, 0);
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

static void on_handoff(rl_worker *w, struct io_uring_cqe *cqe)
{
	int slot = cqe->res;
	if (slot < 0)
		return;
	if (w->evacuate_fd >= 0) {
		evacuate_one(w, slot, rl_ud_conn_id(cqe->user_data));
		return;
	}
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
		rl_conn_close(w, c, 0);
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
	uint32_t idx = rl_ud_idx(ud);
	if (idx >= w->conn_cap) {
		/* worker-level requests */
		if (op == RL_OP_CLOSE && w->slots_used)
			w->slots_used--;
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
		if (op == RL_OP_TIMER) {
			w->timer_armed = 0;
			if (w->ops->timer && !w->draining)
				w->ops->timer(w);
		}
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
	case RL_OP_SEND_ZC:
		on_send_zc(w, c, rl_ud_aux(ud), cqe);
		break;
	case RL_OP_CANCEL:
		c->s[side].flags &= (uint16_t) ~RL_S_CANCELLING;
		rl_conn_put(w, c);
		break;
	case RL_OP_CLOSE:
		if (!(rl_ud_aux(ud) & RL_AUX_DISCARD))
			c->s[side].slot = -1;
		if (w->slots_used)
			w->slots_used--;
		rl_conn_put(w, c);
		break;
	case RL_OP_SETSOCKOPT:
		rl_conn_put(w, c);
		break;
	case RL_OP_SHUTDOWN:
		c->s[side].flags &= (uint16_t) ~RL_S_SHUTTING;
		if ((c->flags & RL_C_CLOSING) && c->s[side].slot >= 0)
			sock_close_direct(w, c, side); /* deferred by rl_conn_close */
		else if (cqe->res < 0 && cqe->res != -ENOTCONN && !(c->flags & RL_C_CLOSING))
			rl_conn_close(w, c, cqe->res);
		else if (!(c->flags & RL_C_CLOSING) && w->ops->sent)
			w->ops->sent(w, c, side);
		rl_conn_put(w, c);
		break;
	default:
		if (w->ops->cqe)
			w->ops->cqe(w, c, op, side, cqe);
		else
			rl_conn_put(w, c);
		break;
	}
}

static void worker_after_round(void *ctx)
{
	rl_worker *w = ctx;
	if (w->ops->round)
		w->ops->round(w);
	rl_buf_commit(&w->br);
	feed_starved(w);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) w->br.avail);
	RL_STORE(&w->c.i32[RL_WI_table_used], (int32_t) w->slots_used);
	RL_STORE(&w->c.i32[RL_WI_buffered], (int32_t) (w->buffered > INT32_MAX ? INT32_MAX : w->buffered));
}

int rl_worker_run(rl_worker *w)
{
	w->in_run = 1;
	int ret = rl_ring_run(&w->ring, worker_cqe, w, 8, worker_after_round);
	w->in_run = 0;
	return ret;
}

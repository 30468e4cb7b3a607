/* SPDX-License-Identifier: MIT */
/*
 * The connection core (see conn.h). Layout of this file: set-up, segments,
 * connection life, receive, send (with zero copy), half-close, close, and
 * the CQE dispatch for the core's own ops.
 */
#define _GNU_SOURCE
#include "conn.h"
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* a gathered send's header; it stays put until the send completes (one send
 * in flight per socket), as the kernel may read it after the submit */
typedef struct rl_sendv {
	struct msghdr mh;
	struct iovec iov[RL_GATHER_MAX];
} rl_sendv;

/* the buffer group every owner's provided buffer ring uses */
#define BGID 0

static void maybe_shut(rl_conns *cx, rl_conn *c, unsigned side);

static inline void count(uint64_t *p, uint64_t v)
{
	if (p)
		RL_ADD(p, v);
}

static inline void gauge(int32_t *p, int32_t v)
{
	if (p)
		RL_STORE(p, v);
}

/* ---------------- set-up ---------------- */

static int grow_segs(rl_conns *cx, uint32_t n)
{
	rl_seg *s = realloc(cx->segs, (size_t) n * sizeof(rl_seg));
	if (!s)
		return -ENOMEM;
	memset(s + cx->nsegs, 0, (size_t) (n - cx->nsegs) * sizeof(rl_seg));
	uint32_t first = cx->nsegs < cx->br->count ? cx->br->count : cx->nsegs;
	for (uint32_t i = first; i < n; i++)
		s[i].next = i + 1 < n ? i + 1 : cx->seg_free;
	if (first < n)
		cx->seg_free = first;
	cx->segs = s;
	cx->nsegs = n;
	return 0;
}

int rl_conns_init(rl_conns *cx, rl_ring *ring, rl_bufring *br, const rl_conns_opts *o, const rl_conn_ops *ops,
		  void *owner)
{
	memset(cx, 0, sizeof(*cx));
	if (!o->cap || o->cap >= RL_IDX_MAX)
		return -EINVAL;
	cx->ring = ring;
	cx->br = br;
	cx->ops = ops;
	cx->owner = owner;
	cx->cap = o->cap;
	cx->o = *o;
	cx->seg_free = RL_SEG_NONE;
	cx->conns = calloc(cx->cap, sizeof(rl_conn));
	cx->starved = malloc(2 * (size_t) cx->cap * sizeof(uint32_t));
	if (cx->o.gather > RL_GATHER_MAX)
		cx->o.gather = RL_GATHER_MAX;
	/* calloc of this size maps zero pages: memory only for sockets that
	 * gather (an idle connection costs none) */
	if (cx->o.gather > 1 && !(cx->sendv = calloc(2 * (size_t) cx->cap, sizeof(rl_sendv)))) {
		rl_conns_destroy(cx);
		return -ENOMEM;
	}
	if (!cx->conns || !cx->starved || grow_segs(cx, br->count + (o->chunks ? o->chunks : 16)) < 0) {
		rl_conns_destroy(cx);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < br->count; i++)
		cx->segs[i].ptr = rl_buf(br, i);
	cx->recv_cap = rl_recv_cap_supported();
	for (unsigned i = 0; i < cx->cap; i++) {
		cx->conns[i].s[0].fd = cx->conns[i].s[1].fd = -1;
		cx->conns[i].s[0].slot = cx->conns[i].s[1].slot = -1;
	}
	return 0;
}

void rl_conns_destroy(rl_conns *cx)
{
	if (cx->segs && cx->br) {
		for (uint32_t i = cx->br->count; i < cx->nsegs; i++)
			free(cx->segs[i].ptr);
	}
	if (cx->conns) {
		for (unsigned i = 0; i < cx->cap; i++)
			for (int k = 0; k < 2; k++)
				if (cx->conns[i].s[k].fd >= 0)
					close(cx->conns[i].s[k].fd);
	}
	free(cx->conns);
	free(cx->segs);
	free(cx->starved);
	free(cx->sendv);
	cx->sendv = NULL;
	cx->conns = NULL;
	cx->segs = NULL;
	cx->starved = NULL;
	cx->nsegs = 0;
}

/* ---------------- segments ---------------- */

uint32_t rl_seg_alloc(rl_conns *cx, uint32_t len)
{
	if (cx->seg_free == RL_SEG_NONE && grow_segs(cx, cx->nsegs * 2) < 0)
		return RL_SEG_NONE;
	uint32_t id = cx->seg_free;
	rl_seg *g = &cx->segs[id];
	if (!g->ptr || g->cap < len) {
		uint8_t *p = malloc(len ? len : 1);
		if (!p)
			return RL_SEG_NONE;
		free(g->ptr);
		g->ptr = p;
		g->cap = len;
	}
	cx->seg_free = g->next;
	g->len = len;
	g->next = RL_SEG_NONE;
	g->zc = 0;
	g->tag = 0;
	return id;
}

uint32_t rl_seg_chunk(rl_conns *cx, const void *data, uint32_t len)
{
	uint32_t id = rl_seg_alloc(cx, len);
	if (id != RL_SEG_NONE)
		memcpy(cx->segs[id].ptr, data, len);
	return id;
}

void rl_seg_release(rl_conns *cx, uint32_t seg)
{
	if (seg < cx->br->count) {
		rl_buf_put(cx->br, seg);
		return;
	}
	rl_seg *g = &cx->segs[seg];
	if (g->cap > cx->o.chunk_keep) {
		free(g->ptr);
		g->ptr = NULL;
		g->cap = 0;
	}
	g->len = 0;
	g->next = cx->seg_free;
	cx->seg_free = seg;
}

static void drop_queue(rl_conns *cx, rl_sock *s)
{
	uint32_t g = s->qhead;
	while (g != RL_SEG_NONE) {
		uint32_t next = cx->segs[g].next;
		rl_seg_release(cx, g);
		g = next;
	}
	s->qhead = s->qtail = RL_SEG_NONE;
	cx->buffered -= s->qbytes;
	s->qbytes = 0;
	s->qbufs = 0; /* zbufs is 0 by now: freed only when no notification is due */
	s->qoff = 0;
}

/* ---------------- connection life ---------------- */

void rl_conn_open(rl_conns *cx, rl_conn *c)
{
	uint16_t gen = (uint16_t) (c->gen + 1);
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->flags = RL_C_LIVE;
	for (int i = 0; i < 2; i++) {
		c->s[i].slot = -1;
		c->s[i].fd = -1;
		c->s[i].qhead = c->s[i].qtail = RL_SEG_NONE;
	}
	cx->live++;
}

static void conn_free(rl_conns *cx, rl_conn *c)
{
	for (int i = 0; i < 2; i++)
		drop_queue(cx, &c->s[i]);
	c->flags &= (uint8_t) ~RL_C_LIVE;
	cx->live--;
	cx->ops->closed(cx, c);
}

void rl_conn_put(rl_conns *cx, rl_conn *c)
{
	if (c->refs)
		c->refs--;
	if (c->refs == 0 && (c->flags & RL_C_CLOSING) && (c->flags & RL_C_LIVE))
		conn_free(cx, c);
}

/* An SQE for an operation the connection cannot go on without (a receive, a
 * send, a shutdown): when the ring has none even after a submit, the
 * connection is closed with -EBUSY rather than left stalled. */
static struct io_uring_sqe *sqe_or_close(rl_conns *cx, rl_conn *c)
{
	struct io_uring_sqe *sqe = rl_ring_sqe(cx->ring);
	if (!sqe)
		rl_conn_close(cx, c, -EBUSY);
	return sqe;
}

/* ---------------- receive ---------------- */

void rl_sock_arm_recv(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (s->slot < 0 || (c->flags & RL_C_CLOSING) ||
	    (s->flags & (RL_S_RECV | RL_S_EOF | RL_S_PAUSED | RL_S_USER_PAUSED | RL_S_CONNECTING)))
		return;
	struct io_uring_sqe *sqe = sqe_or_close(cx, c);
	if (!sqe)
		return;
	unsigned budget = cx->ops->recv_budget ? cx->ops->recv_budget(cx, c, side) : 0;
	if (budget && !cx->recv_cap) {
		io_uring_prep_recv(sqe, s->slot, NULL, 0, 0); /* one buffer, then re-armed */
	} else {
		io_uring_prep_recv_multishot(sqe, s->slot, NULL, 0, 0);
		/* the total-bytes cap (sqe->optlen, the same field as file_index,
		 * which liburing 2.3 names): the last CQE comes without F_MORE and
		 * on_recv re-arms with a fresh budget */
		sqe->file_index = budget;
	}
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_RECV, side);
	s->flags |= RL_S_RECV;
	s->flags &= (uint16_t) ~RL_S_STARVED;
	rl_conn_get(c);
}

void rl_sock_pause(rl_conns *cx, rl_conn *c, unsigned side, int user)
{
	rl_sock *s = &c->s[side];
	uint16_t flag = user ? RL_S_USER_PAUSED : RL_S_PAUSED;
	if (s->flags & flag)
		return;
	s->flags |= flag;
	if (!user)
		count(cx->k.rx_paused, 1);
	if (!(s->flags & RL_S_RECV) || (s->flags & RL_S_CANCELLING))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(cx->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, rl_conn_ud(cx, c, RL_OP_RECV, side), 0);
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_CANCEL, side);
	s->flags |= RL_S_CANCELLING;
	rl_conn_get(c);
}

void rl_sock_resume(rl_conns *cx, rl_conn *c, unsigned side, int user)
{
	rl_sock *s = &c->s[side];
	uint16_t flag = user ? RL_S_USER_PAUSED : RL_S_PAUSED;
	if (!(s->flags & flag))
		return;
	s->flags &= (uint16_t) ~flag;
	/* if the recv is still armed (its cancel not yet complete) it re-arms
	 * itself when its last CQE arrives */
	rl_sock_arm_recv(cx, c, side);
}

static void sock_failed(rl_conns *cx, rl_conn *c, unsigned side, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	if (cx->ops->error)
		cx->ops->error(cx, c, side, err);
	else
		rl_conn_close(cx, c, err);
}

static void on_recv(rl_conns *cx, rl_conn *c, unsigned side, struct io_uring_cqe *cqe)
{
	rl_sock *s = &c->s[side];
	int res = cqe->res;
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	if (!more)
		s->flags &= (uint16_t) ~(RL_S_RECV | RL_S_CANCELLING);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		rl_buf_taken(cx->br);
		if (res > 0 && !(c->flags & RL_C_CLOSING) && cx->ops->data)
			cx->ops->data(cx, c, side, bid, (unsigned) res);
		else
			rl_buf_put(cx->br, bid);
	}
	if (res == 0) {
		s->flags |= RL_S_EOF;
		/* A reset the socket's send in flight reports can reach the recv
		 * first as a plain end of stream (the send takes the error). Held
		 * until that send completes: if it fails, the peer reset, and
		 * the owner hears that instead of a FIN it never sent. */
		if (s->flags & RL_S_SENDING)
			s->flags |= RL_S_EOF_HELD;
		else if (!(c->flags & RL_C_CLOSING) && cx->ops->eof)
			cx->ops->eof(cx, c, side);
	} else if (res == -ENOBUFS) {
		/* counted only when the pool is out, not when the ring's window was */
		if (rl_buf_exhausted(cx->br))
			count(cx->k.enobufs, 1);
		if (!(s->flags & RL_S_STARVED) && !(c->flags & RL_C_CLOSING)) {
			s->flags |= RL_S_STARVED;
			cx->starved[cx->nstarved++] = rl_conn_idx(cx, c) << 1 | side;
		}
	} else if (res < 0 && res != -ECANCELED) {
		sock_failed(cx, c, side, res);
	} else if (!more && !(c->flags & RL_C_CLOSING)) {
		/* multishot ended without error, or was cancelled for a pause that
		 * has since been lifted: keep receiving */
		rl_sock_arm_recv(cx, c, side);
	}
	if (!more)
		rl_conn_put(cx, c); /* the recv's own reference, dropped last */
}

void rl_conns_feed_starved(rl_conns *cx)
{
	if (!cx->nstarved || cx->br->avail < 4)
		return;
	unsigned n = cx->nstarved;
	cx->nstarved = 0;
	for (unsigned i = 0; i < n; i++) {
		rl_conn *c = &cx->conns[cx->starved[i] >> 1];
		unsigned side = cx->starved[i] & 1;
		if (!(c->flags & RL_C_LIVE) || (c->flags & RL_C_CLOSING))
			continue;
		if (cx->br->avail < 4) {
			cx->starved[cx->nstarved++] = cx->starved[i];
			continue;
		}
		c->s[side].flags &= (uint16_t) ~RL_S_STARVED;
		rl_sock_arm_recv(cx, c, side);
	}
}

/* ---------------- send ---------------- */

void rl_sock_enqueue(rl_conns *cx, rl_conn *c, unsigned side, uint32_t seg, uint32_t len)
{
	rl_sock *s = &c->s[side];
	rl_seg *g = &cx->segs[seg];
	g->len = len;
	g->next = RL_SEG_NONE;
	if (s->qtail == RL_SEG_NONE)
		s->qhead = seg;
	else
		cx->segs[s->qtail].next = seg;
	s->qtail = seg;
	s->qbytes += len;
	if (seg < cx->br->count)
		s->qbufs++;
	cx->buffered += len;
	rl_sock_kick(cx, c, side);
}

void rl_conns_zc_off(rl_conns *cx, int err)
{
	if (!cx->o.zc_threshold)
		return;
	cx->o.zc_threshold = 0;
	count(cx->k.zc_fallbacks, 1);
	gauge(cx->k.zc_enabled, 0);
	gauge(cx->k.zc_error, err);
}

void rl_sock_zc_stop(rl_conns *cx, rl_sock *s)
{
	if (s->flags & RL_S_NO_ZC)
		return;
	s->flags |= RL_S_NO_ZC;
	count(cx->k.zc_stopped, 1);
}

/* a segment left side's send queue: give it back unless a zero-copy send
 * still reads it, in which case its last notification gives it back */
static void seg_sent(rl_conns *cx, rl_sock *s, uint32_t seg)
{
	rl_seg *g = &cx->segs[seg];
	if (g->zc & ~RL_ZC_SENT) {
		g->zc |= RL_ZC_SENT;
		if (seg < cx->br->count)
			s->zbufs++;
		return;
	}
	g->zc = 0;
	rl_seg_release(cx, seg);
}

static void zc_unref(rl_conns *cx, rl_conn *c, unsigned side, uint32_t seg)
{
	rl_seg *g = &cx->segs[seg];
	uint16_t n = (uint16_t) ((g->zc & ~RL_ZC_SENT) - 1);
	if (n == 0 && (g->zc & RL_ZC_SENT)) {
		g->zc = 0;
		rl_seg_release(cx, seg);
		if (seg < cx->br->count) {
			c->s[side].zbufs--;
			if (!(c->flags & RL_C_CLOSING) && cx->ops->sent)
				cx->ops->sent(cx, c, side, 0, RL_SEG_NONE);
		}
	} else {
		g->zc = (uint16_t) (n | (g->zc & RL_ZC_SENT));
	}
}

/* send_zc for this send: large enough, and its memory is one the kernel may
 * pin (a registered buffer, or a chunk when the owner allows those) */
static int use_zc(const rl_conns *cx, const rl_sock *s, uint32_t seg, uint32_t len)
{
	if (!cx->o.zc_threshold || len < cx->o.zc_threshold || (s->flags & RL_S_NO_ZC))
		return 0;
	if (seg < cx->br->count)
		return cx->zc_fixed;
	return cx->o.zc_chunks && (cx->segs[seg].zc & ~RL_ZC_SENT) < RL_ZC_SENT - 1;
}

/* one sendmsg of the queue's first segments (up to o.gather, stopping at
 * one that goes out zero-copy on its own) */
static void gather(rl_conns *cx, rl_conn *c, unsigned side, struct io_uring_sqe *sqe)
{
	rl_sock *s = &c->s[side];
	rl_sendv *v = &cx->sendv[rl_conn_idx(cx, c) << 1 | side];
	unsigned n = 0;
	uint32_t off = s->qoff;
	for (uint32_t k = s->qhead; k != RL_SEG_NONE && n < cx->o.gather; k = cx->segs[k].next) {
		const rl_seg *g = &cx->segs[k];
		if (n && use_zc(cx, s, k, g->len))
			break;
		v->iov[n].iov_base = g->ptr + off;
		v->iov[n].iov_len = g->len - off;
		off = 0;
		n++;
	}
	memset(&v->mh, 0, sizeof(v->mh));
	v->mh.msg_iov = v->iov;
	v->mh.msg_iovlen = n;
	io_uring_prep_sendmsg(sqe, s->slot, &v->mh, MSG_NOSIGNAL | MSG_WAITALL);
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_SEND, side);
}

void rl_sock_kick(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if ((s->flags & (RL_S_SENDING | RL_S_CONNECTING)) || s->qhead == RL_SEG_NONE || s->slot < 0 ||
	    (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = sqe_or_close(cx, c);
	if (!sqe)
		return;
	uint32_t seg = s->qhead;
	rl_seg *g = &cx->segs[seg];
	uint32_t len = g->len - s->qoff;
	/* MSG_WAITALL: a short send is retried by the kernel (and is an error
	 * for a linked zero-copy send) */
	if (use_zc(cx, s, seg, len)) {
		if (seg < cx->br->count)
			io_uring_prep_send_zc_fixed(sqe, s->slot, g->ptr + s->qoff, len,
						    MSG_NOSIGNAL | MSG_WAITALL, IORING_SEND_ZC_REPORT_USAGE,
						    0);
		else
			io_uring_prep_send_zc(sqe, s->slot, g->ptr + s->qoff, len, MSG_NOSIGNAL | MSG_WAITALL,
					      IORING_SEND_ZC_REPORT_USAGE);
		sqe->user_data = rl_ud_zc(rl_conn_idx(cx, c), seg, side);
		g->zc++;
		count(cx->k.zc_sends, 1);
	} else if (cx->sendv && g->next != RL_SEG_NONE && !use_zc(cx, s, g->next, cx->segs[g->next].len)) {
		gather(cx, c, side, sqe);
	} else {
		io_uring_prep_send(sqe, s->slot, g->ptr + s->qoff, len, MSG_NOSIGNAL | MSG_WAITALL);
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_SEND, side);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	s->flags |= RL_S_SENDING;
	rl_conn_get(c);
}

/* res bytes of side's head segment went out (or res < 0) */
static void send_done(rl_conns *cx, rl_conn *c, unsigned side, int res)
{
	rl_sock *s = &c->s[side];
	s->flags &= (uint16_t) ~RL_S_SENDING;
	int eof_held = (s->flags & RL_S_EOF_HELD) != 0;
	s->flags &= (uint16_t) ~RL_S_EOF_HELD;
	if (res < 0) {
		/* after an end of stream, a failed send means the peer reset */
		sock_failed(cx, c, side, eof_held && res == -EPIPE ? -ECONNRESET : res);
		return;
	}
	/* res may cover several segments (a gathered send): each one finished
	 * before the last goes back now, the last after the owner has seen it */
	uint32_t done = RL_SEG_NONE;
	uint32_t left = s->qhead != RL_SEG_NONE ? (uint32_t) res : 0; /* none: dropped by a close */
	s->qbytes -= left;
	cx->buffered -= (uint64_t) left;
	while (left && s->qhead != RL_SEG_NONE) {
		uint32_t seg = s->qhead;
		uint32_t take = cx->segs[seg].len - s->qoff;
		if (take > left) {
			s->qoff += left;
			break;
		}
		left -= take;
		s->qhead = cx->segs[seg].next;
		if (s->qhead == RL_SEG_NONE)
			s->qtail = RL_SEG_NONE;
		s->qoff = 0;
		if (seg < cx->br->count)
			s->qbufs--;
		if (done != RL_SEG_NONE)
			seg_sent(cx, s, done);
		done = seg;
	}
	if (!(c->flags & RL_C_CLOSING)) {
		rl_sock_kick(cx, c, side);
		maybe_shut(cx, c, side);
	}
	if (cx->ops->sent)
		cx->ops->sent(cx, c, side, (unsigned) res, done);
	if (done != RL_SEG_NONE)
		seg_sent(cx, s, done);
	if (eof_held && !(c->flags & RL_C_CLOSING) && cx->ops->eof)
		cx->ops->eof(cx, c, side); /* the send went out: it was a FIN */
}

/*
 * send_zc completes twice: first the send itself (IORING_CQE_F_MORE set when a
 * notification follows), then a notification (IORING_CQE_F_NOTIF) once the
 * kernel no longer reads the memory. Only then may the segment be reused.
 */
static void on_send_zc(rl_conns *cx, rl_conn *c, struct io_uring_cqe *cqe)
{
	unsigned side = cqe->user_data & 1;
	uint32_t seg = rl_ud_zc_seg(cqe->user_data);
	rl_sock *s = &c->s[side];
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		count(cx->k.zc_notifs, 1);
		if ((uint32_t) cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) {
			count(cx->k.zc_copied, 1);
			if (cx->o.zc_copied_limit && ++s->zc_copied_run == cx->o.zc_copied_limit)
				rl_sock_zc_stop(cx, s);
		} else {
			s->zc_copied_run = 0;
		}
		zc_unref(cx, c, side, seg);
		rl_conn_put(cx, c); /* the notification's reference */
		return;
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		rl_conn_get(c); /* held until the notification */
	else
		zc_unref(cx, c, side, seg); /* no notification will come for this send */
	int res = cqe->res;
	if (res == -EOPNOTSUPP || res == -ENOMEM) {
		/* nothing was sent: switch to plain send and send it again. Every
		 * send_zc in flight fails or not on its own (each is charged to
		 * RLIMIT_MEMLOCK while in flight), so each one that fails is sent
		 * again, never counted as an error; the first also switches the
		 * core to plain send. */
		count(cx->k.zc_retries, 1);
		rl_conns_zc_off(cx, res);
		s->flags &= (uint16_t) ~RL_S_SENDING;
		rl_sock_kick(cx, c, side);
	} else {
		send_done(cx, c, side, res);
	}
	rl_conn_put(cx, c);
}

/* ---------------- half-close ---------------- */

static void maybe_shut(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (!(s->flags & RL_S_WANT_SHUT) || (s->flags & RL_S_WR_SHUT) || !rl_sock_idle(s) || s->slot < 0 ||
	    (c->flags & RL_C_CLOSING))
		return;
	struct io_uring_sqe *sqe = sqe_or_close(cx, c);
	if (!sqe)
		return;
	io_uring_prep_shutdown(sqe, s->slot, SHUT_WR);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_SHUTDOWN, side);
	s->flags |= RL_S_WR_SHUT | RL_S_SHUTTING;
	rl_conn_get(c);
}

void rl_sock_shutdown_after_drain(rl_conns *cx, rl_conn *c, unsigned side)
{
	c->s[side].flags |= RL_S_WANT_SHUT;
	maybe_shut(cx, c, side);
}

/* ---------------- close ---------------- */

/* close_direct of side's slot, after SO_LINGER {on, 0} when the connection
 * is being reset (RL_C_RST) so the close sends RST, not FIN */
static void sock_close_direct(rl_conns *cx, rl_conn *c, unsigned side)
{
	rl_sock *s = &c->s[side];
	if (rl_ring_reserve(cx->ring, 2) < 0)
		return; /* ring teardown will close it */
	struct io_uring_sqe *sqe;
	if (c->flags & RL_C_RST) {
		static const struct linger lg = { 1, 0 };
		sqe = rl_ring_sqe(cx->ring);
		rl_prep_setsockopt(sqe, s->slot, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_LINGER, side);
		rl_conn_get(c);
	}
	sqe = rl_ring_sqe(cx->ring);
	io_uring_prep_close_direct(sqe, (unsigned) s->slot);
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_CLOSE, side);
	rl_conn_get(c);
}

void rl_conn_close(rl_conns *cx, rl_conn *c, int err)
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
		if (rl_ring_reserve(cx->ring, 3) < 0)
			continue; /* ring teardown will close it */
		struct io_uring_sqe *sqe;
		/* a shutdown in flight closes the slot when it completes */
		int shutting = (s->flags & RL_S_SHUTTING) != 0;
		if (s->flags & (RL_S_RECV | RL_S_SENDING | RL_S_CONNECTING)) {
			sqe = rl_ring_sqe(cx->ring);
			/* A cancel by fd walks every armed poll of the ring (twice,
			 * with CANCEL_ALL), so closing n idle connections cost O(n^2):
			 * 48k of them took over 10 s on 4 rings. The usual case, only
			 * the recv armed, cancels it by its user_data, a hash lookup. */
			if ((s->flags & (RL_S_RECV | RL_S_SENDING | RL_S_CONNECTING)) == RL_S_RECV)
				io_uring_prep_cancel64(sqe, rl_conn_ud(cx, c, RL_OP_RECV, side), 0);
			else
				io_uring_prep_cancel_fd(
					sqe, s->slot, IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
			if (!shutting)
				sqe->flags |= IOSQE_IO_HARDLINK;
			sqe->user_data = rl_conn_ud(cx, c, RL_OP_CANCEL, side);
			rl_conn_get(c);
		}
		if (!shutting)
			sock_close_direct(cx, c, side);
	}
	rl_conn_put(cx, c);
}

void rl_conn_abort(rl_conns *cx, rl_conn *c, int err)
{
	if (c->flags & RL_C_CLOSING)
		return;
	c->flags |= RL_C_RST;
	rl_conn_close(cx, c, err);
}

/* ---------------- dispatch ---------------- */

rl_conn *rl_conn_of(rl_conns *cx, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t idx = rl_ud_idx(ud);
	if (idx >= cx->cap)
		return NULL;
	rl_conn *c = &cx->conns[idx];
	/* a zero-copy send names no generation (see ud.h): it holds a reference */
	if (!(c->flags & RL_C_LIVE) || (rl_ud_op(ud) != RL_OP_SEND_ZC && c->gen != rl_ud_gen(ud))) {
		/* stale: cannot happen while refs are counted; never leak a buffer */
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			rl_buf_taken(cx->br);
			rl_buf_put(cx->br, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		return NULL;
	}
	return c;
}

int rl_conn_cqe(rl_conns *cx, rl_conn *c, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	unsigned side = rl_ud_aux(ud) & 1;
	switch (rl_ud_op(ud)) {
	case RL_OP_RECV:
		on_recv(cx, c, side, cqe);
		return 1;
	case RL_OP_SEND:
		send_done(cx, c, side, cqe->res);
		rl_conn_put(cx, c);
		return 1;
	case RL_OP_SEND_ZC:
		on_send_zc(cx, c, cqe);
		return 1;
	case RL_OP_CANCEL:
		c->s[side].flags &= (uint16_t) ~RL_S_CANCELLING;
		rl_conn_put(cx, c);
		return 1;
	case RL_OP_CLOSE:
		if (!(rl_ud_aux(ud) & RL_AUX_DISCARD))
			c->s[side].slot = -1;
		if (cx->slots_used)
			cx->slots_used--;
		rl_conn_put(cx, c);
		return 1;
	case RL_OP_LINGER:
		rl_conn_put(cx, c);
		return 1;
	case RL_OP_SHUTDOWN:
		c->s[side].flags &= (uint16_t) ~RL_S_SHUTTING;
		if ((c->flags & RL_C_CLOSING) && c->s[side].slot >= 0)
			sock_close_direct(cx, c, side); /* deferred by rl_conn_close */
		else if (cqe->res < 0 && cqe->res != -ENOTCONN && !(c->flags & RL_C_CLOSING))
			rl_conn_close(cx, c, cqe->res);
		else if (!(c->flags & RL_C_CLOSING) && cx->ops->sent)
			cx->ops->sent(cx, c, side, 0, RL_SEG_NONE);
		rl_conn_put(cx, c);
		return 1;
	default:
		return 0;
	}
}

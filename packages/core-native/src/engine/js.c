/* SPDX-License-Identifier: MIT */
/*
 * JS mode (see js.h): completions become event records for a JavaScript
 * handler; its writes, half-closes, pauses and destroys come back through the
 * rl_js_* calls.
 *
 * Closing: the connection closes when both directions have ended, i.e. the
 * peer's FIN has been seen, the handler has called end(), and every byte
 * queued before that end() has been handed to the kernel (close(2) then sends
 * our FIN after them). An error, or destroy(), closes it at once. The handler
 * hears about the close through one CLOSE event, sent only for connections it
 * saw a CONNECT for.
 */
#include "js.h"
#include "net.h"
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

/* connection flags (js_conn.flags) */
enum {
	JS_STARTED = 1 << 0,    /* CONNECT emitted: a CLOSE is owed */
	JS_END = 1 << 1,        /* end() called */
	JS_WANT_DRAIN = 1 << 2, /* a write reported the high-water mark */
	JS_CORKED = 1 << 3,
};

/* per connection index, outside rl_conn so it survives reuse of the index
 * (the stage buffer is kept for the next connection) */
typedef struct js_conn {
	uint32_t flags; /* JS_* */
	uint8_t *stage; /* bytes written during this batch, not yet queued */
	uint32_t slen, scap;
	uint32_t dirty_next; /* next index on the dirty list */
	uint8_t dirty;       /* on the dirty list */
	uint16_t unread;     /* its data events made and not yet handed back by JS */
} js_conn;

/*
 * Receiving stops for a connection with this many data events waiting for
 * the handler, and starts again as they are handled. Events reach JS in
 * arrival order, so without it one client that floods a slow handler
 * queues every receive buffer ahead of everyone else: other connections
 * waited seconds for a handler of 5 ms a message, and a batch that long kept
 * the worker from its writes, its timers and a close. What waits meanwhile
 * stays in the kernel, as backpressure on that client alone.
 */
#define JS_UNREAD_MAX 8u

typedef struct js_state {
	int32_t *ev; /* JS-owned records */
	unsigned cap, nev;
	int32_t *spill; /* records that did not fit, in order */
	unsigned nspill, spill_cap;
	js_conn *jc; /* [conn_cap] */
	uint32_t dirty_head;
	uint16_t *held; /* buffers handed to JS in this batch */
	unsigned nheld;
	uint8_t *held_flag; /* [buf_count] 1 = still ours to give back */
} js_state;

#define STAGE_KEEP 4096u /* a stage up to this size is kept for the next batch (and connection) */

static inline js_state *st_of(rl_worker *w) { return w->mode_state; }
static inline js_conn *J(rl_worker *w, const rl_conn *c) { return &st_of(w)->jc[rl_conn_idx(&w->cx, c)]; }

/* ---------------- events ---------------- */

static int32_t *ev_slot(js_state *st)
{
	if (!st->nspill && st->nev < st->cap)
		return st->ev + (size_t) st->nev++ * RL_JS_EV_WORDS;
	if (st->nspill == st->spill_cap) {
		unsigned n = st->spill_cap ? st->spill_cap * 2 : 1024;
		int32_t *p = realloc(st->spill, (size_t) n * RL_JS_EV_WORDS * sizeof(int32_t));
		if (!p)
			return NULL;
		st->spill = p;
		st->spill_cap = n;
	}
	return st->spill + (size_t) st->nspill++ * RL_JS_EV_WORDS;
}

static int32_t *emit(rl_worker *w, rl_conn *c, unsigned type)
{
	js_state *st = st_of(w);
	int32_t *r = ev_slot(st);
	if (!r)
		return NULL;
	memset(r, 0, RL_JS_EV_WORDS * sizeof(int32_t));
	r[RL_JF_head] = (int32_t) (type | (uint32_t) c->gen << RL_JS_TYPE_BITS);
	r[RL_JF_index] = (int32_t) rl_conn_idx(&w->cx, c);
	return r;
}

void rl_js_attach(rl_worker *w, int32_t *ev, unsigned cap)
{
	js_state *st = st_of(w);
	st->ev = ev;
	st->cap = cap;
	st->nev = 0;
}

unsigned rl_js_ready(rl_worker *w) { return st_of(w)->nev; }

void rl_js_consumed(rl_worker *w, unsigned n)
{
	js_state *st = st_of(w);
	if (n > st->nev)
		n = st->nev;
	for (unsigned i = 0; i < n; i++) {
		const int32_t *r = st->ev + (size_t) i * RL_JS_EV_WORDS;
		uint32_t head = (uint32_t) r[RL_JF_head];
		if ((head & ((1u << RL_JS_TYPE_BITS) - 1)) != RL_JEV_DATA)
			continue;
		/* handled: its buffer goes back (unless a write took it) */
		uint32_t bid = (uint32_t) r[RL_JF_buffer];
		if (st->held_flag[bid]) {
			st->held_flag[bid] = 0;
			rl_seg_release(&w->cx, bid);
		}
		uint32_t idx = (uint32_t) r[RL_JF_index];
		rl_conn *c = &w->cx.conns[idx];
		js_conn *j = &st->jc[idx];
		if (!(c->flags & RL_C_LIVE) || c->gen != (uint16_t) (head >> RL_JS_TYPE_BITS) || !j->unread)
			continue; /* an earlier connection's: its count went with it */
		if (--j->unread == JS_UNREAD_MAX / 2 && !(c->flags & RL_C_CLOSING))
			rl_sock_resume(&w->cx, c, 0, 0);
	}
	size_t rec = RL_JS_EV_WORDS * sizeof(int32_t);
	if (n < st->nev)
		memmove(st->ev, st->ev + (size_t) n * RL_JS_EV_WORDS, (size_t) (st->nev - n) * rec);
	st->nev -= n;
	if (st->nspill) {
		unsigned k = st->cap - st->nev;
		if (k > st->nspill)
			k = st->nspill;
		memcpy(st->ev + (size_t) st->nev * RL_JS_EV_WORDS, st->spill, (size_t) k * rec);
		st->nev += k;
		st->nspill -= k;
		if (st->nspill)
			memmove(st->spill, st->spill + (size_t) k * RL_JS_EV_WORDS,
				(size_t) st->nspill * rec);
	}
	RL_ADD(&w->c.u64[RL_WU_js_events], (uint64_t) n);
	RL_ADD(&w->c.u64[RL_WU_js_batches], 1);
}

int rl_js_pending(const rl_worker *w)
{
	const js_state *st = w->mode_state;
	return st->nev || st->nspill;
}

/* ---------------- helpers ---------------- */

static rl_conn *js_conn_get(rl_worker *w, uint32_t idx, uint16_t gen, int *err)
{
	if (idx >= w->cx.cap) {
		*err = -ESTALE;
		return NULL;
	}
	rl_conn *c = &w->cx.conns[idx];
	if (c->gen != gen || !(c->flags & RL_C_LIVE) || (c->flags & RL_C_CLOSING) ||
	    !(J(w, c)->flags & JS_STARTED)) {
		*err = -ESTALE;
		return NULL;
	}
	return c;
}

static uint64_t queued(rl_worker *w, rl_conn *c) { return (uint64_t) c->s[0].qbytes + J(w, c)->slen; }

/* the connection has ended both ways and everything is with the kernel */
static void maybe_finish(rl_worker *w, rl_conn *c)
{
	rl_sock *s = &c->s[0];
	if ((J(w, c)->flags & JS_END) && (s->flags & RL_S_EOF) && rl_sock_idle(s) && J(w, c)->slen == 0 &&
	    !(c->flags & RL_C_CLOSING))
		rl_conn_close(&w->cx, c, 0);
}

/* queue what is staged as one segment */
static void seal(rl_worker *w, rl_conn *c, js_conn *j)
{
	if (!j->slen)
		return;
	uint32_t len = j->slen;
	uint32_t seg = rl_seg_chunk(&w->cx, j->stage, len);
	j->slen = 0;
	if (j->scap > STAGE_KEEP) {
		free(j->stage);
		j->stage = NULL;
		j->scap = 0;
	}
	if (seg == RL_SEG_NONE) {
		rl_conn_close(&w->cx, c, -ENOMEM);
		return;
	}
	rl_sock_enqueue(&w->cx, c, 0, seg, len);
}

static void mark_dirty(js_state *st, uint32_t idx)
{
	js_conn *j = &st->jc[idx];
	if (j->dirty)
		return;
	j->dirty = 1;
	j->dirty_next = st->dirty_head;
	st->dirty_head = idx;
}

static int stage_room(js_conn *j, size_t len)
{
	size_t need = (size_t) j->slen + len;
	if (need > UINT32_MAX)
		return -EMSGSIZE;
	if (need <= j->scap)
		return 0;
	size_t cap = j->scap ? j->scap : 512;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	uint8_t *p = realloc(j->stage, cap);
	if (!p)
		return -ENOMEM;
	j->stage = p;
	j->scap = (uint32_t) cap;
	return 0;
}

/* ---------------- mode hooks ---------------- */

static int js_init(rl_worker *w, const rl_worker_opts *o)
{
	js_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->jc = calloc(w->cx.cap, sizeof(js_conn));
	st->held = malloc(w->br.count * sizeof(uint16_t));
	st->held_flag = calloc(w->br.count, 1);
	if (!st->jc || !st->held || !st->held_flag) {
		free(st->jc);
		free(st->held);
		free(st->held_flag);
		free(st);
		return -ENOMEM;
	}
	st->dirty_head = RL_CONN_NONE;
	w->mode_state = st;
	return 0;
}

static void js_destroy(rl_worker *w)
{
	js_state *st = st_of(w);
	if (!st)
		return;
	for (unsigned i = 0; i < w->cx.cap; i++)
		free(st->jc[i].stage);
	free(st->jc);
	free(st->held);
	free(st->held_flag);
	free(st->spill);
	free(st);
	w->mode_state = NULL;
}

static void js_start(rl_worker *w, rl_conn *c)
{
	js_conn *j = J(w, c);
	j->slen = 0;
	j->unread = 0;
	int32_t *r = emit(w, c, RL_JEV_CONNECT);
	if (!r) {
		rl_conn_close(&w->cx, c, -ENOMEM);
		return;
	}
	J(w, c)->flags = JS_STARTED;
	r[RL_JF_id] = (int32_t) c->id;
	rl_peer p;
	if (rl_peer_get(c->id, &p) == 0 && p.family) {
		r[RL_JF_peer] = (int32_t) ((uint32_t) p.family << 16 | p.port);
		memcpy(&r[RL_JF_addr], p.addr, 16);
	}
	rl_sock_arm_recv(&w->cx, c, 0);
}

static void js_data(rl_worker *w, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	js_state *st = st_of(w);
	int32_t *r = emit(w, c, RL_JEV_DATA);
	if (!r) {
		rl_seg_release(&w->cx, bid);
		rl_conn_close(&w->cx, c, -ENOMEM);
		return;
	}
	r[RL_JF_buffer] = (int32_t) bid;
	r[RL_JF_length] = (int32_t) len;
	st->held[st->nheld++] = (uint16_t) bid;
	st->held_flag[bid] = 1;
	if (++J(w, c)->unread >= JS_UNREAD_MAX)
		rl_sock_pause(&w->cx, c, 0, 0);
}

/* The pause alone comes too late: while a long batch runs in JS, a
 * multishot recv goes on filling buffers, and the next run hands them all
 * over. So each recv may take only what keeps the connection within
 * JS_UNREAD_MAX (the kernel's cap; without it, one buffer a recv). */
static unsigned js_recv_budget(rl_worker *w, rl_conn *c, unsigned side)
{
	unsigned u = J(w, c)->unread;
	return (u >= JS_UNREAD_MAX ? 1u : JS_UNREAD_MAX - u) * w->br.size;
}

static void js_eof(rl_worker *w, rl_conn *c, unsigned side)
{
	if (!emit(w, c, RL_JEV_END)) {
		rl_conn_close(&w->cx, c, -ENOMEM);
		return;
	}
	maybe_finish(w, c);
}

static void js_sent(rl_worker *w, rl_conn *c, unsigned side)
{
	if ((J(w, c)->flags & JS_WANT_DRAIN) && queued(w, c) <= w->lowat) {
		J(w, c)->flags &= ~(uint32_t) JS_WANT_DRAIN;
		emit(w, c, RL_JEV_DRAIN);
	}
	maybe_finish(w, c);
}

static void js_closed(rl_worker *w, rl_conn *c)
{
	js_conn *j = J(w, c);
	j->slen = 0; /* a dirty-list entry for it flushes nothing */
	if (j->scap > STAGE_KEEP) {
		free(j->stage);
		j->stage = NULL;
		j->scap = 0;
	}
	if (J(w, c)->flags & JS_STARTED) {
		int32_t *r = emit(w, c, RL_JEV_CLOSE);
		/* a connection the server cut short (close()'s time ran out)
		 * ends with an error the handler can tell from a clean close */
		if (r)
			r[RL_JF_error] = c->err ? c->err : (c->flags & RL_C_FORCED) ? -ECONNABORTED : 0;
	}
	J(w, c)->flags = 0;
}

const rl_mode_ops rl_js_ops = {
	.init = js_init,
	.destroy = js_destroy,
	.start = js_start,
	.data = js_data,
	.eof = js_eof,
	.sent = js_sent,
	.closed = js_closed,
	.recv_budget = js_recv_budget,
};

/* ---------------- batch end ---------------- */

void rl_js_flush(rl_worker *w)
{
	js_state *st = st_of(w);
	uint32_t idx = st->dirty_head;
	uint32_t keep = RL_CONN_NONE;
	st->dirty_head = RL_CONN_NONE;
	while (idx != RL_CONN_NONE) {
		js_conn *j = &st->jc[idx];
		uint32_t next = j->dirty_next;
		rl_conn *c = &w->cx.conns[idx];
		int live = (c->flags & RL_C_LIVE) && !(c->flags & RL_C_CLOSING);
		if (live && j->slen && (J(w, c)->flags & JS_CORKED)) {
			/* stays staged: back on the list */
			j->dirty_next = keep;
			keep = idx;
		} else {
			j->dirty = 0;
			if (live) {
				seal(w, c, j);
				maybe_finish(w, c);
			} else {
				j->slen = 0;
			}
		}
		idx = next;
	}
	st->dirty_head = keep;
}

int rl_js_end_batch(rl_worker *w)
{
	js_state *st = st_of(w);
	rl_js_flush(w);
	/* handled events gave their buffers back (rl_js_consumed); those of
	 * events still waiting for JS stay held */
	unsigned keep = 0;
	for (unsigned i = 0; i < st->nheld; i++)
		if (st->held_flag[st->held[i]])
			st->held[keep++] = st->held[i];
	st->nheld = keep;
	rl_buf_commit(&w->br);
	RL_STORE(&w->c.i32[RL_WI_buf_free], (int32_t) rl_buf_free(&w->br));
	return (w->cx.nstarved && w->br.avail >= 4) || st->nev || st->nspill;
}

/* ---------------- calls from JS ---------------- */

/* A view into the provided-buffer region that names a buffer of this batch:
 * queue that buffer itself. 0 = not such a view, 1 = queued, -errno. */
static int write_in_place(rl_worker *w, rl_conn *c, js_conn *j, const uint8_t *p, size_t len)
{
	js_state *st = st_of(w);
	const uint8_t *base = w->br.base;
	size_t region = (size_t) w->br.count * w->br.size;
	if (!base || p < base || p >= base + region || (J(w, c)->flags & JS_CORKED))
		return 0;
	size_t off = (size_t) (p - base);
	unsigned bid = (unsigned) (off / w->br.size);
	if (off + len > ((size_t) bid + 1) * w->br.size || !st->held_flag[bid])
		return 0;
	seal(w, c, j); /* what was staged goes first */
	if (c->flags & RL_C_CLOSING)
		return -ENOMEM; /* the buffer is still held: the batch end frees it */
	st->held_flag[bid] = 0; /* the send releases it now */
	w->cx.segs[bid].ptr = (uint8_t *) p;
	rl_sock_enqueue(&w->cx, c, 0, bid, (uint32_t) len);
	return 1;
}

static int64_t after_write(rl_worker *w, rl_conn *c)
{
	uint64_t q = queued(w, c);
	if (q >= w->hiwat)
		J(w, c)->flags |= JS_WANT_DRAIN;
	return (int64_t) q;
}

int64_t rl_js_write(rl_worker *w, uint32_t idx, uint16_t gen, const void *data, size_t len)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	if (!c)
		return err;
	if (J(w, c)->flags & JS_END)
		return -EPIPE;
	js_state *st = st_of(w);
	js_conn *j = &st->jc[idx];
	if (len == 0)
		return (int64_t) queued(w, c);
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	int r = write_in_place(w, c, j, data, len);
	if (r < 0)
		return r;
	if (r > 0)
		return after_write(w, c);
	if (len >= RL_JS_DIRECT_WRITE && !(J(w, c)->flags & JS_CORKED)) {
		seal(w, c, j);
		if (c->flags & RL_C_CLOSING)
			return -ENOMEM;
		uint32_t seg = rl_seg_chunk(&w->cx, data, (uint32_t) len);
		if (seg == RL_SEG_NONE)
			return -ENOMEM;
		rl_sock_enqueue(&w->cx, c, 0, seg, (uint32_t) len);
		return after_write(w, c);
	}
	if ((err = stage_room(j, len)) < 0)
		return err;
	memcpy(j->stage + j->slen, data, len);
	j->slen += (uint32_t) len;
	mark_dirty(st, idx);
	return after_write(w, c);
}

uint8_t *rl_js_write_reserve(rl_worker *w, uint32_t idx, uint16_t gen, size_t len, int *err)
{
	rl_conn *c = js_conn_get(w, idx, gen, err);
	if (!c)
		return NULL;
	if (J(w, c)->flags & JS_END) {
		*err = -EPIPE;
		return NULL;
	}
	js_conn *j = &st_of(w)->jc[idx];
	int r = stage_room(j, len);
	if (r < 0) {
		*err = r;
		return NULL;
	}
	return j->stage + j->slen;
}

int64_t rl_js_write_commit(rl_worker *w, uint32_t idx, size_t len)
{
	rl_conn *c = &w->cx.conns[idx];
	js_state *st = st_of(w);
	js_conn *j = &st->jc[idx];
	if (len) {
		j->slen += (uint32_t) len;
		mark_dirty(st, idx);
	}
	return after_write(w, c);
}

int64_t rl_js_queued(rl_worker *w, uint32_t idx, uint16_t gen)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	return c ? (int64_t) queued(w, c) : err;
}

int rl_js_end(rl_worker *w, uint32_t idx, uint16_t gen)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	if (!c)
		return err;
	if (J(w, c)->flags & JS_END)
		return 0;
	J(w, c)->flags |= JS_END;
	J(w, c)->flags &= ~(uint32_t) JS_CORKED;
	seal(w, c, &st_of(w)->jc[idx]);
	if (c->flags & RL_C_CLOSING)
		return 0;
	rl_sock_shutdown_after_drain(&w->cx, c, 0);
	maybe_finish(w, c);
	return 0;
}

int rl_js_destroy(rl_worker *w, uint32_t idx, uint16_t gen, int e)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	if (c)
		rl_conn_close(&w->cx, c, e < 0 ? e : 0);
	return c ? 0 : err;
}

int rl_js_flow(rl_worker *w, uint32_t idx, uint16_t gen, int paused)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	if (c && paused)
		rl_sock_pause(&w->cx, c, 0, 1);
	else if (c)
		rl_sock_resume(&w->cx, c, 0, 1);
	return c ? 0 : err;
}

int rl_js_cork(rl_worker *w, uint32_t idx, uint16_t gen, int on)
{
	int err;
	rl_conn *c = js_conn_get(w, idx, gen, &err);
	if (!c)
		return err;
	if (on) {
		J(w, c)->flags |= JS_CORKED;
	} else if (J(w, c)->flags & JS_CORKED) {
		J(w, c)->flags &= ~(uint32_t) JS_CORKED;
		seal(w, c, &st_of(w)->jc[idx]);
		if (!(c->flags & RL_C_CLOSING))
			maybe_finish(w, c);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Relay: the bounds of the built-in modes (echo, proxy) on what one
 * direction of a connection holds while it waits to be sent. Bytes that
 * arrive on a source socket are queued, as the provided buffer they arrived
 * in, on a destination socket (echo: the same one; proxy: the other side).
 * Receiving from the source pauses while the destination's queue holds
 *
 *  - the high-water mark of bytes (resumes under the low-water mark): what
 *    one connection may make the worker hold;
 *  - or max_bufs provided buffers (resumes under it): what keeps the pool
 *    shared. A peer that does not read would otherwise pin high-water mark /
 *    buffer size buffers per direction (16 per direction with the defaults:
 *    64 such clients empty a 1,024-buffer pool and nobody else on the worker
 *    is served until they leave). With the cap, the bytes wait in the
 *    kernel's socket buffers and TCP flow control slows the sender.
 *
 * While more than three quarters of the pool are free, a direction may
 * hold up to RL_GATHER_MAX buffers instead (when max_bufs is smaller): a
 * bulk stream then has several buffers queued behind the send in flight,
 * and they leave in one gathered send (conn.h), one wake of the peer instead
 * of several (bulk through the proxy: about 8% less CPU per MiB than one
 * buffer a send, the medians of 6 runs each). Below that, max_bufs holds
 * again for every buffer that arrives, so directions that stall pin at most
 * a quarter of the pool plus max_bufs each (a pool of 64 with 20 clients
 * that stopped reading: 51 held; with half as the threshold, 63).
 *
 * Receives are capped by what the direction may still take before either
 * bound (rl_relay_budget). What arrives while the direction is already at
 * its buffer cap (the rest of a receive that raced the pause, or of an
 * uncapped multishot recv) is copied into memory of the connection's own
 * and its buffer goes back to the pool at once (counted as buffer_copies):
 * the pool bound is exact, and the byte bound holds to within a buffer.
 */
#include "worker_int.h"

/* buffers s holds of the pool: queued, or pinned by a zero-copy send */
static inline unsigned held(const rl_sock *s) { return (unsigned) s->qbufs + s->zbufs; }

/* the buffers one direction may hold now (0: no cap) */
static unsigned buf_cap(const rl_worker *w)
{
	if (w->max_bufs && w->max_bufs < RL_GATHER_MAX && rl_buf_free(&w->br) > w->br.count - w->br.count / 4)
		return RL_GATHER_MAX;
	return w->max_bufs;
}

static int at_bounds(const rl_worker *w, const rl_sock *s)
{
	unsigned cap = buf_cap(w);
	return s->qbytes >= w->hiwat || (cap && held(s) >= cap);
}

void rl_relay_data(rl_worker *w, rl_conn *c, unsigned src, unsigned dst, unsigned bid, unsigned len)
{
	rl_sock *d = &c->s[dst];
	uint32_t seg = bid;
	/* at the cap already: the bytes move to memory of the connection's
	 * own and the buffer goes back to the pool; out of memory, it stays */
	unsigned cap = buf_cap(w);
	if (cap && held(d) >= cap) {
		uint32_t ch = rl_seg_chunk(&w->cx, w->cx.segs[bid].ptr, len);
		if (ch != RL_SEG_NONE) {
			rl_seg_release(&w->cx, bid);
			seg = ch;
			RL_ADD(&w->c.u64[RL_WU_buffer_copies], 1);
		}
	}
	rl_sock_enqueue(&w->cx, c, dst, seg, len);
	if (at_bounds(w, d)) {
		/* a zero-copy send pins its buffer until the peer has the bytes
		 * (toward a peer that does not read: until it reads); a plain send
		 * lets the kernel's socket buffer hold them instead */
		if (d->zbufs)
			rl_sock_zc_stop(&w->cx, d);
		rl_sock_pause(&w->cx, c, src, 0);
	}
}

unsigned rl_relay_budget(const rl_worker *w, const rl_conn *c, unsigned dst)
{
	const rl_sock *d = &c->s[dst];
	uint64_t b = rl_sock_room(d, w->hiwat);
	unsigned cap = buf_cap(w);
	if (cap) {
		/* a bulk stream fills every buffer it may: it then pauses as it
		 * would one buffer at a time, instead of copying what keeps coming */
		uint64_t room = held(d) < cap ? (uint64_t) (cap - held(d)) * w->br.size : 0;
		if (room < b)
			b = room;
	}
	return b ? (unsigned) b : 1;
}

void rl_relay_sent(rl_worker *w, rl_conn *c, unsigned dst, unsigned src)
{
	const rl_sock *d = &c->s[dst];
	unsigned cap = buf_cap(w);
	if (d->qbytes <= w->lowat && (!cap || held(d) < cap))
		rl_sock_resume(&w->cx, c, src, 0);
}

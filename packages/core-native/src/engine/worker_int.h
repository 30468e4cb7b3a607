/* SPDX-License-Identifier: MIT */
/*
 * Worker internals shared by the core (worker.c) and the modes (echo.c,
 * proxy.c, js.c). Not part of the engine's public surface.
 *
 * Send segments: segments [0, buf_count) are the provided buffers themselves
 * (segment id == buffer id), so data received into a buffer is queued for
 * sending without allocating; segments from buf_count up are chunks the
 * worker allocated (data written by JS). A segment is released when its last
 * byte has been sent (or, for a zero-copy send, when its notification
 * arrives): a buffer goes back to the ring, a chunk is freed.
 */
#ifndef RL_WORKER_INT_H
#define RL_WORKER_INT_H

#include "ud.h"
#include "worker.h"

typedef struct rl_mode_ops {
	const char *name;
	/* worker-wide set-up and teardown of mode_state; 0 or -errno */
	int (*init)(rl_worker *w, const rl_worker_opts *o);
	void (*destroy)(rl_worker *w);
	/* a connection arrived (s[0].slot is set) */
	void (*start)(rl_worker *w, rl_conn *c);
	/* bytes arrived on side into buffer bid; the mode now owns bid and must
	 * queue it (rl_sock_enqueue) or release it (rl_seg_release) */
	void (*data)(rl_worker *w, rl_conn *c, unsigned side, unsigned bid, unsigned len);
	/* the peer of side sent FIN */
	void (*eof)(rl_worker *w, rl_conn *c, unsigned side);
	/* a send on side completed and the queue moved (may be empty now) */
	void (*sent)(rl_worker *w, rl_conn *c, unsigned side);
	/* a completion for an op the core does not handle (socket, connect, ...) */
	void (*cqe)(rl_worker *w, rl_conn *c, unsigned op, unsigned side, struct io_uring_cqe *cqe);
	/* the connection is about to be freed (every request has completed) */
	void (*closed)(rl_worker *w, rl_conn *c);
	/* end of each completion round */
	void (*round)(rl_worker *w);
	/* the engine timer fired (see rl_worker_timer) */
	void (*timer)(rl_worker *w);
	/* a socket failed (recv/send error); NULL: rl_conn_close(c, err) */
	void (*error)(rl_worker *w, rl_conn *c, unsigned side, int err);
} rl_mode_ops;

extern const rl_mode_ops rl_echo_ops;
extern const rl_mode_ops rl_proxy_ops;
extern const rl_mode_ops rl_js_ops;

static inline uint32_t rl_conn_idx(const rl_worker *w, const rl_conn *c)
{
	return (uint32_t) (c - w->conns);
}

static inline uint64_t rl_conn_ud(const rl_worker *w, const rl_conn *c, unsigned op, unsigned side)
{
	return rl_ud(op, rl_conn_idx(w, c), c->gen, (uint16_t) side);
}

/* a request naming c was submitted / completed */
static inline void rl_conn_get(rl_conn *c) { c->refs++; }
void rl_conn_put(rl_worker *w, rl_conn *c);

/* ---- receive ---- */
void rl_sock_arm_recv(rl_worker *w, rl_conn *c, unsigned side);
/* backpressure: pause/resume receiving on side (user = application's own pause) */
void rl_sock_pause(rl_worker *w, rl_conn *c, unsigned side, int user);
void rl_sock_resume(rl_worker *w, rl_conn *c, unsigned side, int user);

/* ---- send ---- */
/* a chunk segment holding a copy of data; RL_SEG_NONE when out of memory */
uint32_t rl_seg_chunk(rl_worker *w, const void *data, uint32_t len);
/* queue segment seg (len bytes at its ptr) on side and start sending */
void rl_sock_enqueue(rl_worker *w, rl_conn *c, unsigned side, uint32_t seg, uint32_t len);
/* give a segment back: a buffer to the ring, a chunk to the allocator */
void rl_seg_release(rl_worker *w, uint32_t seg);
/* shut the write side of side down once its queue has drained */
void rl_sock_shutdown_after_drain(rl_worker *w, rl_conn *c, unsigned side);
/* start sending the head of side's queue if idle */
void rl_sock_kick(rl_worker *w, rl_conn *c, unsigned side);

/* ---- close ---- */
/* cancel everything, close both sockets; err < 0 marks an error */
void rl_conn_close(rl_worker *w, rl_conn *c, int err);
/* the same, but both sockets close with RST (SO_LINGER {1, 0}) */
void rl_conn_abort(rl_worker *w, rl_conn *c, int err);

/* a worker-level CLOSE of a socket that never became c->s[side] (a failed
 * dial): aux bit 1 tells the core not to clear c->s[side].slot */
#define RL_AUX_DISCARD 2

/* ---- timer ---- */
/* fire ops->timer once after ms milliseconds (re-arm from the hook) */
int rl_worker_timer(rl_worker *w, unsigned ms);

/* nothing queued and no send in flight (zero-copy notifications may still
 * be outstanding: they only tell when a buffer may be reused) */
static inline int rl_sock_idle(const rl_sock *s)
{
	return s->qhead == RL_SEG_NONE && !(s->flags & RL_S_SENDING);
}

/* zero-copy buffer state: low bits count sends awaiting their notification */
#define RL_ZC_SENT 0x80 /* fully sent: release when the count reaches 0 */

/* a socket whose zc sends the kernel copied this many times in a row (a
 * local peer, a device without zero-copy) goes back to plain send: the copy
 * happens anyway and send_zc only adds a notification per send */
#define RL_ZC_COPIED_LIMIT 4

#endif

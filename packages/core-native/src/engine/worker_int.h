/* SPDX-License-Identifier: MIT */
/*
 * Worker internals shared by the worker (worker.c) and its modes (echo.c,
 * proxy.c, js.c). Not part of the engine's public surface. A mode serves
 * connections through the connection core (conn.h) of w->cx; what it keeps
 * per connection it keeps in arrays of its own, by rl_conn_idx.
 */
#ifndef RL_WORKER_INT_H
#define RL_WORKER_INT_H

#include "conn.h"
#include "ud.h"
#include "worker.h"

typedef struct rl_mode_ops {
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
	/* a send on side completed and the queue moved (may be empty now), or a
	 * buffer a zero-copy send on side held came back */
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
	/* bytes side may receive before the mode looks again (conn.h); NULL: no limit */
	unsigned (*recv_budget)(rl_worker *w, rl_conn *c, unsigned side);
} rl_mode_ops;

extern const rl_mode_ops rl_echo_ops;
extern const rl_mode_ops rl_proxy_ops;
extern const rl_mode_ops rl_js_ops;

/* ---- relay (relay.c): echo's and the proxy's bounds per direction ---- */
/* len bytes arrived on src into buffer bid: queue them on dst, pausing src
 * at the high-water mark or at max_bufs buffers held */
void rl_relay_data(rl_worker *w, rl_conn *c, unsigned src, unsigned dst, unsigned bid, unsigned len);
/* what src may still receive before dst reaches either bound (>= 1) */
unsigned rl_relay_budget(const rl_worker *w, const rl_conn *c, unsigned dst);
/* dst's queue moved: resume src once under both bounds */
void rl_relay_sent(rl_worker *w, rl_conn *c, unsigned dst, unsigned src);

/* ---- timer ---- */
/* fire ops->timer once after ms milliseconds (re-arm from the hook) */
int rl_worker_timer(rl_worker *w, unsigned ms);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A worker ring: receives connections from the acceptor (msg_ring CQE whose
 * res is the new slot), serves them, closes them.
 *
 * Every connection has up to two sockets (side 0 = the client, side 1 = an
 * upstream in proxy mode). What a connection does with its bytes is its
 * mode's business (echo.c, proxy.c, js.c, see worker_int.h); receiving,
 * sending, backpressure, half-close and the close protocol are the
 * connection core's (conn.h). The worker itself owns the hand-off (a
 * connection arriving from the acceptor), the dispatch of completions to
 * the core and the mode, and the drain.
 */
#ifndef RL_WORKER_H
#define RL_WORKER_H

#include "abi.h"
#include "bufring.h"
#include "conn.h"
#include "counters.h"
#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RL_CONN_NONE 0xffffffffu

typedef struct rl_worker_opts {
	unsigned table_size; /* fixed-file slots */
	unsigned sq_entries; /* 0 = auto */
	unsigned buf_count;  /* provided buffers, power of two */
	unsigned buf_size;
	unsigned mode;  /* RL_MODE_* */
	unsigned hiwat; /* queued bytes per direction that pause the sender side */
	unsigned lowat; /* ... and resume it */
	/* echo, proxy: provided buffers one direction may hold queued (relay.c); 0 = no cap */
	unsigned max_bufs;
	int no_defer_taskrun;
	unsigned zc_threshold; /* sends of at least this many bytes use send_zc; 0 = never */
	void *mode_config;     /* mode-specific (proxy: rl_proxy_config) */
	int wait_in_ring;      /* served by rl_worker_serve, not by an event loop (native modes) */
} rl_worker_opts;

struct rl_mode_ops;

typedef struct rl_worker {
	rl_ring ring;
	rl_bufring br;
	rl_counters c;
	rl_conns cx; /* the connections (conn.h) */
	unsigned mode;
	const struct rl_mode_ops *ops;
	void *mode_state;    /* owned by the mode */
	uint32_t *next_free; /* free list of connection indexes */
	uint32_t free_head;
	unsigned hiwat, lowat;
	unsigned max_bufs;
	int draining;
	int in_run;
	int woken; /* a doorbell (RL_OP_WAKE) arrived: rl_worker_serve returns */
	/* the worker is failing: hand-offs that arrive go back to this ring
	 * (the acceptor's, a dup we own), -1 otherwise */
	int evacuate_fd;
	/* engine timer (modes use it through rl_worker_timer) */
	struct __kernel_timespec timer_ts;
	int timer_armed;
} rl_worker;

/*
 * CQ entries for a worker ring: room for every completion that can be
 * outstanding at once, so a hand-off's CQE never meets a full CQ (older
 * kernels then fail the sender's msg_ring with -EOVERFLOW after the fd was
 * already installed). Per slot: a hand-off arrival, a send and a zero-copy
 * notification (a proxy client has a second socket with the same); per
 * provided buffer one receive; plus a full SQ of other requests. Capped at
 * the kernel's maximum; newer kernels queue any excess on an overflow list.
 */
static inline unsigned rl_worker_cq_entries(unsigned sq, unsigned table_size, unsigned buf_count)
{
	unsigned long want = (unsigned long) sq + 3ul * table_size + buf_count;
	unsigned cq = 4 * sq;
	while (cq < want && cq < 65536)
		cq <<= 1;
	return cq;
}

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c, const char **failed_call);
void rl_worker_destroy(rl_worker *w);
int rl_worker_run(rl_worker *w);
/*
 * Serve for up to max_ms, waiting in io_uring_enter (rl_ring_serve); returns
 * early when a doorbell arrives, so the thread can run its JS (commands from
 * the main thread). CQEs handled, or -errno.
 */
int rl_worker_serve(rl_worker *w, unsigned max_ms);

/* close every connection now; they count as forced */
void rl_worker_close_all(rl_worker *w);
/*
 * The worker is failing (its JS thread is about to end): from now on every
 * hand-off that arrives is sent back to the acceptor ring `acceptor_fd`
 * (msg_ring fd_alloc, carrying the same connection id) instead of being
 * served, so a connection on its way to a dying worker is placed again.
 * 0 or -errno.
 */
int rl_worker_evacuate(rl_worker *w, int acceptor_fd);

#ifdef __cplusplus
}
#endif
#endif

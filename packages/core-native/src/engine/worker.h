/* SPDX-License-Identifier: MIT */
/*
 * A worker ring: receives connections from the acceptor (msg_ring CQE whose
 * res is the new slot), serves them, closes them.
 *
 * Every connection has up to two sockets (side 0 = the client, side 1 = an
 * upstream in proxy mode). What a connection does with its bytes is its
 * mode's business (echo.c, proxy.c, js.c, see worker_int.h); the core here
 * owns receiving (multishot recv from the provided buffer ring), sending
 * (one send in flight per socket, so bytes leave in order), backpressure,
 * half-close and the close protocol. A connection lives until every request
 * that names it has completed; a reference count says when.
 */
#ifndef RL_WORKER_H
#define RL_WORKER_H

#include "bufring.h"
#include "counters.h"
#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rl_mode { RL_MODE_ECHO = 1, RL_MODE_PROXY = 2, RL_MODE_JS = 3 };

#define RL_SEG_NONE 0xffffffffu
#define RL_CONN_NONE 0xffffffffu

/* socket flags */
enum {
	RL_S_RECV = 1 << 0,       /* multishot recv armed */
	RL_S_SENDING = 1 << 1,    /* a send in flight */
	RL_S_EOF = 1 << 2,        /* peer sent FIN (recv returned 0) */
	RL_S_PAUSED = 1 << 3,     /* receive paused by backpressure */
	RL_S_STARVED = 1 << 4,    /* recv ended with -ENOBUFS, waits for buffers */
	RL_S_WR_SHUT = 1 << 5,    /* shutdown(SHUT_WR) issued */
	RL_S_CANCELLING = 1 << 6, /* a cancel of the recv is in flight */
	RL_S_WANT_SHUT = 1 << 7,  /* shut down the write side once the queue drains */
	RL_S_USER_PAUSED = 1 << 8,/* receive paused by the application */
	RL_S_CONNECTING = 1 << 9, /* socket/connect in progress (proxy) */
	RL_S_NO_ZC = 1 << 10,     /* the kernel copies this socket's zc sends: use send */
	RL_S_SHUTTING = 1 << 11,  /* shutdown in flight: it runs in io-wq and looks
				   * its fixed slot up late, so the slot must not be
				   * closed (and reused) before it completes */
};

typedef struct rl_sock {
	int32_t slot;     /* fixed-file slot, -1 when none */
	uint16_t flags;
	uint16_t zc_pending; /* send_zc notifications not yet received */
	uint16_t zc_copied_run; /* consecutive zc sends the kernel copied */
	uint16_t _pad;
	uint32_t qhead;   /* first segment queued to send, RL_SEG_NONE = empty */
	uint32_t qtail;
	uint32_t qoff;    /* bytes of the head segment already sent */
	uint32_t qbytes;  /* bytes queued to send */
} rl_sock;

/* connection flags */
enum { RL_C_LIVE = 1, RL_C_CLOSING = 2, RL_C_ERROR = 4, RL_C_FORCED = 8, RL_C_RST = 16 };

/* mode-private state, one arm per mode */
typedef struct rl_conn_proxy {
	int32_t upstream;    /* index of the upstream being used, -1 none */
	uint16_t attempts;   /* dial attempts so far */
	uint16_t state;
	uint64_t last_active_ns;
	uint64_t tried;      /* upstreams this connection has tried (bit set) */
	uint64_t dial_ns;    /* when the current dial started */
} rl_conn_proxy;

typedef struct rl_conn_js {
	uint32_t flags;
	uint32_t pending_events;
} rl_conn_js;

typedef struct rl_conn {
	uint32_t id;      /* connection id from the acceptor */
	uint16_t gen;
	uint8_t flags;
	uint8_t mode;
	uint32_t refs;    /* requests in flight that name this connection */
	uint32_t next_free;
	int32_t err;      /* first error, -errno */
	rl_sock s[2];
	union {
		rl_conn_proxy proxy;
		rl_conn_js js;
	} m;
} rl_conn;

/* a range of memory queued for sending: see worker_int.h */
typedef struct rl_seg {
	uint8_t *ptr;
	uint32_t len;
	uint32_t next;
} rl_seg;

typedef struct rl_worker_opts {
	unsigned table_size;  /* fixed-file slots */
	unsigned sq_entries;  /* 0 = auto */
	unsigned buf_count;   /* provided buffers, power of two */
	unsigned buf_size;
	unsigned mode;        /* RL_MODE_* */
	unsigned hiwat;       /* queued bytes per direction that pause the sender side */
	unsigned lowat;       /* ... and resume it */
	int no_defer_taskrun;
	unsigned zc_threshold; /* sends of at least this many bytes use send_zc; 0 = never */
	void *mode_config;    /* mode-specific (proxy: rl_proxy_config) */
} rl_worker_opts;

struct rl_mode_ops;

typedef struct rl_worker {
	rl_ring ring;
	rl_bufring br;
	rl_counters c;
	unsigned mode;
	const struct rl_mode_ops *ops;
	void *mode_state;     /* owned by the mode */
	rl_conn *conns;
	unsigned conn_cap;
	uint32_t free_head;
	unsigned live;
	unsigned slots_used;
	rl_seg *segs;         /* [0, buf_count): provided buffers; above: chunks */
	uint32_t nsegs;
	uint32_t seg_free;    /* free list of chunk segments */
	uint32_t *starved;    /* (conn idx << 1 | side) waiting for buffers */
	unsigned nstarved;
	unsigned hiwat, lowat;
	uint64_t buffered;
	int draining;
	int in_run;
	/* the worker is failing: hand-offs that arrive go back to this ring
	 * (the acceptor's, a dup we own), -1 otherwise */
	int evacuate_fd;
	/* zero copy: the buffer region is registered as fixed buffer 0 */
	unsigned zc_threshold;
	int zc_enabled;
	uint8_t *zc_state;    /* per buffer: sends awaiting notification, + RL_ZC_SENT */
	/* recv one buffer at a time instead of multishot (exact backpressure) */
	int recv_single;
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

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c,
		   const char **failed_call);
void rl_worker_destroy(rl_worker *w);
int rl_worker_run(rl_worker *w);

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

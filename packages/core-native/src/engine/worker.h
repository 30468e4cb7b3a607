/* SPDX-License-Identifier: MIT */
/*
 * A worker ring: receives connections from the acceptor (msg_ring CQE whose
 * res is the new slot), serves them, closes them.
 *
 * Every connection has up to two sockets (side 0 = the client, side 1 = an
 * upstream in proxy mode). Data received on one side is queued, as provided
 * buffer ids, for sending on a side (the same one for echo, the other for
 * proxy). Each socket sends one request at a time, so bytes go out in order.
 * A connection lives until every request that names it has completed; a
 * reference count says when.
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

/* socket flags */
enum {
	RL_S_RECV = 1 << 0,      /* multishot recv armed */
	RL_S_SENDING = 1 << 1,   /* a send in flight */
	RL_S_EOF = 1 << 2,       /* peer sent FIN */
	RL_S_PAUSED = 1 << 3,    /* receive paused (backpressure or user) */
	RL_S_STARVED = 1 << 4,   /* recv ended with -ENOBUFS, waits for buffers */
	RL_S_WR_SHUT = 1 << 5,   /* we sent FIN */
	RL_S_CANCELLING = 1 << 6 /* a cancel of the recv is in flight */
};

typedef struct rl_sock {
	int32_t slot;     /* fixed-file slot, -1 when none */
	uint16_t flags;
	uint16_t qhead;   /* buffer id at the head of the send queue, RL_NOBUF = empty */
	uint16_t qtail;
	uint16_t _pad;
	uint32_t qoff;    /* bytes of the head buffer already sent */
	uint32_t qbytes;  /* bytes queued to send */
} rl_sock;

/* connection flags */
enum { RL_C_LIVE = 1, RL_C_CLOSING = 2, RL_C_ERROR = 4, RL_C_FORCED = 8 };

typedef struct rl_conn {
	uint32_t id;      /* connection id from the acceptor */
	uint16_t gen;
	uint8_t flags;
	uint8_t mode;
	uint32_t refs;    /* requests in flight that name this connection */
	uint32_t next_free;
	int32_t err;      /* first error, -errno */
	rl_sock s[2];
} rl_conn;

typedef struct rl_worker_opts {
	unsigned table_size;  /* fixed-file slots */
	unsigned sq_entries;  /* 0 = auto */
	unsigned buf_count;   /* provided buffers, power of two */
	unsigned buf_size;
	unsigned mode;        /* RL_MODE_* */
	unsigned hiwat;       /* queued bytes per direction that pause the sender side */
	unsigned lowat;       /* ... and resume it */
	int no_defer_taskrun;
} rl_worker_opts;

typedef struct rl_worker {
	rl_ring ring;
	rl_bufring br;
	rl_counters c;
	unsigned mode;
	rl_conn *conns;
	unsigned conn_cap;
	uint32_t free_head;
	unsigned live;
	unsigned slots_used;
	uint16_t *bnext;      /* send-queue link, per buffer id */
	uint32_t *blen;       /* bytes in buffer, per buffer id */
	uint32_t *starved;    /* (conn idx << 1 | side) waiting for buffers */
	unsigned nstarved;
	unsigned hiwat, lowat;
	uint64_t buffered;
	int draining;
} rl_worker;

int rl_worker_init(rl_worker *w, const rl_worker_opts *o, rl_counters c,
		   const char **failed_call);
void rl_worker_destroy(rl_worker *w);
int rl_worker_run(rl_worker *w);

/* close every connection now; they count as forced */
void rl_worker_close_all(rl_worker *w);

#define RL_CONN_NONE 0xffffffffu

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/*
 * A client ring: the load generator behind `ringleader stress`.
 *
 * One rl_client per thread, created and driven by that thread (the ring's
 * single issuer). It opens its share of the connections as direct
 * descriptors (dial.h: socket_direct_alloc + connect, so they never occupy
 * the process fd table), serves them with the same connection core as the
 * server's workers (conn.h), drives them in one of four modes and counts
 * what happens into a counters block that JS reads with Atomics from any
 * thread:
 *
 *   echo   request/response: up to `pipeline` messages in flight per
 *          connection, every echoed byte verified, round-trip latency per
 *          message (closed loop, or open loop at a fixed schedule)
 *   churn  connect, one message, verify the echo, close, repeat
 *   bulk   stream in both directions, bounded by a per-connection window
 *   idle   open the connections and hold them
 *
 * Payloads: message `seq` of connection `id` is `size(seq)` bytes, each a
 * pure function of (seed, id, seq, offset) (rl_pat_*), so the receiver
 * recomputes what it expects instead of keeping copies, and a mismatch names
 * the connection, the message and the offset. Every connection is one byte
 * stream; echoes come back in order, so the receive side walks the same
 * sequence of messages as the send side.
 *
 * Open loop: message j of local connection k is due at
 * t_start + (j * nconns + k) / rate; its latency is measured from that time
 * even when it could only be sent later (no coordinated omission).
 *
 * Counting: totals are kept for the whole run; throughput counters and the
 * latency histogram only count completions inside [t_measure, t_end).
 * The engine is plain C: every failure is a negative errno.
 */
#ifndef RL_CLIENT_H
#define RL_CLIENT_H

#include "abi.h"
#include "bufring.h"
#include "client_req.h"
#include "conn.h"
#include "counters.h"
#include "net.h"
#include "pattern.h"
#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* modes (enum rl_client_mode) and socket set-ups (enum rl_client_sock): abi.h */

/* ---- counters (names exported by the binding, read by JS) ---- */
#define RL_CLIENT_I32(X)                                                    \
	X(up)              /* connections established now */                \
	X(connecting)      /* socket/connect in flight */                   \
	X(peak_up)         /* most connections up at once */                \
	X(state)           /* 0 new, 1 running, 2 draining, 3 done */       \
	X(zc_enabled)      /* 1 while send_zc is used for large sends */    \
	X(zc_fallback_err) /* -errno that turned send_zc off, 0 if none */  \
	X(nodelay)         /* 1 when TCP_NODELAY could be set on sockets */ \
	X(up_at_stop)      /* connections up when the run stopped */

#define RL_CLIENT_U64(X)                                                       \
	X(connects) /* connections established */                              \
	X(connect_attempts)                                                    \
	X(connect_errors) /* attempts that failed (socket/bind/connect) */     \
	X(conn_errors)    /* established connections ended by an error */      \
	X(errors)         /* every counted error (the err table sums to it) */ \
	X(msgs_sent)      /* messages whose last byte was sent */              \
	X(msgs_all)       /* messages verified, whole run */                   \
	X(msgs)           /* messages verified inside the window */            \
	X(cycles_all)     /* churn: connect/echo/close cycles completed */     \
	X(cycles)         /* ... inside the window */                          \
	X(bytes_out_all)                                                       \
	X(bytes_in_all)                                                        \
	X(bytes_out) /* inside the window */                                   \
	X(bytes_in)                                                            \
	X(verify_failures)                                                     \
	X(unfinished) /* messages still in flight when the run ended */        \
	X(sends)                                                               \
	X(recvs)                                                               \
	X(zc_sends)     /* sends issued as send_zc */                          \
	X(zc_notifs)    /* their notifications */                              \
	X(zc_copied)    /* notifications saying the kernel copied anyway */    \
	X(zc_fallbacks) /* switches from send_zc to send */                    \
	X(zc_retries)   /* failed send_zc resent as plain send */              \
	X(enobufs)      /* multishot recv ran out of provided buffers */       \
	X(late)         /* open loop: sends more than 1 ms behind schedule */  \
	X(unsent)       /* open loop: due before the stop and never sent */    \
	X(drain_left)   /* in flight when the drain time ran out */            \
	X(abandoned)    /* in flight on a socket that ended during the run */  \
	X(lat_sum_ns)   /* sum of recorded latencies */                        \
	X(lat_min_ns)                                                          \
	X(lat_max_ns)                                                          \
	X(conn_lat_sum_ns) /* connect latency (socket op -> connect CQE) */    \
	X(conn_lat_max_ns)                                                     \
	X(t_done_ns) /* when the message quota was reached, 0 if not */        \
	X(t_stop_ns) /* when the engine stopped issuing work */                \
	X(rounds)    /* completion rounds (wake-ups) */                        \
	/* request modes (client_req.h) */                                     \
	X(proto_errors)       /* responses that broke the protocol */          \
	X(status_errors)      /* http: responses of an unexpected status */    \
	X(error_replies)      /* redis: error replies */                       \
	X(unexpected_replies) /* redis: replies of a kind not expected */      \
	X(timeouts)           /* requests unanswered within the timeout */     \
	X(extra_answers)      /* answers to no request sent (stream ends) */   \
	X(server_closes)      /* sockets the server ended between responses */ \
	X(reissued)           /* requests such a close left unanswered, issued again */

/* latency histograms: log-linear (rl_hist_index), nanoseconds, 32
 * sub-buckets per power of two (~3% resolution), stored after the named
 * counters: the message/cycle histogram, then the connect histogram, then
 * the error table (index = errno; 0 = the peer closed early, "EOF") */
#define RL_CLIENT_HIST_SUB_BITS 5
#define RL_CLIENT_HIST_BUCKETS ((64 - RL_CLIENT_HIST_SUB_BITS + 1) << RL_CLIENT_HIST_SUB_BITS)
#define RL_CLIENT_ERR_SLOTS 256

#define RL_ENUM_CI(name) RL_CI_##name,
#define RL_ENUM_CU(name) RL_CU_##name,
RL_BLOCK_ENUMS(RL_CLIENT_I32, RL_CLIENT_U64, RL_ENUM_CI, RL_ENUM_CU, RL_C_I32_COUNT, RL_C_U64_NAMED)
#define RL_C_U64_HIST RL_C_U64_NAMED
#define RL_C_U64_CHIST (RL_C_U64_HIST + RL_CLIENT_HIST_BUCKETS)
#define RL_C_U64_ERR (RL_C_U64_CHIST + RL_CLIENT_HIST_BUCKETS)
/* then the protocol error table (index = RL_PE_*) and, for http, the
 * responses by status code */
#define RL_C_U64_PERR (RL_C_U64_ERR + RL_CLIENT_ERR_SLOTS)
#define RL_C_U64_STATUS (RL_C_U64_PERR + RL_PE_LIMIT)
/* then the messages (requests, churn cycles) completed in each second of
 * the measured window, counted by the engine so a busy JS thread cannot
 * blur them; the last slot takes every later second */
#define RL_CLIENT_SECOND_SLOTS 3600
#define RL_C_U64_SECS (RL_C_U64_STATUS + RL_HTTP_STATUS_SLOTS)
/* then the first latencies recorded, exactly (ns), so a small sample is
 * reported by its real values rather than by bucket midpoints */
#define RL_CLIENT_EXACT 64
#define RL_C_U64_EXACT (RL_C_U64_SECS + RL_CLIENT_SECOND_SLOTS)
#define RL_C_U64_COUNT (RL_C_U64_EXACT + RL_CLIENT_EXACT)

/* ---- a verification failure, as reported ---- */
/* request modes: RL_MM_PROTO (pe = RL_PE_*, off inside the response),
 * RL_MM_STATUS (got = the status), RL_MM_REPLY (got = the reply's type
 * byte, text = its first line), RL_MM_TIMEOUT. Every mode: RL_MM_ERROR, a
 * socket error with messages unanswered (got = -errno) */
enum {
	RL_MM_MISMATCH = 1,
	RL_MM_EOF = 2,
	RL_MM_EXTRA = 3,
	RL_MM_PROTO = 4,
	RL_MM_STATUS = 5,
	RL_MM_REPLY = 6,
	RL_MM_TIMEOUT = 7,
	RL_MM_ERROR = 8
};
typedef struct rl_mismatch {
	uint32_t kind;           /* RL_MM_* */
	uint32_t id;             /* connection id */
	uint64_t seq;            /* message (request) */
	uint64_t off;            /* byte offset inside the message */
	int expected, got;       /* byte values, -1 when not applicable */
	int pe;                  /* RL_MM_PROTO: the protocol error (RL_PE_*), else 0 */
	char text[RL_RESP_LINE]; /* RL_MM_REPLY: the reply's first line (an error's reason) */
} rl_mismatch;
#define RL_CLIENT_MISMATCHES 16

typedef struct rl_client_opts {
	unsigned mode;          /* RL_CM_* */
	unsigned nconns;        /* connections (churn: concurrent slots) on this ring */
	uint32_t id_base;       /* global id of the first connection */
	const rl_addr *targets; /* connection k uses targets[(id_base + k) % ntargets] */
	unsigned ntargets;
	const rl_addr *sources; /* source addresses, used round-robin; may be empty */
	unsigned nsources;
	unsigned sock_mode; /* RL_SOCK_* */
	int sock_cmd;       /* 1: uring_cmd setsockopt works (TCP_NODELAY on direct sockets) */
	uint32_t size_min, size_max;
	unsigned pipeline;     /* echo: messages in flight per connection */
	unsigned window;       /* bulk: bytes in flight per connection */
	unsigned chunk;        /* largest single send */
	unsigned zc_threshold; /* sends of at least this many bytes use send_zc; 0 = never */
	double rate;           /* open loop: messages (churn: cycles) per second, 0 = closed loop */
	double connect_rate;   /* connection attempts per second, 0 = unlimited */
	uint64_t seed;
	uint64_t quota;              /* messages (churn: cycles) to complete, 0 = no limit */
	uint64_t retry_ns;           /* pause before a failed connection is retried */
	uint64_t drain_ns;           /* at the end, how long in-flight messages may finish */
	uint64_t connect_timeout_ns; /* a connect not done by then fails with ETIMEDOUT; 0 = none */
	unsigned max_connecting;     /* connection attempts in flight at once */
	unsigned buf_count;          /* provided receive buffers (power of two) */
	unsigned buf_size;
	unsigned sq_entries;
	int no_defer_taskrun;
	int wait_in_ring;       /* 1 = the thread waits in io_uring_enter (rl_client_run with serve_ms) */
	const rl_req_spec *req; /* request modes: what to send and expect */
	uint64_t timeout_ns;    /* request modes: a request unanswered this long fails; 0 = none */
} rl_client_opts;

struct rl_cconn;

typedef struct rl_client {
	rl_ring ring;
	rl_bufring br;
	rl_counters c;
	rl_conns cx; /* the sockets: connection k is cx.conns[k] (conn.h) */
	rl_client_opts o;
	rl_addr *targets;
	rl_addr *sources;
	struct rl_cconn *conns; /* the load generator's part of connection k */
	uint64_t *t_issue;      /* nconns * pipeline issue/schedule times (echo, churn) */
	uint8_t *scratch;       /* expected bytes, buf_size */
	uint64_t now;           /* the time of the CQE being handled */
	/* timers */
	struct rl_cconn **heap; /* connections waiting for a time, by wake_ns */
	unsigned heap_n;
	uint32_t *cq; /* connections waiting for a connect token (FIFO) */
	unsigned cq_head, cq_len;
	uint64_t token_ns; /* next connect allowed (connect_rate) */
	uint64_t timer_at; /* deadline of the armed timer, UINT64_MAX = none */
	uint16_t timer_gen;
	struct __kernel_timespec timer_ts[4];
	struct __kernel_timespec connect_ts; /* every connect's linked timeout (relative) */
	/* phases */
	uint64_t t_start, t_measure, t_end, t_drain_end;
	int state; /* 0 new, 1 running, 2 draining, 3 done */
	int done_reported;
	int forced;          /* the drain time ran out and everything was closed */
	uint64_t quota_left; /* messages not yet issued (when quota) */
	uint64_t quota_open; /* issued and not yet verified */
	unsigned src_next;
	unsigned connecting;
	unsigned up, peak_up;
	int nodelay;
	double ns_per_msg; /* open loop */
	double ns_per_connect;
	rl_mismatch mm[RL_CLIENT_MISMATCHES];
	unsigned nmm;
	uint64_t lat_min;
	unsigned nexact; /* latencies kept exactly (RL_CLIENT_EXACT at most) */
	int in_run;
	int finished;      /* state 3 reached: ends a serve early */
	rl_req req;        /* request modes: compiled once */
	rl_req_conn *rc;   /* ... and the parser of each connection */
	uint64_t sweep_at; /* next check for requests past the timeout */
} rl_client;

/* Creates the ring, its table and buffers; nothing is connected yet.
 * Returns 0 or -errno; *failed_call names the call that failed. */
int rl_client_init(rl_client *cl, const rl_client_opts *o, rl_counters c, const char **failed_call);
void rl_client_destroy(rl_client *cl);

/* Start at t_start (CLOCK_MONOTONIC ns): connect, then drive load; count
 * from t_measure; stop issuing at t_end (0 = when the quota is met or
 * rl_client_stop is called). Returns 0 or -errno. */
int rl_client_start(rl_client *cl, uint64_t t_start, uint64_t t_measure, uint64_t t_end);

/* Stop now: no new messages or connections; in-flight messages get the
 * drain time to complete, then every connection closes. */
void rl_client_stop(rl_client *cl);

/* serve_ms 0: one wake of the thread's event loop (rl_ring_run). Else serve
 * the ring waiting in io_uring_enter (rl_ring_serve; a wait_in_ring ring)
 * for up to serve_ms, returning early once the run is over: one syscall per
 * batch of completions instead of epoll, an eventfd read and several enters. */
int rl_client_run(rl_client *cl, unsigned serve_ms);

/* 1 once every connection is closed after a stop (state 3) */
static inline int rl_client_done(const rl_client *cl) { return cl->state == 3; }

#ifdef __cplusplus
}
#endif
#endif

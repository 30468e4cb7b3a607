/* SPDX-License-Identifier: MIT */
/*
 * Client internals shared by client.c (connection life cycle, timers,
 * phases, completions, set-up) and client_stream.c (the byte stream of each
 * connection: what is sent, what is expected back, what is counted). Not
 * part of the engine's public surface.
 *
 * A connection k is two halves by the same index: cl->cx.conns[k], the
 * connection core's (sockets, send queue, refs, generation), and
 * cl->conns[k], the load generator's (state, stream position, schedule). The
 * core half is opened anew (new generation) for every connection attempt;
 * the load generator's half lives for the whole run.
 */
#ifndef RL_CLIENT_INT_H
#define RL_CLIENT_INT_H

#include "client.h"
#include "pattern.h"

#define NEVER UINT64_MAX
#define LATE_NS 1000000ull /* an open-loop send this far behind schedule counts as late */

/* One writer (this thread); JS reads with Atomics. A relaxed load + store
 * is enough for a single writer and costs no locked instruction. */
#define CU(cl, name) (&(cl)->c.u64[RL_CU_##name])
#define CADD(p, v) RL_STORE((p), RL_LOAD(p) + (uint64_t) (v))
#define CSET(p, v) RL_STORE((p), (uint64_t) (v))
#define GSET(cl, name, v) RL_STORE(&(cl)->c.i32[RL_CI_##name], (int32_t) (v))

/* connection states */
enum { CS_IDLE = 0, CS_OPENING, CS_CONNECTING, CS_UP, CS_CLOSING, CS_DONE };

/* connection flags (the socket's own are the core's: conn.h) */
enum {
	CF_FAILED = 1 << 0,        /* ended by an error or a failed verification: retry later */
	CF_CYCLE_DONE = 1 << 1,    /* churn: the echo was verified, the close ends the cycle */
	CF_MSG_FAILED = 1 << 2,    /* failed by its message (request) rx_seq, counted as its error */
	CF_PARKED = 1 << 3,        /* idle, waiting for quota to come back */
	CF_CONN_CANCELED = 1 << 4, /* the connect completed with -ECANCELED */
	CF_TIMEOUT_FIRED = 1 << 5, /* its linked timeout fired (-ETIME) */
	CF_REDIAL = 1 << 6,        /* request modes: the server ended the socket cleanly: dial at once */
};

/* request modes: echo's pipeline of timed messages, with client_req.c's
 * requests and parsers instead of the payload pattern */
static inline int rl_cm_request(unsigned mode) { return mode >= RL_CM_HTTP; }
/* modes whose messages are timed from issue to the end of their answer */
static inline int rl_cm_timed(unsigned mode) { return mode == RL_CM_ECHO || rl_cm_request(mode); }

typedef struct rl_cconn {
	uint32_t id;   /* global connection id: payloads and reports */
	uint8_t state; /* CS_* */
	uint8_t _pad;
	uint16_t target;
	uint32_t flags;   /* CF_* */
	int32_t heap_idx; /* position in the timer heap, -1 none */
	int32_t src;      /* source address of this attempt, -1 none */
	uint32_t _pad2;
	uint64_t wake_ns;  /* heap key */
	uint64_t t_open;   /* this connection attempt began */
	uint64_t cycle_t0; /* churn: latency origin of the cycle */
	uint64_t sched_j;  /* open loop: next scheduled operation */
	/* the byte stream: messages [rx_seq, issued) are in flight; the sender
	 * has generated everything before (tx_seq, tx_off) */
	uint64_t issued;
	uint64_t sent_seq; /* messages before it have left whole (their send completed) */
	uint64_t tx_seq, tx_key;
	uint32_t tx_len, tx_off;
	uint64_t rx_seq, rx_key;
	uint32_t rx_len, rx_off;
	uint64_t tx_bytes, rx_bytes; /* since this socket connected (bulk window) */
} rl_cconn;

static inline uint32_t cidx(const rl_client *cl, const rl_cconn *c) { return (uint32_t) (c - cl->conns); }

/* the core half of c, and the load generator's half of k */
static inline rl_conn *K(rl_client *cl, const rl_cconn *c) { return &cl->cx.conns[cidx(cl, c)]; }
static inline rl_cconn *C(rl_client *cl, const rl_conn *k) { return &cl->conns[rl_conn_idx(&cl->cx, k)]; }

static inline int in_window(const rl_client *cl, uint64_t now)
{
	return now >= cl->t_measure && now < cl->t_end;
}

static inline int running(const rl_client *cl) { return cl->state == 1; }

/* a message (cycle) completed at now, inside the window: count it in its second */
static inline void count_second(rl_client *cl, uint64_t now)
{
	uint64_t sec = (now - cl->t_measure) / 1000000000ull;
	if (sec >= RL_CLIENT_SECOND_SLOTS)
		sec = RL_CLIENT_SECOND_SLOTS - 1;
	CADD(&cl->c.u64[RL_C_U64_SECS + sec], 1);
}

/* open-loop due time of operation j of c */
static inline uint64_t sched_at(const rl_client *cl, const rl_cconn *c, uint64_t j)
{
	double m = (double) j * (double) cl->o.nconns + (double) cidx(cl, c);
	return cl->t_start + (uint64_t) (m * cl->ns_per_msg);
}

/* ---- client.c ---- */
/* cancel what is in flight and close c's socket; err < 0 marks a failure */
void rl_cl_close(rl_client *cl, rl_cconn *c, int err);
/* wake c at t (replacing an earlier wake) */
void rl_cl_wake_at(rl_client *cl, rl_cconn *c, uint64_t t);

/* ---- client_stream.c ---- */
/* both directions of the stream start at message seq (a new socket) */
void rl_cl_stream_at(rl_client *cl, rl_cconn *c, uint64_t seq);
/* echo: issue what the pipeline, the schedule and the quota allow, and send */
void rl_cl_pump(rl_client *cl, rl_cconn *c, uint64_t now);
/* queue the next chunk of the stream if nothing is queued */
void rl_cl_kick(rl_client *cl, rl_cconn *c);
/* messages in flight that a drain waits for */
int rl_cl_has_inflight(const rl_client *cl, const rl_cconn *c);
void rl_cl_count_err(rl_client *cl, int err);
void rl_cl_hist_add(rl_client *cl, unsigned base, uint64_t v);
void rl_cl_record_latency(rl_client *cl, uint64_t lat);
/* the connection core's hooks for the stream */
void rl_cl_on_data(rl_conns *cx, rl_conn *k, unsigned side, unsigned bid, unsigned len);
void rl_cl_on_eof(rl_conns *cx, rl_conn *k, unsigned side);
void rl_cl_on_sent(rl_conns *cx, rl_conn *k, unsigned side, unsigned res, uint32_t seg);
void rl_cl_on_error(rl_conns *cx, rl_conn *k, unsigned side, int err);
/* a message (request) was answered: count it, time it */
void rl_cl_message_done(rl_client *cl, rl_cconn *c, uint64_t now);
/* after answers arrived: issue more, or close when draining */
void rl_cl_next(rl_client *cl, rl_cconn *c, uint64_t now);
rl_mismatch *rl_cl_record(rl_client *cl, unsigned kind, const rl_cconn *c, uint64_t seq, uint64_t off,
			  int expected, int got, const char *word);

/* ---- client_req.c ---- */
/* the socket of c connected: fresh parser */
void rl_cl_req_start(rl_client *cl, rl_cconn *c);
/* render requests [tx_seq, issued) into dst[0, cap) while they fit */
uint32_t rl_cl_req_fill(rl_client *cl, rl_cconn *c, uint8_t *dst, uint32_t cap, uint32_t *ends);
void rl_cl_req_recv(rl_client *cl, rl_cconn *c, const uint8_t *p, uint32_t len, uint64_t now);
void rl_cl_req_eof(rl_client *cl, rl_cconn *c);
/* fail the requests unanswered for longer than the timeout; returns the next check time */
uint64_t rl_cl_req_sweep(rl_client *cl, uint64_t now);

#endif

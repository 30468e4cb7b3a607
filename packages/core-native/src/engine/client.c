/* SPDX-License-Identifier: MIT */
/*
 * The client ring (see client.h for what it does). Layout of this file:
 * timers (a min-heap of connections by wake time plus one absolute io_uring
 * timeout), connection life cycle (dial, connect, close, retry), phases
 * (start, stop, drain, done), the CQE dispatch, set-up and teardown. The
 * byte stream of each connection is client_stream.c's; sockets, sending and
 * receiving are the connection core's (conn.h), dialling is dial.h's.
 *
 * Ownership: a connection's core half lives until every request naming it
 * has completed (refs); each attempt opens it with a new generation, so a
 * CQE for an earlier socket of the same connection is recognised.
 */
#define _GNU_SOURCE
#include "client_int.h"
#include "counters.h"
#include "dial.h"
#include "ud.h"

#include <stdlib.h>
#include <string.h>

#define BGID 0

static void check_done(rl_client *cl);

/* ------------------------------------------------------------------ */
/* timers: min-heap of connections by wake_ns, one absolute timeout    */
/* ------------------------------------------------------------------ */

static inline void heap_place(rl_client *cl, unsigned i, rl_cconn *c)
{
	cl->heap[i] = c;
	c->heap_idx = (int32_t) i;
}

static void heap_up(rl_client *cl, unsigned i)
{
	rl_cconn *c = cl->heap[i];
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		if (cl->heap[p]->wake_ns <= c->wake_ns)
			break;
		heap_place(cl, i, cl->heap[p]);
		i = p;
	}
	heap_place(cl, i, c);
}

static void heap_down(rl_client *cl, unsigned i)
{
	rl_cconn *c = cl->heap[i];
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mw = c->wake_ns;
		if (l < cl->heap_n && cl->heap[l]->wake_ns < mw) {
			m = l;
			mw = cl->heap[l]->wake_ns;
		}
		if (r < cl->heap_n && cl->heap[r]->wake_ns < mw)
			m = r;
		if (m == i)
			break;
		heap_place(cl, i, cl->heap[m]);
		i = m;
	}
	heap_place(cl, i, c);
}

static void heap_remove(rl_client *cl, rl_cconn *c)
{
	if (c->heap_idx < 0)
		return;
	unsigned i = (unsigned) c->heap_idx;
	unsigned last = --cl->heap_n;
	c->heap_idx = -1;
	if (i != last) {
		heap_place(cl, i, cl->heap[last]);
		heap_down(cl, i);
		heap_up(cl, (unsigned) cl->heap[i]->heap_idx);
	}
}

/* wake c at t (replacing an earlier wake) */
void rl_cl_wake_at(rl_client *cl, rl_cconn *c, uint64_t t)
{
	heap_remove(cl, c);
	c->wake_ns = t;
	heap_place(cl, cl->heap_n++, c);
	heap_up(cl, (unsigned) c->heap_idx);
}

static void arm_timer(rl_client *cl, uint64_t now)
{
	uint64_t d = NEVER;
	if (cl->heap_n)
		d = cl->heap[0]->wake_ns;
	if (cl->cq_len && cl->o.connect_rate > 0 && cl->token_ns > now && cl->token_ns < d)
		d = cl->token_ns;
	if (running(cl) && cl->t_end != NEVER && cl->t_end < d)
		d = cl->t_end;
	if (cl->state == 2 && !cl->forced && cl->t_drain_end < d)
		d = cl->t_drain_end;
	if (cl->o.timeout_ns && cl->sweep_at < d)
		d = cl->sweep_at;
	if (d == NEVER || (cl->timer_at != NEVER && cl->timer_at <= d))
		return;
	if (d <= now)
		d = now + 1000; /* due already: come back right after this round */
	struct io_uring_sqe *sqe = rl_ring_sqe(&cl->ring);
	if (!sqe)
		return;
	struct __kernel_timespec *ts = &cl->timer_ts[cl->timer_gen & 3];
	ts->tv_sec = (long long) (d / 1000000000ull);
	ts->tv_nsec = (long long) (d % 1000000000ull);
	io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
	sqe->user_data = rl_ud(RL_OP_TIMER, RL_IDX_MAX, cl->timer_gen, 0);
	cl->timer_at = d;
	cl->timer_gen++;
}

/* ------------------------------------------------------------------ */
/* connection life cycle                                               */
/* ------------------------------------------------------------------ */

static void want_connect(rl_client *cl, rl_cconn *c)
{
	c->state = CS_IDLE;
	cl->cq[(cl->cq_head + cl->cq_len) % cl->o.nconns] = cidx(cl, c);
	cl->cq_len++;
}

/* churn: begin cycle (consumes quota); others: first connect or reconnect */
static void begin(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (cl->o.mode == RL_CM_CHURN) {
		if (cl->o.quota) {
			if (!cl->quota_left) {
				c->flags |= CF_PARKED;
				return;
			}
			cl->quota_left--;
			cl->quota_open++;
		}
		c->flags &= ~(uint32_t) CF_PARKED;
		if (cl->o.rate > 0) {
			c->cycle_t0 = sched_at(cl, c, c->sched_j++);
			if (now > c->cycle_t0 + LATE_NS)
				CADD(CU(cl, late), 1);
		} else {
			c->cycle_t0 = now;
		}
	}
	want_connect(cl, c);
}

/* A connection attempt failed. -ECANCELED is never the cause itself: either
 * a linked setsockopt/bind failed first (and was counted from its own CQE)
 * or the attempt was cancelled because the run is ending. */
static void fail_attempt(rl_client *cl, rl_cconn *c, int err)
{
	if (err != -ECANCELED) {
		rl_cl_count_err(cl, err);
		CADD(CU(cl, connect_errors), 1);
	}
	c->flags |= CF_FAILED;
}

/*
 * How c dials. RL_SOCK_RING: a direct socket, options through uring_cmd
 * setsockopt and bind through IORING_OP_BIND in front of the connect.
 * RL_SOCK_FD: a process fd gets its options and bind with plain syscalls,
 * then moves into the ring's table and is closed, so an established
 * connection still holds no process fd; it costs ~5 syscalls per
 * connection on this thread.
 */
static rl_dial dial_of(const rl_client *cl, const rl_cconn *c)
{
	return (rl_dial){
		.dst = &cl->targets[c->target],
		.src = c->src >= 0 ? &cl->sources[c->src] : NULL,
		.nodelay = cl->nodelay,
		.sock_cmd = cl->o.sock_cmd,
		.fd_mode = cl->o.sock_mode == RL_SOCK_FD,
		.timeout = cl->o.connect_timeout_ns ? &cl->connect_ts : NULL,
	};
}

static void open_socket(rl_client *cl, rl_cconn *c, uint64_t now)
{
	rl_conn *k = K(cl, c);
	rl_conn_open(&cl->cx, k);
	k->id = c->id;
	c->flags = 0;
	c->t_open = now;
	c->state = CS_OPENING;
	c->src = cl->o.nsources ? (int32_t) (cl->src_next++ % cl->o.nsources) : -1;
	cl->connecting++;
	CADD(CU(cl, connect_attempts), 1);
	rl_dial d = dial_of(cl, c);
	int ret = rl_dial_start(&cl->cx, k, 0, &d);
	if (ret < 0) {
		cl->connecting--;
		fail_attempt(cl, c, ret);
		c->state = CS_CLOSING;
		rl_conn_close(&cl->cx, k, ret); /* nothing in flight: closed at once */
	}
}

#define CONNECT_BURST_NS 20000000ull /* 20 ms */

/* connection attempts waiting for a token (connect_rate) or a free
 * in-flight place (max_connecting) */
static void pump_connects(rl_client *cl, uint64_t now)
{
	while (cl->cq_len && cl->connecting < cl->o.max_connecting) {
		if (cl->o.connect_rate > 0) {
			/* A wake-up that comes late may catch up on up to
			 * CONNECT_BURST_NS of missed connects, no more (no burst
			 * after a quiet spell). Without it a ring woken less often
			 * than the rate made one connect per wake-up: 20k/s asked,
			 * 5.8k/s made on a busy machine (8k in 400 ms with it). */
			if (cl->token_ns + CONNECT_BURST_NS < now)
				cl->token_ns = now - CONNECT_BURST_NS;
			if (cl->token_ns > now)
				break;
			cl->token_ns += (uint64_t) cl->ns_per_connect;
		}
		rl_cconn *c = &cl->conns[cl->cq[cl->cq_head]];
		cl->cq_head = (cl->cq_head + 1) % cl->o.nconns;
		cl->cq_len--;
		if (!running(cl)) {
			c->state = CS_DONE;
			continue;
		}
		open_socket(cl, c, now);
	}
}

static void on_connected(rl_client *cl, rl_cconn *c, uint64_t now)
{
	c->state = CS_UP;
	cl->up++;
	if (cl->up > cl->peak_up) {
		cl->peak_up = cl->up;
		GSET(cl, peak_up, cl->peak_up);
	}
	CADD(CU(cl, connects), 1);
	uint64_t lat = now - c->t_open;
	rl_cl_hist_add(cl, RL_C_U64_CHIST, lat);
	CADD(CU(cl, conn_lat_sum_ns), lat);
	if (lat > RL_LOAD(CU(cl, conn_lat_max_ns)))
		CSET(CU(cl, conn_lat_max_ns), lat);
	if (!running(cl) && cl->o.mode != RL_CM_CHURN) {
		rl_cl_close(cl, c, 0);
		return;
	}
	rl_sock_arm_recv(&cl->cx, K(cl, c), 0);
	switch (cl->o.mode) {
	case RL_CM_ECHO:
		rl_cl_pump(cl, c, now);
		break;
	case RL_CM_CHURN:
		c->issued++; /* the cycle's one message (quota was taken by the cycle) */
		rl_cl_kick(cl, c);
		break;
	case RL_CM_BULK:
		rl_cl_kick(cl, c);
		break;
	default:
		if (rl_cm_request(cl->o.mode)) {
			rl_cl_req_start(cl, c);
			rl_cl_pump(cl, c, now);
		}
		break;
	}
}

void rl_cl_close(rl_client *cl, rl_cconn *c, int err)
{
	if (c->state == CS_CLOSING || c->state == CS_IDLE || c->state == CS_DONE)
		return;
	if (err < 0)
		c->flags |= CF_FAILED;
	heap_remove(cl, c);
	if (c->state == CS_UP)
		cl->up--;
	c->state = CS_CLOSING;
	/* A connection closed with its work unfinished (a failure, a timeout,
	 * the drain run out) resets. A FIN would leave what it still had to
	 * send queued behind a peer that does not read, and a zero-copy send
	 * holds its buffer until the kernel lets go of it: minutes of
	 * zero-window probes, during which the run could not end. RST frees
	 * it at once. A churn cycle that completed closes with FIN, as the
	 * clients it stands for do. A socket still being made is closed by
	 * the dial when it arrives. */
	int unfinished = cl->o.mode == RL_CM_CHURN ? !(c->flags & CF_CYCLE_DONE) : rl_cl_has_inflight(cl, c);
	if (err < 0 || (c->flags & CF_FAILED) || unfinished)
		rl_conn_abort(&cl->cx, K(cl, c), err);
	else
		rl_conn_close(&cl->cx, K(cl, c), err);
}

/* every request naming the connection has completed: account, then
 * reconnect, start the next cycle, or rest */
static void on_closed(rl_conns *cx, rl_conn *k)
{
	rl_client *cl = cx->owner;
	rl_cconn *c = C(cl, k);
	uint64_t now = rl_now_ns();
	/* messages that were in flight on this socket */
	if (rl_cm_timed(cl->o.mode) || cl->o.mode == RL_CM_BULK) {
		uint64_t lost = c->issued - c->rx_seq;
		if (lost) {
			/* of these, what had left whole is in `sent` (a request in
			 * the send the socket's end cut short never was), and the
			 * one that failed the socket (CF_MSG_FAILED) is counted as
			 * its error; the rest ended with the run (unfinished) or
			 * were lost with the connection (abandoned), so that sent =
			 * answered + errors + abandoned + unfinished */
			uint64_t named = (c->flags & CF_MSG_FAILED) ? 1 : 0;
			uint64_t gone = c->sent_seq > c->rx_seq ? c->sent_seq - c->rx_seq : 0;
			if (gone > named)
				CADD(running(cl) ? CU(cl, abandoned) : CU(cl, unfinished), gone - named);
			if (cl->o.quota) {
				cl->quota_open -= lost;
				if (running(cl))
					cl->quota_left += lost;
			}
		}
	} else if (cl->o.mode == RL_CM_CHURN) {
		if (c->flags & CF_CYCLE_DONE) {
			CADD(CU(cl, cycles_all), 1);
			if (in_window(cl, now)) {
				CADD(CU(cl, cycles), 1);
				count_second(cl, now);
				rl_cl_record_latency(cl, now - c->cycle_t0);
			}
		} else if (!running(cl)) {
			CADD(CU(cl, unfinished), 1);
		}
		if (cl->o.quota) {
			cl->quota_open--;
			if (!(c->flags & CF_CYCLE_DONE) && running(cl))
				cl->quota_left++;
		}
	}
	/* the next socket starts a fresh stream after the last message issued */
	rl_cl_stream_at(cl, c, c->issued > c->tx_seq ? c->issued : c->tx_seq + (c->tx_off ? 1 : 0));
	int failed = (c->flags & CF_FAILED) != 0;
	int cycle_done = (c->flags & CF_CYCLE_DONE) != 0;
	int redial = (c->flags & CF_REDIAL) != 0;
	c->flags &= ~(uint32_t) (CF_FAILED | CF_CYCLE_DONE | CF_MSG_FAILED | CF_CONN_CANCELED |
				 CF_TIMEOUT_FIRED | CF_REDIAL);
	if (cl->o.quota && running(cl) && !cl->quota_left && !cl->quota_open) {
		CSET(CU(cl, t_done_ns), now);
		rl_client_stop(cl);
	}
	if (!running(cl)) {
		c->state = CS_DONE;
		check_done(cl);
		return;
	}
	c->state = CS_IDLE;
	if (failed) {
		uint64_t t = now + cl->o.retry_ns;
		if (cl->o.mode == RL_CM_CHURN && cl->o.rate > 0) {
			uint64_t due = sched_at(cl, c, c->sched_j);
			if (due > t)
				t = due;
		}
		rl_cl_wake_at(cl, c, t);
	} else if (cl->o.mode == RL_CM_CHURN && cycle_done) {
		if (cl->o.rate > 0) {
			uint64_t due = sched_at(cl, c, c->sched_j);
			if (due > now) {
				rl_cl_wake_at(cl, c, due);
				return;
			}
		}
		begin(cl, c, now);
	} else {
		/* closed while running without an error: reconnect (at once
		 * when the server ended it, as HTTP's Connection: close does) */
		rl_cl_wake_at(cl, c, redial ? now : now + cl->o.retry_ns);
	}
}

static const rl_conn_ops client_conn_ops = {
	.data = rl_cl_on_data,
	.eof = rl_cl_on_eof,
	.sent = rl_cl_on_sent,
	.error = rl_cl_on_error,
	.closed = on_closed,
};

/* ------------------------------------------------------------------ */
/* phases                                                              */
/* ------------------------------------------------------------------ */

static void check_done(rl_client *cl)
{
	if (cl->state != 2 || cl->cx.live)
		return;
	cl->state = 3;
	cl->finished = 1;
	GSET(cl, state, 3);
}

/* Open loop: operations that fell due before `now` and were never issued,
 * held back by answers that did not come (a stalled server), or by a server
 * slower than the rate. Their latency is not in the histogram: a run would
 * look healthy while most of its schedule was never sent. */
static uint64_t count_unsent(const rl_client *cl, uint64_t now)
{
	if (cl->o.rate <= 0 || now <= cl->t_start || !(rl_cm_timed(cl->o.mode) || cl->o.mode == RL_CM_CHURN))
		return 0;
	double ops = (double) (now - cl->t_start) / cl->ns_per_msg; /* due: j * nconns + k < ops */
	uint64_t n = 0;
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		double due = (ops - (double) i) / (double) cl->o.nconns;
		uint64_t d = due > 0 ? (uint64_t) due + ((double) (uint64_t) due < due ? 1 : 0) : 0;
		if (d > cl->conns[i].sched_j)
			n += d - cl->conns[i].sched_j;
	}
	return cl->o.quota && n > cl->quota_left ? cl->quota_left : n;
}

void rl_client_stop(rl_client *cl)
{
	if (cl->state != 1)
		return;
	uint64_t now = rl_now_ns();
	CSET(CU(cl, unsent), count_unsent(cl, cl->t_end < now ? cl->t_end : now));
	cl->state = 2;
	GSET(cl, state, 2);
	GSET(cl, up_at_stop, cl->up);
	CSET(CU(cl, t_stop_ns), now);
	if (cl->t_end > now)
		cl->t_end = now;
	cl->t_drain_end = now + cl->o.drain_ns;
	/* nothing new starts */
	while (cl->heap_n) {
		rl_cconn *c = cl->heap[0];
		heap_remove(cl, c);
		if (c->state == CS_IDLE)
			c->state = CS_DONE;
	}
	while (cl->cq_len) {
		cl->conns[cl->cq[cl->cq_head]].state = CS_DONE;
		cl->cq_head = (cl->cq_head + 1) % cl->o.nconns;
		cl->cq_len--;
	}
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		rl_cconn *c = &cl->conns[i];
		if (c->state == CS_IDLE) {
			c->state = CS_DONE;
		} else if (c->state == CS_UP) {
			if (!rl_cl_has_inflight(cl, c))
				rl_cl_close(cl, c, 0);
		} else if ((c->state == CS_OPENING || c->state == CS_CONNECTING) &&
			   cl->o.mode != RL_CM_CHURN) {
			rl_cl_close(cl, c, 0);
		}
	}
	check_done(cl);
}

/* the drain time is over: close what is left, counting what it held (with a
 * drain, what the server left unanswered that long) */
static void force_close(rl_client *cl)
{
	uint64_t left = 0;
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		rl_cconn *c = &cl->conns[i];
		if (c->state == CS_UP || c->state == CS_OPENING || c->state == CS_CONNECTING) {
			if (cl->o.mode == RL_CM_CHURN)
				left++; /* a cycle in progress */
			else if (c->state == CS_UP && (rl_cm_timed(cl->o.mode) || cl->o.mode == RL_CM_BULK))
				left += c->issued - c->rx_seq;
			rl_cl_close(cl, c, 0);
		}
	}
	CSET(CU(cl, drain_left), left);
}

static void on_wake(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (!running(cl))
		return;
	if (c->state == CS_IDLE)
		begin(cl, c, now);
	else if (c->state == CS_UP)
		rl_cl_pump(cl, c, now);
}

static void run_timers(rl_client *cl, uint64_t now)
{
	if (running(cl) && now >= cl->t_end)
		rl_client_stop(cl);
	if (cl->state == 2 && !cl->forced && now >= cl->t_drain_end) {
		cl->forced = 1;
		force_close(cl);
	}
	while (cl->heap_n && cl->heap[0]->wake_ns <= now) {
		rl_cconn *c = cl->heap[0];
		heap_remove(cl, c);
		on_wake(cl, c, now);
	}
	pump_connects(cl, now);
	if (cl->o.timeout_ns && now >= cl->sweep_at)
		cl->sweep_at = rl_cl_req_sweep(cl, now);
	if (cl->state == 1 || cl->state == 2)
		arm_timer(cl, now);
}

/* ------------------------------------------------------------------ */
/* completions                                                         */
/* ------------------------------------------------------------------ */

/* the socket exists (or could not be made): connect it */
static void on_socket(rl_client *cl, rl_cconn *c, const struct io_uring_cqe *cqe)
{
	rl_dial d = dial_of(cl, c);
	int ret = rl_dial_socket_done(&cl->cx, K(cl, c), 0, cqe, &d);
	if (ret == 0) {
		c->state = CS_CONNECTING;
		return;
	}
	cl->connecting--;
	if (ret < 0) {
		fail_attempt(cl, c, ret);
		rl_cl_close(cl, c, ret);
	}
	/* ret == 1: closed while the socket was being made; the dial closed it */
}

/*
 * The connect's linked timeout (--connect-timeout). When it fires, the
 * connect completes with -ECANCELED and the timeout with -ETIME, in either
 * order; a connect cancelled for another reason (a failed setsockopt/bind in
 * front of it, the end of the run) takes its timeout down with -ECANCELED,
 * and a timeout that fired as the connect completed anyway reports -ETIME
 * with a connect that did not fail. So the attempt counts as ETIMEDOUT only
 * when both halves are seen, whichever comes second; the connection is held
 * until both have arrived (each holds a reference).
 */
static void connect_timed_out(rl_client *cl, rl_cconn *c, uint32_t flag)
{
	c->flags |= flag;
	if ((c->flags & (CF_CONN_CANCELED | CF_TIMEOUT_FIRED)) != (CF_CONN_CANCELED | CF_TIMEOUT_FIRED))
		return;
	rl_cl_count_err(cl, -ETIMEDOUT);
	CADD(CU(cl, connect_errors), 1);
}

static void on_connect(rl_client *cl, rl_cconn *c, int res)
{
	rl_dial_done(K(cl, c), 0);
	cl->connecting--;
	if (res == -ECANCELED)
		connect_timed_out(cl, c, CF_CONN_CANCELED);
	if (c->state != CS_CONNECTING)
		return; /* closed while connecting */
	if (res == 0) {
		on_connected(cl, c, cl->now);
	} else {
		fail_attempt(cl, c, res);
		rl_cl_close(cl, c, res);
	}
}

static void client_cqe(void *ctx, struct io_uring_cqe *cqe)
{
	rl_client *cl = ctx;
	uint64_t ud = cqe->user_data;
	unsigned op = rl_ud_op(ud);
	if (op == RL_OP_TIMER) {
		if (rl_ud_gen(ud) == (uint16_t) (cl->timer_gen - 1))
			cl->timer_at = NEVER;
		return; /* due work runs after the round */
	}
	rl_conn *k = rl_conn_of(&cl->cx, cqe);
	if (!k) {
		/* an earlier socket of this connection: nothing is owed, as
		 * every request that posts for a socket holds a reference */
		return;
	}
	cl->now = rl_now_ns();
	if (rl_conn_cqe(&cl->cx, k, cqe))
		return;
	rl_cconn *c = C(cl, k);
	switch (op) {
	case RL_OP_SOCKET:
	case RL_OP_FILES_UPDATE:
		on_socket(cl, c, cqe);
		rl_conn_put(&cl->cx, k);
		break;
	case RL_OP_SETSOCKOPT:
	case RL_OP_BIND:
		/* only a failure posts a CQE (CQE_SKIP_SUCCESS), and it stands
		 * for the connect's, which does not come (dial.h). On a
		 * connection this client is closing (the end of the run) the
		 * close can empty the slot before the chain runs: on_connect
		 * counts nothing then, as that -EBADF is not the peer's doing. */
		on_connect(cl, c, rl_dial_chain_failed(&cl->cx, k, 0, cqe->res));
		rl_conn_put(&cl->cx, k);
		break;
	case RL_OP_CONNECT:
		on_connect(cl, c, cqe->res);
		rl_conn_put(&cl->cx, k);
		break;
	case RL_OP_LINK_TIMEOUT:
		if (cqe->res == -ETIME)
			connect_timed_out(cl, c, CF_TIMEOUT_FIRED);
		rl_conn_put(&cl->cx, k);
		break;
	default:
		rl_conn_put(&cl->cx, k);
		break;
	}
}

static void client_after_round(void *ctx)
{
	rl_client *cl = ctx;
	uint64_t now = rl_now_ns();
	rl_buf_commit(&cl->br);
	rl_conns_feed_starved(&cl->cx);
	run_timers(cl, now);
	CADD(CU(cl, rounds), 1);
	GSET(cl, up, cl->up);
	GSET(cl, connecting, cl->connecting);
}

int rl_client_run(rl_client *cl, unsigned serve_ms)
{
	cl->in_run = 1;
	int ret = serve_ms ? rl_ring_serve(&cl->ring, client_cqe, cl, (uint64_t) serve_ms * 1000000u,
					   client_after_round, &cl->finished)
			   : rl_ring_run(&cl->ring, client_cqe, cl, 8, client_after_round);
	cl->in_run = 0;
	return ret;
}

/* ------------------------------------------------------------------ */
/* setup and teardown                                                  */
/* ------------------------------------------------------------------ */

int rl_client_init(rl_client *cl, const rl_client_opts *o, rl_counters c, const char **failed_call)
{
	failed_call = rl_failed_sink(failed_call);
	memset(cl, 0, sizeof(*cl));
	*failed_call = "rl_client_init";
	if (!o->nconns || o->nconns > RL_IDX_MAX - 1 || !o->ntargets || o->ntargets > 0xffff ||
	    o->mode < RL_CM_ECHO || o->mode > RL_CM_CUSTOM || (rl_cm_request(o->mode) && !o->req) ||
	    !o->size_min || o->size_max < o->size_min || !o->chunk || !o->buf_size)
		return -EINVAL;
	cl->o = *o;
	cl->c = c;
	if (!cl->o.pipeline)
		cl->o.pipeline = 1;
	if (!cl->o.window)
		cl->o.window = 4 * cl->o.chunk;
	if (!cl->o.max_connecting)
		cl->o.max_connecting = 512;
	if (!cl->o.buf_count)
		cl->o.buf_count = 1024;
	cl->timer_at = NEVER;
	cl->lat_min = NEVER;
	cl->t_end = NEVER;
	cl->nodelay = o->sock_mode == RL_SOCK_FD || o->sock_cmd;
	cl->ns_per_msg = o->rate > 0 ? 1e9 / o->rate : 0;
	cl->ns_per_connect = o->connect_rate > 0 ? 1e9 / o->connect_rate : 0;
	cl->connect_ts.tv_sec = (long long) (o->connect_timeout_ns / 1000000000ull);
	cl->connect_ts.tv_nsec = (long long) (o->connect_timeout_ns % 1000000000ull);
	cl->quota_left = o->quota;
	cl->sweep_at = NEVER;
	if (rl_cm_request(o->mode)) {
		int r = rl_req_compile(&cl->req, o->mode, o->req);
		if (r < 0) {
			*failed_call = "rl_req_compile";
			rl_client_destroy(cl);
			return r;
		}
		/* a chunk holds at least one whole request */
		if (cl->o.chunk < cl->req.max_len)
			cl->o.chunk = (unsigned) cl->req.max_len;
		cl->sweep_at = 0;
	}
	cl->o.req = NULL; /* the caller's spec may go now */

	size_t n = o->nconns;
	cl->targets = calloc(o->ntargets, sizeof(rl_addr));
	cl->sources = calloc(o->nsources ? o->nsources : 1, sizeof(rl_addr));
	cl->conns = calloc(n, sizeof(rl_cconn));
	cl->heap = calloc(n, sizeof(rl_cconn *));
	cl->cq = calloc(n, sizeof(uint32_t));
	cl->scratch = malloc(o->buf_size);
	if (rl_cm_timed(o->mode))
		cl->t_issue = calloc(n * cl->o.pipeline, sizeof(uint64_t));
	if (rl_cm_request(o->mode))
		cl->rc = calloc(n, sizeof(rl_req_conn));
	if (!cl->targets || !cl->sources || !cl->conns || !cl->heap || !cl->cq || !cl->scratch ||
	    (rl_cm_timed(o->mode) && !cl->t_issue) || (rl_cm_request(o->mode) && !cl->rc)) {
		*failed_call = "malloc";
		rl_client_destroy(cl);
		return -ENOMEM;
	}
	memcpy(cl->targets, o->targets, o->ntargets * sizeof(rl_addr));
	if (o->nsources)
		memcpy(cl->sources, o->sources, o->nsources * sizeof(rl_addr));
	cl->o.targets = cl->targets;
	cl->o.sources = cl->sources;
	for (size_t i = 0; i < n; i++) {
		rl_cconn *k = &cl->conns[i];
		k->id = o->id_base + (uint32_t) i;
		k->heap_idx = -1;
		k->src = -1;
		k->target = (uint16_t) (k->id % o->ntargets);
		rl_cl_stream_at(cl, k, 0);
	}

	unsigned files = o->nconns + 16;
	unsigned sq = o->sq_entries ? o->sq_entries : 2048;
	rl_ring_opts ro = { .sq_entries = sq,
			    .cq_entries = sq * 4,
			    .files = files,
			    .no_defer_taskrun = o->no_defer_taskrun,
			    .wait_in_ring = o->wait_in_ring };
	int ret = rl_ring_init(&cl->ring, &ro, failed_call);
	if (ret < 0) {
		rl_client_destroy(cl);
		return ret;
	}
	ret = rl_bufring_init(&cl->br, &cl->ring.ring, BGID, cl->o.buf_count, o->buf_size);
	if (ret < 0) {
		*failed_call = "io_uring_register_buf_ring";
		rl_client_destroy(cl);
		return ret;
	}
	/* sends go out from chunks the core allocates, one per connection at a
	 * time (plus those zero-copy sends still pin), each kept for reuse; a
	 * copied zero-copy send is counted, and the load generator keeps
	 * sending zero-copy as asked */
	rl_conns_opts co = { .cap = o->nconns,
			     .chunks = o->nconns + 16,
			     .zc_threshold = o->zc_threshold,
			     .zc_chunks = 1,
			     .chunk_keep = cl->o.chunk };
	ret = rl_conns_init(&cl->cx, &cl->ring, &cl->br, &co, &client_conn_ops, cl);
	if (ret < 0) {
		*failed_call = "malloc";
		rl_client_destroy(cl);
		return ret;
	}
	cl->cx.k = (rl_conn_counters){
		.enobufs = CU(cl, enobufs),
		.zc_sends = CU(cl, zc_sends),
		.zc_notifs = CU(cl, zc_notifs),
		.zc_copied = CU(cl, zc_copied),
		.zc_fallbacks = CU(cl, zc_fallbacks),
		.zc_retries = CU(cl, zc_retries),
		.zc_enabled = &cl->c.i32[RL_CI_zc_enabled],
		.zc_error = &cl->c.i32[RL_CI_zc_fallback_err],
	};
	GSET(cl, zc_enabled, o->zc_threshold != 0);
	GSET(cl, nodelay, cl->nodelay);
	GSET(cl, state, 0);
	return 0;
}

int rl_client_start(rl_client *cl, uint64_t t_start, uint64_t t_measure, uint64_t t_end)
{
	if (cl->state != 0)
		return -EALREADY;
	cl->t_start = t_start;
	cl->t_measure = t_measure < t_start ? t_start : t_measure;
	cl->t_end = t_end ? t_end : NEVER;
	cl->token_ns = t_start;
	cl->state = 1;
	GSET(cl, state, 1);
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		rl_cconn *c = &cl->conns[i];
		uint64_t at = t_start;
		if (cl->o.mode == RL_CM_CHURN && cl->o.rate > 0)
			at = sched_at(cl, c, 0);
		rl_cl_wake_at(cl, c, at);
	}
	run_timers(cl, rl_now_ns());
	int ret = rl_ring_submit(&cl->ring);
	return ret < 0 ? ret : 0;
}

void rl_client_destroy(rl_client *cl)
{
	/* the ring first: tearing it down cancels what still uses the buffers */
	rl_ring_destroy(&cl->ring);
	rl_conns_destroy(&cl->cx);
	rl_bufring_destroy(&cl->br, NULL);
	free(cl->targets);
	free(cl->sources);
	free(cl->conns);
	free(cl->heap);
	free(cl->cq);
	free(cl->scratch);
	free(cl->t_issue);
	free(cl->rc);
	rl_req_free(&cl->req);
	cl->rc = NULL;
	cl->targets = cl->sources = NULL;
	cl->conns = NULL;
	cl->heap = NULL;
	cl->cq = NULL;
	cl->scratch = NULL;
	cl->t_issue = NULL;
	if (cl->c.i32) {
		GSET(cl, up, 0);
		GSET(cl, connecting, 0);
		if (cl->state != 0)
			GSET(cl, state, 3);
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Proxy: every client connection gets an upstream connection dialled on this
 * worker's ring (socket_direct_alloc: the socket lives only in the ring's
 * table; connect with a linked timeout), then two pumps move bytes each way.
 *
 *  - dial: on refusal, timeout or unreachable, try the next upstream. Loss
 *    must cost latency, not connections (Envoy's outlier detection): an
 *    upstream is marked down only after max_fails consecutive failed dials,
 *    with exponential back-off, and is tried again (half-open) when its
 *    back-off has passed; a successful dial brings it back. A client that
 *    has tried every upstream that is up dials again, up to dial_retries
 *    more times (the same upstream when it is the only one). With no
 *    upstream left the client is closed at once, counted.
 *  - pumps: what arrives on one side is queued (as the buffer it arrived in)
 *    on the other, within the relay's bounds per direction (relay.c: the
 *    high-water mark of bytes, and max_bufs buffers, which keeps clients
 *    that do not read from emptying the pool everyone receives into).
 *    Receives are multishot, capped at what the direction may still take
 *    before those bounds: a recv re-armed per message cost 12% more proxy
 *    CPU per 64 B message (a poll armed and torn down each time), and an
 *    uncapped multishot recv outran its pause by a whole socket buffer.
 *    Kernels without the cap (< 6.17) receive one buffer at a time, as
 *    exact as before.
 *  - half-close: a FIN from one side becomes shutdown(SHUT_WR) on the other
 *    once what was queued has gone out; the other direction keeps flowing;
 *    the connection closes when both directions have ended.
 *  - a reset or error on one side resets the other (SO_LINGER {1,0}).
 *  - idle timeout: a sweep on the engine timer closes connections with no
 *    traffic for idle_timeout_ms. Traffic sets a flag the sweep reads (a
 *    clock read per relayed message was 1% of the proxy's CPU), so a
 *    connection is closed idle_timeout_ms after its last traffic plus at
 *    most one sweep period (idle_timeout_ms / 4, at most 1 s), two when the
 *    timeout is not a whole number of sweeps.
 */
#define _GNU_SOURCE
#include "dial.h"
#include "proxy.h"
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct upstream {
	rl_addr addr;
	int32_t *i32;
	uint64_t *u64;
	uint64_t retry_at_ns;  /* when down: not before this */
	uint64_t failed_at_ns; /* last failure recorded */
	unsigned backoff_ms;
	unsigned fails; /* consecutive failed dials */
	unsigned live;
	unsigned dialing; /* dials in flight to it: least-connections counts them (a burst went all to one) */
	unsigned tier;    /* its group's priority: 0 is tried first */
} upstream;

/* per connection index */
typedef struct pconn {
	int32_t upstream;        /* index of the upstream being used, -1 none */
	uint16_t attempts;       /* dial attempts so far */
	uint16_t state;          /* P_* */
	uint16_t retries;        /* dials beyond one per upstream so far */
	uint16_t active;         /* traffic since the last idle sweep */
	uint64_t last_active_ns; /* the sweep that last saw traffic (or the start) */
	uint64_t tried;          /* upstreams this connection has tried (bit set) */
	uint64_t dial_ns;        /* when the current dial started */
} pconn;

typedef struct rl_proxy {
	upstream up[RL_MAX_UPSTREAMS];
	pconn *pc; /* [connection index] */
	unsigned n;
	unsigned policy;
	unsigned rr;
	uint64_t rng;
	unsigned backoff_base, backoff_max;
	unsigned max_fails, dial_retries;
	unsigned idle_ms;
	unsigned sweep_ms;
	struct __kernel_timespec connect_ts;
	int32_t *own_i32; /* used when the caller gave no counter blocks */
	uint64_t *own_u64;
} rl_proxy;

/* pconn.state */
enum { P_DIALING = 1, P_CONNECTED = 2 };

static inline rl_proxy *P(rl_worker *w) { return (rl_proxy *) w->mode_state; }
static inline pconn *PC(rl_worker *w, const rl_conn *c) { return &P(w)->pc[rl_conn_idx(&w->cx, c)]; }

static int proxy_init(rl_worker *w, const rl_worker_opts *o)
{
	const rl_proxy_config *cfg = o->mode_config;
	/* the defaults live in the runtime's options: every value comes from there */
	if (!cfg || cfg->n == 0 || cfg->n > RL_MAX_UPSTREAMS || !cfg->upstreams || !cfg->connect_timeout_ms ||
	    !cfg->backoff_base_ms || cfg->backoff_max_ms < cfg->backoff_base_ms || !cfg->max_fails)
		return -EINVAL;
	for (unsigned i = 0; cfg->tiers && i < cfg->n; i++)
		if (cfg->tiers[i] >= RL_MAX_UPSTREAM_GROUPS)
			return -EINVAL;
	rl_proxy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->n = cfg->n;
	p->policy = cfg->policy;
	p->rng = rl_now_ns() | 1;
	p->backoff_base = cfg->backoff_base_ms;
	p->backoff_max = cfg->backoff_max_ms;
	p->max_fails = cfg->max_fails;
	p->dial_retries = cfg->dial_retries;
	p->idle_ms = cfg->idle_timeout_ms;
	unsigned ct = cfg->connect_timeout_ms;
	p->connect_ts.tv_sec = ct / 1000;
	p->connect_ts.tv_nsec = (long long) (ct % 1000) * 1000000LL;
	int32_t *ui32 = cfg->ui32;
	uint64_t *uu64 = cfg->uu64;
	p->pc = calloc(w->cx.cap, sizeof(pconn));
	if (!p->pc) {
		free(p);
		return -ENOMEM;
	}
	if (!ui32 || !uu64) {
		p->own_i32 = calloc((size_t) cfg->n * RL_U_I32_COUNT, sizeof(int32_t));
		p->own_u64 = calloc((size_t) cfg->n * RL_U_U64_COUNT, sizeof(uint64_t));
		if (!p->own_i32 || !p->own_u64) {
			free(p->own_i32);
			free(p->own_u64);
			free(p->pc);
			free(p);
			return -ENOMEM;
		}
		ui32 = p->own_i32;
		uu64 = p->own_u64;
	}
	for (unsigned i = 0; i < cfg->n; i++) {
		p->up[i].addr = cfg->upstreams[i];
		p->up[i].tier = cfg->tiers ? cfg->tiers[i] : 0;
		p->up[i].i32 = ui32 + (size_t) i * RL_U_I32_COUNT;
		p->up[i].u64 = uu64 + (size_t) i * RL_U_U64_COUNT;
	}
	w->mode_state = p;
	if (p->idle_ms) {
		p->sweep_ms = p->idle_ms / 4;
		if (p->sweep_ms > 1000)
			p->sweep_ms = 1000;
		if (p->sweep_ms < 10)
			p->sweep_ms = 10;
		rl_worker_timer(w, p->sweep_ms);
	}
	return 0;
}

static void proxy_destroy(rl_worker *w)
{
	rl_proxy *p = P(w);
	if (!p)
		return;
	free(p->own_i32);
	free(p->own_u64);
	free(p->pc);
	free(p);
	w->mode_state = NULL;
}

/* ---------------- upstream health ---------------- */

/* a dial to u that started at dial_ns failed with err */
static void up_failed(rl_worker *w, upstream *u, int err, uint64_t dial_ns)
{
	rl_proxy *p = P(w);
	RL_ADD(&u->u64[RL_UU_failed], 1);
	switch (-err) {
	case ECONNREFUSED:
		RL_ADD(&u->u64[RL_UU_refused], 1);
		break;
	case ECANCELED:
	case ETIME:
	case ETIMEDOUT:
		RL_ADD(&u->u64[RL_UU_timeouts], 1);
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
		RL_ADD(&u->u64[RL_UU_unreachable], 1);
		break;
	default:
		RL_ADD(&u->u64[RL_UU_other_errors], 1);
		break;
	}
	RL_ADD(&w->c.u64[RL_WU_dial_failures], 1);
	/* dials that were already under way when the last failure was seen are
	 * not retries: they fail for the same reason and do not lengthen the
	 * back-off */
	if (u->failed_at_ns && dial_ns < u->failed_at_ns)
		return;
	u->failed_at_ns = rl_now_ns();
	u->fails++;
	if (u->fails < p->max_fails)
		return; /* one lost SYN is not an outage */
	unsigned b = p->backoff_base;
	for (unsigned i = p->max_fails; i < u->fails && b < p->backoff_max; i++)
		b *= 2;
	if (b > p->backoff_max)
		b = p->backoff_max;
	u->backoff_ms = b;
	u->retry_at_ns = rl_now_ns() + (uint64_t) b * 1000000ull;
	RL_STORE(&u->i32[RL_UI_down], 1);
	RL_STORE(&u->i32[RL_UI_backoff_ms], (int32_t) b);
}

static void up_ok(upstream *u)
{
	u->fails = 0;
	u->backoff_ms = 0;
	u->retry_at_ns = 0;
	u->failed_at_ns = 0;
	RL_STORE(&u->i32[RL_UI_down], 0);
	RL_STORE(&u->i32[RL_UI_backoff_ms], 0);
	RL_ADD(&u->u64[RL_UU_connected], 1);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* an upstream this connection has not tried and that is up (or whose
 * back-off has passed), from the first group that has one (later groups
 * are backups, as HAProxy's backup servers); -1 when none */
/* the dial c had in flight ended (connected, failed, or the client left) */
static void dial_end(rl_worker *w, pconn *pc)
{
	if (pc->state != P_DIALING)
		return;
	pc->state = 0;
	upstream *u = &P(w)->up[pc->upstream];
	if (u->dialing)
		u->dialing--;
}

static int pick(rl_worker *w, rl_conn *c)
{
	rl_proxy *p = P(w);
	uint64_t now = rl_now_ns();
	uint64_t done = PC(w, c)->tried;
	int cand[RL_MAX_UPSTREAMS];
	int nc = 0;
	unsigned tier = RL_MAX_UPSTREAM_GROUPS;
	for (unsigned k = 0; k < p->n; k++) {
		unsigned i = (p->rr + k) % p->n;
		if (done & (1ull << i))
			continue;
		if (p->up[i].retry_at_ns && now < p->up[i].retry_at_ns)
			continue;
		if (p->up[i].tier > tier)
			continue;
		if (p->up[i].tier < tier) {
			tier = p->up[i].tier;
			nc = 0; /* an earlier group has one: drop the later group's */
		}
		cand[nc++] = (int) i;
	}
	if (nc == 0)
		return -1;
	int chosen = cand[0];
	if (p->policy == RL_UP_LEAST_CONN) {
		for (int k = 1; k < nc; k++)
			if (p->up[cand[k]].live + p->up[cand[k]].dialing <
			    p->up[chosen].live + p->up[chosen].dialing)
				chosen = cand[k];
	} else if (p->policy == RL_UP_RANDOM) {
		chosen = cand[xorshift(&p->rng) % (uint64_t) nc];
	}
	p->rr = ((unsigned) chosen + 1) % p->n;
	return chosen;
}

/* ---------------- dialing ---------------- */

static rl_dial dial_to(rl_worker *w, const upstream *u)
{
	return (rl_dial){ .dst = &u->addr, .timeout = &P(w)->connect_ts };
}

static void dial(rl_worker *w, rl_conn *c)
{
	rl_proxy *p = P(w);
	pconn *pc = PC(w, c);
	/* first every upstream that is up, once; then retries, each one counted */
	int i = pc->retries ? -1 : pick(w, c);
	if (i < 0 && pc->attempts && pc->retries < p->dial_retries) {
		pc->retries++;
		pc->tried = 0;
		i = pick(w, c);
	}
	if (i < 0) {
		/* nothing reachable: reset the client now rather than let it
		 * hang, or let a FIN pass for an empty reply */
		RL_ADD(&w->c.u64[RL_WU_upstream_unavailable], 1);
		rl_conn_abort(&w->cx, c, -EHOSTUNREACH);
		return;
	}
	upstream *u = &p->up[i];
	pc->tried |= 1ull << i;
	pc->upstream = i;
	pc->attempts++;
	pc->state = P_DIALING;
	u->dialing++;
	pc->dial_ns = rl_now_ns();
	RL_ADD(&u->u64[RL_UU_dials], 1);
	RL_ADD(&w->c.u64[RL_WU_dials], 1);
	rl_dial d = dial_to(w, u);
	int ret = rl_dial_start(&w->cx, c, 1, &d);
	if (ret < 0) {
		dial_end(w, pc);
		rl_conn_abort(&w->cx, c, ret);
	}
}

/* the upstream socket exists: connect it, with a timeout */
static void on_socket(rl_worker *w, rl_conn *c, const struct io_uring_cqe *cqe)
{
	rl_dial d = dial_to(w, &P(w)->up[PC(w, c)->upstream]);
	int ret = rl_dial_socket_done(&w->cx, c, 1, cqe, &d);
	if (ret != 0)
		dial_end(w, PC(w, c)); /* no connect follows */
	if (ret < 0) {
		/* not the upstream's fault (e.g. our table is full): give up */
		if (cqe->res < 0)
			RL_ADD(&w->c.u64[RL_WU_dial_failures], 1);
		rl_conn_abort(&w->cx, c, ret);
	}
}

static void on_connect(rl_worker *w, rl_conn *c, int res)
{
	pconn *pc = PC(w, c);
	upstream *u = &P(w)->up[pc->upstream];
	rl_dial_done(c, 1);
	dial_end(w, pc);
	if (c->flags & RL_C_CLOSING)
		return;
	if (res < 0) {
		/* refused, timed out (the linked timeout cancels it: -ECANCELED),
		 * unreachable: mark the upstream down, drop this socket, try the next */
		up_failed(w, u, res, pc->dial_ns);
		rl_dial_discard(&w->cx, c, 1);
		dial(w, c);
		return;
	}
	up_ok(u);
	u->live++;
	RL_STORE(&u->i32[RL_UI_live], (int32_t) u->live);
	pc->state = P_CONNECTED;
	pc->last_active_ns = rl_now_ns();
	rl_sock_arm_recv(&w->cx, c, 1);
	rl_sock_kick(&w->cx, c, 1); /* what the client sent while we dialled */
	if (c->s[0].flags & RL_S_EOF)
		rl_sock_shutdown_after_drain(&w->cx, c, 1);
}

/* ---------------- pumps ---------------- */

static void proxy_start(rl_worker *w, rl_conn *c)
{
	pconn *pc = PC(w, c);
	memset(pc, 0, sizeof(*pc)); /* the index's last connection left its state */
	pc->upstream = -1;
	pc->last_active_ns = rl_now_ns();
	/* receive from the client at once: its bytes wait in the upstream's
	 * queue (not sent while connecting) and survive a failover */
	rl_sock_arm_recv(&w->cx, c, 0);
	dial(w, c);
}

static void proxy_data(rl_worker *w, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	PC(w, c)->active = 1;
	rl_relay_data(w, c, side, side ^ 1u, bid, len);
}

/* what side may still receive before the queue toward the other side
 * reaches its bounds (relay.c); on kernels without the multishot cap this
 * means one buffer per recv, as exact as the bounds */
static unsigned proxy_recv_budget(rl_worker *w, rl_conn *c, unsigned side)
{
	return rl_relay_budget(w, c, side ^ 1u);
}

static void maybe_finish(rl_worker *w, rl_conn *c)
{
	rl_sock *a = &c->s[0], *b = &c->s[1];
	/* both peers sent FIN, both FINs forwarded, nothing left to send */
	if ((a->flags & RL_S_EOF) && (b->flags & RL_S_EOF) && (a->flags & RL_S_WR_SHUT) &&
	    (b->flags & RL_S_WR_SHUT) && rl_sock_idle(a) && rl_sock_idle(b))
		rl_conn_close(&w->cx, c, 0);
}

static void proxy_eof(rl_worker *w, rl_conn *c, unsigned side)
{
	unsigned o = side ^ 1u;
	if (side == 1 && PC(w, c)->state != P_CONNECTED)
		return;
	if (c->s[o].flags & RL_S_CONNECTING)
		return; /* forwarded once connected */
	rl_sock_shutdown_after_drain(&w->cx, c, o);
	maybe_finish(w, c);
}

static void proxy_sent(rl_worker *w, rl_conn *c, unsigned side)
{
	PC(w, c)->active = 1;
	rl_relay_sent(w, c, side, side ^ 1u);
	maybe_finish(w, c);
}

static void proxy_error(rl_worker *w, rl_conn *c, unsigned side, int err)
{
	/* a reset (or any failure) on one side resets the other */
	RL_ADD(&w->c.u64[RL_WU_resets], 1);
	rl_conn_abort(&w->cx, c, err);
}

static void proxy_cqe(rl_worker *w, rl_conn *c, unsigned op, unsigned side, struct io_uring_cqe *cqe)
{
	switch (op) {
	case RL_OP_SOCKET:
		on_socket(w, c, cqe);
		break;
	case RL_OP_CONNECT:
		on_connect(w, c, cqe->res);
		break;
	case RL_OP_SETSOCKOPT: /* a failed option stands for the connect (dial.h) */
	case RL_OP_BIND:
		on_connect(w, c, rl_dial_chain_failed(&w->cx, c, 1, cqe->res));
		break;
	case RL_OP_LINK_TIMEOUT:
	default:
		break;
	}
	rl_conn_put(&w->cx, c);
}

static void proxy_closed(rl_worker *w, rl_conn *c)
{
	pconn *pc = PC(w, c);
	dial_end(w, pc);
	if (pc->state == P_CONNECTED && pc->upstream >= 0) {
		upstream *u = &P(w)->up[pc->upstream];
		if (u->live)
			u->live--;
		RL_STORE(&u->i32[RL_UI_live], (int32_t) u->live);
	}
}

static void proxy_timer(rl_worker *w)
{
	rl_proxy *p = P(w);
	if (!p->idle_ms)
		return;
	uint64_t now = rl_now_ns();
	uint64_t limit = (uint64_t) p->idle_ms * 1000000ull;
	for (unsigned i = 0; i < w->cx.cap; i++) {
		rl_conn *c = &w->cx.conns[i];
		if (!(c->flags & RL_C_LIVE) || (c->flags & RL_C_CLOSING))
			continue;
		pconn *pc = &p->pc[i];
		if (pc->state != P_CONNECTED) {
			/* still dialling (the connect timeout governs that, then
			 * failover): idle time starts once it is connected */
			pc->last_active_ns = now;
			continue;
		}
		if (pc->active) {
			pc->active = 0;
			pc->last_active_ns = now;
		} else if (now - pc->last_active_ns >= limit) {
			RL_ADD(&w->c.u64[RL_WU_idle_timeouts], 1);
			rl_conn_close(&w->cx, c, 0);
		}
	}
	rl_worker_timer(w, p->sweep_ms);
}

const rl_mode_ops rl_proxy_ops = {
	.init = proxy_init,
	.destroy = proxy_destroy,
	.start = proxy_start,
	.data = proxy_data,
	.eof = proxy_eof,
	.sent = proxy_sent,
	.cqe = proxy_cqe,
	.closed = proxy_closed,
	.timer = proxy_timer,
	.error = proxy_error,
	.recv_budget = proxy_recv_budget,
};

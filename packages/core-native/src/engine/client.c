/* SPDX-License-Identifier: MIT */
/*
 * The client ring (see client.h for what it does). Layout of this file:
 * send buffers, timers (a min-heap of connections by wake
 * time plus one absolute io_uring timeout), connection life cycle (socket,
 * options, bind, connect, close, retry), the send side, the receive and
 * verify side, phases (start, stop, drain, done), and the CQE dispatch.
 *
 * Ownership: a connection lives until every request naming it has completed
 * (refs, as in the worker); its user_data carries a generation, so a CQE
 * for an earlier socket of the same connection is recognised.
 */
#define _GNU_SOURCE
#include "client.h"
#include "counters.h"
#include "pattern.h"
#include "ud.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define BGID 0
#define NEVER UINT64_MAX
#define LATE_NS 1000000ull /* an open-loop send this far behind schedule counts as late */

/* One writer (this thread); JS reads with Atomics. A relaxed load + store
 * is enough for a single writer and costs no locked instruction. */
#define CU(cl, name) (&(cl)->c.u64[RL_CU_##name])
#define CADD(p, v) RL_STORE((p), RL_LOAD(p) + (uint64_t) (v))
#define CSET(p, v) RL_STORE((p), (uint64_t) (v))
#define GSET(cl, name, v) RL_STORE(&(cl)->c.i32[RL_CI_##name], (int32_t) (v))

/* ------------------------------------------------------------------ */
/* connections and send buffers                                        */
/* ------------------------------------------------------------------ */

enum { CS_IDLE = 0, CS_OPENING, CS_CONNECTING, CS_UP, CS_CLOSING, CS_DONE };

enum {
	CF_RECV = 1 << 0,       /* multishot recv armed */
	CF_SENDING = 1 << 1,    /* a send in flight */
	CF_SEND_ZC = 1 << 2,    /* ... and it is a send_zc */
	CF_STARVED = 1 << 3,    /* recv ended with -ENOBUFS, waiting for buffers */
	CF_CONNECT = 1 << 4,    /* connect in flight */
	CF_FAILED = 1 << 5,     /* ended by an error or a failed verification: retry later */
	CF_CLOSE_WANTED = 1 << 6, /* close as soon as the socket exists */
	CF_CYCLE_DONE = 1 << 7, /* churn: the echo was verified, the close ends the cycle */
	CF_CHAIN_ERR = 1 << 8,  /* a linked setsockopt/bind failed (and was counted) */
	CF_PARKED = 1 << 9,     /* idle, waiting for quota to come back */
};

typedef struct rl_txbuf {
	struct rl_txbuf *next;     /* free list */
	struct rl_txbuf *all_next; /* every buffer, for teardown */
	uint32_t refs;             /* the connection sending it + a pending zc notification */
	uint32_t len;
	uint32_t ends;             /* messages whose last byte is in this buffer */
	uint32_t pad;
	uint8_t data[];
} rl_txbuf;

typedef struct rl_cconn {
	uint32_t id;           /* global connection id: payloads and reports */
	uint16_t gen;
	uint8_t state;
	uint8_t zc_pending;
	uint32_t flags;
	int32_t slot;          /* fixed-file slot, -1 none */
	uint32_t refs;         /* requests in flight naming this connection */
	int32_t heap_idx;      /* position in the timer heap, -1 none */
	int32_t fd;            /* RL_SOCK_FD: the process fd until it is in the table */
	int32_t upd;           /* RL_SOCK_FD: files_update argument, then the slot */
	uint16_t sendno;       /* sends issued (user_data aux): picks the zc slot */
	uint16_t target;
	int err;               /* first error, -errno */
	uint64_t wake_ns;      /* heap key */
	uint64_t t_open;       /* this connection attempt began */
	uint64_t cycle_t0;     /* churn: latency origin of the cycle */
	uint64_t sched_j;      /* open loop: next scheduled operation */
	/* the byte stream: messages [rx_seq, issued) are in flight; the sender
	 * has generated everything before (tx_seq, tx_off) */
	uint64_t issued;
	uint64_t tx_seq, tx_key;
	uint32_t tx_len, tx_off;
	uint64_t rx_seq, rx_key;
	uint32_t rx_len, rx_off;
	uint64_t tx_bytes, rx_bytes; /* since this socket connected (bulk window) */
	rl_txbuf *sbuf;        /* being sent */
	uint32_t soff;         /* bytes of sbuf already sent */
	uint32_t pad;
	rl_txbuf *zc[4];       /* sent with send_zc, waiting for the notification */
} rl_cconn;

static inline uint32_t cidx(const rl_client *cl, const rl_cconn *c)
{
	return (uint32_t) (c - cl->conns);
}

static inline uint64_t cud(const rl_client *cl, const rl_cconn *c, unsigned op, uint16_t aux)
{
	return rl_ud(op, cidx(cl, c), c->gen, aux);
}

static inline int in_window(const rl_client *cl, uint64_t now)
{
	return now >= cl->t_measure && now < cl->t_end;
}

static inline int running(const rl_client *cl)
{
	return cl->state == 1;
}

static void set_tx(rl_client *cl, rl_cconn *c, uint64_t seq)
{
	c->tx_seq = seq;
	c->tx_key = rl_pat_key(cl->o.seed, c->id, seq);
	c->tx_len = rl_pat_size(c->tx_key, cl->o.size_min, cl->o.size_max);
	c->tx_off = 0;
}

static void set_rx(rl_client *cl, rl_cconn *c, uint64_t seq)
{
	c->rx_seq = seq;
	c->rx_key = c->tx_seq == seq ? c->tx_key : rl_pat_key(cl->o.seed, c->id, seq);
	c->rx_len = c->tx_seq == seq ? c->tx_len : rl_pat_size(c->rx_key, cl->o.size_min, cl->o.size_max);
	c->rx_off = 0;
}

static rl_txbuf *txbuf_get(rl_client *cl)
{
	rl_txbuf *b = cl->tx_free;
	if (b) {
		cl->tx_free = b->next;
	} else {
		b = malloc(sizeof(*b) + cl->o.chunk);
		if (!b)
			return NULL;
		b->all_next = cl->tx_all;
		cl->tx_all = b;
	}
	b->next = NULL;
	b->refs = 1;
	b->len = 0;
	b->ends = 0;
	return b;
}

static void txbuf_unref(rl_client *cl, rl_txbuf *b)
{
	if (--b->refs)
		return;
	b->next = cl->tx_free;
	cl->tx_free = b;
}

static void count_err(rl_client *cl, int err)
{
	unsigned e = (unsigned) (err < 0 ? -err : err);
	if (e >= RL_CLIENT_ERR_SLOTS)
		e = RL_CLIENT_ERR_SLOTS - 1;
	CADD(&cl->c.u64[RL_C_U64_ERR + e], 1);
	CADD(CU(cl, errors), 1);
}

static void record_mm(rl_client *cl, unsigned kind, const rl_cconn *c, uint64_t seq, uint64_t off,
		      int expected, int got)
{
	if (cl->nmm >= RL_CLIENT_MISMATCHES)
		return;
	rl_mismatch *m = &cl->mm[cl->nmm++];
	m->kind = kind;
	m->id = c->id;
	m->seq = seq;
	m->off = off;
	m->expected = expected;
	m->got = got;
}

static void hist_add(rl_client *cl, unsigned base, uint64_t v)
{
	CADD(&cl->c.u64[base + rl_hist_index(v, RL_CLIENT_HIST_SUB_BITS, RL_CLIENT_HIST_BUCKETS)], 1);
}

static void record_latency(rl_client *cl, uint64_t lat)
{
	hist_add(cl, RL_C_U64_HIST, lat);
	CADD(CU(cl, lat_sum_ns), lat);
	if (lat < cl->lat_min) {
		cl->lat_min = lat;
		CSET(CU(cl, lat_min_ns), lat);
	}
	if (lat > RL_LOAD(CU(cl, lat_max_ns)))
		CSET(CU(cl, lat_max_ns), lat);
}

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
static void wake_at(rl_client *cl, rl_cconn *c, uint64_t t)
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

static void conn_close(rl_client *cl, rl_cconn *c, int err);
static void kick(rl_client *cl, rl_cconn *c, uint64_t now);
static void pump(rl_client *cl, rl_cconn *c, uint64_t now);
static void check_done(rl_client *cl);

static inline void conn_get(rl_cconn *c) { c->refs++; }

static void conn_closed(rl_client *cl, rl_cconn *c);

static void conn_put(rl_client *cl, rl_cconn *c)
{
	if (c->refs)
		c->refs--;
	if (c->refs == 0 && c->state == CS_CLOSING)
		conn_closed(cl, c);
}

/* open-loop due time of operation j of c */
static inline uint64_t sched_at(const rl_client *cl, const rl_cconn *c, uint64_t j)
{
	double m = (double) j * (double) cl->o.nconns + (double) cidx(cl, c);
	return cl->t_start + (uint64_t) (m * cl->ns_per_msg);
}

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
		count_err(cl, err);
		CADD(CU(cl, connect_errors), 1);
	}
	c->flags |= CF_FAILED;
	if (!c->err)
		c->err = err;
}

static void start_chain(rl_client *cl, rl_cconn *c)
{
	static const int one = 1;
	const rl_addr *dst = &cl->targets[c->target];
	int ring_mode = cl->o.sock_mode == RL_SOCK_RING;
	const rl_addr *src = NULL;
	if (cl->o.nsources)
		src = &cl->sources[cl->src_next++ % cl->o.nsources];
	unsigned need = 1;
	if (ring_mode) {
		need += cl->nodelay;
		if (src)
			need += 1 + (cl->o.sock_cmd && src->ss.ss_family == AF_INET);
	}
	c->state = CS_CONNECTING;
	if (rl_ring_reserve(&cl->ring, need) < 0) {
		cl->connecting--;
		fail_attempt(cl, c, -EBUSY);
		conn_close(cl, c, -EBUSY);
		return;
	}
	struct io_uring_sqe *sqe;
	const unsigned linked = IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	if (ring_mode) {
		/* options and bind ride in front of the connect as one chain;
		 * only a failure posts a CQE, and then the connect is cancelled */
		if (cl->nodelay) {
			sqe = rl_ring_sqe(&cl->ring);
			rl_prep_setsockopt(sqe, c->slot, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			sqe->flags |= linked;
			sqe->user_data = cud(cl, c, RL_OP_SETSOCKOPT, 0);
		}
		if (src) {
			if (cl->o.sock_cmd && src->ss.ss_family == AF_INET) {
				/* the port is picked at connect time, per 4-tuple, so one
				 * source address is not limited to one ephemeral range */
				sqe = rl_ring_sqe(&cl->ring);
				rl_prep_setsockopt(sqe, c->slot, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
						   sizeof(one));
				sqe->flags |= linked;
				sqe->user_data = cud(cl, c, RL_OP_SETSOCKOPT, 1);
			}
			sqe = rl_ring_sqe(&cl->ring);
			io_uring_prep_bind(sqe, c->slot, (struct sockaddr *) &src->ss, src->len);
			sqe->flags |= linked;
			sqe->user_data = cud(cl, c, RL_OP_BIND, 0);
		}
	}
	sqe = rl_ring_sqe(&cl->ring);
	io_uring_prep_connect(sqe, c->slot, (const struct sockaddr *) &dst->ss, dst->len);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = cud(cl, c, RL_OP_CONNECT, 0);
	c->flags |= CF_CONNECT;
	conn_get(c);
}

/*
 * RL_SOCK_FD: a process fd gets its options and bind with plain syscalls,
 * then moves into the ring's table and is closed, so an established
 * connection still holds no process fd. Costs ~5 syscalls per connection
 * on this thread; RL_SOCK_RING does the same inside the ring.
 */
static int open_fd_socket(rl_client *cl, rl_cconn *c, const rl_addr **src_out)
{
	static const int one = 1;
	const rl_addr *dst = &cl->targets[c->target];
	int fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cl->o.nsources) {
		const rl_addr *src = &cl->sources[cl->src_next++ % cl->o.nsources];
		*src_out = src;
		if (src->ss.ss_family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *) &src->ss, src->len) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
	}
	return fd;
}

static void open_socket(rl_client *cl, rl_cconn *c, uint64_t now)
{
	c->gen++;
	c->flags = 0;
	c->err = 0;
	c->slot = -1;
	c->fd = -1;
	c->t_open = now;
	c->state = CS_OPENING;
	cl->live++;
	cl->connecting++;
	CADD(CU(cl, connect_attempts), 1);
	struct io_uring_sqe *sqe;
	if (cl->o.sock_mode == RL_SOCK_FD) {
		const rl_addr *src = NULL;
		int fd = open_fd_socket(cl, c, &src);
		if (fd < 0) {
			cl->connecting--;
			fail_attempt(cl, c, fd);
			c->state = CS_CLOSING;
			conn_get(c);
			conn_put(cl, c);
			return;
		}
		c->fd = fd;
		c->upd = fd;
		sqe = rl_ring_sqe(&cl->ring);
		if (!sqe) {
			close(fd);
			c->fd = -1;
			cl->connecting--;
			fail_attempt(cl, c, -EBUSY);
			c->state = CS_CLOSING;
			conn_get(c);
			conn_put(cl, c);
			return;
		}
		rl_prep_files_update_alloc(sqe, &c->upd, 1);
		sqe->user_data = cud(cl, c, RL_OP_FILES_UPDATE, 0);
	} else {
		sqe = rl_ring_sqe(&cl->ring);
		if (!sqe) {
			cl->connecting--;
			fail_attempt(cl, c, -EBUSY);
			c->state = CS_CLOSING;
			conn_get(c);
			conn_put(cl, c);
			return;
		}
		io_uring_prep_socket_direct_alloc(sqe, cl->targets[c->target].ss.ss_family, SOCK_STREAM, 0, 0);
		sqe->user_data = cud(cl, c, RL_OP_SOCKET, 0);
	}
	conn_get(c);
}

/* connection attempts waiting for a token (connect_rate) or a free
 * in-flight place (max_connecting) */
static void pump_connects(rl_client *cl, uint64_t now)
{
	while (cl->cq_len && cl->connecting < cl->o.max_connecting) {
		if (cl->o.connect_rate > 0) {
			if (cl->token_ns + (uint64_t) cl->ns_per_connect < now)
				cl->token_ns = now; /* no burst after a quiet spell */
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

static void arm_recv(rl_client *cl, rl_cconn *c)
{
	if (c->slot < 0 || c->state != CS_UP || (c->flags & (CF_RECV | CF_FAILED)))
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&cl->ring);
	if (!sqe) {
		conn_close(cl, c, -EBUSY);
		return;
	}
	io_uring_prep_recv_multishot(sqe, c->slot, NULL, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe->user_data = cud(cl, c, RL_OP_RECV, 0);
	c->flags |= CF_RECV;
	c->flags &= ~(uint32_t) CF_STARVED;
	conn_get(c);
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
	hist_add(cl, RL_C_U64_CHIST, lat);
	CADD(CU(cl, conn_lat_sum_ns), lat);
	if (lat > RL_LOAD(CU(cl, conn_lat_max_ns)))
		CSET(CU(cl, conn_lat_max_ns), lat);
	if (!running(cl) && cl->o.mode != RL_CM_CHURN) {
		conn_close(cl, c, 0);
		return;
	}
	arm_recv(cl, c);
	switch (cl->o.mode) {
	case RL_CM_ECHO:
		pump(cl, c, now);
		break;
	case RL_CM_CHURN:
		c->issued++; /* the cycle's one message (quota was taken by the cycle) */
		kick(cl, c, now);
		break;
	case RL_CM_BULK:
		kick(cl, c, now);
		break;
	default:
		break;
	}
}

/* cancel what is in flight, close the slot; err < 0 marks a failure */
static void conn_close(rl_client *cl, rl_cconn *c, int err)
{
	if (c->state == CS_CLOSING || c->state == CS_IDLE || c->state == CS_DONE)
		return;
	if (err < 0) {
		c->flags |= CF_FAILED;
		if (!c->err)
			c->err = err;
	}
	heap_remove(cl, c);
	if (c->state == CS_UP)
		cl->up--;
	int opening = c->state == CS_OPENING;
	c->state = CS_CLOSING;
	conn_get(c); /* hold while queueing */
	if (opening) {
		/* the socket (or fd install) completes later; close it then */
		c->flags |= CF_CLOSE_WANTED;
	} else if (c->slot >= 0 && rl_ring_reserve(&cl->ring, 2) == 0) {
		struct io_uring_sqe *sqe;
		if (c->flags & (CF_RECV | CF_SENDING | CF_CONNECT)) {
			sqe = rl_ring_sqe(&cl->ring);
			io_uring_prep_cancel_fd(sqe, c->slot, IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
			sqe->flags |= IOSQE_IO_HARDLINK;
			sqe->user_data = cud(cl, c, RL_OP_CANCEL, 0);
			conn_get(c);
		}
		sqe = rl_ring_sqe(&cl->ring);
		io_uring_prep_close_direct(sqe, (unsigned) c->slot);
		sqe->user_data = cud(cl, c, RL_OP_CLOSE, 0);
		conn_get(c);
	}
	/* else: no room in the ring; the slot stays until the ring goes */
	conn_put(cl, c);
}

/* every request naming c has completed: account, then reconnect, start
 * the next cycle, or rest */
static void conn_closed(rl_client *cl, rl_cconn *c)
{
	uint64_t now = rl_now_ns();
	cl->live--;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->slot = -1;
	c->flags &= ~(uint32_t) (CF_RECV | CF_SENDING | CF_SEND_ZC | CF_CONNECT | CF_STARVED);
	if (c->sbuf) {
		txbuf_unref(cl, c->sbuf);
		c->sbuf = NULL;
	}
	/* messages that were in flight on this socket */
	if (cl->o.mode == RL_CM_ECHO || cl->o.mode == RL_CM_BULK) {
		uint64_t lost = c->issued - c->rx_seq;
		if (lost) {
			if (!running(cl))
				CADD(CU(cl, unfinished), lost);
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
				record_latency(cl, now - c->cycle_t0);
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
	uint64_t next = c->issued > c->tx_seq ? c->issued : c->tx_seq + (c->tx_off ? 1 : 0);
	c->issued = next;
	set_tx(cl, c, next);
	set_rx(cl, c, next);
	c->tx_bytes = c->rx_bytes = 0;
	int failed = (c->flags & CF_FAILED) != 0;
	int cycle_done = (c->flags & CF_CYCLE_DONE) != 0;
	c->flags &= ~(uint32_t) (CF_FAILED | CF_CLOSE_WANTED | CF_CYCLE_DONE | CF_CHAIN_ERR);
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
		wake_at(cl, c, t);
	} else if (cl->o.mode == RL_CM_CHURN && cycle_done) {
		if (cl->o.rate > 0) {
			uint64_t due = sched_at(cl, c, c->sched_j);
			if (due > now) {
				wake_at(cl, c, due);
				return;
			}
		}
		begin(cl, c, now);
	} else {
		/* closed while running without an error: reconnect */
		wake_at(cl, c, now + cl->o.retry_ns);
	}
}

/* ------------------------------------------------------------------ */
/* sending                                                             */
/* ------------------------------------------------------------------ */

/* issue one message of an echo connection; t = latency origin */
static void issue(rl_client *cl, rl_cconn *c, uint64_t t)
{
	cl->t_issue[(size_t) cidx(cl, c) * cl->o.pipeline + (c->issued % cl->o.pipeline)] = t;
	c->issued++;
	if (cl->o.quota) {
		cl->quota_left--;
		cl->quota_open++;
	}
}

/* echo: issue what the pipeline, the schedule and the quota allow */
static void pump(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (cl->o.mode != RL_CM_ECHO || c->state != CS_UP || !running(cl))
		return;
	while (c->issued - c->rx_seq < cl->o.pipeline) {
		if (cl->o.quota && !cl->quota_left)
			break;
		if (cl->o.rate > 0) {
			uint64_t due = sched_at(cl, c, c->sched_j);
			if (due > now) {
				wake_at(cl, c, due);
				break;
			}
			if (now - due > LATE_NS)
				CADD(CU(cl, late), 1);
			c->sched_j++;
			issue(cl, c, due);
		} else {
			issue(cl, c, now);
		}
	}
	kick(cl, c, now);
}

/* generate the next chunk of the stream into b */
static void fill(rl_client *cl, rl_cconn *c, rl_txbuf *b)
{
	uint32_t cap = cl->o.chunk;
	uint32_t len = 0, ends = 0;
	int bulk = cl->o.mode == RL_CM_BULK;
	uint64_t inflight = c->tx_bytes - c->rx_bytes;
	while (len < cap) {
		if (c->tx_seq == c->issued) {
			if (!bulk || !running(cl) || inflight + len >= cl->o.window)
				break;
			if (cl->o.quota) {
				if (!cl->quota_left)
					break;
				cl->quota_left--;
				cl->quota_open++;
			}
			c->issued++;
		}
		uint32_t n = c->tx_len - c->tx_off;
		if (n > cap - len)
			n = cap - len;
		if (bulk && inflight + len + n > cl->o.window)
			n = (uint32_t) (cl->o.window - (inflight + len));
		if (!n)
			break;
		rl_pat_fill(b->data + len, c->tx_key, c->tx_off, n);
		len += n;
		c->tx_off += n;
		if (c->tx_off == c->tx_len) {
			ends++;
			set_tx(cl, c, c->tx_seq + 1);
		}
	}
	b->len = len;
	b->ends = ends;
	c->tx_bytes += len;
}

static void kick(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (c->state != CS_UP || (c->flags & (CF_SENDING | CF_FAILED)))
		return;
	if (!c->sbuf) {
		if (c->tx_seq == c->issued && cl->o.mode != RL_CM_BULK)
			return;
		rl_txbuf *b = txbuf_get(cl);
		if (!b) {
			count_err(cl, -ENOMEM);
			CADD(CU(cl, conn_errors), 1);
			conn_close(cl, c, -ENOMEM);
			return;
		}
		fill(cl, c, b);
		if (!b->len) {
			txbuf_unref(cl, b);
			return;
		}
		c->sbuf = b;
		c->soff = 0;
	}
	rl_txbuf *b = c->sbuf;
	uint32_t len = b->len - c->soff;
	struct io_uring_sqe *sqe = rl_ring_sqe(&cl->ring);
	if (!sqe) {
		conn_close(cl, c, -EBUSY);
		return;
	}
	c->sendno++;
	int zc = cl->zc_on && cl->o.zc_threshold && len >= cl->o.zc_threshold && !c->zc[c->sendno & 3];
	if (zc) {
		/* MSG_WAITALL: a short send is retried by the kernel (and must be
		 * set if this send were ever linked) */
		io_uring_prep_send_zc(sqe, c->slot, b->data + c->soff, len, MSG_NOSIGNAL | MSG_WAITALL,
				      IORING_SEND_ZC_REPORT_USAGE);
		c->flags |= CF_SEND_ZC;
		CADD(CU(cl, zc_sends), 1);
	} else {
		io_uring_prep_send(sqe, c->slot, b->data + c->soff, len, MSG_NOSIGNAL | MSG_WAITALL);
		c->flags &= ~(uint32_t) CF_SEND_ZC;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = cud(cl, c, RL_OP_SEND, c->sendno);
	c->flags |= CF_SENDING;
	conn_get(c);
	(void) now;
}

static void on_send(rl_client *cl, rl_cconn *c, struct io_uring_cqe *cqe, uint64_t now)
{
	uint16_t sendno = rl_ud_aux(cqe->user_data);
	int res = cqe->res;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* the kernel is done with the memory of a send_zc */
		CADD(CU(cl, zc_notifs), 1);
		if ((uint32_t) res & IORING_NOTIF_USAGE_ZC_COPIED)
			CADD(CU(cl, zc_copied), 1);
		rl_txbuf *b = c->zc[sendno & 3];
		c->zc[sendno & 3] = NULL;
		if (b) {
			c->zc_pending--;
			txbuf_unref(cl, b);
		}
		conn_put(cl, c);
		return;
	}
	int was_zc = (c->flags & CF_SEND_ZC) != 0;
	c->flags &= ~(uint32_t) (CF_SENDING | CF_SEND_ZC);
	rl_txbuf *b = c->sbuf;
	if (cqe->flags & IORING_CQE_F_MORE) {
		/* a notification follows; the buffer stays until then, and so
		 * does this request's reference on the connection */
		if (b) {
			b->refs++;
			c->zc[sendno & 3] = b;
			c->zc_pending++;
		}
	}
	if (res < 0) {
		if (was_zc && (res == -ENOMEM || res == -EOPNOTSUPP) && cl->zc_on && c->state == CS_UP) {
			/* locked-memory limit or no zero-copy support: plain sends
			 * from now on (once per ring), resend this chunk */
			cl->zc_on = 0;
			GSET(cl, zc_enabled, 0);
			GSET(cl, zc_fallback_err, res);
			CADD(CU(cl, zc_fallbacks), 1);
			kick(cl, c, now);
		} else if (res != -ECANCELED && c->state == CS_UP) {
			count_err(cl, res);
			CADD(CU(cl, conn_errors), 1);
			conn_close(cl, c, res);
		}
	} else if (b) {
		CADD(CU(cl, sends), 1);
		CADD(CU(cl, bytes_out_all), res);
		if (in_window(cl, now))
			CADD(CU(cl, bytes_out), res);
		c->soff += (uint32_t) res;
		if (c->soff >= b->len) {
			CADD(CU(cl, msgs_sent), b->ends);
			c->sbuf = NULL;
			txbuf_unref(cl, b);
		}
		if (c->state == CS_UP)
			kick(cl, c, now);
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		conn_put(cl, c);
}

/* ------------------------------------------------------------------ */
/* receiving and verifying                                             */
/* ------------------------------------------------------------------ */

static void message_done(rl_client *cl, rl_cconn *c, uint64_t now)
{
	CADD(CU(cl, msgs_all), 1);
	int win = in_window(cl, now);
	if (win)
		CADD(CU(cl, msgs), 1);
	if (cl->o.mode == RL_CM_ECHO) {
		if (win) {
			uint64_t t = cl->t_issue[(size_t) cidx(cl, c) * cl->o.pipeline + (c->rx_seq % cl->o.pipeline)];
			record_latency(cl, now > t ? now - t : 0);
		}
	}
	if (cl->o.quota && cl->o.mode != RL_CM_CHURN)
		cl->quota_open--;
}

/* the echo of bytes [rx_seq, rx_off ...) arrived: compare with the pattern */
static void on_data(rl_client *cl, rl_cconn *c, const uint8_t *p, uint32_t len, uint64_t now)
{
	CADD(CU(cl, recvs), 1);
	CADD(CU(cl, bytes_in_all), len);
	if (in_window(cl, now))
		CADD(CU(cl, bytes_in), len);
	c->rx_bytes += len;
	if (cl->o.mode == RL_CM_IDLE)
		return; /* nothing was sent: whatever arrives is the server's business */
	while (len) {
		uint64_t avail;
		if (c->rx_seq < c->tx_seq)
			avail = c->rx_len - c->rx_off;
		else if (c->rx_seq == c->tx_seq && c->rx_off < c->tx_off)
			avail = c->tx_off - c->rx_off;
		else
			avail = 0;
		if (!avail) {
			/* more bytes than were sent */
			record_mm(cl, RL_MM_EXTRA, c, c->rx_seq, c->rx_off, -1, p[0]);
			CADD(CU(cl, verify_failures), 1);
			c->flags |= CF_FAILED;
			conn_close(cl, c, 0);
			return;
		}
		uint32_t n = len;
		if (n > avail)
			n = (uint32_t) avail;
		if (n > cl->o.buf_size)
			n = cl->o.buf_size;
		rl_pat_fill(cl->scratch, c->rx_key, c->rx_off, n);
		if (memcmp(cl->scratch, p, n) != 0) {
			uint32_t i = 0;
			while (i < n && cl->scratch[i] == p[i])
				i++;
			record_mm(cl, RL_MM_MISMATCH, c, c->rx_seq, (uint64_t) c->rx_off + i, cl->scratch[i], p[i]);
			CADD(CU(cl, verify_failures), 1);
			/* the stream cannot be trusted past this point */
			c->flags |= CF_FAILED;
			conn_close(cl, c, 0);
			return;
		}
		p += n;
		len -= n;
		c->rx_off += n;
		if (c->rx_off == c->rx_len) {
			message_done(cl, c, now);
			set_rx(cl, c, c->rx_seq + 1);
		}
	}
	switch (cl->o.mode) {
	case RL_CM_ECHO:
		if (running(cl)) {
			pump(cl, c, now);
			if (cl->o.quota && !cl->quota_left && !cl->quota_open) {
				CSET(CU(cl, t_done_ns), now);
				rl_client_stop(cl);
			}
		} else if (c->rx_seq == c->issued) {
			conn_close(cl, c, 0);
		}
		break;
	case RL_CM_CHURN:
		if (c->rx_seq == c->issued) {
			c->flags |= CF_CYCLE_DONE;
			conn_close(cl, c, 0);
		}
		break;
	case RL_CM_BULK:
		kick(cl, c, now);
		if (!running(cl) && c->rx_seq == c->issued && c->rx_bytes == c->tx_bytes)
			conn_close(cl, c, 0);
		if (cl->o.quota && !cl->quota_left && !cl->quota_open && running(cl)) {
			CSET(CU(cl, t_done_ns), now);
			rl_client_stop(cl);
		}
		break;
	default:
		break;
	}
}

static void on_eof(rl_client *cl, rl_cconn *c)
{
	if (c->state != CS_UP)
		return;
	int pending = c->rx_seq < c->issued || c->rx_bytes < c->tx_bytes;
	if (cl->o.mode == RL_CM_CHURN && (c->flags & CF_CYCLE_DONE))
		return;
	if (pending)
		record_mm(cl, RL_MM_EOF, c, c->rx_seq, c->rx_off, -1, -1);
	/* the server closed a connection it should have kept */
	count_err(cl, 0);
	CADD(CU(cl, conn_errors), 1);
	c->flags |= CF_FAILED;
	conn_close(cl, c, 0);
}

static void on_recv(rl_client *cl, rl_cconn *c, struct io_uring_cqe *cqe, uint64_t now)
{
	int res = cqe->res;
	int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	if (!more)
		c->flags &= ~(uint32_t) CF_RECV;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		rl_buf_taken(&cl->br);
		if (res > 0 && c->state == CS_UP && !(c->flags & CF_FAILED))
			on_data(cl, c, rl_buf(&cl->br, bid), (uint32_t) res, now);
		rl_buf_put(&cl->br, bid);
	}
	if (res == 0) {
		on_eof(cl, c);
	} else if (res == -ENOBUFS) {
		CADD(CU(cl, enobufs), 1);
		if (c->state == CS_UP && !(c->flags & CF_STARVED)) {
			c->flags |= CF_STARVED;
			cl->starved[cl->nstarved++] = cidx(cl, c);
		}
	} else if (res < 0 && res != -ECANCELED) {
		if (c->state == CS_UP) {
			count_err(cl, res);
			CADD(CU(cl, conn_errors), 1);
			conn_close(cl, c, res);
		}
	} else if (!more && c->state == CS_UP) {
		arm_recv(cl, c);
	}
	if (!more)
		conn_put(cl, c);
}

static void feed_starved(rl_client *cl)
{
	if (!cl->nstarved || cl->br.avail < 4)
		return;
	unsigned n = cl->nstarved;
	cl->nstarved = 0;
	for (unsigned i = 0; i < n; i++) {
		rl_cconn *c = &cl->conns[cl->starved[i]];
		if (!(c->flags & CF_STARVED))
			continue;
		c->flags &= ~(uint32_t) CF_STARVED;
		if (c->state == CS_UP)
			arm_recv(cl, c);
	}
}

/* ------------------------------------------------------------------ */
/* phases                                                              */
/* ------------------------------------------------------------------ */

static int has_inflight(const rl_client *cl, const rl_cconn *c)
{
	switch (cl->o.mode) {
	case RL_CM_ECHO:
		return c->rx_seq < c->issued;
	case RL_CM_BULK:
		return c->rx_seq < c->issued;
	case RL_CM_CHURN:
		return 1; /* a cycle in progress finishes */
	default:
		return 0;
	}
}

static void check_done(rl_client *cl)
{
	if (cl->state != 2 || cl->live)
		return;
	cl->state = 3;
	GSET(cl, state, 3);
}

void rl_client_stop(rl_client *cl)
{
	if (cl->state != 1)
		return;
	uint64_t now = rl_now_ns();
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
			if (!has_inflight(cl, c))
				conn_close(cl, c, 0);
		} else if ((c->state == CS_OPENING || c->state == CS_CONNECTING) && cl->o.mode != RL_CM_CHURN) {
			conn_close(cl, c, 0);
		}
	}
	check_done(cl);
}

/* the drain time is over: close what is left */
static void force_close(rl_client *cl)
{
	for (unsigned i = 0; i < cl->o.nconns; i++) {
		rl_cconn *c = &cl->conns[i];
		if (c->state == CS_UP || c->state == CS_OPENING || c->state == CS_CONNECTING)
			conn_close(cl, c, 0);
	}
}

static void on_wake(rl_client *cl, rl_cconn *c, uint64_t now)
{
	if (!running(cl))
		return;
	if (c->state == CS_IDLE)
		begin(cl, c, now);
	else if (c->state == CS_UP)
		pump(cl, c, now);
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
	if (cl->state == 1 || cl->state == 2)
		arm_timer(cl, now);
}

/* ------------------------------------------------------------------ */
/* completions                                                         */
/* ------------------------------------------------------------------ */

static void client_cqe(void *ctx, struct io_uring_cqe *cqe)
{
	rl_client *cl = ctx;
	uint64_t ud = cqe->user_data;
	unsigned op = rl_ud_op(ud);
	uint32_t idx = rl_ud_idx(ud);
	if (op == RL_OP_TIMER) {
		if (rl_ud_gen(ud) == (uint16_t) (cl->timer_gen - 1))
			cl->timer_at = NEVER;
		return; /* due work runs after the round */
	}
	if (idx >= cl->o.nconns)
		return;
	rl_cconn *c = &cl->conns[idx];
	if (c->gen != rl_ud_gen(ud)) {
		/* an earlier socket of this connection */
		if ((op == RL_OP_SETSOCKOPT || op == RL_OP_BIND) && cqe->res < 0 && cqe->res != -ECANCELED)
			count_err(cl, cqe->res);
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			rl_buf_taken(&cl->br);
			rl_buf_put(&cl->br, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		}
		return;
	}
	uint64_t now = rl_now_ns();
	switch (op) {
	case RL_OP_SOCKET:
	case RL_OP_FILES_UPDATE: {
		int res = cqe->res;
		int slot = op == RL_OP_SOCKET ? res : (res == 1 ? c->upd : -1);
		if (op == RL_OP_FILES_UPDATE) {
			close(c->fd); /* the table holds its own reference now */
			c->fd = -1;
			if (res >= 0 && res != 1)
				res = -EIO;
		}
		if (res < 0) {
			cl->connecting--;
			fail_attempt(cl, c, res);
			c->state = CS_CLOSING;
		} else {
			c->slot = slot;
			if (c->flags & CF_CLOSE_WANTED) {
				/* closed while the socket was being made: close the slot */
				cl->connecting--;
				c->state = CS_CONNECTING;
				c->flags &= ~(uint32_t) CF_CLOSE_WANTED;
				conn_close(cl, c, 0);
			} else {
				start_chain(cl, c);
			}
		}
		conn_put(cl, c);
		break;
	}
	case RL_OP_SETSOCKOPT:
	case RL_OP_BIND:
		/* only failures post a CQE (CQE_SKIP_SUCCESS); the connect
		 * behind it completes with -ECANCELED */
		if (cqe->res < 0 && cqe->res != -ECANCELED) {
			if (!(c->flags & CF_CHAIN_ERR)) {
				count_err(cl, cqe->res);
				CADD(CU(cl, connect_errors), 1);
			}
			c->flags |= CF_CHAIN_ERR | CF_FAILED;
			if (!c->err)
				c->err = cqe->res;
		}
		break;
	case RL_OP_CONNECT:
		c->flags &= ~(uint32_t) CF_CONNECT;
		cl->connecting--;
		if (c->state == CS_CONNECTING) {
			if (cqe->res == 0) {
				on_connected(cl, c, now);
			} else {
				fail_attempt(cl, c, cqe->res);
				conn_close(cl, c, cqe->res);
			}
		} else if (cqe->res == 0 && c->state == CS_CLOSING) {
			/* connected while being closed: nothing to do */
		}
		conn_put(cl, c);
		break;
	case RL_OP_SEND:
		on_send(cl, c, cqe, now);
		break;
	case RL_OP_RECV:
		on_recv(cl, c, cqe, now);
		break;
	case RL_OP_CANCEL:
	case RL_OP_CLOSE:
		conn_put(cl, c);
		break;
	default:
		break;
	}
}

static void client_after_round(void *ctx)
{
	rl_client *cl = ctx;
	uint64_t now = rl_now_ns();
	rl_buf_commit(&cl->br);
	feed_starved(cl);
	run_timers(cl, now);
	CADD(CU(cl, rounds), 1);
	GSET(cl, up, cl->up);
	GSET(cl, connecting, cl->connecting);
}

int rl_client_run(rl_client *cl)
{
	cl->in_run = 1;
	int ret = rl_ring_run(&cl->ring, client_cqe, cl, 8, client_after_round);
	cl->in_run = 0;
	return ret;
}

/* ------------------------------------------------------------------ */
/* setup and teardown                                                  */
/* ------------------------------------------------------------------ */

/*
 * The kernel refuses a fixed-file table larger than RLIMIT_NOFILE, although
 * the descriptors in it are not process fds. Raise the soft limit up to the
 * hard one when the table needs it; beyond that the caller gets -EMFILE.
 */
static void fit_nofile(unsigned files)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= files)
		return;
	rlim_t want = files;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	rl.rlim_cur = want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int rl_client_init(rl_client *cl, const rl_client_opts *o, rl_counters c, const char **failed_call)
{
	static const char *dummy;
	if (!failed_call)
		failed_call = &dummy;
	memset(cl, 0, sizeof(*cl));
	*failed_call = "rl_client_init";
	if (!o->nconns || o->nconns > RL_IDX_MAX - 1 || !o->ntargets || o->ntargets > 0xffff ||
	    o->mode < RL_CM_ECHO || o->mode > RL_CM_IDLE || !o->size_min || o->size_max < o->size_min ||
	    !o->chunk || !o->buf_size)
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
	cl->zc_on = o->zc_threshold != 0;
	cl->nodelay = o->sock_mode == RL_SOCK_FD || o->sock_cmd;
	cl->ns_per_msg = o->rate > 0 ? 1e9 / o->rate : 0;
	cl->ns_per_connect = o->connect_rate > 0 ? 1e9 / o->connect_rate : 0;
	cl->quota_left = o->quota;

	size_t n = o->nconns;
	cl->targets = calloc(o->ntargets, sizeof(rl_addr));
	cl->sources = calloc(o->nsources ? o->nsources : 1, sizeof(rl_addr));
	cl->conns = calloc(n, sizeof(rl_cconn));
	cl->heap = calloc(n, sizeof(rl_cconn *));
	cl->cq = calloc(n, sizeof(uint32_t));
	cl->starved = calloc(n, sizeof(uint32_t));
	cl->scratch = malloc(o->buf_size);
	if (o->mode == RL_CM_ECHO)
		cl->t_issue = calloc(n * cl->o.pipeline, sizeof(uint64_t));
	if (!cl->targets || !cl->sources || !cl->conns || !cl->heap || !cl->cq || !cl->starved ||
	    !cl->scratch || (o->mode == RL_CM_ECHO && !cl->t_issue)) {
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
		k->slot = -1;
		k->fd = -1;
		k->heap_idx = -1;
		k->target = (uint16_t) (k->id % o->ntargets);
		set_tx(cl, k, 0);
		set_rx(cl, k, 0);
	}

	unsigned files = o->nconns + 16;
	fit_nofile(files);
	unsigned sq = o->sq_entries ? o->sq_entries : 2048;
	rl_ring_opts ro = { .sq_entries = sq, .cq_entries = sq * 4, .files = files,
			    .no_defer_taskrun = o->no_defer_taskrun };
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
	GSET(cl, zc_enabled, cl->zc_on);
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
		wake_at(cl, c, at);
	}
	run_timers(cl, rl_now_ns());
	int ret = rl_ring_submit(&cl->ring);
	return ret < 0 ? ret : 0;
}

void rl_client_destroy(rl_client *cl)
{
	/* the ring first: tearing it down cancels what still uses the buffers */
	rl_ring_destroy(&cl->ring);
	rl_bufring_destroy(&cl->br, NULL);
	if (cl->conns) {
		for (unsigned i = 0; i < cl->o.nconns; i++)
			if (cl->conns[i].fd >= 0)
				close(cl->conns[i].fd);
	}
	rl_txbuf *b = cl->tx_all;
	while (b) {
		rl_txbuf *next = b->all_next;
		free(b);
		b = next;
	}
	cl->tx_all = cl->tx_free = NULL;
	free(cl->targets);
	free(cl->sources);
	free(cl->conns);
	free(cl->heap);
	free(cl->cq);
	free(cl->starved);
	free(cl->scratch);
	free(cl->t_issue);
	cl->targets = cl->sources = NULL;
	cl->conns = NULL;
	cl->heap = NULL;
	cl->cq = NULL;
	cl->starved = NULL;
	cl->scratch = NULL;
	cl->t_issue = NULL;
	if (cl->c.i32) {
		GSET(cl, up, 0);
		GSET(cl, connecting, 0);
		if (cl->state != 0)
			GSET(cl, state, 3);
	}
}

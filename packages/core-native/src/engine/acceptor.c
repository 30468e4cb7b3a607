/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "acceptor.h"
#include "ud.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#define APOOL_NONE 0xffffu

static void emit(rl_acceptor *a, int type, int slot, int x, int y)
{
	if (a->nev >= a->evcap) {
		a->ev_dropped++;
		return;
	}
	rl_acc_event *e = &a->ev[a->nev++];
	e->type = type;
	e->slot = slot;
	e->a = x;
	e->b = y;
}

static void gauges(rl_acceptor *a)
{
	RL_STORE(&a->c.i32[RL_AI_table_used], (int32_t) a->used);
	RL_STORE(&a->c.i32[RL_AI_accepts_armed], (int32_t) a->armed);
	RL_STORE(&a->c.i32[RL_AI_multishot], (int32_t) (a->ms_state == 1));
	RL_STORE(&a->c.i32[RL_AI_paused], (int32_t) a->paused);
	RL_STORE(&a->c.i32[RL_AI_stalled], (int32_t) a->stalled);
	RL_STORE(&a->c.i32[RL_AI_backoff_ms], (int32_t) (a->backoff_armed ? a->backoff_ms : 0));
	/* after rl_acceptor_stop, 0 means no accept can complete any more */
	RL_STORE(&a->c.i32[RL_AI_accepting], (int32_t) (a->armed + (a->ms_state != 0)));
}

int rl_acceptor_init(rl_acceptor *a, const rl_acceptor_opts *o, rl_counters c, const char **failed_call)
{
	failed_call = rl_failed_sink(failed_call);
	memset(a, 0, sizeof(*a));
	a->c = c;
	if (!o->table_size || o->table_size > RL_IDX_MAX) {
		*failed_call = "rl_acceptor_init";
		return -EINVAL;
	}
	a->table_size = o->table_size;
	a->max_armed = o->max_armed ? o->max_armed : 64;
	if (a->max_armed > 4096)
		a->max_armed = 4096;
	a->allow_ms = o->multishot && !o->want_addr;
	a->want_addr = o->want_addr;
	a->ms_margin = o->multishot_margin ? o->multishot_margin : 1024;
	/* enough SQEs for a full batch of hand-offs (2 each) plus accepts */
	unsigned sq = o->sq_entries;
	if (!sq) {
		sq = 256;
		while (sq < 2 * a->max_armed + 64 && sq < 4096)
			sq <<= 1;
	}
	rl_ring_opts ro = { .sq_entries = sq,
			    .cq_entries = 0,
			    .files = a->table_size,
			    .no_defer_taskrun = o->no_defer_taskrun };
	/* every slot can produce an accept and a hand-off CQE before JS runs */
	unsigned cq = 4 * sq;
	while (cq < 2 * a->table_size + 2 * a->max_armed + 64 && cq < 65536)
		cq <<= 1;
	ro.cq_entries = cq;
	int ret = rl_ring_init(&a->ring, &ro, failed_call);
	if (ret < 0)
		return ret;
	a->slot_conn = calloc(a->table_size, sizeof(uint32_t));
	a->evcap = rl_acceptor_event_capacity(o);
	if (o->ev && o->evcap >= a->evcap) {
		a->ev = o->ev;
		a->evcap = o->evcap;
	} else if (o->ev) {
		*failed_call = "rl_acceptor_init";
		rl_acceptor_destroy(a);
		return -EINVAL;
	} else {
		a->ev = calloc(a->evcap, sizeof(rl_acc_event));
		a->ev_owned = 1;
	}
	a->apool = calloc(a->max_armed, sizeof(rl_acc_addr));
	a->next_target = -1;
	a->target_cap = 16;
	a->target_fd = malloc(a->target_cap * sizeof(int));
	if (!a->slot_conn || !a->ev || !a->apool || !a->target_fd) {
		*failed_call = "malloc";
		rl_acceptor_destroy(a);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < a->max_armed; i++)
		a->apool[i].next_free = (uint16_t) (i + 1 < a->max_armed ? i + 1 : APOOL_NONE);
	a->apool_free = 0;
	RL_STORE(&a->c.i32[RL_AI_table_size], (int32_t) a->table_size);
	return 0;
}

void rl_acceptor_destroy(rl_acceptor *a)
{
	for (unsigned i = 0; i < a->nlst && !a->lst_closed; i++) {
		if (!a->lst[i].shared)
			shutdown(a->lst[i].fd, SHUT_RDWR);
		close(a->lst[i].fd);
	}
	a->nlst = 0;
	a->lst_closed = 1;
	rl_ring_destroy(&a->ring);
	for (unsigned i = 0; i < a->ntargets; i++)
		if (a->target_fd[i] >= 0)
			close(a->target_fd[i]);
	free(a->target_fd);
	free(a->slot_conn);
	if (a->ev_owned)
		free(a->ev);
	free(a->apool);
	a->target_fd = NULL;
	a->slot_conn = NULL;
	a->ev = NULL;
	a->apool = NULL;
	a->ntargets = 0;
}

/* ---------------- arming accepts ---------------- */

/* the listener the next single-shot accept goes to: the one with the fewest
 * in flight, ties taken in turn, so that a table with few free slots still
 * serves every listener (a completed accept's listener is then the one
 * short of an accept, so it is re-armed there) */
static unsigned pick_listener(rl_acceptor *a)
{
	unsigned best = a->next_lst % a->nlst;
	for (unsigned k = 1; k < a->nlst; k++) {
		unsigned i = (a->next_lst + k) % a->nlst;
		if (a->lst[i].armed < a->lst[best].armed)
			best = i;
	}
	a->next_lst = best + 1;
	return best;
}

static void arm_single(rl_acceptor *a)
{
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	if (!sqe)
		return;
	unsigned l = pick_listener(a);
	uint16_t pe = APOOL_NONE;
	struct sockaddr *sa = NULL;
	socklen_t *lenp = NULL;
	if (a->want_addr && a->apool_free != APOOL_NONE) {
		pe = a->apool_free;
		a->apool_free = a->apool[pe].next_free;
		a->apool[pe].len = sizeof(a->apool[pe].ss);
		sa = (struct sockaddr *) &a->apool[pe].ss;
		lenp = &a->apool[pe].len;
	}
	rl_prep_accept_direct_alloc(sqe, a->lst[l].fd, sa, lenp, 0); /* no CLOEXEC: -EINVAL for direct */
	sqe->user_data = rl_ud(RL_OP_ACCEPT, l, 0, pe);
	a->lst[l].armed++;
	a->armed++;
	RL_ADD(&a->c.u64[RL_AU_single_arms], 1);
}

static void arm_multishot(rl_acceptor *a)
{
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept_direct(sqe, a->lst[0].fd, NULL, NULL, 0);
	sqe->user_data = rl_ud(RL_OP_ACCEPT_MS, 0, 0, 0);
	a->ms_state = 1;
	RL_ADD(&a->c.u64[RL_AU_multishot_arms], 1);
}

/* cancel every accept on listener l (the multishot is on listener 0) */
static void cancel_on(rl_acceptor *a, unsigned l)
{
	int ms = l == 0 && a->ms_state == 1;
	if (a->lst[l].armed == 0 && !ms)
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	if (!sqe)
		return;
	io_uring_prep_cancel_fd(sqe, a->lst[l].fd, IORING_ASYNC_CANCEL_ALL);
	sqe->user_data = rl_ud(RL_OP_ACCEPT_CANCEL, l, 0, 0);
	if (ms)
		a->ms_state = 2;
}

static void cancel_accepts(rl_acceptor *a)
{
	if (a->lst_closed)
		return;
	for (unsigned l = 0; l < a->nlst; l++)
		cancel_on(a, l);
}

/* bring armed accepts in line with free slots and policy */
static void acc_arm(rl_acceptor *a)
{
	if (a->nlst == 0 || a->lst_closed || a->stopping) {
		gauges(a); /* the last accepts ending after a stop */
		return;
	}
	if (a->paused || a->backoff_armed) {
		cancel_accepts(a);
		gauges(a);
		return;
	}
	unsigned free_slots = rl_acceptor_free(a);
	if (a->backoff_ms) {
		/* recovering from accept errors: one probe accept until one works,
		 * so a lasting error costs one completion per back-off period */
		if (a->ms_state == 0 && a->armed == 0 && free_slots > 0)
			arm_single(a);
		gauges(a);
		return;
	}
	if (a->allow_ms && a->nlst > 1 && a->ms_state != 0) {
		/* a listener joined while multishot was armed: single-shot only
		 * from now on, once the multishot has ended (it still counts) */
		if (a->ms_state == 1)
			cancel_accepts(a);
		gauges(a);
		return;
	}
	if (a->allow_ms && a->nlst == 1) {
		if (a->ms_state == 1 && free_slots < a->ms_margin) {
			/* the table is filling: multishot could overrun it */
			cancel_accepts(a);
		} else if (a->ms_state == 0 && a->armed == 0 && free_slots >= 2 * a->ms_margin) {
			arm_multishot(a);
		}
		if (a->ms_state != 0) {
			gauges(a);
			return;
		}
	}
	while (a->armed < a->max_armed && rl_acceptor_free(a) > 0)
		arm_single(a);
	int stalled = rl_acceptor_free(a) == 0 && a->armed == 0 && a->ms_state == 0;
	if (stalled != a->stalled) {
		a->stalled = stalled;
		emit(a, stalled ? RL_AEV_STALL : RL_AEV_UNSTALL, -1, (int) a->used, 0);
		if (stalled)
			RL_ADD(&a->c.u64[RL_AU_stalls], 1);
	}
	gauges(a);
}

static int kick_one(rl_acceptor *a, rl_listener *l)
{
	if (!l->shared || l->armed == 0) {
		l->kick_seen = 0;
		return 0;
	}
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
		l->kick_seen = 0;
		return 0;
	}
	if (!l->kick_seen) {
		l->kick_seen = 1;
		return 0;
	}
	l->kick_seen = 0;
	cancel_on(a, (unsigned) (l - a->lst));
	return 1;
}

int rl_acceptor_kick(rl_acceptor *a)
{
	int n = 0, idle = a->stopping || a->paused || a->lst_closed;
	for (unsigned i = 0; i < a->nlst; i++) {
		if (idle)
			a->lst[i].kick_seen = 0; /* a fresh start once accepting again */
		else
			n += kick_one(a, &a->lst[i]);
	}
	return n;
}

int rl_acceptor_share(rl_acceptor *a, int *fds, unsigned cap)
{
	if (a->nlst == 0 || a->lst_closed)
		return -EBADF;
	for (unsigned i = 0; i < a->nlst; i++) {
		a->lst[i].shared = 1;
		if (i < cap)
			fds[i] = a->lst[i].fd;
	}
	return (int) a->nlst;
}

int rl_acceptor_listen_fds(rl_acceptor *a, const int *fds, unsigned n, int shared)
{
	if (a->lst_closed && a->nlst)
		return -EBADF;
	if (n > RL_MAX_LISTENERS - a->nlst)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		a->lst[a->nlst++] = (rl_listener){ .fd = fds[i], .shared = shared };
	acc_arm(a);
	int ret = rl_ring_submit(&a->ring);
	return ret < 0 ? ret : 0;
}

int rl_acceptor_adopt(rl_acceptor *a, int lfd) { return rl_acceptor_listen_fds(a, &lfd, 1, 1); }

int rl_acceptor_start(rl_acceptor *a, int lfd) { return rl_acceptor_listen_fds(a, &lfd, 1, 0); }

/* ---------------- completions ---------------- */

/* the accept errors counted by name; any other errno is err_other */
static const struct {
	int err;
	unsigned counter;
} accept_errors[] = {
	{ EMFILE, RL_AU_err_emfile },
	{ ENFILE, RL_AU_err_enfile },
	{ ENOBUFS, RL_AU_err_enobufs },
	{ ENOMEM, RL_AU_err_enomem },
};

static void count_accept_error(rl_acceptor *a, int res)
{
	unsigned k = RL_AU_err_other;
	for (size_t i = 0; i < sizeof(accept_errors) / sizeof(accept_errors[0]); i++)
		if (accept_errors[i].err == -res)
			k = accept_errors[i].counter;
	RL_ADD(&a->c.u64[RL_AU_accept_errors], 1);
	RL_ADD(&a->c.u64[k], 1);
}

/* a failed hand-off's counter, by its class (abi.h) */
static const unsigned handoff_errors[] = {
	[RL_HC_other] = RL_AU_handoff_other,       [RL_HC_full] = RL_AU_handoff_enfile,
	[RL_HC_dead] = RL_AU_handoff_dead,         [RL_HC_retry] = RL_AU_handoff_retry,
	[RL_HC_overflow] = RL_AU_handoff_overflow,
};

/* An accept failed: wait before trying again, doubling up to 1 s. */
static void backoff(rl_acceptor *a, int res)
{
	/* the other accepts armed next to the one that failed fail the same
	 * way in the same pass: one failure, counted and reported once */
	if (a->backoff_armed)
		return;
	count_accept_error(a, res);
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : 5;
	if (a->backoff_ms > 1000)
		a->backoff_ms = 1000;
	a->backoff_ts.tv_sec = a->backoff_ms / 1000;
	a->backoff_ts.tv_nsec = (long long) (a->backoff_ms % 1000) * 1000000LL;
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	if (!sqe)
		return;
	io_uring_prep_timeout(sqe, &a->backoff_ts, 0, 0);
	sqe->user_data = rl_ud(RL_OP_BACKOFF, 0, 0, 0);
	a->backoff_armed = 1;
	RL_ADD(&a->c.u64[RL_AU_backoffs], 1);
	emit(a, RL_AEV_ACCEPT_ERR, -1, res, (int) a->backoff_ms);
}

/* A connection now in `slot` (accepted, or returned by an evacuating
 * worker) is owned by `id`. A slot outside the table cannot happen with a
 * table we registered; it is closed rather than leaked, and 0 returned. */
static int take_slot(rl_acceptor *a, int slot, uint32_t id)
{
	if ((unsigned) slot >= a->table_size) {
		struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
		if (sqe) {
			io_uring_prep_close_direct(sqe, (unsigned) slot);
			sqe->user_data = rl_ud(RL_OP_NONE, 0, 0, 0);
		}
		return 0;
	}
	a->used++;
	a->slot_conn[slot] = id;
	return 1;
}

static void on_accepted(rl_acceptor *a, int slot, const struct sockaddr *sa)
{
	uint32_t id = rl_next_conn_id();
	if (!take_slot(a, slot, id))
		return;
	a->backoff_ms = 0;
	rl_peer_put(id, sa, rl_now_ns());
	RL_ADD(&a->c.u64[RL_AU_accepted], 1);
	int t = a->next_target;
	if (t >= 0 && rl_acceptor_handoff(a, (unsigned) slot, (unsigned) t) == 0) {
		a->next_target = -1;
		RL_ADD(&a->c.u64[RL_AU_placed_ahead], 1);
		emit(a, RL_AEV_PLACED, slot, (int32_t) id, t);
		return;
	}
	emit(a, RL_AEV_ACCEPT, slot, (int32_t) id, 0);
}

static void on_returned(rl_acceptor *a, int slot, uint32_t id)
{
	if (!take_slot(a, slot, id))
		return;
	RL_ADD(&a->c.u64[RL_AU_returned], 1);
	emit(a, RL_AEV_ACCEPT, slot, (int32_t) id, 1);
}

void rl_acceptor_reserve(rl_acceptor *a, int delta)
{
	if (delta < 0 && (unsigned) -delta > a->reserved)
		a->reserved = 0;
	else
		a->reserved = (unsigned) ((int) a->reserved + delta);
	acc_arm(a);
}

/*
 * A close of `slot` for connection `id` completed. The slot may already hold
 * a newer connection (see ud.h): only the owner's own close clears it. The
 * count of used slots drops either way, since the kernel freed one.
 */
static void slot_closed(rl_acceptor *a, unsigned slot, uint32_t id, int res)
{
	int owner = slot < a->table_size && a->slot_conn[slot] == id;
	if (res < 0 && owner) {
		/* the close failed: clear the slot by update so it is reusable */
		int none = -1;
		io_uring_register_files_update(&a->ring.ring, slot, &none, 1);
	}
	if (owner)
		a->slot_conn[slot] = 0;
	if (a->used)
		a->used--;
}

/* shut a slot's socket down (FIN to the peer, whoever else holds it) and
 * close it; the close's CQE accounts the slot as RL_OP_DROP does */
static void abandon_slot(rl_acceptor *a, unsigned slot)
{
	if (slot >= a->table_size || !a->slot_conn[slot] || rl_ring_reserve(&a->ring, 2) < 0)
		return;
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	io_uring_prep_shutdown(sqe, (int) slot, SHUT_RDWR);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	sqe->user_data = rl_ud(RL_OP_SHUTDOWN, slot, 0, 0);
	sqe = rl_ring_sqe(&a->ring);
	io_uring_prep_close_direct(sqe, slot);
	sqe->user_data = rl_ud_slot_conn(RL_OP_DROP, slot, a->slot_conn[slot]);
}

void rl_acceptor_complete(rl_acceptor *a, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	int res = cqe->res;
	switch (rl_ud_op(ud)) {
	case RL_OP_ACCEPT: {
		uint16_t pe = rl_ud_aux(ud);
		const struct sockaddr *sa = NULL;
		if (pe != APOOL_NONE && pe < a->max_armed) {
			sa = (const struct sockaddr *) &a->apool[pe].ss;
			a->apool[pe].next_free = a->apool_free;
			a->apool_free = pe;
		}
		unsigned l = rl_ud_idx(ud);
		if (l < a->nlst && a->lst[l].armed)
			a->lst[l].armed--;
		if (a->armed)
			a->armed--;
		if (res >= 0)
			on_accepted(a, res, sa);
		else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN && !a->stopping)
			backoff(a, res);
		break;
	}
	case RL_OP_ACCEPT_MS:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			a->ms_state = 0;
		if (res >= 0)
			on_accepted(a, res, NULL);
		else if (res != -ECANCELED && !a->stopping) {
			if (a->ms_state == 1)
				cancel_accepts(a);
			backoff(a, res);
		}
		break;
	case RL_OP_HANDOFF_IN:
		/* a failing worker sent a connection back (rl_worker_evacuate) */
		if (res >= 0)
			on_returned(a, res, rl_ud_conn_id(ud));
		break;
	case RL_OP_BACKOFF:
		a->backoff_armed = 0;
		break;
	case RL_OP_HANDOFF: {
		unsigned slot = rl_ud_idx(ud);
		unsigned target = rl_ud_aux(ud);
		if (res >= 0) {
			RL_ADD(&a->c.u64[RL_AU_handoffs], 1);
			emit(a, RL_AEV_HANDOFF_OK, (int) slot, (int) target, res);
			break;
		}
		enum rl_handoff_class cls = rl_handoff_class(res);
		RL_ADD(&a->c.u64[handoff_errors[cls]], 1);
		if (cls == RL_HC_overflow) {
			/*
			 * The target's table holds the socket, but its CQ was
			 * full and the kernel could not queue the CQE, so the
			 * worker does not know (msg_ring(3): the sender must
			 * deliver the news). fd_alloc does not say which slot,
			 * and a retry would install the socket twice. End the
			 * connection: shutdown reaches the socket through both
			 * copies, then our copy is closed. Worker CQs are sized
			 * so that this cannot happen in normal operation.
			 */
			abandon_slot(a, slot);
		}
		emit(a, RL_AEV_HANDOFF_ERR, (int) slot, (int) target, res);
		break;
	}
	case RL_OP_HANDOFF_CLOSE:
		if (res == -ECANCELED)
			break; /* the send failed: the slot is still ours */
		slot_closed(a, rl_ud_idx(ud), rl_ud_conn_id(ud), res);
		break;
	case RL_OP_REJECT:
		slot_closed(a, rl_ud_idx(ud), rl_ud_conn_id(ud), res);
		RL_ADD(&a->c.u64[RL_AU_rejected], 1);
		emit(a, RL_AEV_REJECTED, (int) rl_ud_idx(ud), (int32_t) rl_ud_conn_id(ud), 0);
		break;
	case RL_OP_DROP:
		slot_closed(a, rl_ud_idx(ud), rl_ud_conn_id(ud), res);
		break;
	default:
		break; /* cancels, setsockopt: nothing to account */
	}
}

static void acc_cqe(void *ctx, struct io_uring_cqe *cqe) { rl_acceptor_complete((rl_acceptor *) ctx, cqe); }

static void acc_after_round(void *ctx) { acc_arm((rl_acceptor *) ctx); }

int rl_acceptor_run(rl_acceptor *a)
{
	/* events accumulate until the binding has delivered them (a->nev = 0) */
	return rl_ring_run(&a->ring, acc_cqe, a, 8, acc_after_round);
}

/* ---------------- targets and hand-off ---------------- */

int rl_acceptor_add_target(rl_acceptor *a, int ring_fd)
{
	/* our own reference: the worker's fd number can never be reused under us */
	int fd = fcntl(ring_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < a->ntargets; i++) {
		if (a->target_fd[i] < 0) {
			a->target_fd[i] = fd;
			return (int) i;
		}
	}
	if (a->ntargets == a->target_cap) {
		unsigned cap = a->target_cap * 2;
		int *n = realloc(a->target_fd, cap * sizeof(int));
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		a->target_fd = n;
		a->target_cap = cap;
	}
	if (a->ntargets >= 0xffff) {
		close(fd);
		return -ENOSPC;
	}
	a->target_fd[a->ntargets] = fd;
	return (int) a->ntargets++;
}

int rl_acceptor_remove_target(rl_acceptor *a, unsigned idx)
{
	if (idx >= a->ntargets || a->target_fd[idx] < 0)
		return -EINVAL;
	close(a->target_fd[idx]);
	a->target_fd[idx] = -1;
	if (a->next_target == (int) idx)
		a->next_target = -1;
	return 0;
}

int rl_acceptor_set_next(rl_acceptor *a, int target)
{
	if (target >= 0 && ((unsigned) target >= a->ntargets || a->target_fd[target] < 0))
		return -EBADFD;
	int prev = a->next_target;
	a->next_target = target < 0 ? -1 : target;
	return prev;
}

int rl_acceptor_handoff(rl_acceptor *a, unsigned slot, unsigned target)
{
	if (slot >= a->table_size || !a->slot_conn[slot])
		return -EINVAL;
	if (target >= a->ntargets || a->target_fd[target] < 0)
		return -EBADFD;
	int ret = rl_ring_reserve(&a->ring, 2);
	if (ret < 0)
		return ret;
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	io_uring_prep_msg_ring_fd_alloc(sqe, a->target_fd[target], (int) slot,
					rl_ud_handoff_in(a->slot_conn[slot]), 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = rl_ud(RL_OP_HANDOFF, slot, 0, (uint16_t) target);
	sqe = rl_ring_sqe(&a->ring);
	io_uring_prep_close_direct(sqe, slot);
	sqe->user_data = rl_ud_slot_conn(RL_OP_HANDOFF_CLOSE, slot, a->slot_conn[slot]);
	return 0;
}

int rl_acceptor_wake(rl_acceptor *a, unsigned target)
{
	if (target >= a->ntargets || a->target_fd[target] < 0)
		return -EBADFD;
	struct io_uring_sqe *sqe = rl_ring_sqe(&a->ring);
	if (!sqe)
		return -EBUSY;
	/* a data message: the target sees a CQE with this user_data, no fd */
	io_uring_prep_msg_ring(sqe, a->target_fd[target], 0, rl_ud(RL_OP_WAKE, RL_IDX_MAX, 0, 0), 0);
	sqe->user_data = rl_ud(RL_OP_NONE, 0, 0, 0);
	int ret = rl_ring_submit(&a->ring);
	return ret < 0 ? ret : 0;
}

static int close_slot(rl_acceptor *a, unsigned slot, int rst)
{
	if (slot >= a->table_size || !a->slot_conn[slot])
		return -EINVAL;
	int ret = rl_ring_reserve(&a->ring, 2);
	if (ret < 0)
		return ret;
	struct io_uring_sqe *sqe;
	if (rst) {
		/* SO_LINGER {on, 0}: close sends RST instead of FIN */
		static const struct linger lg = { 1, 0 };
		sqe = rl_ring_sqe(&a->ring);
		rl_prep_setsockopt(sqe, (int) slot, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
		sqe->user_data = rl_ud(RL_OP_SETSOCKOPT, slot, 0, 0);
	}
	sqe = rl_ring_sqe(&a->ring);
	io_uring_prep_close_direct(sqe, slot);
	sqe->user_data = rl_ud_slot_conn(rst ? RL_OP_REJECT : RL_OP_DROP, slot, a->slot_conn[slot]);
	return 0;
}

int rl_acceptor_reject(rl_acceptor *a, unsigned slot) { return close_slot(a, slot, 1); }
int rl_acceptor_drop(rl_acceptor *a, unsigned slot) { return close_slot(a, slot, 0); }

void rl_acceptor_pause(rl_acceptor *a)
{
	if (a->paused)
		return;
	a->paused = 1;
	acc_arm(a);
}

void rl_acceptor_resume(rl_acceptor *a)
{
	if (!a->paused)
		return;
	a->paused = 0;
	acc_arm(a);
}

void rl_acceptor_stop(rl_acceptor *a)
{
	if (a->stopping)
		return;
	cancel_accepts(a);
	a->stopping = 1;
	if (a->nlst && !a->lst_closed) {
		/* shutdown wakes any accept still waiting (it fails with -EINVAL);
		 * a shared listener keeps listening for its other holders, so its
		 * accepts are cancelled instead: submitted now, while the fd still
		 * names the socket the cancel looks up */
		rl_ring_submit(&a->ring);
		for (unsigned i = 0; i < a->nlst; i++) {
			if (!a->lst[i].shared)
				shutdown(a->lst[i].fd, SHUT_RDWR);
			close(a->lst[i].fd);
		}
		a->lst_closed = 1;
	}
	gauges(a);
	emit(a, RL_AEV_CLOSED, -1, 0, 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * The acceptor: one ring on the main thread that accepts straight into its
 * fixed-file table and hands each connection to a worker ring with
 * msg_ring fd_alloc linked to close_direct of its own slot.
 *
 * Invariant that keeps connections from being lost: the number of accepts
 * that can still complete (single-shot in flight, or a multishot's worst
 * case) never exceeds the number of free slots. A direct accept into a full
 * table is accepted by the kernel and then dropped, so the table must never
 * be full when an accept completes. A multishot accept takes the whole
 * listen backlog in one completion pass, so it is only safe while the free
 * slots exceed the backlog: the runtime sets multishot_margin from it.
 *
 * Several listeners (RL_MAX_LISTENERS, e.g. systemd's ListenStream=8080 and
 * 8081) share the table and the invariant: their single-shot accepts count
 * together against the free slots and max_armed, spread over the listeners,
 * each tagged with its listener (ud idx) and re-armed there when it
 * completes. Multishot is used with one listener only: its margin is a
 * per-listener backlog, which several listeners would multiply.
 *
 * Policy (which worker, when to pause) lives in JS; the engine reports what
 * happened as events and does what JS decides.
 */
#ifndef RL_ACCEPTOR_H
#define RL_ACCEPTOR_H

#include "abi.h"
#include "counters.h"
#include "net.h"
#include "ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* event records: types and fields in abi.h (RL_ACC_EVENTS, rl_acc_event) */

typedef struct rl_acceptor_opts {
	unsigned table_size;       /* fixed-file slots for accepted sockets */
	unsigned sq_entries;       /* 0 = auto */
	unsigned max_armed;        /* single-shot accepts in flight, 0 = 64 */
	int multishot;             /* 1 = use multishot while the table has room */
	unsigned multishot_margin; /* free slots needed to keep multishot armed */
	int want_addr;             /* 1 = record peer addresses (single-shot only) */
	int no_defer_taskrun;
	rl_acc_event *ev; /* event buffer owned by the caller, or NULL */
	unsigned evcap;   /* its capacity, >= rl_acceptor_event_capacity() */
} rl_acceptor_opts;

/* events one wake can produce at most: an accept and a hand-off result per
 * slot, plus errors of the accepts in flight */
static inline unsigned rl_acceptor_event_capacity(const rl_acceptor_opts *o)
{
	unsigned armed = o->max_armed ? o->max_armed : 64;
	return 2 * o->table_size + 2 * armed + 64;
}

typedef struct rl_acc_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t next_free;
} rl_acc_addr;

/* one listening socket */
typedef struct rl_listener {
	int fd;
	int shared;     /* adopted or handed on: others hold it too, never shut it down */
	int kick_seen;  /* rl_acceptor_kick found it readable last time */
	unsigned armed; /* single-shot accepts in flight on it */
} rl_listener;

typedef struct rl_acceptor {
	rl_ring ring;
	rl_listener lst[RL_MAX_LISTENERS];
	unsigned nlst;
	unsigned next_lst; /* where the next single-shot arm starts looking */
	rl_counters c;
	unsigned table_size;
	unsigned used;     /* slots holding a socket */
	unsigned reserved; /* slots kept free for connections a failing worker sends back */
	unsigned armed;    /* single-shot accepts in flight */
	int ms_state;      /* 0 off, 1 armed, 2 being cancelled */
	int paused, stopping, stalled;
	unsigned backoff_ms;
	int backoff_armed;
	struct __kernel_timespec backoff_ts;
	unsigned max_armed, ms_margin;
	int allow_ms, want_addr;
	int *target_fd; /* dup of each worker ring fd, -1 when removed */
	unsigned ntargets, target_cap;
	rl_acc_addr *apool; /* address buffers for single-shot accepts */
	uint16_t apool_free;
	uint32_t *slot_conn; /* conn id held in each slot */
	rl_acc_event *ev;
	unsigned nev, evcap;
	int ev_owned;
	uint64_t ev_dropped;
	int lst_closed;  /* every listener closed (rl_acceptor_stop) */
	int next_target; /* picked ahead for the next accept (rl_acceptor_set_next), -1: none */
} rl_acceptor;

/* ring + table; the listeners come with rl_acceptor_start/adopt. 0 or -errno. */
int rl_acceptor_init(rl_acceptor *a, const rl_acceptor_opts *o, rl_counters c, const char **failed_call);
/*
 * Take `n` listening sockets (ownership too) and start accepting on all of
 * them; `shared` as for rl_acceptor_adopt. -ENOSPC beyond RL_MAX_LISTENERS
 * in all (nothing taken then), -EBADF once stopped.
 */
int rl_acceptor_listen_fds(rl_acceptor *a, const int *fds, unsigned n, int shared);
/* one listening socket of our own (takes ownership): start accepting */
int rl_acceptor_start(rl_acceptor *a, int lfd);
/*
 * Start on an inherited listening socket (socket activation, --fd): like
 * rl_acceptor_start, but stopping only cancels our accepts and closes our
 * descriptor, never shutdown(2)s the socket, which would stop it listening
 * for the other holders (systemd, the next process of an upgrade) too.
 */
int rl_acceptor_adopt(rl_acceptor *a, int lfd);
/* the listeners are handed to another process too (an upgrade): from now
 * on stopping never shuts them down. Writes up to `cap` fds, returns how
 * many there are, or -EBADF when closed. */
int rl_acceptor_share(rl_acceptor *a, int *fds, unsigned cap);
/*
 * For a listener shared with another process, called about once a second.
 * Accept waits are woken exclusively: when the other process cancels an
 * accept the kernel had already woken (it stops accepting, an upgrade), that
 * wakeup is lost and a connection can sit in the backlog while our accepts
 * sleep. When the listener was readable on two calls in a row with accepts
 * armed, cancel them: they are re-armed at once, and a fresh arm sees the
 * backlog. Each listener is watched on its own. Returns how many listeners
 * it kicked.
 */
int rl_acceptor_kick(rl_acceptor *a);
void rl_acceptor_destroy(rl_acceptor *a);

/* one wake: drain CQEs into events, keep accepts armed */
int rl_acceptor_run(rl_acceptor *a);
/* account one completion of the acceptor ring (what rl_acceptor_run does
 * for each CQE); public so tests can replay an order the kernel can post */
void rl_acceptor_complete(rl_acceptor *a, const struct io_uring_cqe *cqe);

int rl_acceptor_add_target(rl_acceptor *a, int ring_fd);
int rl_acceptor_remove_target(rl_acceptor *a, unsigned idx);

/* hand slot to target; result arrives as HANDOFF_OK / HANDOFF_ERR */
int rl_acceptor_handoff(rl_acceptor *a, unsigned slot, unsigned target);
/*
 * The scheduler's pick for the next accepted connection, made ahead (-1: no
 * pick). That accept is handed to `target` as it completes, in the same
 * io_uring_enter round, instead of waiting for the scheduler's JS to run
 * (most of a hand-off at light load); the event is PLACED instead of
 * ACCEPT, and the pick is used up. Returns the previous pick (-1 when it
 * was used or there was none), or -EBADFD for a removed target.
 */
int rl_acceptor_set_next(rl_acceptor *a, int target);
/*
 * Ring target's doorbell: a worker waiting in io_uring_enter (native modes)
 * returns to its JS, where a command from the main thread waits. 0 or -errno.
 */
int rl_acceptor_wake(rl_acceptor *a, unsigned target);
/* close slot with RST (overflow: 'reject') */
int rl_acceptor_reject(rl_acceptor *a, unsigned slot);
/* close slot quietly (FIN): used when shutting down with held slots */
int rl_acceptor_drop(rl_acceptor *a, unsigned slot);

/*
 * Keep `delta` more (or, negative, fewer) slots out of the accepts' reach:
 * a failing worker sends connections back into this table (RL_AEV_ACCEPT
 * with b = 1), and they must not take the slot an armed accept counts on.
 */
void rl_acceptor_reserve(rl_acceptor *a, int delta);

void rl_acceptor_pause(rl_acceptor *a);
void rl_acceptor_resume(rl_acceptor *a);
/* stop accepting for good: cancel accepts, close the listener */
void rl_acceptor_stop(rl_acceptor *a);

/* free slots that no accept can still claim */
static inline unsigned rl_acceptor_free(const rl_acceptor *a)
{
	unsigned taken = a->used + a->armed + a->reserved;
	return taken >= a->table_size ? 0 : a->table_size - taken;
}

#ifdef __cplusplus
}
#endif
#endif

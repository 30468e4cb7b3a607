/* SPDX-License-Identifier: MIT */
/*
 * A ring as every ringleader thread uses it: created by the thread that
 * drives it (SINGLE_ISSUER, DEFER_TASKRUN when the kernel has it), a sparse
 * fixed-file table, and an eventfd the thread's event loop polls.
 */
#ifndef RL_RING_H
#define RL_RING_H

#include "rl.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_ring_opts {
	unsigned sq_entries;  /* power of two; 0 = 1024 */
	unsigned cq_entries;  /* 0 = 4 * sq_entries */
	unsigned files;       /* sparse fixed-file table size; 0 = none */
	int no_defer_taskrun; /* 1 = do not ask for DEFER_TASKRUN */
	/* 1 = the owning thread waits in io_uring_enter itself (rl_ring_serve):
	 * the eventfd is made, for the loop integration, but not registered, so
	 * completions cost no eventfd signal */
	int wait_in_ring;
} rl_ring_opts;

typedef struct rl_ring {
	struct io_uring ring;
	int efd;              /* eventfd registered with the ring, or -1 */
	unsigned setup_flags; /* IORING_SETUP_* actually in use */
	unsigned files;
	int ready;
} rl_ring;

/* Returns 0 or -errno. On failure nothing is left allocated.
 * *failed_call (if not NULL) names the call that failed. */
/* Every init names the call that failed in *failed_call; a caller that does
 * not care passes NULL, and the init writes to a sink instead. */
static inline const char **rl_failed_sink(const char **failed_call)
{
	static const char *sink;
	return failed_call ? failed_call : &sink;
}

int rl_ring_init(rl_ring *r, const rl_ring_opts *o, const char **failed_call);
void rl_ring_destroy(rl_ring *r);

static inline int rl_ring_fd(const rl_ring *r) { return r->ring.ring_fd; }

/*
 * Get an SQE, submitting what is queued when the SQ is full. NULL only if
 * the submit itself failed (CQ overflow the kernel could not absorb).
 */
struct io_uring_sqe *rl_ring_sqe(rl_ring *r);

/* make sure at least n SQEs are free (submits if needed); 0 or -errno */
int rl_ring_reserve(rl_ring *r, unsigned n);

/* submit what is queued; returns number submitted or -errno */
int rl_ring_submit(rl_ring *r);

typedef void (*rl_cqe_fn)(void *ctx, struct io_uring_cqe *cqe);

/*
 * One wake of the thread's loop: clear the eventfd, then up to max_rounds
 * times submit + run deferred task work, hand every CQE to fn, advance the CQ
 * once per round. Stops when a round finds no CQE and nothing to submit. If
 * it stops because of max_rounds with work left, it re-signals the eventfd
 * so the loop comes back after serving its other handles.
 * Returns the number of CQEs handled, or -errno from io_uring_enter.
 */
int rl_ring_run(rl_ring *r, rl_cqe_fn fn, void *ctx, unsigned max_rounds, void (*after_round)(void *ctx));

/*
 * Serve the ring from its own thread, waiting in io_uring_enter rather than
 * in an event loop: each pass submits what is queued and sleeps until at
 * least one completion (one syscall per batch, no eventfd, no epoll), hands
 * every CQE to fn, then after_round. Returns after max_ns, or once *stop is
 * set (fn sets it for a doorbell CQE), with the number of CQEs handled, or
 * -errno from io_uring_enter.
 */
int rl_ring_serve(rl_ring *r, rl_cqe_fn fn, void *ctx, uint64_t max_ns, void (*after_round)(void *ctx),
		  const int *stop);

/* ---- probe: what the kernel offers ---- */
typedef struct rl_probe_result {
	int setup_error;       /* 0, or -errno from io_uring_setup */
	int io_uring_disabled; /* kernel.io_uring_disabled, -1 unknown */
	unsigned features;     /* IORING_FEAT_* */
	int single_issuer;     /* setup flags accepted */
	int defer_taskrun;
	int coop_taskrun;
	int submit_all;
	int buf_ring;            /* IORING_REGISTER_PBUF_RING works */
	int sparse_files;        /* io_uring_register_files_sparse works */
	int msg_ring_fd;         /* a real msg_ring fd_alloc hand-off worked */
	int msg_ring_fd_error;   /* -errno of that test when it failed */
	int sock_cmd_setsockopt; /* uring_cmd SOCKET setsockopt on a direct fd */
	int recv_cap;          /* a multishot recv capped by total bytes (Linux 6.17): rl_recv_cap_probe() */
	unsigned char ops[64]; /* ops[IORING_OP_x] = 1 when supported */
	unsigned ops_last;     /* probe->last_op */
} rl_probe_result;

/* The kernel takes a total-bytes cap on a multishot recv (sqe->optlen,
 * Linux 6.17): 1 yes, 0 no (the kernel's answer, kept for the process), or
 * -errno when the probe could not ask (its ring or socketpair failed: low
 * RLIMIT_MEMLOCK, no fds; asked again next time). */
int rl_recv_cap_probe(void);
/* rl_recv_cap_probe() > 0 */
int rl_recv_cap_supported(void);

/* Runs every check with short-lived rings. Returns 0 or -errno (setup). */
int rl_probe(rl_probe_result *out);

/* opcodes ringleader depends on, for doctor and startup checks */
extern const unsigned rl_required_ops[];
extern const unsigned rl_required_ops_count;
const char *rl_op_name(unsigned op);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/*
 * Counter layouts shared between the engine (writer) and JS (reader, with
 * Atomics, from any thread). This file is the only definition: the binding
 * exports the names in order and the TypeScript side indexes by name.
 *
 * A counters block is two arrays over one SharedArrayBuffer:
 *   i32[RL_W_I32_COUNT]  gauges the scheduler reads on the hot path
 *   u64[RL_W_U64_COUNT]  monotonic totals and histogram buckets
 */
#ifndef RL_COUNTERS_H
#define RL_COUNTERS_H

#include <stdint.h>

/* ---------------- worker ---------------- */
#define RL_WORKER_I32(X)                                                    \
	X(live)       /* connections open on this worker */                 \
	X(inflight)   /* hand-offs sent to it, not yet completed (main) */  \
	X(saturated)  /* 1 after -ENFILE until live < low-water (main) */   \
	X(lag_us)     /* event-loop lag, microseconds (worker JS) */        \
	X(state)      /* 0 starting, 1 serving, 2 draining, 3 stopped */    \
	X(table_size) /* fixed-file slots */                                \
	X(table_used) /* fixed-file slots holding a socket */               \
	X(buf_free)   /* provided buffers free (ring + stack, bufring.h) */ \
	X(buffered)   /* bytes queued for sending, all connections */       \
	X(zc_enabled) /* 1 while send_zc is in use */                       \
	X(zc_error)   /* -errno that switched send_zc off, 0 if none */

#define RL_WORKER_U64(X)                                                                      \
	X(accepted) /* connections handed to this worker */                                   \
	X(closed)   /* connections closed */                                                  \
	X(bytes_in)                                                                           \
	X(bytes_out)                                                                          \
	X(recvs)                /* recv completions carrying data */                          \
	X(sends)                /* send completions */                                        \
	X(enobufs)              /* multishot recv ended for lack of buffers */                \
	X(rx_paused)            /* receive paused because the other side was slow */          \
	X(conn_errors)          /* connections ended by an error */                           \
	X(forced)               /* connections closed by a forced shutdown */                 \
	X(zc_sends)             /* sends issued as send_zc */                                 \
	X(zc_copied)            /* zc sends the kernel reported as copied */                  \
	X(zc_fallbacks)         /* switches from send_zc to send */                           \
	X(zc_stopped)           /* sockets that stopped send_zc: the kernel copied */         \
	X(handoff_ns)           /* sum of hand-off latencies (accept CQE -> here) */          \
	X(handoff_n)            /* hand-offs timed */                                         \
	X(c2u_bytes)            /* proxy: bytes sent to upstreams (from clients) */           \
	X(u2c_bytes)            /* proxy: bytes from upstreams to clients */                  \
	X(dials)                /* proxy: upstream connects started */                        \
	X(dial_failures)        /* proxy: upstream connects that failed */                    \
	X(upstream_unavailable) /* proxy: clients closed, no upstream reachable */            \
	X(idle_timeouts)        /* connections closed for inactivity */                       \
	X(resets)               /* connections reset (RST) because the other side was */      \
	X(buffer_copies)        /* echo, proxy: buffers past a direction's cap copied out */  \
	X(js_events)            /* events delivered to a JS handler */                        \
	X(js_batches)           /* calls into JS that delivered them */                       \
	X(handler_errors)       /* JS handler callbacks that threw */                         \
	X(evacuated)            /* hand-offs sent back to the acceptor by a failing worker */ \
	X(evacuate_failed)      /* ...that could not be sent back (closed) */

/* ---------------- per upstream (proxy), one block per worker ---------------- */
#define RL_UPSTREAM_I32(X)                                     \
	X(live)       /* connections to it from this worker */ \
	X(down)       /* 1 while marked down */                \
	X(backoff_ms) /* current back-off before the next try */

#define RL_UPSTREAM_U64(X)                             \
	X(dials)                                       \
	X(connected)                                   \
	X(failed)                                      \
	X(refused)     /* ECONNREFUSED */              \
	X(timeouts)    /* connect timeout fired */     \
	X(unreachable) /* EHOSTUNREACH, ENETUNREACH */ \
	X(other_errors)

/* hand-off latency histogram, log-linear, RL_HANDOFF_SUB_BITS sub-buckets
 * per power of two (within 6%: a 10 us target needs finer than 25%),
 * nanoseconds up to about 17 s; stored after the named u64 counters */
#define RL_HANDOFF_SUB_BITS 4
#define RL_HANDOFF_BUCKETS 512

/* ---------------- acceptor ---------------- */
#define RL_ACCEPTOR_I32(X)                                                      \
	X(table_size)                                                           \
	X(table_used)    /* slots holding an accepted, not yet handed-off fd */ \
	X(accepts_armed) /* single-shot accepts in flight */                    \
	X(multishot)     /* 1 while a multishot accept is armed */              \
	X(paused)        /* 1 while accepting is paused (by policy) */          \
	X(stalled)       /* 1 while no accept can be armed: table full */       \
	X(backoff_ms)    /* current accept back-off, 0 when none */             \
	X(accepting)     /* accept requests in flight, armed or being cancelled */

#define RL_ACCEPTOR_U64(X)                                                                   \
	X(accepted)                                                                          \
	X(accept_errors) /* accept failures, one per back-off period */                      \
	X(err_emfile)                                                                        \
	X(err_enfile)                                                                        \
	X(err_enobufs)                                                                       \
	X(err_enomem)                                                                        \
	X(err_other)                                                                         \
	X(backoffs)         /* times accepting was backed off */                             \
	X(handoffs)         /* successful hand-offs */                                       \
	X(placed_ahead)     /* accepts handed off at once to the pick made ahead */          \
	X(handoff_enfile)   /* target table full (abi.h hand-off class "full") */            \
	X(handoff_dead)     /* target ring gone (class "dead") */                            \
	X(handoff_retry)    /* transient, retried (class "retry") */                         \
	X(handoff_overflow) /* delivered unannounced; connection ended (class "overflow") */ \
	X(returned)         /* connections a failing worker sent back */                     \
	X(handoff_other)                                                                     \
	X(rejected) /* closed with RST by overflow: 'reject' */                              \
	X(multishot_arms)                                                                    \
	X(single_arms) /* single-shot accepts submitted */                                   \
	X(stalls)      /* table-full stalls */

/* The index enums of one block: LI/LU are its i32/u64 X-macro lists, EI/EU
 * make one enumerator of a name, NI/NU name the counts. */
#define RL_BLOCK_ENUMS(LI, LU, EI, EU, NI, NU) \
	enum { LI(EI) NI };                    \
	enum { LU(EU) NU };

#define RL_ENUM_WI(name) RL_WI_##name,
#define RL_ENUM_WU(name) RL_WU_##name,
RL_BLOCK_ENUMS(RL_WORKER_I32, RL_WORKER_U64, RL_ENUM_WI, RL_ENUM_WU, RL_W_I32_COUNT, RL_W_U64_NAMED)
#define RL_W_U64_HIST RL_W_U64_NAMED
#define RL_W_U64_COUNT (RL_W_U64_NAMED + RL_HANDOFF_BUCKETS)

#define RL_ENUM_UI(name) RL_UI_##name,
#define RL_ENUM_UU(name) RL_UU_##name,
RL_BLOCK_ENUMS(RL_UPSTREAM_I32, RL_UPSTREAM_U64, RL_ENUM_UI, RL_ENUM_UU, RL_U_I32_COUNT, RL_U_U64_COUNT)

#define RL_ENUM_AI(name) RL_AI_##name,
#define RL_ENUM_AU(name) RL_AU_##name,
RL_BLOCK_ENUMS(RL_ACCEPTOR_I32, RL_ACCEPTOR_U64, RL_ENUM_AI, RL_ENUM_AU, RL_A_I32_COUNT, RL_A_U64_COUNT)

/* A view of one block: the engine writes through these pointers. */
typedef struct rl_counters {
	int32_t *i32;
	uint64_t *u64;
} rl_counters;

/* ---------------- histogram (log-linear buckets) ---------------- */
/*
 * Values below 2^sub_bits map to themselves; above, each power of two is cut
 * into 2^sub_bits equal buckets. Relative error <= 2^-sub_bits.
 */
static inline unsigned rl_hist_index(uint64_t v, unsigned sub_bits, unsigned nbuckets)
{
	unsigned sub = 1u << sub_bits;
	unsigned idx;
	if (v < sub)
		idx = (unsigned) v;
	else {
		unsigned msb = 63u - (unsigned) __builtin_clzll(v);
		unsigned shift = msb - sub_bits;
		idx = (msb - sub_bits + 1) * sub + (unsigned) ((v >> shift) & (sub - 1));
	}
	return idx < nbuckets ? idx : nbuckets - 1;
}

/* lowest value that lands in bucket idx */
static inline uint64_t rl_hist_lower(unsigned idx, unsigned sub_bits)
{
	unsigned sub = 1u << sub_bits;
	if (idx < sub)
		return idx;
	unsigned octave = idx / sub - 1; /* msb - sub_bits */
	unsigned frac = idx % sub;
	return ((uint64_t) (sub + frac)) << octave;
}

#endif

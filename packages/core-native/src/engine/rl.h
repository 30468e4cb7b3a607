/* SPDX-License-Identifier: MIT */
/*
 * ringleader engine: common definitions.
 *
 * The engine is plain C over liburing. It never touches Node-API, never
 * aborts, and reports every failure as a negative errno value.
 */
#ifndef RL_H
#define RL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../compat/liburing_compat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define rl_likely(x) __builtin_expect(!!(x), 1)
#define rl_unlikely(x) __builtin_expect(!!(x), 0)

static inline uint64_t rl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* relaxed atomics for counters shared with other threads (read by JS Atomics) */
#define RL_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define RL_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define RL_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* Proxy mode configuration (passed as rl_worker_opts.mode_config). */
#ifndef RL_PROXY_H
#define RL_PROXY_H

#include "abi.h"
#include "counters.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_proxy_config {
	const rl_addr *upstreams;
	/* per upstream: its group's priority, 0 first (< RL_MAX_UPSTREAM_GROUPS);
	 * NULL: one group. A later group is tried only while no upstream of an
	 * earlier one can be (down, or already tried by this client). */
	const uint8_t *tiers;
	unsigned n;
	unsigned policy; /* enum rl_upstream_policy (abi.h) */
	unsigned connect_timeout_ms;
	unsigned idle_timeout_ms; /* 0 = none */
	unsigned backoff_base_ms; /* first back-off after a failed dial */
	unsigned backoff_max_ms;
	unsigned max_fails;    /* consecutive failed dials that mark an upstream down, >= 1 */
	unsigned dial_retries; /* dials a client may make beyond one per upstream */
	int32_t *ui32;         /* n * RL_U_I32_COUNT, or NULL */
	uint64_t *uu64;        /* n * RL_U_U64_COUNT, or NULL */
} rl_proxy_config;

#ifdef __cplusplus
}
#endif
#endif

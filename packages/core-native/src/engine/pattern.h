/* SPDX-License-Identifier: MIT */
/*
 * The load generator's payload pattern: byte `off` of message `seq` of
 * connection `id` is a pure function of (seed, id, seq, off), so a receiver
 * recomputes what it expects instead of keeping copies, and a mismatch can
 * name the connection, the message and the offset. The bytes are the same on
 * every host (byte k of a generated word is bits 8k..8k+7).
 */
#ifndef RL_PATTERN_H
#define RL_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the key of message seq of connection id */
uint64_t rl_pat_key(uint64_t seed, uint32_t id, uint64_t seq);
/* message size in [lo, hi], a function of the message key */
uint32_t rl_pat_size(uint64_t key, uint32_t lo, uint32_t hi);
/* write bytes [off, off + n) of the message with this key */
void rl_pat_fill(uint8_t *dst, uint64_t key, uint64_t off, size_t n);

#ifdef __cplusplus
}
#endif
#endif

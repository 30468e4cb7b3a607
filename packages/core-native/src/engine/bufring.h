/* SPDX-License-Identifier: MIT */
/*
 * Provided buffer ring: N equal buffers the kernel picks from for multishot
 * recv. A buffer belongs to the kernel until a CQE hands it to us (bid in
 * cqe->flags); we give it back with rl_buf_put() and publish the batch with
 * rl_buf_commit() once per round.
 */
#ifndef RL_BUFRING_H
#define RL_BUFRING_H

#include "rl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RL_NOBUF 0xffffu

typedef struct rl_bufring {
	struct io_uring_buf_ring *br;
	uint8_t *base;  /* count * size bytes, page aligned */
	size_t map_len; /* bytes mapped for base */
	unsigned count; /* power of two, <= RL_MAX_BUFFERS (abi.h) */
	unsigned mask;
	unsigned size; /* bytes per buffer */
	unsigned bgid;
	unsigned pending; /* puts not yet committed */
	unsigned avail;   /* buffers the kernel may pick (after commit) */
	int registered;
} rl_bufring;

int rl_bufring_init(rl_bufring *b, struct io_uring *ring, unsigned bgid, unsigned count, unsigned size);
void rl_bufring_destroy(rl_bufring *b, struct io_uring *ring);

static inline uint8_t *rl_buf(const rl_bufring *b, unsigned bid) { return b->base + (size_t) bid * b->size; }

static inline void rl_buf_put(rl_bufring *b, unsigned bid)
{
	io_uring_buf_ring_add(b->br, rl_buf(b, bid), b->size, (unsigned short) bid, (int) b->mask,
			      (int) b->pending);
	b->pending++;
}

static inline void rl_buf_commit(rl_bufring *b)
{
	if (b->pending) {
		io_uring_buf_ring_advance(b->br, (int) b->pending);
		b->avail += b->pending;
		b->pending = 0;
	}
}

/* a CQE took buffer bid out of the ring */
static inline void rl_buf_taken(rl_bufring *b) { b->avail--; }

#ifdef __cplusplus
}
#endif
#endif

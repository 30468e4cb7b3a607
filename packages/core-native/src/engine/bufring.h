/* SPDX-License-Identifier: MIT */
/*
 * Provided buffer ring: N equal buffers the kernel picks from for recv. A
 * buffer belongs to the kernel until a CQE hands it to us (bid in
 * cqe->flags); we give it back with rl_buf_put() and publish the batch with
 * rl_buf_commit() once per round.
 *
 * The kernel takes buffers from the ring in FIFO order, so with every free
 * buffer in the ring each recv lands in the buffer returned longest ago: a
 * 1,024 x 16 KiB pool cycles through 16 MiB, and every recv copies into
 * memory that has left the CPU's cache (16 KiB echo: 6.7-7.0 us of server
 * CPU per message with 1,024 buffers, 6.0-6.4 with 64, C epoll 6.2-6.6).
 * So the ring holds only a window of the free buffers; the rest wait on a
 * stack, and each commit tops the ring up from the buffers returned most
 * recently. The window doubles when a round uses more than half of it (or a
 * recv finds the ring empty while buffers wait on the stack) and halves
 * after many rounds that used less than a quarter, never below
 * RL_BUF_MIN_WINDOW (or the pool).
 */
#ifndef RL_BUFRING_H
#define RL_BUFRING_H

#include "rl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RL_NOBUF 0xffffu
#define RL_BUF_MIN_WINDOW 64u
/* consecutive rounds using < 1/4 of the window before it halves */
#define RL_BUF_SHRINK_ROUNDS 4096u

typedef struct rl_bufring {
	struct io_uring_buf_ring *br;
	uint8_t *base;   /* count * size bytes, page aligned */
	size_t map_len;  /* bytes mapped for base */
	uint16_t *spare; /* free buffers not in the ring; the last returned on top */
	unsigned nspare;
	unsigned count; /* power of two, <= RL_MAX_BUFFERS (abi.h) */
	unsigned mask;
	unsigned size; /* bytes per buffer */
	unsigned bgid;
	unsigned avail;  /* buffers in the ring: the kernel may pick them */
	unsigned filled; /* avail after the last commit */
	unsigned window; /* the ring is topped up to this many */
	unsigned min_window;
	unsigned quiet_rounds; /* consecutive commits that used < 1/4 of the window */
	int registered;
} rl_bufring;

int rl_bufring_init(rl_bufring *b, struct io_uring *ring, unsigned bgid, unsigned count, unsigned size);
void rl_bufring_destroy(rl_bufring *b, struct io_uring *ring);
/* top the ring up from the stack (once per round, after the round's puts) */
void rl_buf_commit(rl_bufring *b);

static inline uint8_t *rl_buf(const rl_bufring *b, unsigned bid) { return b->base + (size_t) bid * b->size; }

/* buffers free: in the ring or waiting on the stack */
static inline unsigned rl_buf_free(const rl_bufring *b) { return b->avail + b->nspare; }

static inline void rl_buf_put(rl_bufring *b, unsigned bid) { b->spare[b->nspare++] = (uint16_t) bid; }

/* a CQE took a buffer out of the ring */
static inline void rl_buf_taken(rl_bufring *b) { b->avail--; }

/* double the window (up to the pool); the next commit tops the ring up */
static inline void rl_buf_grow(rl_bufring *b)
{
	if (b->window < b->count)
		b->window <<= 1;
	b->quiet_rounds = 0;
}

/*
 * A recv found the ring empty (-ENOBUFS). Returns 1 when the pool itself is
 * out of buffers; 0 when buffers wait on the stack (the window was too
 * small: it grows, and the next commit refills the ring).
 */
static inline int rl_buf_exhausted(rl_bufring *b)
{
	if (!b->nspare)
		return 1;
	rl_buf_grow(b);
	return 0;
}

#ifdef __cplusplus
}
#endif
#endif

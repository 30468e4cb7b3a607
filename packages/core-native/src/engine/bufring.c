/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "bufring.h"
#include "abi.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int rl_bufring_init(rl_bufring *b, struct io_uring *ring, unsigned bgid, unsigned count, unsigned size)
{
	memset(b, 0, sizeof(*b));
	if (count == 0 || (count & (count - 1)) || count > RL_MAX_BUFFERS || size == 0)
		return -EINVAL;
	size_t ring_bytes = (size_t) count * sizeof(struct io_uring_buf);
	size_t ring_map = (ring_bytes + 4095) & ~(size_t) 4095;
	size_t map_len = ((size_t) count * size + 4095) & ~(size_t) 4095;
	int ret = -ENOMEM;
	uint16_t *spare = malloc(count * sizeof(uint16_t));
	if (!spare)
		return ret;
	void *rp = mmap(NULL, ring_map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rp == MAP_FAILED) {
		ret = -errno;
		goto fail_spare;
	}
	void *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto fail_ring;
	}
	io_uring_buf_ring_init(rp);
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long) rp;
	reg.ring_entries = count;
	reg.bgid = (unsigned short) bgid;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret < 0)
		goto fail_base;
	b->spare = spare;
	b->br = rp;
	b->base = base;
	b->map_len = map_len;
	b->count = count;
	b->mask = count - 1;
	b->size = size;
	b->bgid = bgid;
	b->registered = 1;
	b->min_window = count < RL_BUF_MIN_WINDOW ? count : RL_BUF_MIN_WINDOW;
	b->window = b->min_window;
	/* buffer 0 on top: the ring starts with buffers 0, 1, 2, ... */
	for (unsigned i = count; i-- > 0;)
		rl_buf_put(b, i);
	rl_buf_commit(b);
	return 0;

fail_base:
	munmap(base, map_len);
fail_ring:
	munmap(rp, ring_map);
fail_spare:
	free(spare);
	return ret;
}

/* grow the window when a round used more than half of it; shrink it after
 * RL_BUF_SHRINK_ROUNDS rounds in a row that used less than a quarter */
static void adapt(rl_bufring *b)
{
	unsigned used = b->filled > b->avail ? b->filled - b->avail : 0;
	if (2 * used > b->window)
		rl_buf_grow(b);
	else if (4 * used < b->window && b->window > b->min_window) {
		if (++b->quiet_rounds >= RL_BUF_SHRINK_ROUNDS) {
			b->window >>= 1;
			b->quiet_rounds = 0;
		}
	} else {
		b->quiet_rounds = 0;
	}
}

void rl_buf_commit(rl_bufring *b)
{
	adapt(b);
	unsigned n = b->window > b->avail ? b->window - b->avail : 0;
	if (n > b->nspare)
		n = b->nspare;
	for (unsigned i = 0; i < n; i++) {
		unsigned bid = b->spare[--b->nspare];
		io_uring_buf_ring_add(b->br, rl_buf(b, bid), b->size, (unsigned short) bid, (int) b->mask,
				      (int) i);
	}
	if (n)
		io_uring_buf_ring_advance(b->br, (int) n);
	b->avail += n;
	b->filled = b->avail;
}

void rl_bufring_destroy(rl_bufring *b, struct io_uring *ring)
{
	if (!b->br)
		return;
	if (b->registered && ring)
		io_uring_unregister_buf_ring(ring, (int) b->bgid);
	size_t ring_bytes = (size_t) b->count * sizeof(struct io_uring_buf);
	munmap(b->br, (ring_bytes + 4095) & ~(size_t) 4095);
	munmap(b->base, b->map_len);
	free(b->spare);
	memset(b, 0, sizeof(*b));
}

/* SPDX-License-Identifier: MIT */
/* The payload pattern (see pattern.h): splitmix64 over (seed, id, seq, word). */
#include "pattern.h"

static inline uint64_t mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ull;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z;
}

#define GOLDEN 0x9e3779b97f4a7c15ull

uint64_t rl_pat_key(uint64_t seed, uint32_t id, uint64_t seq)
{
	return mix64(mix64(seed ^ ((uint64_t) id * GOLDEN)) + seq * 0xd1b54a32d192ed03ull + 1);
}

uint32_t rl_pat_size(uint64_t key, uint32_t lo, uint32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint32_t) (mix64(key ^ 0x243f6a8885a308d3ull) % ((uint64_t) hi - lo + 1));
}

/* byte k of a word is bits 8k..8k+7: the same on every host */
static inline void put_word(uint8_t *d, uint64_t w)
{
	for (unsigned k = 0; k < 8; k++)
		d[k] = (uint8_t) (w >> (8 * k));
}

void rl_pat_fill(uint8_t *dst, uint64_t key, uint64_t off, size_t n)
{
	uint64_t wi = off >> 3;
	unsigned b = (unsigned) (off & 7);
	if (b && n) {
		uint64_t w = mix64(key + wi * GOLDEN);
		while (b < 8 && n) {
			*dst++ = (uint8_t) (w >> (8 * b));
			b++;
			n--;
		}
		wi++;
	}
	while (n >= 8) {
		put_word(dst, mix64(key + wi * GOLDEN));
		dst += 8;
		n -= 8;
		wi++;
	}
	if (n) {
		uint64_t w = mix64(key + wi * GOLDEN);
		for (unsigned k = 0; k < n; k++)
			dst[k] = (uint8_t) (w >> (8 * k));
	}
}

/* SPDX-License-Identifier: MIT */
/*
 * Response framing for custom request/response protocols (the load
 * generator's `--send` mode): where does one response end, and is it the
 * one expected?
 *
 *   RL_FRAME_BYTES   every response is exactly `bytes` long
 *   RL_FRAME_DELIM   a response ends with a delimiter of 1..16 bytes (found
 *                    even when it is split across receives: a KMP automaton
 *                    carries the partial match from one feed to the next)
 *   RL_FRAME_PREFIX  a big- or little-endian length of 1, 2 or 4 bytes
 *                    comes first; it counts the bytes after it, or with
 *                    `inclusive` the prefix too
 *
 * Optionally every response must equal `expect` byte for byte; the first
 * differing byte is reported as RL_PE_MISMATCH at its offset. (The expected
 * response must itself be one whole frame, so a response of another length
 * always differs in some byte first.)
 *
 * rl_frame_compile validates a spec once (shared read-only by every
 * connection of a ring); rl_frame per connection holds a few words of
 * state. Feeding follows proto.h. A delimited or length-prefixed frame
 * longer than max_frame is an error, so a peer that never ends a frame
 * cannot keep a connection busy forever.
 *
 *     rl_frame_cfg cfg;  rl_frame_compile(&cfg, &spec);   // once
 *     rl_frame_init(&c->frame, &cfg);                     // per connection
 *     r = rl_frame_feed(&c->frame, p, len, &used);        // as rl_http_feed
 */
#ifndef RL_PROTO_FRAME_H
#define RL_PROTO_FRAME_H

#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rl_frame_kind { RL_FRAME_BYTES = 1, RL_FRAME_DELIM = 2, RL_FRAME_PREFIX = 3 };
enum rl_frame_prefix { RL_LP_U8 = 1, RL_LP_U16BE, RL_LP_U16LE, RL_LP_U32BE, RL_LP_U32LE };

#define RL_FRAME_DELIM_MAX 16

typedef struct rl_frame_spec {
	unsigned kind;        /* RL_FRAME_* */
	uint64_t bytes;       /* BYTES: the response length (>= 1) */
	const uint8_t *delim; /* DELIM: 1..RL_FRAME_DELIM_MAX bytes */
	unsigned delim_len;
	unsigned prefix;       /* PREFIX: RL_LP_* */
	int inclusive;         /* PREFIX: the length counts the prefix itself */
	uint64_t max_frame;    /* DELIM, PREFIX: longest response, prefix and delimiter included (>= 1) */
	const uint8_t *expect; /* optional: the exact response; must outlive the cfg */
	size_t expect_len;
} rl_frame_spec;

/* a compiled spec: read-only once made, shared by connections */
typedef struct rl_frame_cfg {
	uint8_t kind, prefix, prefix_len, inclusive;
	uint8_t delim_len;
	uint8_t delim[RL_FRAME_DELIM_MAX];
	uint8_t fail[RL_FRAME_DELIM_MAX]; /* KMP failure function of delim */
	uint64_t bytes;
	uint64_t max_frame;
	const uint8_t *expect;
	size_t expect_len;
} rl_frame_cfg;

/* 0, or -EINVAL for an inconsistent spec (a length of 0, a delimiter of 0
 * or more than 16 bytes, an unknown prefix, an expected response that no
 * frame of this kind can equal: BYTES with expect_len != bytes) */
int rl_frame_compile(rl_frame_cfg *cfg, const rl_frame_spec *spec);

typedef struct rl_frame {
	const rl_frame_cfg *cfg;
	uint64_t off;     /* bytes of this response consumed */
	uint64_t total;   /* its length once known (BYTES, PREFIX after the prefix), else 0 */
	uint32_t matched; /* DELIM: delimiter bytes matched so far */
	uint32_t pad;
	uint64_t bytes; /* the last completed response's length */
	int err;        /* RL_PE_* once failed, else 0 */
	uint64_t err_off;
} rl_frame;

void rl_frame_init(rl_frame *p, const rl_frame_cfg *cfg);
/* RL_PROTO_MORE, RL_PROTO_DONE (p->bytes) or -RL_PE_* (p->err_off); see proto.h */
int rl_frame_feed(rl_frame *p, const uint8_t *buf, size_t len, size_t *used);
/* RL_PROTO_MORE between responses, -RL_PE_TRUNCATED inside one */
int rl_frame_eof(rl_frame *p);

#ifdef __cplusplus
}
#endif
#endif

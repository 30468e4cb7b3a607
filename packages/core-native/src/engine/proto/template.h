/* SPDX-License-Identifier: MIT */
/*
 * Request builders for the load generator: what a connection sends.
 *
 * Templates are compiled once (the only allocation) into literal runs and
 * placeholders; rendering one request is a few memcpy calls and at most a
 * number or two, written into a buffer the caller provides:
 *
 *   rl_tpl_compile_raw   custom protocols (`--send`): any bytes, with
 *                        "{seq}" (the request's number on its connection)
 *                        and "{conn}" (the connection's id) in decimal
 *   rl_tpl_compile_resp  a Redis command as RESP2 (`--command`, `-t`), like
 *                        redis-benchmark: "__rand__" (or "__rand_int__")
 *                        becomes a 12-digit key number drawn from
 *                        [0, keyspace), "__data__" becomes data_size bytes;
 *                        both have a fixed width, so the bulk lengths are
 *                        computed once and a render only writes digits
 *   rl_http_request      an HTTP/1.1 request: fixed per URL, so it is built
 *                        once and sent as it is
 *
 * Every function returns a length or 0 on success, or a negative errno:
 * -ENOSPC when the output does not fit, -EINVAL for bad input, -ENOMEM.
 */
#ifndef RL_PROTO_TEMPLATE_H
#define RL_PROTO_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rl_tpl_kind { RL_TPL_LIT = 0, RL_TPL_SEQ, RL_TPL_CONN, RL_TPL_RAND };

#define RL_TPL_RAND_DIGITS 12
#define RL_TPL_KEYSPACE_MAX 1000000000000ull /* 10^12: what 12 digits hold */

typedef struct rl_tpl_seg {
	uint32_t kind; /* RL_TPL_* */
	uint32_t len;  /* RL_TPL_LIT: bytes [off, off + len) of rl_tpl.bytes */
	size_t off;
} rl_tpl_seg;

typedef struct rl_tpl {
	uint8_t *bytes; /* literal runs */
	rl_tpl_seg *segs;
	unsigned nsegs;
	uint64_t keyspace; /* RL_TPL_RAND draws from [0, keyspace) */
	size_t max_len;    /* the longest rendering */
	int fixed;         /* 1: every rendering is max_len bytes (no {seq}/{conn}) */
} rl_tpl;

/* what changes from one request to the next */
typedef struct rl_tpl_vars {
	uint64_t seq;  /* {seq} */
	uint64_t conn; /* {conn} */
	uint64_t *rng; /* state of the connection's generator for RL_TPL_RAND (any seed) */
} rl_tpl_vars;

/* src[0, len): "{seq}" and "{conn}" are placeholders, every other byte is
 * sent as it is. 0, -EINVAL (empty) or -ENOMEM. */
int rl_tpl_compile_raw(rl_tpl *t, const uint8_t *src, size_t len);

/* a RESP2 array of argc bulk strings argv[k][0, argl[k]). keyspace is in
 * [1, RL_TPL_KEYSPACE_MAX]; data_size is the length of "__data__". 0,
 * -EINVAL or -ENOMEM. */
int rl_tpl_compile_resp(rl_tpl *t, const uint8_t *const *argv, const size_t *argl, unsigned argc,
			uint64_t keyspace, uint32_t data_size);

/* one request into dst[0, cap): its length, or -ENOSPC */
ssize_t rl_tpl_render(const rl_tpl *t, uint8_t *dst, size_t cap, const rl_tpl_vars *v);

void rl_tpl_free(rl_tpl *t);

/* ---- HTTP/1.1 requests ---- */

typedef struct rl_http_hdr {
	const char *name;  /* a token */
	const char *value; /* blanks, visible characters, no CR or LF */
} rl_http_hdr;

typedef struct rl_http_req {
	const char *method; /* a token: "GET", "POST", ... */
	const char *target; /* the request target: "/path?query" (visible characters) */
	const char *host;   /* the Host field, unless a header sets it */
	const rl_http_hdr *headers;
	unsigned nheaders;
	const uint8_t *body; /* non-NULL: sent with Content-Length (which may be 0) */
	size_t body_len;
	int close; /* add "Connection: close" (unless a header sets Connection) */
} rl_http_req;

/* the request into dst[0, cap): its length, -ENOSPC, or -EINVAL for a
 * method, target, host or header that is not valid HTTP, or a header that
 * sets Content-Length or Transfer-Encoding (the builder frames the body) */
ssize_t rl_http_request(uint8_t *dst, size_t cap, const rl_http_req *r);

#ifdef __cplusplus
}
#endif
#endif

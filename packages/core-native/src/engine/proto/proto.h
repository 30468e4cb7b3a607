/* SPDX-License-Identifier: MIT */
/*
 * What the load generator's protocol parsers share (proto/http, proto/resp,
 * proto/frame): the feed convention and the one list of protocol errors.
 *
 * The feed convention. Each parser keeps a small state struct per
 * connection (no allocation, no copy of the input) and is fed whatever a
 * receive completion delivered, split at any byte:
 *
 *     size_t used;
 *     int r = rl_xxx_feed(&p, buf, len, &used);
 *
 *   r == RL_PROTO_MORE  every byte was consumed (used == len); the response
 *                       is not complete yet: wait for the next receive.
 *   r == RL_PROTO_DONE  one response completed after `used` bytes (<= len);
 *                       its summary is in p.res until the next feed. The
 *                       parser is ready for the next response: feed it
 *                       buf + used (pipelined responses share a buffer).
 *   r <  0              -RL_PE_*: a protocol error. p.err_off is its byte
 *                       offset inside the response (counted from the
 *                       response's first byte); `used` bytes were consumed,
 *                       the failing byte not included. The parser stays
 *                       failed (every later feed returns the same error)
 *                       until it is initialised again.
 *
 * At end of stream (a recv of 0 bytes) call rl_xxx_eof(&p): RL_PROTO_DONE
 * when the close itself ends a response (an HTTP body delimited by close),
 * RL_PROTO_MORE when no response was in progress, -RL_PE_TRUNCATED when one
 * was cut off.
 *
 * Protocol errors are not errnos: they have their own small numbers so a
 * counter table can sit next to the errno table without overlapping, and
 * names and messages from the X-macro below, so the binding can export the
 * same list to TypeScript (as the counter names are).
 */
#ifndef RL_PROTO_H
#define RL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { RL_PROTO_MORE = 0, RL_PROTO_DONE = 1 };

/* X(number, NAME, "message"): numbers are stable, grouped by protocol */
#define RL_PROTO_ERRORS(X)                                                             \
	X(1, TRUNCATED, "connection closed in the middle of a response")               \
	/* HTTP/1.1 */                                                                 \
	X(10, HTTP_STATUS_LINE, "malformed HTTP status line")                          \
	X(11, HTTP_VERSION, "unsupported HTTP version")                                \
	X(12, HTTP_STATUS_CODE, "bad HTTP status code")                                \
	X(13, HTTP_STATUS_TOO_LONG, "HTTP status line too long")                       \
	X(14, HTTP_HEADER_SYNTAX, "malformed HTTP header field")                       \
	X(15, HTTP_HEADER_TOO_LONG, "HTTP header field too long")                      \
	X(16, HTTP_HEADERS_TOO_LARGE, "HTTP header section too large (size or count)") \
	X(17, HTTP_CONTENT_LENGTH, "bad Content-Length")                               \
	X(18, HTTP_TRANSFER_ENCODING, "bad Transfer-Encoding")                         \
	X(19, HTTP_CL_AND_TE, "both Content-Length and Transfer-Encoding")             \
	X(20, HTTP_CHUNK_SIZE, "bad chunk size")                                       \
	X(21, HTTP_CHUNK_LINE, "malformed or overlong chunk size line")                \
	X(22, HTTP_CHUNK_END, "chunk data not followed by CRLF")                       \
	X(23, HTTP_TOO_MANY_INTERIM, "too many 1xx interim responses")                 \
	/* RESP2 */                                                                    \
	X(30, RESP_TYPE, "unexpected RESP type byte")                                  \
	X(31, RESP_LINE, "malformed RESP line (CR without LF, or LF without CR)")      \
	X(32, RESP_LINE_TOO_LONG, "RESP line too long")                                \
	X(33, RESP_INTEGER, "malformed RESP integer or length")                        \
	X(34, RESP_BULK_TOO_LARGE, "RESP bulk string longer than the limit")           \
	X(35, RESP_BULK_END, "RESP bulk string not followed by CRLF")                  \
	X(36, RESP_DEPTH, "RESP arrays nested deeper than the limit")                  \
	X(37, RESP_ELEMENTS, "more RESP array elements than the limit")                \
	/* custom framing */                                                           \
	X(40, FRAME_TOO_LARGE, "frame longer than the limit")                          \
	X(41, FRAME_LENGTH, "length prefix smaller than the prefix itself")            \
	X(42, MISMATCH, "response differs from the expected bytes")

#define RL_PE_ENUM(n, name, msg) RL_PE_##name = n,
enum rl_proto_error { RL_PROTO_ERRORS(RL_PE_ENUM) RL_PE_LIMIT = 64 };
#undef RL_PE_ENUM

/* Character classes of RFC 9110 5.6.2, for the HTTP parser and the
 * request builder: token characters, digits, hex digits, and what may
 * appear in a field value (blanks, visible characters, obs-text). */
enum { RL_C_TCHAR = 1, RL_C_DIGIT = 2, RL_C_HEX = 4, RL_C_VALUE = 8 };
extern const uint8_t rl_proto_ctype[256];

static inline uint8_t rl_proto_lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t) (c + 32) : c; }

/* A parser failed with RL_PE_* `e` at byte `off` of the response, after
 * consuming `used` bytes of this feed: record it; returns -e. */
static inline int rl_proto_fail(int *err, uint64_t *err_off, int e, uint64_t off, size_t used, size_t *usedp)
{
	*err = e;
	*err_off = off;
	*usedp = used;
	return -e;
}

/* The stream ended `off` bytes into a response (0: between responses). */
static inline int rl_proto_eof(int *err, uint64_t *err_off, uint64_t off)
{
	if (*err)
		return -*err;
	if (!off)
		return RL_PROTO_MORE;
	*err = RL_PE_TRUNCATED;
	*err_off = off;
	return -RL_PE_TRUNCATED;
}

/* "HTTP_CHUNK_SIZE" for RL_PE_HTTP_CHUNK_SIZE or its negation; NULL if unknown */
const char *rl_proto_err_name(int err);
/* "bad chunk size"; NULL if unknown */
const char *rl_proto_err_msg(int err);

#ifdef __cplusplus
}
#endif
#endif

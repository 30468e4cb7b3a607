/* SPDX-License-Identifier: MIT */
/*
 * An incremental HTTP/1.1 response parser for the load generator.
 *
 * Feed it the bytes of a connection as they arrive (see proto.h for the
 * convention); it keeps ~100 bytes of state per connection, copies nothing
 * and never allocates. What it understands (RFC 9112 section 6.3, message
 * body length):
 *
 *   - the status line: HTTP/1.0 or HTTP/1.x, a three-digit status 100-599,
 *     an optional reason phrase; CRLF or a bare LF ends a line;
 *   - header fields, names matched without regard to case: Content-Length
 *     (a list of equal values is one value), Transfer-Encoding (the last
 *     coding decides: chunked, or a body delimited by close), Connection
 *     (close, keep-alive); every other field is checked for syntax and
 *     skipped;
 *   - bodies: none for a HEAD response (p.head), 1xx, 204 and 304; chunked
 *     (chunk extensions and trailer fields skipped); Content-Length; else
 *     delimited by the connection's close (rl_http_eof completes it);
 *   - 1xx interim responses (100 Continue, 103 Early Hints) are consumed as
 *     part of the final response that follows; 101 ends HTTP on the
 *     connection and is reported as a final response with keep_alive 0;
 *   - keep-alive: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
 *     "Connection: keep-alive", never after a body delimited by close.
 *
 * Limits (rl_http_cfg) bound a hostile peer: a line longer than max_line, a
 * header section over max_header_bytes or max_headers fields, more than
 * max_interim 1xx responses are errors, so an endless header cannot make
 * the client buffer or spin. Body bytes are skipped in bulk.
 *
 * Use in a client (one rl_http per connection, one rl_http_cfg per ring):
 *
 *     rl_http_init(&c->http, &cl->http_cfg);      // when the socket connects
 *     c->http.head = is_head_request;             // before its response starts
 *     on recv:  while (len) {
 *                   int r = rl_http_feed(&c->http, p, len, &used);
 *                   p += used; len -= used;
 *                   if (r == RL_PROTO_MORE) break;
 *                   if (r < 0) { protocol error r at c->http.err_off; close; break; }
 *                   response done: c->http.res.status, .bytes, .keep_alive ...
 *                   if (!c->http.res.keep_alive) { reconnect; break; }
 *               }
 *     on EOF:   r = rl_http_eof(&c->http);  // DONE: close-delimited body ended
 */
#ifndef RL_PROTO_HTTP_H
#define RL_PROTO_HTTP_H

#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_http_cfg {
	uint32_t max_line;         /* status line, one field line, one chunk size line */
	uint32_t max_header_bytes; /* a whole header (or trailer) section */
	uint32_t max_headers;      /* field lines in a header (or trailer) section */
	uint32_t max_interim;      /* 1xx responses before the final one */
} rl_http_cfg;

/* 8 KiB lines, 64 KiB and 128 fields per section, 8 interim responses */
void rl_http_cfg_default(rl_http_cfg *cfg);

/* how the body of a response was delimited */
enum rl_http_body { RL_HTTP_BODY_NONE = 0, RL_HTTP_BODY_LENGTH, RL_HTTP_BODY_CHUNKED, RL_HTTP_BODY_CLOSE };

/* a completed response */
typedef struct rl_http_res {
	uint16_t status;    /* of the final response */
	uint8_t minor;      /* HTTP/1.<minor> */
	uint8_t keep_alive; /* 1: the connection may carry the next response */
	uint8_t body_kind;  /* RL_HTTP_BODY_* */
	uint8_t interim;    /* 1xx responses consumed before it */
	uint16_t pad;
	uint64_t bytes; /* on the wire, interim responses included */
	uint64_t body;  /* payload bytes (chunked: after decoding) */
} rl_http_res;

typedef struct rl_http {
	const rl_http_cfg *cfg;
	uint8_t head; /* caller: the next response answers a HEAD request */
	/* working state of the response being parsed (private) */
	uint8_t state;
	uint8_t vstate; /* inside a field value or version */
	uint8_t kind;   /* field being parsed: which known header */
	uint8_t cand;   /* known names the field name may still be */
	uint8_t tok;    /* known tokens the current value token may still be */
	uint8_t interim;
	uint8_t minor;
	uint16_t status;
	uint16_t flags;
	uint32_t line;    /* bytes of the current line */
	uint32_t nfields; /* field lines in this section */
	uint32_t sect;    /* bytes of this header or trailer section */
	uint32_t tok_len;
	uint64_t cl;     /* Content-Length */
	uint64_t num;    /* number being parsed (Content-Length element, chunk size) */
	uint64_t remain; /* body or chunk bytes still to come */
	uint64_t body;
	uint64_t off; /* bytes of this response consumed */
	/* results */
	rl_http_res res;  /* the last completed response */
	int err;          /* RL_PE_* once failed, else 0 */
	uint64_t err_off; /* offset of the error inside its response */
} rl_http;

void rl_http_init(rl_http *p, const rl_http_cfg *cfg);
/* RL_PROTO_MORE, RL_PROTO_DONE (p->res) or -RL_PE_* (p->err_off); see proto.h */
int rl_http_feed(rl_http *p, const uint8_t *buf, size_t len, size_t *used);
/* the peer closed: RL_PROTO_DONE (a body delimited by close ended; p->res),
 * RL_PROTO_MORE (between responses) or -RL_PE_TRUNCATED */
int rl_http_eof(rl_http *p);
/* 1 while a response has begun and not completed */
static inline int rl_http_busy(const rl_http *p) { return p->off != 0 && !p->err; }

#ifdef __cplusplus
}
#endif
#endif

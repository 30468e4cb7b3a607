/* SPDX-License-Identifier: MIT */
/*
 * An incremental RESP2 reply parser for the load generator (Redis and
 * everything that speaks its protocol).
 *
 * Feed it a connection's bytes as they arrive (proto.h has the
 * convention); one rl_resp per connection, no allocation, no copy. Replies:
 *
 *   +simple string\r\n     -ERR error message\r\n     :integer\r\n
 *   $len\r\n<len bytes>\r\n   ($-1\r\n: null)
 *   *count\r\n<count replies>  (*-1\r\n: null; arrays nest)
 *
 * A completed reply is summarised in p.res: the top-level type, null or
 * not, whether it is an error reply and its first word ("ERR",
 * "WRONGTYPE", or "OK"/"PONG" for a simple string), the integer (or the
 * bulk length, or the array count), error replies nested in arrays, and
 * its size. Nothing else of the payload is kept.
 *
 * A hostile or confused server cannot make it allocate or spin: bulk
 * lengths over max_bulk, arrays nested deeper than max_depth, more than
 * max_elements array elements in one reply and lines over max_line are
 * protocol errors, and a byte that starts no RESP2 type (an HTTP answer,
 * a RESP3 type) is one at once.
 *
 * Use in a client, per connection:
 *
 *     rl_resp_init(&c->resp, &cl->resp_cfg);
 *     on recv:  while (len) { r = rl_resp_feed(&c->resp, p, len, &used);
 *                             p += used; len -= used;
 *                             if (r == RL_PROTO_MORE) break;
 *                             if (r < 0) { error r at c->resp.err_off; close; break; }
 *                             reply done: check rl_resp_type_bit(&c->resp.res)
 *                             against the command's expected mask; an
 *                             error reply (res.is_error) counts as an error }
 *     on EOF:   rl_resp_eof(&c->resp) < 0: a reply was cut off
 */
#ifndef RL_PROTO_RESP_H
#define RL_PROTO_RESP_H

#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* deepest nesting the state struct can hold (max_depth is at most this) */
#define RL_RESP_DEPTH_MAX 16

typedef struct rl_resp_cfg {
	uint64_t max_bulk;     /* longest bulk string */
	uint32_t max_depth;    /* arrays inside arrays; the top-level array is depth 1 */
	uint32_t max_elements; /* array elements in one reply, nested ones included */
	uint32_t max_line;     /* a simple string, error or number line */
} rl_resp_cfg;

/* 512 MiB bulks (Redis's proto-max-bulk-len), depth 8, 1M elements, 64 KiB lines */
void rl_resp_cfg_default(rl_resp_cfg *cfg);

/* a reply's kind as one bit, for "which replies does this command expect" masks */
enum {
	RL_RESP_T_SIMPLE = 1 << 0,
	RL_RESP_T_ERROR = 1 << 1,
	RL_RESP_T_INTEGER = 1 << 2,
	RL_RESP_T_BULK = 1 << 3,
	RL_RESP_T_NULL_BULK = 1 << 4,
	RL_RESP_T_ARRAY = 1 << 5,
	RL_RESP_T_NULL_ARRAY = 1 << 6,
};

#define RL_RESP_WORD 16
/* the first line of a simple string or error kept for a report (an error's
 * reason: "ERR value is not an integer or out of range"), NUL included */
#define RL_RESP_LINE 96

typedef struct rl_resp_reply {
	char type;        /* '+', '-', ':', '$' or '*' */
	uint8_t is_null;  /* $-1 or *-1 */
	uint8_t is_error; /* type '-' */
	uint8_t word_len;
	char word
		[RL_RESP_WORD]; /* first word of a simple string or error, NUL-terminated, at most 15 bytes */
	uint8_t line_len;
	char line
		[RL_RESP_LINE]; /* the first line of a simple string or error, NUL-terminated, cut at 95 bytes */
	int64_t value;          /* ':' the integer; '$' the length; '*' the count; -1 for null */
	uint32_t nested_errors; /* error replies inside arrays */
	uint32_t pad;
	uint64_t elements; /* array elements, nested ones included */
	uint64_t bytes;    /* on the wire */
} rl_resp_reply;

typedef struct rl_resp {
	const rl_resp_cfg *cfg;
	/* working state (private) */
	uint8_t state;
	uint8_t depth;     /* arrays open */
	uint8_t type;      /* type byte of the value being parsed */
	uint8_t neg;       /* the number has a minus sign */
	uint8_t ndig;      /* digits of the number */
	uint8_t word_open; /* still inside the first word */
	uint16_t pad;
	uint32_t line;                    /* bytes of the current line */
	uint32_t left[RL_RESP_DEPTH_MAX]; /* elements still due, per open array */
	uint64_t num;                     /* magnitude of the number being parsed */
	uint64_t remain;                  /* bulk bytes still to come */
	uint64_t off;                     /* bytes of this reply consumed */
	rl_resp_reply cur;                /* the reply being parsed */
	/* results */
	rl_resp_reply res; /* the last completed reply */
	int err;           /* RL_PE_* once failed, else 0 */
	uint64_t err_off;
} rl_resp;

void rl_resp_init(rl_resp *p, const rl_resp_cfg *cfg);
/* RL_PROTO_MORE, RL_PROTO_DONE (p->res) or -RL_PE_* (p->err_off); see proto.h */
int rl_resp_feed(rl_resp *p, const uint8_t *buf, size_t len, size_t *used);
/* RL_PROTO_MORE between replies, -RL_PE_TRUNCATED inside one */
int rl_resp_eof(rl_resp *p);

static inline unsigned rl_resp_type_bit(const rl_resp_reply *r)
{
	switch (r->type) {
	case '+':
		return RL_RESP_T_SIMPLE;
	case '-':
		return RL_RESP_T_ERROR;
	case ':':
		return RL_RESP_T_INTEGER;
	case '$':
		return r->is_null ? RL_RESP_T_NULL_BULK : RL_RESP_T_BULK;
	default:
		return r->is_null ? RL_RESP_T_NULL_ARRAY : RL_RESP_T_ARRAY;
	}
}

#ifdef __cplusplus
}
#endif
#endif

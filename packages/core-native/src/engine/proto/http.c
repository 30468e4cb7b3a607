/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 response parser (see http.h). One byte-at-a-time state
 * machine for the line-oriented parts (status line, fields, chunk size
 * lines), so a split at any byte needs no buffering; body bytes, which are
 * most of the traffic, are skipped in bulk. The few fields that decide
 * framing are recognised while their name streams past (a candidate mask)
 * and their values are parsed as they stream past too.
 */
#include "http.h"

#include <string.h>

/* line states first: everything up to S_CHUNK_LF counts against max_line */
enum {
	S_VERSION = 0, /* "HTTP/1.x " (vstate: index) */
	S_CODE,        /* three digits (vstate: digits seen) */
	S_AFTER_CODE,  /* SP before the reason, or the line end */
	S_REASON,
	S_STATUS_LF,
	S_FIELD, /* start of a field line or of the empty line */
	S_NAME,
	S_OWS, /* after the colon */
	S_VALUE,
	S_FIELD_LF,
	S_END_LF, /* the CR of the empty line was seen */
	S_CHUNK_SIZE,
	S_CHUNK_BWS, /* blanks after the size */
	S_CHUNK_EXT,
	S_CHUNK_LF,
	/* not lines */
	S_CHUNK_DATA,
	S_CHUNK_CR,
	S_CHUNK_DATA_LF,
	S_BODY,
	S_CLOSE_BODY,
};

enum {
	F_CL = 1 << 0,         /* Content-Length seen */
	F_TE = 1 << 1,         /* Transfer-Encoding seen */
	F_TE_CHUNKED = 1 << 2, /* its last coding so far is chunked */
	F_CHUNKED_SEEN = 1 << 3,
	F_CLOSE = 1 << 4,     /* Connection: close */
	F_KEEPALIVE = 1 << 5, /* Connection: keep-alive */
	F_TRAILER = 1 << 6,   /* the field lines are trailers */
	F_DIGIT = 1 << 7,     /* the chunk size has a digit */
};

/* the fields that decide framing; K_OTHER is skipped */
enum { K_OTHER = 0, K_CL = 1, K_TE = 2, K_CONN = 3 };
static const char *const NAMES[4] = { NULL, "content-length", "transfer-encoding", "connection" };
static const uint8_t NAME_LEN[4] = { 0, 14, 17, 10 };
#define ALL_NAMES ((1u << K_CL) | (1u << K_TE) | (1u << K_CONN))
/* tokens that matter in list values: bit 0 the first, bit 1 the second */
static const char *const TOKS[4][2] = {
	{ NULL, NULL }, { NULL, NULL }, { "chunked", NULL }, { "close", "keep-alive" }
};
static const uint8_t TOK_LEN[4][2] = { { 0, 0 }, { 0, 0 }, { 7, 0 }, { 5, 10 } };

static inline unsigned hexval(uint8_t c)
{
	return c <= '9' ? (unsigned) (c - '0') : (unsigned) (rl_proto_lower(c) - 'a' + 10);
}

void rl_http_cfg_default(rl_http_cfg *cfg)
{
	cfg->max_line = 8192;
	cfg->max_header_bytes = 65536;
	cfg->max_headers = 128;
	cfg->max_interim = 8;
}

/* forget the header section (a new response, or the final one after a 1xx) */
static void reset_head(rl_http *p)
{
	p->state = S_VERSION;
	p->vstate = 0;
	p->kind = K_OTHER;
	p->flags = 0;
	p->line = 0;
	p->nfields = 0;
	p->sect = 0;
	p->cl = 0;
	p->num = 0;
	p->remain = 0;
	p->body = 0;
}

static void reset_response(rl_http *p)
{
	reset_head(p);
	p->interim = 0;
	p->off = 0;
}

void rl_http_init(rl_http *p, const rl_http_cfg *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	reset_response(p);
}

static int fail(rl_http *p, int err, size_t i, size_t *used)
{
	return rl_proto_fail(&p->err, &p->err_off, err, p->off, i, used);
}

/* RFC 9112 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive" */
static int keep_alive(const rl_http *p)
{
	return !(p->flags & F_CLOSE) && (p->minor || (p->flags & F_KEEPALIVE));
}

static void complete(rl_http *p, uint8_t body_kind, int keep)
{
	p->res.status = p->status;
	p->res.minor = p->minor;
	p->res.keep_alive = (uint8_t) keep;
	p->res.body_kind = body_kind;
	p->res.interim = p->interim;
	p->res.bytes = p->off;
	p->res.body = p->body;
	reset_response(p);
}

/* ---- field values: Content-Length, Transfer-Encoding, Connection ---- */

/* a list token ended: apply it */
static int token_end(rl_http *p)
{
	if (p->kind == K_TE) {
		int chunked = (p->tok & 1) && p->tok_len == TOK_LEN[K_TE][0];
		/* chunked applied twice is not a framing a recipient can trust */
		if (chunked && (p->flags & F_CHUNKED_SEEN))
			return RL_PE_HTTP_TRANSFER_ENCODING;
		p->flags |= F_TE;
		if (chunked)
			p->flags |= F_TE_CHUNKED | F_CHUNKED_SEEN;
		else
			p->flags &= (uint16_t) ~F_TE_CHUNKED;
	} else if (p->kind == K_CONN) {
		if ((p->tok & 1) && p->tok_len == TOK_LEN[K_CONN][0])
			p->flags |= F_CLOSE;
		else if ((p->tok & 2) && p->tok_len == TOK_LEN[K_CONN][1])
			p->flags |= F_KEEPALIVE;
	}
	return 0;
}

/* a Content-Length element ended: every element must say the same */
static int length_end(rl_http *p)
{
	if ((p->flags & F_CL) && p->cl != p->num)
		return RL_PE_HTTP_CONTENT_LENGTH;
	p->flags |= F_CL;
	p->cl = p->num;
	p->num = 0;
	return 0;
}

/* vstate inside a list value */
enum { V_START = 0, V_TOKEN, V_AFTER, V_PARAM };

/* one byte of a known field's value (not CR or LF) */
static int value_byte(rl_http *p, uint8_t c)
{
	unsigned t = rl_proto_ctype[c];
	if (p->kind == K_CL) {
		if (t & RL_C_DIGIT) {
			if (p->vstate == V_AFTER)
				return RL_PE_HTTP_CONTENT_LENGTH;
			if (p->num > (UINT64_MAX >> 8) / 10) /* 2^56: far beyond any body */
				return RL_PE_HTTP_CONTENT_LENGTH;
			p->num = p->num * 10 + (uint64_t) (c - '0');
			p->vstate = V_TOKEN;
		} else if (c == ' ' || c == '\t') {
			if (p->vstate == V_TOKEN)
				p->vstate = V_AFTER;
		} else if (c == ',') {
			if (p->vstate == V_START)
				return RL_PE_HTTP_CONTENT_LENGTH;
			int e = length_end(p);
			if (e)
				return e;
			p->vstate = V_START;
		} else {
			return RL_PE_HTTP_CONTENT_LENGTH;
		}
		return 0;
	}
	/* Transfer-Encoding and Connection: comma lists of tokens; a TE coding
	 * may carry ";param" parts, which are skipped */
	int bad = p->kind == K_TE ? RL_PE_HTTP_TRANSFER_ENCODING : RL_PE_HTTP_HEADER_SYNTAX;
	if (p->vstate == V_PARAM) {
		if (c == ',')
			p->vstate = V_START;
		else if (!(t & RL_C_VALUE))
			return bad;
		return 0;
	}
	if (t & RL_C_TCHAR) {
		if (p->vstate == V_AFTER)
			return bad;
		if (p->vstate == V_START) {
			p->tok = 3;
			p->tok_len = 0;
		}
		for (unsigned k = 0; k < 2; k++) {
			const char *w = TOKS[p->kind][k];
			if ((p->tok & (1u << k)) && (!w || p->tok_len >= TOK_LEN[p->kind][k] ||
						     rl_proto_lower(c) != (uint8_t) w[p->tok_len]))
				p->tok &= (uint8_t) ~(1u << k);
		}
		p->tok_len++;
		p->vstate = V_TOKEN;
		return 0;
	}
	if (c == ' ' || c == '\t') {
		if (p->vstate == V_TOKEN)
			p->vstate = V_AFTER;
		return 0;
	}
	if (c == ',' || (c == ';' && p->kind == K_TE)) {
		if (p->vstate == V_TOKEN || p->vstate == V_AFTER) {
			int e = token_end(p);
			if (e)
				return e;
		} else if (c == ';') {
			return bad; /* a parameter without a coding */
		}
		p->vstate = c == ',' ? V_START : V_PARAM;
		return 0;
	}
	return bad;
}

/* the line of a field ended */
static int field_end(rl_http *p)
{
	int e = 0;
	if (p->kind == K_CL)
		e = p->vstate == V_START ? RL_PE_HTTP_CONTENT_LENGTH : length_end(p);
	else if (p->kind != K_OTHER && (p->vstate == V_TOKEN || p->vstate == V_AFTER))
		e = token_end(p);
	if (e)
		return e;
	p->sect += p->line;
	if (++p->nfields > p->cfg->max_headers || p->sect > p->cfg->max_header_bytes)
		return RL_PE_HTTP_HEADERS_TOO_LARGE;
	p->state = S_FIELD;
	p->line = 0;
	return 0;
}

/* a chunk size line follows (the first, or after a chunk's data and CRLF) */
static void next_chunk(rl_http *p)
{
	p->state = S_CHUNK_SIZE;
	p->num = 0;
	p->flags &= (uint16_t) ~F_DIGIT;
	p->line = 0;
}

/* the empty line ended a header (or trailer) section: RL_PROTO_DONE, 0 to
 * go on, or an error */
static int section_end(rl_http *p)
{
	p->line = 0;
	if (p->flags & F_TRAILER) {
		complete(p, RL_HTTP_BODY_CHUNKED, keep_alive(p));
		return RL_PROTO_DONE;
	}
	if (p->status < 200 && p->status != 101) {
		if (++p->interim > p->cfg->max_interim)
			return -RL_PE_HTTP_TOO_MANY_INTERIM;
		reset_head(p);
		return 0;
	}
	int keep = keep_alive(p);
	if (p->status == 101) {
		complete(p, RL_HTTP_BODY_NONE, 0); /* the connection now speaks something else */
		return RL_PROTO_DONE;
	}
	if (p->head || p->status == 204 || p->status == 304) {
		complete(p, RL_HTTP_BODY_NONE, keep);
		return RL_PROTO_DONE;
	}
	if (p->flags & F_TE) {
		if (p->flags & F_CL)
			return -RL_PE_HTTP_CL_AND_TE;
		if (!p->minor) /* RFC 9112 6.1: faulty framing in an HTTP/1.0 message */
			return -RL_PE_HTTP_TRANSFER_ENCODING;
		if (p->flags & F_TE_CHUNKED) {
			next_chunk(p);
		} else {
			p->state = S_CLOSE_BODY;
		}
		return 0;
	}
	if (p->flags & F_CL) {
		if (!p->cl) {
			complete(p, RL_HTTP_BODY_LENGTH, keep);
			return RL_PROTO_DONE;
		}
		p->remain = p->cl;
		p->state = S_BODY;
		return 0;
	}
	p->state = S_CLOSE_BODY;
	return 0;
}

/* a chunk size line ended */
static void chunk_line_end(rl_http *p)
{
	p->line = 0;
	if (p->num) {
		p->remain = p->num;
		p->state = S_CHUNK_DATA;
	} else {
		/* the last chunk: trailer fields follow, then the empty line */
		p->flags |= F_TRAILER;
		p->nfields = 0;
		p->sect = 0;
		p->state = S_FIELD;
	}
}

/* of n bytes, how many the current line may still take (the byte being
 * handled is already counted): a run stops there, and the byte after it
 * meets the max_line check */
static inline size_t room(const rl_http *p, size_t n)
{
	size_t r = p->cfg->max_line - p->line;
	return n < r ? n : r;
}

/* how many bytes from b[0] (at most n) are in class `mask` */
static inline size_t run(const uint8_t *b, size_t n, unsigned mask)
{
	size_t k = 0;
	while (k < n && (rl_proto_ctype[b[k]] & mask))
		k++;
	return k;
}

/* which framing field a whole name is */
static unsigned known_name(const uint8_t *name, size_t n)
{
	for (unsigned k = K_CL; k <= K_CONN; k++) {
		if (n != NAME_LEN[k])
			continue;
		size_t j = 0;
		while (j < n && rl_proto_lower(name[j]) == (uint8_t) NAMES[k][j])
			j++;
		if (j == n)
			return k;
	}
	return K_OTHER;
}

/* the byte at b[0] (already counted) starts a run of class `mask`:
 * consume the run (as much of it as the line may hold); its length */
static size_t take_run(rl_http *p, const uint8_t *b, size_t n, unsigned mask)
{
	size_t k = 1 + run(b + 1, room(p, n - 1), mask);
	p->off += k;
	p->line += (uint32_t) (k - 1);
	return k;
}

/* The states where CR or LF may end a line, and the state that takes its
 * LF (the line's own check of it). The chunk size line ends only after a
 * digit. */
static const uint8_t LF_STATE[S_CLOSE_BODY + 1] = {
	[S_AFTER_CODE] = S_STATUS_LF, [S_REASON] = S_STATUS_LF,   [S_FIELD] = S_END_LF,
	[S_OWS] = S_FIELD_LF,         [S_VALUE] = S_FIELD_LF,     [S_CHUNK_SIZE] = S_CHUNK_LF,
	[S_CHUNK_BWS] = S_CHUNK_LF,   [S_CHUNK_EXT] = S_CHUNK_LF, [S_CHUNK_CR] = S_CHUNK_DATA_LF,
};

/* the LF states: what anything but LF there is */
static const uint8_t LF_ERR[S_CLOSE_BODY + 1] = {
	[S_STATUS_LF] = RL_PE_HTTP_STATUS_LINE,   [S_FIELD_LF] = RL_PE_HTTP_HEADER_SYNTAX,
	[S_END_LF] = RL_PE_HTTP_HEADER_SYNTAX,    [S_CHUNK_LF] = RL_PE_HTTP_CHUNK_LINE,
	[S_CHUNK_DATA_LF] = RL_PE_HTTP_CHUNK_END,
};

static int too_long(const rl_http *p)
{
	if (p->state <= S_STATUS_LF)
		return RL_PE_HTTP_STATUS_TOO_LONG;
	if (p->state <= S_END_LF)
		return RL_PE_HTTP_HEADER_TOO_LONG;
	return RL_PE_HTTP_CHUNK_LINE;
}

int rl_http_feed(rl_http *p, const uint8_t *buf, size_t len, size_t *used)
{
	static const char VERSION[] = "HTTP/1.";
	size_t i = 0;
	int e;
	if (p->err) {
		*used = 0;
		return -p->err;
	}
	while (i < len) {
		/* bulk states: no per-byte work */
		switch (p->state) {
		case S_BODY:
		case S_CHUNK_DATA: {
			uint64_t n = len - i;
			if (n > p->remain)
				n = p->remain;
			i += n;
			p->off += n;
			p->body += n;
			p->remain -= n;
			if (!p->remain) {
				if (p->state == S_CHUNK_DATA) {
					p->state = S_CHUNK_CR;
				} else {
					complete(p, RL_HTTP_BODY_LENGTH, keep_alive(p));
					*used = i;
					return RL_PROTO_DONE;
				}
			}
			continue;
		}
		case S_CLOSE_BODY:
			p->off += len - i;
			p->body += len - i;
			i = len;
			continue;
		default:
			break;
		}

		uint8_t c = buf[i];
		if (p->state <= S_CHUNK_LF && ++p->line > p->cfg->max_line)
			return fail(p, too_long(p), i, used);
		if (LF_ERR[p->state] && c != '\n')
			return fail(p, LF_ERR[p->state], i, used);
		/* a CR waits for its LF in the line's LF state; a bare LF (accepted,
		 * RFC 9112 2.2) is taken there at once */
		if ((c == '\r' || c == '\n') && LF_STATE[p->state] &&
		    (p->state != S_CHUNK_SIZE || (p->flags & F_DIGIT))) {
			p->state = LF_STATE[p->state];
			if (c == '\r')
				goto next;
		}
		switch (p->state) {
		case S_VERSION:
			if (p->vstate < 7) {
				if (c != (uint8_t) VERSION[p->vstate]) {
					/* "HTTP/2 200" is a version we do not speak; anything else is not HTTP/1 */
					int v = p->vstate == 5 && (rl_proto_ctype[c] & RL_C_DIGIT);
					return fail(p, v ? RL_PE_HTTP_VERSION : RL_PE_HTTP_STATUS_LINE, i,
						    used);
				}
				p->vstate++;
			} else if (p->vstate == 7) {
				if (!(rl_proto_ctype[c] & RL_C_DIGIT))
					return fail(p, RL_PE_HTTP_STATUS_LINE, i, used);
				p->minor = (uint8_t) (c - '0');
				p->vstate++;
			} else {
				if (c != ' ')
					return fail(p, RL_PE_HTTP_STATUS_LINE, i, used);
				p->state = S_CODE;
				p->vstate = 0;
				p->status = 0;
			}
			break;
		case S_CODE:
			if (!(rl_proto_ctype[c] & RL_C_DIGIT))
				return fail(p, RL_PE_HTTP_STATUS_CODE, i, used);
			p->status = (uint16_t) (p->status * 10 + (c - '0'));
			if (++p->vstate == 3) {
				if (p->status < 100 || p->status > 599)
					return fail(p, RL_PE_HTTP_STATUS_CODE, i, used);
				p->state = S_AFTER_CODE;
			}
			break;
		case S_AFTER_CODE:
			if (c == ' ')
				p->state = S_REASON;
			else
				return fail(p,
					    (rl_proto_ctype[c] & RL_C_DIGIT) ? RL_PE_HTTP_STATUS_CODE
									     : RL_PE_HTTP_STATUS_LINE,
					    i, used);
			break;
		case S_REASON:
			if (rl_proto_ctype[c] & RL_C_VALUE) {
				i += take_run(p, buf + i, len - i, RL_C_VALUE);
				continue;
			}
			return fail(p, RL_PE_HTTP_STATUS_LINE, i, used);
		case S_STATUS_LF:
			p->state = S_FIELD;
			p->line = 0;
			break;
		case S_FIELD: {
			/* obs-fold (a line starting with a blank) is not a name */
			if (!(rl_proto_ctype[c] & RL_C_TCHAR))
				return fail(p, RL_PE_HTTP_HEADER_SYNTAX, i, used);
			/* the whole name and its colon are here (the usual case):
			 * match it at once; else byte by byte in S_NAME */
			size_t k = 1 + run(buf + i + 1, room(p, len - i - 1), RL_C_TCHAR);
			if (i + k < len && buf[i + k] == ':' && p->line + k <= p->cfg->max_line) {
				p->kind = (p->flags & F_TRAILER) ? K_OTHER : (uint8_t) known_name(buf + i, k);
				p->vstate = V_START;
				p->num = 0;
				p->state = S_OWS;
				i += k + 1;
				p->off += k + 1;
				p->line += (uint32_t) k; /* the first byte is counted; the colon too now */
				continue;
			}
			p->state = S_NAME;
			p->cand = (p->flags & F_TRAILER) ? 0 : ALL_NAMES;
			p->tok_len = 0;
			goto name_byte;
		}
		case S_NAME:
			if (c == ':') {
				p->kind = K_OTHER;
				for (unsigned k = K_CL; k <= K_CONN; k++)
					if ((p->cand & (1u << k)) && p->tok_len == NAME_LEN[k])
						p->kind = (uint8_t) k;
				p->vstate = V_START;
				p->num = 0;
				p->state = S_OWS;
				break;
			}
			if (!(rl_proto_ctype[c] & RL_C_TCHAR))
				return fail(p, RL_PE_HTTP_HEADER_SYNTAX, i, used);
			if (!p->cand) {
				i += take_run(p, buf + i, len - i, RL_C_TCHAR);
				continue;
			}
name_byte:
			if (p->cand) {
				for (unsigned k = K_CL; k <= K_CONN; k++)
					if ((p->cand & (1u << k)) &&
					    (p->tok_len >= NAME_LEN[k] ||
					     rl_proto_lower(c) != (uint8_t) NAMES[k][p->tok_len]))
						p->cand &= (uint8_t) ~(1u << k);
			}
			p->tok_len++;
			break;
		case S_OWS:
			if (c == ' ' || c == '\t')
				break;
			p->state = S_VALUE;
			/* fall through */
		case S_VALUE:
			if (p->kind == K_OTHER) {
				if (!(rl_proto_ctype[c] & RL_C_VALUE))
					return fail(p, RL_PE_HTTP_HEADER_SYNTAX, i, used);
				i += take_run(p, buf + i, len - i, RL_C_VALUE);
				continue;
			} else if ((e = value_byte(p, c)) != 0) {
				return fail(p, e, i, used);
			}
			break;
		case S_FIELD_LF:
			if ((e = field_end(p)) != 0)
				return fail(p, e, i, used);
			break;
		case S_END_LF:
			if ((e = section_end(p)) != 0)
				goto section_done;
			break;
		case S_CHUNK_SIZE:
			if (rl_proto_ctype[c] & RL_C_HEX) {
				/* 15 significant hex digits: 2^60, far beyond any chunk */
				if (p->num >> 56)
					return fail(p, RL_PE_HTTP_CHUNK_SIZE, i, used);
				p->num = (p->num << 4) | hexval(c);
				p->flags |= F_DIGIT;
				break;
			}
			if (!(p->flags & F_DIGIT))
				return fail(p, RL_PE_HTTP_CHUNK_SIZE, i, used);
			if (c == ' ' || c == '\t')
				p->state = S_CHUNK_BWS;
			else if (c == ';')
				p->state = S_CHUNK_EXT;
			else
				return fail(p, RL_PE_HTTP_CHUNK_SIZE, i, used);
			break;
		case S_CHUNK_BWS:
			if (c == ';')
				p->state = S_CHUNK_EXT;
			else if (c != ' ' && c != '\t')
				return fail(p, RL_PE_HTTP_CHUNK_LINE, i, used);
			break;
		case S_CHUNK_EXT:
			/* extensions are skipped: any visible text up to the line end */
			if (!(rl_proto_ctype[c] & RL_C_VALUE))
				return fail(p, RL_PE_HTTP_CHUNK_LINE, i, used);
			break;
		case S_CHUNK_LF:
			chunk_line_end(p);
			break;
		case S_CHUNK_CR:
			/* only CRLF may follow the chunk data (a bare LF is accepted, as for lines) */
			return fail(p, RL_PE_HTTP_CHUNK_END, i, used);
		case S_CHUNK_DATA_LF:
			next_chunk(p);
			break;
		}
next:
		i++;
		p->off++;
		continue;
section_done:
		/* the byte that ended the section is part of the response */
		if (e == RL_PROTO_DONE) {
			p->res.bytes++;
			*used = i + 1;
			return RL_PROTO_DONE;
		}
		return fail(p, -e, i, used);
	}
	*used = i;
	return RL_PROTO_MORE;
}

int rl_http_eof(rl_http *p)
{
	if (!p->err && p->state == S_CLOSE_BODY) {
		complete(p, RL_HTTP_BODY_CLOSE, 0);
		return RL_PROTO_DONE;
	}
	return rl_proto_eof(&p->err, &p->err_off, p->off);
}

/* SPDX-License-Identifier: MIT */
/*
 * The request/response modes of the load generator (RL_CM_HTTP,
 * RL_CM_REDIS, RL_CM_CUSTOM): what a connection sends and how it judges
 * what comes back, on top of the echo mode's machinery (pipeline, open
 * loop, quota, latency per message: client_stream.c).
 *
 * A spec (rl_req_spec) says what to send in the caller's terms; the ring
 * compiles it once into rl_req (templates, parser limits, expectations),
 * read-only while it runs. Each connection keeps one parser and one
 * random generator (rl_req_conn), reset when its socket connects.
 *
 *   http    the request of the connection's target (built once by
 *           rl_http_request); responses parsed by proto/http.c; a status
 *           outside status_ok is a wrong answer; "Connection: close" (or a
 *           body delimited by close) ends the socket after that response
 *           and the connection dials again at once
 *   redis   request seq is commands[seq % ncmds] rendered from its RESP
 *           template (__rand__, __data__); replies parsed by proto/resp.c;
 *           an error reply, or a reply of a kind (or first word) the
 *           command does not expect, is a wrong answer
 *   custom  the `send` template ({seq}, {conn}); responses framed (and
 *           optionally compared) by proto/frame.c
 *
 * A wrong answer is counted and recorded (connection, request) and the
 * connection goes on; a protocol error, a response nobody asked for or a
 * close with requests unanswered ends the socket, as its byte stream can
 * no longer be trusted.
 */
#ifndef RL_CLIENT_REQ_H
#define RL_CLIENT_REQ_H

#include "proto/frame.h"
#include "proto/http.h"
#include "proto/resp.h"
#include "proto/template.h"

#ifdef __cplusplus
extern "C" {
#endif

/* statuses 0..599 have a slot (the parser accepts 100..599) */
#define RL_HTTP_STATUS_SLOTS 600

/* redis: one command */
typedef struct rl_req_cmd {
	const uint8_t *const *argv; /* a RESP array of these bulk strings... */
	const size_t *argl;
	unsigned argc;
	const uint8_t *inl; /* ...or these bytes as they are (an inline command) */
	size_t inl_len;
	unsigned expect;         /* RL_RESP_T_* the reply may be; 0 = any but an error */
	char word[RL_RESP_WORD]; /* a simple-string reply's first word, "" = any */
} rl_req_cmd;

typedef struct rl_req_spec {
	/* RL_CM_HTTP: one request per target */
	const rl_http_req *http;
	unsigned nhttp;
	const uint8_t *status_ok; /* RL_HTTP_STATUS_SLOTS flags, 1 = success; NULL = 2xx */
	/* RL_CM_REDIS */
	const rl_req_cmd *cmds;
	unsigned ncmds;
	uint64_t keyspace;
	uint32_t data_size;
	/* RL_CM_CUSTOM */
	const uint8_t *send;
	size_t send_len;
	rl_frame_spec frame; /* expect is copied */
} rl_req_spec;

/* a compiled spec */
typedef struct rl_req {
	unsigned mode; /* RL_CM_*, 0 = not a request mode */
	rl_tpl *tpls;
	unsigned ntpls;
	int by_target; /* http: the template of connection k is its target's */
	int head;      /* http: HEAD responses have no body */
	unsigned *expect;
	char (*word)[RL_RESP_WORD];
	uint8_t status_ok[RL_HTTP_STATUS_SLOTS];
	size_t max_len; /* the longest request */
	rl_http_cfg http;
	rl_resp_cfg resp;
	rl_frame_cfg frame;
	uint8_t *expect_copy;
} rl_req;

/* per connection */
typedef struct rl_req_conn {
	union {
		rl_http http;
		rl_resp resp;
		rl_frame frame;
	} p;
	uint64_t rng;
} rl_req_conn;

/* 0, -EINVAL (a request the builders refuse) or -ENOMEM */
int rl_req_compile(rl_req *r, unsigned mode, const rl_req_spec *s);
void rl_req_free(rl_req *r);

#ifdef __cplusplus
}
#endif
#endif

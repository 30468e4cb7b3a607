/* SPDX-License-Identifier: MIT */
/*
 * Everything besides the counters (counters.h) that crosses from the engine
 * into TypeScript, defined once, as X-macro lists: the engine builds its
 * enums and structs from them, the binding exports every list by name
 * (`abi` in lib/index.ts), and TypeScript reads records and constants by
 * name, never by a number copied by hand.
 */
#ifndef RL_ABI_H
#define RL_ABI_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

/* the load generator's protocol errors (RL_PROTO_ERRORS), exported as `abi.protoErrors` */
#include "proto/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Enumerations are lists of (C name, JS name, value): the engine's enum
 * constant, the key TypeScript reads it by, and its value.
 */
#define RL_ABI_ENUM(c, js, value) c = value,

/* ---------------- modes and policies ---------------- */

/* what a worker ring does with its connections (worker.h) */
#define RL_WORKER_MODES(X) X(RL_MODE_ECHO, "echo", 1) X(RL_MODE_PROXY, "proxy", 2) X(RL_MODE_JS, "js", 3)
/* how a proxy worker picks an upstream (proxy.h) */
#define RL_UPSTREAM_POLICIES(X)                     \
	X(RL_UP_ROUND_ROBIN, "round-robin", 0)      \
	X(RL_UP_LEAST_CONN, "least-connections", 1) \
	X(RL_UP_RANDOM, "random", 2)
/* what each load-generator connection does (client.h) */
/* (echo modes, then the request/response modes of client_req.h) */
#define RL_CLIENT_MODES(X)                                      \
	X(RL_CM_ECHO, "echo", 1)     /* verified echo */        \
	X(RL_CM_CHURN, "churn", 2)   /* connect, echo, close */ \
	X(RL_CM_BULK, "bulk", 3)     /* streams both ways */    \
	X(RL_CM_IDLE, "idle", 4)     /* open and hold */        \
	X(RL_CM_HTTP, "http", 5)     /* HTTP/1.1 requests */    \
	X(RL_CM_REDIS, "redis", 6)   /* RESP2 commands */       \
	X(RL_CM_CUSTOM, "custom", 7) /* framed requests */
/*
 * How a load-generator connection gets its socket (dial.h): ring =
 * socket_direct_alloc, options through uring_cmd setsockopt, bind through
 * IORING_OP_BIND when a source address is set (kernel 6.11+); fd = socket(2)
 * + setsockopt(2) + bind(2) on a process fd, moved into the ring's table and
 * closed, for kernels without IORING_OP_BIND or socket uring_cmd.
 */
#define RL_CLIENT_SOCK_MODES(X) X(RL_SOCK_RING, "ring", 0) X(RL_SOCK_FD, "fd", 1)

enum rl_mode { RL_WORKER_MODES(RL_ABI_ENUM) };
enum rl_upstream_policy { RL_UPSTREAM_POLICIES(RL_ABI_ENUM) };
enum rl_client_mode { RL_CLIENT_MODES(RL_ABI_ENUM) };
enum rl_client_sock { RL_CLIENT_SOCK_MODES(RL_ABI_ENUM) };

/* ---------------- JS mode event records (js.h) ---------------- */

#define RL_JS_EVENTS(X)                                                               \
	X(RL_JEV_CONNECT, "CONNECT", 1) /* a connection arrived */                    \
	X(RL_JEV_DATA, "DATA", 2)       /* bytes arrived in a receive buffer */       \
	X(RL_JEV_END, "END", 3)         /* the peer sent FIN */                       \
	X(RL_JEV_DRAIN, "DRAIN", 4)     /* queued bytes fell to the low-water mark */ \
	X(RL_JEV_CLOSE, "CLOSE", 5)     /* the connection is gone */

/* A record is RL_JS_EV_WORDS int32 words; the word of each field (words 2
 * and up mean different things by type). addr is 4 words of address bytes
 * in network order: 4 of them for AF_INET, 16 for AF_INET6. */
#define RL_JS_FIELDS(X)                                                                \
	X(RL_JF_head, "head", 0)     /* type | generation << RL_JS_TYPE_BITS */        \
	X(RL_JF_index, "index", 1)   /* connection index */                            \
	X(RL_JF_id, "id", 2)         /* CONNECT: connection id */                      \
	X(RL_JF_peer, "peer", 3)     /* CONNECT: family << 16 | port, 0 if unknown */  \
	X(RL_JF_addr, "addr", 4)     /* CONNECT: the address (see above) */            \
	X(RL_JF_buffer, "buffer", 2) /* DATA: buffer id (bytes at id * buffer size) */ \
	X(RL_JF_length, "length", 3) /* DATA: bytes */                                 \
	X(RL_JF_error, "error", 2)   /* CLOSE: -errno of the error that ended it, or 0 */

#define RL_JS_EV_WORDS 8
#define RL_JS_TYPE_BITS 16

enum rl_js_ev { RL_JS_EVENTS(RL_ABI_ENUM) };
enum rl_js_field { RL_JS_FIELDS(RL_ABI_ENUM) };

/* ---------------- acceptor event records (acceptor.h) ---------------- */

#define RL_ACC_EVENTS(X)                                                                                   \
	X(RL_AEV_ACCEPT, "ACCEPT", 1) /* slot, a = conn id, b = 1 when a failing worker sent it back */    \
	X(RL_AEV_HANDOFF_OK, "HANDOFF_OK", 2)   /* slot, a = target, b = slot in the target */             \
	X(RL_AEV_HANDOFF_ERR, "HANDOFF_ERR", 3) /* slot, a = target, b = -errno; the slot is still ours */ \
	X(RL_AEV_ACCEPT_ERR, "ACCEPT_ERR", 4)   /* slot = -1, a = -errno, b = back-off ms */               \
	X(RL_AEV_STALL, "STALL", 5)             /* table full: no accept can be armed */                   \
	X(RL_AEV_UNSTALL, "UNSTALL", 6)                                                                    \
	X(RL_AEV_REJECTED, "REJECTED", 7) /* slot closed with RST; a = conn id */                          \
	X(RL_AEV_CLOSED, "CLOSED", 8)     /* listener closed (after rl_acceptor_stop) */                   \
	X(RL_AEV_PLACED, "PLACED", 9) /* slot handed off to the pick made ahead; a = conn id, b = target */

enum rl_acc_ev { RL_ACC_EVENTS(RL_ABI_ENUM) };

/* the int32 fields of a record, in order */
#define RL_ACC_FIELDS(X) X(type) X(slot) X(a) X(b)

#define RL_ABI_FIELD(name) int32_t name;
typedef struct rl_acc_event {
	RL_ACC_FIELDS(RL_ABI_FIELD)
} rl_acc_event;
#undef RL_ABI_FIELD

/* ---------------- hand-off failures ---------------- */

/* What the runtime does about a hand-off that failed with -errno (name,
 * class); the acceptor counts them by the same classes. Any other errno:
 * the connection is closed and a warning emitted. */
#define RL_HANDOFF_ERRNOS(X)                                                        \
	X(ENFILE, full) /* the worker's table is full: saturate it, try another */  \
	X(EBADFD, dead) /* the worker's ring is gone: replace the worker */         \
	X(EBADF, dead)                                                              \
	X(EOWNERDEAD, dead)                                                         \
	X(ENXIO, dead)                                                              \
	X(EOVERFLOW, overflow) /* delivered unannounced (its CQ was full): ended */ \
	X(ENOMEM, retry)       /* transient: hand it off again shortly */           \
	X(EAGAIN, retry)                                                            \
	X(EBUSY, retry)

enum rl_handoff_class { RL_HC_other = 0, RL_HC_full, RL_HC_dead, RL_HC_retry, RL_HC_overflow };

static inline enum rl_handoff_class rl_handoff_class(int err)
{
#define RL_ABI_CASE(name, cls) \
	case name:             \
		return RL_HC_##cls;
	switch (err < 0 ? -err : err) {
		RL_HANDOFF_ERRNOS(RL_ABI_CASE)
	default:
		return RL_HC_other;
	}
#undef RL_ABI_CASE
}

/* ---------------- errno values TypeScript names ---------------- */

/* returned by the JS-mode connection calls, passed to destroy(), or used by
 * the runtime for its own errors; exported as negative numbers */
#define RL_ABI_ERRNOS(X) X(EBADF) X(EINVAL) X(ENOMEM) X(ENOSYS) X(EPIPE) X(EMSGSIZE) X(ESTALE) X(ECONNABORTED)

/* address families in a CONNECT record's peer word (JS name, value) */
#define RL_ABI_FAMILIES(X) X(IPv4, AF_INET) X(IPv6, AF_INET6)

/* ---------------- limits ---------------- */

/* (JS name, value) */
#define RL_ABI_LIMITS(X)                                                                     \
	X(maxUpstreams, RL_MAX_UPSTREAMS)            /* upstreams of one proxy */            \
	X(maxUpstreamGroups, RL_MAX_UPSTREAM_GROUPS) /* priority groups of them */           \
	X(maxBufferCount, RL_MAX_BUFFERS)            /* provided receive buffers per ring */ \
	X(maxListeners, RL_MAX_LISTENERS)            /* listening sockets of one acceptor */ \
	X(gatherBuffers, RL_GATHER_MAX)              /* segments one gathered send takes (conn.h, relay.c) */

/* a connection's tried-upstreams set is one 64-bit word */
#define RL_MAX_UPSTREAMS 64
/* primary, backup and a few more tiers: more is a configuration mistake */
#define RL_MAX_UPSTREAM_GROUPS 8
/* systemd's ListenStream= lines of one service, IPv4 + IPv6: a few */
#define RL_MAX_LISTENERS 8
/* segments one gathered send takes at most (conn.h): 8 full 16 KiB buffers
 * are half the default high-water mark */
#define RL_GATHER_MAX 8
/* buffer ids are 16 bits, and the kernel caps a buffer ring at 2^15 entries */
#define RL_MAX_BUFFERS 32768

#ifdef __cplusplus
}
#endif
#endif

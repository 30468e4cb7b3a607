/* SPDX-License-Identifier: MIT */
/*
 * The one dial path: an outgoing TCP connection on one side of a core
 * connection (conn.h), used by the proxy (upstreams) and the load generator.
 *
 *  1. rl_dial_start: the socket. Normally socket_direct_alloc, so the socket
 *     lives only in the ring's fixed-file table and never occupies the
 *     process fd table. With fd_mode (kernels without IORING_OP_BIND or
 *     socket uring_cmd) it is made with socket(2), configured and bound with
 *     plain syscalls, and moved into the table with IORING_OP_FILES_UPDATE;
 *     the process fd is closed as soon as the table holds it.
 *  2. rl_dial_socket_done, on that request's CQE: the slot is the socket's;
 *     options (TCP_NODELAY; for a source address IP_BIND_ADDRESS_NO_PORT and
 *     IORING_OP_BIND) ride in front of the connect as one linked chain that
 *     posts a CQE only on failure (RL_OP_SETSOCKOPT, RL_OP_BIND), and the
 *     connect may carry a linked timeout (it then completes with -ECANCELED
 *     when the time is up).
 *  3. The connect's CQE (RL_OP_CONNECT): rl_dial_done; on failure the owner
 *     closes the connection or drops the socket (rl_dial_discard) and dials
 *     again. A failed option or bind stands for the connect's CQE: a failed
 *     skip-success request silences the requests its failure cancels
 *     (REQ_F_SKIP_LINK_CQES), so neither the connect nor its timeout posts
 *     one. The owner passes it through rl_dial_chain_failed and handles it
 *     as the connect's.
 *
 * While dialling the side is RL_S_CONNECTING: the core neither receives on
 * it nor sends what is queued for it until rl_dial_done. Every request but
 * the chain's options holds a reference on the connection; the owner drops
 * it (rl_conn_put) after handling the CQE.
 */
#ifndef RL_DIAL_H
#define RL_DIAL_H

#include "conn.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_dial {
	const rl_addr *dst;
	const rl_addr *src; /* bind to this address first; NULL: the kernel picks */
	int nodelay;        /* set TCP_NODELAY (direct sockets: needs sock_cmd) */
	int sock_cmd;       /* socket uring_cmd setsockopt works (Linux 6.7) */
	int fd_mode;        /* make the socket as a process fd (see above) */
	/* linked connect timeout, or NULL; it must stay valid until the connect
	 * has been submitted */
	const struct __kernel_timespec *timeout;
} rl_dial;

/* Step 1. 0, or -errno with nothing in flight (side no longer connecting). */
int rl_dial_start(rl_conns *cx, rl_conn *c, unsigned side, const rl_dial *d);

/* Step 2, on the CQE of RL_OP_SOCKET or RL_OP_FILES_UPDATE (d as for step 1).
 * 0: the connect is on its way; 1: the connection is closing, the new socket
 * has been closed; -errno: the socket could not be made (cqe->res < 0) or the
 * connect could not be queued. */
int rl_dial_socket_done(rl_conns *cx, rl_conn *c, unsigned side, const struct io_uring_cqe *cqe,
			const rl_dial *d);

/* Step 3: the connect of side completed; it can receive and send. */
static inline void rl_dial_done(rl_conn *c, unsigned side)
{
	c->s[side].flags &= (uint16_t) ~(RL_S_CONNECTING | RL_S_DIAL_TIMEOUT);
}

/* Step 3 for a failed option or bind in front of the connect (its CQE, res <
 * 0): drops the reference of the linked timeout, which posts no CQE either,
 * and returns res, to be handled as the connect's result; the owner then
 * drops the connect's reference as for RL_OP_CONNECT. */
int rl_dial_chain_failed(rl_conns *cx, rl_conn *c, unsigned side, int res);

/* Drop side's socket without closing the connection (a failed connect, to
 * dial again). */
void rl_dial_discard(rl_conns *cx, rl_conn *c, unsigned side);

#ifdef __cplusplus
}
#endif
#endif

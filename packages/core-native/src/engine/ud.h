/* SPDX-License-Identifier: MIT */
/*
 * The one user_data codec (as liburing's examples/proxy.h keeps one).
 *
 *   63      56 55          32 31        16 15         0
 *   [  op:8  ][   idx:24     ][  gen:16   ][  aux:16   ]
 *
 * idx  : connection index (worker/client) or acceptor slot
 * gen  : generation of that index, so a CQE for a recycled index is known stale
 * aux  : op-specific (socket side, accept pool entry, worker index)
 *
 * The hand-off message that arrives on a worker ring carries a 32-bit
 * connection id instead of idx/gen/aux:
 *
 *   [ RL_OP_HANDOFF_IN:8 ][ 0:24 ][ conn id:32 ]
 *
 * So does the close of an acceptor slot, next to the slot:
 *
 *   [ op:8 ][ slot:24 ][ conn id:32 ]
 *
 * because its CQE can arrive after the slot was reused: the kernel frees
 * the slot when the close runs, and when that is in io-wq the close's CQE
 * is posted later by task work, possibly behind the CQE of an accept that
 * already took the slot. The id says which connection the close was for.
 *
 * A zero-copy send (and its notification) names the segment it sends, which
 * needs more than 16 bits, instead of the generation:
 *
 *   [ RL_OP_SEND_ZC:8 ][ idx:24 ][ segment:31 ][ side:1 ]
 *
 * It needs no generation: it holds a reference on its connection until the
 * notification, so the index cannot be reused before both CQEs arrive.
 */
#ifndef RL_UD_H
#define RL_UD_H

#include <stdint.h>

enum rl_op {
	RL_OP_NONE = 0,
	RL_OP_ACCEPT,        /* single-shot accept_direct; aux = address pool entry */
	RL_OP_ACCEPT_MS,     /* multishot accept_direct */
	RL_OP_ACCEPT_CANCEL, /* async cancel of accepts */
	RL_OP_BACKOFF,       /* timeout that ends an accept back-off */
	RL_OP_HANDOFF,       /* msg_ring fd_alloc (source side); idx = slot, aux = target */
	RL_OP_HANDOFF_CLOSE, /* linked close_direct of the source slot; slot + conn id */
	RL_OP_HANDOFF_IN,    /* target side: the fd arrived; low 32 bits = conn id */
	RL_OP_REJECT,        /* close of a rejected slot, after SO_LINGER{1,0}; slot + conn id */
	RL_OP_DROP,          /* quiet close (FIN) of a held slot; slot + conn id */
	RL_OP_RECV,          /* multishot recv; aux = side */
	RL_OP_SEND,          /* send; aux = side */
	RL_OP_SEND_ZC,       /* send_zc (see rl_ud_zc; the notification CQE
	                      * carries the same user_data) */
	RL_OP_CANCEL,        /* cancel of a connection's requests; aux = side */
	RL_OP_CLOSE,         /* close_direct; aux = side */
	RL_OP_SHUTDOWN,      /* shutdown(SHUT_WR); aux = side */
	RL_OP_SOCKET,        /* socket_direct_alloc; aux = side */
	RL_OP_CONNECT,       /* connect; aux = side */
	RL_OP_LINK_TIMEOUT,  /* linked timeout of a connect */
	RL_OP_TIMER,         /* engine timer tick */
	RL_OP_WAKE,          /* msg_ring data message used as a doorbell */
	RL_OP_SETSOCKOPT,    /* a socket option (a dial's linked ones post a CQE only on failure) */
	RL_OP_BIND,          /* IORING_OP_BIND of a client socket to a source address */
	RL_OP_FILES_UPDATE,  /* a process fd moved into the fixed-file table */
	RL_OP_LINGER,        /* SO_LINGER {1, 0} before the close of a reset socket */
	RL_OP__COUNT
};

static inline uint64_t rl_ud(unsigned op, uint32_t idx, uint16_t gen, uint16_t aux)
{
	return ((uint64_t) (op & 0xff) << 56) | ((uint64_t) (idx & 0xffffff) << 32) | ((uint64_t) gen << 16) |
	       (uint64_t) aux;
}

static inline unsigned rl_ud_op(uint64_t ud) { return (unsigned) (ud >> 56); }
static inline uint32_t rl_ud_idx(uint64_t ud) { return (uint32_t) (ud >> 32) & 0xffffff; }
static inline uint16_t rl_ud_gen(uint64_t ud) { return (uint16_t) (ud >> 16); }
static inline uint16_t rl_ud_aux(uint64_t ud) { return (uint16_t) ud; }

static inline uint64_t rl_ud_handoff_in(uint32_t conn_id)
{
	return ((uint64_t) RL_OP_HANDOFF_IN << 56) | (uint64_t) conn_id;
}
static inline uint32_t rl_ud_conn_id(uint64_t ud) { return (uint32_t) ud; }

static inline uint64_t rl_ud_slot_conn(unsigned op, uint32_t slot, uint32_t conn_id)
{
	return ((uint64_t) (op & 0xff) << 56) | ((uint64_t) (slot & 0xffffff) << 32) | conn_id;
}

static inline uint64_t rl_ud_zc(uint32_t idx, uint32_t seg, unsigned side)
{
	return ((uint64_t) RL_OP_SEND_ZC << 56) | ((uint64_t) (idx & 0xffffff) << 32) |
	       ((uint64_t) (seg & 0x7fffffff) << 1) | (uint64_t) (side & 1);
}
static inline uint32_t rl_ud_zc_seg(uint64_t ud) { return (uint32_t) (ud >> 1) & 0x7fffffff; }

#define RL_IDX_MAX 0xffffffu

#endif

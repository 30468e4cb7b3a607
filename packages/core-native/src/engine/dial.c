/* SPDX-License-Identifier: MIT */
/* The dial path (see dial.h). */
#define _GNU_SOURCE
#include "dial.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* With a source address, the port is picked at connect time, per 4-tuple,
 * so one source address is not limited to one range of ephemeral ports. */
static int bind_no_port(const rl_dial *d)
{
	return d->src && d->src->ss.ss_family == AF_INET && (d->fd_mode || d->sock_cmd);
}

/* a process fd, configured and bound with syscalls; the fd or -errno */
static int fd_socket(const rl_dial *d)
{
	static const int one = 1;
	int fd = socket(d->dst->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (d->nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (d->src) {
		if (bind_no_port(d))
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *) &d->src->ss, d->src->len) < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
	}
	return fd;
}

int rl_dial_start(rl_conns *cx, rl_conn *c, unsigned side, const rl_dial *d)
{
	rl_sock *s = &c->s[side];
	s->flags |= RL_S_CONNECTING;
	struct io_uring_sqe *sqe;
	if (d->fd_mode) {
		int fd = fd_socket(d);
		if (fd < 0) {
			s->flags &= (uint16_t) ~RL_S_CONNECTING;
			return fd;
		}
		sqe = rl_ring_sqe(cx->ring);
		if (!sqe) {
			close(fd);
			s->flags &= (uint16_t) ~RL_S_CONNECTING;
			return -EBUSY;
		}
		s->fd = fd;
		s->upd = fd; /* the kernel writes the slot it picks here */
		rl_prep_files_update_alloc(sqe, &s->upd, 1);
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_FILES_UPDATE, side);
	} else {
		sqe = rl_ring_sqe(cx->ring);
		if (!sqe) {
			s->flags &= (uint16_t) ~RL_S_CONNECTING;
			return -EBUSY;
		}
		io_uring_prep_socket_direct_alloc(sqe, d->dst->ss.ss_family, SOCK_STREAM, 0, 0);
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_SOCKET, side);
	}
	rl_conn_get(c);
	return 0;
}

static void close_slot(rl_conns *cx, rl_conn *c, unsigned side, int slot)
{
	struct io_uring_sqe *sqe = rl_ring_sqe(cx->ring);
	if (!sqe)
		return; /* ring teardown will close it */
	io_uring_prep_close_direct(sqe, (unsigned) slot);
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_CLOSE, side | RL_AUX_DISCARD);
	rl_conn_get(c);
}

void rl_dial_discard(rl_conns *cx, rl_conn *c, unsigned side)
{
	int slot = c->s[side].slot;
	c->s[side].slot = -1;
	if (slot >= 0)
		close_slot(cx, c, side, slot);
}

int rl_dial_chain_failed(rl_conns *cx, rl_conn *c, unsigned side, int res)
{
	if (c->s[side].flags & RL_S_DIAL_TIMEOUT) {
		c->s[side].flags &= (uint16_t) ~RL_S_DIAL_TIMEOUT;
		rl_conn_put(cx, c);
	}
	return res;
}

/* options and bind in front of the connect: only a failure posts a CQE, and
 * then neither the connect nor its timeout posts one (rl_dial_chain_failed) */
static void prep_chain(rl_conns *cx, rl_conn *c, unsigned side, const rl_dial *d)
{
	static const int one = 1;
	const unsigned linked = IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	int slot = c->s[side].slot;
	struct io_uring_sqe *sqe;
	if (d->nodelay) {
		sqe = rl_ring_sqe(cx->ring);
		rl_prep_setsockopt(sqe, slot, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		sqe->flags |= linked;
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_SETSOCKOPT, side);
	}
	if (d->src) {
		if (bind_no_port(d)) {
			sqe = rl_ring_sqe(cx->ring);
			rl_prep_setsockopt(sqe, slot, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
			sqe->flags |= linked;
			sqe->user_data = rl_conn_ud(cx, c, RL_OP_SETSOCKOPT, side);
		}
		sqe = rl_ring_sqe(cx->ring);
		io_uring_prep_bind(sqe, slot, (struct sockaddr *) &d->src->ss, d->src->len);
		sqe->flags |= linked;
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_BIND, side);
	}
}

int rl_dial_socket_done(rl_conns *cx, rl_conn *c, unsigned side, const struct io_uring_cqe *cqe,
			const rl_dial *d)
{
	rl_sock *s = &c->s[side];
	int res = cqe->res;
	int slot = res;
	if (rl_ud_op(cqe->user_data) == RL_OP_FILES_UPDATE) {
		close(s->fd); /* the table holds its own reference now */
		s->fd = -1;
		slot = res == 1 ? s->upd : -1;
		if (res >= 0 && res != 1)
			res = -EIO;
	}
	if (res < 0) {
		s->flags &= (uint16_t) ~RL_S_CONNECTING;
		return res;
	}
	cx->slots_used++;
	if (c->flags & RL_C_CLOSING) {
		/* closed while the socket was being made: close it now */
		close_slot(cx, c, side, slot);
		return 1;
	}
	s->slot = slot;
	int ring_opts = !d->fd_mode;
	unsigned need = 1 + (d->timeout ? 1 : 0);
	if (ring_opts)
		need += (d->nodelay ? 1 : 0) + (d->src ? 1 + bind_no_port(d) : 0);
	if (rl_ring_reserve(cx->ring, need) < 0)
		return -EBUSY;
	if (ring_opts)
		prep_chain(cx, c, side, d);
	struct io_uring_sqe *sqe = rl_ring_sqe(cx->ring);
	io_uring_prep_connect(sqe, slot, (const struct sockaddr *) &d->dst->ss, d->dst->len);
	sqe->flags |= IOSQE_FIXED_FILE | (d->timeout ? IOSQE_IO_LINK : 0);
	sqe->user_data = rl_conn_ud(cx, c, RL_OP_CONNECT, side);
	rl_conn_get(c);
	if (d->timeout) {
		c->s[side].flags |= RL_S_DIAL_TIMEOUT;
		sqe = rl_ring_sqe(cx->ring);
		/* liburing takes a non-const pointer; the kernel only reads it */
		io_uring_prep_link_timeout(sqe, (struct __kernel_timespec *) d->timeout, 0);
		sqe->user_data = rl_conn_ud(cx, c, RL_OP_LINK_TIMEOUT, side);
		rl_conn_get(c);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Echo: what arrives on a connection goes back out on it, from the very
 * buffer it arrived in (queued as that buffer's segment, no copy). When the
 * client reads slower than it writes, receiving pauses at the relay's
 * bounds (relay.c: the high-water mark of bytes, max_bufs buffers held).
 * After the client's FIN, the connection closes once everything is echoed.
 *
 * Where the kernel caps a multishot recv by bytes (Linux 6.17), each recv
 * is capped at what the queue may still take before those bounds, so a
 * pause cannot be outrun: uncapped, the recv that raced it took what the
 * socket held, 6.6 MiB queued against a 256 KiB mark from a client that
 * wrote 32 MiB without reading (test/echo.test.ts). Older kernels keep the
 * uncapped multishot recv (one buffer per recv would cost more CPU than the
 * overshoot is worth there); what it brings past the buffer cap is copied
 * out of the pool, so the pool stays shared either way.
 */
#include "worker_int.h"

static void echo_start(rl_worker *w, rl_conn *c) { rl_sock_arm_recv(&w->cx, c, 0); }

static void echo_data(rl_worker *w, rl_conn *c, unsigned side, unsigned bid, unsigned len)
{
	rl_relay_data(w, c, side, side, bid, len);
}

static void echo_maybe_finish(rl_worker *w, rl_conn *c)
{
	rl_sock *s = &c->s[0];
	if ((s->flags & RL_S_EOF) && rl_sock_idle(s))
		rl_conn_close(&w->cx, c, 0);
}

static void echo_eof(rl_worker *w, rl_conn *c, unsigned side) { echo_maybe_finish(w, c); }

static void echo_sent(rl_worker *w, rl_conn *c, unsigned side)
{
	rl_relay_sent(w, c, side, side);
	echo_maybe_finish(w, c);
}

/* what the queue may still take (relay.c); 0, no cap, where the kernel
 * cannot cap a multishot recv */
static unsigned echo_recv_budget(rl_worker *w, rl_conn *c, unsigned side)
{
	return w->cx.recv_cap ? rl_relay_budget(w, c, side) : 0;
}

const rl_mode_ops rl_echo_ops = {
	.start = echo_start,
	.data = echo_data,
	.eof = echo_eof,
	.sent = echo_sent,
	.recv_budget = echo_recv_budget,
};

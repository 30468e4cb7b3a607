/* SPDX-License-Identifier: MIT */
/*
 * A slot reused between the kernel's free and the free's CQE (the proxy
 * stall of the hardening issue, defect 1).
 *
 * A hand-off is msg_ring fd_alloc linked to close_direct of the acceptor
 * slot S. When msg_ring finds the target ring's lock taken (the worker is
 * inside io_uring_enter) it is punted to io-wq, and when io-wq drops the
 * request's last reference the linked close runs there too: it frees S at
 * once, but on a DEFER_TASKRUN ring its CQE is posted later by task work on
 * the acceptor thread, behind the task work of an accept that may already
 * have taken S (the kernel hands out the lowest freed slot next). The
 * engine then sees ACCEPT(S, new id) before HANDOFF_CLOSE(S). A close CQE
 * that cleared S's owner unconditionally wiped the new connection: every
 * later hand-off of it failed with -EINVAL, and the acceptor's queue stalled
 * behind it for good.
 *
 * The io-wq timing cannot be forced from outside, so the test makes the real
 * kernel do the real work (accept A into S, hand it off, accept B into the
 * freed S) while collecting the CQEs itself, then replays them to the engine
 * in the order the io-wq path posts them. It fails on an engine that lets a
 * late close clear a newer owner.
 */
#define _GNU_SOURCE
#include "../../packages/core-native/src/engine/acceptor.h"
#include "../../packages/core-native/src/engine/ud.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int32_t ai32[RL_A_I32_COUNT];
static uint64_t au64[RL_A_U64_COUNT];

static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "bind");
	REQUIRE(listen(fd, 16) == 0, "listen");
	REQUIRE(getsockname(fd, (struct sockaddr *) &sa, &len) == 0, "getsockname");
	*port = ntohs(sa.sin_port);
	return fd;
}

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect");
	return fd;
}

/* run the acceptor until an event of `type` shows up (bounded) */
static const rl_acc_event *wait_event(rl_acceptor *a, int type)
{
	for (int i = 0; i < 200; i++) {
		for (unsigned k = 0; k < a->nev; k++)
			if (a->ev[k].type == type)
				return &a->ev[k];
		rl_acceptor_run(a);
		if (a->nev == 0)
			usleep(1000);
	}
	return NULL;
}

/* count the hand-offs that arrived at the worker ring (bounded wait) */
static int arrived(rl_ring *w, int want)
{
	int n = 0;
	for (int i = 0; i < 200 && n < want; i++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		if (io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts) == 0) {
			if (cqe->res >= 0)
				n++;
			io_uring_cqe_seen(&w->ring, cqe);
		}
	}
	return n;
}

int main(void)
{
	rl_ring worker;
	rl_ring_opts wo = { .sq_entries = 8, .files = 8, .no_defer_taskrun = 1 };
	int ret = rl_ring_init(&worker, &wo, NULL);
	SKIP_IF(ret == -ENOSYS || ret == -EPERM, "io_uring is not available here");
	REQUIRE(ret == 0, "worker ring: %s", strerror(-ret));

	rl_acceptor a;
	rl_acceptor_opts o = { .table_size = 4, .multishot = 1, .multishot_margin = 1 };
	rl_counters c = { ai32, au64 };
	REQUIRE(rl_acceptor_init(&a, &o, c, NULL) == 0, "acceptor init");
	SKIP_IF(!(a.ring.setup_flags & IORING_SETUP_DEFER_TASKRUN),
		"the forced order needs DEFER_TASKRUN (Linux >= 6.1)");
	int port;
	REQUIRE(rl_acceptor_start(&a, listener(&port)) == 0, "start");
	REQUIRE(a.ms_state == 1, "multishot accept armed");
	REQUIRE(rl_acceptor_add_target(&a, rl_ring_fd(&worker)) == 0, "add target");

	/* connection A lands in slot S (the engine runs normally here) */
	int c1 = dial(port);
	const rl_acc_event *e = wait_event(&a, RL_AEV_ACCEPT);
	REQUIRE(e, "first accept");
	int s = e->slot;
	uint32_t id1 = (uint32_t) e->a;
	a.nev = 0;

	/* from here the test reaps the acceptor's CQEs itself */
	struct io_uring_cqe handoff = { 0 }, close_s = { 0 }, accept_b = { 0 };
	int have_handoff = 0, have_close = 0, have_accept = 0;
	REQUIRE(rl_acceptor_handoff(&a, (unsigned) s, 0) == 0, "hand-off A");
	io_uring_submit_and_get_events(&a.ring.ring);
	int c2 = -1;
	for (int i = 0; i < 200 && !(have_handoff && have_close && have_accept); i++) {
		if (have_close && c2 < 0)
			c2 = dial(port); /* B arrives once S is free again */
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		if (io_uring_wait_cqe_timeout(&a.ring.ring, &cqe, &ts) != 0)
			continue;
		switch (rl_ud_op(cqe->user_data)) {
		case RL_OP_HANDOFF:
			handoff = *cqe;
			have_handoff = 1;
			break;
		case RL_OP_HANDOFF_CLOSE:
			close_s = *cqe;
			have_close = 1;
			break;
		case RL_OP_ACCEPT_MS:
			accept_b = *cqe;
			have_accept = 1;
			break;
		default:
			rl_acceptor_complete(&a, cqe);
			break;
		}
		io_uring_cqe_seen(&a.ring.ring, cqe);
	}
	REQUIRE(have_handoff && have_close && have_accept, "CQEs: hand-off %d, close %d, accept %d",
		have_handoff, have_close, have_accept);
	REQUIRE(handoff.res >= 0 && close_s.res == 0, "hand-off A res %d, close res %d", handoff.res,
		close_s.res);
	REQUIRE(accept_b.res == s, "the kernel put B in slot %d, not the freed slot %d", accept_b.res, s);

	/* the io-wq order: the accept's CQE before the close's */
	rl_acceptor_complete(&a, &handoff);
	rl_acceptor_complete(&a, &accept_b);
	rl_acceptor_complete(&a, &close_s);
	uint32_t id2 = 0;
	int ok1 = 0;
	for (unsigned k = 0; k < a.nev; k++) {
		if (a.ev[k].type == RL_AEV_HANDOFF_OK && a.ev[k].slot == s)
			ok1 = 1;
		if (a.ev[k].type == RL_AEV_ACCEPT && a.ev[k].slot == s)
			id2 = (uint32_t) a.ev[k].a;
	}
	a.nev = 0;
	CHECK(ok1, "hand-off of A (%u) reported", id1);
	CHECK(id2 && id2 != id1, "B accepted into slot %d with a new id", s);
	CHECK(a.slot_conn[s] == id2, "slot %d owned by B (%u), found %u", s, id2, a.slot_conn[s]);
	CHECK(a.used == 1, "one slot in use (B), counted %u", a.used);

	/* B can be handed off: the late close of A did not wipe it */
	ret = rl_acceptor_handoff(&a, (unsigned) s, 0);
	CHECK(ret == 0, "hand-off of B in slot %d: %d (%s)", s, ret, strerror(-ret));
	if (ret == 0)
		CHECK(wait_event(&a, RL_AEV_HANDOFF_OK) != NULL, "hand-off B completed");
	int want = ret == 0 ? 2 : 1;
	CHECK(arrived(&worker, want) == want, "both connections at the worker");
	/* drain the closes: the acceptor table must end empty */
	for (int i = 0; i < 50 && a.used; i++) {
		rl_acceptor_run(&a);
		a.nev = 0;
		usleep(1000);
	}
	CHECK(a.used == 0, "acceptor slots in use at the end: %u", a.used);

	close(c1);
	close(c2);
	rl_acceptor_stop(&a);
	rl_acceptor_destroy(&a);
	rl_ring_destroy(&worker);
	DONE();
}

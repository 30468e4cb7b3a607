/* SPDX-License-Identifier: MIT */
/*
 * io_uring_prep_msg_ring_fd(3), checked against the running kernel, for
 * what the product does not use or cannot provoke in normal operation:
 * sending into a fixed target index, into an occupied index, past the
 * target's table, into a ring without a table, from an empty source slot,
 * with flags, into a disabled ring (-EBADFD), and into a ring whose owner
 * has gone (the server's dead-worker case). The hand-off the acceptor does
 * (fd_alloc linked with close_direct, -ENFILE, -EINVAL for the same ring,
 * -EBADFD for a non-ring) is test/native/handoff.c; -EOVERFLOW is
 * test/native/handoff_overflow.c.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"

#include <pthread.h>
#include <sys/syscall.h>

#define TABLE 4

/* one msg_ring fd request from src; returns the source CQE's res */
static int send_fd(struct io_uring *src, int target_ring, int slot, int target_slot, uint64_t data,
		   unsigned flags)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(src);
	if (target_slot < 0)
		io_uring_prep_msg_ring_fd_alloc(sqe, target_ring, slot, data, flags);
	else
		io_uring_prep_msg_ring_fd(sqe, target_ring, slot, target_slot, data, flags);
	sqe->user_data = 0x3e5;
	struct io_uring_cqe c = submit_wait(src);
	REQUIRE(c.user_data == 0x3e5, "no completion for msg_ring");
	return c.res;
}

/* a hand-off as the acceptor does it, completed; *close_res gets the
 * result of the linked close */
static int handoff(struct io_uring *src, int target_ring, int slot, int *close_res)
{
	submit_handoff(src, target_ring, slot, 0xda7a);
	int res = -ETIME;
	*close_res = -ETIME;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe c = cqe_wait(src, 2000);
		if (c.user_data == 1)
			res = c.res;
		if (c.user_data == 2)
			*close_res = c.res;
	}
	return res;
}

/* a connected socket pair, one end installed in src's slot (the table's
 * reference is then the only one); returns the other end */
static int install_pair(struct io_uring *src, int slot)
{
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	REQUIRE(io_uring_register_files_update(src, (unsigned) slot, &sv[0], 1) == 1, "install slot %d",
		slot);
	close(sv[0]);
	return sv[1];
}

static void fixed_index_and_errors(void)
{
	struct io_uring src, dst, nt;
	REQUIRE(io_uring_queue_init(8, &src, 0) == 0, "queue_init src");
	REQUIRE(io_uring_queue_init(8, &dst, 0) == 0, "queue_init dst");
	REQUIRE(io_uring_queue_init(8, &nt, 0) == 0, "queue_init (no table)");
	REQUIRE(io_uring_register_files_sparse(&src, TABLE) == 0, "src table");
	REQUIRE(io_uring_register_files_sparse(&dst, TABLE) == 0, "dst table");
	int peer_a = install_pair(&src, 0), peer_b = install_pair(&src, 1);
	char b;

	/* "send the locally registered file descriptor with value source_fd
	 * to the destination ring into index target_fd and passing data as the
	 * user data in the target CQE" */
	CHECK(send_fd(&src, dst.ring_fd, 0, 2, 0xd00d, 0) == 0, "msg_ring_fd into index 2");
	struct io_uring_cqe t = cqe_wait(&dst, 2000);
	CHECK(t.user_data == 0xd00d && t.res == 0, "target CQE ud %llx res %d (want our data, 0)",
	      (unsigned long long) t.user_data, t.res);
	REQUIRE(write(peer_a, "x", 1) == 1, "write");
	CHECK(slot_recv(&dst, 2, &b) == 1 && b == 'x', "index 2 of the target holds the socket");
	/* the source keeps its own reference until it closes its slot */
	CHECK(slot_recv(&src, 0, &b) == -EAGAIN, "the source slot still holds the socket");

	/* an occupied target index: "removed from the table and closed", as
	 * for every direct install. The source drops its copy first, so the
	 * target's is the last one; replacing it must end peer A's connection. */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&src);
		io_uring_prep_close_direct(sqe, 0);
		sqe->user_data = 9;
		CHECK(submit_wait(&src).res == 0, "close source slot 0");
	}
	CHECK(peer_state(peer_a, 0) == 1, "A is still up through the target's copy");
	CHECK(send_fd(&src, dst.ring_fd, 1, 2, 0xd00e, 0) == 0, "msg_ring_fd into the occupied index 2");
	t = cqe_wait(&dst, 2000);
	CHECK(t.user_data == 0xd00e && t.res == 0, "target CQE for B: res %d", t.res);
	CHECK(peer_state(peer_a, 1000) == 0, "the replaced socket (A) was not closed");
	REQUIRE(write(peer_b, "y", 1) == 1, "write");
	CHECK(slot_recv(&dst, 2, &b) == 1 && b == 'y', "index 2 now holds B");

	/* -EINVAL "One of the fields set in the SQE was invalid": an index past
	 * the target's table, or a flag the kernel does not know ("Currently
	 * there are no valid flag modifiers") */
	CHECK(send_fd(&src, dst.ring_fd, 1, TABLE + 3, 1, 0) == -EINVAL, "index past the target table");
	CHECK(send_fd(&src, dst.ring_fd, 1, 3, 1, 0x80) == -EINVAL, "unknown flag 0x80");
	/* The page predates IORING_MSG_RING_CQE_SKIP (Linux 6.0): the fd is
	 * installed and the target gets no CQE */
	CHECK(send_fd(&src, dst.ring_fd, 1, 3, 0x5c1b, IORING_MSG_RING_CQE_SKIP) == 0, "CQE_SKIP send");
	CHECK(cqe_wait(&dst, 100).res == -ETIME, "CQE_SKIP still posted a target CQE");
	CHECK(slot_recv(&dst, 3, &b) == -EAGAIN, "CQE_SKIP installed the socket in index 3");

	/* -ENFILE "The direct descriptor table in the target ring was full":
	 * a ring with no table has no free entry; a fixed index there: -ENXIO */
	CHECK(send_fd(&src, nt.ring_fd, 1, -1, 1, 0) == -ENFILE, "fd_alloc into a ring without a table");
	CHECK(send_fd(&src, nt.ring_fd, 1, 0, 1, 0) == -ENXIO, "fixed index into a ring without a table");
	/* the source slot must hold a file */
	CHECK(send_fd(&src, dst.ring_fd, 3, -1, 1, 0) == -EBADF, "empty source slot: want -EBADF");

	close(peer_a);
	close(peer_b);
	io_uring_queue_exit(&src);
	io_uring_queue_exit(&dst);
	io_uring_queue_exit(&nt);
}

/* -EBADFD "the ring is in a disabled state" (IORING_SETUP_R_DISABLED) */
static void disabled_ring(void)
{
	struct io_uring src, dis;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	REQUIRE(io_uring_queue_init(8, &src, 0) == 0, "queue_init src");
	REQUIRE(io_uring_queue_init_params(8, &dis, &p) == 0, "queue_init R_DISABLED");
	REQUIRE(io_uring_register_files_sparse(&src, TABLE) == 0, "src table");
	REQUIRE(io_uring_register_files_sparse(&dis, TABLE) == 0, "table of the disabled ring");
	int peer = install_pair(&src, 0);
	int close_res;
	CHECK(handoff(&src, dis.ring_fd, 0, &close_res) == -EBADFD, "fd into a disabled ring: want -EBADFD");
	CHECK(close_res == -ECANCELED, "the linked close must be cancelled: %d", close_res);
	CHECK(send_fd(&src, dis.ring_fd, 0, 1, 1, 0) == -EBADFD, "fixed index into a disabled ring");
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&src);
		io_uring_prep_msg_ring(sqe, dis.ring_fd, 0, 1, 0);
		sqe->user_data = 7;
		CHECK(submit_wait(&src).res == -EBADFD, "a data message into a disabled ring: want -EBADFD");
	}
	char b;
	CHECK(slot_recv(&src, 0, &b) == -EAGAIN, "the socket stays with the sender");
	/* once enabled (liburing 2.3 declares io_uring_enable_rings but does
	 * not export it: the register call itself) the same hand-off works */
	REQUIRE(syscall(__NR_io_uring_register, dis.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) == 0,
		"enable the ring");
	int res = handoff(&src, dis.ring_fd, 0, &close_res);
	CHECK(res >= 0 && close_res == 0, "hand-off after enabling: %d, close %d", res, close_res);
	CHECK(cqe_wait(&dis, 2000).user_data == 0xda7a, "the enabled ring got the hand-off CQE");
	close(peer);
	io_uring_queue_exit(&src);
	io_uring_queue_exit(&dis);
}

/*
 * A ring whose owner has gone while the sender holds a dup of its fd (the
 * acceptor keeps one per worker, rl_acceptor_add_target). The owner thread
 * creates the ring and a table, hands us a dup, closes its own fd
 * (io_uring_queue_exit) and, unless told to stay, exits.
 */
typedef struct owner {
	unsigned flags;
	int stay;
	volatile int dup_fd, release;
} owner;

static void *owner_main(void *arg)
{
	owner *o = arg;
	struct io_uring r;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = o->flags;
	if (io_uring_queue_init_params(8, &r, &p) < 0 || io_uring_register_files_sparse(&r, TABLE) < 0) {
		o->dup_fd = -2;
		return NULL;
	}
	int fd = dup(r.ring_fd);
	io_uring_queue_exit(&r);
	o->dup_fd = fd;
	while (o->stay && !o->release)
		usleep(1000);
	return NULL;
}

/* returns the hand-off's res; *gone = what the peer saw after the dup closed */
static int handoff_to_orphan(struct io_uring *src, unsigned flags, int stay, int *before, int *after)
{
	owner o = { .flags = flags, .stay = stay, .dup_fd = -1 };
	pthread_t t;
	pthread_create(&t, NULL, owner_main, &o);
	for (int i = 0; i < 2000 && o.dup_fd == -1; i++)
		usleep(1000);
	REQUIRE(o.dup_fd >= 0, "the owner thread made no ring (flags %x)", flags);
	if (!stay)
		pthread_join(t, NULL);
	int peer = install_pair(src, 0);
	int close_res;
	int res = handoff(src, o.dup_fd, 0, &close_res);
	CHECK(res < 0 ? close_res == -ECANCELED : close_res == 0, "linked close %d after hand-off %d",
	      close_res, res);
	*before = peer_state(peer, 50);
	o.release = 1;
	if (stay)
		pthread_join(t, NULL);
	close(o.dup_fd); /* the last reference to the ring */
	*after = peer_state(peer, 1000);
	if (res < 0) {
		/* the socket never left: it is still ours to use or close */
		char b;
		CHECK(slot_recv(src, 0, &b) == -EAGAIN, "the socket is still in the sender's slot");
		struct io_uring_sqe *sqe = io_uring_get_sqe(src);
		io_uring_prep_close_direct(sqe, 0);
		sqe->user_data = 9;
		submit_wait(src);
	}
	close(peer);
	return res;
}

static void dead_owner(void)
{
	struct io_uring src;
	REQUIRE(io_uring_queue_init(8, &src, 0) == 0, "queue_init src");
	REQUIRE(io_uring_register_files_sparse(&src, TABLE) == 0, "src table");
	const unsigned coop = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	const unsigned defer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int before, after, res;

	/* Worker rings (COOP_TASKRUN, the default) and plain rings: the sender
	 * installs the fd itself, so the hand-off succeeds into a ring nobody
	 * reaps. The dup keeps that ring alive and the connection open but
	 * unserved; closing the dup frees the ring, and its table's sockets
	 * close (the peer sees EOF). The server therefore never sends to a
	 * worker it has taken out of rotation, and a crashing worker's ring
	 * sends late arrivals back (test/native/worker_evacuate.c). */
	res = handoff_to_orphan(&src, coop, 0, &before, &after);
	CHECK(res >= 0, "COOP_TASKRUN ring, owner gone: hand-off res %d (the kernel takes it)", res);
	CHECK(before == 1 && after == 0, "COOP: peer %d while the dup is open, %d after (want 1, EOF)",
	      before, after);
	res = handoff_to_orphan(&src, 0, 0, &before, &after);
	CHECK(res >= 0 && before == 1 && after == 0, "plain ring, owner gone: res %d peer %d/%d", res, before,
	      after);

	/* DEFER_TASKRUN: the install is task work for the ring's submitter
	 * task. Once that thread has exited the kernel refuses with
	 * -EOWNERDEAD and the socket stays with the sender (the server counts
	 * it as a dead target and places the connection elsewhere); while the
	 * thread lives the hand-off succeeds even though it closed its fd. */
	res = handoff_to_orphan(&src, defer, 0, &before, &after);
	CHECK(res == -EOWNERDEAD, "DEFER_TASKRUN ring, owner thread exited: res %d, want -EOWNERDEAD", res);
	CHECK(before == 1 && after == 1, "the refused socket must stay open: peer %d/%d", before, after);
	res = handoff_to_orphan(&src, defer, 1, &before, &after);
	CHECK(res >= 0 && before == 1 && after == 0,
	      "DEFER_TASKRUN, owner alive, fd closed: res %d peer %d/%d", res, before, after);
	io_uring_queue_exit(&src);
}

int main(void)
{
	require_io_uring();

	fixed_index_and_errors();
	disabled_ring();
	dead_owner();
	DONE();
}

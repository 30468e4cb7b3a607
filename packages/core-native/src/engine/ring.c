/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "ring.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int try_setup(rl_ring *r, unsigned sq, unsigned cq, unsigned flags)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	int ret = io_uring_queue_init_params(sq, &r->ring, &p);
	if (ret == 0)
		r->setup_flags = p.flags;
	return ret;
}

/*
 * The kernel refuses a fixed-file table larger than RLIMIT_NOFILE, although
 * the descriptors in it are not process fds. Raise the soft limit up to the
 * hard one when the table needs it; beyond that the caller gets -EMFILE.
 */
static void fit_nofile(unsigned files)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= files)
		return;
	rlim_t want = files;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	rl.rlim_cur = want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int rl_ring_init(rl_ring *r, const rl_ring_opts *o, const char **failed_call)
{
	failed_call = rl_failed_sink(failed_call);
	memset(r, 0, sizeof(*r));
	r->efd = -1;
	unsigned sq = o && o->sq_entries ? o->sq_entries : 1024;
	unsigned cq = o && o->cq_entries ? o->cq_entries : sq * 4;

	/* best first; older kernels reject newer flags with -EINVAL */
	const unsigned base = IORING_SETUP_SUBMIT_ALL;
	unsigned tries[5];
	int n = 0;
	/* TASKRUN_FLAG with DEFER_TASKRUN: the kernel raises IORING_SQ_TASKRUN
	 * when it leaves deferred task work behind (see rl_ring_run) */
	if (!(o && o->no_defer_taskrun))
		tries[n++] = base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			     IORING_SETUP_TASKRUN_FLAG;
	tries[n++] =
		base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	tries[n++] = base | IORING_SETUP_COOP_TASKRUN;
	tries[n++] = 0;
	int ret = -EINVAL;
	for (int i = 0; i < n; i++) {
		ret = try_setup(r, sq, cq, tries[i]);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0) {
		*failed_call = "io_uring_queue_init";
		return ret;
	}
	if (o && o->files) {
		fit_nofile(o->files);
		ret = io_uring_register_files_sparse(&r->ring, o->files);
		if (ret < 0) {
			*failed_call = "io_uring_register_files_sparse";
			goto fail;
		}
		r->files = o->files;
	}
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		ret = -errno;
		*failed_call = "eventfd";
		goto fail;
	}
	ret = o && o->wait_in_ring ? 0 : io_uring_register_eventfd(&r->ring, r->efd);
	if (ret < 0) {
		*failed_call = "io_uring_register_eventfd";
		goto fail;
	}
	/* Every enter then names the ring by its index in this thread's
	 * table instead of an fd the kernel must look up (fdget) each time.
	 * The thread that creates a ring drives and destroys it
	 * (SINGLE_ISSUER), which the registration needs: it is per thread,
	 * and io_uring_queue_exit drops it. Older kernels (< 5.18) refuse it,
	 * and the plain fd is used. */
	(void) io_uring_register_ring_fd(&r->ring);
	r->ready = 1;
	return 0;
fail:
	if (r->efd >= 0)
		close(r->efd);
	r->efd = -1;
	io_uring_queue_exit(&r->ring);
	return ret;
}

void rl_ring_destroy(rl_ring *r)
{
	if (!r->ready)
		return;
	r->ready = 0;
	/* queue_exit cancels what is pending and closes the fixed files */
	io_uring_queue_exit(&r->ring);
	if (r->efd >= 0)
		close(r->efd);
	r->efd = -1;
}

int rl_ring_submit(rl_ring *r)
{
	int ret;
	do {
		ret = io_uring_submit(&r->ring);
	} while (ret == -EINTR);
	return ret;
}

struct io_uring_sqe *rl_ring_sqe(rl_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (rl_likely(sqe != NULL))
		return sqe;
	if (rl_ring_submit(r) < 0)
		return NULL;
	return io_uring_get_sqe(&r->ring);
}

int rl_ring_reserve(rl_ring *r, unsigned n)
{
	if (io_uring_sq_space_left(&r->ring) >= n)
		return 0;
	int ret = rl_ring_submit(r);
	if (ret < 0)
		return ret;
	return io_uring_sq_space_left(&r->ring) >= n ? 0 : -EBUSY;
}

/* hand every CQE now in the CQ to fn, advance the CQ once, then after_round */
static unsigned reap(rl_ring *r, rl_cqe_fn fn, void *ctx, void (*after_round)(void *ctx))
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		fn(ctx, cqe);
		seen++;
	}
	if (seen)
		io_uring_cq_advance(&r->ring, seen);
	if (after_round)
		after_round(ctx);
	return seen;
}

int rl_ring_run(rl_ring *r, rl_cqe_fn fn, void *ctx, unsigned max_rounds, void (*after_round)(void *ctx))
{
	uint64_t v;
	int total = 0;
	if (r->efd >= 0)
		(void) !read(r->efd, &v, sizeof(v));
	for (unsigned round = 0; round < max_rounds; round++) {
		int queued = io_uring_sq_ready(&r->ring) > 0;
		int ret;
		/* one enter: submit what is queued and run deferred task work */
		do {
			ret = io_uring_submit_and_get_events(&r->ring);
		} while (ret == -EINTR);
		if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
			return ret;
		unsigned seen = reap(r, fn, ctx, after_round);
		total += (int) seen;
		/*
		 * Deferred task work is run at most ~20 items per enter (Linux
		 * 6.13+); what is left behind raises IORING_SQ_TASKRUN but does
		 * not signal the eventfd again, and neither does new work while
		 * the backlog is non-empty. Stopping on a round without CQEs
		 * (e.g. linked requests being issued, polls re-armed) would
		 * strand that work and every completion queued behind it.
		 */
		unsigned sqf = IO_URING_READ_ONCE(*r->ring.sq.kflags);
		if (!seen && !queued && io_uring_sq_ready(&r->ring) == 0 &&
		    !(sqf & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
			return total;
	}
	/* still busy: submit what the last round queued and come back later */
	rl_ring_submit(r);
	if (r->efd >= 0) {
		v = 1;
		(void) !write(r->efd, &v, sizeof(v));
	}
	return total;
}

int rl_ring_serve(rl_ring *r, rl_cqe_fn fn, void *ctx, uint64_t max_ns, void (*after_round)(void *ctx),
		  const int *stop)
{
	uint64_t deadline = rl_now_ns() + max_ns;
	int total = 0;
	unsigned last = 0;
	while (!*stop) {
		uint64_t now = rl_now_ns();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		struct __kernel_timespec ts = { .tv_sec = (long long) (left / 1000000000u),
						.tv_nsec = (long long) (left % 1000000000u) };
		struct io_uring_cqe *first;
		int ret;
		/* Under load (the last pass had a batch), look once more without
		 * sleeping: more completions have usually arrived while the batch
		 * was handled, and a sleep costs a wake-up on the critical path
		 * (an idle exit, dear in a VM). Measured with 100 HTTP connections
		 * against nginx, 6 rounds: sleeping at once ran a median 84k req/s
		 * at 10.5 us of CPU each, looking again after a batch of two or more
		 * 99k at 9.3 us, after any completion 94k at 10.2 us. One completion
		 * at a time (light load) sleeps at once: an extra enter per message
		 * would be waste. */
		if (last > 1)
			ret = io_uring_submit_and_get_events(&r->ring);
		else /* submits, runs deferred task work, sleeps until a CQE or the timeout */
			ret = io_uring_submit_and_wait_timeout(&r->ring, &first, 1, &ts, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
			return ret;
		unsigned seen = reap(r, fn, ctx, after_round);
		last = seen;
		total += (int) seen;
	}
	/* what the last round queued goes out now, not at the next serve */
	rl_ring_submit(r);
	return total;
}

/* ---------------- probe ---------------- */

const unsigned rl_required_ops[] = {
	IORING_OP_ACCEPT,    IORING_OP_MSG_RING,     IORING_OP_CLOSE,    IORING_OP_RECV,
	IORING_OP_SEND,      IORING_OP_ASYNC_CANCEL, IORING_OP_TIMEOUT,  IORING_OP_SOCKET,
	IORING_OP_CONNECT,   IORING_OP_LINK_TIMEOUT, IORING_OP_SHUTDOWN, IORING_OP_SEND_ZC,
	IORING_OP_URING_CMD,
};
const unsigned rl_required_ops_count = sizeof(rl_required_ops) / sizeof(rl_required_ops[0]);

const char *rl_op_name(unsigned op)
{
	switch (op) {
	case IORING_OP_ACCEPT:
		return "ACCEPT";
	case IORING_OP_MSG_RING:
		return "MSG_RING";
	case IORING_OP_CLOSE:
		return "CLOSE";
	case IORING_OP_RECV:
		return "RECV";
	case IORING_OP_SEND:
		return "SEND";
	case IORING_OP_ASYNC_CANCEL:
		return "ASYNC_CANCEL";
	case IORING_OP_TIMEOUT:
		return "TIMEOUT";
	case IORING_OP_SOCKET:
		return "SOCKET";
	case IORING_OP_CONNECT:
		return "CONNECT";
	case IORING_OP_LINK_TIMEOUT:
		return "LINK_TIMEOUT";
	case IORING_OP_SHUTDOWN:
		return "SHUTDOWN";
	case IORING_OP_SEND_ZC:
		return "SEND_ZC";
	case IORING_OP_URING_CMD:
		return "URING_CMD";
	default:
		return "?";
	}
}

static int read_sysctl_int(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int setup_flag_ok(unsigned flags)
{
	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	int ret = io_uring_queue_init_params(4, &ring, &p);
	if (ret == 0)
		io_uring_queue_exit(&ring);
	return ret == 0;
}

static int wait_one(struct io_uring *ring, struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
	int ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret < 0)
		return ret;
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

/* the probes' socketpair, closed whether or not it was made */
static void close_pair(const int sv[2])
{
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
}

/* A real hand-off between two rings: the only honest test of fd_alloc. */
static int probe_msg_ring_fd(void)
{
	struct io_uring a, b;
	int sv[2] = { -1, -1 };
	int ret = io_uring_queue_init(4, &a, 0);
	if (ret < 0)
		return ret;
	ret = io_uring_queue_init(4, &b, 0);
	if (ret < 0) {
		io_uring_queue_exit(&a);
		return ret;
	}
	if ((ret = io_uring_register_files_sparse(&a, 2)) < 0 ||
	    (ret = io_uring_register_files_sparse(&b, 2)) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		goto out;
	}
	ret = io_uring_register_files_update(&a, 0, &sv[0], 1);
	if (ret < 0)
		goto out;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
	io_uring_prep_msg_ring_fd_alloc(sqe, b.ring_fd, 0, 0x5eed, 0);
	sqe->user_data = 1;
	io_uring_submit(&a);
	struct io_uring_cqe c;
	ret = wait_one(&a, &c);
	if (ret < 0)
		goto out;
	if (c.res < 0) {
		ret = c.res;
		goto out;
	}
	ret = wait_one(&b, &c);
	if (ret < 0)
		goto out;
	ret = (c.user_data == 0x5eed && c.res >= 0) ? 0 : -EPROTO;
out:
	close_pair(sv);
	io_uring_queue_exit(&a);
	io_uring_queue_exit(&b);
	return ret;
}

/* SO_LINGER through uring_cmd on a direct socket (used for RST on reject) */
static int probe_sock_cmd(void)
{
	struct io_uring a;
	int ret = io_uring_queue_init(4, &a, 0);
	if (ret < 0)
		return ret;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if ((ret = io_uring_register_files(&a, &fd, 1)) < 0)
		goto out;
	static const int one = 1;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
	rl_prep_setsockopt(sqe, 0, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_submit(&a);
	struct io_uring_cqe c;
	ret = wait_one(&a, &c);
	if (ret == 0)
		ret = c.res < 0 ? c.res : 0;
out:
	if (fd >= 0)
		close(fd);
	io_uring_queue_exit(&a);
	return ret;
}

/*
 * A multishot recv with a total-bytes cap: older kernels refuse the field
 * (it shares its place with file_index) with -EINVAL at prep. With a byte
 * waiting and a buffer group that does not exist, a kernel that takes the
 * cap gets as far as choosing a buffer and fails -ENOBUFS.
 */
static int probe_recv_cap(void)
{
	struct io_uring a;
	int sv[2] = { -1, -1 };
	int ret = io_uring_queue_init(4, &a, 0);
	if (ret < 0)
		return ret;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		goto out;
	}
	if (write(sv[1], "x", 1) != 1) {
		ret = -EIO;
		goto out;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0x7ffe;
	sqe->file_index = 1; /* optlen: the cap */
	io_uring_submit(&a);
	struct io_uring_cqe c;
	ret = wait_one(&a, &c);
	if (ret == 0)
		ret = c.res == -ENOBUFS ? 0 : c.res < 0 ? c.res : -EPROTO;
out:
	close_pair(sv);
	io_uring_queue_exit(&a);
	return ret;
}

int rl_recv_cap_probe(void)
{
	static int known; /* 0 unknown, 1 yes, -1 no; a race only probes twice */
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (!v) {
		int r = probe_recv_cap();
		/* the kernel answered: the recv completed (0) or refused its cap
		 * (-EINVAL); anything else says nothing about the kernel */
		if (r != 0 && r != -EINVAL)
			return r;
		v = r == 0 ? 1 : -1;
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v > 0;
}

int rl_recv_cap_supported(void) { return rl_recv_cap_probe() > 0; }

int rl_probe(rl_probe_result *out)
{
	memset(out, 0, sizeof(*out));
	out->io_uring_disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled");
	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret < 0) {
		out->setup_error = ret;
		return ret;
	}
	out->features = p.features;
	struct io_uring_probe *pr = io_uring_get_probe_ring(&ring);
	if (pr) {
		out->ops_last = pr->last_op;
		for (unsigned i = 0; i < 64 && i <= pr->last_op; i++)
			out->ops[i] = io_uring_opcode_supported(pr, (int) i) ? 1 : 0;
		io_uring_free_probe(pr);
	}
	/* buffer ring registration */
	{
		struct io_uring_buf_ring *br = NULL;
		if (posix_memalign((void **) &br, 4096, 4096) == 0) {
			memset(br, 0, 4096);
			struct io_uring_buf_reg reg;
			memset(&reg, 0, sizeof(reg));
			reg.ring_addr = (unsigned long) br;
			reg.ring_entries = 8;
			reg.bgid = 0;
			if (io_uring_register_buf_ring(&ring, &reg, 0) == 0) {
				out->buf_ring = 1;
				io_uring_unregister_buf_ring(&ring, 0);
			}
			free(br);
		}
	}
	out->sparse_files = io_uring_register_files_sparse(&ring, 4) == 0;
	io_uring_queue_exit(&ring);

	out->submit_all = setup_flag_ok(IORING_SETUP_SUBMIT_ALL);
	out->coop_taskrun = setup_flag_ok(IORING_SETUP_COOP_TASKRUN);
	out->single_issuer = setup_flag_ok(IORING_SETUP_SINGLE_ISSUER);
	out->defer_taskrun = setup_flag_ok(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	ret = probe_msg_ring_fd();
	out->msg_ring_fd = ret == 0;
	out->msg_ring_fd_error = ret;
	out->sock_cmd_setsockopt = probe_sock_cmd() == 0;
	out->recv_cap = rl_recv_cap_probe();
	return 0;
}

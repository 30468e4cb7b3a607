/* SPDX-License-Identifier: MIT */
/*
 * io_uring_prep_send_zc(3), checked against the running kernel:
 *  1. two CQEs per send: the result with IORING_CQE_F_MORE, then the
 *     notification (IORING_CQE_F_NOTIF, same user_data);
 *  2. IORING_SEND_ZC_REPORT_USAGE: loopback copies, and the notification
 *     says so (without the flag its res is 0);
 *  3. send_zc_fixed from anywhere inside the registered buffer, -EFAULT
 *     outside it;
 *  4. short sends: without MSG_WAITALL a send may complete short and that
 *     is not an error for IOSQE_IO_LINK; with it the send completes whole,
 *     and a WAITALL send cut short by a reset reports the bytes it sent
 *     and breaks the link (plain send behaves the same; the engine sends
 *     with MSG_WAITALL);
 *  5. -ENOMEM "The ulimit -l setting is too low": as an unprivileged user
 *     each non-fixed send_zc charges its pages to RLIMIT_MEMLOCK while in
 *     flight. Over the limit it fails at submit with -ENOMEM, still with
 *     F_MORE and a notification; every other send in flight fails or not
 *     on its own; without IORING_SETUP_SUBMIT_ALL the failing SQE ends the
 *     submit batch. Registered (fixed) buffers are charged once, at
 *     registration, and their sends never fail this way: that is why the
 *     server (send_zc_fixed) meets ENOMEM only when it registers its buffers
 *     (test/zerocopy.test.ts) and the load generator (plain send_zc) per send.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "sockets.h"

#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MIB (1u << 20)

/* what came back for one user_data */
typedef struct sent {
	uint64_t ud;
	int res, flags, done, notifs, notif_res;
} sent;

/* collect completions into s[0..n) until every send has its result and
 * (when it had F_MORE) its notification, or ms pass without a CQE */
static void collect(struct io_uring *r, sent *s, int n, int ms)
{
	for (;;) {
		int pending = 0;
		for (int i = 0; i < n; i++)
			pending += !s[i].done || ((s[i].flags & IORING_CQE_F_MORE) && !s[i].notifs);
		if (!pending)
			return;
		struct io_uring_cqe c = cqe_wait(r, ms);
		if (c.res == -ETIME && c.user_data == ~0ULL)
			return;
		for (int i = 0; i < n; i++) {
			if (s[i].ud != c.user_data)
				continue;
			if (c.flags & IORING_CQE_F_NOTIF) {
				s[i].notifs++;
				s[i].notif_res = c.res;
			} else {
				s[i].res = c.res;
				s[i].flags = (int) c.flags;
				s[i].done = 1;
			}
		}
	}
}

/* a loopback connection with small buffers, so a large send cannot finish
 * until the receiver reads */
static void tcp_pair(int lfd, int port, int *client, int *server)
{
	int small = 64 * 1024;
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(*client, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	struct sockaddr_in sa = loopback(port);
	REQUIRE(connect(*client, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect");
	*server = accept(lfd, NULL, NULL);
	REQUIRE(*server >= 0, "accept");
	setsockopt(*server, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
}

/* read exactly n bytes (bounded) and compare with want (NULL: discard) */
static int read_all(int fd, const unsigned char *want, size_t n)
{
	static unsigned char buf[65536];
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 2000) != 1)
			return 0;
		size_t k = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t m = recv(fd, buf, k, 0);
		if (m <= 0)
			return 0;
		if (want && memcmp(buf, want + got, (size_t) m) != 0)
			return 0;
		got += (size_t) m;
	}
	return 1;
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char) ((i * 31u + seed) ^ (i >> 11));
}

static void two_cqes_and_usage(int lfd, int port)
{
	struct io_uring r;
	REQUIRE(io_uring_queue_init(8, &r, 0) == 0, "queue_init");
	int c, s;
	tcp_pair(lfd, port, &c, &s);
	static unsigned char buf[48 * 1024];
	pattern(buf, sizeof(buf), 1);

	/* "a zerocopy send will usually generate two CQEs ... IORING_CQE_F_MORE
	 * ... a second notification CQE ... IORING_CQE_F_NOTIF" */
	sent x = { .ud = 0x2c1 };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
	io_uring_prep_send_zc(sqe, c, buf, sizeof(buf), 0, 0);
	sqe->user_data = x.ud;
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	CHECK(read_all(s, buf, sizeof(buf)), "the bytes arrived intact");
	collect(&r, &x, 1, 2000);
	CHECK(x.done && x.res == (int) sizeof(buf), "send_zc res %d", x.res);
	CHECK(x.flags & IORING_CQE_F_MORE, "the result CQE must carry F_MORE");
	CHECK(x.notifs == 1 && x.notif_res == 0, "one notification, res 0 without REPORT_USAGE: %d, %d",
	      x.notifs, x.notif_res);

	/* "IORING_SEND_ZC_REPORT_USAGE ... If the value is
	 * IORING_NOTIF_USAGE_ZC_COPIED, then data was copied": loopback copies */
	sent y = { .ud = 0x2c2 };
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_send_zc(sqe, c, buf, sizeof(buf), 0, IORING_SEND_ZC_REPORT_USAGE);
	sqe->user_data = y.ud;
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	CHECK(read_all(s, buf, sizeof(buf)), "the bytes arrived intact");
	collect(&r, &y, 1, 2000);
	CHECK(y.res == (int) sizeof(buf) && y.notifs == 1, "send res %d notifs %d", y.res, y.notifs);
	CHECK((uint32_t) y.notif_res & IORING_NOTIF_USAGE_ZC_COPIED,
	      "loopback: the notification must report a copy (res %x)", (unsigned) y.notif_res);

	/* send_zc_fixed: "buf and len arguments must fall within a region
	 * specified by buf_index ... need not be aligned with the start" */
	struct iovec iov = { buf, sizeof(buf) };
	REQUIRE(io_uring_register_buffers(&r, &iov, 1) == 0, "register the buffer");
	sent z = { .ud = 0x2c3 }, out = { .ud = 0x2c4 };
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_send_zc_fixed(sqe, c, buf + 4097, 10000, 0, 0, 0);
	sqe->user_data = z.ud;
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	CHECK(read_all(s, buf + 4097, 10000), "fixed send from offset 4097 carried those bytes");
	collect(&r, &z, 1, 2000);
	CHECK(z.res == 10000 && z.notifs == 1, "fixed send res %d notifs %d", z.res, z.notifs);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_send_zc_fixed(sqe, c, buf + sizeof(buf) - 100, 200, 0, 0, 0);
	sqe->user_data = out.ud;
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	collect(&r, &out, 1, 2000);
	CHECK(out.res == -EFAULT, "a fixed send past the registered region: res %d, want -EFAULT", out.res);
	close(c);
	close(s);
	io_uring_queue_exit(&r);
}

/*
 * "using IOSQE_IO_LINK with this request type requires the setting of
 * MSG_WAITALL ... as a short send isn't considered an error condition
 * without that being set". 8 MiB into 64 KiB socket buffers, a NOP linked
 * behind the send.
 */
static void short_sends(int lfd, int port, int zc)
{
	const size_t len = 8 * MIB;
	unsigned char *buf = malloc(len);
	REQUIRE(buf, "malloc");
	pattern(buf, len, 7);
	struct io_uring r;
	REQUIRE(io_uring_queue_init(8, &r, 0) == 0, "queue_init");
	const char *what = zc ? "send_zc" : "send";

	for (int mode = 0; mode < 3; mode++) {
		/* 0: no MSG_WAITALL; 1: MSG_WAITALL; 2: MSG_WAITALL, peer resets */
		int c, s;
		tcp_pair(lfd, port, &c, &s);
		sent x[2] = { { .ud = 0x5e1 }, { .ud = 0x5e2 } };
		int flags = MSG_NOSIGNAL | (mode ? MSG_WAITALL : 0);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		if (zc)
			io_uring_prep_send_zc(sqe, c, buf, len, flags, 0);
		else
			io_uring_prep_send(sqe, c, buf, len, flags);
		sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = x[0].ud;
		sqe = io_uring_get_sqe(&r);
		io_uring_prep_nop(sqe);
		sqe->user_data = x[1].ud;
		REQUIRE(io_uring_submit(&r) == 2, "submit send + nop");

		if (mode == 0) {
			/* the peer reads nothing: the send completes short, and the
			 * linked NOP still runs */
			collect(&r, x, 2, 1000);
			CHECK(x[0].done && x[0].res > 0 && x[0].res < (int) len,
			      "%s without MSG_WAITALL: res %d, want 0 < res < %zu", what, x[0].res, len);
			CHECK(x[1].done && x[1].res == 0, "%s: a short send broke the link (nop res %d)",
			      what, x[1].res);
			if (x[0].res > 0)
				CHECK(read_all(s, buf, (size_t) x[0].res), "%s: the short send's bytes",
				      what);
		} else if (mode == 1) {
			/* nothing completes while the peer does not read; once it
			 * has read everything the send is whole and the NOP runs */
			collect(&r, x, 1, 200);
			CHECK(!x[0].done, "%s with MSG_WAITALL completed before the peer read: res %d", what,
			      x[0].res);
			CHECK(read_all(s, buf, len), "%s: all 8 MiB arrive in order", what);
			collect(&r, x, 2, 2000);
			CHECK(x[0].res == (int) len, "%s with MSG_WAITALL: res %d, want %zu", what, x[0].res,
			      len);
			CHECK(x[1].res == 0, "%s: the NOP after a whole send: %d", what, x[1].res);
		} else {
			/* the peer reads 1 MiB, then resets: the send reports what
			 * it sent (short), and the link is broken */
			CHECK(read_all(s, buf, MIB), "%s: first MiB", what);
			struct linger lg = { 1, 0 };
			setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(s);
			s = -1;
			collect(&r, x, 2, 2000);
			CHECK(x[0].done && x[0].res >= (int) MIB && x[0].res < (int) len,
			      "%s with MSG_WAITALL cut by a reset: res %d, want the bytes sent (>= 1 MiB, < 8 MiB)",
			      what, x[0].res);
			CHECK(x[1].res == -ECANCELED,
			      "%s: a short MSG_WAITALL send must break the link (nop %d)", what, x[1].res);
		}
		close(c);
		if (s >= 0)
			close(s);
		if (zc) {
			/* the notification follows once the kernel has dropped the
			 * data: after the peer read it, or after the sockets closed */
			collect(&r, x, 1, 2000);
			CHECK(x[0].notifs == 1, "%s mode %d: notification missing", what, mode);
		}
	}
	io_uring_queue_exit(&r);
	free(buf);
}

/* ---- 5. per-send -ENOMEM, in a child running as an unprivileged user ---- */

static int submit_zc(struct io_uring *r, int fd, const void *buf, size_t len, int fixed, sent *x, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	if (fixed)
		io_uring_prep_send_zc_fixed(sqe, fd, buf, len, MSG_WAITALL, 0, 0);
	else
		io_uring_prep_send_zc(sqe, fd, buf, len, MSG_WAITALL, 0);
	sqe->user_data = ud;
	memset(x, 0, sizeof(*x));
	x->ud = ud;
	return 0;
}

static int enomem_child(int fd)
{
	const rlim_t limit = 4 * MIB;
	struct rlimit rl = { limit, limit };
	REQUIRE(setrlimit(RLIMIT_MEMLOCK, &rl) == 0, "setrlimit");
	/* root has CAP_IPC_LOCK and is never charged: become nobody */
	if (geteuid() == 0)
		REQUIRE(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0,
			"drop to nobody");
	struct io_uring r, nosa;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL; /* as every ringleader ring */
	REQUIRE(io_uring_queue_init_params(16, &r, &p) == 0, "queue_init as nobody");
	REQUIRE(io_uring_queue_init(16, &nosa, 0) == 0, "queue_init without SUBMIT_ALL");
	unsigned char *buf = aligned_alloc(4096, 8 * MIB);
	REQUIRE(buf, "alloc");
	pattern(buf, 8 * MIB, 3);
	sent x[4];

	/* within the limit: a 64 KiB send_zc works */
	submit_zc(&r, fd, buf, 64 * 1024, 0, &x[0], 1);
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	collect(&r, x, 1, 2000);
	CHECK(x[0].res == 64 * 1024 && x[0].notifs == 1, "64 KiB send_zc under a 4 MiB limit: %d", x[0].res);

	/* one send larger than the limit: -ENOMEM, and still F_MORE and a
	 * notification to wait for */
	submit_zc(&r, fd, buf, 8 * MIB, 0, &x[0], 2);
	REQUIRE(io_uring_submit(&r) == 1, "submit");
	collect(&r, x, 1, 2000);
	CHECK(x[0].res == -ENOMEM, "8 MiB send_zc under a 4 MiB limit: res %d, want -ENOMEM", x[0].res);
	CHECK((x[0].flags & IORING_CQE_F_MORE) && x[0].notifs == 1,
	      "a failed send_zc still has F_MORE (%x) and a notification (%d)", x[0].flags, x[0].notifs);
	/* the same bytes as a plain send go out: the fallback that is needed */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
		io_uring_prep_send(sqe, fd, buf, 8 * MIB, MSG_WAITALL);
		sqe->user_data = 3;
		struct io_uring_cqe c = submit_wait(&r);
		CHECK(c.user_data == 3 && c.res == (int) (8 * MIB), "plain send fallback: res %d", c.res);
	}

	/* four 1.5 MiB sends in flight: the pages of the ones still in flight
	 * count, so the first two fit and the later ones fail, each on its own;
	 * SUBMIT_ALL submits all four */
	for (int i = 0; i < 4; i++)
		submit_zc(&r, fd, buf + (size_t) i * 1536 * 1024, 1536 * 1024, 0, &x[i], 10 + (uint64_t) i);
	CHECK(io_uring_submit(&r) == 4, "SUBMIT_ALL: all four submitted");
	collect(&r, x, 4, 3000);
	int ok = 0, nomem = 0;
	for (int i = 0; i < 4; i++) {
		ok += x[i].res == 1536 * 1024;
		nomem += x[i].res == -ENOMEM;
		CHECK(x[i].done && x[i].notifs == 1, "send %d: result %d, notifications %d", i, x[i].done,
		      x[i].notifs);
	}
	CHECK(ok >= 1 && nomem >= 1 && ok + nomem == 4, "in flight: %d sent, %d -ENOMEM (want both)", ok,
	      nomem);

	/* without SUBMIT_ALL the failing SQE ends the batch: the rest stay queued */
	for (int i = 0; i < 2; i++)
		submit_zc(&nosa, fd, buf, 8 * MIB, 0, &x[i], 20 + (uint64_t) i);
	int n = io_uring_submit(&nosa);
	CHECK(n == 1 && io_uring_sq_ready(&nosa) == 1, "without SUBMIT_ALL: submitted %d, %u left in the SQ",
	      n, io_uring_sq_ready(&nosa));
	io_uring_queue_exit(&nosa);

	/* registered buffers are charged at registration: with 2 MiB of the
	 * 4 MiB registered, eight 1 MiB fixed sends in flight all succeed */
	struct iovec iov = { buf, 2 * MIB };
	REQUIRE(io_uring_register_buffers(&r, &iov, 1) == 0, "register 2 MiB under a 4 MiB limit");
	sent f[8];
	for (int i = 0; i < 8; i++)
		submit_zc(&r, fd, buf + (i & 1) * MIB, MIB, 1, &f[i], 30 + (uint64_t) i);
	CHECK(io_uring_submit(&r) == 8, "submit fixed sends");
	collect(&r, f, 8, 3000);
	for (int i = 0; i < 8; i++)
		CHECK(f[i].res == (int) MIB && f[i].notifs == 1, "fixed send %d: res %d (no per-send charge)",
		      i, f[i].res);
	io_uring_queue_exit(&r);
	return rl_test_failures ? 1 : 0;
}

static void per_send_enomem(int lfd, int port)
{
	int c, s;
	tcp_pair(lfd, port, &c, &s);
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0)
		_exit(enomem_child(c));
	/* read everything the child sends until it exits (bounded: 60 s) */
	static unsigned char sink[65536];
	int status = -1;
	for (int i = 0; i < 60000; i++) {
		struct pollfd p = { s, POLLIN, 0 };
		if (poll(&p, 1, 1) == 1 && recv(s, sink, sizeof(sink), 0) > 0)
			continue;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unprivileged child failed (status %x)",
	      status);
	close(c);
	close(s);
}

int main(void)
{
	require_io_uring();

	int port, lfd = tcp_listener(&port, 16);
	per_send_enomem(lfd, port); /* first: the child should inherit no rings */
	two_cqes_and_usage(lfd, port);
	short_sends(lfd, port, 0);
	short_sends(lfd, port, 1);
	close(lfd);
	DONE();
}

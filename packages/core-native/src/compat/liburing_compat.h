/* SPDX-License-Identifier: MIT */
/*
 * Helpers and constants newer than the system liburing.
 *
 * Debian bookworm ships liburing 2.3; ringleader needs a few things that
 * liburing added later (msg_ring_fd in 2.4, SEND_ZC_REPORT_USAGE in 2.4,
 * socket uring_cmd in 2.5). Each is defined here only when the installed
 * header does not have it, so a newer liburing always wins.
 *
 * liburing >= 2.4 ships <liburing/io_uring_version.h>; 2.3 does not, which
 * is how the version is told apart at compile time.
 */
#ifndef RL_LIBURING_COMPAT_H
#define RL_LIBURING_COMPAT_H

#include <liburing.h>
#include <stdint.h>
#include <sys/socket.h>

#if defined(__has_include)
#if __has_include(<liburing/io_uring_version.h>)
#include <liburing/io_uring_version.h>
#endif
#endif

#ifndef IO_URING_VERSION_MAJOR
#define RL_LIBURING_MAJOR 2
#define RL_LIBURING_MINOR 3
#else
#define RL_LIBURING_MAJOR IO_URING_VERSION_MAJOR
#define RL_LIBURING_MINOR IO_URING_VERSION_MINOR
#endif

#define RL_LIBURING_AT_LEAST(ma, mi) \
	(RL_LIBURING_MAJOR > (ma) || (RL_LIBURING_MAJOR == (ma) && RL_LIBURING_MINOR >= (mi)))

/* ---- msg_ring: send a direct descriptor to another ring (liburing 2.4) ---- */
#if !RL_LIBURING_AT_LEAST(2, 4)
static inline void io_uring_prep_msg_ring_fd(struct io_uring_sqe *sqe, int fd, int source_fd, int target_fd,
					     __u64 data, unsigned int flags)
{
	io_uring_prep_rw(IORING_OP_MSG_RING, sqe, fd, (void *) (uintptr_t) IORING_MSG_SEND_FD, 0, data);
	sqe->addr3 = (__u64) source_fd;
	/* the kernel stores file_index + 1; ALLOC is ~0U, so ALLOC - 1 + 1 wraps */
	if ((unsigned int) target_fd == IORING_FILE_INDEX_ALLOC)
		target_fd--;
	__io_uring_set_target_fixed_file(sqe, (unsigned) target_fd);
	sqe->msg_ring_flags = flags;
}

static inline void io_uring_prep_msg_ring_fd_alloc(struct io_uring_sqe *sqe, int fd, int source_fd,
						   __u64 data, unsigned int flags)
{
	io_uring_prep_msg_ring_fd(sqe, fd, source_fd, (int) IORING_FILE_INDEX_ALLOC, data, flags);
}
#endif

/*
 * ---- accept_direct into an allocated slot ----
 * liburing 2.3's io_uring_prep_accept_direct() stores file_index + 1, so
 * IORING_FILE_INDEX_ALLOC (~0U) wraps to 0, which the kernel reads as "not
 * direct": the accept silently installs a process fd instead. 2.4 fixed it
 * by storing ALLOC - 1 (+1 = ALLOC). This helper does that on every version.
 */
static inline void rl_prep_accept_direct_alloc(struct io_uring_sqe *sqe, int fd, struct sockaddr *addr,
					       socklen_t *addrlen, int flags)
{
	io_uring_prep_accept(sqe, fd, addr, addrlen, flags);
	__io_uring_set_target_fixed_file(sqe, IORING_FILE_INDEX_ALLOC - 1);
}

/* ---- zero-copy send usage reporting (kernel 6.2, liburing 2.4) ---- */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

/* ---- socket uring_cmd (kernel 6.7, liburing 2.5): setsockopt on a direct fd ---- */
#ifndef SOCKET_URING_OP_SETSOCKOPT
#define RL_SOCKET_URING_OP_GETSOCKOPT 2
#define RL_SOCKET_URING_OP_SETSOCKOPT 3
#else
#define RL_SOCKET_URING_OP_GETSOCKOPT SOCKET_URING_OP_GETSOCKOPT
#define RL_SOCKET_URING_OP_SETSOCKOPT SOCKET_URING_OP_SETSOCKOPT
#endif

/*
 * Fill a uring_cmd SQE for setsockopt(level, optname, optval, optlen) on a
 * socket (direct descriptors have no process fd, so this is the only way to
 * set an option on one). Placement, as in the kernel's uapi since 6.7:
 * cmd_op = low half of 'off'; level, optname = the two halves of 'addr';
 * optlen = 'file_index'; optval = 'addr3'.
 */
static inline void rl_prep_setsockopt(struct io_uring_sqe *sqe, int fd, int level, int optname,
				      const void *optval, int optlen)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->off = (__u64) (__u32) RL_SOCKET_URING_OP_SETSOCKOPT;
	sqe->addr = ((__u64) (__u32) optname << 32) | (__u64) (__u32) level;
	sqe->file_index = (__u32) optlen;
	sqe->addr3 = (__u64) (uintptr_t) optval;
}

/*
 * ---- bind a socket (kernel 6.11, liburing 2.7) ----
 * The opcode number is the kernel's uapi value; liburing < 2.7 has neither
 * the enum entry nor the helper. The address is copied when the SQE is
 * submitted; addrlen travels in 'off' (the kernel's addr2).
 */
#if RL_LIBURING_AT_LEAST(2, 7)
#define RL_IORING_OP_BIND IORING_OP_BIND
#else
#define RL_IORING_OP_BIND 56
static inline void io_uring_prep_bind(struct io_uring_sqe *sqe, int fd, struct sockaddr *addr,
				      socklen_t addrlen)
{
	io_uring_prep_rw(RL_IORING_OP_BIND, sqe, fd, addr, 0, addrlen);
}
#endif

/*
 * ---- install a process fd into an allocated fixed-file slot ----
 * io_uring_prep_files_update() takes the offset as an int and widens it to
 * 64 bits, so IORING_FILE_INDEX_ALLOC (~0U) arrives sign-extended; that
 * only works while the kernel happens to keep the offset in 32 bits. Store
 * the 32-bit value itself. On completion res = 1 and fds[0] holds the slot.
 */
static inline void rl_prep_files_update_alloc(struct io_uring_sqe *sqe, int *fds, unsigned nr_fds)
{
	io_uring_prep_files_update(sqe, fds, nr_fds, 0);
	sqe->off = (__u64) (__u32) IORING_FILE_INDEX_ALLOC;
}

#endif /* RL_LIBURING_COMPAT_H */

/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sched.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* struct sched_attr as of Linux 3.14 (SCHED_ATTR_SIZE_VER0); glibc 2.36 has
 * no wrapper and no declaration */
struct rl_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime; /* SCHED_OTHER since 6.12: the slice, ns */
	uint64_t sched_deadline;
	uint64_t sched_period;
};

int rl_thread_set_slice(unsigned us)
{
#ifdef SYS_sched_setattr
	int policy = sched_getscheduler(0);
	if (policy < 0)
		return -errno;
	if (policy != SCHED_OTHER)
		return -EOPNOTSUPP;
	/* sched_setattr sets the nice value too: pass the thread's own, or a
	 * niced server would be un-niced (as root) or refused (EPERM) */
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid));
	if (nice == -1 && errno)
		return -errno;
	struct rl_sched_attr a = {
		.size = sizeof(a),
		.sched_policy = SCHED_OTHER,
		.sched_nice = nice,
		.sched_runtime = (uint64_t) us * 1000u,
	};
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		return -errno;
	return 0;
#else
	(void) us;
	return -ENOSYS;
#endif
}

int rl_thread_tid(void) { return (int) syscall(SYS_gettid); }

/* SPDX-License-Identifier: MIT */
/*
 * rl_thread_set_slice (engine/sched.h): the calling thread gets the slice
 * it asks for, keeps its nice value (sched_setattr sets both), goes back to
 * the kernel's default with 0, and a thread under another policy is left
 * alone. The kernel shows a thread's slice in /proc/self/task/TID/sched
 * (se.slice, ns) since EEVDF; where it does not, the return values and the
 * nice value are still checked, the slice values are not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../packages/core-native/src/engine/sched.h"
#include "helpers.h"

static long long my_slice(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/sched", (long) syscall(SYS_gettid));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[256];
	long long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "se.slice : %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

int main(void)
{
	/* -1 where the kernel shows no slice: the calls and the nice value are
	 * still checked, the slice values only where they can be read */
	long long base = my_slice();
	int shown = base >= 0;
	pid_t tid = (pid_t) syscall(SYS_gettid);
	/* a niced server stays niced: raising the nice value needs no privilege */
	REQUIRE(setpriority(PRIO_PROCESS, (id_t) tid, 5) == 0, "setpriority: %s", strerror(errno));

	CHECK(rl_thread_set_slice(250) == 0, "set 250 us");
	CHECK(!shown || my_slice() == 250000, "slice %lld ns, want 250000", my_slice());
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t) tid);
	CHECK(nice == 5 && errno == 0, "nice %d after setting the slice, want 5", nice);

	CHECK(rl_thread_set_slice(0) == 0, "set 0");
	CHECK(!shown || my_slice() == base, "slice %lld ns after 0, want the default %lld", my_slice(), base);

	/* another policy, chosen by the user: not ours to change */
	struct sched_param sp = { .sched_priority = 0 };
	REQUIRE(sched_setscheduler(0, SCHED_BATCH, &sp) == 0, "SCHED_BATCH: %s", strerror(errno));
	CHECK(rl_thread_set_slice(250) == -EOPNOTSUPP, "a SCHED_BATCH thread is left alone");
	CHECK(sched_getscheduler(0) == SCHED_BATCH, "policy kept");
	CHECK(!shown || my_slice() != 250000, "slice unchanged");
	DONE();
}

/* SPDX-License-Identifier: MIT */
/*
 * How the kernel schedules a ringleader thread.
 *
 * Linux 6.12's EEVDF scheduler lets a SCHED_OTHER thread ask for a shorter
 * slice (sched_attr.sched_runtime, clamped to 0.1-100 ms; the default is
 * 0.7 ms x (1 + log2 CPUs)). A thread with a shorter slice gets an earlier
 * virtual deadline, so when it wakes it can preempt the thread running on
 * its CPU instead of waiting for that thread's turn to end. A worker woken
 * by a hand-off (msg_ring from the acceptor) or by data then runs at once,
 * even where it shares the CPU with the acceptor. Older kernels take the
 * call and ignore the value.
 */
#ifndef RL_SCHED_H
#define RL_SCHED_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Ask for a `us` microsecond slice for the calling thread, keeping its nice
 * value. Only for SCHED_OTHER threads: one the user gave another policy
 * (chrt) is left alone, -EOPNOTSUPP. 0 or -errno.
 */
int rl_thread_set_slice(unsigned us);

/*
 * The calling thread's kernel id (gettid): what /proc/PID/task/TID, taskset
 * -p and chrt -p name. Node's threadId is its own numbering, not this.
 */
int rl_thread_tid(void);

#ifdef __cplusplus
}
#endif
#endif

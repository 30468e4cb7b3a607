/*
 * wake-floor: the floor under ringleader's hand-off latency. One thread
 * sends IORING_OP_MSG_RING (a data message carrying its send time) to a
 * second thread blocked in io_uring_wait_cqe on its own ring, one message
 * at a time; the receiver records send -> wake-up. Both threads pinned (to
 * the same CPU by default, as a hand-off between the acceptor and a worker
 * sharing a core), so the figure is the cost of a cross-thread io_uring
 * wake with nothing else in the way: no Node, no libuv, no eventfd.
 *
 * --fd passes a descriptor instead, as the acceptor hands a connection to
 * a worker: IORING_MSG_SEND_FD from the sender's fixed-file table into a
 * slot allocated in the receiver's, whose ring is SINGLE_ISSUER +
 * DEFER_TASKRUN like a worker's. The kernel then installs the file in the
 * receiver's own context (task work, then the CQE), one hop more than a
 * data message; the receiver frees the slot after timing each one.
 *
 *   wake-floor [--cpu-a 0] [--cpu-b 0] [--n 20000] [--gap-us 50] [--fd]
 *
 * Prints one JSON line: {"fd":false,"n":..,"p50Us":..,"p99Us":..,"meanUs":..,...}.
 * Exit 0, or 1 with a message when io_uring or msg_ring is unavailable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* msg_ring fd passing for liburing < 2.4: the addon's own compat header */
#include "liburing_compat.h"

static int cpu_a = 0, cpu_b = 0, n = 20000, gap_us = 50, fd_mode = 0;
static struct io_uring ra, rb;
static volatile int b_ready, b_got;
static uint64_t *lat;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *receiver(void *arg)
{
    (void)arg;
    pin(cpu_b);
    /* the ring belongs to the thread that waits on it, as a worker's does */
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    if (fd_mode) {
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        if (io_uring_queue_init_params(64, &rb, &p) < 0 ||
            io_uring_register_files_sparse(&rb, 16) < 0) {
            b_ready = -1;
            return NULL;
        }
    } else {
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
        if (io_uring_queue_init_params(64, &rb, &p) < 0 && io_uring_queue_init(64, &rb, 0) < 0) {
            b_ready = -1;
            return NULL;
        }
    }
    __atomic_store_n(&b_ready, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&rb, &cqe) < 0) break;
        uint64_t t = now_ns();
        lat[i] = t - cqe->user_data;
        int slot = cqe->res;
        io_uring_cqe_seen(&rb, cqe);
        if (fd_mode) {
            if (slot < 0) {
                fprintf(stderr, "wake-floor: fd hand-off failed: %s\n", strerror(-slot));
                exit(1);
            }
            int none = -1; /* free the slot for the next one */
            io_uring_register_files_update(&rb, (unsigned)slot, &none, 1);
        }
        __atomic_store_n(&b_got, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--fd")) {
            fd_mode = 1;
            i--;
        } else if (i + 1 >= argc)
            goto usage;
        else if (!strcmp(argv[i], "--cpu-a"))
            cpu_a = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cpu-b"))
            cpu_b = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n"))
            n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gap-us"))
            gap_us = atoi(argv[i + 1]);
        else {
        usage:
            fprintf(stderr,
                    "usage: wake-floor [--cpu-a 0] [--cpu-b 0] [--n 20000] [--gap-us 50] [--fd]\n");
            return 2;
        }
    }
    if (n < 100) n = 100;
    lat = calloc((size_t)n, sizeof(uint64_t));
    pin(cpu_a);
    if (io_uring_queue_init(64, &ra, 0) < 0) {
        fprintf(stderr, "wake-floor: io_uring unavailable\n");
        return 1;
    }
    /* --fd: what is passed is a socket in the sender's fixed-file slot 0 */
    int sock = fd_mode ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (fd_mode && (sock < 0 || io_uring_register_files(&ra, &sock, 1) < 0)) {
        fprintf(stderr, "wake-floor: a fixed-file table for the sender failed\n");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, receiver, NULL);
    while (!__atomic_load_n(&b_ready, __ATOMIC_ACQUIRE))
        usleep(1000);
    if (b_ready < 0) {
        fprintf(stderr, "wake-floor: receiver ring failed%s\n",
                fd_mode ? " (--fd needs DEFER_TASKRUN and sparse tables: Linux >= 6.1)" : "");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        /* one at a time: wait until the last one was seen, then a gap so the
		 * receiver is asleep in io_uring_wait_cqe again */
        while (__atomic_load_n(&b_got, __ATOMIC_ACQUIRE) < i)
            sched_yield();
        if (gap_us) usleep((useconds_t)gap_us);
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ra);
        if (fd_mode)
            io_uring_prep_msg_ring_fd_alloc(sqe, rb.ring_fd, 0, now_ns(), 0);
        else
            io_uring_prep_msg_ring(sqe, rb.ring_fd, 0, now_ns(), 0);
        sqe->user_data = 1;
        io_uring_submit(&ra);
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&ra, &cqe) == 0) {
            if (cqe->res < 0) {
                fprintf(stderr, "wake-floor: msg_ring failed: %s\n", strerror(-cqe->res));
                return 1;
            }
            io_uring_cqe_seen(&ra, cqe);
        }
    }
    pthread_join(t, NULL);
    qsort(lat, (size_t)n, sizeof(uint64_t), cmp);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)lat[i];
    printf(
        "{\"fd\":%s,\"n\":%d,\"cpuA\":%d,\"cpuB\":%d,\"p50Us\":%.2f,\"p90Us\":%.2f,\"p99Us\":%.2f,"
        "\"maxUs\":%.2f,\"meanUs\":%.2f}\n",
        fd_mode ? "true" : "false", n, cpu_a, cpu_b, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3,
        lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3, sum / n / 1e3);
    return 0;
}

/*
 * loadgen: a small multi-threaded epoll TCP load client for echo servers.
 *
 * Usage: loadgen --host H --port P [--connections 100] [--threads 1]
 *                [--duration 5] [--warmup 1] [--size 64] [--mode echo|churn]
 *                [--rate 0] [--source 127.0.0.1-127.0.0.16] [--json]
 *
 * mode echo  : every connection does ping-pong with `size`-byte messages whose
 *              bytes are a deterministic function of (connection index,
 *              message number, offset); every echoed byte is verified.
 * mode churn : every slot loops connect / send / read echo / verify / close.
 * --rate R   : open loop. Operations (messages, or connection cycles in churn
 *              mode) are scheduled at R per second in total, operation m at
 *              t0 + m/R, operation j of connection k being m = j*connections+k.
 *              A connection has at most one operation in flight; a late
 *              operation is issued as soon as the previous one completes and
 *              its latency is measured from its scheduled time.
 *
 * The run lasts warmup + duration seconds; messages / connections completed
 * inside the last `duration` seconds are counted and their latency recorded.
 * Errors and verification failures are counted over the whole run.
 *
 * Exit status: 0 ok, 1 verification failure or nothing completed, 2 bad options.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define IOBUF (64 * 1024)
#define MAX_EVENTS 512
#define ERR_SLOTS 256
#define ERR_EOF 0 /* errno 0 slot: peer closed before the echo was complete */
#define MAX_REPORTED_MISMATCHES 10
#define ECHO_RECONNECT_NS 100000000LL /* 100 ms before an echo connection reconnects */
#define CHURN_RETRY_NS 1000000LL      /* 1 ms before a churn slot retries after an error */

/* ---------- configuration ---------- */

enum { MODE_ECHO, MODE_CHURN };

static struct {
    const char *host;
    int port;
    int connections;
    int threads;
    double duration;
    double warmup;
    uint32_t size;
    int mode;
    double rate;
    int json;
    uint32_t src_base; /* host byte order */
    uint32_t src_count;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    int64_t t0, t_measure, t_end;
    double ns_per_op; /* open loop: 1e9 / rate */
} cfg;

static atomic_int g_reported_mismatches;
static int g_have_pwait2 = 1;

/* ---------- time ---------- */

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------- latency histogram: log-linear, 32 sub-buckets per power of two ---------- */

#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
#define HBUCKETS ((64 - SUB_BITS + 1) * SUB)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HBUCKETS];
};

static inline int hist_index(uint64_t v)
{
    if (v < 2 * SUB) return (int)v;
    int e = 63 - __builtin_clzll(v);
    return (e - SUB_BITS + 1) * SUB + (int)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* Representative value (middle of the bucket) for a bucket index. */
static uint64_t hist_value(int i)
{
    if (i < 2 * SUB) return (uint64_t)i;
    int e = i / SUB + SUB_BITS - 1;
    uint64_t sub = (uint64_t)(i % SUB);
    uint64_t width = 1ULL << (e - SUB_BITS);
    return ((SUB + sub) << (e - SUB_BITS)) + width / 2;
}

static inline void hist_record(struct hist *h, int64_t v)
{
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    h->b[hist_index(u)]++;
    h->count++;
    if (u > h->max) h->max = u;
}

static void hist_merge(struct hist *dst, const struct hist *src)
{
    for (int i = 0; i < HBUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    if (src->max > dst->max) dst->max = src->max;
}

static uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0) return 0;
    double exact = p / 100.0 * (double)h->count;
    uint64_t target = (uint64_t)exact;
    if ((double)target < exact) target++; /* ceil without libm */
    if (target < 1) target = 1;
    uint64_t acc = 0;
    for (int i = 0; i < HBUCKETS; i++) {
        acc += h->b[i];
        if (acc >= target) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---------- deterministic payload ---------- */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Byte at `offset` of message `seq` of connection `conn`:
 * byte (offset % 8) of mix64(seed(conn, seq) + (offset / 8) * golden). */
static void fill_pattern(uint8_t *dst, uint32_t conn, uint64_t seq, uint32_t off, uint32_t len)
{
    uint64_t seed = mix64(mix64((uint64_t)conn + 0x632be59bd9b4e019ULL) + seq);
    uint32_t i = off, end = off + len;
    while (i < end) {
        uint64_t w = mix64(seed + (uint64_t)(i >> 3) * 0x9e3779b97f4a7c15ULL);
        for (uint32_t b = i & 7; b < 8 && i < end; b++, i++)
            *dst++ = (uint8_t)(w >> (8 * b));
    }
}

/* ---------- per-connection and per-thread state ---------- */

enum { ST_IDLE, ST_CONNECTING, ST_READY, ST_ACTIVE };

struct conn {
    int fd;
    int state;
    uint32_t gidx;    /* global connection / slot index */
    int heap_idx;     /* position in the timer heap, -1 if absent */
    uint64_t seq;     /* payload message number */
    uint64_t next_j;  /* open loop: index of the next scheduled operation */
    int64_t op_start; /* latency origin of the operation in flight */
    int64_t wake;     /* timer heap key */
    uint32_t sent, recvd;
    uint8_t readable, writable, bad;
};

struct thr {
    pthread_t tid;
    int id;
    int epfd;
    struct conn *conns;
    int nconns;
    struct conn **heap;
    int heap_n;
    uint8_t *txbuf, *rxbuf, *expbuf;
    uint32_t src_next;
    uint64_t messages; /* echo: messages completed in the window; churn: cycles */
    uint64_t connects; /* echo: connections established (whole run); churn: cycles in window */
    uint64_t verify_failures;
    uint64_t errs[ERR_SLOTS];
    struct hist hist;
};

/* ---------- timer heap (min-heap on conn->wake) ---------- */

static inline void heap_set(struct thr *t, int i, struct conn *c)
{
    t->heap[i] = c;
    c->heap_idx = i;
}

static void heap_up(struct thr *t, int i)
{
    struct conn *c = t->heap[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (t->heap[p]->wake <= c->wake) break;
        heap_set(t, i, t->heap[p]);
        i = p;
    }
    heap_set(t, i, c);
}

static void heap_down(struct thr *t, int i)
{
    struct conn *c = t->heap[i];
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        int64_t mw = c->wake;
        if (l < t->heap_n && t->heap[l]->wake < mw) {
            m = l;
            mw = t->heap[l]->wake;
        }
        if (r < t->heap_n && t->heap[r]->wake < mw) m = r;
        if (m == i) break;
        heap_set(t, i, t->heap[m]);
        i = m;
    }
    heap_set(t, i, c);
}

static void heap_push(struct thr *t, struct conn *c, int64_t wake)
{
    c->wake = wake;
    heap_set(t, t->heap_n++, c);
    heap_up(t, c->heap_idx);
}

static void heap_remove(struct thr *t, struct conn *c)
{
    int i = c->heap_idx;
    int last = --t->heap_n;
    if (i != last) {
        struct conn *moved = t->heap[last];
        heap_set(t, i, moved);
        heap_down(t, i);
        heap_up(t, moved->heap_idx);
    }
    c->heap_idx = -1;
}

/* ---------- operations ---------- */

static void progress(struct thr *t, struct conn *c);
static void start_connect(struct thr *t, struct conn *c);

static inline int64_t sched_time(const struct conn *c, uint64_t j)
{
    double m = (double)j * (double)cfg.connections + (double)c->gidx;
    return cfg.t0 + (int64_t)(m * cfg.ns_per_op);
}

static inline int in_window(int64_t now) { return now >= cfg.t_measure && now < cfg.t_end; }

static void count_error(struct thr *t, int err)
{
    if (err < 0 || err >= ERR_SLOTS) err = ERR_SLOTS - 1;
    t->errs[err]++;
}

static void close_fd(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Schedule the next operation of a slot that currently has no socket (churn)
 * or the next message of a connected, idle connection (echo). `not_before`
 * is an extra lower bound (error back-off). */
static void schedule_next(struct thr *t, struct conn *c, int64_t now, int64_t not_before)
{
    int64_t due = cfg.rate > 0 ? sched_time(c, c->next_j) : now;
    if (due < not_before) due = not_before;
    if (due <= now) {
        if (cfg.rate > 0)
            c->op_start = sched_time(c, c->next_j++);
        else
            c->op_start = now;
        if (cfg.mode == MODE_CHURN) {
            start_connect(t, c);
        } else {
            c->sent = c->recvd = 0;
            c->bad = 0;
            c->state = ST_ACTIVE;
            progress(t, c);
        }
    } else {
        heap_push(t, c, due);
    }
}

static void fail(struct thr *t, struct conn *c, int err)
{
    count_error(t, err);
    close_fd(c);
    if (c->heap_idx >= 0) heap_remove(t, c);
    c->state = ST_IDLE;
    int64_t now = now_ns();
    if (cfg.mode == MODE_ECHO) {
        heap_push(t, c, now + ECHO_RECONNECT_NS);
    } else {
        c->seq++;
        schedule_next(t, c, now, now + CHURN_RETRY_NS);
    }
}

static void start_connect(struct thr *t, struct conn *c)
{
    c->readable = 0;
    c->writable = 0;
    c->sent = c->recvd = 0;
    c->bad = 0;
    int fd = socket(cfg.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(t, c, errno);
        return;
    }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg.src_count) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(cfg.src_base + (t->src_next++ % cfg.src_count));
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fail(t, c, errno);
            return;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        fail(t, c, errno);
        return;
    }
    c->state = ST_CONNECTING;
    if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) fail(t, c, errno);
        return; /* completion is reported by EPOLLOUT / EPOLLERR */
    }
    /* Connected synchronously: the edge-triggered EPOLLOUT will also arrive;
     * treat it as connected now and let the flags absorb the later event. */
    c->writable = 1;
    c->state = cfg.mode == MODE_CHURN ? ST_ACTIVE : ST_READY;
    if (cfg.mode == MODE_CHURN) {
        progress(t, c);
    } else {
        t->connects++;
        schedule_next(t, c, now_ns(), 0);
    }
}

static void on_connected(struct thr *t, struct conn *c)
{
    if (cfg.mode == MODE_CHURN) {
        c->state = ST_ACTIVE;
        progress(t, c);
    } else {
        t->connects++;
        c->state = ST_READY;
        schedule_next(t, c, now_ns(), 0);
    }
}

static void report_mismatch(struct thr *t, struct conn *c, uint32_t off, uint8_t want, uint8_t got)
{
    (void)t;
    if (atomic_fetch_add(&g_reported_mismatches, 1) < MAX_REPORTED_MISMATCHES)
        fprintf(stderr,
                "loadgen: verify mismatch: connection %u message %llu offset %u: expected 0x%02x "
                "got 0x%02x\n",
                c->gidx, (unsigned long long)c->seq, off, want, got);
}

static void verify_chunk(struct thr *t, struct conn *c, const uint8_t *data, uint32_t off,
                         uint32_t n)
{
    if (c->bad) return; /* already counted for this message */
    fill_pattern(t->expbuf, c->gidx, c->seq, off, n);
    if (memcmp(t->expbuf, data, n) == 0) return;
    uint32_t i = 0;
    while (i < n && t->expbuf[i] == data[i])
        i++;
    c->bad = 1;
    t->verify_failures++;
    report_mismatch(t, c, off + i, t->expbuf[i], data[i]);
}

static void complete(struct thr *t, struct conn *c)
{
    int64_t now = now_ns();
    c->readable = 0; /* next data can only arrive after the next send: a new edge */
    if (!c->bad && in_window(now)) {
        t->messages++;
        if (cfg.mode == MODE_CHURN) t->connects++;
        hist_record(&t->hist, now - c->op_start);
    }
    c->seq++;
    if (cfg.mode == MODE_CHURN) {
        close_fd(c);
        c->state = ST_IDLE;
        schedule_next(t, c, now, 0);
    } else {
        c->state = ST_READY;
        schedule_next(t, c, now, 0);
    }
}

static void progress(struct thr *t, struct conn *c)
{
    const uint32_t size = cfg.size;
    while (c->sent < size && c->writable) {
        uint32_t chunk = size - c->sent;
        if (chunk > IOBUF) chunk = IOBUF;
        fill_pattern(t->txbuf, c->gidx, c->seq, c->sent, chunk);
        ssize_t n = send(c->fd, t->txbuf, chunk, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (uint32_t)n;
            if ((uint32_t)n < chunk)
                c->writable = 0; /* send buffer full; EPOLLOUT edge will follow */
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->writable = 0;
        } else {
            fail(t, c, n == 0 ? EIO : errno);
            return;
        }
    }
    while (c->recvd < size && c->readable) {
        uint32_t want = size - c->recvd;
        if (want > IOBUF) want = IOBUF;
        ssize_t n = recv(c->fd, t->rxbuf, want, 0);
        if (n > 0) {
            verify_chunk(t, c, t->rxbuf, c->recvd, (uint32_t)n);
            c->recvd += (uint32_t)n;
            if ((uint32_t)n < want) c->readable = 0; /* drained; new data raises a new edge */
        } else if (n == 0) {
            fail(t, c, ERR_EOF);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->readable = 0;
        } else {
            fail(t, c, errno);
            return;
        }
    }
    if (c->recvd == size) complete(t, c);
}

/* A connected connection with nothing in flight became readable: either the
 * server closed it or it sent bytes nobody asked for. */
static void idle_read(struct thr *t, struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, t->rxbuf, IOBUF, 0);
        if (n > 0) {
            t->verify_failures++;
            if (atomic_fetch_add(&g_reported_mismatches, 1) < MAX_REPORTED_MISMATCHES)
                fprintf(stderr,
                        "loadgen: connection %u received %zd unexpected bytes after message %llu\n",
                        c->gidx, n, (unsigned long long)c->seq);
            continue;
        }
        if (n == 0) {
            fail(t, c, ERR_EOF);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->readable = 0;
            return;
        }
        fail(t, c, errno);
        return;
    }
}

static void on_event(struct thr *t, struct conn *c, uint32_t ev)
{
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = 1;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->writable = 1;
    switch (c->state) {
    case ST_CONNECTING:
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t l = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
            if (err)
                fail(t, c, err);
            else if (ev & EPOLLOUT)
                on_connected(t, c);
            else
                fail(t, c, ECONNRESET);
        }
        break;
    case ST_ACTIVE: progress(t, c); break;
    case ST_READY:
        if (c->readable) idle_read(t, c);
        break;
    default: break;
    }
}

static void on_timer(struct thr *t, struct conn *c, int64_t now)
{
    if (c->state == ST_IDLE && cfg.mode == MODE_ECHO) {
        start_connect(t, c);
        return;
    }
    /* churn slot waiting for its next cycle, or echo connection waiting for its next message */
    if (cfg.rate > 0)
        c->op_start = sched_time(c, c->next_j++);
    else
        c->op_start = now;
    if (cfg.mode == MODE_CHURN) {
        start_connect(t, c);
    } else {
        c->sent = c->recvd = 0;
        c->bad = 0;
        c->state = ST_ACTIVE;
        progress(t, c);
    }
}

static int wait_events(int epfd, struct epoll_event *evs, int64_t timeout_ns)
{
    if (timeout_ns < 0) timeout_ns = 0;
    if (g_have_pwait2) {
        struct timespec ts = {.tv_sec = timeout_ns / 1000000000LL,
                              .tv_nsec = timeout_ns % 1000000000LL};
        int n = epoll_pwait2(epfd, evs, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        g_have_pwait2 = 0;
    }
    int ms = (int)((timeout_ns + 999999) / 1000000);
    return epoll_wait(epfd, evs, MAX_EVENTS, ms);
}

static void *thread_main(void *arg)
{
    struct thr *t = arg;
    struct epoll_event evs[MAX_EVENTS];
    /* default 50 us timer slack would show up as open-loop latency */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    int64_t now = now_ns();
    for (int i = 0; i < t->nconns; i++) {
        struct conn *c = &t->conns[i];
        if (cfg.mode == MODE_ECHO)
            start_connect(t, c);
        else
            schedule_next(t, c, now, 0);
    }
    for (;;) {
        now = now_ns();
        if (now >= cfg.t_end) break;
        while (t->heap_n > 0 && t->heap[0]->wake <= now) {
            struct conn *c = t->heap[0];
            heap_remove(t, c);
            on_timer(t, c, now);
        }
        int64_t deadline = cfg.t_end;
        if (t->heap_n > 0 && t->heap[0]->wake < deadline) deadline = t->heap[0]->wake;
        int n = wait_events(t->epfd, evs, deadline - now_ns());
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("loadgen: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++)
            on_event(t, evs[i].data.ptr, evs[i].events);
    }
    for (int i = 0; i < t->nconns; i++)
        close_fd(&t->conns[i]);
    close(t->epfd);
    return NULL;
}

/* ---------- options ---------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen --host H --port P [--connections 100] [--threads 1] [--duration 5]\n"
               "               [--warmup 1] [--size 64] [--mode echo|churn] [--rate 0]\n"
               "               [--source 127.0.0.1-127.0.0.16] [--json]\n");
}

static void bad_option(const char *opt, const char *val, const char *why)
{
    fprintf(stderr, "loadgen: bad option %s%s%s: %s\n", opt, val ? " " : "", val ? val : "", why);
    usage(stderr);
    exit(2);
}

static long parse_int(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) bad_option(opt, s, "not an integer");
    if (v < lo || v > hi) bad_option(opt, s, "out of range");
    return v;
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) bad_option(opt, s, "not a number");
    if (v < lo || v > hi) bad_option(opt, s, "out of range");
    return v;
}

static void parse_source(const char *s)
{
    char a[64], b[64];
    const char *dash = strchr(s, '-');
    if (strlen(s) >= sizeof a) bad_option("--source", s, "too long");
    if (dash) {
        size_t la = (size_t)(dash - s);
        memcpy(a, s, la);
        a[la] = 0;
        strcpy(b, dash + 1);
    } else {
        strcpy(a, s);
        strcpy(b, s);
    }
    struct in_addr ia, ib;
    if (inet_pton(AF_INET, a, &ia) != 1 || inet_pton(AF_INET, b, &ib) != 1)
        bad_option("--source", s, "expected IPv4 address or range A-B");
    uint32_t lo = ntohl(ia.s_addr), hi = ntohl(ib.s_addr);
    if (hi < lo) bad_option("--source", s, "range end is below range start");
    if (hi - lo >= 65536) bad_option("--source", s, "range too large");
    cfg.src_base = lo;
    cfg.src_count = hi - lo + 1;
}

static void parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"connections", required_argument, NULL, 'c'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},
        {"size", required_argument, NULL, 's'},
        {"mode", required_argument, NULL, 'm'},
        {"rate", required_argument, NULL, 'r'},
        {"source", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    cfg.host = "127.0.0.1";
    cfg.port = -1;
    cfg.connections = 100;
    cfg.threads = 1;
    cfg.duration = 5;
    cfg.warmup = 1;
    cfg.size = 64;
    cfg.mode = MODE_ECHO;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'H': cfg.host = optarg; break;
        case 'p': cfg.port = (int)parse_int("--port", optarg, 1, 65535); break;
        case 'c': cfg.connections = (int)parse_int("--connections", optarg, 1, 1000000); break;
        case 't': cfg.threads = (int)parse_int("--threads", optarg, 1, 1024); break;
        case 'd': cfg.duration = parse_num("--duration", optarg, 0.001, 86400); break;
        case 'w': cfg.warmup = parse_num("--warmup", optarg, 0, 86400); break;
        case 's': cfg.size = (uint32_t)parse_int("--size", optarg, 1, 64L << 20); break;
        case 'm':
            if (strcmp(optarg, "echo") == 0)
                cfg.mode = MODE_ECHO;
            else if (strcmp(optarg, "churn") == 0)
                cfg.mode = MODE_CHURN;
            else
                bad_option("--mode", optarg, "expected echo or churn");
            break;
        case 'r': cfg.rate = parse_num("--rate", optarg, 0, 1e9); break;
        case 'S': parse_source(optarg); break;
        case 'j': cfg.json = 1; break;
        case 'h': usage(stdout); exit(0);
        case ':': bad_option(argv[optind - 1], NULL, "missing value"); break;
        default: bad_option(argv[optind - 1], NULL, "unknown option or missing value"); break;
        }
    }
    if (optind < argc) bad_option(argv[optind], NULL, "unexpected argument");
    if (cfg.port < 0) bad_option("--port", NULL, "required");
    if (cfg.threads > cfg.connections) cfg.threads = cfg.connections;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", cfg.port);
    int gerr = getaddrinfo(cfg.host, portstr, &hints, &ai);
    if (gerr) bad_option("--host", cfg.host, gai_strerror(gerr));
    memcpy(&cfg.addr, ai->ai_addr, ai->ai_addrlen);
    cfg.addrlen = ai->ai_addrlen;
    cfg.family = ai->ai_family;
    freeaddrinfo(ai);
    if (cfg.src_count && cfg.family != AF_INET)
        bad_option("--source", NULL, "source addresses are IPv4 but --host is not");
}

/* ---------- output ---------- */

static const char *err_name(int e, char *buf, size_t n)
{
    if (e == ERR_EOF) return "EOF";
    const char *s = strerrorname_np(e);
    if (s) return s;
    snprintf(buf, n, "errno_%d", e);
    return buf;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    cfg.ns_per_op = cfg.rate > 0 ? 1e9 / cfg.rate : 0;
    struct thr *ts = calloc((size_t)cfg.threads, sizeof *ts);
    struct conn *conns = calloc((size_t)cfg.connections, sizeof *conns);
    if (!ts || !conns) {
        perror("loadgen: calloc");
        return 1;
    }
    for (int i = 0; i < cfg.threads; i++) {
        struct thr *t = &ts[i];
        t->id = i;
        t->src_next = (uint32_t)i;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->txbuf = malloc(IOBUF);
        t->rxbuf = malloc(IOBUF);
        t->expbuf = malloc(IOBUF);
        t->heap = calloc((size_t)cfg.connections / (size_t)cfg.threads + 1, sizeof *t->heap);
        t->conns = calloc((size_t)cfg.connections / (size_t)cfg.threads + 1, sizeof *t->conns);
        if (t->epfd < 0 || !t->txbuf || !t->rxbuf || !t->expbuf || !t->heap || !t->conns) {
            perror("loadgen: setup");
            return 1;
        }
    }
    free(conns);
    /* connection k goes to thread k % threads, so each thread's schedule is evenly spread */
    for (int k = 0; k < cfg.connections; k++) {
        struct thr *t = &ts[k % cfg.threads];
        struct conn *c = &t->conns[t->nconns++];
        c->fd = -1;
        c->gidx = (uint32_t)k;
        c->heap_idx = -1;
        c->state = ST_IDLE;
    }

    cfg.t0 = now_ns();
    cfg.t_measure = cfg.t0 + (int64_t)(cfg.warmup * 1e9);
    cfg.t_end = cfg.t_measure + (int64_t)(cfg.duration * 1e9);
    for (int i = 0; i < cfg.threads; i++) {
        if (pthread_create(&ts[i].tid, NULL, thread_main, &ts[i]) != 0) {
            perror("loadgen: pthread_create");
            return 1;
        }
    }

    static struct hist h;
    uint64_t messages = 0, connects = 0, vfail = 0, errs[ERR_SLOTS] = {0};
    for (int i = 0; i < cfg.threads; i++) {
        struct thr *t = &ts[i];
        pthread_join(t->tid, NULL);
        messages += t->messages;
        connects += t->connects;
        vfail += t->verify_failures;
        for (int e = 0; e < ERR_SLOTS; e++)
            errs[e] += t->errs[e];
        hist_merge(&h, &t->hist);
    }

    double dur = cfg.duration;
    double mps = (double)messages / dur;
    double mibps = (double)messages * (double)cfg.size / dur / (1024.0 * 1024.0);
    double cps = cfg.mode == MODE_CHURN ? (double)connects / dur : 0.0;
    double p50 = hist_percentile(&h, 50) / 1e3, p90 = hist_percentile(&h, 90) / 1e3;
    double p99 = hist_percentile(&h, 99) / 1e3, p999 = hist_percentile(&h, 99.9) / 1e3;
    double pmax = (double)h.max / 1e3;
    const char *mode = cfg.mode == MODE_CHURN ? "churn" : "echo";
    char nb[32];

    if (cfg.json) {
        printf("{\"mode\":\"%s\",\"connections\":%d,\"threads\":%d,\"size\":%u,\"duration_s\":%.3f,"
               "\"rate\":%.10g,"
               "\"messages\":%llu,\"msgs_per_s\":%.1f,\"mib_per_s\":%.3f,\"connects\":%llu,\"conns_"
               "per_s\":%.1f,"
               "\"errors\":{",
               mode, cfg.connections, cfg.threads, cfg.size, dur, cfg.rate,
               (unsigned long long)messages, mps, mibps, (unsigned long long)connects, cps);
        int first = 1;
        for (int e = 0; e < ERR_SLOTS; e++) {
            if (!errs[e]) continue;
            printf("%s\"%s\":%llu", first ? "" : ",", err_name(e, nb, sizeof nb),
                   (unsigned long long)errs[e]);
            first = 0;
        }
        printf("},\"verify_failures\":%llu,\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
               "\"p999\":%.3f,"
               "\"max\":%.3f}}\n",
               (unsigned long long)vfail, p50, p90, p99, p999, pmax);
    } else {
        printf("mode %s, %d connections, %d threads, %u-byte messages, %.3f s measured after %.3f "
               "s warmup, %s\n",
               mode, cfg.connections, cfg.threads, cfg.size, dur, cfg.warmup,
               cfg.rate > 0 ? "open loop" : "closed loop");
        if (cfg.rate > 0) printf("target rate    %.1f /s\n", cfg.rate);
        printf("messages       %llu (%.1f msgs/s, %.3f MiB/s)\n", (unsigned long long)messages, mps,
               mibps);
        if (cfg.mode == MODE_CHURN)
            printf("connections    %llu (%.1f conns/s)\n", (unsigned long long)connects, cps);
        else
            printf("connects       %llu\n", (unsigned long long)connects);
        printf("latency (us)   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p50, p90, p99,
               p999, pmax);
        printf("errors        ");
        int any = 0;
        for (int e = 0; e < ERR_SLOTS; e++) {
            if (!errs[e]) continue;
            printf(" %s=%llu", err_name(e, nb, sizeof nb), (unsigned long long)errs[e]);
            any = 1;
        }
        printf("%s\nverify fails   %llu\n", any ? "" : " none", (unsigned long long)vfail);
    }
    fflush(stdout);

    uint64_t done = cfg.mode == MODE_CHURN ? connects : messages;
    if (vfail > 0 || done == 0) return 1;
    return 0;
}

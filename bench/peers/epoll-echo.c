/*
 * epoll-echo: a small, fast epoll TCP echo server (the "C peer").
 *
 * Usage: epoll-echo [--host 127.0.0.1] [--port 0] [--threads 1] [--backlog 511]
 *                   [--acceptor-thread]
 *
 * Each thread owns an SO_REUSEPORT listener and its own epoll instance, so
 * --threads 1 is a plain single-threaded event loop.
 *
 * --acceptor-thread is ringleader's design in plain syscalls, the floor for
 * its acceptor ceiling: one listener, one thread blocked in accept4(2) that
 * hands each connection round-robin to a worker by writing the fd into the
 * worker's pipe (two syscalls per connection, no event loop); the workers
 * only serve. It prints "acceptor tid N" so its CPU can be read from
 * /proc/PID/task/N/stat. Sockets are level
 * triggered. A connection reads into a per-thread 64 KiB buffer and writes the
 * bytes straight back; if the kernel takes only part of them, the unsent tail
 * is kept per connection, the connection stops reading (EPOLLIN is dropped
 * from its interest set) and waits for EPOLLOUT until the tail is drained.
 * Bytes are therefore never lost or reordered.
 *
 * Prints "listening <port>" once every listener is bound. SIGINT/SIGTERM stop
 * all threads and the process exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)
#define MAX_EVENTS 256

enum { K_LISTEN = 1, K_WAKE = 2, K_CONN = 3, K_PIPE = 4 };

struct conn {
    int kind;
    int fd;
    char *pend;      /* unsent tail, NULL when fully flushed */
    size_t pend_len; /* bytes in pend */
    size_t pend_off; /* bytes of pend already written */
};

struct worker {
    pthread_t tid;
    int index;
    int lfd;
    int epfd;
    int wakefd;
    int spare_fd;         /* reserve descriptor for EMFILE handling */
    int pipe_rd, pipe_wr; /* --acceptor-thread: connections handed to this worker */
    struct conn lconn;
    struct conn wconn;
    struct conn pconn;
    char *buf;
};

static volatile int g_stop;

static void die(const char *what)
{
    fprintf(stderr, "epoll-echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage_error(const char *opt, const char *why)
{
    fprintf(stderr, "epoll-echo: bad option %s: %s\n", opt, why);
    fprintf(stderr,
            "usage: epoll-echo [--host 127.0.0.1] [--port 0] [--threads 1] [--backlog 511]\n"
            "                  [--acceptor-thread]\n");
    exit(2);
}

static long parse_long(const char *opt, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) usage_error(opt, s);
    return v;
}

static void conn_close(struct worker *w, struct conn *c)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pend);
    free(c);
}

static int set_interest(struct worker *w, struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    return epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
}

/* Write data to c; returns 0 if everything was written, 1 if a tail was kept
 * (and interest switched to EPOLLOUT), -1 on a fatal error. */
static int conn_send(struct worker *w, struct conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            size_t rest = len - off;
            char *p = malloc(rest);
            if (!p) return -1;
            memcpy(p, data + off, rest);
            c->pend = p;
            c->pend_len = rest;
            c->pend_off = 0;
            if (set_interest(w, c, EPOLLOUT) < 0) return -1;
            return 1;
        }
        return -1;
    }
    return 0;
}

static void on_readable(struct worker *w, struct conn *c)
{
    ssize_t n = recv(c->fd, w->buf, RBUF_SIZE, 0);
    if (n > 0) {
        if (conn_send(w, c, w->buf, (size_t)n) < 0) conn_close(w, c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    conn_close(w, c); /* EOF or error */
}

static void on_writable(struct worker *w, struct conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->pend_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* still blocked; EPOLLOUT stays armed */
        conn_close(w, c);
        return;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    if (set_interest(w, c, EPOLLIN) < 0) conn_close(w, c);
}

/* a connection accepted here or by the acceptor thread: serve it */
static void conn_add(struct worker *w, int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->kind = K_CONN;
    c->fd = fd;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        close(fd);
        free(c);
    }
}

/* fds the acceptor thread wrote into this worker's pipe */
static void on_handoff(struct worker *w)
{
    int fds[64];
    ssize_t n = read(w->pipe_rd, fds, sizeof fds);
    for (ssize_t i = 0; i < n / (ssize_t)sizeof(int); i++)
        conn_add(w, fds[i]);
}

static void on_accept(struct worker *w)
{
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if ((errno == EMFILE || errno == ENFILE) && w->spare_fd >= 0) {
                /* Out of descriptors: accept-and-drop one connection using the
                 * reserve descriptor so the level-triggered listener does not spin. */
                close(w->spare_fd);
                int t = accept(w->lfd, NULL, NULL);
                if (t >= 0) close(t);
                w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return; /* EAGAIN or anything else */
        }
        conn_add(w, fd);
    }
}

struct acceptor {
    pthread_t tid;
    int lfd;
    struct worker *ws;
    long nworkers;
    volatile long tid_num; /* set by the thread itself; main prints it */
};

/* --acceptor-thread: block in accept4, pass each fd on through a pipe */
static void *acceptor_main(void *arg)
{
    struct acceptor *a = arg;
    a->tid_num = (long)gettid();
    long next = 0;
    while (!g_stop) {
        int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EMFILE || errno == ENFILE) {
                usleep(1000); /* the backlog holds them until fds are free */
                continue;
            }
            break; /* EINVAL after shutdown(2): stopping */
        }
        struct worker *w = &a->ws[next];
        next = (next + 1) % a->nworkers;
        if (write(w->pipe_wr, &fd, sizeof fd) != (ssize_t)sizeof fd) close(fd);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    while (!g_stop) {
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            uint32_t ev = evs[i].events;
            if (c->kind == K_LISTEN) {
                on_accept(w);
            } else if (c->kind == K_PIPE) {
                on_handoff(w);
            } else if (c->kind == K_WAKE) {
                g_stop = 1;
            } else if (c->pend) {
                if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(w, c);
            } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(w, c);
            }
        }
    }
    return NULL;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long port = 0, nthreads = 1, backlog = 511;
    int central = 0; /* --acceptor-thread */
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"backlog", required_argument, NULL, 'b'},
        {"acceptor-thread", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, '?'},
        {0, 0, 0, 0},
    };
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': host = optarg; break;
        case 'p': port = parse_long("--port", optarg, 0, 65535); break;
        case 't': nthreads = parse_long("--threads", optarg, 1, 1024); break;
        case 'b': backlog = parse_long("--backlog", optarg, 1, 1 << 20); break;
        case 'a': central = 1; break;
        default:
            usage_error(optind > 1 && optind <= argc ? argv[optind - 1] : "?",
                        "unknown option or missing value");
        }
    }
    if (optind < argc) usage_error(argv[optind], "unexpected argument");

    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    /* Block the stop signals in every thread; main waits for them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%ld", port);
    int gerr = getaddrinfo(host, portstr, &hints, &ai);
    if (gerr) {
        fprintf(stderr, "epoll-echo: bad option --host: %s: %s\n", host, gai_strerror(gerr));
        return 2;
    }
    struct sockaddr_storage addr;
    socklen_t alen = ai->ai_addrlen;
    memcpy(&addr, ai->ai_addr, alen);
    int family = ai->ai_family;
    freeaddrinfo(ai);

    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    if (!ws) die("calloc");
    int bound_port = (int)port;
    /* the listeners: one per worker, or the acceptor thread's own (blocking) */
    long nlisteners = central ? 1 : nthreads;
    int *lfds = calloc((size_t)nlisteners, sizeof *lfds);
    if (!lfds) die("calloc");
    for (long i = 0; i < nlisteners; i++) {
        int lfd = lfds[i] =
            socket(family, SOCK_STREAM | (central ? 0 : SOCK_NONBLOCK) | SOCK_CLOEXEC, 0);
        if (lfd < 0) die("socket");
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
            die("setsockopt SO_REUSEPORT");
        /* With --port 0 the first listener picks the port; the others join it. */
        if (family == AF_INET)
            ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)bound_port);
        else
            ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)bound_port);
        if (bind(lfd, (struct sockaddr *)&addr, alen) < 0) die("bind");
        if (listen(lfd, (int)backlog) < 0) die("listen");
        if (i == 0) {
            struct sockaddr_storage got;
            socklen_t gl = sizeof got;
            if (getsockname(lfd, (struct sockaddr *)&got, &gl) < 0) die("getsockname");
            bound_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                                 : ((struct sockaddr_in6 *)&got)->sin6_port);
        }
    }
    for (long i = 0; i < nthreads; i++) {
        struct worker *w = &ws[i];
        w->index = (int)i;
        w->lfd = central ? -1 : lfds[i];
        w->pipe_rd = w->pipe_wr = -1;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epfd < 0) die("epoll_create1");
        w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wakefd < 0) die("eventfd");
        w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        w->buf = malloc(RBUF_SIZE);
        if (!w->buf) die("malloc");
        w->lconn.kind = K_LISTEN;
        w->lconn.fd = w->lfd;
        w->wconn.kind = K_WAKE;
        w->wconn.fd = w->wakefd;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->lconn};
        if (central) {
            int p[2];
            if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) die("pipe2");
            w->pipe_rd = p[0];
            w->pipe_wr = p[1];
            /* the acceptor blocks when a pipe is full, rather than drop */
            if (fcntl(w->pipe_wr, F_SETFL, 0) < 0) die("fcntl");
            w->pconn.kind = K_PIPE;
            w->pconn.fd = w->pipe_rd;
            e.data.ptr = &w->pconn;
            if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pipe_rd, &e) < 0) die("epoll_ctl pipe");
        } else if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lfd, &e) < 0) {
            die("epoll_ctl listener");
        }
        e.data.ptr = &w->wconn;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &e) < 0) die("epoll_ctl eventfd");
    }
    for (long i = 0; i < nthreads; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) die("pthread_create");
    struct acceptor acc = {.lfd = lfds[0], .ws = ws, .nworkers = nthreads};
    if (central) {
        if (pthread_create(&acc.tid, NULL, acceptor_main, &acc) != 0) die("pthread_create");
        while (!acc.tid_num)
            usleep(100);
        printf("acceptor tid %ld\n", acc.tid_num);
    }

    printf("listening %d\n", bound_port);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    g_stop = 1;
    if (central) {
        shutdown(acc.lfd, SHUT_RD); /* wakes the blocked accept4 */
        pthread_join(acc.tid, NULL);
        close(acc.lfd);
    }
    for (long i = 0; i < nthreads; i++) {
        uint64_t one = 1;
        if (write(ws[i].wakefd, &one, sizeof one) < 0) { /* best effort */
        }
    }
    for (long i = 0; i < nthreads; i++) {
        pthread_join(ws[i].tid, NULL);
        if (ws[i].lfd >= 0) close(ws[i].lfd);
        if (central) {
            close(ws[i].pipe_rd);
            close(ws[i].pipe_wr);
        }
        close(ws[i].epfd);
        close(ws[i].wakefd);
        free(ws[i].buf);
    }
    free(ws);
    free(lfds);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* Small harness for the native tests: exit 0 pass, 1 fail, 77 skip. */
#ifndef RL_TEST_HELPERS_H
#define RL_TEST_HELPERS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

static int rl_test_failures;

/* each macro evaluates cond exactly once */
#define CHECK(cond, ...)                                                                \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			rl_test_failures++;                                             \
		}                                                                       \
	} while (0)

#define REQUIRE(cond, ...)                                                              \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			exit(1);                                                        \
		}                                                                       \
	} while (0)

#define SKIP_IF(cond, why)                                  \
	do {                                                \
		if (cond) {                                 \
			fprintf(stderr, "SKIP: %s\n", why); \
			exit(77);                           \
		}                                           \
	} while (0)

#define DONE()                                                                     \
	do {                                                                       \
		if (rl_test_failures) {                                            \
			fprintf(stderr, "%d check(s) failed\n", rl_test_failures); \
			return 1;                                                  \
		}                                                                  \
		printf("ok\n");                                                    \
		return 0;                                                          \
	} while (0)

/* ---- a verifying echo client, shared by the engine tests ---- */
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct echo_clients {
	int port;
	int clients;     /* connections in all */
	int concurrency; /* threads, each running clients / concurrency in turn */
	size_t max_len;  /* payloads are 1..max_len bytes */
	size_t chunk;    /* bytes per send */
	unsigned seed_salt;
	int early_shut;    /* 1: shutdown(SHUT_WR) as soon as the payload is sent */
	int poll_ms;       /* how long to wait for the echo and the FIN */
	volatile int done; /* threads finished */
	volatile int failures;
} echo_clients;

typedef struct echo_client_arg {
	echo_clients *cfg;
	int id;
} echo_client_arg;

/* one thread: connect, send, read back (one byte more than sent, so an
 * over-long echo shows), compare, see a clean FIN, repeat */
static void *echo_client_main(void *arg)
{
	echo_client_arg *a = arg;
	echo_clients *e = a->cfg;
	unsigned seed = (unsigned) a->id * 7919u + e->seed_salt;
	for (int i = a->id; i < e->clients; i += e->concurrency) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) e->port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
			__atomic_add_fetch(&e->failures, 1, __ATOMIC_RELAXED);
			close(fd);
			continue;
		}
		size_t len = 1 + rand_r(&seed) % e->max_len;
		unsigned char *out = malloc(len), *in = malloc(len + 1);
		for (size_t k = 0; k < len; k++)
			out[k] = (unsigned char) rand_r(&seed);
		size_t sent = 0, got = 0;
		/* interleave so neither side's socket buffers fill */
		while (got < len) {
			if (sent < len) {
				ssize_t n = send(fd, out + sent,
						 len - sent > e->chunk ? e->chunk : len - sent, MSG_DONTWAIT);
				if (n > 0)
					sent += (size_t) n;
				if (sent == len && e->early_shut)
					shutdown(fd, SHUT_WR); /* half-close with the echo still on its way */
			}
			struct pollfd p = { fd, POLLIN, 0 };
			if (poll(&p, 1, sent < len ? 1 : e->poll_ms) <= 0) {
				if (sent < len)
					continue;
				break;
			}
			ssize_t n = recv(fd, in + got, len + 1 - got, 0);
			if (n <= 0)
				break;
			got += (size_t) n;
		}
		if (got != len || memcmp(in, out, len) != 0) {
			fprintf(stderr, "client %d: echoed %zu of %zu bytes\n", i, got, len);
			__atomic_add_fetch(&e->failures, 1, __ATOMIC_RELAXED);
		}
		if (!e->early_shut)
			shutdown(fd, SHUT_WR);
		char b;
		struct pollfd p = { fd, POLLIN, 0 };
		poll(&p, 1, e->poll_ms);
		if (recv(fd, &b, 1, 0) != 0) {
			fprintf(stderr, "client %d: no clean EOF\n", i);
			__atomic_add_fetch(&e->failures, 1, __ATOMIC_RELAXED);
		}
		close(fd);
		free(out);
		free(in);
	}
	__atomic_add_fetch(&e->done, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* start e->concurrency client threads (tids and args: e->concurrency each) */
static void echo_clients_start(echo_clients *e, pthread_t *tids, echo_client_arg *args)
{
	for (int i = 0; i < e->concurrency; i++) {
		args[i].cfg = e;
		args[i].id = i;
		pthread_create(&tids[i], NULL, echo_client_main, &args[i]);
	}
}

#endif

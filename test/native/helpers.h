/* SPDX-License-Identifier: MIT */
/* Small harness for the native tests: exit 0 pass, 1 fail, 77 skip. */
#ifndef RL_TEST_HELPERS_H
#define RL_TEST_HELPERS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rl_test_failures;

/* each macro evaluates cond exactly once */
#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, "\n");                                    \
			rl_test_failures++;                                       \
		}                                                                 \
	} while (0)

#define REQUIRE(cond, ...)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, "\n");                                    \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

#define SKIP_IF(cond, why)                                                        \
	do {                                                                      \
		if (cond) {                                                       \
			fprintf(stderr, "SKIP: %s\n", why);                      \
			exit(77);                                                 \
		}                                                                 \
	} while (0)

#define DONE()                                                                    \
	do {                                                                      \
		if (rl_test_failures) {                                           \
			fprintf(stderr, "%d check(s) failed\n", rl_test_failures); \
			return 1;                                                 \
		}                                                                 \
		printf("ok\n");                                                   \
		return 0;                                                         \
	} while (0)

#endif

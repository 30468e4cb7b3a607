/* SPDX-License-Identifier: MIT */
/* Socket addresses, listening sockets, and the process-wide peer table. */
#ifndef RL_NET_H
#define RL_NET_H

#include "rl.h"
#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_addr {
	struct sockaddr_storage ss;
	socklen_t len;
} rl_addr;

/* numeric IPv4 or IPv6 (no name lookup: JS resolves names first) */
int rl_addr_parse(rl_addr *a, const char *ip, int port);
/* "ip" text and port of an address; returns 0 or -EINVAL */
int rl_addr_format(const struct sockaddr *sa, char *ip, size_t iplen, int *port);

#define RL_LISTEN_REUSEPORT 1
#define RL_LISTEN_V6ONLY 2
/* socket + bind + listen, TCP_NODELAY set (inherited by accepted sockets).
 * Returns the fd or -errno; *failed_call names the failing call. */
int rl_listen(const rl_addr *a, int backlog, int flags, const char **failed_call);
/* bound port of a socket, or -errno */
int rl_local_port(int fd);

/*
 * An inherited fd (socket activation, --fd): 0 when it is a listening
 * IPv4/IPv6 TCP socket, with its local address in ip/port; -ENOTSOCK (or
 * -EBADF) when it is no socket, -ESOCKTNOSUPPORT when not a stream,
 * -EAFNOSUPPORT when not IPv4/IPv6, -EDESTADDRREQ when it does not listen.
 */
int rl_listener_check(int fd, char *ip, size_t iplen, int *port);

/*
 * sd_notify(3): one datagram with `state` ("READY=1", "STATUS=...") to the
 * unix socket `path` (NOTIFY_SOCKET; a leading '@' is the abstract
 * namespace). 0 or -errno. Node's dgram cannot send to unix sockets.
 */
int rl_sd_notify(const char *path, const char *state);

/*
 * Peer table: the acceptor records each connection's address and accept
 * time under its id before handing it off; the worker that receives the id
 * reads them back. Entries are overwritten after RL_PEER_SLOTS more
 * connections, so readers check the id.
 */
#define RL_PEER_SLOTS 65536u
typedef struct rl_peer {
	uint32_t id;
	uint16_t family; /* AF_INET, AF_INET6, 0 = unknown */
	uint16_t port;
	uint8_t addr[16];
	uint64_t t_accept_ns;
} rl_peer;

uint32_t rl_next_conn_id(void);
void rl_peer_put(uint32_t id, const struct sockaddr *sa, uint64_t t_ns);
/* copies the entry for id; returns 0, or -ENOENT when it was overwritten */
int rl_peer_get(uint32_t id, rl_peer *out);

#ifdef __cplusplus
}
#endif
#endif

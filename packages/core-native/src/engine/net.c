/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "net.h"
#include "ring.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

int rl_addr_parse(rl_addr *a, const char *ip, int port)
{
	memset(a, 0, sizeof(*a));
	if (port < 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in *v4 = (struct sockaddr_in *) &a->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &a->ss;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t) port);
		a->len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t) port);
		a->len = sizeof(*v6);
		return 0;
	}
	return -EINVAL;
}

int rl_addr_format(const struct sockaddr *sa, char *ip, size_t iplen, int *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *) sa;
		if (!inet_ntop(AF_INET, &v4->sin_addr, ip, (socklen_t) iplen))
			return -EINVAL;
		*port = ntohs(v4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *) sa;
		if (!inet_ntop(AF_INET6, &v6->sin6_addr, ip, (socklen_t) iplen))
			return -EINVAL;
		*port = ntohs(v6->sin6_port);
		return 0;
	}
	return -EINVAL;
}

int rl_listen(const rl_addr *a, int backlog, int flags, const char **failed_call)
{
	failed_call = rl_failed_sink(failed_call);
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*failed_call = "socket";
		return -errno;
	}
	int one = 1, err;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (flags & RL_LISTEN_REUSEPORT)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6) {
		int v6only = (flags & RL_LISTEN_V6ONLY) ? 1 : 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, (const struct sockaddr *) &a->ss, a->len) < 0) {
		*failed_call = "bind";
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		*failed_call = "listen";
		goto fail;
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int rl_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
		return -errno;
	char ip[64];
	int port;
	if (rl_addr_format((struct sockaddr *) &ss, ip, sizeof(ip), &port) < 0)
		return -EINVAL;
	return port;
}

int rl_listener_check(int fd, char *ip, size_t iplen, int *port)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *) &ss, &sl) < 0)
		return -errno;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		return -errno;
	if (!v)
		return -EDESTADDRREQ;
	return rl_addr_format((struct sockaddr *) &ss, ip, iplen, port);
}

int rl_sd_notify(const char *path, const char *state)
{
	struct sockaddr_un un;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(un.sun_path))
		return -EINVAL;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, path, n);
	if (un.sun_path[0] == '@')
		un.sun_path[0] = 0; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);
	ssize_t r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &un, len);
	int err = r < 0 ? -errno : 0;
	close(fd);
	return err;
}

static rl_peer peers[RL_PEER_SLOTS];
static uint32_t next_id;

uint32_t rl_next_conn_id(void)
{
	uint32_t id;
	do
		id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	while (id == 0);
	return id;
}

void rl_peer_put(uint32_t id, const struct sockaddr *sa, uint64_t t_ns)
{
	rl_peer *p = &peers[id & (RL_PEER_SLOTS - 1)];
	__atomic_store_n(&p->id, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	p->t_accept_ns = t_ns;
	p->family = 0;
	p->port = 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const void *) sa;
		p->family = AF_INET;
		p->port = ntohs(v4->sin_port);
		memcpy(p->addr, &v4->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const void *) sa;
		p->family = AF_INET6;
		p->port = ntohs(v6->sin6_port);
		memcpy(p->addr, &v6->sin6_addr, 16);
	}
	__atomic_store_n(&p->id, id, __ATOMIC_RELEASE);
}

int rl_peer_get(uint32_t id, rl_peer *out)
{
	rl_peer *p = &peers[id & (RL_PEER_SLOTS - 1)];
	if (__atomic_load_n(&p->id, __ATOMIC_ACQUIRE) != id)
		return -ENOENT;
	*out = *p;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&p->id, __ATOMIC_RELAXED) != id)
		return -ENOENT;
	out->id = id;
	return 0;
}

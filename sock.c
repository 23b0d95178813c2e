/*
 * sock.c: addresses, connecting with a timeout, listeners, Unix paths
 * and socket options.  Functions here return -1 after printing one
 * message, so a -k listener can outlive one bad peer.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/ip.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

#define LISTEN_BACKLOG	128

/*
 * One row per option the short flags set.  The IPv6 twin is used on
 * AF_INET6 sockets; level 0 means the option has none.
 */
struct sockopt_row {
	const char	*name;
	int		 level;
	int		 optname;
	int		 level6;
	int		 optname6;
};

enum { SO_ROW_DEBUG, SO_ROW_BROADCAST, SO_ROW_RCVBUF, SO_ROW_SNDBUF,
    SO_ROW_TOS, SO_ROW_TTL, SO_ROW_MINTTL, SO_ROW_MAX };

static const struct sockopt_row sockopt_rows[SO_ROW_MAX] = {
	{ "-D", SOL_SOCKET, SO_DEBUG, SOL_SOCKET, SO_DEBUG },
	{ "-b", SOL_SOCKET, SO_BROADCAST, SOL_SOCKET, SO_BROADCAST },
	{ "-I", SOL_SOCKET, SO_RCVBUF, SOL_SOCKET, SO_RCVBUF },
	{ "-O", SOL_SOCKET, SO_SNDBUF, SOL_SOCKET, SO_SNDBUF },
	{ "-T", IPPROTO_IP, IP_TOS, IPPROTO_IPV6, IPV6_TCLASS },
	{ "-M", IPPROTO_IP, IP_TTL, IPPROTO_IPV6, IPV6_UNICAST_HOPS },
	{ "-m", IPPROTO_IP, IP_MINTTL, IPPROTO_IPV6, IPV6_MINHOPCOUNT },
};

static int	 sock_options(const struct np_opts *, int, int);
static int	 sock_addrinfo(const struct np_opts *, const char *,
		    const char *, int, struct addrinfo **);
static int	 sock_timed_connect(int, const struct sockaddr *, socklen_t,
		    int);
static int	 sock_bind_source(const struct np_opts *, int, int);
static socklen_t unix_addr(const char *, struct sockaddr_un *);
static int	 unix_connect(const struct np_opts *, char *, size_t);
static int	 unix_listen(const struct np_opts *);
static int	 unix_claim(const struct np_opts *, const char *);
static void	 report_connected(const struct np_opts *, const char *);
static const char *proto_name(const struct np_opts *);

static const char *
proto_name(const struct np_opts *o)
{
	return o->udp ? "udp" : "tcp";
}

/*
 * Numeric host of sa into buf, with an IPv4-mapped IPv6 address shown as
 * IPv4 (a dual-stack listener sees those) and a Unix path as itself.
 */
const char *
sock_ntop(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_un *su = (const struct sockaddr_un *)sa;
	struct in_addr v4;

	if (sa->sa_family == AF_UNIX) {
		if (len <= offsetof(struct sockaddr_un, sun_path))
			snprintf(buf, size, "(unnamed)");
		else if (su->sun_path[0] == '\0')
			snprintf(buf, size, "@%.*s", (int)(len -
			    offsetof(struct sockaddr_un, sun_path) - 1),
			    su->sun_path + 1);
		else
			snprintf(buf, size, "%s", su->sun_path);
		return buf;
	}
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(&v4, &s6->sin6_addr.s6_addr[12], sizeof(v4));
		inet_ntop(AF_INET, &v4, buf, size);
		return buf;
	}
	if (getnameinfo(sa, len, buf, size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "?");
	return buf;
}

static int
sock_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

/* Apply -D -b -I -O -T -M -m to fd; -1 after a message if one fails. */
static int
sock_options(const struct np_opts *o, int fd, int family)
{
	int values[SO_ROW_MAX] = { o->so_debug, o->broadcast, o->recv_buf,
	    o->send_buf, o->tos, o->ttl, o->min_ttl };
	int set[SO_ROW_MAX] = { o->so_debug, o->broadcast, o->recv_buf > 0,
	    o->send_buf > 0, o->tos >= 0, o->ttl > 0, o->min_ttl > 0 };
	const struct sockopt_row *r;
	int i, level, name;

	for (i = 0; i < SO_ROW_MAX; i++) {
		if (!set[i])
			continue;
		r = &sockopt_rows[i];
		if (r->level != SOL_SOCKET && family != AF_INET &&
		    family != AF_INET6)
			continue;
		level = family == AF_INET6 ? r->level6 : r->level;
		name = family == AF_INET6 ? r->optname6 : r->optname;
		if (setsockopt(fd, level, name, &values[i],
		    sizeof(values[i])) == -1) {
			warn("%s: setsockopt", r->name);
			return -1;
		}
	}
	return 0;
}

static int
sock_addrinfo(const struct np_opts *o, const char *host, const char *port,
    int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = o->family;
	hints.ai_socktype = o->udp ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_protocol = o->udp ? IPPROTO_UDP : IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) |
	    (o->numeric ? AI_NUMERICHOST : 0);
	if ((e = getaddrinfo(host, port, &hints, res)) != 0) {
		warnx("getaddrinfo for host \"%s\" port %s: %s",
		    host != NULL ? host : "*", port, gai_strerror(e));
		return -1;
	}
	return 0;
}

/*
 * Wait until fd is ready for events or ms pass (-1: forever; fd -1 just
 * waits).  Returns 1 when ready, 0 on timeout, -1 with errno EINTR once a
 * signal arrived.
 */
int
sock_wait(int fd, short events, int ms)
{
	struct pollfd pfd[2];
	struct timespec deadline;
	int n;

	if (ms >= 0)
		np_deadline_set(&deadline, ms);
	for (;;) {
		if (np_signal) {
			errno = EINTR;
			return -1;
		}
		pfd[0].fd = fd;
		pfd[0].events = events;
		/* The self-pipe closes the gap between the check and poll. */
		pfd[1].fd = np_sigfd;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, ms >= 0 ? np_deadline_ms(&deadline) : -1);
		if (n > 0 && pfd[0].revents != 0)
			return 1;
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
}

/* Non-blocking connect bounded by ms (-1: the kernel's own limit). */
static int
sock_timed_connect(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
	socklen_t elen = sizeof(int);
	int e = 0, n;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	if ((n = sock_wait(fd, POLLOUT, ms)) <= 0) {
		if (n == 0)
			errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Bind a client socket to -s and -p when they were given. */
static int
sock_bind_source(const struct np_opts *o, int fd, int family)
{
	struct addrinfo *res;
	struct np_opts lo = *o;
	int one = 1, rc;

	if (o->source == NULL && o->local_port[0] == '\0')
		return 0;
	lo.family = family;
	if (sock_addrinfo(&lo, o->source, o->local_port[0] != '\0' ?
	    o->local_port : "0", 1, &res) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	if (rc == -1)
		warn("bind %s port %s", o->source != NULL ? o->source : "*",
		    o->local_port[0] != '\0' ? o->local_port : "0");
	freeaddrinfo(res);
	return rc;
}

/* nc.openbsd's words, which scripts grep for. */
static void
report_connected(const struct np_opts *o, const char *port)
{
	struct servent *se;

	if (o->verbose == 0)
		return;
	se = getservbyport(htons(atoi(port)), proto_name(o));
	fprintf(stderr, "Connection to %s %s port [%s/%s] succeeded!\n",
	    o->host, port, proto_name(o), se != NULL ? se->s_name : "*");
}

/*
 * Try each address of o->host in turn.  Returns a connected socket, or
 * -1 with *e the last connect error (0 when a message was printed).
 */
static int
connect_any(const struct np_opts *o, int *e)
{
	struct addrinfo *res, *ai;
	int fd = -1;

	*e = 0;
	if (sock_addrinfo(o, o->host, o->port, 0, &res) == -1)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			*e = errno;
			continue;
		}
		if (sock_options(o, fd, ai->ai_family) == -1 ||
		    sock_bind_source(o, fd, ai->ai_family) == -1) {
			*e = 0;
			close(fd);
			fd = -1;
			break;
		}
		if (sock_timed_connect(fd, ai->ai_addr, ai->ai_addrlen,
		    o->wait > 0 ? o->wait * 1000 : -1) == 0)
			break;
		*e = errno;
		close(fd);
		fd = -1;
		if (*e == EINTR)
			break;
		if (o->verbose > 0 && ai->ai_next != NULL)
			warnx("connect to %s port %s (%s) failed: %s", o->host,
			    o->port, proto_name(o), strerror(*e));
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Connect to o->host and o->port (or the Unix path).  Returns a
 * non-blocking connected socket the caller owns, or -1 after a message
 * (errno EINTR, and no message, when a signal cut it short).  A Unix
 * datagram client bound to -s writes that path to bound, for the caller
 * to remove.
 */
int
sock_connect(const struct np_opts *o, char *bound, size_t boundlen)
{
	int fd, e;

	if (o->unix_sock)
		return unix_connect(o, bound, boundlen);
	if ((fd = connect_any(o, &e)) != -1) {
		report_connected(o, o->port);
		return fd;
	}
	if (e != 0 && e != EINTR)
		warnx("connect to %s port %s (%s) failed: %s", o->host,
		    o->port, proto_name(o), strerror(e));
	errno = e;
	return -1;
}

/*
 * Fill sun from path ("@name" is the Linux abstract namespace).  Returns
 * the address length; the path was checked for length by options.c.
 */
static socklen_t
unix_addr(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@') {
		sun->sun_path[0] = '\0';
		return offsetof(struct sockaddr_un, sun_path) + len;
	}
	return offsetof(struct sockaddr_un, sun_path) + len + 1;
}

/*
 * A Unix datagram client needs an address of its own for replies: -s, or
 * a fresh name in the abstract namespace that vanishes with the socket.
 */
static int
unix_connect(const struct np_opts *o, char *bound, size_t boundlen)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	fd = socket(AF_UNIX, (o->udp ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	if (o->udp) {
		if (o->source != NULL) {
			len = unix_addr(o->source, &sun);
			if (unix_claim(o, o->source) == -1)
				goto fail;
		} else {
			/* autobind: the kernel picks an abstract name. */
			memset(&sun, 0, sizeof(sun));
			len = sizeof(sa_family_t);
			sun.sun_family = AF_UNIX;
		}
		if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
			warn("bind %s", o->source != NULL ? o->source : "");
			goto fail;
		}
		if (o->source != NULL && o->source[0] != '@')
			strlcpy(bound, o->source, boundlen);
	}
	len = unix_addr(o->host, &sun);
	if (sock_timed_connect(fd, (struct sockaddr *)&sun, len,
	    o->wait > 0 ? o->wait * 1000 : -1) == -1) {
		if (errno != EINTR)
			warn("connect to %s", o->host);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * Make sure path may be bound: a stale socket file is removed, but a
 * regular file or a socket somebody still listens on is left alone.
 */
static int
unix_claim(const struct np_opts *o, const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int fd, rc;

	if (path[0] == '@' || lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		warnx("%s: exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, (o->udp ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	len = unix_addr(path, &sun);
	rc = connect(fd, (struct sockaddr *)&sun, len);
	close(fd);
	if (rc == 0 || errno != ECONNREFUSED) {
		/* Live, or of another type (EPROTOTYPE): not ours to take. */
		errno = rc == 0 ? EADDRINUSE : errno;
		if (errno == EPROTOTYPE)
			errno = EADDRINUSE;
		warn("%s", path);
		return -1;
	}
	if (unlink(path) == -1) {
		warn("%s: cannot remove stale socket", path);
		return -1;
	}
	return 0;
}

static int
unix_listen(const struct np_opts *o)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (unix_claim(o, o->host) == -1)
		return -1;
	fd = socket(AF_UNIX, (o->udp ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	len = unix_addr(o->host, &sun);
	if (bind(fd, (struct sockaddr *)&sun, len) == -1 ||
	    (!o->udp && listen(fd, LISTEN_BACKLOG) == -1)) {
		warn("%s", o->host);
		close(fd);
		return -1;
	}
	if (o->verbose > 0)
		fprintf(stderr, "%s on %s\n", o->udp ? "Bound" : "Listening",
		    o->host);
	return fd;
}

/*
 * Bind and listen on o->host (all addresses when NULL: one dual-stack
 * socket unless -4/-6) and o->port.  Returns the socket, or -1 after a
 * message.  A UDP socket is bound, not connected.
 */
int
sock_listen(const struct np_opts *o)
{
	struct np_opts lo = *o;
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN + 8];
	int fd = -1, one = 1, zero = 0, e = 0;

	if (o->unix_sock)
		return unix_listen(o);
	if (o->host == NULL && o->family == AF_UNSPEC)
		lo.family = AF_INET6;
	if (sock_addrinfo(&lo, o->host, o->port, 1, &res) == -1)
		return -1;
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			e = errno;
			continue;
		}
		/* SO_REUSEADDR only: a busy port must fail, not be shared. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6 && o->family == AF_UNSPEC)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		if (sock_options(o, fd, ai->ai_family) == -1) {
			close(fd);
			freeaddrinfo(res);
			return -1;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    (o->udp || listen(fd, LISTEN_BACKLOG) == 0))
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1 && o->host == NULL && o->family == AF_UNSPEC &&
	    e == EAFNOSUPPORT) {
		/* No IPv6 on this host: fall back to IPv4 alone. */
		lo.family = AF_INET;
		lo.host = "0.0.0.0";
		return sock_listen(&lo);
	}
	if (fd == -1) {
		errno = e;
		warn("bind %s port %s", o->host != NULL ? o->host : "*",
		    o->port);
		return -1;
	}
	if (o->verbose > 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		fprintf(stderr, "%s on %s %d\n", o->udp ? "Bound" : "Listening",
		    sock_ntop((struct sockaddr *)&ss, sslen, addr,
		    sizeof(addr)), sock_port((struct sockaddr *)&ss));
	return fd;
}

static void
report_peer(const struct np_opts *o, const struct sockaddr *sa,
    socklen_t len)
{
	char addr[INET6_ADDRSTRLEN + sizeof(struct sockaddr_un)];

	if (o->verbose == 0)
		return;
	sock_ntop(sa, len, addr, sizeof(addr));
	if (sa->sa_family == AF_UNIX)
		fprintf(stderr, "Connection received on %s\n",
		    len > offsetof(struct sockaddr_un, sun_path) ? addr :
		    o->host);
	else
		fprintf(stderr, "Connection received on %s %d\n", addr,
		    sock_port(sa));
}

/*
 * Wait for and accept one peer on lfd.  Returns the connected socket,
 * or -1: errno EINTR when a signal ended the wait, otherwise after a
 * message.
 */
int
sock_accept(const struct np_opts *o, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	for (;;) {
		if (sock_wait(lfd, POLLIN, -1) == -1)
			return -1;
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1)
			break;
		if (errno == EAGAIN || errno == EINTR ||
		    errno == ECONNABORTED)
			continue;
		warn("accept");
		return -1;
	}
	report_peer(o, (struct sockaddr *)&ss, len);
	return fd;
}

/*
 * A datagram listener waits for its first datagram and, without -k,
 * connects to its sender so that only that peer is heard from then on.
 * The datagram itself stays queued for the pump.  Returns 0, or -1 (errno
 * EINTR on a signal).
 */
int
sock_dgram_peer(const struct np_opts *o, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char c;

	for (;;) {
		if (sock_wait(fd, POLLIN, -1) == -1)
			return -1;
		if (recvfrom(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT,
		    (struct sockaddr *)&ss, &len) != -1)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			warn("recv");
			return -1;
		}
	}
	report_peer(o, (struct sockaddr *)&ss, len);
	if (o->keep_open)
		return 0;
	if (ss.ss_family == AF_UNIX &&
	    len <= offsetof(struct sockaddr_un, sun_path))
		return 0;	/* an unnamed sender cannot be answered */
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		warn("connect to peer");
		return -1;
	}
	return 0;
}

/*
 * A UDP port cannot say yes; it can only say no with an ICMP port
 * unreachable, which loopback delivers at once.  An empty datagram asks,
 * so the scan sends no data.
 */
static int
udp_probe(const struct np_opts *o, int fd)
{
	char c;
	int n;

	if (send(fd, "", 0, MSG_NOSIGNAL) == -1)
		return errno == ECONNREFUSED ? 0 : -1;
	n = sock_wait(fd, POLLIN, o->wait > 0 ? o->wait * 1000 : 200);
	if (n == -1)
		return -1;
	if (n == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == -1 &&
	    errno == ECONNREFUSED)
		return 0;
	return 1;
}

/*
 * -z: probe one port.  Returns 1 when it accepts, 0 when not (with -v,
 * after a message), -1 when a signal interrupted the scan.
 */
int
sock_scan(const struct np_opts *o, int port)
{
	struct np_opts po = *o;
	int fd, e, open;

	snprintf(po.port, sizeof(po.port), "%d", port);
	po.verbose = 0;
	if ((fd = connect_any(&po, &e)) == -1) {
		if (e == EINTR)
			return -1;
		if (e != 0 && o->verbose > 0)
			warnx("connect to %s port %d (%s) failed: %s",
			    o->host, port, proto_name(o), strerror(e));
		return 0;
	}
	open = o->udp ? udp_probe(o, fd) : 1;
	close(fd);
	if (open == -1)
		return np_signal ? -1 : 0;
	if (open == 0 && o->verbose > 0)
		warnx("connect to %s port %d (%s) failed: %s", o->host, port,
		    proto_name(o), strerror(ECONNREFUSED));
	if (open == 1)
		report_connected(o, po.port);
	return open;
}

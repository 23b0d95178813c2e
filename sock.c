/*
 * sock.c: addresses, connecting with a timeout, listeners and Unix
 * paths.  Functions here return -1 after printing one message, so a -k
 * listener can outlive one bad peer.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <readpassphrase.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

#define LISTEN_BACKLOG	128
/* A datagram socket's receive buffer: an unpaced burst of 1 KiB ones. */
#define SOCK_DGRAM_RCVBUF	(8 * 1024 * 1024)
/* sock_linger() looks for the peer's acknowledgement this often at most. */
#define SOCK_LINGER_NAP_MS	64

static int	 sock_apply(const struct np_opts *, int, int, int);
static int	 sock_md5sig(const struct np_opts *, int, int);
static int	 md5sig_key(struct np_opts *);
static int	 kernel_has(int, int);
static void	 mptcp_missing(int);
static int	 sock_family(int);
static void	 sock_ready(struct loop *, int, int, void *);
static int	 sock_expired(struct loop *, long long, void *);
static int	 sock_discard(int);
static int	 sock_timed_connect(int, const struct sockaddr *, socklen_t,
		    int);
static int	 sock_bind_source(const struct np_opts *, int, int);
static int	 connect_any(const struct np_opts *, int *);
static int	 unix_type(const struct np_opts *);
static socklen_t unix_addr(const char *, struct sockaddr_un *);
static int	 unix_dgram_bind(const struct np_opts *, int, char *, size_t);
static int	 unix_connect(const struct np_opts *, char *, size_t);
static int	 unix_listen(const struct np_opts *);
static int	 unix_claim(const char *);
static void	 unix_remember(const char *);
static void	 unix_report(const struct np_opts *, int);
static int	 listen_one(const struct np_opts *, const struct addrinfo *,
		    int *);
static void	 listen_ready(const struct np_opts *, int);
static void	 report_peer(const struct np_opts *, const struct sockaddr *,
		    socklen_t);
static const char *proto_name(const struct np_opts *);
static int	 sock_port(const struct sockaddr *);

static const char *
proto_name(const struct np_opts *o)
{
	return o->udp ? "udp" : o->dccp ? "dccp" : "tcp";
}

/*
 * v in decimal at p, with no NUL; returns the end.  A -k listener names
 * every peer with -v, and snprintf costs it more than the accept does.
 */
char *
sock_utoa(char *p, unsigned int v)
{
	char tmp[10];
	int n = 0;

	do
		tmp[n++] = '0' + v % 10;
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* Dotted decimal of the address at a into buf, which holds 16 bytes. */
static void
ntop4(const void *a, char *buf)
{
	const unsigned char *b = a;
	char *p = buf;
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			*p++ = '.';
		p = sock_utoa(p, b[i]);
	}
	*p = '\0';
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
	if (size >= INET_ADDRSTRLEN && sa->sa_family == AF_INET) {
		ntop4(&((const struct sockaddr_in *)sa)->sin_addr, buf);
		return buf;
	}
	if (size >= INET_ADDRSTRLEN && sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		ntop4(&s6->sin6_addr.s6_addr[12], buf);
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

/*
 * Set the options of the given phases on fd (-D -b -I -O -T -M -m and
 * every --sockopt).  Returns 0, or -1 after a message naming the option
 * the kernel refused.
 */
static int
sock_apply(const struct np_opts *o, int fd, int family, int phases)
{
	if (phases & PH_SOCKET)
		sock_dgram_buffer(o, fd);
	if ((phases & PH_SOCKET) && o->md5sig &&
	    sock_md5sig(o, fd, family) == -1)
		return -1;
	return sockopt_apply(o, fd, family, phases);
}

/*
 * -S: sign every segment with the key, whoever the peer is (prefix 0),
 * as nc.openbsd does; a dual-stack socket gets the key for its IPv4
 * peers too.  The kernel copies it to each accepted socket.  Returns 0,
 * or -1 after a message.
 */
static int
sock_md5sig(const struct np_opts *o, int fd, int family)
{
	struct tcp_md5sig sig;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sig.tcpm_addr;
	socklen_t len = sizeof(int);
	int v6only = 1, rc;

	memset(&sig, 0, sizeof(sig));
	sig.tcpm_addr.ss_family = family;
	sig.tcpm_flags = TCP_MD5SIG_FLAG_PREFIX;
	sig.tcpm_keylen = o->md5sig_keylen;
	memcpy(sig.tcpm_key, o->md5sig_key, o->md5sig_keylen);
	rc = setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG_EXT, &sig, sizeof(sig));
	if (rc == 0 && family == AF_INET6 && getsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, &len) == 0 && !v6only) {
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
		rc = setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG_EXT, &sig,
		    sizeof(sig));
	}
	explicit_bzero(&sig, sizeof(sig));
	if (rc == -1)
		warn("-S: setsockopt TCP_MD5SIG_EXT");
	return rc;
}

/*
 * -S's key: from NETPIPE_MD5SIG_KEY, else from the terminal as
 * nc.openbsd asks for it, never from argv.  -1 after a message without
 * one.
 */
static int
md5sig_key(struct np_opts *o)
{
	char buf[sizeof(o->md5sig_key) + 2];
	const char *env = getenv("NETPIPE_MD5SIG_KEY");

	if (env != NULL)
		strlcpy(buf, env, sizeof(buf));
	else if (readpassphrase("TCP MD5SIG password: ", buf, sizeof(buf),
	    RPP_REQUIRE_TTY) == NULL) {
		warnx("-S: no key: set NETPIPE_MD5SIG_KEY or run on a "
		    "terminal");
		return -1;
	}
	o->md5sig_keylen = strlen(buf);
	if (o->md5sig_keylen == 0 || o->md5sig_keylen > sizeof(o->md5sig_key)) {
		explicit_bzero(buf, sizeof(buf));
		warnx("-S: the key must be 1 to %zu bytes",
		    sizeof(o->md5sig_key));
		return -1;
	}
	memcpy(o->md5sig_key, buf, o->md5sig_keylen);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/*
 * Whether this kernel makes sockets of PROTO (a stream or datagram one
 * by TYPE); 0 if it does, else -1 with errno.
 */
static int
kernel_has(int type, int proto)
{
	int fd;

	if ((fd = socket(AF_INET, type | SOCK_CLOEXEC, proto)) == -1)
		return -1;
	close(fd);
	return 0;
}

/*
 * --mptcp on a kernel without it: say which of the two ways it is off.
 * Nothing could be done over TCP that was asked for over MPTCP, so the
 * run ends before any socket is made.
 */
static void
mptcp_missing(int e)
{
	FILE *fp;
	int on = -1;

	if ((fp = fopen("/proc/sys/net/mptcp/enabled", "re")) != NULL) {
		if (fscanf(fp, "%d", &on) != 1)
			on = -1;
		fclose(fp);
	}
	warnx("--mptcp: %s (%s)", strerror(e), on == 0 ?
	    "net.mptcp.enabled is 0" : "this kernel has no Multipath TCP");
}

/*
 * nc.openbsd's letters for what a kernel may lack: -V, -Z, -S, and
 * --mptcp.  Where this one lacks it, return -1 after a message naming
 * what is missing, before any socket is made; then read -S's key.
 */
int
sock_features(struct np_opts *o)
{
	struct tcp_md5sig sig;
	int fd;

	if (o->rtable > 0) {
		warnx("-V %d: Linux has no routing tables for sockets "
		    "(rtable); only 0, the main table, is there", o->rtable);
		return -1;
	}
	if (o->dccp && kernel_has(SOCK_DCCP, IPPROTO_DCCP) == -1) {
		warn("-Z: this kernel has no DCCP: socket");
		return -1;
	}
	if (o->mptcp && !o->udp &&
	    kernel_has(SOCK_STREAM, IPPROTO_MPTCP) == -1) {
		mptcp_missing(errno);
		return -1;
	}
	if (!o->md5sig)
		return 0;
	/* Deleting a key that is not there: ENOENT where MD5 is built in. */
	memset(&sig, 0, sizeof(sig));
	sig.tcpm_addr.ss_family = AF_INET;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		warn("socket");
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof(sig)) == -1 &&
	    errno == ENOPROTOOPT) {
		warn("-S: this kernel has no TCP MD5 signatures: "
		    "setsockopt TCP_MD5SIG");
		close(fd);
		return -1;
	}
	close(fd);
	return md5sig_key(o);
}

/*
 * Give a datagram socket a receive buffer deep enough for an unpaced
 * sender's burst (SO_RCVBUFFORCE as root, else up to net.core.rmem_max),
 * unless -I or --sockopt rcvbuf chose one.  It is set when the socket is
 * made: a listener's first burst arrives before it knows its peer.
 */
void
sock_dgram_buffer(const struct np_opts *o, int fd)
{
	int type = 0, size = SOCK_DGRAM_RCVBUF;
	socklen_t len = sizeof(type);

	/* Only -u makes datagram sockets: a stream one costs no syscall. */
	if (!o->udp || sock_opt_given(o, "rcvbuf") || getsockopt(fd, SOL_SOCKET,
	    SO_TYPE, &type, &len) == -1 || type != SOCK_DGRAM)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static int
sock_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return AF_UNSPEC;
	return ss.ss_family;
}

/*
 * The addresses of host and port for o's protocol, into *res for the
 * caller to free with freeaddrinfo().  Returns 0, or -1 after a message
 * in nc.openbsd's words.
 */
int
sock_addrinfo(const struct np_opts *o, const char *host, const char *port,
    int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = o->family;
	hints.ai_socktype = o->udp ? SOCK_DGRAM : o->dccp ? SOCK_DCCP :
	    SOCK_STREAM;
	hints.ai_protocol = o->udp ? IPPROTO_UDP : o->dccp ? IPPROTO_DCCP :
	    IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) |
	    (o->numeric ? AI_NUMERICHOST : 0);
	if ((e = getaddrinfo(host, port, &hints, res)) == 0)
		return 0;
	/* nc.openbsd's words first (scripts grep them), then ours. */
	if (passive)
		warnx("getaddrinfo: %s (host \"%s\" port %s)",
		    gai_strerror(e), host != NULL ? host : "*", port);
	else
		warnx("getaddrinfo for host \"%s\" port %s: %s",
		    host != NULL ? host : "*", port, gai_strerror(e));
	return -1;
}

/* What sock_wait() waits for: its fd, or its time. */
struct sock_waiter {
	int	 ready;
	int	 expired;
};

/* sock_wait()'s fd is ready. */
static void
sock_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct sock_waiter *w = arg;

	(void)l;
	(void)fd;
	(void)fired;
	w->ready = 1;
}

/* sock_wait()'s time is up. */
static int
sock_expired(struct loop *l, long long id, void *arg)
{
	struct sock_waiter *w = arg;

	(void)l;
	(void)id;
	w->expired = 1;
	return LOOP_NOMORE;
}

/*
 * Wait until fd is ready for events (POLLIN, POLLOUT) or ms pass (-1:
 * forever; fd -1 just waits): a small synchronous wait on a loop of its
 * own, for the steps that have nothing else to do meanwhile.  Returns 1
 * when ready, 0 on timeout, -1 with errno EINTR once a signal arrived,
 * or -1 with another errno.
 */
int
sock_wait(int fd, short events, int ms)
{
	struct sock_waiter w = { 0, 0 };
	struct loop *l;
	int mask, rc = -1;

	if (np_signal) {
		errno = EINTR;
		return -1;
	}
	mask = ((events & POLLIN) ? LOOP_READ : 0) |
	    ((events & POLLOUT) ? LOOP_WRITE : 0);
	if ((l = loop_new()) == NULL ||
	    (fd != -1 && loop_fd(l, fd, mask, sock_ready, &w) == -1) ||
	    (ms >= 0 && loop_timer(l, ms, sock_expired, &w) == -1)) {
		loop_free(l);
		return -1;
	}
	while (!w.ready && !w.expired && !np_signal)
		if (loop_once(l) == -1)
			break;
	if (w.ready)
		rc = 1;
	else if (np_signal)
		errno = EINTR;
	else if (w.expired)
		rc = 0;
	loop_free(l);
	return rc;
}

/*
 * Read and drop what has arrived on fd, without waiting.  Returns 1 once
 * the peer has ended (EOF), 0 when nothing is left to read for now, or
 * -1 when the connection broke.  A read at a time is bounded, so that a
 * peer that talks without pause cannot keep the caller from its clock.
 */
static int
sock_discard(int fd)
{
	/* MSG_TRUNC: TCP drops the bytes uncopied; others fill buf. */
	char buf[16384];
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	return 0;
}

/*
 * Before close(2) of a stream socket whose bytes the peer may not have
 * yet.  Linux answers a close while unread bytes wait in the receive
 * queue, or bytes that arrive after it, with a reset, and a reset
 * throws away what the send queue still holds: send(2) took them, the
 * peer never sees them.  So when either queue holds bytes, end our side
 * with a FIN and read and drop what the peer still sends, until it has
 * acknowledged all we sent (SIOCOUTQ 0), or it ends, resets, a signal
 * comes or ms pass.  The caller must have no use for those bytes.
 */
void
sock_linger(int fd, int ms)
{
	struct timespec end;
	int unread, unacked, left, nap = 1;

	if (ioctl(fd, FIONREAD, &unread) == -1 ||
	    ioctl(fd, SIOCOUTQ, &unacked) == -1 ||
	    (unread == 0 && unacked == 0) || shutdown(fd, SHUT_WR) == -1)
		return;
	np_deadline_set(&end, ms);
	while (ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked > 0 &&
	    (left = np_deadline_ms(&end)) > 0) {
		/* Once the peer has ended, nothing of its can reset us. */
		if (sock_discard(fd) != 0)
			break;
		/* No event says "acknowledged": look again soon. */
		if (sock_wait(fd, POLLIN, nap < left ? nap : left) == -1)
			break;
		if (nap < SOCK_LINGER_NAP_MS)
			nap *= 2;
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
		/*
		 * -w ran out: still in progress, as nc.openbsd says, and
		 * unlike the kernel's own ETIMEDOUT.
		 */
		if (n == 0)
			errno = EINPROGRESS;
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
	int rc;

	if (o->source == NULL && o->local_port[0] == '\0')
		return 0;
	lo.family = family;
	if (sock_addrinfo(&lo, o->source, o->local_port[0] != '\0' ?
	    o->local_port : "0", 1, &res) == -1)
		return -1;
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	if (rc == -1)
		warnx("bind failed: %s (%s port %s)", strerror(errno),
		    o->source != NULL ? o->source : "*",
		    o->local_port[0] != '\0' ? o->local_port : "0");
	freeaddrinfo(res);
	return rc;
}

/*
 * A fresh client socket: SO_REUSEADDR when -s or -p binds it (so that a
 * fixed source port can be reused while old connections linger), then
 * the options, which may override that, then the bind.  -1 after a
 * message.
 */
int
sock_client_setup(const struct np_opts *o, int fd, int family)
{
	int one = 1;

	if (o->source != NULL || o->local_port[0] != '\0')
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sock_apply(o, fd, family, PH_SOCKET | PH_CLIENT) == -1)
		return -1;
	return sock_bind_source(o, fd, family);
}

/* -v: a connection made, in nc.openbsd's words, which scripts grep for. */
void
sock_report_connected(const struct np_opts *o, const char *port)
{
	struct servent *se;

	if (o->verbose == 0)
		return;
	se = getservbyport(htons(atoi(port)), proto_name(o));
	fprintf(stderr, "Connection to %s %s port [%s/%s] succeeded!\n",
	    o->host, port, proto_name(o), se != NULL ? se->s_name : "*");
}

/*
 * A non-blocking socket for ai: Multipath TCP with --mptcp (which
 * sock_features() found the kernel has).  Returns it, or -1 with errno.
 */
int
sock_socket(const struct np_opts *o, const struct addrinfo *ai)
{
	int proto = ai->ai_protocol;

	if (o->mptcp && ai->ai_socktype == SOCK_STREAM)
		proto = IPPROTO_MPTCP;
	return socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, proto);
}

/*
 * nc.openbsd's words for a connect that failed (e) or that -w gave up
 * on (e is EINPROGRESS then), with the address in brackets when the
 * name was not one; sa may be NULL.
 */
void
sock_report_failed(const struct np_opts *o, const char *port,
    const struct sockaddr *sa, socklen_t len, int e)
{
	char addr[INET6_ADDRSTRLEN], ip[INET6_ADDRSTRLEN + 3];

	ip[0] = '\0';
	if (sa != NULL && strcmp(sock_ntop(sa, len, addr, sizeof(addr)),
	    o->host) != 0)
		snprintf(ip, sizeof(ip), " (%s)", addr);
	if (e == EINPROGRESS)
		warnx("connect to %s%s port %s (%s) timed out: %s "
		    "(no answer in %g s, -w)", o->host, ip, port,
		    proto_name(o), strerror(e), o->wait_ms / 1000.0);
	else
		warnx("connect to %s%s port %s (%s) failed: %s", o->host, ip,
		    port, proto_name(o), strerror(e));
}

/*
 * Try each address of o->host in turn.  Returns a connected socket, or
 * -1 after a message with *e the last connect error (EINTR, and no
 * message, when a signal cut it short).
 */
static int
connect_any(const struct np_opts *o, int *e)
{
	struct addrinfo *res, *ai, *last = NULL;
	int fd = -1;

	*e = 0;
	if (sock_addrinfo(o, o->host, o->port, 0, &res) == -1)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = sock_socket(o, ai);
		if (fd == -1) {
			*e = errno;
			last = NULL;
			continue;
		}
		if (sock_client_setup(o, fd, ai->ai_family) == -1)
			break;
		if (sock_timed_connect(fd, ai->ai_addr, ai->ai_addrlen,
		    o->wait_ms > 0 ? o->wait_ms : -1) == 0) {
			if (sock_apply(o, fd, ai->ai_family,
			    PH_CONNECTED) == -1)
				break;
			freeaddrinfo(res);
			return fd;
		}
		*e = errno;
		close(fd);
		fd = -1;
		if (*e == EINTR)
			break;
		last = ai;
		if (o->verbose > 0 && ai->ai_next != NULL)
			sock_report_failed(o, o->port, ai->ai_addr, ai->ai_addrlen,
			    *e);
	}
	if (fd != -1) {
		/* An option or the bind failed, and said so. */
		close(fd);
		fd = -1;
		*e = 0;
	} else if (*e != 0 && *e != EINTR)
		sock_report_failed(o, o->port, last != NULL ? last->ai_addr : NULL,
		    last != NULL ? last->ai_addrlen : 0, *e);
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
		if (o->verbose >= 2)
			sockopt_report(o, fd, sock_family(fd),
			    PH_SOCKET | PH_CLIENT | PH_CONNECTED);
		sock_report_connected(o, o->port);
		return fd;
	}
	errno = e;
	return -1;
}

/*
 * The Unix socket file this process bound (-lU, or -s with -uU), for
 * sock_unbind(): its directory, held open so that a parent directory
 * renamed or a symbolic link swapped meanwhile cannot send the unlink
 * elsewhere, its name in there, and its device and inode.  One per
 * process, as the signal pipe is.
 */
static struct {
	int	 dirfd;
	char	 name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t	 dev;
	ino_t	 ino;
} unix_bound = { -1, "", 0, 0 };

/* -U: stream, datagram (-u) or sequenced packets (--seqpacket). */
static int
unix_type(const struct np_opts *o)
{
	if (o->seqpacket)
		return SOCK_SEQPACKET;
	return o->udp ? SOCK_DGRAM : SOCK_STREAM;
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
 * A path it binds is written to bound, for the caller to remove.
 */
static int
unix_dgram_bind(const struct np_opts *o, int fd, char *bound,
    size_t boundlen)
{
	struct sockaddr_un sun;
	socklen_t len;

	if (o->source != NULL) {
		len = unix_addr(o->source, &sun);
		if (unix_claim(o->source) == -1)
			return -1;
	} else {
		/* autobind: the kernel picks an abstract name. */
		memset(&sun, 0, sizeof(sun));
		len = sizeof(sa_family_t);
		sun.sun_family = AF_UNIX;
	}
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		warn("bind %s", o->source != NULL ? o->source : "");
		return -1;
	}
	if (o->source != NULL && o->source[0] != '@') {
		strlcpy(bound, o->source, boundlen);
		unix_remember(o->source);
	}
	return 0;
}

static int
unix_connect(const struct np_opts *o, char *bound, size_t boundlen)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	fd = socket(AF_UNIX, unix_type(o) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	if (sock_apply(o, fd, AF_UNIX, PH_SOCKET | PH_CLIENT) == -1 ||
	    (o->udp && unix_dgram_bind(o, fd, bound, boundlen) == -1))
		goto fail;
	len = unix_addr(o->host, &sun);
	if (sock_timed_connect(fd, (struct sockaddr *)&sun, len,
	    o->wait_ms > 0 ? o->wait_ms : -1) == -1) {
		/* nc.openbsd's words: the path, then why. */
		if (errno != EINTR)
			warn("%s", o->host);
		goto fail;
	}
	sockopt_report(o, fd, AF_UNIX, PH_SOCKET | PH_CLIENT | PH_CONNECTED);
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
unix_claim(const char *path)
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
	/*
	 * Probe with a datagram socket whatever we will listen with: a
	 * stream or seqpacket listener answers EPROTOTYPE without a
	 * connection, where a probe of its own type would be accepted and
	 * end a one-shot listener's only session.  A datagram socket takes
	 * the connect and nothing is sent.  Only a file no socket holds
	 * refuses it.
	 */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	len = unix_addr(path, &sun);
	rc = connect(fd, (struct sockaddr *)&sun, len);
	close(fd);
	if (rc == 0 || errno != ECONNREFUSED) {
		/* Live (connected, EPROTOTYPE, EPERM): not ours to take. */
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

	if (unix_claim(o->host) == -1)
		return -1;
	fd = socket(AF_UNIX, unix_type(o) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		warn("socket");
		return -1;
	}
	if (sock_apply(o, fd, AF_UNIX, PH_SOCKET | PH_LISTENER) == -1) {
		close(fd);
		return -1;
	}
	len = unix_addr(o->host, &sun);
	/* "@" alone: the kernel picks a name (autobind), reported below. */
	if (strcmp(o->host, "@") == 0)
		len = sizeof(sa_family_t);
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		warn("%s", o->host);
		close(fd);
		return -1;
	}
	if (o->host[0] != '@')
		unix_remember(o->host);
	if (!o->udp && listen(fd, LISTEN_BACKLOG) == -1) {
		warn("%s", o->host);
		close(fd);
		sock_unbind();
		return -1;
	}
	sockopt_report(o, fd, AF_UNIX, PH_SOCKET | PH_LISTENER);
	unix_report(o, fd);
	return fd;
}

/*
 * -v: the address a Unix listener got; for an abstract one, the name as
 * the kernel has it, which is the only way to learn an autobound name.
 */
static void
unix_report(const struct np_opts *o, int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	char buf[sizeof(sun.sun_path) + 2];
	const char *name = o->host;

	if (o->verbose == 0)
		return;
	/* An abstract name fills sun_path with no NUL: sock_ntop knows. */
	if (o->host[0] == '@' &&
	    getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    len <= sizeof(sun))
		name = sock_ntop((struct sockaddr *)&sun, len, buf,
		    sizeof(buf));
	fprintf(stderr, "%s on %s\n", o->udp ? "Bound" : "Listening", name);
}

/*
 * Right after bind: remember path's directory (an O_PATH descriptor) and
 * the socket file's device and inode, for sock_unbind().  A file that is
 * already not a socket here is not ours, and is not remembered.
 */
static void
unix_remember(const char *path)
{
	char dir[sizeof(unix_bound.name)];
	const char *slash = strrchr(path, '/');
	struct stat st;
	int fd;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return;
	if (slash == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else
		dir[slash == path ? 1 : slash - path] = '\0';
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return;
	strlcpy(unix_bound.name, slash != NULL ? slash + 1 : path,
	    sizeof(unix_bound.name));
	if (fstatat(fd, unix_bound.name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISSOCK(st.st_mode)) {
		close(fd);
		return;
	}
	unix_bound.dirfd = fd;
	unix_bound.dev = st.st_dev;
	unix_bound.ino = st.st_ino;
}

/*
 * Remove the Unix socket file this process bound, if its name still
 * names that very file: never a file put in its place, nor one in
 * another directory that a swapped link of a parent points to now.
 */
void
sock_unbind(void)
{
	struct stat st;

	if (unix_bound.dirfd == -1)
		return;
	if (fstatat(unix_bound.dirfd, unix_bound.name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == unix_bound.dev && st.st_ino == unix_bound.ino)
		unlinkat(unix_bound.dirfd, unix_bound.name, 0);
	close(unix_bound.dirfd);
	unix_bound.dirfd = -1;
}

/*
 * One listening socket for ai: SO_REUSEADDR, dual-stack unless -6, the
 * options, bind and (TCP) listen.  Returns the socket, or -1 with errno
 * set; *fatal is set when a message was printed and no other address
 * should be tried.
 */
static int
listen_one(const struct np_opts *o, const struct addrinfo *ai, int *fatal)
{
	int fd, e, one = 1, v6only = o->family == AF_INET6;

	*fatal = 0;
	fd = sock_socket(o, ai);
	if (fd == -1)
		return -1;
	/* SO_REUSEADDR only: a busy port must fail, not be shared. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Without -6 one socket serves IPv4 too, whatever bindv6only says. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (sock_apply(o, fd, ai->ai_family, PH_SOCKET | PH_LISTENER) == -1) {
		close(fd);
		*fatal = 1;
		return -1;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    (o->udp || listen(fd, LISTEN_BACKLOG) == 0))
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Say where fd listens (after its -vv options), as nc.openbsd does. */
static void
listen_ready(const struct np_opts *o, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char addr[INET6_ADDRSTRLEN + 8];

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return;
	sockopt_report(o, fd, ss.ss_family, PH_SOCKET | PH_LISTENER);
	if (o->verbose > 0)
		fprintf(stderr, "%s on %s %d\n", o->udp ? "Bound" : "Listening",
		    sock_ntop((struct sockaddr *)&ss, sslen, addr,
		    sizeof(addr)), sock_port((struct sockaddr *)&ss));
}

/*
 * Bind and listen on o->host (all addresses when NULL: one dual-stack
 * socket unless -4/-6, or the family of the --join group) and o->port.
 * Returns the socket, or -1 after a message.  A UDP socket is bound,
 * not connected.
 */
int
sock_listen(const struct np_opts *o)
{
	struct np_opts lo = *o;
	struct addrinfo *res, *ai;
	int fd = -1, e = 0, fatal = 0;

	if (o->unix_sock)
		return unix_listen(o);
	if (o->join != NULL && o->family == AF_UNSPEC)
		lo.family = sockopt_join_family(o);
	else if (o->host == NULL && o->family == AF_UNSPEC)
		lo.family = AF_INET6;
	if (sock_addrinfo(&lo, o->host, o->port, 1, &res) == -1)
		return -1;
	for (ai = res; ai != NULL && fd == -1 && !fatal; ai = ai->ai_next)
		if ((fd = listen_one(o, ai, &fatal)) == -1)
			e = errno;
	freeaddrinfo(res);
	if (fd == -1 && !fatal && o->host == NULL && lo.family == AF_INET6 &&
	    o->family == AF_UNSPEC && e == EAFNOSUPPORT) {
		/* No IPv6 on this host: fall back to IPv4 alone. */
		lo.family = AF_INET;
		lo.host = "0.0.0.0";
		return sock_listen(&lo);
	}
	if (fd == -1) {
		errno = e;
		if (!fatal)
			warn("bind %s port %s", o->host != NULL ? o->host :
			    "*", o->port);
		return -1;
	}
	if (o->join != NULL && sockopt_join(o, fd) == -1) {
		close(fd);
		return -1;
	}
	listen_ready(o, fd);
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
		/* An unbound Unix sender comes with no address at all. */
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = o->unix_sock ? AF_UNIX : AF_UNSPEC;
		len = sizeof(ss);
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
 * A peer accepted by a listener (access control, -e, the broker):
 * set the options the kernel does not carry over from the listener.
 * family is the one accept(2) reported, so no getsockname is needed.
 * Returns 0, or -1 after a message; fd stays the caller's.
 */
int
sock_accepted(const struct np_opts *o, int fd, int family)
{
	if (sock_apply(o, fd, family, PH_CONNECTED) == -1)
		return -1;
	sockopt_report(o, fd, family, PH_SOCKET | PH_CONNECTED);
	return 0;
}

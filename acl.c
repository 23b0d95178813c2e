/*
 * acl.c: listener access control (--allow, --deny, --allow-file,
 * --deny-file) and the accept step that applies it.  Every rule is kept
 * as an IPv6 prefix, IPv4 ones as ::ffff:a.b.c.d/96+n, so that one
 * comparison covers both families and the IPv4-mapped peers a dual-stack
 * listener sees.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

/* The longest host name DNS allows, and the longest label in it. */
#define ACL_HOST_MAX	253
#define ACL_LABEL_MAX	63
/* Out of descriptors, a busy listener says so at most this often. */
#define ACL_EMFILE_QUIET_MS	(60 * 1000)
/*
 * Out of descriptors or memory, a listener waits this long before it
 * accepts again (sooner when a peer leaves): not a busy loop, and short
 * enough that a peer in the backlog hardly notices.
 */
#define ACL_PAUSE_MS	100

struct acl_list {
	struct acl_rule	*v;
	size_t		 n;
};

struct acl {
	struct acl_list	 allow;
	struct acl_list	 deny;
};

static int	 acl_prefix(const char *, int);
static int	 acl_hostname(const char *);
static void	 acl_to_v6(const struct sockaddr *, unsigned char *);
static int	 acl_match(const struct acl_list *, const unsigned char *);
static void	 acl_push(struct acl_list *, const struct acl_rule *);
static int	 acl_resolve(struct acl_list *, const char *, const char *);
static int	 acl_add(struct acl_list *, const char *,
		    const struct np_strlist *);
static const char *acl_time_str(int, char *, size_t);
static void	 acl_say_received(const char *);
static void	 acl_listen_ready(struct loop *, int, int, void *);
static int	 acl_listen_retry(struct loop *, long long, void *);

/*
 * A prefix length: decimal digits only, no sign, no leading zero, at
 * most max.  Returns it, or -1.
 */
static int
acl_prefix(const char *s, int max)
{
	int n = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 3)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n <= max ? n : -1;
}

/*
 * Whether s looks like a DNS name: labels of letters, digits, '-' and '_'
 * separated by dots, one trailing dot allowed, and not all digits (a
 * malformed IPv4 address such as 10.1 must not be sent to the resolver).
 */
static int
acl_hostname(const char *s)
{
	size_t len = strlen(s), label = 0, i;
	int alpha = 0;

	if (len == 0 || len > ACL_HOST_MAX || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
			alpha = 1;
		else if (c == '-' || c == '_')
			alpha = 1;
		else if (c < '0' || c > '9')
			return 0;
		if (++label > ACL_LABEL_MAX)
			return 0;
	}
	return alpha;
}

/*
 * Parse one access rule: an IPv4 or IPv6 address, optionally with a
 * /prefix, or a host name.  Pure: no allocation, no lookup, no output,
 * so that a fuzzer can call it.  Returns ACL_ADDRESS with *r filled (host
 * bits beyond the prefix cleared), ACL_HOSTNAME when spec is a name to
 * resolve (r untouched but zeroed), or ACL_INVALID.
 */
int
acl_parse(const char *spec, struct acl_rule *r)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(spec, '/');
	size_t alen = slash != NULL ? (size_t)(slash - spec) : strlen(spec);
	struct in_addr a4;
	int max = 128, base = 0, n, i;

	memset(r, 0, sizeof(*r));
	if (alen == 0)
		return ACL_INVALID;
	if (alen >= sizeof(addr))
		return slash == NULL && acl_hostname(spec) ? ACL_HOSTNAME :
		    ACL_INVALID;
	memcpy(addr, spec, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		r->addr[10] = r->addr[11] = 0xff;
		memcpy(&r->addr[12], &a4, sizeof(a4));
		max = 32;
		base = 96;
	} else if (inet_pton(AF_INET6, addr, r->addr) != 1)
		return slash == NULL && acl_hostname(spec) ? ACL_HOSTNAME :
		    ACL_INVALID;
	if (slash == NULL)
		n = max;
	else if ((n = acl_prefix(slash + 1, max)) == -1) {
		memset(r, 0, sizeof(*r));
		return ACL_INVALID;
	}
	r->prefix = base + n;
	for (i = r->prefix; i < 128; i++)
		r->addr[i / 8] &= ~(0x80 >> (i % 8));
	return ACL_ADDRESS;
}

/* A peer's address as 16 bytes, IPv4 mapped into IPv6. */
static void
acl_to_v6(const struct sockaddr *sa, unsigned char *v6)
{
	memset(v6, 0, 16);
	if (sa->sa_family == AF_INET) {
		v6[10] = v6[11] = 0xff;
		memcpy(&v6[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else
		memcpy(v6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static int
acl_match(const struct acl_list *l, const unsigned char *v6)
{
	const struct acl_rule *r;
	size_t i;
	int bytes, bits;

	for (i = 0; i < l->n; i++) {
		r = &l->v[i];
		bytes = r->prefix / 8;
		bits = r->prefix % 8;
		if (memcmp(r->addr, v6, bytes) != 0)
			continue;
		if (bits == 0 ||
		    ((r->addr[bytes] ^ v6[bytes]) & (0xff00 >> bits)) == 0)
			return 1;
	}
	return 0;
}

/*
 * Whether a peer at sa may stay: it matches no --deny rule, and some
 * --allow rule when there are any.  Unix-domain peers have no address
 * to judge and are let in.
 */
int
acl_permits(const struct acl *acl, const struct sockaddr *sa)
{
	unsigned char v6[16];

	if (acl == NULL ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return 1;
	acl_to_v6(sa, v6);
	if (acl_match(&acl->deny, v6))
		return 0;
	return acl->allow.n == 0 || acl_match(&acl->allow, v6);
}

/* Whether any rule was given, for the modes that cannot apply them. */
int
acl_empty(const struct acl *acl)
{
	return acl == NULL || (acl->allow.n == 0 && acl->deny.n == 0);
}

static void
acl_push(struct acl_list *l, const struct acl_rule *r)
{
	l->v = reallocarray(l->v, l->n + 1, sizeof(*l->v));
	if (l->v == NULL)
		err(NP_EXIT_FAIL, "reallocarray");
	l->v[l->n++] = *r;
}

/*
 * Every address of a host name becomes a rule of its own.  Returns 0,
 * or -1 after a message when the name does not resolve.
 */
static int
acl_resolve(struct acl_list *l, const char *flag, const char *name)
{
	struct addrinfo hints, *res, *ai;
	struct acl_rule r;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(name, NULL, &hints, &res)) != 0) {
		warnx("%s: getaddrinfo for host \"%s\": %s", flag, name,
		    gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		acl_to_v6(ai->ai_addr, r.addr);
		r.prefix = 128;
		acl_push(l, &r);
	}
	freeaddrinfo(res);
	return 0;
}

/*
 * The rules of one list, as given with flag: options.c has parsed each
 * and refused what is malformed (and names under -n), so what is left
 * to fail is a name that does not resolve.  Returns 0, or -1 after a
 * message.
 */
static int
acl_add(struct acl_list *l, const char *flag, const struct np_strlist *specs)
{
	struct acl_rule r;
	size_t i;

	for (i = 0; i < specs->n; i++) {
		switch (acl_parse(specs->v[i], &r)) {
		case ACL_ADDRESS:
			acl_push(l, &r);
			break;
		case ACL_HOSTNAME:
			if (acl_resolve(l, flag, specs->v[i]) == -1)
				return -1;
			break;
		default:
			warnx("%s: \"%s\" is invalid", flag, specs->v[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * The rule on one line of a rule file, trimmed in place: '#' starts a
 * comment, and blanks around the rule go.  Returns a pointer into line,
 * or NULL when the line holds no rule.  Pure, for a fuzzer.
 */
char *
acl_line(char *line)
{
	char *s, *e;

	if ((s = strchr(line, '#')) != NULL)
		*s = '\0';
	s = line + strspn(line, " \t\r\n");
	for (e = s + strlen(s); e > s && strchr(" \t\r\n", e[-1]);)
		*--e = '\0';
	return *s != '\0' ? s : NULL;
}

/*
 * Build the rules of o (--allow, --deny and what options.c read from
 * their files), resolving host names now, once.  Returns an acl the
 * caller frees with acl_free(), which lets everyone in when no rule was
 * given, or NULL after a message when a name does not resolve.
 */
struct acl *
acl_new(const struct np_opts *o)
{
	struct acl *acl;

	if ((acl = calloc(1, sizeof(*acl))) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	if (acl_add(&acl->allow, "--allow", &o->allow) == -1 ||
	    acl_add(&acl->allow, "--allow-file", &o->allow_read) == -1 ||
	    acl_add(&acl->deny, "--deny", &o->deny) == -1 ||
	    acl_add(&acl->deny, "--deny-file", &o->deny_read) == -1) {
		acl_free(acl);
		return NULL;
	}
	return acl;
}

void
acl_free(struct acl *acl)
{
	if (acl == NULL)
		return;
	free(acl->allow.v);
	free(acl->deny.v);
	free(acl);
}

/*
 * "ADDR PORT" for an IP peer, the path for a Unix one (the listener's
 * own path when the peer is unnamed, as nc.openbsd prints it; lfd may be
 * -1 when there is no listener to ask).
 */
void
acl_peer_name(int lfd, const struct sockaddr *sa, socklen_t len, char *name,
    size_t size)
{
	struct sockaddr_storage ls;
	socklen_t llen = sizeof(ls);
	char addr[sizeof(struct sockaddr_un)];
	size_t n;
	int port;

	if (sa->sa_family == AF_UNIX) {
		if (len <= offsetof(struct sockaddr_un, sun_path) &&
		    getsockname(lfd, (struct sockaddr *)&ls, &llen) == 0) {
			sa = (struct sockaddr *)&ls;
			len = llen;
		}
		sock_ntop(sa, len, name, size);
		return;
	}
	port = ntohs(sa->sa_family == AF_INET ?
	    ((const struct sockaddr_in *)sa)->sin_port :
	    ((const struct sockaddr_in6 *)sa)->sin6_port);
	sock_ntop(sa, len, addr, sizeof(addr));
	/* By hand: snprintf was a third of a short connection's cost. */
	n = strlen(addr);
	if (n + sizeof(" 65535") > size) {
		/* No caller's buffer is this small (NP_PEER_NAMELEN). */
		strlcpy(name, addr, size);
		return;
	}
	memcpy(name, addr, n);
	name[n++] = ' ';
	*sock_utoa(name + n, port) = '\0';
}

/*
 * -v's line for each peer, in nc.openbsd's words, written at once (stderr
 * is unbuffered): fprintf's formatting cost a -k listener more per peer
 * than building the line does.
 */
static void
acl_say_received(const char *name)
{
	static const char what[] = "Connection received on ";
	char line[sizeof(what) + NP_PEER_NAMELEN];
	size_t n = strnlen(name, NP_PEER_NAMELEN - 1);

	memcpy(line, what, sizeof(what) - 1);
	memcpy(line + sizeof(what) - 1, name, n);
	line[sizeof(what) - 1 + n] = '\n';
	fwrite(line, 1, sizeof(what) + n, stderr);
}

/*
 * Accept one pending peer on the non-blocking listener lfd and judge it.
 * Returns the connected socket (non-blocking, close-on-exec; the caller
 * owns it) with the peer's name in name, after "Connection received on"
 * with -v.  Returns -1 with errno EAGAIN when nobody was waiting, EACCES
 * when the peer was refused (closed, and logged with -v) or its socket
 * options could not be set (closed, after a message), EMFILE when out of
 * descriptors or memory (the peer stays in the backlog; said at most once
 * a minute), or another errno after a message.
 */
int
acl_accept(const struct np_opts *o, const struct acl *acl, int lfd,
    char *name, size_t size)
{
	static struct timespec quiet;	/* no EMFILE warning until */
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR || errno == ECONNABORTED) {
			errno = EAGAIN;
			return -1;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* The peer waits in the backlog: say so, not often. */
			if (quiet.tv_sec == 0 || np_deadline_ms(&quiet) == 0) {
				warn(errno == EMFILE || errno == ENFILE ?
				    "accept (waiting for a free descriptor)" :
				    "accept (waiting for memory)");
				np_deadline_set(&quiet, ACL_EMFILE_QUIET_MS);
			}
			errno = EMFILE;
			return -1;
		}
		warn("accept");
		return -1;
	}
	acl_peer_name(lfd, (struct sockaddr *)&ss, len, name, size);
	if (!acl_permits(acl, (struct sockaddr *)&ss)) {
		/* Logged first: whoever sees the peer closed finds the line. */
		if (o->verbose > 0)
			fprintf(stderr, "Connection from %s refused\n", name);
		close(fd);
		errno = EACCES;
		return -1;
	}
	if (o->verbose > 0)
		acl_say_received(name);
	if (sock_accepted(o, fd, ss.ss_family) == -1) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	return fd;
}

/*
 * The datagram side of the same judgement: whether a datagram from sa
 * may be taken, logging a refusal with -v.
 */
int
acl_dgram(const struct np_opts *o, const struct acl *acl,
    const struct sockaddr *sa, socklen_t len)
{
	char name[NP_PEER_NAMELEN];

	if (acl_permits(acl, sa))
		return 1;
	if (o->verbose > 0) {
		acl_peer_name(-1, sa, len, name, sizeof(name));
		fprintf(stderr, "Datagram from %s refused\n", name);
	}
	return 0;
}

/*
 * A time in milliseconds as messages print it: "1 second", "2 seconds",
 * "1.5 seconds".  Returns buf.
 */
static const char *
acl_time_str(int ms, char *buf, size_t len)
{
	char frac[8];
	size_t n;

	if (ms % 1000 == 0) {
		snprintf(buf, len, "%d second%s", ms / 1000,
		    ms == 1000 || ms == -1000 ? "" : "s");
		return buf;
	}
	snprintf(frac, sizeof(frac), "%03d", abs(ms % 1000));
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%s%d.%s seconds", ms < 0 && ms > -1000 ? "-" : "",
	    ms / 1000, frac);
	return buf;
}

/* The one message for a listener that nobody reached in time. */
void
acl_timeout(const struct np_opts *o)
{
	char t[32];

	warnx("accept: timed out after %s (--accept-timeout)",
	    acl_time_str(o->accept_timeout_ms, t, sizeof(t)));
}

/*
 * Start watching al->lfd on al->loop.  Returns 0, or -1 with errno set.
 * The listener stays the caller's; acl_listen_end() stops watching it.
 */
int
acl_listen(struct acl_listener *al)
{
	al->pause = 0;
	al->held = 0;
	return loop_fd(al->loop, al->lfd, LOOP_READ, acl_listen_ready, al);
}

/*
 * Accept no more until acl_listen_resume().  The listener leaves the poll
 * set rather than staying with no interest: a pending peer is no event.
 */
void
acl_listen_hold(struct acl_listener *al)
{
	al->held = 1;
	loop_fd_del(al->loop, al->lfd);
}

/* Accept again, at once: there is room, or a descriptor came free. */
void
acl_listen_resume(struct acl_listener *al)
{
	loop_timer_del(al->loop, al->pause);
	al->pause = 0;
	if (al->held && loop_fd(al->loop, al->lfd, LOOP_READ,
	    acl_listen_ready, al) == 0)
		al->held = 0;
}

/*
 * Accept now, as if a poll had found the listener ready: a busy -k
 * listener has its next peer queued already by the time it is done with
 * one, and takes it without a poll; an idle one pays an accept4(2) that
 * says EAGAIN, and then waits as before.  Nothing happens while held or
 * backing off.
 */
void
acl_listen_now(struct acl_listener *al)
{
	if (!al->held && al->pause == 0)
		acl_listen_ready(al->loop, al->lfd, LOOP_READ, al);
}

/* Stop watching the listener and cancel its back-off. */
void
acl_listen_end(struct acl_listener *al)
{
	loop_timer_del(al->loop, al->pause);
	al->pause = 0;
	acl_listen_hold(al);
}

/*
 * The listener is readable: accept until nobody waits, peer() asks to
 * hold, or the process runs out of descriptors or memory, which pauses
 * accepting for ACL_PAUSE_MS on a timer.  Refused peers are skipped.
 */
static void
acl_listen_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct acl_listener *al = arg;
	char name[NP_PEER_NAMELEN];
	int cfd;

	(void)fd;
	(void)fired;
	while (!al->held) {
		cfd = acl_accept(al->o, al->acl, al->lfd, name, sizeof(name));
		if (cfd != -1) {
			if (al->peer(al, cfd, name) == 0)
				acl_listen_hold(al);
		} else if (errno == EAGAIN)
			return;
		else if (errno == EMFILE) {
			acl_listen_hold(al);
			if ((al->pause = loop_timer(l, ACL_PAUSE_MS,
			    acl_listen_retry, al)) == -1) {
				warn("accept");
				al->pause = 0;
				al->fail(al);
			}
		} else if (errno != EACCES) {
			al->fail(al);
			return;
		}
	}
}

/* The back-off is over: try again. */
static int
acl_listen_retry(struct loop *l, long long id, void *arg)
{
	struct acl_listener *al = arg;

	(void)l;
	(void)id;
	al->pause = 0;
	acl_listen_resume(al);
	return LOOP_NOMORE;
}

/*
 * sockopt.c: the socket-option table behind -D -b -I -O -T -M -m,
 * --sockopt and --join, after socat's struct optdesc and its phases.
 * The parsers are pure and return -1 with a message in the caller's
 * buffer (fuzz targets, and options.c's checks); the setters return -1
 * after a message naming the option the kernel refused.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpipe.h"

/* How the VALUE of --sockopt NAME=VALUE is read. */
enum sockopt_type {
	SOT_BOOL,	/* 0 or 1 */
	SOT_INT,	/* a number from min to max, decimal or 0x hex */
	SOT_TOS,	/* -T's keywords, or a number */
	SOT_LINGER,	/* seconds to linger on close; sets l_onoff */
	SOT_STRING	/* a name of at most max bytes */
};

/*
 * One row per option: its --sockopt name, the short flag that spells
 * the same row (0 when none), the option, its IPv6 twin for IP-level
 * rows (level6 0 when none), how the value is parsed, the value that
 * NAME alone means (-1: a value is required) and when it is set.
 */
struct sockopt_row {
	const char	*name;
	int		 flag;
	int		 level;
	int		 optname;
	const char	*label;
	int		 level6;
	int		 optname6;
	const char	*label6;
	enum sockopt_type type;
	long long	 min;
	long long	 max;
	long long	 dflt;
	int		 phase;
};

/* The option and its name as text, so that the two cannot disagree. */
#define OPT(x)	x, #x
#define NO_V6	0, 0, NULL

static const struct sockopt_row sockopt_rows[] = {
	{ "nodelay", 0, IPPROTO_TCP, OPT(TCP_NODELAY), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
	{ "keepalive", 0, SOL_SOCKET, OPT(SO_KEEPALIVE), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
	{ "keepidle", 0, IPPROTO_TCP, OPT(TCP_KEEPIDLE), NO_V6,
	    SOT_INT, 1, 32767, -1, PH_SOCKET },
	{ "keepintvl", 0, IPPROTO_TCP, OPT(TCP_KEEPINTVL), NO_V6,
	    SOT_INT, 1, 32767, -1, PH_SOCKET },
	{ "keepcnt", 0, IPPROTO_TCP, OPT(TCP_KEEPCNT), NO_V6,
	    SOT_INT, 1, 127, -1, PH_SOCKET },
	{ "reuseaddr", 0, SOL_SOCKET, OPT(SO_REUSEADDR), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
	{ "reuseport", 0, SOL_SOCKET, OPT(SO_REUSEPORT), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
	{ "linger", 0, SOL_SOCKET, OPT(SO_LINGER), NO_V6,
	    SOT_LINGER, 0, 65535, -1, PH_SOCKET },
	{ "rcvbuf", 'I', SOL_SOCKET, OPT(SO_RCVBUF), NO_V6,
	    SOT_INT, 1, INT_MAX / 2, -1, PH_SOCKET },
	{ "sndbuf", 'O', SOL_SOCKET, OPT(SO_SNDBUF), NO_V6,
	    SOT_INT, 1, INT_MAX / 2, -1, PH_SOCKET },
	{ "tos", 'T', IPPROTO_IP, OPT(IP_TOS), IPPROTO_IPV6, OPT(IPV6_TCLASS),
	    SOT_TOS, 0, 255, -1, PH_SOCKET },
	{ "ttl", 'M', IPPROTO_IP, OPT(IP_TTL),
	    IPPROTO_IPV6, OPT(IPV6_UNICAST_HOPS),
	    SOT_INT, 1, 255, -1, PH_SOCKET },
	{ "minttl", 'm', IPPROTO_IP, OPT(IP_MINTTL),
	    IPPROTO_IPV6, OPT(IPV6_MINHOPCOUNT),
	    SOT_INT, 1, 255, -1, PH_SOCKET },
	{ "mark", 0, SOL_SOCKET, OPT(SO_MARK), NO_V6,
	    SOT_INT, 0, UINT32_MAX, -1, PH_SOCKET },
	{ "congestion", 0, IPPROTO_TCP, OPT(TCP_CONGESTION), NO_V6,
	    SOT_STRING, 1, 15, -1, PH_SOCKET },
	{ "quickack", 0, IPPROTO_TCP, OPT(TCP_QUICKACK), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_CONNECTED },
	{ "maxseg", 0, IPPROTO_TCP, OPT(TCP_MAXSEG), NO_V6,
	    SOT_INT, 1, 65535, -1, PH_SOCKET },
	{ "user-timeout", 0, IPPROTO_TCP, OPT(TCP_USER_TIMEOUT), NO_V6,
	    SOT_INT, 0, INT_MAX, -1, PH_SOCKET },
	{ "bindtodevice", 0, SOL_SOCKET, OPT(SO_BINDTODEVICE), NO_V6,
	    SOT_STRING, 1, IFNAMSIZ - 1, -1, PH_SOCKET },
	/* The same name on both sides: a client asks, a listener queues. */
	{ "fastopen", 0, IPPROTO_TCP, OPT(TCP_FASTOPEN_CONNECT), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_CLIENT },
	{ "fastopen", 0, IPPROTO_TCP, OPT(TCP_FASTOPEN), NO_V6,
	    SOT_INT, 0, 65535, 16, PH_LISTENER },
	/* accept(2) does not copy the priority: set it again. */
	{ "priority", 0, SOL_SOCKET, OPT(SO_PRIORITY), NO_V6,
	    SOT_INT, 0, UINT32_MAX, -1, PH_SOCKET | PH_CONNECTED },
	{ "debug", 'D', SOL_SOCKET, OPT(SO_DEBUG), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
	{ "broadcast", 'b', SOL_SOCKET, OPT(SO_BROADCAST), NO_V6,
	    SOT_BOOL, 0, 1, 1, PH_SOCKET },
};
#define NROWS	(sizeof(sockopt_rows) / sizeof(sockopt_rows[0]))

union sockopt_val {
	int		 i;
	struct linger	 l;
	char		 s[32];
};

/* One option to set: its row, the --sockopt text (NULL for a flag). */
struct sockopt_set {
	const struct sockopt_row *r;
	const char	*arg;
	union sockopt_val v;
	socklen_t	 len;
};

/* -T's keywords, and --sockopt tos's. */
static const struct tos_name {
	const char	*name;
	int		 value;
} tos_names[] = {
	{ "critical",		IPTOS_PREC_CRITIC_ECP },
	{ "ef",			0xb8 },
	{ "inetcontrol",	IPTOS_PREC_INTERNETCONTROL },
	{ "lowdelay",		IPTOS_LOWDELAY },
	{ "netcontrol",		IPTOS_PREC_NETCONTROL },
	{ "reliability",	IPTOS_RELIABILITY },
	{ "throughput",		IPTOS_THROUGHPUT },
};

/* --join GROUP[@iface], parsed. */
struct mcast {
	int		 family;
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 ifname[IFNAMSIZ];
};

static int	 seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 sockopt_number(const char *, const char *, long long,
		    long long, long long *, char *, size_t);
static const struct sockopt_row *sockopt_find(const char *, int);
static int	 sockopt_unknown(const char *, char *, size_t);
static int	 sockopt_value(const struct sockopt_row *, const char *,
		    const char *, struct sockopt_set *, char *, size_t);
static int	 sockopt_parse(const struct np_opts *, const char *,
		    struct sockopt_set *, char *, size_t);
static int	 sockopt_none(const struct np_opts *);
static int	 sockopt_flag(const struct np_opts *,
		    const struct sockopt_row *, struct sockopt_set *);
static int	 sockopt_next(const struct np_opts *, size_t *,
		    struct sockopt_set *);
static int	 sockopt_fits(const struct sockopt_row *, int);
static int	 sockopt_each(const struct np_opts *, int, int, int,
		    int (*)(int, const struct sockopt_set *, int, int,
		    const char *));
static int	 sockopt_set(int, const struct sockopt_set *, int, int,
		    const char *);
static int	 sockopt_show(int, const struct sockopt_set *, int, int,
		    const char *);
static int	 join_parse(const char *, struct mcast *, char *, size_t);

/* The message into err, as redis anetSetError() does; returns -1. */
static int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A decimal or 0x hex number in [min, max] into *n; -1 with a message
 * naming flag.
 */
static int
sockopt_number(const char *flag, const char *s, long long min,
    long long max, long long *n, char *err, size_t errlen)
{
	const char *errstr = NULL;
	unsigned long long u;
	char *end;

	if (strncmp(s, "0x", 2) == 0 && s[2] != '\0' &&
	    strspn(s + 2, "0123456789abcdefABCDEF") == strlen(s + 2)) {
		errno = 0;
		u = strtoull(s + 2, &end, 16);
		if (errno == ERANGE || u > (unsigned long long)max)
			errstr = "too large";
		else if ((long long)u < min)
			errstr = "too small";
		*n = (long long)u;
	} else
		*n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		return seterr(err, errlen, "%s: \"%s\" is %s", flag, s, errstr);
	return 0;
}

/*
 * -T (or --sockopt tos, named by flag): a keyword, a DSCP class name, or
 * a number (decimal or 0x hex), into *v.  Returns 0, or -1 with a
 * message in err when it is none of those.
 */
int
sockopt_tos(const char *flag, const char *s, int *v, char *err,
    size_t errlen)
{
	long long n;
	size_t i;

	for (i = 0; i < sizeof(tos_names) / sizeof(tos_names[0]); i++)
		if (strcmp(s, tos_names[i].name) == 0) {
			*v = tos_names[i].value;
			return 0;
		}
	if (strlen(s) == 4 && strncmp(s, "af", 2) == 0 &&
	    s[2] >= '1' && s[2] <= '4' && s[3] >= '1' && s[3] <= '3') {
		*v = ((s[2] - '0') * 8 + (s[3] - '0') * 2) << 2;
		return 0;
	}
	if (strlen(s) == 3 && strncmp(s, "cs", 2) == 0 &&
	    s[2] >= '0' && s[2] <= '7') {
		*v = (s[2] - '0') << 5;
		return 0;
	}
	if (strncmp(s, "0x", 2) == 0 && s[2] != '\0' &&
	    strspn(s + 2, "0123456789abcdefABCDEF") == strlen(s + 2)) {
		n = strtol(s + 2, NULL, 16);
		if (n > 255 || strlen(s) > 6)
			return seterr(err, errlen, "%s: \"%s\" is too large",
			    flag, s);
		*v = (int)n;
		return 0;
	}
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
		return seterr(err, errlen, "%s: \"%s\" is invalid", flag, s);
	if (sockopt_number(flag, s, 0, 255, &n, err, errlen) == -1)
		return -1;
	*v = (int)n;
	return 0;
}

/*
 * The row called name for a listener (or a client): a name may have one
 * row per side, as fastopen has.  NULL when there is none.
 */
static const struct sockopt_row *
sockopt_find(const char *name, int listener)
{
	const struct sockopt_row *r;

	for (r = sockopt_rows; r < sockopt_rows + NROWS; r++) {
		if (strcmp(r->name, name) != 0)
			continue;
		if (r->phase == (listener ? PH_CLIENT : PH_LISTENER))
			continue;
		return r;
	}
	return NULL;
}

/* An unknown --sockopt name: a message listing the known ones; -1. */
static int
sockopt_unknown(const char *name, char *err, size_t errlen)
{
	char known[512];
	size_t i;

	known[0] = '\0';
	for (i = 0; i < NROWS; i++) {
		if (i > 0 && strcmp(sockopt_rows[i].name,
		    sockopt_rows[i - 1].name) == 0)
			continue;
		if (known[0] != '\0')
			strlcat(known, ", ", sizeof(known));
		strlcat(known, sockopt_rows[i].name, sizeof(known));
	}
	return seterr(err, errlen, "--sockopt: unknown option \"%s\" "
	    "(known: %s)", name, known);
}

/* Parse val (NULL: NAME alone) for row r into s; -1 with a message. */
static int
sockopt_value(const struct sockopt_row *r, const char *flag,
    const char *val, struct sockopt_set *s, char *err, size_t errlen)
{
	long long n;

	memset(&s->v, 0, sizeof(s->v));
	s->len = sizeof(int);
	if (val == NULL && r->dflt < 0)
		return seterr(err, errlen, "%s: needs a value (%s=VALUE)",
		    flag, r->name);
	if (val == NULL) {
		s->v.i = (int)r->dflt;
		return 0;
	}
	if (r->type == SOT_TOS)
		return sockopt_tos(flag, val, &s->v.i, err, errlen);
	if (r->type == SOT_STRING) {
		if (*val == '\0')
			return seterr(err, errlen, "%s: \"\" is invalid", flag);
		if (strlen(val) > (size_t)r->max)
			return seterr(err, errlen, "%s: \"%s\" is too long",
			    flag, val);
		strlcpy(s->v.s, val, sizeof(s->v.s));
		s->len = strlen(val);
		return 0;
	}
	if (sockopt_number(flag, val, r->min, r->max, &n, err, errlen) == -1)
		return -1;
	if (r->type == SOT_LINGER) {
		s->v.l.l_onoff = 1;
		s->v.l.l_linger = n;
		s->len = sizeof(s->v.l);
	} else	/* Marks and priorities are unsigned 32-bit values. */
		s->v.i = (int)(unsigned int)n;
	return 0;
}

/*
 * One --sockopt NAME[=VALUE] into s, for the side o->mode says.  Returns
 * 0, or -1 with a message when the name or the value is bad.
 */
static int
sockopt_parse(const struct np_opts *o, const char *arg,
    struct sockopt_set *s, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char name[32], flag[48];
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, arg, len);
	name[len] = '\0';
	if ((s->r = sockopt_find(name, o->mode == MODE_LISTEN)) == NULL)
		return sockopt_unknown(name, err, errlen);
	s->arg = arg;
	snprintf(flag, sizeof(flag), "--sockopt %s", name);
	return sockopt_value(s->r, flag, eq != NULL ? eq + 1 : NULL, s, err,
	    errlen);
}

/*
 * Whether o sets no socket option at all, which is the common case and
 * is asked for every accepted peer.  It reads the fields sockopt_flag()
 * reads: a new flag there belongs here too.
 */
static int
sockopt_none(const struct np_opts *o)
{
	return !o->so_debug && !o->broadcast && o->recv_buf <= 0 &&
	    o->send_buf <= 0 && o->tos < 0 && o->ttl < 0 && o->min_ttl < 0 &&
	    o->sockopts.n == 0;
}

/* The row r as a short flag spells it; 0 when that flag is not set. */
static int
sockopt_flag(const struct np_opts *o, const struct sockopt_row *r,
    struct sockopt_set *s)
{
	int v;

	switch (r->flag) {
	case 'D': v = o->so_debug ? 1 : -1; break;
	case 'b': v = o->broadcast ? 1 : -1; break;
	case 'I': v = o->recv_buf > 0 ? o->recv_buf : -1; break;
	case 'O': v = o->send_buf > 0 ? o->send_buf : -1; break;
	case 'T': v = o->tos; break;
	case 'M': v = o->ttl; break;
	case 'm': v = o->min_ttl; break;
	default: return 0;
	}
	if (v < 0)
		return 0;
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->v.i = v;
	s->len = sizeof(int);
	return 1;
}

/*
 * The options o asks for, one at a time: those the short flags spell,
 * then each --sockopt in command-line order, so that a later one wins.
 * *i is the cursor, 0 to start.  Returns 0 when there are no more.  A
 * --sockopt that does not parse is skipped: sockopt_check() refused it
 * before any socket was made.
 */
static int
sockopt_next(const struct np_opts *o, size_t *i, struct sockopt_set *s)
{
	char err[8];

	if (*i == 0 && sockopt_none(o))
		return 0;
	for (; *i < NROWS; (*i)++)
		if (sockopt_flag(o, &sockopt_rows[*i], s)) {
			(*i)++;
			return 1;
		}
	for (; *i - NROWS < o->sockopts.n; (*i)++)
		if (sockopt_parse(o, o->sockopts.v[*i - NROWS], s, err,
		    sizeof(err)) == 0) {
			(*i)++;
			return 1;
		}
	return 0;
}

/*
 * Whether o sets the option called name (a --sockopt name), by its short
 * flag or by --sockopt: the pump leaves a buffer size the user chose
 * alone.
 */
int
sock_opt_given(const struct np_opts *o, const char *name)
{
	struct sockopt_set s;
	size_t i = 0;

	while (sockopt_next(o, &i, &s))
		if (strcmp(s.r->name, name) == 0)
			return 1;
	return 0;
}

/* IP and TCP rows mean nothing to a Unix-domain socket. */
static int
sockopt_fits(const struct sockopt_row *r, int family)
{
	return r->level == SOL_SOCKET || family == AF_INET ||
	    family == AF_INET6;
}


/*
 * Check every --sockopt and --join before any socket exists, so that a
 * bad name or value is a usage error, not a failure later.  Returns 0,
 * or -1 with a message in err.
 */
int
sockopt_check(const struct np_opts *o, char *err, size_t errlen)
{
	struct sockopt_set s;
	struct mcast m;
	char flag[48];
	size_t i;

	for (i = 0; i < o->sockopts.n; i++) {
		if (sockopt_parse(o, o->sockopts.v[i], &s, err, errlen) == -1)
			return -1;
		snprintf(flag, sizeof(flag), "--sockopt %s", s.r->name);
		if (s.r->level == IPPROTO_TCP && (o->udp || o->unix_sock))
			return seterr(err, errlen, "%s: only for TCP sockets",
			    flag);
		if (s.r->level != SOL_SOCKET && o->unix_sock)
			return seterr(err, errlen, "%s: not for Unix-domain "
			    "sockets", flag);
	}
	if (o->join == NULL)
		return 0;
	if (join_parse(o->join, &m, err, errlen) == -1)
		return -1;
	if (o->family != AF_UNSPEC && o->family != m.family)
		return seterr(err, errlen, "--join: \"%s\" is not an IPv%d "
		    "group", o->join, o->family == AF_INET ? 4 : 6);
	return 0;
}

/*
 * Call fn for each option o sets whose phase is in phases, with the
 * level and name that fit fd's family: an IPv6 socket gets the IPv6
 * twin, and a dual-stack one the IPv4 option as well, for the IPv4
 * peers it serves.  Stops at the first fn that returns -1.
 */
static int
sockopt_each(const struct np_opts *o, int fd, int family, int phases,
    int (*fn)(int, const struct sockopt_set *, int, int, const char *))
{
	const struct sockopt_row *r;
	struct sockopt_set s;
	socklen_t len = sizeof(int);
	size_t i = 0;
	int v6only = -1;

	while (sockopt_next(o, &i, &s)) {
		r = s.r;
		if (!(r->phase & phases) || !sockopt_fits(r, family))
			continue;
		/*
		 * Asked once, and only when an option is set: every peer of
		 * a dual-stack listener is an IPv6 socket.
		 */
		if (family == AF_INET6 && v6only == -1 && getsockopt(fd,
		    IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == -1)
			v6only = 1;
		if (family == AF_INET6 && r->level6 != 0 &&
		    fn(fd, &s, r->level6, r->optname6, r->label6) == -1)
			return -1;
		if ((family != AF_INET6 || r->level6 == 0 || !v6only) &&
		    fn(fd, &s, r->level, r->optname, r->label) == -1)
			return -1;
	}
	return 0;
}

/* setsockopt for one row; the message names the option as given. */
static int
sockopt_set(int fd, const struct sockopt_set *s, int level, int optname,
    const char *label)
{
	if (setsockopt(fd, level, optname, &s->v, s->len) == 0)
		return 0;
	if (s->arg != NULL)
		warn("--sockopt %s: setsockopt %s", s->arg, label);
	else
		warn("-%c: setsockopt %s", s->r->flag, label);
	return -1;
}

/* -vv: what the kernel reads back, e.g. the doubled SO_RCVBUF. */
static int
sockopt_show(int fd, const struct sockopt_set *s, int level, int optname,
    const char *label)
{
	union sockopt_val v;
	socklen_t len = sizeof(v);

	memset(&v, 0, sizeof(v));
	if (getsockopt(fd, level, optname, &v, &len) == -1) {
		warn("getsockopt %s", label);
		return 0;
	}
	if (s->r->type == SOT_STRING)
		warnx("%s %.*s", label, (int)strnlen(v.s, len), v.s);
	else if (s->r->type == SOT_LINGER && v.l.l_onoff == 0)
		warnx("%s off", label);
	else if (s->r->type == SOT_LINGER)
		warnx("%s %d", label, v.l.l_linger);
	else if (s->r->max > INT_MAX)
		warnx("%s %u", label, (unsigned int)v.i);
	else
		warnx("%s %d", label, v.i);
	return 0;
}


/*
 * Set the options of the given phases on fd (-D -b -I -O -T -M -m and
 * every --sockopt).  Returns 0, or -1 after a message naming the option
 * the kernel refused.
 */
int
sockopt_apply(const struct np_opts *o, int fd, int family, int phases)
{
	return sockopt_each(o, fd, family, phases, sockopt_set);
}

/* With -vv, print what the kernel reports for each option set on fd. */
void
sockopt_report(const struct np_opts *o, int fd, int family, int phases)
{
	if (o->verbose >= 2)
		sockopt_each(o, fd, family, phases, sockopt_show);
}

/* --join GROUP[@iface] into m; -1 with a message when it is no group. */
static int
join_parse(const char *arg, struct mcast *m, char *err, size_t errlen)
{
	char group[INET6_ADDRSTRLEN];
	const char *at = strrchr(arg, '@');
	size_t len = at != NULL ? (size_t)(at - arg) : strlen(arg);

	memset(m, 0, sizeof(*m));
	if (at != NULL && (at[1] == '\0' || strlen(at + 1) >= IFNAMSIZ))
		return seterr(err, errlen, "--join: \"%s\": bad interface "
		    "name", arg);
	if (at != NULL)
		strlcpy(m->ifname, at + 1, sizeof(m->ifname));
	if (len == 0 || len >= sizeof(group))
		return seterr(err, errlen, "--join: \"%s\" is invalid", arg);
	memcpy(group, arg, len);
	group[len] = '\0';
	if (inet_pton(AF_INET, group, &m->a4) == 1 &&
	    IN_MULTICAST(ntohl(m->a4.s_addr)))
		m->family = AF_INET;
	else if (inet_pton(AF_INET6, group, &m->a6) == 1 &&
	    IN6_IS_ADDR_MULTICAST(&m->a6))
		m->family = AF_INET6;
	else
		return seterr(err, errlen, "--join: \"%s\" is not a multicast "
		    "group", group);
	return 0;
}

/*
 * The address family of the --join group, which a listener that was
 * given no address binds; AF_UNSPEC when there is none.
 */
int
sockopt_join_family(const struct np_opts *o)
{
	struct mcast m;
	char err[8];

	if (o->join == NULL || join_parse(o->join, &m, err, sizeof(err)) == -1)
		return AF_UNSPEC;
	return m.family;
}

/*
 * The UDP listener fd joins the --join group, on the interface named
 * (0: the one the kernel's routes choose).  Returns 0, or -1 after a
 * message.
 */
int
sockopt_join(const struct np_opts *o, int fd)
{
	struct ip_mreqn mr;
	struct ipv6_mreq mr6;
	struct mcast m;
	unsigned int ifindex = 0;
	const char *label;
	char err[256];
	int rc;

	if (join_parse(o->join, &m, err, sizeof(err)) == -1) {
		warnx("%s", err);
		return -1;
	}
	if (m.ifname[0] != '\0' && (ifindex = if_nametoindex(m.ifname)) == 0) {
		warn("--join %s: %s", o->join, m.ifname);
		return -1;
	}
	if (m.family == AF_INET) {
		memset(&mr, 0, sizeof(mr));
		mr.imr_multiaddr = m.a4;
		mr.imr_ifindex = ifindex;
		label = "IP_ADD_MEMBERSHIP";
		rc = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr,
		    sizeof(mr));
	} else {
		memset(&mr6, 0, sizeof(mr6));
		mr6.ipv6mr_multiaddr = m.a6;
		mr6.ipv6mr_interface = ifindex;
		label = "IPV6_JOIN_GROUP";
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr6,
		    sizeof(mr6));
	}
	if (rc == -1)
		warn("--join %s: setsockopt %s", o->join, label);
	else if (o->verbose >= 2)
		warnx("%s %s ifindex %u", label, o->join, ifindex);
	return rc;
}


/*
 * sock.c: addresses, connecting with a timeout, listeners, Unix paths,
 * the socket-option table and the -z scanner.  Functions here return -1
 * after printing one message, so a -k listener can outlive one bad peer.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
/* -z -u: how long a probe waits for ICMP port unreachable without -w. */
#define SCAN_UDP_MS	200
/* Descriptors kept out of the scanner's reach for stdio and the rest. */
#define SCAN_FD_SPARE	16
#define SCAN_PENDING	(-1)
/* A datagram socket's receive buffer: an unpaced burst of 1 KiB ones. */
#define SOCK_DGRAM_RCVBUF	(8 * 1024 * 1024)

/* How the VALUE of --sockopt NAME=VALUE is read. */
enum sockopt_type {
	SOT_BOOL,	/* 0 or 1 */
	SOT_INT,	/* a number from min to max, decimal or 0x hex */
	SOT_TOS,	/* -T's keywords, or a number */
	SOT_LINGER,	/* seconds to linger on close; sets l_onoff */
	SOT_STRING	/* a name of at most max bytes */
};

/*
 * When a row is applied, after socat's PH_PASTSOCKET and friends.  The
 * kernel copies most options from a listener to the sockets it accepts;
 * it resets the PH_CONNECTED ones, so those are set on each connection.
 */
enum sockopt_phase {
	PH_SOCKET = 0x01,	/* every socket, before bind or connect */
	PH_CLIENT = 0x02,	/* a connecting socket, before connect */
	PH_LISTENER = 0x04,	/* a listening socket, before listen */
	PH_CONNECTED = 0x08	/* each connected socket, once connected */
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

/* --join GROUP[@iface], parsed. */
struct mcast {
	int		 family;
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 ifname[IFNAMSIZ];
};

/* -z: one probe in flight, and the scan it belongs to. */
struct probe {
	int			 fd;	/* -1: the slot is free */
	size_t			 idx;	/* into scan.ports */
	const struct addrinfo	*ai;	/* the address being tried */
	struct timespec		 deadline;
	int			 timed;	/* the deadline applies */
};

struct scan {
	const struct np_opts	*o;
	const int		*ports;
	size_t			 nports;
	struct addrinfo		*res;
	int			*result; /* SCAN_PENDING, 0 open, or errno */
	struct probe		*probes;
	struct pollfd		*pfd;
	int			 nprobes;
	size_t			 next;	/* the next port to start */
	size_t			 shown;	/* ports reported, in order */
	int			 nopen;
};

static long long sockopt_number(const char *, const char *, long long,
		    long long);
static const struct sockopt_row *sockopt_find(const char *, int);
static void	 sockopt_unknown(const char *) __attribute__((noreturn));
static void	 sockopt_value(const struct sockopt_row *, const char *,
		    const char *, struct sockopt_set *);
static void	 sockopt_parse(const struct np_opts *, const char *,
		    struct sockopt_set *);
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
static int	 sock_apply(const struct np_opts *, int, int, int);
static int	 sock_md5sig(const struct np_opts *, int, int);
static void	 md5sig_key(struct np_opts *);
static void	 sock_report(const struct np_opts *, int, int, int);
static int	 sock_family(int);
static void	 join_parse(const char *, struct mcast *);
static int	 sock_join(const struct np_opts *, int);
static int	 sock_addrinfo(const struct np_opts *, const char *,
		    const char *, int, struct addrinfo **);
static int	 sock_timed_connect(int, const struct sockaddr *, socklen_t,
		    int);
static int	 sock_bind_source(const struct np_opts *, int, int);
static int	 client_setup(const struct np_opts *, int, int);
static int	 connect_any(const struct np_opts *, int *);
static int	 sock_socket(const struct np_opts *, const struct addrinfo *);
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
static void	 report_connected(const struct np_opts *, const char *);
static void	 report_failed(const struct np_opts *, const char *,
		    const struct sockaddr *, socklen_t, int);
static void	 report_peer(const struct np_opts *, const struct sockaddr *,
		    socklen_t);
static const char *proto_name(const struct np_opts *);
static int	 sock_port(const struct sockaddr *);
static int	 scan_init(struct scan *, const struct np_opts *, size_t,
		    size_t, int);
static void	 scan_free(struct scan *);
static int	 scan_loop(struct scan *);
static int	 scan_fill(struct scan *);
static int	 scan_try(struct scan *, struct probe *);
static int	 scan_started(struct scan *, struct probe *, int);
static int	 scan_check(struct scan *, struct probe *, short);
static void	 scan_done(struct scan *, struct probe *, int);
static int	 scan_timeout(const struct scan *);
static void	 scan_show(struct scan *);

static const char *
proto_name(const struct np_opts *o)
{
	return o->udp ? "udp" : o->dccp ? "dccp" : "tcp";
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

/* A decimal or 0x hex number in [min, max]; exits 2 naming flag. */
static long long
sockopt_number(const char *flag, const char *s, long long min,
    long long max)
{
	const char *errstr = NULL;
	unsigned long long u;
	long long n;
	char *end;

	if (strncmp(s, "0x", 2) == 0 && s[2] != '\0' &&
	    strspn(s + 2, "0123456789abcdefABCDEF") == strlen(s + 2)) {
		errno = 0;
		u = strtoull(s + 2, &end, 16);
		if (errno == ERANGE || u > (unsigned long long)max)
			errstr = "too large";
		else if ((long long)u < min)
			errstr = "too small";
		n = (long long)u;
	} else
		n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		opts_usage_error("%s: \"%s\" is %s", flag, s, errstr);
	return n;
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

/* An unknown --sockopt name: a usage error listing the known ones. */
static void
sockopt_unknown(const char *name)
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
	opts_usage_error("--sockopt: unknown option \"%s\" (known: %s)",
	    name, known);
}

/* Parse val (NULL: NAME alone) for row r into s; exits 2 when bad. */
static void
sockopt_value(const struct sockopt_row *r, const char *flag,
    const char *val, struct sockopt_set *s)
{
	memset(&s->v, 0, sizeof(s->v));
	s->len = sizeof(int);
	if (val == NULL) {
		if (r->dflt < 0)
			opts_usage_error("%s: needs a value (%s=VALUE)", flag,
			    r->name);
		s->v.i = (int)r->dflt;
		return;
	}
	switch (r->type) {
	case SOT_TOS:
		s->v.i = opts_tos(flag, val);
		break;
	case SOT_STRING:
		if (*val == '\0')
			opts_usage_error("%s: \"\" is invalid", flag);
		if (strlen(val) > (size_t)r->max)
			opts_usage_error("%s: \"%s\" is too long", flag, val);
		strlcpy(s->v.s, val, sizeof(s->v.s));
		s->len = strlen(val);
		break;
	case SOT_LINGER:
		s->v.l.l_onoff = 1;
		s->v.l.l_linger = sockopt_number(flag, val, r->min, r->max);
		s->len = sizeof(s->v.l);
		break;
	default:
		/* Marks and priorities are unsigned 32-bit values. */
		s->v.i = (int)(unsigned int)sockopt_number(flag, val, r->min,
		    r->max);
	}
}

/*
 * One --sockopt NAME[=VALUE] into s, for the side o->mode says.  Exits 2
 * after a message when the name or the value is bad.
 */
static void
sockopt_parse(const struct np_opts *o, const char *arg,
    struct sockopt_set *s)
{
	const char *eq = strchr(arg, '=');
	char name[32], flag[48];
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, arg, len);
	name[len] = '\0';
	if ((s->r = sockopt_find(name, o->mode == MODE_LISTEN)) == NULL)
		sockopt_unknown(name);
	s->arg = arg;
	snprintf(flag, sizeof(flag), "--sockopt %s", name);
	sockopt_value(s->r, flag, eq != NULL ? eq + 1 : NULL, s);
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
 * *i is the cursor, 0 to start.  Returns 0 when there are no more.
 */
static int
sockopt_next(const struct np_opts *o, size_t *i, struct sockopt_set *s)
{
	for (; *i < NROWS; (*i)++)
		if (sockopt_flag(o, &sockopt_rows[*i], s)) {
			(*i)++;
			return 1;
		}
	if (*i - NROWS >= o->sockopts.n)
		return 0;
	sockopt_parse(o, o->sockopts.v[*i - NROWS], s);
	(*i)++;
	return 1;
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
 * bad name or value is a usage error (exit 2), not a failure later.
 */
void
sock_opts_check(const struct np_opts *o)
{
	struct sockopt_set s;
	struct mcast m;
	char flag[48];
	size_t i;

	for (i = 0; i < o->sockopts.n; i++) {
		sockopt_parse(o, o->sockopts.v[i], &s);
		snprintf(flag, sizeof(flag), "--sockopt %s", s.r->name);
		if (s.r->level == IPPROTO_TCP && (o->udp || o->unix_sock))
			opts_usage_error("%s: only for TCP sockets", flag);
		if (s.r->level != SOL_SOCKET && o->unix_sock)
			opts_usage_error("%s: not for Unix-domain sockets",
			    flag);
	}
	if (o->join == NULL)
		return;
	join_parse(o->join, &m);
	if (o->family != AF_UNSPEC && o->family != m.family)
		opts_usage_error("--join: \"%s\" is not an IPv%d group",
		    o->join, o->family == AF_INET ? 4 : 6);
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
	int v6only = 1;

	if (family == AF_INET6)
		getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
	while (sockopt_next(o, &i, &s)) {
		r = s.r;
		if (!(r->phase & phases) || !sockopt_fits(r, family))
			continue;
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
static int
sock_apply(const struct np_opts *o, int fd, int family, int phases)
{
	if (phases & PH_SOCKET)
		sock_dgram_buffer(o, fd);
	if ((phases & PH_SOCKET) && o->md5sig &&
	    sock_md5sig(o, fd, family) == -1)
		return -1;
	return sockopt_each(o, fd, family, phases, sockopt_set);
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
 * nc.openbsd asks for it, never from argv.  Exits 1 without one.
 */
static void
md5sig_key(struct np_opts *o)
{
	char buf[sizeof(o->md5sig_key) + 2];
	const char *env = getenv("NETPIPE_MD5SIG_KEY");

	if (env != NULL)
		strlcpy(buf, env, sizeof(buf));
	else if (readpassphrase("TCP MD5SIG password: ", buf, sizeof(buf),
	    RPP_REQUIRE_TTY) == NULL)
		errx(NP_EXIT_FAIL, "-S: no key: set NETPIPE_MD5SIG_KEY or "
		    "run on a terminal");
	o->md5sig_keylen = strlen(buf);
	if (o->md5sig_keylen == 0 || o->md5sig_keylen > sizeof(o->md5sig_key))
		errx(NP_EXIT_FAIL, "-S: the key must be 1 to %zu bytes",
		    sizeof(o->md5sig_key));
	memcpy(o->md5sig_key, buf, o->md5sig_keylen);
	explicit_bzero(buf, sizeof(buf));
}

/*
 * nc.openbsd's letters for what a kernel may lack: -V, -Z, -S.  Where
 * this one lacks it, exit 1 naming what is missing, before any socket
 * is made; then read -S's key.
 */
void
sock_features(struct np_opts *o)
{
	struct tcp_md5sig sig;
	int fd;

	if (o->rtable > 0)
		errx(NP_EXIT_FAIL, "-V %d: Linux has no routing tables for "
		    "sockets (rtable); only 0, the main table, is there",
		    o->rtable);
	if (o->dccp) {
		fd = socket(AF_INET, SOCK_DCCP | SOCK_CLOEXEC, IPPROTO_DCCP);
		if (fd == -1)
			err(NP_EXIT_FAIL, "-Z: this kernel has no DCCP: "
			    "socket");
		close(fd);
	}
	if (!o->md5sig)
		return;
	/* Deleting a key that is not there: ENOENT where MD5 is built in. */
	memset(&sig, 0, sizeof(sig));
	sig.tcpm_addr.ss_family = AF_INET;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(NP_EXIT_FAIL, "socket");
	if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof(sig)) == -1 &&
	    errno == ENOPROTOOPT)
		err(NP_EXIT_FAIL, "-S: this kernel has no TCP MD5 signatures: "
		    "setsockopt TCP_MD5SIG");
	close(fd);
	md5sig_key(o);
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

	if (sock_opt_given(o, "rcvbuf") || getsockopt(fd, SOL_SOCKET,
	    SO_TYPE, &type, &len) == -1 || type != SOCK_DGRAM)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* With -vv, print what the kernel reports for each option set on fd. */
static void
sock_report(const struct np_opts *o, int fd, int family, int phases)
{
	if (o->verbose >= 2)
		sockopt_each(o, fd, family, phases, sockopt_show);
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

/* --join GROUP[@iface] into m; exits 2 when it is not a group. */
static void
join_parse(const char *arg, struct mcast *m)
{
	char group[INET6_ADDRSTRLEN];
	const char *at = strrchr(arg, '@');
	size_t len = at != NULL ? (size_t)(at - arg) : strlen(arg);

	memset(m, 0, sizeof(*m));
	if (at != NULL && (at[1] == '\0' || strlen(at + 1) >= IFNAMSIZ))
		opts_usage_error("--join: \"%s\": bad interface name", arg);
	if (at != NULL)
		strlcpy(m->ifname, at + 1, sizeof(m->ifname));
	if (len == 0 || len >= sizeof(group))
		opts_usage_error("--join: \"%s\" is invalid", arg);
	memcpy(group, arg, len);
	group[len] = '\0';
	if (inet_pton(AF_INET, group, &m->a4) == 1 &&
	    IN_MULTICAST(ntohl(m->a4.s_addr)))
		m->family = AF_INET;
	else if (inet_pton(AF_INET6, group, &m->a6) == 1 &&
	    IN6_IS_ADDR_MULTICAST(&m->a6))
		m->family = AF_INET6;
	else
		opts_usage_error("--join: \"%s\" is not a multicast group",
		    group);
}

/*
 * The UDP listener fd joins the --join group, on the interface named
 * (0: the one the kernel's routes choose).  Returns 0, or -1 after a
 * message.
 */
static int
sock_join(const struct np_opts *o, int fd)
{
	struct ip_mreqn mr;
	struct ipv6_mreq mr6;
	struct mcast m;
	unsigned int ifindex = 0;
	const char *label;
	int rc;

	join_parse(o->join, &m);
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

static int
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
static int
client_setup(const struct np_opts *o, int fd, int family)
{
	int one = 1;

	if (o->source != NULL || o->local_port[0] != '\0')
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sock_apply(o, fd, family, PH_SOCKET | PH_CLIENT) == -1)
		return -1;
	return sock_bind_source(o, fd, family);
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
 * A non-blocking socket for ai: Multipath TCP with --mptcp.  Returns it,
 * or -1 with errno set.  A kernel that lacks MPTCP, or has it turned off,
 * ends the run with a message that says which: nothing could be done over
 * TCP that was asked for over MPTCP.
 */
static int
sock_socket(const struct np_opts *o, const struct addrinfo *ai)
{
	int fd, proto = ai->ai_protocol;
	FILE *fp;
	int on = -1;

	if (o->mptcp && ai->ai_socktype == SOCK_STREAM)
		proto = IPPROTO_MPTCP;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, proto);
	if (fd != -1 || proto != IPPROTO_MPTCP || (errno != EPROTONOSUPPORT &&
	    errno != ENOPROTOOPT && errno != EINVAL))
		return fd;
	if ((fp = fopen("/proc/sys/net/mptcp/enabled", "re")) != NULL) {
		if (fscanf(fp, "%d", &on) != 1)
			on = -1;
		fclose(fp);
	}
	errx(NP_EXIT_FAIL, "--mptcp: %s (%s)", strerror(errno),
	    on == 0 ? "net.mptcp.enabled is 0" :
	    "this kernel has no Multipath TCP");
}

/*
 * nc.openbsd's words for a connect that failed (e) or that -w gave up
 * on (e is EINPROGRESS then), with the address in brackets when the
 * name was not one; sa may be NULL.
 */
static void
report_failed(const struct np_opts *o, const char *port,
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
		if (client_setup(o, fd, ai->ai_family) == -1)
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
			report_failed(o, o->port, ai->ai_addr, ai->ai_addrlen,
			    *e);
	}
	if (fd != -1) {
		/* An option or the bind failed, and said so. */
		close(fd);
		fd = -1;
		*e = 0;
	} else if (*e != 0 && *e != EINTR)
		report_failed(o, o->port, last != NULL ? last->ai_addr : NULL,
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
		sock_report(o, fd, sock_family(fd),
		    PH_SOCKET | PH_CLIENT | PH_CONNECTED);
		report_connected(o, o->port);
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
	sock_report(o, fd, AF_UNIX, PH_SOCKET | PH_CLIENT | PH_CONNECTED);
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
	sock_report(o, fd, AF_UNIX, PH_SOCKET | PH_LISTENER);
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
	sock_report(o, fd, ss.ss_family, PH_SOCKET | PH_LISTENER);
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
	struct mcast m;
	int fd = -1, e = 0, fatal = 0;

	if (o->unix_sock)
		return unix_listen(o);
	if (o->join != NULL && o->family == AF_UNSPEC) {
		join_parse(o->join, &m);
		lo.family = m.family;
	} else if (o->host == NULL && o->family == AF_UNSPEC)
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
	if (o->join != NULL && sock_join(o, fd) == -1) {
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
 * -z: probe count ports of o->ports from first on, parallel at a time,
 * and report each in the order of o->ports (port order, or -r's order)
 * as soon as it and all before it are known.  A TCP port is open when it
 * accepts; a UDP port when no ICMP port unreachable comes back to an
 * empty datagram, which loopback delivers at once (so no data is sent).
 * Returns the number of open ports, or -1: errno EINTR on a signal,
 * otherwise after a message (an option the kernel refused, say).
 */
int
sock_scan(const struct np_opts *o, size_t first, size_t count,
    int parallel)
{
	struct scan s;
	int rc;

	if (scan_init(&s, o, first, count, parallel) == -1) {
		scan_free(&s);
		return -1;
	}
	rc = scan_loop(&s);
	scan_free(&s);
	return rc == -1 ? -1 : s.nopen;
}

static int
scan_init(struct scan *s, const struct np_opts *o, size_t first,
    size_t count, int parallel)
{
	struct rlimit rl;
	char port[8];
	size_t j;
	int i;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->ports = o->ports + first;
	s->nports = count;
	/* Never run out of descriptors, whatever --scan-parallel says. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && (rlim_t)parallel + SCAN_FD_SPARE > rl.rlim_cur)
		parallel = rl.rlim_cur > 2 * SCAN_FD_SPARE ?
		    (int)(rl.rlim_cur - SCAN_FD_SPARE) : 1;
	s->nprobes = (size_t)parallel < count ? parallel : (int)count;
	if (s->nprobes < 1)
		s->nprobes = 1;
	/* A failed lookup names the first port, as nc.openbsd does. */
	snprintf(port, sizeof(port), "%d", count > 0 ? s->ports[0] : 0);
	if (sock_addrinfo(o, o->host, port, 0, &s->res) == -1)
		return -1;
	s->result = calloc(count > 0 ? count : 1, sizeof(*s->result));
	s->probes = calloc(s->nprobes, sizeof(*s->probes));
	s->pfd = calloc(s->nprobes + 1, sizeof(*s->pfd));
	if (s->result == NULL || s->probes == NULL || s->pfd == NULL) {
		warn("scan");
		return -1;
	}
	for (i = 0; i < s->nprobes; i++)
		s->probes[i].fd = -1;
	for (j = 0; j < count; j++)
		s->result[j] = SCAN_PENDING;
	return 0;
}

static void
scan_free(struct scan *s)
{
	int i;

	for (i = 0; s->probes != NULL && i < s->nprobes; i++)
		if (s->probes[i].fd != -1)
			close(s->probes[i].fd);
	if (s->res != NULL)
		freeaddrinfo(s->res);
	free(s->result);
	free(s->probes);
	free(s->pfd);
}

/* Start probes while slots are free, poll, and settle what is ready. */
static int
scan_loop(struct scan *s)
{
	int i, n, active;

	for (;;) {
		if (np_signal) {
			errno = EINTR;
			return -1;
		}
		if ((active = scan_fill(s)) == -1)
			return -1;
		scan_show(s);
		if (active == 0 && s->next == s->nports)
			return 0;
		n = poll(s->pfd, s->nprobes + 1, scan_timeout(s));
		if (n == -1 && errno != EINTR && errno != EAGAIN) {
			warn("poll");
			return -1;
		}
		for (i = 0; i < s->nprobes; i++)
			if (scan_check(s, &s->probes[i],
			    n > 0 ? s->pfd[i].revents : 0) == -1)
				return -1;
	}
}

/*
 * Fill the free slots with the next ports and build the poll set.
 * Returns the number of probes in flight, or -1 after a message.
 */
static int
scan_fill(struct scan *s)
{
	struct probe *pr;
	int i, active = 0;

	for (i = 0; i < s->nprobes; i++) {
		pr = &s->probes[i];
		while (pr->fd == -1 && s->next < s->nports) {
			pr->idx = s->next++;
			pr->ai = s->res;
			if (scan_try(s, pr) == -1)
				return -1;
		}
		s->pfd[i].fd = pr->fd;
		s->pfd[i].events = s->o->udp ? POLLIN : POLLOUT;
		s->pfd[i].revents = 0;
		active += pr->fd != -1;
	}
	s->pfd[s->nprobes].fd = np_sigfd;
	s->pfd[s->nprobes].events = POLLIN;
	s->pfd[s->nprobes].revents = 0;
	return active;
}

/*
 * Start pr's connect at pr->ai, or at the next address when one cannot
 * even start.  Returns 0 (in flight, or settled), or -1 after a message
 * when an option or the source address is refused: no port can be
 * scanned then.
 */
static int
scan_try(struct scan *s, struct probe *pr)
{
	const struct np_opts *o = s->o;
	struct sockaddr_storage ss;
	int e = EAFNOSUPPORT;

	for (; pr->ai != NULL; pr->ai = pr->ai->ai_next) {
		pr->fd = sock_socket(o, pr->ai);
		if (pr->fd == -1) {
			e = errno;
			if (e == EMFILE || e == ENFILE) {
				warn("socket");
				return -1;
			}
			continue;
		}
		if (client_setup(o, pr->fd, pr->ai->ai_family) == -1)
			return -1;
		memcpy(&ss, pr->ai->ai_addr, pr->ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons(s->ports[pr->idx]);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons(s->ports[pr->idx]);
		if (connect(pr->fd, (struct sockaddr *)&ss,
		    pr->ai->ai_addrlen) == 0)
			return scan_started(s, pr, 1);
		if (errno == EINPROGRESS)
			return scan_started(s, pr, 0);
		e = errno;
		close(pr->fd);
		pr->fd = -1;
	}
	scan_done(s, pr, e);
	return 0;
}

/*
 * pr's socket is connecting (or, connected, done).  A UDP probe sends
 * its empty datagram and waits a moment for a refusal.
 */
static int
scan_started(struct scan *s, struct probe *pr, int connected)
{
	const struct np_opts *o = s->o;
	int ms = o->wait_ms > 0 ? o->wait_ms : o->udp ? SCAN_UDP_MS : -1;

	if (o->udp && send(pr->fd, "", 0, MSG_NOSIGNAL) == -1) {
		scan_done(s, pr, errno);
		return 0;
	}
	if (connected && !o->udp) {
		scan_done(s, pr, 0);
		return 0;
	}
	pr->timed = ms >= 0;
	if (pr->timed)
		np_deadline_set(&pr->deadline, ms);
	return 0;
}

/*
 * Settle pr if poll said it is ready (revents) or its time is up.  A TCP
 * port that fails on one address is tried on the next.  Returns 0, or -1
 * after a message.
 */
static int
scan_check(struct scan *s, struct probe *pr, short revents)
{
	socklen_t len = sizeof(int);
	int e = 0;
	char c;

	if (pr->fd == -1)
		return 0;
	if (revents == 0) {
		if (!pr->timed || np_deadline_ms(&pr->deadline) > 0)
			return 0;
		/* UDP: silence is all an open port can say. */
		e = s->o->udp ? 0 : EINPROGRESS;
	} else if (s->o->udp) {
		if (recv(pr->fd, &c, 1, MSG_DONTWAIT) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			e = errno;
		}
	} else if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0 && !s->o->udp && pr->ai->ai_next != NULL) {
		close(pr->fd);
		pr->fd = -1;
		pr->ai = pr->ai->ai_next;
		return scan_try(s, pr);
	}
	scan_done(s, pr, e);
	return 0;
}

/* Record pr's result (0: open, or why not) and free its slot. */
static void
scan_done(struct scan *s, struct probe *pr, int e)
{
	s->result[pr->idx] = e;
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = -1;
	pr->timed = 0;
}

/* The poll timeout: until the nearest probe deadline, or none. */
static int
scan_timeout(const struct scan *s)
{
	int i, d, t = -1;

	for (i = 0; i < s->nprobes; i++) {
		if (s->probes[i].fd == -1 || !s->probes[i].timed)
			continue;
		d = np_deadline_ms(&s->probes[i].deadline);
		if (t == -1 || d < t)
			t = d;
	}
	return t;
}

/* Report, in order, every port whose result and predecessors' are in. */
static void
scan_show(struct scan *s)
{
	const struct np_opts *o = s->o;
	char port[8];
	int e;

	while (s->shown < s->next) {
		if ((e = s->result[s->shown]) == SCAN_PENDING)
			return;
		snprintf(port, sizeof(port), "%d", s->ports[s->shown]);
		if (e == 0) {
			s->nopen++;
			report_connected(o, port);
		} else if (o->verbose > 0)
			report_failed(o, port, s->res->ai_next == NULL ?
			    s->res->ai_addr : NULL, s->res->ai_addrlen, e);
		s->shown++;
	}
}

/*
 * A peer accepted by a listener (access control, -e, the broker):
 * set the options the kernel does not carry over from the listener.
 * Returns 0, or -1 after a message; fd stays the
 * caller's.
 */
int
sock_accepted(const struct np_opts *o, int fd)
{
	int family = sock_family(fd);

	if (sock_apply(o, fd, family, PH_CONNECTED) == -1)
		return -1;
	sock_report(o, fd, family, PH_SOCKET | PH_CONNECTED);
	return 0;
}

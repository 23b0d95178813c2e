/*
 * options.c: the command line into one validated struct np_opts.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netdb.h>

#include <ctype.h>
#include <err.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "netpipe.h"

/* Long-only options take values past any character. */
enum {
	OPT_ACCEPT_TIMEOUT = 256,
	OPT_ALLOW,
	OPT_ALLOW_FILE,
	OPT_APPEND_OUTPUT,
	OPT_BROKER,
	OPT_BROKER_BLOCK,
	OPT_CHAT,
	OPT_DENY,
	OPT_DENY_FILE,
	OPT_DIGEST,
	OPT_HALF_CLOSE,
	OPT_HEX_DUMP,
	OPT_INHERIT_FD,
	OPT_IO,
	OPT_JOIN,
	OPT_MAX_CONNS,
	OPT_MPTCP,
	OPT_OUTPUT,
	OPT_PROGRESS,
	OPT_PROXY_DNS,
	OPT_PTY,
	OPT_QUEUE_SIZE,
	OPT_RATE,
	OPT_SCAN_PARALLEL,
	OPT_SEND_FILE,
	OPT_SEND_FLAGS,
	OPT_SEND_ONLY,
	OPT_SEQPACKET,
	OPT_SH_EXEC,
	OPT_SIZE,
	OPT_SOCKOPT,
	OPT_STATS,
	OPT_TLS,
	OPT_TLS_ALPN,
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_NAME,
	OPT_TLS_NOVERIFY,
	OPT_TLS_PIN,
	OPT_VERSION,
	OPT_MAX
};

static const char shortopts[] =
    "46bCDde:FhI:i:klM:m:NnO:P:p:q:rSs:T:tUuV:vW:w:X:x:Zz";

/* Alphabetical by long name. */
static const struct option longopts[] = {
	{ "accept-timeout",	required_argument,	NULL, OPT_ACCEPT_TIMEOUT },
	{ "allow",		required_argument,	NULL, OPT_ALLOW },
	{ "allow-file",		required_argument,	NULL, OPT_ALLOW_FILE },
	{ "append-output",	no_argument,		NULL, OPT_APPEND_OUTPUT },
	{ "broadcast",		no_argument,		NULL, 'b' },
	{ "broker",		no_argument,		NULL, OPT_BROKER },
	{ "broker-block",	no_argument,		NULL, OPT_BROKER_BLOCK },
	{ "chat",		no_argument,		NULL, OPT_CHAT },
	{ "crlf",		no_argument,		NULL, 'C' },
	{ "dccp",		no_argument,		NULL, 'Z' },
	{ "debug",		no_argument,		NULL, 'D' },
	{ "deny",		required_argument,	NULL, OPT_DENY },
	{ "deny-file",		required_argument,	NULL, OPT_DENY_FILE },
	{ "digest",		required_argument,	NULL, OPT_DIGEST },
	{ "exec",		required_argument,	NULL, 'e' },
	{ "fdpass",		no_argument,		NULL, 'F' },
	{ "half-close",		no_argument,		NULL, OPT_HALF_CLOSE },
	{ "help",		no_argument,		NULL, 'h' },
	{ "hex-dump",		required_argument,	NULL, OPT_HEX_DUMP },
	{ "inherit-fd",		required_argument,	NULL, OPT_INHERIT_FD },
	{ "interval",		required_argument,	NULL, 'i' },
	{ "io",			required_argument,	NULL, OPT_IO },
	{ "ipv4",		no_argument,		NULL, '4' },
	{ "ipv6",		no_argument,		NULL, '6' },
	{ "join",		required_argument,	NULL, OPT_JOIN },
	{ "keep-open",		no_argument,		NULL, 'k' },
	{ "listen",		no_argument,		NULL, 'l' },
	{ "max-conns",		required_argument,	NULL, OPT_MAX_CONNS },
	{ "md5sig",		no_argument,		NULL, 'S' },
	{ "min-ttl",		required_argument,	NULL, 'm' },
	{ "mptcp",		no_argument,		NULL, OPT_MPTCP },
	{ "no-stdin",		no_argument,		NULL, 'd' },
	{ "numeric",		no_argument,		NULL, 'n' },
	{ "output",		required_argument,	NULL, OPT_OUTPUT },
	{ "progress",		optional_argument,	NULL, OPT_PROGRESS },
	{ "proxy",		required_argument,	NULL, 'x' },
	{ "proxy-dns",		no_argument,		NULL, OPT_PROXY_DNS },
	{ "proxy-type",		required_argument,	NULL, 'X' },
	{ "proxy-user",		required_argument,	NULL, 'P' },
	{ "pty",		no_argument,		NULL, OPT_PTY },
	{ "queue-size",		required_argument,	NULL, OPT_QUEUE_SIZE },
	{ "quit-after",		required_argument,	NULL, 'q' },
	{ "random-ports",	no_argument,		NULL, 'r' },
	{ "rate",		required_argument,	NULL, OPT_RATE },
	{ "recv-buf",		required_argument,	NULL, 'I' },
	{ "recv-limit",		required_argument,	NULL, 'W' },
	{ "recv-only",		no_argument,		NULL, 'd' },
	{ "rtable",		required_argument,	NULL, 'V' },
	{ "scan",		no_argument,		NULL, 'z' },
	{ "scan-parallel",	required_argument,	NULL, OPT_SCAN_PARALLEL },
	{ "send-buf",		required_argument,	NULL, 'O' },
	{ "send-file",		required_argument,	NULL, OPT_SEND_FILE },
	{ "send-flags",		required_argument,	NULL, OPT_SEND_FLAGS },
	{ "send-only",		no_argument,		NULL, OPT_SEND_ONLY },
	{ "seqpacket",		no_argument,		NULL, OPT_SEQPACKET },
	{ "sh-exec",		required_argument,	NULL, OPT_SH_EXEC },
	{ "shutdown",		no_argument,		NULL, 'N' },
	{ "size",		required_argument,	NULL, OPT_SIZE },
	{ "sockopt",		required_argument,	NULL, OPT_SOCKOPT },
	{ "source",		required_argument,	NULL, 's' },
	{ "source-port",	required_argument,	NULL, 'p' },
	{ "stats",		optional_argument,	NULL, OPT_STATS },
	{ "telnet",		no_argument,		NULL, 't' },
	{ "tls",		no_argument,		NULL, OPT_TLS },
	{ "tls-alpn",		required_argument,	NULL, OPT_TLS_ALPN },
	{ "tls-ca",		required_argument,	NULL, OPT_TLS_CA },
	{ "tls-cert",		required_argument,	NULL, OPT_TLS_CERT },
	{ "tls-key",		required_argument,	NULL, OPT_TLS_KEY },
	{ "tls-name",		required_argument,	NULL, OPT_TLS_NAME },
	{ "tls-noverify",	no_argument,		NULL, OPT_TLS_NOVERIFY },
	{ "tls-pin",		required_argument,	NULL, OPT_TLS_PIN },
	{ "tos",		required_argument,	NULL, 'T' },
	{ "ttl",		required_argument,	NULL, 'M' },
	{ "udp",		no_argument,		NULL, 'u' },
	{ "unix",		no_argument,		NULL, 'U' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ "wait",		required_argument,	NULL, 'w' },
	{ NULL,			0,			NULL, 0 }
};

enum rule { CONFLICTS, REQUIRES };

/*
 * Pairs of options that make no sense together.  Checked once, after
 * parsing, so that the order on the command line does not matter.
 */
static const struct conflict {
	int		a;
	int		b;
	enum rule	rule;
} conflicts[] = {
	{ '4',		'6',		CONFLICTS },
	{ 'l',		'z',		CONFLICTS },
	{ 'x',		'l',		CONFLICTS },
	{ 'x',		'u',		CONFLICTS },
	{ 'x',		'U',		CONFLICTS },
	{ 'x',		's',		CONFLICTS },
	{ 'x',		'z',		CONFLICTS },
	{ 'U',		'4',		CONFLICTS },
	{ 'U',		'6',		CONFLICTS },
	{ 'U',		'p',		CONFLICTS },
	{ 'U',		'z',		CONFLICTS },
	/* TCP MD5 signatures and DCCP are IP protocols' own. */
	{ 'S',		'u',		CONFLICTS },
	{ 'S',		'U',		CONFLICTS },
	{ 'S',		'Z',		CONFLICTS },
	{ 'Z',		'u',		CONFLICTS },
	{ 'Z',		'U',		CONFLICTS },
	{ 'Z',		'x',		CONFLICTS },
	{ 'z',		'N',		CONFLICTS },
	{ 'z',		'q',		CONFLICTS },
	{ OPT_HALF_CLOSE, 'z',		CONFLICTS },
	{ OPT_HALF_CLOSE, 'u',		CONFLICTS },
	{ OPT_SEND_FILE, 'd',		CONFLICTS },
	{ OPT_SEND_FILE, 'z',		CONFLICTS },
	{ OPT_OUTPUT,	'z',		CONFLICTS },
	{ OPT_SEND_ONLY, 'd',		CONFLICTS },
	{ OPT_SEND_ONLY, OPT_OUTPUT,	CONFLICTS },
	{ OPT_SEND_ONLY, 'z',		CONFLICTS },
	{ 'e',		OPT_SH_EXEC,	CONFLICTS },
	{ 'e',		'z',		CONFLICTS },
	{ OPT_PTY,	'z',		CONFLICTS },
	{ OPT_PTY,	'F',		CONFLICTS },
	{ OPT_SH_EXEC,	'z',		CONFLICTS },
	{ 'F',		'l',		CONFLICTS },
	{ 'F',		'z',		CONFLICTS },
	{ 'F',		'e',		CONFLICTS },
	{ 'F',		OPT_SH_EXEC,	CONFLICTS },
	{ 'F',		OPT_TLS,	CONFLICTS },
	/* -F hands the socket on: no file of ours would be used. */
	{ 'F',		OPT_SEND_FILE,	CONFLICTS },
	{ 'F',		OPT_OUTPUT,	CONFLICTS },
	{ 'F',		OPT_HEX_DUMP,	CONFLICTS },
	/* --chat rows first: --chat marks --broker as seen too. */
	{ OPT_CHAT,	'e',		CONFLICTS },
	{ OPT_CHAT,	OPT_SH_EXEC,	CONFLICTS },
	{ OPT_CHAT,	'u',		CONFLICTS },
	{ OPT_CHAT,	OPT_PTY,	CONFLICTS },
	{ OPT_BROKER,	'e',		CONFLICTS },
	{ OPT_BROKER,	OPT_SH_EXEC,	CONFLICTS },
	{ OPT_BROKER,	OPT_PTY,	CONFLICTS },
	{ 'e',		OPT_TLS,	CONFLICTS },
	{ OPT_SH_EXEC,	OPT_TLS,	CONFLICTS },
	/* A Unix-domain peer has no address to judge. */
	{ OPT_ALLOW,	'U',		CONFLICTS },
	{ OPT_ALLOW_FILE, 'U',		CONFLICTS },
	{ OPT_DENY,	'U',		CONFLICTS },
	{ OPT_DENY_FILE, 'U',		CONFLICTS },
	{ OPT_TLS,	'u',		CONFLICTS },
	{ OPT_TLS,	'z',		CONFLICTS },
	{ OPT_TLS_NOVERIFY, OPT_TLS_PIN, CONFLICTS },
	{ OPT_TLS_PIN,	'l',		CONFLICTS },
	{ 'k',		'l',		REQUIRES },
	{ OPT_ACCEPT_TIMEOUT, 'l',	REQUIRES },
	{ OPT_ALLOW,	'l',		REQUIRES },
	{ OPT_ALLOW_FILE, 'l',		REQUIRES },
	{ OPT_CHAT,	'l',		REQUIRES },
	{ OPT_BROKER,	'l',		REQUIRES },
	{ OPT_BROKER_BLOCK, OPT_BROKER,	REQUIRES },
	{ OPT_DENY,	'l',		REQUIRES },
	{ OPT_DENY_FILE, 'l',		REQUIRES },
	{ OPT_INHERIT_FD, 'l',		REQUIRES },
	{ OPT_JOIN,	'u',		REQUIRES },
	{ OPT_JOIN,	'l',		REQUIRES },
	{ OPT_JOIN,	'U',		CONFLICTS },
	{ OPT_MAX_CONNS, 'l',		REQUIRES },
	{ OPT_MPTCP,	'u',		CONFLICTS },
	{ OPT_MPTCP,	'U',		CONFLICTS },
	{ OPT_QUEUE_SIZE, OPT_BROKER,	REQUIRES },
	{ OPT_SCAN_PARALLEL, 'z',	REQUIRES },
	{ OPT_SEQPACKET, 'U',		REQUIRES },
	{ OPT_SEQPACKET, 'u',		CONFLICTS },
	{ OPT_TLS_ALPN,	OPT_TLS,	REQUIRES },
	{ OPT_TLS_CA,	OPT_TLS,	REQUIRES },
	{ OPT_TLS_CERT,	OPT_TLS,	REQUIRES },
	{ OPT_TLS_KEY,	OPT_TLS,	REQUIRES },
	{ OPT_TLS_NAME,	OPT_TLS,	REQUIRES },
	{ OPT_TLS_NOVERIFY, OPT_TLS,	REQUIRES },
	{ OPT_TLS_PIN,	OPT_TLS,	REQUIRES },
	{ 'P',		'x',		REQUIRES },
	{ OPT_PROXY_DNS, 'x',		REQUIRES },
	{ 'X',		'x',		REQUIRES },
};

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

/*
 * What only the pump does.  -e, --broker, --chat and a -k listener with
 * --max-conns above 1 move the bytes without it, so these are refused
 * there rather than ignored.
 */
static const int pump_only[] = {
	'C', 'i', 'q', 't', OPT_DIGEST, OPT_HALF_CLOSE, OPT_HEX_DUMP,
	OPT_OUTPUT, OPT_PROGRESS, OPT_RATE, OPT_SEND_FILE, OPT_SEND_ONLY,
	OPT_STATS,
};

/*
 * Options whose behaviour has not landed yet.  They are parsed, so the
 * command line stays stable, but refused at once rather than ignored.
 */
static const int unbuilt[] = {
	0	/* ends the list */
};

static long long opts_number(const char *, const char *, long long,
		    long long);
static long long opts_size(const char *, const char *);
static void	 strlist_add(struct np_strlist *, const char *);
static void	 check_unbuilt(const unsigned char *);
static void	 check_tls(const struct np_opts *);
static void	 check_alpn(const char *);
static void	 set_short(struct np_opts *, int, const char *);
static void	 set_long(struct np_opts *, int, const char *);
static void	 set_long2(struct np_opts *, int, const char *);
static void	 set_option(struct np_opts *, int, const char *,
		    unsigned char *);
static int	 parse_when(const char *, const char *);
static enum np_proxy parse_proxy_type(const char *);
static const char *flag_name(int, char *, size_t);
static void	 check_conflicts(const unsigned char *);
static void	 check_pumpless(const struct np_opts *, const unsigned char *);
static void	 check_one_way(struct np_opts *, const unsigned char *);
static enum np_io parse_io(const char *);
static void	 parse_proxy(struct np_opts *, const char *);
static void	 parse_args(struct np_opts *, int, char *[]);
static void	 parse_unix_args(struct np_opts *, int, char *[], int);
static void	 parse_scan_ports(struct np_opts *, int, char *[]);
static void	 add_port_item(struct np_opts *, char *);
static void	 check_unix_path(const char *);

/* -h: one line per option, short letters first, in getopt order. */
static const char *help_lines[] = {
	"-4, --ipv4              IPv4 only",
	"-6, --ipv6              IPv6 only",
	"-b, --broadcast         allow broadcast (UDP)",
	"-C, --crlf              send CR LF line endings",
	"-D, --debug             SO_DEBUG on the socket",
	"-d, --no-stdin          do not read stdin (also --recv-only)",
	"-e, --exec CMD          run CMD (argv split) on the connection",
	"-F, --fdpass            pass the connected socket on stdout",
	"-h, --help              this help",
	"-I, --recv-buf LEN      receive buffer size",
	"-i, --interval SECS     delay between lines sent, ports scanned",
	"-k, --keep-open         listener: accept the next peer",
	"-l, --listen            listen for a peer",
	"-M, --ttl TTL           outgoing TTL or hop limit",
	"-m, --min-ttl TTL       drop incoming packets below TTL",
	"-N, --shutdown          half-close the socket after input EOF",
	"-n, --numeric           numeric addresses only, no DNS",
	"-O, --send-buf LEN      send buffer size",
	"-P, --proxy-user USER   proxy user (password: NETPIPE_PROXY_PASSWORD)",
	"-p, --source-port PORT  local port (or the listen port)",
	"-q, --quit-after SECS   quit SECS after input EOF (implies -N)",
	"-r, --random-ports      scan ports in random order",
	"-S, --md5sig            TCP MD5 signature (key: NETPIPE_MD5SIG_KEY)",
	"-s, --source ADDR       local source address",
	"-T, --tos KEYWORD       TOS or traffic class",
	"-t, --telnet            refuse telnet negotiation",
	"-U, --unix              Unix-domain socket",
	"-u, --udp               UDP (with -U: Unix datagram)",
	"-V, --rtable RTABLE     routing table (only 0 on Linux)",
	"-v, --verbose           connection messages (-vv: more)",
	"-W, --recv-limit N      quit after receiving N packets",
	"-w, --wait SECS         connect and idle timeout",
	"-X, --proxy-type PROTO  proxy protocol: 4, 4a, 5 or connect",
	"-x, --proxy ADDR[:PORT] connect through a proxy",
	"-Z, --dccp              DCCP (where the kernel has it)",
	"-z, --scan              scan ports, send nothing",
	"    --accept-timeout S  listener: give up after S seconds alone",
	"    --allow SPEC        listener: admit address, CIDR or host",
	"    --allow-file FILE   listener: --allow specs, one per line",
	"    --append-output     append to --output and --hex-dump files",
	"    --broker            listener: relay every peer to the others",
	"    --broker-block      --broker: slow senders, drop nobody",
	"    --chat              --broker with names, joins and leaves",
	"    --deny SPEC         listener: refuse address, CIDR or host",
	"    --deny-file FILE    listener: --deny specs, one per line",
	"    --digest sha256     print digests of what was sent, received",
	"    --half-close        keep sending after the peer's EOF",
	"    --hex-dump FILE     log traffic both ways as a hex dump",
	"    --inherit-fd N      serve on an inherited listening socket",
	"    --io MODE           auto, rw, send or zerocopy",
	"    --join GROUP[@IF]   UDP listener: join a multicast group",
	"    --max-conns N       listener: at most N peers at once",
	"    --mptcp             Multipath TCP",
	"    --output FILE       write what is received to FILE",
	"    --progress[=WHEN]   live progress line: auto, always, never",
	"    --proxy-dns         the proxy resolves the destination name",
	"    --pty               -e on a pseudo-terminal; else a raw tty",
	"    --queue-size BYTES  --broker: bound of each peer's queue",
	"    --rate N[K|M|G]     cap throughput at N bytes per second",
	"    --scan-parallel N   -z: probe N ports at a time",
	"    --send-file FILE    send FILE, then half-close",
	"    --send-flags oob    send the last input byte as urgent data",
	"    --send-only         discard what is received; end with input",
	"    --seqpacket         with -U: SOCK_SEQPACKET",
	"    --sh-exec CMD       run CMD through /bin/sh -c",
	"    --size N[K|M|G]     expected size, for --progress",
	"    --sockopt NAME[=V]  set a socket option (see netpipe(1))",
	"    --stats[=json]      print a transfer summary on exit",
	"    --tls               TLS client, or server with -l",
	"    --tls-alpn LIST     offer (server: accept) these ALPN protocols",
	"    --tls-ca FILE       trust anchors (server: demand client certs)",
	"    --tls-cert FILE     certificate",
	"    --tls-key FILE      private key",
	"    --tls-name NAME     expected server name",
	"    --tls-noverify      do not verify the peer (warns)",
	"    --tls-pin HASH      accept only this certificate (SHA256:hex)",
	"    --version           print the version",
};

/*
 * -h: the synopsis and the option summary on stdout, exit 0.  After a
 * usage error: two short lines on stderr, as GNU tools print them, so
 * that the message above them stays in sight; exit 2.
 */
void
usage(int help)
{
	size_t i;

	if (!help) {
		fprintf(stderr, "usage: netpipe [options] destination port\n"
		    "Try 'netpipe --help' for more information.\n");
		exit(NP_EXIT_USAGE);
	}
	printf("usage: netpipe [-46bCDdFhklNnrStUuvZz] [-e command] "
	    "[-I length] [-i interval]\n"
	    "\t       [-M ttl] [-m minttl] [-O length] [-P proxy_username]\n"
	    "\t       [-p source_port] [-q seconds] [-s sourceaddr] "
	    "[-T keyword]\n"
	    "\t       [-V rtable] [-W recvlimit] [-w timeout] "
	    "[-X proxy_protocol]\n"
	    "\t       [-x proxy_address[:port]] [--long-option ...] "
	    "[destination] [port]\n\n");
	for (i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]); i++)
		printf("  %s\n", help_lines[i]);
	exit(NP_EXIT_OK);
}

/* Report a usage error on one line, then the short usage; exit 2. */
void
opts_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	usage(0);
}

/*
 * The one place numbers are parsed: strict, with the flag and the
 * offending value named in the error.
 */
static long long
opts_number(const char *flag, const char *s, long long min, long long max)
{
	const char *errstr;
	long long n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL) {
		/* strtonum calls an empty string "invalid" too. */
		opts_usage_error("%s: \"%s\" is %s", flag, s, errstr);
	}
	return n;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static long long
opts_size(const char *flag, const char *s)
{
	char digits[32];
	const char *errstr;
	size_t len = strlen(s);
	int shift = 0;
	long long n;

	if (len > 0 && strchr("KkMmGg", s[len - 1]) != NULL) {
		shift = strchr("Kk", s[len - 1]) ? 10 :
		    strchr("Mm", s[len - 1]) ? 20 : 30;
		len--;
	}
	if (len == 0 || len >= sizeof(digits))
		opts_usage_error("%s: \"%s\" is invalid", flag, s);
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (strspn(digits, "0123456789") != len)
		opts_usage_error("%s: \"%s\" is invalid", flag, s);
	n = strtonum(digits, 1, LLONG_MAX >> 30, &errstr);
	if (errstr != NULL)
		opts_usage_error("%s: \"%s\" is %s", flag, s, errstr);
	return n << shift;
}

/*
 * A time as ncat writes it: seconds as a decimal number, with or without
 * a fraction, or followed by a unit (ms, s, m or h, in any case).
 * Returns milliseconds, rounded to the nearest; exits 2 naming the flag
 * and the value when it does not parse or falls outside [min, max] ms.
 */
int
opts_time(const char *flag, const char *s, int min, int max)
{
	static const struct { const char *unit; long long ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	const char *p = s + (*s == '-');
	long long whole = 0, frac = 0, scale = 1, ms;
	size_t i, digits = 0;

	for (; isdigit((unsigned char)*p); p++, digits++)
		if (whole < 100000000000LL)	/* past any max: too large */
			whole = whole * 10 + (*p - '0');
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (scale < 1000000000LL) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(p, units[i].unit) == 0)
			break;
	if (digits == 0 || i == sizeof(units) / sizeof(units[0]))
		opts_usage_error("%s: \"%s\" is invalid", flag, s);
	ms = whole * units[i].ms + (frac * units[i].ms + scale / 2) / scale;
	if (*s == '-')
		ms = -ms;
	if (ms > max)
		opts_usage_error("%s: \"%s\" is too large", flag, s);
	if (ms < min)
		opts_usage_error("%s: \"%s\" is too small", flag, s);
	return (int)ms;
}

/*
 * A time in milliseconds as messages print it: "1 second", "2 seconds",
 * "1.5 seconds".  Returns buf.
 */
const char *
opts_time_str(int ms, char *buf, size_t len)
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

static void
strlist_add(struct np_strlist *l, const char *s)
{
	l->v = reallocarray(l->v, l->n + 1, sizeof(*l->v));
	if (l->v == NULL)
		err(NP_EXIT_FAIL, "reallocarray");
	l->v[l->n++] = s;
}

/*
 * TLS mistakes show before any connection is made: a server without a
 * key pair, a pin that can never match, a file that cannot be read.
 */
static void
check_tls(const struct np_opts *o)
{
	const char *files[] = { o->tls_ca, o->tls_cert, o->tls_key };
	const char *names[] = { "--tls-ca", "--tls-cert", "--tls-key" };
	size_t i;

	if (o->mode == MODE_LISTEN && (o->tls_cert == NULL ||
	    o->tls_key == NULL))
		opts_usage_error("--tls with -l needs --tls-cert and "
		    "--tls-key");
	if (o->tls_pin != NULL && (strncasecmp(o->tls_pin, "sha256:", 7) != 0 ||
	    strlen(o->tls_pin) != 7 + 64 ||
	    strspn(o->tls_pin + 7, "0123456789abcdefABCDEF") != 64))
		opts_usage_error("--tls-pin: \"%s\" is invalid (want "
		    "SHA256:64 hex digits)", o->tls_pin);
	if (o->tls_alpn != NULL)
		check_alpn(o->tls_alpn);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i] != NULL && access(files[i], R_OK) == -1)
			err(NP_EXIT_FAIL, "%s: %s", names[i], files[i]);
}

/*
 * --tls-alpn: protocol names of 1 to 255 bytes, separated by commas, as
 * the ALPN extension carries them (RFC 7301).
 */
static void
check_alpn(const char *list)
{
	const char *s;
	size_t n;

	for (s = list;; s += n + 1) {
		n = strcspn(s, ",");
		if (n == 0 || n > 255)
			opts_usage_error("--tls-alpn: \"%s\" is invalid", list);
		if (s[n] == '\0')
			return;
	}
}

static void
check_unbuilt(const unsigned char *seen)
{
	char name[32];
	size_t i;

	for (i = 0; unbuilt[i] != 0; i++) {
		if (!seen[unbuilt[i]])
			continue;
		errx(NP_EXIT_FAIL, "%s: not supported yet",
		    flag_name(unbuilt[i], name, sizeof(name)));
	}
}

/*
 * Resolve a port number or service name to a number in [min, 65535];
 * names are looked up for UDP when udp is set.
 */
int
opts_port(const char *flag, const char *s, int min, int udp)
{
	struct servent *se;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s))
		return opts_number(flag, s, min, 65535);
	if (*s != '\0' && *s != '-' && !isdigit((unsigned char)*s)) {
		se = getservbyname(s, udp ? "udp" : "tcp");
		if (se != NULL && ntohs(se->s_port) >= min)
			return ntohs(se->s_port);
	}
	if (*s == '-' && strspn(s + 1, "0123456789") == strlen(s + 1) &&
	    s[1] != '\0')
		opts_usage_error("%s: \"%s\" is too small", flag, s);
	opts_usage_error("%s: \"%s\" is not a number or a known service",
	    flag, s);
}

static const char *
flag_name(int opt, char *buf, size_t len)
{
	const struct option *o;

	if (opt < 256) {
		snprintf(buf, len, "-%c", opt);
		return buf;
	}
	for (o = longopts; o->name != NULL; o++)
		if (o->val == opt)
			break;
	snprintf(buf, len, "--%s", o->name != NULL ? o->name : "?");
	return buf;
}

static void
check_conflicts(const unsigned char *seen)
{
	char a[32], b[32];
	size_t i;

	for (i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
		const struct conflict *c = &conflicts[i];

		if (!seen[c->a])
			continue;
		flag_name(c->a, a, sizeof(a));
		flag_name(c->b, b, sizeof(b));
		if (c->rule == CONFLICTS && seen[c->b])
			opts_usage_error("%s and %s cannot be used together",
			    a, b);
		if (c->rule == REQUIRES && !seen[c->b])
			opts_usage_error("%s requires %s", a, b);
	}
}

static void
check_pumpless(const struct np_opts *o, const unsigned char *seen)
{
	const char *who = NULL;
	char name[32];
	size_t i;

	if (o->exec_cmd != NULL)
		who = o->exec_shell ? "--sh-exec" : "-e";
	else if (o->broker)
		who = o->chat ? "--chat" : "--broker";
	else if (o->max_conns > 1 && o->keep_open)
		who = "--max-conns";
	for (i = 0; who != NULL && i < sizeof(pump_only) /
	    sizeof(pump_only[0]); i++)
		if (seen[pump_only[i]])
			opts_usage_error("%s and %s cannot be used together",
			    who, flag_name(pump_only[i], name, sizeof(name)));
}

/*
 * --send-only, as ncat has it: what the peer sends is read and dropped,
 * the peer's EOF does not stop the sending, and the run ends once the
 * input is sent (-q 0, unless -q says otherwise).  --append-output
 * needs a file to append to.
 */
static void
check_one_way(struct np_opts *o, const unsigned char *seen)
{
	if (o->append_output && o->output == NULL && o->hex_dump == NULL)
		opts_usage_error("--append-output requires --output or "
		    "--hex-dump");
	if (!o->send_only)
		return;
	o->output = "/dev/null";
	o->half_close = !o->udp;
	o->shutdown_wr = 1;
	if (!seen['q'])
		o->quit_after_ms = 0;
}

/*
 * -T (or --sockopt tos, named by flag): a keyword, a DSCP class name,
 * or a number (decimal or 0x hex).  Exits 2 when it is none of those.
 */
int
opts_tos(const char *flag, const char *s)
{
	size_t i;
	char *end;
	long v;

	for (i = 0; i < sizeof(tos_names) / sizeof(tos_names[0]); i++)
		if (strcmp(s, tos_names[i].name) == 0)
			return tos_names[i].value;
	if (strlen(s) == 4 && strncmp(s, "af", 2) == 0 &&
	    s[2] >= '1' && s[2] <= '4' && s[3] >= '1' && s[3] <= '3')
		return ((s[2] - '0') * 8 + (s[3] - '0') * 2) << 2;
	if (strlen(s) == 3 && strncmp(s, "cs", 2) == 0 &&
	    s[2] >= '0' && s[2] <= '7')
		return (s[2] - '0') << 5;
	if (strncmp(s, "0x", 2) == 0 && s[2] != '\0' &&
	    strspn(s + 2, "0123456789abcdefABCDEF") == strlen(s + 2)) {
		v = strtol(s + 2, &end, 16);
		if (v > 255 || strlen(s) > 6)
			opts_usage_error("%s: \"%s\" is too large", flag, s);
		return (int)v;
	}
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s))
		return opts_number(flag, s, 0, 255);
	opts_usage_error("%s: \"%s\" is invalid", flag, s);
}

static enum np_io
parse_io(const char *s)
{
	static const char *names[] = { "auto", "rw", "send", "zerocopy" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (enum np_io)i;
	opts_usage_error("--io: \"%s\" is invalid", s);
}

/* -x host[:port] or [v6addr]:port; the default port depends on -X. */
static void
parse_proxy(struct np_opts *o, const char *arg)
{
	const char *host = arg, *port = NULL, *colon;
	size_t hlen;

	if (*arg == '[') {
		colon = strchr(arg, ']');
		if (colon == NULL || (colon[1] != '\0' && colon[1] != ':'))
			opts_usage_error("-x: \"%s\" is invalid", arg);
		host = arg + 1;
		hlen = colon - host;
		if (colon[1] == ':')
			port = colon + 2;
	} else if ((colon = strrchr(arg, ':')) != NULL &&
	    strchr(arg, ':') == colon) {
		hlen = colon - arg;
		port = colon + 1;
	} else
		hlen = strlen(arg);
	if (hlen == 0 || hlen >= sizeof(o->proxy_host))
		opts_usage_error("-x: \"%s\" is invalid", arg);
	memcpy(o->proxy_host, host, hlen);
	o->proxy_host[hlen] = '\0';
	if (port != NULL)
		snprintf(o->proxy_port, sizeof(o->proxy_port), "%d",
		    opts_port("-x", port, 1, 0));
}

/* nc.openbsd's letters. */
static void
set_short(struct np_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case '4': o->family = AF_INET; break;
	case '6': o->family = AF_INET6; break;
	case 'b': o->broadcast = 1; break;
	case 'C': o->crlf = 1; break;
	case 'D': o->so_debug = 1; break;
	case 'd': o->no_stdin = 1; break;
	case 'e': o->exec_cmd = arg; break;
	case 'F': o->fdpass = 1; break;
	case 'h': usage(1);
	case 'I': o->recv_buf = opts_number("-I", arg, 1, INT_MAX / 2); break;
	case 'i': o->interval_ms = opts_time("-i", arg, 0, 86400000); break;
	case 'k': o->keep_open = 1; break;
	case 'l': o->mode = MODE_LISTEN; break;
	case 'M': o->ttl = opts_number("-M", arg, 1, 255); break;
	case 'm': o->min_ttl = opts_number("-m", arg, 1, 255); break;
	case 'N': o->shutdown_wr = 1; break;
	case 'n': o->numeric = 1; break;
	case 'O': o->send_buf = opts_number("-O", arg, 1, INT_MAX / 2); break;
	case 'P': o->proxy_user = arg; break;
	case 'p': o->source_port = arg; break;
	case 'q':
		o->quit_after_ms = opts_time("-q", arg, -INT_MAX, INT_MAX);
		o->shutdown_wr = 1;
		break;
	case 'r': o->random_ports = 1; break;
	case 'S': o->md5sig = 1; break;
	case 's': o->source = arg; break;
	case 'T': o->tos = opts_tos("-T", arg); break;
	case 't': o->telnet = 1; break;
	case 'U': o->unix_sock = 1; break;
	case 'u': o->udp = 1; break;
	case 'V': o->rtable = opts_number("-V", arg, 0, 255); break;
	case 'v': o->verbose++; break;
	case 'W': o->recv_limit = opts_number("-W", arg, 1, INT_MAX); break;
	case 'w': o->wait_ms = opts_time("-w", arg, 1, INT_MAX); break;
	case 'X': o->proxy_type = parse_proxy_type(arg); break;
	case 'x': parse_proxy(o, arg); break;
	case 'Z': o->dccp = 1; break;
	case 'z': o->mode = MODE_SCAN; break;
	default:
		/* getopt has already said what was wrong. */
		usage(0);
	}
}

/* netpipe's own options, which have no letter. */
static void
set_long(struct np_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_ACCEPT_TIMEOUT:
		o->accept_timeout_ms = opts_time("--accept-timeout", arg, 1,
		    INT_MAX);
		break;
	case OPT_ALLOW: strlist_add(&o->allow, arg); break;
	case OPT_ALLOW_FILE: strlist_add(&o->allow_files, arg); break;
	case OPT_APPEND_OUTPUT: o->append_output = 1; break;
	case OPT_BROKER: o->broker = 1; break;
	case OPT_BROKER_BLOCK: o->broker_block = 1; break;
	case OPT_CHAT: o->chat = o->broker = 1; break;
	case OPT_DENY: strlist_add(&o->deny, arg); break;
	case OPT_DENY_FILE: strlist_add(&o->deny_files, arg); break;
	case OPT_DIGEST:
		if (strcmp(arg, "sha256") != 0)
			opts_usage_error("--digest: \"%s\" is invalid", arg);
		o->digest = 1;
		break;
	case OPT_HALF_CLOSE: o->half_close = 1; break;
	case OPT_HEX_DUMP: o->hex_dump = arg; break;
	case OPT_INHERIT_FD:
		o->inherit_fd = opts_number("--inherit-fd", arg, 0, INT_MAX);
		break;
	case OPT_IO: o->io = parse_io(arg); break;
	case OPT_JOIN: o->join = arg; break;
	case OPT_MAX_CONNS:
		o->max_conns = opts_number("--max-conns", arg, 1, 65536);
		break;
	case OPT_MPTCP: o->mptcp = 1; break;
	case OPT_OUTPUT: o->output = arg; break;
	case OPT_PROGRESS:
		o->progress = parse_when("--progress", arg);
		break;
	case OPT_PROXY_DNS: o->proxy_dns = 1; break;
	case OPT_PTY: o->pty = 1; break;
	case OPT_QUEUE_SIZE: o->queue_size = opts_size("--queue-size", arg);
		break;
	case OPT_RATE: o->rate = opts_size("--rate", arg); break;
	case OPT_SCAN_PARALLEL:
		o->scan_parallel = opts_number("--scan-parallel", arg, 1, 1024);
		break;
	default:
		set_long2(o, ch, arg);
	}
}

/* The second half of set_long, split only to keep functions short. */
static void
set_long2(struct np_opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_SEND_FILE:
		o->send_file = arg;
		o->shutdown_wr = 1;
		break;
	case OPT_SEND_ONLY: o->send_only = 1; break;
	case OPT_SEND_FLAGS:
		if (strcmp(arg, "oob") != 0)
			opts_usage_error("--send-flags: \"%s\" is invalid", arg);
		o->send_oob = 1;
		break;
	case OPT_SEQPACKET: o->seqpacket = 1; break;
	case OPT_SH_EXEC:
		o->exec_cmd = arg;
		o->exec_shell = 1;
		break;
	case OPT_SIZE: o->size = opts_size("--size", arg); break;
	case OPT_SOCKOPT: strlist_add(&o->sockopts, arg); break;
	case OPT_STATS:
		if (arg == NULL || strcmp(arg, "text") == 0)
			o->stats = 1;
		else if (strcmp(arg, "json") == 0)
			o->stats = 2;
		else
			opts_usage_error("--stats: \"%s\" is invalid", arg);
		break;
	case OPT_TLS: o->tls = 1; break;
	case OPT_TLS_ALPN: o->tls_alpn = arg; break;
	case OPT_TLS_CA: o->tls_ca = arg; break;
	case OPT_TLS_CERT: o->tls_cert = arg; break;
	case OPT_TLS_KEY: o->tls_key = arg; break;
	case OPT_TLS_NAME: o->tls_name = arg; break;
	case OPT_TLS_NOVERIFY: o->tls_noverify = 1; break;
	case OPT_TLS_PIN: o->tls_pin = arg; break;
	case OPT_VERSION:
		printf("netpipe %s\n", NP_VERSION);
		exit(NP_EXIT_OK);
	default:
		usage(0);
	}
}

static void
set_option(struct np_opts *o, int ch, const char *arg, unsigned char *seen)
{
	if (ch < 256)
		set_short(o, ch, arg);
	else
		set_long(o, ch, arg);
	if (ch >= 0 && ch < OPT_MAX)
		seen[ch] = 1;
	/* --chat is a broker: --queue-size and --broker-block apply. */
	if (ch == OPT_CHAT)
		seen[OPT_BROKER] = 1;
}

/* --progress[=auto|always|never]: auto means only when stderr is a tty. */
static int
parse_when(const char *flag, const char *arg)
{
	if (arg == NULL || strcmp(arg, "auto") == 0)
		return 1;
	if (strcmp(arg, "always") == 0)
		return 2;
	if (strcmp(arg, "never") == 0)
		return 0;
	opts_usage_error("%s: \"%s\" is invalid", flag, arg);
}

static enum np_proxy
parse_proxy_type(const char *arg)
{
	if (strcmp(arg, "4") == 0)
		return PROXY_SOCKS4;
	if (strcasecmp(arg, "4a") == 0)
		return PROXY_SOCKS4A;
	if (strcmp(arg, "5") == 0)
		return PROXY_SOCKS5;
	if (strcasecmp(arg, "connect") == 0)
		return PROXY_CONNECT;
	opts_usage_error("-X: \"%s\" is invalid", arg);
}

/*
 * Parse argv into o.  Every error is reported here and exits 2, so the
 * caller gets a struct that is complete and consistent.
 */
void
opts_parse(struct np_opts *o, int argc, char *argv[])
{
	unsigned char seen[OPT_MAX];
	int ch;

	memset(o, 0, sizeof(*o));
	memset(seen, 0, sizeof(seen));
	o->mode = MODE_CONNECT;
	o->family = AF_UNSPEC;
	o->ttl = o->min_ttl = o->tos = -1;
	o->wait_ms = -1;
	o->quit_after_ms = -1;
	o->inherit_fd = -1;
	o->rtable = -1;

	while ((ch = getopt_long(argc, argv, shortopts, longopts,
	    NULL)) != -1)
		set_option(o, ch, optarg, seen);
	/* A service name is looked up for -u only once -u is known. */
	if (o->source_port != NULL)
		snprintf(o->local_port, sizeof(o->local_port), "%d",
		    opts_port("-p", o->source_port, 0, o->udp));
	check_conflicts(seen);
	check_unbuilt(seen);
	check_pumpless(o, seen);
	check_one_way(o, seen);
	if (o->tls)
		check_tls(o);
	if (o->exec_cmd != NULL &&
	    o->exec_cmd[strspn(o->exec_cmd, " \t\n")] == '\0')
		opts_usage_error("%s: the command is empty",
		    o->exec_shell ? "--sh-exec" : "-e");
	if (o->proxy_host[0] != '\0') {
		if (o->proxy_type == PROXY_NONE)
			o->proxy_type = PROXY_SOCKS5;
		/* SOCKS5 and CONNECT send names already, as nc does. */
		if (o->proxy_dns && o->proxy_type == PROXY_SOCKS4)
			o->proxy_type = PROXY_SOCKS4A;
		if (o->proxy_port[0] == '\0')
			strlcpy(o->proxy_port,
			    o->proxy_type == PROXY_CONNECT ? "3128" : "1080",
			    sizeof(o->proxy_port));
	}
	parse_args(o, argc - optind, argv + optind);
	sock_opts_check(o);
}

static void
check_unix_path(const char *path)
{
	struct sockaddr_un sun;

	if (*path == '\0')
		opts_usage_error("missing socket path");
	/*
	 * A path needs its terminating NUL inside sun_path; an abstract
	 * name has none, its "@" stands for the leading NUL, and it may
	 * fill the whole of sun_path, as Linux and nc.openbsd allow.
	 */
	if (strlen(path) > sizeof(sun.sun_path) ||
	    (path[0] != '@' && strlen(path) == sizeof(sun.sun_path)))
		opts_usage_error("%s: path is too long", path);
}

/* -U: the path, or -lU -s path as nc.openbsd takes it. */
static void
parse_unix_args(struct np_opts *o, int argc, char *argv[], int inherit)
{
	if (argc < 1 && o->mode == MODE_LISTEN && inherit)
		return;
	/* nc.openbsd: -lU -s path, as -l -s addr -p port for IP. */
	if (o->mode == MODE_LISTEN && o->source != NULL) {
		if (argc > 0)
			opts_usage_error("-s %s and %s: give the socket path "
			    "once", o->source, argv[0]);
		check_unix_path(o->source);
		o->host = o->source;
		return;
	}
	if (argc < 1)
		opts_usage_error("missing socket path");
	if (argc > 1)
		opts_usage_error("too many arguments");
	check_unix_path(argv[0]);
	if (o->udp && o->source != NULL)
		check_unix_path(o->source);
	o->host = argv[0];
}

static void
parse_args(struct np_opts *o, int argc, char *argv[])
{
	/* An inherited listener (--inherit-fd, systemd) is bound already. */
	int inherit = o->inherit_fd >= 0 || getenv("LISTEN_FDS") != NULL;

	if (o->unix_sock) {
		parse_unix_args(o, argc, argv, inherit);
		return;
	}
	if (o->mode == MODE_SCAN) {
		if (argc < 1)
			opts_usage_error("missing destination");
		if (argc < 2)
			opts_usage_error("missing port");
		o->host = argv[0];
		parse_scan_ports(o, argc - 1, argv + 1);
		return;
	}
	if (o->mode == MODE_LISTEN) {
		/* nc.openbsd: -l port, -l addr port, or -l -p port [addr]. */
		if (o->local_port[0] != '\0' && argc <= 1) {
			strlcpy(o->port, o->local_port, sizeof(o->port));
			o->local_port[0] = '\0';
			o->host = argc == 1 ? argv[0] : o->source;
			return;
		}
		if (argc < 1 && inherit)
			return;
		if (argc < 1)
			opts_usage_error("missing port");
		if (argc > 2 || o->local_port[0] != '\0')
			opts_usage_error("too many arguments");
		o->host = argc == 2 ? argv[0] : o->source;
		snprintf(o->port, sizeof(o->port), "%d",
		    opts_port("port", argv[argc - 1], 0, o->udp));
		return;
	}
	if (argc < 1)
		opts_usage_error("missing destination");
	if (argc < 2)
		opts_usage_error("missing port");
	if (argc > 2)
		opts_usage_error("too many arguments");
	o->host = argv[0];
	snprintf(o->port, sizeof(o->port), "%d",
	    opts_port("port", argv[1], 1, o->udp));
}

/*
 * Each item is copied out of the comma-separated list into a buffer on
 * the stack: a bad item exits from add_port_item(), and nothing may be
 * left allocated then (the fuzzer turns that exit into a return).
 */
static void
parse_scan_ports(struct np_opts *o, int argc, char *argv[])
{
	char item[256];		/* any port, range or service name */
	const char *s, *end;
	size_t j, n;
	int i;

	for (i = 0; i < argc; i++) {
		for (s = argv[i]; *s != '\0'; s = *end == '\0' ? end : end + 1) {
			end = s + strcspn(s, ",");
			if ((n = end - s) == 0)
				continue;
			if (n >= sizeof(item))
				opts_usage_error("port: \"%.*s...\" is too long",
				    32, s);
			memcpy(item, s, n);
			item[n] = '\0';
			add_port_item(o, item);
		}
	}
	if (o->nports == 0)
		opts_usage_error("missing port");
	if (!o->random_ports || o->nports < 2)
		return;
	for (j = o->nports - 1; j > 0; j--) {
		size_t k = arc4random_uniform(j + 1);
		int t = o->ports[j];

		o->ports[j] = o->ports[k];
		o->ports[k] = t;
	}
}

/* One port, service name, or lo-hi range (either order, as nc takes). */
static void
add_port_item(struct np_opts *o, char *item)
{
	char *dash;
	int lo, hi, p;

	dash = strchr(item, '-');
	if (dash != NULL && dash != item) {
		*dash = '\0';
		lo = opts_number("port", item, 1, 65535);
		hi = opts_number("port", dash + 1, 1, 65535);
	} else
		lo = hi = opts_port("port", item, 1, o->udp);
	if (lo > hi) {
		p = lo;
		lo = hi;
		hi = p;
	}
	if (o->nports + (size_t)(hi - lo + 1) > 4 * NP_MAX_PORTS)
		opts_usage_error("port: too many ports to scan");
	o->ports = reallocarray(o->ports, o->nports + (hi - lo + 1),
	    sizeof(*o->ports));
	if (o->ports == NULL)
		err(NP_EXIT_FAIL, "reallocarray");
	for (p = lo; p <= hi; p++)
		o->ports[o->nports++] = p;
}

/* Release what opts_parse allocated. */
void
opts_free(struct np_opts *o)
{
	free(o->sockopts.v);
	free(o->allow.v);
	free(o->allow_files.v);
	free(o->deny.v);
	free(o->deny_files.v);
	free(o->ports);
	o->ports = NULL;
	o->nports = 0;
	explicit_bzero(o->md5sig_key, sizeof(o->md5sig_key));
}

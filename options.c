/*
 * options.c: the command line into one validated struct np_opts.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netdb.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
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
	OPT_FORWARD,
	OPT_FORWARD_PASSPHRASE,
	OPT_FORWARD_TLS,
	OPT_FORWARD_TLS_CA,
	OPT_FORWARD_TLS_NAME,
	OPT_FORWARD_TLS_NOVERIFY,
	OPT_FORWARD_TLS_PIN,
	OPT_HALF_CLOSE,
	OPT_HEX_DUMP,
	OPT_INHERIT_FD,
	OPT_IO,
	OPT_JOIN,
	OPT_MAX_CONNS,
	OPT_MPTCP,
	OPT_OUTPUT,
	OPT_PASSPHRASE,
	OPT_PROGRESS,
	OPT_PROXY_DNS,
	OPT_PROXY_PROTOCOL,
	OPT_PTY,
	OPT_QUEUE_SIZE,
	OPT_RATE,
	OPT_RESUME,
	OPT_RESUME_BUFFER,
	OPT_RETRY,
	OPT_RETRY_DELAY,
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
	{ "forward",		required_argument,	NULL, OPT_FORWARD },
	{ "forward-passphrase", no_argument,		NULL,
	    OPT_FORWARD_PASSPHRASE },
	{ "forward-tls",	no_argument,		NULL, OPT_FORWARD_TLS },
	{ "forward-tls-ca",	required_argument,	NULL, OPT_FORWARD_TLS_CA },
	{ "forward-tls-name",	required_argument,	NULL, OPT_FORWARD_TLS_NAME },
	{ "forward-tls-noverify", no_argument,		NULL,
	    OPT_FORWARD_TLS_NOVERIFY },
	{ "forward-tls-pin",	required_argument,	NULL, OPT_FORWARD_TLS_PIN },
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
	{ "passphrase",		optional_argument,	NULL, OPT_PASSPHRASE },
	{ "progress",		optional_argument,	NULL, OPT_PROGRESS },
	{ "proxy",		required_argument,	NULL, 'x' },
	{ "proxy-dns",		no_argument,		NULL, OPT_PROXY_DNS },
	{ "proxy-protocol",	optional_argument,	NULL, OPT_PROXY_PROTOCOL },
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
	{ "resume",		no_argument,		NULL, OPT_RESUME },
	{ "resume-buffer",	required_argument,	NULL, OPT_RESUME_BUFFER },
	{ "retry",		required_argument,	NULL, OPT_RETRY },
	{ "retry-delay",	required_argument,	NULL, OPT_RETRY_DELAY },
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
	/* Only a client connects again; a listener waits. */
	{ OPT_RETRY,	'l',		CONFLICTS },
	{ OPT_RETRY,	'z',		CONFLICTS },
	{ OPT_RETRY_DELAY, 'l',		CONFLICTS },
	{ OPT_RETRY_DELAY, 'z',		CONFLICTS },
	{ OPT_RETRY,	'F',		CONFLICTS },
	/* A resumable session is one stream of bytes, one way, untouched. */
	{ OPT_RESUME,	'u',		CONFLICTS },
	{ OPT_RESUME,	'z',		CONFLICTS },
	{ OPT_RESUME,	'k',		CONFLICTS },
	{ OPT_RESUME,	'e',		CONFLICTS },
	{ OPT_RESUME,	OPT_SH_EXEC,	CONFLICTS },
	{ OPT_RESUME,	OPT_BROKER,	CONFLICTS },
	{ OPT_RESUME,	'F',		CONFLICTS },
	{ OPT_RESUME,	'C',		CONFLICTS },
	{ OPT_RESUME,	't',		CONFLICTS },
	{ OPT_RESUME,	OPT_SEQPACKET,	CONFLICTS },
	{ OPT_RESUME,	OPT_HEX_DUMP,	CONFLICTS },
	{ OPT_RESUME,	OPT_DIGEST,	CONFLICTS },
	{ OPT_RESUME,	OPT_RATE,	CONFLICTS },
	{ OPT_RESUME,	OPT_APPEND_OUTPUT, CONFLICTS },
	{ OPT_RESUME_BUFFER, OPT_RESUME, REQUIRES },
	/*
	 * A passphrase is its own encryption, for a byte stream (and
	 * --resume's session, whose every connection shakes hands).  -e is
	 * refused through pump_only.  A forwarder speaks it to its peers,
	 * and --forward-passphrase to DEST; a broker to its peers.
	 */
	{ OPT_PASSPHRASE, OPT_TLS,	CONFLICTS },
	{ OPT_PASSPHRASE, 'u',		CONFLICTS },
	{ OPT_PASSPHRASE, 'z',		CONFLICTS },
	{ OPT_PASSPHRASE, 'F',		CONFLICTS },
	{ OPT_PASSPHRASE, OPT_SEQPACKET, CONFLICTS },
	{ OPT_PASSPHRASE, OPT_SEND_FLAGS, CONFLICTS },
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
	/* The forwarder moves the bytes itself, between two sockets. */
	{ OPT_FORWARD,	'l',		REQUIRES },
	{ OPT_FORWARD,	'e',		CONFLICTS },
	{ OPT_FORWARD,	OPT_SH_EXEC,	CONFLICTS },
	{ OPT_FORWARD,	OPT_BROKER,	CONFLICTS },
	{ OPT_FORWARD,	OPT_PTY,	CONFLICTS },
	{ OPT_FORWARD,	'F',		CONFLICTS },
	{ OPT_FORWARD,	OPT_SEQPACKET,	CONFLICTS },
	{ OPT_FORWARD,	OPT_ACCEPT_TIMEOUT, CONFLICTS },
	{ OPT_FORWARD,	'W',		CONFLICTS },
	{ OPT_FORWARD,	OPT_RESUME,	CONFLICTS },
	{ OPT_PROXY_PROTOCOL, OPT_FORWARD, REQUIRES },
	{ OPT_PROXY_PROTOCOL, 'u',	CONFLICTS },
	{ OPT_FORWARD_PASSPHRASE, OPT_FORWARD, REQUIRES },
	{ OPT_FORWARD_PASSPHRASE, OPT_FORWARD_TLS, CONFLICTS },
	{ OPT_FORWARD_PASSPHRASE, 'u',	CONFLICTS },
	{ OPT_FORWARD_TLS, OPT_FORWARD,	REQUIRES },
	{ OPT_FORWARD_TLS, 'u',		CONFLICTS },
	{ OPT_FORWARD_TLS_CA, OPT_FORWARD_TLS, REQUIRES },
	{ OPT_FORWARD_TLS_NAME, OPT_FORWARD_TLS, REQUIRES },
	{ OPT_FORWARD_TLS_NOVERIFY, OPT_FORWARD_TLS, REQUIRES },
	{ OPT_FORWARD_TLS_PIN, OPT_FORWARD_TLS, REQUIRES },
	{ OPT_FORWARD_TLS_NOVERIFY, OPT_FORWARD_TLS_PIN, CONFLICTS },
};

/*
 * What only the pump does.  -e, --broker, --chat and a -k listener with
 * --max-conns above 1 move the bytes without it, so these are refused
 * there rather than ignored.
 */
static const int pump_only[] = {
	'C', 'i', 'q', 't', OPT_DIGEST, OPT_HALF_CLOSE, OPT_HEX_DUMP,
	OPT_OUTPUT, OPT_PASSPHRASE, OPT_PROGRESS, OPT_RATE, OPT_SEND_FILE,
	OPT_SEND_ONLY, OPT_STATS,
};

/* How a number option is read. */
enum num_kind {
	NUM_INT,	/* decimal in [min, max], into an int */
	NUM_LL,		/* the same, into a long long */
	NUM_TIME,	/* a time as ncat writes it, in ms, into an int */
	NUM_SIZE	/* bytes with K, M or G, into a long long */
};

/*
 * Every option that takes a number, and the field it goes to, so that
 * all of them are read by the same strict code and named by their flag.
 */
#define AT(field)	offsetof(struct np_opts, field)
static const struct num_opt {
	int		 opt;
	enum num_kind	 kind;
	long long	 min;
	long long	 max;
	size_t		 off;
} num_opts[] = {
	{ 'I', NUM_INT, 1, INT_MAX / 2, AT(recv_buf) },
	{ 'i', NUM_TIME, 0, 86400000, AT(interval_ms) },
	{ 'M', NUM_INT, 1, 255, AT(ttl) },
	{ 'm', NUM_INT, 1, 255, AT(min_ttl) },
	{ 'O', NUM_INT, 1, INT_MAX / 2, AT(send_buf) },
	{ 'q', NUM_TIME, -INT_MAX, INT_MAX, AT(quit_after_ms) },
	{ 'V', NUM_INT, 0, 255, AT(rtable) },
	{ 'W', NUM_LL, 1, INT_MAX, AT(recv_limit) },
	{ 'w', NUM_TIME, 1, INT_MAX, AT(wait_ms) },
	{ OPT_ACCEPT_TIMEOUT, NUM_TIME, 1, INT_MAX, AT(accept_timeout_ms) },
	{ OPT_INHERIT_FD, NUM_INT, 0, INT_MAX, AT(inherit_fd) },
	{ OPT_MAX_CONNS, NUM_INT, 1, 65536, AT(max_conns) },
	{ OPT_QUEUE_SIZE, NUM_SIZE, 0, 0, AT(queue_size) },
	{ OPT_RATE, NUM_SIZE, 0, 0, AT(rate) },
	{ OPT_RESUME_BUFFER, NUM_SIZE, 0, 0, AT(resume_buffer) },
	{ OPT_RETRY, NUM_INT, 0, 1000000, AT(retry) },
	{ OPT_RETRY_DELAY, NUM_TIME, 1, 3600000, AT(retry_delay_ms) },
	{ OPT_SCAN_PARALLEL, NUM_INT, 1, 1024, AT(scan_parallel) },
	{ OPT_SIZE, NUM_SIZE, 0, 0, AT(size) },
};

/* Keyword values, in the order of their enums. */
static const char *const io_names[] = { "auto", "rw", "send", "zerocopy" };
static const char *const progress_names[] = { "never", "auto", "always" };
static const char *const stats_names[] = { NULL, "text", "json" };

/*
 * One parse in progress: the struct being filled, which options were
 * seen (for the conflict table), and the caller's buffer for the one
 * error message, as redis anetSetError() takes it.
 */
struct parse {
	struct np_opts	*o;
	unsigned char	 seen[OPT_MAX];
	char		*err;
	size_t		 errlen;
};

static int	 fail(struct parse *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 fail_errno(struct parse *, const char *, const char *);
static int	 parse_number(struct parse *, const char *, const char *,
		    long long, long long, long long *);
static int	 parse_size(struct parse *, const char *, const char *,
		    long long *);
static int	 parse_time(struct parse *, const char *, const char *, int,
		    int, int *);
static int	 parse_port(struct parse *, const char *, const char *, int,
		    int, int *);
static int	 parse_keyword(struct parse *, int, const char *,
		    const char *const *, size_t, int);
static void	 strlist_add(struct np_strlist *, const char *);
static int	 set_number(struct parse *, int, const char *);
static int	 set_short(struct parse *, int, const char *);
static int	 parse_passphrase(struct parse *, const char *);
static int	 parse_proxy_protocol(struct parse *, const char *);
static int	 set_long(struct parse *, int, const char *);
static int	 set_long2(struct parse *, int, const char *);
static int	 set_option(struct parse *, int, const char *);
static int	 parse_proxy_type(struct parse *, const char *);
static int	 parse_proxy(struct parse *, const char *);
static void	 default_proxy(struct np_opts *);
static const char *flag_name(int, char *, size_t);
static int	 check_conflicts(struct parse *);
static int	 check_pumpless(struct parse *);
static int	 check_one_way(struct parse *);
static int	 check_tls(struct parse *);
static int	 check_alpn(struct parse *, const char *);
static int	 check_exec(struct parse *);
static int	 check_forward(struct parse *);
static int	 check_forward_tls(struct parse *);
static int	 parse_forward_dest(struct parse *, const char *);
static int	 check_pin(struct parse *, const char *, const char *);
static int	 check_listen(struct parse *);
static int	 check_rule(struct parse *, const char *, const char *,
		    const char *);
static int	 check_rules(struct parse *);
static int	 read_rules(struct parse *, const char *, const char *,
		    struct np_strlist *);
static int	 systemd_ours(void);
static int	 parse_flags(struct parse *, int, char *[]);
static int	 parse_checks(struct parse *);
static int	 parse_args(struct parse *, int, char *[]);
static int	 parse_listen_args(struct parse *, int, char *[], int);
static int	 parse_unix_args(struct parse *, int, char *[], int);
static int	 parse_scan_ports(struct parse *, int, char *[]);
static int	 add_port_item(struct parse *, char *);
static int	 check_unix_path(struct parse *, const char *);
static int	 check_resume(struct parse *);

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
	"    --forward DEST      listener: forward each peer to DEST",
	"    --forward-passphrase --forward: speak --passphrase to DEST",
	"    --forward-tls       --forward: speak TLS to DEST",
	"    --forward-tls-ca F  --forward-tls: trust anchors for DEST",
	"    --forward-tls-name N --forward-tls: DEST's expected name",
	"    --forward-tls-noverify --forward-tls: do not verify DEST",
	"    --forward-tls-pin H --forward-tls: accept only this cert",
	"    --half-close        keep sending after the peer's EOF",
	"    --hex-dump FILE     log traffic both ways as a hex dump",
	"    --inherit-fd N      serve on an inherited listening socket",
	"    --io MODE           auto, rw, send or zerocopy",
	"    --join GROUP[@IF]   UDP listener: join a multicast group",
	"    --max-conns N       listener: at most N peers at once",
	"    --mptcp             Multipath TCP",
	"    --output FILE       write what is received to FILE",
	"    --passphrase[=new]  encrypt with a shared phrase (never argv)",
	"    --progress[=WHEN]   live progress line: auto, always, never",
	"    --proxy-dns         the proxy resolves the destination name",
	"    --proxy-protocol[=V] --forward: PROXY header v1 or v2 first",
	"    --pty               -e on a pseudo-terminal; else a raw tty",
	"    --queue-size BYTES  --broker: bound of each peer's queue",
	"    --rate N[K|M|G]     cap throughput at N bytes per second",
	"    --resume            both ends: survive broken connections",
	"    --resume-buffer N   --resume: pipe bytes kept for replay",
	"    --retry N           connect again N times on failure",
	"    --retry-delay SECS  --retry: longest pause between tries",
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

/* -h: the synopsis and the option summary, on stdout. */
void
opts_help(void)
{
	size_t i;

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
}

/*
 * After a usage error: two short lines on stderr, as GNU tools print
 * them, so that the message above them stays in sight.
 */
void
opts_usage(void)
{
	fprintf(stderr, "usage: netpipe [options] destination port\n"
	    "Try 'netpipe --help' for more information.\n");
}

/* The one error message of a parse, into the caller's buffer; -1. */
static int
fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return OPTS_USAGE;
}

/* A file the command line names cannot be read: err(3)'s words. */
static int
fail_errno(struct parse *p, const char *flag, const char *path)
{
	snprintf(p->err, p->errlen, "%s: %s: %s", flag, path,
	    strerror(errno));
	return OPTS_FAIL;
}

/*
 * The one place numbers are parsed: strict, with the flag and the
 * offending value named in the error.
 */
static int
parse_number(struct parse *p, const char *flag, const char *s,
    long long min, long long max, long long *n)
{
	const char *errstr;

	*n = strtonum(s, min, max, &errstr);
	/* strtonum calls an empty string "invalid" too. */
	if (errstr != NULL)
		return fail(p, "%s: \"%s\" is %s", flag, s, errstr);
	return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int
parse_size(struct parse *p, const char *flag, const char *s, long long *n)
{
	char digits[32];
	const char *errstr;
	size_t len = strlen(s);
	int shift = 0;

	if (len > 0 && strchr("KkMmGg", s[len - 1]) != NULL) {
		shift = strchr("Kk", s[len - 1]) ? 10 :
		    strchr("Mm", s[len - 1]) ? 20 : 30;
		len--;
	}
	if (len == 0 || len >= sizeof(digits))
		return fail(p, "%s: \"%s\" is invalid", flag, s);
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (strspn(digits, "0123456789") != len)
		return fail(p, "%s: \"%s\" is invalid", flag, s);
	*n = strtonum(digits, 1, LLONG_MAX >> 30, &errstr);
	if (errstr != NULL)
		return fail(p, "%s: \"%s\" is %s", flag, s, errstr);
	*n <<= shift;
	return 0;
}

/*
 * A time as ncat writes it: seconds as a decimal number, with or without
 * a fraction, or followed by a unit (ms, s, m or h, in any case), into
 * *ms, rounded to the nearest millisecond.  -1 naming the flag and the
 * value when it does not parse or falls outside [min, max] ms.
 */
static int
parse_time(struct parse *p, const char *flag, const char *s, int min,
    int max, int *ms)
{
	static const struct { const char *unit; long long ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	const char *c = s + (*s == '-');
	long long whole = 0, frac = 0, scale = 1, v;
	size_t i, digits = 0;

	for (; isdigit((unsigned char)*c); c++, digits++)
		if (whole < 100000000000LL)	/* past any max: too large */
			whole = whole * 10 + (*c - '0');
	if (*c == '.')
		for (c++; isdigit((unsigned char)*c); c++, digits++)
			if (scale < 1000000000LL) {
				frac = frac * 10 + (*c - '0');
				scale *= 10;
			}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(c, units[i].unit) == 0)
			break;
	if (digits == 0 || i == sizeof(units) / sizeof(units[0]))
		return fail(p, "%s: \"%s\" is invalid", flag, s);
	v = whole * units[i].ms + (frac * units[i].ms + scale / 2) / scale;
	if (*s == '-')
		v = -v;
	if (v > max)
		return fail(p, "%s: \"%s\" is too large", flag, s);
	if (v < min)
		return fail(p, "%s: \"%s\" is too small", flag, s);
	*ms = (int)v;
	return 0;
}

/*
 * A port number or service name into *port, in [min, 65535]; names are
 * looked up for UDP when udp is set.
 */
static int
parse_port(struct parse *p, const char *flag, const char *s, int min,
    int udp, int *port)
{
	struct servent *se;
	long long n;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		if (parse_number(p, flag, s, min, 65535, &n) == -1)
			return -1;
		*port = (int)n;
		return 0;
	}
	if (*s != '\0' && *s != '-' && !isdigit((unsigned char)*s)) {
		se = getservbyname(s, udp ? "udp" : "tcp");
		if (se != NULL && ntohs(se->s_port) >= min) {
			*port = ntohs(se->s_port);
			return 0;
		}
	}
	if (*s == '-' && strspn(s + 1, "0123456789") == strlen(s + 1) &&
	    s[1] != '\0')
		return fail(p, "%s: \"%s\" is too small", flag, s);
	return fail(p, "%s: \"%s\" is not a number or a known service", flag,
	    s);
}

/*
 * arg as one of n names (NULL entries never match; a NULL arg is dflt):
 * returns its index, or -1 naming the option.
 */
static int
parse_keyword(struct parse *p, int opt, const char *arg,
    const char *const *names, size_t n, int dflt)
{
	char flag[32];
	size_t i;

	if (arg == NULL)
		return dflt;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(arg, names[i]) == 0)
			return (int)i;
	return fail(p, "%s: \"%s\" is invalid", flag_name(opt, flag,
	    sizeof(flag)), arg);
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
 * An option of the num_opts table into its field.  Returns 1 when opt
 * is one, 0 when it is not, -1 after an error.
 */
static int
set_number(struct parse *p, int opt, const char *arg)
{
	const struct num_opt *n;
	char flag[32];
	long long v = 0;
	int ms = 0;

	for (n = num_opts; n < num_opts + sizeof(num_opts) /
	    sizeof(num_opts[0]); n++)
		if (n->opt == opt)
			break;
	if (n == num_opts + sizeof(num_opts) / sizeof(num_opts[0]))
		return 0;
	flag_name(opt, flag, sizeof(flag));
	switch (n->kind) {
	case NUM_TIME:
		if (parse_time(p, flag, arg, n->min, n->max, &ms) == -1)
			return -1;
		v = ms;
		break;
	case NUM_SIZE:
		if (parse_size(p, flag, arg, &v) == -1)
			return -1;
		break;
	default:
		if (parse_number(p, flag, arg, n->min, n->max, &v) == -1)
			return -1;
	}
	if (n->kind == NUM_LL || n->kind == NUM_SIZE)
		*(long long *)(void *)((char *)p->o + n->off) = v;
	else
		*(int *)(void *)((char *)p->o + n->off) = (int)v;
	return 1;
}

/* nc.openbsd's letters; those with a number went to set_number(). */
static int
set_short(struct parse *p, int ch, const char *arg)
{
	struct np_opts *o = p->o;

	switch (ch) {
	case '4': o->family = AF_INET; break;
	case '6': o->family = AF_INET6; break;
	case 'b': o->broadcast = 1; break;
	case 'C': o->crlf = 1; break;
	case 'D': o->so_debug = 1; break;
	case 'd': o->no_stdin = 1; break;
	case 'e': o->exec_cmd = arg; break;
	case 'F': o->fdpass = 1; break;
	case 'h': return OPTS_HELP;
	case 'k': o->keep_open = 1; break;
	case 'l': o->mode = MODE_LISTEN; break;
	case 'N': o->shutdown_wr = 1; break;
	case 'n': o->numeric = 1; break;
	case 'P': o->proxy_user = arg; break;
	case 'p': o->source_port = arg; break;
	case 'q': o->shutdown_wr = 1; break;
	case 'r': o->random_ports = 1; break;
	case 'S': o->md5sig = 1; break;
	case 's': o->source = arg; break;
	case 'T': return sockopt_tos("-T", arg, &o->tos, p->err, p->errlen);
	case 't': o->telnet = 1; break;
	case 'U': o->unix_sock = 1; break;
	case 'u': o->udp = 1; break;
	case 'v': o->verbose++; break;
	case 'X': return parse_proxy_type(p, arg);
	case 'x': return parse_proxy(p, arg);
	case 'Z': o->dccp = 1; break;
	case 'z': o->mode = MODE_SCAN; break;
	case 'I': case 'i': case 'M': case 'm': case 'O': case 'V': case 'W':
	case 'w':
		break;
	default:
		/* getopt has already said what was wrong. */
		p->err[0] = '\0';
		return OPTS_USAGE;
	}
	return OPTS_RUN;
}

/* --passphrase[=new]: a phrase on the command line is one ps(1) shows. */
static int
parse_passphrase(struct parse *p, const char *arg)
{
	if (arg != NULL && strcmp(arg, "new") != 0)
		return fail(p, "--passphrase: \"%s\" is invalid: the phrase "
		    "comes from NETPIPE_PASSPHRASE or the terminal, never the "
		    "command line", arg);
	p->o->passphrase = 1;
	p->o->passphrase_new = arg != NULL;
	return OPTS_RUN;
}

/* --proxy-protocol[=1|2], version 2 when none is given. */
static int
parse_proxy_protocol(struct parse *p, const char *arg)
{
	if (arg != NULL && strcmp(arg, "1") != 0 && strcmp(arg, "2") != 0)
		return fail(p, "--proxy-protocol: \"%s\" is invalid "
		    "(want 1 or 2)", arg);
	p->o->proxy_protocol = arg != NULL ? arg[0] - '0' : 2;
	return OPTS_RUN;
}

/* netpipe's own options, which have no letter. */
static int
set_long(struct parse *p, int ch, const char *arg)
{
	struct np_opts *o = p->o;
	int v;

	switch (ch) {
	case OPT_ALLOW: strlist_add(&o->allow, arg); break;
	case OPT_ALLOW_FILE: strlist_add(&o->allow_files, arg); break;
	case OPT_APPEND_OUTPUT: o->append_output = 1; break;
	case OPT_BROKER: o->broker = 1; break;
	case OPT_BROKER_BLOCK: o->broker_block = 1; break;
	case OPT_CHAT: o->chat = o->broker = 1; break;
	case OPT_DENY: strlist_add(&o->deny, arg); break;
	case OPT_DENY_FILE: strlist_add(&o->deny_files, arg); break;
	case OPT_FORWARD:
		o->forward = arg;
		o->keep_open = 1;
		break;
	case OPT_FORWARD_TLS: o->fwd_tls = 1; break;
	case OPT_FORWARD_TLS_CA: o->fwd_tls_ca = arg; break;
	case OPT_FORWARD_TLS_NAME: o->fwd_tls_name = arg; break;
	case OPT_FORWARD_TLS_NOVERIFY: o->fwd_tls_noverify = 1; break;
	case OPT_FORWARD_TLS_PIN: o->fwd_tls_pin = arg; break;
	case OPT_DIGEST:
		if (strcmp(arg, "sha256") != 0)
			return fail(p, "--digest: \"%s\" is invalid", arg);
		o->digest = 1;
		break;
	case OPT_HALF_CLOSE: o->half_close = 1; break;
	case OPT_PASSPHRASE: return parse_passphrase(p, arg);
	case OPT_HEX_DUMP: o->hex_dump = arg; break;
	case OPT_IO:
		if ((v = parse_keyword(p, ch, arg, io_names,
		    sizeof(io_names) / sizeof(io_names[0]), IO_AUTO)) == -1)
			return OPTS_USAGE;
		o->io = (enum np_io)v;
		break;
	case OPT_JOIN: o->join = arg; break;
	case OPT_MPTCP: o->mptcp = 1; break;
	case OPT_OUTPUT: o->output = arg; break;
	case OPT_PROGRESS:
		if ((v = parse_keyword(p, ch, arg, progress_names,
		    sizeof(progress_names) / sizeof(progress_names[0]),
		    PROGRESS_AUTO)) == -1)
			return OPTS_USAGE;
		o->progress = (enum np_progress)v;
		break;
	case OPT_PROXY_DNS: o->proxy_dns = 1; break;
	case OPT_PTY: o->pty = 1; break;
	case OPT_PROXY_PROTOCOL: return parse_proxy_protocol(p, arg);
	case OPT_RESUME: o->resume = 1; break;
	default:
		return set_long2(p, ch, arg);
	}
	return OPTS_RUN;
}

/* The second half of set_long, split only to keep functions short. */
static int
set_long2(struct parse *p, int ch, const char *arg)
{
	struct np_opts *o = p->o;
	int v;

	switch (ch) {
	case OPT_FORWARD_PASSPHRASE: o->fwd_passphrase = 1; break;
	case OPT_SEND_FILE:
		o->send_file = arg;
		o->shutdown_wr = 1;
		break;
	case OPT_SEND_ONLY: o->send_only = 1; break;
	case OPT_SEND_FLAGS:
		if (strcmp(arg, "oob") != 0)
			return fail(p, "--send-flags: \"%s\" is invalid", arg);
		o->send_oob = 1;
		break;
	case OPT_SEQPACKET: o->seqpacket = 1; break;
	case OPT_SH_EXEC:
		o->exec_cmd = arg;
		o->exec_shell = 1;
		break;
	case OPT_SOCKOPT: strlist_add(&o->sockopts, arg); break;
	case OPT_STATS:
		if ((v = parse_keyword(p, ch, arg, stats_names,
		    sizeof(stats_names) / sizeof(stats_names[0]),
		    STATS_TEXT)) == -1)
			return OPTS_USAGE;
		o->stats = (enum np_stats)v;
		break;
	case OPT_TLS: o->tls = 1; break;
	case OPT_TLS_ALPN: o->tls_alpn = arg; break;
	case OPT_TLS_CA: o->tls_ca = arg; break;
	case OPT_TLS_CERT: o->tls_cert = arg; break;
	case OPT_TLS_KEY: o->tls_key = arg; break;
	case OPT_TLS_NAME: o->tls_name = arg; break;
	case OPT_TLS_NOVERIFY: o->tls_noverify = 1; break;
	case OPT_TLS_PIN: o->tls_pin = arg; break;
	case OPT_VERSION: return OPTS_VERSION;
	case OPT_ACCEPT_TIMEOUT: case OPT_INHERIT_FD: case OPT_MAX_CONNS:
	case OPT_QUEUE_SIZE: case OPT_RATE: case OPT_SCAN_PARALLEL:
	case OPT_SIZE: case OPT_RESUME_BUFFER: case OPT_RETRY:
	case OPT_RETRY_DELAY:
		break;
	default:
		p->err[0] = '\0';
		return OPTS_USAGE;
	}
	return OPTS_RUN;
}

/* One option from getopt: OPTS_RUN, OPTS_HELP, OPTS_VERSION or an error. */
static int
set_option(struct parse *p, int ch, const char *arg)
{
	if (set_number(p, ch, arg) == -1)
		return OPTS_USAGE;
	if (ch >= 0 && ch < OPT_MAX)
		p->seen[ch] = 1;
	/* --chat is a broker: --queue-size and --broker-block apply. */
	if (ch == OPT_CHAT)
		p->seen[OPT_BROKER] = 1;
	return ch < 256 ? set_short(p, ch, arg) : set_long(p, ch, arg);
}

static int
parse_proxy_type(struct parse *p, const char *arg)
{
	if (strcmp(arg, "4") == 0)
		p->o->proxy_type = PROXY_SOCKS4;
	else if (strcasecmp(arg, "4a") == 0)
		p->o->proxy_type = PROXY_SOCKS4A;
	else if (strcmp(arg, "5") == 0)
		p->o->proxy_type = PROXY_SOCKS5;
	else if (strcasecmp(arg, "connect") == 0)
		p->o->proxy_type = PROXY_CONNECT;
	else
		return fail(p, "-X: \"%s\" is invalid", arg);
	return OPTS_RUN;
}

/* -x host[:port] or [v6addr]:port; the default port depends on -X. */
static int
parse_proxy(struct parse *p, const char *arg)
{
	struct np_opts *o = p->o;
	const char *host = arg, *port = NULL, *colon;
	size_t hlen;
	int n;

	if (*arg == '[') {
		colon = strchr(arg, ']');
		if (colon == NULL || (colon[1] != '\0' && colon[1] != ':'))
			return fail(p, "-x: \"%s\" is invalid", arg);
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
		return fail(p, "-x: \"%s\" is invalid", arg);
	memcpy(o->proxy_host, host, hlen);
	o->proxy_host[hlen] = '\0';
	if (port == NULL)
		return OPTS_RUN;
	if (parse_port(p, "-x", port, 1, 0, &n) == -1)
		return OPTS_USAGE;
	snprintf(o->proxy_port, sizeof(o->proxy_port), "%d", n);
	return OPTS_RUN;
}

/* -X's default, and the port each proxy protocol listens on. */
static void
default_proxy(struct np_opts *o)
{
	if (o->proxy_host[0] == '\0')
		return;
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

static int
check_conflicts(struct parse *p)
{
	char a[32], b[32];
	size_t i;

	for (i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
		const struct conflict *c = &conflicts[i];

		if (!p->seen[c->a])
			continue;
		/* A forwarder's -x applies to its connections to DEST. */
		if (c->a == 'x' && c->b == 'l' && p->o->forward != NULL)
			continue;
		flag_name(c->a, a, sizeof(a));
		flag_name(c->b, b, sizeof(b));
		if (c->rule == CONFLICTS && p->seen[c->b])
			return fail(p, "%s and %s cannot be used together", a,
			    b);
		if (c->rule == REQUIRES && !p->seen[c->b])
			return fail(p, "%s requires %s", a, b);
	}
	return OPTS_RUN;
}

static int
check_pumpless(struct parse *p)
{
	const struct np_opts *o = p->o;
	const char *who = NULL;
	char name[32];
	size_t i;

	if (o->forward != NULL)
		who = "--forward";
	else if (o->exec_cmd != NULL)
		who = o->exec_shell ? "--sh-exec" : "-e";
	else if (o->broker)
		who = o->chat ? "--chat" : "--broker";
	else if (o->max_conns > 1 && o->keep_open)
		who = "--max-conns";
	for (i = 0; who != NULL && i < sizeof(pump_only) /
	    sizeof(pump_only[0]); i++)
		/*
		 * The forwarder sums its pairs' bytes for --stats.  Its
		 * pairs (xfer.c) and the broker's peers carry --passphrase
		 * records; -e's child does not.
		 */
		if (p->seen[pump_only[i]] && !(o->forward != NULL &&
		    pump_only[i] == OPT_STATS) && !(o->exec_cmd == NULL &&
		    pump_only[i] == OPT_PASSPHRASE))
			return fail(p, "%s and %s cannot be used together",
			    who, flag_name(pump_only[i], name, sizeof(name)));
	return OPTS_RUN;
}

/*
 * --retry and --resume's defaults: 10 tries with --resume, none
 * without; a cap of 5 s between tries.  --retry-delay alone would do
 * nothing, and --resume-buffer below one frame could replay nothing.
 */
static int
check_resume(struct parse *p)
{
	struct np_opts *o = p->o;

	if (p->seen[OPT_RETRY_DELAY] && !p->seen[OPT_RETRY] && !o->resume)
		return fail(p, "--retry-delay requires --retry or --resume");
	if (o->retry == -1)
		o->retry = o->resume ? 10 : 0;
	if (o->retry_delay_ms == 0)
		o->retry_delay_ms = 5000;
	if (!o->resume)
		return OPTS_RUN;
	/* One way: the client sends, the listener receives. */
	if (o->mode == MODE_LISTEN && o->send_file != NULL)
		return fail(p, "--resume: a listener receives; --send-file "
		    "is for the sender");
	if (o->mode == MODE_CONNECT && o->output != NULL)
		return fail(p, "--resume: a client sends; --output is for "
		    "the listener");
	if (!p->seen[OPT_RESUME_BUFFER])
		o->resume_buffer = 64LL * 1024 * 1024;
	else if (o->resume_buffer < 64 * 1024)
		return fail(p, "--resume-buffer: \"%lld\" is too small "
		    "(64K at least)", o->resume_buffer);
	return OPTS_RUN;
}

/*
 * --send-only, as ncat has it: what the peer sends is read and dropped,
 * the peer's EOF does not stop the sending, and the run ends once the
 * input is sent (-q 0, unless -q says otherwise).  --append-output
 * needs a file to append to.
 */
static int
check_one_way(struct parse *p)
{
	struct np_opts *o = p->o;

	if (o->append_output && o->output == NULL && o->hex_dump == NULL)
		return fail(p, "--append-output requires --output or "
		    "--hex-dump");
	if (!o->send_only)
		return OPTS_RUN;
	o->output = "/dev/null";
	o->half_close = !o->udp;
	o->shutdown_wr = 1;
	if (!p->seen['q'])
		o->quit_after_ms = 0;
	return OPTS_RUN;
}

/*
 * TLS mistakes show before any connection is made: a server without a
 * key pair, a pin that can never match, a file that cannot be read.
 */
static int
check_tls(struct parse *p)
{
	const struct np_opts *o = p->o;
	const char *files[] = { o->tls_ca, o->tls_cert, o->tls_key };
	const char *names[] = { "--tls-ca", "--tls-cert", "--tls-key" };
	size_t i;

	if (!o->tls)
		return OPTS_RUN;
	if (o->mode == MODE_LISTEN && (o->tls_cert == NULL ||
	    o->tls_key == NULL))
		return fail(p, "--tls with -l needs --tls-cert and --tls-key");
	if (o->tls_pin != NULL && check_pin(p, "--tls-pin", o->tls_pin) == -1)
		return OPTS_USAGE;
	if (o->tls_alpn != NULL && check_alpn(p, o->tls_alpn) == -1)
		return OPTS_USAGE;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i] != NULL && access(files[i], R_OK) == -1)
			return fail_errno(p, names[i], files[i]);
	return OPTS_RUN;
}

/* A certificate pin as libtls prints the hash: SHA256:64 hex digits. */
static int
check_pin(struct parse *p, const char *flag, const char *pin)
{
	if (strncasecmp(pin, "sha256:", 7) != 0 || strlen(pin) != 7 + 64 ||
	    strspn(pin + 7, "0123456789abcdefABCDEF") != 64)
		return fail(p, "%s: \"%s\" is invalid (want SHA256:64 hex "
		    "digits)", flag, pin);
	return OPTS_RUN;
}

/*
 * --forward DEST: host:port, [IPv6]:port, a Unix path or an @abstract
 * name, into fwd_host and fwd_port.
 */
static int
parse_forward_dest(struct parse *p, const char *dest)
{
	struct np_opts *o = p->o;
	const char *colon, *host = dest;
	size_t hlen;
	int port;

	if (dest[0] == '/' || dest[0] == '@') {
		if (check_unix_path(p, dest) != OPTS_RUN)
			return OPTS_USAGE;
		strlcpy(o->fwd_host, dest, sizeof(o->fwd_host));
		return OPTS_RUN;
	}
	if (dest[0] == '[') {
		host = dest + 1;
		colon = strstr(host, "]:");
		hlen = colon != NULL ? (size_t)(colon - host) : 0;
		colon = colon != NULL ? colon + 1 : NULL;
	} else {
		colon = strrchr(dest, ':');
		hlen = colon != NULL ? (size_t)(colon - dest) : 0;
		if (memchr(dest, ':', hlen) != NULL)
			hlen = 0;	/* IPv6 needs its brackets */
	}
	if (colon == NULL || hlen == 0 || hlen >= sizeof(o->fwd_host))
		return fail(p, "--forward: \"%s\" is invalid (want host:port, "
		    "[IPv6]:port, /path or @name)", dest);
	memcpy(o->fwd_host, host, hlen);
	o->fwd_host[hlen] = '\0';
	if (parse_port(p, "--forward: port", colon + 1, 1, o->udp,
	    &port) == -1)
		return OPTS_USAGE;
	snprintf(o->fwd_port, sizeof(o->fwd_port), "%d", port);
	return OPTS_RUN;
}

/*
 * The forwarder: its destination, --max-conns's default, and what a
 * Unix datagram listener cannot do.
 */
static int
check_forward(struct parse *p)
{
	struct np_opts *o = p->o;

	if (o->forward == NULL)
		return OPTS_RUN;
	if (o->unix_sock && o->udp)
		return fail(p, "--forward and -uU cannot be used together");
	if (parse_forward_dest(p, o->forward) != OPTS_RUN)
		return OPTS_USAGE;
	if (o->udp && o->fwd_port[0] == '\0')
		return fail(p, "--forward with -u needs host:port, not a "
		    "Unix path");
	if (o->proxy_host[0] != '\0' && o->fwd_port[0] == '\0')
		return fail(p, "--forward to a Unix socket cannot go through "
		    "-x");
	if (o->max_conns == 0)
		o->max_conns = 1000;
	return check_forward_tls(p);
}

/* --forward-tls: the same early checks as --tls's, for DEST. */
static int
check_forward_tls(struct parse *p)
{
	const struct np_opts *o = p->o;

	if (o->fwd_tls_pin != NULL &&
	    check_pin(p, "--forward-tls-pin", o->fwd_tls_pin) == -1)
		return OPTS_USAGE;
	if (o->fwd_tls_ca != NULL && access(o->fwd_tls_ca, R_OK) == -1)
		return fail_errno(p, "--forward-tls-ca", o->fwd_tls_ca);
	if (o->fwd_tls && o->fwd_port[0] == '\0' && o->fwd_tls_name == NULL &&
	    o->fwd_tls_pin == NULL && !o->fwd_tls_noverify)
		return fail(p, "--forward-tls to a Unix socket needs "
		    "--forward-tls-name, --forward-tls-pin or "
		    "--forward-tls-noverify");
	return OPTS_RUN;
}

/*
 * --tls-alpn: protocol names of 1 to 255 bytes, separated by commas, as
 * the ALPN extension carries them (RFC 7301).
 */
static int
check_alpn(struct parse *p, const char *list)
{
	const char *s;
	size_t n;

	for (s = list;; s += n + 1) {
		n = strcspn(s, ",");
		if (n == 0 || n > 255)
			return fail(p, "--tls-alpn: \"%s\" is invalid", list);
		if (s[n] == '\0')
			return OPTS_RUN;
	}
}

/* -e and --sh-exec need a command: exec.c splits it at these blanks. */
static int
check_exec(struct parse *p)
{
	const struct np_opts *o = p->o;

	if (o->exec_cmd != NULL &&
	    o->exec_cmd[strspn(o->exec_cmd, " \t\n")] == '\0')
		return fail(p, "%s: the command is empty",
		    o->exec_shell ? "--sh-exec" : "-e");
	return OPTS_RUN;
}

/*
 * Combinations of listener options that the conflict table cannot
 * express, then the access rules.
 */
static int
check_listen(struct parse *p)
{
	const struct np_opts *o = p->o;
	const char *e = o->exec_shell ? "--sh-exec" : "-e";
	int rc;

	if ((rc = check_forward(p)) != OPTS_RUN)
		return rc;
	if (o->forward != NULL)
		return check_rules(p);
	if (o->inherit_fd >= 0 && (o->port[0] != '\0' || o->host != NULL))
		return fail(p, "--inherit-fd: the socket is inherited; "
		    "give no address, port or path");
	if (o->max_conns > 0 && !o->keep_open && !o->broker)
		return fail(p, "--max-conns requires -k or --broker");
	if (o->udp && o->keep_open && !o->broker) {
		/* -u -k answers whoever sent last; only --broker tells
		 * peers apart. */
		if (o->exec_cmd != NULL)
			return fail(p, "%s and -u -k cannot be used together",
			    e);
		if (o->max_conns > 1)
			return fail(p, "--max-conns and -u -k cannot be used "
			    "together without --broker");
	}
	return check_rules(p);
}

/*
 * One access rule: it must parse, and a host name needs the resolver,
 * which -n forbids.  where names the file and line, or is NULL.
 */
static int
check_rule(struct parse *p, const char *flag, const char *spec,
    const char *where)
{
	struct acl_rule r;

	switch (acl_parse(spec, &r)) {
	case ACL_ADDRESS:
		return OPTS_RUN;
	case ACL_HOSTNAME:
		if (!p->o->numeric)
			return OPTS_RUN;
		return fail(p, "%s: \"%s\" is not a numeric address (-n)",
		    flag, spec);
	default:
		if (where != NULL)
			return fail(p, "%s: %s: \"%s\" is invalid", flag,
			    where, spec);
		return fail(p, "%s: \"%s\" is invalid", flag, spec);
	}
}

/*
 * --allow, --deny and the rule files, read here once into allow_read
 * and deny_read: a bad rule is a usage error before any socket exists,
 * and acl_new() has only names left to resolve.
 */
static int
check_rules(struct parse *p)
{
	struct np_opts *o = p->o;
	size_t i;
	int rc = OPTS_RUN;

	for (i = 0; rc == OPTS_RUN && i < o->allow.n; i++)
		rc = check_rule(p, "--allow", o->allow.v[i], NULL);
	for (i = 0; rc == OPTS_RUN && i < o->allow_files.n; i++)
		rc = read_rules(p, "--allow-file", o->allow_files.v[i],
		    &o->allow_read);
	for (i = 0; rc == OPTS_RUN && i < o->deny.n; i++)
		rc = check_rule(p, "--deny", o->deny.v[i], NULL);
	for (i = 0; rc == OPTS_RUN && i < o->deny_files.n; i++)
		rc = read_rules(p, "--deny-file", o->deny_files.v[i],
		    &o->deny_read);
	return rc;
}

/* One rule per line of path into to; blank lines and comments skipped. */
static int
read_rules(struct parse *p, const char *flag, const char *path,
    struct np_strlist *to)
{
	char *line = NULL, *s, *copy, where[PATH_MAX + 32];
	size_t cap = 0, lineno = 0;
	int rc = OPTS_RUN;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL)
		return fail_errno(p, flag, path);
	while (rc == OPTS_RUN && getline(&line, &cap, fp) != -1) {
		lineno++;
		if ((s = acl_line(line)) == NULL)
			continue;
		snprintf(where, sizeof(where), "%s:%zu", path, lineno);
		if ((rc = check_rule(p, flag, s, where)) != OPTS_RUN)
			break;
		if ((copy = strdup(s)) == NULL)
			err(NP_EXIT_FAIL, "strdup");
		strlist_add(to, copy);
	}
	if (rc == OPTS_RUN && ferror(fp))
		rc = fail_errno(p, flag, path);
	free(line);
	fclose(fp);
	return rc;
}

/* systemd's socket activation: LISTEN_FDS passed to this very process. */
static int
systemd_ours(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	return pid != NULL && fds != NULL &&
	    strtonum(pid, 1, INT_MAX, NULL) == getpid() &&
	    strtonum(fds, 1, INT_MAX, NULL) >= 1;
}

/* The flags, one at a time, until an error, -h or --version. */
static int
parse_flags(struct parse *p, int argc, char *argv[])
{
	int ch, rc;

	while ((ch = getopt_long(argc, argv, shortopts, longopts,
	    NULL)) != -1)
		if ((rc = set_option(p, ch, optarg)) != OPTS_RUN)
			return rc;
	return OPTS_RUN;
}

/* What the flags say together, checked once all of them are known. */
static int
parse_checks(struct parse *p)
{
	struct np_opts *o = p->o;
	int port, rc;

	/* A service name is looked up for -u only once -u is known. */
	if (o->source_port != NULL) {
		if (parse_port(p, "-p", o->source_port, 0, o->udp,
		    &port) == -1)
			return OPTS_USAGE;
		snprintf(o->local_port, sizeof(o->local_port), "%d", port);
	}
	if ((rc = check_conflicts(p)) != OPTS_RUN ||
	    (rc = check_pumpless(p)) != OPTS_RUN ||
	    (rc = check_one_way(p)) != OPTS_RUN ||
	    (rc = check_tls(p)) != OPTS_RUN ||
	    (rc = check_exec(p)) != OPTS_RUN ||
	    (rc = check_resume(p)) != OPTS_RUN)
		return rc;
	/* Only a listener waits for someone to type what it printed. */
	if (o->passphrase_new && o->mode != MODE_LISTEN)
		return fail(p, "--passphrase=new requires -l");
	default_proxy(o);
	return OPTS_RUN;
}

/*
 * Parse argv into o.  Returns OPTS_RUN with o complete and consistent,
 * OPTS_HELP or OPTS_VERSION, or an error (OPTS_USAGE, OPTS_FAIL) with
 * its message in err.  Either way the caller frees o with opts_free().
 * Nothing is printed here, except by getopt.
 */
int
opts_parse(struct np_opts *o, int argc, char *argv[], char *err,
    size_t errlen)
{
	struct parse p;
	int rc;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_CONNECT;
	o->family = AF_UNSPEC;
	o->ttl = o->min_ttl = o->tos = -1;
	o->wait_ms = -1;
	o->quit_after_ms = -1;
	o->inherit_fd = -1;
	o->rtable = -1;
	o->retry = -1;
	memset(&p, 0, sizeof(p));
	p.o = o;
	p.err = err;
	p.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if ((rc = parse_flags(&p, argc, argv)) != OPTS_RUN ||
	    (rc = parse_checks(&p)) != OPTS_RUN)
		return rc;
	if (o->mode == MODE_LISTEN && o->inherit_fd == -1)
		o->systemd_fd = systemd_ours();
	if ((rc = parse_args(&p, argc - optind, argv + optind)) != OPTS_RUN)
		return rc;
	if (sockopt_check(o, err, errlen) == -1)
		return OPTS_USAGE;
	if (o->mode == MODE_LISTEN)
		return check_listen(&p);
	return OPTS_RUN;
}

static int
check_unix_path(struct parse *p, const char *path)
{
	struct sockaddr_un sun;

	if (*path == '\0')
		return fail(p, "missing socket path");
	/*
	 * A path needs its terminating NUL inside sun_path; an abstract
	 * name has none, its "@" stands for the leading NUL, and it may
	 * fill the whole of sun_path, as Linux and nc.openbsd allow.
	 */
	if (strlen(path) > sizeof(sun.sun_path) ||
	    (path[0] != '@' && strlen(path) == sizeof(sun.sun_path)))
		return fail(p, "%s: path is too long", path);
	return OPTS_RUN;
}

/* -U: the path, or -lU -s path as nc.openbsd takes it. */
static int
parse_unix_args(struct parse *p, int argc, char *argv[], int inherit)
{
	struct np_opts *o = p->o;

	if (argc < 1 && o->mode == MODE_LISTEN && inherit)
		return OPTS_RUN;
	/* nc.openbsd: -lU -s path, as -l -s addr -p port for IP. */
	if (o->mode == MODE_LISTEN && o->source != NULL) {
		if (argc > 0)
			return fail(p, "-s %s and %s: give the socket path "
			    "once", o->source, argv[0]);
		o->host = o->source;
		return check_unix_path(p, o->source);
	}
	if (argc < 1)
		return fail(p, "missing socket path");
	if (argc > 1)
		return fail(p, "too many arguments");
	if (check_unix_path(p, argv[0]) != OPTS_RUN)
		return OPTS_USAGE;
	if (o->udp && o->source != NULL &&
	    check_unix_path(p, o->source) != OPTS_RUN)
		return OPTS_USAGE;
	o->host = argv[0];
	return OPTS_RUN;
}

/* nc.openbsd: -l port, -l addr port, or -l -p port [addr]. */
static int
parse_listen_args(struct parse *p, int argc, char *argv[], int inherit)
{
	struct np_opts *o = p->o;
	int port;

	if (o->local_port[0] != '\0' && argc <= 1) {
		strlcpy(o->port, o->local_port, sizeof(o->port));
		o->local_port[0] = '\0';
		o->host = argc == 1 ? argv[0] : o->forward != NULL ? NULL :
		    o->source;
		return OPTS_RUN;
	}
	if (argc < 1 && inherit)
		return OPTS_RUN;
	if (argc < 1)
		return fail(p, "missing port");
	if (argc > 2 || o->local_port[0] != '\0')
		return fail(p, "too many arguments");
	/* A forwarder's -s is the source address of its connections. */
	o->host = argc == 2 ? argv[0] : o->forward != NULL ? NULL :
	    o->source;
	if (parse_port(p, "port", argv[argc - 1], 0, o->udp, &port) == -1)
		return OPTS_USAGE;
	snprintf(o->port, sizeof(o->port), "%d", port);
	return OPTS_RUN;
}

static int
parse_args(struct parse *p, int argc, char *argv[])
{
	struct np_opts *o = p->o;
	/* An inherited listener (--inherit-fd, systemd) is bound already. */
	int inherit = o->inherit_fd >= 0 || o->systemd_fd;
	int port;

	if (o->unix_sock)
		return parse_unix_args(p, argc, argv, inherit);
	if (o->mode == MODE_LISTEN)
		return parse_listen_args(p, argc, argv, inherit);
	if (argc < 1)
		return fail(p, "missing destination");
	if (argc < 2)
		return fail(p, "missing port");
	o->host = argv[0];
	if (o->mode == MODE_SCAN)
		return parse_scan_ports(p, argc - 1, argv + 1);
	if (argc > 2)
		return fail(p, "too many arguments");
	if (parse_port(p, "port", argv[1], 1, o->udp, &port) == -1)
		return OPTS_USAGE;
	snprintf(o->port, sizeof(o->port), "%d", port);
	return OPTS_RUN;
}

/*
 * Each item is copied out of the comma-separated list into a buffer on
 * the stack, as a port, range or service name.
 */
static int
parse_scan_ports(struct parse *p, int argc, char *argv[])
{
	struct np_opts *o = p->o;
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
				return fail(p, "port: \"%.*s...\" is too long",
				    32, s);
			memcpy(item, s, n);
			item[n] = '\0';
			if (add_port_item(p, item) != OPTS_RUN)
				return OPTS_USAGE;
		}
	}
	if (o->nports == 0)
		return fail(p, "missing port");
	for (j = o->nports - 1; o->random_ports && j > 0; j--) {
		size_t k = arc4random_uniform(j + 1);
		int t = o->ports[j];

		o->ports[j] = o->ports[k];
		o->ports[k] = t;
	}
	return OPTS_RUN;
}

/* One port, service name, or lo-hi range (either order, as nc takes). */
static int
add_port_item(struct parse *p, char *item)
{
	struct np_opts *o = p->o;
	long long lo, hi;
	char *dash;
	int n;

	dash = strchr(item, '-');
	if (dash != NULL && dash != item) {
		*dash = '\0';
		if (parse_number(p, "port", item, 1, 65535, &lo) == -1 ||
		    parse_number(p, "port", dash + 1, 1, 65535, &hi) == -1)
			return OPTS_USAGE;
	} else {
		if (parse_port(p, "port", item, 1, o->udp, &n) == -1)
			return OPTS_USAGE;
		lo = hi = n;
	}
	if (lo > hi) {
		n = lo;
		lo = hi;
		hi = n;
	}
	if (o->nports + (size_t)(hi - lo + 1) > 4 * NP_MAX_PORTS)
		return fail(p, "port: too many ports to scan");
	o->ports = reallocarray(o->ports, o->nports + (hi - lo + 1),
	    sizeof(*o->ports));
	if (o->ports == NULL)
		err(NP_EXIT_FAIL, "reallocarray");
	for (n = lo; n <= hi; n++)
		o->ports[o->nports++] = n;
	return OPTS_RUN;
}

/* Release what opts_parse() allocated, whatever it returned. */
void
opts_free(struct np_opts *o)
{
	size_t i;

	for (i = 0; i < o->allow_read.n; i++)
		free((char *)o->allow_read.v[i]);
	for (i = 0; i < o->deny_read.n; i++)
		free((char *)o->deny_read.v[i]);
	free(o->allow_read.v);
	free(o->deny_read.v);
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

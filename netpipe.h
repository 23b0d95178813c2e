/*
 * netpipe: shared structures, exit codes and prototypes.
 */

#ifndef NETPIPE_H
#define NETPIPE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <sha2.h>
#include <signal.h>
#include <time.h>
#include <stddef.h>

#define NP_VERSION	"0.1.0"

/* Exit codes: SPEC section 3.  A signal exits with 128 + its number. */
#define NP_EXIT_OK	0
#define NP_EXIT_FAIL	1
#define NP_EXIT_USAGE	2
#define NP_EXIT_SIGNAL	128

enum np_mode {
	MODE_CONNECT,
	MODE_LISTEN,
	MODE_SCAN
};

enum np_io {
	IO_AUTO,
	IO_RW,
	IO_SEND,
	IO_ZEROCOPY
};

enum np_proxy {
	PROXY_NONE,
	PROXY_SOCKS4,
	PROXY_SOCKS4A,		/* -X 4a: the proxy resolves the name */
	PROXY_SOCKS5,
	PROXY_CONNECT
};

/* --progress: never, only when stderr is a terminal, or always. */
enum np_progress {
	PROGRESS_NEVER,
	PROGRESS_AUTO,
	PROGRESS_ALWAYS
};

/* --stats: none, a line of text, or JSON. */
enum np_stats {
	STATS_OFF,
	STATS_TEXT,
	STATS_JSON
};

/* Highest port that -z will take in one command line. */
#define NP_MAX_PORTS	65536

/* A repeatable option's values, in command-line order. */
struct np_strlist {
	const char	**v;
	size_t		  n;
};

/*
 * The command line, validated.  Built once by opts_parse() and passed
 * around as const; nothing else holds option state.
 */
struct np_opts {
	enum np_mode	 mode;
	int		 family;	/* -4, -6: AF_INET, AF_INET6, AF_UNSPEC */
	int		 broadcast;	/* -b, --broadcast */
	int		 crlf;		/* -C, --crlf */
	int		 so_debug;	/* -D, --debug */
	int		 no_stdin;	/* -d, --no-stdin */
	int		 recv_buf;	/* -I, --recv-buf; 0 when unset */
	int		 send_buf;	/* -O, --send-buf; 0 when unset */
	int		 interval_ms;	/* -i, --interval */
	int		 keep_open;	/* -k, --keep-open */
	int		 ttl;		/* -M, --ttl; -1 when unset */
	int		 min_ttl;	/* -m, --min-ttl; -1 when unset */
	int		 shutdown_wr;	/* -N, --shutdown (also set by -q) */
	int		 numeric;	/* -n, --numeric */
	const char	*proxy_user;	/* -P, --proxy-user */
	int		 quit_after_ms;	/* -q, --quit-after; negative waits */
	int		 random_ports;	/* -r, --random-ports */
	int		 md5sig;	/* -S, --md5sig */
	const char	*source;	/* -s, --source */
	const char	*source_port;	/* -p as given; see local_port */
	int		 tos;		/* -T, --tos; -1 when unset */
	int		 telnet;	/* -t, --telnet */
	int		 unix_sock;	/* -U, --unix */
	int		 udp;		/* -u, --udp */
	int		 rtable;	/* -V, --rtable; -1 when unset */
	int		 verbose;	/* -v, --verbose, counted */
	long long	 recv_limit;	/* -W, --recv-limit; 0 when unset */
	int		 wait_ms;	/* -w, --wait; -1 when unset */
	enum np_proxy	 proxy_type;	/* -X, --proxy-type */
	const char	*proxy;		/* -x, --proxy */
	int		 proxy_dns;	/* --proxy-dns: never resolve the peer */
	int		 dccp;		/* -Z, --dccp */
	int		 half_close;	/* --half-close */
	enum np_io	 io;		/* --io */
	const char	*send_file;	/* --send-file */
	const char	*output;	/* --output; /dev/null with --send-only */
	int		 append_output;	/* --append-output */
	int		 send_only;	/* --send-only */
	long long	 rate;		/* --rate, bytes per second; 0 off */
	int		 retry;		/* --retry; 10 with --resume, else 0 */
	int		 retry_delay_ms; /* --retry-delay: back-off cap */
	int		 resume;	/* --resume */
	long long	 resume_buffer;	/* --resume-buffer, bytes */

	/* Sockets and their options. */
	int		 seqpacket;	/* --seqpacket (with -U) */
	int		 mptcp;		/* --mptcp */
	struct np_strlist sockopts;	/* --sockopt NAME[=VALUE], raw */
	const char	*join;		/* --join GROUP[@iface] */
	int		 scan_parallel;	/* --scan-parallel; 0 default */
	int		 send_oob;	/* --send-flags oob */

	/* Many peers. */
	const char	*exec_cmd;	/* -e, --exec, --sh-exec */
	int		 exec_shell;	/* --sh-exec: run through /bin/sh -c */
	int		 pty;		/* --pty */
	struct np_strlist allow;	/* --allow */
	struct np_strlist allow_files;	/* --allow-file */
	struct np_strlist deny;		/* --deny */
	struct np_strlist deny_files;	/* --deny-file */
	struct np_strlist allow_read;	/* the rules in those, owned */
	struct np_strlist deny_read;
	int		 max_conns;	/* --max-conns; 0 default */
	int		 broker;	/* --broker (set by --chat too) */
	int		 chat;		/* --chat */
	int		 accept_timeout_ms; /* --accept-timeout; 0 off */
	long long	 queue_size;	/* --queue-size, bytes; 0 default */
	int		 broker_block;	/* --broker-block */
	int		 inherit_fd;	/* --inherit-fd; -1 unset */
	int		 systemd_fd;	/* LISTEN_PID is ours: serve on fd 3 */

	/* The forwarder (forward.c). */
	const char	*forward;	/* --forward DEST, as given */
	char		 fwd_host[256];	/* its host, or its Unix path */
	char		 fwd_port[8];	/* its port; "" for a Unix path */
	int		 proxy_protocol; /* --proxy-protocol: 0, 1 or 2 */
	int		 fwd_passphrase; /* --forward-passphrase */
	int		 fwd_tls;	/* --forward-tls */
	const char	*fwd_tls_ca;	/* --forward-tls-ca */
	const char	*fwd_tls_name;	/* --forward-tls-name */
	const char	*fwd_tls_pin;	/* --forward-tls-pin */
	int		 fwd_tls_noverify; /* --forward-tls-noverify */

	/* TLS and fd passing. */
	int		 tls;		/* --tls */
	const char	*tls_cert;	/* --tls-cert */
	const char	*tls_key;	/* --tls-key */
	const char	*tls_ca;	/* --tls-ca */
	const char	*tls_name;	/* --tls-name */
	const char	*tls_pin;	/* --tls-pin */
	const char	*tls_alpn;	/* --tls-alpn, comma-separated */
	int		 tls_noverify;	/* --tls-noverify */
	int		 passphrase;	/* --passphrase */
	int		 passphrase_new; /* --passphrase=new: make one up */
	int		 fdpass;	/* -F, --fdpass */

	/* What the user sees of a transfer. */
	enum np_progress progress;	/* --progress[=WHEN] */
	enum np_stats	 stats;		/* --stats[=FORMAT] */
	const char	*hex_dump;	/* --hex-dump FILE */
	int		 digest;	/* --digest sha256 */
	long long	 size;		/* --size, bytes; 0 unknown */

	/* Positional arguments, after the flags. */
	const char	*host;		/* destination, listen address or path */
	char		 port[8];	/* numeric port; "" for Unix sockets */
	char		 local_port[8];	/* -p, numeric; "" when unset */
	char		 proxy_host[256]; /* -x, without the port */
	char		 proxy_port[8];	/* -x port, default by -X */
	int		*ports;		/* -z: every port to probe, in order */
	size_t		 nports;

	/* -S: the key, read by sock_features() (never from argv). */
	unsigned char	 md5sig_key[80];	/* TCP_MD5SIG_MAXKEYLEN */
	size_t		 md5sig_keylen;
};

/*
 * options.c: opts_parse() returns OPTS_RUN, OPTS_HELP or OPTS_VERSION, or
 * an error with its message in the caller's buffer: OPTS_USAGE (exit 2
 * after the short usage; the message is empty when getopt printed it)
 * or OPTS_FAIL (exit 1: a file the command line names cannot be read).
 */
#define OPTS_RUN	0
#define OPTS_USAGE	(-1)
#define OPTS_FAIL	(-2)
#define OPTS_HELP	1
#define OPTS_VERSION	2
int	 opts_parse(struct np_opts *, int, char *[], char *, size_t);
void	 opts_free(struct np_opts *);
void	 opts_help(void);
void	 opts_usage(void);

/*
 * sockopt.c: the socket-option table.  The kernel copies most options
 * from a listener to the sockets it accepts; it resets the PH_CONNECTED
 * ones, so those are set on each connection (socat's PH_PASTSOCKET and
 * friends).
 */
enum sockopt_phase {
	PH_SOCKET = 0x01,	/* every socket, before bind or connect */
	PH_CLIENT = 0x02,	/* a connecting socket, before connect */
	PH_LISTENER = 0x04,	/* a listening socket, before listen */
	PH_CONNECTED = 0x08	/* each connected socket, once connected */
};
int	 sockopt_tos(const char *, const char *, int *, char *, size_t);
int	 sockopt_check(const struct np_opts *, char *, size_t);
int	 sockopt_apply(const struct np_opts *, int, int, int);
void	 sockopt_report(const struct np_opts *, int, int, int);
int	 sockopt_join_family(const struct np_opts *);
int	 sockopt_join(const struct np_opts *, int);
int	 sock_opt_given(const struct np_opts *, const char *);

/* sock.c */
int	 sock_connect(const struct np_opts *, char *, size_t);
int	 sock_listen(const struct np_opts *);
int	 sock_accepted(const struct np_opts *, int, int);
int	 sock_dgram_peer(const struct np_opts *, int);
struct addrinfo;
int	 sock_addrinfo(const struct np_opts *, const char *, const char *, int,
	    struct addrinfo **);
int	 sock_socket(const struct np_opts *, const struct addrinfo *);
int	 sock_client_setup(const struct np_opts *, int, int);
void	 sock_report_connected(const struct np_opts *, const char *);
void	 sock_report_failed(const struct np_opts *, const char *,
	    const struct sockaddr *, socklen_t, int);
int	 sock_features(struct np_opts *);
void	 sock_dgram_buffer(const struct np_opts *, int);
int	 sock_wait(int, short, int);
/* sock_linger()'s bound when -w does not give one. */
#define NP_LINGER_MS	10000
void	 sock_linger(int, int);
void	 sock_unbind(void);
const char *sock_ntop(const struct sockaddr *, socklen_t, char *, size_t);
char	*sock_utoa(char *, unsigned int);

/* scan.c: -z. */
int	 scan_run(const struct np_opts *, size_t, size_t, int);
int	 scan_pause(int);

/*
 * proxy.c: -x, -X, -P and -F.  The reply parsers are pure (fuzz
 * targets): each returns -1 with a message in the caller's buffer.
 */
int	 proxy_connect(const struct np_opts *);
int	 proxy_fdpass(int);
int	 proxy_socks4_reply(const struct np_opts *, const unsigned char *,
	    size_t, char *, size_t);
int	 proxy_socks5_method(const struct np_opts *, const unsigned char *,
	    size_t, char *, size_t);
int	 proxy_socks5_reply(const struct np_opts *, const unsigned char *,
	    size_t, char *, size_t);
int	 proxy_http_status(const struct np_opts *, const char *, char *,
	    size_t);
int	 proxy_http_request(const struct np_opts *, const char *, char *,
	    size_t, char *, size_t);

/*
 * forward.c: --forward.  fwd_run() serves listener lfd until a signal
 * and returns an exit code.  fwd_proxy_header() is pure: the PROXY
 * protocol header (version 1 or 2) for a connection from src to dst,
 * into buf; returns its length, or -1 when len is too small.
 */
#define FWD_PROXY_MAX	232	/* the longest header either version makes */
struct acl;
struct tls;
struct pp_secret;
int	 fwd_run(const struct np_opts *, const struct acl *, int,
	    struct tls *, struct pp_secret *);
ssize_t	 fwd_proxy_header(int, const struct sockaddr *,
	    const struct sockaddr *, unsigned char *, size_t);

/* dial.c: connect to the destination, with --retry. */
int	 dial_connect(const struct np_opts *, char *, size_t, int *);

/* session.c: mode handlers, each returning an exit code. */
int	 session_connect(const struct np_opts *);
int	 session_listen(const struct np_opts *);
int	 session_scan(const struct np_opts *);

/* sha.c: SHA-256, from libcrypto when it can be opened, else libmd. */
#define NP_SHA_LEN	32
struct np_sha {
	SHA2_CTX	 md;
	void		*evp;		/* EVP_MD_CTX *, or NULL: libmd */
};
void	 np_sha_init(struct np_sha *);
void	 np_sha_update(struct np_sha *, const void *, size_t);
void	 np_sha_copy(struct np_sha *, const struct np_sha *);
void	 np_sha_final(struct np_sha *, unsigned char [NP_SHA_LEN]);
void	 np_sha_free(struct np_sha *);
struct np_shaq;
struct np_shaq	*np_shaq_new(struct np_sha *);
unsigned long long np_shaq_push(struct np_shaq *, const void *, size_t);
void	 np_shaq_wait(struct np_shaq *, unsigned long long);
void	 np_shaq_push_file(struct np_shaq *, int, off_t, size_t);
int	 np_shaq_sync(struct np_shaq *);
void	 np_shaq_free(struct np_shaq *);

/*
 * resume.c: --resume, a one-way framed session that survives broken
 * connections.  The parsers are pure (fuzz targets): each returns -1
 * with a message in the caller's buffer.
 */
#define RESUME_MAGIC		"NPRSUM"	/* 6 bytes, no NUL */
#define RESUME_VERSION		1
#define RESUME_HELLO_LEN	32
#define RESUME_WELCOME_LEN	64
#define RESUME_HDR_LEN		8
#define RESUME_DATA_MAX		(16 * 1024 * 1024)
#define RESUME_TEXT_MAX		512
#define RESUME_ID_LEN		16
#define RESUME_SHA_LEN		32
#define RESUME_UNKNOWN		0xffffffffffffffffULL
/* HELLO flags */
#define RESUME_F_SEEKABLE	0x01	/* the sender can start anywhere */
#define RESUME_F_FRESH		0x02	/* the sender's first handshake */
/* WELCOME status */
#define RESUME_OK		0
#define RESUME_BUSY		1	/* another session holds the receiver */
#define RESUME_BADVERSION	2
/* Frame types */
#define RESUME_DATA		'D'
#define RESUME_END		'E'
#define RESUME_ACK		'A'
#define RESUME_DONE		'F'
#define RESUME_ERROR		'X'
struct resume_hello {
	int			 version;
	int			 flags;
	unsigned char		 id[RESUME_ID_LEN];
	unsigned long long	 size;		/* RESUME_UNKNOWN */
};
struct resume_welcome {
	int			 version;
	int			 status;
	unsigned char		 id[RESUME_ID_LEN];
	unsigned long long	 held;
	unsigned char		 prefix[RESUME_SHA_LEN];
};
/* A control frame's payload: END, ACK, DONE or ERROR. */
struct resume_ctl {
	unsigned long long	 count;		/* END total, ACK count */
	int			 verdict;	/* DONE: 0 match, 1 not */
	unsigned char		 sha[RESUME_SHA_LEN];
	char			 text[RESUME_TEXT_MAX + 1];
};
int	 resume_hello_parse(const unsigned char *, size_t,
	    struct resume_hello *, char *, size_t);
int	 resume_welcome_parse(const unsigned char *, size_t,
	    struct resume_welcome *, char *, size_t);
int	 resume_header_parse(const unsigned char *, size_t, int *, size_t *,
	    char *, size_t);
int	 resume_ctl_parse(int, const unsigned char *, size_t,
	    struct resume_ctl *, char *, size_t);
struct tls;
struct acl;
int	 resume_send(const struct np_opts *);
struct pp_secret;
int	 resume_recv(const struct np_opts *, const struct acl *, int,
	    struct tls *, struct pp_secret *);

/*
 * acl.c: listener access control.  acl_parse() and acl_line() are pure
 * (fuzz targets): acl_parse() returns ACL_ADDRESS, ACL_HOSTNAME or
 * ACL_INVALID.
 */
#define ACL_INVALID	(-1)
#define ACL_ADDRESS	0
#define ACL_HOSTNAME	1
/* Room for "ADDR PORT" or a Unix path, as -v names a peer. */
#define NP_PEER_NAMELEN	128
struct acl_rule {
	unsigned char	 addr[16];	/* IPv6; IPv4 as ::ffff:a.b.c.d */
	int		 prefix;	/* leading bits of addr that must match */
};
struct acl;
int	 acl_parse(const char *, struct acl_rule *);
char	*acl_line(char *);
struct acl *acl_new(const struct np_opts *);
void	 acl_free(struct acl *);
int	 acl_empty(const struct acl *);
int	 acl_permits(const struct acl *, const struct sockaddr *);
int	 acl_accept(const struct np_opts *, const struct acl *, int, char *,
	    size_t);
int	 acl_dgram(const struct np_opts *, const struct acl *,
	    const struct sockaddr *, socklen_t);
void	 acl_peer_name(int, const struct sockaddr *, socklen_t, char *,
	    size_t);
void	 acl_timeout(const struct np_opts *);

/*
 * A listener on an event loop (acl.c): each read event accepts the peers
 * waiting and hands each, with its name, to peer(), which owns the
 * socket and returns 0 to hold the listener until acl_listen_resume().
 * Out of descriptors or memory the listener holds for one back-off and
 * tries again (or sooner, on acl_listen_resume()); a failed accept calls
 * fail() after its message.  Fill in the first seven fields.
 */
struct loop;
struct acl_listener {
	struct loop		*loop;
	const struct np_opts	*o;
	const struct acl	*acl;
	int			 lfd;
	int			(*peer)(struct acl_listener *, int,
				    const char *);
	void			(*fail)(struct acl_listener *);
	void			*data;
	long long		 pause;		/* the back-off timer, or 0 */
	int			 held;		/* lfd not watched */
};
int	 acl_listen(struct acl_listener *);
void	 acl_listen_hold(struct acl_listener *);
void	 acl_listen_resume(struct acl_listener *);
void	 acl_listen_now(struct acl_listener *);
void	 acl_listen_end(struct acl_listener *);

/* exec.c: -e and --sh-exec. */
int	 exec_run(const struct np_opts *, int);
int	 exec_listen(const struct np_opts *, const struct acl *, int);

/* pty.c: --pty. */
int	 pty_spawn(const struct np_opts *, char *const [], int, pid_t *);
void	 pty_raw_begin(const struct np_opts *);
void	 pty_raw_end(void);

/* broker.c: many peers at once (-k --max-conns, --broker, --chat). */
struct tls;
struct pp_secret;
int	 broker_run(const struct np_opts *, const struct acl *, int,
	    struct tls *, struct pp_secret *);
#ifdef NP_FUZZ
int	 broker_fuzz(const struct np_opts *, const unsigned char *, size_t);
#endif

/*
 * chat.c: the --chat protocol, pure (fuzz target).  chat_parse() returns
 * CHAT_TEXT or CHAT_NICK_CMD.
 */
#define CHAT_TEXT	0
#define CHAT_NICK_CMD	1
#define CHAT_NICK	32	/* the longest name, in bytes */
int	 chat_parse(const unsigned char *, size_t, const char **, size_t *);
const char *chat_name_bad(const char *, size_t);
size_t	 chat_text(unsigned char *, const char *, size_t);

/* transfer.c; pump_run() flags. */
#define PUMP_DGRAM		0x01	/* one message per read and write */
#define PUMP_UNCONNECTED	0x02	/* UDP -k: answer the last sender */
/*
 * With PUMP_DGRAM, a connected SOCK_SEQPACKET socket: a zero-length read
 * is end of stream, -N shuts down, and only the peer can send to it.
 */
#define PUMP_SEQPACKET		0x04
/* The socket reads urgent data inline already (its listener's setting). */
#define PUMP_URGINLINE		0x08
struct pump;
struct tls;
struct pump	*pump_new(const struct np_opts *);
void	 pump_set_tls(struct pump *, struct tls *);
struct pp;
void	 pump_set_pp(struct pump *, struct pp *);
void	 pump_set_acl(struct pump *, const struct acl *);
int	 pump_run(struct pump *, int, int);
int	 pump_start(struct pump *, struct loop *, int, int,
	    void (*)(struct pump *, int, void *), void *);
int	 pump_sent(const struct pump *);
void	 pump_stop(struct pump *, int);
void	 pump_free(struct pump *);

/*
 * dir.c: a direction of a transfer (the pump's two, each of xfer.c's
 * pairs' two): its pipe or buffer, made on first use, and its end of
 * stream.  The engine reads into the buffer's end and writes from its
 * start, splices into and out of the pipe, and tells dir.c what moved.
 */
struct dir {
	int		 pipe[2];	/* the splice path's; -1 until made */
	size_t		 pipesz;	/* what the pipe holds */
	size_t		 held;		/* bytes in it */
	int		 pipe_full;	/* a splice in may find no room */
	int		 no_pipe;	/* none could be made or grown */
	unsigned char	*buf;		/* the copy path's; NULL until made */
	size_t		 cap;		/* what buf holds */
	size_t		 start;		/* the bytes held: buf[start, end) */
	size_t		 end;
	size_t		 asked;		/* room offered to the last read */
	size_t		 small;		/* buf's size when made */
	size_t		 bulk;		/* and once a read filled it */
	size_t		 need;		/* the least room a read is offered */
	int		 one_msg;	/* holds one datagram at a time */
	int		 eof;		/* the source ended */
	int		 failed;	/* it broke; what it gave still goes */
	int		 ended;		/* and the sink was told */
	unsigned long long bytes;	/* given to the sink */
};
void	 dir_init(struct dir *);
void	 dir_sizes(struct dir *, size_t, size_t, size_t);
void	 dir_restart(struct dir *, int);
void	 dir_release(struct dir *);
size_t	 dir_pending(const struct dir *);
size_t	 dir_room(const struct dir *);
int	 dir_ready(const struct dir *);
int	 dir_buf(struct dir *);
void	 dir_filled(struct dir *, size_t, size_t);
void	 dir_consumed(struct dir *, size_t);
int	 dir_pipe_make(int [2], size_t, size_t *);
int	 dir_pipe(struct dir *, size_t);
void	 dir_pipe_grow(struct dir *, size_t);
int	 dir_pipe_room(const struct dir *);
void	 dir_pipe_off(struct dir *);
void	 dir_pipe_drained(struct dir *, size_t);
ssize_t	 dir_pipe_readback(struct dir *);

/*
 * xfer.c: a transfer moves bytes both ways between two endpoints on
 * the caller's event loop and calls done() once, when both directions
 * have ended or the transfer failed; rc is an exit code (0 or 1).
 * done() may free the transfer.
 */
struct xfer;
struct xfer_side {
	int		 fd;	/* a connected stream socket, non-blocking */
	struct tls	*tls;	/* its TLS session once handshaken, or NULL */
	struct pp	*pp;	/* its --passphrase end, likewise */
	const char	*name;	/* for -v messages, e.g. "127.0.0.1 5000" */
};
struct xfer	*xfer_new(struct loop *, const struct np_opts *,
		    const struct xfer_side *, const struct xfer_side *,
		    void (*)(struct xfer *, int, void *), void *);
void	 xfer_bytes(const struct xfer *, unsigned long long *,
	    unsigned long long *);
void	 xfer_free(struct xfer *);

/*
 * endpoint.c: a connected stream socket and its record layer, or a
 * datagram socket, shared by the pump and xfer.c.  recv and send (and a
 * datagram endpoint's recvfrom and sendto) return as ntls_io() does, or
 * EP_REPORTED after printing their own message; shut ends what the
 * endpoint is sent without blocking (0, or NTLS_WANT); end sends the
 * layer's own end of stream, bounded, for a caller that may block (-N),
 * broken saying the input failed rather than ended.
 */
#define EP_REPORTED	(-3)
#define EP_RW		0x01	/* --io rw: read(2)/write(2) */
#define EP_QUIET	0x02	/* the caller reports failures (why) */
#define EP_DGRAM	0x04	/* datagrams: recvfrom and sendto too */
struct ep;
struct ep_ops {
	const char	*name;
	ssize_t		(*recv)(struct ep *, void *, size_t, short *,
			    const char **);
	ssize_t		(*send)(struct ep *, void *, size_t, int, short *,
			    const char **);
	int		(*shut)(struct ep *, short *);
	void		(*end)(struct ep *, int);
	size_t		 record;	/* the room a read must offer */
	int		 splice;	/* no layer: splice(2) may reach fd */
	/* A datagram endpoint's, with the peer's address; else NULL. */
	ssize_t		(*recvfrom)(struct ep *, void *, size_t,
			    struct sockaddr *, socklen_t *, short *);
	ssize_t		(*sendto)(struct ep *, const void *, size_t, int,
			    const struct sockaddr *, socklen_t, short *);
};
struct pp;
struct ep {
	const struct ep_ops *ops;
	int		 fd;
	struct tls	*tls;
	struct pp	*pp;
};
void	 ep_init(struct ep *, int, struct tls *, struct pp *, int);

/* writer.c: a regular-file output written on a second thread. */
struct writer;
int		 writer_useful(void);
struct writer	*writer_new(int, int);
void		 writer_free(struct writer *);
int		 writer_fd(const struct writer *);
void		 writer_start(struct writer *, int, size_t);
int		 writer_reap(struct writer *);
/* Kept its pump_ name: the pump, xfer.c and the writer all ask it. */
int		 pump_zc_refused(int);

/* filter.c: -C and -t, pure functions over buffers. */
struct filter {
	int	crlf_cr;	/* the last byte -C saw was CR */
	int	tn_state;	/* -t parser state */
	int	tn_cmd;		/* -t: the pending WILL/WONT/DO/DONT */
};
size_t	 filter_crlf(struct filter *, const unsigned char *, size_t,
	    unsigned char *);
void	 filter_telnet_start(struct filter *);
size_t	 filter_telnet(struct filter *, unsigned char *, size_t,
	    unsigned char *, size_t, size_t *);

/* stats.c: counts, --progress, --stats, --digest, --hex-dump. */
#define METER_SENT	0
#define METER_RECV	1
struct meter;
struct meter	*meter_new(const struct np_opts *, long long);
void	 meter_start(struct meter *);
int	 meter_needs_data(const struct np_opts *);
void	 meter_count(struct meter *, int, size_t);
void	 meter_digest(struct meter *, int, const void *, size_t);
void	 meter_hex(struct meter *, int, const void *, size_t);
void	 meter_finish(struct meter *);
int	 meter_failed(const struct meter *);
void	 meter_resume(struct meter *, int, unsigned long long,
	    unsigned long long);

/*
 * tls.c: libtls behind the pump and the broker; the non-blocking calls
 * return NTLS_WANT with the events to poll for.
 */
#define NTLS_WANT	(-2)
/*
 * A TLS read returns one record, and what it does not take stays inside
 * OpenSSL where poll cannot see it: readers always offer room for a
 * whole record (16 KiB of data and its overhead).
 */
#define NTLS_RECORD	(16 * 1024 + 512)
/* A TLS handshake without -w must end within this. */
#define NTLS_HANDSHAKE_MS (10 * 1000)
struct tls;
struct tls	*ntls_client(const struct np_opts *, int);
struct tls	*ntls_server(const struct np_opts *);
struct tls	*ntls_accept(const struct np_opts *, struct tls *, int);
struct tls	*ntls_accept_start(struct tls *, int, const char *);
int	 ntls_accept_step(const struct np_opts *, struct tls *, const char *,
	    short *);
ssize_t	 ntls_io(struct tls *, int, void *, size_t, short *);
ssize_t	 ntls_peer_io(struct tls *, int, void *, size_t, short *,
	    const char *);
ssize_t	 ntls_quiet_io(struct tls *, int, void *, size_t, short *,
	    const char **);
struct tls_config;
struct tls_config *ntls_client_config(const struct np_opts *);
void	 ntls_config_free(struct tls_config *);
struct tls	*ntls_connect_start(struct tls_config *, int, const char *,
	    const char *);
int	 ntls_connect_step(const struct np_opts *, struct tls *, const char *,
	    short *);
int	 ntls_close_step(struct tls *, short *);
void	 ntls_close_notify(struct tls *, int);
void	 ntls_free(struct tls *);

/*
 * pp.c: --passphrase, SPAKE2 and AEAD records.  pp_io() is ntls_io()'s
 * twin: NTLS_WANT with the events to poll for.  Readers offer room for
 * a whole record (PP_RECORD), as TLS readers do.
 */
#define PP_PLAIN_MAX	(64 * 1024)	/* data in one record */
#define PP_RECORD	(PP_PLAIN_MAX + 4 + 16)
#define PP_PHRASE_MAX	1024
#define PP_NEW_GROUPS	4		/* --passphrase=new: 80 bits */
/* A -k listener gives up after this many wrong phrases. */
#define PP_MAX_FAILURES	3
struct pp_secret {
	unsigned char	 pw_scalar[32];	/* the phrase as a scalar mod L */
	unsigned char	 pw_hash[32];	/* its SHA-256, for the transcript */
	int		 failures;	/* handshakes with a wrong phrase */
};
struct pp;
int	 pp_secret_load(const struct np_opts *, struct pp_secret *);
int	 pp_secret_set(struct pp_secret *, const char *, size_t);
struct pp *pp_new(struct pp_secret *, int, int, int);
int	 pp_handshake_step(struct pp *, short *);
int	 pp_handshake(const struct np_opts *, struct pp *);
const char *pp_cipher(const struct pp *);
const char *pp_library(const struct pp *);
int	 pp_ended(const struct pp *);
ssize_t	 pp_io(struct pp *, int, void *, size_t, short *);
int	 pp_close_step(struct pp *, short *);
void	 pp_close(struct pp *);
void	 pp_free(struct pp *);
#ifdef NP_FUZZ
int	 pp_fuzz(const unsigned char *, size_t);
#endif

/*
 * loop.c: the event loop (redis ae.c on poll(2)), the signal flag and
 * its self-pipe, and the monotonic deadline helpers.  A file procedure
 * gets the events that fired: LOOP_READ, LOOP_WRITE, and LOOP_HUP or
 * LOOP_ERR whatever the interest.  LOOP_PRI (urgent data pending) and
 * LOOP_RDHUP (the peer's end of stream is in) are reported only to those
 * who ask, with LOOP_READ: both stay true until the data is read, so a
 * user that is not reading must not ask.  A timer procedure returns the
 * next delay in ms, or LOOP_NOMORE.
 */
#define LOOP_READ	0x01
#define LOOP_WRITE	0x02
#define LOOP_HUP	0x04
#define LOOP_ERR	0x08
#define LOOP_PRI	0x10
#define LOOP_RDHUP	0x20
#define LOOP_INTEREST	(LOOP_READ | LOOP_WRITE | LOOP_PRI | LOOP_RDHUP)
#define LOOP_NOMORE	(-1)
struct loop;
extern volatile sig_atomic_t np_signal;
extern int np_sigfd;
int	 loop_signals(void);
int	 np_deadline_ms(const struct timespec *);
void	 np_deadline_set(struct timespec *, int);
struct loop	*loop_new(void);
void	 loop_free(struct loop *);
int	 loop_fd(struct loop *, int, int,
	    void (*)(struct loop *, int, int, void *), void *);
int	 loop_fd_mask(struct loop *, int, int);
void	 loop_fd_del(struct loop *, int);
long long loop_timer(struct loop *, int,
	    int (*)(struct loop *, long long, void *), void *);
void	 loop_timer_del(struct loop *, long long);
int	 loop_before(struct loop *, void (*)(struct loop *, void *), void *);
void	 loop_before_del(struct loop *, void (*)(struct loop *, void *),
	    void *);
int	 loop_once(struct loop *);
void	 loop_stop(struct loop *);
int	 loop_run(struct loop *);

#endif /* NETPIPE_H */

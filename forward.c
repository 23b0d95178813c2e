/*
 * forward.c: netpipe -l ... --forward DEST, a port forwarder.  One
 * process and one event loop serve every pair: each peer let in gets its
 * own non-blocking connection to DEST (TLS or --passphrase on either
 * side when asked, a PROXY protocol header first when asked), then the
 * pair mover carries
 * the bytes both ways.  With -u each client address gets its own UDP
 * socket connected to DEST, ended after -w of silence.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/* -u: a session ends after this much silence, without -w. */
#define FWD_UDP_IDLE_MS		(60 * 1000)
/* The largest datagram. */
#define FWD_DGRAM_MAX		65536
/* Datagrams taken per wake-up, so that one busy client starves nobody. */
#define FWD_DGRAM_BURST		64
/* DEST as messages name it: its host (or path), a space and its port. */
#define FWD_NAMELEN	(sizeof(((struct np_opts *)0)->fwd_host) + 8)

/*
 * -x: the SOCKS numbers of RFC 1928 and 1929 and the SOCKS4 paper, the
 * longest proxy reply header taken, and the handshake's bound without
 * -w, as proxy.c has it.
 */
#define PXY_SOCKS4	4
#define PXY_SOCKS5	5
#define PXY_CONNECT	1
#define PXY_USERPASS	2
#define PXY_BUF		2048
#define PXY_HANDSHAKE_MS (60 * 1000)
/*
 * --passphrase: a peer with a wrong phrase stops accepting for this
 * long.  Exiting after a few, as a -k listener does, would let anyone
 * who can connect take the service down; a pause per wrong phrase keeps
 * online guessing at one a second, and a right phrase still gets in.
 */
#define FWD_GUESS_PAUSE_MS	1000

enum pair_state { PAIR_TLS_IN, PAIR_PP_IN, PAIR_DIAL, PAIR_PROXY,
    PAIR_TLS_OUT, PAIR_PP_OUT, PAIR_XFER };

/* -x: what the proxy is asked, and what it answered so far. */
enum pxy_step { PXY_GREET, PXY_AUTH, PXY_REQUEST, PXY_HTTP };
struct pxy {
	enum pxy_step	 step;
	size_t		 have;		/* bytes of the reply in buf */
	size_t		 need;		/* bytes the reply has, as known */
	unsigned char	 buf[PXY_BUF];
};

struct pair;
struct usess;

struct fwd {
	const struct np_opts	*o;
	struct np_opts		 out;		/* o, as it applies to DEST */
	struct loop		*loop;
	struct acl_listener	 al;
	struct tls		*server;	/* --tls: the listener side */
	struct tls_config	*client;	/* --forward-tls */
	struct pp_secret	*sec;		/* either passphrase option */
	struct addrinfo		*dest;		/* DEST's (-x: the proxy's), or */
	struct sockaddr_un	 sun;		/* its Unix address */
	socklen_t		 sunlen;
	char			 dname[FWD_NAMELEN];	/* DEST in messages */
	struct pair		*pairs;
	int			 npairs;
	struct usess		*sess;		/* -u */
	int			 nsess;
	unsigned char		*buf;		/* -u: one datagram */
	unsigned long long	 bytes[2];	/* to DEST, back from DEST */
	unsigned long long	 nconns;
	unsigned long long	 nfailed;
	unsigned long long	 nguessed;	/* wrong passphrases */
	struct timespec		 start;
	int			 rc;
	unsigned char		 paddr[16];	/* -x: DEST as SOCKS sends it */
	int			 pfamily;	/* AF_INET, AF_INET6, 0: a name */
	char			 password[1024]; /* -P, for the proxy */
};

/* One accepted peer and its connection to DEST. */
struct pair {
	struct fwd		*f;
	struct pair		*prev, *next;
	enum pair_state		 state;
	int			 cfd;		/* the peer let in */
	int			 dfd;		/* to DEST, or -1 */
	struct tls		*ctls, *dtls;
	struct pp		*cpp, *dpp;
	const struct addrinfo	*ai;		/* the address dialled */
	long long		 timer;		/* setup's deadline, or 0 */
	struct xfer		*x;
	struct pxy		*px;		/* -x, during the handshake */
	char			 name[NP_PEER_NAMELEN];
};

/* -u: one client address and its socket connected to DEST. */
struct usess {
	struct fwd		*f;
	struct usess		*prev, *next;
	struct sockaddr_storage	 peer;
	socklen_t		 plen;
	int			 fd;
	long long		 timer;
	struct timespec		 idle;		/* ends at this time */
	unsigned long long	 bytes[2];
	char			 name[NP_PEER_NAMELEN];
};

static int	 fwd_init(struct fwd *, const struct np_opts *,
		    const struct acl *, int, struct tls *, struct pp_secret *);
static void	 fwd_guessed(struct fwd *, const char *);
static int	 fwd_guess_over(struct loop *, long long, void *);
static void	 fwd_out_opts(struct fwd *);
static void	 fwd_nofile(const struct np_opts *);
static int	 fwd_dest(struct fwd *);
static void	 fwd_room(struct fwd *);
static void	 fwd_stats(const struct fwd *);
static int	 fwd_peer(struct acl_listener *, int, const char *);
static void	 fwd_fail(struct acl_listener *);
static void	 pair_free(struct pair *);
static void	 pair_fail(struct pair *, const char *, int);
static void	 pair_drop(struct pair *);
static void	 pair_pp_in(struct loop *, int, int, void *);
static void	 pair_pp_out(struct loop *, int, int, void *);
static int	 pair_deadline(struct pair *, int);
static int	 pair_expired(struct loop *, long long, void *);
static int	 pair_watch(struct pair *, int, short,
		    void (*)(struct loop *, int, int, void *));
static void	 pair_tls_in(struct loop *, int, int, void *);
static void	 pair_dial(struct pair *);
static void	 pair_next(struct pair *, int);
static void	 pair_dialled(struct pair *, int);
static int	 pair_socket(struct pair *, const struct addrinfo *);
static void	 pair_dial_ready(struct loop *, int, int, void *);
static void	 pair_connected(struct pair *);
static void	 pair_ready(struct pair *);
static int	 pxy_setup(struct fwd *);
static int	 pxy_target(struct fwd *);
static void	 pxy_begin(struct pair *);
static int	 pxy_send(struct pair *, const unsigned char *, size_t);
static int	 pxy_request(struct pair *);
static int	 pxy_socks4(struct pair *, unsigned int);
static int	 pxy_fill(struct pair *);
static int	 pxy_reply(struct pair *);
static int	 pxy_socks5(struct pair *, char *, size_t);
static void	 pxy_ready(struct loop *, int, int, void *);
static void	 pxy_fail(struct pair *, const char *);
static int	 pair_proxy(struct pair *);
static void	 pair_tls_out(struct loop *, int, int, void *);
static void	 pair_start(struct pair *);
static void	 pair_done(struct xfer *, int, void *);
static int	 udp_begin(struct fwd *, int);
static void	 udp_ready(struct loop *, int, int, void *);
static struct usess *udp_find(struct fwd *, const struct sockaddr *,
		    socklen_t);
static struct usess *udp_new(struct fwd *, const struct sockaddr *,
		    socklen_t);
static void	 udp_free(struct usess *);
static void	 udp_reply(struct loop *, int, int, void *);
static int	 udp_idle(struct loop *, long long, void *);
static int	 udp_idle_ms(const struct np_opts *);
static size_t	 proxy_v1(int, const struct sockaddr *,
		    const struct sockaddr *, char *, size_t);
static size_t	 proxy_v2(int, const struct sockaddr *,
		    const struct sockaddr *, unsigned char *);
static int	 proxy_family(const struct sockaddr *,
		    const struct sockaddr *, struct sockaddr_storage *,
		    struct sockaddr_storage *);

/*
 * Serve listener lfd (a stream listener, or with -u a bound datagram
 * socket) until a signal or a failed accept.  server is --tls's
 * context, or NULL; sec is the phrase of --passphrase and
 * --forward-passphrase (unused without either); lfd, server and sec stay
 * the caller's.  Returns an exit code; every pair is closed on the way
 * out.
 */
int
fwd_run(const struct np_opts *o, const struct acl *acl, int lfd,
    struct tls *server, struct pp_secret *sec)
{
	struct fwd f;

	if (fwd_init(&f, o, acl, lfd, server, sec) == -1)
		f.rc = NP_EXIT_FAIL;
	else if ((o->udp ? udp_begin(&f, lfd) : acl_listen(&f.al)) == -1) {
		warn("poll");
		f.rc = NP_EXIT_FAIL;
	} else if (loop_run(f.loop) == -1) {
		warn("poll");
		f.rc = NP_EXIT_FAIL;
	}
	while (f.pairs != NULL)
		pair_free(f.pairs);
	while (f.sess != NULL)
		udp_free(f.sess);
	if (f.loop != NULL) {
		if (!o->udp)
			acl_listen_end(&f.al);
		else
			loop_fd_del(f.loop, lfd);
		loop_free(f.loop);
	}
	if (o->stats != STATS_OFF || o->verbose > 0)
		fwd_stats(&f);
	if (f.dest != NULL)
		freeaddrinfo(f.dest);
	ntls_config_free(f.client);
	free(f.buf);
	explicit_bzero(f.password, sizeof(f.password));
	return f.rc;
}

/* Everything the forwarder needs before its first peer; 0 or -1. */
static int
fwd_init(struct fwd *f, const struct np_opts *o, const struct acl *acl,
    int lfd, struct tls *server, struct pp_secret *sec)
{
	memset(f, 0, sizeof(*f));
	f->o = o;
	f->server = server;
	f->sec = sec;
	f->rc = NP_EXIT_OK;
	clock_gettime(CLOCK_MONOTONIC, &f->start);
	fwd_out_opts(f);
	fwd_nofile(o);
	if (fwd_dest(f) == -1)
		return -1;
	if (o->fwd_tls)
		f->client = ntls_client_config(&f->out);
	if ((f->loop = loop_new()) == NULL) {
		warn("loop");
		return -1;
	}
	f->al = (struct acl_listener){ .loop = f->loop, .o = o, .acl = acl,
	    .lfd = lfd, .peer = fwd_peer, .fail = fwd_fail, .data = f };
	return 0;
}

/*
 * The options as they apply to the connections to DEST: its address,
 * the --forward-tls set in place of --tls's, and -s as the source,
 * unless -s named the Unix socket we listen on.
 */
static void
fwd_out_opts(struct fwd *f)
{
	const struct np_opts *o = f->o;
	struct np_opts *out = &f->out;

	*out = *o;
	out->host = o->fwd_host;
	strlcpy(out->port, o->fwd_port, sizeof(out->port));
	out->local_port[0] = '\0';
	out->unix_sock = o->fwd_port[0] == '\0';
	if (o->unix_sock)
		out->source = NULL;
	out->tls = o->fwd_tls;
	out->tls_ca = o->fwd_tls_ca;
	out->tls_name = o->fwd_tls_name;
	out->tls_pin = o->fwd_tls_pin;
	out->tls_noverify = o->fwd_tls_noverify;
	out->tls_cert = out->tls_key = out->tls_alpn = NULL;
}

/*
 * A pair holds up to six descriptors: its two sockets, and a pipe each
 * way while bytes move.  The usual soft limit of 1024 would hold the
 * listener back long before --max-conns, so raise it toward the hard
 * limit, as far as --max-conns needs.  A limit that cannot be raised
 * only makes the listener wait for descriptors (acl.c).
 */
static void
fwd_nofile(const struct np_opts *o)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)o->max_conns * 6 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ?
	    rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 && o->verbose > 0)
		warn("forward: raising the descriptor limit");
}

/*
 * DEST's addresses, looked up once: a name lookup would stop the loop
 * and every pair on it.  0, or -1 after a message.
 */
static int
fwd_dest(struct fwd *f)
{
	const struct np_opts *o = f->o;
	size_t len = strlen(o->fwd_host);

	if (f->out.unix_sock) {
		f->sun.sun_family = AF_UNIX;
		memcpy(f->sun.sun_path, o->fwd_host, len);
		if (o->fwd_host[0] == '@')
			f->sun.sun_path[0] = '\0';
		f->sunlen = offsetof(struct sockaddr_un, sun_path) + len +
		    (o->fwd_host[0] == '@' ? 0 : 1);
		strlcpy(f->dname, o->fwd_host, sizeof(f->dname));
		return 0;
	}
	snprintf(f->dname, sizeof(f->dname), "%s %s", o->fwd_host,
	    o->fwd_port);
	if (o->proxy_host[0] != '\0')
		return pxy_setup(f);
	return sock_addrinfo(&f->out, o->fwd_host, o->fwd_port, 0, &f->dest);
}

/* A pair ended: accept again if --max-conns held the listener. */
static void
fwd_room(struct fwd *f)
{
	if (f->al.held && f->al.pause == 0 && f->npairs < f->o->max_conns)
		acl_listen_resume(&f->al);
}

/* --stats, and -v: what the forwarder carried, on the way out. */
static void
fwd_stats(const struct fwd *f)
{
	struct timespec now;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - f->start.tv_sec) +
	    (now.tv_nsec - f->start.tv_nsec) / 1e9;
	if (f->o->stats == STATS_JSON)
		fprintf(stderr, "{\"connections\": %llu, \"failed\": %llu, "
		    "\"sent\": %llu, \"received\": %llu, \"seconds\": %.6f}\n",
		    f->nconns, f->nfailed, f->bytes[0], f->bytes[1], secs);
	else
		fprintf(stderr, "netpipe: forwarded %llu connection%s "
		    "(%llu failed): %llu bytes to %s, %llu bytes back "
		    "in %.2f s\n", f->nconns, f->nconns == 1 ? "" : "s",
		    f->nfailed, f->bytes[0], f->dname, f->bytes[1], secs);
}

/*
 * A peer let in by the access rules: its pair starts with the TLS
 * handshake, or the dial.  Returns 0 to hold the listener at
 * --max-conns.
 */
static int
fwd_peer(struct acl_listener *al, int fd, const char *name)
{
	struct fwd *f = al->data;
	struct pair *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		warn("forward: %s", name);
		close(fd);
		return 1;
	}
	p->f = f;
	p->cfd = fd;
	p->dfd = -1;
	strlcpy(p->name, name, sizeof(p->name));
	if ((p->next = f->pairs) != NULL)
		p->next->prev = p;
	f->pairs = p;
	f->npairs++;
	f->nconns++;
	if (f->o->passphrase) {
		p->state = PAIR_PP_IN;
		if ((p->cpp = pp_new(f->sec, fd, 1, 0)) == NULL)
			pair_fail(p, NULL, 0);
		else if (pair_deadline(p, f->o->wait_ms > 0 ? f->o->wait_ms :
		    NTLS_HANDSHAKE_MS) == 0)
			pair_pp_in(f->loop, fd, 0, p);
	} else if (f->server == NULL)
		pair_dial(p);
	else if ((p->ctls = ntls_accept_start(f->server, fd, name)) == NULL)
		pair_fail(p, NULL, 0);
	else if (pair_deadline(p, f->o->wait_ms > 0 ? f->o->wait_ms :
	    NTLS_HANDSHAKE_MS) == 0) {
		p->state = PAIR_TLS_IN;
		pair_tls_in(f->loop, fd, 0, p);
	}
	return f->npairs < f->o->max_conns;
}

/*
 * A peer sent a wrong passphrase: say so, and accept nobody for
 * FWD_GUESS_PAUSE_MS (pairs already made go on).
 */
static void
fwd_guessed(struct fwd *f, const char *name)
{
	f->nguessed++;
	warnx("forward: %s: wrong passphrase (%llu so far): accepting again "
	    "in %d ms", name, f->nguessed, FWD_GUESS_PAUSE_MS);
	acl_listen_hold(&f->al);
	loop_timer_del(f->loop, f->al.pause);
	if ((f->al.pause = loop_timer(f->loop, FWD_GUESS_PAUSE_MS,
	    fwd_guess_over, f)) == -1) {
		/* No timer: no pause rather than no listener. */
		f->al.pause = 0;
		fwd_room(f);
	}
}

/* The pause after a wrong passphrase is over. */
static int
fwd_guess_over(struct loop *l, long long id, void *arg)
{
	struct fwd *f = arg;

	(void)l;
	(void)id;
	f->al.pause = 0;
	fwd_room(f);
	return LOOP_NOMORE;
}

/* accept(2) failed, after its message: the forwarder is done. */
static void
fwd_fail(struct acl_listener *al)
{
	struct fwd *f = al->data;

	f->rc = NP_EXIT_FAIL;
	loop_stop(f->loop);
}

/*
 * Close both sides, whatever state the pair is in, count what it moved,
 * and forget it.
 */
static void
pair_free(struct pair *p)
{
	struct fwd *f = p->f;
	unsigned long long ab, ba;

	loop_timer_del(f->loop, p->timer);
	if (p->x != NULL) {
		xfer_bytes(p->x, &ab, &ba);
		f->bytes[0] += ab;
		f->bytes[1] += ba;
		xfer_free(p->x);	/* closes both and frees TLS */
	} else {
		loop_fd_del(f->loop, p->cfd);
		ntls_free(p->ctls);
		pp_free(p->cpp);
		close(p->cfd);
		if (p->dfd != -1) {
			loop_fd_del(f->loop, p->dfd);
			ntls_free(p->dtls);
			pp_free(p->dpp);
			close(p->dfd);
		}
	}
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		f->pairs = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	f->npairs--;
	if (p->px != NULL)
		explicit_bzero(p->px, sizeof(*p->px));
	free(p->px);
	free(p);
}

/*
 * The pair cannot be made: say why (what and e, unless a message was
 * printed already: what NULL) and reset the peer, so that it learns at
 * once that nobody is behind us.
 */
static void
pair_fail(struct pair *p, const char *what, int e)
{
	struct linger lg = { 1, 0 };
	struct fwd *f = p->f;

	if (what != NULL)
		warnx("forward: %s: %s %s%s%s", p->name, what, f->dname,
		    e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
	setsockopt(p->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	pair_drop(p);
}

/*
 * The pair failed after its message, and its peer is closed the normal
 * way: a peer told its phrase was wrong reads our confirmation first.
 */
static void
pair_drop(struct pair *p)
{
	struct fwd *f = p->f;

	f->nfailed++;
	pair_free(p);
	fwd_room(f);
}

/* The setup that follows must end within ms; 0, or -1 (pair failed). */
static int
pair_deadline(struct pair *p, int ms)
{
	loop_timer_del(p->f->loop, p->timer);
	p->timer = 0;
	if (ms <= 0)
		return 0;
	if ((p->timer = loop_timer(p->f->loop, ms, pair_expired, p)) == -1) {
		p->timer = 0;
		pair_fail(p, "timer for", errno);
		return -1;
	}
	return 0;
}

/* The TLS handshake or the connect took too long. */
static int
pair_expired(struct loop *l, long long id, void *arg)
{
	struct pair *p = arg;

	(void)l;
	(void)id;
	p->timer = 0;
	pair_fail(p, p->state == PAIR_DIAL ? "connect to" :
	    p->state == PAIR_PROXY ? "proxy handshake for" :
	    p->state == PAIR_PP_IN || p->state == PAIR_PP_OUT ?
	    "passphrase handshake for" : "TLS handshake with", ETIMEDOUT);
	return LOOP_NOMORE;
}

/* Watch fd for poll's events with proc; 0, or -1 (pair failed). */
static int
pair_watch(struct pair *p, int fd, short events,
    void (*proc)(struct loop *, int, int, void *))
{
	int mask = ((events & POLLIN) ? LOOP_READ : 0) |
	    ((events & POLLOUT) ? LOOP_WRITE : 0);

	if (loop_fd(p->f->loop, fd, mask, proc, p) == -1) {
		pair_fail(p, "poll for", errno);
		return -1;
	}
	return 0;
}

/* --tls: one step of the peer's handshake; DEST is dialled after it. */
static void
pair_tls_in(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	short events;
	int rc;

	(void)l;
	(void)fired;
	rc = ntls_accept_step(p->f->o, p->ctls, p->name, &events);
	if (rc == NTLS_WANT)
		pair_watch(p, fd, events, pair_tls_in);
	else if (rc == -1)
		pair_fail(p, NULL, 0);
	else {
		loop_fd_del(p->f->loop, fd);
		pair_dial(p);
	}
}

/*
 * --passphrase: one step of the peer's handshake; DEST is dialled once
 * the peer proved it has the phrase.
 */
static void
pair_pp_in(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	struct fwd *f = p->f;
	int rc, before = f->sec->failures;
	short events;

	(void)l;
	(void)fired;
	rc = pp_handshake_step(p->cpp, &events);
	if (rc == NTLS_WANT)
		pair_watch(p, fd, events, pair_pp_in);
	else if (rc == -1) {
		if (f->sec->failures != before)
			fwd_guessed(f, p->name);
		else if (f->o->verbose > 0)
			warnx("forward: %s: passphrase handshake failed",
			    p->name);
		pair_drop(p);
	} else {
		if (f->o->verbose > 0)
			fprintf(stderr, "Passphrase from %s: SPAKE2, %s\n",
			    p->name, pp_cipher(p->cpp));
		loop_fd_del(f->loop, fd);
		pair_dial(p);
	}
}

/*
 * Connect to DEST without waiting: the address after the one that
 * failed (p->ai), or the first; a Unix socket has only the one.
 */
static void
pair_dial(struct pair *p)
{
	struct fwd *f = p->f;
	const struct addrinfo *ai;
	int e = EADDRNOTAVAIL;

	p->state = PAIR_DIAL;
	if (pair_deadline(p, f->o->wait_ms) == -1)
		return;
	if (f->dest == NULL) {
		pair_dialled(p, pair_socket(p, NULL));
		return;
	}
	for (ai = p->ai != NULL ? p->ai->ai_next : f->dest; ai != NULL;
	    ai = ai->ai_next) {
		p->ai = ai;
		if ((e = pair_socket(p, ai)) == 0 || e == EINPROGRESS)
			break;
		pair_next(p, e);
	}
	pair_dialled(p, e);
}

/* -v: one of DEST's addresses failed, and the next will be tried. */
static void
pair_next(struct pair *p, int e)
{
	char addr[INET6_ADDRSTRLEN];

	if (p->f->o->verbose > 0 && e > 0 && p->ai->ai_next != NULL)
		fprintf(stderr, "forward: %s: connect to %s failed: %s; "
		    "trying the next address\n", p->name,
		    sock_ntop(p->ai->ai_addr, p->ai->ai_addrlen, addr,
		    sizeof(addr)), strerror(e));
}

/* The connect has been begun (e from pair_socket()): follow it up. */
static void
pair_dialled(struct pair *p, int e)
{
	if (e == 0)
		pair_connected(p);
	else if (e == EINPROGRESS)
		pair_watch(p, p->dfd, POLLOUT, pair_dial_ready);
	else
		pair_fail(p, e > 0 ? "connect to" : NULL, e > 0 ? e : 0);
}

/*
 * A socket to DEST's address ai (NULL: the Unix socket) in p->dfd, and
 * its connect begun.  Returns 0 when connected, EINPROGRESS when under
 * way, or the errno that failed it (-1 for a message printed already).
 */
static int
pair_socket(struct pair *p, const struct addrinfo *ai)
{
	struct fwd *f = p->f;
	int fd, e;

	if (ai == NULL)
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	else
		fd = sock_socket(&f->out, ai);
	if (fd == -1)
		return errno;
	p->dfd = fd;
	if (ai != NULL && sock_client_setup(&f->out, fd, ai->ai_family) == -1)
		e = -1;
	else if (connect(fd, ai != NULL ? ai->ai_addr :
	    (struct sockaddr *)&f->sun, ai != NULL ? ai->ai_addrlen :
	    f->sunlen) == 0)
		return 0;
	else if ((e = errno) == EINPROGRESS)
		return e;
	close(fd);
	p->dfd = -1;
	return e;
}

/* The connect to DEST finished, one way or the other. */
static void
pair_dial_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	socklen_t len = sizeof(int);
	int e = 0;

	(void)fired;
	loop_fd_del(l, fd);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e == 0) {
		pair_connected(p);
		return;
	}
	close(fd);
	p->dfd = -1;
	if (p->ai != NULL && p->ai->ai_next != NULL) {
		pair_next(p, e);
		pair_dial(p);
		return;
	}
	pair_fail(p, "connect to", e);
}

/* Connected to DEST, or to -x's proxy, which has a handshake first. */
static void
pair_connected(struct pair *p)
{
	struct fwd *f = p->f;

	if (sock_accepted(&f->out, p->dfd, p->ai != NULL ?
	    p->ai->ai_family : AF_UNIX) == -1) {
		pair_fail(p, NULL, 0);
		return;
	}
	if (f->o->proxy_host[0] != '\0')
		pxy_begin(p);
	else
		pair_ready(p);
}

/*
 * A way to DEST is open, direct or through -x's proxy: the PROXY header
 * goes first, in the clear even when TLS follows (as haproxy's
 * send-proxy does), then the TLS handshake, then the bytes.
 */
static void
pair_ready(struct pair *p)
{
	struct fwd *f = p->f;

	if (f->o->proxy_protocol != 0 && pair_proxy(p) == -1)
		return;
	if (f->o->fwd_passphrase) {
		p->state = PAIR_PP_OUT;
		if ((p->dpp = pp_new(f->sec, p->dfd, 0, 0)) == NULL)
			pair_fail(p, NULL, 0);
		else if (pair_deadline(p, f->o->wait_ms > 0 ? f->o->wait_ms :
		    NTLS_HANDSHAKE_MS) == 0)
			pair_pp_out(f->loop, p->dfd, 0, p);
		return;
	}
	if (f->client == NULL) {
		pair_start(p);
		return;
	}
	p->state = PAIR_TLS_OUT;
	p->dtls = ntls_connect_start(f->client, p->dfd, f->o->fwd_tls_name !=
	    NULL ? f->o->fwd_tls_name : f->o->fwd_host, f->dname);
	if (p->dtls == NULL)
		pair_fail(p, NULL, 0);
	else if (pair_deadline(p, f->o->wait_ms > 0 ? f->o->wait_ms :
	    NTLS_HANDSHAKE_MS) == 0)
		pair_tls_out(f->loop, p->dfd, 0, p);
}

/*
 * Send the PROXY protocol header for the peer.  A fresh connection's
 * send buffer is empty, so the whole header goes at once or never.
 * Returns 0, or -1 when the pair failed.
 */
static int
pair_proxy(struct pair *p)
{
	struct sockaddr_storage src, dst;
	socklen_t slen = sizeof(src), dlen = sizeof(dst);
	unsigned char hdr[FWD_PROXY_MAX];
	ssize_t n;

	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	if (getpeername(p->cfd, (struct sockaddr *)&src, &slen) == -1 ||
	    getsockname(p->cfd, (struct sockaddr *)&dst, &dlen) == -1) {
		pair_fail(p, "PROXY header for", errno);
		return -1;
	}
	n = fwd_proxy_header(p->f->o->proxy_protocol,
	    (struct sockaddr *)&src, (struct sockaddr *)&dst, hdr,
	    sizeof(hdr));
	if (n > 0 && send(p->dfd, hdr, n, MSG_NOSIGNAL) == n)
		return 0;
	pair_fail(p, "PROXY header to", n > 0 ? errno : EMSGSIZE);
	return -1;
}

/* --forward-tls: one step of the handshake with DEST. */
static void
pair_tls_out(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	short events;
	int rc;

	(void)l;
	(void)fired;
	rc = ntls_connect_step(&p->f->out, p->dtls, p->f->dname, &events);
	if (rc == NTLS_WANT)
		pair_watch(p, fd, events, pair_tls_out);
	else if (rc == -1)
		pair_fail(p, NULL, 0);
	else {
		loop_fd_del(p->f->loop, fd);
		pair_start(p);
	}
}

/*
 * --forward-passphrase: one step of the handshake with DEST.  A wrong
 * phrase there is ours, not a guess: the pair ends, nothing pauses.
 */
static void
pair_pp_out(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	short events;
	int rc;

	(void)l;
	(void)fired;
	rc = pp_handshake_step(p->dpp, &events);
	if (rc == NTLS_WANT)
		pair_watch(p, fd, events, pair_pp_out);
	else if (rc == -1)
		pair_fail(p, "passphrase handshake with", 0);
	else {
		if (p->f->o->verbose > 0)
			fprintf(stderr, "Passphrase to %s: SPAKE2, %s\n",
			    p->f->dname, pp_cipher(p->dpp));
		loop_fd_del(p->f->loop, fd);
		pair_start(p);
	}
}

/* Both sides ready: hand them to the mover. */
static void
pair_start(struct pair *p)
{
	struct fwd *f = p->f;
	struct xfer_side a = { .fd = p->cfd, .tls = p->ctls, .name = p->name,
	    .pp = p->cpp };
	struct xfer_side b = { .fd = p->dfd, .tls = p->dtls, .name = f->dname,
	    .pp = p->dpp };

	pair_deadline(p, 0);
	loop_fd_del(f->loop, p->cfd);
	loop_fd_del(f->loop, p->dfd);
	p->state = PAIR_XFER;
	if ((p->x = xfer_new(f->loop, f->o, &a, &b, pair_done,
	    p)) == NULL) {
		pair_fail(p, "forward to", errno);
		return;
	}
	if (f->o->verbose > 0)
		fprintf(stderr, "Forwarding %s to %s\n", p->name, f->dname);
}

/* Both directions have ended: say what went each way, and let go. */
static void
pair_done(struct xfer *x, int rc, void *arg)
{
	struct pair *p = arg;
	struct fwd *f = p->f;
	unsigned long long ab, ba;

	xfer_bytes(x, &ab, &ba);
	if (f->o->verbose > 0)
		fprintf(stderr, "Connection from %s closed%s: %llu bytes to "
		    "%s, %llu bytes back\n", p->name, rc != 0 ? " (reset)" : "",
		    ab, f->dname, ba);
	pair_free(p);
	fwd_room(f);
}

/*
 * -x: the proxy's addresses, looked up once as DEST's would be; the
 * password of -P, from the environment (a forwarder has no terminal to
 * ask on); and DEST as SOCKS sends it.  0, or -1 after a message.
 */
static int
pxy_setup(struct fwd *f)
{
	const struct np_opts *o = f->o;
	const char *pw;

	snprintf(f->dname, sizeof(f->dname), "%s %s", o->fwd_host,
	    o->fwd_port);
	if (o->proxy_user != NULL && o->proxy_type != PROXY_SOCKS4 &&
	    o->proxy_type != PROXY_SOCKS4A) {
		if ((pw = getenv("NETPIPE_PROXY_PASSWORD")) == NULL) {
			warnx("-P %s: set NETPIPE_PROXY_PASSWORD: a forwarder "
			    "does not ask on the terminal", o->proxy_user);
			return -1;
		}
		if (strlcpy(f->password, pw, sizeof(f->password)) >=
		    sizeof(f->password)) {
			warnx("NETPIPE_PROXY_PASSWORD is too long");
			return -1;
		}
	}
	if (pxy_target(f) == -1)
		return -1;
	return sock_addrinfo(&f->out, o->proxy_host, o->proxy_port, 0,
	    &f->dest);
}

/*
 * DEST for the proxy: a numeric address as such, a name as a name for
 * the proxy to resolve, except for SOCKS4, which carries only IPv4: the
 * name is resolved here, once.  0, or -1 after a message.
 */
static int
pxy_target(struct fwd *f)
{
	const struct np_opts *o = f->o;
	struct addrinfo *res;
	struct np_opts v4 = f->out;

	if (inet_pton(AF_INET, o->fwd_host, f->paddr) == 1)
		f->pfamily = AF_INET;
	else if (inet_pton(AF_INET6, o->fwd_host, f->paddr) == 1)
		f->pfamily = AF_INET6;
	else if (o->numeric || strlen(o->fwd_host) > 255) {
		warnx("--forward: %s: %s", o->fwd_host, o->numeric ?
		    "not a numeric address (-n)" : "too long for a proxy");
		return -1;
	}
	if (f->pfamily == AF_INET6 && (o->proxy_type == PROXY_SOCKS4 ||
	    o->proxy_type == PROXY_SOCKS4A)) {
		warnx("%s: SOCKS4 cannot reach an IPv6 address", o->fwd_host);
		return -1;
	}
	if (f->pfamily != 0 || o->proxy_type != PROXY_SOCKS4)
		return 0;
	v4.family = AF_INET;
	if (sock_addrinfo(&v4, o->fwd_host, o->fwd_port, 0, &res) == -1)
		return -1;
	memcpy(f->paddr, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
	f->pfamily = AF_INET;
	freeaddrinfo(res);
	return 0;
}

/*
 * Connected to the proxy: the first message of its protocol, bounded by
 * -w (or PXY_HANDSHAKE_MS) as a whole.
 */
static void
pxy_begin(struct pair *p)
{
	struct fwd *f = p->f;
	unsigned char greet[4] = { PXY_SOCKS5, 1, 0, PXY_USERPASS };

	p->state = PAIR_PROXY;
	if ((p->px = calloc(1, sizeof(*p->px))) == NULL) {
		pair_fail(p, "proxy for", errno);
		return;
	}
	if (pair_deadline(p, f->o->wait_ms > 0 ? f->o->wait_ms :
	    PXY_HANDSHAKE_MS) == -1)
		return;
	if (f->o->proxy_type == PROXY_SOCKS5) {
		if (f->o->proxy_user != NULL)
			greet[1] = 2;
		p->px->step = PXY_GREET;
		p->px->need = 2;
		if (pxy_send(p, greet, 2 + greet[1]) == -1)
			return;
	} else if (pxy_request(p) == -1)
		return;
	pair_watch(p, p->dfd, POLLIN, pxy_ready);
}

/*
 * Send one message of the handshake.  It is small and the socket's
 * buffer holds nothing else, so it goes whole or not at all.  0, or -1
 * when the pair failed.
 */
static int
pxy_send(struct pair *p, const unsigned char *buf, size_t len)
{
	ssize_t n = send(p->dfd, buf, len, MSG_NOSIGNAL);

	if (n == (ssize_t)len)
		return 0;
	pxy_fail(p, n == -1 ? strerror(errno) : "send: short write");
	return -1;
}

/*
 * Ask the proxy for DEST: HTTP CONNECT, SOCKS5, or SOCKS4 (4a with a
 * name).  0, or -1 when the pair failed.
 */
static int
pxy_request(struct pair *p)
{
	struct fwd *f = p->f;
	const struct np_opts *o = f->o;
	unsigned char req[PXY_BUF];
	char msg[256];
	size_t hl = strlen(o->fwd_host), len;
	unsigned int port = (unsigned int)strtonum(o->fwd_port, 1, 65535, NULL);
	int n;

	if (o->proxy_type == PROXY_CONNECT) {
		n = proxy_http_request(&f->out, f->password, (char *)req,
		    sizeof(req), msg, sizeof(msg));
		p->px->step = PXY_HTTP;
		if (n == -1) {
			pxy_fail(p, msg);
			return -1;
		}
		n = pxy_send(p, req, n);
		explicit_bzero(req, sizeof(req));
		return n;
	}
	if (o->proxy_type == PROXY_SOCKS5) {
		req[0] = PXY_SOCKS5;
		req[1] = PXY_CONNECT;
		req[2] = 0;
		req[3] = f->pfamily == AF_INET ? 1 : f->pfamily == AF_INET6 ?
		    4 : 3;
		len = f->pfamily == AF_INET ? 4 : f->pfamily == AF_INET6 ?
		    16 : 1 + hl;
		if (f->pfamily == 0) {
			req[4] = hl;
			memcpy(req + 5, o->fwd_host, hl);
		} else
			memcpy(req + 4, f->paddr, len);
		req[4 + len] = port >> 8;
		req[5 + len] = port & 0xff;
		p->px->step = PXY_REQUEST;
		p->px->need = 4;
		return pxy_send(p, req, 6 + len);
	}
	return pxy_socks4(p, port);
}

/* SOCKS4, or 4a with the name after the user and 0.0.0.1. */
static int
pxy_socks4(struct pair *p, unsigned int port)
{
	struct fwd *f = p->f;
	const struct np_opts *o = f->o;
	const char *user = o->proxy_user != NULL ? o->proxy_user : "";
	size_t hl = strlen(o->fwd_host), ul = strlen(user), len;
	unsigned char req[8 + 2 * 256];

	if (ul > 255) {
		pxy_fail(p, "-P: the user name is too long");
		return -1;
	}
	req[0] = PXY_SOCKS4;
	req[1] = PXY_CONNECT;
	req[2] = port >> 8;
	req[3] = port & 0xff;
	memcpy(req + 4, f->pfamily != 0 ? f->paddr :
	    (const unsigned char *)"\0\0\0\1", 4);
	memcpy(req + 8, user, ul + 1);
	len = 9 + ul;
	if (f->pfamily == 0) {
		memcpy(req + len, o->fwd_host, hl + 1);
		len += hl + 1;
	}
	p->px->step = PXY_REQUEST;
	p->px->need = 8;
	return pxy_send(p, req, len);
}

/*
 * Read what the proxy sent of its reply, and not one byte beyond it:
 * what follows belongs to the peer.  An HTTP reply ends at its empty
 * line, found by peeking.  Returns 1 when the reply (as far as known)
 * is in, 0 to wait, -1 when the pair failed.
 */
static int
pxy_fill(struct pair *p)
{
	struct pxy *px = p->px;
	unsigned char *end = NULL;
	ssize_t n;

	if (px->step == PXY_HTTP) {
		n = recv(p->dfd, px->buf, sizeof(px->buf) - 1, MSG_PEEK);
		end = n > 0 ? memmem(px->buf, n, "\r\n\r\n", 4) : NULL;
		if (n > 0 && end == NULL && (size_t)n < sizeof(px->buf) - 1)
			return 0;
		if (end != NULL)
			n = recv(p->dfd, px->buf, end + 4 - px->buf, 0);
	} else
		n = recv(p->dfd, px->buf + px->have, px->need - px->have, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 || (px->step == PXY_HTTP && end == NULL)) {
		pxy_fail(p, n == 0 ? "the proxy closed the connection during "
		    "the handshake" : n > 0 ? "HTTP reply header too long" :
		    strerror(errno));
		return -1;
	}
	px->have += n;
	return px->step == PXY_HTTP || px->have == px->need;
}

/*
 * The proxy answered: judge the reply with proxy.c's parsers and take
 * the next step.  Returns 1 once DEST is reached, 0 to read on, -1 when
 * the pair failed.
 */
static int
pxy_reply(struct pair *p)
{
	struct pxy *px = p->px;
	const struct np_opts *o = &p->f->out;
	char msg[1024], *eol;
	int n;

	if (px->step == PXY_HTTP) {
		px->buf[px->have] = '\0';
		if ((eol = strpbrk((char *)px->buf, "\r\n")) != NULL)
			*eol = '\0';
		n = proxy_http_status(o, (char *)px->buf, msg, sizeof(msg));
	} else if (o->proxy_type != PROXY_SOCKS5)
		n = proxy_socks4_reply(o, px->buf, px->have, msg, sizeof(msg));
	else
		return pxy_socks5(p, msg, sizeof(msg));
	if (n == -1) {
		pxy_fail(p, msg);
		return -1;
	}
	return 1;
}

/* One SOCKS5 reply: the method, the authentication, the connect. */
static int
pxy_socks5(struct pair *p, char *msg, size_t size)
{
	struct pxy *px = p->px;
	const struct np_opts *o = &p->f->out;
	unsigned char auth[3 + 2 * 255];
	size_t ul, pl;
	int n;

	if (px->step == PXY_REQUEST) {
		if ((n = proxy_socks5_reply(o, px->buf, px->have, msg,
		    size)) == -1) {
			pxy_fail(p, msg);
			return -1;
		}
		px->need = n;
		return px->have == px->need;
	}
	px->have = 0;
	if (px->step == PXY_AUTH) {
		if (px->buf[1] == 0)
			return pxy_request(p);
		snprintf(msg, size, "SOCKS5: authentication as \"%s\" failed",
		    o->proxy_user);
	} else if ((n = proxy_socks5_method(o, px->buf, 2, msg, size)) == 0)
		return pxy_request(p);
	else if (n == PXY_USERPASS && (ul = strlen(o->proxy_user)) <= 255 &&
	    (pl = strlen(p->f->password)) <= 255) {
		auth[0] = 1;
		auth[1] = ul;
		memcpy(auth + 2, o->proxy_user, ul);
		auth[2 + ul] = pl;
		memcpy(auth + 3 + ul, p->f->password, pl);
		px->step = PXY_AUTH;
		n = pxy_send(p, auth, 3 + ul + pl);
		explicit_bzero(auth, sizeof(auth));
		return n;
	} else if (n == PXY_USERPASS)
		snprintf(msg, size, "SOCKS5: a user name or password is at "
		    "most 255 bytes");
	pxy_fail(p, msg);
	return -1;
}

/* The proxy sent something, or closed. */
static void
pxy_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct pair *p = arg;
	int rc;

	(void)fired;
	if ((rc = pxy_fill(p)) <= 0 || (rc = pxy_reply(p)) <= 0)
		return;
	loop_fd_del(l, fd);
	explicit_bzero(p->px, sizeof(*p->px));
	free(p->px);
	p->px = NULL;
	pair_deadline(p, 0);
	pair_ready(p);
}

/* The proxy failed us: say which, and why. */
static void
pxy_fail(struct pair *p, const char *why)
{
	warnx("forward: %s: proxy %s port %s: %s", p->name,
	    p->f->o->proxy_host, p->f->o->proxy_port, why);
	pair_fail(p, NULL, 0);
}

/*
 * -u: watch the bound socket lfd for datagrams.  0, or -1 with errno
 * set.
 */
static int
udp_begin(struct fwd *f, int lfd)
{
	if ((f->buf = malloc(FWD_DGRAM_MAX)) == NULL)
		return -1;
	return loop_fd(f->loop, lfd, LOOP_READ, udp_ready, f);
}

/*
 * Datagrams from clients: each goes out on its client's own socket to
 * DEST, made for its first datagram when the access rules and
 * --max-conns let it in.
 */
static void
udp_ready(struct loop *l, int lfd, int fired, void *arg)
{
	struct fwd *f = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	struct usess *s;
	ssize_t n;
	int i;

	(void)l;
	(void)fired;
	for (i = 0; i < FWD_DGRAM_BURST; i++) {
		len = sizeof(ss);
		n = recvfrom(lfd, f->buf, FWD_DGRAM_MAX, MSG_DONTWAIT,
		    (struct sockaddr *)&ss, &len);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNREFUSED)
				warn("recv");
			return;
		}
		if ((s = udp_find(f, (struct sockaddr *)&ss, len)) == NULL &&
		    (s = udp_new(f, (struct sockaddr *)&ss, len)) == NULL)
			continue;
		if (send(s->fd, f->buf, n, MSG_NOSIGNAL) == -1) {
			if (f->o->verbose > 0)
				warn("forward: %s: send to %s", s->name,
				    f->dname);
			continue;
		}
		s->bytes[0] += n;
		np_deadline_set(&s->idle, udp_idle_ms(f->o));
	}
}

/* A session's silence limit: -w, or a minute. */
static int
udp_idle_ms(const struct np_opts *o)
{
	return o->wait_ms > 0 ? o->wait_ms : FWD_UDP_IDLE_MS;
}

/* The session of client sa, or NULL. */
static struct usess *
udp_find(struct fwd *f, const struct sockaddr *sa, socklen_t len)
{
	struct usess *s;

	for (s = f->sess; s != NULL; s = s->next)
		if (s->plen == len && memcmp(&s->peer, sa, len) == 0)
			return s;
	return NULL;
}

/*
 * A session for a new client, its socket connected to DEST.  Returns it,
 * or NULL when the client is refused, the table is full, or the socket
 * cannot be made (the datagram is then dropped, after a message).
 */
static struct usess *
udp_new(struct fwd *f, const struct sockaddr *sa, socklen_t len)
{
	const struct addrinfo *ai = f->dest;
	struct usess *s;

	if (!acl_dgram(f->o, f->al.acl, sa, len))
		return NULL;
	if (f->nsess >= f->o->max_conns) {
		if (f->o->verbose > 0)
			fprintf(stderr, "forward: %d sessions (--max-conns): "
			    "a datagram dropped\n", f->nsess);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		warn("forward");
		return NULL;
	}
	s->f = f;
	memcpy(&s->peer, sa, len);
	s->plen = len;
	acl_peer_name(-1, sa, len, s->name, sizeof(s->name));
	if ((s->fd = sock_socket(&f->out, ai)) == -1 ||
	    sock_client_setup(&f->out, s->fd, ai->ai_family) == -1 ||
	    connect(s->fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    loop_fd(f->loop, s->fd, LOOP_READ, udp_reply, s) == -1 ||
	    (s->timer = loop_timer(f->loop, udp_idle_ms(f->o), udp_idle,
	    s)) == -1) {
		warn("forward: %s: socket to %s", s->name, f->dname);
		if (s->fd != -1) {
			loop_fd_del(f->loop, s->fd);
			close(s->fd);
		}
		free(s);
		return NULL;
	}
	if ((s->next = f->sess) != NULL)
		s->next->prev = s;
	f->sess = s;
	f->nsess++;
	f->nconns++;
	if (f->o->verbose > 0)
		fprintf(stderr, "Forwarding %s to %s\n", s->name, f->dname);
	return s;
}

/* Close a session's socket and forget it. */
static void
udp_free(struct usess *s)
{
	struct fwd *f = s->f;

	loop_timer_del(f->loop, s->timer);
	loop_fd_del(f->loop, s->fd);
	close(s->fd);
	f->bytes[0] += s->bytes[0];
	f->bytes[1] += s->bytes[1];
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		f->sess = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	f->nsess--;
	free(s);
}

/*
 * DEST answered a session: back to its client, from the listening
 * socket, so that the reply comes from the address the client wrote to.
 * A port unreachable from DEST (ECONNREFUSED) loses that one datagram.
 */
static void
udp_reply(struct loop *l, int fd, int fired, void *arg)
{
	struct usess *s = arg;
	struct fwd *f = s->f;
	ssize_t n;
	int i;

	(void)l;
	(void)fired;
	for (i = 0; i < FWD_DGRAM_BURST; i++) {
		if ((n = recv(fd, f->buf, FWD_DGRAM_MAX, MSG_DONTWAIT)) == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    f->o->verbose > 0)
				warn("forward: %s: recv from %s", s->name,
				    f->dname);
			return;
		}
		if (sendto(f->al.lfd, f->buf, n, MSG_NOSIGNAL,
		    (struct sockaddr *)&s->peer, s->plen) == -1) {
			if (f->o->verbose > 0)
				warn("forward: %s: send", s->name);
			continue;
		}
		s->bytes[1] += n;
		np_deadline_set(&s->idle, udp_idle_ms(f->o));
	}
}

/* The idle timer: a session silent for -w seconds ends. */
static int
udp_idle(struct loop *l, long long id, void *arg)
{
	struct usess *s = arg;
	int left = np_deadline_ms(&s->idle);

	(void)l;
	(void)id;
	if (left > 0)
		return left;
	if (s->f->o->verbose > 0)
		fprintf(stderr, "Session of %s ended after %d ms of silence: "
		    "%llu bytes to %s, %llu bytes back\n", s->name,
		    udp_idle_ms(s->f->o), s->bytes[0], s->f->dname,
		    s->bytes[1]);
	s->timer = 0;
	udp_free(s);
	return LOOP_NOMORE;
}

/*
 * The two addresses of a PROXY header, in one family: IPv4 clients of an
 * IPv6 listener arrive as ::ffff:a.b.c.d and are told as IPv4.  Returns
 * AF_INET or AF_INET6 with the addresses in *s and *d, or AF_UNSPEC
 * (a Unix peer: the header says nothing of it).
 */
static int
proxy_family(const struct sockaddr *src, const struct sockaddr *dst,
    struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	const struct sockaddr *in[2] = { src, dst };
	struct sockaddr_storage *out[2] = { s, d };
	const struct sockaddr_in6 *v6;
	struct sockaddr_in *v4;
	int i, mapped = 0;

	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6))
		return AF_UNSPEC;
	for (i = 0; i < 2; i++) {
		memcpy(out[i], in[i], in[i]->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		v6 = (const struct sockaddr_in6 *)in[i];
		if (in[i]->sa_family == AF_INET6 &&
		    IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
			mapped++;
	}
	if (src->sa_family == AF_INET || mapped != 2)
		return src->sa_family;
	for (i = 0; i < 2; i++) {
		v6 = (const struct sockaddr_in6 *)in[i];
		v4 = (struct sockaddr_in *)out[i];
		memset(v4, 0, sizeof(*v4));
		v4->sin_family = AF_INET;
		v4->sin_port = v6->sin6_port;
		memcpy(&v4->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
	}
	return AF_INET;
}

/* Version 1: one line of text. */
static size_t
proxy_v1(int family, const struct sockaddr *src, const struct sockaddr *dst,
    char *buf, size_t len)
{
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	int sp, dp, n;

	if (family == AF_UNSPEC)
		n = snprintf(buf, len, "PROXY UNKNOWN\r\n");
	else {
		sp = ntohs(family == AF_INET ?
		    ((const struct sockaddr_in *)src)->sin_port :
		    ((const struct sockaddr_in6 *)src)->sin6_port);
		dp = ntohs(family == AF_INET ?
		    ((const struct sockaddr_in *)dst)->sin_port :
		    ((const struct sockaddr_in6 *)dst)->sin6_port);
		inet_ntop(family, family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)src)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)src)->sin6_addr,
		    sa, sizeof(sa));
		inet_ntop(family, family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)dst)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)dst)->sin6_addr,
		    da, sizeof(da));
		n = snprintf(buf, len, "PROXY %s %s %s %d %d\r\n",
		    family == AF_INET ? "TCP4" : "TCP6", sa, da, sp, dp);
	}
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/*
 * Version 2: the binary form; buf has room for FWD_PROXY_MAX bytes.  A
 * Unix peer is sent as LOCAL with no address.
 */
static size_t
proxy_v2(int family, const struct sockaddr *src, const struct sockaddr *dst,
    unsigned char *buf)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
	    0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;
	const struct sockaddr_in6 *s6 = (const void *)src,
	    *d6 = (const void *)dst;
	size_t alen = family == AF_INET ? 12 : family == AF_INET6 ? 36 : 0;
	unsigned char *a = buf + 16;

	memcpy(buf, sig, sizeof(sig));
	buf[12] = family == AF_UNSPEC ? 0x20 : 0x21;	/* LOCAL, PROXY */
	buf[13] = family == AF_INET ? 0x11 : family == AF_INET6 ? 0x21 : 0x00;
	buf[14] = 0;
	buf[15] = alen;
	if (family == AF_INET) {
		memcpy(a, &s4->sin_addr, 4);
		memcpy(a + 4, &d4->sin_addr, 4);
		memcpy(a + 8, &s4->sin_port, 2);
		memcpy(a + 10, &d4->sin_port, 2);
	} else if (family == AF_INET6) {
		memcpy(a, &s6->sin6_addr, 16);
		memcpy(a + 16, &d6->sin6_addr, 16);
		memcpy(a + 32, &s6->sin6_port, 2);
		memcpy(a + 34, &d6->sin6_port, 2);
	}
	return 16 + alen;
}

/*
 * The PROXY protocol header (version 1 or 2) for a connection from src
 * to dst, the peer's and our addresses, into buf.  Returns its length,
 * or -1 when len is smaller than FWD_PROXY_MAX or version is neither.
 * Pure: no I/O, nothing kept.
 */
ssize_t
fwd_proxy_header(int version, const struct sockaddr *src,
    const struct sockaddr *dst, unsigned char *buf, size_t len)
{
	struct sockaddr_storage s, d;
	int family;

	if (len < FWD_PROXY_MAX || (version != 1 && version != 2))
		return -1;
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	family = proxy_family(src, dst, &s, &d);
	if (version == 1)
		return proxy_v1(family, (struct sockaddr *)&s,
		    (struct sockaddr *)&d, (char *)buf, len);
	return proxy_v2(family, (struct sockaddr *)&s, (struct sockaddr *)&d,
	    buf);
}

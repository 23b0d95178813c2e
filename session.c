/*
 * session.c: the mode handlers main() dispatches to.  Each sets up its
 * sockets through sock.c, hands the bytes to the pump, and returns an
 * exit code; each removes the Unix socket file it created.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * -z probes in flight at once by default: enough for a loopback range to
 * finish at once, few enough not to look like a flood to a remote host.
 */
#define SCAN_PARALLEL	16

/* What a listener's loop waits for: a peer, or why there is none. */
struct listen_ctx {
	const struct np_opts	*o;
	const struct acl	*acl;
	struct loop		*loop;
	struct acl_listener	 al;
	int			 lfd;
	int			 fd;	/* the stream peer let in, or -1 */
	int			 state;	/* 0 waiting, 1 a peer, -1 none */
};

static int	 signal_or(int);
static void	 unlink_bound(const struct np_opts *);
static int	 listen_stream(const struct np_opts *, const struct acl *,
		    struct pump *, int, struct tls *, struct pp_secret *);
static int	 listen_socket(const struct np_opts *, int *);
static int	 listen_inherit(const struct np_opts *, int);
static int	 listen_flags(const struct np_opts *, int);
static int	 listen_begin(struct listen_ctx *, const struct np_opts *,
		    const struct acl *, int);
static int	 listen_run(struct listen_ctx *, int);
static int	 listen_timeout(struct loop *, long long, void *);
static int	 listen_peer(struct acl_listener *, int, const char *);
static void	 listen_fail(struct acl_listener *);
static int	 listen_accept(struct listen_ctx *, int);
static void	 listen_dgram_ready(struct loop *, int, int, void *);
static int	 listen_dgram_wait(const struct np_opts *, const struct acl *,
		    int);
static int	 listen_dgram(const struct np_opts *, const struct acl *,
		    struct pump *, int);
static int	 session_pump(const struct np_opts *, struct pump *,
		    struct tls *, int, int, struct pp_secret *);
static int	 session_pp(const struct np_opts *, struct pump *, int,
		    struct pp_secret *, struct pp **);

/* When a signal cut a wait short, its exit code wins over rc. */
static int
signal_or(int rc)
{
	return np_signal ? NP_EXIT_SIGNAL + np_signal : rc;
}

/* The Unix socket file we bound, if it is still ours (sock.c). */
static void
unlink_bound(const struct np_opts *o)
{
	if (o->unix_sock)
		sock_unbind();
}

/*
 * --passphrase: the handshake on fd, then route the pump through the
 * records.  Returns 0 with *pp set, or -1 after a message.
 */
static int
session_pp(const struct np_opts *o, struct pump *p, int fd,
    struct pp_secret *sec, struct pp **pp)
{
	*pp = NULL;
	if (!o->passphrase)
		return 0;
	if ((*pp = pp_new(sec, fd, o->mode == MODE_LISTEN, o->verbose)) ==
	    NULL || pp_handshake(o, *pp) == -1) {
		pp_free(*pp);
		*pp = NULL;
		return -1;
	}
	pump_set_pp(p, *pp);
	return 0;
}

/*
 * Run the pump over fd, through TLS when --tls asks: as a client, or as
 * the server whose context a listener passes in; or through --passphrase
 * records keyed from sec.  Returns an exit code.
 */
static int
session_pump(const struct np_opts *o, struct pump *p, struct tls *server,
    int fd, int flags, struct pp_secret *sec)
{
	struct tls *ctx = NULL;
	struct pp *pp;
	int rc;

	if (session_pp(o, p, fd, sec, &pp) == -1)
		return signal_or(NP_EXIT_FAIL);
	if (o->tls) {
		ctx = server != NULL ? ntls_accept(o, server, fd) :
		    ntls_client(o, fd);
		if (ctx == NULL)
			return signal_or(NP_EXIT_FAIL);
		pump_set_tls(p, ctx);
	}
	pty_raw_begin(o);
	rc = pump_run(p, fd, flags);
	pty_raw_end();
	if (ctx != NULL) {
		/* Best effort: tell the peer this was the end, not a cut. */
		ntls_close_notify(ctx, fd);
		ntls_free(ctx);
	}
	/* Only a good end is told as one; anything else reads as a cut. */
	if (pp != NULL && rc == NP_EXIT_OK)
		pp_close(pp);
	pp_free(pp);
	/* What we sent must not die in a reset at the caller's close. */
	if (rc == NP_EXIT_OK && !(flags & PUMP_DGRAM) && pump_sent(p))
		sock_linger(fd, o->wait_ms > 0 ? o->wait_ms : NP_LINGER_MS);
	return rc;
}

/*
 * netpipe [options] destination port: one connection, one pump.  The
 * pump opens --send-file, --output and --hex-dump before the connect,
 * so that a mistyped name costs no connection: a receiver must not take
 * a peer that sends nothing for a complete transfer.
 */
int
session_connect(const struct np_opts *o)
{
	/* The -uU client's -s path: options.c checked it fits sun_path. */
	char bound[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct pp_secret sec;
	struct pump *p = NULL;
	int fd, rc, used = 0;

	bound[0] = '\0';
	if (o->resume)
		return signal_or(resume_send(o));
	if (o->passphrase && pp_secret_load(o, &sec) == -1)
		return signal_or(NP_EXIT_FAIL);
	if (!o->fdpass && o->exec_cmd == NULL && (p = pump_new(o)) == NULL)
		return NP_EXIT_FAIL;
	fd = dial_connect(o, bound, sizeof(bound), &used);
	if (fd == -1) {
		rc = NP_EXIT_FAIL;
	} else if (o->fdpass) {
		/* -F: the parent (ssh) does the talking on this socket. */
		rc = proxy_fdpass(fd) == 0 ? NP_EXIT_OK : NP_EXIT_FAIL;
	} else if (o->exec_cmd != NULL) {
		/* -e: the child does the talking on this socket. */
		rc = exec_run(o, fd);
	} else {
		rc = session_pump(o, p, NULL, fd,
		    o->seqpacket ? PUMP_DGRAM | PUMP_SEQPACKET :
		    o->udp ? PUMP_DGRAM : 0, &sec);
	}
	pump_free(p);
	if (fd != -1)
		close(fd);
	if (bound[0] != '\0')
		sock_unbind();
	explicit_bzero(&sec, sizeof(sec));
	return signal_or(rc);
}

/*
 * Accept peers one after another (only the first without -k).  A peer
 * that fails costs its connection, not the listener; PP_MAX_FAILURES
 * wrong passphrases cost the listener, so that guessing stays hopeless.
 */
static int
listen_stream(const struct np_opts *o, const struct acl *acl,
    struct pump *p, int lfd, struct tls *server, struct pp_secret *sec)
{
	struct listen_ctx c;
	int fd, rc = NP_EXIT_OK, first = 1, flags = listen_flags(o, lfd);

	if (listen_begin(&c, o, acl, lfd) == -1 ||
	    acl_listen(&c.al) == -1) {
		warn("poll");
		loop_free(c.loop);
		return NP_EXIT_FAIL;
	}
	do {
		if ((fd = listen_accept(&c, first)) == -1) {
			rc = NP_EXIT_FAIL;
			break;
		}
		first = 0;
		rc = session_pump(o, p, server, fd, flags, sec);
		close(fd);
		if (o->passphrase && sec->failures >= PP_MAX_FAILURES) {
			warnx("passphrase: %d wrong passphrases: giving up",
			    sec->failures);
			rc = NP_EXIT_FAIL;
			break;
		}
		if (o->verbose > 0 && o->keep_open && !np_signal)
			fputs("Connection closed\n", stderr);
	} while (o->keep_open && !np_signal);
	acl_listen_end(&c.al);
	loop_free(c.loop);
	return signal_or(rc);
}

/*
 * The pump's flags for the peers of stream listener lfd.  A SOCK_SEQPACKET
 * peer's messages keep their bounds.  The pump reads urgent data inline;
 * a TCP socket accept(2) makes takes SO_OOBINLINE from its listener, so
 * setting it here once saves a setsockopt(2) per peer.  (A Unix peer's
 * socket is made new, and an inherited listener is not ours to change:
 * the pump sets it on each of their peers.)
 */
static int
listen_flags(const struct np_opts *o, int lfd)
{
	int one = 1;

	if (o->seqpacket)
		return PUMP_DGRAM | PUMP_SEQPACKET;
	if (o->unix_sock || o->inherit_fd >= 0 || o->systemd_fd ||
	    setsockopt(lfd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)) == -1)
		return 0;
	return PUMP_URGINLINE;
}

/*
 * A loop for listener lfd, to wait for peers on.  Returns 0, or -1 with
 * errno set; the caller frees c->loop.
 */
static int
listen_begin(struct listen_ctx *c, const struct np_opts *o,
    const struct acl *acl, int lfd)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->acl = acl;
	c->lfd = lfd;
	c->fd = -1;
	if ((c->loop = loop_new()) == NULL)
		return -1;
	c->al = (struct acl_listener){ .loop = c->loop, .o = o, .acl = acl,
	    .lfd = lfd, .peer = listen_peer, .fail = listen_fail, .data = c };
	return 0;
}

/*
 * Run c's loop until a peer comes, or (timed) --accept-timeout passes.
 * Returns 0, or -1 on a signal or after a message.
 */
static int
listen_run(struct listen_ctx *c, int timed)
{
	long long t = 0;

	c->state = 0;
	if (timed && c->o->accept_timeout_ms > 0 &&
	    (t = loop_timer(c->loop, c->o->accept_timeout_ms,
	    listen_timeout, c)) == -1) {
		warn("accept");
		return -1;
	}
	if (loop_run(c->loop) == -1)
		warn("poll");
	loop_timer_del(c->loop, t);
	return c->state == 1 ? 0 : -1;
}

/* Nobody came within --accept-timeout. */
static int
listen_timeout(struct loop *l, long long id, void *arg)
{
	struct listen_ctx *c = arg;

	(void)id;
	acl_timeout(c->o);
	c->state = -1;
	loop_stop(l);
	return LOOP_NOMORE;
}

/* A stream peer was let in: take it, and accept no more for now. */
static int
listen_peer(struct acl_listener *al, int fd, const char *name)
{
	struct listen_ctx *c = al->data;

	(void)name;
	c->fd = fd;
	c->state = 1;
	loop_stop(al->loop);
	return 0;
}

/* accept(2) failed, after its message. */
static void
listen_fail(struct acl_listener *al)
{
	struct listen_ctx *c = al->data;

	c->state = -1;
	loop_stop(al->loop);
}

/*
 * Wait for the next peer the access rules let in; only the first wait is
 * bounded, by --accept-timeout.  Returns its socket, or -1 after a
 * message or on a signal.
 */
static int
listen_accept(struct listen_ctx *c, int first)
{
	c->fd = -1;
	c->state = 0;
	acl_listen_resume(&c->al);
	/* After a peer, the next may be queued already: no poll for it. */
	if (!first) {
		acl_listen_now(&c->al);
		if (c->state != 0)
			return c->state == 1 ? c->fd : -1;
	}
	if (listen_run(c, first) == -1)
		return -1;
	return c->fd;
}

/*
 * A datagram is waiting: peek at its sender, and drop it unless the
 * access rules let the sender in.  The one let in stays queued.
 */
static void
listen_dgram_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct listen_ctx *c = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ch;

	(void)fired;
	if (recvfrom(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT,
	    (struct sockaddr *)&ss, &len) == -1)
		return;
	if (acl_dgram(c->o, c->acl, (struct sockaddr *)&ss, len)) {
		c->state = 1;
		loop_stop(l);
		return;
	}
	recv(fd, &ch, 1, MSG_DONTWAIT);
}

/*
 * A datagram listener's first peer: wait (up to --accept-timeout) for a
 * datagram from a sender the access rules let in, throwing away the
 * others'.  The datagram stays queued.  Returns 0, or -1.
 */
static int
listen_dgram_wait(const struct np_opts *o, const struct acl *acl, int lfd)
{
	struct listen_ctx c;
	int rc = -1;

	if (listen_begin(&c, o, acl, lfd) == -1 ||
	    loop_fd(c.loop, lfd, LOOP_READ, listen_dgram_ready, &c) == -1)
		warn("poll");
	else
		rc = listen_run(&c, 1);
	loop_free(c.loop);
	return rc;
}

/*
 * A datagram listener: the pump, or (p NULL) -e, on the first peer.
 * Without -k the socket is connected to that peer; with -k it stays
 * open to all, so the pump judges every datagram by the rules.
 */
static int
listen_dgram(const struct np_opts *o, const struct acl *acl, struct pump *p,
    int lfd)
{
	if ((o->accept_timeout_ms > 0 || !acl_empty(acl)) &&
	    listen_dgram_wait(o, acl, lfd) == -1)
		return signal_or(NP_EXIT_FAIL);
	if (sock_dgram_peer(o, lfd) == -1)
		return signal_or(NP_EXIT_FAIL);
	if (p == NULL)
		return exec_run(o, lfd);
	pump_set_acl(p, acl);
	return pump_run(p, lfd, PUMP_DGRAM |
	    (o->keep_open ? PUMP_UNCONNECTED : 0));
}

/*
 * An inherited socket (inetd passes it as stdin, systemd as fd 3): check
 * that it is the kind the options ask for, move it off the standard
 * descriptors, and announce it as sock_listen() would.  Returns the new
 * descriptor, or -1 after a message.
 */
static int
listen_inherit(const struct np_opts *o, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	char name[NP_PEER_NAMELEN];
	int type, want, acc = 0, nfd;

	want = o->udp ? SOCK_DGRAM : o->seqpacket ? SOCK_SEQPACKET :
	    SOCK_STREAM;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		warn("inherited descriptor %d", fd);
		return -1;
	}
	len = sizeof(acc);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
	if (type != want || (want != SOCK_DGRAM && !acc)) {
		warnx("inherited descriptor %d: not a %s socket", fd,
		    o->udp ? "datagram" : "listening stream");
		return -1;
	}
	if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1) {
		warn("fcntl");
		return -1;
	}
	/* stdin from inetd: read /dev/null in its place from now on. */
	if (fd > 2 || (type = open("/dev/null", O_RDWR)) == -1)
		close(fd);
	else if (type != fd) {
		dup2(type, fd);
		close(type);
	}
	fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
	sock_dgram_buffer(o, nfd);
	len = sizeof(ss);
	if (o->verbose > 0 &&
	    getsockname(nfd, (struct sockaddr *)&ss, &len) == 0) {
		acl_peer_name(nfd, (struct sockaddr *)&ss, len, name,
		    sizeof(name));
		fprintf(stderr, "%s on %s\n", o->udp ? "Bound" : "Listening",
		    name);
	}
	return nfd;
}

/*
 * The socket to serve: --inherit-fd N, fd 3 when systemd's LISTEN_PID is
 * ours, or a new one from sock_listen().  *inherited says which.
 * Returns it, or -1 after a message.
 */
static int
listen_socket(const struct np_opts *o, int *inherited)
{
	int fd = o->inherit_fd;

	if (o->systemd_fd) {
		fd = 3;		/* SD_LISTEN_FDS_START */
		/* Meant for us alone, not for the children of -e. */
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	*inherited = fd != -1;
	if (fd != -1)
		return listen_inherit(o, fd);
	return sock_listen(o);
}

/*
 * netpipe -l: a stream listener, or a datagram socket bound to listen;
 * many peers at once go to the broker, -e to exec.c.  Every file the
 * command line names is open before the socket is: no peer is taken
 * in by a listener that cannot keep what it sends.
 */
int
session_listen(const struct np_opts *o)
{
	struct pp_secret sec;
	struct tls *server = NULL;
	struct pump *p = NULL;
	struct acl *acl;
	int lfd, rc, inherited, brokered;

	if ((o->passphrase || o->fwd_passphrase) &&
	    pp_secret_load(o, &sec) == -1)
		return signal_or(NP_EXIT_FAIL);
	if ((acl = acl_new(o)) == NULL)
		return NP_EXIT_FAIL;
	brokered = o->forward == NULL && (o->broker ||
	    (o->max_conns > 1 && o->exec_cmd == NULL));
	if (!brokered && o->exec_cmd == NULL && !o->resume &&
	    o->forward == NULL && (p = pump_new(o)) == NULL) {
		acl_free(acl);
		return NP_EXIT_FAIL;
	}
	if ((o->tls && (server = ntls_server(o)) == NULL) ||
	    (lfd = listen_socket(o, &inherited)) == -1) {
		pump_free(p);
		ntls_free(server);
		acl_free(acl);
		return signal_or(NP_EXIT_FAIL);
	}
	if (o->forward != NULL)
		rc = fwd_run(o, acl, lfd, server, &sec);
	else if (o->resume)
		rc = resume_recv(o, acl, lfd, server,
		    o->passphrase ? &sec : NULL);
	else if (brokered)
		rc = broker_run(o, acl, lfd, server, &sec);
	else if (o->exec_cmd != NULL && !o->udp)
		rc = exec_listen(o, acl, lfd);
	else if (o->udp)
		rc = listen_dgram(o, acl, p, lfd);
	else
		rc = listen_stream(o, acl, p, lfd, server, &sec);
	pump_free(p);
	ntls_free(server);
	acl_free(acl);
	close(lfd);
	if (!inherited)
		unlink_bound(o);
	explicit_bzero(&sec, sizeof(sec));
	return signal_or(rc);
}

/*
 * netpipe -z: probe the ports --scan-parallel at a time, reporting them
 * in order; with -i, one at a time with the pause between.  Exit 0 when
 * any port accepted.
 */
int
session_scan(const struct np_opts *o)
{
	size_t i;
	int n, any = 0;

	if (o->interval_ms == 0) {
		n = scan_run(o, 0, o->nports, o->scan_parallel > 0 ?
		    o->scan_parallel : SCAN_PARALLEL);
		if (n == -1)
			return signal_or(NP_EXIT_FAIL);
		return n > 0 ? NP_EXIT_OK : NP_EXIT_FAIL;
	}
	for (i = 0; i < o->nports; i++) {
		if (i > 0 && scan_pause(o->interval_ms) == -1)
			return signal_or(NP_EXIT_FAIL);
		if (np_signal || (n = scan_run(o, i, 1, 1)) == -1)
			return signal_or(NP_EXIT_FAIL);
		any |= n > 0;
	}
	return any ? NP_EXIT_OK : NP_EXIT_FAIL;
}

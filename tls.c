/*
 * tls.c: a thin wrapper over libtls.  Handshakes run here, bounded by -w;
 * afterwards the pump reads and writes through ntls_io(), which reports
 * what the connection waits for instead of blocking, so TLS shares the
 * one poll loop with plain sockets.  The broker, which must not block
 * for any one peer, steps its handshakes from its own poll loop
 * (ntls_accept_start(), ntls_accept_step()).
 */

#include <sys/types.h>

#include <err.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <tls.h>

#include "netpipe.h"

/*
 * libtls (and with it OpenSSL) is opened only when --tls asks for it:
 * linking it costs every start about 2 ms and 2 MiB, which a netcat in
 * a shell loop pays thousands of times.
 */
#define NTLS_FUNCS(X) \
	X(int, tls_accept_socket, (struct tls *, struct tls **, int)) \
	X(struct tls *, tls_client, (void)) \
	X(int, tls_close, (struct tls *)) \
	X(const char *, tls_config_error, (struct tls_config *)) \
	X(void, tls_config_free, (struct tls_config *)) \
	X(void, tls_config_insecure_noverifycert, (struct tls_config *)) \
	X(void, tls_config_insecure_noverifyname, (struct tls_config *)) \
	X(struct tls_config *, tls_config_new, (void)) \
	X(int, tls_config_set_alpn, (struct tls_config *, const char *)) \
	X(int, tls_config_set_ca_file, (struct tls_config *, const char *)) \
	X(int, tls_config_set_cert_file, (struct tls_config *, const char *)) \
	X(int, tls_config_set_key_file, (struct tls_config *, const char *)) \
	X(int, tls_config_set_protocols, (struct tls_config *, uint32_t)) \
	X(void, tls_config_verify_client, (struct tls_config *)) \
	X(int, tls_configure, (struct tls *, struct tls_config *)) \
	X(const char *, tls_conn_alpn_selected, (struct tls *)) \
	X(const char *, tls_conn_cipher, (struct tls *)) \
	X(const char *, tls_conn_version, (struct tls *)) \
	X(int, tls_connect_socket, (struct tls *, int, const char *)) \
	X(const char *, tls_error, (struct tls *)) \
	X(void, tls_free, (struct tls *)) \
	X(int, tls_handshake, (struct tls *)) \
	X(int, tls_init, (void)) \
	X(const char *, tls_peer_cert_hash, (struct tls *)) \
	X(const char *, tls_peer_cert_subject, (struct tls *)) \
	X(ssize_t, tls_read, (struct tls *, void *, size_t)) \
	X(struct tls *, tls_server, (void)) \
	X(ssize_t, tls_write, (struct tls *, const void *, size_t))

#define NTLS_POINTER(ret, name, args)	ret (*name) args;
static struct {
	NTLS_FUNCS(NTLS_POINTER)
} lib;

#ifndef NP_TLS_SONAME
#define NP_TLS_SONAME	"libtls.so"
#endif

static int	 ntls_load(void);
static struct tls_config *ntls_config(const struct np_opts *, int);
static int	 ntls_wants(ssize_t, short *);
static int	 ntls_config_files(const struct np_opts *,
	    struct tls_config *);
static struct tls *ntls_context(struct tls_config *, int);
static const char *ntls_errstr(struct tls *);
static void	 ntls_warn(struct tls *, const char *, const char *);
static int	 ntls_step(struct tls *, const char *, short *);
static int	 ntls_handshake(const struct np_opts *, struct tls *, int);
static int	 ntls_check_pin(const struct np_opts *, struct tls *);
static void	 ntls_report(const struct np_opts *, struct tls *);

/* Open libtls and find every function this file calls; -1 if not. */
static int
ntls_load(void)
{
	void *h;

	if (lib.tls_init != NULL)
		return 0;
	if ((h = dlopen(NP_TLS_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		warnx("tls: %s", dlerror());
		return -1;
	}
#define NTLS_LOAD(ret, name, args)					\
	if ((*(void **)&lib.name = dlsym(h, #name)) == NULL) {		\
		warnx("tls: %s", dlerror());				\
		lib.tls_init = NULL;					\
		return -1;						\
	}
	NTLS_FUNCS(NTLS_LOAD)
#undef NTLS_LOAD
	return 0;
}

/*
 * Build the configuration: verification on unless --tls-noverify or a
 * --tls-pin (the pin is then the whole trust decision).  NULL after a
 * message on a setup error, before any peer is involved.
 */
static struct tls_config *
ntls_config(const struct np_opts *o, int server)
{
	struct tls_config *cfg;

	if (ntls_load() == -1)
		return NULL;
	if (lib.tls_init() == -1 || (cfg = lib.tls_config_new()) == NULL) {
		warnx("tls: cannot initialise libtls");
		return NULL;
	}
	if (ntls_config_files(o, cfg) == -1) {
		lib.tls_config_free(cfg);
		return NULL;
	}
	if (server && o->tls_ca != NULL)
		lib.tls_config_verify_client(cfg);
	if (!server && (o->tls_noverify || o->tls_pin != NULL)) {
		lib.tls_config_insecure_noverifycert(cfg);
		lib.tls_config_insecure_noverifyname(cfg);
	}
	if (!server && o->tls_noverify)
		warnx("warning: --tls-noverify: the server's certificate "
		    "is not checked");
	return cfg;
}

/* The protocols and the files the command line names; -1 after a message. */
static int
ntls_config_files(const struct np_opts *o, struct tls_config *cfg)
{
	const char *what = "tls";

	if (lib.tls_config_set_protocols(cfg, TLS_PROTOCOLS_DEFAULT) == -1)
		goto bad;
	what = "--tls-ca";
	if (o->tls_ca != NULL &&
	    lib.tls_config_set_ca_file(cfg, o->tls_ca) == -1)
		goto bad;
	what = "--tls-cert";
	if (o->tls_cert != NULL &&
	    lib.tls_config_set_cert_file(cfg, o->tls_cert) == -1)
		goto bad;
	what = "--tls-key";
	if (o->tls_key != NULL &&
	    lib.tls_config_set_key_file(cfg, o->tls_key) == -1)
		goto bad;
	what = "--tls-alpn";
	if (o->tls_alpn != NULL &&
	    lib.tls_config_set_alpn(cfg, o->tls_alpn) == -1)
		goto bad;
	return 0;
bad:
	warnx("%s: %s", what, lib.tls_config_error(cfg));
	return -1;
}

/*
 * A context for cfg (client or server), configured; cfg is freed.  NULL
 * after a message.
 */
static struct tls *
ntls_context(struct tls_config *cfg, int server)
{
	struct tls *ctx;

	if (cfg == NULL)
		return NULL;
	if ((ctx = server ? lib.tls_server() : lib.tls_client()) == NULL)
		warnx("tls: out of memory");
	else if (lib.tls_configure(ctx, cfg) == -1) {
		warnx("tls: %s", lib.tls_error(ctx));
		lib.tls_free(ctx);
		ctx = NULL;
	}
	lib.tls_config_free(cfg);
	return ctx;
}

/* Whether rc, from libtls, asks to wait; *events then says for what. */
static int
ntls_wants(ssize_t rc, short *events)
{
	if (rc != TLS_WANT_POLLIN && rc != TLS_WANT_POLLOUT)
		return 0;
	*events = rc == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
	return 1;
}

/* What libtls says went wrong; never NULL. */
static const char *
ntls_errstr(struct tls *ctx)
{
	const char *e = lib.tls_error(ctx);

	return e != NULL ? e : "failed";
}

/*
 * "tls: what: name: why", where what and name may each be NULL: one
 * peer of many is named, and the only peer needs no name.
 */
static void
ntls_warn(struct tls *ctx, const char *what, const char *name)
{
	warnx("tls: %s%s%s%s%s", what != NULL ? what : "",
	    what != NULL ? ": " : "", name != NULL ? name : "",
	    name != NULL ? ": " : "", ntls_errstr(ctx));
}

/*
 * One call to tls_handshake: 0 when it is done, NTLS_WANT with *events
 * set to what poll must wait for, or -1 after a message that names the
 * peer when name is not NULL.
 */
static int
ntls_step(struct tls *ctx, const char *name, short *events)
{
	int rc;

	rc = lib.tls_handshake(ctx);
	if (rc == 0)
		return 0;
	if (ntls_wants(rc, events))
		return NTLS_WANT;
	ntls_warn(ctx, "handshake", name);
	return -1;
}

/*
 * Drive the handshake to its end, waiting at most -w seconds, or
 * NTLS_HANDSHAKE_MS without -w: a peer that says nothing must not hold
 * a listener for ever.
 */
static int
ntls_handshake(const struct np_opts *o, struct tls *ctx, int fd)
{
	struct timespec deadline;
	short events;
	int rc, n;

	np_deadline_set(&deadline, o->wait_ms > 0 ? o->wait_ms :
	    NTLS_HANDSHAKE_MS);
	while ((rc = ntls_step(ctx, NULL, &events)) == NTLS_WANT) {
		n = sock_wait(fd, events, np_deadline_ms(&deadline));
		if (n == 0)
			warnx("tls: handshake: %s", strerror(ETIMEDOUT));
		if (n <= 0)
			return -1;
	}
	return rc;
}

static int
ntls_check_pin(const struct np_opts *o, struct tls *ctx)
{
	const char *hash = lib.tls_peer_cert_hash(ctx);
	const char *pin = o->tls_pin;

	if (pin == NULL)
		return 0;
	/* Accept "sha256:hex" and libtls's own "SHA256:hex" alike. */
	if (hash != NULL && strcasecmp(hash, pin) == 0)
		return 0;
	warnx("tls: peer certificate %s does not match --tls-pin %s",
	    hash != NULL ? hash : "(none)", pin);
	return -1;
}

static void
ntls_report(const struct np_opts *o, struct tls *ctx)
{
	const char *subject = lib.tls_peer_cert_subject(ctx);
	const char *hash = lib.tls_peer_cert_hash(ctx);

	if (o->verbose == 0)
		return;
	fprintf(stderr, "TLS %s %s\n", lib.tls_conn_version(ctx),
	    lib.tls_conn_cipher(ctx));
	if (subject != NULL)
		fprintf(stderr, "TLS peer %s %s\n", subject,
		    hash != NULL ? hash : "");
	/* A peer that knows none of --tls-alpn's protocols picks none. */
	if (o->tls_alpn != NULL)
		fprintf(stderr, "TLS ALPN %s\n",
		    lib.tls_conn_alpn_selected(ctx) != NULL ?
		    lib.tls_conn_alpn_selected(ctx) : "none");
}

/*
 * TLS client over the connected socket fd: handshake, verification and
 * pin check.  Returns the context the caller frees with ntls_free(), or
 * NULL after a message.
 */
struct tls *
ntls_client(const struct np_opts *o, int fd)
{
	struct tls *ctx;
	const char *name = o->tls_name != NULL ? o->tls_name : o->host;

	if ((ctx = ntls_context(ntls_config(o, 0), 0)) == NULL)
		return NULL;
	if (lib.tls_connect_socket(ctx, fd, name) == -1) {
		ntls_warn(ctx, NULL, NULL);
		lib.tls_free(ctx);
		return NULL;
	}
	if (ntls_handshake(o, ctx, fd) == -1 || ntls_check_pin(o, ctx) == -1) {
		lib.tls_free(ctx);
		return NULL;
	}
	ntls_report(o, ctx);
	return ctx;
}

/* The server context a TLS listener accepts with; NULL after a message. */
struct tls *
ntls_server(const struct np_opts *o)
{
	return ntls_context(ntls_config(o, 1), 1);
}

/*
 * Take one accepted peer through the handshake, blocking for at most -w.
 * Returns its context, or NULL after a message; the listener goes on
 * either way.
 */
struct tls *
ntls_accept(const struct np_opts *o, struct tls *server, int fd)
{
	struct tls *ctx;

	if ((ctx = ntls_accept_start(server, fd, NULL)) == NULL)
		return NULL;
	if (ntls_handshake(o, ctx, fd) == -1) {
		lib.tls_free(ctx);
		return NULL;
	}
	ntls_report(o, ctx);
	return ctx;
}

/*
 * Begin TLS with one accepted peer, the non-blocking socket fd, without
 * any I/O yet: the handshake is for ntls_accept_step().  Returns the
 * peer's context, which the caller frees with ntls_free(), or NULL
 * after a message naming the peer (when name is not NULL).
 */
struct tls *
ntls_accept_start(struct tls *server, int fd, const char *name)
{
	struct tls *ctx;

	if (lib.tls_accept_socket(server, &ctx, fd) == -1) {
		ntls_warn(server, NULL, name);
		return NULL;
	}
	return ctx;
}

/*
 * Take the handshake one step, never blocking: 0 once it is done (-v
 * then reports the peer), NTLS_WANT with *events set to what poll must
 * wait for before the next step, or -1 after a message naming the peer.
 */
int
ntls_accept_step(const struct np_opts *o, struct tls *ctx, const char *name,
    short *events)
{
	int rc;

	if ((rc = ntls_step(ctx, name, events)) == 0)
		ntls_report(o, ctx);
	return rc;
}

/*
 * The client configuration a forwarder dials its destination with: o's
 * --tls-ca, --tls-pin and --tls-noverify (the forwarder fills them from
 * its --forward-tls options).  Built once; exits on a setup error.
 */
struct tls_config *
ntls_client_config(const struct np_opts *o)
{
	return ntls_config(o, 0);
}

void
ntls_config_free(struct tls_config *cfg)
{
	if (cfg != NULL)
		lib.tls_config_free(cfg);
}

/*
 * Begin TLS as a client of servername over the connected non-blocking
 * socket fd, without any I/O yet: the handshake is for
 * ntls_connect_step().  Returns the context, which the caller frees with
 * ntls_free(), or NULL after a message naming the peer.
 */
struct tls *
ntls_connect_start(struct tls_config *cfg, int fd, const char *servername,
    const char *name)
{
	struct tls *ctx;

	if ((ctx = lib.tls_client()) == NULL) {
		warnx("tls: %s: out of memory", name);
		return NULL;
	}
	if (lib.tls_configure(ctx, cfg) == -1 ||
	    lib.tls_connect_socket(ctx, fd, servername) == -1) {
		ntls_warn(ctx, NULL, name);
		lib.tls_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * ntls_accept_step() for a client: once the handshake is done, the
 * certificate must also match --tls-pin when o has one.
 */
int
ntls_connect_step(const struct np_opts *o, struct tls *ctx, const char *name,
    short *events)
{
	int rc;

	if ((rc = ntls_step(ctx, name, events)) != 0)
		return rc;
	if (ntls_check_pin(o, ctx) == -1)
		return -1;
	ntls_report(o, ctx);
	return 0;
}

/*
 * Read or write through TLS.  Returns the byte count, 0 for a clean end
 * (close_notify), -1 after a message, or NTLS_WANT with *events set to
 * what poll must wait for.  A peer that closes without close_notify is
 * an error (OpenSSL 3 reports "unexpected eof"): the stream may have
 * been cut.
 */
ssize_t
ntls_io(struct tls *ctx, int writing, void *buf, size_t len, short *events)
{
	return ntls_peer_io(ctx, writing, buf, len, events, NULL);
}

/*
 * ntls_io() for one peer of many: its messages name the peer.  A write
 * that returned NTLS_WANT must be repeated with the same bytes, at
 * least as many; they may have moved (libtls sets OpenSSL's
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
ssize_t
ntls_peer_io(struct tls *ctx, int writing, void *buf, size_t len,
    short *events, const char *name)
{
	ssize_t n;

	n = writing ? lib.tls_write(ctx, buf, len) :
	    lib.tls_read(ctx, buf, len);
	if (ntls_wants(n, events))
		return NTLS_WANT;
	*events = writing ? POLLOUT : POLLIN;
	if (n == -1 && !writing &&
	    strstr(ntls_errstr(ctx), "unexpected eof") != NULL)
		/* OpenSSL's words tell a user nothing he can act on. */
		warnx("tls: read: %s%speer closed the connection without "
		    "close_notify: the data may be truncated (unexpected eof)",
		    name != NULL ? name : "", name != NULL ? ": " : "");
	else if (n == -1)
		ntls_warn(ctx, writing ? "write" : "read", name);
	return n;
}

/*
 * ntls_io() that says nothing: a transfer among many reports a failure
 * only with -v.  Returns as ntls_io(); after -1, *why says what libtls
 * saw (the string lives until the next call on ctx).
 */
ssize_t
ntls_quiet_io(struct tls *ctx, int writing, void *buf, size_t len,
    short *events, const char **why)
{
	ssize_t n;

	n = writing ? lib.tls_write(ctx, buf, len) :
	    lib.tls_read(ctx, buf, len);
	if (ntls_wants(n, events))
		return NTLS_WANT;
	*events = writing ? POLLOUT : POLLIN;
	if (n == -1)
		*why = ntls_errstr(ctx);
	return n;
}

/*
 * One try at sending close_notify, never blocking: 0 once it is sent
 * (or cannot be), or NTLS_WANT with *events set to what the next try
 * must wait for.
 */
int
ntls_close_step(struct tls *ctx, short *events)
{
	return ntls_wants(lib.tls_close(ctx), events) ? NTLS_WANT : 0;
}

/*
 * Send close_notify, the TLS end of input (-N).  Bounded: a peer that
 * stops reading does not hold us here.
 */
void
ntls_close_notify(struct tls *ctx, int fd)
{
	short events;
	int i;

	for (i = 0; i < 100; i++)
		if (ntls_close_step(ctx, &events) != NTLS_WANT ||
		    sock_wait(fd, events, 100) <= 0)
			return;
}

void
ntls_free(struct tls *ctx)
{
	if (ctx != NULL)
		lib.tls_free(ctx);
}

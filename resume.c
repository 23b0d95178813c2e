/*
 * resume.c: --resume, a one-way session that outlives its connections.
 * The sender frames the stream (file data still goes out with
 * sendfile(2) between frame headers), keeps what a reconnect may need
 * (the file itself, or the last --resume-buffer bytes of a pipe), and
 * connects again after a break; the receiver keeps listening for the
 * same session, acknowledges what it has written, and at the end both
 * compare the SHA-256 of the whole stream.  Wire format: resume_wire.c.
 */

#include <sys/types.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

#define RS_CHUNK	(4 * 1024 * 1024)	/* a sender's data frame */
#define RS_ACK_EVERY	(4 * 1024 * 1024)	/* receiver: ack this often */
#define RS_ACK_MS	200			/* or after this long */
#define RS_HANDSHAKE_MS	10000
#define RS_LINGER_MS	10000			/* a receiver after DONE */
#define RS_IOBUF	(256 * 1024)
#define RS_RXBUFS	4			/* a receiver's, hashed in turn */
#define RS_RXBUF	(1024 * 1024)		/* each of them */
#define RS_INBUF	(2 * (RESUME_HDR_LEN + RESUME_TEXT_MAX))

/* How a step ended: done, a broken connection, or nothing can help. */
#define RS_BREAK	(-1)
#define RS_FATAL	(-2)
#define RS_PREEMPT	(-3)	/* a receiver: another connection came */

struct rs {
	const struct np_opts	*o;
	struct loop		*loop;
	struct meter		*m;
	int			 fd;		/* the connection, or -1 */
	struct tls		*tls;
	struct pp		*pp;		/* --passphrase's records */
	struct pp_secret	*sec;		/* its phrase, or NULL */
	int			 fired;		/* events the loop saw */
	int			 watch;		/* extra fd to watch, or -1 */
	int			 watch_fired;
	int			 moved;		/* progress since the last tick */
	int			 idle;		/* -w passed without progress */
	int			 expired;	/* rs_wait()'s own limit */
	long long		 idle_timer;
	unsigned char		 id[RESUME_ID_LEN];
	int			 bound;		/* id names a session */
	struct np_sha		 sha;		/* the stream up to hashed */
	struct np_shaq		*q;		/* hashing into sha, or NULL */
	unsigned long long	 hashed;
	unsigned char		 in[RS_INBUF];	/* control frames read */
	size_t			 inlen;
	int			 reconnects;
	unsigned long long	 resent;
	unsigned char		*buf;		/* RS_IOBUF */

	/* The sender. */
	int			 src;
	int			 seekable;
	unsigned long long	 size;		/* RESUME_UNKNOWN */
	unsigned long long	 off;		/* next byte to send */
	unsigned long long	 sent_max;	/* the most ever sent */
	size_t			 inflight;	/* data being written, ackable */
	int			 writing;	/* in rs_write_all: no frame */
	unsigned long long	 acked;
	int			 eof;
	int			 fresh;
	int			 finished;	/* DONE came back */
	int			 ending;	/* END sent */
	unsigned char		*ring;		/* a pipe's replay buffer */
	size_t			 cap;
	unsigned long long	 rstart;	/* stream offset of ring[rhead] */
	size_t			 rhead, rlen;

	/* The receiver. */
	int			 out;
	unsigned long long	 written, acksent;
	int			 ack_due;
	long long		 ack_timer;
	struct acl_listener	 al;
	struct tls		*server;
	int			 pending;	/* an accepted peer, or -1 */
	int			 verified;	/* DONE sent, digests equal */
	struct timespec		 linger;	/* then kept until */
	size_t			 left;		/* of the data frame being read */
	unsigned char		*rxbuf[RS_RXBUFS];
	unsigned long long	 rxtick[RS_RXBUFS];	/* np_shaq tickets */
	int			 rxcur;
};

static void	 rs_event(struct loop *, int, int, void *);
static void	 rs_watch_event(struct loop *, int, int, void *);
static int	 rs_tick(struct loop *, long long, void *);
static int	 rs_expire(struct loop *, long long, void *);
static int	 rs_begin(struct rs *, const struct np_opts *);
static void	 rs_end(struct rs *);
static int	 rs_attach(struct rs *, int, struct tls *, struct pp *);
static void	 rs_detach(struct rs *);
static void	 rs_close(struct rs *);
static int	 rs_wait(struct rs *, int, int);
static ssize_t	 rs_io(struct rs *, int, void *, size_t);
static int	 rs_write_all(struct rs *, const void *, size_t);
static int	 rs_read_exact(struct rs *, void *, size_t, int);
static int	 rs_frame(struct rs *, int, const void *, size_t);
static int	 rs_error(struct rs *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 rs_put64(unsigned char *, unsigned long long);
static void	 rs_hex(const unsigned char *, char *);
static int	 rs_hash_file(struct rs *, struct np_sha *, unsigned long long,
		    unsigned long long);
static int	 rs_hash_sync(struct rs *);
static int	 rs_ctl_in(struct rs *);
static int	 rs_ctl_one(struct rs *, int, const unsigned char *, size_t);
static int	 tx_open(struct rs *);
static int	 tx_connect(struct rs *, int *);
static int	 tx_handshake(struct rs *);
static int	 tx_position(struct rs *, const struct resume_welcome *);
static int	 tx_prefix(struct rs *, unsigned long long, struct np_sha *);
static int	 tx_fill(struct rs *, int);
static void	 tx_drop(struct rs *, size_t);
static void	 tx_ring_hash(struct rs *, struct np_sha *, unsigned long long,
		    unsigned long long);
static void	 tx_sent(struct rs *, size_t);
static int	 tx_write_data(struct rs *, const void *, size_t);
static int	 tx_data(struct rs *);
static int	 tx_data_file(struct rs *, size_t);
static int	 tx_data_ring(struct rs *, size_t);
static int	 tx_stream(struct rs *);
static int	 tx_end(struct rs *);
static int	 tx_session(struct rs *);
static int	 rx_open(struct rs *);
static int	 rx_bufs(struct rs *);
static int	 rx_peer(struct acl_listener *, int, const char *);
static void	 rx_fail(struct acl_listener *);
static int	 rx_accept(struct rs *, int);
static int	 rx_secure(struct rs *, int, struct tls **, struct pp **);
static int	 rx_handshake(struct rs *, int);
static int	 rx_stream(struct rs *);
static unsigned char *rx_next(struct rs *, const unsigned char *, size_t);
static int	 rx_frames(struct rs *, unsigned char *, size_t, size_t *);
static int	 rx_data(struct rs *, const unsigned char *, size_t);
static int	 rx_end(struct rs *, const struct resume_ctl *);
static int	 rx_ack(struct rs *, int);
static int	 rx_welcome(struct rs *, const unsigned char *, int);
static int	 rx_preempt(struct rs *);
static int	 rx_linger_ms(const struct rs *);
static int	 rx_linger(struct rs *);
static int	 rx_after(struct rs *);

/* The connection (or, for the sender, stdin) is ready. */
static void
rs_event(struct loop *l, int fd, int fired, void *arg)
{
	struct rs *r = arg;

	(void)l;
	(void)fd;
	r->fired |= fired;
}

static void
rs_watch_event(struct loop *l, int fd, int fired, void *arg)
{
	struct rs *r = arg;

	(void)l;
	(void)fd;
	r->watch_fired |= fired;
}

/*
 * Every -w (and every RS_ACK_MS on a receiver): a connection that moved
 * nothing since the last tick is taken as broken, whether it was reset
 * or a middlebox silently dropped it.  Detection takes one to two -w.
 */
static int
rs_tick(struct loop *l, long long id, void *arg)
{
	struct rs *r = arg;

	(void)l;
	if (id == r->ack_timer) {
		r->ack_due = 1;
		return RS_ACK_MS;
	}
	/* A sender with nothing unacknowledged expects no acks. */
	r->idle = r->fd != -1 && !r->moved && !(r->src != -1 &&
	    !r->ending && r->acked >= r->off);
	r->moved = 0;
	return r->o->wait_ms;
}

/* State for either side: allocated here, freed in rs_end(). */
static int
rs_begin(struct rs *r, const struct np_opts *o)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->fd = r->watch = r->pending = r->src = r->out = -1;
	r->size = RESUME_UNKNOWN;
	np_sha_init(&r->sha);
	if ((r->loop = loop_new()) == NULL ||
	    (r->buf = malloc(RS_IOBUF)) == NULL) {
		warn("resume");
		return -1;
	}
	if (o->wait_ms > 0 && (r->idle_timer = loop_timer(r->loop,
	    o->wait_ms, rs_tick, r)) == -1) {
		warn("resume");
		return -1;
	}
	return 0;
}

static void
rs_end(struct rs *r)
{
	int i;

	rs_detach(r);
	if (r->pending != -1)
		close(r->pending);
	np_shaq_free(r->q);
	np_sha_free(&r->sha);
	for (i = 0; i < RS_RXBUFS; i++)
		free(r->rxbuf[i]);
	loop_free(r->loop);
	free(r->buf);
	free(r->ring);
	if (r->src > 0)
		close(r->src);
	if (r->out > 1)
		close(r->out);
}

/* Take fd (and its TLS or passphrase records) as the connection. */
static int
rs_attach(struct rs *r, int fd, struct tls *tls, struct pp *pp)
{
	r->fd = fd;
	r->tls = tls;
	r->pp = pp;
	r->inlen = 0;
	r->idle = 0;
	r->moved = 1;
	if (loop_fd(r->loop, fd, 0, rs_event, r) == -1) {
		warn("resume");
		rs_detach(r);
		return -1;
	}
	return 0;
}

static void
rs_detach(struct rs *r)
{
	if (r->fd == -1)
		return;
	loop_fd_del(r->loop, r->fd);
	if (r->tls != NULL)
		ntls_free(r->tls);
	pp_free(r->pp);
	close(r->fd);
	r->fd = -1;
	r->tls = NULL;
	r->pp = NULL;
}

/*
 * End a connection whose stream is through: its TLS peer is sent
 * close_notify, its passphrase peer the end record, so that neither takes
 * the close for a cut.  Bounded, as ntls_close_notify() and pp_close()
 * are: a peer that stops reading does not hold us here.
 */
static void
rs_close(struct rs *r)
{
	if (r->fd != -1 && r->tls != NULL)
		ntls_close_notify(r->tls, r->fd);
	else if (r->fd != -1 && r->pp != NULL)
		pp_close(r->pp);
	rs_detach(r);
}

/*
 * Wait until the connection is ready for mask, or the watched fd is, or
 * ms pass (-1: no limit).  Returns 0, RS_BREAK when -w passed without
 * progress, RS_FATAL on a signal.
 */
static int
rs_wait(struct rs *r, int mask, int ms)
{
	long long t = 0;
	int rc = 0;

	r->fired = r->watch_fired = r->expired = 0;
	if (r->fd != -1)
		loop_fd_mask(r->loop, r->fd, mask);
	if (ms >= 0 && (t = loop_timer(r->loop, ms, rs_expire, r)) == -1)
		return RS_FATAL;
	while (r->fired == 0 && r->watch_fired == 0 && !r->ack_due) {
		if (r->pending != -1) {
			rc = RS_PREEMPT;
			break;
		}
		if (np_signal || loop_once(r->loop) == -1 || np_signal) {
			rc = RS_FATAL;
			break;
		}
		if (r->idle) {
			warnx("no progress in %g s (-w): the connection is "
			    "taken as broken", r->o->wait_ms / 1000.0);
			rc = RS_BREAK;
			break;
		}
		if (r->expired) {
			rc = RS_BREAK;
			break;
		}
	}
	loop_timer_del(r->loop, t);
	return rc;
}

/* rs_wait()'s time is up. */
static int
rs_expire(struct loop *l, long long id, void *arg)
{
	struct rs *r = arg;

	(void)l;
	(void)id;
	r->expired = 1;
	return LOOP_NOMORE;
}

/*
 * One read or write on the connection.  Returns the count, 0 when it
 * would block (*r->fired tells nothing yet), or RS_BREAK after a
 * message (reset, EOF).
 */
static ssize_t
rs_io(struct rs *r, int writing, void *buf, size_t len)
{
	ssize_t n;
	short ev;

	if (r->tls != NULL || r->pp != NULL) {
		n = r->pp != NULL ? pp_io(r->pp, writing, buf, len, &ev) :
		    ntls_io(r->tls, writing, buf, len, &ev);
		if (n == NTLS_WANT)
			return 0;
		if (n <= 0)
			return RS_BREAK;
		return n;
	}
	n = writing ? send(r->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) :
	    recv(r->fd, buf, len, MSG_DONTWAIT);
	if (n > 0)
		return n;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0)
		warnx("connection closed by the peer");
	else
		warn("connection");
	return RS_BREAK;
}

/*
 * Write all of buf.  A sender reads control frames while it waits, so
 * that neither side blocks on a full buffer.  Returns 0 or RS_*.
 */
static int
rs_write_all(struct rs *r, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;
	int rc = 0;

	/*
	 * A control frame read here may make rs_error() want to send one:
	 * not in the middle of this one (a record layer must be called
	 * again with the same bytes, and the peer would read it as data).
	 */
	r->writing++;
	while (len > 0 && rc == 0) {
		if ((n = rs_io(r, 1, (void *)p, len)) < 0) {
			rc = (int)n;
			break;
		}
		p += n;
		len -= n;
		if (n > 0) {
			r->moved |= r->src == -1;
			continue;
		}
		if ((rc = rs_wait(r, LOOP_WRITE | (r->src != -1 ?
		    LOOP_READ : 0), -1)) == 0 && r->src != -1 &&
		    (r->fired & LOOP_READ))
			rc = rs_ctl_in(r);
	}
	r->writing--;
	return rc;
}

/*
 * Read exactly len bytes within ms (a handshake).  A receiver's ack
 * tick must not end the wait early: nothing is owed in a handshake.
 * Returns 0 or RS_*.
 */
static int
rs_read_exact(struct rs *r, void *buf, size_t len, int ms)
{
	struct timespec until;
	unsigned char *p = buf;
	ssize_t n;
	int rc, left;

	np_deadline_set(&until, ms);
	while (len > 0) {
		if ((n = rs_io(r, 0, p, len)) < 0)
			return (int)n;
		p += n;
		len -= n;
		if (n > 0)
			continue;
		if ((left = np_deadline_ms(&until)) <= 0)
			return RS_BREAK;
		r->ack_due = 0;
		if ((rc = rs_wait(r, LOOP_READ, left)) != 0)
			return rc;
	}
	return 0;
}

static void
rs_put64(unsigned char *p, unsigned long long v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

/* One frame with its header.  Returns 0 or RS_*. */
static int
rs_frame(struct rs *r, int type, const void *payload, size_t len)
{
	unsigned char hdr[RESUME_HDR_LEN + RESUME_TEXT_MAX];

	memset(hdr, 0, RESUME_HDR_LEN);
	hdr[0] = type;
	hdr[4] = len >> 24;
	hdr[5] = len >> 16;
	hdr[6] = len >> 8;
	hdr[7] = len;
	if (len <= RESUME_TEXT_MAX) {
		memcpy(hdr + RESUME_HDR_LEN, payload, len);
		return rs_write_all(r, hdr, RESUME_HDR_LEN + len);
	}
	return rs_write_all(r, hdr, RESUME_HDR_LEN);
}

/*
 * Say why on stderr, and tell the peer in an ERROR frame (best effort),
 * so that both ends exit 1 with the same reason.  Returns RS_FATAL.
 */
static int
rs_error(struct rs *r, const char *fmt, ...)
{
	char msg[RESUME_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("%s", msg);
	if (r->fd != -1 && r->writing == 0)
		rs_frame(r, RESUME_ERROR, msg, strlen(msg));
	return RS_FATAL;
}

static void
rs_hex(const unsigned char *d, char *hex)
{
	int i;

	for (i = 0; i < RESUME_SHA_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/*
 * Extend ctx over the source file's bytes [from, to): r->sha on the
 * hashing thread (np_shaq_sync() tells of a failed read), anything
 * else here.  0, or RS_FATAL.
 */
static int
rs_hash_file(struct rs *r, struct np_sha *ctx, unsigned long long from,
    unsigned long long to)
{
	ssize_t n;
	size_t want;

	if (ctx == &r->sha && r->q != NULL) {
		if (from < to)
			np_shaq_push_file(r->q, r->src, from, to - from);
		return 0;
	}
	while (from < to) {
		want = to - from < RS_IOBUF ? to - from : RS_IOBUF;
		n = pread(r->src, r->buf, want, from);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			warn("source file");
			return RS_FATAL;
		}
		np_sha_update(ctx, r->buf, n);
		from += n;
	}
	return 0;
}

/* r->sha once the hashing thread is through.  0, or -1 after a message. */
static int
rs_hash_sync(struct rs *r)
{
	if (np_shaq_sync(r->q) == -1) {
		warn("source file");
		return -1;
	}
	return 0;
}

/*
 * Read and handle the control frames waiting on the connection (a
 * sender's ACK, DONE and ERROR).  Returns 0 or RS_*.
 */
static int
rs_ctl_in(struct rs *r)
{
	char err[128];
	size_t plen, used;
	ssize_t n;
	int type, rc;

	for (;;) {
		n = rs_io(r, 0, r->in + r->inlen, sizeof(r->in) - r->inlen);
		if (n < 0)
			return (int)n;
		r->inlen += n;
		used = 0;
		while (r->inlen - used >= RESUME_HDR_LEN) {
			if (resume_header_parse(r->in + used, r->inlen - used,
			    &type, &plen, err, sizeof(err)) == -1 ||
			    type == RESUME_DATA)
				return rs_error(r, "resume protocol: %s",
				    type == RESUME_DATA ? "data from the "
				    "receiver" : err);
			if (r->inlen - used < RESUME_HDR_LEN + plen)
				break;
			rc = rs_ctl_one(r, type, r->in + used +
			    RESUME_HDR_LEN, plen);
			used += RESUME_HDR_LEN + plen;
			if (rc != 0)
				return rc;
		}
		memmove(r->in, r->in + used, r->inlen - used);
		r->inlen -= used;
		/* After DONE, the receiver's close is no break. */
		if (n == 0 || r->finished)
			return 0;
	}
}

/* One control frame at the sender.  Returns 0 or RS_*. */
static int
rs_ctl_one(struct rs *r, int type, const unsigned char *p, size_t len)
{
	struct resume_ctl c;
	char err[128], hex[2 * RESUME_SHA_LEN + 1];
	unsigned long long sent;

	if (resume_ctl_parse(type, p, len, &c, err, sizeof(err)) == -1)
		return rs_error(r, "resume protocol: %s", err);
	switch (type) {
	case RESUME_ACK:
		/* Part of the write in progress may be there already. */
		sent = r->off + r->inflight > r->sent_max ?
		    r->off + r->inflight : r->sent_max;
		if (c.count > sent)
			return rs_error(r, "resume protocol: ack of %llu "
			    "bytes, %llu sent", c.count, sent);
		if (c.count > r->acked)
			r->acked = c.count;
		r->moved = 1;
		/*
		 * A file is hashed as it is acknowledged, while the rest
		 * travels, not all at the end; never past the receiver,
		 * so that a reconnect never has to start it again.
		 */
		if (r->seekable && r->acked > r->hashed) {
			if (rs_hash_file(r, &r->sha, r->hashed,
			    r->acked) != 0)
				return RS_FATAL;
			r->hashed = r->acked;
		}
		return 0;
	case RESUME_DONE:
		r->finished = 1;
		if (c.verdict != 0) {
			rs_hex(c.sha, hex);
			warnx("SHA-256 mismatch: the receiver has %s", hex);
			return RS_FATAL;
		}
		return 0;
	case RESUME_ERROR:
		warnx("peer: %s", c.text);
		return RS_FATAL;
	default:
		return rs_error(r, "resume protocol: unexpected frame '%c'",
		    type);
	}
}

/*
 * The source: --send-file or stdin.  A regular file is resumed by
 * offset and hashed from itself; anything else goes through the replay
 * ring.  Returns 0, or -1 after a message.
 */
static int
tx_open(struct rs *r)
{
	const struct np_opts *o = r->o;
	struct stat st;

	r->src = STDIN_FILENO;
	if (o->send_file != NULL &&
	    (r->src = open(o->send_file, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("%s", o->send_file);
		return -1;
	}
	if (o->no_stdin && o->send_file == NULL) {
		r->eof = 1;
		r->size = 0;
	}
	if (fstat(r->src, &st) == -1) {
		warn("%s", o->send_file != NULL ? o->send_file : "stdin");
		return -1;
	}
	if (S_ISREG(st.st_mode) && !r->eof) {
		r->seekable = 1;
		r->size = st.st_size;
		/* Without a thread, hashing is done in turn with sending. */
		r->q = np_shaq_new(&r->sha);
		return 0;
	}
	r->cap = o->resume_buffer;
	if (r->eof)
		return 0;
	if ((r->ring = malloc(r->cap)) == NULL) {
		warn("--resume-buffer");
		return -1;
	}
	fcntl(r->src, F_SETFL, fcntl(r->src, F_GETFL) | O_NONBLOCK);
	if (loop_fd(r->loop, r->src, 0, rs_watch_event, r) == -1) {
		warn("resume");
		return -1;
	}
	return 0;
}

/*
 * Connect (with --retry's back-off) and, with --tls or --passphrase,
 * shake hands: every connection does its own.  Returns 0, RS_BREAK when
 * a reconnect's passphrase handshake was cut (not refused: a wrong
 * phrase is the end), or RS_FATAL after the messages.
 */
static int
tx_connect(struct rs *r, int *used)
{
	char bound[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct tls *tls = NULL;
	struct pp *pp = NULL;
	int fd, failures;

	if ((fd = dial_connect(r->o, bound, sizeof(bound), used)) == -1)
		return RS_FATAL;
	if (r->o->tls && (tls = ntls_client(r->o, fd)) == NULL) {
		close(fd);
		return RS_FATAL;
	}
	if (r->sec != NULL) {
		failures = r->sec->failures;
		/* pp_new() fails on the phrase itself: no retry. */
		if ((pp = pp_new(r->sec, fd, 0, r->o->verbose)) == NULL) {
			close(fd);
			return RS_FATAL;
		}
		if (pp_handshake(r->o, pp) == -1) {
			pp_free(pp);
			close(fd);
			return r->fresh || r->sec->failures > failures ||
			    np_signal ? RS_FATAL : RS_BREAK;
		}
	}
	return rs_attach(r, fd, tls, pp) == 0 ? 0 : RS_FATAL;
}

/*
 * HELLO out, WELCOME back, then agree where to go on.  A first
 * handshake that fails is the end: the peer is not a --resume receiver.
 * Returns 0 or RS_*.
 */
static int
tx_handshake(struct rs *r)
{
	unsigned char b[RESUME_WELCOME_LEN];
	struct resume_welcome w;
	char err[128];
	int rc, ms = RS_HANDSHAKE_MS;

	if (r->o->wait_ms > 0 && r->o->wait_ms < ms)
		ms = r->o->wait_ms;
	memcpy(b, RESUME_MAGIC, 6);
	b[6] = RESUME_VERSION;
	b[7] = (r->seekable ? RESUME_F_SEEKABLE : 0) |
	    (r->fresh ? RESUME_F_FRESH : 0);
	memcpy(b + 8, r->id, RESUME_ID_LEN);
	rs_put64(b + 24, r->seekable || r->eof ? r->size : RESUME_UNKNOWN);
	if ((rc = rs_write_all(r, b, RESUME_HELLO_LEN)) != 0 ||
	    (rc = rs_read_exact(r, b, sizeof(b), ms)) != 0) {
		if (!r->fresh)
			return rc;
		warnx("peer does not speak the resume protocol (no answer "
		    "to the handshake)");
		return RS_FATAL;
	}
	if (resume_welcome_parse(b, sizeof(b), &w, err, sizeof(err)) == -1) {
		warnx("%s", err);
		return RS_FATAL;
	}
	if ((rc = tx_position(r, &w)) != 0)
		return rc;
	r->fresh = 0;
	return 0;
}

/*
 * Go on from what the receiver holds, once its bytes are shown to be
 * this stream's first ones.  Returns 0 or RS_*.
 */
static int
tx_position(struct rs *r, const struct resume_welcome *w)
{
	unsigned char d[RESUME_SHA_LEN];
	struct np_sha c;
	int rc;

	if (r->fresh && w->held > 0) {
		meter_resume(r->m, 0, 0, w->held);
		if (r->o->verbose > 0)
			fprintf(stderr, "netpipe: the receiver holds %llu "
			    "bytes; resuming there\n", w->held);
	}
	if (r->seekable && w->held > r->size)
		return rs_error(r, "the receiver holds %llu bytes, more "
		    "than the %llu of the source", w->held, r->size);
	if ((rc = tx_prefix(r, w->held, &c)) != 0)
		return rc;
	np_sha_final(&c, d);
	if (memcmp(d, w->prefix, sizeof(d)) != 0)
		return rs_error(r, "the receiver's first %llu bytes are not "
		    "this stream's (a changed source, or another transfer's "
		    "output)", w->held);
	r->off = w->held;
	if (w->held > r->acked)
		r->acked = w->held;
	/* What the receiver holds counts as sent, for its acks. */
	if (w->held > r->sent_max)
		r->sent_max = w->held;
	return 0;
}

/*
 * The SHA-256 state over the stream's first held bytes, into c: from
 * the file, or from the ring (reading on from stdin when a new sender
 * meets a receiver that holds more).  Returns 0 or RS_*.
 */
static int
tx_prefix(struct rs *r, unsigned long long held, struct np_sha *c)
{
	int rc;

	if (r->seekable) {
		if (rs_hash_sync(r) != 0)
			return RS_FATAL;
		if (held < r->hashed) {
			np_sha_free(&r->sha);
			np_sha_init(&r->sha);
			r->hashed = 0;
		}
		if ((rc = rs_hash_file(r, &r->sha, r->hashed, held)) != 0)
			return rc;
		r->hashed = held;
		if (rs_hash_sync(r) != 0)
			return RS_FATAL;
		np_sha_copy(c, &r->sha);
		return 0;
	}
	if (held < r->rstart)
		return rs_error(r, "cannot replay from byte %llu: the "
		    "--resume-buffer of %zu bytes holds only bytes from %llu "
		    "on", held, r->cap, r->rstart);
	if (held > r->acked)
		r->acked = held;
	while (r->rstart + r->rlen < held && !r->eof)
		if ((rc = tx_fill(r, 1)) != 0)
			return rc;
	if (r->rstart + r->rlen < held)
		return rs_error(r, "the receiver holds %llu bytes, more "
		    "than the %llu of the source", held, r->rstart + r->rlen);
	np_sha_copy(c, &r->sha);
	tx_ring_hash(r, c, r->rstart, held);
	return 0;
}

/*
 * Read stdin into the ring, making room by dropping (and hashing) the
 * oldest acknowledged bytes.  With block, wait for stdin or for acks.
 * Returns 0 or RS_*.
 */
static int
tx_fill(struct rs *r, int block)
{
	size_t tail, room;
	ssize_t n;
	int rc;

	if (r->rlen == r->cap && r->acked > r->rstart)
		tx_drop(r, r->acked - r->rstart < r->rlen ?
		    r->acked - r->rstart : r->rlen);
	room = r->cap - r->rlen;
	if (room == 0)
		return block ? rs_wait(r, LOOP_READ, -1) : 0;
	tail = (r->rhead + r->rlen) % r->cap;
	n = read(r->src, r->ring + tail, room < r->cap - tail ? room :
	    r->cap - tail);
	if (n > 0) {
		r->rlen += n;
		return 0;
	}
	if (n == 0) {
		r->eof = 1;
		r->size = r->rstart + r->rlen;
		loop_fd_del(r->loop, r->src);
		return 0;
	}
	if (errno != EAGAIN && errno != EINTR) {
		warn("stdin");
		return RS_FATAL;
	}
	if (!block)
		return 0;
	/* stdin is watched only here, or an idle one would spin. */
	loop_fd_mask(r->loop, r->src, LOOP_READ);
	rc = rs_wait(r, LOOP_READ, -1);
	loop_fd_mask(r->loop, r->src, 0);
	if (rc == 0 && (r->fired & LOOP_READ))
		return rs_ctl_in(r);
	return rc;
}

/* Forget the ring's oldest n bytes, hashing them on the way out. */
static void
tx_drop(struct rs *r, size_t n)
{
	tx_ring_hash(r, &r->sha, r->rstart, r->rstart + n);
	r->rhead = (r->rhead + n) % r->cap;
	r->rlen -= n;
	r->rstart += n;
	r->hashed = r->rstart;
}

/* Extend ctx over the ring's stream bytes [from, to). */
static void
tx_ring_hash(struct rs *r, struct np_sha *ctx, unsigned long long from,
    unsigned long long to)
{
	size_t pos = (r->rhead + (from - r->rstart)) % r->cap, n;

	while (from < to) {
		n = r->cap - pos;
		if (n > to - from)
			n = to - from;
		np_sha_update(ctx, r->ring + pos, n);
		from += n;
		pos = (pos + n) % r->cap;
	}
}

/* Count n bytes sent from r->off on, resent ones apart. */
static void
tx_sent(struct rs *r, size_t n)
{
	if (r->off < r->sent_max)
		r->resent += r->sent_max - r->off < n ?
		    r->sent_max - r->off : n;
	r->off += n;
	if (r->off > r->sent_max)
		r->sent_max = r->off;
	meter_count(r->m, METER_SENT, n);
}

/*
 * Write n stream bytes from r->off.  The receiver may acknowledge some
 * before the write returns (a record layer takes a batch at once), so
 * they count as sent for its acks meanwhile.  Returns 0 or RS_*.
 */
static int
tx_write_data(struct rs *r, const void *p, size_t n)
{
	int rc;

	r->inflight = n;
	rc = rs_write_all(r, p, n);
	r->inflight = 0;
	return rc;
}

/* One data frame from r->off.  Returns 0 or RS_*. */
static int
tx_data(struct rs *r)
{
	unsigned long long end;
	size_t n;
	int rc;

	end = r->seekable ? r->size : r->rstart + r->rlen;
	n = end - r->off < RS_CHUNK ? end - r->off : RS_CHUNK;
	if ((rc = rs_frame(r, RESUME_DATA, NULL, n)) != 0)
		return rc;
	return r->seekable ? tx_data_file(r, n) : tx_data_ring(r, n);
}

/*
 * n bytes of the file from r->off: sendfile(2) on a plain socket, the
 * copy through TLS.  Returns 0 or RS_*.
 */
static int
tx_data_file(struct rs *r, size_t n)
{
	off_t pos;
	ssize_t k;
	int rc;

	while (n > 0) {
		pos = r->off;
		if (r->tls != NULL || r->pp != NULL) {
			if ((k = pread(r->src, r->buf, n < RS_IOBUF ? n :
			    RS_IOBUF, pos)) > 0 &&
			    (rc = tx_write_data(r, r->buf, k)) != 0)
				return rc;
		} else
			k = sendfile(r->fd, r->src, &pos, n);
		if (k > 0) {
			tx_sent(r, k);
			n -= k;
			continue;
		}
		if (k == 0)
			return rs_error(r, "%s: the source file shrank",
			    r->o->send_file != NULL ? r->o->send_file :
			    "stdin");
		if (errno != EAGAIN && errno != EINTR) {
			warn("sendfile");
			return errno == EPIPE || errno == ECONNRESET ?
			    RS_BREAK : RS_FATAL;
		}
		if ((rc = rs_wait(r, LOOP_WRITE | LOOP_READ, -1)) != 0 ||
		    ((r->fired & LOOP_READ) && (rc = rs_ctl_in(r)) != 0))
			return rc;
	}
	return 0;
}

/* n bytes of the ring from r->off.  Returns 0 or RS_*. */
static int
tx_data_ring(struct rs *r, size_t n)
{
	size_t pos, k;
	int rc;

	while (n > 0) {
		pos = (r->rhead + (r->off - r->rstart)) % r->cap;
		k = r->cap - pos < n ? r->cap - pos : n;
		if ((rc = tx_write_data(r, r->ring + pos, k)) != 0)
			return rc;
		tx_sent(r, k);
		n -= k;
	}
	return 0;
}

/* Send until the end, then END and the receiver's verdict. */
static int
tx_stream(struct rs *r)
{
	unsigned long long end;
	int rc;

	for (;;) {
		if ((rc = rs_ctl_in(r)) != 0)
			return rc;
		if (!r->seekable && !r->eof && (rc = tx_fill(r, 0)) != 0)
			return rc;
		end = r->seekable ? r->size : r->rstart + r->rlen;
		if (r->off < end) {
			if ((rc = tx_data(r)) != 0)
				return rc;
			continue;
		}
		if (r->seekable || r->eof)
			return tx_end(r);
		if ((rc = tx_fill(r, 1)) != 0)
			return rc;
	}
}

/* END with the digest of the whole stream; wait for DONE.  0 or RS_*. */
static int
tx_end(struct rs *r)
{
	unsigned char b[8 + RESUME_SHA_LEN];
	char hex[2 * RESUME_SHA_LEN + 1];
	struct np_sha c;
	int rc;

	if (rs_hash_sync(r) != 0)
		return RS_FATAL;
	np_sha_copy(&c, &r->sha);
	if (r->seekable)
		rc = rs_hash_file(r, &c, r->hashed, r->off);
	else {
		tx_ring_hash(r, &c, r->rstart, r->off);
		rc = 0;
	}
	if (rc != 0) {
		np_sha_free(&c);
		return rc;
	}
	rs_put64(b, r->off);
	np_sha_final(&c, b + 8);
	if ((rc = rs_frame(r, RESUME_END, b, sizeof(b))) != 0)
		return rc;
	r->ending = 1;
	while (!r->finished) {
		if ((rc = rs_wait(r, LOOP_READ, -1)) != 0 ||
		    (rc = rs_ctl_in(r)) != 0)
			return rc;
	}
	if (r->o->verbose > 0) {
		rs_hex(b + 8, hex);
		fprintf(stderr, "netpipe: sha256 %s (verified by the "
		    "receiver)\n", hex);
	}
	return 0;
}

/*
 * Connections until the stream is through: each break costs one of
 * --retry's tries, and a connection that got data acknowledged gives
 * them all back.  Returns an exit code.
 */
static int
tx_session(struct rs *r)
{
	unsigned long long acked;
	int rc, used = 0;

	for (;;) {
		if ((rc = tx_connect(r, &used)) == RS_FATAL)
			return NP_EXIT_FAIL;
		meter_start(r->m);
		acked = r->acked;
		if (rc == 0 && (rc = tx_handshake(r)) == 0)
			rc = tx_stream(r);
		if (rc == 0) {
			rs_close(r);
			return NP_EXIT_OK;
		}
		rs_detach(r);
		if (rc == RS_FATAL || np_signal)
			return NP_EXIT_FAIL;
		if (r->acked > acked)
			used = 0;
		if (used >= r->o->retry) {
			warnx("connection broken at byte %llu; giving up "
			    "after %d %s", r->acked, used,
			    used == 1 ? "retry" : "retries");
			return NP_EXIT_FAIL;
		}
		used++;
		r->reconnects++;
		meter_resume(r->m, r->reconnects, r->resent, 0);
		if (r->o->verbose > 0)
			fprintf(stderr, "netpipe: connection broken with "
			    "%llu bytes acknowledged; reconnecting (%d)\n",
			    r->acked, r->reconnects);
	}
}

/*
 * netpipe --resume destination port: send stdin or --send-file as one
 * resumable session.  Returns an exit code.
 */
int
resume_send(const struct np_opts *o)
{
	struct pp_secret sec;
	struct rs r;
	int rc = NP_EXIT_FAIL;

	if (rs_begin(&r, o) == 0 && tx_open(&r) == 0 &&
	    (!o->passphrase || pp_secret_load(o, (r.sec = &sec)) == 0) &&
	    (r.m = meter_new(o, r.size != RESUME_UNKNOWN ?
	    (long long)r.size : -1)) != NULL) {
		arc4random_buf(r.id, sizeof(r.id));
		r.fresh = 1;
		rc = tx_session(&r);
		meter_resume(r.m, r.reconnects, r.resent, 0);
	}
	meter_finish(r.m);
	rs_end(&r);
	return rc;
}

/*
 * The output: stdout, or --output FILE, whose bytes (a copy cut short
 * earlier) are kept and hashed as the stream's first ones.  Returns 0,
 * or -1 after a message.
 */
static int
rx_open(struct rs *r)
{
	struct stat st;
	ssize_t n;

	r->out = STDOUT_FILENO;
	if (r->o->output == NULL)
		return 0;
	if ((r->out = open(r->o->output, O_RDWR | O_CREAT | O_CLOEXEC,
	    0666)) == -1 || fstat(r->out, &st) == -1) {
		warn("%s", r->o->output);
		return -1;
	}
	while (S_ISREG(st.st_mode) && r->written < (unsigned long long)
	    st.st_size) {
		if ((n = read(r->out, r->buf, RS_IOBUF)) <= 0) {
			warn("%s", r->o->output);
			return -1;
		}
		np_sha_update(&r->sha, r->buf, n);
		r->written += n;
	}
	if (r->written > 0 && r->o->verbose > 0)
		fprintf(stderr, "netpipe: %s holds %llu bytes; resuming "
		    "there\n", r->o->output, r->written);
	return 0;
}

/* The receive buffers, and the thread hashing them.  0, or -1. */
static int
rx_bufs(struct rs *r)
{
	int i;

	for (i = 0; i < RS_RXBUFS; i++)
		if ((r->rxbuf[i] = malloc(RS_RXBUF)) == NULL) {
			warn("resume");
			return -1;
		}
	if ((r->q = np_shaq_new(&r->sha)) == NULL) {
		warn("resume");
		return -1;
	}
	return 0;
}

/* A peer the access rules let in: the newest one waits its turn. */
static int
rx_peer(struct acl_listener *al, int fd, const char *name)
{
	struct rs *r = al->data;

	(void)name;
	if (r->pending != -1)
		close(r->pending);
	r->pending = fd;
	return 1;
}

static void
rx_fail(struct acl_listener *al)
{
	(void)al;
}

/*
 * The next connection (a TLS one shakes hands first), within
 * --accept-timeout when given, or while a verified session is kept.
 * Returns 0, or -1 after a message.
 */
static int
rx_accept(struct rs *r, int first)
{
	struct timespec until;
	struct tls *tls;
	struct pp *pp;
	int fd;

	(void)first;
	if (r->o->accept_timeout_ms > 0)
		np_deadline_set(&until, r->o->accept_timeout_ms);
	if (r->verified)
		until = r->linger;
	for (;;) {
		while (r->pending == -1) {
			if (np_signal || loop_once(r->loop) == -1 ||
			    np_signal)
				return -1;
			if (r->verified && np_deadline_ms(&until) <= 0) {
				if (r->o->verbose > 0)
					fprintf(stderr, "netpipe: the sender "
					    "did not come back for the "
					    "verdict\n");
				return -1;
			}
			if (r->o->accept_timeout_ms > 0 &&
			    np_deadline_ms(&until) <= 0) {
				acl_timeout(r->o);
				return -1;
			}
		}
		fd = r->pending;
		r->pending = -1;
		if (rx_secure(r, fd, &tls, &pp) == -1) {
			if (r->sec != NULL &&
			    r->sec->failures >= PP_MAX_FAILURES) {
				warnx("passphrase: %d wrong passphrases: "
				    "giving up", r->sec->failures);
				return -1;
			}
			continue;
		}
		return rs_attach(r, fd, tls, pp);
	}
}

/*
 * A new connection's TLS or passphrase handshake, each its own; fd is
 * closed when it fails.  Returns 0, or -1 after a message.
 */
static int
rx_secure(struct rs *r, int fd, struct tls **tls, struct pp **pp)
{
	*tls = NULL;
	*pp = NULL;
	if (r->server != NULL &&
	    (*tls = ntls_accept(r->o, r->server, fd)) == NULL) {
		close(fd);
		return -1;
	}
	if (r->sec != NULL) {
		if ((*pp = pp_new(r->sec, fd, 1, r->o->verbose)) == NULL ||
		    pp_handshake(r->o, *pp) == -1) {
			pp_free(*pp);
			*pp = NULL;
			close(fd);
			return -1;
		}
	}
	return 0;
}

/*
 * HELLO in, WELCOME out.  The first peer must speak the protocol; later
 * a stranger is sent away and the wait goes on.  A sender of another
 * session is refused, unless it is a new sender process (it then
 * proves, or fails to prove, that what is held is its stream's start).
 * Returns 0 or RS_*.
 */
static int
rx_handshake(struct rs *r, int first)
{
	unsigned char b[RESUME_WELCOME_LEN];
	struct resume_hello h;
	char err[128];
	int rc;

	if ((rc = rs_read_exact(r, b, RESUME_HELLO_LEN, RS_HANDSHAKE_MS)) != 0)
		return rc == RS_FATAL ? rc : RS_BREAK;
	if (resume_hello_parse(b, RESUME_HELLO_LEN, &h, err,
	    sizeof(err)) == -1) {
		warnx("%s", err);
		return first ? RS_FATAL : RS_BREAK;
	}
	/* A verified session is kept for its own sender only. */
	b[7] = h.version != RESUME_VERSION ? RESUME_BADVERSION :
	    r->bound && memcmp(h.id, r->id, RESUME_ID_LEN) != 0 &&
	    (!(h.flags & RESUME_F_FRESH) || r->verified) ? RESUME_BUSY :
	    RESUME_OK;
	if ((rc = rx_welcome(r, h.id, b[7])) != 0)
		return rc;
	if (b[7] == RESUME_BADVERSION) {
		warnx("peer speaks resume protocol version %d, not %d",
		    h.version, RESUME_VERSION);
		return first ? RS_FATAL : RS_BREAK;
	}
	if (b[7] == RESUME_BUSY) {
		warnx("refused a sender of another session");
		return RS_BREAK;
	}
	memcpy(r->id, h.id, RESUME_ID_LEN);
	r->bound = 1;
	r->acksent = r->written;
	return 0;
}

/* WELCOME with status, for session id.  Returns 0 or RS_*. */
static int
rx_welcome(struct rs *r, const unsigned char *id, int status)
{
	unsigned char b[RESUME_WELCOME_LEN];
	struct np_sha c;

	memcpy(b, RESUME_MAGIC, 6);
	b[6] = RESUME_VERSION;
	b[7] = status;
	memcpy(b + 8, id, RESUME_ID_LEN);
	rs_put64(b + 24, r->written);
	np_shaq_sync(r->q);
	np_sha_copy(&c, &r->sha);
	np_sha_final(&c, b + 32);
	return rs_write_all(r, b, RESUME_WELCOME_LEN);
}

/*
 * A connection came while one is up.  The session's own takes over (the
 * old one is dead, and not yet seen to be: a silent drop); any other is
 * refused, and the stream goes on.  Returns 1 when it took over, 0 when
 * it was refused, or RS_*.
 */
static int
rx_preempt(struct rs *r)
{
	unsigned char b[RESUME_HELLO_LEN];
	struct resume_hello h;
	struct tls *otls = r->tls, *tls;
	struct pp *opp = r->pp, *pp;
	char err[128];
	int ofd = r->fd, fd = r->pending, rc, same;

	r->pending = -1;
	loop_fd_mask(r->loop, ofd, 0);
	r->fd = -1;
	r->tls = NULL;
	r->pp = NULL;
	rc = -1;
	if (rx_secure(r, fd, &tls, &pp) == 0 &&
	    rs_attach(r, fd, tls, pp) == 0)
		rc = rs_read_exact(r, b, sizeof(b), RS_HANDSHAKE_MS);
	same = rc == 0 && resume_hello_parse(b, sizeof(b), &h, err,
	    sizeof(err)) == 0 && h.version == RESUME_VERSION &&
	    memcmp(h.id, r->id, RESUME_ID_LEN) == 0;
	if (!same) {
		if (rc == 0 && memcmp(b, RESUME_MAGIC, 6) == 0)
			rx_welcome(r, b + 8, RESUME_BUSY);
		warnx("refused a connection while the session's is up");
		rs_detach(r);
		r->fd = ofd;
		r->tls = otls;
		r->pp = opp;
		return rc == RS_FATAL ? rc : 0;
	}
	loop_fd_del(r->loop, ofd);
	if (otls != NULL)
		ntls_free(otls);
	pp_free(opp);
	close(ofd);
	if (r->o->verbose > 0)
		fprintf(stderr, "netpipe: a new connection of the session "
		    "takes the old one's place\n");
	if ((rc = rx_welcome(r, h.id, RESUME_OK)) != 0)
		return rc;
	r->acksent = r->written;
	r->reconnects++;
	return 1;
}

/* Acknowledge what is written.  Returns 0 or RS_*. */
static int
rx_ack(struct rs *r, int force)
{
	unsigned char b[8];

	r->ack_due = 0;
	if (!force && r->written == r->acksent)
		return 0;
	rs_put64(b, r->written);
	r->acksent = r->written;
	return rs_frame(r, RESUME_ACK, b, sizeof(b));
}

/* Stream bytes to the output, into the digest.  Returns 0 or RS_*. */
static int
rx_data(struct rs *r, const unsigned char *p, size_t n)
{
	ssize_t k;
	size_t left = n;

	while (left > 0) {
		k = write(r->out, p + (n - left), left);
		if (k > 0) {
			left -= k;
			continue;
		}
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1 && errno == EAGAIN &&
		    sock_wait(r->out, POLLOUT, -1) == 1)
			continue;
		return rs_error(r, "%s: %s", r->o->output != NULL ?
		    r->o->output : "stdout", strerror(errno));
	}
	r->rxtick[r->rxcur] = np_shaq_push(r->q, p, n);
	r->written += n;
	meter_count(r->m, METER_RECV, n);
	if (r->written - r->acksent >= RS_ACK_EVERY)
		return rx_ack(r, 0);
	return 0;
}

/* END: the count and the digest must match.  1 when they do, or RS_*. */
static int
rx_end(struct rs *r, const struct resume_ctl *c)
{
	unsigned char b[1 + RESUME_SHA_LEN];
	char hex[2 * RESUME_SHA_LEN + 1];
	struct np_sha d;

	if (c->count != r->written)
		return rs_error(r, "the stream ended at byte %llu, but %llu "
		    "were received", c->count, r->written);
	np_shaq_sync(r->q);
	np_sha_copy(&d, &r->sha);
	np_sha_final(&d, b + 1);
	b[0] = memcmp(b + 1, c->sha, RESUME_SHA_LEN) != 0;
	rx_ack(r, 0);
	rs_frame(r, RESUME_DONE, b, sizeof(b));
	rs_hex(b + 1, hex);
	if (b[0]) {
		warnx("SHA-256 mismatch: received %s", hex);
		return RS_FATAL;
	}
	if (r->o->verbose > 0 && !r->verified)
		fprintf(stderr, "netpipe: sha256 %s (verified)\n", hex);
	r->verified = 1;
	np_deadline_set(&r->linger, rx_linger_ms(r));
	return 1;
}

/*
 * The frames in b[0..have): data goes out as it comes, a control frame
 * is taken whole.  *used says how much was taken.  Returns 0, 1 at a
 * verified end, or RS_*.
 */
static int
rx_frames(struct rs *r, unsigned char *b, size_t have, size_t *used)
{
	struct resume_ctl c;
	char err[128];
	size_t u = 0, k, plen;
	int type, rc;

	for (;;) {
		if (r->left > 0 && u < have) {
			k = have - u < r->left ? have - u : r->left;
			if ((rc = rx_data(r, b + u, k)) != 0)
				break;
			u += k;
			r->left -= k;
			continue;
		}
		rc = 0;
		if (have - u < RESUME_HDR_LEN)
			break;
		if (resume_header_parse(b + u, have - u, &type, &plen, err,
		    sizeof(err)) == -1) {
			rc = rs_error(r, "resume protocol: %s", err);
			break;
		}
		if (type == RESUME_DATA) {
			r->left = plen;
			u += RESUME_HDR_LEN;
			continue;
		}
		if (have - u < RESUME_HDR_LEN + plen)
			break;
		if (resume_ctl_parse(type, b + u + RESUME_HDR_LEN, plen, &c,
		    err, sizeof(err)) == -1)
			rc = rs_error(r, "resume protocol: %s", err);
		else if (type == RESUME_ERROR) {
			warnx("peer: %s", c.text);
			rc = RS_FATAL;
		} else if (type == RESUME_END)
			rc = rx_end(r, &c);
		else
			rc = rs_error(r, "resume protocol: unexpected frame "
			    "'%c'", type);
		u += RESUME_HDR_LEN + plen;
		break;
	}
	*used = u;
	return rc;
}

/*
 * Move on to the next buffer once its bytes are hashed, taking along
 * the rest of a frame begun in b.
 */
static unsigned char *
rx_next(struct rs *r, const unsigned char *rest, size_t len)
{
	r->rxcur = (r->rxcur + 1) % RS_RXBUFS;
	np_shaq_wait(r->q, r->rxtick[r->rxcur]);
	memcpy(r->rxbuf[r->rxcur], rest, len);
	return r->rxbuf[r->rxcur];
}

/*
 * Read frames until the end or a break: each read goes to the next of
 * the buffers, so that the hashing thread can work on the last ones.
 * Returns 1, or RS_*.
 */
static int
rx_stream(struct rs *r)
{
	unsigned char *b = r->rxbuf[r->rxcur];
	size_t have = 0, used;
	ssize_t n;
	int rc;

	r->left = 0;
	for (;;) {
		if (r->ack_due && (rc = rx_ack(r, 0)) != 0)
			return rc;
		if ((n = rs_io(r, 0, b + have, RS_RXBUF - have)) < 0)
			return (int)n;
		if (n == 0) {
			rc = rs_wait(r, LOOP_READ, -1);
			if (rc == RS_PREEMPT && (rc = rx_preempt(r)) == 1) {
				have = 0;
				r->left = 0;
				rc = 0;
			}
			if (rc != 0)
				return rc;
			continue;
		}
		r->moved = 1;
		have += n;
		rc = rx_frames(r, b, have, &used);
		have -= used;
		b = rx_next(r, b + used, have);
		if (rc != 0)
			return rc;
	}
}

/*
 * How long a verified session is kept for its sender: --accept-timeout,
 * or long enough for one that missed DONE, which takes up to two -w to
 * see a silent drop, then up to the back-off cap to try again.
 */
static int
rx_linger_ms(const struct rs *r)
{
	long long ms = RS_LINGER_MS;

	if (r->o->accept_timeout_ms > 0)
		return r->o->accept_timeout_ms;
	if (r->o->wait_ms > 0 &&
	    2LL * r->o->wait_ms + r->o->retry_delay_ms > ms)
		ms = 2LL * r->o->wait_ms + r->o->retry_delay_ms;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * After DONE, the sender closes.  A break first may have lost DONE on
 * the way, and the sender will be back for it: the session is kept
 * until r->linger.  Returns 0 when the sender closed, RS_BREAK,
 * RS_PREEMPT or RS_FATAL.
 */
static int
rx_linger(struct rs *r)
{
	unsigned char b[64];
	const char *why;
	ssize_t n;
	short ev;
	int rc, ms;

	for (;;) {
		if (r->pp != NULL)
			n = pp_io(r->pp, 0, b, sizeof(b), &ev);
		else if (r->tls != NULL) {
			n = ntls_quiet_io(r->tls, 0, b, sizeof(b), &ev, &why);
			/*
			 * After DONE nothing can be cut: a sender that
			 * closes without close_notify (an older netpipe)
			 * has ended too.
			 */
			if (n == -1 && strstr(why, "unexpected eof") != NULL)
				n = 0;
		} else
			n = recv(r->fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0)
			return 0;
		if (n < 0 && n != NTLS_WANT && (r->tls != NULL ||
		    r->pp != NULL || (errno != EAGAIN && errno != EINTR)))
			return RS_BREAK;
		if (n > 0)
			continue;
		if ((ms = np_deadline_ms(&r->linger)) <= 0)
			return RS_BREAK;
		r->ack_due = 0;		/* all is acknowledged */
		if ((rc = rs_wait(r, LOOP_READ, ms)) != 0)
			return rc;
	}
}

/*
 * A verified session's connection, until its sender closes it: a
 * reconnect of the session (whose sender missed DONE) is given the
 * verdict again.  Returns 0, RS_BREAK or RS_FATAL.
 */
static int
rx_after(struct rs *r)
{
	int rc;

	for (;;) {
		if ((rc = rx_linger(r)) != RS_PREEMPT)
			return rc;
		if ((rc = rx_preempt(r)) < 0)
			return rc;
		if (rc == 1 && (rc = rx_stream(r)) != 1)
			return rc;
	}
}

/* Connections until the stream is through.  Returns an exit code. */
static int
rx_session(struct rs *r)
{
	int rc, first = 1;

	for (;;) {
		if (rx_accept(r, first) == -1)
			return r->verified && !np_signal ? NP_EXIT_OK :
			    NP_EXIT_FAIL;
		meter_start(r->m);
		if ((rc = rx_handshake(r, first)) == 0) {
			if (!first)
				r->reconnects++;
			first = 0;
			rc = rx_stream(r);
		}
		if (rc == 1)
			rc = rx_after(r);
		if (rc == 0) {
			rs_close(r);
			return NP_EXIT_OK;
		}
		rs_detach(r);
		if (rc == RS_FATAL || np_signal)
			return NP_EXIT_FAIL;
		meter_resume(r->m, r->reconnects, 0, 0);
		if (r->o->verbose > 0 && r->verified)
			fprintf(stderr, "netpipe: connection broken after the "
			    "verdict; keeping the session for its sender\n");
		else if (r->o->verbose > 0 && !first)
			fprintf(stderr, "netpipe: connection broken at byte "
			    "%llu; waiting for the sender\n", r->written);
	}
}

/*
 * netpipe -l --resume: receive one resumable session on listener lfd
 * (TLS through server when --tls).  Returns an exit code.
 */
int
resume_recv(const struct np_opts *o, const struct acl *acl, int lfd,
    struct tls *server, struct pp_secret *sec)
{
	struct rs r;
	int rc = NP_EXIT_FAIL;

	if (rs_begin(&r, o) == 0 && rx_open(&r) == 0 && rx_bufs(&r) == 0 &&
	    (r.m = meter_new(o, -1)) != NULL) {
		r.server = server;
		r.sec = sec;
		r.al = (struct acl_listener){ .loop = r.loop, .o = o,
		    .acl = acl, .lfd = lfd, .peer = rx_peer,
		    .fail = rx_fail, .data = &r };
		if (acl_listen(&r.al) == -1 || (r.ack_timer = loop_timer(r.loop,
		    RS_ACK_MS, rs_tick, &r)) == -1)
			warn("resume");
		else
			rc = rx_session(&r);
		acl_listen_end(&r.al);
		meter_resume(r.m, r.reconnects, 0, r.written);
	}
	meter_finish(r.m);
	rs_end(&r);
	return rc;
}

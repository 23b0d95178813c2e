/*
 * xfer.c: a transfer between two connected stream sockets on the
 * caller's event loop, for a process that holds many at once.
 *
 * A transfer is two endpoints and two directions.  An endpoint is a
 * socket and its record layer (struct ep, endpoint.c: the same code the
 * pump moves its socket's bytes with) and what the loop knows of it.
 * A direction owns
 * what moves from its source endpoint to its sink: a pipe that splice(2)
 * fills and empties when neither endpoint has a record layer, else a
 * buffer; its end of stream; its byte count.  Neither pipe nor buffer
 * exists until the first bytes come, both start at a page and grow once
 * when the direction proves bulk, and both go when it ends: an idle
 * transfer is its struct alone.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * A direction's pipe or buffer starts at a page, which holds what a
 * short exchange sends, and grows to XFER_BULK the first time it fills.
 */
#define XFER_SMALL	4096
#define XFER_BULK	(256 * 1024)
#define XFER_BUFBULK	(64 * 1024)
/*
 * The most syscalls one direction makes per wake-up, so that a bulk pair
 * does not starve the others on the loop; poll is level-triggered, so
 * what is left wakes us again at once.
 */
#define XFER_ROUNDS	16

struct xfer;

struct endpoint {
	struct ep	 ep;		/* its socket and record layer */
	struct xfer	*x;
	int		 fired;		/* loop events since the last step */
	int		 mask;		/* loop events asked for */
	int		 watched;	/* registered with the loop */
	char		 name[NP_PEER_NAMELEN];
};

struct dir {
	struct endpoint	*src;
	struct endpoint	*dst;
	int		 pipe[2];	/* splice path; -1 until used */
	size_t		 pipesz;
	size_t		 held;		/* bytes in the pipe */
	int		 pipe_full;	/* a splice in may find no room */
	int		 no_pipe;	/* pipe() or growth failed: buffer */
	unsigned char	*buf;		/* copy path; NULL until used */
	size_t		 cap, start, end;
	short		 rwant;		/* what src's io waits for */
	short		 wwant;		/* what dst's io or shut waits for */
	int		 rblocked;	/* src said wait */
	int		 fresh;		/* src fired and gave nothing yet */
	int		 wblocked;	/* dst said wait */
	int		 eof;		/* src ended */
	int		 ended;		/* and dst was told */
	unsigned long long bytes;	/* written to dst */
};

struct xfer {
	struct loop		*loop;
	const struct np_opts	*o;
	struct endpoint		 end[2];	/* a, b */
	struct dir		 dir[2];	/* a to b, b to a */
	void			(*done)(struct xfer *, int, void *);
	void			*data;
	int			 over;		/* done() was called */
};

/* What a direction's step found. */
#define STEP_GO		0
#define STEP_FAIL	1

static void	 end_init(struct xfer *, struct endpoint *,
		    const struct xfer_side *);
static void	 dir_init(struct dir *, struct endpoint *, struct endpoint *);
static void	 dir_release(struct dir *);
static size_t	 dir_pending(const struct dir *);
static int	 dir_room(struct dir *);
static int	 dir_spliced(const struct dir *);
static void	 pipe_open(struct dir *);
static void	 pipe_grow(struct dir *);
static int	 buf_open(struct dir *);
static int	 dir_read(struct xfer *, struct dir *);
static int	 splice_read(struct xfer *, struct dir *);
static int	 buf_read(struct xfer *, struct dir *);
static int	 dir_write(struct xfer *, struct dir *);
static int	 dir_shut(struct xfer *, struct dir *);
static int	 dir_step(struct xfer *, struct dir *);
static int	 ready(const struct endpoint *, short);
static int	 xfer_fail(struct xfer *, struct endpoint *, int, const char *);
static void	 xfer_arm(struct xfer *);
static void	 xfer_unwatch(struct xfer *);
static int	 xfer_orphan(struct xfer *, struct endpoint *);
static void	 xfer_event(struct loop *, int, int, void *);

/*
 * Start moving bytes between a and b on loop l; done(x, rc, data) is
 * called once, from the loop, when both directions have ended (rc 0) or
 * either side failed (rc 1, both sockets closed, the other reset).  The
 * transfer owns both fds and TLS sessions from here on, and the caller
 * frees it with xfer_free(), in done() or later.  Returns NULL with
 * errno set (and nothing taken) when it cannot be made.
 */
struct xfer *
xfer_new(struct loop *l, const struct np_opts *o, const struct xfer_side *a,
    const struct xfer_side *b, void (*done)(struct xfer *, int, void *),
    void *data)
{
	struct xfer *x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->loop = l;
	x->o = o;
	x->done = done;
	x->data = data;
	end_init(x, &x->end[0], a);
	end_init(x, &x->end[1], b);
	dir_init(&x->dir[0], &x->end[0], &x->end[1]);
	dir_init(&x->dir[1], &x->end[1], &x->end[0]);
	x->end[0].mask = x->end[1].mask = LOOP_READ;
	if (loop_fd(l, a->fd, LOOP_READ, xfer_event, &x->end[0]) == -1)
		goto fail;
	x->end[0].watched = 1;
	if (loop_fd(l, b->fd, LOOP_READ, xfer_event, &x->end[1]) == -1)
		goto fail;
	x->end[1].watched = 1;
	return x;
fail:
	xfer_unwatch(x);
	free(x);
	return NULL;
}

/* Bytes written to b that came from a, and to a from b, so far. */
void
xfer_bytes(const struct xfer *x, unsigned long long *a_to_b,
    unsigned long long *b_to_a)
{
	*a_to_b = x->dir[0].bytes;
	*b_to_a = x->dir[1].bytes;
}

/*
 * Unregister x from its loop, close both sockets (those still open),
 * free their TLS sessions, --passphrase streams and x.
 */
void
xfer_free(struct xfer *x)
{
	int i;

	if (x == NULL)
		return;
	xfer_unwatch(x);
	for (i = 0; i < 2; i++) {
		dir_release(&x->dir[i]);
		ntls_free(x->end[i].ep.tls);
		pp_free(x->end[i].ep.pp);
		if (x->end[i].ep.fd != -1)
			close(x->end[i].ep.fd);
	}
	free(x);
}

static void
end_init(struct xfer *x, struct endpoint *e, const struct xfer_side *s)
{
	e->x = x;
	ep_init(&e->ep, s->fd, s->tls, s->pp, EP_QUIET);
	strlcpy(e->name, s->name != NULL ? s->name : "peer", sizeof(e->name));
}

/* A direction's state, all of it, starts here. */
static void
dir_init(struct dir *d, struct endpoint *src, struct endpoint *dst)
{
	memset(d, 0, sizeof(*d));
	d->src = src;
	d->dst = dst;
	d->pipe[0] = d->pipe[1] = -1;
	d->rwant = POLLIN;
	d->wwant = POLLOUT;
	/* Nothing is read until poll says so: an idle pair costs nothing. */
	d->rblocked = 1;
}

/* Give back a direction's pipe and buffer. */
static void
dir_release(struct dir *d)
{
	if (d->pipe[0] != -1) {
		close(d->pipe[0]);
		close(d->pipe[1]);
		d->pipe[0] = d->pipe[1] = -1;
	}
	d->held = 0;
	d->pipe_full = 0;
	free(d->buf);
	d->buf = NULL;
	d->cap = d->start = d->end = 0;
}

/* Bytes read from src and not yet written to dst. */
static size_t
dir_pending(const struct dir *d)
{
	return d->held + (d->end - d->start);
}

/* Whether this direction moves through a pipe (made or yet to be). */
static int
dir_spliced(const struct dir *d)
{
	return d->pipe[0] != -1 || (!d->no_pipe && d->buf == NULL &&
	    d->src->ep.ops->splice && d->dst->ep.ops->splice);
}

/*
 * Whether a read has somewhere to land.  A record layer always gets room
 * for a whole record: what it cannot hand over stays where poll does
 * not see it.  A pipe given up on is emptied before the buffer takes
 * over.
 */
static int
dir_room(struct dir *d)
{
	size_t need = d->src->ep.ops->record;

	if (d->pipe[0] != -1 && d->no_pipe && d->held == 0)
		dir_release(d);
	if (d->pipe[0] != -1)
		return !d->no_pipe && !d->pipe_full && d->held < d->pipesz;
	if (d->buf == NULL)
		return 1;
	if (d->start == d->end)
		d->start = d->end = 0;
	if (d->cap - d->end >= need)
		return 1;
	if (d->start == 0 || d->cap - (d->end - d->start) < need)
		return 0;
	memmove(d->buf, d->buf + d->start, d->end - d->start);
	d->end -= d->start;
	d->start = 0;
	return 1;
}

/* A page-sized pipe; without one, the direction copies through a buffer. */
static void
pipe_open(struct dir *d)
{
	int n;

	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		d->pipe[0] = d->pipe[1] = -1;
		d->no_pipe = 1;
		return;
	}
	n = fcntl(d->pipe[1], F_SETPIPE_SZ, XFER_SMALL);
	d->pipesz = n > 0 ? (size_t)n : 65536;
}

/*
 * The pipe filled: the direction is bulk.  When the kernel refuses a
 * larger pipe (pipe-user-pages-soft), the buffer takes over once the
 * pipe is empty.
 */
static void
pipe_grow(struct dir *d)
{
	int n;

	if (d->pipesz >= XFER_BULK)
		return;
	if ((n = fcntl(d->pipe[1], F_SETPIPE_SZ, XFER_BULK)) == -1)
		d->no_pipe = 1;
	else
		d->pipesz = (size_t)n;
}

/* The copy path's buffer: a page, or a record for a record layer. */
static int
buf_open(struct dir *d)
{
	size_t cap = d->src->ep.ops->record > 1 ? d->src->ep.ops->record :
	    XFER_SMALL;

	if ((d->buf = malloc(cap)) == NULL)
		return -1;
	d->cap = cap;
	d->start = d->end = 0;
	return 0;
}

/*
 * Take what src has into the direction.  Returns 1 for bytes (or the end
 * of src), 0 to wait, or -1 after xfer_fail().
 */
static int
dir_read(struct xfer *x, struct dir *d)
{
	if (d->pipe[0] == -1 && d->buf == NULL && dir_spliced(d))
		pipe_open(d);
	if (d->pipe[0] != -1)
		return splice_read(x, d);
	/* Out of memory: this transfer ends, the others go on. */
	if (d->buf == NULL && buf_open(d) == -1)
		return xfer_fail(x, d->src, ENOMEM, NULL);
	return buf_read(x, d);
}

static int
splice_read(struct xfer *x, struct dir *d)
{
	size_t want = d->pipesz - d->held;
	ssize_t n;
	int atmark = 0;

	do
		n = splice(d->src->ep.fd, NULL, d->pipe[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		d->fresh = 0;
		d->held += n;
		if ((size_t)n == want)
			pipe_grow(d);
		return 1;
	}
	/*
	 * TCP splice stops at an urgent mark, saying 0 as if at the end or
	 * EAGAIN while poll says readable: recv(2) steps over the mark, so
	 * the buffer takes over.
	 */
	if ((n == 0 || (errno == EAGAIN && d->held == 0 && d->fresh)) &&
	    ioctl(d->src->ep.fd, SIOCATMARK, &atmark) == 0 && atmark) {
		d->no_pipe = 1;
		return 1;
	}
	if (n == 0) {
		d->eof = 1;
		return 1;
	}
	if (errno == EAGAIN && d->held > 0) {
		/* Either the socket is empty or the pipe's slots are full. */
		d->pipe_full = 1;
		pipe_grow(d);
		return 0;
	}
	if (errno == EAGAIN) {
		d->rblocked = 1;
		d->rwant = POLLIN;
		return 0;
	}
	if (pump_zc_refused(errno)) {
		d->no_pipe = 1;
		return 0;
	}
	return xfer_fail(x, d->src, errno, NULL);
}

static int
buf_read(struct xfer *x, struct dir *d)
{
	size_t want = d->cap - d->end, bulk;
	const char *why = NULL;
	unsigned char *nb;
	ssize_t n;

	n = d->src->ep.ops->recv(&d->src->ep, d->buf + d->end, want,
	    &d->rwant, &why);
	if (n == NTLS_WANT) {
		d->rblocked = 1;
		return 0;
	}
	if (n < 0)
		return xfer_fail(x, d->src, errno, why);
	if (n == 0) {
		d->eof = 1;
		return 1;
	}
	d->end += n;
	/*
	 * Full after one read: bulk, room for two records at least.  Without
	 * the memory, stay small.
	 */
	bulk = 2 * d->src->ep.ops->record > XFER_BUFBULK ?
	    2 * d->src->ep.ops->record : XFER_BUFBULK;
	if (d->cap < bulk && !dir_room(d) &&
	    (nb = realloc(d->buf, bulk)) != NULL) {
		d->buf = nb;
		d->cap = bulk;
	}
	return 1;
}

/*
 * Give dst what the direction holds.  Returns 1 for progress, 0 to wait,
 * -1 after xfer_fail().
 */
static int
dir_write(struct xfer *x, struct dir *d)
{
	const char *why = NULL;
	ssize_t n;

	if (d->held > 0) {
		do
			n = splice(d->pipe[0], NULL, d->dst->ep.fd, NULL, d->held,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n == -1 && errno == EINTR);
		if (n == -1 && errno == EAGAIN)
			n = NTLS_WANT;
		d->wwant = POLLOUT;
	} else
		n = d->dst->ep.ops->send(&d->dst->ep, d->buf + d->start,
		    d->end - d->start, 0, &d->wwant, &why);
	if (n == NTLS_WANT) {
		d->wblocked = 1;
		return 0;
	}
	if (n < 0)
		return xfer_fail(x, d->dst, errno, why);
	d->bytes += n;
	if (d->held > 0) {
		d->held -= n;
		d->pipe_full = 0;
		if (d->held == 0 && d->no_pipe)
			dir_release(d);
	} else
		d->start += n;
	return 1;
}

/*
 * Everything src sent has reached dst: pass the end on (a half-close)
 * and give back the pipe or buffer.  Returns 1 when done, 0 to wait.
 */
static int
dir_shut(struct xfer *x, struct dir *d)
{
	if (d->dst->ep.ops->shut(&d->dst->ep, &d->wwant) == NTLS_WANT) {
		d->wblocked = 1;
		return 0;
	}
	d->ended = 1;
	dir_release(d);
	if (x->o->verbose > 1)
		warnx("%s: end of stream passed to %s", d->src->name,
		    d->dst->name);
	return 1;
}

/* Whether e fired for what want waits on. */
static int
ready(const struct endpoint *e, short want)
{
	int m = (want & POLLIN ? LOOP_READ : 0) |
	    (want & POLLOUT ? LOOP_WRITE : 0) | LOOP_HUP | LOOP_ERR;

	return (e->fired & m) != 0;
}

/*
 * Move what one direction can now, at most XFER_ROUNDS calls.  A write
 * is tried right after a read unless dst said wait and poll has not
 * said otherwise since.  Returns STEP_GO or STEP_FAIL.
 */
static int
dir_step(struct xfer *x, struct dir *d)
{
	int i, r, w, progress;

	if (ready(d->src, d->rwant))
		d->rblocked = 0;
	d->fresh = !d->rblocked && (d->src->fired & LOOP_READ);
	if (ready(d->dst, d->wwant))
		d->wblocked = 0;
	for (i = 0; i < XFER_ROUNDS && !d->ended; i++) {
		progress = 0;
		if (!d->wblocked && dir_pending(d) > 0) {
			if ((w = dir_write(x, d)) == -1)
				return STEP_FAIL;
			progress |= w;
		}
		if (!d->rblocked && !d->eof && dir_room(d)) {
			if ((r = dir_read(x, d)) == -1)
				return STEP_FAIL;
			progress |= r;
		}
		if (d->eof && dir_pending(d) == 0 && !d->wblocked)
			progress |= dir_shut(x, d);
		if (!progress)
			break;
	}
	return STEP_GO;
}

/*
 * side failed with errno e (or libtls's why): say so with -v, reset the
 * other side (SO_LINGER 0 sends RST on close), close both and give back
 * what the directions hold.  Returns -1.
 */
static int
xfer_fail(struct xfer *x, struct endpoint *side, int e, const char *why)
{
	struct endpoint *other = side == &x->end[0] ? &x->end[1] : &x->end[0];
	struct linger lg = { 1, 0 };

	if (x->o->verbose > 0)
		warnx("%s: %s", side->name, why != NULL ? why : strerror(e));
	xfer_unwatch(x);
	setsockopt(other->ep.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(other->ep.fd);
	close(side->ep.fd);
	other->ep.fd = side->ep.fd = -1;
	dir_release(&x->dir[0]);
	dir_release(&x->dir[1]);
	return -1;
}

/* Ask the loop for what the directions wait on now. */
static void
xfer_arm(struct xfer *x)
{
	struct endpoint *e;
	struct dir *d;
	int i, mask[2] = { 0, 0 };

	for (i = 0; i < 2; i++) {
		d = &x->dir[i];
		e = d->src;
		if (!d->eof && dir_room(d))
			mask[e == &x->end[1]] |= (d->rwant & POLLIN ?
			    LOOP_READ : 0) | (d->rwant & POLLOUT ?
			    LOOP_WRITE : 0);
		e = d->dst;
		if (!d->ended && (dir_pending(d) > 0 || d->eof))
			mask[e == &x->end[1]] |= (d->wwant & POLLIN ?
			    LOOP_READ : 0) | (d->wwant & POLLOUT ?
			    LOOP_WRITE : 0);
	}
	for (i = 0; i < 2; i++) {
		e = &x->end[i];
		e->fired = 0;
		if (e->watched && e->mask != mask[i])
			loop_fd_mask(x->loop, e->ep.fd, mask[i]);
		/* One let go after a hang-up is watched again when it matters. */
		else if (!e->watched && mask[i] != 0 && loop_fd(x->loop, e->ep.fd,
		    mask[i], xfer_event, e) == 0)
			e->watched = 1;
		e->mask = mask[i];
	}
}

static void
xfer_unwatch(struct xfer *x)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (x->end[i].watched)
			loop_fd_del(x->loop, x->end[i].ep.fd);
		x->end[i].watched = 0;
	}
}

/*
 * e reported a hang-up or an error while nothing waited on it.  A socket
 * error is a reset to pass on (-1); a plain hang-up is watched no more,
 * or level-triggered poll would report it without end (0).
 */
static int
xfer_orphan(struct xfer *x, struct endpoint *e)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(e->ep.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	    err != 0)
		return xfer_fail(x, e, err, NULL);
	if (!(e->fired & LOOP_ERR)) {
		loop_fd_del(x->loop, e->ep.fd);
		e->watched = 0;
		return 0;
	}
	return xfer_fail(x, e, ECONNRESET, NULL);
}

/* The loop's call for either socket: step both directions, then re-arm. */
static void
xfer_event(struct loop *l, int fd, int fired, void *data)
{
	struct endpoint *e = data;
	struct xfer *x = e->x;
	int rc;

	(void)l;
	(void)fd;
	e->fired = fired;
	if (dir_step(x, &x->dir[0]) == STEP_FAIL ||
	    dir_step(x, &x->dir[1]) == STEP_FAIL) {
		rc = NP_EXIT_FAIL;
		goto over;
	}
	if (x->dir[0].ended && x->dir[1].ended) {
		xfer_unwatch(x);
		rc = NP_EXIT_OK;
		goto over;
	}
	if ((fired & (LOOP_HUP | LOOP_ERR)) && e->mask == 0 &&
	    xfer_orphan(x, e) == -1) {
		rc = NP_EXIT_FAIL;
		goto over;
	}
	xfer_arm(x);
	return;
over:
	x->over = 1;
	/* Last: done() may free x. */
	x->done(x, rc, x->data);
}

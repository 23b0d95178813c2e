/*
 * xfer.c: a transfer between two connected stream sockets on the
 * caller's event loop, for a process that holds many at once.
 *
 * A transfer is two endpoints and two flows.  An endpoint is a socket
 * and its record layer (struct ep, endpoint.c: the same code the pump
 * moves its socket's bytes with) and what the loop knows of it.  A flow
 * is a direction (struct dir, dir.c: the pump's too) from its source
 * endpoint to its sink and what the loop knows of both: the direction
 * owns what moves, a pipe that splice(2) fills and empties when neither
 * endpoint has a record layer, else a buffer, and its end of stream and
 * byte count.  Neither pipe nor buffer exists until the first bytes
 * come, both start at a page and grow once when the direction proves
 * bulk, and both go when it ends: an idle transfer is its struct alone.
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

struct flow {
	struct endpoint	*src;
	struct endpoint	*dst;
	struct dir	 d;		/* its pipe or buffer, its end */
	short		 rwant;		/* what src's io waits for */
	short		 wwant;		/* what dst's io or shut waits for */
	int		 rblocked;	/* src said wait */
	int		 fresh;		/* src fired and gave nothing yet */
	int		 wblocked;	/* dst said wait */
};

struct xfer {
	struct loop		*loop;
	const struct np_opts	*o;
	struct endpoint		 end[2];	/* a, b */
	struct flow		 flow[2];	/* a to b, b to a */
	void			(*done)(struct xfer *, int, void *);
	void			*data;
	int			 over;		/* done() was called */
};

/* What a direction's step found. */
#define STEP_GO		0
#define STEP_FAIL	1

static void	 end_init(struct xfer *, struct endpoint *,
		    const struct xfer_side *);
static void	 flow_init(struct flow *, struct endpoint *, struct endpoint *);
static int	 flow_room(const struct flow *);
static int	 flow_spliced(const struct flow *);
static int	 flow_read(struct xfer *, struct flow *);
static int	 splice_read(struct xfer *, struct flow *);
static int	 buf_read(struct xfer *, struct flow *);
static int	 flow_write(struct xfer *, struct flow *);
static int	 flow_shut(struct xfer *, struct flow *);
static int	 flow_step(struct xfer *, struct flow *);
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
	flow_init(&x->flow[0], &x->end[0], &x->end[1]);
	flow_init(&x->flow[1], &x->end[1], &x->end[0]);
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
	*a_to_b = x->flow[0].d.bytes;
	*b_to_a = x->flow[1].d.bytes;
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
		dir_release(&x->flow[i].d);
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

/*
 * A flow's state, all of it, starts here.  Its buffer starts at a page,
 * or a record for a record layer, and grows to room for two records or
 * XFER_BUFBULK; its pipe starts at a page and grows to XFER_BULK.
 */
static void
flow_init(struct flow *f, struct endpoint *src, struct endpoint *dst)
{
	size_t record = src->ep.ops->record;

	memset(f, 0, sizeof(*f));
	f->src = src;
	f->dst = dst;
	dir_init(&f->d);
	dir_sizes(&f->d, record > 1 ? record : XFER_SMALL,
	    2 * record > XFER_BUFBULK ? 2 * record : XFER_BUFBULK, record);
	f->rwant = POLLIN;
	f->wwant = POLLOUT;
	/* Nothing is read until poll says so: an idle pair costs nothing. */
	f->rblocked = 1;
}

/* Whether this flow moves through a pipe (made or yet to be). */
static int
flow_spliced(const struct flow *f)
{
	return f->d.pipe[0] != -1 || (!f->d.no_pipe && f->d.buf == NULL &&
	    f->src->ep.ops->splice && f->dst->ep.ops->splice);
}

/*
 * Whether a read has somewhere to land.  A record layer always gets room
 * for a whole record: what it cannot hand over stays where poll does
 * not see it.  A pipe given up on is emptied before the buffer takes
 * over.
 */
static int
flow_room(const struct flow *f)
{
	if (f->d.pipe[0] != -1)
		return dir_pipe_room(&f->d);
	return dir_ready(&f->d);
}

/*
 * Take what src has into the direction.  Returns 1 for bytes (or the end
 * of src), 0 to wait, or -1 after xfer_fail().
 */
static int
flow_read(struct xfer *x, struct flow *f)
{
	if (f->d.pipe[0] == -1 && f->d.buf == NULL && flow_spliced(f))
		dir_pipe(&f->d, XFER_SMALL);
	if (f->d.pipe[0] != -1)
		return splice_read(x, f);
	/* Out of memory: this transfer ends, the others go on. */
	if (dir_buf(&f->d) == -1)
		return xfer_fail(x, f->src, ENOMEM, NULL);
	return buf_read(x, f);
}

static int
splice_read(struct xfer *x, struct flow *f)
{
	struct dir *d = &f->d;
	size_t want = d->pipesz - d->held;
	ssize_t n;
	int atmark = 0;

	do
		n = splice(f->src->ep.fd, NULL, d->pipe[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n > 0) {
		f->fresh = 0;
		d->held += n;
		if ((size_t)n == want)
			dir_pipe_grow(d, XFER_BULK);
		return 1;
	}
	/*
	 * TCP splice stops at an urgent mark, saying 0 as if at the end or
	 * EAGAIN while poll says readable: recv(2) steps over the mark, so
	 * the buffer takes over.
	 */
	if ((n == 0 || (errno == EAGAIN && d->held == 0 && f->fresh)) &&
	    ioctl(f->src->ep.fd, SIOCATMARK, &atmark) == 0 && atmark) {
		dir_pipe_off(d);
		return 1;
	}
	if (n == 0) {
		d->eof = 1;
		return 1;
	}
	if (errno == EAGAIN && d->held > 0) {
		/* Either the socket is empty or the pipe's slots are full. */
		d->pipe_full = 1;
		dir_pipe_grow(d, XFER_BULK);
		return 0;
	}
	if (errno == EAGAIN) {
		f->rblocked = 1;
		f->rwant = POLLIN;
		return 0;
	}
	if (pump_zc_refused(errno)) {
		dir_pipe_off(d);
		return 0;
	}
	return xfer_fail(x, f->src, errno, NULL);
}

static int
buf_read(struct xfer *x, struct flow *f)
{
	struct dir *d = &f->d;
	const char *why = NULL;
	ssize_t n;

	d->asked = dir_room(d);
	n = f->src->ep.ops->recv(&f->src->ep, d->buf + d->end, d->asked,
	    &f->rwant, &why);
	if (n == NTLS_WANT) {
		f->rblocked = 1;
		return 0;
	}
	if (n < 0)
		return xfer_fail(x, f->src, errno, why);
	if (n == 0) {
		d->eof = 1;
		return 1;
	}
	dir_filled(d, n, n);
	return 1;
}

/*
 * Give dst what the direction holds.  Returns 1 for progress, 0 to wait,
 * -1 after xfer_fail().
 */
static int
flow_write(struct xfer *x, struct flow *f)
{
	struct dir *d = &f->d;
	const char *why = NULL;
	ssize_t n;

	if (d->held > 0) {
		do
			n = splice(d->pipe[0], NULL, f->dst->ep.fd, NULL,
			    d->held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n == -1 && errno == EINTR);
		if (n == -1 && errno == EAGAIN)
			n = NTLS_WANT;
		f->wwant = POLLOUT;
	} else
		n = f->dst->ep.ops->send(&f->dst->ep, d->buf + d->start,
		    d->end - d->start, 0, &f->wwant, &why);
	if (n == NTLS_WANT) {
		f->wblocked = 1;
		return 0;
	}
	if (n < 0)
		return xfer_fail(x, f->dst, errno, why);
	if (d->held > 0)
		dir_pipe_drained(d, n);
	else
		dir_consumed(d, n);
	return 1;
}

/*
 * Everything src sent has reached dst: pass the end on (a half-close)
 * and give back the pipe or buffer.  Returns 1 when done, 0 to wait.
 */
static int
flow_shut(struct xfer *x, struct flow *f)
{
	if (f->dst->ep.ops->shut(&f->dst->ep, &f->wwant) == NTLS_WANT) {
		f->wblocked = 1;
		return 0;
	}
	f->d.ended = 1;
	dir_release(&f->d);
	if (x->o->verbose > 1)
		warnx("%s: end of stream passed to %s", f->src->name,
		    f->dst->name);
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
 * Move what one flow can now, at most XFER_ROUNDS calls.  A write
 * is tried right after a read unless dst said wait and poll has not
 * said otherwise since.  Returns STEP_GO or STEP_FAIL.
 */
static int
flow_step(struct xfer *x, struct flow *f)
{
	struct dir *d = &f->d;
	int i, r, w, progress;

	if (ready(f->src, f->rwant))
		f->rblocked = 0;
	f->fresh = !f->rblocked && (f->src->fired & LOOP_READ);
	if (ready(f->dst, f->wwant))
		f->wblocked = 0;
	for (i = 0; i < XFER_ROUNDS && !d->ended; i++) {
		progress = 0;
		if (!f->wblocked && dir_pending(d) > 0) {
			if ((w = flow_write(x, f)) == -1)
				return STEP_FAIL;
			progress |= w;
		}
		if (!f->rblocked && !d->eof && flow_room(f)) {
			if ((r = flow_read(x, f)) == -1)
				return STEP_FAIL;
			progress |= r;
		}
		if (d->eof && dir_pending(d) == 0 && !f->wblocked)
			progress |= flow_shut(x, f);
		if (!progress)
			break;
	}
	return STEP_GO;
}

/*
 * side failed with errno e (or libtls's why): say so with -v, reset the
 * other side (SO_LINGER 0 sends RST on close), close both and give back
 * what the flows hold.  Returns -1.
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
	dir_release(&x->flow[0].d);
	dir_release(&x->flow[1].d);
	return -1;
}

/* Ask the loop for what the flows wait on now. */
static void
xfer_arm(struct xfer *x)
{
	struct endpoint *e;
	struct flow *f;
	int i, mask[2] = { 0, 0 };

	for (i = 0; i < 2; i++) {
		f = &x->flow[i];
		e = f->src;
		if (!f->d.eof && flow_room(f))
			mask[e == &x->end[1]] |= (f->rwant & POLLIN ?
			    LOOP_READ : 0) | (f->rwant & POLLOUT ?
			    LOOP_WRITE : 0);
		e = f->dst;
		if (!f->d.ended && (dir_pending(&f->d) > 0 || f->d.eof))
			mask[e == &x->end[1]] |= (f->wwant & POLLIN ?
			    LOOP_READ : 0) | (f->wwant & POLLOUT ?
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

/* The loop's call for either socket: step both flows, then re-arm. */
static void
xfer_event(struct loop *l, int fd, int fired, void *data)
{
	struct endpoint *e = data;
	struct xfer *x = e->x;
	int rc;

	(void)l;
	(void)fd;
	e->fired = fired;
	if (flow_step(x, &x->flow[0]) == STEP_FAIL ||
	    flow_step(x, &x->flow[1]) == STEP_FAIL) {
		rc = NP_EXIT_FAIL;
		goto over;
	}
	if (x->flow[0].d.ended && x->flow[1].d.ended) {
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

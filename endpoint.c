/*
 * endpoint.c: a connected stream socket and its record layer, as one
 * side of a transfer sees it.  Both engines move socket bytes through
 * these and nothing else: the pump (transfer.c) for its socket side and
 * xfer.c for both sides of a socket pair.  An implementation is picked
 * once, by ep_init(), from what the connection is (plain send/recv,
 * read/write for --io rw, TLS, --passphrase records); a record layer
 * added here reaches both engines without touching either loop.  The
 * pump's stdin and stdout are read/write endpoints too.
 *
 * Every operation keeps one contract, that of ntls_io(): a byte count,
 * 0 at the end of the stream, NTLS_WANT with *events set to what poll
 * must wait for, -1 with errno (and, from a quiet layer, *why saying
 * what the layer saw), or EP_REPORTED when the layer printed its own
 * message.  After anything but NTLS_WANT, *events is back to the
 * plain POLLIN or POLLOUT.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "netpipe.h"

static ssize_t	 plain_recv(struct ep *, void *, size_t, short *,
		    const char **);
static ssize_t	 plain_send(struct ep *, void *, size_t, int, short *,
		    const char **);
static ssize_t	 rw_recv(struct ep *, void *, size_t, short *,
		    const char **);
static ssize_t	 rw_send(struct ep *, void *, size_t, int, short *,
		    const char **);
static ssize_t	 dgram_recvfrom(struct ep *, void *, size_t,
		    struct sockaddr *, socklen_t *, short *);
static ssize_t	 dgram_sendto(struct ep *, const void *, size_t, int,
		    const struct sockaddr *, socklen_t, short *);
static int	 plain_shut(struct ep *, short *);
static void	 plain_end(struct ep *, int);
static ssize_t	 plain_done(ssize_t, int, short *);
static ssize_t	 tls_recv(struct ep *, void *, size_t, short *,
		    const char **);
static ssize_t	 tls_send(struct ep *, void *, size_t, int, short *,
		    const char **);
static ssize_t	 tls_loud_recv(struct ep *, void *, size_t, short *,
		    const char **);
static ssize_t	 tls_loud_send(struct ep *, void *, size_t, int,
		    short *, const char **);
static int	 tls_shut(struct ep *, short *);
static void	 tls_end(struct ep *, int);
static ssize_t	 pp_recv(struct ep *, void *, size_t, short *,
		    const char **);
static ssize_t	 pp_send(struct ep *, void *, size_t, int, short *,
		    const char **);
static int	 pp_shut(struct ep *, short *);
static void	 pp_end(struct ep *, int);

/*
 * The implementations.  record is the room a read must offer (what a
 * layer cannot hand over stays where poll does not see it); splice says
 * that no layer stands between the bytes and the fd, so splice(2) and
 * sendfile(2) may reach it.
 */
static const struct ep_ops ep_plain = {
	"stream", plain_recv, plain_send, plain_shut, plain_end, 1, 1,
	NULL, NULL
};
/*
 * A datagram socket: recv and send for a connected one, recvfrom and
 * sendto where the peer's address matters (an unconnected -k listener).
 */
static const struct ep_ops ep_dgram = {
	"dgram", plain_recv, plain_send, plain_shut, plain_end, 1, 1,
	dgram_recvfrom, dgram_sendto
};
static const struct ep_ops ep_rw = {
	"rw", rw_recv, rw_send, plain_shut, plain_end, 1, 1, NULL, NULL
};
static const struct ep_ops ep_tls = {
	"tls", tls_recv, tls_send, tls_shut, tls_end, NTLS_RECORD, 0,
	NULL, NULL
};
static const struct ep_ops ep_tls_loud = {
	"tls", tls_loud_recv, tls_loud_send, tls_shut, tls_end, NTLS_RECORD, 0,
	NULL, NULL
};
/* pp.c reports its own failures, quiet or not. */
static const struct ep_ops ep_pp = {
	"passphrase", pp_recv, pp_send, pp_shut, pp_end, PP_RECORD, 0,
	NULL, NULL
};

/*
 * Make e the endpoint for fd and its record layer: the TLS session tls
 * or the --passphrase stream pp (at most one of them not NULL), else
 * none.  flags: EP_DGRAM makes a datagram socket's endpoint, with
 * recvfrom and sendto; EP_RW uses read(2)/write(2) on a plain socket;
 * EP_QUIET makes TLS say nothing of a failure (why tells the caller), as
 * a process that holds many transfers wants.  e owns none of fd, tls, pp.
 */
void
ep_init(struct ep *e, int fd, struct tls *tls, struct pp *pp, int flags)
{
	e->fd = fd;
	e->tls = tls;
	e->pp = pp;
	if (tls != NULL)
		e->ops = flags & EP_QUIET ? &ep_tls : &ep_tls_loud;
	else if (pp != NULL)
		e->ops = &ep_pp;
	else if (flags & EP_DGRAM)
		e->ops = &ep_dgram;
	else
		e->ops = flags & EP_RW ? &ep_rw : &ep_plain;
}

/*
 * A plain call's result in the contract: EAGAIN becomes NTLS_WANT, and
 * so does EINTR, not retried here: signals interrupt without SA_RESTART
 * (loop.c) so that a blocking stdio call gives the loop its turn to see
 * them, and poll, level-triggered, wakes us again at once if need be.
 */
static ssize_t
plain_done(ssize_t n, int writing, short *events)
{
	*events = writing ? POLLOUT : POLLIN;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return NTLS_WANT;
	return n;
}

static ssize_t
plain_recv(struct ep *e, void *buf, size_t len, short *events,
    const char **why)
{
	(void)why;
	return plain_done(recv(e->fd, buf, len, MSG_DONTWAIT), 0, events);
}

/* flags adds to send(2)'s (MSG_MORE, MSG_OOB); a gone peer is no signal. */
static ssize_t
plain_send(struct ep *e, void *buf, size_t len, int flags,
    short *events, const char **why)
{
	(void)why;
	return plain_done(send(e->fd, buf, len, flags | MSG_NOSIGNAL |
	    MSG_DONTWAIT), 1, events);
}

/* A datagram and its sender's address, *len in and out as recvfrom's. */
static ssize_t
dgram_recvfrom(struct ep *e, void *buf, size_t len, struct sockaddr *from,
    socklen_t *fromlen, short *events)
{
	return plain_done(recvfrom(e->fd, buf, len, MSG_DONTWAIT, from,
	    fromlen), 0, events);
}

/* A datagram to the address to; a gone peer is no signal. */
static ssize_t
dgram_sendto(struct ep *e, const void *buf, size_t len, int flags,
    const struct sockaddr *to, socklen_t tolen, short *events)
{
	return plain_done(sendto(e->fd, buf, len, flags | MSG_NOSIGNAL |
	    MSG_DONTWAIT, to, tolen), 1, events);
}

/* read(2)/write(2): --io rw on a socket, and the pump's stdin and stdout. */
static ssize_t
rw_recv(struct ep *e, void *buf, size_t len, short *events,
    const char **why)
{
	(void)why;
	return plain_done(read(e->fd, buf, len), 0, events);
}

static ssize_t
rw_send(struct ep *e, void *buf, size_t len, int flags,
    short *events, const char **why)
{
	(void)flags;
	(void)why;
	return plain_done(write(e->fd, buf, len), 1, events);
}

/* The socket's own end of stream: a half-close never waits. */
static int
plain_shut(struct ep *e, short *events)
{
	*events = POLLOUT;
	shutdown(e->fd, SHUT_WR);
	return 0;
}

/* A plain stream has no end of its own to send before shutdown(2). */
static void
plain_end(struct ep *e, int broken)
{
	(void)e;
	(void)broken;
}

static ssize_t
tls_recv(struct ep *e, void *buf, size_t len, short *events,
    const char **why)
{
	return ntls_quiet_io(e->tls, 0, buf, len, events, why);
}

/* libtls sends what it is given; flags have no meaning for records. */
static ssize_t
tls_send(struct ep *e, void *buf, size_t len, int flags,
    short *events, const char **why)
{
	(void)flags;
	return ntls_quiet_io(e->tls, 1, buf, len, events,
	    why);
}

/* A process with one connection: libtls's failure is printed as it comes. */
static ssize_t
tls_loud_recv(struct ep *e, void *buf, size_t len, short *events,
    const char **why)
{
	ssize_t n;

	(void)why;
	n = ntls_io(e->tls, 0, buf, len, events);
	return n == -1 ? EP_REPORTED : n;
}

static ssize_t
tls_loud_send(struct ep *e, void *buf, size_t len, int flags,
    short *events, const char **why)
{
	ssize_t n;

	(void)flags;
	(void)why;
	n = ntls_io(e->tls, 1, buf, len, events);
	return n == -1 ? EP_REPORTED : n;
}

/* close_notify first, then the socket's own end: the peer may wait on it. */
static int
tls_shut(struct ep *e, short *events)
{
	if (ntls_close_step(e->tls, events) == NTLS_WANT)
		return NTLS_WANT;
	shutdown(e->fd, SHUT_WR);
	return 0;
}

/*
 * close_notify, bounded, for a caller that may block a moment (-N).  It
 * has gone even after input that broke, as it always has: exit 1 says
 * that the stream was cut.
 */
static void
tls_end(struct ep *e, int broken)
{
	(void)broken;
	ntls_close_notify(e->tls, e->fd);
}

static ssize_t
pp_recv(struct ep *e, void *buf, size_t len, short *events,
    const char **why)
{
	ssize_t n;

	(void)why;
	n = pp_io(e->pp, 0, buf, len, events);
	return n == -1 ? EP_REPORTED : n;
}

static ssize_t
pp_send(struct ep *e, void *buf, size_t len, int flags, short *events,
    const char **why)
{
	ssize_t n;

	(void)flags;
	(void)why;
	n = pp_io(e->pp, 1, buf, len, events);
	return n == -1 ? EP_REPORTED : n;
}

/* The end record first, then the socket's own end, as TLS does. */
static int
pp_shut(struct ep *e, short *events)
{
	if (pp_close_step(e->pp, events) == NTLS_WANT)
		return NTLS_WANT;
	shutdown(e->fd, SHUT_WR);
	return 0;
}

/*
 * The end record, bounded.  Input that broke did not end: the peer
 * must not think so, and sees the stream cut instead.
 */
static void
pp_end(struct ep *e, int broken)
{
	if (!broken)
		pp_close(e->pp);
}

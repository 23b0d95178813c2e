/*
 * dial.c: reaching the destination, directly or through -x, with
 * --retry.  It sits under both its users, session.c's client and
 * resume.c's reconnecting sender, so that neither imports the other.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>

#include "netpipe.h"

/* --retry's first pause; each next one doubles, up to --retry-delay. */
#define RETRY_FIRST_MS	100

static int	 dial_once(const struct np_opts *, char *, size_t);
static int	 dial_retryable(const struct np_opts *, int);

/* One connect, directly or through -x.  Returns the socket, or -1. */
static int
dial_once(const struct np_opts *o, char *bound, size_t boundlen)
{
	if (o->proxy_type != PROXY_NONE)
		return proxy_connect(o);
	return sock_connect(o, bound, boundlen);
}

/*
 * Whether a failed connect (errno e) may succeed later: the peer is not
 * there yet (refused, no such Unix socket yet), or the way to it is
 * down or slow.  A proxy's refusal is worth another try too.  A signal,
 * a bad address or a refused option is not.
 */
static int
dial_retryable(const struct np_opts *o, int e)
{
	switch (e) {
	case ECONNREFUSED: case ENETUNREACH: case EHOSTUNREACH:
	case ETIMEDOUT: case EINPROGRESS: case ECONNRESET: case ECONNABORTED:
	case ENETDOWN: case EHOSTDOWN: case EAGAIN: case ENOENT:
		return 1;
	case EINTR:
		return 0;
	default:
		return o->proxy_type != PROXY_NONE;
	}
}

/*
 * Connect, and with --retry try again after a failure that may pass,
 * waiting 100 ms, then twice as long each time, never more than
 * --retry-delay.  *used counts the tries again made; the caller may
 * reset it (resume.c does after a connection that moved data).  Returns
 * the socket, or -1 after the messages.
 */
int
dial_connect(const struct np_opts *o, char *bound, size_t boundlen,
    int *used)
{
	long long ms;
	int fd, e;

	for (;;) {
		if ((fd = dial_once(o, bound, boundlen)) != -1)
			return fd;
		e = errno;
		if (np_signal || *used >= o->retry || !dial_retryable(o, e))
			break;
		ms = (long long)RETRY_FIRST_MS << (*used < 20 ? *used : 20);
		if (ms > o->retry_delay_ms)
			ms = o->retry_delay_ms;
		(*used)++;
		if (o->verbose > 0)
			fprintf(stderr, "netpipe: retrying in %.1f s "
			    "(retry %d of %d)\n", ms / 1000.0, *used,
			    o->retry);
		if (sock_wait(-1, 0, (int)ms) == -1)
			return -1;
	}
	if (o->retry > 0 && *used >= o->retry && !np_signal)
		warnx("giving up after %d %s", *used,
		    *used == 1 ? "retry" : "retries");
	return -1;
}

/*
 * session.c: the mode handlers main() dispatches to.  Each sets up its
 * sockets through sock.c, hands the bytes to the pump, and returns an
 * exit code; each removes the Unix socket file it created.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

static int	 signal_or(int);
static void	 unlink_bound(const struct np_opts *);
static int	 listen_stream(const struct np_opts *, struct pump *, int);

/* When a signal cut a wait short, its exit code wins over rc. */
static int
signal_or(int rc)
{
	return np_signal ? NP_EXIT_SIGNAL + np_signal : rc;
}

static void
unlink_bound(const struct np_opts *o)
{
	if (o->unix_sock && o->host[0] != '@')
		unlink(o->host);
}

/* netpipe [options] destination port: one connection, one pump. */
int
session_connect(const struct np_opts *o)
{
	char bound[sizeof(((struct sockaddr_storage *)0)->__ss_padding)];
	struct pump *p;
	int fd, rc;

	if (o->proxy_type != PROXY_NONE) {
		warnx("-x: connecting through a proxy is not supported yet");
		return NP_EXIT_FAIL;
	}
	bound[0] = '\0';
	if ((fd = sock_connect(o, bound, sizeof(bound))) == -1) {
		rc = NP_EXIT_FAIL;
	} else if ((p = pump_new(o)) == NULL) {
		warn("pump");
		rc = NP_EXIT_FAIL;
	} else {
		rc = pump_run(p, fd, o->udp ? PUMP_DGRAM : 0);
		pump_free(p);
	}
	if (fd != -1)
		close(fd);
	if (bound[0] != '\0')
		unlink(bound);
	return signal_or(rc);
}

/*
 * Accept peers one after another (only the first without -k).  A peer
 * that fails costs its connection, not the listener.
 */
static int
listen_stream(const struct np_opts *o, struct pump *p, int lfd)
{
	int fd, rc = NP_EXIT_OK;

	do {
		if ((fd = sock_accept(o, lfd)) == -1)
			return signal_or(NP_EXIT_FAIL);
		rc = pump_run(p, fd, 0);
		close(fd);
		if (o->verbose > 0 && o->keep_open && !np_signal)
			fprintf(stderr, "Connection closed\n");
	} while (o->keep_open && !np_signal);
	return signal_or(rc);
}

/* netpipe -l: a stream listener, or a datagram socket bound to listen. */
int
session_listen(const struct np_opts *o)
{
	struct pump *p;
	int lfd, rc;

	if ((lfd = sock_listen(o)) == -1)
		return signal_or(NP_EXIT_FAIL);
	if ((p = pump_new(o)) == NULL) {
		warn("pump");
		rc = NP_EXIT_FAIL;
	} else if (!o->udp) {
		rc = listen_stream(o, p, lfd);
	} else if (sock_dgram_peer(o, lfd) == -1) {
		rc = signal_or(NP_EXIT_FAIL);
	} else {
		rc = pump_run(p, lfd, PUMP_DGRAM |
		    (o->keep_open ? PUMP_UNCONNECTED : 0));
	}
	pump_free(p);
	close(lfd);
	unlink_bound(o);
	return signal_or(rc);
}

/* netpipe -z: probe each port in order; 0 when any accepted. */
int
session_scan(const struct np_opts *o)
{
	size_t i;
	int n, any = 0;
	struct timespec pause;

	for (i = 0; i < o->nports; i++) {
		if (i > 0 && o->interval > 0) {
			np_deadline_set(&pause, o->interval * 1000);
			while (!np_signal && np_deadline_ms(&pause) > 0)
				sock_wait(-1, 0, np_deadline_ms(&pause));
		}
		if (np_signal || (n = sock_scan(o, o->ports[i])) == -1)
			return signal_or(NP_EXIT_FAIL);
		any |= n;
	}
	return any ? NP_EXIT_OK : NP_EXIT_FAIL;
}

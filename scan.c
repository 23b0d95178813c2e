/*
 * scan.c: -z, the port scanner.  Probes run many at a time, non-blocking,
 * and are reported in the order the ports were given, as soon as each
 * port and all before it are known.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netdb.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

/* -z -u: how long a probe waits for ICMP port unreachable without -w. */
#define SCAN_UDP_MS	200
/* Descriptors kept out of the scanner's reach for stdio and the rest. */
#define SCAN_FD_SPARE	16
#define SCAN_PENDING	(-1)

/* -z: one probe in flight, and the scan it belongs to. */
struct probe {
	struct scan		*scan;
	int			 fd;	/* -1: the slot is free */
	size_t			 idx;	/* into scan.ports */
	const struct addrinfo	*ai;	/* the address being tried */
	long long		 timer;	/* -w (or SCAN_UDP_MS), or 0 */
	int			 expired; /* its timer fired */
};

struct scan {
	const struct np_opts	*o;
	const int		*ports;
	size_t			 nports;
	struct addrinfo		*res;
	int			*result; /* SCAN_PENDING, 0 open, or errno */
	struct probe		*probes;
	struct loop		*loop;
	int			 nprobes;
	int			 failed; /* a probe failed, after a message */
	size_t			 next;	/* the next port to start */
	size_t			 shown;	/* ports reported, in order */
	int			 nopen;
};

static int	 scan_init(struct scan *, const struct np_opts *, size_t,
		    size_t, int);
static void	 scan_free(struct scan *);
static int	 scan_loop(struct scan *);
static int	 scan_fill(struct scan *);
static int	 scan_try(struct scan *, struct probe *);
static int	 scan_started(struct scan *, struct probe *, int);
static void	 scan_ready(struct loop *, int, int, void *);
static int	 scan_expire(struct loop *, long long, void *);
static int	 scan_check(struct scan *, struct probe *, int);
static void	 scan_close(struct scan *, struct probe *);
static void	 scan_done(struct scan *, struct probe *, int);
static void	 scan_show(struct scan *);
static int	 scan_paused(struct loop *, long long, void *);

/*
 * -z: probe count ports of o->ports from first on, parallel at a time,
 * and report each in the order of o->ports (port order, or -r's order)
 * as soon as it and all before it are known.  A TCP port is open when it
 * accepts; a UDP port when no ICMP port unreachable comes back to an
 * empty datagram, which loopback delivers at once (so no data is sent).
 * Returns the number of open ports, or -1: errno EINTR on a signal,
 * otherwise after a message (an option the kernel refused, say).
 */
int
scan_run(const struct np_opts *o, size_t first, size_t count,
    int parallel)
{
	struct scan s;
	int rc;

	if (scan_init(&s, o, first, count, parallel) == -1) {
		scan_free(&s);
		return -1;
	}
	rc = scan_loop(&s);
	scan_free(&s);
	return rc == -1 ? -1 : s.nopen;
}

static int
scan_init(struct scan *s, const struct np_opts *o, size_t first,
    size_t count, int parallel)
{
	struct rlimit rl;
	char port[8];
	size_t j;
	int i;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->ports = o->ports + first;
	s->nports = count;
	/* Never run out of descriptors, whatever --scan-parallel says. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && (rlim_t)parallel + SCAN_FD_SPARE > rl.rlim_cur)
		parallel = rl.rlim_cur > 2 * SCAN_FD_SPARE ?
		    (int)(rl.rlim_cur - SCAN_FD_SPARE) : 1;
	s->nprobes = (size_t)parallel < count ? parallel : (int)count;
	if (s->nprobes < 1)
		s->nprobes = 1;
	/* A failed lookup names the first port, as nc.openbsd does. */
	snprintf(port, sizeof(port), "%d", count > 0 ? s->ports[0] : 0);
	if (sock_addrinfo(o, o->host, port, 0, &s->res) == -1)
		return -1;
	s->result = calloc(count > 0 ? count : 1, sizeof(*s->result));
	s->probes = calloc(s->nprobes, sizeof(*s->probes));
	s->loop = loop_new();
	if (s->result == NULL || s->probes == NULL || s->loop == NULL) {
		warn("scan");
		return -1;
	}
	for (i = 0; i < s->nprobes; i++) {
		s->probes[i].scan = s;
		s->probes[i].fd = -1;
	}
	for (j = 0; j < count; j++)
		s->result[j] = SCAN_PENDING;
	return 0;
}

static void
scan_free(struct scan *s)
{
	int i;

	for (i = 0; s->probes != NULL && i < s->nprobes; i++)
		if (s->probes[i].fd != -1)
			close(s->probes[i].fd);
	if (s->res != NULL)
		freeaddrinfo(s->res);
	free(s->result);
	free(s->probes);
	loop_free(s->loop);
}

/*
 * Start probes while slots are free, wait on the loop, and settle what
 * is ready; a probe whose time ran out is settled after the round, so
 * that an answer that came with it still counts.
 */
static int
scan_loop(struct scan *s)
{
	int i, active;

	for (;;) {
		if (np_signal) {
			errno = EINTR;
			return -1;
		}
		if ((active = scan_fill(s)) == -1)
			return -1;
		scan_show(s);
		if (active == 0 && s->next == s->nports)
			return 0;
		if (loop_once(s->loop) == -1) {
			warn("poll");
			return -1;
		}
		for (i = 0; i < s->nprobes && !s->failed; i++)
			if (s->probes[i].expired &&
			    scan_check(s, &s->probes[i], 0) == -1)
				return -1;
		if (s->failed)
			return -1;
	}
}

/*
 * Fill the free slots with the next ports.  Returns the number of probes
 * in flight, or -1 after a message.
 */
static int
scan_fill(struct scan *s)
{
	struct probe *pr;
	int i, active = 0;

	for (i = 0; i < s->nprobes; i++) {
		pr = &s->probes[i];
		while (pr->fd == -1 && s->next < s->nports) {
			pr->idx = s->next++;
			pr->ai = s->res;
			if (scan_try(s, pr) == -1)
				return -1;
		}
		active += pr->fd != -1;
	}
	return active;
}

/*
 * Start pr's connect at pr->ai, or at the next address when one cannot
 * even start.  Returns 0 (in flight, or settled), or -1 after a message
 * when an option or the source address is refused: no port can be
 * scanned then.
 */
static int
scan_try(struct scan *s, struct probe *pr)
{
	const struct np_opts *o = s->o;
	struct sockaddr_storage ss;
	int e = EAFNOSUPPORT;

	for (; pr->ai != NULL; pr->ai = pr->ai->ai_next) {
		pr->fd = sock_socket(o, pr->ai);
		if (pr->fd == -1) {
			e = errno;
			if (e == EMFILE || e == ENFILE) {
				warn("socket");
				return -1;
			}
			continue;
		}
		if (sock_client_setup(o, pr->fd, pr->ai->ai_family) == -1)
			return -1;
		memcpy(&ss, pr->ai->ai_addr, pr->ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons(s->ports[pr->idx]);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons(s->ports[pr->idx]);
		if (connect(pr->fd, (struct sockaddr *)&ss,
		    pr->ai->ai_addrlen) == 0)
			return scan_started(s, pr, 1);
		if (errno == EINPROGRESS)
			return scan_started(s, pr, 0);
		e = errno;
		scan_close(s, pr);
	}
	scan_done(s, pr, e);
	return 0;
}

/*
 * pr's socket is connecting (or, connected, done).  A UDP probe sends
 * its empty datagram and waits a moment for a refusal.  Returns 0, or
 * -1 after a message (no memory to watch it).
 */
static int
scan_started(struct scan *s, struct probe *pr, int connected)
{
	const struct np_opts *o = s->o;
	int ms = o->wait_ms > 0 ? o->wait_ms : o->udp ? SCAN_UDP_MS : -1;

	if (o->udp && send(pr->fd, "", 0, MSG_NOSIGNAL) == -1) {
		scan_done(s, pr, errno);
		return 0;
	}
	if (connected && !o->udp) {
		scan_done(s, pr, 0);
		return 0;
	}
	if (loop_fd(s->loop, pr->fd, o->udp ? LOOP_READ : LOOP_WRITE,
	    scan_ready, pr) == -1 || (ms >= 0 && (pr->timer =
	    loop_timer(s->loop, ms, scan_expire, pr)) == -1)) {
		pr->timer = 0;
		warn("scan");
		return -1;
	}
	return 0;
}

/* pr's socket is ready: settle it. */
static void
scan_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct probe *pr = arg;

	(void)fd;
	if (scan_check(pr->scan, pr, fired) == -1) {
		pr->scan->failed = 1;
		loop_stop(l);
	}
}

/* pr's time is up: scan_loop() settles it once the round is over. */
static int
scan_expire(struct loop *l, long long id, void *arg)
{
	struct probe *pr = arg;

	(void)l;
	(void)id;
	pr->timer = 0;
	pr->expired = 1;
	return LOOP_NOMORE;
}

/*
 * Settle pr: its socket is ready (fired), or (fired 0) its time is up.
 * A TCP port that fails on one address is tried on the next.  Returns
 * 0, or -1 after a message.
 */
static int
scan_check(struct scan *s, struct probe *pr, int fired)
{
	socklen_t len = sizeof(int);
	int e = 0;
	char c;

	if (pr->fd == -1)
		return 0;
	if (fired == 0) {
		/* UDP: silence is all an open port can say. */
		e = s->o->udp ? 0 : EINPROGRESS;
	} else if (s->o->udp) {
		if (recv(pr->fd, &c, 1, MSG_DONTWAIT) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			e = errno;
		}
	} else if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0 && !s->o->udp && pr->ai->ai_next != NULL) {
		scan_close(s, pr);
		pr->ai = pr->ai->ai_next;
		return scan_try(s, pr);
	}
	scan_done(s, pr, e);
	return 0;
}

/* Close pr's socket, if open, and stop watching it and its time. */
static void
scan_close(struct scan *s, struct probe *pr)
{
	if (pr->fd != -1) {
		loop_fd_del(s->loop, pr->fd);
		close(pr->fd);
	}
	loop_timer_del(s->loop, pr->timer);
	pr->fd = -1;
	pr->timer = 0;
	pr->expired = 0;
}

/* Record pr's result (0: open, or why not) and free its slot. */
static void
scan_done(struct scan *s, struct probe *pr, int e)
{
	s->result[pr->idx] = e;
	scan_close(s, pr);
}

/* Report, in order, every port whose result and predecessors' are in. */
static void
scan_show(struct scan *s)
{
	const struct np_opts *o = s->o;
	char port[8];
	int e;

	while (s->shown < s->next) {
		if ((e = s->result[s->shown]) == SCAN_PENDING)
			return;
		snprintf(port, sizeof(port), "%d", s->ports[s->shown]);
		if (e == 0) {
			s->nopen++;
			sock_report_connected(o, port);
		} else if (o->verbose > 0)
			sock_report_failed(o, port, s->res->ai_next == NULL ?
			    s->res->ai_addr : NULL, s->res->ai_addrlen, e);
		s->shown++;
	}
}

/*
 * -i: wait ms between ports, on a loop of its own.  Returns 0, or -1 on
 * a signal (errno EINTR) or after a message.
 */
int
scan_pause(int ms)
{
	struct loop *l;
	int rc = 0;

	if ((l = loop_new()) == NULL ||
	    loop_timer(l, ms, scan_paused, NULL) == -1 || loop_run(l) == -1) {
		warn("scan");
		rc = -1;
	} else if (np_signal) {
		errno = EINTR;
		rc = -1;
	}
	loop_free(l);
	return rc;
}

/* The pause is over. */
static int
scan_paused(struct loop *l, long long id, void *arg)
{
	(void)id;
	(void)arg;
	loop_stop(l);
	return LOOP_NOMORE;
}

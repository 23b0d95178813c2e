/*
 * loop.c: the one event loop, the shape of redis ae.c on poll(2).  File
 * events call a procedure with its data when the fd is ready; timers
 * call theirs when due and say when to call again.  The loop computes
 * the nearest deadline itself, so no module does.  It also owns what
 * every module shares: the signal that asked us to stop, the self-pipe
 * that wakes every poll for it, and the monotonic deadline helpers.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * The signal that asked us to stop, or 0, and the read end of a pipe the
 * handler writes to, so that every poll wakes up: the only global state.
 */
volatile sig_atomic_t np_signal;
int np_sigfd = -1;
static int sigfd_w = -1;

struct loop_file {
	int		 mask;		/* LOOP_INTEREST bits wanted */
	int		 active;	/* registered */
	int		 pos;		/* its index in fds, while active */
	unsigned long	 serial;	/* which registration this is */
	void		(*proc)(struct loop *, int, int, void *);
	void		*data;
};

struct loop_timer {
	long long	 id;		/* 0: a free slot */
	struct timespec	 when;
	int		(*proc)(struct loop *, long long, void *);
	void		*data;
};

/* A procedure called before each poll (ae's beforesleep). */
struct loop_hook {
	void		(*proc)(struct loop *, void *);	/* NULL: free */
	void		*data;
};

struct loop {
	struct loop_file	*files;		/* indexed by fd */
	struct loop_hook	*hooks;
	int			 nhooks;	/* slots in hooks */
	int			 nfiles;	/* slots in files */
	int			*fds;		/* registered fds, any order */
	int			 nfds;
	struct pollfd		*pfd;		/* nfds + 1 (the signal pipe) */
	unsigned long		*serials;	/* per pfd, as polled */
	int			 cap;		/* slots in fds, pfd, serials */
	struct loop_timer	*timers;
	int			 ntimers;	/* slots in timers */
	long long		 next_id;
	unsigned long		 next_serial;
	int			 stop;
};

static void	 on_signal(int);
static int	 files_grow(struct loop *, int);
static int	 fds_grow(struct loop *);
static int	 loop_timeout(struct loop *);
static int	 timers_fire(struct loop *);
static int	 poll_build(struct loop *);
static int	 poll_dispatch(struct loop *, int);

static void
on_signal(int sig)
{
	int saved = errno;

	np_signal = sig;
	if (write(sigfd_w, "", 1) == -1) {
		/* Full already: one byte is all it takes to wake poll. */
	}
	errno = saved;
}

/*
 * Catch SIGINT, SIGTERM and SIGHUP into np_signal and the self-pipe.  No
 * SA_RESTART: a signal must interrupt a blocking write or poll, so that
 * every loop sees np_signal promptly and exits through its cleanup.
 * Returns -1 with errno set when the pipe cannot be made.
 */
int
loop_signals(void)
{
	struct sigaction sa;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	np_sigfd = fds[0];
	sigfd_w = fds[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* Set *ts to ms milliseconds from now on the monotonic clock. */
void
np_deadline_set(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until *ts, rounded up; 0 once it has passed. */
int
np_deadline_ms(const struct timespec *ts)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(ts->tv_sec - now.tv_sec) * 1000 +
	    (ts->tv_nsec - now.tv_nsec + 999999) / 1000000;
	if (ms < 0)
		return 0;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* A new, empty loop, or NULL with errno set; loop_free() frees it. */
struct loop *
loop_new(void)
{
	return calloc(1, sizeof(struct loop));
}

/* Frees the loop; the fds registered stay open (their owners close them). */
void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->files);
	free(l->fds);
	free(l->pfd);
	free(l->serials);
	free(l->timers);
	free(l->hooks);
	free(l);
}

static int
files_grow(struct loop *l, int fd)
{
	struct loop_file *f;
	int n = l->nfiles > 0 ? l->nfiles : 16;

	while (n <= fd)
		n *= 2;
	if ((f = reallocarray(l->files, n, sizeof(*f))) == NULL)
		return -1;
	memset(f + l->nfiles, 0, (n - l->nfiles) * sizeof(*f));
	l->files = f;
	l->nfiles = n;
	return 0;
}

static int
fds_grow(struct loop *l)
{
	int n = l->cap > 0 ? l->cap * 2 : 8;
	int *fds;
	struct pollfd *pfd;
	unsigned long *ser;

	if ((fds = reallocarray(l->fds, n, sizeof(*fds))) == NULL)
		return -1;
	l->fds = fds;
	if ((pfd = reallocarray(l->pfd, n + 1, sizeof(*pfd))) == NULL)
		return -1;
	l->pfd = pfd;
	if ((ser = reallocarray(l->serials, n + 1, sizeof(*ser))) == NULL)
		return -1;
	l->serials = ser;
	l->cap = n;
	return 0;
}

/*
 * Watch fd for mask (LOOP_READ, LOOP_WRITE, LOOP_PRI, LOOP_RDHUP; 0 keeps
 * it registered with no interest, which still reports LOOP_HUP and
 * LOOP_ERR), calling
 * proc(l, fd, fired, data).  A second call for the same fd replaces the
 * first.  Returns 0, or -1 with errno set (ENOMEM, EBADF).
 */
int
loop_fd(struct loop *l, int fd, int mask,
    void (*proc)(struct loop *, int, int, void *), void *data)
{
	struct loop_file *f;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fd >= l->nfiles && files_grow(l, fd) == -1)
		return -1;
	f = &l->files[fd];
	if (!f->active) {
		if (l->nfds == l->cap && fds_grow(l) == -1)
			return -1;
		f->pos = l->nfds;
		l->fds[l->nfds++] = fd;
		f->active = 1;
		f->serial = ++l->next_serial;
	}
	f->mask = mask & LOOP_INTEREST;
	f->proc = proc;
	f->data = data;
	return 0;
}

/* Change what fd is watched for, keeping its procedure; 0 or -1. */
int
loop_fd_mask(struct loop *l, int fd, int mask)
{
	if (fd < 0 || fd >= l->nfiles || !l->files[fd].active) {
		errno = EBADF;
		return -1;
	}
	l->files[fd].mask = mask & LOOP_INTEREST;
	return 0;
}

/*
 * Stop watching fd (before it is closed); unknown fds are ignored.  The
 * last fd takes its place, so that a broker that holds back and lets go
 * of many peers a round pays no search for each.
 */
void
loop_fd_del(struct loop *l, int fd)
{
	struct loop_file *f;
	int last;

	if (fd < 0 || fd >= l->nfiles || !l->files[fd].active)
		return;
	f = &l->files[fd];
	f->active = 0;
	last = l->fds[--l->nfds];
	l->fds[f->pos] = last;
	l->files[last].pos = f->pos;
}

/*
 * Call proc(l, id, data) ms milliseconds from now; it returns the next
 * delay in ms, or LOOP_NOMORE to end the timer.  Returns the timer's id
 * (positive), or -1 with errno set.
 */
long long
loop_timer(struct loop *l, int ms, int (*proc)(struct loop *, long long,
    void *), void *data)
{
	struct loop_timer *t;
	int i, n;

	for (i = 0; i < l->ntimers && l->timers[i].id != 0; i++)
		;
	if (i == l->ntimers) {
		n = l->ntimers > 0 ? l->ntimers * 2 : 4;
		if ((t = reallocarray(l->timers, n, sizeof(*t))) == NULL)
			return -1;
		memset(t + l->ntimers, 0, (n - l->ntimers) * sizeof(*t));
		l->timers = t;
		l->ntimers = n;
	}
	t = &l->timers[i];
	t->id = ++l->next_id;
	np_deadline_set(&t->when, ms > 0 ? ms : 0);
	t->proc = proc;
	t->data = data;
	return t->id;
}

/*
 * Call proc(l, data) in each loop_once() before it polls, after the
 * events of the last poll were dispatched: a user that acts on a round's
 * events as a whole (the pump) does it there, and sets up the next poll.
 * Returns 0, or -1 with errno set.
 */
int
loop_before(struct loop *l, void (*proc)(struct loop *, void *), void *data)
{
	struct loop_hook *h;
	int i, n;

	for (i = 0; i < l->nhooks && l->hooks[i].proc != NULL; i++)
		;
	if (i == l->nhooks) {
		n = l->nhooks > 0 ? l->nhooks * 2 : 2;
		if ((h = reallocarray(l->hooks, n, sizeof(*h))) == NULL)
			return -1;
		memset(h + l->nhooks, 0, (n - l->nhooks) * sizeof(*h));
		l->hooks = h;
		l->nhooks = n;
	}
	l->hooks[i].proc = proc;
	l->hooks[i].data = data;
	return 0;
}

/* Stop calling proc with data before each poll; it may be the one running. */
void
loop_before_del(struct loop *l, void (*proc)(struct loop *, void *),
    void *data)
{
	int i;

	for (i = 0; i < l->nhooks; i++)
		if (l->hooks[i].proc == proc && l->hooks[i].data == data)
			l->hooks[i].proc = NULL;
}

/* End timer id; an id that ended already is ignored. */
void
loop_timer_del(struct loop *l, long long id)
{
	int i;

	/* The pump ends its unset timers (id 0) many times a connection. */
	if (id <= 0)
		return;
	for (i = 0; i < l->ntimers; i++)
		if (l->timers[i].id == id) {
			l->timers[i].id = 0;
			return;
		}
}

/* The poll timeout: the nearest timer, or -1 when none is set. */
static int
loop_timeout(struct loop *l)
{
	int i, d, t = -1;

	for (i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == 0)
			continue;
		d = np_deadline_ms(&l->timers[i].when);
		if (t == -1 || d < t)
			t = d;
	}
	return t;
}

/* Call the timers that are due; how many were. */
static int
timers_fire(struct loop *l)
{
	struct loop_timer *t;
	long long id;
	int i, next, fired = 0, n = l->ntimers;

	for (i = 0; i < n && !l->stop && !np_signal; i++) {
		t = &l->timers[i];
		if (t->id == 0 || np_deadline_ms(&t->when) > 0)
			continue;
		id = t->id;
		fired++;
		next = t->proc(l, id, t->data);
		/* The procedure may have added timers: l->timers moved. */
		t = &l->timers[i];
		if (t->id != id)
			continue;
		if (next == LOOP_NOMORE)
			t->id = 0;
		else
			np_deadline_set(&t->when, next > 0 ? next : 0);
	}
	return fired;
}

/* Fill pfd from the registrations; the signal pipe goes last. */
static int
poll_build(struct loop *l)
{
	struct loop_file *f;
	int i, fd;

	for (i = 0; i < l->nfds; i++) {
		fd = l->fds[i];
		f = &l->files[fd];
		l->pfd[i].fd = fd;
		l->pfd[i].events = ((f->mask & LOOP_READ) ? POLLIN : 0) |
		    ((f->mask & LOOP_WRITE) ? POLLOUT : 0) |
		    ((f->mask & LOOP_PRI) ? POLLPRI : 0) |
		    ((f->mask & LOOP_RDHUP) ? POLLRDHUP : 0);
		l->pfd[i].revents = 0;
		l->serials[i] = f->serial;
	}
	l->pfd[i].fd = np_sigfd;
	l->pfd[i].events = POLLIN;
	l->pfd[i].revents = 0;
	return i + (np_sigfd != -1 ? 1 : 0);
}

/*
 * Call the procedure of each of the n fds polled that poll found ready
 * (fds added since wait for the next poll), unless an earlier
 * procedure deleted or replaced its registration.  Readiness is masked by
 * the interest as it is now: a procedure may have turned it off.
 */
static int
poll_dispatch(struct loop *l, int n)
{
	struct loop_file *f;
	struct pollfd *p;
	int i, fired, done = 0;

	for (i = 0; i < n && !l->stop && !np_signal; i++) {
		p = &l->pfd[i];	/* again each time: a procedure may grow it */
		if (p->revents == 0)
			continue;
		f = &l->files[p->fd];
		if (!f->active || f->serial != l->serials[i])
			continue;
		fired = ((p->revents & (POLLIN | POLLPRI)) ? LOOP_READ : 0) |
		    ((p->revents & POLLOUT) ? LOOP_WRITE : 0) |
		    ((p->revents & POLLPRI) ? LOOP_PRI : 0) |
		    ((p->revents & POLLRDHUP) ? LOOP_RDHUP : 0) |
		    ((p->revents & POLLHUP) ? LOOP_HUP : 0) |
		    ((p->revents & (POLLERR | POLLNVAL)) ? LOOP_ERR : 0);
		fired &= f->mask | LOOP_HUP | LOOP_ERR;
		if (fired == 0)
			continue;
		done++;
		f->proc(l, p->fd, fired, f->data);
	}
	return done;
}

/*
 * The before-poll procedures (loop_before()), then one poll(2) and the
 * calls it makes due: timers first, then ready fds.  A before-poll
 * procedure that calls loop_stop() ends the round before the poll.
 * Returns the number of procedures called (0 after a signal or EINTR),
 * or -1 with errno set when poll itself fails.
 */
int
loop_once(struct loop *l)
{
	char drain[64];
	int i, n, npfd, done;

	if (np_signal)
		return 0;
	/* A loop of timers alone still polls the signal pipe. */
	if (l->cap == 0 && fds_grow(l) == -1)
		return -1;
	l->stop = 0;
	for (i = 0; i < l->nhooks && !l->stop; i++)
		if (l->hooks[i].proc != NULL)
			l->hooks[i].proc(l, l->hooks[i].data);
	if (l->stop)
		return 1;
	npfd = poll_build(l);
	n = poll(l->pfd, npfd, loop_timeout(l));
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (np_sigfd != -1 && l->pfd[l->nfds].revents != 0)
		while (read(np_sigfd, drain, sizeof(drain)) > 0)
			;
	done = timers_fire(l);
	if (n > 0)
		done += poll_dispatch(l, npfd - (np_sigfd != -1 ? 1 : 0));
	return done;
}

/*
 * Make loop_run() return once the procedure now running returns; the
 * rest of this round's events wait for the next poll (they stay ready).
 */
void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

/*
 * Run until loop_stop() or a signal (np_signal says which).  Returns 0,
 * or -1 with errno set when poll fails.
 */
int
loop_run(struct loop *l)
{
	do {
		if (np_signal)
			break;
		if (loop_once(l) == -1)
			return -1;
	} while (!l->stop);
	return 0;
}

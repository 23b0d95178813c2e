/*
 * The receive path's file writer.  Splicing a socket into a regular
 * file costs the receiver two steps: taking the segments into a pipe
 * (cheap: page references) and copying them into the page cache (most of
 * the work: 0.42 s/GiB into tmpfs here against 0.10 for the socket side).
 * Done one after the other they add up; here the copy runs on a second
 * thread while the pump fills another pipe from the socket.  The thread
 * takes pipes in the order given and holds up to two, so that it finds
 * the next one waiting when it ends one instead of idling through two
 * wake-ups.  Only the thread touches the output while it holds a pipe,
 * and after a failed write it writes nothing more, so the file is always
 * a prefix of what came.  See PERFORMANCE in netpipe.1 for the numbers.
 */

#include <sys/eventfd.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * The jobs the thread may hold: one per pipe the pump has to give it (a
 * full pipe while the other is written).
 */
#define WRITER_JOBS	2
/* The copy loop's bite once splice(2) into the output is refused. */
#define WRITER_BUFSZ	(64 * 1024)

struct writer {
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a job came, or one ended */
	int		 out;
	int		 verbose;	/* -vv: say when splice is refused */
	int		 done;		/* eventfd: counts ended jobs */
	struct {
		int	 from;		/* a pipe's read end ... */
		size_t	 len;		/* ... and its bytes */
	}		 job[WRITER_JOBS];
	int		 jobs;		/* held; job[0] is the current one */
	int		 error;		/* errno of the first that failed */
	int		 quit;
	int		 copying;	/* splice was refused: buf instead */
	unsigned char	*buf;
};

static void	*writer_main(void *);
static int	 writer_job(struct writer *, int, size_t);
static int	 writer_copy(struct writer *, int, size_t);

/*
 * Whether errno e refuses a zero-copy path itself (the descriptor does
 * not support it), as against an I/O error on it.  It lives here, the
 * lowest of the three modules that ask (transfer.c, xfer.c and the
 * writer thread), so that none of them imports another for it.
 */
int
pump_zc_refused(int e)
{
	return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP;
}

/*
 * Whether a second thread can run beside this one: on a single CPU the
 * two steps would only take turns, at the cost of the wake-ups between.
 */
int
writer_useful(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    CPU_COUNT(&set) >= 2;
}

/*
 * A writer for out, the caller's descriptor, which it must keep open
 * until writer_free().  NULL when a thread cannot be had; the caller
 * then writes the file itself.
 */
struct writer *
writer_new(int out, int verbose)
{
	struct writer *w;
	sigset_t all, old;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->out = out;
	w->verbose = verbose;
	if ((w->done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* Signals stay with the pump's poll loop (np_sigfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(w->done);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

/*
 * Wait for the job in hand, stop the thread and free w; the output stays
 * open.  Bounded: a job is at most one pipe into a regular file.
 */
void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	while (w->jobs > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	w->quit = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	close(w->done);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->buf);
	free(w);
}

/* Readable (POLLIN) once a job given to writer_start() has ended. */
int
writer_fd(const struct writer *w)
{
	return w->done;
}

/*
 * Queue len bytes waiting in the pipe whose read end is from; the caller
 * holds fewer than WRITER_JOBS jobs there.  The pipe is the thread's
 * until writer_reap() counts its job as ended.
 */
void
writer_start(struct writer *w, int from, size_t len)
{
	pthread_mutex_lock(&w->lock);
	w->job[w->jobs].from = from;
	w->job[w->jobs].len = len;
	w->jobs++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * How many jobs ended since the last call, in the order given (0 if
 * none); -1 with errno set once one failed.  Never blocks.
 */
int
writer_reap(struct writer *w)
{
	uint64_t ended;
	int error;

	if (read(w->done, &ended, sizeof(ended)) != sizeof(ended))
		return 0;
	pthread_mutex_lock(&w->lock);
	error = w->error;
	pthread_mutex_unlock(&w->lock);
	if (error == 0)
		return (int)ended;
	errno = error;
	return -1;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t one = 1;
	size_t len;
	int from, error;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->jobs == 0 && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->jobs == 0)
			break;
		from = w->job[0].from;
		len = w->job[0].len;
		error = w->error;
		pthread_mutex_unlock(&w->lock);
		if (error == 0)
			error = writer_job(w, from, len);
		pthread_mutex_lock(&w->lock);
		w->error = error;
		w->jobs--;
		memmove(&w->job[0], &w->job[1], w->jobs * sizeof(w->job[0]));
		pthread_cond_broadcast(&w->cond);
		/* Fails only if 2^64 - 1 ended jobs went unreaped. */
		while (write(w->done, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/*
 * Move len bytes from the pipe into the output: 0, or the errno that
 * stopped it.  A refusal of splice itself turns to the copy loop for
 * good, as the pump does with its own descriptors (zc_refused()).
 */
static int
writer_job(struct writer *w, int from, size_t len)
{
	ssize_t n;

	while (len > 0 && !w->copying) {
		n = splice(from, NULL, w->out, NULL, len, SPLICE_F_MOVE);
		if (n > 0) {
			len -= n;
			continue;
		}
		if (n == 0)
			return EPIPE;
		if (errno == EINTR)
			continue;
		if (!pump_zc_refused(errno))
			return errno;
		if (w->verbose > 1)
			warn("splice to output refused; using the copy loop");
		w->copying = 1;
	}
	return len > 0 ? writer_copy(w, from, len) : 0;
}

static int
writer_copy(struct writer *w, int from, size_t len)
{
	ssize_t n, m, off;

	if (w->buf == NULL && (w->buf = malloc(WRITER_BUFSZ)) == NULL)
		return ENOMEM;
	while (len > 0) {
		n = read(from, w->buf, len < WRITER_BUFSZ ? len : WRITER_BUFSZ);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? EPIPE : errno;
		for (off = 0; off < n; off += m) {
			m = write(w->out, w->buf + off, n - off);
			if (m == -1 && errno == EINTR)
				m = 0;
			else if (m == -1)
				return errno;
		}
		len -= n;
	}
	return 0;
}

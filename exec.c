/*
 * exec.c: -e CMD and --sh-exec CMD.  As nc's -e does, the connected
 * socket becomes a child's standard input and output and netpipe moves
 * no bytes itself: it waits for the child, reports how it ended, and
 * reaps it.  A -k listener gives every peer a child of its own, up to
 * --max-conns of them at once.  Children are noticed through a signalfd
 * for SIGCHLD, one descriptor however many there are.
 */

#include <sys/types.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/* How long a stopping netpipe waits to reap the children it stopped. */
#define EXEC_REAP_MS	1000

extern char **environ;

/* The children of a client or a listener, and what it needs for more. */
struct exec_srv {
	const struct np_opts	*o;
	struct loop		*loop;
	struct acl_listener	 al;	/* listeners only */
	int			 listening;
	int			 keep;	/* serve peers after the first */
	int			 chldfd; /* SIGCHLD signalfd */
	char			**argv;
	char			*copy;
	pid_t			*kids;
	size_t			 nkids;
	size_t			 max;
	int			 accepted; /* some peer was let in */
	long long		 timeout; /* --accept-timeout's timer */
	int			 rc;	/* -1 while serving */
};

static char	**exec_argv(const struct np_opts *, char **);
static int	 exec_sigchld(void);
static void	 exec_drain(int);
static int	 exec_spawn(const struct np_opts *, char *const [], int,
		    pid_t *);
static int	 exec_reap(const struct np_opts *, pid_t);
static void	 exec_kill(pid_t *, size_t);
static int	 exec_init(struct exec_srv *, const struct np_opts *,
		    size_t);
static void	 exec_serve(struct exec_srv *);
static void	 exec_done(struct exec_srv *);
static void	 exec_end(struct exec_srv *, int);
static void	 exec_child(struct loop *, int, int, void *);
static int	 exec_peer(struct acl_listener *, int, const char *);
static void	 exec_fail(struct acl_listener *);
static int	 exec_timeout(struct loop *, long long, void *);

/*
 * The argument vector: CMD split at blanks for -e (no quoting, no shell),
 * or sh -c CMD for --sh-exec.  The words live in *copy; the caller frees
 * both.
 */
static char **
exec_argv(const struct np_opts *o, char **copy)
{
	char **argv, *w, *save;
	size_t n = 0, max;

	if ((*copy = strdup(o->exec_cmd)) == NULL)
		err(NP_EXIT_FAIL, "strdup");
	max = o->exec_shell ? 4 : strlen(*copy) / 2 + 2;
	if ((argv = calloc(max, sizeof(*argv))) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	if (o->exec_shell) {
		argv[n++] = "sh";
		argv[n++] = "-c";
		argv[n++] = *copy;
		return argv;
	}
	for (w = strtok_r(*copy, " \t\n", &save); w != NULL;
	    w = strtok_r(NULL, " \t\n", &save))
		argv[n++] = w;
	/* n > 0: options.c refuses a command of blanks alone. */
	return argv;
}

/*
 * A descriptor that becomes readable when a child ends.  SIGCHLD is
 * blocked from here on, so that it queues for the signalfd instead of
 * being discarded; children get an empty mask back (exec_spawn).
 * Returns it, or -1 after a message.
 */
static int
exec_sigchld(void)
{
	sigset_t m;
	int fd;

	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigprocmask(SIG_BLOCK, &m, NULL);
	if ((fd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		warn("signalfd");
	return fd;
}

/* Empty the signalfd: which child ended is asked of waitpid(). */
static void
exec_drain(int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si))
		;
}

/*
 * Start argv with fd as its standard input and output.  Returns 0 with
 * *pid set, or -1 after a message.  fd stays the caller's to close.
 */
static int
exec_spawn(const struct np_opts *o, char *const argv[], int fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int fl, e;

	/* Programs expect blocking stdio; the flag belongs to the socket. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		warn("fcntl");
		return -1;
	}
	if (o->pty) {
		if (pty_spawn(o, argv, fd, pid) == -1)
			return -1;
		goto started;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
	posix_spawnattr_init(&attr);
	/* Nor SIGPIPE or SIGXFSZ ignored, nor SIGCHLD blocked. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGXFSZ);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	if (o->exec_shell)
		e = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
	else
		e = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		errno = e;
		warn("exec %s", o->exec_shell ? "/bin/sh" : argv[0]);
		return -1;
	}
started:
	if (o->verbose > 1)
		fprintf(stderr, "Child %d started\n", (int)*pid);
	return 0;
}

/*
 * Reap pid if it has ended.  Returns -1 while it runs, otherwise the exit
 * code it stands for: 0 when it exited 0, 1 for any other end (with -v
 * the status or signal is reported).
 */
static int
exec_reap(const struct np_opts *o, pid_t pid)
{
	pid_t r;
	int st;

	while ((r = waitpid(pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == 0)
		return -1;
	if (r == -1) {
		warn("waitpid");
		return NP_EXIT_FAIL;
	}
	if (o->verbose > 0 && WIFEXITED(st))
		fprintf(stderr, "Child %d exited with status %d\n", (int)r,
		    WEXITSTATUS(st));
	else if (o->verbose > 0 && WIFSIGNALED(st))
		fprintf(stderr, "Child %d killed by signal %d\n", (int)r,
		    WTERMSIG(st));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? NP_EXIT_OK :
	    NP_EXIT_FAIL;
}

/*
 * netpipe is being stopped: its children serve connections of a server
 * that is going away, so they are asked to stop too, and reaped if they
 * do within EXEC_REAP_MS.  init inherits any that take longer.  The loop
 * no longer runs once a signal has come, so the wait is for SIGCHLD
 * itself, blocked since exec_sigchld() and so kept pending for us.
 */
static void
exec_kill(pid_t *kids, size_t n)
{
	struct timespec deadline, ts;
	sigset_t chld;
	size_t i, left = n;
	int ms;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	np_deadline_set(&deadline, EXEC_REAP_MS);
	while (left > 0 && (ms = np_deadline_ms(&deadline)) > 0) {
		for (i = 0, left = 0; i < n; i++) {
			if (kids[i] != -1 &&
			    waitpid(kids[i], NULL, WNOHANG) == 0)
				left++;
			else
				kids[i] = -1;
		}
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		if (left > 0)
			sigtimedwait(&chld, NULL, &ts);
	}
}

/*
 * Everything a client or a listener shares: the argument vector, room
 * for max children, and a loop that watches the SIGCHLD signalfd.
 * Returns 0, or -1 after a message with s->rc set; exec_done() frees.
 */
static int
exec_init(struct exec_srv *s, const struct np_opts *o, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->rc = -1;
	s->max = max;
	s->argv = exec_argv(o, &s->copy);
	if ((s->kids = calloc(s->max, sizeof(*s->kids))) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	if ((s->loop = loop_new()) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	if ((s->chldfd = exec_sigchld()) == -1 ||
	    loop_fd(s->loop, s->chldfd, LOOP_READ, exec_child, s) == -1) {
		if (s->chldfd != -1)
			warn("poll");
		s->rc = NP_EXIT_FAIL;
		return -1;
	}
	return 0;
}

/*
 * Run the loop until the children's end (or the first peer's) decides
 * the exit code or a signal stops us; then stop the children left.
 */
static void
exec_serve(struct exec_srv *s)
{
	if (s->rc == -1 && loop_run(s->loop) == -1) {
		warn("poll");
		s->rc = NP_EXIT_FAIL;
	}
	if (np_signal)
		s->rc = NP_EXIT_SIGNAL + np_signal;
	exec_kill(s->kids, s->nkids);
}

/* Free what exec_init() made. */
static void
exec_done(struct exec_srv *s)
{
	if (s->listening)
		acl_listen_end(&s->al);
	if (s->chldfd != -1)
		close(s->chldfd);
	loop_free(s->loop);
	free(s->kids);
	free(s->argv);
	free(s->copy);
}

/* The exit code is decided: stop serving. */
static void
exec_end(struct exec_srv *s, int rc)
{
	s->rc = rc;
	loop_stop(s->loop);
}

/*
 * Run the command on the connected socket fd (a client, or a listener's
 * only peer) and wait for it.  Returns 0 when it exited 0, 1 when it
 * failed or could not start, 128 + n on signal n.  fd stays the caller's.
 */
int
exec_run(const struct np_opts *o, int fd)
{
	struct exec_srv s;
	int rc;

	if (exec_init(&s, o, 1) == 0) {
		if (exec_spawn(o, s.argv, fd, &s.kids[0]) == 0)
			s.nkids = 1;
		else
			s.rc = NP_EXIT_FAIL;
	}
	exec_serve(&s);
	rc = s.rc;
	exec_done(&s);
	return rc;
}

/*
 * A child ended: reap the children that did.  The last one's result ends
 * a run that serves one peer; a -k listener has room again.
 */
static void
exec_child(struct loop *l, int fd, int fired, void *arg)
{
	struct exec_srv *s = arg;
	size_t i = 0;
	int r;

	(void)l;
	(void)fired;
	exec_drain(fd);
	while (i < s->nkids) {
		if ((r = exec_reap(s->o, s->kids[i])) == -1) {
			i++;
			continue;
		}
		s->kids[i] = s->kids[--s->nkids];
		/* Until a child leaves, or a while, after EMFILE. */
		if (s->listening && s->keep)
			acl_listen_resume(&s->al);
		if (s->o->verbose > 0 && s->max > 1)
			fprintf(stderr, "Peers connected: %zu\n", s->nkids);
		if (!s->keep && s->nkids == 0)
			exec_end(s, r);
	}
}

/*
 * A peer let in gets a child of its own.  Returns whether to accept the
 * next one now: with -k while there is room, otherwise never.
 */
static int
exec_peer(struct acl_listener *al, int fd, const char *name)
{
	struct exec_srv *s = al->data;

	(void)name;
	if (!s->accepted)
		loop_timer_del(s->loop, s->timeout);
	s->accepted = 1;
	if (exec_spawn(s->o, s->argv, fd, &s->kids[s->nkids]) == 0)
		s->nkids++;
	else if (!s->keep)
		exec_end(s, NP_EXIT_FAIL);
	/* The child has its copy; ours would keep the peer open. */
	close(fd);
	if (s->o->verbose > 0 && s->max > 1)
		fprintf(stderr, "Peers connected: %zu\n", s->nkids);
	return s->keep && s->nkids < s->max;
}

/* accept(2) failed, after its message. */
static void
exec_fail(struct acl_listener *al)
{
	exec_end(al->data, NP_EXIT_FAIL);
}

/* --accept-timeout passed with nobody let in. */
static int
exec_timeout(struct loop *l, long long id, void *arg)
{
	struct exec_srv *s = arg;

	(void)l;
	(void)id;
	acl_timeout(s->o);
	exec_end(s, NP_EXIT_FAIL);
	return LOOP_NOMORE;
}

/*
 * Serve a stream listener with -e or --sh-exec: one child per peer, up to
 * --max-conns at once (one without it), only the first peer without -k.
 * Returns an exit code: without -k the child's, as exec_run().
 */
int
exec_listen(const struct np_opts *o, const struct acl *acl, int lfd)
{
	struct exec_srv s;
	int rc;

	if (exec_init(&s, o, o->max_conns > 0 ? (size_t)o->max_conns : 1) ==
	    0) {
		s.keep = o->keep_open;
		s.al = (struct acl_listener){ .loop = s.loop, .o = o,
		    .acl = acl, .lfd = lfd, .peer = exec_peer,
		    .fail = exec_fail, .data = &s };
		/* Many peers at once come in bursts: room for them. */
		if (s.max > 1)
			listen(lfd, SOMAXCONN);
		if (acl_listen(&s.al) == -1) {
			warn("poll");
			s.rc = NP_EXIT_FAIL;
		} else
			s.listening = 1;
		if (o->accept_timeout_ms > 0 && (s.timeout = loop_timer(s.loop,
		    o->accept_timeout_ms, exec_timeout, &s)) == -1)
			err(NP_EXIT_FAIL, "calloc");
	}
	exec_serve(&s);
	rc = s.rc;
	exec_done(&s);
	return rc;
}

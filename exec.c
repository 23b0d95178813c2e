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
#include <poll.h>
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
/* Out of descriptors, accepting is tried again this often. */
#define EXEC_PAUSE_MS	100

enum { EXEC_SIGNAL, EXEC_CHILD, EXEC_LISTEN, EXEC_NFDS };

extern char **environ;

/* A listener's children and what it needs to start more. */
struct exec_srv {
	const struct np_opts	*o;
	const struct acl	*acl;
	int			 lfd;
	int			 chldfd; /* SIGCHLD signalfd */
	char			**argv;
	char			*copy;
	pid_t			*kids;
	size_t			 nkids;
	size_t			 max;
	int			 accepted; /* some peer was let in */
	struct timespec		 paused; /* out of descriptors until */
	int			 rc;	/* -1 while serving */
};

static char	**exec_argv(const struct np_opts *, char **);
static int	 exec_sigchld(void);
static void	 exec_drain(int);
static int	 exec_spawn(const struct np_opts *, char *const [], int,
		    pid_t *);
static int	 exec_reap(const struct np_opts *, pid_t);
static void	 exec_kill(pid_t *, size_t);
static int	 exec_poll(struct exec_srv *, struct pollfd *,
		    struct timespec *);
static void	 exec_accept(struct exec_srv *);
static void	 exec_collect(struct exec_srv *);

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
 * do within EXEC_REAP_MS.  init inherits any that take longer.
 */
static void
exec_kill(pid_t *kids, size_t n)
{
	struct timespec deadline;
	size_t i, left = n;

	for (i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	np_deadline_set(&deadline, EXEC_REAP_MS);
	while (left > 0 && np_deadline_ms(&deadline) > 0) {
		for (i = 0, left = 0; i < n; i++) {
			if (kids[i] != -1 &&
			    waitpid(kids[i], NULL, WNOHANG) == 0)
				left++;
			else
				kids[i] = -1;
		}
		if (left > 0)
			poll(NULL, 0, 10);
	}
}

/*
 * Run the command on the connected socket fd (a client, or a listener's
 * only peer) and wait for it.  Returns 0 when it exited 0, 1 when it
 * failed or could not start, 128 + n on signal n.  fd stays the caller's.
 */
int
exec_run(const struct np_opts *o, int fd)
{
	struct pollfd pfd[2];
	char **argv, *copy;
	pid_t pid;
	int rc = -1;

	argv = exec_argv(o, &copy);
	if ((pfd[1].fd = exec_sigchld()) == -1 ||
	    exec_spawn(o, argv, fd, &pid) == -1)
		rc = NP_EXIT_FAIL;
	pfd[0].fd = np_sigfd;
	pfd[0].events = pfd[1].events = POLLIN;
	while (rc == -1) {
		if (poll(pfd, 2, -1) == -1 && errno != EINTR) {
			warn("poll");
			exec_kill(&pid, 1);
			rc = NP_EXIT_FAIL;
		} else if (np_signal) {
			exec_kill(&pid, 1);
			rc = NP_EXIT_SIGNAL + np_signal;
		} else {
			exec_drain(pfd[1].fd);
			rc = exec_reap(o, pid);
		}
	}
	if (pfd[1].fd != -1)
		close(pfd[1].fd);
	free(argv);
	free(copy);
	return rc;
}

/*
 * Poll the signal pipe, the SIGCHLD signalfd, and the listener while
 * there is room for another child.  Returns poll's result; 0 also when
 * the --accept-timeout deadline passed with nobody let in.
 */
static int
exec_poll(struct exec_srv *s, struct pollfd *pfd, struct timespec *deadline)
{
	const struct np_opts *o = s->o;
	int timeout = -1;

	if (s->paused.tv_sec != 0 && np_deadline_ms(&s->paused) == 0)
		s->paused.tv_sec = 0;
	if (s->paused.tv_sec != 0)
		timeout = np_deadline_ms(&s->paused);
	pfd[EXEC_SIGNAL].fd = np_sigfd;
	pfd[EXEC_CHILD].fd = s->chldfd;
	pfd[EXEC_LISTEN].fd = s->nkids < s->max && s->paused.tv_sec == 0 &&
	    (o->keep_open || !s->accepted) ? s->lfd : -1;
	pfd[EXEC_SIGNAL].events = pfd[EXEC_CHILD].events =
	    pfd[EXEC_LISTEN].events = POLLIN;
	if (!s->accepted && o->accept_timeout_ms > 0) {
		if (np_deadline_ms(deadline) == 0) {
			acl_timeout(o);
			s->rc = NP_EXIT_FAIL;
			return 0;
		}
		if (timeout == -1 || np_deadline_ms(deadline) < timeout)
			timeout = np_deadline_ms(deadline);
	}
	return poll(pfd, EXEC_NFDS, timeout);
}

/* Let in whoever is waiting, each with a child of its own. */
static void
exec_accept(struct exec_srv *s)
{
	char name[NP_PEER_NAMELEN];
	int fd;

	while (s->nkids < s->max && (s->o->keep_open || !s->accepted)) {
		fd = acl_accept(s->o, s->acl, s->lfd, name, sizeof(name));
		if (fd == -1 && (errno == EAGAIN || errno == EACCES))
			return;
		if (fd == -1 && errno == EMFILE) {
			/* Until a child leaves, or a while: not a busy loop. */
			np_deadline_set(&s->paused, EXEC_PAUSE_MS);
			return;
		}
		if (fd == -1) {
			s->rc = NP_EXIT_FAIL;
			return;
		}
		s->accepted = 1;
		if (exec_spawn(s->o, s->argv, fd, &s->kids[s->nkids]) == 0)
			s->nkids++;
		else if (!s->o->keep_open)
			s->rc = NP_EXIT_FAIL;
		/* The child has its copy; ours would keep the peer open. */
		close(fd);
		if (s->o->verbose > 0 && s->max > 1)
			fprintf(stderr, "Peers connected: %zu\n", s->nkids);
	}
}

/* Reap the children that ended; the last one's result ends a non -k run. */
static void
exec_collect(struct exec_srv *s)
{
	size_t i = 0;
	int r;

	exec_drain(s->chldfd);
	while (i < s->nkids) {
		if ((r = exec_reap(s->o, s->kids[i])) == -1) {
			i++;
			continue;
		}
		s->kids[i] = s->kids[--s->nkids];
		s->paused.tv_sec = 0;
		if (s->o->verbose > 0 && s->max > 1)
			fprintf(stderr, "Peers connected: %zu\n", s->nkids);
		if (!s->o->keep_open && s->nkids == 0)
			s->rc = r;
	}
}

/*
 * Serve a stream listener with -e or --sh-exec: one child per peer, up to
 * --max-conns at once (one without it), only the first peer without -k.
 * Returns an exit code: without -k the child's, as exec_run().
 */
int
exec_listen(const struct np_opts *o, const struct acl *acl, int lfd)
{
	struct pollfd pfd[EXEC_NFDS];
	struct exec_srv s;
	struct timespec deadline;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.acl = acl;
	s.lfd = lfd;
	s.rc = -1;
	s.max = o->max_conns > 0 ? (size_t)o->max_conns : 1;
	s.argv = exec_argv(o, &s.copy);
	if ((s.kids = calloc(s.max, sizeof(*s.kids))) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	if ((s.chldfd = exec_sigchld()) == -1)
		s.rc = NP_EXIT_FAIL;
	/* Many peers at once come in bursts: room for them (broker.c). */
	if (s.max > 1)
		listen(lfd, SOMAXCONN);
	np_deadline_set(&deadline, o->accept_timeout_ms);
	while (s.rc == -1) {
		if (exec_poll(&s, pfd, &deadline) == -1 && errno != EINTR) {
			warn("poll");
			s.rc = NP_EXIT_FAIL;
		}
		if (np_signal)
			s.rc = NP_EXIT_SIGNAL + np_signal;
		if (s.rc != -1)
			break;
		if (pfd[EXEC_LISTEN].fd != -1 && pfd[EXEC_LISTEN].revents)
			exec_accept(&s);
		if (pfd[EXEC_CHILD].revents)
			exec_collect(&s);
	}
	exec_kill(s.kids, s.nkids);
	if (s.chldfd != -1)
		close(s.chldfd);
	free(s.kids);
	free(s.argv);
	free(s.copy);
	return s.rc;
}

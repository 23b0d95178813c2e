/*
 * exec.c: -e CMD and --sh-exec CMD.  As nc's -e does, the connected
 * socket becomes a child's standard input and output and netpipe moves
 * no bytes itself: it waits for the child, reports how it ended, and
 * reaps it.  A -k listener gives every peer a child of its own, up to
 * --max-conns of them at once.
 */

#include <sys/types.h>
#include <sys/pidfd.h>
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

/* Without pidfds (Linux before 5.3) children are looked at this often. */
#define EXEC_POLL_MS	100
/* How long a stopping netpipe waits to reap the children it stopped. */
#define EXEC_REAP_MS	1000
/* Out of descriptors, accepting is tried again this often. */
#define EXEC_PAUSE_MS	100

extern char **environ;

struct child {
	pid_t	 pid;
	int	 pidfd;		/* -1 when the kernel has no pidfds */
};

/* A listener's children and what it needs to start more. */
struct exec_srv {
	const struct np_opts	*o;
	const struct acl	*acl;
	int			 lfd;
	char			**argv;
	char			*copy;
	struct child		*kids;
	struct pollfd		*pfd;
	size_t			 nkids;
	size_t			 max;
	int			 accepted;	/* some peer was let in */
	struct timespec		 paused;	/* out of descriptors until */
	int			 rc;		/* -1 while serving */
};

static char	**exec_argv(const struct np_opts *, char **);
static int	 exec_spawn(const struct np_opts *, char *const [], int,
		    struct child *);
static int	 exec_reap(const struct np_opts *, struct child *);
static void	 exec_kill(struct child *, size_t);
static int	 exec_poll(struct exec_srv *, struct timespec *);
static void	 exec_accept(struct exec_srv *);
static void	 exec_collect(struct exec_srv *);
static void	 exec_free(struct exec_srv *);

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
	if (n == 0)
		opts_usage_error("-e: the command is empty");
	return argv;
}

/*
 * Start argv with fd as its standard input and output.  Returns 0 with
 * *c filled in, or -1 after a message.  fd stays the caller's to close.
 */
static int
exec_spawn(const struct np_opts *o, char *const argv[], int fd,
    struct child *c)
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
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
	posix_spawnattr_init(&attr);
	/* netpipe ignores SIGPIPE; the command must not inherit that. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	if (o->exec_shell)
		e = posix_spawn(&c->pid, "/bin/sh", &fa, &attr, argv, environ);
	else
		e = posix_spawnp(&c->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		errno = e;
		warn("exec %s", o->exec_shell ? "/bin/sh" : argv[0]);
		return -1;
	}
	c->pidfd = pidfd_open(c->pid, 0);
	if (o->verbose > 1)
		fprintf(stderr, "Child %d started\n", (int)c->pid);
	return 0;
}

/*
 * Reap c if it has ended.  Returns -1 while it runs, otherwise the exit
 * code it stands for: 0 when it exited 0, 1 for any other end (with -v
 * the status or signal is reported).
 */
static int
exec_reap(const struct np_opts *o, struct child *c)
{
	pid_t r;
	int st;

	while ((r = waitpid(c->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == 0)
		return -1;
	if (c->pidfd != -1)
		close(c->pidfd);
	c->pidfd = -1;
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
exec_kill(struct child *kids, size_t n)
{
	struct timespec deadline;
	size_t i, left = n;

	for (i = 0; i < n; i++)
		kill(kids[i].pid, SIGTERM);
	np_deadline_set(&deadline, EXEC_REAP_MS);
	while (left > 0 && np_deadline_ms(&deadline) > 0) {
		for (i = 0, left = 0; i < n; i++) {
			if (kids[i].pid != -1 &&
			    waitpid(kids[i].pid, NULL, WNOHANG) == 0)
				left++;
			else
				kids[i].pid = -1;
		}
		if (left > 0)
			poll(NULL, 0, 10);
	}
	for (i = 0; i < n; i++)
		if (kids[i].pidfd != -1)
			close(kids[i].pidfd);
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
	struct child c;
	char **argv, *copy;
	int rc = -1;

	argv = exec_argv(o, &copy);
	if (exec_spawn(o, argv, fd, &c) == -1)
		rc = NP_EXIT_FAIL;
	while (rc == -1) {
		pfd[0].fd = np_sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = c.pidfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, c.pidfd == -1 ? EXEC_POLL_MS : -1) == -1 &&
		    errno != EINTR) {
			warn("poll");
			exec_kill(&c, 1);
			rc = NP_EXIT_FAIL;
		} else if (np_signal) {
			exec_kill(&c, 1);
			rc = NP_EXIT_SIGNAL + np_signal;
		} else
			rc = exec_reap(o, &c);
	}
	free(argv);
	free(copy);
	return rc;
}

/*
 * Poll the signal pipe, the listener while there is room for another
 * child, and every child.  Returns poll's result; 0 also when the
 * --accept-timeout deadline passed with nobody let in.
 */
static int
exec_poll(struct exec_srv *s, struct timespec *deadline)
{
	const struct np_opts *o = s->o;
	int listening, timeout = -1;
	size_t i;

	if (s->paused.tv_sec != 0 && np_deadline_ms(&s->paused) == 0)
		s->paused.tv_sec = 0;
	listening = s->nkids < s->max && (o->keep_open || !s->accepted) &&
	    s->paused.tv_sec == 0;
	if (s->paused.tv_sec != 0)
		timeout = np_deadline_ms(&s->paused);
	s->pfd[0].fd = np_sigfd;
	s->pfd[0].events = POLLIN;
	s->pfd[1].fd = listening ? s->lfd : -1;
	s->pfd[1].events = POLLIN;
	for (i = 0; i < s->nkids; i++) {
		s->pfd[i + 2].fd = s->kids[i].pidfd;
		s->pfd[i + 2].events = POLLIN;
		if (s->kids[i].pidfd == -1 &&
		    (timeout == -1 || timeout > EXEC_POLL_MS))
			timeout = EXEC_POLL_MS;
	}
	if (!s->accepted && o->accept_timeout > 0) {
		if (np_deadline_ms(deadline) == 0) {
			acl_timeout(o);
			s->rc = NP_EXIT_FAIL;
			return 0;
		}
		if (timeout == -1 || np_deadline_ms(deadline) < timeout)
			timeout = np_deadline_ms(deadline);
	}
	return poll(s->pfd, s->nkids + 2, timeout);
}

/* Let in whoever is waiting, each with a child of its own. */
static void
exec_accept(struct exec_srv *s)
{
	char name[NP_PEER_NAMELEN];
	struct child *c;
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
		c = &s->kids[s->nkids];
		if (exec_spawn(s->o, s->argv, fd, c) == 0)
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

	while (i < s->nkids) {
		if (s->kids[i].pidfd != -1 && s->pfd[i + 2].revents == 0) {
			i++;
			continue;
		}
		if ((r = exec_reap(s->o, &s->kids[i])) == -1) {
			i++;
			continue;
		}
		/* Keep pfd in step with kids for the rest of this pass. */
		s->kids[i] = s->kids[--s->nkids];
		s->paused.tv_sec = 0;
		s->pfd[i + 2] = s->pfd[s->nkids + 2];
		if (s->o->verbose > 0 && s->max > 1)
			fprintf(stderr, "Peers connected: %zu\n", s->nkids);
		if (!s->o->keep_open && s->nkids == 0)
			s->rc = r;
	}
}

static void
exec_free(struct exec_srv *s)
{
	free(s->kids);
	free(s->pfd);
	free(s->argv);
	free(s->copy);
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
	struct timespec deadline;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.acl = acl;
	s.lfd = lfd;
	s.rc = -1;
	s.max = o->max_conns > 0 ? (size_t)o->max_conns : 1;
	s.argv = exec_argv(o, &s.copy);
	s.kids = calloc(s.max, sizeof(*s.kids));
	s.pfd = calloc(s.max + 2, sizeof(*s.pfd));
	if (s.kids == NULL || s.pfd == NULL)
		err(NP_EXIT_FAIL, "calloc");
	/* Many peers at once come in bursts: room for them (broker.c). */
	if (s.max > 1)
		listen(lfd, SOMAXCONN);
	np_deadline_set(&deadline, o->accept_timeout * 1000);
	while (s.rc == -1) {
		if (exec_poll(&s, &deadline) == -1 && errno != EINTR) {
			warn("poll");
			s.rc = NP_EXIT_FAIL;
		}
		if (np_signal)
			s.rc = NP_EXIT_SIGNAL + np_signal;
		if (s.rc != -1)
			break;
		if (s.pfd[1].fd != -1 && s.pfd[1].revents != 0)
			exec_accept(&s);
		exec_collect(&s);
	}
	exec_kill(s.kids, s.nkids);
	exec_free(&s);
	return s.rc;
}

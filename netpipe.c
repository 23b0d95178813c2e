/*
 * netpipe: a netcat for scripts, listeners and fast file copies.
 * main() prepares the process, parses the command line and dispatches
 * to the handler of the chosen mode.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
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

static const struct {
	enum np_mode	 mode;
	int		(*handler)(const struct np_opts *);
} handlers[] = {
	{ MODE_CONNECT,	session_connect },
	{ MODE_LISTEN,	session_listen },
	{ MODE_SCAN,	session_scan },
};

static void	 on_signal(int);
static void	 fix_stdio(void);
static void	 signals_init(void);
static void	 parse(struct np_opts *, int, char *[]);

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
 * A closed fd 0, 1 or 2 would be handed to the first socket, and then
 * data or -v messages would go where they must not.  Fill the holes
 * with /dev/null before anything else opens a descriptor.
 */
static void
fix_stdio(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(NP_EXIT_FAIL);
	}
}

/*
 * No SA_RESTART: a signal must interrupt a blocking write or poll, so
 * that every loop sees np_signal promptly and exits through its cleanup.
 */
static void
signals_init(void)
{
	struct sigaction sa;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1)
		err(NP_EXIT_FAIL, "pipe");
	np_sigfd = fds[0];
	sigfd_w = fds[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Past a file-size limit (ulimit -f) a write fails with EFBIG and
	 * the user reads "stdout: File too large", whichever thread wrote.
	 */
	signal(SIGXFSZ, SIG_IGN);
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

/* Linux has no pledge(2); this keeps its place until seccomp lands. */
static void
sandbox_init(void)
{
}

/*
 * The command line into o, or the end of the run: -h and --version print
 * and exit 0, a usage error prints its message and the short usage and
 * exits 2, a file the command line names that cannot be read exits 1.
 */
static void
parse(struct np_opts *o, int argc, char *argv[])
{
	char msg[8192];
	int rc;

	switch (opts_parse(o, argc, argv, msg, sizeof(msg))) {
	case OPTS_RUN:
		return;
	case OPTS_HELP:
		opts_help();
		rc = NP_EXIT_OK;
		break;
	case OPTS_VERSION:
		printf("netpipe %s\n", NP_VERSION);
		rc = NP_EXIT_OK;
		break;
	case OPTS_FAIL:
		warnx("%s", msg);
		rc = NP_EXIT_FAIL;
		break;
	default:
		/* Empty when getopt has said what was wrong. */
		if (msg[0] != '\0')
			warnx("%s", msg);
		opts_usage();
		rc = NP_EXIT_USAGE;
	}
	opts_free(o);
	exit(rc);
}

int
main(int argc, char *argv[])
{
	struct np_opts opts;
	size_t i;
	int rc = NP_EXIT_USAGE;

	/* Messages say "netpipe:" whatever the binary is called (netpipe-san). */
	program_invocation_name = program_invocation_short_name = "netpipe";
	argv[0] = program_invocation_name;
	fix_stdio();
	signals_init();
	parse(&opts, argc, argv);
	sock_features(&opts);
	sandbox_init();
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].mode == opts.mode)
			rc = handlers[i].handler(&opts);
	opts_free(&opts);
	return rc;
}

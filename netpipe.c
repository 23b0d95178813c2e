/*
 * netpipe: a netcat for scripts, listeners and fast file copies.
 * main() prepares the process, parses the command line and dispatches
 * to the handler of the chosen mode.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "netpipe.h"

static const struct {
	enum np_mode	 mode;
	int		(*handler)(const struct np_opts *);
} handlers[] = {
	{ MODE_CONNECT,	session_connect },
	{ MODE_LISTEN,	session_listen },
	{ MODE_SCAN,	session_scan },
};

static void	 fix_stdio(void);
static void	 signals_init(void);
static void	 parse(struct np_opts *, int, char *[]);

/*
 * A closed fd 0, 1 or 2 would be handed to the first socket, and then
 * data or -v messages would go where they must not.  Fill the holes
 * with /dev/null before anything else opens a descriptor.
 */
static void
fix_stdio(void)
{
	struct pollfd pfd[3] = { { .fd = 0 }, { .fd = 1 }, { .fd = 2 } };
	int fd;

	/* One poll says which are closed (POLLNVAL), as musl's start does. */
	if (poll(pfd, 3, 0) == 0)
		return;
	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(NP_EXIT_FAIL);
	}
}

/*
 * The loop's signals (loop.c), then the ones nobody handles: a write to
 * a closed pipe or socket fails with EPIPE instead of killing us, and
 * past a file-size limit (ulimit -f) a write fails with EFBIG, so the
 * user reads "stdout: File too large", whichever thread wrote.
 */
static void
signals_init(void)
{
	if (loop_signals() == -1)
		err(NP_EXIT_FAIL, "pipe");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
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
	if (sock_features(&opts) == -1)
		rc = NP_EXIT_FAIL;
	else {
		sandbox_init();
		for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
			if (handlers[i].mode == opts.mode)
				rc = handlers[i].handler(&opts);
	}
	opts_free(&opts);
	return rc;
}

/*
 * pty.c: --pty.  With -e or --sh-exec the command runs on a pseudo-
 * terminal: the terminal is its standard input, output and error and its
 * controlling terminal, in a session of its own, so that a shell has job
 * control and programs that want a terminal get one.  A relay process
 * per connection moves the bytes between the socket and the terminal's
 * master side; to exec.c it stands for the command, and it ends as the
 * command ended.  Without -e, --pty puts a terminal on standard input in
 * raw mode for the session, so that the keys a remote terminal needs
 * (Ctrl-C, Ctrl-Z) reach it as bytes.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "netpipe.h"

/* The terminal's size is fixed; stty(1) on the remote side changes it. */
#define PTY_ROWS	24
#define PTY_COLS	80
#define PTY_BUFSZ	(64 * 1024)
/*
 * Once the command has ended, what it wrote is read until the terminal
 * ends or has been quiet this long: a background job it left behind may
 * keep the terminal open for ever.
 */
#define PTY_LINGER_MS	200
/*
 * How long the command has to end after its terminal did, and after a
 * hangup, before the next step (a hangup, SIGKILL).
 */
#define PTY_HANGUP_MS	500

struct pty_buf {
	unsigned char	 data[PTY_BUFSZ];
	size_t		 start;
	size_t		 end;
};

/* One connection's relay, in the relay process. */
struct relay {
	struct loop	*loop;
	int		 rc;		/* -1 while relaying */
	int		 net;
	int		 master;
	int		 sigfd;		/* SIGCHLD, SIGINT, SIGTERM, SIGHUP */
	pid_t		 pid;		/* the command */
	int		 status;	/* its wait status, once reaped */
	int		 reaped;
	int		 net_eof;
	int		 eof_sent;	/* the peer's EOF, as VEOF */
	int		 master_eof;
	long long	 linger;	/* the quiet timer, once reaped */
	int		 waited;	/* relay_reap()'s timer fired */
	struct pty_buf	 up;		/* net -> master */
	struct pty_buf	 down;		/* master -> net */
};

static struct termios	 raw_saved;
static int		 raw_on;

static int	 relay_main(const struct np_opts *, char *const [], int);
static int	 relay_openpty(int *);
static void	 relay_child(const struct np_opts *, char *const [], int,
		    int) __attribute__((noreturn));
static int	 relay_loop(struct relay *);
static int	 relay_watch(struct relay *);
static void	 relay_sig(struct loop *, int, int, void *);
static int	 relay_signal(struct relay *);
static void	 relay_linger(struct relay *);
static int	 relay_quiet(struct loop *, long long, void *);
static void	 relay_net(struct loop *, int, int, void *);
static void	 relay_master(struct loop *, int, int, void *);
static void	 relay_end(struct relay *, int);
static int	 relay_waited(struct loop *, long long, void *);
static int	 relay_move(int, struct pty_buf *, int);
static int	 relay_send(struct relay *);
static void	 relay_reap(struct relay *, int, int);
static void	 relay_exit(struct relay *, int) __attribute__((noreturn));

/*
 * Start argv on a new pseudo-terminal, with a relay process between it
 * and the connected socket fd.  Returns 0 with *pid set to the relay,
 * whose end is the command's, or -1 after a message.  fd stays the
 * caller's to close.
 */
int
pty_spawn(const struct np_opts *o, char *const argv[], int fd, pid_t *pid)
{
	if ((*pid = fork()) == -1) {
		warn("fork");
		return -1;
	}
	if (*pid == 0)
		_exit(relay_main(o, argv, fd));
	return 0;
}

/*
 * The relay process: make the terminal, start the command on it, relay,
 * then end as the command did.  Signals arrive on a signalfd here, never
 * through the parent's pipe, which its poll would then see for ever.
 */
static int
relay_main(const struct np_opts *o, char *const argv[], int fd)
{
	struct winsize ws = { .ws_row = PTY_ROWS, .ws_col = PTY_COLS };
	struct relay *r;
	sigset_t m;
	int slave;

	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigaddset(&m, SIGINT);
	sigaddset(&m, SIGTERM);
	sigaddset(&m, SIGHUP);
	sigprocmask(SIG_BLOCK, &m, NULL);
	/*
	 * The socket alone, as fd 3: a listening socket kept here would
	 * queue peers that nobody accepts once the listener has gone.
	 */
	if ((fd != 3 && dup2(fd, 3) == -1) ||
	    fcntl(3, F_SETFD, FD_CLOEXEC) == -1) {
		warn("dup2");
		return NP_EXIT_FAIL;
	}
	closefrom(4);
	/* The parent's self-pipe went with closefrom; signals come here. */
	np_sigfd = -1;
	np_signal = 0;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->loop = loop_new()) == NULL) {
		warn("pty");
		return NP_EXIT_FAIL;
	}
	r->net = 3;
	r->rc = -1;
	if ((r->sigfd = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    loop_fd(r->loop, r->sigfd, LOOP_READ, relay_sig, r) == -1 ||
	    (slave = relay_openpty(&r->master)) == -1 ||
	    ioctl(slave, TIOCSWINSZ, &ws) == -1) {
		warn("pty");
		return NP_EXIT_FAIL;
	}
	if ((r->pid = fork()) == -1) {
		warn("fork");
		return NP_EXIT_FAIL;
	}
	if (r->pid == 0)
		relay_child(o, argv, slave, r->master);
	close(slave);
	if (fcntl(r->master, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(r->net, F_SETFL, O_NONBLOCK) == -1) {
		warn("fcntl");
		relay_exit(r, NP_EXIT_FAIL);
	}
	relay_exit(r, relay_loop(r));
}

/*
 * A new terminal: *master is set, and the slave side is returned, or -1
 * with errno set.  openpty(3) does the same through an ioctl that
 * valgrind does not know, and warns about on every run.
 */
static int
relay_openpty(int *master)
{
	char name[64];
	int slave;

	if ((*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return -1;
	if (grantpt(*master) == -1 || unlockpt(*master) == -1 ||
	    ptsname_r(*master, name, sizeof(name)) != 0 ||
	    (slave = open(name, O_RDWR | O_NOCTTY)) == -1) {
		close(*master);
		return -1;
	}
	return slave;
}

/*
 * The command: a session of its own with the terminal as its controlling
 * terminal and its standard input, output and error.  A failed exec is
 * told on netpipe's standard error, where -e without --pty tells it.
 */
static void
relay_child(const struct np_opts *o, char *const argv[], int slave,
    int master)
{
	const char *path = o->exec_shell ? "/bin/sh" : argv[0];
	sigset_t none;
	int errfd;

	errfd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (setsid() == -1 || ioctl(slave, TIOCSCTTY, 0) == -1 ||
	    dup2(slave, STDIN_FILENO) == -1 ||
	    dup2(slave, STDOUT_FILENO) == -1 ||
	    dup2(slave, STDERR_FILENO) == -1) {
		dprintf(errfd, "netpipe: pty: %s\n", strerror(errno));
		_exit(127);
	}
	if (slave > STDERR_FILENO)
		close(slave);
	close(master);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o->exec_shell)
		execv(path, argv);
	else
		execvp(path, argv);
	dprintf(errfd, "netpipe: exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/*
 * Relay until the command's terminal ends (or the command ended and the
 * terminal went quiet), a signal, or a failed send.  Returns -1 when the
 * relay ended with the command, otherwise an exit code.
 */
static int
relay_loop(struct relay *r)
{
	while (r->rc == -1 && (!r->master_eof || r->down.start < r->down.end))
		if (relay_watch(r) == -1 || loop_once(r->loop) == -1) {
			warn("poll");
			return NP_EXIT_FAIL;
		}
	if (r->rc != -1)
		return r->rc;
	shutdown(r->net, SHUT_WR);
	return -1;
}

/*
 * Each side is read only when what it gave before has been written.  A
 * side with nothing to wait for leaves the loop: a hung-up one would be
 * reported even with no interest, a spin.  Returns 0, or -1 (ENOMEM).
 */
static int
relay_watch(struct relay *r)
{
	int net = 0, master = 0;

	if (!r->net_eof && r->up.start == r->up.end)
		net |= LOOP_READ;
	if (r->down.start < r->down.end)
		net |= LOOP_WRITE;
	if (!r->master_eof && r->down.start == r->down.end)
		master |= LOOP_READ;
	if (r->up.start < r->up.end || (r->net_eof && !r->eof_sent))
		master |= LOOP_WRITE;
	if (net == 0)
		loop_fd_del(r->loop, r->net);
	else if (loop_fd(r->loop, r->net, net, relay_net, r) == -1)
		return -1;
	if (master == 0)
		loop_fd_del(r->loop, r->master);
	else if (loop_fd(r->loop, r->master, master, relay_master, r) == -1)
		return -1;
	return 0;
}

/* The signalfd is readable: see relay_signal(). */
static void
relay_sig(struct loop *l, int fd, int fired, void *arg)
{
	struct relay *r = arg;
	int rc;

	(void)l;
	(void)fd;
	(void)fired;
	if ((rc = relay_signal(r)) != -1 && r->rc == -1)
		relay_end(r, rc);
}

/*
 * SIGCHLD: the command ended; read what it left for PTY_LINGER_MS.  Any
 * other signal stops the relay.  Returns -1 to go on, or an exit code.
 */
static int
relay_signal(struct relay *r)
{
	struct signalfd_siginfo si;
	int sig = 0;

	while (read(r->sigfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo != SIGCHLD)
			sig = si.ssi_signo;
	if (sig != 0)
		return NP_EXIT_SIGNAL + sig;
	if (!r->reaped && waitpid(r->pid, &r->status, WNOHANG) == r->pid) {
		r->reaped = 1;
		relay_linger(r);
	}
	return -1;
}

/*
 * The command has ended: the terminal counts as ended once it has been
 * quiet for PTY_LINGER_MS, counted again after each read.  Without the
 * memory for a timer it counts as ended now.
 */
static void
relay_linger(struct relay *r)
{
	loop_timer_del(r->loop, r->linger);
	if ((r->linger = loop_timer(r->loop, PTY_LINGER_MS, relay_quiet,
	    r)) == -1) {
		r->linger = 0;
		r->master_eof = 1;
	}
}

/* The terminal stayed quiet after the command ended. */
static int
relay_quiet(struct loop *l, long long id, void *arg)
{
	struct relay *r = arg;

	(void)l;
	(void)id;
	r->linger = 0;
	r->master_eof = 1;
	return LOOP_NOMORE;
}

/* The socket is ready: take what the peer sent, send what we hold. */
static void
relay_net(struct loop *l, int fd, int fired, void *arg)
{
	struct relay *r = arg;
	int n, rc;

	(void)l;
	(void)fd;
	if (fired & (LOOP_READ | LOOP_HUP | LOOP_ERR) && !r->net_eof) {
		if ((n = relay_move(r->net, &r->up, 1)) == -1) {
			warn("recv");
			relay_end(r, NP_EXIT_FAIL);
			return;
		}
		r->net_eof = n == 0;
	}
	if (fired & LOOP_WRITE && (rc = relay_send(r)) != -1)
		relay_end(r, rc);
}

/*
 * The terminal is ready.  The peer's EOF reaches the command as the
 * terminal's end-of-file character, as a pipe's EOF reaches it without
 * --pty.
 */
static void
relay_master(struct loop *l, int fd, int fired, void *arg)
{
	struct relay *r = arg;
	struct termios t;
	int n;

	(void)l;
	(void)fd;
	if (fired & (LOOP_WRITE | LOOP_HUP | LOOP_ERR)) {
		/* Input for a command that has gone is dropped. */
		if (r->up.start < r->up.end &&
		    relay_move(r->master, &r->up, 0) == -1) {
			if (errno != EIO)
				warn("pty");
			r->up.start = r->up.end = 0;
		}
		if (r->up.start == r->up.end && r->net_eof && !r->eof_sent &&
		    tcgetattr(r->master, &t) == 0) {
			r->eof_sent = 1;
			if (write(r->master, &t.c_cc[VEOF], 1) == -1) {
				/* The command has gone: nothing to tell. */
			}
		}
	}
	if (fired & (LOOP_READ | LOOP_HUP | LOOP_ERR) && !r->master_eof &&
	    r->down.start == r->down.end) {
		/* Linux says EIO once the last slave descriptor is closed. */
		if ((n = relay_move(r->master, &r->down, 1)) == -1 &&
		    errno != EIO)
			warn("pty");
		if (n <= 0)
			r->master_eof = 1;
		else if (r->reaped)
			relay_linger(r);
	}
}

/* The relay's exit code is decided. */
static void
relay_end(struct relay *r, int rc)
{
	r->rc = rc;
	loop_stop(r->loop);
}

/*
 * One read into b (in) or one write from b (!in) on fd.  Returns the
 * byte count, 0 at EOF, or -1 with errno set; EAGAIN and EINTR count as
 * a move of nothing (1, so as not to look like EOF).
 */
static int
relay_move(int fd, struct pty_buf *b, int in)
{
	ssize_t n;

	if (in)
		n = read(fd, b->data, sizeof(b->data));
	else
		n = write(fd, b->data + b->start, b->end - b->start);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 1 : -1;
	if (in) {
		b->start = 0;
		b->end = n;
	} else if ((b->start += n) == b->end)
		b->start = b->end = 0;
	return n > 0 || !in ? 1 : 0;
}

/* Send what the terminal gave; a peer that is gone ends the relay. */
static int
relay_send(struct relay *r)
{
	ssize_t n;

	n = send(r->net, r->down.data + r->down.start,
	    r->down.end - r->down.start, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n == -1) {
		if (errno == EPIPE)
			errno = ECONNRESET;
		warn("send");
		return NP_EXIT_FAIL;
	}
	if ((r->down.start += n) == r->down.end)
		r->down.start = r->down.end = 0;
	return -1;
}

/* relay_reap()'s wait for one step is over. */
static int
relay_waited(struct loop *l, long long id, void *arg)
{
	struct relay *r = arg;

	(void)l;
	(void)id;
	r->waited = 1;
	return LOOP_NOMORE;
}

/*
 * Wait up to ms for the command to end, then hang its session up, then
 * kill it; hangup starts with the hangup.  The command is reaped after.
 * Only the signalfd is watched now.
 */
static void
relay_reap(struct relay *r, int ms, int hangup)
{
	static const int sigs[] = { 0, SIGHUP, SIGKILL };
	long long t;
	size_t i;

	for (i = hangup ? 1 : 0; i < 3 && !r->reaped; i++) {
		if (sigs[i] != 0) {
			/* setsid() made the command a group leader. */
			kill(-r->pid, sigs[i]);
			kill(r->pid, sigs[i]);
		}
		r->waited = 0;
		if ((t = loop_timer(r->loop, ms, relay_waited, r)) == -1)
			break;
		while (!r->reaped && !r->waited)
			if (loop_once(r->loop) == -1)
				r->waited = 1;
		loop_timer_del(r->loop, t);
	}
	if (!r->reaped && waitpid(r->pid, &r->status, 0) == r->pid)
		r->reaped = 1;
}

/*
 * End the relay process.  rc -1: as the command ended (its status, or
 * its signal raised again here); otherwise hang the command up and exit
 * rc.
 */
static void
relay_exit(struct relay *r, int rc)
{
	struct rlimit none = { 0, 0 };
	sigset_t m;
	int sig;

	loop_fd_del(r->loop, r->net);
	loop_fd_del(r->loop, r->master);
	if (rc != -1) {
		/* Closing the master hangs up the command's terminal. */
		close(r->master);
		relay_reap(r, PTY_HANGUP_MS, 1);
		_exit(rc);
	}
	relay_reap(r, PTY_HANGUP_MS, 0);
	if (!r->reaped || WIFEXITED(r->status))
		_exit(r->reaped ? WEXITSTATUS(r->status) : NP_EXIT_FAIL);
	sig = WTERMSIG(r->status);
	/* Die of the same signal, without a core of our own. */
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigemptyset(&m);
	sigaddset(&m, sig);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	kill(getpid(), sig);
	_exit(NP_EXIT_SIGNAL + sig);
}

/*
 * --pty without -e: a terminal on standard input goes raw while a
 * session lasts; pty_raw_end() puts it back, and runs at exit too, so
 * that err() on the way out restores it.  A standard input that is not a
 * terminal is left alone.
 */
void
pty_raw_begin(const struct np_opts *o)
{
	static int registered;
	struct termios t;

	if (!o->pty || o->exec_cmd != NULL || raw_on ||
	    !isatty(STDIN_FILENO))
		return;
	if (tcgetattr(STDIN_FILENO, &raw_saved) == -1) {
		warn("stdin: tcgetattr");
		return;
	}
	if (!registered && atexit(pty_raw_end) == 0)
		registered = 1;
	t = raw_saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == -1) {
		warn("stdin: tcsetattr");
		return;
	}
	raw_on = 1;
}

/* Restore the terminal pty_raw_begin() made raw, if it did. */
void
pty_raw_end(void)
{
	if (!raw_on)
		return;
	raw_on = 0;
	tcsetattr(STDIN_FILENO, TCSADRAIN, &raw_saved);
}

/*
 * xfer_test: the transfer API (xfer.c) against real TCP peers on
 * loopback.  Each case makes pairs of connected sockets on a port the
 * kernel picks, forks the far ends as peers that write and check a
 * pattern of bytes (NULs included), and runs transfers between the near
 * ends on one loop.  Prints TAP; exits 1 when a case fails.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

#define MAXPAIRS	32

struct pair {
	int		 near[2];	/* the transfer's a and b */
	int		 far[2];	/* the peers' ends */
	pid_t		 pid[2];
	struct xfer	*x;
	int		 rc;		/* done()'s, -1 until then */
};

static struct np_opts	 opts;
static struct loop	*lp;
static int		 lfd = -1;
static int		 pending;
static int		 failures, ncase;

static unsigned char
pattern(unsigned long long i, int seed)
{
	unsigned long long v = (i + 1) * 0x9e3779b97f4a7c15ULL + seed;

	/* About one byte in sixteen is NUL. */
	return (v >> 40) % 16 == 0 ? 0 : (unsigned char)(v >> 29);
}

/* Write n bytes of the pattern; 0 or -1. */
static int
send_pattern(int fd, size_t n, int seed)
{
	unsigned char b[65536];
	size_t off = 0, i, k;
	ssize_t w;

	while (off < n) {
		k = n - off < sizeof(b) ? n - off : sizeof(b);
		for (i = 0; i < k; i++)
			b[i] = pattern(off + i, seed);
		if ((w = write(fd, b, k)) <= 0)
			return -1;
		off += w;
	}
	return 0;
}

/*
 * Read to the end, checking the pattern.  Returns the byte count, -1 on
 * a wrong byte, or -2 when the read failed (errno says how).
 */
static long long
check_pattern(int fd, int seed)
{
	unsigned char b[65536];
	unsigned long long off = 0;
	ssize_t n, i;

	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (i = 0; i < n; i++)
			if (b[i] != pattern(off + i, seed))
				return -1;
		off += n;
	}
	return n == 0 ? (long long)off : -2;
}

static int
tcp_pair(int *near, int *far)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(lfd, (struct sockaddr *)&sin, &len) == -1 ||
	    (*far = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(*far, (struct sockaddr *)&sin, len) == -1 ||
	    (*near = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
	    == -1)
		return -1;
	return 0;
}

static void
on_done(struct xfer *x, int rc, void *data)
{
	struct pair *p = data;

	(void)x;
	p->rc = rc;
	if (--pending == 0)
		loop_stop(lp);
}

static void
ok(int cond, const char *what)
{
	ncase++;
	printf("%sok %d - %s\n", cond ? "" : "not ", ncase, what);
	if (!cond)
		failures++;
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d != NULL && readdir(d) != NULL)
		n++;
	if (d != NULL)
		closedir(d);
	return n;
}

/* Start a peer on far end i of p running fn; the rest stays ours. */
static void
peer(struct pair *p, int i, int (*fn)(int, size_t), size_t n)
{
	if ((p->pid[i] = fork()) == -1)
		err(1, "fork");
	if (p->pid[i] == 0) {
		close(p->near[0]);
		close(p->near[1]);
		close(p->far[!i]);
		_exit(fn(p->far[i], n));
	}
	close(p->far[i]);
}

/* a's peer: send n bytes, end, then take b's reply to the end. */
static int
peer_a(int fd, size_t n)
{
	if (send_pattern(fd, n, 1) == -1 || shutdown(fd, SHUT_WR) == -1)
		return 1;
	return check_pattern(fd, 2) == (long long)(n / 2) ? 0 : 2;
}

/* b's peer: take a's bytes to the end (the half-close), then reply. */
static int
peer_b(int fd, size_t n)
{
	if (check_pattern(fd, 1) != (long long)n)
		return 3;
	if (send_pattern(fd, n / 2, 2) == -1)
		return 4;
	return 0;
}

/* a's peer that sends n bytes and resets the connection. */
static int
peer_reset(int fd, size_t n)
{
	struct linger lg = { 1, 0 };

	if (send_pattern(fd, n, 1) == -1)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

/* b's peer that must see the reset passed on. */
static int
peer_see_reset(int fd, size_t n)
{
	(void)n;
	return check_pattern(fd, 1) == -2 && errno == ECONNRESET ? 0 : 5;
}

/*
 * Make npairs pairs with peers fa and fb moving n bytes, and run their
 * transfers to the end.  With starve, no descriptor is left free while
 * they run.  Returns how many peers failed.
 */
static int
pairs_run(struct pair *p, int npairs, size_t n,
    int (*fa)(int, size_t), int (*fb)(int, size_t), int starve)
{
	struct xfer_side a, b;
	int i, j, st, bad = 0, nfill = 0, fill[64];

	for (i = 0; i < npairs; i++) {
		if (tcp_pair(&p[i].near[0], &p[i].far[0]) == -1 ||
		    tcp_pair(&p[i].near[1], &p[i].far[1]) == -1)
			err(1, "loopback pair");
		peer(&p[i], 0, fa, n);
		peer(&p[i], 1, fb, n);
	}
	for (i = 0; i < npairs; i++) {
		a = (struct xfer_side){ p[i].near[0], NULL, "a" };
		b = (struct xfer_side){ p[i].near[1], NULL, "b" };
		p[i].rc = -1;
		if ((p[i].x = xfer_new(lp, &opts, &a, &b, on_done, &p[i]))
		    == NULL)
			err(1, "xfer_new");
		pending++;
	}
	while (starve && nfill < 64 &&
	    (fill[nfill] = open("/dev/null", O_RDONLY)) != -1)
		nfill++;
	if (loop_run(lp) == -1)
		err(1, "loop_run");
	while (nfill > 0)
		close(fill[--nfill]);
	for (i = 0; i < npairs; i++)
		for (j = 0; j < 2; j++)
			if (waitpid(p[i].pid[j], &st, 0) == -1 ||
			    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				bad++;
	return bad;
}

static void
case_bulk(int npairs, size_t n, const char *what)
{
	struct pair p[MAXPAIRS];
	unsigned long long ab, ba;
	int i, bad, good = 1;

	bad = pairs_run(p, npairs, n, peer_a, peer_b, 0);
	for (i = 0; i < npairs; i++) {
		xfer_bytes(p[i].x, &ab, &ba);
		good &= p[i].rc == 0 && ab == n && ba == n / 2;
		xfer_free(p[i].x);
	}
	ok(bad == 0 && good, what);
}

static void
case_reset(void)
{
	struct pair p[1];
	int bad;

	bad = pairs_run(p, 1, 100000, peer_reset, peer_see_reset, 0);
	ok(bad == 0 && p[0].rc == 1, "a reset on a: done(1), b is reset");
	xfer_free(p[0].x);
}

/* An idle transfer holds no pipe; xfer_free closes both sockets. */
static void
case_idle(void)
{
	struct xfer_side a, b;
	struct xfer *x;
	int na, nb, fa, fb, before, held;

	if (tcp_pair(&na, &fa) == -1 || tcp_pair(&nb, &fb) == -1)
		err(1, "loopback pair");
	a = (struct xfer_side){ na, NULL, "a" };
	b = (struct xfer_side){ nb, NULL, "b" };
	before = open_fds();
	if ((x = xfer_new(lp, &opts, &a, &b, on_done, NULL)) == NULL)
		err(1, "xfer_new");
	held = open_fds() - before;
	xfer_free(x);
	ok(held == 0 && fcntl(na, F_GETFD) == -1 && fcntl(nb, F_GETFD) == -1,
	    "idle: no pipe made; xfer_free closes both sockets");
	close(fa);
	close(fb);
}

/* With no descriptor left for a pipe, the bytes go through a buffer. */
static void
case_no_pipes(void)
{
	struct pair p[1];
	struct rlimit old, rl;
	unsigned long long ab, ba;
	int bad;

	getrlimit(RLIMIT_NOFILE, &old);
	rl = old;
	/* Room for the pair's sockets; pairs_run fills the rest. */
	rl.rlim_cur = open_fds() + 16;
	setrlimit(RLIMIT_NOFILE, &rl);
	bad = pairs_run(p, 1, 3 << 20, peer_a, peer_b, 1);
	setrlimit(RLIMIT_NOFILE, &old);
	xfer_bytes(p[0].x, &ab, &ba);
	ok(bad == 0 && p[0].rc == 0 && ab == 3 << 20 && ba == 3 << 19,
	    "pipe2 fails (EMFILE): the buffer carries the bytes");
	xfer_free(p[0].x);
}

int
main(void)
{
	struct sockaddr_in sin;

	signal(SIGPIPE, SIG_IGN);
	/* Every wait here is bounded: a hung case ends the program. */
	alarm(60);
	opts.verbose = 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 128) == -1)
		err(1, "listener");
	if ((lp = loop_new()) == NULL)
		err(1, "loop_new");
	printf("1..5\n");
	case_idle();
	case_bulk(1, 8 << 20, "8 MiB a to b, half-close passed on, 4 MiB back");
	case_bulk(MAXPAIRS, 256 << 10, "32 pairs on one loop, both ways");
	case_reset();
	case_no_pipes();
	loop_free(lp);
	close(lfd);
	return failures > 0;
}

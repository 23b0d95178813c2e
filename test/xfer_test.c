/*
 * xfer_test: the transfer API (xfer.c) against real TCP peers on
 * loopback.  Each case makes pairs of connected sockets on a port the
 * kernel picks, forks the far ends as peers that write and check a
 * pattern of bytes (NULs included), and runs transfers between the near
 * ends on one loop.  Two cases test dir.c, the directions both engines
 * hold their bytes in, on their own.  Prints TAP; exits 1 when a case
 * fails.
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
#include <poll.h>
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
static int		 pp_fds[2];	/* case_ep_pp's socket pair */

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

/*
 * a's peer with an urgent byte amid n bytes, which splice(2) stops at;
 * the byte itself is out of band and never forwarded.
 */
static int
peer_urgent(int fd, size_t n)
{
	unsigned char b[65536];
	size_t i, k = n / 2;

	for (i = 0; i < k && i < sizeof(b); i++)
		b[i] = pattern(i, 1);
	if (write(fd, b, k) != (ssize_t)k || send(fd, "!", 1, MSG_OOB) != 1)
		return 1;
	for (i = k; i < n; i++)
		b[i - k] = pattern(i, 1);
	if (write(fd, b, n - k) != (ssize_t)(n - k) ||
	    shutdown(fd, SHUT_WR) == -1)
		return 1;
	return check_pattern(fd, 2) == (long long)(n / 2) ? 0 : 2;
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
		a = (struct xfer_side){ .fd = p[i].near[0], .name = "a" };
		b = (struct xfer_side){ .fd = p[i].near[1], .name = "b" };
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
case_urgent(void)
{
	struct pair p[1];
	unsigned long long ab, ba;
	int bad;

	bad = pairs_run(p, 1, 60000, peer_urgent, peer_b, 0);
	xfer_bytes(p[0].x, &ab, &ba);
	ok(bad == 0 && p[0].rc == 0 && ab == 60000 && ba == 30000,
	    "an urgent byte amid the stream: no stall, the rest arrives");
	xfer_free(p[0].x);
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
	a = (struct xfer_side){ .fd = na, .name = "a" };
	b = (struct xfer_side){ .fd = nb, .name = "b" };
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

/* Move all of b through TLS ctx on fd, or read once; as ntls_io(). */
static ssize_t
tls_block(struct tls *ctx, int fd, int writing, unsigned char *b, size_t n)
{
	size_t off = 0;
	ssize_t r;
	short ev;

	do {
		r = ntls_io(ctx, writing, b + off, n - off, &ev);
		if (r == NTLS_WANT) {
			if (sock_wait(fd, ev, 10000) <= 0)
				return -1;
			continue;
		}
		if (r <= 0 || !writing)
			return r;
		off += r;
	} while (off < n);
	return n;
}

/*
 * a's peer over TLS: the handshake, n bytes, close_notify, then b's reply
 * to its close_notify.
 */
static int
peer_tls(int fd, size_t n)
{
	struct np_opts co = opts;
	unsigned char b[16384];
	unsigned long long off = 0;
	struct tls *ctx;
	size_t i, k;
	ssize_t r;
	int wrong = 0;

	co.tls_name = "localhost";
	if ((ctx = ntls_client(&co, fd)) == NULL)
		return 6;
	while (off < n) {
		k = n - off < sizeof(b) ? n - off : sizeof(b);
		for (i = 0; i < k; i++)
			b[i] = pattern(off + i, 1);
		if (tls_block(ctx, fd, 1, b, k) != (ssize_t)k)
			return 7;
		off += k;
	}
	ntls_close_notify(ctx, fd);
	for (off = 0; (r = tls_block(ctx, fd, 0, b, sizeof(b))) > 0;
	    off += r)
		for (i = 0; i < (size_t)r; i++)
			wrong |= b[i] != pattern(off + i, 2);
	ntls_free(ctx);
	return r == 0 && !wrong && off == n / 2 ? 0 : 9;
}

/* a is a TLS server's session, b plain: the copy path both ways. */
static void
case_tls(void)
{
	char dir[] = "/tmp/xfer_test.XXXXXX", cmd[512], cert[256], key[256];
	struct pair p;
	struct xfer_side a, b;
	struct tls *server, *ctx;
	unsigned long long ab, ba;
	int i, st, bad = 0;

	if (mkdtemp(dir) == NULL)
		err(1, "mkdtemp");
	snprintf(cmd, sizeof(cmd), "cd %s && openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem "
	    "-out cert.pem -days 1 -subj /CN=localhost -addext "
	    "subjectAltName=DNS:localhost 2>/dev/null", dir);
	if (system(cmd) != 0)
		errx(1, "openssl req failed");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	opts.tls_cert = opts.tls_ca = cert;
	opts.tls_key = key;
	if (tcp_pair(&p.near[0], &p.far[0]) == -1 ||
	    tcp_pair(&p.near[1], &p.far[1]) == -1)
		err(1, "loopback pair");
	peer(&p, 0, peer_tls, 1 << 20);
	peer(&p, 1, peer_b, 1 << 20);
	server = ntls_server(&opts);
	if ((ctx = ntls_accept(&opts, server, p.near[0])) == NULL)
		errx(1, "TLS handshake");
	a = (struct xfer_side){ .fd = p.near[0], .tls = ctx, .name = "a" };
	b = (struct xfer_side){ .fd = p.near[1], .name = "b" };
	if ((p.x = xfer_new(lp, &opts, &a, &b, on_done, &p)) == NULL)
		err(1, "xfer_new");
	p.rc = -1;
	pending++;
	if (loop_run(lp) == -1)
		err(1, "loop_run");
	for (i = 0; i < 2; i++)
		if (waitpid(p.pid[i], &st, 0) == -1 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad++;
	xfer_bytes(p.x, &ab, &ba);
	ok(bad == 0 && p.rc == 0 && ab == 1 << 20 && ba == 1 << 19,
	    "TLS on a: close_notify passed on both ways");
	xfer_free(p.x);
	ntls_free(server);
	opts.tls_cert = opts.tls_ca = opts.tls_key = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		warnx("%s: not removed", dir);
}

/* Read fd to its end, each wait bounded; the count, or -1. */
static ssize_t
drain(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	unsigned char b[65536];
	ssize_t n, total = 0;

	while (poll(&pfd, 1, 5000) == 1) {
		if ((n = read(fd, b, sizeof(b))) <= 0)
			return n == 0 ? total : -1;
		total += n;
	}
	return -1;
}

/*
 * One endpoint implementation (endpoint.c) against a plain peer: waits
 * say so with the events, NUL bytes pass both ways, a byte count larger
 * than the socket holds is taken in part, shut ends the stream, and the
 * peer's end is 0.  Returns 0, or the number of the check that failed.
 */
static int
ep_exercise(int flags)
{
	unsigned char out[4] = { 'a', 0, 'b', 0 }, in[8];
	unsigned char *big;
	const char *why = NULL;
	struct ep e;
	short ev = 0;
	ssize_t n, k = 0;
	int near, far, i, rc = 0;

	if (tcp_pair(&near, &far) == -1)
		err(1, "loopback pair");
	ep_init(&e, near, NULL, NULL, flags);
	if (e.ops->record != 1 || !e.ops->splice)
		rc = 1;
	else if (e.ops->recv(&e, in, sizeof(in), &ev, &why) != NTLS_WANT ||
	    ev != POLLIN)
		rc = 2;
	else if (e.ops->send(&e, out, sizeof(out), 0, &ev, &why) != 4 ||
	    ev != POLLOUT || read(far, in, sizeof(in)) != 4 ||
	    memcmp(in, out, 4) != 0)
		rc = 3;
	else if (write(far, out, 4) != 4 ||
	    (n = e.ops->recv(&e, in, sizeof(in), &ev, &why)) != 4 ||
	    memcmp(in, out, 4) != 0)
		rc = 4;
	if (rc != 0)
		goto out;
	/* More than any socket buffer: a part goes, then the socket is full. */
	if ((big = calloc(1, 64 << 20)) == NULL)
		err(1, "calloc");
	/* Each send takes a part, until the socket and its peer's are full. */
	for (n = 0, i = 0; i < 10000; i++) {
		k = e.ops->send(&e, big, 64 << 20, 0, &ev, &why);
		if (k <= 0 || k >= 64 << 20)
			break;
		n += k;
	}
	if (n == 0 || k != NTLS_WANT || ev != POLLOUT)
		rc = 5;
	free(big);
	if (rc == 0 && (e.ops->shut(&e, &ev) != 0 || drain(far) != n))
		rc = 6;
	else if (rc == 0 && (shutdown(far, SHUT_WR) == -1 ||
	    e.ops->recv(&e, in, sizeof(in), &ev, &why) != 0))
		rc = 7;
out:
	close(near);
	close(far);
	return rc;
}

static void
case_ep(void)
{
	char what[128];
	int rc;

	rc = ep_exercise(0);
	snprintf(what, sizeof(what), "endpoint send/recv: waits, NUL bytes, "
	    "a partial send, shut and the peer's end (check %d)", rc);
	ok(rc == 0, what);
	rc = ep_exercise(EP_RW);
	snprintf(what, sizeof(what), "endpoint --io rw: waits, NUL bytes, "
	    "a partial write, shut and the peer's end (check %d)", rc);
	ok(rc == 0, what);
}

/* Both ends of a --passphrase handshake on one thread; 0 or -1. */
static int
pp_pair(struct pp *pp[2])
{
	struct pollfd pfd[2];
	int i, rc[2] = { NTLS_WANT, NTLS_WANT }, rounds;

	for (rounds = 0; rounds < 1000; rounds++) {
		for (i = 0; i < 2; i++) {
			pfd[i].fd = -1;
			pfd[i].events = 0;
			if (rc[i] == NTLS_WANT &&
			    (rc[i] = pp_handshake_step(pp[i], &pfd[i].events))
			    == NTLS_WANT)
				pfd[i].fd = pp_fds[i];
		}
		if (rc[0] == -1 || rc[1] == -1)
			return -1;
		if (rc[0] == 0 && rc[1] == 0)
			return 0;
		if (poll(pfd, 2, 5000) <= 0)
			return -1;
	}
	return -1;
}

/*
 * The --passphrase implementation: 1 MiB with NULs through records
 * both ways at once, then the end record seen as the peer's end.
 * Returns 0, or the number of the check that failed.
 */
static int
ep_pp_exercise(struct ep e[2])
{
	unsigned char *out, *in;
	const char *why = NULL;
	size_t n = 1 << 20, sent = 0, got = 0, i;
	ssize_t k;
	short ev;
	int rounds, rc = 0;

	if ((out = malloc(n)) == NULL || (in = malloc(n + PP_RECORD)) == NULL)
		err(1, "malloc");
	for (i = 0; i < n; i++)
		out[i] = pattern(i, 3);
	for (rounds = 0; got < n && rounds < 100000; rounds++) {
		if (sent < n && (k = e[0].ops->send(&e[0], out + sent,
		    n - sent, 0, &ev, &why)) > 0)
			sent += k;
		else if (sent < n && k != NTLS_WANT)
			rc = 2;
		if ((k = e[1].ops->recv(&e[1], in + got, PP_RECORD, &ev,
		    &why)) > 0)
			got += k;
		else if (k != NTLS_WANT)
			rc = 3;
		if (rc != 0)
			break;
	}
	if (rc == 0 && (got != n || memcmp(in, out, n) != 0))
		rc = 4;
	if (rc == 0 && (e[0].ops->shut(&e[0], &ev) != 0 ||
	    e[1].ops->recv(&e[1], in, PP_RECORD, &ev, &why) != 0))
		rc = 5;
	free(out);
	free(in);
	return rc;
}

static void
case_ep_pp(void)
{
	struct pp_secret sec;
	struct pp *pp[2];
	struct ep e[2];
	int sv[2], rc = 0, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		err(1, "socketpair");
	if (pp_secret_set(&sec, "correct horse", 13) == -1)
		errx(1, "pp_secret_set");
	pp_fds[0] = sv[0];
	pp_fds[1] = sv[1];
	pp[0] = pp_new(&sec, sv[0], 0, 0);
	pp[1] = pp_new(&sec, sv[1], 1, 0);
	if (pp_pair(pp) == -1)
		rc = 1;
	for (i = 0; i < 2; i++)
		ep_init(&e[i], sv[i], NULL, pp[i], 0);
	if (rc == 0 && (e[0].ops->record != PP_RECORD || e[0].ops->splice))
		rc = 6;
	if (rc == 0)
		rc = ep_pp_exercise(e);
	for (i = 0; i < 2; i++) {
		pp_free(pp[i]);
		close(sv[i]);
	}
	ok(rc == 0, rc == 0 ? "endpoint --passphrase: 1 MiB with NULs in "
	    "records, the end record is the peer's end" :
	    "endpoint --passphrase (a check failed)");
	if (rc != 0)
		printf("# check %d\n", rc);
}

/* Whether d's buffer holds the pattern's bytes from..from+n at its start. */
static int
dir_holds(const struct dir *d, size_t from, size_t n)
{
	size_t i;

	if (d->end - d->start != n)
		return 0;
	for (i = 0; i < n; i++)
		if (d->buf[d->start + i] != pattern(from + i, 7))
			return 0;
	return 1;
}

/*
 * A read of n pattern bytes, from on, into d's buffer, offered all room
 * (and taking no more, should the buffer be smaller than it must).
 */
static void
dir_read_pattern(struct dir *d, size_t from, size_t n)
{
	size_t i;

	d->asked = dir_room(d);
	if (n > d->asked)
		n = d->asked;
	for (i = 0; i < n; i++)
		d->buf[d->end + i] = pattern(from + i, 7);
	dir_filled(d, n, n);
}

/*
 * dir.c's buffer: room before it is made, no growth on a short read,
 * one growth to bulk on a read that took all it was offered (bytes
 * kept), a small rest moved to the start only when the end is full, a
 * record layer's need, a datagram at a time, and what a restart
 * forgets.
 */
static void
case_dir_buffer(void)
{
	struct dir d;
	int good;

	dir_init(&d);
	dir_sizes(&d, 4096, 65536, 1);
	good = d.buf == NULL && dir_room(&d) == 4096 && dir_ready(&d) &&
	    dir_pending(&d) == 0 && dir_buf(&d) == 0 && d.cap == 4096;
	dir_read_pattern(&d, 0, 1000);
	good &= d.cap == 4096 && dir_pending(&d) == 1000;
	dir_read_pattern(&d, 1000, 3096);
	good &= d.cap == 65536 && dir_holds(&d, 0, 4096);
	dir_consumed(&d, 4096);
	good &= d.start == 0 && d.end == 0 && d.bytes == 4096;
	dir_read_pattern(&d, 0, 65536);
	dir_consumed(&d, 65536 - 20000);
	good &= d.start == 65536 - 20000;	/* a quarter or more stays */
	dir_consumed(&d, 20000 - 100);
	good &= d.start == 0 && dir_holds(&d, 65436, 100) &&
	    dir_room(&d) == 65436 && d.cap == 65536;
	d.one_msg = 1;
	good &= dir_room(&d) == 0;
	d.one_msg = 0;
	dir_sizes(&d, 16896, 33792, 16896);
	d.end = 65536 - 16000;
	good &= !dir_ready(&d);
	d.eof = d.failed = 1;
	dir_restart(&d, 0);
	good &= d.eof && dir_pending(&d) > 0;
	dir_restart(&d, 1);
	good &= !d.eof && !d.failed && dir_pending(&d) == 0;
	dir_release(&d);
	ok(good && d.buf == NULL && d.cap == 0, "dir.c: the buffer's growth, "
	    "room, need, compaction and restart");
}

/*
 * dir.c's pipe: made at a page, grown once, a pipe given up closes once
 * empty, and read-back moves what it holds into the buffer in order.
 */
static void
case_dir_pipe(void)
{
	unsigned char b[5000];
	struct dir d;
	size_t i;
	int good, fd;

	for (i = 0; i < sizeof(b); i++)
		b[i] = pattern(i, 7);
	dir_init(&d);
	dir_sizes(&d, 4096, 65536, 1);
	good = dir_pipe(&d, 4096) == 0 && d.pipesz == 4096 &&
	    dir_pipe_room(&d);
	dir_pipe_grow(&d, 65536);
	good &= d.pipesz == 65536 && !d.no_pipe;
	d.held = write(d.pipe[1], b, sizeof(b));
	fd = d.pipe[0];
	good &= dir_pipe_readback(&d) == 4096 && d.held == 904 &&
	    dir_holds(&d, 0, 4096) && dir_pending(&d) == 5000;
	dir_consumed(&d, 4096);
	good &= dir_pipe_readback(&d) == 904 && dir_holds(&d, 4096, 904);
	dir_consumed(&d, 904);
	d.held = write(d.pipe[1], b, 10);
	dir_pipe_off(&d);
	good &= d.pipe[0] == fd && !dir_pipe_room(&d);
	dir_pipe_drained(&d, 10);
	good &= d.pipe[0] == -1 && d.held == 0 && d.bytes == 5010 &&
	    fcntl(fd, F_GETFD) == -1;
	dir_release(&d);
	ok(good, "dir.c: the pipe's growth, read-back and giving up");
}

int
main(void)
{
	struct sockaddr_in sin;

	signal(SIGPIPE, SIG_IGN);
	/* The peers are forked: nothing buffered may be printed twice. */
	setvbuf(stdout, NULL, _IOLBF, 0);
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
	printf("1..12\n");
	case_dir_buffer();
	case_dir_pipe();
	case_ep();
	case_ep_pp();
	case_idle();
	case_bulk(1, 8 << 20, "8 MiB a to b, half-close passed on, 4 MiB back");
	case_bulk(MAXPAIRS, 256 << 10, "32 pairs on one loop, both ways");
	case_reset();
	case_urgent();
	case_no_pipes();
	case_tls();
	loop_free(lp);
	close(lfd);
	return failures > 0;
}

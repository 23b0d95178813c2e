/*
 * transfer.c: the data pump.  One poll(2) loop moves bytes both ways
 * between stdin/stdout and a connected (or, for a UDP -k listener,
 * unconnected) socket, with back-pressure and exact end-of-stream rules.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * Large enough for any UDP datagram and for few syscalls per megabyte,
 * small enough that both buffers together stay well under a megabyte.
 */
#define PUMP_BUFSZ	(256 * 1024)
/*
 * The pipe that splice(2) moves received pages through, and the most one
 * sendfile(2) call is asked for (a non-blocking socket takes what fits).
 */
#define PUMP_PIPESZ	(1024 * 1024)
#define PUMP_SENDFILE	(16 * 1024 * 1024)
/*
 * The splice path's pipes: the one splice_in fills and the one the
 * writer thread empties, so the writer holds at most this many jobs.
 */
#define PUMP_PIPES	2
/*
 * The writer thread is started when a connection proves to be bulk: its
 * pipe holds PUMP_BULK bytes or more.  Until then the pump writes the
 * pipe out itself, at the peer's end or PUMP_HOLD_MS after the first
 * bytes came, so a short connection costs no thread and no hand-off.
 */
#define PUMP_HOLD_MS	20
/* Room kept free in the outgoing buffer for telnet refusals (-t). */
#define PUMP_TN_RESERVE	1024

/*
 * What the pump waits for, in the order it acts on them: a slot is an fd
 * and its events, and the socket fills two.  The loop (loop.c) watches
 * them, and the signal pipe.
 */
enum {
	PUMP_STDIN,
	PUMP_NETOUT,
	PUMP_NETIN,
	PUMP_STDOUT,
	PUMP_NFDS
};
/* The deadlines the loop wakes the pump for. */
enum {
	PT_IDLE,
	PT_QUIT,
	PT_PACE,
	PT_HOLD,
	PT_LOWAT,
	PT_RATE,
	PT_RATE_RECV,
	PT_COUNT
};

/*
 * The most one read of input may take when it becomes a datagram: the
 * largest UDP payload over IPv4.  More would fail with EMSGSIZE.
 */
#define PUMP_DGRAM_MAX	65507
/*
 * UDP receives take up to PUMP_BATCH datagrams per recvmmsg(2), each in
 * a slot that holds the largest; only the pages datagrams land on
 * become resident.  Draining a full socket buffer this way costs 1.1 us
 * a datagram against 1.6 us for recvfrom(2) and poll(2) each time.
 */
#define PUMP_BATCH	16
#define PUMP_SLOT	65536
/* A Unix stream send buffer; the kernel caps it at net.core.wmem_max. */
#define PUMP_UNIX_SNDBUF	(4 * 1024 * 1024)
/*
 * A TCP receive this large says the peer sends faster than we take: then
 * poll waits for PUMP_LOWAT bytes (SO_RCVLOWAT) instead of waking at
 * every segment, for at most PUMP_LOWAT_MS after the last such receive.
 * On loopback each wake-up costs the sender a cross-CPU wake-up too;
 * see PERFORMANCE in netpipe.1 for what this buys.
 */
#define PUMP_BULK	(32 * 1024)
#define PUMP_LOWAT	(256 * 1024)
#define PUMP_LOWAT_MS	1
/*
 * Once sendfile finds a TCP socket full (the peer reads slower than we
 * send), at most this much may wait unsent in it (TCP_NOTSENT_LOWAT): the
 * rest is queued by us as the window opens, not released by ACKs handled
 * on the peer's CPU, which on loopback sent segments from two CPUs at once
 * and cost the sender 3 to 4 times its CPU in reordering and recovery.
 */
#define PUMP_NOTSENT	(128 * 1024)

/* --rate: a token bucket per direction on the monotonic clock. */
struct bucket {
	double		 tokens;
	struct timespec	 last;
	struct timespec	 ready;		/* when tokens reach one byte */
};

struct buf {
	unsigned char	*data;
	size_t		 start;
	size_t		 end;
};

/* Datagrams taken by one recvmmsg(2), written out one by one. */
struct batch {
	struct mmsghdr		 msg[PUMP_BATCH];
	struct iovec		 iov[PUMP_BATCH];
	struct sockaddr_storage	 from[PUMP_BATCH];
	unsigned char		*slots;		/* PUMP_BATCH x PUMP_SLOT */
	int			 n;		/* datagrams held */
	int			 next;		/* the first not yet written */
	size_t			 off;		/* bytes of it written */
};

struct pump;

/*
 * A side of the transfer and its operations, picked once per connection
 * by ends_pick() (and again for that side alone when the kernel refuses
 * a zero-copy path): the pump calls them and never asks which they are.
 * fill takes from the side into the direction it feeds, drain gives the
 * direction that feeds it to the side; both return -1 to go on or an
 * exit code.  send is a stream or datagram endpoint's primitive under
 * drain's pacing: bytes taken, -1 with errno, or NTLS_WANT.  ready says
 * whether fill has room to land in (back-pressure), events what poll
 * waits for before fill (LOOP_READ) or send (LOOP_WRITE).
 */
struct endpoint {
	const char	*name;
	int		(*fill)(struct pump *);
	int		(*drain)(struct pump *);
	ssize_t		(*send)(struct pump *, void *, size_t, int);
	int		(*ready)(const struct pump *);
	short		(*events)(const struct pump *, int);
	int		 direct;	/* fill writes the other side's fd */
};
/* send(): failed, and the message is out already. */
#define PUMP_SEND_FAILED	(-3)

/*
 * Everything that outlives one connection (stdin's state and unsent
 * input, so -k never drops bytes) plus the current connection.
 */
struct pump {
	const struct np_opts	*o;
	struct loop		*loop;		/* the pump's own */
	struct pollfd		 armed[PUMP_NFDS]; /* as the loop has them */
	int			 fired[PUMP_NFDS];	/* this round */
	int			 reg[PUMP_NFDS];	/* fds registered */
	int			 nreg;
	long long		 timer[PT_COUNT];	/* ids; 0 none */
	struct endpoint		 local;		/* stdio, files, pipes */
	struct endpoint		 remote;	/* the socket */
	struct buf		 up;		/* stdin -> network */
	struct buf		 down;		/* network -> stdout */
	unsigned char		*scratch;	/* -C: raw input */
	int			 in;		/* stdin, -1 with -d */
	int			 out;		/* stdout */
	int			 in_eof;
	int			 out_gone;	/* the reader of out left */
	int			 out_errno;	/* how we learnt it */
	struct filter		 filter;	/* -C and -t state */
	struct meter		*meter;		/* counts, digest, hex dump */
	struct bucket		 rate[2];	/* METER_SENT, METER_RECV */
	int			 in_regular;	/* input is a regular file */
	int			 out_regular;	/* output is a regular file */
	int			 out_splice;	/* splice(2) may fill it */
	int			 cpus;		/* 2: the writer may help */
	struct batch		*batch;		/* UDP: recvmmsg, made once */
	int			 pipefd[2];	/* splice path, made once */
	size_t			 pipesz;
	size_t			 piped;		/* bytes waiting in pipefd */
	int			 pipe_full;	/* no free buffer in pipefd */
	struct writer		*writer;	/* the file's copy, made once */
	int			 wpipe[2];	/* the pipe the writer empties */
	int			 jobs;		/* pipes it holds: wpipe, pipefd */
	int			 threaded;	/* pipes go to the writer */
	struct timespec		 hold;		/* a writer may yet pay off */

	/* Per connection. */
	int			 net;
	int			 dgram;
	int			 seqpacket;	/* zero-length read is EOF */
	int			 unconnected;	/* UDP -k: reply to last sender */
	const struct acl	*acl;		/* UDP -k: senders let in */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	struct sockaddr_storage	 lock;		/* connected datagram peer */
	socklen_t		 locklen;
	struct tls		*tls;		/* --tls, for this connection */
	struct pp		*pp;		/* --passphrase, likewise */
	short			 tls_in;	/* TLS, pp: reads wait for */
	short			 tls_out;	/* and a write */
	int			 zc_send;	/* sendfile from in to net */
	int			 zc_recv;	/* splice net -> pipe -> out */
	int			 rw;		/* --io rw: read/write on net */
	int			 batching;	/* UDP receive with recvmmsg */
	int			 tcp;		/* net is a TCP socket */
	int			 notsent;	/* TCP_NOTSENT_LOWAT is set */
	int			 lowat_ok;	/* TCP: SO_RCVLOWAT may batch */
	int			 lowat;		/* SO_RCVLOWAT as set now */
	struct timespec		 lowat_end;	/* then back to 1 byte */
	int			 net_eof;
	int			 net_failed;	/* reading broke: flush, exit 1 */
	int			 in_failed;	/* stdin broke: send, exit 1 */
	int			 wr_shut;
	int			 quitting;
	long long		 packets;
	struct timespec		 idle;		/* -w deadline */
	struct timespec		 quit;		/* -q deadline */
	struct timespec		 pace;		/* -i: next line may go */
};

static int	 buf_empty(const struct buf *);
static size_t	 buf_room(const struct pump *, const struct buf *);
static size_t	 buf_cap(const struct pump *, const struct buf *);
static void	 buf_consumed(const struct pump *, struct buf *, size_t);
static int	 pump_step(struct pump *);
static int	 pump_finished(struct pump *);
static void	 pump_timers(struct pump *);
static void	 pump_timer(struct pump *, int, const struct timespec *, int);
static int	 pump_wake(struct loop *, long long, void *);
static void	 pump_pollset(struct pump *, struct pollfd *);
static int	 pump_arm(struct pump *, const struct pollfd *);
static void	 pump_io(struct loop *, int, int, void *);
static void	 pump_disarm(struct pump *);
static int	 events_mask(short);
static int	 net_drain(struct pump *);
static size_t	 telnet(struct pump *, unsigned char *, size_t);
static int	 io_failed(const char *);
static const char *out_name(const struct pump *);
static int	 net_broken(struct pump *, const char *);
static int	 input_broken(struct pump *);
static int	 send_failed(void);
static int	 open_stdio(struct pump *);
static void	 pump_choose(struct pump *);
static void	 out_probe(struct pump *);
static int	 zc_refused(struct pump *, int *, const char *);
static int	 splice_in(struct pump *);
static int	 splice_out(struct pump *);
static int	 pipe_new(int [2], size_t *);
static int	 writer_wanted(struct pump *);
static void	 ends_pick(struct pump *);
static int	 stdio_fill(struct pump *);
static int	 crlf_fill(struct pump *);
static int	 sendfile_fill(struct pump *);
static int	 stdio_drain(struct pump *);
static int	 pipe_drain(struct pump *);
static int	 recv_fill(struct pump *);
static int	 read_fill(struct pump *);
static int	 dgram_fill(struct pump *);
static int	 tls_fill(struct pump *);
static int	 pp_fill(struct pump *);
static ssize_t	 stream_send(struct pump *, void *, size_t, int);
static ssize_t	 write_send(struct pump *, void *, size_t, int);
static ssize_t	 dgram_send(struct pump *, void *, size_t, int);
static ssize_t	 tls_send(struct pump *, void *, size_t, int);
static ssize_t	 pp_send(struct pump *, void *, size_t, int);
static int	 buf_ready(const struct pump *);
static int	 pipe_ready(const struct pump *);
static int	 batch_ready(const struct pump *);
static short	 plain_events(const struct pump *, int);
static short	 tls_events(const struct pump *, int);
static size_t	 up_room(const struct pump *);
static size_t	 down_room(struct pump *);
static int	 input_done(struct pump *, ssize_t);
static int	 recv_done(struct pump *, ssize_t, const struct sockaddr *,
		    socklen_t);
static int	 writer_ready(struct pump *);
static int	 writer_holding(const struct pump *);
static int	 writer_maybe(const struct pump *, size_t);
static int	 writer_drain(struct pump *);
static int	 writer_due(const struct pump *);
static void	 pipes_swap(struct pump *);
static int	 down_pending(const struct pump *);
static unsigned long long down_bytes(const struct pump *);
static int	 out_failed(struct pump *);
static int	 out_lost(struct pump *);
static int	 send_all(const struct pump *);
static int	 input_unsent(struct pump *);
static void	 touch(struct pump *);
static int	 rate_ready(struct pump *, int);
static size_t	 rate_limit(struct pump *, int, size_t);
static void	 moved(struct pump *, int, const void *, size_t);
static long long input_size(struct pump *);
static void	 net_setup(struct pump *);
static size_t	 sendable(const struct pump *);
static int	 received(struct pump *, size_t);
static void	 lowat_update(struct pump *, size_t);
static int	 dgram_take(struct pump *, const struct sockaddr *,
		    socklen_t);
static void	 batch_choose(struct pump *, int);
static int	 batch_fill(struct pump *);
static int	 batch_drain(struct pump *);
static void	 batch_written(struct batch *, size_t);
static void	 lowat_set(struct pump *, int);

/*
 * Allocate the pump's buffers once for the life of the process and open
 * --send-file and --output.  Returns NULL after a message; the caller
 * owns the result.
 */
struct pump *
pump_new(const struct np_opts *o)
{
	struct pump *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		warn("pump");
		return NULL;
	}
	p->o = o;
	p->pipefd[0] = p->pipefd[1] = -1;
	p->wpipe[0] = p->wpipe[1] = -1;
	p->up.data = malloc(PUMP_BUFSZ);
	p->down.data = malloc(PUMP_BUFSZ);
	p->loop = loop_new();
	p->scratch = o->crlf ? malloc(PUMP_BUFSZ / 2) : NULL;
	if (p->up.data == NULL || p->down.data == NULL || p->loop == NULL ||
	    (o->crlf && p->scratch == NULL)) {
		warn("pump");
		pump_free(p);
		return NULL;
	}
	if (open_stdio(p) == -1) {
		pump_free(p);
		return NULL;
	}
	out_probe(p);
	if ((p->meter = meter_new(o, input_size(p))) == NULL) {
		pump_free(p);
		return NULL;
	}
	return p;
}

void
pump_free(struct pump *p)
{
	if (p == NULL)
		return;
	writer_free(p->writer);
	meter_finish(p->meter);
	if (p->o->send_file != NULL && p->in != -1)
		close(p->in);
	if (p->o->output != NULL && p->out != -1)
		close(p->out);
	if (p->pipefd[0] != -1) {
		close(p->pipefd[0]);
		close(p->pipefd[1]);
	}
	if (p->wpipe[0] != -1) {
		close(p->wpipe[0]);
		close(p->wpipe[1]);
	}
	if (p->batch != NULL)
		free(p->batch->slots);
	free(p->batch);
	free(p->up.data);
	free(p->down.data);
	free(p->scratch);
	loop_free(p->loop);
	free(p);
}

/* Route the next pump_run() through TLS; it forgets ctx when it ends. */
void
pump_set_tls(struct pump *p, struct tls *ctx)
{
	p->tls = ctx;
}

/* Route the next pump_run() through --passphrase records; likewise. */
void
pump_set_pp(struct pump *p, struct pp *pp)
{
	p->pp = pp;
}

/*
 * Judge every datagram of an unconnected (UDP -k) pump by acl, which the
 * caller owns and keeps until pump_free().  Only a -k listener needs it:
 * a connected socket hears from its one admitted peer alone.
 */
void
pump_set_acl(struct pump *p, const struct acl *acl)
{
	p->acl = acl;
}

/*
 * Move bytes between stdio and net until the connection ends.  flags is
 * a set of PUMP_DGRAM and PUMP_UNCONNECTED.  Returns an exit code:
 * NP_EXIT_OK, NP_EXIT_FAIL (message printed) or 128 + signal.  net stays
 * open; the caller closes it.
 */
int
pump_run(struct pump *p, int net, int flags)
{
	int rc;

	p->net = net;
	p->dgram = (flags & PUMP_DGRAM) != 0;
	p->seqpacket = (flags & PUMP_SEQPACKET) != 0;
	p->unconnected = (flags & PUMP_UNCONNECTED) != 0;
	p->net_eof = p->net_failed = p->wr_shut = p->quitting = 0;
	meter_start(p->meter);
	p->packets = 0;
	/* UDP -k learns whom to answer from the first datagram it takes. */
	p->peerlen = 0;
	memset(&p->quit, 0, sizeof(p->quit));
	memset(&p->pace, 0, sizeof(p->pace));
	p->down.start = p->down.end = 0;
	p->pipe_full = 0;
	/*
	 * A datagram listener connected to its first peer may still hold
	 * datagrams that others sent before the connect; net_fill drops them.
	 */
	p->locklen = sizeof(p->lock);
	if (!p->dgram || p->seqpacket || p->unconnected || getpeername(net,
	    (struct sockaddr *)&p->lock, &p->locklen) == -1)
		p->locklen = 0;
	net_setup(p);
	p->tls_in = POLLIN;
	p->tls_out = POLLOUT;
	pump_choose(p);
	ends_pick(p);
	touch(p);
	while ((rc = pump_step(p)) == -1)
		;
	pump_disarm(p);
	p->tls = NULL;
	p->pp = NULL;
	/* A side file that could not be written is an I/O failure too. */
	if (rc == NP_EXIT_OK && meter_failed(p->meter))
		rc = NP_EXIT_FAIL;
	return rc;
}

/* Bytes left in a regular-file input, for --progress; -1 if unknown. */
static long long
input_size(struct pump *p)
{
	struct stat st;
	off_t pos;

	if (p->in == -1 || fstat(p->in, &st) == -1 || !S_ISREG(st.st_mode))
		return -1;
	p->in_regular = 1;
	pos = lseek(p->in, 0, SEEK_CUR);
	return st.st_size - (pos > 0 ? pos : 0);
}

/*
 * Per-connection socket settings the pump relies on: urgent data read
 * inline, so --send-flags oob on the far side loses no byte here, a Unix
 * send buffer that moves more per call, and how receives are batched.
 * (A datagram socket's deep receive buffer is set when it is made:
 * sock_dgram_buffer().)
 */
static void
net_setup(struct pump *p)
{
	int one = 1, size, domain = AF_UNSPEC, inet;
	socklen_t len = sizeof(domain);

	getsockopt(p->net, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	inet = domain == AF_INET || domain == AF_INET6;
	p->tcp = inet && !p->dgram;
	p->notsent = 0;
	p->lowat = 1;
	/* -W counts reads and --rate paces them: leave them be. */
	p->lowat_ok = p->tcp && p->tls == NULL && p->pp == NULL &&
	    p->o->recv_limit == 0 && p->o->rate == 0;
	batch_choose(p, inet);
	if (!p->dgram) {
		setsockopt(p->net, SOL_SOCKET, SO_OOBINLINE, &one,
		    sizeof(one));
		/*
		 * A Unix stream moves at most its send buffer per call; the
		 * default 208 KiB costs 2.5x in throughput (PERFORMANCE in
		 * netpipe.1).  TCP keeps its autotuning untouched.
		 */
		size = PUMP_UNIX_SNDBUF;
		if (domain == AF_UNIX && !sock_opt_given(p->o, "sndbuf"))
			setsockopt(p->net, SOL_SOCKET, SO_SNDBUF, &size,
			    sizeof(size));
	}
}

/* Count bytes in one place: stats, digest, hex dump, progress, rate. */
static void
moved(struct pump *p, int dir, const void *data, size_t n)
{
	meter_add(p->meter, dir, data, n);
	if (p->o->rate > 0)
		p->rate[dir].tokens -= n;
	touch(p);
}

/*
 * --rate: whether direction dir may move a byte now.  When it may not,
 * rate[dir].ready says when it may, and the caller leaves the fd out of
 * poll until then.
 */
static int
rate_ready(struct pump *p, int dir)
{
	struct bucket *b = &p->rate[dir];
	double rate = p->o->rate, burst = rate / 10 > 1 ? rate / 10 : 1;
	struct timespec now;
	double dt, want;

	if (rate == 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (b->last.tv_sec == 0)
		b->tokens = burst;
	else {
		dt = (now.tv_sec - b->last.tv_sec) +
		    (now.tv_nsec - b->last.tv_nsec) / 1e9;
		b->tokens += dt * rate;
	}
	if (b->tokens > burst)
		b->tokens = burst;
	b->last = now;
	/* Wake for a quarter of the burst, not per byte: fewer syscalls. */
	want = burst / 4 > 65536 ? 65536 : burst / 4 > 1 ? burst / 4 : 1;
	if (b->tokens >= want)
		return 1;
	np_deadline_set(&b->ready,
	    (int)((want - b->tokens) * 1000 / rate) + 1);
	return 0;
}

/* At most what the bucket holds; a datagram is never cut. */
static size_t
rate_limit(struct pump *p, int dir, size_t want)
{
	double t = p->rate[dir].tokens;

	if (p->o->rate == 0 || p->dgram || t >= (double)want)
		return want;
	return t >= 1 ? (size_t)t : 1;
}

static int
open_stdio(struct pump *p)
{
	const struct np_opts *o = p->o;

	p->in = o->no_stdin ? -1 : STDIN_FILENO;
	p->out = STDOUT_FILENO;
	p->in_eof = o->no_stdin;
	if (o->send_file != NULL &&
	    (p->in = open(o->send_file, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("%s", o->send_file);
		return -1;
	}
	if (o->output != NULL && (p->out = open(o->output, O_WRONLY | O_CREAT |
	    (o->append_output ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0666)) == -1) {
		warn("%s", o->output);
		return -1;
	}
	return 0;
}

/*
 * Pick the fastest path each descriptor allows (SPEC section 4):
 * sendfile from a regular file into a stream socket, splice from a
 * stream socket through a pipe into a file, pipe or device.  Transforms
 * that must see the bytes (-C, -i, -t) keep the copy loop.
 */
static void
pump_choose(struct pump *p)
{
	const struct np_opts *o = p->o;
	int zc = (o->io == IO_AUTO || o->io == IO_ZEROCOPY) &&
	    !meter_needs_data(o) && p->tls == NULL && p->pp == NULL;

	p->rw = o->io == IO_RW && !p->dgram && p->tls == NULL && p->pp == NULL;
	p->threaded = 0;
	p->zc_send = zc && !p->dgram && !p->in_eof && !o->crlf &&
	    o->interval_ms == 0 && !o->send_oob && p->in_regular;
	p->zc_recv = 0;
	if (!zc || p->dgram || o->telnet || !p->out_splice)
		return;
	if (p->pipefd[0] == -1 && pipe_new(p->pipefd, &p->pipesz) == -1)
		return;
	p->zc_recv = 1;
	p->threaded = p->out_regular && p->cpus > 1;
}

/*
 * What the output is, learnt once for every connection: a regular file
 * (the writer thread's), one that splice(2) may fill, and whether a
 * second CPU may run the writer.
 */
static void
out_probe(struct pump *p)
{
	struct stat st;
	int fl;

	if (fstat(p->out, &st) == -1)
		return;
	p->out_regular = S_ISREG(st.st_mode);
	/* splice(2) into an O_APPEND file fails; don't start what will. */
	p->out_splice = (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) ||
	    S_ISCHR(st.st_mode)) && (fl = fcntl(p->out, F_GETFL)) != -1 &&
	    !(fl & O_APPEND);
	p->cpus = writer_useful() ? 2 : 1;
}

/* A pipe for the splice path, as large as we may make it; its size. */
static int
pipe_new(int fds[2], size_t *size)
{
	int n;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		fds[0] = fds[1] = -1;
		return -1;
	}
	fcntl(fds[1], F_SETPIPE_SZ, PUMP_PIPESZ);
	n = fcntl(fds[1], F_GETPIPE_SZ);
	*size = n > 0 ? (size_t)n : 65536;
	return 0;
}

/*
 * Whether a regular-file output gets the writer thread (writer.c), made
 * with its second pipe on first use.  Both pipes get the same size, so
 * either may be the one splice_in fills.
 */
static int
writer_wanted(struct pump *p)
{
	size_t size;

	if (p->writer != NULL)
		return 1;
	if (!writer_useful())
		return 0;
	if (pipe_new(p->wpipe, &size) == -1)
		return 0;
	if (size != p->pipesz ||
	    (p->writer = writer_new(p->out, p->o->verbose)) == NULL) {
		close(p->wpipe[0]);
		close(p->wpipe[1]);
		p->wpipe[0] = p->wpipe[1] = -1;
		return 0;
	}
	return 1;
}

/*
 * Whether errno e refuses a zero-copy path itself (the descriptor does
 * not support it), as against an I/O error on it; writer.c asks too.
 */
int
pump_zc_refused(int e)
{
	return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP;
}

/*
 * Whether the pipe goes to the writer thread now: once it runs, and
 * before that once the pipe holds a bulk connection's worth, when the
 * thread is made.  A short connection's few bytes are written by the
 * pump itself.
 */
static int
writer_ready(struct pump *p)
{
	if (p->writer != NULL)
		return 1;
	if (p->piped < PUMP_BULK)
		return 0;
	if (writer_wanted(p))
		return 1;
	p->threaded = 0;
	return 0;
}

/*
 * Whether a writer may yet be made once the pipe holds n more bytes.
 * Until then a short splice does not mean a full pipe: fewer than
 * PUMP_BULK bytes fill a few of its buffers, and a full one says EAGAIN.
 * The socket stays polled, so a short connection's end is seen at once.
 */
static int
writer_maybe(const struct pump *p, size_t n)
{
	return p->threaded && p->writer == NULL && p->piped + n < PUMP_BULK;
}

/*
 * Whether the pump waits before writing the pipe itself: more may come
 * that makes the connection bulk, and then the writer takes it all.
 */
static int
writer_holding(const struct pump *p)
{
	return p->threaded && p->writer == NULL && p->piped > 0 &&
	    p->piped < PUMP_BULK && !p->pipe_full && !p->net_eof &&
	    np_deadline_ms(&p->hold) > 0;
}

/*
 * A zero-copy call failed.  When the kernel refuses the path itself,
 * turn it off for this descriptor and go on with the copy loop (-1);
 * otherwise it is a real I/O error: report it and return the exit code.
 */
static int
zc_refused(struct pump *p, int *flag, const char *what)
{
	if (errno == EINTR || errno == EAGAIN)
		return -1;
	if (pump_zc_refused(errno)) {
		if (p->o->verbose > 1)
			warn("%s refused; using the copy loop", what);
		*flag = 0;
		ends_pick(p);
		return -1;
	}
	if (strcmp(what, "splice from socket") == 0)
		return net_broken(p, "recv");
	if (strcmp(what, "sendfile") == 0)
		return send_failed();
	return out_failed(p);
}

static int
down_pending(const struct pump *p)
{
	return !buf_empty(&p->down) || p->piped > 0 || p->jobs > 0 ||
	    (p->batching && p->batch->next < p->batch->n);
}

/*
 * Received bytes not yet written: the buffer, the splice pipe and a UDP
 * batch.  A regular file, the writer thread's only output, never loses
 * its reader, so the pipes it holds are not counted.
 */
static unsigned long long
down_bytes(const struct pump *p)
{
	unsigned long long n = p->down.end - p->down.start + p->piped;
	int i;

	for (i = p->batching ? p->batch->next : 0;
	    p->batching && i < p->batch->n; i++)
		n += p->batch->msg[i].msg_len -
		    (i == p->batch->next ? p->batch->off : 0);
	return n;
}

/*
 * Writing the output failed.  A reader that left (EPIPE, or a reset of
 * a socket on stdout) is a loss only when received bytes wait for it:
 * pump_finished() tells, and goes on reading the peer only to see its
 * end or the bytes that could not be delivered.  Other errors (a full
 * disk) end the pump with their message.
 */
static int
out_failed(struct pump *p)
{
	if (errno != EPIPE && errno != ECONNRESET)
		return io_failed(out_name(p));
	p->out_gone = 1;
	p->out_errno = errno;
	return -1;
}

/* Received bytes that the output's reader left behind: exit 1. */
static int
out_lost(struct pump *p)
{
	warnx("stdout: %s: %llu bytes received not delivered",
	    strerror(p->out_errno), down_bytes(p));
	return NP_EXIT_FAIL;
}

/*
 * -N, --send-file and a regular file as input mean that all of it is to
 * go (SPEC section 2).  A -k listener keeps what one peer did not take
 * for the next, and --half-close goes on sending after the peer's end.
 */
static int
send_all(const struct pump *p)
{
	const struct np_opts *o = p->o;

	return (o->shutdown_wr || o->send_file != NULL || p->in_regular) &&
	    !o->keep_open && !o->half_close && (!p->dgram || p->seqpacket);
}

/*
 * The peer ended the connection before the input did: count what was
 * not sent, what is held here and what is left of a file, or for a pipe
 * or terminal what waits to be read.  Exit 0 when that is nothing (the
 * input's end was not yet read), 1 otherwise.
 */
static int
input_unsent(struct pump *p)
{
	unsigned long long n = p->up.end - p->up.start;
	struct stat st;
	off_t pos;
	int waiting = 0;

	/* FIONREAD would tell a file's rest too, but in an int. */
	if (!p->in_eof && p->in_regular && fstat(p->in, &st) == 0 &&
	    (pos = lseek(p->in, 0, SEEK_CUR)) != -1)
		n += st.st_size > pos ? st.st_size - pos : 0;
	else if (!p->in_eof && ioctl(p->in, FIONREAD, &waiting) == 0 &&
	    waiting > 0)
		n += waiting;
	if (n == 0)
		return NP_EXIT_OK;
	warnx("peer closed the connection: %llu bytes of input not sent", n);
	return NP_EXIT_FAIL;
}

/* Socket into the pipe: the receive half of the splice path. */
static int
splice_in(struct pump *p)
{
	size_t want = rate_limit(p, METER_RECV, p->pipesz - p->piped);
	ssize_t n;
	int atmark = 0;

	n = splice(p->net, NULL, p->pipefd[1], NULL, want,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	/*
	 * A pipe buffer holds one page however little of it a segment
	 * fills, so the pipe can be full short of pipesz bytes.  A short
	 * splice may mean that, and EAGAIN with bytes in the pipe surely
	 * does: wait for splice_out rather than poll a socket that stays
	 * readable.
	 */
	if (n > 0 && (size_t)n < want && !writer_maybe(p, n))
		p->pipe_full = 1;
	if (n == -1 && errno == EAGAIN && p->piped > 0) {
		p->pipe_full = 1;
		return -1;
	}
	/*
	 * TCP splice stops at the urgent mark: it says EAGAIN while poll
	 * keeps saying POLLIN, or 0 as if at EOF.  The copy loop reads the
	 * byte inline; it takes over once the pipe is drained, so the order
	 * holds.
	 */
	if ((n == 0 || (n == -1 && errno == EAGAIN)) && !p->dgram &&
	    ioctl(p->net, SIOCATMARK, &atmark) == 0 && atmark) {
		p->zc_recv = 0;
		ends_pick(p);
		return -1;
	}
	if (n == -1)
		return zc_refused(p, &p->zc_recv, "splice from socket");
	if (n == 0) {
		p->net_eof = 1;
		return -1;
	}
	if (p->piped == 0 && p->threaded && p->writer == NULL)
		np_deadline_set(&p->hold, PUMP_HOLD_MS);
	p->piped += n;
	p->packets++;
	lowat_update(p, n);
	moved(p, METER_RECV, NULL, n);
	return -1;
}

/*
 * The pipe into the output.  Once splice is refused, what is already in
 * the pipe is read back into the copy loop's buffer, so nothing is lost.
 */
static int
splice_out(struct pump *p)
{
	struct buf *b = &p->down;
	ssize_t n;

	if (p->zc_recv) {
		n = splice(p->pipefd[0], NULL, p->out, NULL, p->piped,
		    SPLICE_F_MOVE);
		if (n == -1)
			return zc_refused(p, &p->zc_recv, "splice to output");
	} else {
		n = read(p->pipefd[0], b->data, p->piped < PUMP_BUFSZ ?
		    p->piped : PUMP_BUFSZ);
		if (n == -1)
			return errno == EINTR ? -1 : io_failed("pipe");
		b->start = 0;
		b->end = n;
	}
	p->piped -= n;
	p->pipe_full = 0;	/* a buffer was freed */
	touch(p);
	return -1;
}

/*
 * Whether the pipe splice_in fills goes to the writer now: at once when
 * the writer is idle, so nothing waits for it, and only full while it is
 * busy, so it gets few and large jobs.
 */
static int
writer_due(const struct pump *p)
{
	return p->piped > 0 && (p->jobs == 0 ||
	    (p->jobs < PUMP_PIPES && (p->pipe_full || p->piped == p->pipesz)));
}

/*
 * The writer thread's turn.  It holds wpipe when busy and pipefd too
 * when both are full; the pump fills pipefd otherwise.  Collect the jobs
 * it ended (the first freed pipe becomes pipefd again), then hand it the
 * pipe splice_in filled.  The copy loop's buffer waits for both pipes.
 */
static int
writer_drain(struct pump *p)
{
	int ended;

	if (p->jobs > 0) {
		if ((ended = writer_reap(p->writer)) == -1)
			return out_failed(p);
		if (ended > 0 && p->jobs == PUMP_PIPES)
			pipes_swap(p);
		p->jobs -= ended;
	}
	if (!writer_due(p))
		return -1;
	writer_start(p->writer, p->pipefd[0], p->piped);
	if (p->jobs++ == 0)
		pipes_swap(p);
	p->piped = 0;
	p->pipe_full = 0;
	touch(p);
	return -1;
}

static void
pipes_swap(struct pump *p)
{
	int fds[2];

	memcpy(fds, p->wpipe, sizeof(fds));
	memcpy(p->wpipe, p->pipefd, sizeof(fds));
	memcpy(p->pipefd, fds, sizeof(fds));
}

/*
 * A regular file straight into the socket: a fill that is direct, so
 * the socket's room for writing, not the file, is what it waits for.
 */
static int
sendfile_fill(struct pump *p)
{
	size_t want = rate_limit(p, METER_SENT, PUMP_SENDFILE);
	ssize_t n;
	int v = PUMP_NOTSENT;

	n = sendfile(p->net, p->in, NULL, want);
	if (n == -1)
		return zc_refused(p, &p->zc_send, "sendfile");
	if (n == 0)
		p->in_eof = 1;
	else
		moved(p, METER_SENT, NULL, n);
	if (n > 0 && (size_t)n < want && p->tcp && !p->notsent) {
		setsockopt(p->net, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v,
		    sizeof(v));
		p->notsent = 1;
	}
	return -1;
}

static int
buf_empty(const struct buf *b)
{
	return b->start == b->end;
}

/* What b may hold: the outgoing buffer keeps room for -t's refusals. */
static size_t
buf_cap(const struct pump *p, const struct buf *b)
{
	return b == &p->up && p->o->telnet ? PUMP_BUFSZ - PUMP_TN_RESERVE :
	    PUMP_BUFSZ;
}

/* Free space at the end; a datagram buffer holds one message at a time. */
static size_t
buf_room(const struct pump *p, const struct buf *b)
{
	size_t cap = buf_cap(p, b);

	if (p->dgram && !buf_empty(b))
		return 0;
	return b->end < cap ? cap - b->end : 0;
}

/*
 * n bytes of b were written.  A buffer filled to its end keeps a small
 * rest at its start again: rare and small, cheaper than stalling the
 * reader until the rest is written.
 */
static void
buf_consumed(const struct pump *p, struct buf *b, size_t n)
{
	size_t cap = buf_cap(p, b);

	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
	else if (b->end >= cap && b->end - b->start < cap / 4) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
}

static void
touch(struct pump *p)
{
	if (p->o->wait_ms > 0)
		np_deadline_set(&p->idle, p->o->wait_ms);
}

/* One round of the loop: -1 to go on, or the exit code. */
static int
pump_step(struct pump *p)
{
	struct pollfd pfd[PUMP_NFDS];
	int rc;

	if (np_signal)
		return NP_EXIT_SIGNAL + np_signal;
	if ((rc = pump_finished(p)) != -1)
		return rc;
	if (p->lowat > 1 && np_deadline_ms(&p->lowat_end) == 0)
		lowat_set(p, 1);
	pump_pollset(p, pfd);
	if (pump_arm(p, pfd) == -1 || loop_once(p->loop) == -1) {
		warn("poll");
		return NP_EXIT_FAIL;
	}
	if (!p->fired[PUMP_NETIN] && !p->fired[PUMP_STDOUT] &&
	    !p->fired[PUMP_STDIN] && !p->fired[PUMP_NETOUT]) {
		/* Only a deadline (or a signal) woke us. */
		if (p->o->wait_ms > 0 && np_deadline_ms(&p->idle) == 0)
			return NP_EXIT_OK;
		if (p->quit.tv_sec != 0 && np_deadline_ms(&p->quit) == 0)
			p->quitting = 1;
		return -1;
	}
	/* Read the peer first so that its EOF is seen before a send fails. */
	if (p->fired[PUMP_NETIN] && (rc = p->remote.fill(p)) != -1)
		return rc;
	if (p->fired[PUMP_STDOUT] && (rc = p->local.drain(p)) != -1)
		return rc;
	if (p->fired[PUMP_STDIN] && (rc = p->local.fill(p)) != -1)
		return rc;
	if (p->fired[PUMP_NETOUT] && (rc = p->remote.drain(p)) != -1)
		return rc;
	return -1;
}

/* The end-of-stream rules of SPEC section 2, checked before each poll. */
static int
pump_finished(struct pump *p)
{
	const struct np_opts *o = p->o;
	int in_done = p->in_eof && buf_empty(&p->up);
	int limit = o->recv_limit > 0 && p->packets >= o->recv_limit;

	if (in_done && !p->wr_shut) {
		p->wr_shut = 1;
		if (o->shutdown_wr && p->tls != NULL)
			ntls_close_notify(p->tls, p->net);
		/* Input that broke did not end: the peer must not think so. */
		if (o->shutdown_wr && p->pp != NULL && !p->in_failed)
			pp_close(p->pp);
		/*
		 * A datagram socket too, as nc.openbsd does: nothing goes
		 * to the peer, but a later send fails, and scripts trace it.
		 */
		if (o->shutdown_wr)
			shutdown(p->net, SHUT_WR);
		if (o->quit_after_ms >= 0)
			np_deadline_set(&p->quit, o->quit_after_ms);
	}
	/* Received bytes with nowhere to go are the one loss here. */
	if (p->out_gone && down_pending(p))
		return out_lost(p);
	if (down_pending(p))
		return -1;
	if (p->net_failed || (p->in_failed && in_done))
		return NP_EXIT_FAIL;
	if (p->net_eof && !in_done && send_all(p))
		return input_unsent(p);
	if (p->net_eof && (!o->half_close || in_done))
		return NP_EXIT_OK;
	/* Nothing left to send and nobody to write to: nc's end too. */
	if (p->quitting || limit || (p->out_gone && in_done))
		return NP_EXIT_OK;
	return -1;
}

/*
 * The deadlines this round waits for, each a timer of the pump's loop
 * that only wakes it: pump_step judges what woke it.  A rate bucket's
 * deadline counts only while it holds its direction back.
 */
static void
pump_timers(struct pump *p)
{
	int i;

	pump_timer(p, PT_IDLE, &p->idle, p->o->wait_ms > 0);
	pump_timer(p, PT_QUIT, &p->quit, p->quit.tv_sec != 0 && !p->quitting);
	pump_timer(p, PT_PACE, &p->pace,
	    p->pace.tv_sec != 0 && !buf_empty(&p->up));
	pump_timer(p, PT_HOLD, &p->hold, writer_holding(p));
	pump_timer(p, PT_LOWAT, &p->lowat_end, p->lowat > 1);
	for (i = 0; i < 2; i++)
		pump_timer(p, PT_RATE + i, &p->rate[i].ready,
		    p->o->rate > 0 && p->rate[i].ready.tv_sec != 0 &&
		    np_deadline_ms(&p->rate[i].ready) > 0);
}

/* Timer k wakes the pump at *when if on; it replaces the last one. */
static void
pump_timer(struct pump *p, int k, const struct timespec *when, int on)
{
	loop_timer_del(p->loop, p->timer[k]);
	p->timer[k] = 0;
	if (on && (p->timer[k] = loop_timer(p->loop, np_deadline_ms(when),
	    pump_wake, p)) == -1)
		p->timer[k] = 0;
}

static int
pump_wake(struct loop *l, long long id, void *data)
{
	(void)l;
	(void)id;
	(void)data;
	return LOOP_NOMORE;
}

static int
events_mask(short ev)
{
	return ((ev & POLLIN) ? LOOP_READ : 0) |
	    ((ev & POLLOUT) ? LOOP_WRITE : 0);
}

/*
 * Hand this round's slots and deadlines to the loop: one registration
 * per fd (the socket's two slots merged), and none for an fd no slot
 * watches now.  0, or -1 with errno set.
 */
static int
pump_arm(struct pump *p, const struct pollfd *pfd)
{
	int fds[PUMP_NFDS], mask[PUMP_NFDS], i, j, n = 0;

	for (i = 0; i < PUMP_NFDS; i++) {
		p->fired[i] = 0;
		if (pfd[i].fd == -1)
			continue;
		for (j = 0; j < n && fds[j] != pfd[i].fd; j++)
			;
		if (j == n) {
			fds[n] = pfd[i].fd;
			mask[n++] = 0;
		}
		mask[j] |= events_mask(pfd[i].events);
	}
	for (i = 0; i < p->nreg; i++) {
		for (j = 0; j < n && fds[j] != p->reg[i]; j++)
			;
		if (j == n)
			loop_fd_del(p->loop, p->reg[i]);
	}
	memcpy(p->armed, pfd, sizeof(p->armed));
	memcpy(p->reg, fds, sizeof(fds));
	p->nreg = n;
	for (j = 0; j < n; j++)
		if (loop_fd(p->loop, fds[j], mask[j], pump_io, p) == -1)
			return -1;
	pump_timers(p);
	return 0;
}

/*
 * The loop found fd ready: mark each slot it satisfies, as poll's
 * revents would (an error or hang-up satisfies every slot of the fd).
 */
static void
pump_io(struct loop *l, int fd, int fired, void *data)
{
	struct pump *p = data;
	int i;

	(void)l;
	for (i = 0; i < PUMP_NFDS; i++)
		if (p->armed[i].fd == fd && (fired & (LOOP_HUP | LOOP_ERR |
		    events_mask(p->armed[i].events))))
			p->fired[i] = 1;
}

/* The connection ended: the loop forgets its fds and deadlines. */
static void
pump_disarm(struct pump *p)
{
	int i;

	for (i = 0; i < p->nreg; i++)
		loop_fd_del(p->loop, p->reg[i]);
	p->nreg = 0;
	for (i = 0; i < PT_COUNT; i++) {
		loop_timer_del(p->loop, p->timer[i]);
		p->timer[i] = 0;
	}
}

/*
 * A full buffer takes its reader out of the poll set and an empty one
 * takes its writer out, so memory stays flat whatever the peers do.
 */
static void
pump_pollset(struct pump *p, struct pollfd *pfd)
{
	const struct np_opts *o = p->o;
	int reading = !p->net_eof && !p->quitting &&
	    !(o->recv_limit > 0 && p->packets >= o->recv_limit);
	int pacing = p->pace.tv_sec != 0 && np_deadline_ms(&p->pace) > 0;

	pfd[PUMP_STDIN].fd = p->in;
	pfd[PUMP_STDIN].events = 0;
	if (!p->in_eof && !p->local.direct && !p->net_failed &&
	    (!p->net_eof || o->half_close) && buf_room(p, &p->up) > 0)
		pfd[PUMP_STDIN].events = POLLIN;
	if (pfd[PUMP_STDIN].events == 0)
		pfd[PUMP_STDIN].fd = -1;

	pfd[PUMP_NETOUT].fd = p->net;
	pfd[PUMP_NETOUT].events = (sendable(p) > 0 ||
	    (p->local.direct && !p->in_eof &&
	    (!p->net_eof || o->half_close))) &&
	    !pacing && !p->net_failed &&
	    !(p->unconnected && p->peerlen == 0) &&
	    rate_ready(p, METER_SENT) ? p->remote.events(p, LOOP_WRITE) : 0;
	if (pfd[PUMP_NETOUT].events == 0)
		pfd[PUMP_NETOUT].fd = -1;

	pfd[PUMP_NETIN].fd = p->net;
	pfd[PUMP_NETIN].events = reading && p->remote.ready(p) &&
	    rate_ready(p, METER_RECV) ? p->remote.events(p, LOOP_READ) : 0;
	if (pfd[PUMP_NETIN].events == 0)
		pfd[PUMP_NETIN].fd = -1;

	/*
	 * Polled even when idle: POLLERR says the reader of a pipe left.
	 * Once it has, it is polled no more (POLLERR stays).
	 */
	pfd[PUMP_STDOUT].fd = p->out_gone ? -1 : p->out;
	pfd[PUMP_STDOUT].events = down_pending(p) && !writer_holding(p) ?
	    POLLOUT : 0;
	if (p->jobs == PUMP_PIPES || (p->jobs > 0 && !writer_due(p))) {
		pfd[PUMP_STDOUT].fd = writer_fd(p->writer);
		pfd[PUMP_STDOUT].events = POLLIN;
	}
}

/*
 * Whether a receive has room to land in: back-pressure from the output.
 * A TLS reader offers room for a whole record (NTLS_RECORD).
 */
static int
buf_ready(const struct pump *p)
{
	return buf_room(p, &p->down) > (p->tls != NULL ? NTLS_RECORD :
	    p->pp != NULL ? PP_RECORD : 0) &&
	    p->piped == 0;
}

static int
pipe_ready(const struct pump *p)
{
	return p->piped < p->pipesz && !p->pipe_full && p->jobs < PUMP_PIPES;
}

static int
batch_ready(const struct pump *p)
{
	return p->batch->next == p->batch->n;
}

/* What poll waits for before a fill (LOOP_READ) or a send (LOOP_WRITE). */
static short
plain_events(const struct pump *p, int dir)
{
	(void)p;
	return dir == LOOP_READ ? POLLIN : POLLOUT;
}

/* TLS: a read may wait for POLLOUT and a write for POLLIN (renegotiation). */
static short
tls_events(const struct pump *p, int dir)
{
	return dir == LOOP_READ ? p->tls_in : p->tls_out;
}

/*
 * Pick each side's operations from what this connection is: the one
 * place that asks whether it is TLS, spliced, batched or a datagram.
 * Called when the connection starts, and again when the kernel refuses
 * a zero-copy path, for the copy loop.
 */
static void
ends_pick(struct pump *p)
{
	struct endpoint *l = &p->local, *r = &p->remote;

	l->name = p->zc_send ? "sendfile" : p->o->crlf ? "crlf" : "stdio";
	l->fill = p->zc_send ? sendfile_fill : p->o->crlf ? crlf_fill :
	    stdio_fill;
	l->direct = p->zc_send;
	l->drain = p->batching ? batch_drain : p->zc_recv || p->piped > 0 ||
	    p->jobs > 0 ? pipe_drain : stdio_drain;
	r->name = p->zc_recv ? "splice" : p->batching ? "recvmmsg" :
	    p->tls != NULL ? "tls" : p->pp != NULL ? "passphrase" : p->rw ?
	    "rw" : p->dgram ? "dgram" : "stream";
	r->fill = p->zc_recv ? splice_in : p->batching ? batch_fill :
	    p->tls != NULL ? tls_fill : p->pp != NULL ? pp_fill :
	    p->rw ? read_fill :
	    p->dgram ? dgram_fill : recv_fill;
	r->drain = net_drain;
	r->send = p->tls != NULL ? tls_send : p->pp != NULL ? pp_send :
	    p->rw ? write_send :
	    p->unconnected ? dgram_send : stream_send;
	r->ready = p->zc_recv ? pipe_ready : p->batching ? batch_ready :
	    buf_ready;
	r->events = p->tls != NULL || p->pp != NULL ? tls_events :
	    plain_events;
}

static int
io_failed(const char *what)
{
	warn("%s", what);
	return NP_EXIT_FAIL;
}

/* What the output is called in a message: the --output file, or stdout. */
static const char *
out_name(const struct pump *p)
{
	return p->o->output != NULL ? p->o->output : "stdout";
}

/*
 * Reading the input failed: what was read before still goes to the
 * peer, then the pump exits 1.
 */
static int
input_broken(struct pump *p)
{
	warn("stdin");
	p->in_failed = p->in_eof = 1;
	return -1;
}

/*
 * The peer is gone.  Whether the kernel says reset or broken pipe
 * depends on timing alone, so the user gets one message for both.
 */
static int
send_failed(void)
{
	if (errno == EPIPE)
		errno = ECONNRESET;
	return io_failed("send");
}

/*
 * Reading the peer failed (reset, ICMP unreachable, TLS cut).  What
 * arrived before still goes to the output; then the pump exits 1.
 * what is NULL when the message was printed already.
 */
static int
net_broken(struct pump *p, const char *what)
{
	if (what != NULL)
		warn("%s", what);
	p->net_failed = p->net_eof = 1;
	return -1;
}

/* Room for the next read of input; a datagram has a largest size. */
static size_t
up_room(const struct pump *p)
{
	size_t room = buf_room(p, &p->up);

	return p->dgram && room > PUMP_DGRAM_MAX ? PUMP_DGRAM_MAX : room;
}

/* After a read of input: its end, a failure, or bytes that arrived. */
static int
input_done(struct pump *p, ssize_t n)
{
	if (n == 0)
		p->in_eof = 1;
	if (n == -1 && errno != EINTR && errno != EAGAIN)
		return input_broken(p);
	if (n > 0)
		touch(p);
	return -1;
}

/* Plain input: read into the outgoing buffer as it is. */
static int
stdio_fill(struct pump *p)
{
	struct buf *b = &p->up;
	size_t room = up_room(p);
	ssize_t n;

	if (room == 0)
		return -1;
	if ((n = read(p->in, b->data + b->end, room)) > 0)
		b->end += n;
	return input_done(p, n);
}

/* -C: a layer over plain input; expansion at most doubles what is read. */
static int
crlf_fill(struct pump *p)
{
	struct buf *b = &p->up;
	size_t room = up_room(p);
	ssize_t n;

	if (room == 0)
		return -1;
	n = read(p->in, p->scratch, room / 2 > 0 ? room / 2 : 1);
	if (n > 0)
		b->end += filter_crlf(&p->filter, p->scratch, n,
		    b->data + b->end);
	return input_done(p, n);
}

/*
 * The splice path's output: the writer thread's turn, or the pipe into
 * the output (or, once splice is refused, back into the buffer), then
 * the buffer as stdio_drain writes it.
 */
static int
pipe_drain(struct pump *p)
{
	struct buf *b = &p->down;
	int rc;

	if (p->jobs > 0 || (p->threaded && p->piped > 0 && writer_ready(p)))
		return writer_drain(p);
	if (buf_empty(b) && p->piped > 0) {
		if ((rc = splice_out(p)) != -1)
			return rc;
		/* Spliced, or read back into b for the write below. */
		if (buf_empty(b))
			return -1;
	}
	return stdio_drain(p);
}

/* Write the incoming buffer to the output: -1 to go on, or an exit code. */
static int
stdio_drain(struct pump *p)
{
	struct buf *b = &p->down;
	ssize_t n;

	if (buf_empty(b)) {
		/*
		 * Only POLLERR or POLLHUP can bring us here: the reader left
		 * with nothing of ours pending, which loses nothing.
		 */
		errno = EPIPE;
		return out_failed(p);
	}
	n = write(p->out, b->data + b->start, b->end - b->start);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return out_failed(p);
	}
	buf_consumed(p, b, n);
	touch(p);
	return -1;
}

/* Room for a receive in the incoming buffer, paced by --rate: 0 if none. */
static size_t
down_room(struct pump *p)
{
	size_t room = buf_room(p, &p->down);

	return room == 0 ? 0 : rate_limit(p, METER_RECV, room);
}

/*
 * After a receive of n bytes (from, for a datagram, says whose): its
 * failure, a datagram not taken, the end of the stream, or bytes kept.
 * A zero-length datagram is a packet, not an end of stream.
 */
static int
recv_done(struct pump *p, ssize_t n, const struct sockaddr *from,
    socklen_t len)
{
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return net_broken(p, "recv");
	}
	/* Into the buffer but not yet kept: b->end moves in received(). */
	if (from != NULL && !dgram_take(p, from, len))
		return -1;
	if (n == 0 && (from == NULL || p->seqpacket)) {
		p->net_eof = 1;
		return -1;
	}
	lowat_update(p, n);
	return received(p, n);
}

/* A stream socket's receive. */
static int
recv_fill(struct pump *p)
{
	struct buf *b = &p->down;
	size_t room = down_room(p);

	if (room == 0)
		return -1;
	return recv_done(p, recv(p->net, b->data + b->end, room,
	    MSG_DONTWAIT), NULL, 0);
}

/* --io rw: read(2) on the socket. */
static int
read_fill(struct pump *p)
{
	struct buf *b = &p->down;
	size_t room = down_room(p);

	if (room == 0)
		return -1;
	return recv_done(p, read(p->net, b->data + b->end, room), NULL, 0);
}

/* One datagram, judged by its sender. */
static int
dgram_fill(struct pump *p)
{
	struct buf *b = &p->down;
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	size_t room = down_room(p);
	ssize_t n;

	if (room == 0)
		return -1;
	/* Apart from recv_done's call: it takes len as recvfrom leaves it. */
	n = recvfrom(p->net, b->data + b->end, room, MSG_DONTWAIT,
	    (struct sockaddr *)&from, &len);
	return recv_done(p, n, (struct sockaddr *)&from, len);
}

/*
 * Whether a datagram from sa is taken.  A connected listener takes only
 * its peer's: others may have sent before the connect.  A -k listener
 * takes what its access rules admit (a refusal is logged with -v, once
 * a datagram), and answers the last sender it took from, so a refused
 * sender never hears from us.
 */
static int
dgram_take(struct pump *p, const struct sockaddr *sa, socklen_t len)
{
	if (p->locklen != 0)
		return len == p->locklen && memcmp(sa, &p->lock, len) == 0;
	if (!p->unconnected)
		return 1;
	if (p->acl != NULL && !acl_dgram(p->o, p->acl, sa, len))
		return 0;
	if (len > sizeof(p->peer))
		len = sizeof(p->peer);
	memcpy(&p->peer, sa, len);
	p->peerlen = len;
	return 1;
}

/*
 * After a receive of n bytes: a large one raises SO_RCVLOWAT (bulk).
 * The next poll then wakes when a good part of the buffer can be filled
 * at once, or at the end of the stream, or PUMP_LOWAT_MS after the last
 * large receive, when pump_step lowers the mark to a byte again: a
 * burst's tail is late by a millisecond at most.  A small receive leaves
 * the mark be; it is often a full pipe, not the end of a burst.
 */
static void
lowat_update(struct pump *p, size_t n)
{
	size_t cap = p->zc_recv ? p->pipesz : PUMP_BUFSZ;

	if (!p->lowat_ok || n < PUMP_BULK)
		return;
	np_deadline_set(&p->lowat_end, PUMP_LOWAT_MS);
	lowat_set(p, cap / 2 < PUMP_LOWAT ? cap / 2 : PUMP_LOWAT);
}

static void
lowat_set(struct pump *p, int bytes)
{
	if (bytes == p->lowat)
		return;
	if (setsockopt(p->net, SOL_SOCKET, SO_RCVLOWAT, &bytes,
	    sizeof(bytes)) == -1) {
		p->lowat_ok = 0;
		return;
	}
	p->lowat = bytes;
}

/* n bytes landed at the end of the incoming buffer: count, filter, keep. */
static int
received(struct pump *p, size_t n)
{
	struct buf *b = &p->down;

	p->packets++;
	moved(p, METER_RECV, b->data + b->end, n);
	if (p->o->telnet)
		n = telnet(p, b->data + b->end, n);
	b->end += n;
	return -1;
}

/* TLS records in; a clean end and a cut one told apart. */
static int
tls_fill(struct pump *p)
{
	struct buf *b = &p->down;
	size_t room = down_room(p);
	ssize_t n;

	if (room == 0)
		return -1;
	n = ntls_io(p->tls, 0, b->data + b->end, room, &p->tls_in);
	if (n == NTLS_WANT)
		return -1;
	if (n == -1)
		return net_broken(p, NULL);
	if (n == 0) {
		/* libtls over OpenSSL 3: 0 is close_notify; a cut is -1. */
		p->net_eof = 1;
		return -1;
	}
	return received(p, n);
}

/* --passphrase records in; the peer's end record is its EOF. */
static int
pp_fill(struct pump *p)
{
	struct buf *b = &p->down;
	size_t room = down_room(p);
	ssize_t n;

	if (room == 0)
		return -1;
	n = pp_io(p->pp, 0, b->data + b->end, room, &p->tls_in);
	if (n == NTLS_WANT)
		return -1;
	if (n == -1)
		return net_broken(p, NULL);
	if (n == 0) {
		p->net_eof = 1;
		return -1;
	}
	return received(p, n);
}

/*
 * Bytes of the outgoing buffer that may go now.  With --send-flags oob
 * the last byte of input is held back until EOF says it is the last.
 */
static size_t
sendable(const struct pump *p)
{
	size_t len = p->up.end - p->up.start;

	if (p->o->send_oob && !p->in_eof && len > 0)
		len--;
	return len;
}

/*
 * Send the outgoing buffer: whole (one datagram) for UDP, one line at a
 * time with -i.  -1 to go on, or an exit code.
 */
static int
net_drain(struct pump *p)
{
	struct buf *b = &p->up;
	size_t len = sendable(p);
	unsigned char *nl, *d = b->data + b->start;
	int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
	ssize_t n;

	if (p->net_failed)
		return -1;	/* the peer is gone; one message is enough */
	if (buf_empty(b))
		return p->local.direct ? p->local.fill(p) : -1;
	if (len == 0)
		return -1;
	if (p->o->interval_ms > 0 && (nl = memchr(d, '\n', len)) != NULL)
		len = nl - d + 1;
	len = rate_limit(p, METER_SENT, len);
	if (p->o->send_oob && p->in_eof && len == 1 && !p->dgram)
		flags |= MSG_OOB;
	else if (p->o->send_oob && p->in_eof && len > 1)
		len--;		/* everything but the urgent byte first */
	/* More input surely follows from a file: let TCP fill segments. */
	if (p->in_regular && !p->in_eof && !p->dgram)
		flags |= MSG_MORE;
	n = p->remote.send(p, d, len, flags);
	if (n == NTLS_WANT)
		return -1;
	if (n == PUMP_SEND_FAILED)
		return NP_EXIT_FAIL;
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return send_failed();
	}
	if (p->dgram)
		n = len;
	if (p->o->interval_ms > 0 && d[n - 1] == '\n')
		np_deadline_set(&p->pace, p->o->interval_ms);
	moved(p, METER_SENT, d, n);
	buf_consumed(p, b, n);
	return -1;
}

static ssize_t
stream_send(struct pump *p, void *d, size_t len, int flags)
{
	return send(p->net, d, len, flags);
}

/* --io rw: write(2) on the socket. */
static ssize_t
write_send(struct pump *p, void *d, size_t len, int flags)
{
	(void)flags;
	return write(p->net, d, len);
}

/* UDP -k: to whoever sent last. */
static ssize_t
dgram_send(struct pump *p, void *d, size_t len, int flags)
{
	return sendto(p->net, d, len, flags, (struct sockaddr *)&p->peer,
	    p->peerlen);
}

/* TLS: a failure was reported already, so it is not send's errno. */
static ssize_t
tls_send(struct pump *p, void *d, size_t len, int flags)
{
	ssize_t n;

	(void)flags;
	n = ntls_io(p->tls, 1, d, len, &p->tls_out);
	return n == -1 ? PUMP_SEND_FAILED : n;
}

/* --passphrase: like TLS, a failure was reported already. */
static ssize_t
pp_send(struct pump *p, void *d, size_t len, int flags)
{
	ssize_t n;

	(void)flags;
	n = pp_io(p->pp, 1, d, len, &p->tls_out);
	return n == -1 ? PUMP_SEND_FAILED : n;
}

/*
 * -t: strip telnet commands from what arrived and queue the refusals in
 * the outgoing buffer, whose reserve keeps room for them.
 */
static size_t
telnet(struct pump *p, unsigned char *d, size_t n)
{
	struct buf *up = &p->up;
	size_t replied = 0, kept;

	kept = filter_telnet(&p->filter, d, n, up->data + up->end,
	    PUMP_BUFSZ - up->end, &replied);
	up->end += replied;
	return kept;
}

/*
 * recvmmsg(2) for UDP in --io auto and zerocopy.  -t edits what arrives
 * and --rate paces it a datagram at a time, so both keep recvfrom(2); so
 * does a Unix datagram socket, whose messages may outgrow a slot.
 */
static void
batch_choose(struct pump *p, int inet)
{
	const struct np_opts *o = p->o;
	struct batch *bt = p->batch;
	int i;

	p->batching = 0;
	if (!p->dgram || !inet || o->telnet || o->rate > 0 ||
	    (o->io != IO_AUTO && o->io != IO_ZEROCOPY))
		return;
	if (bt == NULL) {
		if ((bt = calloc(1, sizeof(*bt))) == NULL ||
		    (bt->slots = malloc(PUMP_BATCH * PUMP_SLOT)) == NULL) {
			free(bt);
			return;
		}
		for (i = 0; i < PUMP_BATCH; i++) {
			bt->iov[i].iov_base = bt->slots + (size_t)i * PUMP_SLOT;
			bt->iov[i].iov_len = PUMP_SLOT;
			bt->msg[i].msg_hdr.msg_iov = &bt->iov[i];
			bt->msg[i].msg_hdr.msg_iovlen = 1;
			bt->msg[i].msg_hdr.msg_name = &bt->from[i];
		}
		p->batch = bt;
	}
	bt->n = bt->next = 0;
	bt->off = 0;
	p->batching = 1;
}

/*
 * Take what the socket holds, up to a batch (and no more than -W has
 * left), with the checks net_fill makes for one datagram.  -1 to go on,
 * or an exit code.
 */
static int
batch_fill(struct pump *p)
{
	struct batch *bt = p->batch;
	long long left = p->o->recv_limit - p->packets;
	struct msghdr *h;
	int i, n, want = PUMP_BATCH;

	if (p->o->recv_limit > 0 && left < want)
		want = (int)left;
	for (i = 0; i < want; i++)
		bt->msg[i].msg_hdr.msg_namelen = sizeof(bt->from[i]);
	n = recvmmsg(p->net, bt->msg, want, MSG_DONTWAIT, NULL);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return net_broken(p, "recv");
	}
	for (i = 0; i < n; i++) {
		h = &bt->msg[i].msg_hdr;
		if (!dgram_take(p, h->msg_name, h->msg_namelen)) {
			bt->msg[i].msg_len = 0;	/* batch_drain skips it */
			continue;
		}
		p->packets++;
		moved(p, METER_RECV, bt->iov[i].iov_base, bt->msg[i].msg_len);
	}
	bt->n = n;
	bt->next = 0;
	bt->off = 0;
	return -1;
}

/*
 * Write the batch out: all of it in one writev(2) to a regular file,
 * where datagram boundaries leave no trace, and otherwise one write(2)
 * per datagram, so that a reader of a packet-mode pipe still gets one
 * datagram per read.  -1 to go on, or an exit code.
 */
static int
batch_drain(struct pump *p)
{
	struct batch *bt = p->batch;
	struct iovec v[PUMP_BATCH];
	size_t skip;
	ssize_t n;
	int i, k = 0;

	for (i = bt->next; i < bt->n && (k == 0 || p->out_regular); i++) {
		skip = i == bt->next ? bt->off : 0;
		if (bt->msg[i].msg_len == skip)
			continue;	/* nothing to write: a datagram of 0 */
		v[k].iov_base = (unsigned char *)bt->iov[i].iov_base + skip;
		v[k].iov_len = bt->msg[i].msg_len - skip;
		k++;
	}
	if (k == 0) {
		bt->next = bt->n;
		return -1;
	}
	n = writev(p->out, v, k);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return out_failed(p);
	}
	batch_written(bt, n);
	touch(p);
	return -1;
}

/* n more bytes of the batch were written: step past whole datagrams. */
static void
batch_written(struct batch *bt, size_t n)
{
	size_t left;

	while (bt->next < bt->n) {
		left = bt->msg[bt->next].msg_len - bt->off;
		if (n < left) {
			bt->off += n;
			return;
		}
		n -= left;
		bt->next++;
		bt->off = 0;
	}
}

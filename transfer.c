/*
 * transfer.c: the data pump.  One poll(2) loop moves bytes both ways
 * between stdin/stdout and a connected (or, for a UDP -k listener,
 * unconnected) socket, with back-pressure and exact end-of-stream rules.
 * A stream socket's bytes go through its endpoint.c endpoint (plain,
 * --io rw, TLS, --passphrase), the code xfer.c moves socket pairs with,
 * and stdin and stdout are endpoints of the same kind (read, write); the
 * paths only the pump has (sendfile, the splice pipe and its writer,
 * recvmmsg batches, unconnected UDP) are its own sides' operations.
 * What moves each way is a direction (dir.c, as in xfer.c): input to
 * network and network to output, each with its buffer or pipe and its
 * end of stream; a side's fill is handed the direction it feeds, its
 * drain the one it empties.
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
 * A stream's buffer is made on first use at PUMP_BUFMIN, which holds a
 * short exchange on the heap, and grows to PUMP_BUFSZ once a read fills
 * it (dir.c): a short connection costs no mmap(2) and no untouched pages.
 */
#define PUMP_BUFSZ	(256 * 1024)
#define PUMP_BUFMIN	(16 * 1024)
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
/* -t's refusals a connection holds until its socket takes them. */
#define PUMP_TN_QUEUE	256

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
 * fill takes from the side into the direction it feeds (to), drain
 * gives the side what the direction that feeds it holds (from); both
 * return -1 to go on or an exit code.  send is a stream or datagram
 * endpoint's primitive under drain's pacing: bytes taken, -1 with errno,
 * or NTLS_WANT.  ready says whether fill has room to land in
 * (back-pressure), events what poll waits for before fill (LOOP_READ) or
 * send (LOOP_WRITE).
 */
struct endpoint {
	const char	*name;
	int		(*fill)(struct pump *, struct dir *);
	int		(*drain)(struct pump *, struct dir *);
	ssize_t		(*send)(struct pump *, void *, size_t, int);
	int		(*ready)(const struct pump *, const struct dir *);
	short		(*events)(const struct pump *, int);
	struct dir	*to;		/* the direction fill feeds */
	struct dir	*from;		/* the one drain empties */
	int		 direct;	/* fill writes the other side's fd */
};
/* send(): failed, and the message is out already (as endpoint.c's). */
#define PUMP_SEND_FAILED	EP_REPORTED

/*
 * A layer on a direction: it sees the bytes that moved (a tap: counts,
 * digest, hex dump, --rate's bucket, -w's clock) or edits them where they
 * lie (a filter: -t), and returns how many go on.  data is NULL on the
 * zero-copy paths, which only counting layers allow.  layers_pick()
 * stacks them once per connection and moved() runs the stack, so no
 * option is tested per read.  (-C is a layer under the input's fill:
 * crlf_fill.)
 */
#define PUMP_LAYERS	6
/*
 * A shaper on what goes to the socket: it cuts the next send short or
 * adds to its flags (-i a line at a time, --rate, --send-flags oob's
 * urgent last byte, MSG_MORE while a file has more).  layers_pick()
 * stacks them once per connection; net_drain runs the stack.
 */
#define PUMP_SHAPES	4

/*
 * One connection's state: made whole, and zeroed, in conn_start() alone,
 * so that nothing of one -k peer leaks into the next.
 */
struct conn {
	size_t			(*layer[2][PUMP_LAYERS])(struct pump *, int,
				    unsigned char *, size_t);	/* by METER_ */
	int			 nlayers[2];
	size_t			(*shape[PUMP_SHAPES])(struct pump *,
				    const struct dir *, size_t, int *);
	int			 nshapes;
	int			 polled;	/* a poll's events are due */
	int			 net;
	int			 dgram;
	int			 seqpacket;	/* zero-length read is EOF */
	int			 unconnected;	/* UDP -k: reply to last sender */
	struct endpoint		 local;		/* stdio, files, pipes */
	struct endpoint		 remote;	/* the socket */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	struct sockaddr_storage	 lock;		/* connected datagram peer */
	socklen_t		 locklen;
	struct ep		 ep;		/* net and its record layer */
	short			 want_in;	/* what ep's recv waits for */
	short			 want_out;	/* what ep's send waits for */
	int			 zc_send;	/* sendfile from in to net */
	int			 zc_recv;	/* splice net -> pipe -> out */
	int			 threaded;	/* pipes go to the writer */
	int			 batching;	/* UDP receive with recvmmsg */
	int			 tcp;		/* net is a TCP socket */
	int			 notsent;	/* TCP_NOTSENT_LOWAT is set */
	int			 lowat_ok;	/* TCP: SO_RCVLOWAT may batch */
	int			 lowat;		/* SO_RCVLOWAT as set now */
	struct timespec		 lowat_end;	/* then back to 1 byte */
	int			 quitting;
	long long		 packets;
	unsigned long long	 sent;		/* bytes given to net */
	struct timespec		 idle;		/* -w deadline */
	struct timespec		 quit;		/* -q deadline */
	struct timespec		 pace;		/* -i: next line may go */
	size_t			 tn_len;	/* -t: refusals to send */
	unsigned char		 tn[PUMP_TN_QUEUE]; /* sent first */
};

/*
 * What outlives one connection: the directions (the input's end and
 * unsent bytes, so -k never drops any, and the buffers and pipe made
 * once), the output, the writer, the meter; and the connection now
 * moving.
 */
struct pump {
	const struct np_opts	*o;
	struct loop		*own;		/* pump_run()'s loop */
	struct loop		*loop;		/* the one running it now */
	void			(*done)(struct pump *, int, void *);
	void			*done_data;
	struct pollfd		 armed[PUMP_NFDS]; /* as the loop has them */
	int			 fired[PUMP_NFDS];	/* this round */
	int			 urgent;	/* this round: POLLPRI */
	int			 rdhup;		/* this round: POLLRDHUP */
	int			 reg[PUMP_NFDS];	/* fds registered */
	int			 nreg;
	long long		 timer[PT_COUNT];	/* ids; 0 none */
	/*
	 * The two directions (dir.c): their buffers, the splice pipe and
	 * the input's end and unsent bytes outlive a connection;
	 * conn_start() restarts the rest.
	 */
	struct dir		 up;		/* input -> network */
	struct dir		 down;		/* network -> output */
	unsigned char		*scratch;	/* -C: raw input */
	int			 in;		/* stdin, -1 with -d */
	int			 out;		/* stdout */
	struct ep		 in_ep;		/* in and out as endpoints: */
	struct ep		 out_ep;	/* read(2), write(2) */
	int			 out_gone;	/* the reader of out left */
	int			 out_errno;	/* how we learnt it */
	unsigned long long	 out_unread;	/* left in its pipe then */
	struct filter		 filter;	/* -C and -t state */
	struct meter		*meter;		/* counts, digest, hex dump */
	struct bucket		 rate[2];	/* METER_SENT, METER_RECV */
	int			 in_regular;	/* input is a regular file */
	int			 out_regular;	/* output is a regular file */
	int			 out_splice;	/* splice(2) may fill it */
	int			 cpus;		/* 2: the writer may help */
	struct batch		*batch;		/* UDP: recvmmsg, made once */
	struct writer		*writer;	/* the file's copy, made once */
	int			 wpipe[2];	/* the pipe the writer empties */
	int			 jobs;		/* pipes it holds: wpipe, down's */
	struct timespec		 hold;		/* a writer may yet pay off */
	const struct acl	*acl;		/* UDP -k: senders let in */
	struct tls		*next_tls;	/* for the next pump_run() */
	struct pp		*next_pp;	/* likewise, --passphrase */
	struct conn		 c;
};

static void	 pump_before(struct loop *, void *);
static int	 pump_act(struct pump *);
static int	 net_take(struct pump *);
static int	 net_reading(struct pump *);
static void	 out_slot(const struct pump *, struct pollfd *);
static int	 out_ready(const struct pump *);
static void	 pump_end(struct pump *, int);
static void	 run_done(struct pump *, int, void *);
static int	 pump_finished(struct pump *);
static void	 pump_timers(struct pump *);
static void	 pump_timer(struct pump *, int, const struct timespec *, int);
static int	 pump_wake(struct loop *, long long, void *);
static void	 pump_pollset(struct pump *, struct pollfd *);
static int	 pump_arm(struct pump *, const struct pollfd *);
static void	 pump_io(struct loop *, int, int, void *);
static void	 pump_disarm(struct pump *);
static int	 events_mask(short);
static int	 net_drain(struct pump *, struct dir *);
static int	 direct_drain(struct pump *, struct dir *);
static size_t	 telnet(struct pump *, unsigned char *, size_t);
static int	 io_failed(const char *);
static const char *out_name(const struct pump *);
static int	 net_broken(struct pump *, const char *);
static int	 input_broken(struct pump *, struct dir *);
static int	 send_failed(void);
static int	 open_stdio(struct pump *);
static void	 pump_choose(struct pump *);
static void	 out_probe(struct pump *);
static int	 zc_refused(struct pump *, int *, const char *);
static int	 splice_in(struct pump *, struct dir *);
static int	 pipe_first(struct pump *, struct dir *);
static int	 splice_out(struct pump *, struct dir *);
static int	 writer_wanted(struct pump *, const struct dir *);
static void	 ends_pick(struct pump *);
static int	 (*sink_pick(const struct pump *, const struct dir *))(
		    struct pump *, struct dir *);
static int	 stdio_fill(struct pump *, struct dir *);
static int	 crlf_fill(struct pump *, struct dir *);
static int	 sendfile_fill(struct pump *, struct dir *);
static int	 stdio_drain(struct pump *, struct dir *);
static int	 splice_drain(struct pump *, struct dir *);
static int	 writer_sink(struct pump *, struct dir *);
static int	 readback_drain(struct pump *, struct dir *);
static int	 stream_fill(struct pump *, struct dir *);
static int	 dgram_fill(struct pump *, struct dir *);
static ssize_t	 stream_send(struct pump *, void *, size_t, int);
static ssize_t	 dgram_send(struct pump *, void *, size_t, int);
static int	 buf_ready(const struct pump *, const struct dir *);
static int	 pipe_ready(const struct pump *, const struct dir *);
static int	 batch_ready(const struct pump *, const struct dir *);
static short	 net_events(const struct pump *, int);
static size_t	 up_room(struct pump *, struct dir *);
static size_t	 down_room(struct pump *, struct dir *);
static int	 input_done(struct pump *, struct dir *, ssize_t);
static int	 recv_done(struct pump *, struct dir *, ssize_t,
		    const struct sockaddr *, socklen_t);
static int	 writer_ready(struct pump *, const struct dir *);
static int	 writer_holding(const struct pump *);
static int	 hold_kind(const struct pump *);
static int	 writer_maybe(const struct pump *, const struct dir *, size_t);
static int	 writer_drain(struct pump *, struct dir *);
static int	 writer_due(const struct pump *, const struct dir *);
static void	 pipes_swap(struct pump *, struct dir *);
static int	 down_pending(const struct pump *);
static unsigned long long down_bytes(const struct pump *);
static int	 out_failed(struct pump *);
static int	 out_lost(struct pump *);
static void	 out_left(struct pump *);
static int	 send_all(const struct pump *);
static int	 input_unsent(struct pump *, const struct dir *);
static void	 touch(struct pump *);
static int	 rate_ready(struct pump *, int);
static size_t	 rate_limit(struct pump *, int, size_t);
static size_t	 moved(struct pump *, int, unsigned char *, size_t);
static void	 layers_pick(struct pump *);
static void	 layer_push(struct pump *, int, size_t (*)(struct pump *, int,
		    unsigned char *, size_t));
static size_t	 count_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 digest_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 hex_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 rate_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 idle_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 telnet_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 pace_layer(struct pump *, int, unsigned char *, size_t);
static size_t	 line_shape(struct pump *, const struct dir *, size_t,
		    int *);
static size_t	 rate_shape(struct pump *, const struct dir *, size_t,
		    int *);
static size_t	 oob_shape(struct pump *, const struct dir *, size_t,
		    int *);
static size_t	 more_shape(struct pump *, const struct dir *, size_t,
		    int *);
static long long input_size(struct pump *);
static void	 net_setup(struct pump *, int);
static void	 conn_start(struct pump *, int, int);
static void	 dirs_size(struct pump *);
static size_t	 sendable(const struct pump *, const struct dir *);
static int	 received(struct pump *, struct dir *, size_t);
static void	 lowat_update(struct pump *, const struct dir *, size_t);
static int	 dgram_take(struct pump *, const struct sockaddr *,
		    socklen_t);
static void	 batch_choose(struct pump *, int);
static int	 batch_fill(struct pump *, struct dir *);
static int	 batch_drain(struct pump *, struct dir *);
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
	dir_init(&p->up);
	dir_init(&p->down);
	p->wpipe[0] = p->wpipe[1] = -1;
	p->loop = p->own = loop_new();
	p->scratch = o->crlf ? malloc(PUMP_BUFSZ / 2) : NULL;
	if (p->own == NULL || (o->crlf && p->scratch == NULL)) {
		warn("pump");
		pump_free(p);
		return NULL;
	}
	if (open_stdio(p) == -1) {
		pump_free(p);
		return NULL;
	}
	ep_init(&p->in_ep, p->in, NULL, NULL, EP_RW);
	ep_init(&p->out_ep, p->out, NULL, NULL, EP_RW);
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
	dir_release(&p->up);
	dir_release(&p->down);
	if (p->wpipe[0] != -1) {
		close(p->wpipe[0]);
		close(p->wpipe[1]);
	}
	if (p->batch != NULL)
		free(p->batch->slots);
	free(p->batch);
	free(p->scratch);
	loop_free(p->own);
	free(p);
}

/* Route the next pump_run() through TLS; it forgets ctx when it ends. */
void
pump_set_tls(struct pump *p, struct tls *ctx)
{
	p->next_tls = ctx;
}

/* Route the next pump_run() through --passphrase records; likewise. */
void
pump_set_pp(struct pump *p, struct pp *pp)
{
	p->next_pp = pp;
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
 * a set of PUMP_DGRAM, PUMP_UNCONNECTED, PUMP_SEQPACKET and
 * PUMP_URGINLINE.  Returns an exit code:
 * NP_EXIT_OK, NP_EXIT_FAIL (message printed) or 128 + signal.  net stays
 * open; the caller closes it.
 */
int
pump_run(struct pump *p, int net, int flags)
{
	int rc = -1;

	if (pump_start(p, p->own, net, flags, run_done, &rc) == -1) {
		warn("poll");
		return NP_EXIT_FAIL;
	}
	if (loop_run(p->own) == -1 && rc == -1) {
		warn("poll");
		pump_stop(p, NP_EXIT_FAIL);
	} else if (rc == -1)
		pump_stop(p, np_signal ? NP_EXIT_SIGNAL + np_signal :
		    NP_EXIT_FAIL);
	return rc;
}

static void
run_done(struct pump *p, int rc, void *data)
{
	*(int *)data = rc;
	loop_stop(p->loop);
}

/*
 * Start moving bytes between stdio and net on loop l, which the caller
 * runs: done(p, rc, data) is called once, from the loop, with the exit
 * code, and the pump may then start again.  The loop stops on a signal
 * without ending the pump: its runner ends it with pump_stop().  net
 * stays the caller's.  Returns 0, or -1 with errno set.
 */
int
pump_start(struct pump *p, struct loop *l, int net, int flags,
    void (*done)(struct pump *, int, void *), void *data)
{
	p->loop = l;
	p->done = done;
	p->done_data = data;
	conn_start(p, net, flags);
	return loop_before(l, pump_before, p);
}

/* Whether the last connection gave the socket any bytes. */
int
pump_sent(const struct pump *p)
{
	return p->c.sent > 0;
}

/* End the connection now with exit code rc; done() is called. */
void
pump_stop(struct pump *p, int rc)
{
	pump_end(p, rc);
}

/*
 * The connection ended with rc: the loop forgets it, and done() is told.
 * A side file that could not be written is an I/O failure too.
 */
static void
pump_end(struct pump *p, int rc)
{
	pump_disarm(p);
	loop_before_del(p->loop, pump_before, p);
	if (rc == NP_EXIT_OK && meter_failed(p->meter))
		rc = NP_EXIT_FAIL;
	p->done(p, rc, p->done_data);
}

/*
 * The one place a connection's state is made: all of struct conn from
 * zero, the directions restarted (the network side of both is new),
 * then what net and flags say, the socket's settings, the paths and the
 * endpoints.  UDP -k learns whom to answer from the first datagram it
 * takes (peerlen 0 until then).
 */
static void
conn_start(struct pump *p, int net, int flags)
{
	struct conn *c = &p->c;

	memset(c, 0, sizeof(*c));
	c->net = net;
	c->dgram = (flags & PUMP_DGRAM) != 0;
	c->seqpacket = (flags & PUMP_SEQPACKET) != 0;
	c->unconnected = (flags & PUMP_UNCONNECTED) != 0;
	/* The socket's own calls or its record layer, chosen once. */
	ep_init(&c->ep, net, p->next_tls, p->next_pp, c->dgram ? EP_DGRAM :
	    p->o->io == IO_RW ? EP_RW : 0);
	p->next_tls = NULL;
	p->next_pp = NULL;
	c->want_in = POLLIN;
	c->want_out = POLLOUT;
	meter_start(p->meter);
	/*
	 * -t reads each peer's stream afresh: a command a peer left cut off
	 * must not take the next peer's first bytes.  -C's state is the
	 * input's, which goes on from peer to peer.
	 */
	filter_telnet_start(&p->filter);
	dir_restart(&p->up, 0);
	dir_restart(&p->down, 1);
	dirs_size(p);
	/*
	 * A datagram listener connected to its first peer may still hold
	 * datagrams that others sent before the connect; net_fill drops them.
	 */
	c->locklen = sizeof(c->lock);
	if (!c->dgram || c->seqpacket || c->unconnected || getpeername(net,
	    (struct sockaddr *)&c->lock, &c->locklen) == -1)
		c->locklen = 0;
	net_setup(p, flags);
	pump_choose(p);
	ends_pick(p);
	layers_pick(p);
	touch(p);
}

/*
 * The directions' buffers for this connection: a whole datagram, or a
 * TLS record with room to spare, from the start, else a short exchange
 * at first.  A record layer's reader is offered a whole record, a
 * datagram buffer holds one at a time.
 */
static void
dirs_size(struct pump *p)
{
	size_t record = p->c.ep.ops->record;
	size_t small = p->c.dgram || record > 1 ? PUMP_BUFSZ : PUMP_BUFMIN;

	dir_sizes(&p->up, small, PUMP_BUFSZ, 1);
	dir_sizes(&p->down, small, PUMP_BUFSZ, record);
	p->up.one_msg = p->down.one_msg = p->c.dgram;
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
 * inline, so --send-flags oob on the far side loses no byte here (unless
 * flags say the socket has it from its listener), a Unix send buffer
 * that moves more per call, and how receives are batched.  (A datagram
 * socket's deep receive buffer is set when it is made:
 * sock_dgram_buffer().)
 */
static void
net_setup(struct pump *p, int flags)
{
	int one = 1, size, domain = AF_UNSPEC, inet;
	socklen_t len = sizeof(domain);

	/* The command line says what the socket is, unless it was inherited. */
	if (p->o->inherit_fd >= 0 || p->o->systemd_fd)
		getsockopt(p->c.net, SOL_SOCKET, SO_DOMAIN, &domain, &len);
	else
		domain = p->o->unix_sock ? AF_UNIX : AF_INET;
	inet = domain == AF_INET || domain == AF_INET6;
	p->c.tcp = inet && !p->c.dgram;
	p->c.lowat = 1;
	/* -W counts reads and --rate paces them: leave them be. */
	p->c.lowat_ok = p->c.tcp && p->c.ep.ops->splice &&
	    p->o->recv_limit == 0 && p->o->rate == 0;
	batch_choose(p, inet);
	if (!p->c.dgram) {
		if (!(flags & PUMP_URGINLINE))
			setsockopt(p->c.net, SOL_SOCKET, SO_OOBINLINE, &one,
			    sizeof(one));
		/*
		 * A Unix stream moves at most its send buffer per call; the
		 * default 208 KiB costs 2.5x in throughput (PERFORMANCE in
		 * netpipe.1).  TCP keeps its autotuning untouched.
		 */
		size = PUMP_UNIX_SNDBUF;
		if (domain == AF_UNIX && !sock_opt_given(p->o, "sndbuf"))
			setsockopt(p->c.net, SOL_SOCKET, SO_SNDBUF, &size,
			    sizeof(size));
	}
}

/*
 * n bytes of data moved in direction dir (METER_SENT or METER_RECV):
 * through the direction's layers, in one place.  Returns how many are
 * kept (a filter may drop some).
 */
static size_t
moved(struct pump *p, int dir, unsigned char *data, size_t n)
{
	int i;

	for (i = 0; i < p->c.nlayers[dir]; i++)
		n = p->c.layer[dir][i](p, dir, data, n);
	return n;
}

/*
 * Stack each direction's layers for this connection: the count always,
 * the taps asked for, and last -t, which edits what arrived after the
 * taps saw it as it came.  Then the shapers of what goes to the socket.
 */
static void
layers_pick(struct pump *p)
{
	const struct np_opts *o = p->o;
	int d;

	for (d = METER_SENT; d <= METER_RECV; d++) {
		layer_push(p, d, count_layer);
		if (o->digest)
			layer_push(p, d, digest_layer);
		if (o->hex_dump != NULL)
			layer_push(p, d, hex_layer);
		if (o->rate > 0)
			layer_push(p, d, rate_layer);
		if (o->wait_ms > 0)
			layer_push(p, d, idle_layer);
	}
	if (o->telnet)
		layer_push(p, METER_RECV, telnet_layer);
	if (o->interval_ms > 0) {
		layer_push(p, METER_SENT, pace_layer);
		p->c.shape[p->c.nshapes++] = line_shape;
	}
	if (o->rate > 0)
		p->c.shape[p->c.nshapes++] = rate_shape;
	if (o->send_oob)
		p->c.shape[p->c.nshapes++] = oob_shape;
	if (p->in_regular && !p->c.dgram)
		p->c.shape[p->c.nshapes++] = more_shape;
}

static void
layer_push(struct pump *p, int d, size_t (*fn)(struct pump *, int,
    unsigned char *, size_t))
{
	p->c.layer[d][p->c.nlayers[d]++] = fn;
}

/* Bytes for -v, --stats and --progress. */
static size_t
count_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	(void)data;
	meter_count(p->meter, d, n);
	if (d == METER_SENT)
		p->c.sent += n;
	return n;
}

static size_t
digest_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	meter_digest(p->meter, d, data, n);
	return n;
}

static size_t
hex_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	meter_hex(p->meter, d, data, n);
	return n;
}

/* --rate: the bytes are spent from the direction's bucket. */
static size_t
rate_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	(void)data;
	p->rate[d].tokens -= n;
	return n;
}

/* -w: bytes moved, so the connection is not idle. */
static size_t
idle_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	(void)d;
	(void)data;
	touch(p);
	return n;
}

/* -t: telnet commands out of what arrived, refusals queued to send. */
static size_t
telnet_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	(void)d;
	return data != NULL ? telnet(p, data, n) : n;
}

/* -i: a line sent ends the pause before the next may go. */
static size_t
pace_layer(struct pump *p, int d, unsigned char *data, size_t n)
{
	(void)d;
	if (data != NULL && n > 0 && data[n - 1] == '\n')
		np_deadline_set(&p->c.pace, p->o->interval_ms);
	return n;
}

/* -i: a line at a time. */
static size_t
line_shape(struct pump *p, const struct dir *d, size_t len, int *flags)
{
	const unsigned char *data = d->buf + d->start, *nl;

	(void)p;
	(void)flags;
	if ((nl = memchr(data, '\n', len)) != NULL)
		len = nl - data + 1;
	return len;
}

/* --rate: no more than the bucket holds. */
static size_t
rate_shape(struct pump *p, const struct dir *d, size_t len, int *flags)
{
	(void)d;
	(void)flags;
	return rate_limit(p, METER_SENT, len);
}

/*
 * --send-flags oob: at the input's end, everything but the last byte
 * first, then that byte as urgent data.
 */
static size_t
oob_shape(struct pump *p, const struct dir *d, size_t len, int *flags)
{
	if (d->eof && len == 1 && !p->c.dgram)
		*flags |= MSG_OOB;
	else if (d->eof && len > 1)
		len--;
	return len;
}

/* More input surely follows from a file: let TCP fill segments. */
static size_t
more_shape(struct pump *p, const struct dir *d, size_t len, int *flags)
{
	(void)p;
	if (!d->eof)
		*flags |= MSG_MORE;
	return len;
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

	if (p->o->rate == 0 || p->c.dgram || t >= (double)want)
		return want;
	return t >= 1 ? (size_t)t : 1;
}

static int
open_stdio(struct pump *p)
{
	const struct np_opts *o = p->o;

	p->in = o->no_stdin ? -1 : STDIN_FILENO;
	p->out = STDOUT_FILENO;
	p->up.eof = o->no_stdin;
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
	    !meter_needs_data(o) && p->c.ep.ops->splice;

	p->c.zc_send = zc && !p->c.dgram && !p->up.eof && !o->crlf &&
	    o->interval_ms == 0 && !o->send_oob && p->in_regular;
	if (!zc || p->c.dgram || o->telnet || !p->out_splice)
		return;
	/* The pipe itself waits for the first byte: pipe_first(). */
	p->c.zc_recv = 1;
	p->c.threaded = p->out_regular && p->cpus > 1;
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

/*
 * Whether a regular-file output gets the writer thread (writer.c), made
 * with its second pipe on first use.  Both pipes get the same size, so
 * either may be the one splice_in fills as d's.
 */
static int
writer_wanted(struct pump *p, const struct dir *d)
{
	size_t size;

	if (p->writer != NULL)
		return 1;
	if (!writer_useful())
		return 0;
	if (dir_pipe_make(p->wpipe, PUMP_PIPESZ, &size) == -1)
		return 0;
	if (size != d->pipesz ||
	    (p->writer = writer_new(p->out, p->o->verbose)) == NULL) {
		close(p->wpipe[0]);
		close(p->wpipe[1]);
		p->wpipe[0] = p->wpipe[1] = -1;
		return 0;
	}
	return 1;
}

/*
 * Whether the pipe goes to the writer thread now: once it runs, and
 * before that once the pipe holds a bulk connection's worth, when the
 * thread is made.  A short connection's few bytes are written by the
 * pump itself.
 */
static int
writer_ready(struct pump *p, const struct dir *d)
{
	if (p->writer != NULL)
		return 1;
	if (d->held < PUMP_BULK)
		return 0;
	if (writer_wanted(p, d))
		return 1;
	p->c.threaded = 0;
	return 0;
}

/*
 * Whether a writer may yet be made once the pipe holds n more bytes.
 * Until then a short splice does not mean a full pipe: fewer than
 * PUMP_BULK bytes fill a few of its buffers, and a full one says EAGAIN.
 * The socket stays polled, so a short connection's end is seen at once.
 */
static int
writer_maybe(const struct pump *p, const struct dir *d, size_t n)
{
	return p->c.threaded && p->writer == NULL && d->held + n < PUMP_BULK;
}

/*
 * Whether the pump waits before writing the pipe itself: more may come
 * that makes the connection bulk, and then the writer takes it all.
 */
static int
writer_holding(const struct pump *p)
{
	return hold_kind(p) && np_deadline_ms(&p->hold) > 0;
}

/* The pipe holds what writer_holding() holds back until p->hold. */
static int
hold_kind(const struct pump *p)
{
	const struct dir *d = &p->down;

	return p->c.threaded && p->writer == NULL && d->held > 0 &&
	    d->held < PUMP_BULK && !d->pipe_full && !d->eof;
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

/* Whether received bytes wait: the direction's, the writer's, a batch. */
static int
down_pending(const struct pump *p)
{
	return dir_pending(&p->down) > 0 || p->jobs > 0 ||
	    (p->c.batching && p->batch->next < p->batch->n);
}

/*
 * Received bytes not yet written: the buffer, the splice pipe and a UDP
 * batch.  A regular file, the writer thread's only output, never loses
 * its reader, so the pipes it holds are not counted.
 */
static unsigned long long
down_bytes(const struct pump *p)
{
	unsigned long long n = dir_pending(&p->down);
	int i;

	for (i = p->c.batching ? p->batch->next : 0;
	    p->c.batching && i < p->batch->n; i++)
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
	if (!p->out_gone)
		out_left(p);
	p->out_gone = 1;
	p->out_errno = errno;
	return -1;
}

/*
 * The reader of a pipe on stdout left: what we wrote and it did not
 * read stays in the pipe, where nobody reads it now, and is as lost as
 * what we still hold.  Without it, a reader that left while our own
 * buffers happened to be empty looked like one that had read it all.
 */
static void
out_left(struct pump *p)
{
	struct stat st;
	int unread = 0;

	if (fstat(p->out, &st) == 0 && S_ISFIFO(st.st_mode) &&
	    ioctl(p->out, FIONREAD, &unread) == 0 && unread > 0)
		p->out_unread = unread;
}

/* Received bytes that the output's reader left behind: exit 1. */
static int
out_lost(struct pump *p)
{
	warnx("stdout: %s: %llu bytes received not delivered",
	    strerror(p->out_errno), down_bytes(p) + p->out_unread);
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
	    !o->keep_open && !o->half_close && (!p->c.dgram || p->c.seqpacket);
}

/*
 * The peer ended the connection before the input did: count what was
 * not sent, what is held here and what is left of a file, or for a pipe
 * or terminal what waits to be read.  Exit 0 when that is nothing (the
 * input's end was not yet read), 1 otherwise.
 */
static int
input_unsent(struct pump *p, const struct dir *d)
{
	unsigned long long n = dir_pending(d);
	struct stat st;
	off_t pos;
	int waiting = 0;

	/* FIONREAD would tell a file's rest too, but in an int. */
	if (!d->eof && p->in_regular && fstat(p->in, &st) == 0 &&
	    (pos = lseek(p->in, 0, SEEK_CUR)) != -1)
		n += st.st_size > pos ? st.st_size - pos : 0;
	else if (!d->eof && ioctl(p->in, FIONREAD, &waiting) == 0 &&
	    waiting > 0)
		n += waiting;
	if (n == 0)
		return NP_EXIT_OK;
	warnx("peer closed the connection: %llu bytes of input not sent", n);
	return NP_EXIT_FAIL;
}

/*
 * The splice path's pipe is made once the first byte waits, so that a
 * connection that ends with nothing received costs none: a peek tells.
 * Without a pipe (out of descriptors) the copy loop takes over.
 */
static int
pipe_first(struct pump *p, struct dir *d)
{
	char c;
	ssize_t n;

	n = recv(p->c.net, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0) {
		d->eof = 1;
		return -1;
	}
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? -1 :
		    net_broken(p, "recv");
	if (dir_pipe(d, PUMP_PIPESZ) == -1) {
		p->c.zc_recv = 0;
		ends_pick(p);
		return -1;
	}
	return splice_in(p, d);
}

/* Socket into the pipe: the receive half of the splice path. */
static int
splice_in(struct pump *p, struct dir *d)
{
	size_t want = rate_limit(p, METER_RECV, d->pipesz - d->held);
	ssize_t n;
	int atmark = 0;

	if (d->pipe[0] == -1)
		return pipe_first(p, d);
	n = splice(p->c.net, NULL, d->pipe[1], NULL, want,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	/*
	 * A pipe buffer holds one page however little of it a segment
	 * fills, so the pipe can be full short of pipesz bytes.  A short
	 * splice may mean that, and EAGAIN with bytes in the pipe surely
	 * does: wait for splice_out rather than poll a socket that stays
	 * readable.
	 */
	if (n > 0 && (size_t)n < want && !writer_maybe(p, d, n))
		d->pipe_full = 1;
	if (n == -1 && errno == EAGAIN && d->held > 0) {
		d->pipe_full = 1;
		return -1;
	}
	/*
	 * TCP splice stops at the urgent mark: it says EAGAIN while poll
	 * keeps saying POLLIN, or 0 as if at EOF.  The copy loop reads the
	 * byte inline; it takes over once the pipe is drained, so the order
	 * holds.  Only a poll that said POLLPRI (urgent data pending) makes
	 * the mark worth asking about: a plain end of stream costs no ioctl.
	 */
	if ((n == 0 || (n == -1 && errno == EAGAIN)) && p->urgent &&
	    ioctl(p->c.net, SIOCATMARK, &atmark) == 0 && atmark) {
		p->c.zc_recv = 0;
		ends_pick(p);
		return -1;
	}
	if (n == -1)
		return zc_refused(p, &p->c.zc_recv, "splice from socket");
	if (n == 0) {
		d->eof = 1;
		return -1;
	}
	if (d->held == 0 && p->c.threaded && p->writer == NULL)
		np_deadline_set(&p->hold, PUMP_HOLD_MS);
	d->held += n;
	p->c.packets++;
	lowat_update(p, d, n);
	moved(p, METER_RECV, NULL, n);
	return -1;
}

/*
 * The pipe into the output.  A refusal switches the sink to read-back,
 * so what is already in the pipe is not lost.
 */
static int
splice_out(struct pump *p, struct dir *d)
{
	ssize_t n;

	n = splice(d->pipe[0], NULL, p->out, NULL, d->held, SPLICE_F_MOVE);
	if (n == -1)
		return zc_refused(p, &p->c.zc_recv, "splice to output");
	dir_pipe_drained(d, n);
	touch(p);
	return -1;
}

/*
 * Whether the pipe splice_in fills goes to the writer now: at once when
 * the writer is idle, so nothing waits for it, and only full while it is
 * busy, so it gets few and large jobs.
 */
static int
writer_due(const struct pump *p, const struct dir *d)
{
	return d->held > 0 && (p->jobs == 0 || (p->jobs < PUMP_PIPES &&
	    (d->pipe_full || d->held == d->pipesz)));
}

/*
 * The writer thread's turn.  It holds wpipe when busy and d's pipe too
 * when both are full; the pump fills d's otherwise.  Collect the jobs it
 * ended (the first freed pipe becomes d's again), then hand it the pipe
 * splice_in filled.  The copy loop's buffer waits for both pipes.
 */
static int
writer_drain(struct pump *p, struct dir *d)
{
	int ended;

	if (p->jobs > 0) {
		if ((ended = writer_reap(p->writer)) == -1)
			return out_failed(p);
		if (ended > 0 && p->jobs == PUMP_PIPES)
			pipes_swap(p, d);
		p->jobs -= ended;
	}
	if (!writer_due(p, d))
		return -1;
	writer_start(p->writer, d->pipe[0], d->held);
	if (p->jobs++ == 0)
		pipes_swap(p, d);
	dir_pipe_drained(d, d->held);
	touch(p);
	return -1;
}

/* The writer's pipe and d's change places; both are of one size. */
static void
pipes_swap(struct pump *p, struct dir *d)
{
	int fds[2];

	memcpy(fds, p->wpipe, sizeof(fds));
	memcpy(p->wpipe, d->pipe, sizeof(fds));
	memcpy(d->pipe, fds, sizeof(fds));
}

/*
 * A regular file straight into the socket: a fill that is direct, so
 * the socket's room for writing, not the file, is what it waits for.
 */
static int
sendfile_fill(struct pump *p, struct dir *d)
{
	size_t want = rate_limit(p, METER_SENT, PUMP_SENDFILE);
	ssize_t n;
	int v = PUMP_NOTSENT;

	n = sendfile(p->c.net, p->in, NULL, want);
	if (n == -1)
		return zc_refused(p, &p->c.zc_send, "sendfile");
	if (n == 0)
		d->eof = 1;
	else
		moved(p, METER_SENT, NULL, n);
	if (n > 0 && (size_t)n < want && p->c.tcp && !p->c.notsent) {
		setsockopt(p->c.net, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v,
		    sizeof(v));
		p->c.notsent = 1;
	}
	return -1;
}

static void
touch(struct pump *p)
{
	if (p->o->wait_ms > 0)
		np_deadline_set(&p->c.idle, p->o->wait_ms);
}

/*
 * The loop's call before each poll: act on what the last poll found,
 * then check the end-of-stream rules and, when the connection goes on,
 * hand the loop what the next poll waits for.
 */
static void
pump_before(struct loop *l, void *data)
{
	struct pump *p = data;
	struct pollfd pfd[PUMP_NFDS];
	int rc = -1;

	(void)l;
	if (p->c.polled)
		rc = pump_act(p);
	if (rc == -1 && out_ready(p))
		rc = p->c.local.drain(p, p->c.local.from);
	if (rc == -1 && (rc = pump_finished(p)) == -1) {
		if (p->c.lowat > 1 && np_deadline_ms(&p->c.lowat_end) == 0)
			lowat_set(p, 1);
		pump_pollset(p, pfd);
		if (pump_arm(p, pfd) == 0) {
			p->c.polled = 1;
			return;
		}
		warn("poll");
		rc = NP_EXIT_FAIL;
	}
	pump_end(p, rc);
}

/* What the last poll found, acted on: -1 to go on, or the exit code. */
static int
pump_act(struct pump *p)
{
	struct endpoint *l = &p->c.local, *r = &p->c.remote;
	int rc;

	if (!p->fired[PUMP_NETIN] && !p->fired[PUMP_STDOUT] &&
	    !p->fired[PUMP_STDIN] && !p->fired[PUMP_NETOUT]) {
		/* Only a deadline (or a signal) woke us. */
		if (p->o->wait_ms > 0 && np_deadline_ms(&p->c.idle) == 0)
			return NP_EXIT_OK;
		if (p->c.quit.tv_sec != 0 && np_deadline_ms(&p->c.quit) == 0)
			p->c.quitting = 1;
		return -1;
	}
	/* Read the peer first so that its EOF is seen before a send fails. */
	if (p->fired[PUMP_NETIN] && (rc = net_take(p)) != -1)
		return rc;
	if (p->fired[PUMP_STDOUT] && (rc = l->drain(p, l->from)) != -1)
		return rc;
	if (p->fired[PUMP_STDIN] && (rc = l->fill(p, l->to)) != -1)
		return rc;
	if (p->fired[PUMP_NETOUT] && (rc = r->drain(p, r->from)) != -1)
		return rc;
	return -1;
}

/*
 * Read the peer.  When the poll said its end of stream is in already, a
 * read that left the socket with bytes or the end is read again at once,
 * not after one more poll: a short connection's data and its end then
 * cost one poll, not two.
 */
static int
net_take(struct pump *p)
{
	struct endpoint *r = &p->c.remote;
	int rc;

	if ((rc = r->fill(p, r->to)) != -1 || !p->rdhup)
		return rc;
	if (net_reading(p))
		return r->fill(p, r->to);
	return -1;
}

/*
 * Whether the peer is read now: it has not ended, -W's count is not
 * reached, and the receiving side has room and rate.
 */
static int
net_reading(struct pump *p)
{
	const struct np_opts *o = p->o;
	const struct endpoint *r = &p->c.remote;

	return !p->down.eof && !p->c.quitting &&
	    !(o->recv_limit > 0 && p->c.packets >= o->recv_limit) &&
	    r->ready(p, r->to) && rate_ready(p, METER_RECV);
}

/* The end-of-stream rules of SPEC section 2, checked before each poll. */
static int
pump_finished(struct pump *p)
{
	const struct np_opts *o = p->o;
	struct dir *up = &p->up, *down = &p->down;
	int in_done = up->eof && dir_pending(up) == 0 && p->c.tn_len == 0;
	int limit = o->recv_limit > 0 && p->c.packets >= o->recv_limit;

	if (in_done && !up->ended) {
		up->ended = 1;
		/* The record layer's own end first (TLS close_notify). */
		if (o->shutdown_wr)
			p->c.ep.ops->end(&p->c.ep, up->failed);
		/*
		 * A datagram socket too, as nc.openbsd does: nothing goes
		 * to the peer, but a later send fails, and scripts trace it.
		 */
		if (o->shutdown_wr)
			shutdown(p->c.net, SHUT_WR);
		if (o->quit_after_ms >= 0)
			np_deadline_set(&p->c.quit, o->quit_after_ms);
	}
	/* Received bytes with nowhere to go are the one loss here. */
	if (p->out_gone && (down_pending(p) || p->out_unread > 0))
		return out_lost(p);
	if (down_pending(p))
		return -1;
	if (down->failed || (up->failed && in_done))
		return NP_EXIT_FAIL;
	if (down->eof && !in_done && send_all(p))
		return input_unsent(p, up);
	if (down->eof && (!o->half_close || in_done))
		return NP_EXIT_OK;
	/* Nothing left to send and nobody to write to: nc's end too. */
	if (p->c.quitting || limit || (p->out_gone && in_done))
		return NP_EXIT_OK;
	return -1;
}

/*
 * The deadlines this round waits for, each a timer of the pump's loop
 * that only wakes it: pump_act judges what woke it.  A rate bucket's
 * deadline counts only while it holds its direction back.
 */
static void
pump_timers(struct pump *p)
{
	int i;

	pump_timer(p, PT_IDLE, &p->c.idle, p->o->wait_ms > 0);
	pump_timer(p, PT_QUIT, &p->c.quit, p->c.quit.tv_sec != 0 && !p->c.quitting);
	pump_timer(p, PT_PACE, &p->c.pace,
	    p->c.pace.tv_sec != 0 && dir_pending(&p->up) > 0);
	/*
	 * The hold's end wakes the pump whenever this round's output slot
	 * was left out for it, even if the deadline passed since the slot
	 * was chosen (then at once): else nothing would wake a pump whose
	 * socket waits for that output (a slow run, valgrind, hung so).
	 */
	pump_timer(p, PT_HOLD, &p->hold, hold_kind(p) &&
	    p->armed[PUMP_STDOUT].fd == p->out &&
	    !(p->armed[PUMP_STDOUT].events & POLLOUT));
	pump_timer(p, PT_LOWAT, &p->c.lowat_end, p->c.lowat > 1);
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
	    ((ev & POLLOUT) ? LOOP_WRITE : 0) |
	    ((ev & POLLPRI) ? LOOP_PRI : 0) |
	    ((ev & POLLRDHUP) ? LOOP_RDHUP : 0);
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

	p->urgent = p->rdhup = 0;
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
	if (fd == p->c.net) {
		p->urgent = (fired & LOOP_PRI) != 0;
		p->rdhup = (fired & LOOP_RDHUP) != 0;
	}
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
	const struct endpoint *l = &p->c.local, *r = &p->c.remote;
	const struct dir *up = &p->up, *down = &p->down;
	int pacing = p->c.pace.tv_sec != 0 && np_deadline_ms(&p->c.pace) > 0;

	pfd[PUMP_STDIN].fd = p->in;
	pfd[PUMP_STDIN].events = 0;
	if (!up->eof && !l->direct && !down->failed &&
	    (!down->eof || o->half_close) && dir_room(up) > 0)
		pfd[PUMP_STDIN].events = POLLIN;
	if (pfd[PUMP_STDIN].events == 0)
		pfd[PUMP_STDIN].fd = -1;

	pfd[PUMP_NETOUT].fd = p->c.net;
	pfd[PUMP_NETOUT].events = (sendable(p, up) > 0 || p->c.tn_len > 0 ||
	    (l->direct && !up->eof && (!down->eof || o->half_close))) &&
	    !pacing && !down->failed &&
	    !(p->c.unconnected && p->c.peerlen == 0) &&
	    rate_ready(p, METER_SENT) ? r->events(p, LOOP_WRITE) : 0;
	if (pfd[PUMP_NETOUT].events == 0)
		pfd[PUMP_NETOUT].fd = -1;

	pfd[PUMP_NETIN].fd = p->c.net;
	pfd[PUMP_NETIN].events = net_reading(p) ? r->events(p, LOOP_READ) : 0;
	if (pfd[PUMP_NETIN].events == 0)
		pfd[PUMP_NETIN].fd = -1;
	out_slot(p, &pfd[PUMP_STDOUT]);
}

/*
 * The output's slot: POLLOUT while received bytes wait and no writer
 * thread holds them back, the writer's fd while it holds pipes.  Polled
 * even when idle: POLLERR says the reader of a pipe left.  Once it has,
 * it is polled no more (POLLERR stays).
 */
static void
out_slot(const struct pump *p, struct pollfd *pfd)
{
	pfd->fd = p->out_gone ? -1 : p->out;
	pfd->events = down_pending(p) && !writer_holding(p) ? POLLOUT : 0;
	if (p->jobs == PUMP_PIPES || (p->jobs > 0 && !writer_due(p, &p->down))) {
		pfd->fd = writer_fd(p->writer);
		pfd->events = POLLIN;
	}
}

/*
 * Whether the output is written now, without a poll: a regular file is
 * always ready, so a poll for it would only cost a syscall.
 */
static int
out_ready(const struct pump *p)
{
	struct pollfd pfd;

	if (!p->out_regular)
		return 0;
	out_slot(p, &pfd);
	return pfd.fd == p->out && pfd.events == POLLOUT;
}

/*
 * Whether a receive has room to land in: back-pressure from the output.
 * A record layer's reader offers room for a whole record (dir_sizes()'s
 * need); bytes a splice path left in the pipe go first.
 */
static int
buf_ready(const struct pump *p, const struct dir *d)
{
	(void)p;
	return dir_ready(d) && d->held == 0;
}

static int
pipe_ready(const struct pump *p, const struct dir *d)
{
	return d->pipe[0] == -1 || (dir_pipe_room(d) && p->jobs < PUMP_PIPES);
}

static int
batch_ready(const struct pump *p, const struct dir *d)
{
	(void)d;
	return p->batch->next == p->batch->n;
}

/*
 * What poll waits for before a fill (LOOP_READ) or a send (LOOP_WRITE):
 * what the endpoint last said.  A record layer's read may wait for
 * POLLOUT and its write for POLLIN (renegotiation).  A stream's read
 * also asks whether the peer's end is in (net_take), and the splice
 * path's whether urgent data waits (splice_in): both only while the
 * peer is read, as neither goes away until it is.
 */
static short
net_events(const struct pump *p, int dir)
{
	short ev;

	if (dir != LOOP_READ)
		return p->c.want_out;
	ev = p->c.want_in;
	if ((ev & POLLIN) && !p->c.dgram)
		ev |= POLLRDHUP;
	if ((ev & POLLIN) && p->c.zc_recv && p->c.tcp)
		ev |= POLLPRI;
	return ev;
}

/*
 * The output's drain: the writer thread's while it runs or holds pipes,
 * the pump's own splice while the socket side splices, read-back while
 * bytes a refused or abandoned splice path left wait in the pipe, else
 * the copy loop's write.
 */
static int
(*sink_pick(const struct pump *p, const struct dir *d))(struct pump *,
    struct dir *)
{
	if (p->c.batching)
		return batch_drain;
	if (p->jobs > 0 || (p->c.zc_recv && p->c.threaded && p->writer != NULL))
		return writer_sink;
	if (p->c.zc_recv)
		return splice_drain;
	return d->held > 0 ? readback_drain : stdio_drain;
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
	struct endpoint *l = &p->c.local, *r = &p->c.remote;

	l->to = r->from = &p->up;
	r->to = l->from = &p->down;
	l->name = p->c.zc_send ? "sendfile" : p->o->crlf ? "crlf" : "stdio";
	l->fill = p->c.zc_send ? sendfile_fill : p->o->crlf ? crlf_fill :
	    stdio_fill;
	l->direct = p->c.zc_send;
	l->drain = sink_pick(p, l->from);
	r->name = p->c.zc_recv ? "splice" : p->c.batching ? "recvmmsg" :
	    p->c.ep.ops->name;
	r->fill = p->c.zc_recv ? splice_in : p->c.batching ? batch_fill :
	    p->c.dgram ? dgram_fill : stream_fill;
	r->drain = l->direct ? direct_drain : net_drain;
	r->send = p->c.unconnected ? dgram_send : stream_send;
	r->ready = p->c.zc_recv ? pipe_ready : p->c.batching ? batch_ready :
	    buf_ready;
	r->events = net_events;
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
input_broken(struct pump *p, struct dir *d)
{
	(void)p;
	warn("stdin");
	d->failed = d->eof = 1;
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
	p->down.failed = p->down.eof = 1;
	return -1;
}

/* Make d's buffer, or grow it to this connection's size; no memory exits. */
static void
buf_make(struct dir *d)
{
	if (dir_buf(d) == -1)
		errx(NP_EXIT_FAIL, "pump: out of memory");
}

/*
 * Room for the next read of input into d, the buffer made if need be; a
 * datagram has a largest size.
 */
static size_t
up_room(struct pump *p, struct dir *d)
{
	size_t room;

	buf_make(d);
	room = dir_room(d);
	if (p->c.dgram && room > PUMP_DGRAM_MAX)
		room = PUMP_DGRAM_MAX;
	d->asked = room;
	return room;
}

/*
 * Read input through its endpoint: a byte count, 0 at its end, -1 when
 * it broke, or NTLS_WANT.
 */
static ssize_t
input_read(struct pump *p, void *d, size_t len)
{
	const char *why = NULL;
	short ev;

	return p->in_ep.ops->recv(&p->in_ep, d, len, &ev, &why);
}

/* After a read of input into d: its end, a failure, or bytes that came. */
static int
input_done(struct pump *p, struct dir *d, ssize_t n)
{
	if (n == 0)
		d->eof = 1;
	if (n == -1)
		return input_broken(p, d);
	if (n > 0)
		touch(p);
	return -1;
}

/* Plain input: read into the outgoing buffer as it is. */
static int
stdio_fill(struct pump *p, struct dir *d)
{
	size_t room = up_room(p, d);
	ssize_t n;

	if (room == 0)
		return -1;
	if ((n = input_read(p, d->buf + d->end, room)) > 0)
		dir_filled(d, n, n);
	return input_done(p, d, n);
}

/* -C: a layer over plain input; expansion at most doubles what is read. */
static int
crlf_fill(struct pump *p, struct dir *d)
{
	size_t room = up_room(p, d);
	ssize_t n;

	if (room == 0)
		return -1;
	d->asked = room / 2 > 0 ? room / 2 : 1;
	n = input_read(p, p->scratch, d->asked);
	if (n > 0)
		dir_filled(d, n, filter_crlf(&p->filter, p->scratch, n,
		    d->buf + d->end));
	return input_done(p, d, n);
}

/*
 * The splice sink: the pump moves the pipe into the output itself.  A
 * regular file's connection that proves bulk switches to the writer
 * sink once its thread is made; one that cannot have it stays here.
 */
static int
splice_drain(struct pump *p, struct dir *d)
{
	if (p->c.threaded && d->held > 0 && writer_ready(p, d)) {
		ends_pick(p);
		return writer_drain(p, d);
	}
	if (d->held > 0)
		return splice_out(p, d);
	return stdio_drain(p, d);
}

/*
 * The writer sink: the thread takes the pipes.  It may still hold jobs
 * after the socket side went to the copy loop; the buffer then waits
 * for both pipes, and the copy sink takes over once they are empty.
 */
static int
writer_sink(struct pump *p, struct dir *d)
{
	int rc;

	if (p->jobs > 0 || d->held > 0) {
		if ((rc = writer_drain(p, d)) != -1 || p->c.zc_recv ||
		    p->jobs > 0 || d->held > 0)
			return rc;
		ends_pick(p);
		return -1;
	}
	return stdio_drain(p, d);
}

/*
 * The sink after splice was refused, or after the socket side went to
 * the copy loop at the urgent mark: what is in the pipe is read back
 * into the buffer, then written as stdio_drain does, so nothing is lost
 * and the order holds.  The copy sink takes over once the pipe is empty.
 */
static int
readback_drain(struct pump *p, struct dir *d)
{
	if (d->start == d->end && d->held > 0) {
		if (dir_pipe_readback(d) == -1)
			return errno == EINTR ? -1 : io_failed("pipe");
		if (d->held == 0)
			ends_pick(p);
	}
	return stdio_drain(p, d);
}

/* Write the incoming buffer to the output: -1 to go on, or an exit code. */
static int
stdio_drain(struct pump *p, struct dir *d)
{
	const char *why = NULL;
	short ev;
	ssize_t n;

	if (d->start == d->end) {
		/*
		 * Only POLLERR or POLLHUP can bring us here: the reader left
		 * with nothing of ours pending here (out_failed counts what
		 * it left unread in a pipe).
		 */
		errno = EPIPE;
		return out_failed(p);
	}
	n = p->out_ep.ops->send(&p->out_ep, d->buf + d->start,
	    d->end - d->start, 0, &ev, &why);
	if (n == NTLS_WANT)
		return -1;
	if (n == -1)
		return out_failed(p);
	dir_consumed(d, n);
	touch(p);
	return -1;
}

/*
 * Room for a receive in the incoming buffer d, made if need be, paced by
 * --rate: 0 if none.
 */
static size_t
down_room(struct pump *p, struct dir *d)
{
	size_t room;

	buf_make(d);
	room = dir_room(d);
	d->asked = room == 0 ? 0 : rate_limit(p, METER_RECV, room);
	return d->asked;
}

/*
 * After a receive of a datagram of n bytes from a sender: its failure,
 * a datagram not taken, the end of a SOCK_SEQPACKET stream, or bytes
 * kept.  A zero-length datagram is a packet, not an end of stream.
 */
static int
recv_done(struct pump *p, struct dir *d, ssize_t n,
    const struct sockaddr *from, socklen_t len)
{
	if (n == NTLS_WANT)
		return -1;
	if (n == -1)
		return net_broken(p, "recv");
	/* Into the buffer but not yet kept: d->end moves in received(). */
	if (!dgram_take(p, from, len))
		return -1;
	if (n == 0 && p->c.seqpacket) {
		d->eof = 1;
		return -1;
	}
	lowat_update(p, d, n);
	return received(p, d, n);
}

/*
 * A stream socket's receive, through its endpoint: recv(2), read(2) for
 * --io rw, or a record layer.  A record layer that failed said why.
 */
static int
stream_fill(struct pump *p, struct dir *d)
{
	size_t room = down_room(p, d);
	const char *why = NULL;
	ssize_t n;

	if (room == 0)
		return -1;
	n = p->c.ep.ops->recv(&p->c.ep, d->buf + d->end, room, &p->c.want_in,
	    &why);
	if (n == NTLS_WANT)
		return -1;
	if (n == EP_REPORTED)
		return net_broken(p, NULL);
	if (n == -1)
		return net_broken(p, "recv");
	if (n == 0) {
		/* libtls over OpenSSL 3: 0 is close_notify; a cut is -1. */
		d->eof = 1;
		return -1;
	}
	lowat_update(p, d, n);
	return received(p, d, n);
}

/* One datagram, judged by its sender. */
static int
dgram_fill(struct pump *p, struct dir *d)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	size_t room = down_room(p, d);
	ssize_t n;

	if (room == 0)
		return -1;
	/* Apart from recv_done's call: it takes len as recvfrom leaves it. */
	n = p->c.ep.ops->recvfrom(&p->c.ep, d->buf + d->end, room,
	    (struct sockaddr *)&from, &len, &p->c.want_in);
	return recv_done(p, d, n, (struct sockaddr *)&from, len);
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
	if (p->c.locklen != 0)
		return len == p->c.locklen && memcmp(sa, &p->c.lock, len) == 0;
	if (!p->c.unconnected)
		return 1;
	if (p->acl != NULL && !acl_dgram(p->o, p->acl, sa, len))
		return 0;
	if (len > sizeof(p->c.peer))
		len = sizeof(p->c.peer);
	memcpy(&p->c.peer, sa, len);
	p->c.peerlen = len;
	return 1;
}

/*
 * After a receive of n bytes: a large one raises SO_RCVLOWAT (bulk).
 * The next poll then wakes when a good part of the buffer can be filled
 * at once, or at the end of the stream, or PUMP_LOWAT_MS after the last
 * large receive, when pump_before lowers the mark to a byte again: a
 * burst's tail is late by a millisecond at most.  A small receive leaves
 * the mark be; it is often a full pipe, not the end of a burst.
 */
static void
lowat_update(struct pump *p, const struct dir *d, size_t n)
{
	size_t cap = p->c.zc_recv ? d->pipesz : d->cap;

	if (!p->c.lowat_ok || n < PUMP_BULK)
		return;
	np_deadline_set(&p->c.lowat_end, PUMP_LOWAT_MS);
	lowat_set(p, cap / 2 < PUMP_LOWAT ? cap / 2 : PUMP_LOWAT);
}

static void
lowat_set(struct pump *p, int bytes)
{
	if (bytes == p->c.lowat)
		return;
	if (setsockopt(p->c.net, SOL_SOCKET, SO_RCVLOWAT, &bytes,
	    sizeof(bytes)) == -1) {
		p->c.lowat_ok = 0;
		return;
	}
	p->c.lowat = bytes;
}

/* n bytes landed at the end of d's buffer: count, filter, keep. */
static int
received(struct pump *p, struct dir *d, size_t n)
{
	p->c.packets++;
	dir_filled(d, n, moved(p, METER_RECV, d->buf + d->end, n));
	return -1;
}

/*
 * Bytes of the outgoing buffer that may go now.  With --send-flags oob
 * the last byte of input is held back until EOF says it is the last.
 */
static size_t
sendable(const struct pump *p, const struct dir *d)
{
	size_t len = d->end - d->start;

	if (p->o->send_oob && !d->eof && len > 0)
		len--;
	return len;
}

/*
 * Send the outgoing buffer: whole (one datagram) for UDP, one line at a
 * time with -i; -t's refusals first, as nc.openbsd writes them at once.
 * -1 to go on, or an exit code.
 */
static int
net_drain(struct pump *p, struct dir *d)
{
	struct conn *c = &p->c;
	int tn = c->tn_len > 0, flags = MSG_NOSIGNAL | MSG_DONTWAIT, i;
	size_t len = tn ? c->tn_len : sendable(p, d);
	unsigned char *data = tn ? c->tn : d->buf + d->start;
	ssize_t n;

	if (p->down.failed)
		return -1;	/* the peer is gone; one message is enough */
	if (len == 0)
		return -1;
	for (i = 0; !tn && i < c->nshapes; i++)
		len = c->shape[i](p, d, len, &flags);
	n = c->remote.send(p, data, len, flags);
	if (n == NTLS_WANT)
		return -1;
	if (n == PUMP_SEND_FAILED)
		return NP_EXIT_FAIL;
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		return send_failed();
	}
	if (c->dgram)
		n = len;
	moved(p, METER_SENT, data, n);
	if (tn) {
		c->tn_len -= n;
		memmove(c->tn, c->tn + n, c->tn_len);
	} else
		dir_consumed(d, n);
	return -1;
}

/*
 * The socket's drain when a direct source (sendfile) feeds it: -t's
 * refusals and what the copy loop left in the buffer (a -k peer's unsent
 * bytes, or those read before a refusal) go first, then the source
 * writes the socket.
 */
static int
direct_drain(struct pump *p, struct dir *d)
{
	if (d->start != d->end || p->c.tn_len > 0 || p->down.failed)
		return net_drain(p, d);
	return p->c.local.fill(p, d);
}

/* A stream's send, through its endpoint; flags as send(2)'s. */
static ssize_t
stream_send(struct pump *p, void *d, size_t len, int flags)
{
	const char *why = NULL;

	return p->c.ep.ops->send(&p->c.ep, d, len, flags, &p->c.want_out,
	    &why);
}

/* UDP -k: to whoever sent last. */
static ssize_t
dgram_send(struct pump *p, void *d, size_t len, int flags)
{
	return p->c.ep.ops->sendto(&p->c.ep, d, len, flags,
	    (struct sockaddr *)&p->c.peer, p->c.peerlen, &p->c.want_out);
}

/*
 * -t: strip telnet commands from what arrived and queue the refusals
 * for this connection alone (a peer that leaves takes its own along).
 */
static size_t
telnet(struct pump *p, unsigned char *d, size_t n)
{
	struct conn *c = &p->c;
	size_t replied = 0, kept;

	kept = filter_telnet(&p->filter, d, n, c->tn + c->tn_len,
	    sizeof(c->tn) - c->tn_len, &replied);
	c->tn_len += replied;
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

	p->c.batching = 0;
	if (!p->c.dgram || !inet || o->telnet || o->rate > 0 ||
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
	p->c.batching = 1;
}

/*
 * Take what the socket holds, up to a batch (and no more than -W has
 * left), with the checks net_fill makes for one datagram.  The batch,
 * not d's buffer, holds them until batch_drain.  -1 to go on, or an exit
 * code.
 */
static int
batch_fill(struct pump *p, struct dir *d)
{
	struct batch *bt = p->batch;
	long long left = p->o->recv_limit - p->c.packets;
	struct msghdr *h;
	int i, n, want = PUMP_BATCH;

	(void)d;
	if (p->o->recv_limit > 0 && left < want)
		want = (int)left;
	for (i = 0; i < want; i++)
		bt->msg[i].msg_hdr.msg_namelen = sizeof(bt->from[i]);
	n = recvmmsg(p->c.net, bt->msg, want, MSG_DONTWAIT, NULL);
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
		p->c.packets++;
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
 * datagram per read.  The batch stands for d's buffer.  -1 to go on, or
 * an exit code.
 */
static int
batch_drain(struct pump *p, struct dir *d)
{
	struct batch *bt = p->batch;
	struct iovec v[PUMP_BATCH];
	size_t skip;
	ssize_t n;
	int i, k = 0;

	(void)d;

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

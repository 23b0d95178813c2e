/*
 * broker.c: a listener that serves many peers at once, from the event
 * loop (loop.c) over non-blocking sockets, with no thread or process per
 * peer.
 *
 * Three ways of routing share the loop:
 *  - fan (-k --max-conns N): standard input goes to every peer, what any
 *    peer sends goes to standard output, as ncat -k does;
 *  - broker (--broker): what a peer sends goes to every other peer;
 *  - chat (--chat): the broker for people, line by line, each line
 *    prefixed with the sender's name.
 *
 * Every peer has an output queue bounded by --queue-size.  A peer that
 * cannot keep up therefore costs at most that much memory: it is
 * dropped when its queue would overflow, or with --broker-block the
 * senders are no longer read until it catches up.  Fan mode always
 * blocks, as the pump does.  A UDP broker relays datagrams instead.
 *
 * Before each round of the loop every descriptor is registered with the
 * events it waits for and a callback for each (ev_add); the loop hands
 * what poll answers to them (hub_event).
 *
 * With -w a peer that moves no data for that long is closed as if it had
 * left.  Each peer keeps its own deadline and a loop timer that wakes the
 * loop for it: the clock is read once a round, not once a peer.
 *
 * With --tls every peer speaks TLS, and nothing in the loop may block
 * for one of them: a peer's handshake is taken a step at a time as its
 * socket allows, within a time bound, and it joins (is relayed to,
 * counted, announced) only once the handshake is done.  libtls may want
 * to write in order to read and read in order to write, so a peer
 * registers what its read side and what its write side wait for.
 * --passphrase peers are taken the same way, through pp.c; a peer with a
 * wrong phrase is dropped and stops the accepting for HUB_GUESS_MS.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/* One read from a peer or stdin; a chat reads less, people type slowly. */
#define HUB_READSZ	(64 * 1024)
#define HUB_CHAT_READSZ	4096
/*
 * --passphrase: a wrong phrase stops the accepting for this long, as it
 * does a forwarder's (forward.c): online guessing stays at one a second,
 * and nobody can end the hub by guessing.
 */
#define HUB_GUESS_MS	1000
/* --queue-size and --max-conns (with --broker) by default. */
#define HUB_QUEUE_DEF	(1024 * 1024)
#define HUB_CONNS_DEF	100
/* An emptied queue keeps a buffer up to this size, and frees larger. */
#define HUB_KEEP	(16 * 1024)
/* The most one write to stdout is asked to take. */
#define HUB_WRITESZ	(64 * 1024)
/* Chat lines longer than CHAT_LINE go out in pieces; names, CHAT_NICK. */
#define CHAT_LINE	1024
#define CHAT_OBUF	(16 * 1024)
/*
 * The most one chat line puts in a queue: "<nick> ", its text with every
 * control byte shown as two ("^M"), and '\n'.  An announcement is
 * shorter.  A chat queue holds at least this much, so a line can go.
 */
#define CHAT_OUT_MAX	(CHAT_NICK + 4 + 2 * CHAT_LINE)

enum hub_mode { HUB_FAN, HUB_BROKER, HUB_CHAT };

struct hub;

/*
 * One registered descriptor, by fd: rev and wev are the events that
 * call rproc and wproc: for a TLS peer's read side POLLOUT may be the
 * one.
 */
struct ev {
	int	 on;	/* registered with the loop */
	short	 rev;
	short	 wev;
	void	(*rproc)(struct hub *, void *);
	void	(*wproc)(struct hub *, void *);
	void	*data;
};

/* Bytes waiting to be written, in one buffer that grows to the bound. */
struct queue {
	unsigned char	*data;
	size_t		 start;
	size_t		 end;
	size_t		 cap;
};

struct peer {
	int		 fd;
	struct hub	*hub;
	int		 dead;	/* closed at the end of this round */
	int		 logged; /* its end was reported already */
	int		 shut;	/* fan -N: write side shut down */
	int		 closing; /* fan -N: close_notify waits to go */
	int		 bye;	/* ended cleanly, with all it was sent */
	struct tls	*tls;	/* --tls: this peer's session */
	struct pp	*pp;	/* --passphrase: likewise */
	int		 hs;	/* handshaking, not joined yet */
	struct timespec	 hs_end; /* when the handshake is given up */
	struct timespec	 idle_end; /* -w: when it is closed as idle */
	long long	 timer;	/* wakes the loop at its deadline, or 0 */
	int		 due;	/* the timer fired: hub_expire looks */
	int		 held;	/* -w: held back by back-pressure */
	short		 rwait;	/* what a read (or handshake) waits for */
	short		 wwait;	/* what a write waits for */
	size_t		 wpend;	/* TLS: bytes of a write to repeat */
	unsigned	 id;
	char		 name[NP_PEER_NAMELEN];
	char		 nick[CHAT_NICK + 1];
	struct queue	 out;
	/*
	 * --broker-block: what was read from it but had no room yet in the
	 * queues it goes to.  It is not read again until this is gone.
	 */
	struct queue	 pend;
	unsigned char	*line;	/* chat: a line not yet ended */
	size_t		 linelen;
	int		 cut;	/* chat: the last piece was cut at CHAT_LINE */
};

struct hub {
	const struct np_opts	*o;
	const struct acl	*acl;
	enum hub_mode		 mode;
	int			 drop;	/* full peer: drop, or block */
	int			 lossy;	/* sending what may be left out */
	int			 lfd;
	struct loop		*loop;
	struct acl_listener	 al;	/* lfd, when there is one */
	int			 listening;
	int			 freed;	/* a peer left this round */
	struct ev		*ev;	/* by fd */
	size_t			 nev;
	struct tls		*server; /* --tls: accepts peers */
	struct pp_secret	*sec;	/* --passphrase, or NULL */
	unsigned long long	 guessed; /* wrong passphrases */
	long long		 guess_timer; /* the pause after one, or 0 */
	struct peer		**peers;
	size_t			 npeers;
	size_t			 joined; /* peers past the handshake */
	size_t			 maxpeers;
	size_t			 qmax;
	size_t			 readsz;
	unsigned		 nextid;
	int			 accepted; /* some peer was let in */
	long long		 accept_timer; /* --accept-timeout */
	int			 due;	/* some peer's timer fired */
	int			 round;	/* idle_end is not this round's yet */
	struct timespec		 idle_end; /* -w: for data moved now */
	unsigned char		*rbuf;
	unsigned char		*obuf;	/* chat: lines to send */
	size_t			 olen;
	int			 in_eof; /* fan: stdin */
	struct queue		 outq;	/* fan: to stdout */
	int			 rc;	/* -1 while serving */
};

/* A peer of the UDP broker: an address that has sent a datagram. */
struct dpeer {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	unsigned long long	 last;	/* when it last sent */
	struct timespec		 idle_end; /* -w: dropped unheard at */
	long long		 timer;	/* -w: its loop timer, or 0 */
};

/* The UDP broker: its peers, and what its loop waits for. */
struct dhub {
	const struct np_opts	*o;
	const struct acl	*acl;
	struct loop		*loop;
	struct dpeer		*tab;
	size_t			 ntab;
	unsigned char		*buf;
	unsigned long long	 now;	/* datagrams let in, as a clock */
	int			 rc;	/* -1 while serving */
};

static size_t	 queue_len(const struct queue *);
static int	 queue_push(struct queue *, const void *, size_t);
static void	 queue_consumed(struct queue *, size_t);
static void	 ev_add(struct hub *, int, short, short,
		    void (*)(struct hub *, void *),
		    void (*)(struct hub *, void *), void *);
static void	 ev_del(struct hub *, int);
static void	 hub_event(struct loop *, int, int, void *);
static void	 hub_register(struct hub *);
static void	 hub_listen(struct hub *);
static void	 peer_register(struct hub *, struct peer *, int);
static const struct timespec *peer_deadline(const struct hub *,
		    const struct peer *);
static int	 peer_due(struct loop *, long long, void *);
static int	 hub_timeout(struct loop *, long long, void *);
static void	 hub_expire(struct hub *);
static int	 hub_accept(struct acl_listener *, int, const char *);
static void	 hub_accept_fail(struct acl_listener *);
static void	 hub_sweep(struct hub *);
static void	 hub_free(struct hub *);
static int	 hub_init(struct hub *, const struct np_opts *,
		    const struct acl *, int, struct tls *, struct pp_secret *);
static void	 hub_guessed(struct hub *, struct peer *);
static int	 hub_guess_over(struct loop *, long long, void *);
static ssize_t	 peer_io(struct peer *, int, void *, size_t, short *);
static void	 peer_eof_held(struct hub *, struct peer *);
static void	 peer_add(struct hub *, int, const char *);
static void	 peer_handshake(struct hub *, void *);
static void	 peer_join(struct hub *, struct peer *);
static void	 peer_touch(struct hub *, struct peer *);
static void	 peer_end(struct hub *, struct peer *, int, const char *);
static void	 peer_close(struct peer *, int);
static void	 peer_kill(struct hub *, struct peer *, const char *);
static int	 peer_leave(struct hub *, struct peer *);
static void	 peer_shut(struct peer *);
static ssize_t	 peer_out(struct hub *, struct peer *, const void *,
		    size_t);
static void	 peer_send(struct hub *, struct peer *, const void *,
		    size_t);
static void	 peer_read(struct hub *, void *);
static size_t	 peer_deliver(struct hub *, struct peer *, const void *,
		    size_t);
static size_t	 hub_room(const struct hub *, const struct peer *);
static int	 peer_full(const struct hub *, const struct peer *);
static void	 hub_backlog(struct hub *);
static void	 peer_write(struct hub *, void *);
static void	 relay(struct hub *, struct peer *, const void *, size_t);
static void	 fan_stdin(struct hub *, void *);
static void	 fan_stdout(struct hub *, void *);
static size_t	 fan_room(const struct hub *, const struct peer *);
static size_t	 announce(struct hub *, struct peer *, struct peer *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static size_t	 chat_input(struct hub *, struct peer *,
		    const unsigned char *, size_t);
static size_t	 chat_line(struct hub *, struct peer *,
		    const unsigned char *, size_t);
static size_t	 chat_flush(struct hub *, struct peer *);
static void	 chat_batch(struct hub *, struct peer *);
static size_t	 chat_nick(struct hub *, struct peer *, const char *,
		    size_t);
static const char *chat_nick_bad(const struct hub *, const char *, size_t);
static struct dpeer *dgram_peer(const struct np_opts *, struct dpeer **,
		    size_t *, const struct sockaddr_storage *, socklen_t,
		    unsigned long long);
static int	 dgram_due(struct loop *, long long, void *);
static int	 dgram_timeout(struct loop *, long long, void *);
static void	 dgram_ready(struct loop *, int, int, void *);
static int	 dgram_run(const struct np_opts *, const struct acl *, int);

static size_t
queue_len(const struct queue *q)
{
	return q->end - q->start;
}

/*
 * Append n bytes, growing the buffer by doubling.  The bound is the
 * caller's business.  Returns 0, or -1 when memory ran out.
 */
static int
queue_push(struct queue *q, const void *p, size_t n)
{
	size_t len = queue_len(q), cap;
	unsigned char *d;

	if (q->end + n > q->cap && q->start > 0) {
		memmove(q->data, q->data + q->start, len);
		q->start = 0;
		q->end = len;
	}
	if (q->end + n > q->cap) {
		for (cap = q->cap > 0 ? q->cap : 4096; cap < len + n; cap *= 2)
			;
		if ((d = realloc(q->data, cap)) == NULL)
			return -1;
		q->data = d;
		q->cap = cap;
	}
	memcpy(q->data + q->end, p, n);
	q->end += n;
	return 0;
}

/* An emptied queue gives its memory back, so idle peers cost little. */
static void
queue_consumed(struct queue *q, size_t n)
{
	q->start += n;
	if (q->start < q->end)
		return;
	q->start = q->end = 0;
	if (q->cap > HUB_KEEP) {
		free(q->data);
		q->data = NULL;
		q->cap = 0;
	}
}

/*
 * Register fd for this round: rev calls rproc, wev calls wproc.  A
 * descriptor that waits for nothing leaves the loop, so that a hang-up
 * it has not been asked about cannot spin it.
 */
static void
ev_add(struct hub *h, int fd, short rev, short wev,
    void (*rproc)(struct hub *, void *), void (*wproc)(struct hub *, void *),
    void *data)
{
	struct ev *e;
	size_t n;
	short all = rev | wev;

	if ((size_t)fd >= h->nev) {
		for (n = h->nev > 0 ? h->nev : 64; n <= (size_t)fd; n *= 2)
			;
		if ((e = reallocarray(h->ev, n, sizeof(*e))) == NULL)
			err(NP_EXIT_FAIL, "reallocarray");
		memset(e + h->nev, 0, (n - h->nev) * sizeof(*e));
		h->ev = e;
		h->nev = n;
	}
	e = &h->ev[fd];
	if (all == 0) {
		if (e->on)
			loop_fd_del(h->loop, fd);
		e->on = 0;
		return;
	}
	/* fd is open (h->ev has its slot): only memory can be wanting. */
	if (loop_fd(h->loop, fd, ((all & POLLIN) ? LOOP_READ : 0) |
	    ((all & POLLOUT) ? LOOP_WRITE : 0), hub_event, h) == -1)
		errx(NP_EXIT_FAIL, "broker: out of memory");
	*e = (struct ev){ .on = 1, .rev = rev, .wev = wev, .rproc = rproc,
	    .wproc = wproc, .data = data };
}

/* Stop watching fd, which is about to be closed. */
static void
ev_del(struct hub *h, int fd)
{
	ev_add(h, fd, 0, 0, NULL, NULL, NULL);
}

/*
 * Hand what poll said about fd to its callbacks.  An error or hang-up
 * goes to the callback that was asked for, which sees it as a failed
 * read or write.  A peer a callback killed gets no more calls; it is
 * freed in hub_sweep, so no pointer here goes stale.  Once the exit code
 * is decided the round ends.
 */
static void
hub_event(struct loop *l, int fd, int fired, void *arg)
{
	struct hub *h = arg;
	struct ev *e = &h->ev[fd];
	short rev;

	rev = ((fired & LOOP_READ) ? POLLIN : 0) |
	    ((fired & LOOP_WRITE) ? POLLOUT : 0) |
	    ((fired & LOOP_HUP) ? POLLHUP : 0) |
	    ((fired & LOOP_ERR) ? POLLERR : 0);
	if (h->rc == -1 && e->rev != 0 && (rev & (e->rev | POLLERR | POLLHUP)))
		e->rproc(h, e->data);
	if (h->rc == -1 && (e->data == h || !((struct peer *)e->data)->dead) &&
	    e->wev != 0 && (rev & (e->wev | POLLERR | POLLHUP)))
		e->wproc(h, e->data);
	if (h->rc != -1)
		loop_stop(l);
}

/*
 * Decide what each descriptor waits for in this round.  This is where
 * back-pressure lives: a reader whose data has nowhere to go is left out
 * of the poll set until there is room again.
 */
static void
hub_register(struct hub *h)
{
	size_t i, full = 0, fullpeer = 0;
	int reading;

	hub_listen(h);
	for (i = 0; i < h->npeers; i++)
		if (peer_full(h, h->peers[i])) {
			full++;
			fullpeer = i;
		}
	if (h->mode == HUB_FAN) {
		ev_add(h, STDIN_FILENO, !h->in_eof && h->joined > 0 &&
		    full == 0 ? POLLIN : 0, 0, fan_stdin, NULL, h);
		ev_add(h, STDOUT_FILENO, 0, queue_len(&h->outq) > 0 ?
		    POLLOUT : 0, NULL, fan_stdout, h);
	}
	for (i = 0; i < h->npeers; i++) {
		if (h->mode == HUB_FAN)
			reading = fan_room(h, h->peers[i]) > 0;
		else if (h->drop)
			reading = 1;
		else
			/*
			 * A broker peer that alone is full may still send to
			 * the others; a chat peer's own queue takes the
			 * answers to what it sends, so a full one is not read.
			 */
			reading = queue_len(&h->peers[i]->pend) == 0 &&
			    (full == 0 || (h->mode == HUB_BROKER &&
			    full == 1 && fullpeer == i));
		/*
		 * For -w: a peer that is not read, or not sent stdin, because
		 * another is full is silent by the hub's doing, not its own.
		 */
		h->peers[i]->held = !reading ||
		    (h->mode == HUB_FAN && !h->in_eof && full > 0);
		peer_register(h, h->peers[i], reading);
	}
}

/*
 * Accept while there is room (only the first peer in fan mode without
 * -k).  Room a peer left ends a pause for descriptors at once.
 */
static void
hub_listen(struct hub *h)
{
	if (!h->listening)
		return;
	if (h->npeers >= h->maxpeers ||
	    (!h->o->keep_open && h->mode == HUB_FAN && h->accepted))
		acl_listen_end(&h->al);
	else if (h->guess_timer != 0)
		acl_listen_hold(&h->al);	/* after a wrong passphrase */
	else if (h->freed || (h->al.held && h->al.pause == 0))
		acl_listen_resume(&h->al);
	h->freed = 0;
}

/*
 * What p waits for in this round: its handshake's wish, or reading
 * (when what it sends has room to go) and writing (when it has
 * something to be sent), each as its side of TLS asks.  A peer with a
 * deadline has a timer to wake the loop for it: set when it gets one,
 * it sees to itself after that (peer_due).
 */
static void
peer_register(struct hub *h, struct peer *p, int reading)
{
	if (p->timer == 0 && peer_deadline(h, p) != NULL &&
	    (p->timer = loop_timer(h->loop, np_deadline_ms(peer_deadline(h,
	    p)), peer_due, p)) == -1)
		err(NP_EXIT_FAIL, "calloc");
	if (p->hs) {
		ev_add(h, p->fd, p->rwait, 0, peer_handshake, NULL, p);
		return;
	}
	if (h->mode == HUB_FAN && h->in_eof && h->o->shutdown_wr &&
	    !p->shut && !p->closing && queue_len(&p->out) == 0)
		peer_shut(p);
	ev_add(h, p->fd, reading ? p->rwait : 0,
	    queue_len(&p->out) > 0 || p->closing ? p->wwait : 0,
	    peer_read, peer_write, p);
}

/*
 * When p is given up unless something happens first: the end of its
 * handshake or, with -w, of its idle time.  NULL when there is none: no
 * -w, or the hub holds p back (hub_register) with nothing queued for it,
 * so that its silence is not its own.  Its clock is not stopped: once
 * read again, it goes unless it moves data in that round.
 */
static const struct timespec *
peer_deadline(const struct hub *h, const struct peer *p)
{
	if (p->dead)
		return NULL;
	if (p->hs)
		return &p->hs_end;
	if (h->o->wait_ms <= 0 || (p->held && queue_len(&p->out) == 0))
		return NULL;
	return &p->idle_end;
}

/*
 * p's timer: while its deadline is ahead, wait on for it (the deadline
 * moves on each time p moves data, and the timer with it only now); once
 * it has passed, hub_expire gives p up after this round's reads.  With no
 * deadline (held back) the timer ends; peer_register sets it again.
 */
static int
peer_due(struct loop *l, long long id, void *arg)
{
	struct peer *p = arg;
	const struct timespec *d;
	int ms;

	(void)l;
	(void)id;
	if ((d = peer_deadline(p->hub, p)) != NULL &&
	    (ms = np_deadline_ms(d)) > 0)
		return ms;
	p->timer = 0;
	if (d != NULL)
		p->due = p->hub->due = 1;
	return LOOP_NOMORE;
}

/* --accept-timeout: nobody came. */
static int
hub_timeout(struct loop *l, long long id, void *arg)
{
	struct hub *h = arg;

	(void)id;
	h->accept_timer = 0;
	if (!h->accepted) {
		acl_timeout(h->o);
		h->rc = NP_EXIT_FAIL;
		loop_stop(l);
	}
	return LOOP_NOMORE;
}

/*
 * Give up the peers whose time ran out: a handshake not done in time, so
 * that a peer that connects and says nothing cannot hold its place for
 * ever, and with -w a peer that moved no data for that long, which goes
 * as a peer that left does.  This runs after the round's reads, so a
 * peer that had data waiting was read, and kept, first.
 */
static void
hub_expire(struct hub *h)
{
	const struct timespec *d;
	struct peer *p;
	size_t i;

	if (!h->due)
		return;
	h->due = 0;
	for (i = 0; i < h->npeers; i++) {
		p = h->peers[i];
		if (!p->due)
			continue;
		p->due = 0;
		if ((d = peer_deadline(h, p)) == NULL || np_deadline_ms(d) > 0)
			continue;
		if (!p->hs) {
			peer_end(h, p, 1, NULL);
			continue;
		}
		warnx("%s: handshake: %s: %s", p->pp != NULL ? "passphrase" :
		    "tls", p->name, strerror(ETIMEDOUT));
		peer_kill(h, p, NULL);
	}
}

/* A peer let in; accept more while there is room. */
static int
hub_accept(struct acl_listener *al, int fd, const char *name)
{
	struct hub *h = al->data;

	loop_timer_del(h->loop, h->accept_timer);
	h->accept_timer = 0;
	peer_add(h, fd, name);
	return h->npeers < h->maxpeers;
}

/* accept(2) failed, after its message. */
static void
hub_accept_fail(struct acl_listener *al)
{
	struct hub *h = al->data;

	h->rc = NP_EXIT_FAIL;
	loop_stop(h->loop);
}

/*
 * A peer accepted: it joins at once, or with --tls once its handshake is
 * done.  The handshake is stepped from the loop (peer_handshake) within
 * -w, or NTLS_HANDSHAKE_MS without it; the first step is taken now, as
 * the client's hello has often arrived with its connection.
 */
static void
peer_add(struct hub *h, int fd, const char *name)
{
	struct peer *p;
	size_t cap;
	int one = 1;

	if (h->npeers % 64 == 0) {
		cap = h->npeers + 64;
		h->peers = reallocarray(h->peers, cap, sizeof(*h->peers));
		if (h->peers == NULL)
			err(NP_EXIT_FAIL, "reallocarray");
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		err(NP_EXIT_FAIL, "calloc");
	/*
	 * A relay is one more hop: with Nagle's algorithm each hop could
	 * hold a small message until the last one is acknowledged.  Reads
	 * are relayed whole, so this costs few extra packets.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->fd = fd;
	p->hub = h;
	p->id = ++h->nextid;
	p->rwait = POLLIN;
	p->wwait = POLLOUT;
	strlcpy(p->name, name, sizeof(p->name));
	snprintf(p->nick, sizeof(p->nick), "user%u", p->id);
	h->accepted = 1;
	if (h->server != NULL &&
	    (p->tls = ntls_accept_start(h->server, fd, p->name)) == NULL) {
		peer_close(p, 0);
		return;
	}
	if (h->sec != NULL && (p->pp = pp_new(h->sec, fd, 1, 0)) == NULL) {
		peer_close(p, 0);
		return;
	}
	h->peers[h->npeers++] = p;
	if (p->tls == NULL && p->pp == NULL) {
		peer_join(h, p);
		return;
	}
	p->hs = 1;
	np_deadline_set(&p->hs_end, h->o->wait_ms > 0 ? h->o->wait_ms :
	    NTLS_HANDSHAKE_MS);
	peer_handshake(h, p);
}

/*
 * One step of p's TLS or passphrase handshake, when its socket is ready
 * for it.  A passphrase peer joins only once both ends confirmed the key.
 */
static void
peer_handshake(struct hub *h, void *arg)
{
	struct peer *p = arg;
	int rc, before = h->sec != NULL ? h->sec->failures : 0;

	if (p->pp != NULL)
		rc = pp_handshake_step(p->pp, &p->rwait);
	else
		rc = ntls_accept_step(h->o, p->tls, p->name, &p->rwait);
	if (rc == 0) {
		if (p->pp != NULL && h->o->verbose > 0)
			fprintf(stderr, "Passphrase from %s: SPAKE2, %s\n",
			    p->name, pp_cipher(p->pp));
		peer_join(h, p);
	} else if (rc == -1) {
		if (p->pp != NULL && h->sec->failures != before)
			hub_guessed(h, p);
		peer_kill(h, p, NULL);
	}
}

/*
 * p's phrase was wrong: say so, and accept nobody for HUB_GUESS_MS;
 * peers already in stay.
 */
static void
hub_guessed(struct hub *h, struct peer *p)
{
	h->guessed++;
	warnx("%s: wrong passphrase (%llu so far): accepting again in %d ms",
	    p->name, h->guessed, HUB_GUESS_MS);
	if (!h->listening)
		return;
	acl_listen_hold(&h->al);
	loop_timer_del(h->loop, h->guess_timer);
	if ((h->guess_timer = loop_timer(h->loop, HUB_GUESS_MS,
	    hub_guess_over, h)) == -1)
		h->guess_timer = 0;	/* no timer: no pause */
}

/* The pause after a wrong passphrase is over: hub_listen() resumes. */
static int
hub_guess_over(struct loop *l, long long id, void *arg)
{
	struct hub *h = arg;

	(void)l;
	(void)id;
	h->guess_timer = 0;
	return LOOP_NOMORE;
}

/* p is in: counted, sent what the others send and, in a chat, greeted. */
static void
peer_join(struct hub *h, struct peer *p)
{
	p->hs = 0;
	p->rwait = POLLIN;
	peer_touch(h, p);
	h->joined++;
	if (h->o->verbose > 0)
		fprintf(stderr, "Peers connected: %zu\n", h->joined);
	if (h->mode != HUB_CHAT)
		return;
	announce(h, p, NULL, "<announce> <%s> has joined.\n", p->nick);
	announce(h, NULL, p, "<announce> you are <%s>; %zu other%s here.\n",
	    p->nick, h->joined - 1, h->joined == 2 ? " is" : "s are");
}

/*
 * -w: p moved data in this round, so its idle time starts again.  The
 * deadline is the round's, read once a round when the first peer moves
 * data, not a clock read per peer.
 */
static void
peer_touch(struct hub *h, struct peer *p)
{
	if (h->round && h->o->wait_ms > 0) {
		np_deadline_set(&h->idle_end, h->o->wait_ms);
		h->round = 0;
	}
	p->idle_end = h->idle_end;
}

/*
 * The end of p: its EOF (clean), a failure (why, logged with -v) or -w
 * (clean).  What it sent before is still delivered.  Over TLS, a clean
 * end with nothing left queued for p is answered with close_notify.
 */
static void
peer_end(struct hub *h, struct peer *p, int clean, const char *why)
{
	if (h->mode == HUB_CHAT) {
		h->lossy = 1;
		chat_flush(h, p);
		chat_batch(h, p);
		h->lossy = 0;
	}
	p->bye = clean && queue_len(&p->out) == 0;
	peer_kill(h, p, why);
}

/*
 * Close p's connection and free it.  With notify, a TLS peer past its
 * handshake is sent close_notify, which says that nothing was cut: one
 * try, not to wait on a peer that does not read.
 */
static void
peer_close(struct peer *p, int notify)
{
	short events;

	if (notify && p->tls != NULL && !p->hs)
		ntls_close_step(p->tls, &events);
	if (notify && p->pp != NULL && !p->hs)
		pp_close_step(p->pp, &events);
	ntls_free(p->tls);
	pp_free(p->pp);
	close(p->fd);
	free(p->out.data);
	free(p->pend.data);
	free(p->line);
	free(p);
}

/*
 * Mark p for closing at the end of this round; why, when not NULL, is
 * logged with -v.  Nothing is sent to it any more.
 */
static void
peer_kill(struct hub *h, struct peer *p, const char *why)
{
	if (p->dead)
		return;
	p->dead = 1;
	if (why != NULL && h->o->verbose > 0) {
		fprintf(stderr, "Connection closed on %s: %s\n", p->name, why);
		p->logged = 1;
	}
}

/*
 * Report that p has gone and, if it had joined, count it out; a chat
 * announces the leave.  Returns whether that sent anything.
 */
static int
peer_leave(struct hub *h, struct peer *p)
{
	if (h->o->verbose > 0 && !p->logged)
		fprintf(stderr, "Connection closed on %s\n", p->name);
	if (p->hs)
		return 0;
	h->joined--;
	if (h->o->verbose > 0)
		fprintf(stderr, "Peers connected: %zu\n", h->joined);
	if (h->mode != HUB_CHAT)
		return 0;
	announce(h, NULL, NULL, "<announce> <%s> has left.\n", p->nick);
	return 1;
}

/*
 * Close the peers that died in this round.  A chat announces each leave,
 * which may overflow another queue and kill that peer too, so repeat
 * until a pass finds nobody new.
 */
static void
hub_sweep(struct hub *h)
{
	struct peer *p;
	size_t i;
	int again = 1;

	while (again) {
		again = 0;
		for (i = 0; i < h->npeers;) {
			p = h->peers[i];
			if (!p->dead) {
				i++;
				continue;
			}
			h->peers[i] = h->peers[--h->npeers];
			h->freed = 1;
			ev_del(h, p->fd);
			loop_timer_del(h->loop, p->timer);
			again |= peer_leave(h, p);
			peer_close(p, p->bye);
		}
	}
}

/*
 * Fan -N: p has had all of stdin, so end what it is sent.  Over TLS
 * close_notify goes first, and may have to wait for room like a write.
 */
static void
peer_shut(struct peer *p)
{
	p->closing = (p->tls != NULL &&
	    ntls_close_step(p->tls, &p->wwait) == NTLS_WANT) ||
	    (p->pp != NULL && pp_close_step(p->pp, &p->wwait) == NTLS_WANT);
	if (p->closing)
		return;
	shutdown(p->fd, SHUT_WR);
	p->shut = 1;
}

/*
 * Write up to n bytes of d to p, plain or through TLS.  Returns the
 * count taken, 0 when the socket has no room (or TLS waits), or -1 once
 * p is killed.  A TLS write that waited is repeated with the bytes it
 * was given, no fewer: the caller has queued them, and libtls takes them
 * from where the queue keeps them now.
 */
static ssize_t
peer_out(struct hub *h, struct peer *p, const void *d, size_t n)
{
	ssize_t k;

	if (p->tls == NULL && p->pp == NULL) {
		k = send(p->fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k == -1 && errno != EAGAIN && errno != EINTR) {
			peer_kill(h, p, strerror(errno));
			return -1;
		}
	} else {
		if (p->wpend > 0)
			n = p->wpend;
		k = peer_io(p, 1, (void *)d, n, &p->wwait);
		p->wpend = k == NTLS_WANT ? n : 0;
		if (k == -1) {
			peer_kill(h, p, NULL);
			return -1;
		}
	}
	if (k <= 0)
		return 0;
	/* Only bytes the socket took count for -w, not bytes queued. */
	peer_touch(h, p);
	return k;
}

/*
 * Queue n bytes for p, writing at once what the socket takes when nothing
 * is queued ahead of them.  A peer whose queue would pass the bound is
 * dropped, unless senders are throttled instead (hub_register).  A peer
 * still in its handshake has not joined, and is sent nothing.
 */
static void
peer_send(struct hub *h, struct peer *p, const void *data, size_t n)
{
	const unsigned char *d = data;
	ssize_t k;

	if (p->dead || p->hs)
		return;
	if (queue_len(&p->out) == 0 && n > 0) {
		if ((k = peer_out(h, p, d, n)) == -1)
			return;
		d += k;
		n -= k;
	}
	if (n == 0)
		return;
	if (queue_len(&p->out) + n > h->qmax) {
		/*
		 * Blocking, data is read only when it has room (hub_register,
		 * peer_deliver).  An announcement of a join or a leave, or
		 * the last words of a peer that left, is left out rather than
		 * break the bound.  Anything else would be a bug in that
		 * reckoning, and it is queued, not lost: the fuzzer sees it.
		 */
		if (!h->drop && h->lossy)
			return;
		if (h->drop) {
			warnx("%s: output queue full (%zu bytes), peer "
			    "dropped", p->name, h->qmax);
			peer_kill(h, p, NULL);
			return;
		}
	}
	if (queue_push(&p->out, d, n) == -1) {
		warn("%s: peer dropped", p->name);
		peer_kill(h, p, NULL);
	}
}

/* Send what p's queue holds, as much as its socket takes. */
static void
peer_write(struct hub *h, void *arg)
{
	struct peer *p = arg;
	struct queue *q = &p->out;
	ssize_t n;

	if (p->closing) {
		peer_shut(p);
		return;
	}
	if (queue_len(q) > 0 &&
	    (n = peer_out(h, p, q->data + q->start, queue_len(q))) > 0)
		queue_consumed(q, n);
}

/*
 * A read or write through p's record layer, TLS or passphrase, as
 * ntls_peer_io() answers: a count, 0 at the end, -1 after a message, or
 * NTLS_WANT with *events.
 */
static ssize_t
peer_io(struct peer *p, int writing, void *d, size_t n, short *events)
{
	if (p->pp != NULL)
		return pp_io(p->pp, writing, d, n, events);
	return ntls_peer_io(p->tls, writing, d, n, events, p->name);
}

/*
 * A passphrase peer's end record can come in one read with its last
 * data, and then no poll wakes us for it: once what p sent has gone, p
 * ends here as if read again.
 */
static void
peer_eof_held(struct hub *h, struct peer *p)
{
	if (p->pp != NULL && !p->dead && queue_len(&p->pend) == 0 &&
	    pp_ended(p->pp))
		peer_end(h, p, 1, NULL);
}

/* What p sends goes to every other peer (broker and chat). */
static void
relay(struct hub *h, struct peer *from, const void *data, size_t n)
{
	size_t i;

	for (i = 0; i < h->npeers; i++)
		if (h->peers[i] != from)
			peer_send(h, h->peers[i], data, n);
}

/*
 * Read what p sends and route it.  Its end, a clean one with nothing
 * left queued for it, is answered with close_notify (peer_close): it
 * got everything.  A read error is logged by tls.c, or with -v here.
 */
static void
peer_read(struct hub *h, void *arg)
{
	struct peer *p = arg;
	const char *why = NULL;
	size_t k, want = h->readsz;
	ssize_t n;

	/* Fan: the peers read before p in this round may have filled it. */
	if (h->mode == HUB_FAN && (want = fan_room(h, p)) == 0)
		return;
	if (p->tls != NULL || p->pp != NULL) {
		n = peer_io(p, 0, h->rbuf, want, &p->rwait);
	} else if ((n = recv(p->fd, h->rbuf, want, MSG_DONTWAIT)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		why = strerror(errno);
	}
	if (n == NTLS_WANT)
		return;
	if (n <= 0) {
		peer_end(h, p, n == 0, why);
		return;
	}
	peer_touch(h, p);
	if (h->mode == HUB_FAN) {
		if (queue_push(&h->outq, h->rbuf, n) == -1) {
			warn("stdout");
			h->rc = NP_EXIT_FAIL;
		}
		peer_eof_held(h, p);
		return;
	}
	k = peer_deliver(h, p, h->rbuf, n);
	if ((size_t)n > k && queue_push(&p->pend, h->rbuf + k, n - k) == -1) {
		warn("%s: peer dropped", p->name);
		peer_kill(h, p, NULL);
	}
	peer_eof_held(h, p);
}

/*
 * Route n bytes that p sent: relayed (broker) or taken as chat lines.
 * With --broker-block only as much goes as every queue it goes to has
 * room for; returns how much that was, and the caller keeps the rest.
 */
static size_t
peer_deliver(struct hub *h, struct peer *p, const void *d, size_t n)
{
	size_t room;

	if (h->mode == HUB_CHAT)
		return chat_input(h, p, d, n);
	room = h->drop ? n : hub_room(h, p);
	if (n > room)
		n = room;
	if (n > 0)
		relay(h, p, d, n);
	return n;
}

/*
 * The room left in the fullest queue of the peers that have joined,
 * skip aside (NULL for none), or SIZE_MAX when there is no such peer.
 */
static size_t
hub_room(const struct hub *h, const struct peer *skip)
{
	const struct peer *q;
	size_t i, len, room = SIZE_MAX;

	for (i = 0; i < h->npeers; i++) {
		q = h->peers[i];
		if (q == skip || q->dead || q->hs)
			continue;
		len = queue_len(&q->out);
		if (len >= h->qmax)
			return 0;
		if (h->qmax - len < room)
			room = h->qmax - len;
	}
	return room;
}

/*
 * Whether p's queue has no room for one more read's worth of what it
 * is sent: any byte in a broker, a whole chat line in a chat.
 */
static int
peer_full(const struct hub *h, const struct peer *p)
{
	size_t need = h->mode == HUB_CHAT ? CHAT_OUT_MAX : 1;

	return queue_len(&p->out) + need > h->qmax;
}

/*
 * --broker-block: send on what senders had to keep (peer_read) as far as
 * the queues have room now.  Each round, before the poll set is made.
 */
static void
hub_backlog(struct hub *h)
{
	struct peer *p;
	size_t i, k;

	for (i = 0; i < h->npeers; i++) {
		p = h->peers[i];
		if (p->dead || queue_len(&p->pend) == 0)
			continue;
		k = peer_deliver(h, p, p->pend.data + p->pend.start,
		    queue_len(&p->pend));
		queue_consumed(&p->pend, k);
		peer_eof_held(h, p);
	}
}

/*
 * Fan mode: what arrives on stdin goes to every peer, no more at once
 * than the fullest queue has room for (hub_register polls stdin only
 * when there is some).
 */
static void
fan_stdin(struct hub *h, void *arg)
{
	ssize_t n;
	size_t i, room;

	(void)arg;
	room = hub_room(h, NULL);
	n = read(STDIN_FILENO, h->rbuf, room < h->readsz ? room : h->readsz);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			warn("stdin");
			h->rc = NP_EXIT_FAIL;
		}
		return;
	}
	if (n == 0)
		h->in_eof = 1;
	for (i = 0; i < h->npeers; i++)
		peer_send(h, h->peers[i], h->rbuf, n);
}

/*
 * Fan mode: how much p may be read now, so that the stdout queue stays
 * within its bound however many peers send in one round: the room left,
 * up to one read, and for TLS a whole read or nothing (what a TLS read
 * leaves inside OpenSSL, poll does not see).
 */
static size_t
fan_room(const struct hub *h, const struct peer *p)
{
	size_t len = queue_len(&h->outq), room;

	room = len < h->qmax ? h->qmax - len : 0;
	if (room >= h->readsz)
		return h->readsz;
	return p->tls != NULL || p->pp != NULL ? 0 : room;
}

/* Fan mode: what the peers sent goes to stdout. */
static void
fan_stdout(struct hub *h, void *arg)
{
	struct queue *q = &h->outq;
	size_t len = queue_len(q);
	ssize_t n;

	(void)arg;
	n = write(STDOUT_FILENO, q->data + q->start,
	    len < HUB_WRITESZ ? len : HUB_WRITESZ);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			warn("stdout");
			h->rc = NP_EXIT_FAIL;
		}
		return;
	}
	queue_consumed(q, n);
}

/*
 * Send a formatted line to one peer (to, when not NULL) or to everyone
 * but skip (which may be NULL).  Returns its length.
 */
static size_t
announce(struct hub *h, struct peer *skip, struct peer *to,
    const char *fmt, ...)
{
	char msg[CHAT_LINE];
	va_list ap;
	int n, was = h->lossy;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	h->lossy = 1;
	if (to != NULL)
		peer_send(h, to, msg, n);
	else
		relay(h, skip, msg, n);
	h->lossy = was;
	return n;
}

/*
 * Cut a chat peer's bytes into lines, each handled by chat_line.  With
 * --broker-block a piece is taken only while every queue has room for
 * the most a line can add to it.  Returns the bytes taken.
 */
static size_t
chat_input(struct hub *h, struct peer *p, const unsigned char *d, size_t n)
{
	const unsigned char *nl;
	size_t take, used = 0, done = 0, avail;

	avail = h->drop ? SIZE_MAX : hub_room(h, NULL);
	if (p->line == NULL && (p->line = malloc(CHAT_LINE)) == NULL)
		err(NP_EXIT_FAIL, "malloc");
	while (n > 0 && !p->dead) {
		if (!h->drop && (avail < CHAT_OUT_MAX ||
		    used > avail - CHAT_OUT_MAX))
			break;
		nl = memchr(d, '\n', n);
		take = nl != NULL ? (size_t)(nl - d) + 1 : n;
		if (take > CHAT_LINE - p->linelen)
			take = CHAT_LINE - p->linelen;
		memcpy(p->line + p->linelen, d, take);
		p->linelen += take;
		d += take;
		n -= take;
		done += take;
		if (p->line[p->linelen - 1] == '\n' ||
		    p->linelen == CHAT_LINE)
			used += chat_flush(h, p);
	}
	chat_batch(h, p);
	return done;
}

/* Send the lines formed so far to everyone but their sender. */
static void
chat_batch(struct hub *h, struct peer *p)
{
	if (h->olen > 0)
		relay(h, p, h->obuf, h->olen);
	h->olen = 0;
}

/*
 * A line (or a piece of one that grew too long, or ended with EOF).  The
 * line end that comes right after a piece cut at CHAT_LINE ends that
 * piece, and is no empty line of its own.  Returns what chat_line does.
 */
static size_t
chat_flush(struct hub *h, struct peer *p)
{
	const unsigned char *l = p->line;
	size_t n = p->linelen, cost = 0;
	int cut = n == CHAT_LINE && l[n - 1] != '\n';

	if (n == 0)
		return 0;
	if (!p->cut || !((n == 1 && l[0] == '\n') ||
	    (n == 2 && l[0] == '\r' && l[1] == '\n')))
		cost = chat_line(h, p, l, n);
	p->cut = cut;
	p->linelen = 0;
	return cost;
}

/*
 * "<nick> line\n" into the batch for everyone else, or a /nick command.
 * Lines are batched so a burst costs one send per peer, not one per line.
 * Returns the bytes that this put in any one queue.
 */
static size_t
chat_line(struct hub *h, struct peer *p, const unsigned char *d, size_t n)
{
	const char *arg;
	size_t len, need, start;

	if (chat_parse(d, n, &arg, &len) == CHAT_NICK_CMD) {
		chat_batch(h, p);
		return chat_nick(h, p, arg, len);
	}
	need = strlen(p->nick) + 3 + 2 * len + 1;
	if (h->olen + need > CHAT_OBUF)
		chat_batch(h, p);
	start = h->olen;
	h->olen += snprintf((char *)h->obuf + h->olen, CHAT_OBUF - h->olen,
	    "<%s> ", p->nick);
	h->olen += chat_text(h->obuf + h->olen, arg, len);
	h->obuf[h->olen++] = '\n';
	return h->olen - start;
}

/* Why a name cannot be taken by anyone here, or NULL. */
static const char *
chat_nick_bad(const struct hub *h, const char *s, size_t n)
{
	const char *why;
	size_t i;

	if ((why = chat_name_bad(s, n)) != NULL)
		return why;
	for (i = 0; i < h->npeers; i++)
		if (strlen(h->peers[i]->nick) == n &&
		    memcmp(h->peers[i]->nick, s, n) == 0)
			return "that name is taken";
	return NULL;
}

/*
 * /nick NAME: a new name, announced to everyone, the sender included, or
 * a refusal to the sender.  Returns the length of what was sent.
 */
static size_t
chat_nick(struct hub *h, struct peer *p, const char *arg, size_t n)
{
	char old[CHAT_NICK + 1];
	const char *why;

	if ((why = chat_nick_bad(h, arg, n)) != NULL)
		return announce(h, NULL, p, "<announce> /nick refused: %s.\n",
		    why);
	strlcpy(old, p->nick, sizeof(old));
	memcpy(p->nick, arg, n);
	p->nick[n] = '\0';
	return announce(h, NULL, NULL,
	    "<announce> <%s> is now known as <%s>.\n", old, p->nick);
}

static int
hub_init(struct hub *h, const struct np_opts *o, const struct acl *acl,
    int lfd, struct tls *server, struct pp_secret *sec)
{
	memset(h, 0, sizeof(*h));
	h->o = o;
	h->acl = acl;
	h->lfd = lfd;
	h->server = server;
	h->sec = sec;
	h->rc = -1;
	h->mode = o->chat ? HUB_CHAT : o->broker ? HUB_BROKER : HUB_FAN;
	h->drop = h->mode != HUB_FAN && !o->broker_block;
	h->qmax = o->queue_size > 0 ? (size_t)o->queue_size : HUB_QUEUE_DEF;
	if (h->mode == HUB_CHAT && h->qmax < CHAT_OUT_MAX)
		h->qmax = CHAT_OUT_MAX;
	h->maxpeers = o->max_conns > 0 ? (size_t)o->max_conns :
	    HUB_CONNS_DEF;
	h->readsz = h->mode == HUB_CHAT ? HUB_CHAT_READSZ : HUB_READSZ;
	/* A record layer's read takes a whole record, or poll loses it. */
	if (server != NULL && h->readsz < NTLS_RECORD)
		h->readsz = NTLS_RECORD;
	if (sec != NULL && h->readsz < PP_PLAIN_MAX)
		h->readsz = PP_PLAIN_MAX;
	h->in_eof = o->no_stdin;
	h->rbuf = malloc(h->readsz);
	h->obuf = h->mode == HUB_CHAT ? malloc(CHAT_OBUF) : NULL;
	h->loop = loop_new();
	if (h->rbuf == NULL || (h->mode == HUB_CHAT && h->obuf == NULL) ||
	    h->loop == NULL) {
		warn("malloc");
		return -1;
	}
	if (lfd == -1)
		return 0;
	h->al = (struct acl_listener){ .loop = h->loop, .o = o, .acl = acl,
	    .lfd = lfd, .peer = hub_accept, .fail = hub_accept_fail,
	    .data = h };
	if (acl_listen(&h->al) == -1) {
		warn("poll");
		return -1;
	}
	h->listening = 1;
	return 0;
}

/* The end: every peer still here is told so with close_notify. */
static void
hub_free(struct hub *h)
{
	size_t i;

	for (i = 0; i < h->npeers; i++)
		peer_close(h->peers[i], 1);
	free(h->peers);
	loop_free(h->loop);
	free(h->ev);
	free(h->rbuf);
	free(h->obuf);
	free(h->outq.data);
}

/*
 * Serve many peers on the listener lfd until a signal (or, in fan mode
 * without -k, until the first peer leaves) and return the exit code.
 * With server (--tls) every peer is served through TLS; with
 * --passphrase through pp.c, with sec's phrase.  The caller keeps lfd,
 * server and sec.
 */
int
broker_run(const struct np_opts *o, const struct acl *acl, int lfd,
    struct tls *server, struct pp_secret *sec)
{
	struct hub h;

	if (o->udp)
		return dgram_run(o, acl, lfd);
	if (hub_init(&h, o, acl, lfd, server, o->passphrase ? sec :
	    NULL) == -1) {
		hub_free(&h);
		return NP_EXIT_FAIL;
	}
	/*
	 * Peers of a broker come in bursts; a short listen queue would drop
	 * their SYNs and cost each a second's retransmission.  Linux takes a
	 * second listen() as a new backlog.
	 */
	listen(lfd, SOMAXCONN);
	if (o->accept_timeout_ms > 0 && (h.accept_timer = loop_timer(h.loop,
	    o->accept_timeout_ms, hub_timeout, &h)) == -1)
		err(NP_EXIT_FAIL, "calloc");
	while (h.rc == -1) {
		if (np_signal) {
			h.rc = NP_EXIT_SIGNAL + np_signal;
			break;
		}
		/* What waited for room may go now; that may end a peer. */
		hub_backlog(&h);
		hub_sweep(&h);
		hub_register(&h);
		/* A peer that moves data in this round is kept -w from now. */
		h.round = 1;
		if (loop_once(h.loop) == -1) {
			warn("poll");
			h.rc = NP_EXIT_FAIL;
		}
		hub_expire(&h);
		hub_sweep(&h);
	}
	hub_free(&h);
	return h.rc;
}

/* Find the sender in the table, or give it a place.  NULL: unnamed. */
static struct dpeer *
dgram_peer(const struct np_opts *o, struct dpeer **tab, size_t *n,
    const struct sockaddr_storage *ss, socklen_t len,
    unsigned long long now)
{
	size_t max = o->max_conns > 0 ? (size_t)o->max_conns : HUB_CONNS_DEF;
	char name[NP_PEER_NAMELEN];
	size_t i, old = 0;

	if (ss->ss_family == AF_UNIX &&
	    len <= offsetof(struct sockaddr_un, sun_path))
		return NULL;	/* an unnamed sender cannot be answered */
	for (i = 0; i < *n; i++) {
		if ((*tab)[i].len == len && memcmp(&(*tab)[i].ss, ss, len) == 0)
			return &(*tab)[i];
		if ((*tab)[i].last < (*tab)[old].last)
			old = i;
	}
	if (*n < max) {
		*tab = reallocarray(*tab, *n + 1, sizeof(**tab));
		if (*tab == NULL)
			err(NP_EXIT_FAIL, "reallocarray");
		old = (*n)++;
		(*tab)[old].timer = 0;
	}
	memcpy(&(*tab)[old].ss, ss, len);
	(*tab)[old].len = len;
	(*tab)[old].last = now;
	if (o->verbose > 0) {
		acl_peer_name(-1, (const struct sockaddr *)ss, len, name,
		    sizeof(name));
		fprintf(stderr, "Connection received on %s\n"
		    "Peers connected: %zu\n", name, *n);
	}
	return &(*tab)[old];
}

/*
 * -w: p's timer.  A peer not heard from for that long is forgotten, as
 * if it had left; what is sent to a peer does not count, as nothing says
 * it arrived.  The deadline moves on with each datagram, and the timer
 * with it only when it comes: found by its id, as the table moves.
 */
static int
dgram_due(struct loop *l, long long id, void *arg)
{
	struct dhub *d = arg;
	char name[NP_PEER_NAMELEN];
	size_t i;
	int ms;

	(void)l;
	for (i = 0; i < d->ntab && d->tab[i].timer != id; i++)
		;
	if (i == d->ntab)
		return LOOP_NOMORE;
	if ((ms = np_deadline_ms(&d->tab[i].idle_end)) > 0)
		return ms;
	if (d->o->verbose > 0) {
		acl_peer_name(-1, (const struct sockaddr *)&d->tab[i].ss,
		    d->tab[i].len, name, sizeof(name));
		fprintf(stderr, "Connection closed on %s\n"
		    "Peers connected: %zu\n", name, d->ntab - 1);
	}
	d->tab[i] = d->tab[--d->ntab];
	return LOOP_NOMORE;
}

/* --accept-timeout: no datagram the rules let in came. */
static int
dgram_timeout(struct loop *l, long long id, void *arg)
{
	struct dhub *d = arg;

	(void)id;
	if (d->now == 0) {
		acl_timeout(d->o);
		d->rc = NP_EXIT_FAIL;
		loop_stop(l);
	}
	return LOOP_NOMORE;
}

/* A datagram: send it on to every other peer. */
static void
dgram_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct dhub *d = arg;
	struct sockaddr_storage ss;
	struct dpeer *from;
	socklen_t len = sizeof(ss);
	ssize_t n;
	size_t i;

	(void)fired;
	n = recvfrom(fd, d->buf, HUB_READSZ, MSG_DONTWAIT,
	    (struct sockaddr *)&ss, &len);
	if (n == -1 || !acl_dgram(d->o, d->acl, (struct sockaddr *)&ss, len))
		return;
	from = dgram_peer(d->o, &d->tab, &d->ntab, &ss, len, ++d->now);
	if (from != NULL)
		from->last = d->now;
	if (from != NULL && d->o->wait_ms > 0) {
		np_deadline_set(&from->idle_end, d->o->wait_ms);
		if (from->timer == 0 && (from->timer = loop_timer(l,
		    d->o->wait_ms, dgram_due, d)) == -1)
			err(NP_EXIT_FAIL, "calloc");
	}
	for (i = 0; i < d->ntab; i++)
		if (&d->tab[i] != from)
			sendto(fd, d->buf, n, MSG_DONTWAIT | MSG_NOSIGNAL,
			    (struct sockaddr *)&d->tab[i].ss, d->tab[i].len);
}

/*
 * A UDP (or Unix datagram) broker: every datagram is sent on to every
 * other peer that has sent one, up to --max-conns peers; a new peer
 * beyond that takes the place of the one heard from longest ago, and
 * with -w one not heard from for that long is forgotten.  A datagram
 * that does not fit a peer's socket buffer is lost, as UDP's are.
 * Returns an exit code, on a signal or at --accept-timeout.
 */
static int
dgram_run(const struct np_opts *o, const struct acl *acl, int fd)
{
	struct dhub d;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.acl = acl;
	d.rc = -1;
	if ((d.buf = malloc(HUB_READSZ)) == NULL ||
	    (d.loop = loop_new()) == NULL)
		err(NP_EXIT_FAIL, "malloc");
	if (loop_fd(d.loop, fd, LOOP_READ, dgram_ready, &d) == -1 ||
	    (o->accept_timeout_ms > 0 && loop_timer(d.loop,
	    o->accept_timeout_ms, dgram_timeout, &d) == -1)) {
		warn("broker");
		d.rc = NP_EXIT_FAIL;
	} else if (loop_run(d.loop) == -1)
		d.rc = NP_EXIT_FAIL;
	else if (d.rc == -1)
		d.rc = np_signal ? NP_EXIT_SIGNAL + np_signal : NP_EXIT_FAIL;
	loop_free(d.loop);
	free(d.tab);
	free(d.buf);
	return d.rc;
}

#ifdef NP_FUZZ
/* Peers of the fuzzer's hub; the far ends of their socket pairs. */
#define FUZZ_PEERS	4
static int	 fuzz_far[FUZZ_PEERS];

/* Whether hub_register asked to read p in this round, as poll would. */
static int
fuzz_reading(const struct hub *h, const struct peer *p)
{
	const struct ev *e;

	if ((size_t)p->fd >= h->nev)
		return 0;
	e = &h->ev[p->fd];
	return e->on && e->rproc == peer_read && (e->rev & POLLIN);
}

/* Whether every queue is within its bound: the fuzzer's assertion. */
static int
fuzz_bounded(const struct hub *h)
{
	size_t i;

	for (i = 0; i < h->npeers; i++)
		if (queue_len(&h->peers[i]->out) > h->qmax ||
		    queue_len(&h->peers[i]->pend) > h->readsz)
			return 0;
	return 1;
}

/*
 * One step of the input c, d[0..n): the peer c picks (its low bits)
 * sends up to 2^((c >> 2) & 15) bytes of d, which the hub reads when it
 * would read that peer; or its far end reads what waits and the hub
 * writes on; or it leaves.  Returns the bytes of d used.
 */
static size_t
fuzz_step(struct hub *h, unsigned char c, const unsigned char *d, size_t n)
{
	unsigned char junk[4096];
	struct peer *p = h->peers[(c & 3) % h->npeers];
	int far = fuzz_far[(p->id - 1) % FUZZ_PEERS];
	size_t k = (size_t)1 << ((c >> 2) & 15);
	ssize_t sent = 0;

	switch (c >> 6) {
	case 0:
	case 1:
		if (k > n)
			k = n;
		if (k > 0 && (sent = send(far, d, k, MSG_NOSIGNAL |
		    MSG_DONTWAIT)) == -1)
			sent = 0;
		if (fuzz_reading(h, p))
			peer_read(h, p);
		return sent;
	case 2:
		while (recv(far, junk, sizeof(junk), MSG_DONTWAIT) > 0)
			;
		peer_write(h, p);
		return 0;
	default:
		peer_end(h, p, 1, NULL);
		return 0;
	}
}

/*
 * fuzz/fuzz_chat.c: d as what FUZZ_PEERS peers of a broker or chat (o)
 * send, on socket pairs whose far ends read only when d says so.  After
 * every step, as after every round of broker_run, no queue may be past
 * its bound.  Returns 0, or -1 when one was.
 */
int
broker_fuzz(const struct np_opts *o, const unsigned char *d, size_t n)
{
	struct hub h;
	int sv[2], sz = 4096, rc = 0;
	size_t i, k;

	if (hub_init(&h, o, NULL, -1, NULL, NULL) == -1) {
		hub_free(&h);
		return 0;
	}
	for (i = 0; i < FUZZ_PEERS; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1)
			err(NP_EXIT_FAIL, "socketpair");
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		fuzz_far[i] = sv[1];
		peer_add(&h, sv[0], "fuzz");
	}
	while (n > 0 && h.npeers > 0 && rc == 0) {
		hub_register(&h);
		k = fuzz_step(&h, d[0], d + 1, n - 1);
		d += 1 + k;
		n -= 1 + k;
		hub_sweep(&h);
		hub_backlog(&h);
		hub_sweep(&h);
		rc = fuzz_bounded(&h) ? 0 : -1;
	}
	hub_free(&h);
	for (i = 0; i < FUZZ_PEERS; i++)
		close(fuzz_far[i]);
	return rc;
}
#endif /* NP_FUZZ */

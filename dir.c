/*
 * dir.c: a direction of a transfer, what both engines (the pump,
 * transfer.c, and socket pairs, xfer.c) hold of the bytes moving one
 * way: a pipe that splice(2) fills and empties, or a buffer, and the
 * direction's end of stream.  Neither pipe nor buffer exists before it
 * is asked for; the buffer starts small and grows once, to its bulk
 * size, when a read fills it, so that a short exchange costs a small
 * allocation and a bulk one few syscalls.  The engines choose the sizes
 * and when to read and write; this file keeps the rules of the storage
 * in one place.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

static size_t	 dir_cap(const struct dir *);
static size_t	 dir_tail(const struct dir *);
static void	 dir_pipe_close(struct dir *);

/* A direction with nothing made: no pipe, no buffer, no end yet. */
void
dir_init(struct dir *d)
{
	memset(d, 0, sizeof(*d));
	d->pipe[0] = d->pipe[1] = -1;
}

/*
 * The buffer's sizes: small when first made, bulk once a read fills it,
 * and need, the least room a read may be offered (a record layer's whole
 * record, else a byte).  An engine may set them again for a new
 * connection; a buffer made smaller than small grows on its next use.
 */
void
dir_sizes(struct dir *d, size_t small, size_t bulk, size_t need)
{
	d->small = small;
	d->bulk = bulk > small ? bulk : small;
	d->need = need > 0 ? need : 1;
}

/*
 * A new connection on a direction that outlives it: the sink was not
 * told of an end, and the pipe has room again.  With new_src the source
 * is new too: its end and failure are forgotten, and so is what its
 * predecessor left in the buffer.  What stays is the storage and, when
 * the source stays, its end and its unsent bytes.
 */
void
dir_restart(struct dir *d, int new_src)
{
	d->ended = 0;
	d->pipe_full = 0;
	if (new_src) {
		d->eof = d->failed = 0;
		d->start = d->end = 0;
	}
}

/* Give back the pipe and the buffer; what they held is dropped. */
void
dir_release(struct dir *d)
{
	dir_pipe_close(d);
	free(d->buf);
	d->buf = NULL;
	d->cap = d->start = d->end = 0;
}

/* Bytes taken from the source and not yet given to the sink. */
size_t
dir_pending(const struct dir *d)
{
	return d->held + (d->end - d->start);
}

/*
 * What the buffer holds, made or yet to be (dir_buf() makes it this
 * large).
 */
static size_t
dir_cap(const struct dir *d)
{
	return d->cap > d->small ? d->cap : d->small;
}

static size_t
dir_tail(const struct dir *d)
{
	size_t cap = dir_cap(d);

	return d->end < cap ? cap - d->end : 0;
}

/*
 * Room for the next read at the buffer's end; none while a direction
 * of datagrams holds one, which goes out whole before the next comes.
 */
size_t
dir_room(const struct dir *d)
{
	if (d->one_msg && d->start != d->end)
		return 0;
	return dir_tail(d);
}

/* Whether the next read may be offered the room it needs. */
int
dir_ready(const struct dir *d)
{
	return dir_room(d) >= d->need;
}

/* Make the buffer, or grow it to small.  0, or -1 out of memory. */
int
dir_buf(struct dir *d)
{
	unsigned char *b;

	if (d->buf != NULL && d->cap >= d->small)
		return 0;
	if ((b = realloc(d->buf, d->small)) == NULL)
		return -1;
	d->buf = b;
	d->cap = d->small;
	return 0;
}

/*
 * A read of n bytes landed at the buffer's end, and kept of them stay
 * there (a filter may drop or add some).  A read that took all it was
 * offered (asked), or left no room for another, says the direction is
 * bulk: the buffer grows to its bulk size, once.  Without the memory it
 * stays as it is.
 */
void
dir_filled(struct dir *d, size_t n, size_t kept)
{
	unsigned char *b;

	d->end += kept;
	if (d->cap >= d->bulk || ((n == 0 || n < d->asked) &&
	    dir_room(d) >= d->need))
		return;
	if ((b = realloc(d->buf, d->bulk)) == NULL)
		return;
	d->buf = b;
	d->cap = d->bulk;
}

/*
 * n bytes from the buffer's start went to the sink.  An empty buffer
 * starts again at its beginning; one whose end has no room left for a
 * read moves a small rest to its start, which is cheaper than holding
 * the reader back until the rest is written.
 */
void
dir_consumed(struct dir *d, size_t n)
{
	size_t rest;

	d->bytes += n;
	d->start += n;
	rest = d->end - d->start;
	if (rest == 0)
		d->start = d->end = 0;
	else if (dir_tail(d) < d->need && rest < dir_cap(d) / 4) {
		memmove(d->buf, d->buf + d->start, rest);
		d->start = 0;
		d->end = rest;
	}
}

/*
 * A non-blocking pipe in fds of size bytes, or as near as the kernel
 * allows; *got is its size.  0, or -1 with errno set and fds -1.
 */
int
dir_pipe_make(int fds[2], size_t size, size_t *got)
{
	int n;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		fds[0] = fds[1] = -1;
		return -1;
	}
	/* F_SETPIPE_SZ says the size it made; the kernel may refuse. */
	if ((n = fcntl(fds[1], F_SETPIPE_SZ, (int)size)) == -1)
		n = fcntl(fds[1], F_GETPIPE_SZ);
	*got = n > 0 ? (size_t)n : 65536;
	return 0;
}

/*
 * The direction's pipe, of size bytes.  0, or -1 with errno set: the
 * direction is then one without a pipe (no_pipe).
 */
int
dir_pipe(struct dir *d, size_t size)
{
	d->no_pipe = dir_pipe_make(d->pipe, size, &d->pipesz) == -1;
	return d->no_pipe ? -1 : 0;
}

/*
 * The pipe filled: grow it to size.  When the kernel refuses
 * (pipe-user-pages-soft), the direction gives the pipe up once empty.
 */
void
dir_pipe_grow(struct dir *d, size_t size)
{
	int n;

	if (d->pipesz >= size)
		return;
	if ((n = fcntl(d->pipe[1], F_SETPIPE_SZ, (int)size)) == -1)
		dir_pipe_off(d);
	else
		d->pipesz = (size_t)n;
}

/* Whether a splice into the pipe may find room. */
int
dir_pipe_room(const struct dir *d)
{
	return !d->no_pipe && !d->pipe_full && d->held < d->pipesz;
}

/*
 * The pipe is given up: closed now when empty, else once what it holds
 * has gone (dir_pipe_drained()).
 */
void
dir_pipe_off(struct dir *d)
{
	d->no_pipe = 1;
	if (d->held == 0)
		dir_pipe_close(d);
}

/* n bytes of the pipe went to the sink; a buffer of it is free again. */
void
dir_pipe_drained(struct dir *d, size_t n)
{
	d->bytes += n;
	d->held -= n;
	d->pipe_full = 0;
	if (d->held == 0 && d->no_pipe)
		dir_pipe_close(d);
}

/*
 * Move what the pipe holds back into the empty buffer (made if need be),
 * as much as fits, so that a direction leaving the splice path keeps its
 * bytes and their order.  Returns the bytes moved, or -1 with errno set
 * (ENOMEM without a buffer).
 */
ssize_t
dir_pipe_readback(struct dir *d)
{
	ssize_t n;

	if (dir_buf(d) == -1) {
		errno = ENOMEM;
		return -1;
	}
	n = read(d->pipe[0], d->buf, d->held < d->cap ? d->held : d->cap);
	if (n == -1)
		return -1;
	d->start = 0;
	d->end = n;
	d->held -= n;
	d->pipe_full = 0;
	return n;
}

static void
dir_pipe_close(struct dir *d)
{
	if (d->pipe[0] != -1) {
		close(d->pipe[0]);
		close(d->pipe[1]);
		d->pipe[0] = d->pipe[1] = -1;
	}
	d->held = 0;
	d->pipe_full = 0;
}

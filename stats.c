/*
 * stats.c: what a user sees of a transfer.  The pump reports every byte
 * it moves here, in one place per direction; this file turns the counts
 * into --progress, --stats (and -v), --digest and --hex-dump output.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/* Progress is redrawn at most this often (milliseconds). */
#define METER_REDRAW_MS	100

struct meter {
	const struct np_opts	*o;
	unsigned long long	 bytes[2];	/* METER_SENT, METER_RECV */
	struct timespec		 start;
	struct timespec		 redraw;	/* next progress redraw */
	long long		 size;		/* expected bytes; 0 unknown */
	int			 progress;	/* draw a progress line */
	int			 drawn;		/* a line is on screen */
	SHA2_CTX		 sha[2];
	FILE			*hex;		/* --hex-dump */
	unsigned long long	 hexoff[2];
	int			 hex_failed;	/* reported; no more dump */
};

static double	 elapsed(const struct meter *);
static void	 human(double, char *, size_t);
static void	 draw_progress(struct meter *, int);
static void	 hex_block(struct meter *, int, const unsigned char *, size_t);
static void	 print_stats(const struct meter *);
static void	 print_digests(struct meter *);
static void	 hex_failed(struct meter *);

/*
 * Start measuring.  size is what the input is expected to hold (-1 when
 * unknown); --size wins over it.  Returns NULL after a message (an
 * unwritable --hex-dump file); the caller frees with meter_finish().
 */
struct meter *
meter_new(const struct np_opts *o, long long size)
{
	struct meter *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		warn("meter");
		return NULL;
	}
	m->o = o;
	m->size = o->size > 0 ? o->size : size > 0 ? size : 0;
	m->progress = o->progress == 2 ||
	    (o->progress == 1 && isatty(STDERR_FILENO));
	SHA256Init(&m->sha[METER_SENT]);
	SHA256Init(&m->sha[METER_RECV]);
	if (o->hex_dump != NULL &&
	    (m->hex = fopen(o->hex_dump, "we")) == NULL) {
		warn("%s", o->hex_dump);
		free(m);
		return NULL;
	}
	return m;
}

/*
 * The clock starts with the first connection, not with the process: a
 * listener may wait an hour for its peer, and that is not transfer time.
 */
void
meter_start(struct meter *m)
{
	if (m->start.tv_sec == 0 && m->start.tv_nsec == 0)
		clock_gettime(CLOCK_MONOTONIC, &m->start);
}

/*
 * Whether the pump must see the bytes in user space: digests and hex
 * dumps do, so they keep the zero-copy paths off.
 */
int
meter_needs_data(const struct np_opts *o)
{
	return o->digest || o->hex_dump != NULL;
}

/* Count n bytes moved in direction dir; data is NULL on zero-copy paths. */
void
meter_add(struct meter *m, int dir, const void *data, size_t n)
{
	m->bytes[dir] += n;
	if (data != NULL && m->o->digest)
		SHA256Update(&m->sha[dir], data, n);
	if (data != NULL && m->hex != NULL && !m->hex_failed)
		hex_block(m, dir, data, n);
	if (m->progress)
		draw_progress(m, 0);
}

/* Print what was asked for (progress end, stats, digests) and free m. */
void
meter_finish(struct meter *m)
{
	if (m == NULL)
		return;
	if (m->progress)
		draw_progress(m, 1);
	if (m->o->stats || m->o->verbose > 0)
		print_stats(m);
	if (m->o->digest)
		print_digests(m);
	if (m->hex != NULL && fclose(m->hex) == EOF && !m->hex_failed)
		warn("hex dump %s", m->o->hex_dump);
	free(m);
}

/*
 * Whether a side file (--hex-dump) could not be written: the transfer
 * went on, but its exit status says so.
 */
int
meter_failed(const struct meter *m)
{
	return m != NULL && m->hex_failed;
}

/* The dump cannot be written (a full disk, /dev/full): say so once. */
static void
hex_failed(struct meter *m)
{
	warn("hex dump %s", m->o->hex_dump);
	m->hex_failed = 1;
}

static double
elapsed(const struct meter *m)
{
	struct timespec now;

	if (m->start.tv_sec == 0 && m->start.tv_nsec == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - m->start.tv_sec) +
	    (now.tv_nsec - m->start.tv_nsec) / 1e9;
}

/* Bytes in binary units, as people read file sizes: 1.2 GiB. */
static void
human(double v, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	/* 1000 and not 1024, so that no "1024.0 KiB" is ever printed. */
	while (v >= 1000 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.*f %s", v < 10 ? 2 : 1, v, units[u]);
}

/*
 * One line, redrawn in place with \r, at most ten times a second; the
 * final call ends it with a newline.
 */
static void
draw_progress(struct meter *m, int final)
{
	unsigned long long done = m->bytes[METER_SENT] + m->bytes[METER_RECV];
	char b[32], r[32], eta[32] = "";
	double secs;

	if (!final && m->drawn && np_deadline_ms(&m->redraw) > 0)
		return;
	np_deadline_set(&m->redraw, METER_REDRAW_MS);
	secs = elapsed(m);
	human(done, b, sizeof(b));
	human(secs > 0 ? done / secs : 0, r, sizeof(r));
	if (m->size > 0 && done > 0 && secs > 0) {
		double pct = 100.0 * done / m->size;
		double left = (m->size > (long long)done ?
		    m->size - done : 0) / (done / secs);

		snprintf(eta, sizeof(eta), " %5.1f%% ETA %.0f s",
		    pct > 100 ? 100 : pct, left);
	}
	fprintf(stderr, "\r%s %s/s %.1f s%s\033[K%s", b, r, secs, eta,
	    final ? "\n" : "");
	m->drawn = 1;
}

/*
 * nc has no summary; people paste this one into tickets, so it is one
 * line of plain words, or one JSON object for scripts.
 */
static void
print_stats(const struct meter *m)
{
	double secs = elapsed(m);
	unsigned long long total = m->bytes[METER_SENT] + m->bytes[METER_RECV];
	char s[32], r[32], rate[32];

	if (m->o->stats == 2) {
		fprintf(stderr, "{\"sent\": %llu, \"received\": %llu, "
		    "\"seconds\": %.6f, \"bytes_per_second\": %.0f}\n",
		    m->bytes[METER_SENT], m->bytes[METER_RECV], secs,
		    secs > 0 ? total / secs : 0.0);
		return;
	}
	human(m->bytes[METER_SENT], s, sizeof(s));
	human(m->bytes[METER_RECV], r, sizeof(r));
	human(secs > 0 ? total / secs : 0, rate, sizeof(rate));
	fprintf(stderr, "netpipe: sent %s, received %s in %.2f s, %s/s\n",
	    s, r, secs, rate);
}

static void
print_digests(struct meter *m)
{
	char hex[SHA256_DIGEST_STRING_LENGTH];

	SHA256End(&m->sha[METER_SENT], hex);
	fprintf(stderr, "netpipe: sha256 sent %s\n", hex);
	SHA256End(&m->sha[METER_RECV], hex);
	fprintf(stderr, "netpipe: sha256 received %s\n", hex);
}

/* One hexdump -C style block per call, marked with its direction. */
static void
hex_block(struct meter *m, int dir, const unsigned char *d, size_t n)
{
	size_t i, j;

	fprintf(m->hex, "%s %zu bytes\n", dir == METER_SENT ? ">" : "<", n);
	for (i = 0; i < n; i += 16) {
		fprintf(m->hex, "%08llx ", m->hexoff[dir] + i);
		for (j = 0; j < 16; j++) {
			if (j == 8)
				fputc(' ', m->hex);
			if (i + j < n)
				fprintf(m->hex, " %02x", d[i + j]);
			else
				fputs("   ", m->hex);
		}
		fputs("  |", m->hex);
		for (j = 0; j < 16 && i + j < n; j++)
			fputc(isprint(d[i + j]) ? d[i + j] : '.', m->hex);
		fputs("|\n", m->hex);
	}
	m->hexoff[dir] += n;
	if (fflush(m->hex) == EOF || ferror(m->hex))
		hex_failed(m);
}

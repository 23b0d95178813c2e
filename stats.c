/*
 * stats.c: what a user sees of a transfer.  The pump reports every byte
 * it moves here, in one place per direction; this file turns the counts
 * into --progress, --stats (and -v), --digest and --hex-dump output.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <sha2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netpipe.h"

/* Progress is redrawn at most this often (milliseconds). */
#define METER_REDRAW_MS	100

/* The fields of a progress line, in the order they are shown. */
enum {
	FIELD_BYTES, FIELD_RATE, FIELD_SECS, FIELD_PCT, FIELD_ETA, FIELD_RESUME,
	NFIELDS
};

struct meter {
	const struct np_opts	*o;
	unsigned long long	 bytes[2];	/* METER_SENT, METER_RECV */
	struct timespec		 start;
	struct timespec		 redraw;	/* next progress redraw */
	long long		 size;		/* expected bytes; 0 unknown */
	int			 progress;	/* draw a progress line */
	int			 drawn;		/* a line is on screen */
	int			 cols;		/* terminal width; 0 unknown */
	SHA2_CTX		 sha[2];
	FILE			*hex;		/* --hex-dump */
	unsigned long long	 hexoff[2];
	int			 hex_failed;	/* reported; no more dump */
	int			 reconnects;	/* --resume */
	unsigned long long	 resent;
	unsigned long long	 resumed;	/* held before the first byte */
};

static double	 elapsed(const struct meter *);
static void	 human(double, char *, size_t);
static void	 draw_progress(struct meter *, int);
static int	 term_cols(void);
static void	 on_winch(int);
static void	 fit_fields(char [NFIELDS][48], int);
static void	 hex_block(struct meter *, int, const unsigned char *, size_t);
static void	 print_stats(const struct meter *);
static void	 print_digests(struct meter *);
static void	 hex_failed(struct meter *);

/* The terminal was resized: measure it again before the next draw. */
static volatile sig_atomic_t winch;

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
	m->progress = o->progress == PROGRESS_ALWAYS ||
	    (o->progress == PROGRESS_AUTO && isatty(STDERR_FILENO));
	if (m->progress && isatty(STDERR_FILENO)) {
		struct sigaction sa;

		/* SA_RESTART: a resize must not cut a read or write short. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_winch;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, NULL);
		m->cols = term_cols();
	}
	SHA256Init(&m->sha[METER_SENT]);
	SHA256Init(&m->sha[METER_RECV]);
	/* "-" is standard error, where a dump meets the other messages. */
	if (o->hex_dump != NULL && strcmp(o->hex_dump, "-") == 0)
		m->hex = stderr;
	else if (o->hex_dump != NULL && (m->hex = fopen(o->hex_dump,
	    o->append_output ? "ae" : "we")) == NULL) {
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

/*
 * Count n bytes moved in direction dir (and redraw --progress); the
 * bytes themselves are for the taps below, which the pump puts on a
 * direction only when asked for.
 */
void
meter_count(struct meter *m, int dir, size_t n)
{
	m->bytes[dir] += n;
	if (m->progress)
		draw_progress(m, 0);
}

/* --digest: n bytes of data moved in direction dir. */
void
meter_digest(struct meter *m, int dir, const void *data, size_t n)
{
	if (data != NULL && m->o->digest)
		SHA256Update(&m->sha[dir], data, n);
}

/* --hex-dump: n bytes of data moved in direction dir. */
void
meter_hex(struct meter *m, int dir, const void *data, size_t n)
{
	if (data != NULL && m->hex != NULL && !m->hex_failed)
		hex_block(m, dir, data, n);
}

/* Print what was asked for (progress end, stats, digests) and free m. */
void
meter_finish(struct meter *m)
{
	int started;

	if (m == NULL)
		return;
	if (m->progress)
		draw_progress(m, 1);
	/*
	 * No summary for a connection that never was: the files are open
	 * before the connect, and a connect or a listener can fail.
	 */
	started = m->start.tv_sec != 0 || m->start.tv_nsec != 0;
	if (started && (m->o->stats != STATS_OFF || m->o->verbose > 0))
		print_stats(m);
	if (started && m->o->digest)
		print_digests(m);
	if (m->hex != NULL && m->hex != stderr && fclose(m->hex) == EOF &&
	    !m->hex_failed)
		warn("hex dump %s", m->o->hex_dump);
	free(m);
}

/*
 * --resume's counts: reconnects and bytes sent again so far, and the
 * bytes the receiver already held (0 leaves the last one alone).
 */
void
meter_resume(struct meter *m, int reconnects, unsigned long long resent,
    unsigned long long resumed)
{
	if (m == NULL)
		return;
	m->reconnects = reconnects;
	m->resent = resent;
	if (resumed > 0)
		m->resumed = resumed;
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

static void
on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

/* The width of the terminal on stderr, or 0 when there is none. */
static int
term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == -1)
		return 0;
	return ws.ws_col;
}

/*
 * Make the fields fit in cols - 1 columns (the last one is left empty:
 * a character there makes some terminals wrap).  Fields go in order of
 * least use: the elapsed time, the ETA, the rate, then the percent; the
 * byte count stays, cut short only when it alone is too wide.
 */
static void
fit_fields(char f[NFIELDS][48], int cols)
{
	static const int drop[] = { FIELD_RESUME, FIELD_SECS, FIELD_ETA,
	    FIELD_RATE, FIELD_PCT };
	size_t len = 0, i;

	if (cols <= 0)
		return;
	for (i = 0; i < NFIELDS; i++)
		len += strlen(f[i]);
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]) &&
	    len > (size_t)cols - 1; i++) {
		len -= strlen(f[drop[i]]);
		f[drop[i]][0] = '\0';
	}
	if (len > (size_t)cols - 1)
		f[FIELD_BYTES][cols - 1] = '\0';
}

/*
 * One line, redrawn in place with \r, at most ten times a second (and at
 * once when the terminal is resized); the final call ends it with a
 * newline.  It never wraps: what does not fit the terminal is left out.
 */
static void
draw_progress(struct meter *m, int final)
{
	unsigned long long done = m->bytes[METER_SENT] + m->bytes[METER_RECV];
	char f[NFIELDS][48], held[16];
	double secs;

	if (winch) {
		winch = 0;
		m->cols = term_cols();
	} else if (!final && m->drawn && np_deadline_ms(&m->redraw) > 0)
		return;
	np_deadline_set(&m->redraw, METER_REDRAW_MS);
	secs = elapsed(m);
	memset(f, 0, sizeof(f));
	human(done, f[FIELD_BYTES], sizeof(f[FIELD_BYTES]));
	f[FIELD_RATE][0] = ' ';
	human(secs > 0 ? done / secs : 0, f[FIELD_RATE] + 1,
	    sizeof(f[FIELD_RATE]) - 3);
	strlcat(f[FIELD_RATE], "/s", sizeof(f[FIELD_RATE]));
	snprintf(f[FIELD_SECS], sizeof(f[FIELD_SECS]), " %.1f s", secs);
	if (m->size > 0 && done > 0 && secs > 0) {
		double pct = 100.0 * done / m->size;
		double left = (m->size > (long long)done ?
		    m->size - done : 0) / (done / secs);

		snprintf(f[FIELD_PCT], sizeof(f[FIELD_PCT]), " %5.1f%%",
		    pct > 100 ? 100 : pct);
		snprintf(f[FIELD_ETA], sizeof(f[FIELD_ETA]), " ETA %.0f s",
		    left);
	}
	if (m->resumed > 0 || m->reconnects > 0) {
		human(m->resumed, held, sizeof(held));
		snprintf(f[FIELD_RESUME], sizeof(f[FIELD_RESUME]),
		    " resumed %s, %d reconn.", held, m->reconnects);
	}
	fit_fields(f, m->cols);
	fprintf(stderr, "\r%s%s%s%s%s%s\033[K%s", f[FIELD_BYTES],
	    f[FIELD_RATE], f[FIELD_SECS], f[FIELD_PCT], f[FIELD_ETA],
	    f[FIELD_RESUME], final ? "\n" : "");
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

	if (m->o->stats == STATS_JSON) {
		fprintf(stderr, "{\"sent\": %llu, \"received\": %llu, "
		    "\"seconds\": %.6f, \"bytes_per_second\": %.0f",
		    m->bytes[METER_SENT], m->bytes[METER_RECV], secs,
		    secs > 0 ? total / secs : 0.0);
		if (m->o->resume)
			fprintf(stderr, ", \"reconnects\": %d, \"resent\": "
			    "%llu, \"resumed\": %llu", m->reconnects,
			    m->resent, m->resumed);
		fputs("}\n", stderr);
		return;
	}
	human(m->bytes[METER_SENT], s, sizeof(s));
	human(m->bytes[METER_RECV], r, sizeof(r));
	human(secs > 0 ? total / secs : 0, rate, sizeof(rate));
	fprintf(stderr, "netpipe: sent %s, received %s in %.2f s, %s/s", s, r,
	    secs, rate);
	if (m->o->resume) {
		human(m->resent, s, sizeof(s));
		fprintf(stderr, "; %d reconnects, %s resent", m->reconnects,
		    s);
	}
	fputc('\n', stderr);
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

/*
 * resume_wire.c: the --resume wire format, version 1 (netpipe(1),
 * RESUMING TRANSFERS).  Pure functions over buffers, so that they can
 * be fuzzed: each returns -1 with a message in the caller's buffer.
 * All integers are big-endian.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "netpipe.h"

static int	 wire_fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static unsigned long long get64(const unsigned char *);

static int
wire_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned long long
get64(const unsigned char *p)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * HELLO, the sender's first 32 bytes: "NPRSUM", version, flags, the
 * session id, the size (RESUME_UNKNOWN when it is not known).  Returns
 * 0, or -1: anything else is a peer without --resume.
 */
int
resume_hello_parse(const unsigned char *b, size_t len,
    struct resume_hello *h, char *err, size_t errlen)
{
	if (len < RESUME_HELLO_LEN || memcmp(b, RESUME_MAGIC, 6) != 0)
		return wire_fail(err, errlen,
		    "peer does not speak the resume protocol");
	h->version = b[6];
	h->flags = b[7];
	memcpy(h->id, b + 8, RESUME_ID_LEN);
	h->size = get64(b + 24);
	return 0;
}

/*
 * WELCOME, the receiver's answer (64 bytes): "NPRSUM", version, status,
 * the session id, the count of bytes it holds and their SHA-256.
 */
int
resume_welcome_parse(const unsigned char *b, size_t len,
    struct resume_welcome *w, char *err, size_t errlen)
{
	if (len < RESUME_WELCOME_LEN || memcmp(b, RESUME_MAGIC, 6) != 0)
		return wire_fail(err, errlen,
		    "peer does not speak the resume protocol");
	w->version = b[6];
	w->status = b[7];
	if (w->status == RESUME_BADVERSION)
		return wire_fail(err, errlen, "peer speaks resume protocol "
		    "version %d, not %d", w->version, RESUME_VERSION);
	if (w->version != RESUME_VERSION)
		return wire_fail(err, errlen, "peer answered with resume "
		    "protocol version %d, not %d", w->version, RESUME_VERSION);
	if (w->status == RESUME_BUSY)
		return wire_fail(err, errlen,
		    "receiver is busy with another session");
	if (w->status != RESUME_OK)
		return wire_fail(err, errlen, "receiver: unknown status %d",
		    w->status);
	memcpy(w->id, b + 8, RESUME_ID_LEN);
	w->held = get64(b + 24);
	memcpy(w->prefix, b + 32, RESUME_SHA_LEN);
	return 0;
}

/*
 * A frame header: type, three zero bytes, the payload length.  Returns
 * 0 with *type and *plen, or -1 for a type or length that no version 1
 * peer sends.
 */
int
resume_header_parse(const unsigned char *b, size_t len, int *type,
    size_t *plen, char *err, size_t errlen)
{
	unsigned long long n;
	size_t want;

	if (len < RESUME_HDR_LEN)
		return wire_fail(err, errlen, "short frame header");
	if (b[1] != 0 || b[2] != 0 || b[3] != 0)
		return wire_fail(err, errlen, "bad frame header");
	n = (unsigned long long)b[4] << 24 | b[5] << 16 | b[6] << 8 | b[7];
	switch (b[0]) {
	case RESUME_DATA:
		if (n == 0 || n > RESUME_DATA_MAX)
			return wire_fail(err, errlen, "data frame of %llu "
			    "bytes", n);
		want = n;
		break;
	case RESUME_END: want = 8 + RESUME_SHA_LEN; break;
	case RESUME_ACK: want = 8; break;
	case RESUME_DONE: want = 1 + RESUME_SHA_LEN; break;
	case RESUME_ERROR:
		if (n == 0 || n > RESUME_TEXT_MAX)
			return wire_fail(err, errlen, "error frame of %llu "
			    "bytes", n);
		want = n;
		break;
	default:
		return wire_fail(err, errlen, "unknown frame type 0x%02x",
		    b[0]);
	}
	if (n != want)
		return wire_fail(err, errlen, "frame '%c' of %llu bytes",
		    b[0], n);
	*type = b[0];
	*plen = want;
	return 0;
}

/*
 * A control frame's payload (all of it, as the header said).  An ERROR
 * frame's text is kept printable: it ends up on a terminal.
 */
int
resume_ctl_parse(int type, const unsigned char *b, size_t len,
    struct resume_ctl *c, char *err, size_t errlen)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	switch (type) {
	case RESUME_END:
	case RESUME_ACK:
		if (len < 8 || (type == RESUME_END &&
		    len < 8 + RESUME_SHA_LEN))
			return wire_fail(err, errlen, "short frame");
		c->count = get64(b);
		if (type == RESUME_END)
			memcpy(c->sha, b + 8, RESUME_SHA_LEN);
		return 0;
	case RESUME_DONE:
		if (len < 1 + RESUME_SHA_LEN || b[0] > 1)
			return wire_fail(err, errlen, "bad done frame");
		c->verdict = b[0];
		memcpy(c->sha, b + 1, RESUME_SHA_LEN);
		return 0;
	case RESUME_ERROR:
		for (i = 0; i < len && i < RESUME_TEXT_MAX; i++)
			c->text[i] = b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '?';
		c->text[i] = '\0';
		return 0;
	default:
		return wire_fail(err, errlen, "unexpected frame type 0x%02x",
		    type);
	}
}

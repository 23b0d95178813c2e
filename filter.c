/*
 * filter.c: the byte transforms that sit between fill and drain, kept
 * free of I/O so that they can be tested and fuzzed on their own.
 */

#include <sys/types.h>

#include <arpa/telnet.h>

#include <stddef.h>

#include "netpipe.h"

/* Telnet filter states (-t). */
enum { TN_DATA, TN_IAC, TN_OPT };

/*
 * -C: LF becomes CR LF unless the byte before it, possibly the last one
 * of the previous read, was already CR.  Returns the bytes written to dst,
 * which must hold 2 * n.
 */
size_t
filter_crlf(struct filter *f, const unsigned char *src, size_t n,
    unsigned char *dst)
{
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (src[i] == '\n' && !f->crlf_cr)
			dst[j++] = '\r';
		dst[j++] = src[i];
		f->crlf_cr = src[i] == '\r';
	}
	return j;
}

/*
 * -t: remove telnet commands from d in place and write a refusal for
 * every option the peer offers (WILL: DONT) or asks for (DO: WONT) to
 * reply, as far as replycap allows; *replylen gets its length.  The
 * state survives across calls, so a command split between two packets
 * is still recognised.  Returns the number of data bytes left in d.
 */
/* A new stream: no command is under way. */
void
filter_telnet_start(struct filter *f)
{
	f->tn_state = TN_DATA;
	f->tn_cmd = 0;
}

size_t
filter_telnet(struct filter *f, unsigned char *d, size_t n,
    unsigned char *reply, size_t replycap, size_t *replylen)
{
	size_t i, j = 0, r = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = d[i];

		switch (f->tn_state) {
		case TN_DATA:
			if (c == IAC)
				f->tn_state = TN_IAC;
			else
				d[j++] = c;
			break;
		case TN_IAC:
			f->tn_state = TN_DATA;
			if (c == IAC)
				d[j++] = c;
			else if (c >= WILL && c <= DONT) {
				f->tn_cmd = c;
				f->tn_state = TN_OPT;
			}
			break;
		default:
			f->tn_state = TN_DATA;
			if ((f->tn_cmd != DO && f->tn_cmd != WILL) ||
			    r + 3 > replycap)
				break;
			reply[r++] = IAC;
			reply[r++] = f->tn_cmd == DO ? WONT : DONT;
			reply[r++] = c;
		}
	}
	*replylen = r;
	return j;
}

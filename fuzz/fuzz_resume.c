/*
 * libFuzzer target: the --resume wire parsers (resume_wire.c).  The
 * input is what a peer sends: it is read as a HELLO and as a WELCOME,
 * each on a copy of exactly its bytes, then as a run of frames the way
 * resume.c reads them, header first and a control frame's payload
 * whole.  What a parser accepts is checked against the format's rules.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

static void	 check_handshakes(const uint8_t *, size_t);
static void	 check_frames(const uint8_t *, size_t);

static void
check_handshakes(const uint8_t *d, size_t n)
{
	struct resume_hello h;
	struct resume_welcome w;
	unsigned char *b;
	char err[128];

	if ((b = malloc(n > 0 ? n : 1)) == NULL)
		return;
	memcpy(b, d, n);
	if (resume_hello_parse(b, n, &h, err, sizeof(err)) == 0 &&
	    (n < RESUME_HELLO_LEN || memcmp(b, RESUME_MAGIC, 6) != 0))
		abort();
	if (resume_welcome_parse(b, n, &w, err, sizeof(err)) == 0 &&
	    (n < RESUME_WELCOME_LEN || w.status != RESUME_OK ||
	    w.version != RESUME_VERSION))
		abort();
	free(b);
}

static void
check_frames(const uint8_t *d, size_t n)
{
	struct resume_ctl c;
	unsigned char *b;
	char err[128];
	size_t plen;
	int type;

	while (n >= RESUME_HDR_LEN) {
		if (resume_header_parse(d, RESUME_HDR_LEN, &type, &plen, err,
		    sizeof(err)) == -1) {
			if (memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			return;
		}
		if (plen == 0 || plen > RESUME_DATA_MAX ||
		    (type != RESUME_DATA && plen > RESUME_TEXT_MAX))
			abort();
		d += RESUME_HDR_LEN;
		n -= RESUME_HDR_LEN;
		if (plen > n)
			return;
		if (type != RESUME_DATA && (b = malloc(plen)) != NULL) {
			memcpy(b, d, plen);
			if (resume_ctl_parse(type, b, plen, &c, err,
			    sizeof(err)) == 0 && type == RESUME_ERROR &&
			    strlen(c.text) != plen)
				abort();
			if (type == RESUME_DONE && c.verdict > 1)
				abort();
			free(b);
		}
		d += plen;
		n -= plen;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_handshakes(data, size);
	check_frames(data, size);
	return 0;
}

/*
 * libFuzzer target: the SOCKS4, SOCKS5 and HTTP CONNECT reply parsers.
 * The first byte says whether -P was given (which changes the SOCKS5
 * methods accepted and the HTTP messages); the rest is the proxy's
 * reply, handed to every parser.  The SOCKS5 reply is fed as the socket
 * code feeds it, growing to the length the parser asks for, and the
 * HTTP status line is cut at the first '\n' and NUL-terminated, as
 * http_read_line() leaves it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

/* proxy.c's SOCKS5_REPLY_MAX and HTTP_LINE. */
#define SOCKS5_REPLY_MAX	(4 + 1 + 255 + 2)
#define HTTP_LINE		1024

static void	 proxy_check_socks(const struct np_opts *,
		    const unsigned char *, size_t);
static void	 proxy_check_http(const struct np_opts *,
		    const unsigned char *, size_t);

/* The SOCKS parsers on a copy of exactly the bytes they may read. */
static void
proxy_check_socks(const struct np_opts *o, const unsigned char *d,
    size_t n)
{
	unsigned char *buf;
	char err[HTTP_LINE];
	size_t have = 0;
	int need = 4, m;

	if ((buf = malloc(n > 0 ? n : 1)) == NULL)
		return;
	memcpy(buf, d, n);
	if (proxy_socks4_reply(o, buf, n, err, sizeof(err)) == 0 &&
	    (n < 8 || buf[0] != 0 || buf[1] != 90))
		abort();
	m = proxy_socks5_method(o, buf, n, err, sizeof(err));
	if (m != -1 && m != 0 && !(m == 2 && o->proxy_user != NULL))
		abort();
	while ((size_t)need > have && (size_t)need <= n) {
		have = need;
		need = proxy_socks5_reply(o, buf, have, err, sizeof(err));
		if (need == -1)
			break;
		if (need < 4 || need > SOCKS5_REPLY_MAX ||
		    (size_t)need < have)
			abort();
	}
	free(buf);
}

/* The status line: bytes up to the first '\n', CRs dropped. */
static void
proxy_check_http(const struct np_opts *o, const unsigned char *d,
    size_t n)
{
	char line[HTTP_LINE], err[HTTP_LINE];
	size_t i, off = 0;
	int code;

	for (i = 0; i < n && d[i] != '\n' && off < sizeof(line) - 1; i++)
		if (d[i] != '\r')
			line[off++] = d[i];
	line[off] = '\0';
	code = proxy_http_status(o, line, err, sizeof(err));
	if (code != -1 && (code < 200 || code > 299))
		abort();
	if (code == -1 && memchr(err, '\0', sizeof(err)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_opts o;

	if (size == 0)
		return 0;
	memset(&o, 0, sizeof(o));
	o.host = "example.org";
	strlcpy(o.port, "443", sizeof(o.port));
	o.proxy_user = (data[0] & 1) ? "alice" : NULL;
	proxy_check_socks(&o, data + 1, size - 1);
	proxy_check_http(&o, data + 1, size - 1);
	return 0;
}

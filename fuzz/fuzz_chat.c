/*
 * libFuzzer target: the chat line and /nick parser of --chat.  The input
 * is cut as a chat peer's bytes are, at each '\n' and every CHAT_LINE
 * bytes, and each line is copied to a buffer of its own size, so that a
 * read past the line is caught.  A name the parser accepts is checked
 * against the rules a name must follow.
 *
 * Then the same input drives a real hub (broker_fuzz): its first byte
 * picks broker or chat, drop or --broker-block and a small --queue-size,
 * the rest is what four peers send, and when their far ends read or
 * they leave.  No queue may pass its bound after any step.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

/* broker.c's CHAT_LINE; CHAT_NICK is netpipe.h's. */
#define CHAT_LINE	1024

static void	 chat_check(const unsigned char *, size_t);
static void	 hub_check(const uint8_t *, size_t);
static int	 chat_name_ok(const char *, size_t);

/* Whether a name follows the rules chat_name_bad() should enforce. */
static int
chat_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CHAT_NICK)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f ||
		    s[i] == '<' || s[i] == '>')
			return 0;
	if (n == 8 && memcmp(s, "announce", 8) == 0)
		return 0;
	if (n <= 4 || memcmp(s, "user", 4) != 0)
		return 1;
	for (i = 4; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 1;
	return 0;
}

/* One line, n bytes, in a buffer of exactly that size. */
static void
chat_check(const unsigned char *d, size_t n)
{
	const char *arg, *why;
	size_t len;

	if (chat_parse(d, n, &arg, &len) == CHAT_TEXT) {
		if (arg != (const char *)d || (len != n &&
		    !(len + 1 == n && d[len] == '\n') &&
		    !(len + 2 == n && d[len] == '\r' && d[len + 1] == '\n')))
			abort();
		return;
	}
	if (arg < (const char *)d + 5 || arg + len > (const char *)d + n ||
	    (len > 0 && (arg[0] == ' ' || arg[len - 1] == ' ' ||
	    arg[len - 1] == '\r')))
		abort();
	why = chat_name_bad(arg, len);
	if ((why == NULL) != chat_name_ok(arg, len))
		abort();
}

/* The hub over the input, with options from its first byte. */
static void
hub_check(const uint8_t *data, size_t size)
{
	struct np_opts o;

	if (size == 0)
		return;
	memset(&o, 0, sizeof(o));
	o.broker = 1;
	o.chat = data[0] & 1;
	o.broker_block = (data[0] & 2) != 0;
	o.queue_size = ((data[0] >> 2) & 0x3f) * 64 + 1;
	o.no_stdin = 1;
	o.inherit_fd = -1;
	if (broker_fuzz(&o, data + 1, size - 1) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	unsigned char *line;
	size_t take;

	hub_check(data, size);
	while (size > 0) {
		nl = memchr(data, '\n', size);
		take = nl != NULL ? (size_t)(nl - data) + 1 : size;
		if (take > CHAT_LINE)
			take = CHAT_LINE;
		if ((line = malloc(take)) == NULL)
			return 0;
		memcpy(line, data, take);
		chat_check(line, take);
		free(line);
		data += take;
		size -= take;
	}
	return 0;
}

/*
 * chat.c: the --chat protocol as text: what a line says (text or a
 * /nick command), which names a peer may take, and how a line's control
 * bytes are shown.  Pure functions over buffers, the fuzz target's
 * reach; the hub that moves the lines is broker.c's.
 */

#include <sys/types.h>

#include <string.h>

#include "netpipe.h"

static int	 chat_reserved(const char *, size_t);

/*
 * Copy n bytes of chat text to dst, each control byte but TAB shown as
 * '^' and a letter (CR as ^M, ESC as ^[, DEL as ^?), so that a peer
 * cannot move the cursor on another's terminal, nor write over the name
 * in front of its own line.  dst has room for 2 * n bytes.  Returns the
 * bytes written.
 */
size_t
chat_text(unsigned char *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			dst[k++] = '^';
			dst[k++] = s[i] ^ 0x40;
		} else
			dst[k++] = s[i];
	}
	return k;
}

/*
 * One chat line of n bytes, its '\n' included when it has one.  Returns
 * CHAT_NICK_CMD for a /nick command, with *arg and *len the name it
 * asks for (blanks around it and a CR after it dropped; *len may be
 * 0), or CHAT_TEXT with *len the length of the text without its
 * line end ('\n' or CR LF).  Pure, so that a fuzzer can call it; *arg
 * points into d.
 */
int
chat_parse(const unsigned char *d, size_t n, const char **arg,
    size_t *len)
{
	const char *s;

	if (n > 0 && d[n - 1] == '\n') {
		n--;
		if (n > 0 && d[n - 1] == '\r')
			n--;
	}
	*arg = (const char *)d;
	*len = n;
	if (n < 5 || memcmp(d, "/nick", 5) != 0 || (n > 5 && d[5] != ' '))
		return CHAT_TEXT;
	s = (const char *)d + 5;
	n -= 5;
	while (n > 0 && *s == ' ') {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	*arg = s;
	*len = n;
	return CHAT_NICK_CMD;
}

/*
 * Whether s, n bytes not NUL-terminated, is a name only netpipe gives:
 * userN, kept for peers that have not chosen, and announce.
 */
static int
chat_reserved(const char *s, size_t n)
{
	size_t i;

	if (n == 8 && memcmp(s, "announce", 8) == 0)
		return 1;
	if (n <= 4 || memcmp(s, "user", 4) != 0)
		return 0;
	/* Not strspn(): s ends at n, with no NUL after it. */
	for (i = 4; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * Why s, n bytes not NUL-terminated, can be nobody's chat name, or NULL
 * when it is a good one; whether a peer holds it already is the
 * caller's question.  Control bytes, blanks and angle brackets are
 * refused so that a name cannot forge a line of its own.  Returns a
 * constant string.  Pure, so that a fuzzer can call it.
 */
const char *
chat_name_bad(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CHAT_NICK)
		return "a name has 1 to 32 bytes";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f ||
		    s[i] == '<' || s[i] == '>')
			return "control bytes, blanks, < and > are not allowed";
	if (chat_reserved(s, n))
		return "that name is reserved";
	return NULL;
}

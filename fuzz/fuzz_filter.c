/*
 * libFuzzer target: the -C and -t transforms, fed in two pieces so that
 * state carried across reads is exercised too.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filter f = { 0, 0, 0 };
	unsigned char *buf, *out, reply[64];
	size_t half = size / 2, n, r, crlf = 0;

	if ((buf = malloc(size + 1)) == NULL ||
	    (out = malloc(2 * size + 1)) == NULL) {
		free(buf);
		return 0;
	}
	memcpy(buf, data, size);
	crlf += filter_crlf(&f, buf, half, out);
	crlf += filter_crlf(&f, buf + half, size - half, out + crlf);
	if (crlf < size || crlf > 2 * size)
		abort();
	n = filter_telnet(&f, buf, half, reply, sizeof(reply), &r);
	if (n > half || r > sizeof(reply) || r % 3 != 0)
		abort();
	n = filter_telnet(&f, buf + half, size - half, reply, 3, &r);
	if (n > size - half || r > 3)
		abort();
	free(buf);
	free(out);
	return 0;
}

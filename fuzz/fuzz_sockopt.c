/*
 * libFuzzer target: --sockopt NAME[=VALUE] and --join GROUP[@iface], as
 * sockopt_check() validates them before any socket exists.  The first
 * byte picks the side and the socket kind (listener, UDP, Unix, and
 * whether the last spec is a --join); the rest is split at NUL bytes
 * into specs.  A bad spec returns -1 with a message; a good set is then
 * walked as the socket code walks it.
 */

#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

#define MAX_SPECS	8

/* Names the pump and the tests ask sock_opt_given() about. */
static const char *const names[] = {
	"rcvbuf", "sndbuf", "tos", "fastopen", "linger", "nosuch"
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *specs[MAX_SPECS];
	struct np_opts o;
	char *copy, err[512];
	size_t i, n = 0;

	if (size == 0 || (copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	memset(&o, 0, sizeof(o));
	o.mode = (data[0] & 1) ? MODE_LISTEN : MODE_CONNECT;
	o.udp = (data[0] & 2) != 0;
	o.unix_sock = (data[0] & 4) != 0;
	o.family = (data[0] & 16) ? AF_INET6 : (data[0] & 32) ? AF_INET :
	    AF_UNSPEC;
	o.tos = o.ttl = o.min_ttl = -1;
	specs[n++] = copy;
	for (i = 0; i < size - 1 && n < MAX_SPECS; i++)
		if (copy[i] == '\0')
			specs[n++] = copy + i + 1;
	if ((data[0] & 8) && n > 1)
		o.join = specs[--n];
	o.sockopts.v = specs;
	o.sockopts.n = n;
	if (sockopt_check(&o, err, sizeof(err)) == 0) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			sock_opt_given(&o, names[i]);
		sockopt_join_family(&o);
	} else if (err[0] == '\0')
		abort();	/* an error without a message */
	free(copy);
	return 0;
}

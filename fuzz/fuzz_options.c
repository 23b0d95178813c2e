/*
 * libFuzzer target: the whole command line.  The input is split at NUL
 * bytes into argv.  opts_parse() returns every error with its message,
 * which must be a string that fits the buffer.
 */

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

#define MAX_ARGS	24

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct np_opts o;
	char *copy, *argv[MAX_ARGS + 2], err[256];
	int argc = 1;
	size_t i;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = "netpipe";
	argv[argc++] = copy;
	for (i = 0; i < size && argc <= MAX_ARGS; i++)
		if (copy[i] == '\0')
			argv[argc++] = copy + i + 1;
	argv[argc] = NULL;
	optind = 0;
	opterr = 0;
	err[sizeof(err) - 1] = 'x';
	if (opts_parse(&o, argc, argv, err, sizeof(err) - 1) < 0 &&
	    strnlen(err, sizeof(err) - 1) == sizeof(err) - 1)
		abort();	/* a message left unterminated */
	if (err[sizeof(err) - 1] != 'x')
		abort();
	opts_free(&o);
	free(copy);
	return 0;
}

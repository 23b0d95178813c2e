/*
 * libFuzzer target: the whole command line.  The input is split at NUL
 * bytes into argv.  Parsing exits on every usage error; common.c turns
 * that exit into a jump back here.
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
	char *copy, *argv[MAX_ARGS + 2];
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
	fuzz_armed = 1;
	if (setjmp(fuzz_back) == 0)
		opts_parse(&o, argc, argv);
	fuzz_armed = 0;
	opts_free(&o);
	free(copy);
	return 0;
}

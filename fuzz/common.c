/*
 * Shared by every fuzz target: parsers exit on bad input, so exit(),
 * err() and errx() are wrapped at link time and jump back to the target
 * while fuzz_armed is set.  libFuzzer itself exits through exit() too,
 * so outside a parse they do what they always do.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>

#include "common.h"

jmp_buf	fuzz_back;
int	fuzz_armed;

void	__real_exit(int) __attribute__((noreturn));

void
__wrap_exit(int code)
{
	if (!fuzz_armed)
		__real_exit(code);
	longjmp(fuzz_back, code + 1);
}

void
__wrap_errx(int code, const char *fmt, ...)
{
	(void)fmt;
	__wrap_exit(code);
}

void
__wrap_err(int code, const char *fmt, ...)
{
	(void)fmt;
	__wrap_exit(code);
}

/*
 * Warnings are dropped: a broker fed by the fuzzer drops peers with a
 * message, thousands of times a second.
 */
void
__wrap_warn(const char *fmt, ...)
{
	(void)fmt;
}

void
__wrap_warnx(const char *fmt, ...)
{
	(void)fmt;
}

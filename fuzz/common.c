/*
 * Shared by every fuzz target.  The parsers return their errors, so
 * nothing here catches an exit: a parser that exits is a finding.
 * Warnings are dropped: a broker fed by the fuzzer drops peers with a
 * message, thousands of times a second.
 */

#include <stdarg.h>

#include "common.h"

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

/* fuzz/common.h: what every target shares. */

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	__wrap_warn(const char *, ...);
void	__wrap_warnx(const char *, ...);

/* fuzz/common.h: what the wrapped exit() jumps back to. */

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

extern jmp_buf	fuzz_back;
extern int	fuzz_armed;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	__wrap_exit(int) __attribute__((noreturn));
void	__wrap_errx(int, const char *, ...) __attribute__((noreturn));
void	__wrap_err(int, const char *, ...) __attribute__((noreturn));
void	__wrap_warn(const char *, ...);
void	__wrap_warnx(const char *, ...);

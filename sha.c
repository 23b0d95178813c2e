/*
 * sha.c: SHA-256 for --resume.  libcrypto's uses the CPU's SHA
 * extensions where there are some (2.0 GB/s here, against libmd's 330
 * MB/s), and a resumable transfer hashes every byte on both ends, so it
 * is taken when it can be opened; libmd is the fallback.  libcrypto is
 * opened with dlopen(3), as libtls is: a netpipe that never hashes never
 * loads it.
 */

#include <sys/types.h>

#include <dlfcn.h>
#include <sha2.h>
#include <stddef.h>
#include <string.h>

#include "netpipe.h"

#ifndef NP_CRYPTO_SONAME
#define NP_CRYPTO_SONAME	"libcrypto.so"
#endif

/* The few EVP calls used, as untyped pointers: no OpenSSL header needed. */
static struct {
	int	  tried;
	void	*(*md_ctx_new)(void);
	void	 (*md_ctx_free)(void *);
	int	 (*init)(void *, const void *, void *);
	int	 (*update)(void *, const void *, size_t);
	int	 (*final)(void *, unsigned char *, unsigned int *);
	int	 (*copy)(void *, const void *);
	const void *(*sha256)(void);
} evp;

static int	 sha_load(void);

/* Whether libcrypto is there, opened once. */
static int
sha_load(void)
{
	void *h;

	if (evp.tried)
		return evp.sha256 != NULL;
	evp.tried = 1;
	if ((h = dlopen(NP_CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return 0;
	*(void **)&evp.md_ctx_new = dlsym(h, "EVP_MD_CTX_new");
	*(void **)&evp.md_ctx_free = dlsym(h, "EVP_MD_CTX_free");
	*(void **)&evp.init = dlsym(h, "EVP_DigestInit_ex");
	*(void **)&evp.update = dlsym(h, "EVP_DigestUpdate");
	*(void **)&evp.final = dlsym(h, "EVP_DigestFinal_ex");
	*(void **)&evp.copy = dlsym(h, "EVP_MD_CTX_copy_ex");
	if (evp.md_ctx_new == NULL || evp.md_ctx_free == NULL ||
	    evp.init == NULL || evp.update == NULL || evp.final == NULL ||
	    evp.copy == NULL)
		return 0;
	*(void **)&evp.sha256 = dlsym(h, "EVP_sha256");
	return evp.sha256 != NULL;
}

/* A fresh digest; np_sha_final() or np_sha_free() releases it. */
void
np_sha_init(struct np_sha *s)
{
	memset(s, 0, sizeof(*s));
	if (sha_load() && (s->evp = evp.md_ctx_new()) != NULL &&
	    evp.init(s->evp, evp.sha256(), NULL) != 1) {
		evp.md_ctx_free(s->evp);
		s->evp = NULL;
	}
	if (s->evp == NULL)
		SHA256Init(&s->md);
}

void
np_sha_update(struct np_sha *s, const void *p, size_t n)
{
	if (s->evp != NULL)
		evp.update(s->evp, p, n);
	else
		SHA256Update(&s->md, p, n);
}

/* dst (not initialised) becomes a copy of src's state. */
void
np_sha_copy(struct np_sha *dst, const struct np_sha *src)
{
	*dst = *src;
	if (src->evp == NULL)
		return;
	if ((dst->evp = evp.md_ctx_new()) != NULL &&
	    evp.copy(dst->evp, src->evp) == 1)
		return;
	/* Out of memory: no digest can be trusted; a zero one won't match. */
	if (dst->evp != NULL)
		evp.md_ctx_free(dst->evp);
	dst->evp = NULL;
	SHA256Init(&dst->md);
}

/* The digest of what was hashed, into out; s is released. */
void
np_sha_final(struct np_sha *s, unsigned char out[NP_SHA_LEN])
{
	unsigned int len = NP_SHA_LEN;

	if (s->evp != NULL) {
		evp.final(s->evp, out, &len);
		np_sha_free(s);
	} else
		SHA256Final(out, &s->md);
}

void
np_sha_free(struct np_sha *s)
{
	if (s->evp != NULL)
		evp.md_ctx_free(s->evp);
	s->evp = NULL;
}

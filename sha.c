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
#include <errno.h>
#include <pthread.h>
#include <sha2.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * A hashing thread: both ends of --resume hash every byte, and doing
 * it beside the socket work rather than between calls to it lets the
 * two overlap on a second core.  The caller queues segments, bytes in
 * memory that stay valid until np_shaq_wait() says they are hashed or
 * a file's bytes that the thread reads itself, and reads the digest
 * only after np_shaq_sync().  Without a thread (pthread_create
 * failed), segments are hashed as they are queued.
 */
#define SHAQ_SLOTS	64
#define SHAQ_BUF	(256 * 1024)	/* a file is read through it */

struct shaq_seg {
	const void	*p;		/* or NULL: read n bytes of fd at off */
	size_t		 n;
	int		 fd;
	off_t		 off;
};

struct np_shaq {
	struct np_sha	*ctx;
	pthread_t	 thread;
	int		 threaded;
	int		 stop;
	int		 error;		/* errno of a failed read, or 0 */
	unsigned char	*buf;		/* SHAQ_BUF */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;		/* a segment came, or one is done */
	struct shaq_seg	 seg[SHAQ_SLOTS];
	unsigned long long pushed, done;	/* segment counts */
};

static void	*shaq_main(void *);
static int	 shaq_hash(struct np_shaq *, const struct shaq_seg *);
static unsigned long long shaq_push(struct np_shaq *,
		    const struct shaq_seg *);

/*
 * One segment into the digest.  A file that ends early is an error
 * (EIO): the bytes promised are not there.  Returns 0 or an errno.
 */
static int
shaq_hash(struct np_shaq *q, const struct shaq_seg *s)
{
	off_t off = s->off;
	size_t left = s->n;
	ssize_t k;

	if (s->p != NULL) {
		np_sha_update(q->ctx, s->p, s->n);
		return 0;
	}
	while (left > 0) {
		k = pread(s->fd, q->buf, left < SHAQ_BUF ? left : SHAQ_BUF,
		    off);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return k == 0 ? EIO : errno;
		np_sha_update(q->ctx, q->buf, k);
		off += k;
		left -= k;
	}
	return 0;
}

static void *
shaq_main(void *arg)
{
	struct np_shaq *q = arg;
	struct shaq_seg s;
	int e;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->done == q->pushed && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->done == q->pushed)
			break;
		s = q->seg[q->done % SHAQ_SLOTS];
		pthread_mutex_unlock(&q->lock);
		e = q->error == 0 ? shaq_hash(q, &s) : 0;
		pthread_mutex_lock(&q->lock);
		if (e != 0)
			q->error = e;
		q->done++;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* A queue hashing into ctx; NULL when out of memory. */
struct np_shaq *
np_shaq_new(struct np_sha *ctx)
{
	struct np_shaq *q;
	sigset_t all, old;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->buf = malloc(SHAQ_BUF)) == NULL) {
		free(q);
		return NULL;
	}
	q->ctx = ctx;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	/* Signals stay with the event loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	q->threaded = pthread_create(&q->thread, NULL, shaq_main, q) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return q;
}

/*
 * Queue n bytes at p (waiting while the queue is full).  Returns the
 * ticket to pass to np_shaq_wait() before p may be reused.
 */
unsigned long long
np_shaq_push(struct np_shaq *q, const void *p, size_t n)
{
	struct shaq_seg s = { .p = p, .n = n, .fd = -1 };

	return shaq_push(q, &s);
}

/* Queue the n bytes of file fd at off: the thread reads them. */
void
np_shaq_push_file(struct np_shaq *q, int fd, off_t off, size_t n)
{
	struct shaq_seg s = { .n = n, .fd = fd, .off = off };

	shaq_push(q, &s);
}

static unsigned long long
shaq_push(struct np_shaq *q, const struct shaq_seg *s)
{
	unsigned long long t;
	int e;

	if (!q->threaded) {
		if (q->error == 0 && (e = shaq_hash(q, s)) != 0)
			q->error = e;
		return ++q->pushed;
	}
	pthread_mutex_lock(&q->lock);
	while (q->pushed - q->done == SHAQ_SLOTS)
		pthread_cond_wait(&q->cond, &q->lock);
	q->seg[q->pushed % SHAQ_SLOTS] = *s;
	t = ++q->pushed;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return t;
}

/* Until the segments up to ticket t are hashed. */
void
np_shaq_wait(struct np_shaq *q, unsigned long long t)
{
	if (!q->threaded)
		return;
	pthread_mutex_lock(&q->lock);
	while (q->done < t)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

/*
 * Until everything queued is hashed: the digest may then be read.
 * Returns 0, or -1 with errno when a file could not be read (the
 * digest is then not the stream's; the error stays).
 */
int
np_shaq_sync(struct np_shaq *q)
{
	if (q == NULL)
		return 0;
	np_shaq_wait(q, q->pushed);
	if (q->error != 0) {
		errno = q->error;
		return -1;
	}
	return 0;
}

/* Hash what is queued, stop the thread and free q. */
void
np_shaq_free(struct np_shaq *q)
{
	if (q == NULL)
		return;
	if (q->threaded) {
		pthread_mutex_lock(&q->lock);
		q->stop = 1;
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->buf);
	free(q);
}

/*
 * pp.c: --passphrase.  Two netpipes that share a phrase agree on keys
 * with SPAKE2 (the balanced PAKE of python3-spake2, which magic-wormhole
 * uses, and with its exact group, constants and key derivation), confirm
 * the key both ways before any data, and then move the data in AEAD
 * records: AES-256-GCM where the CPU has it, XChaCha20-Poly1305
 * otherwise.  AES-256-GCM is libcrypto's where it can be opened (about
 * 2.5 times libsodium's speed here), libsodium's otherwise: the same
 * records either way.  The wire format is in netpipe.1, ENCRYPTION
 * WITHOUT CERTIFICATES; the reasons are in SECURITY.md.
 *
 * The calls are shaped like tls.c's: pp_io() never blocks and returns
 * NTLS_WANT with the events to poll for, so the pump treats an encrypted
 * peer as one more endpoint.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <readpassphrase.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "netpipe.h"

/*
 * Hello: magic, flags, then python3-spake2's message (a side byte and
 * the blinded point).  Both ends send theirs at once, so the handshake
 * costs one round trip and the confirmations half of another.
 */
#define PP_MAGIC	"NPPASS1"
#define PP_MAGICLEN	7
#define PP_HELLO	(PP_MAGICLEN + 1 + 1 + 32)
#define PP_CONFIRM	32
#define PP_FLAG_AES	0x01		/* "I can do AES-256-GCM" */
/* Record: type and plaintext length (24 bits), sealed data, tag. */
#define PP_HDR		4
#define PP_TAG		16
#define PP_DATA		0
#define PP_END		1
/* Records in one batch of the write side: one send(2) for all. */
#define PP_BATCH	4
#define PP_INCAP	(512 * 1024)
/* Room for the end record behind a batch that a peer left unsent. */
#define PP_OUTCAP	((PP_BATCH + 1) * PP_RECORD)

/* Whose hello is whose: SPAKE2's A is the client, B the listener. */
#define PP_A		0
#define PP_B		1
#define PP_SEND		0
#define PP_RECV		1

enum pp_state { PP_HELLO_WAIT, PP_CONFIRM_WAIT, PP_OPEN };

#ifndef NP_CRYPTO_SONAME
#define NP_CRYPTO_SONAME	"libcrypto.so"
#endif
/* EVP_CTRL_GCM_GET_TAG and _SET_TAG, without OpenSSL's headers. */
#define PP_EVP_GET_TAG	0x10
#define PP_EVP_SET_TAG	0x11

/*
 * The EVP calls for AES-256-GCM, as untyped pointers (sha.c does the
 * same for SHA-256): a netpipe that never seals never loads libcrypto.
 * init is EVP_EncryptInit_ex or EVP_DecryptInit_ex, and so on.
 */
struct pp_evp_dir {
	int	 (*init)(void *, const void *, void *, const unsigned char *,
		    const unsigned char *);
	int	 (*update)(void *, unsigned char *, int *,
		    const unsigned char *, int);
	int	 (*final)(void *, unsigned char *, int *);
};
static struct {
	int		  tried;
	void		*(*ctx_new)(void);
	void		 (*ctx_free)(void *);
	int		 (*ctrl)(void *, int, int, void *);
	const void	*(*gcm)(void);
	struct pp_evp_dir dir[2];	/* PP_SEND, PP_RECV */
} pp_evp;

/*
 * python3-spake2's M and N for Ed25519: its arbitrary_element() of the
 * seeds "M" and "N" (HKDF-SHA256, info "SPAKE2 arbitrary element", the
 * first curve point at or above that y, times 8).  Deriving them needs
 * square roots in the field, which libsodium does not export, so they
 * are written down here; the interoperability test in passphrase.bats
 * fails if either is wrong.
 */
static const unsigned char pp_m[32] = {
	0x15, 0xcf, 0xd1, 0x8e, 0x38, 0x59, 0x52, 0x98, 0x2b, 0x6a, 0x8f,
	0x8c, 0x78, 0x54, 0x96, 0x3b, 0x58, 0xe3, 0x43, 0x88, 0xc8, 0xe6,
	0xda, 0xe8, 0x91, 0xdb, 0x75, 0x64, 0x81, 0xa0, 0x23, 0x12
};
static const unsigned char pp_n[32] = {
	0xf0, 0x4f, 0x2e, 0x7e, 0xb7, 0x34, 0xb2, 0xa8, 0xf8, 0xb4, 0x72,
	0xea, 0xf9, 0xc3, 0xc6, 0x32, 0x57, 0x6a, 0xc6, 0x4a, 0xea, 0x65,
	0x0b, 0x49, 0x6a, 0x8a, 0x20, 0xff, 0x00, 0xe5, 0x83, 0xc3
};
/* SPAKE2 identities: they bind the roles into the key. */
static const char pp_id[2][16] = { "netpipe client", "netpipe server" };

struct pp {
	int		 fd;
	int		 side;		/* PP_A or PP_B */
	int		 state;
	int		 aes;		/* else XChaCha20-Poly1305 */
	int		 verbose;
	struct pp_secret *sec;
	unsigned char	 x[32];		/* our ephemeral scalar */
	unsigned char	 hello[2][PP_HELLO];	/* A's and B's */
	unsigned char	 confirm[PP_CONFIRM];	/* what the peer must send */
	unsigned char	 key[2][32];	/* PP_SEND, PP_RECV */
	crypto_aead_aes256gcm_state gcm[2];
	void		*evp[2];	/* libcrypto's, or NULL */
	uint64_t	 seq[2];
	unsigned char	*in;		/* read, not yet opened */
	size_t		 inlen;
	unsigned char	*plain;		/* opened, not yet taken */
	size_t		 poff, plen;
	unsigned char	*out;		/* sealed, not yet sent */
	size_t		 ooff, olen;
	size_t		 taken;		/* the caller's bytes out holds */
	int		 in_end;	/* the peer's end record came */
	int		 out_end;	/* ours is queued */
	int		 bad;		/* a record failed: -1 from now on */
};

static void	 pp_hmac(unsigned char *, const unsigned char *,
		    const unsigned char *, size_t, const unsigned char *,
		    size_t);
static void	 pp_expand(unsigned char *, const unsigned char *,
		    const char *);
static int	 pp_hello_take(struct pp *, const unsigned char *);
static int	 pp_keys(struct pp *, const unsigned char *,
		    const unsigned char *);
static void	 pp_nonce(const struct pp *, int, unsigned char *);
static int	 pp_evp_load(void);
static void	 pp_evp_keys(struct pp *);
static int	 pp_evp_seal(struct pp *, unsigned char *, unsigned char *,
		    const unsigned char *, size_t, const unsigned char *,
		    const unsigned char *);
static int	 pp_evp_open(struct pp *, unsigned char *,
		    const unsigned char *, size_t, const unsigned char *);
static void	 pp_seal(struct pp *, int, const unsigned char *, size_t);
static int	 pp_open_one(struct pp *, const unsigned char *,
		    unsigned char *);
static ssize_t	 pp_open(struct pp *, unsigned char *, size_t);
static int	 pp_flush(struct pp *, short *, int);
static int	 pp_fill(struct pp *, size_t, short *, int);
static ssize_t	 pp_read(struct pp *, unsigned char *, size_t, short *);
static ssize_t	 pp_write(struct pp *, const unsigned char *, size_t,
		    short *);
static int	 pp_phrase_tty(char *, size_t);
static void	 pp_phrase_new(char *, size_t);

/* HMAC-SHA256(key, a || b): HKDF's extract and expand are made of it. */
static void
pp_hmac(unsigned char *mac, const unsigned char *key,
    const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, 32);
	crypto_auth_hmacsha256_update(&st, a, alen);
	crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

/* HKDF-Expand (RFC 5869) for one 32-byte block: T(1). */
static void
pp_expand(unsigned char *okm, const unsigned char *prk, const char *label)
{
	unsigned char one = 1;

	pp_hmac(okm, prk, (const unsigned char *)label, strlen(label), &one,
	    1);
}

/*
 * The phrase as python3-spake2 makes it a scalar: 48 bytes of
 * HKDF-SHA256 (empty salt, info "SPAKE2 pw") read big-endian, mod L.
 * The phrase itself is kept only as its SHA-256, for the transcript.
 * Returns 0, or -1 after a message.
 */
int
pp_secret_set(struct pp_secret *s, const char *phrase, size_t len)
{
	unsigned char zero[32] = { 0 }, prk[32], t[64], wide[64];
	unsigned char one = 1, two = 2;
	const char *info = "SPAKE2 pw";
	size_t i;

	if (sodium_init() == -1) {
		warnx("passphrase: libsodium cannot start");
		return -1;
	}
	pp_hmac(prk, zero, (const unsigned char *)phrase, len, NULL, 0);
	pp_hmac(t, prk, (const unsigned char *)info, strlen(info), &one, 1);
	/* T(2) = HMAC(PRK, T(1) || info || 0x02). */
	memcpy(wide, t, 32);
	memcpy(wide + 32, info, strlen(info));
	wide[32 + strlen(info)] = two;
	pp_hmac(t + 32, prk, wide, 32 + strlen(info) + 1, NULL, 0);
	memset(wide, 0, sizeof(wide));
	for (i = 0; i < 48; i++)
		wide[i] = t[47 - i];
	crypto_core_ed25519_scalar_reduce(s->pw_scalar, wide);
	crypto_hash_sha256(s->pw_hash, (const unsigned char *)phrase, len);
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(wide, sizeof(wide));
	s->failures = 0;
	return 0;
}

/*
 * A new end of a --passphrase connection on the connected stream socket
 * fd, its hello queued.  server picks SPAKE2's side B.  The caller
 * frees it with pp_free(); s must outlive it.  Exits when out of memory;
 * NULL after a message when the group arithmetic fails.
 */
struct pp *
pp_new(struct pp_secret *s, int fd, int server, int verbose)
{
	unsigned char xg[32], blind[32];
	struct pp *pp;
	unsigned char *h;

	if ((pp = calloc(1, sizeof(*pp))) == NULL ||
	    (pp->in = malloc(PP_INCAP)) == NULL ||
	    (pp->plain = malloc(PP_PLAIN_MAX)) == NULL ||
	    (pp->out = malloc(PP_OUTCAP)) == NULL)
		err(NP_EXIT_FAIL, "passphrase");
	pp->fd = fd;
	pp->side = server ? PP_B : PP_A;
	pp->sec = s;
	pp->verbose = verbose;
	/* x in [1, L): X* = xG + pw M (A) or pw N (B). */
	crypto_core_ed25519_scalar_random(pp->x);
	h = pp->hello[pp->side];
	memcpy(h, PP_MAGIC, PP_MAGICLEN);
	h[PP_MAGICLEN] = crypto_aead_aes256gcm_is_available() ?
	    PP_FLAG_AES : 0;
	h[PP_MAGICLEN + 1] = server ? 'B' : 'A';
	if (crypto_scalarmult_ed25519_base_noclamp(xg, pp->x) == -1 ||
	    crypto_scalarmult_ed25519_noclamp(blind, s->pw_scalar,
	    server ? pp_n : pp_m) == -1 ||
	    crypto_core_ed25519_add(h + PP_MAGICLEN + 2, xg, blind) == -1) {
		warnx("passphrase: bad group arithmetic");
		pp_free(pp);
		return NULL;
	}
	memcpy(pp->out, h, PP_HELLO);
	pp->olen = PP_HELLO;
	return pp;
}

/*
 * The peer's hello: check it, compute SPAKE2's key and from it ours.
 * Returns 0, or -1 after a message.
 */
static int
pp_hello_take(struct pp *pp, const unsigned char *h)
{
	int peer = !pp->side;
	unsigned char unblind[32], t[32], k[32];
	const unsigned char *elem = h + PP_MAGICLEN + 2;
	int rc = -1;

	if (memcmp(h, PP_MAGIC, PP_MAGICLEN) != 0) {
		warnx("passphrase: the peer does not speak netpipe's "
		    "passphrase protocol");
		return -1;
	}
	if (h[PP_MAGICLEN + 1] != (peer == PP_A ? 'A' : 'B')) {
		warnx("passphrase: both ends are %s", pp->side == PP_A ?
		    "clients" : "listeners");
		return -1;
	}
	memcpy(pp->hello[peer], h, PP_HELLO);
	/* A point outside the prime-order group, or our own, is refused. */
	if (!crypto_core_ed25519_is_valid_point(elem) ||
	    memcmp(elem, pp->hello[pp->side] + PP_MAGICLEN + 2, 32) == 0) {
		warnx("passphrase: the peer sent an invalid key share");
		return -1;
	}
	/* K = x (Y* - pw N), or x (X* - pw M) on side B. */
	if (crypto_scalarmult_ed25519_noclamp(unblind, pp->sec->pw_scalar,
	    peer == PP_A ? pp_m : pp_n) == 0 &&
	    crypto_core_ed25519_sub(t, elem, unblind) == 0 &&
	    crypto_scalarmult_ed25519_noclamp(k, pp->x, t) == 0)
		rc = pp_keys(pp, k, elem);
	else
		warnx("passphrase: the peer sent an invalid key share");
	sodium_memzero(k, sizeof(k));
	sodium_memzero(pp->x, sizeof(pp->x));
	return rc;
}

/*
 * python3-spake2's key, SHA-256(H(pw) || H(idA) || H(idB) || X* || Y* ||
 * K), and from it by HKDF, salted with a hash of both hellos (so that
 * flags and magic are authenticated too): the two confirmations and a
 * key per direction.
 */
static int
pp_keys(struct pp *pp, const unsigned char *k, const unsigned char *elem)
{
	crypto_hash_sha256_state st;
	unsigned char h[32], sk[32], th[32], prk[32], mine[32];
	const unsigned char *xa, *yb;
	int i;

	xa = pp->side == PP_A ? pp->hello[PP_A] + PP_MAGICLEN + 2 : elem;
	yb = pp->side == PP_B ? pp->hello[PP_B] + PP_MAGICLEN + 2 : elem;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, pp->sec->pw_hash, 32);
	for (i = 0; i < 2; i++) {
		crypto_hash_sha256(h, (const unsigned char *)pp_id[i],
		    strlen(pp_id[i]));
		crypto_hash_sha256_update(&st, h, 32);
	}
	crypto_hash_sha256_update(&st, xa, 32);
	crypto_hash_sha256_update(&st, yb, 32);
	crypto_hash_sha256_update(&st, k, 32);
	crypto_hash_sha256_final(&st, sk);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)"netpipe "
	    "passphrase v1", 21);
	crypto_hash_sha256_update(&st, pp->hello[PP_A], PP_HELLO);
	crypto_hash_sha256_update(&st, pp->hello[PP_B], PP_HELLO);
	crypto_hash_sha256_final(&st, th);
	pp_hmac(prk, th, sk, 32, NULL, 0);
	pp_expand(mine, prk, pp->side == PP_A ? "confirm A" : "confirm B");
	pp_expand(pp->confirm, prk, pp->side == PP_A ? "confirm B" :
	    "confirm A");
	pp_expand(pp->key[PP_SEND], prk, pp->side == PP_A ? "data A to B" :
	    "data B to A");
	pp_expand(pp->key[PP_RECV], prk, pp->side == PP_A ? "data B to A" :
	    "data A to B");
	pp->aes = (pp->hello[PP_A][PP_MAGICLEN] & pp->hello[PP_B][PP_MAGICLEN] &
	    PP_FLAG_AES) != 0;
	if (pp->aes) {
		for (i = 0; i < 2; i++)
			crypto_aead_aes256gcm_beforenm(&pp->gcm[i], pp->key[i]);
		pp_evp_keys(pp);
	}
	memcpy(pp->out + pp->olen, mine, PP_CONFIRM);
	pp->olen += PP_CONFIRM;
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(mine, sizeof(mine));
	return 0;
}

/*
 * Read into pp->in until it holds want bytes (or, unless exact, what the
 * socket has, up to want).  Returns 1 when there is something new, 0 at
 * the peer's close, NTLS_WANT with *events, or -1 with errno.
 */
static int
pp_fill(struct pp *pp, size_t want, short *events, int exact)
{
	ssize_t n;
	int got = 0;

	while (pp->inlen < want) {
		n = recv(pp->fd, pp->in + pp->inlen, want - pp->inlen,
		    MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && (got && !exact))
			return 1;
		if (n == -1 && errno == EAGAIN) {
			*events = POLLIN;
			return NTLS_WANT;
		}
		if (n <= 0)
			return (int)n;
		pp->inlen += n;
		got = 1;
		/* A short read says the socket is empty; save the EAGAIN. */
		if (!exact && pp->inlen < want)
			return 1;
	}
	return 1;
}

/*
 * Send what pp->out holds.  Returns 0 when it is all gone, NTLS_WANT
 * with *events, or -1 after a message (none when quiet: the peer was
 * told already, and what was left is dropped).
 */
static int
pp_flush(struct pp *pp, short *events, int quiet)
{
	ssize_t n;

	while (pp->ooff < pp->olen) {
		n = send(pp->fd, pp->out + pp->ooff, pp->olen - pp->ooff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			*events = POLLOUT;
			return NTLS_WANT;
		}
		if (n == -1 && quiet) {
			pp->ooff = pp->olen = 0;
			return -1;
		}
		if (n == -1) {
			if (errno == EPIPE)
				errno = ECONNRESET;
			warn("send");
			return -1;
		}
		pp->ooff += n;
	}
	pp->ooff = pp->olen = 0;
	return 0;
}

/*
 * One step of the handshake, never blocking: 0 once both ends proved
 * they hold the same key, NTLS_WANT with *events set to what poll must
 * wait for, or -1 after a message.  A wrong phrase counts in the
 * secret's failures.  Reads take exactly the handshake's bytes, so that
 * data behind them stays in the socket where poll sees it.
 */
int
pp_handshake_step(struct pp *pp, short *events)
{
	int rc;

	for (;;) {
		if ((rc = pp_flush(pp, events, 0)) != 0)
			return rc;
		if (pp->state == PP_OPEN)
			return 0;
		rc = pp_fill(pp, pp->state == PP_HELLO_WAIT ? PP_HELLO :
		    PP_CONFIRM, events, 1);
		if (rc == NTLS_WANT)
			return rc;
		if (rc <= 0) {
			if (rc == 0)
				warnx("passphrase: the peer closed the "
				    "connection during the handshake");
			else
				warn("passphrase: handshake");
			return -1;
		}
		pp->inlen = 0;
		if (pp->state == PP_HELLO_WAIT) {
			if (pp_hello_take(pp, pp->in) == -1)
				return -1;
			pp->state = PP_CONFIRM_WAIT;
			continue;
		}
		if (crypto_verify_32(pp->in, pp->confirm) != 0) {
			pp->sec->failures++;
			warnx("passphrase does not match");
			return -1;
		}
		pp->state = PP_OPEN;
		if (pp->verbose > 1)
			fprintf(stderr, "Passphrase: SPAKE2, %s (%s)\n",
			    pp_cipher(pp), pp_library(pp));
		else if (pp->verbose > 0)
			fprintf(stderr, "Passphrase: SPAKE2, %s\n",
			    pp_cipher(pp));
	}
}

/*
 * Drive the handshake to its end, waiting at most -w seconds, or
 * NTLS_HANDSHAKE_MS without -w: a peer that says nothing must not hold
 * a listener for ever.  Returns 0, or -1 after a message.
 */
int
pp_handshake(const struct np_opts *o, struct pp *pp)
{
	struct timespec deadline;
	short events;
	int rc, n;

	np_deadline_set(&deadline, o->wait_ms > 0 ? o->wait_ms :
	    NTLS_HANDSHAKE_MS);
	while ((rc = pp_handshake_step(pp, &events)) == NTLS_WANT) {
		n = sock_wait(pp->fd, events, np_deadline_ms(&deadline));
		if (n == 0)
			warnx("passphrase: handshake: %s", strerror(ETIMEDOUT));
		if (n <= 0)
			return -1;
	}
	return rc;
}

/* The AEAD this connection uses, for -v. */
const char *
pp_cipher(const struct pp *pp)
{
	return pp->aes ? "AES-256-GCM" : "XChaCha20-Poly1305";
}

/*
 * Whether the peer's end record was read already, and everything before
 * it handed out: the next read says 0 without the socket, which poll
 * will not wake a reader for.
 */
int
pp_ended(const struct pp *pp)
{
	return pp->in_end && pp->poff >= pp->plen;
}

/* Whose code seals the records, for -vv. */
const char *
pp_library(const struct pp *pp)
{
	return pp->evp[PP_SEND] != NULL && pp->evp[PP_RECV] != NULL ?
	    "libcrypto" : "libsodium";
}

/*
 * libcrypto's EVP calls, once; 0 without them (no library, or
 * NETPIPE_CRYPTO=libsodium, which asks for libsodium's AES-256-GCM).
 */
static int
pp_evp_load(void)
{
	static const char *name[2][3] = {
		{ "EVP_EncryptInit_ex", "EVP_EncryptUpdate",
		    "EVP_EncryptFinal_ex" },
		{ "EVP_DecryptInit_ex", "EVP_DecryptUpdate",
		    "EVP_DecryptFinal_ex" } };
	const char *want = getenv("NETPIPE_CRYPTO");
	void *h;
	int i;

	if (pp_evp.tried)
		return pp_evp.gcm != NULL;
	pp_evp.tried = 1;
	if ((want != NULL && strcmp(want, "libsodium") == 0) ||
	    (h = dlopen(NP_CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return 0;
	*(void **)&pp_evp.ctx_new = dlsym(h, "EVP_CIPHER_CTX_new");
	*(void **)&pp_evp.ctx_free = dlsym(h, "EVP_CIPHER_CTX_free");
	*(void **)&pp_evp.ctrl = dlsym(h, "EVP_CIPHER_CTX_ctrl");
	for (i = 0; i < 2; i++) {
		*(void **)&pp_evp.dir[i].init = dlsym(h, name[i][0]);
		*(void **)&pp_evp.dir[i].update = dlsym(h, name[i][1]);
		*(void **)&pp_evp.dir[i].final = dlsym(h, name[i][2]);
		if (pp_evp.dir[i].init == NULL || pp_evp.dir[i].update ==
		    NULL || pp_evp.dir[i].final == NULL)
			return 0;
	}
	if (pp_evp.ctx_new == NULL || pp_evp.ctx_free == NULL ||
	    pp_evp.ctrl == NULL)
		return 0;
	*(void **)&pp_evp.gcm = dlsym(h, "EVP_aes_256_gcm");
	return pp_evp.gcm != NULL;
}

/*
 * A libcrypto context per direction, its key set once; a direction
 * without one (no libcrypto, no memory) uses libsodium's state.
 */
static void
pp_evp_keys(struct pp *pp)
{
	int i;

	if (!pp_evp_load())
		return;
	for (i = 0; i < 2; i++) {
		if ((pp->evp[i] = pp_evp.ctx_new()) == NULL)
			continue;
		if (pp_evp.dir[i].init(pp->evp[i], pp_evp.gcm(), NULL,
		    pp->key[i], NULL) != 1) {
			pp_evp.ctx_free(pp->evp[i]);
			pp->evp[i] = NULL;
		}
	}
}

/*
 * Seal m (len bytes) into c and tag with libcrypto.  Returns 0, or -1
 * when libcrypto failed, and the caller seals with libsodium: the record
 * is the same.
 */
static int
pp_evp_seal(struct pp *pp, unsigned char *c, unsigned char *tag,
    const unsigned char *m, size_t len, const unsigned char *hdr,
    const unsigned char *nonce)
{
	const struct pp_evp_dir *e = &pp_evp.dir[PP_SEND];
	void *ctx = pp->evp[PP_SEND];
	int n, fin;

	if (e->init(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    e->update(ctx, NULL, &n, hdr, PP_HDR) != 1)
		return -1;
	n = 0;
	if (len > 0 && e->update(ctx, c, &n, m, (int)len) != 1)
		return -1;
	if (e->final(ctx, c + n, &fin) != 1 ||
	    pp_evp.ctrl(ctx, PP_EVP_GET_TAG, PP_TAG, tag) != 1)
		return -1;
	return 0;
}

/*
 * Open record r (len bytes of data) into m with libcrypto.  Returns 0,
 * or -1 when it does not authenticate; m is wiped then, as it was
 * written before the tag could be checked.
 */
static int
pp_evp_open(struct pp *pp, unsigned char *m, const unsigned char *r,
    size_t len, const unsigned char *nonce)
{
	const struct pp_evp_dir *e = &pp_evp.dir[PP_RECV];
	void *ctx = pp->evp[PP_RECV];
	unsigned char tag[PP_TAG];
	int n = 0, fin;

	memcpy(tag, r + PP_HDR + len, PP_TAG);
	if (e->init(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    e->update(ctx, NULL, &n, r, PP_HDR) != 1)
		goto bad;
	n = 0;
	if (len > 0 && e->update(ctx, m, &n, r + PP_HDR, (int)len) != 1)
		goto bad;
	if (pp_evp.ctrl(ctx, PP_EVP_SET_TAG, PP_TAG, tag) == 1 &&
	    e->final(ctx, m + n, &fin) > 0)
		return 0;
bad:
	if (len > 0)
		sodium_memzero(m, len);
	return -1;
}

/* The record counter as a nonce: 12 (GCM) or 24 bytes, big-endian. */
static void
pp_nonce(const struct pp *pp, int dir, unsigned char *nonce)
{
	size_t len = pp->aes ? crypto_aead_aes256gcm_NPUBBYTES :
	    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	uint64_t seq = pp->seq[dir];
	int i;

	memset(nonce, 0, len);
	for (i = 0; i < 8; i++)
		nonce[len - 1 - i] = (seq >> (8 * i)) & 0xff;
}

/* Seal one record of type with len bytes (<= PP_PLAIN_MAX) onto out. */
static void
pp_seal(struct pp *pp, int type, const unsigned char *m, size_t len)
{
	unsigned char nonce[24], *h = pp->out + pp->olen;
	unsigned char *c = h + PP_HDR, *tag = c + len;

	h[0] = type;
	h[1] = (len >> 16) & 0xff;
	h[2] = (len >> 8) & 0xff;
	h[3] = len & 0xff;
	pp_nonce(pp, PP_SEND, nonce);
	/* libsodium's when libcrypto is not there, or failed. */
	if (pp->evp[PP_SEND] != NULL && pp_evp_seal(pp, c, tag, m, len, h,
	    nonce) == 0) {
		/* sealed */
	} else if (pp->aes)
		crypto_aead_aes256gcm_encrypt_detached_afternm(c, tag, NULL,
		    m, len, h, PP_HDR, NULL, nonce, &pp->gcm[PP_SEND]);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(c, tag,
		    NULL, m, len, h, PP_HDR, NULL, nonce, pp->key[PP_SEND]);
	pp->seq[PP_SEND]++;
	pp->olen += PP_HDR + len + PP_TAG;
}

/*
 * Open the record at r, whose header says it is whole in pp->in, into
 * m.  Returns its type, or -1 when it is not the next record of this
 * direction as the peer sealed it (tampered, reordered, replayed).
 */
static int
pp_open_one(struct pp *pp, const unsigned char *r, unsigned char *m)
{
	size_t len = (size_t)r[1] << 16 | (size_t)r[2] << 8 | r[3];
	unsigned char nonce[24];
	int rc;

	pp_nonce(pp, PP_RECV, nonce);
	if (pp->evp[PP_RECV] != NULL)
		rc = pp_evp_open(pp, m, r, len, nonce);
	else if (pp->aes)
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(m, NULL,
		    r + PP_HDR, len, r + PP_HDR + len, r, PP_HDR, nonce,
		    &pp->gcm[PP_RECV]);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(m,
		    NULL, r + PP_HDR, len, r + PP_HDR + len, r, PP_HDR, nonce,
		    pp->key[PP_RECV]);
	if (rc != 0)
		return -1;
	pp->seq[PP_RECV]++;
	return r[0];
}

/*
 * Open the whole records pp->in holds into m, n bytes of room, up to and
 * with the end record.  Returns the bytes opened (the rest stays for the
 * next call), or -1 when the first record is bad; records opened before
 * a bad one are returned first, and pp->bad says what comes next.
 */
static ssize_t
pp_open(struct pp *pp, unsigned char *m, size_t n)
{
	size_t off = 0, got = 0, len;
	unsigned char *r;
	int type;

	while (!pp->in_end && !pp->bad && pp->inlen - off >= PP_HDR) {
		r = pp->in + off;
		len = (size_t)r[1] << 16 | (size_t)r[2] << 8 | r[3];
		if ((r[0] != PP_DATA && r[0] != PP_END) ||
		    len > PP_PLAIN_MAX || (r[0] == PP_END && len != 0)) {
			pp->bad = 1;
			break;
		}
		if (pp->inlen - off < PP_HDR + len + PP_TAG || (len > n - got &&
		    got > 0))
			break;
		/* A caller with less room than a record: keep it here. */
		type = pp_open_one(pp, r, len > n - got ? pp->plain : m + got);
		if (type == -1) {
			pp->bad = 1;
			break;
		}
		off += PP_HDR + len + PP_TAG;
		pp->in_end = type == PP_END;
		if (len > n - got) {
			memcpy(m, pp->plain, n);
			pp->poff = n;
			pp->plen = len;
			got = n;
			break;
		}
		got += len;
	}
	memmove(pp->in, pp->in + off, pp->inlen - off);
	pp->inlen -= off;
	return got == 0 && pp->bad ? -1 : (ssize_t)got;
}

/*
 * Records in, opened into m.  Reads take no more than m can hold once
 * opened: what stayed in here, poll could not see.
 */
static ssize_t
pp_read(struct pp *pp, unsigned char *m, size_t n, short *events)
{
	size_t want, need;
	ssize_t got;
	int rc;

	*events = POLLIN;
	if (pp->poff < pp->plen) {
		got = pp->plen - pp->poff < n ? pp->plen - pp->poff : n;
		memcpy(m, pp->plain + pp->poff, got);
		pp->poff += got;
		return got;
	}
	for (;;) {
		if ((got = pp_open(pp, m, n)) > 0 || pp->in_end)
			return got;
		if (got == -1) {
			warnx("passphrase: a record failed authentication: "
			    "the data was altered, reordered or replayed");
			return -1;
		}
		need = PP_HDR;
		if (pp->inlen >= PP_HDR)
			need = PP_HDR + PP_TAG + ((size_t)pp->in[1] << 16 |
			    (size_t)pp->in[2] << 8 | pp->in[3]);
		want = n < PP_INCAP ? n : PP_INCAP;
		if (want < need)
			want = need;
		if ((rc = pp_fill(pp, want, events, 0)) == NTLS_WANT)
			return rc;
		if (rc == -1) {
			warn("recv");
			return -1;
		}
		if (rc == 0) {
			warnx("passphrase: the connection was cut before the "
			    "peer's end record: the data may be truncated");
			return -1;
		}
	}
}

/*
 * Seal up to PP_BATCH records of m and send them in one call.  When the
 * socket takes only part, NTLS_WANT: the caller repeats the call with
 * the same bytes, and learns how many were taken once all are sent.
 */
static ssize_t
pp_write(struct pp *pp, const unsigned char *m, size_t n, short *events)
{
	size_t off, len, take;
	int rc;

	if (pp->olen == 0) {
		take = n < PP_BATCH * PP_PLAIN_MAX ? n :
		    PP_BATCH * PP_PLAIN_MAX;
		for (off = 0; off < take; off += len) {
			len = take - off < PP_PLAIN_MAX ? take - off :
			    PP_PLAIN_MAX;
			pp_seal(pp, PP_DATA, m + off, len);
		}
		pp->taken = take;
	}
	if ((rc = pp_flush(pp, events, 0)) != 0)
		return rc;
	take = pp->taken;
	pp->taken = 0;
	return take;
}

/*
 * Read (writing 0) or write through the record layer.  Returns the byte
 * count, 0 at the peer's end record, -1 after a message, or NTLS_WANT
 * with *events set to what poll must wait for.  A reader offers room for
 * a whole record (PP_RECORD); a write that returned NTLS_WANT must be
 * repeated with the same bytes.
 */
ssize_t
pp_io(struct pp *pp, int writing, void *buf, size_t n, short *events)
{
	*events = writing ? POLLOUT : POLLIN;
	if (pp->state != PP_OPEN || n == 0)
		return pp->state != PP_OPEN ? -1 : 0;
	return writing ? pp_write(pp, buf, n, events) :
	    pp_read(pp, buf, n, events);
}

/*
 * One try at sending the end record, never blocking: 0 once it is sent
 * (or cannot be), or NTLS_WANT with *events set to what the next try
 * must wait for.
 */
int
pp_close_step(struct pp *pp, short *events)
{
	if (pp->state != PP_OPEN)
		return 0;
	if (!pp->out_end) {
		pp->out_end = 1;
		pp_seal(pp, PP_END, NULL, 0);
	}
	/* A peer that is gone cannot be told; it was told why already. */
	return pp_flush(pp, events, 1) == NTLS_WANT ? NTLS_WANT : 0;
}

/*
 * Send the end record: this direction ended here, and was not cut.
 * Bounded: a peer that stops reading does not hold us here.
 */
void
pp_close(struct pp *pp)
{
	short events;
	int i;

	for (i = 0; i < 100; i++)
		if (pp_close_step(pp, &events) != NTLS_WANT ||
		    sock_wait(pp->fd, events, 100) <= 0)
			return;
}

/* Free pp, wiping its keys; the socket stays open. */
void
pp_free(struct pp *pp)
{
	if (pp == NULL)
		return;
	/* EVP_CIPHER_CTX_free() wipes the key schedule. */
	if (pp->evp[PP_SEND] != NULL)
		pp_evp.ctx_free(pp->evp[PP_SEND]);
	if (pp->evp[PP_RECV] != NULL)
		pp_evp.ctx_free(pp->evp[PP_RECV]);
	free(pp->in);
	if (pp->plain != NULL)
		sodium_memzero(pp->plain, PP_PLAIN_MAX);
	free(pp->plain);
	free(pp->out);
	sodium_memzero(pp, sizeof(*pp));
	free(pp);
}

/*
 * A phrase for the peer to type: PP_NEW_GROUPS groups of four from an
 * alphabet of 32 without 0, 1, l and o, which are easy to confuse: 5
 * bits a letter.
 */
static void
pp_phrase_new(char *buf, size_t len)
{
	static const char abc[] = "23456789abcdefghijkmnpqrstuvwxyz";
	size_t i, j = 0;

	for (i = 0; i < PP_NEW_GROUPS * 4 && j + 2 < len; i++) {
		if (i > 0 && i % 4 == 0)
			buf[j++] = '-';
		buf[j++] = abc[randombytes_uniform(32)];
	}
	buf[j] = '\0';
}

/* The phrase typed on the terminal, echo off.  Returns 0 or -1. */
static int
pp_phrase_tty(char *buf, size_t len)
{
	if (readpassphrase("Passphrase: ", buf, len, RPP_REQUIRE_TTY) !=
	    NULL)
		return 0;
	/* Interrupted: the signal says it all. */
	if (!np_signal)
		warnx("passphrase: no terminal to ask on: set "
		    "NETPIPE_PASSPHRASE");
	return -1;
}

/*
 * The secret for --passphrase: from NETPIPE_PASSPHRASE, which is then
 * wiped (the environment block is what /proc/PID/environ shows, and what
 * children would inherit), from the terminal, or with --passphrase=new
 * made up and printed to stderr.  Returns 0, or -1 after a message.
 */
int
pp_secret_load(const struct np_opts *o, struct pp_secret *s)
{
	char phrase[PP_PHRASE_MAX];
	char *env;
	int rc = -1;

	if (sodium_init() == -1) {
		warnx("passphrase: libsodium cannot start");
		return -1;
	}
	if (o->passphrase_new) {
		pp_phrase_new(phrase, sizeof(phrase));
		fprintf(stderr, "Passphrase: %s\n", phrase);
	} else if ((env = getenv("NETPIPE_PASSPHRASE")) != NULL) {
		rc = strlcpy(phrase, env, sizeof(phrase)) < sizeof(phrase);
		explicit_bzero(env, strlen(env));
		unsetenv("NETPIPE_PASSPHRASE");
		if (!rc) {
			warnx("passphrase: NETPIPE_PASSPHRASE is longer than "
			    "%d bytes", PP_PHRASE_MAX - 1);
			explicit_bzero(phrase, sizeof(phrase));
			return -1;
		}
	} else if (pp_phrase_tty(phrase, sizeof(phrase)) == -1)
		return -1;
	rc = -1;
	if (phrase[0] == '\0')
		warnx("passphrase: the passphrase is empty");
	else
		rc = pp_secret_set(s, phrase, strlen(phrase));
	explicit_bzero(phrase, sizeof(phrase));
	return rc;
}

#ifdef NP_FUZZ
static int	 pp_fuzz_pair(struct pp_secret *, struct pp **, struct pp **,
		    int [2]);
static void	 pp_fuzz_read(struct pp *, size_t, const unsigned char *,
		    size_t);
static void	 pp_fuzz_hello(struct pp_secret *, const unsigned char *,
		    size_t);
static void	 pp_fuzz_alter(struct pp *, struct pp *, int [2],
		    const unsigned char *, size_t);

/*
 * A client and a listener end over a socketpair, through the handshake.
 * Returns 0, or -1 when it failed (which it must not).
 */
static int
pp_fuzz_pair(struct pp_secret *s, struct pp **a, struct pp **b, int sv[2])
{
	short ev;
	int i, ra = NTLS_WANT, rb = NTLS_WANT;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	*a = pp_new(s, sv[0], 0, 0);
	*b = pp_new(s, sv[1], 1, 0);
	for (i = 0; i < 8 && (ra != 0 || rb != 0); i++) {
		if (ra == NTLS_WANT)
			ra = pp_handshake_step(*a, &ev);
		if (rb == NTLS_WANT)
			rb = pp_handshake_step(*b, &ev);
	}
	return ra == 0 && rb == 0 ? 0 : -1;
}

/*
 * Read pp to its end, room bytes at a time.  It must never hand out more
 * than room; with sent, only a prefix of sent, and end with -1 (what it
 * reads was altered).
 */
static void
pp_fuzz_read(struct pp *pp, size_t room, const unsigned char *sent,
    size_t len)
{
	unsigned char *m;
	size_t got = 0;
	ssize_t n;
	short ev;

	if ((m = malloc(room)) == NULL)
		abort();
	while ((n = pp_io(pp, 0, m, room, &ev)) > 0) {
		if ((size_t)n > room || (sent != NULL && (got + n > len ||
		    memcmp(m, sent + got, n) != 0)))
			abort();
		got += n;
	}
	if (sent != NULL && n != -1)
		abort();
	free(m);
}

/* A listener reads d as its client's hello and confirmation. */
static void
pp_fuzz_hello(struct pp_secret *s, const unsigned char *d, size_t len)
{
	struct pp *b;
	short ev;
	int sv[2], i, rc = NTLS_WANT;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	b = pp_new(s, sv[1], 1, 0);
	if (write(sv[0], d, len) != (ssize_t)len)
		abort();
	shutdown(sv[0], SHUT_WR);
	for (i = 0; i < 8 && rc == NTLS_WANT; i++)
		rc = pp_handshake_step(b, &ev);
	if (rc == NTLS_WANT)
		abort();	/* the peer's EOF must end it */
	pp_free(b);
	close(sv[0]);
	close(sv[1]);
}

/*
 * a seals d; what it sends is flipped (d[0] & 1) or cut at a place
 * d[1..2] names, and b must stop at the damage.
 */
static void
pp_fuzz_alter(struct pp *a, struct pp *b, int sv[2], const unsigned char *d,
    size_t size)
{
	static unsigned char wire[PP_OUTCAP];
	size_t len = 0, pos = (size_t)d[1] << 8 | d[2];
	ssize_t n;
	short ev;

	if (pp_io(a, 1, (void *)(d + 3), size - 3, &ev) !=
	    (ssize_t)(size - 3) || pp_close_step(a, &ev) != 0)
		abort();
	close(sv[0]);
	while ((n = read(sv[1], wire + len, sizeof(wire) - len)) > 0)
		len += n;
	close(sv[1]);
	pos %= len;
	if (d[0] & 1)
		wire[pos] ^= 1 << (d[1] & 7);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    write(sv[0], wire, d[0] & 1 ? len : pos) == -1)
		abort();
	shutdown(sv[0], SHUT_WR);
	b->fd = sv[1];
	pp_fuzz_read(b, PP_RECORD, d + 3, size - 3);
}

/*
 * libFuzzer: data[0] says what the rest is.  0: a client's handshake
 * bytes for a listener.  1: a record stream after a good handshake.  2
 * and 3: plaintext a client seals, then altered in transit.
 */
int
pp_fuzz(const unsigned char *data, size_t size)
{
	static struct pp_secret s;
	static int ready;
	struct pp *a, *b;
	int sv[2];

	/* One record's worth fits a socketpair's buffer. */
	if (size < 3 || size > PP_PLAIN_MAX + 3)
		return 0;
	if (!ready && pp_secret_set(&s, "fuzz", 4) == -1)
		abort();
	ready = 1;
	if ((data[0] & 3) == 0) {
		pp_fuzz_hello(&s, data + 1, size - 1);
		return 0;
	}
	if (pp_fuzz_pair(&s, &a, &b, sv) == -1)
		abort();
	if ((data[0] & 3) == 1) {
		if (write(sv[0], data + 3, size - 3) == -1)
			abort();
		shutdown(sv[0], SHUT_WR);
		pp_fuzz_read(b, ((size_t)data[1] << 8 | data[2]) % 2048 + 1,
		    NULL, 0);
	} else
		pp_fuzz_alter(a, b, sv, data, size);
	close(sv[0]);
	close(sv[1]);
	pp_free(a);
	pp_free(b);
	return 0;
}
#endif

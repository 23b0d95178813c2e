/*
 * libFuzzer target: access rules, as --allow/--deny and the lines of an
 * --allow-file give them.  The first byte says which rules deny (bit i
 * for the i-th rule); the rest is split into lines, each trimmed as a
 * rule file's line is and parsed.  Only rules the numeric path takes
 * reach acl_new(), so no name is ever resolved.  The rules built are
 * then asked about fixed peers and each rule's own address, and the
 * answer is checked against a bit-by-bit reading of the rules.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../netpipe.h"
#include "common.h"

#define MAX_RULES	8

struct fuzz_rules {
	const char	*allow[MAX_RULES];
	const char	*deny[MAX_RULES];
	struct acl_rule	 ra[MAX_RULES];
	struct acl_rule	 rd[MAX_RULES];
	size_t		 na;
	size_t		 nd;
};

static const char *const peers[] = {
	"127.0.0.1", "10.1.2.3", "192.168.1.200", "0.0.0.0",
	"255.255.255.255", "::1", "2001:db8::1", "fe80::1",
	"::ffff:10.1.2.3", "::"
};

static void	 acl_check_rule(const struct acl_rule *, int);
static int	 acl_ref_match(const struct acl_rule *, size_t,
		    const unsigned char *);
static void	 acl_check_peer(const struct acl *, const struct fuzz_rules *,
		    const unsigned char *);
static void	 acl_rules(struct fuzz_rules *, char *, unsigned int);

/* A parsed address: a sane prefix, and no bit set beyond it. */
static void
acl_check_rule(const struct acl_rule *r, int rc)
{
	static const unsigned char zero[sizeof(r->addr)];
	int i;

	if (rc != ACL_ADDRESS) {
		if (r->prefix != 0 || memcmp(r->addr, zero, sizeof(zero)) != 0)
			abort();
		return;
	}
	if (r->prefix < 0 || r->prefix > 128)
		abort();
	for (i = r->prefix; i < 128; i++)
		if (r->addr[i / 8] & (0x80 >> (i % 8)))
			abort();
}

/* Whether v6 matches one of the n rules, one bit at a time. */
static int
acl_ref_match(const struct acl_rule *r, size_t n, const unsigned char *v6)
{
	size_t k;
	int i, m;

	for (k = 0; k < n; k++) {
		for (i = 0, m = 1; i < r[k].prefix && m; i++)
			m = ((r[k].addr[i / 8] ^ v6[i / 8]) &
			    (0x80 >> (i % 8))) == 0;
		if (m)
			return 1;
	}
	return 0;
}

/* acl_permits() on an IPv6 peer v6, and on its IPv4 form when mapped. */
static void
acl_check_peer(const struct acl *acl, const struct fuzz_rules *f,
    const unsigned char *v6)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int want;

	want = !acl_ref_match(f->rd, f->nd, v6) &&
	    (f->na == 0 || acl_ref_match(f->ra, f->na, v6));
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	memcpy(&s6.sin6_addr, v6, 16);
	if (acl_permits(acl, (struct sockaddr *)&s6) != want)
		abort();
	if (memcmp(v6, mapped, sizeof(mapped)) != 0)
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	memcpy(&s4.sin_addr, v6 + 12, 4);
	if (acl_permits(acl, (struct sockaddr *)&s4) != want)
		abort();
}

/*
 * The rules on the lines of text, each checked as it is parsed; the
 * addresses go to f, as --deny when their bit in deny is set.
 */
static void
acl_rules(struct fuzz_rules *f, char *text, unsigned int deny)
{
	struct acl_rule r;
	char *line, *next, *rule;
	size_t k = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	for (line = text; line != NULL && k < MAX_RULES; line = next, k++) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((rule = acl_line(line)) == NULL)
			continue;
		rc = acl_parse(rule, &r);
		acl_check_rule(&r, rc);
		if (rc != ACL_ADDRESS)
			continue;
		if (deny & (1U << k)) {
			f->rd[f->nd] = r;
			f->deny[f->nd++] = rule;
		} else {
			f->ra[f->na] = r;
			f->allow[f->na++] = rule;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rules f;
	struct sockaddr_un su;
	struct np_opts o;
	struct acl *acl;
	unsigned char v6[16];
	char *copy;
	size_t i;

	if (size == 0 || (copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	acl_rules(&f, copy, data[0]);
	memset(&o, 0, sizeof(o));
	o.numeric = 1;
	o.allow.v = f.allow;
	o.allow.n = f.na;
	o.deny.v = f.deny;
	o.deny.n = f.nd;
	if ((acl = acl_new(&o)) == NULL)
		abort();	/* an address that parsed was refused */
	if (acl_empty(acl) != (f.na + f.nd == 0))
		abort();
	for (i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		if (inet_pton(AF_INET6, peers[i], v6) != 1) {
			memset(v6, 0, 10);
			v6[10] = v6[11] = 0xff;
			inet_pton(AF_INET, peers[i], v6 + 12);
		}
		acl_check_peer(acl, &f, v6);
	}
	for (i = 0; i < f.na; i++)
		acl_check_peer(acl, &f, f.ra[i].addr);
	for (i = 0; i < f.nd; i++)
		acl_check_peer(acl, &f, f.rd[i].addr);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	if (!acl_permits(acl, (struct sockaddr *)&su))
		abort();
	acl_free(acl);
	free(copy);
	return 0;
}

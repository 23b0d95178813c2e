/*
 * proxy.c: reach the destination through a SOCKS4, SOCKS4a, SOCKS5 or
 * HTTP CONNECT proxy (-x, -X, -P, --proxy-dns), and hand a connected
 * socket to the parent process (-F).  The shape is OpenBSD nc's socks.c:
 * one strerror function per protocol, a bounded header loop, and secrets
 * wiped after use.
 * Unlike nc, nothing here exits: each failure is one message and -1, and
 * the whole handshake is bounded by -w.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <readpassphrase.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netpipe.h"

#define SOCKS_V4	4
#define SOCKS_V5	5
#define SOCKS_CONNECT	1
#define SOCKS_NOAUTH	0x00
#define SOCKS_USERPASS	0x02
#define SOCKS_NOMETHOD	0xff
#define SOCKS_IPV4	1
#define SOCKS_DOMAIN	3
#define SOCKS_IPV6	4
#define SOCKS4_GRANTED	90
#define SOCKS_AUTH_V1	1	/* RFC 1929 sub-negotiation version */
#define SOCKS_FIELD	255	/* longest name, user or password */
/* The longest SOCKS5 reply: a bound name of SOCKS_FIELD bytes. */
#define SOCKS5_REPLY_MAX	(4 + 1 + SOCKS_FIELD + 2)

/* The longest status or header line we read, and how many headers. */
#define HTTP_LINE	1024
#define HTTP_MAXHDRS	64
/* How much of the proxy's own words a message quotes. */
#define HTTP_SHOWN	200

/* Room for a password: the environment or the terminal may give more. */
#define PROXY_SECRET	1024
/*
 * A handshake without -w must end within this, the proxy's own connect
 * to the destination included: whatever a proxy sends, or does not.
 */
#define PROXY_HANDSHAKE_S	60

/* The destination in the form the request needs it. */
struct proxy_dest {
	int		 family;	/* AF_INET, AF_INET6, or 0 for a name */
	unsigned char	 addr[16];
	unsigned char	 port[2];	/* network order */
};

/*
 * One handshake: the options, the socket to the proxy, the loop whose
 * timer ends it after -w, and the password -P asked for (wiped by
 * proxy_connect()).
 */
struct proxy_conn {
	const struct np_opts	*o;
	int			 fd;
	int			 ms;		/* -w, or the default */
	struct loop		*loop;
	int			 ready;		/* fd was, for proxy_wait() */
	int			 expired;	/* the ms are over */
	struct proxy_dest	 dest;
	char			 password[PROXY_SECRET];
};

static void	 proxy_fail(const struct proxy_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 proxy_ready(struct loop *, int, int, void *);
static int	 proxy_expire(struct loop *, long long, void *);
static int	 proxy_wait(struct proxy_conn *, int);
static int	 proxy_due(struct proxy_conn *);
static int	 proxy_write(struct proxy_conn *, const void *, size_t);
static int	 proxy_read(struct proxy_conn *, void *, size_t);
static int	 proxy_password(struct proxy_conn *);
static int	 proxy_dest(const struct proxy_conn *, struct proxy_dest *);
static int	 proxy_handshake(struct proxy_conn *);
static int	 proxy_protocol(struct proxy_conn *);
static void	 proxy_report(const struct np_opts *);
static const char *socks4_strerror(int);
static const char *socks5_strerror(int);
static const char *http_strerror(int, int);
static int	 socks4_resolve(const struct proxy_conn *, struct proxy_dest *);
static int	 socks4_handshake(struct proxy_conn *);
static int	 socks5_handshake(struct proxy_conn *);
static int	 socks5_auth(struct proxy_conn *);
static int	 socks5_request(struct proxy_conn *);
static int	 socks5_reply(struct proxy_conn *);
static int	 http_handshake(struct proxy_conn *);
static int	 http_request(struct proxy_conn *);
static int	 http_read_line(struct proxy_conn *, char *, size_t);
static int	 http_code(const char *);
static void	 printable(char *);
static int	 base64(const char *, size_t, char *, size_t);

/* Every message names the proxy, so that it is not taken for the peer. */
static void
proxy_fail(const struct proxy_conn *pc, const char *fmt, ...)
{
	char msg[HTTP_LINE + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("proxy %s port %s: %s", pc->o->proxy_host, pc->o->proxy_port,
	    msg);
}

/* The socket is ready for what proxy_wait() waits for. */
static void
proxy_ready(struct loop *l, int fd, int fired, void *arg)
{
	struct proxy_conn *pc = arg;

	(void)l;
	(void)fd;
	(void)fired;
	pc->ready = 1;
}

/* The handshake's time is over. */
static int
proxy_expire(struct loop *l, long long id, void *arg)
{
	struct proxy_conn *pc = arg;

	(void)l;
	(void)id;
	pc->expired = 1;
	return LOOP_NOMORE;
}

/*
 * Wait for the socket (mask: LOOP_READ or LOOP_WRITE) until the -w timer
 * ends the handshake: a synchronous wait on the loop, which is all a
 * handshake needs.  Returns 0 when ready, -1 after a message on timeout
 * or error, or -1 with errno EINTR and no message when a signal arrived.
 */
static int
proxy_wait(struct proxy_conn *pc, int mask)
{
	pc->ready = 0;
	if (loop_fd(pc->loop, pc->fd, mask, proxy_ready, pc) == -1) {
		proxy_fail(pc, "poll: %s", strerror(errno));
		return -1;
	}
	while (!pc->ready && !pc->expired && !np_signal)
		if (loop_once(pc->loop) == -1) {
			proxy_fail(pc, "poll: %s", strerror(errno));
			return -1;
		}
	if (pc->ready)
		return 0;
	if (np_signal) {
		errno = EINTR;
		return -1;
	}
	proxy_fail(pc, "no answer from the proxy within %g s",
	    pc->ms / 1000.0);
	errno = ETIMEDOUT;
	return -1;
}

/*
 * Whether the handshake may go on: checked before every read and write,
 * not only when the socket makes us wait, so that a signal cuts off a
 * proxy that floods.  The timer is seen whenever the socket makes us
 * wait; a proxy that never does is bounded by the reply's own limits
 * (fixed SOCKS replies, HTTP_MAXHDRS lines of HTTP_LINE bytes).  0, or
 * -1 as proxy_wait() returns it.
 */
static int
proxy_due(struct proxy_conn *pc)
{
	if (np_signal) {
		errno = EINTR;
		return -1;
	}
	if (!pc->expired)
		return 0;
	proxy_fail(pc, "no end to the handshake within %g s",
	    pc->ms / 1000.0);
	errno = ETIMEDOUT;
	return -1;
}

/* Send all of buf; 0, or -1 as proxy_wait() returns it. */
static int
proxy_write(struct proxy_conn *pc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (proxy_due(pc) == -1)
			return -1;
		if ((n = send(pc->fd, p, len, MSG_NOSIGNAL)) > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR) {
			proxy_fail(pc, "send: %s", strerror(errno));
			return -1;
		}
		if (proxy_wait(pc, LOOP_WRITE) == -1)
			return -1;
	}
	return 0;
}

/*
 * Read exactly len bytes, and not one more: what follows the handshake
 * belongs to the pump.  0, or -1 after a message (EINTR: none).
 */
static int
proxy_read(struct proxy_conn *pc, void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (proxy_due(pc) == -1)
			return -1;
		if ((n = recv(pc->fd, p, len, 0)) > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (n == 0) {
			proxy_fail(pc, "the proxy closed the connection "
			    "during the handshake");
			errno = ECONNRESET;
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			proxy_fail(pc, "recv: %s", strerror(errno));
			return -1;
		}
		if (proxy_wait(pc, LOOP_READ) == -1)
			return -1;
	}
	return 0;
}

/*
 * The password for -P: from NETPIPE_PROXY_PASSWORD, else from the
 * terminal.  Never from argv, where every user of ps(1) could read it.
 */
static int
proxy_password(struct proxy_conn *pc)
{
	const char *env;
	char prompt[512];

	if ((env = getenv("NETPIPE_PROXY_PASSWORD")) != NULL) {
		if (strlcpy(pc->password, env, sizeof(pc->password)) <
		    sizeof(pc->password))
			return 0;
		proxy_fail(pc, "NETPIPE_PROXY_PASSWORD is too long");
		return -1;
	}
	snprintf(prompt, sizeof(prompt), "Proxy password for %s@%s: ",
	    pc->o->proxy_user, pc->o->proxy_host);
	if (readpassphrase(prompt, pc->password, sizeof(pc->password),
	    RPP_REQUIRE_TTY) == NULL) {
		proxy_fail(pc, "-P %s: no password: set "
		    "NETPIPE_PROXY_PASSWORD or run on a terminal",
		    pc->o->proxy_user);
		return -1;
	}
	if (np_signal) {
		errno = EINTR;
		return -1;
	}
	return 0;
}

/*
 * Classify the destination: a numeric address goes to the proxy as such,
 * a name goes as a name, so that the proxy resolves it (the client may
 * not even be able to; SOCKS4 is the exception, see socks4_resolve()).
 * -n forbids names, as it does without a proxy.
 */
static int
proxy_dest(const struct proxy_conn *pc, struct proxy_dest *d)
{
	const struct np_opts *o = pc->o;
	unsigned int port = (unsigned int)strtoul(o->port, NULL, 10);

	memset(d, 0, sizeof(*d));
	d->port[0] = port >> 8;
	d->port[1] = port & 0xff;
	if (inet_pton(AF_INET, o->host, d->addr) == 1)
		d->family = AF_INET;
	else if (inet_pton(AF_INET6, o->host, d->addr) == 1)
		d->family = AF_INET6;
	else if (o->numeric) {
		warnx("getaddrinfo for host \"%s\" port %s: %s", o->host,
		    o->port, gai_strerror(EAI_NONAME));
		return -1;
	} else if (strlen(o->host) > SOCKS_FIELD) {
		warnx("%s: host name is too long for a proxy", o->host);
		return -1;
	}
	if (d->family == AF_INET6 && (o->proxy_type == PROXY_SOCKS4 ||
	    o->proxy_type == PROXY_SOCKS4A)) {
		warnx("%s: SOCKS4 cannot reach an IPv6 address", o->host);
		return -1;
	}
	return 0;
}

/* Error strings of the SOCKS4 protocol description, as nc has them. */
static const char *
socks4_strerror(int e)
{
	switch (e) {
	case 90:
		return "Succeeded";
	case 91:
		return "Request rejected or failed";
	case 92:
		return "SOCKS server cannot connect to identd on the client";
	case 93:
		return "Client program and identd report different user-ids";
	default:
		return "Unknown error";
	}
}

/* Error strings almost as RFC 1928 words them. */
static const char *
socks5_strerror(int e)
{
	switch (e) {
	case 0:
		return "Succeeded";
	case 1:
		return "General SOCKS server failure";
	case 2:
		return "Connection not allowed by ruleset";
	case 3:
		return "Network unreachable";
	case 4:
		return "Host unreachable";
	case 5:
		return "Connection refused";
	case 6:
		return "TTL expired";
	case 7:
		return "Command not supported";
	case 8:
		return "Address type not supported";
	default:
		return "Unknown error";
	}
}

/*
 * What an HTTP status means for a CONNECT.  The proxy's reason phrase
 * is free text ("Unable to connect"), so the user gets this as well.
 * authed says whether -P sent credentials.
 */
static const char *
http_strerror(int code, int authed)
{
	switch (code) {
	case 400:
		return "the proxy did not understand the request";
	case 401:
	case 407:
		return authed ? "the proxy refused the user name or password" :
		    "the proxy wants a user name: use -P";
	case 403:
		return "the proxy does not allow this destination";
	case 404:
		return "the proxy does not know this destination";
	case 405:
		return "the proxy does not offer CONNECT";
	case 500:
		return "the proxy failed, or could not reach the destination";
	case 502:
		return "the proxy could not reach the destination";
	case 503:
		return "the proxy is unavailable or could not reach the "
		    "destination";
	case 504:
		return "the destination did not answer the proxy in time";
	}
	if (code < 200)
		return "an interim reply where the answer was due";
	if (code >= 300 && code < 400)
		return "a redirection, which CONNECT cannot follow";
	if (code >= 400 && code < 500)
		return "the proxy refused the request";
	return "the proxy failed";
}

/*
 * SOCKS4 carries an IPv4 address and nothing else, so a name is resolved
 * here, as nc does.  SOCKS4a (-X 4a, or --proxy-dns) passes the name on
 * instead, but dante, the common SOCKS4 server, refuses that.
 */
static int
socks4_resolve(const struct proxy_conn *pc, struct proxy_dest *d)
{
	const struct np_opts *o = pc->o;
	struct addrinfo hints, *res;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (o->numeric ? AI_NUMERICHOST : 0);
	if ((e = getaddrinfo(o->host, o->port, &hints, &res)) != 0) {
		warnx("getaddrinfo for host \"%s\" port %s: %s", o->host,
		    o->port, gai_strerror(e));
		return -1;
	}
	memcpy(d->addr, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
	d->family = AF_INET;
	freeaddrinfo(res);
	return 0;
}

/*
 * The SOCKS4 reply in buf, of which len bytes arrived (8 are read).
 * Returns 0 when the proxy granted the connection to o->host, or -1
 * with the reason in err.  Pure, so that a fuzzer can call it.
 */
int
proxy_socks4_reply(const struct np_opts *o, const unsigned char *buf,
    size_t len, char *err, size_t size)
{
	if (len < 8) {
		snprintf(err, size, "SOCKS4: a reply of %zu bytes is too short",
		    len);
		return -1;
	}
	/* The reply's version is 0, whatever the request's was. */
	if (buf[0] != 0) {
		snprintf(err, size, "SOCKS4: not a SOCKS4 reply (version %u)",
		    buf[0]);
		return -1;
	}
	if (buf[1] != SOCKS4_GRANTED) {
		snprintf(err, size, "SOCKS4 connect to %s port %s failed: %s",
		    o->host, o->port, socks4_strerror(buf[1]));
		return -1;
	}
	return 0;
}

/*
 * SOCKS4: the address, the port, and -P as the user id.  SOCKS4a sends
 * a name after the user id, with the address 0.0.0.1 to say so.
 */
static int
socks4_handshake(struct proxy_conn *pc)
{
	const struct np_opts *o = pc->o;
	struct proxy_dest *d = &pc->dest;
	unsigned char buf[8 + 2 * (SOCKS_FIELD + 1)];
	const char *user = o->proxy_user != NULL ? o->proxy_user : "";
	char msg[HTTP_LINE];
	size_t ulen, len;

	if (d->family == 0 && o->proxy_type == PROXY_SOCKS4 &&
	    socks4_resolve(pc, d) == -1)
		return -1;
	if ((ulen = strlen(user)) > SOCKS_FIELD) {
		warnx("-P: the user name is too long");
		return -1;
	}
	buf[0] = SOCKS_V4;
	buf[1] = SOCKS_CONNECT;
	memcpy(buf + 2, d->port, 2);
	memcpy(buf + 4, d->addr, 4);
	memcpy(buf + 8, user, ulen + 1);
	len = 9 + ulen;
	if (d->family == 0) {
		/* proxy_dest() has bounded the name to SOCKS_FIELD. */
		memcpy(buf + 4, "\0\0\0\1", 4);
		memcpy(buf + len, o->host, strlen(o->host) + 1);
		len += strlen(o->host) + 1;
	}
	if (proxy_write(pc, buf, len) == -1 || proxy_read(pc, buf, 8) == -1)
		return -1;
	if (proxy_socks4_reply(o, buf, 8, msg, sizeof(msg)) == -1) {
		proxy_fail(pc, "%s", msg);
		return -1;
	}
	return 0;
}

/*
 * The SOCKS5 server's choice of method in buf, of which len bytes
 * arrived (2 are read).  Returns SOCKS_NOAUTH, or SOCKS_USERPASS when
 * -P offered it, or -1 with the reason in err.  Pure, for a fuzzer.
 */
int
proxy_socks5_method(const struct np_opts *o, const unsigned char *buf,
    size_t len, char *err, size_t size)
{
	if (len < 2) {
		snprintf(err, size, "SOCKS5: a reply of %zu bytes is too short",
		    len);
		return -1;
	}
	if (buf[0] != SOCKS_V5) {
		snprintf(err, size, "not a SOCKS5 proxy (version %d in its "
		    "reply)", buf[0]);
		return -1;
	}
	if (buf[1] == SOCKS_NOMETHOD) {
		snprintf(err, size, "SOCKS5: no acceptable authentication "
		    "method%s", o->proxy_user == NULL ?
		    " (the proxy may want -P)" : "");
		return -1;
	}
	if (buf[1] == SOCKS_USERPASS && o->proxy_user != NULL)
		return SOCKS_USERPASS;
	if (buf[1] != SOCKS_NOAUTH) {
		snprintf(err, size, "SOCKS5: the proxy chose authentication "
		    "method %d, which was not offered", buf[1]);
		return -1;
	}
	return SOCKS_NOAUTH;
}

/*
 * SOCKS5: offer no authentication, and user name and password too when
 * -P was given, then ask for the connection.
 */
static int
socks5_handshake(struct proxy_conn *pc)
{
	unsigned char buf[4] = { SOCKS_V5, 1, SOCKS_NOAUTH, SOCKS_USERPASS };
	char msg[HTTP_LINE];
	int method;

	if (pc->o->proxy_user != NULL)
		buf[1] = 2;
	if (proxy_write(pc, buf, 2 + buf[1]) == -1 ||
	    proxy_read(pc, buf, 2) == -1)
		return -1;
	if ((method = proxy_socks5_method(pc->o, buf, 2, msg,
	    sizeof(msg))) == -1) {
		proxy_fail(pc, "%s", msg);
		return -1;
	}
	if (method == SOCKS_USERPASS && socks5_auth(pc) == -1)
		return -1;
	if (socks5_request(pc) == -1)
		return -1;
	return socks5_reply(pc);
}

/* RFC 1929: user name and password, in the clear as the RFC has it. */
static int
socks5_auth(struct proxy_conn *pc)
{
	unsigned char buf[3 + 2 * SOCKS_FIELD];
	size_t ulen, plen;
	int rc;

	ulen = strlen(pc->o->proxy_user);
	plen = strlen(pc->password);
	if (ulen > SOCKS_FIELD || plen > SOCKS_FIELD) {
		proxy_fail(pc, "SOCKS5: a user name or password is at most "
		    "%d bytes", SOCKS_FIELD);
		return -1;
	}
	buf[0] = SOCKS_AUTH_V1;
	buf[1] = ulen;
	memcpy(buf + 2, pc->o->proxy_user, ulen);
	buf[2 + ulen] = plen;
	memcpy(buf + 3 + ulen, pc->password, plen);
	rc = proxy_write(pc, buf, 3 + ulen + plen);
	explicit_bzero(buf, sizeof(buf));
	if (rc == -1 || proxy_read(pc, buf, 2) == -1)
		return -1;
	if (buf[1] != 0) {
		proxy_fail(pc, "SOCKS5: authentication as \"%s\" failed",
		    pc->o->proxy_user);
		return -1;
	}
	return 0;
}

static int
socks5_request(struct proxy_conn *pc)
{
	const struct proxy_dest *d = &pc->dest;
	unsigned char buf[4 + 1 + SOCKS_FIELD + 2];
	size_t len;

	buf[0] = SOCKS_V5;
	buf[1] = SOCKS_CONNECT;
	buf[2] = 0;
	if (d->family == AF_INET) {
		buf[3] = SOCKS_IPV4;
		memcpy(buf + 4, d->addr, 4);
		len = 8;
	} else if (d->family == AF_INET6) {
		buf[3] = SOCKS_IPV6;
		memcpy(buf + 4, d->addr, 16);
		len = 20;
	} else {
		buf[3] = SOCKS_DOMAIN;
		buf[4] = strlen(pc->o->host);
		memcpy(buf + 5, pc->o->host, buf[4]);
		len = 5 + buf[4];
	}
	memcpy(buf + len, d->port, 2);
	return proxy_write(pc, buf, len + 2);
}

/*
 * The SOCKS5 reply to CONNECT, of which buf holds the first len bytes.
 * Returns the length of the whole reply, the bound address included
 * (at most SOCKS5_REPLY_MAX): when that is more than len, the caller
 * reads the rest, and not one byte more, and asks again.  Returns -1
 * with the reason in err when the proxy refused or the reply is
 * malformed.  Pure, so that a fuzzer can call it.
 */
int
proxy_socks5_reply(const struct np_opts *o, const unsigned char *buf,
    size_t len, char *err, size_t size)
{
	if (len < 4)
		return 4;
	if (buf[0] != SOCKS_V5) {
		snprintf(err, size, "not a SOCKS5 proxy (version %d in its "
		    "reply)", buf[0]);
		return -1;
	}
	if (buf[1] != 0) {
		snprintf(err, size, "SOCKS5 connect to %s port %s failed: %s "
		    "(reply %d)", o->host, o->port, socks5_strerror(buf[1]),
		    buf[1]);
		return -1;
	}
	switch (buf[3]) {
	case SOCKS_IPV4:
		return 4 + 4 + 2;
	case SOCKS_IPV6:
		return 4 + 16 + 2;
	case SOCKS_DOMAIN:
		return len < 5 ? 5 : 4 + 1 + buf[4] + 2;
	default:
		snprintf(err, size, "SOCKS5: unknown address type %d in the "
		    "reply", buf[3]);
		return -1;
	}
}

/* The reply, and the bound address after it, which we do not need. */
static int
socks5_reply(struct proxy_conn *pc)
{
	unsigned char buf[SOCKS5_REPLY_MAX];
	char msg[HTTP_LINE];
	size_t have = 0;
	int need = 4;

	while ((size_t)need > have) {
		if (proxy_read(pc, buf + have, need - have) == -1)
			return -1;
		have = need;
		need = proxy_socks5_reply(pc->o, buf, have, msg, sizeof(msg));
		if (need == -1) {
			proxy_fail(pc, "%s", msg);
			return -1;
		}
	}
	return 0;
}

/*
 * Base64 of len bytes of in, NUL-terminated, into out.  Returns -1 when
 * out is too small.
 */
static int
base64(const char *in, size_t len, char *out, size_t size)
{
	static const char digits[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	unsigned long v;
	size_t i, o = 0;

	if ((len + 2) / 3 * 4 + 1 > size)
		return -1;
	for (i = 0; i < len; i += 3) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = digits[(v >> 18) & 63];
		out[o++] = digits[(v >> 12) & 63];
		out[o++] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? digits[v & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

/*
 * The request CONNECT o->host:o->port, with Basic credentials for
 * o->proxy_user and password when -P was given, into req.  Returns its
 * length, or -1 with the reason in err.  The caller wipes req once it
 * is sent; nothing else here keeps the credentials.
 */
int
proxy_http_request(const struct np_opts *o, const char *password, char *req,
    size_t size, char *err, size_t errlen)
{
	char cred[HTTP_LINE], b64[2 * HTTP_LINE], auth[2 * HTTP_LINE + 64];
	int n;

	if (strcspn(o->host, "\r\n\t []/@") != strlen(o->host)) {
		snprintf(err, errlen, "%s: invalid host name for a proxy",
		    o->host);
		return -1;
	}
	auth[0] = '\0';
	if (o->proxy_user != NULL) {
		n = snprintf(cred, sizeof(cred), "%s:%s", o->proxy_user,
		    password);
		if (n < 0 || (size_t)n >= sizeof(cred) ||
		    base64(cred, n, b64, sizeof(b64)) == -1) {
			explicit_bzero(cred, sizeof(cred));
			snprintf(err, errlen, "the user name and password are "
			    "too long");
			return -1;
		}
		snprintf(auth, sizeof(auth), "Proxy-Authorization: Basic "
		    "%s\r\n", b64);
		explicit_bzero(cred, sizeof(cred));
		explicit_bzero(b64, sizeof(b64));
	}
	/* A numeric IPv6 address needs its brackets in an authority. */
	n = snprintf(req, size, strchr(o->host, ':') != NULL ?
	    "CONNECT [%s]:%s HTTP/1.0\r\nHost: [%s]:%s\r\n%s\r\n" :
	    "CONNECT %s:%s HTTP/1.0\r\nHost: %s:%s\r\n%s\r\n",
	    o->host, o->port, o->host, o->port, auth);
	explicit_bzero(auth, sizeof(auth));
	if (n < 0 || (size_t)n >= size) {
		explicit_bzero(req, size);
		snprintf(err, errlen, "%s: host name is too long for a proxy",
		    o->host);
		return -1;
	}
	return n;
}

/* CONNECT, sent; the request and its credentials are wiped after. */
static int
http_request(struct proxy_conn *pc)
{
	char req[3 * HTTP_LINE], msg[HTTP_LINE];
	int n, rc;

	n = proxy_http_request(pc->o, pc->password, req, sizeof(req), msg,
	    sizeof(msg));
	if (n == -1) {
		/* Only the credentials are the proxy's business. */
		if (strncmp(msg, "the user name", 13) == 0)
			proxy_fail(pc, "%s", msg);
		else
			warnx("%s", msg);
		return -1;
	}
	rc = proxy_write(pc, req, n);
	explicit_bzero(req, sizeof(req));
	return rc;
}

/*
 * One header line without its CR LF.  Byte by byte, as nc does it: the
 * bytes after the empty line are the peer's and must stay in the socket.
 * A CR is dropped but counts toward the bound like any byte, so that
 * CRs without end are a line too long.
 */
static int
http_read_line(struct proxy_conn *pc, char *buf, size_t size)
{
	size_t off = 0, got = 0;

	for (;;) {
		if (proxy_read(pc, buf + off, 1) == -1)
			return -1;
		if (buf[off] == '\n')
			break;
		if (++got == size) {
			proxy_fail(pc, "HTTP reply line longer than %zu bytes",
			    size - 1);
			return -1;
		}
		if (buf[off] != '\r')
			off++;
	}
	buf[off] = '\0';
	return 0;
}

/* Control bytes from the proxy would garble the terminal: mask them. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* The status code of "HTTP/1.x NNN reason", or -1 when it is not one. */
static int
http_code(const char *line)
{
	int i;

	if (strncmp(line, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)line[7]) || line[8] != ' ')
		return -1;
	for (i = 9; i < 12; i++)
		if (!isdigit((unsigned char)line[i]))
			return -1;
	if (line[12] != ' ' && line[12] != '\0')
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 +
	    (line[11] - '0');
}

/*
 * The status line of the proxy's answer to CONNECT, without its CR LF.
 * Returns the status code when it is 2xx, or -1 with the reason in err,
 * which quotes the start of the line with control bytes masked.  Pure,
 * so that a fuzzer can call it.
 */
int
proxy_http_status(const struct np_opts *o, const char *line, char *err,
    size_t size)
{
	char shown[HTTP_SHOWN + 1];
	int code;

	strlcpy(shown, line, sizeof(shown));
	printable(shown);
	if ((code = http_code(line)) == -1) {
		snprintf(err, size, "not an HTTP proxy: it answered \"%s\"",
		    shown);
		return -1;
	}
	if (code >= 200 && code < 300)
		return code;
	snprintf(err, size, "CONNECT to %s port %s failed: %s (%s)", o->host,
	    o->port, shown, http_strerror(code, o->proxy_user != NULL));
	return -1;
}

/*
 * HTTP CONNECT: the request, the status line, then headers up to the
 * empty line, at most HTTP_MAXHDRS of them.
 */
static int
http_handshake(struct proxy_conn *pc)
{
	char line[HTTP_LINE], msg[HTTP_LINE];
	int i;

	if (http_request(pc) == -1 ||
	    http_read_line(pc, line, sizeof(line)) == -1)
		return -1;
	if (proxy_http_status(pc->o, line, msg, sizeof(msg)) == -1) {
		proxy_fail(pc, "%s", msg);
		return -1;
	}
	for (i = 0; i < HTTP_MAXHDRS; i++) {
		if (http_read_line(pc, line, sizeof(line)) == -1)
			return -1;
		if (line[0] == '\0')
			return 0;
	}
	proxy_fail(pc, "more than %d header lines in the reply",
	    HTTP_MAXHDRS);
	return -1;
}

/*
 * The handshake on the connected pc->fd, within -w (or
 * PROXY_HANDSHAKE_S) on a loop of its own.  Returns 0, or -1 as
 * proxy_wait() does.
 */
static int
proxy_handshake(struct proxy_conn *pc)
{
	int rc = -1;

	pc->ms = pc->o->wait_ms > 0 ? pc->o->wait_ms :
	    PROXY_HANDSHAKE_S * 1000;
	if ((pc->loop = loop_new()) == NULL ||
	    loop_timer(pc->loop, pc->ms, proxy_expire, pc) == -1)
		proxy_fail(pc, "poll: %s", strerror(errno));
	else
		rc = proxy_protocol(pc);
	loop_free(pc->loop);
	pc->loop = NULL;
	return rc;
}

/* The proxy's own protocol, as -X says.  0, or -1 after a message. */
static int
proxy_protocol(struct proxy_conn *pc)
{
	switch (pc->o->proxy_type) {
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		return socks4_handshake(pc);
	case PROXY_SOCKS5:
		return socks5_handshake(pc);
	case PROXY_CONNECT:
		return http_handshake(pc);
	default:
		warnx("-X: unknown proxy type %d", pc->o->proxy_type);
		return -1;
	}
}

/* nc.openbsd reports the destination, not the proxy, after -x. */
static void
proxy_report(const struct np_opts *o)
{
	struct servent *se;

	if (o->verbose == 0)
		return;
	se = getservbyport(htons(atoi(o->port)), "tcp");
	fprintf(stderr, "Connection to %s %s port [tcp/%s] succeeded!\n",
	    o->host, o->port, se != NULL ? se->s_name : "*");
}

/*
 * Connect to the proxy of -x and have it connect to o->host and o->port.
 * Returns the non-blocking socket, ready for the pump and owned by the
 * caller, or -1 after a message (errno EINTR, and no message, when a
 * signal cut it short).  The password of -P lives only on this stack.
 */
int
proxy_connect(const struct np_opts *o)
{
	struct np_opts po = *o;
	struct proxy_conn pc;
	char bound[8];
	int rc;

	memset(&pc, 0, sizeof(pc));
	pc.o = o;
	pc.fd = -1;
	if (proxy_dest(&pc, &pc.dest) == -1)
		return -1;
	if (o->proxy_user != NULL && o->proxy_type != PROXY_SOCKS4 &&
	    o->proxy_type != PROXY_SOCKS4A && proxy_password(&pc) == -1) {
		explicit_bzero(pc.password, sizeof(pc.password));
		return -1;
	}
	po.host = o->proxy_host;
	strlcpy(po.port, o->proxy_port, sizeof(po.port));
	po.verbose = 0;
	if ((pc.fd = sock_connect(&po, bound, sizeof(bound))) != -1) {
		rc = proxy_handshake(&pc);
		if (rc == -1) {
			close(pc.fd);
			pc.fd = -1;
		}
	}
	explicit_bzero(pc.password, sizeof(pc.password));
	if (pc.fd != -1)
		proxy_report(o);
	return pc.fd;
}

/*
 * -F: pass the connected socket to whoever holds the other end of
 * stdout, a Unix socket, as ssh's ProxyUseFdpass expects (one byte with
 * the descriptor attached).  The receiver gets a blocking socket, as
 * from nc.  Returns 0, or -1 after a message.
 */
int
proxy_fdpass(int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct msghdr msg;
	struct iovec iov;
	struct stat st;
	socklen_t len = sizeof(int);
	int domain = 0, flags;
	ssize_t n;
	char c = '\0';

	if (fstat(STDOUT_FILENO, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(STDOUT_FILENO, SOL_SOCKET, SO_DOMAIN, &domain,
	    &len) == -1 || domain != AF_UNIX) {
		warnx("-F: standard output is not a Unix-domain socket");
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
	CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &fd, sizeof(int));
	while ((n = sendmsg(STDOUT_FILENO, &msg, MSG_NOSIGNAL)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			break;
		if (sock_wait(STDOUT_FILENO, POLLOUT, -1) == -1)
			return -1;
	}
	if (n != 1) {
		warn("-F: sendmsg");
		return -1;
	}
	return 0;
}

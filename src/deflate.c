/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * permessage-deflate (RFC 7692).  The first offer we can honour is
 * accepted, and answered with server_no_context_takeover and
 * client_no_context_takeover: every message is compressed on its own, so
 * one deflate stream per window size serves every connection, and a
 * client's message is inflated by a stream made for it alone and freed at
 * its end.  An idle connection costs nothing; a message being received
 * costs one inflate stream (about 40 KiB) until it is complete.
 * An offer asking for an 8-bit window is declined: zlib's raw deflate
 * cannot keep to it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deflate.h"

#define PMD_LEVEL	1		/* zlib's fastest: messages are small */
#define PMD_SMALL	4096		/* a message up to this is small */
#define PMD_POOL	16		/* inflate streams kept for reuse */

/*
 * Deflate streams by size class and window bits.  Each message resets
 * its stream, and a reset clears the stream's hash table: 64 KiB for
 * zlib's default memLevel 8.  Small messages (most) use memLevel 4, a
 * 4 KiB table that does as well on a few KiB of input.
 */
static const int	 pmd_memlevel[2] = { 4, 8 };
static z_stream		 pmd_deflaters[2][16];
static int		 pmd_ready[2][16];

/* Inflate streams that finished a message, reset for the next one. */
static struct pmd_inflate *pmd_pool[PMD_POOL];
static int		 pmd_pooled;
static uint8_t		*pmd_out;
static size_t		 pmd_outsz;

/*
 * The last message compressed, and what came of it: a fan-out sends one
 * message to many connections, and it is compressed once for them all.
 */
static struct {
	uint8_t		*in;
	size_t		 insz;
	size_t		 len;
	int		 bits;		/* 0: nothing kept */
	size_t		 outlen;	/* 0: it was not smaller */
} pmd_last;

/* Skips optional whitespace. */
static const char *
pmd_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (s);
}

/* An RFC 7230 token character. */
static int
pmd_tchar(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL));
}

/* Reads a token into buf; the text after it, or NULL. */
static const char *
pmd_token(const char *s, char *buf, size_t size)
{
	size_t	n = 0;

	while (pmd_tchar((unsigned char)*s)) {
		if (n + 1 >= size)
			return (NULL);
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	return (n > 0 ? s : NULL);
}

/* Reads a token or quoted string value into buf; the rest, or NULL. */
static const char *
pmd_value(const char *s, char *buf, size_t size)
{
	size_t	n = 0;

	if (*s != '"')
		return (pmd_token(s, buf, size));
	for (s++; *s != '"'; s++) {
		if (*s == '\0' || n + 1 >= size)
			return (NULL);
		if (*s == '\\' && *++s == '\0')
			return (NULL);
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return (s + 1);
}

/* A window size: "8" to "15"; -1 otherwise. */
static int
pmd_bits(const char *v)
{
	if (v[0] < '1' || v[0] > '9' || (v[1] != '\0' && (v[1] < '0' ||
	    v[1] > '9' || v[2] != '\0')))
		return (-1);
	if (atoi(v) < 8 || atoi(v) > 15)
		return (-1);
	return (atoi(v));
}

/*
 * Reads one extension of the offer at *sp (up to its comma), moving *sp
 * past it.  Returns 1 if it is permessage-deflate and acceptable (with
 * *bits our window, 0 when the client set none), 0 if not, -1 if the
 * header cannot be read on.
 */
static int
pmd_offer(const char **sp, int *bits)
{
	char		 name[64], param[64], value[16];
	const char	*s = pmd_ows(*sp);
	int		 ok, seen = 0, b;

	if ((s = pmd_token(s, name, sizeof name)) == NULL)
		return (-1);
	ok = strcasecmp(name, "permessage-deflate") == 0;
	*bits = 0;
	for (s = pmd_ows(s); *s == ';'; s = pmd_ows(s)) {
		if ((s = pmd_token(pmd_ows(s + 1), param, sizeof param)) ==
		    NULL)
			return (-1);
		value[0] = '\0';
		s = pmd_ows(s);
		if (*s == '=' && (s = pmd_value(pmd_ows(s + 1), value,
		    sizeof value)) == NULL)
			return (-1);
		/* RFC 7692 7: a parameter twice, or unknown: declined. */
		if (strcasecmp(param, "server_no_context_takeover") == 0 &&
		    value[0] == '\0' && !(seen & 1))
			seen |= 1;
		else if (strcasecmp(param, "client_no_context_takeover") ==
		    0 && value[0] == '\0' && !(seen & 2))
			seen |= 2;
		else if (strcasecmp(param, "server_max_window_bits") == 0 &&
		    !(seen & 4) && (b = pmd_bits(value)) != -1) {
			seen |= 4;
			/* zlib's raw deflate cannot keep to 8 bits. */
			if (b == 8)
				ok = 0;
			*bits = b;
		} else if (strcasecmp(param, "client_max_window_bits") == 0 &&
		    !(seen & 8) && (value[0] == '\0' || pmd_bits(value) != -1))
			seen |= 8;
		else
			ok = 0;
	}
	if (*s != ',' && *s != '\0')
		return (-1);
	*sp = *s == ',' ? s + 1 : s;
	return (ok);
}

/*
 * Reads the client's Sec-WebSocket-Extensions (NULL: none).  If an offer
 * of permessage-deflate can be honoured, fills p and writes the answer's
 * header value into out; returns 1.  0 if none is accepted.
 */
int
pmd_negotiate(const char *offers, struct pmd *p, char *out, size_t size)
{
	const char	*s = offers;
	int		 r, bits;

	memset(p, 0, sizeof *p);
	if (s == NULL)
		return (0);
	while (*pmd_ows(s) != '\0') {
		if ((r = pmd_offer(&s, &bits)) == -1)
			return (0);
		if (r == 0)
			continue;
		p->on = 1;
		p->server_bits = bits != 0 ? bits : 15;
		if (bits != 0)
			(void)snprintf(out, size, "permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover; "
			    "server_max_window_bits=%d", bits);
		else
			(void)snprintf(out, size, "permessage-deflate; "
			    "server_no_context_takeover; "
			    "client_no_context_takeover");
		return (1);
	}
	return (0);
}

/*
 * Compresses one message for a connection with p; returns the payload
 * to send with RSV1 (valid until the next call) and its length, or NULL
 * if it would not be smaller.
 */
const uint8_t *
pmd_compress(const struct pmd *p, const uint8_t *in, size_t len,
    size_t *outlen)
{
	z_stream	*z;
	size_t		 need;
	int		 bits = p->server_bits, big = len > PMD_SMALL;

	if (bits < 9 || bits > 15)
		return (NULL);
	if (pmd_last.bits == bits && pmd_last.len == len &&
	    memcmp(pmd_last.in, in, len) == 0) {
		*outlen = pmd_last.outlen;
		return (pmd_last.outlen > 0 ? pmd_out : NULL);
	}
	pmd_last.bits = 0;
	z = &pmd_deflaters[big][bits];
	if (!pmd_ready[big][bits]) {
		if (deflateInit2(z, PMD_LEVEL, Z_DEFLATED, -bits,
		    pmd_memlevel[big], Z_DEFAULT_STRATEGY) != Z_OK)
			return (NULL);
		pmd_ready[big][bits] = 1;
	}
	need = deflateBound(z, len) + 16;
	if (need > pmd_outsz) {
		free(pmd_out);
		if ((pmd_out = malloc(need)) == NULL) {
			pmd_outsz = 0;
			return (NULL);
		}
		pmd_outsz = need;
	}
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = len;
	z->next_out = pmd_out;
	z->avail_out = pmd_outsz;
	if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0 ||
	    z->avail_out == 0) {
		(void)deflateReset(z);
		return (NULL);
	}
	*outlen = pmd_outsz - z->avail_out;
	(void)deflateReset(z);
	/* RFC 7692 7.2.1: the flush's empty block 00 00 ff ff goes. */
	if (*outlen < 4 || memcmp(pmd_out + *outlen - 4, "\0\0\377\377",
	    4) != 0)
		return (NULL);
	*outlen -= 4;
	if (*outlen >= len)
		*outlen = 0;
	/* Kept for the next connection that is sent the same message. */
	if (len > pmd_last.insz) {
		free(pmd_last.in);
		pmd_last.insz = 0;
		if ((pmd_last.in = malloc(len)) != NULL)
			pmd_last.insz = len;
	}
	if (pmd_last.in != NULL && len <= pmd_last.insz) {
		memcpy(pmd_last.in, in, len);
		pmd_last.len = len;
		pmd_last.outlen = *outlen;
		pmd_last.bits = bits;
	}
	return (*outlen > 0 ? pmd_out : NULL);
}

/*
 * A stream for one message from the client, reused from the pool when
 * one is there; NULL if zlib cannot make one.
 */
struct pmd_inflate *
pmd_inflate_new(void)
{
	struct pmd_inflate	*st;

	if (pmd_pooled > 0) {
		st = pmd_pool[--pmd_pooled];
		st->total = 0;
		return (st);
	}
	if ((st = calloc(1, sizeof *st)) == NULL)
		return (NULL);
	if (inflateInit2(&st->z, -15) != Z_OK) {
		free(st);
		return (NULL);
	}
	return (st);
}

/*
 * Inflates from in (inlen bytes) into out (outsz): *used and *made say
 * how much was taken and made.  -1 if the data is not deflate.
 */
int
pmd_inflate(struct pmd_inflate *st, const uint8_t *in, size_t inlen,
    size_t *used, uint8_t *out, size_t outsz, size_t *made)
{
	int	r;

	st->z.next_in = (Bytef *)(uintptr_t)in;
	st->z.avail_in = inlen;
	st->z.next_out = out;
	st->z.avail_out = outsz;
	r = inflate(&st->z, Z_SYNC_FLUSH);
	*used = inlen - st->z.avail_in;
	*made = outsz - st->z.avail_out;
	st->total += *made;
	/*
	 * A sender may end its message with a final block: what follows it
	 * (our appended 00 00 ff ff) is taken as read.
	 */
	if (r == Z_STREAM_END)
		*used = inlen;
	/* Z_BUF_ERROR: no progress was possible, which is no error. */
	return (r == Z_OK || r == Z_BUF_ERROR || r == Z_STREAM_END ? 0 : -1);
}

/* The message is over: its stream is reset for another, or freed. */
void
pmd_inflate_free(struct pmd_inflate *st)
{
	if (st == NULL)
		return;
	if (pmd_pooled < PMD_POOL && inflateReset(&st->z) == Z_OK) {
		pmd_pool[pmd_pooled++] = st;
		return;
	}
	(void)inflateEnd(&st->z);
	free(st);
}

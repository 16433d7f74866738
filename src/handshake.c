/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The parts of the RFC 6455 4.2 opening handshake that need no
 * connection: the key check and Sec-WebSocket-Accept (SHA-1 and base64
 * from libcrypto), header token lists, subprotocol choice and the origin
 * policy.  Kept apart from http.c so that a unit test can link it alone.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "handshake.h"

/* RFC 6455 1.3: the GUID appended to the key. */
#define HANDSHAKE_GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* RFC 6455 4.2.1: the key is 16 random bytes in base64 (24 characters). */
int
handshake_key_valid(const char *key)
{
	static const char	alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char		raw[24];
	size_t			i;

	if (key == NULL || strlen(key) != 24 || key[22] != '=' ||
	    key[23] != '=')
		return (0);
	/* EVP_DecodeBlock takes '=' anywhere; 22 digits must come first. */
	for (i = 0; i < 22; i++)
		if (strchr(alphabet, key[i]) == NULL)
			return (0);
	if (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return (0);
	return (1);
}

/* Writes the 28-character Sec-WebSocket-Accept value and a NUL. */
void
handshake_accept(const char *key, char *out)
{
	unsigned char	md[SHA_DIGEST_LENGTH];
	EVP_MD_CTX	*ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, key, strlen(key)) != 1 ||
	    EVP_DigestUpdate(ctx, HANDSHAKE_GUID,
	    sizeof HANDSHAKE_GUID - 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, NULL) != 1) {
		/* Cannot happen with a working libcrypto; fail closed. */
		out[0] = '\0';
		EVP_MD_CTX_free(ctx);
		return;
	}
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

/*
 * Walks a comma-separated header list.  Returns the next item with its
 * optional white space trimmed, or NULL at the end.
 */
static const char *
handshake_next_item(const char **list, size_t *len)
{
	const char	*s = *list, *e;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (*s == '\0')
		return (NULL);
	e = s;
	while (*e != '\0' && *e != ',')
		e++;
	*list = e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*len = e - s;
	return (s);
}

static int
handshake_in_list(const char *list, const char *item, size_t len,
    int nocase)
{
	const char	*s;
	size_t		 n;

	while ((s = handshake_next_item(&list, &n)) != NULL) {
		if (n != len)
			continue;
		if (nocase ? strncasecmp(s, item, n) == 0 :
		    strncmp(s, item, n) == 0)
			return (1);
	}
	return (0);
}

int
handshake_has_token(const char *list, const char *token)
{
	if (list == NULL)
		return (0);
	return (handshake_in_list(list, token, strlen(token), 1));
}

/*
 * RFC 6455 4.2.2: choose the first offered subprotocol, in the client's
 * order, that allowed names (any, when allowed is NULL).  Returns 1 with
 * the name in out, 0 if none was offered, -1 if none is acceptable.
 */
int
handshake_subprotocol(const char *offered, const char *allowed, char *out,
    size_t outsz)
{
	const char	*s;
	size_t		 n;
	int		 any = 0;

	if (offered == NULL)
		return (0);
	while ((s = handshake_next_item(&offered, &n)) != NULL) {
		any = 1;
		if (n >= outsz)
			continue;
		if (allowed != NULL && !handshake_in_list(allowed, s, n, 0))
			continue;
		memcpy(out, s, n);
		out[n] = '\0';
		return (1);
	}
	return (any ? -1 : 0);
}

/* Splits "scheme://host:port" into its parts; missing ones are empty. */
static void
handshake_split_origin(const char *s, size_t len, const char **scheme,
    size_t *schemelen, const char **host, size_t *hostlen, const char **port,
    size_t *portlen)
{
	const char	*e = s + len, *p, *colon = NULL;

	*scheme = s;
	*schemelen = 0;
	for (p = s; p + 2 < e; p++)
		if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
			*schemelen = p - s;
			s = p + 3;
			break;
		}
	/* A path has no place in an origin; ignore one. */
	for (p = s; p < e; p++)
		if (*p == '/') {
			e = p;
			break;
		}
	if (s < e && *s == '[') {
		/* IPv6 literal: the port follows the closing bracket. */
		for (p = s; p < e && *p != ']'; p++)
			;
		if (p < e && p + 1 < e && p[1] == ':')
			colon = p + 1;
	} else
		for (p = e; p > s; p--)
			if (p[-1] == ':') {
				colon = p - 1;
				break;
			}
	*host = s;
	*hostlen = (colon != NULL ? colon : e) - s;
	*port = colon != NULL ? colon + 1 : e;
	*portlen = colon != NULL ? (size_t)(e - colon - 1) : 0;
}

static int
handshake_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return (alen == blen && strncasecmp(a, b, alen) == 0);
}

/* Returns 1 if origin matches one entry of the allowed list. */
static int
handshake_origin_listed(const char *origin, const char *list)
{
	const char	*os, *oh, *op, *es, *eh, *ep, *item;
	size_t		 osl, ohl, opl, esl, ehl, epl, n;

	handshake_split_origin(origin, strlen(origin), &os, &osl, &oh, &ohl,
	    &op, &opl);
	while ((item = handshake_next_item(&list, &n)) != NULL) {
		handshake_split_origin(item, n, &es, &esl, &eh, &ehl, &ep,
		    &epl);
		if (esl > 0 && !handshake_eq(es, esl, os, osl))
			continue;
		if (!handshake_eq(eh, ehl, oh, ohl))
			continue;
		if (epl > 0 && !handshake_eq(ep, epl, op, opl))
			continue;
		return (1);
	}
	return (0);
}

/*
 * The origin policy: a request without Origin (not a browser) passes;
 * otherwise --sameorigin wants the Origin's authority equal to Host, and
 * --origin wants a listed entry.
 */
int
handshake_origin_allowed(const char *origin, const char *host,
    const char *allowlist, int sameorigin)
{
	const char	*os, *oh, *op;
	size_t		 osl, ohl, opl, hl;

	if (origin == NULL)
		return (1);
	if (sameorigin) {
		if (host == NULL)
			return (0);
		handshake_split_origin(origin, strlen(origin), &os, &osl,
		    &oh, &ohl, &op, &opl);
		hl = strlen(host);
		/* Host carries the port only if the origin does. */
		if (!handshake_eq(oh, (op + opl) - oh, host, hl))
			return (0);
	}
	if (allowlist != NULL && !handshake_origin_listed(origin, allowlist))
		return (0);
	return (1);
}

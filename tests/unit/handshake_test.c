/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for handshake.c: Sec-WebSocket-Key syntax, the RFC 6455 1.3
 * Sec-WebSocket-Accept example (and random keys checked against SHA-1
 * and base64 computed here with libcrypto), token lists, subprotocol
 * choice and the Origin checks behind --origin and --sameorigin.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "handshake.h"
#include "tap.h"

#define GUID	"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static uint64_t	 rng_state = 0x1337ULL;

static uint64_t
rng(void)
{
	uint64_t	 z;

	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

static void
test_key(void)
{
	static const struct {
		const char	*key;
		int		 want;
		const char	*why;
	} k[] = {
		{ "dGhlIHNhbXBsZSBub25jZQ==", 1, "RFC 6455 example" },
		{ "x3JJHMbDL1EzLkh9GBhXDw==", 1, "another 16-byte key" },
		{ "AAAAAAAAAAAAAAAAAAAAAA==", 1, "16 zero bytes" },
		{ "/////////////////////w==", 1, "16 0xff bytes" },
		{ "+/+/+/+/+/+/+/+/+/+/+w==", 1, "+ and /" },
		{ "", 0, "empty" },
		{ "dGhlIHNhbXBsZSBub25jZQ=", 0, "one padding character" },
		{ "dGhlIHNhbXBsZSBub25jZQ", 0, "no padding" },
		{ "dGhlIHNhbXBsZSBub25jZQ===", 0, "three padding characters" },
		{ "dGhlIHNhbXBsZSBub25jZQ==x", 0, "data after the padding" },
		{ "dGhlIHNhbXBsZSBub25jZQ==dGhl", 0, "28 characters" },
		{ "dGhlIHNhbXBsZSBub25j", 0, "15 bytes, 20 characters" },
		{ "dGhlIHNhbXBsZSBub25jZQ", 0, "22 characters" },
		{ "AAAAAAAAAAAAAAAAAAAAAAAA", 0, "18 bytes" },
		{ "AAAAAAAAAAAAAAAAAAAAA===", 0, "bad padding" },
		{ "AAAAAAAAAAAAAAAAAAAA====", 0, "15 bytes, 4 pads" },
		{ "AAAAAAAAAAAAAAAAAAAAAAA=", 0, "17 bytes" },
		{ "dGhlIHNhbXBsZSBub25jZ!==", 0, "'!' inside" },
		{ "dGhlIHNhbXBsZSBub25j-Q==", 0, "base64url '-'" },
		{ "dGhlIHNhbXBsZSBub25j_Q==", 0, "base64url '_'" },
		{ "dGhlIHNhbXBsZSBub2 jZQ==", 0, "space inside" },
		{ "dGhlIHNhbXBsZSBub25jZQ=A", 0, "data between pads" },
		{ "=GhlIHNhbXBsZSBub25jZQ==", 0, "padding first" },
		{ "dGhlIHNhbXBsZSBub25jZQ\n=", 0, "newline inside" },
	};
	uint8_t		 raw[18];
	char		 enc[32];
	size_t		 i, n;
	int		 round, good;

	for (i = 0; i < sizeof k / sizeof k[0]; i++)
		is_int(handshake_key_valid(k[i].key), k[i].want,
		    "key \"%s\": %s, %s", k[i].key, k[i].why,
		    k[i].want ? "valid" : "invalid");

	good = 1;
	for (round = 0; round < 3000; round++) {
		n = 14 + round % 5;
		for (i = 0; i < n; i++)
			raw[i] = rng();
		EVP_EncodeBlock((unsigned char *)enc, raw, n);
		if (handshake_key_valid(enc) != (n == 16)) {
			if (good)
				diag("key \"%s\" (%zu bytes) wrong", enc, n);
			good = 0;
		}
	}
	ok(good, "random keys of 14..18 bytes: only 16 bytes are valid");
}

static void
accept_ref(const char *key, char *out)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	char		 in[128];

	snprintf(in, sizeof in, "%s%s", key, GUID);
	if (EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)out, md, mdlen);
}

static void
test_accept(void)
{
	uint8_t		 raw[16];
	char		 key[32], out[HANDSHAKE_ACCEPT_LEN + 8];
	char		 want[HANDSHAKE_ACCEPT_LEN + 8];
	size_t		 i;
	int		 round, good;

	is_int(HANDSHAKE_ACCEPT_LEN, 28, "HANDSHAKE_ACCEPT_LEN is 28");
	memset(out, 'X', sizeof out);
	handshake_accept("dGhlIHNhbXBsZSBub25jZQ==", out);
	is_str(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	    "RFC 6455 1.3 Sec-WebSocket-Accept");
	ok(out[HANDSHAKE_ACCEPT_LEN + 1] == 'X',
	    "accept writes 28 characters and a NUL, no more");
	handshake_accept("x3JJHMbDL1EzLkh9GBhXDw==", out);
	is_str(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=",
	    "accept for x3JJHMbDL1EzLkh9GBhXDw==");

	good = 1;
	for (round = 0; round < 1000; round++) {
		for (i = 0; i < sizeof raw; i++)
			raw[i] = rng();
		EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
		accept_ref(key, want);
		handshake_accept(key, out);
		if (strcmp(out, want) != 0) {
			if (good)
				diag("key %s: got %s, expected %s", key, out,
				    want);
			good = 0;
		}
	}
	ok(good, "1000 random keys: accept = base64(SHA-1(key + GUID))");
}

static void
test_token(void)
{
	static const struct {
		const char	*list, *token;
		int		 want;
	} t[] = {
		{ "Upgrade", "upgrade", 1 },
		{ "upgrade", "Upgrade", 1 },
		{ "UPGRADE", "upgrade", 1 },
		{ "keep-alive, Upgrade", "upgrade", 1 },
		{ "keep-alive,Upgrade", "upgrade", 1 },
		{ "Upgrade, keep-alive", "upgrade", 1 },
		{ "Upgrade, keep-alive", "keep-alive", 1 },
		{ "keep-alive ,\tUpgrade\t", "upgrade", 1 },
		{ " \tupgrade \t", "upgrade", 1 },
		{ ",,upgrade,,", "upgrade", 1 },
		{ "a, b, upgrade, c", "upgrade", 1 },
		{ "websocket", "WebSocket", 1 },
		{ "upgrades", "upgrade", 0 },
		{ "xupgrade", "upgrade", 0 },
		{ "upgrade-insecure-requests", "upgrade", 0 },
		{ "keep-alive, upgradex", "upgrade", 0 },
		{ "keep-alive, upgra", "upgrade", 0 },
		{ "upgra", "upgrade", 0 },
		{ "up grade", "upgrade", 0 },
		{ "keep-alive", "upgrade", 0 },
		{ "", "upgrade", 0 },
		{ " , ", "upgrade", 0 },
		{ "upgrade;q=1", "upgrade", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		is_int(handshake_has_token(t[i].list, t[i].token), t[i].want,
		    "token \"%s\" %s in \"%s\"", t[i].token,
		    t[i].want ? "found" : "not found", t[i].list);
}

static void
test_subprotocol(void)
{
	static const struct {
		const char	*offered, *allowed;
		int		 want;
		const char	*choice;
	} s[] = {
		{ NULL, NULL, 0, "" },
		{ NULL, "chat", 0, "" },
		{ "", NULL, 0, "" },
		{ "", "chat", 0, "" },
		{ "chat", NULL, 1, "chat" },
		{ "chat, superchat", NULL, 1, "chat" },
		{ "  chat  ,superchat", NULL, 1, "chat" },
		{ "chat, superchat", "superchat", 1, "superchat" },
		{ "chat, superchat", "superchat,chat", 1, "chat" },
		{ "b, a", "a,b", 1, "b" },
		{ " a ,\tb ", "b", 1, "b" },
		{ "a,b", " x , b ", 1, "b" },
		{ "a, b", "c", -1, "" },
		{ "superchat", "chat", -1, "" },
		{ "chat", "superchat", -1, "" },
		{ "cha", "chat", -1, "" },
		{ "chat", "cha", -1, "" },
		{ "a", "a,b,c", 1, "a" },
		{ "c", "a,b,c", 1, "c" },
	};
	char	 out[64];
	size_t	 i;
	int	 r;

	for (i = 0; i < sizeof s / sizeof s[0]; i++) {
		memset(out, 0, sizeof out);
		r = handshake_subprotocol(s[i].offered, s[i].allowed, out,
		    sizeof out);
		ok(r == s[i].want && (r != 1 || strcmp(out, s[i].choice) == 0),
		    "subprotocol offered %s%s%s, allowed %s%s%s: %d \"%s\"",
		    s[i].offered ? "\"" : "", s[i].offered ? s[i].offered :
		    "NULL", s[i].offered ? "\"" : "", s[i].allowed ? "\"" : "",
		    s[i].allowed ? s[i].allowed : "NULL",
		    s[i].allowed ? "\"" : "", s[i].want, s[i].choice);
		if (r != s[i].want || (r == 1 && strcmp(out, s[i].choice) != 0))
			diag("  got %d \"%s\"", r, out);
	}

	memset(out, 'X', sizeof out);
	r = handshake_subprotocol("chat", NULL, out, 5);
	ok(r == 1 && strcmp(out, "chat") == 0,
	    "subprotocol fits an out buffer of exactly its size");
	memset(out, 'X', sizeof out);
	(void)handshake_subprotocol("chatty", NULL, out, 5);
	ok(out[5] == 'X', "subprotocol longer than outsz: no overflow");
}

static void
test_origin(void)
{
	static const struct {
		const char	*origin, *host, *list;
		int		 same, want;
	} o[] = {
		/* No Origin: not a browser, allowed. */
		{ NULL, "example.com", NULL, 0, 1 },
		{ NULL, "example.com", "a.com", 0, 1 },
		{ NULL, "example.com", NULL, 1, 1 },
		/* No check configured. */
		{ "http://evil.com", "example.com", NULL, 0, 1 },
		/* --sameorigin. */
		{ "http://example.com", "example.com", NULL, 1, 1 },
		{ "https://example.com", "example.com", NULL, 1, 1 },
		{ "http://EXAMPLE.com", "example.COM", NULL, 1, 1 },
		{ "http://example.com:8080", "example.com:8080", NULL, 1, 1 },
		{ "http://127.0.0.1:8080", "127.0.0.1:8080", NULL, 1, 1 },
		{ "http://[::1]:8080", "[::1]:8080", NULL, 1, 1 },
		{ "http://example.com:8080", "example.com", NULL, 1, 0 },
		{ "http://example.com", "example.com:8080", NULL, 1, 0 },
		{ "http://example.com:8080", "example.com:8081", NULL, 1, 0 },
		{ "http://evil.com", "example.com", NULL, 1, 0 },
		{ "http://example.com.evil.com", "example.com", NULL, 1, 0 },
		{ "http://evilexample.com", "example.com", NULL, 1, 0 },
		{ "http://example.co", "example.com", NULL, 1, 0 },
		{ "http://example.comx", "example.com", NULL, 1, 0 },
		{ "null", "example.com", NULL, 1, 0 },
		{ "", "example.com", NULL, 1, 0 },
		/* --origin: host only matches any scheme and port. */
		{ "http://example.com", "h", "example.com", 0, 1 },
		{ "https://example.com:8443", "h", "example.com", 0, 1 },
		{ "http://Example.COM", "h", "example.com", 0, 1 },
		{ "http://evil.com", "h", "example.com", 0, 0 },
		{ "http://sub.example.com", "h", "example.com", 0, 0 },
		{ "http://example.com.evil.com", "h", "example.com", 0, 0 },
		{ "http://example.comx", "h", "example.com", 0, 0 },
		{ "http://xexample.com", "h", "example.com", 0, 0 },
		{ "null", "h", "example.com", 0, 0 },
		/* host:port matches that port only. */
		{ "http://example.com:8080", "h", "example.com:8080", 0, 1 },
		{ "https://example.com:8080", "h", "example.com:8080", 0, 1 },
		{ "http://example.com", "h", "example.com:8080", 0, 0 },
		{ "http://example.com:80", "h", "example.com:8080", 0, 0 },
		{ "http://example.com:8081", "h", "example.com:8080", 0, 0 },
		{ "http://example.com:808", "h", "example.com:8080", 0, 0 },
		/* scheme://host matches that scheme, any port. */
		{ "https://example.com", "h", "https://example.com", 0, 1 },
		{ "https://example.com:8443", "h", "https://example.com", 0,
		    1 },
		{ "http://example.com", "h", "https://example.com", 0, 0 },
		/* scheme://host:port. */
		{ "https://example.com:8443", "h", "https://example.com:8443",
		    0, 1 },
		{ "https://example.com", "h", "https://example.com:8443", 0,
		    0 },
		{ "http://example.com:8443", "h", "https://example.com:8443",
		    0, 0 },
		/* Lists. */
		{ "http://b.com:81", "h", "a.com, b.com:81,https://c.com", 0,
		    1 },
		{ "http://b.com:82", "h", "a.com, b.com:81,https://c.com", 0,
		    0 },
		{ "https://c.com:1", "h", "a.com, b.com:81,https://c.com", 0,
		    1 },
		{ "http://c.com", "h", "a.com, b.com:81,https://c.com", 0, 0 },
		{ "ws://a.com", "h", "a.com, b.com:81,https://c.com", 0, 1 },
		{ "http://d.com", "h", "a.com, b.com:81,https://c.com", 0, 0 },
		/* IPv6 literals: the port follows the bracket. */
		{ "http://[::1]:8080", "h", "[::1]", 0, 1 },
		{ "http://[::1]", "h", "[::1]", 0, 1 },
		{ "http://[::1]:8080", "h", "[::1]:8080", 0, 1 },
		{ "http://[::1]:8081", "h", "[::1]:8080", 0, 0 },
		{ "http://[::2]:8080", "h", "[::1]", 0, 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof o / sizeof o[0]; i++)
		is_int(handshake_origin_allowed(o[i].origin, o[i].host,
		    o[i].list, o[i].same), o[i].want,
		    "origin %s, host %s, %s %s: %s",
		    o[i].origin != NULL ? o[i].origin : "none", o[i].host,
		    o[i].same ? "sameorigin, list" : "list",
		    o[i].list != NULL ? o[i].list : "none",
		    o[i].want ? "allowed" : "refused");
}

int
main(void)
{
	test_key();
	test_accept();
	test_token();
	test_subprotocol();
	test_origin();
	return (done_testing());
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * Unit tests for jwt.c.  Keys are made here at run time with libcrypto
 * (RSA 2048, EC P-256, an HMAC secret), written to a temporary directory
 * and loaded back; tokens are signed here too.  Besides good tokens of
 * each algorithm, the attacks: alg none, algorithm confusion, tampering,
 * wrong keys, lapsed times, sloppy base64, duplicate keys, bad grants,
 * deep nesting, truncation at every length.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "jwt.h"
#include "tap.h"

#define NOW		1700000000LL
#define TOKEN_BUF	(2 * JWT_TOKEN_MAX)
#define HS		"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

enum sign_kind {
	SIGN_NONE,
	SIGN_HMAC,
	SIGN_PKEY,
	SIGN_EC_DER
};

struct signer {
	enum sign_kind		 kind;
	EVP_PKEY		*pkey;
	const unsigned char	*secret;
	size_t			 secretlen;
};

static char		 tmpdir[512];
static char		 paths[16][600];
static int		 npaths;
static char		 secret[41];
static struct jwt_key	*keys[3];	/* HS256, RS256, ES256 */
static char		 tok[TOKEN_BUF];

static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
	static const char	 digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned int		 acc = 0;
	size_t			 i, n = 0;
	int			 bits = 0;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = digits[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[n++] = digits[(acc << (6 - bits)) & 0x3f];
	out[n] = '\0';
	return (n);
}

static size_t
sign(const struct signer *s, const char *in, size_t inlen,
    unsigned char *sig)
{
	unsigned char		 der[1024];
	const unsigned char	*p = der;
	const BIGNUM		*r, *ss;
	unsigned int		 mdlen;
	size_t			 derlen = sizeof der;
	EVP_MD_CTX		*ctx;
	ECDSA_SIG		*es;

	switch (s->kind) {
	case SIGN_NONE:
		return (0);
	case SIGN_HMAC:
		HMAC(EVP_sha256(), s->secret, (int)s->secretlen,
		    (const unsigned char *)in, inlen, sig, &mdlen);
		return (mdlen);
	default:
		break;
	}
	ctx = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->pkey) != 1 ||
	    EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)in,
	    inlen) != 1)
		derlen = 0;
	EVP_MD_CTX_free(ctx);
	if (s->kind == SIGN_EC_DER || !EVP_PKEY_is_a(s->pkey, "EC")) {
		memcpy(sig, der, derlen);
		return (derlen);
	}
	/* RFC 7518 3.4: JWS wants R and S raw, 32 bytes each. */
	es = d2i_ECDSA_SIG(NULL, &p, derlen);
	ECDSA_SIG_get0(es, &r, &ss);
	BN_bn2binpad(r, sig, 32);
	BN_bn2binpad(ss, sig + 32, 32);
	ECDSA_SIG_free(es);
	return (64);
}

/* Builds header.payload.signature into tok; returns its length. */
static size_t
token(const char *header, const char *payload, const struct signer *s)
{
	unsigned char	sig[1024];
	size_t		n, siglen;

	n = b64url((const unsigned char *)header, strlen(header), tok);
	tok[n++] = '.';
	n += b64url((const unsigned char *)payload, strlen(payload), tok + n);
	siglen = sign(s, tok, n, sig);
	tok[n++] = '.';
	n += b64url(sig, siglen, tok + n);
	return (n);
}

/* Puts part which of from into the token t; the result goes to tok. */
static size_t
splice(const char *t, const char *from, int which)
{
	const char	*p[3];
	char		 out[TOKEN_BUF];
	int		 j, k, n[3], len;

	for (j = 0; j < 3; j++) {
		p[j] = j == which ? from : t;
		for (k = 0; k < j; k++)
			p[j] = strchr(p[j], '.') + 1;
		n[j] = strcspn(p[j], ".");
	}
	len = snprintf(out, sizeof out, "%.*s.%.*s.%.*s", n[0], p[0], n[1],
	    p[1], n[2], p[2]);
	memcpy(tok, out, len + 1);
	return (len);
}

static const char *
verify(struct jwt_key *const *k, size_t nk, const char *t, size_t len,
    struct jwt_claims *c)
{
	const char	*errstr = NULL;

	if (jwt_verify(k, nk, t, len, NOW, c, &errstr) == 0)
		return (NULL);
	return (errstr != NULL ? errstr : "(no reason)");
}

/* Verifies t against every key; the claims are dropped. */
static const char *
check(const char *t, size_t len)
{
	struct jwt_claims	 c;
	const char		*errstr;

	if ((errstr = verify(keys, 3, t, len, &c)) == NULL)
		jwt_claims_free(&c);
	return (errstr);
}

static const char *
write_file(const char *name, const void *data, size_t len)
{
	char	*path = paths[npaths++];
	FILE	*f;

	snprintf(path, sizeof paths[0], "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(data, 1, len, f);
	fclose(f);
	return (path);
}

static const char *
write_pem(const char *name, EVP_PKEY *pk, int private)
{
	const char	*path;
	char		*data;
	long		 len;
	BIO		*bio;

	bio = BIO_new(BIO_s_mem());
	if (private)
		PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(bio, pk);
	len = BIO_get_mem_data(bio, &data);
	path = write_file(name, data, len);
	BIO_free(bio);
	return (path);
}

static void
refused(const char *path, const char *what)
{
	struct jwt_key	*k;
	const char	*errstr = NULL;

	k = jwt_key_load(path, &errstr);
	ok(k == NULL && errstr != NULL, "%s is refused (%s)", what,
	    errstr != NULL ? errstr : "no reason");
	jwt_key_free(k);
}

static void
test_keys(EVP_PKEY *rsa, EVP_PKEY *ec)
{
	static const char	 garbage[] = "-----BEGIN PUBLIC KEY-----\n"
				    "bm90IGEga2V5IGF0IGFsbCwgbm90IGEga2V5\n"
				    "-----END PUBLIC KEY-----\n";
	EVP_PKEY		*pk;
	const char		*errstr;
	unsigned char		 rnd[40];
	char			 line[64], path[600];
	int			 i;

	RAND_bytes(rnd, sizeof rnd);
	for (i = 0; i < 40; i++)
		secret[i] = "0123456789abcdef"[rnd[i] & 0xf];
	snprintf(line, sizeof line, "%s\n", secret);
	keys[0] = jwt_key_load(write_file("hs.key", line, 41), &errstr);
	keys[1] = jwt_key_load(write_pem("rsa.pem", rsa, 0), &errstr);
	keys[2] = jwt_key_load(write_pem("ec.pem", ec, 0), &errstr);
	ok(keys[0] != NULL && strcmp(jwt_key_alg(keys[0]), "HS256") == 0,
	    "a secret file is an HS256 key");
	ok(keys[1] != NULL && strcmp(jwt_key_alg(keys[1]), "RS256") == 0,
	    "an RSA public key is an RS256 key");
	ok(keys[2] != NULL && strcmp(jwt_key_alg(keys[2]), "ES256") == 0,
	    "a P-256 public key is an ES256 key");
	if (keys[0] == NULL || keys[1] == NULL || keys[2] == NULL) {
		diag("cannot go on without keys");
		exit(1);
	}

	refused(write_file("short.key", line + 9, 32),
	    "a 31-byte secret");
	refused(write_file("garbage.pem", garbage, sizeof garbage - 1),
	    "a broken PEM file, not taken as a secret,");
	refused(write_pem("priv.pem", ec, 1), "a private key file");
	refused(write_file("empty.key", "", 0), "an empty file");
	snprintf(path, sizeof path, "%s/absent", tmpdir);
	refused(path, "a missing file");
	pk = EVP_RSA_gen(1024);
	refused(write_pem("rsa1024.pem", pk, 0), "a 1024-bit RSA key");
	EVP_PKEY_free(pk);
	pk = EVP_EC_gen("P-384");
	refused(write_pem("p384.pem", pk, 0), "a P-384 key");
	EVP_PKEY_free(pk);
}

/* A good token of each algorithm, and its grants. */
static void
test_good(const struct signer *s, const char *alg)
{
	static const char	 payload[] = "{\"sub\":\"x\","
				    "\"exp\":1700000100,\"nbf\":1699999000,"
				    "\"wspipe\":{\"subscribe\":[\"/chat/*\","
				    "\"/news\"],\"publish\":[\"/chat/a\"]}}";
	struct jwt_claims	 c;
	const char		*errstr;
	char			 header[64];
	size_t			 len;
	int			 good;

	snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
	    alg);
	len = token(header, payload, s);
	if (!is_str(errstr = verify(keys, 3, tok, len, &c), NULL,
	    "a good %s token is accepted", alg))
		return;
	good = c.exp == 1700000100 && c.nbf == 1699999000 &&
	    c.nsubscribe == 2 && strcmp(c.subscribe[0], "/chat/*") == 0 &&
	    strcmp(c.subscribe[1], "/news") == 0 && c.subscribe[2] == NULL &&
	    c.npublish == 1 && strcmp(c.publish[0], "/chat/a") == 0 &&
	    c.publish[1] == NULL;
	ok(good, "%s: times and grants are read", alg);
	jwt_claims_free(&c);

	/* Only the key of the token's algorithm is tried. */
	if (strcmp(alg, "HS256") == 0)
		is_str(verify(keys + 1, 2, tok, len, &c),
		    "algorithm not allowed", "%s: no such key, refused", alg);
	else
		is_str(verify(keys, 1, tok, len, &c),
		    "algorithm not allowed", "%s: no such key, refused", alg);
	is_str(verify(keys, 0, tok, len, &c), "algorithm not allowed",
	    "%s: no keys at all, refused", alg);

	/* A flipped bit anywhere in the signature. */
	tok[len - 3] = tok[len - 3] == 'A' ? 'B' : 'A';
	is_str(check(tok, len), "bad signature", "%s: a forged signature is "
	    "refused", alg);
}

static void
test_attacks(const struct signer *hs, const struct signer *rs,
    const struct signer *es, EVP_PKEY *rsa)
{
	static const char	 pl[] = "{\"wspipe\":{\"publish\":[\"/a\"]}}";
	struct signer		 none = { SIGN_NONE, NULL, NULL, 0 };
	struct signer		 conf = { SIGN_HMAC, NULL, NULL, 0 };
	struct signer		 wrong;
	EVP_PKEY		*pk;
	unsigned char		 sig[512];
	struct jwt_claims	 c;
	char			*pem, *dot, save[TOKEN_BUF];
	size_t			 len, n;
	long			 pemlen;
	BIO			*bio;

	len = token("{\"alg\":\"none\"}", pl, &none);
	is_str(check(tok, len), "algorithm not allowed",
	    "alg none with an empty signature is refused");
	is_str(check(tok, len - 1), "malformed token",
	    "alg none without a signature part is refused");
	len = token("{\"alg\":\"none\"}", pl, hs);
	is_str(check(tok, len), "algorithm not allowed",
	    "alg none with an HMAC signature is refused");
	len = token("{\"alg\":\"hs256\"}", pl, hs);
	is_str(check(tok, len), "algorithm not allowed",
	    "alg is compared with case");
	len = token("{\"alg\":\"HS384\"}", pl, hs);
	is_str(check(tok, len), "algorithm not allowed", "HS384 is refused");
	len = token("{\"typ\":\"JWT\"}", pl, hs);
	is_str(check(tok, len), "algorithm not allowed",
	    "a header without alg is refused");
	len = token("{\"alg\":[\"HS256\"]}", pl, hs);
	is_str(check(tok, len), "algorithm not allowed",
	    "an alg that is not a string is refused");
	len = token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", pl, hs);
	is_str(check(tok, len), "critical header not supported",
	    "a crit header is refused");
	len = token("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", pl, hs);
	is_str(check(tok, len), NULL, "typ is compared without case");
	len = token("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", pl, hs);
	is_str(check(tok, len), "bad token type", "another typ is refused");
	len = token("{\"alg\":\"HS256\",\"typ\":1}", pl, hs);
	is_str(check(tok, len), "bad token type", "a numeric typ is refused");

	/*
	 * Algorithm confusion: HS256 keyed with the RSA public key's PEM
	 * bytes, which a careless verifier would use as the secret.
	 */
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, rsa);
	pemlen = BIO_get_mem_data(bio, &pem);
	conf.secret = (const unsigned char *)pem;
	conf.secretlen = pemlen;
	len = token(HS, pl, &conf);
	is_str(verify(keys + 1, 1, tok, len, &c), "algorithm not allowed",
	    "HS256 keyed with the RSA public key is refused (confusion)");
	is_str(check(tok, len), "bad signature",
	    "and with an HS256 key present it is just a bad signature");
	len = token("{\"alg\":\"RS256\"}", pl, &conf);
	is_str(check(tok, len), "bad signature",
	    "an HMAC signature under alg RS256 is refused");
	BIO_free(bio);

	/* Wrong keys. */
	wrong = *hs;
	wrong.secret = (const unsigned char *)"not the secret at all";
	wrong.secretlen = 21;
	len = token(HS, pl, &wrong);
	is_str(check(tok, len), "bad signature", "HS256: wrong secret");
	pk = EVP_RSA_gen(2048);
	wrong.kind = SIGN_PKEY;
	wrong.pkey = pk;
	len = token("{\"alg\":\"RS256\"}", pl, &wrong);
	is_str(check(tok, len), "bad signature", "RS256: wrong key");
	EVP_PKEY_free(pk);
	pk = EVP_EC_gen("P-256");
	wrong.pkey = pk;
	len = token("{\"alg\":\"ES256\"}", pl, &wrong);
	is_str(check(tok, len), "bad signature", "ES256: wrong key");
	EVP_PKEY_free(pk);
	len = token("{\"alg\":\"ES256\"}", pl, rs);
	is_str(check(tok, len), "bad signature",
	    "an RSA signature under alg ES256 is refused");

	/* Signature lengths. */
	wrong = *es;
	wrong.kind = SIGN_EC_DER;
	len = token("{\"alg\":\"ES256\"}", pl, &wrong);
	is_str(check(tok, len), "bad signature",
	    "ES256: a DER signature is refused");
	len = token("{\"alg\":\"RS256\"}", pl, rs);
	dot = strrchr(tok, '.');
	n = sign(rs, tok, dot - tok, sig);
	len = dot + 1 - tok + b64url(sig, n - 1, dot + 1);
	is_str(check(tok, len), "bad signature",
	    "RS256: a signature one byte short is refused");
	len = token(HS, pl, hs);
	dot = strrchr(tok, '.');
	n = sign(hs, tok, dot - tok, sig);
	sig[n] = 0;
	len = dot + 1 - tok + b64url(sig, n + 1, dot + 1);
	is_str(check(tok, len), "bad signature",
	    "HS256: a signature with a byte more is refused");

	/* Tampering: one part of another token under a signature. */
	len = token(HS, pl, hs);
	memcpy(save, tok, len + 1);
	token(HS, "{\"wspipe\":{\"publish\":[\"/b\"]}}", hs);
	len = splice(save, tok, 1);
	is_str(check(tok, len), "bad signature",
	    "a tampered payload is refused");
	len = token("{\"alg\":\"ES256\"}", pl, es);
	memcpy(save, tok, len + 1);
	token("{\"alg\":\"ES256\",\"kid\":\"x\"}", pl, es);
	len = splice(save, tok, 0);
	is_str(check(tok, len), "bad signature",
	    "a tampered header is refused");
}

struct vector {
	const char	*why;
	const char	*header;
	const char	*payload;
	const char	*errstr;
};

/* Signed with HS256, so that only the claims and the JSON decide. */
static const struct vector claims_vectors[] = {
	{ "no claims at all", HS, "{}", NULL },
	{ "exp in the future", HS, "{\"exp\":1700000001}", NULL },
	{ "exp now", HS, "{\"exp\":1700000000}", "token expired" },
	{ "exp past", HS, "{\"exp\":1600000000}", "token expired" },
	{ "exp half a second ahead", HS, "{\"exp\":1700000000.5}", NULL },
	{ "exp half a second ago", HS, "{\"exp\":1699999999.5}",
	    "token expired" },
	{ "exp as a string", HS, "{\"exp\":\"1800000000\"}", "bad claims" },
	{ "exp null", HS, "{\"exp\":null}", "bad claims" },
	{ "exp negative", HS, "{\"exp\":-1}", "bad claims" },
	{ "exp with an exponent", HS, "{\"exp\":1.8e9}", "bad claims" },
	{ "exp of 19 digits", HS, "{\"exp\":1000000000000000000}",
	    "bad claims" },
	{ "nbf now", HS, "{\"nbf\":1700000000}", NULL },
	{ "nbf ahead", HS, "{\"nbf\":1700000001}", "token not yet valid" },
	{ "nbf a fraction ahead", HS, "{\"nbf\":1700000000.001}",
	    "token not yet valid" },
	{ "nbf as a string", HS, "{\"nbf\":\"0\"}", "bad claims" },
	{ "mercure grants", HS, "{\"mercure\":{\"subscribe\":[\"*\"],"
	    "\"payload\":{\"u\":1}}}", NULL },
	{ "empty grant lists", HS, "{\"wspipe\":{\"subscribe\":[],"
	    "\"publish\":[]}}", NULL },
	{ "wspipe not an object", HS, "{\"wspipe\":[\"/a\"]}", "bad claims" },
	{ "mercure not an object", HS, "{\"mercure\":true}", "bad claims" },
	{ "subscribe not an array", HS, "{\"wspipe\":{\"subscribe\":\"/a\"}}",
	    "bad claims" },
	{ "publish null", HS, "{\"wspipe\":{\"publish\":null}}",
	    "bad claims" },
	{ "a number grant", HS, "{\"wspipe\":{\"publish\":[\"/a\",1]}}",
	    "bad claims" },
	{ "an empty grant", HS, "{\"wspipe\":{\"publish\":[\"\"]}}",
	    "bad claims" },
	{ "a grant with a space", HS, "{\"wspipe\":{\"publish\":[\"/a b\"]}}",
	    "bad claims" },
	{ "a grant with a tab escape", HS,
	    "{\"wspipe\":{\"publish\":[\"/a\\tb\"]}}", "bad claims" },
	{ "a grant with an escaped NUL", HS,
	    "{\"wspipe\":{\"subscribe\":[\"/a\\u0000\"]}}", "bad claims" },
	{ "a grant with DEL", HS,
	    "{\"wspipe\":{\"subscribe\":[\"/a\\u007f\"]}}", "bad claims" },
	{ "a nested grant", HS, "{\"wspipe\":{\"subscribe\":[[\"/a\"]]}}",
	    "bad claims" },
	{ "duplicate alg", "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}",
	    "duplicate json key" },
	{ "duplicate alg spelt with an escape",
	    "{\"alg\":\"HS256\",\"a\\u006cg\":\"none\"}", "{}",
	    "duplicate json key" },
	{ "duplicate exp", HS, "{\"exp\":1800000000,\"exp\":1}",
	    "duplicate json key" },
	{ "duplicate nested key", HS,
	    "{\"wspipe\":{\"publish\":[],\"publish\":[\"/a\"]}}",
	    "duplicate json key" },
	{ "same key in two objects", HS,
	    "{\"a\":{\"x\":1},\"b\":{\"x\":1},\"x\":1}", NULL },
	{ "16 levels of nesting", HS, "{\"x\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]}",
	    NULL },
	{ "17 levels of nesting", HS,
	    "{\"x\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
	    "json nested too deep" },
	{ "17 levels in the header", "{\"alg\":\"HS256\",\"x\":"
	    "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}", "{}", "json nested too deep" },
	{ "every kind of value", HS, "{\"a\":[true,false,null,-0.5e+3,0,"
	    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"],\"b\":{} , \"c\" : -12 }\r\n",
	    NULL },
	{ "a lone high surrogate", HS, "{\"a\":\"\\ud83d\"}",
	    "malformed json" },
	{ "a lone low surrogate", HS, "{\"a\":\"\\ude00x\"}",
	    "malformed json" },
	{ "a reversed surrogate pair", HS, "{\"a\":\"\\ude00\\ud83d\"}",
	    "malformed json" },
	{ "a bad escape", HS, "{\"a\":\"\\x41\"}", "malformed json" },
	{ "a short \\u escape", HS, "{\"a\":\"\\u41\"}", "malformed json" },
	{ "a raw control character", HS, "{\"a\":\"a\tb\"}",
	    "malformed json" },
	{ "an overlong UTF-8 slash", HS, "{\"a\":\"\xc0\xaf\"}",
	    "malformed json" },
	{ "a UTF-8 surrogate", HS, "{\"a\":\"\xed\xa0\x80\"}",
	    "malformed json" },
	{ "a truncated UTF-8 sequence", HS, "{\"a\":\"\xe2\x82\"}",
	    "malformed json" },
	{ "raw UTF-8 beyond U+10FFFF", HS, "{\"a\":\"\xf4\x90\x80\x80\"}",
	    "malformed json" },
	{ "a trailing comma", HS, "{\"a\":1,}", "malformed json" },
	{ "a trailing comma in an array", HS, "{\"a\":[1,]}",
	    "malformed json" },
	{ "text after the object", HS, "{} {}", "malformed json" },
	{ "a leading zero", HS, "{\"a\":01}", "malformed json" },
	{ "a bare minus", HS, "{\"a\":-}", "malformed json" },
	{ "a bare point", HS, "{\"a\":1.}", "malformed json" },
	{ "single quotes", HS, "{'a':1}", "malformed json" },
	{ "an unquoted key", HS, "{a:1}", "malformed json" },
	{ "a misspelt literal", HS, "{\"a\":tru}", "malformed json" },
	{ "an unterminated string", HS, "{\"a\":\"b}", "malformed json" },
	{ "an unterminated object", HS, "{\"a\":1", "malformed json" },
	{ "a byte order mark", HS, "\xef\xbb\xbf{}", "malformed json" },
	{ "an array payload", HS, "[]", "malformed json" },
	{ "an empty payload", HS, "", "malformed json" },
	{ "a string header", "\"HS256\"", "{}", "malformed json" },
	{ "an empty header", "", "{}", "malformed json" },
};

static void
test_claims(const struct signer *hs)
{
	const size_t		 nv = sizeof claims_vectors /
				    sizeof claims_vectors[0];
	const struct vector	*v;
	size_t			 i, len;

	for (i = 0; i < nv; i++) {
		v = &claims_vectors[i];
		len = token(v->header, v->payload, hs);
		is_str(check(tok, len), v->errstr, "%s: %s", v->why,
		    v->errstr != NULL ? "refused" : "accepted");
	}
}

/* What the grants decode to, and which of wspipe and mercure counts. */
static void
test_grants(const struct signer *hs)
{
	struct jwt_claims	 c;
	char			*payload, *p;
	size_t			 len, i;
	int			 good;

	len = token(HS, "{\"wspipe\":{\"subscribe\":[\"/\\u00e9t\\u00E9\","
	    "\"/\\ud83d\\ude00\",\"\\/x\",\"/\xce\xb1\"]}}", hs);
	if (is_str(verify(keys, 3, tok, len, &c), NULL,
	    "escaped grants are accepted")) {
		good = c.nsubscribe == 4 && c.npublish == 0 &&
		    strcmp(c.subscribe[0], "/\xc3\xa9t\xc3\xa9") == 0 &&
		    strcmp(c.subscribe[1], "/\xf0\x9f\x98\x80") == 0 &&
		    strcmp(c.subscribe[2], "/x") == 0 &&
		    strcmp(c.subscribe[3], "/\xce\xb1") == 0 &&
		    c.publish != NULL && c.publish[0] == NULL;
		ok(good, "\\u escapes and surrogate pairs decode to UTF-8");
		jwt_claims_free(&c);
	}

	len = token(HS, "{\"mercure\":{\"subscribe\":[\"*\"],\"publish\":"
	    "[\"https://example.com/books/{id}\"]}}", hs);
	if (is_str(verify(keys, 3, tok, len, &c), NULL,
	    "a mercure claim is accepted")) {
		ok(c.nsubscribe == 1 && strcmp(c.subscribe[0], "*") == 0 &&
		    c.npublish == 1 && strcmp(c.publish[0],
		    "https://example.com/books/{id}") == 0,
		    "mercure grants are read");
		jwt_claims_free(&c);
	}
	len = token(HS, "{\"mercure\":{\"publish\":[\"*\"]},"
	    "\"wspipe\":{\"subscribe\":[\"/a\"]}}", hs);
	if (is_str(verify(keys, 3, tok, len, &c), NULL,
	    "wspipe and mercure together are accepted")) {
		ok(c.nsubscribe == 1 && c.npublish == 0 && c.exp == 0 &&
		    c.nbf == 0, "wspipe wins over mercure");
		jwt_claims_free(&c);
	}
	len = token(HS, "{\"sub\":\"nobody\"}", hs);
	if (is_str(verify(keys, 3, tok, len, &c), NULL,
	    "a token without grants is accepted")) {
		ok(c.subscribe != NULL && c.subscribe[0] == NULL &&
		    c.publish != NULL && c.publish[0] == NULL &&
		    c.nsubscribe == 0 && c.npublish == 0,
		    "with empty, non-NULL lists");
		jwt_claims_free(&c);
	}

	/* 256 bytes per grant and 1024 grants per list are the limits. */
	payload = malloc(8 * JWT_GRANTS_MAX + 512);
	p = payload + sprintf(payload, "{\"wspipe\":{\"publish\":[\"");
	memset(p, 'g', JWT_GRANT_MAX);
	strcpy(p + JWT_GRANT_MAX, "\"]}}");
	len = token(HS, payload, hs);
	is_str(check(tok, len), NULL, "a 256-byte grant is accepted");
	strcpy(p + JWT_GRANT_MAX, "g\"]}}");
	len = token(HS, payload, hs);
	is_str(check(tok, len), "bad claims", "a 257-byte grant is refused");
	p = payload + sprintf(payload, "{\"wspipe\":{\"subscribe\":[");
	for (i = 0; i < JWT_GRANTS_MAX; i++)
		p += sprintf(p, "%s\"a\"", i > 0 ? "," : "");
	strcpy(p, "]}}");
	len = token(HS, payload, hs);
	if (is_str(verify(keys, 3, tok, len, &c), NULL,
	    "1024 grants are accepted")) {
		ok(c.nsubscribe == JWT_GRANTS_MAX &&
		    c.subscribe[JWT_GRANTS_MAX] == NULL, "all 1024 are read");
		jwt_claims_free(&c);
	}
	strcpy(p, ",\"a\"]}}");
	len = token(HS, payload, hs);
	is_str(check(tok, len), "bad claims", "1025 grants are refused");
	free(payload);
}

/* Base64url and the three-part structure. */
static void
test_syntax(const struct signer *hs)
{
	char	save[TOKEN_BUF], *dot, *big;
	size_t	len, n;
	int	all;

	len = token(HS, "{\"a\":1}", hs);
	memcpy(save, tok, len + 1);
	is_str(check(tok, len), NULL, "the reference token is accepted");

	/* {"a":1} is 7 bytes: its base64url ends in one pad's worth. */
	dot = strchr(tok, '.') + 1;
	n = strchr(dot, '.') - dot;
	memmove(dot + n + 1, dot + n, len - (dot + n - tok) + 1);
	dot[n] = '=';
	is_str(check(tok, len + 1), "malformed token",
	    "padding in the payload is refused");
	memcpy(tok, save, len + 1);
	tok[len] = '=';
	is_str(check(tok, len + 1), "malformed token",
	    "padding after the signature is refused");
	memcpy(tok, save, len + 1);
	dot[2] = dot[2] == '-' ? '+' : '/';
	is_str(check(tok, len), "malformed token",
	    "a base64 (not base64url) character is refused");
	memcpy(tok, save, len + 1);
	/* 32 bytes take 43 digits: the last carries 2 unused bits. */
	tok[len - 1] = 'B';
	is_str(check(tok, len), "malformed token",
	    "nonzero unused bits are refused");
	memcpy(tok, save, len + 1);
	tok[len - 5] = ' ';
	is_str(check(tok, len), "malformed token",
	    "a space inside is refused");
	memcpy(tok, save, len + 1);
	tok[len - 5] = '\xc3';
	is_str(check(tok, len), "malformed token",
	    "a non-ASCII byte is refused");
	memcpy(tok, save, len + 1);
	tok[len] = '.';
	is_str(check(tok, len + 1), "malformed token",
	    "a fourth part is refused");
	tok[len] = tok[len + 1] = 'A';
	is_str(check(tok, len + 2), "malformed token",
	    "an impossible length (4n + 1) is refused");
	memcpy(tok, save, len + 1);
	ok(check(tok + 1, len - 1) != NULL,
	    "a missing first digit is refused");
	is_str(check("..", 2), "malformed json", "two dots are refused");
	is_str(check(NULL, 0), "malformed token", "nothing is refused");

	/* Truncated at every length, for each algorithm's good token. */
	all = 1;
	for (n = 0; n < len; n++)
		if (check(save, n) == NULL)
			all = 0;
	ok(all, "HS256 truncated at each of %zu lengths is refused", len);

	/* The whole token is bounded. */
	big = malloc(JWT_TOKEN_MAX + 2);
	memset(big, 'A', JWT_TOKEN_MAX + 1);
	big[10] = big[20] = '.';
	is_str(check(big, JWT_TOKEN_MAX + 1), "token too long",
	    "a token over 8 KiB is refused");
	free(big);
}

static void
test_truncated(const struct signer *s, const char *header)
{
	char	save[TOKEN_BUF];
	size_t	len, n;
	int	all = 1;

	len = token(header, "{\"wspipe\":{\"subscribe\":[\"/a\"]}}", s);
	memcpy(save, tok, len);
	if (check(save, len) != NULL)
		all = 0;
	for (n = 0; n < len; n++)
		if (check(save, n) == NULL)
			all = 0;
	ok(all, "%s truncated at each of %zu lengths is refused", header,
	    len);
}

int
main(void)
{
	struct signer	 hs, rs, es;
	EVP_PKEY	*rsa, *ec;
	const char	*t;
	int		 i;

	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpdir, sizeof tmpdir, "%s/jwt_test.XXXXXX", t);
	if (mkdtemp(tmpdir) == NULL) {
		perror(tmpdir);
		return (1);
	}
	rsa = EVP_RSA_gen(2048);
	ec = EVP_EC_gen("P-256");
	test_keys(rsa, ec);
	hs = (struct signer){ SIGN_HMAC, NULL,
	    (const unsigned char *)secret, 40 };
	rs = (struct signer){ SIGN_PKEY, rsa, NULL, 0 };
	es = (struct signer){ SIGN_PKEY, ec, NULL, 0 };

	test_good(&hs, "HS256");
	test_good(&rs, "RS256");
	test_good(&es, "ES256");
	test_attacks(&hs, &rs, &es, rsa);
	test_claims(&hs);
	test_grants(&hs);
	test_syntax(&hs);
	test_truncated(&rs, "{\"alg\":\"RS256\"}");
	test_truncated(&es, "{\"alg\":\"ES256\"}");

	for (i = 0; i < 3; i++)
		jwt_key_free(keys[i]);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	for (i = 0; i < npaths; i++)
		unlink(paths[i]);
	rmdir(tmpdir);
	return (done_testing());
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * JSON Web Token verification for listen-mode clients.  A token is a JWS
 * in compact form (RFC 7515 7.1) signed with HS256, RS256 or ES256 (RFC
 * 7518 3); its JSON claims (RFC 7519) may carry exp, nbf and grants under
 * "wspipe" or, as Mercure issues them, "mercure".  The JSON reader is
 * strict and small: it builds a tree in one bounded arena, refuses
 * duplicate keys, deep nesting and bad UTF-8.  Pure: libc and libcrypto.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "jwt.h"

enum jwt_alg {
	JWT_HS256,
	JWT_RS256,
	JWT_ES256
};

static const char *const jwt_alg_names[] = { "HS256", "RS256", "ES256" };

struct jwt_key {
	enum jwt_alg	 alg;
	EVP_PKEY	*pkey;		/* RS256, ES256 */
	unsigned char	*secret;	/* HS256 */
	size_t		 secretlen;
	EVP_MAC_CTX	*mac;		/* HS256, keyed once at load */
};

enum jwt_json_type {
	JWT_JSON_NULL,
	JWT_JSON_FALSE,
	JWT_JSON_TRUE,
	JWT_JSON_NUMBER,
	JWT_JSON_STRING,
	JWT_JSON_ARRAY,
	JWT_JSON_OBJECT
};

/* A value; str is a string decoded or a number's text. */
struct jwt_json {
	enum jwt_json_type	 type;
	const char		*name;	/* as a member, decoded */
	size_t			 namelen;
	const char		*str;
	size_t			 len;
	struct jwt_json		*child;	/* first element or member */
	struct jwt_json		*next;
};

/* One JSON text being read: its nodes and decoded strings. */
struct jwt_doc {
	const unsigned char	*p, *end;
	struct jwt_json		*nodes;
	size_t			 nnodes, maxnodes;
	char			*pool;
	size_t			 poollen, poolmax;
	const char		*errstr;
};

static struct jwt_json	*jwt_json_value(struct jwt_doc *, int);

static int
jwt_alg_lookup(const char *s, size_t len, enum jwt_alg *alg)
{
	size_t	i;

	for (i = 0; i < sizeof jwt_alg_names / sizeof jwt_alg_names[0]; i++)
		if (strlen(jwt_alg_names[i]) == len &&
		    memcmp(jwt_alg_names[i], s, len) == 0) {
			*alg = (enum jwt_alg)i;
			return (0);
		}
	return (-1);
}

/* Reads a whole key file into a fresh buffer of JWT_KEYFILE_MAX bytes. */
static int
jwt_key_read(const char *path, unsigned char **bufp, size_t *lenp,
    const char **errstr)
{
	unsigned char	*buf;
	FILE		*f;
	size_t		 len;
	int		 bad;

	if ((f = fopen(path, "re")) == NULL) {
		*errstr = "cannot open key file";
		return (-1);
	}
	if ((buf = malloc(JWT_KEYFILE_MAX + 1)) == NULL) {
		fclose(f);
		*errstr = "out of memory";
		return (-1);
	}
	len = fread(buf, 1, JWT_KEYFILE_MAX + 1, f);
	bad = ferror(f);
	fclose(f);
	if (bad || len > JWT_KEYFILE_MAX) {
		*errstr = bad ? "cannot read key file" : "key file too large";
		OPENSSL_cleanse(buf, len);
		free(buf);
		return (-1);
	}
	*bufp = buf;
	*lenp = len;
	return (0);
}

/* Sets the key's algorithm from its type; RSA and P-256 only. */
static int
jwt_key_type(struct jwt_key *k, const char **errstr)
{
	char	group[64];

	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		if (EVP_PKEY_get_bits(k->pkey) < JWT_RSA_BITS_MIN) {
			*errstr = "rsa key shorter than 2048 bits";
			return (-1);
		}
		k->alg = JWT_RS256;
		return (0);
	}
	if (EVP_PKEY_is_a(k->pkey, "EC")) {
		/* RFC 7518 3.4: ES256 is ECDSA over P-256 with SHA-256. */
		if (EVP_PKEY_get_group_name(k->pkey, group, sizeof group,
		    NULL) != 1 || strcmp(group, SN_X9_62_prime256v1) != 0) {
			*errstr = "ec key not on curve p-256";
			return (-1);
		}
		k->alg = JWT_ES256;
		return (0);
	}
	*errstr = "unsupported public key type";
	return (-1);
}

/*
 * A file holding a PEM block is a public key, never a secret: reading
 * one as HMAC bytes is how algorithm confusion begins.
 */
static int
jwt_mac_init(struct jwt_key *k)
{
	OSSL_PARAM	 params[2];
	EVP_MAC		*mac;
	char		 digest[] = "SHA256";

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (-1);
	k->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (k->mac == NULL || EVP_MAC_init(k->mac, k->secret, k->secretlen,
	    params) != 1)
		return (-1);
	return (0);
}

struct jwt_key *
jwt_key_load(const char *path, const char **errstr)
{
	struct jwt_key	*k;
	unsigned char	*buf;
	size_t		 len;
	BIO		*bio;

	if (jwt_key_read(path, &buf, &len, errstr) == -1)
		return (NULL);
	if ((k = calloc(1, sizeof *k)) == NULL) {
		*errstr = "out of memory";
		goto fail;
	}
	if (memmem(buf, len, "-----BEGIN ", 11) == NULL) {
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len < JWT_SECRET_MIN) {
			*errstr = "hmac secret shorter than 32 bytes";
			goto fail;
		}
		if ((k->secret = malloc(len)) == NULL) {
			*errstr = "out of memory";
			goto fail;
		}
		memcpy(k->secret, buf, len);
		k->secretlen = len;
		k->alg = JWT_HS256;
		/* Fetched and keyed once: HMAC() looks both up each call. */
		if (jwt_mac_init(k) == -1) {
			*errstr = "cannot set up hmac-sha256";
			goto fail;
		}
	} else {
		ERR_set_mark();
		if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL)
			k->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (k->pkey == NULL)
			*errstr = "no pem public key in key file";
		if (k->pkey == NULL || jwt_key_type(k, errstr) == -1) {
			ERR_pop_to_mark();
			goto fail;
		}
		ERR_pop_to_mark();
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return (k);
fail:
	OPENSSL_cleanse(buf, len);
	free(buf);
	jwt_key_free(k);
	return (NULL);
}

void
jwt_key_free(struct jwt_key *k)
{
	if (k == NULL)
		return;
	if (k->secret != NULL) {
		OPENSSL_cleanse(k->secret, k->secretlen);
		free(k->secret);
	}
	EVP_PKEY_free(k->pkey);
	EVP_MAC_CTX_free(k->mac);
	free(k);
}

const char *
jwt_key_alg(const struct jwt_key *k)
{
	return (jwt_alg_names[k->alg]);
}

/*
 * Decodes unpadded base64url (RFC 7515 2, RFC 4648 5).  Refuses any other
 * character, a length no encoding has, and nonzero unused bits, which
 * would let two spellings share one signature.
 */
static int
jwt_b64_decode(const char *s, size_t len, unsigned char *out,
    size_t *outlen)
{
	unsigned int	acc = 0, v;
	size_t		i, n = 0;
	int		bits = 0;
	char		c;

	if (len % 4 == 1)
		return (-1);
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return (-1);
		acc = ((acc << 6) | v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	if ((acc & ((1U << bits) - 1)) != 0)
		return (-1);
	*outlen = n;
	return (0);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 4), or 0. */
static size_t
jwt_utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned long	cp, min;
	size_t		i, n;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return (0);
	if ((size_t)(end - p) < n)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

static size_t
jwt_utf8_put(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = cp;
		return (1);
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3f);
		return (2);
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return (3);
	}
	o[0] = 0xf0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return (4);
}

static void
jwt_json_ws(struct jwt_doc *d)
{
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' ||
	    *d->p == '\n' || *d->p == '\r'))
		d->p++;
}

static struct jwt_json *
jwt_json_node(struct jwt_doc *d, enum jwt_json_type type)
{
	struct jwt_json	*v;

	if (d->nnodes == d->maxnodes)
		return (NULL);
	v = &d->nodes[d->nnodes++];
	v->type = type;
	return (v);
}

static int
jwt_json_hex4(struct jwt_doc *d, unsigned long *u)
{
	int	i, c;

	if (d->end - d->p < 4)
		return (-1);
	*u = 0;
	for (i = 0; i < 4; i++) {
		c = *d->p++;
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return (-1);
		*u = (*u << 4) | c;
	}
	return (0);
}

/*
 * Decodes the string at d->p (its opening quote) into the pool.  No
 * string decodes longer than its source, so the pool, as long as the
 * text, cannot overflow; the check below only makes that local.
 */
static int
jwt_json_string(struct jwt_doc *d, const char **s, size_t *len)
{
	char		*start = d->pool + d->poollen, *o = start;
	unsigned long	 u, lo;
	size_t		 n;
	int		 c;

	d->p++;
	for (;;) {
		if (d->p == d->end || (size_t)(o - d->pool) + 4 > d->poolmax)
			return (-1);
		c = *d->p;
		if (c == '"') {
			d->p++;
			break;
		}
		/* RFC 8259 7: control characters must be escaped. */
		if (c < 0x20)
			return (-1);
		if (c >= 0x80) {
			if ((n = jwt_utf8_len(d->p, d->end)) == 0)
				return (-1);
			memcpy(o, d->p, n);
			o += n;
			d->p += n;
			continue;
		}
		d->p++;
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (d->p == d->end)
			return (-1);
		switch ((c = *d->p++)) {
		case '"':
		case '\\':
		case '/':
			*o++ = c;
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (jwt_json_hex4(d, &u) == -1 ||
			    (u >= 0xdc00 && u <= 0xdfff))
				return (-1);
			/* A high surrogate must be followed by a low one. */
			if (u >= 0xd800 && u <= 0xdbff) {
				if (d->end - d->p < 2 || d->p[0] != '\\' ||
				    d->p[1] != 'u')
					return (-1);
				d->p += 2;
				if (jwt_json_hex4(d, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return (-1);
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			o += jwt_utf8_put(o, u);
			break;
		default:
			return (-1);
		}
	}
	*s = start;
	*len = o - start;
	d->poollen += *len;
	return (0);
}

static size_t
jwt_json_digits(struct jwt_doc *d)
{
	size_t	n = 0;

	while (d->p < d->end && *d->p >= '0' && *d->p <= '9') {
		d->p++;
		n++;
	}
	return (n);
}

/* RFC 8259 6; the text is kept, converted only where a claim needs it. */
static struct jwt_json *
jwt_json_number(struct jwt_doc *d)
{
	const unsigned char	*s = d->p;
	struct jwt_json		*v;

	if (d->p < d->end && *d->p == '-')
		d->p++;
	if (d->p < d->end && *d->p == '0')
		d->p++;
	else if (jwt_json_digits(d) == 0)
		return (NULL);
	if (d->p < d->end && *d->p == '.') {
		d->p++;
		if (jwt_json_digits(d) == 0)
			return (NULL);
	}
	if (d->p < d->end && (*d->p == 'e' || *d->p == 'E')) {
		d->p++;
		if (d->p < d->end && (*d->p == '+' || *d->p == '-'))
			d->p++;
		if (jwt_json_digits(d) == 0)
			return (NULL);
	}
	if ((v = jwt_json_node(d, JWT_JSON_NUMBER)) == NULL)
		return (NULL);
	v->str = (const char *)s;
	v->len = d->p - s;
	return (v);
}

static struct jwt_json *
jwt_json_literal(struct jwt_doc *d, const char *word, enum jwt_json_type t)
{
	size_t	len;

	len = strlen(word);
	if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len) != 0)
		return (NULL);
	d->p += len;
	return (jwt_json_node(d, t));
}

static struct jwt_json *
jwt_json_array(struct jwt_doc *d, int depth)
{
	struct jwt_json	*a, *e, *prev = NULL;

	if ((a = jwt_json_node(d, JWT_JSON_ARRAY)) == NULL)
		return (NULL);
	d->p++;
	jwt_json_ws(d);
	if (d->p < d->end && *d->p == ']') {
		d->p++;
		return (a);
	}
	for (;;) {
		if ((e = jwt_json_value(d, depth)) == NULL)
			return (NULL);
		if (prev == NULL)
			a->child = e;
		else
			prev->next = e;
		prev = e;
		jwt_json_ws(d);
		if (d->p == d->end)
			return (NULL);
		if (*d->p == ']') {
			d->p++;
			return (a);
		}
		if (*d->p++ != ',')
			return (NULL);
	}
}

static struct jwt_json *
jwt_json_object(struct jwt_doc *d, int depth)
{
	struct jwt_json	*o, *m, *q, *prev = NULL;
	const char	*name;
	size_t		 namelen;

	if ((o = jwt_json_node(d, JWT_JSON_OBJECT)) == NULL)
		return (NULL);
	d->p++;
	jwt_json_ws(d);
	if (d->p < d->end && *d->p == '}') {
		d->p++;
		return (o);
	}
	for (;;) {
		jwt_json_ws(d);
		if (d->p == d->end || *d->p != '"' ||
		    jwt_json_string(d, &name, &namelen) == -1)
			return (NULL);
		/*
		 * RFC 7515 5.2 lets a parser take the last of duplicate
		 * names; another may take the first, so refuse them all.
		 */
		for (q = o->child; q != NULL; q = q->next)
			if (q->namelen == namelen &&
			    memcmp(q->name, name, namelen) == 0) {
				d->errstr = "duplicate json key";
				return (NULL);
			}
		jwt_json_ws(d);
		if (d->p == d->end || *d->p++ != ':')
			return (NULL);
		if ((m = jwt_json_value(d, depth)) == NULL)
			return (NULL);
		m->name = name;
		m->namelen = namelen;
		if (prev == NULL)
			o->child = m;
		else
			prev->next = m;
		prev = m;
		jwt_json_ws(d);
		if (d->p == d->end)
			return (NULL);
		if (*d->p == '}') {
			d->p++;
			return (o);
		}
		if (*d->p++ != ',')
			return (NULL);
	}
}

/* Depth counts the containers around the value. */
static struct jwt_json *
jwt_json_value(struct jwt_doc *d, int depth)
{
	struct jwt_json	*v;

	jwt_json_ws(d);
	if (d->p == d->end)
		return (NULL);
	switch (*d->p) {
	case '{':
	case '[':
		if (depth >= JWT_DEPTH_MAX) {
			d->errstr = "json nested too deep";
			return (NULL);
		}
		if (*d->p == '{')
			return (jwt_json_object(d, depth + 1));
		return (jwt_json_array(d, depth + 1));
	case '"':
		if ((v = jwt_json_node(d, JWT_JSON_STRING)) == NULL ||
		    jwt_json_string(d, &v->str, &v->len) == -1)
			return (NULL);
		return (v);
	case 't':
		return (jwt_json_literal(d, "true", JWT_JSON_TRUE));
	case 'f':
		return (jwt_json_literal(d, "false", JWT_JSON_FALSE));
	case 'n':
		return (jwt_json_literal(d, "null", JWT_JSON_NULL));
	default:
		return (jwt_json_number(d));
	}
}

/*
 * Parses a JSON text that must be an object.  NULL with a reason in
 * d->errstr; either way jwt_json_free(d) releases the arena.  A text of n
 * bytes holds at most (n + 1) / 2 values: each takes a byte, a container
 * two, and every value but the first a comma or a bracket more.
 */
static struct jwt_json *
jwt_json_parse(struct jwt_doc *d, const unsigned char *text, size_t len)
{
	struct jwt_json	*v;

	memset(d, 0, sizeof *d);
	d->errstr = "malformed json";
	d->p = text;
	d->end = text + len;
	d->maxnodes = len / 2 + 2;
	d->poolmax = len + 4;
	if ((d->nodes = calloc(d->maxnodes, sizeof *d->nodes)) == NULL ||
	    (d->pool = malloc(d->poolmax)) == NULL) {
		d->errstr = "out of memory";
		return (NULL);
	}
	jwt_json_ws(d);
	if (d->p == d->end || *d->p != '{')
		return (NULL);
	if ((v = jwt_json_value(d, 0)) == NULL)
		return (NULL);
	jwt_json_ws(d);
	if (d->p != d->end)
		return (NULL);
	return (v);
}

static void
jwt_json_free(struct jwt_doc *d)
{
	free(d->nodes);
	free(d->pool);
	d->nodes = NULL;
	d->pool = NULL;
}

static const struct jwt_json *
jwt_json_get(const struct jwt_json *o, const char *name)
{
	const struct jwt_json	*m;
	size_t			 len;

	len = strlen(name);
	for (m = o->child; m != NULL; m = m->next)
		if (m->namelen == len && memcmp(m->name, name, len) == 0)
			return (m);
	return (NULL);
}

static int
jwt_sig_hmac(const struct jwt_key *k, const char *in, size_t inlen,
    const unsigned char *sig, size_t siglen)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	size_t		mdlen = 0;
	int		good;

	/* A NULL key starts again with the key set at load. */
	if (EVP_MAC_init(k->mac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(k->mac, (const unsigned char *)in, inlen) != 1 ||
	    EVP_MAC_final(k->mac, md, &mdlen, sizeof md) != 1)
		return (0);
	/* The length is public; the bytes are compared in constant time. */
	good = mdlen == 32 && siglen == mdlen &&
	    CRYPTO_memcmp(md, sig, mdlen) == 0;
	OPENSSL_cleanse(md, sizeof md);
	return (good);
}

static int
jwt_sig_pkey(const struct jwt_key *k, const char *in, size_t inlen,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX		*ctx = NULL;
	ECDSA_SIG		*es = NULL;
	BIGNUM			*r = NULL, *s = NULL;
	unsigned char		*der = NULL;
	int			 derlen, good = 0;

	if (k->alg == JWT_ES256) {
		/* RFC 7518 3.4: R and S as 32 bytes each, not DER. */
		if (siglen != 64)
			return (0);
		if ((es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
		    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL ||
		    ECDSA_SIG_set0(es, r, s) != 1)
			goto done;
		r = s = NULL;
		if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0)
			goto done;
		sig = der;
		siglen = derlen;
	} else if (siglen != (size_t)EVP_PKEY_get_size(k->pkey))
		/* RFC 7518 3.3: as long as the modulus, no more, no less. */
		goto done;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1)
		goto done;
	good = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)in,
	    inlen) == 1;
done:
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	OPENSSL_free(der);
	return (good);
}

/*
 * A NumericDate (RFC 7519 2): seconds, without sign or exponent, rounded
 * up, which keeps "now < exp" and "now >= nbf" exact for a whole now.
 */
static int
jwt_claims_time(const struct jwt_json *v, long long *t)
{
	long long	n = 0;
	size_t		i;
	int		frac = 0;

	if (v->type != JWT_JSON_NUMBER)
		return (-1);
	for (i = 0; i < v->len && v->str[i] >= '0' && v->str[i] <= '9'; i++) {
		if (i == 18)
			return (-1);
		n = n * 10 + (v->str[i] - '0');
	}
	if (i == 0)
		return (-1);
	if (i < v->len) {
		if (v->str[i] != '.')
			return (-1);
		for (i++; i < v->len; i++) {
			if (v->str[i] < '0' || v->str[i] > '9')
				return (-1);
			if (v->str[i] != '0')
				frac = 1;
		}
	}
	*t = n + frac;
	return (0);
}

/* A grant names resources as pubsub.c does: 1-256 bytes, no spaces. */
static int
jwt_grant_valid(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > JWT_GRANT_MAX)
		return (0);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return (0);
	return (1);
}

/* Copies the array g[name], absent meaning empty, into *listp. */
static int
jwt_claims_list(const struct jwt_json *g, const char *name, char ***listp,
    size_t *np, const char **errstr)
{
	const struct jwt_json	*a = NULL, *e;
	char			**list;
	size_t			  n = 0;

	if (g != NULL && (a = jwt_json_get(g, name)) != NULL) {
		if (a->type != JWT_JSON_ARRAY)
			return (-1);
		for (e = a->child; e != NULL; e = e->next) {
			if (e->type != JWT_JSON_STRING ||
			    !jwt_grant_valid(e->str, e->len))
				return (-1);
			if (++n > JWT_GRANTS_MAX)
				return (-1);
		}
	}
	if ((list = calloc(n + 1, sizeof *list)) == NULL) {
		*errstr = "out of memory";
		return (-1);
	}
	*listp = list;
	for (e = a != NULL ? a->child : NULL; e != NULL; e = e->next) {
		if ((list[*np] = strndup(e->str, e->len)) == NULL) {
			*errstr = "out of memory";
			return (-1);
		}
		(*np)++;
	}
	return (0);
}

static int
jwt_claims_read(const struct jwt_json *p, long long now,
    struct jwt_claims *c, const char **errstr)
{
	const struct jwt_json	*v, *g;

	*errstr = "bad claims";
	if ((v = jwt_json_get(p, "exp")) != NULL) {
		if (jwt_claims_time(v, &c->exp) == -1)
			return (-1);
		/* RFC 7519 4.1.4: not accepted on or after exp. */
		if (now >= c->exp + JWT_LEEWAY) {
			*errstr = "token expired";
			return (-1);
		}
	}
	if ((v = jwt_json_get(p, "nbf")) != NULL) {
		if (jwt_claims_time(v, &c->nbf) == -1)
			return (-1);
		/* RFC 7519 4.1.5: not accepted before nbf. */
		if (now < c->nbf - JWT_LEEWAY) {
			*errstr = "token not yet valid";
			return (-1);
		}
	}
	if ((g = jwt_json_get(p, "wspipe")) == NULL)
		g = jwt_json_get(p, "mercure");
	if (g != NULL && g->type != JWT_JSON_OBJECT)
		return (-1);
	if (jwt_claims_list(g, "subscribe", &c->subscribe, &c->nsubscribe,
	    errstr) == -1 ||
	    jwt_claims_list(g, "publish", &c->publish, &c->npublish,
	    errstr) == -1)
		return (-1);
	return (0);
}

/*
 * Verifies a compact JWS against the keys of its header's algorithm, then
 * reads its claims.  0 and *claims filled, or -1 with a static reason in
 * *errstr and nothing in *claims to free.  Keys named by the token (jwk,
 * jku, x5u, kid) are ignored: only the configured keys are tried.
 */
int
jwt_verify(struct jwt_key *const *keys, size_t nkeys, const char *token,
    size_t len, long long now, struct jwt_claims *claims,
    const char **errstr)
{
	struct jwt_doc		 hd, pd;
	const struct jwt_json	*h, *p, *v;
	const char		*dot1, *dot2;
	unsigned char		*buf = NULL, *sig;
	size_t			 hlen, plen, slen, i;
	enum jwt_alg		 alg;
	int			 r = -1, good = 0;

	memset(claims, 0, sizeof *claims);
	memset(&hd, 0, sizeof hd);
	memset(&pd, 0, sizeof pd);
	ERR_set_mark();
	*errstr = "malformed token";
	if (len > JWT_TOKEN_MAX) {
		*errstr = "token too long";
		goto done;
	}
	/* RFC 7515 7.1: three base64url parts joined by dots. */
	if (len == 0 || (dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', token + len - dot1 - 1)) == NULL ||
	    memchr(dot2 + 1, '.', token + len - dot2 - 1) != NULL)
		goto done;
	if ((buf = malloc(len)) == NULL) {
		*errstr = "out of memory";
		goto done;
	}
	if (jwt_b64_decode(token, dot1 - token, buf, &hlen) == -1 ||
	    jwt_b64_decode(dot1 + 1, dot2 - dot1 - 1, buf + hlen,
	    &plen) == -1 ||
	    jwt_b64_decode(dot2 + 1, token + len - dot2 - 1,
	    buf + hlen + plen, &slen) == -1)
		goto done;
	sig = buf + hlen + plen;

	if ((h = jwt_json_parse(&hd, buf, hlen)) == NULL) {
		*errstr = hd.errstr;
		goto done;
	}
	/* RFC 8725 3.1: the algorithm must be one the key was made for. */
	if ((v = jwt_json_get(h, "alg")) == NULL ||
	    v->type != JWT_JSON_STRING ||
	    jwt_alg_lookup(v->str, v->len, &alg) == -1) {
		*errstr = "algorithm not allowed";
		goto done;
	}
	/* RFC 7515 4.1.11: we understand no extension. */
	if (jwt_json_get(h, "crit") != NULL) {
		*errstr = "critical header not supported";
		goto done;
	}
	/* RFC 7519 5.1: compared without regard to case. */
	if ((v = jwt_json_get(h, "typ")) != NULL &&
	    (v->type != JWT_JSON_STRING || v->len != 3 ||
	    strncasecmp(v->str, "JWT", 3) != 0)) {
		*errstr = "bad token type";
		goto done;
	}

	*errstr = "algorithm not allowed";
	for (i = 0; i < nkeys && !good; i++) {
		if (keys[i]->alg != alg)
			continue;
		*errstr = "bad signature";
		if (alg == JWT_HS256)
			good = jwt_sig_hmac(keys[i], token, dot2 - token, sig,
			    slen);
		else
			good = jwt_sig_pkey(keys[i], token, dot2 - token, sig,
			    slen);
	}
	if (!good)
		goto done;

	/* Only a signed payload is read. */
	if ((p = jwt_json_parse(&pd, buf + hlen, plen)) == NULL) {
		*errstr = pd.errstr;
		goto done;
	}
	if (jwt_claims_read(p, now, claims, errstr) == -1)
		goto done;
	r = 0;
done:
	if (r == -1)
		jwt_claims_free(claims);
	jwt_json_free(&hd);
	jwt_json_free(&pd);
	free(buf);
	ERR_pop_to_mark();
	return (r);
}

void
jwt_claims_free(struct jwt_claims *c)
{
	size_t	i;

	if (c->subscribe != NULL)
		for (i = 0; c->subscribe[i] != NULL; i++)
			free(c->subscribe[i]);
	if (c->publish != NULL)
		for (i = 0; c->publish[i] != NULL; i++)
			free(c->publish[i]);
	free(c->subscribe);
	free(c->publish);
	memset(c, 0, sizeof *c);
}

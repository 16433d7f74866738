/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * libFuzzer target for jwt.c.  Each input is verified three ways against
 * an HMAC key and an EC key: as a whole token, as the header and as the
 * payload of a token signed here, so that the JSON reader and the claims
 * are reached past the signature.  A refusal has a reason; an accepted
 * token's times hold and its grants keep the limits.
 */

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "../../src/jwt.h"

#define FUZZ_SECRET	"wspipe fuzzing secret, not for real use"
#define FUZZ_NOW	1700000000LL
#define FUZZ_HEADER	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define FUZZ_PAYLOAD	"{\"exp\":1800000000,\"wspipe\":{\"publish\":[]}}"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct jwt_key	*keys[2];
static char		 tok[2 * JWT_TOKEN_MAX + 256];

static size_t
fuzz_b64url(const unsigned char *in, size_t len, char *out)
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
	return (n);
}

static struct jwt_key *
fuzz_key(const char *dir, const char *name, const void *data, size_t len)
{
	struct jwt_key	*k;
	const char	*errstr = NULL;
	char		 path[1024];
	FILE		*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert(f != NULL);
	fwrite(data, 1, len, f);
	fclose(f);
	k = jwt_key_load(path, &errstr);
	unlink(path);
	assert(k != NULL);
	return (k);
}

/* The keys are read from files once, which are removed at once. */
static void
fuzz_init(void)
{
	const char	*t;
	char		 dir[1024], *pem;
	EVP_PKEY	*ec;
	long		 len;
	BIO		*bio;

	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(dir, sizeof dir, "%s/jwt_fuzz.XXXXXX", t);
	if (mkdtemp(dir) == NULL)
		abort();
	keys[0] = fuzz_key(dir, "hs.key", FUZZ_SECRET "\n",
	    sizeof FUZZ_SECRET);
	ec = EVP_EC_gen("P-256");
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, ec);
	len = BIO_get_mem_data(bio, &pem);
	keys[1] = fuzz_key(dir, "ec.pem", pem, len);
	BIO_free(bio);
	EVP_PKEY_free(ec);
	rmdir(dir);
}

static void
fuzz_list(char **list, size_t n)
{
	size_t	i, j, len;

	assert(list != NULL && n <= JWT_GRANTS_MAX && list[n] == NULL);
	for (i = 0; i < n; i++) {
		len = strlen(list[i]);
		assert(len >= 1 && len <= JWT_GRANT_MAX);
		for (j = 0; j < len; j++)
			assert((unsigned char)list[i][j] > ' ' &&
			    list[i][j] != 0x7f);
	}
}

static void
fuzz_verify(const char *t, size_t len)
{
	struct jwt_claims	 c;
	const char		*errstr = NULL;

	if (jwt_verify(keys, 2, t, len, FUZZ_NOW, &c, &errstr) == -1) {
		assert(errstr != NULL && *errstr != '\0');
		assert(c.subscribe == NULL && c.publish == NULL);
		return;
	}
	assert(c.exp == 0 || FUZZ_NOW < c.exp);
	assert(FUZZ_NOW >= c.nbf);
	fuzz_list(c.subscribe, c.nsubscribe);
	fuzz_list(c.publish, c.npublish);
	jwt_claims_free(&c);
}

/* Verifies header.payload signed with the HMAC key. */
static void
fuzz_signed(const uint8_t *header, size_t hlen, const uint8_t *payload,
    size_t plen)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;
	size_t		n;

	n = fuzz_b64url(header, hlen, tok);
	tok[n++] = '.';
	n += fuzz_b64url(payload, plen, tok + n);
	HMAC(EVP_sha256(), FUZZ_SECRET, sizeof FUZZ_SECRET - 1,
	    (const unsigned char *)tok, n, md, &mdlen);
	tok[n++] = '.';
	n += fuzz_b64url(md, mdlen, tok + n);
	fuzz_verify(tok, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (keys[0] == NULL)
		fuzz_init();
	fuzz_verify((const char *)data, size);
	if (size > JWT_TOKEN_MAX)
		return (0);
	fuzz_signed((const uint8_t *)FUZZ_HEADER, sizeof FUZZ_HEADER - 1,
	    data, size);
	fuzz_signed(data, size, (const uint8_t *)FUZZ_PAYLOAD,
	    sizeof FUZZ_PAYLOAD - 1);
	return (0);
}

/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * JSON Web Token (RFC 7519) verification for listen-mode clients: a
 * compact JWS signed with HS256, RS256 or ES256 whose claims carry
 * subscribe and publish grants, Mercure-style.  Pure: libc and libcrypto.
 */
#ifndef JWT_H
#define JWT_H

#include <stddef.h>

#define JWT_TOKEN_MAX	8192	/* bytes of a whole token */
#define JWT_DEPTH_MAX	16	/* nesting of JSON arrays and objects */
#define JWT_GRANT_MAX	256	/* bytes of one grant, a resource */
#define JWT_GRANTS_MAX	1024	/* grants in one list */
#define JWT_SECRET_MIN	32	/* bytes of an HMAC secret */
#define JWT_RSA_BITS_MIN 2048
#define JWT_KEYFILE_MAX	65536
#define JWT_LEEWAY	0	/* seconds allowed for clock skew: none */

struct jwt_key;

struct jwt_claims {
	long long	  exp;		/* 0: none */
	long long	  nbf;		/* 0: none */
	char		**subscribe;	/* NULL-terminated, not NULL */
	size_t		  nsubscribe;
	char		**publish;	/* likewise */
	size_t		  npublish;
};

struct jwt_key	*jwt_key_load(const char *, const char **);
void		 jwt_key_free(struct jwt_key *);
const char	*jwt_key_alg(const struct jwt_key *);
int		 jwt_verify(struct jwt_key *const *, size_t, const char *,
		    size_t, long long, struct jwt_claims *, const char **);
void		 jwt_claims_free(struct jwt_claims *);

#endif
